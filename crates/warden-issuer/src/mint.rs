//! Compact JWS serialization (RFC 7515 §7.1,
//! <https://www.rfc-editor.org/rfc/rfc7515#section-7.1>) of any header and
//! claims, including the malformed ones hostile-input tests need.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::keys::{KeyError, SigningKey};

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header` and `claims` exactly as given (the header is not adjusted
/// to the key: tests put whatever they like in it).
///
/// # Errors
/// When signing fails.
pub fn sign_jwt(header: &Value, claims: &Value, key: &SigningKey) -> Result<String, KeyError> {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes())?;
    Ok(format!("{input}.{}", b64(&sig)))
}

/// Assembles a token from a header, claims and raw signature bytes.
pub fn assemble(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}
