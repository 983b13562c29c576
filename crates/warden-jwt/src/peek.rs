//! Reading a JWT without verifying it (RFC 7515 §7.1,
//! <https://www.rfc-editor.org/rfc/rfc7515#section-7.1>, compact
//! serialization): the one place warden looks inside a token it has not
//! verified.
//!
//! Nothing read here may accept a token. The uses are: choosing a key or a
//! client before verification (which then decides), shortening a cache
//! lifetime (`exp`), and showing a token to a person (`warden decode`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Why a token could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeekError {
    /// Not three dot-separated parts.
    #[error("not a JWT (three base64url parts expected)")]
    NotJwt,
    /// The header is not base64url of a JSON object.
    #[error("the header is not base64url JSON")]
    Header,
    /// The payload is not base64url of a JSON object.
    #[error("the payload is not base64url JSON")]
    Payload,
}

/// A JWT's header and claims, not verified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Unverified {
    /// The JOSE header.
    pub header: Value,
    /// The claims.
    pub claims: Value,
}

fn parts(token: &str) -> Result<[&str; 3], PeekError> {
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) => Ok([h, p, s]),
        _ => Err(PeekError::NotJwt),
    }
}

fn object(part: &str, err: PeekError) -> Result<Value, PeekError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| err)?;
    match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(err),
    }
}

/// The header and claims of `token`, not verified.
///
/// ```
/// let token = "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjV9.c2ln";
/// let t = warden_jwt::peek::unverified(token).unwrap();
/// assert_eq!(t.header["alg"], "RS256");
/// assert_eq!(t.claims["exp"], 5);
/// ```
///
/// # Errors
/// A [`PeekError`] saying which part is unreadable.
pub fn unverified(token: &str) -> Result<Unverified, PeekError> {
    let [h, p, _] = parts(token)?;
    Ok(Unverified {
        header: object(h, PeekError::Header)?,
        claims: object(p, PeekError::Payload)?,
    })
}

/// The header of `token`, not verified.
///
/// # Errors
/// As [`unverified`].
pub fn header(token: &str) -> Result<Value, PeekError> {
    let [h, _, _] = parts(token)?;
    object(h, PeekError::Header)
}

/// The claims of `token`, not verified.
///
/// # Errors
/// As [`unverified`].
pub fn claims(token: &str) -> Result<Value, PeekError> {
    let [_, p, _] = parts(token)?;
    object(p, PeekError::Payload)
}

/// The `exp` of `token`, not verified: a whole number of seconds, else
/// `None`. Only ever used to shorten a lifetime.
pub fn exp(token: &str) -> Option<u64> {
    claims(token).ok()?.get("exp")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors() {
        assert_eq!(unverified("a.b"), Err(PeekError::NotJwt));
        assert_eq!(unverified("a.b.c.d"), Err(PeekError::NotJwt));
        assert_eq!(unverified("!.e30.x"), Err(PeekError::Header));
        assert_eq!(unverified("e30.W10.x"), Err(PeekError::Payload));
        assert_eq!(exp("e30.eyJleHAiOiI1In0.x"), None);
        assert_eq!(exp("e30.eyJleHAiOjV9.x"), Some(5));
    }
}
