//! Token-endpoint answers (RFC 6749 §5.1 success, §5.2 error,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-5>), read the same way
//! for every grant, and the errors of the other endpoints.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_core::{ErrorCode, Refusal, TokenSourceError};

/// A successful token response (RFC 6749 §5.1). `Debug` shows the tokens'
/// fingerprints, never the tokens.
#[derive(Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token (a secret).
    pub access_token: String,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
    /// Lifetime in seconds, if given: a JSON number (a fraction is cut, a
    /// huge one clamped later) or a string of digits, as some servers send.
    /// Negative, zero or anything else makes the response unusable.
    #[serde(
        default,
        deserialize_with = "lifetime_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_in: Option<u64>,
    /// A refresh token, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8693 `issued_token_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fp = warden_core::Fingerprint::of;
        f.debug_struct("TokenResponse")
            .field("access_token", &fp(&self.access_token))
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_deref().map(fp))
            .field("scope", &self.scope)
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// `expires_in` (RFC 6749 §5.1): a positive number of seconds.
fn lifetime_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let bad = || D::Error::custom("expires_in is not a positive number of seconds");
    let secs = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<f64>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    if !secs.is_finite() || secs < 1.0 {
        return Err(bad());
    }
    // Saturating: 1e19 becomes u64::MAX, clamped to a year by the cache.
    Ok(Some(secs as u64))
}

/// An introspection answer (RFC 7662 §2.2) as the server sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectionResponse(Value);

impl IntrospectionResponse {
    /// `active`: `true` only for a JSON `true`.
    pub fn active(&self) -> bool {
        self.0.get("active") == Some(&Value::Bool(true))
    }

    /// The whole document.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// The whole document, owned.
    pub fn into_json(self) -> Value {
        self.0
    }
}

/// Reads an introspection answer body: a JSON object, else `Unavailable`.
pub(crate) fn introspection_result(body: &[u8]) -> Result<IntrospectionResponse, TokenSourceError> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(IntrospectionResponse(v)),
        _ => Err(TokenSourceError::Unavailable(
            "introspection response is not a JSON object".into(),
        )),
    }
}

/// The outcome of a token response (RFC 6749 §5.1 / §5.2): the token, the
/// server's error code for 4xx, `Unavailable` for 5xx and garbage.
pub(crate) fn token_result(
    status: reqwest::StatusCode,
    body: &[u8],
) -> Result<TokenResponse, TokenSourceError> {
    if status.is_success() {
        return serde_json::from_slice(body)
            .map_err(|_| TokenSourceError::Unavailable("token response is not a token".into()));
    }
    Err(error_of(status, body))
}

/// The error a failed response stands for: the server's RFC 6749 §5.2 code
/// (with its description) for a 4xx that has one, `Unavailable` otherwise.
pub(crate) fn error_of(status: reqwest::StatusCode, body: &[u8]) -> TokenSourceError {
    let err: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = err["error"].as_str().unwrap_or("");
    let desc = err["error_description"].as_str().unwrap_or("");
    if status.is_server_error() || code.is_empty() {
        TokenSourceError::Unavailable(format!("status {}", status.as_u16()))
    } else {
        let desc = (!desc.is_empty()).then(|| desc.to_owned());
        TokenSourceError::Refused(Refusal::by_server(ErrorCode::parse(code), desc))
    }
}
