//! The OAuth 2.0 endpoints: token (RFC 6749 §3.2, §4.1, §4.4, §6; RFC 8693
//! token exchange; RFC 7636 PKCE; RFC 8707 resource indicators), authorize
//! with a minimal login and consent page, introspection (RFC 7662) and
//! revocation (RFC 7009). Errors follow RFC 6749 §5.2
//! (<https://www.rfc-editor.org/rfc/rfc6749#section-5.2>).

mod authorize;
mod client_auth;
mod code;
pub(crate) mod dpop;
mod error;
mod exchange;
mod introspect;
mod issue;
mod params;
mod refresh;
mod revoke;
pub(crate) mod signin;
pub(crate) mod throttle;
mod token;

pub(crate) use authorize::{authorize_page, authorize_submit};
pub(crate) use introspect::introspect;
pub(crate) use revoke::revoke;
pub(crate) use token::token;

pub(super) use warden_core::urn::{
    CLIENT_ASSERTION_JWT_BEARER, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT,
};

/// Entry points for the fuzz targets (`fuzz/`): the issuer's own parsers of
/// request bytes. **Unstable**: only with the `fuzzing` feature, not part of
/// the API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// the client_secret_basic credential parser.
    pub fn basic(b64: &str) -> Option<(String, String)> {
        super::client_auth::parse_basic(b64)
    }

    /// `application/x-www-form-urlencoded` decoding of one value.
    pub fn form_decode(s: &str) -> Option<String> {
        super::client_auth::form_decode(s)
    }

    /// The PKCE S256 check.
    pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
        super::code::pkce_matches(verifier, challenge)
    }

    /// The `scope` of a request's parameters (`Err` for a repeated one).
    ///
    /// # Errors
    /// The RFC 6749 §5.2 error code.
    pub fn scopes(params: Vec<(String, String)>) -> Result<Option<Vec<String>>, &'static str> {
        super::params::Params(params).scopes().map_err(|e| e.code)
    }
}
