//! How a client proves who it is at the authorization server's token,
//! introspection and revocation endpoints: `client_secret_basic` and
//! `client_secret_post` (RFC 6749 §2.3.1,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1>), `private_key_jwt`
//! (RFC 7523 §2.2, <https://www.rfc-editor.org/rfc/rfc7523#section-2.2>), or
//! none (a public client). The one encoder every warden request uses.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use warden_core::urn::CLIENT_ASSERTION_JWT_BEARER;
use warden_core::{Refusal, TokenSourceError};
use warden_jwt::PrivateKey;

/// The lifetime of a client assertion: short, and single-use by its `jti`.
const ASSERTION_LIFETIME_SECS: u64 = 60;

/// How the client proves who it is.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic` (the default of RFC 6749 §2.3.1): id and secret
    /// form-encoded, then Basic.
    Basic {
        /// `client_id`.
        client_id: String,
        /// The secret (redacted in `Debug`).
        secret: String,
    },
    /// `client_secret_post`: the credentials in the form body.
    Post {
        /// `client_id`.
        client_id: String,
        /// The secret (redacted in `Debug`).
        secret: String,
    },
    /// `private_key_jwt` (RFC 7523): a short-lived assertion signed with the
    /// client's private key.
    PrivateKeyJwt {
        /// `client_id`.
        client_id: String,
        /// The signing key, its algorithm and `kid`.
        key: PrivateKey,
    },
    /// A public client: only `client_id` (refresh tokens of public clients).
    None {
        /// `client_id`.
        client_id: String,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Basic { client_id, .. } => write!(f, "Basic({client_id}, [redacted])"),
            ClientAuth::Post { client_id, .. } => write!(f, "Post({client_id}, [redacted])"),
            ClientAuth::PrivateKeyJwt { client_id, key } => {
                write!(f, "PrivateKeyJwt({client_id}, {:?})", key.algorithm())
            }
            ClientAuth::None { client_id } => write!(f, "None({client_id})"),
        }
    }
}

impl ClientAuth {
    /// `client_secret_basic`.
    pub fn basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientAuth::Basic {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `client_secret_post`.
    pub fn post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientAuth::Post {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `private_key_jwt` with `key` (see [`PrivateKey::from_pem`]).
    pub fn private_key_jwt(client_id: impl Into<String>, key: PrivateKey) -> Self {
        ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            key,
        }
    }

    /// A public client.
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientAuth::None {
            client_id: client_id.into(),
        }
    }

    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        match self {
            ClientAuth::Basic { client_id, .. }
            | ClientAuth::Post { client_id, .. }
            | ClientAuth::PrivateKeyJwt { client_id, .. }
            | ClientAuth::None { client_id } => client_id,
        }
    }

    /// Authenticates `req`: a header, or members added to `form`. An
    /// assertion's `aud` is `audience`.
    pub(crate) fn apply(
        &self,
        req: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
        audience: &str,
    ) -> Result<reqwest::RequestBuilder, TokenSourceError> {
        match self {
            ClientAuth::Basic { client_id, secret } => {
                return Ok(req.header(
                    http::header::AUTHORIZATION,
                    warden_core::client_secret_basic(client_id, secret),
                ));
            }
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.clone()));
            }
            ClientAuth::PrivateKeyJwt { client_id, key } => {
                form.push((
                    "client_assertion_type",
                    CLIENT_ASSERTION_JWT_BEARER.to_owned(),
                ));
                form.push(("client_assertion", assertion(client_id, key, audience)?));
            }
            ClientAuth::None { client_id } => form.push(("client_id", client_id.clone())),
        }
        Ok(req)
    }
}

/// A client assertion (RFC 7523 §3): iss = sub = client_id, one `aud`, a
/// minute's lifetime, a fresh `jti`.
fn assertion(
    client_id: &str,
    key: &PrivateKey,
    audience: &str,
) -> Result<String, TokenSourceError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + ASSERTION_LIFETIME_SECS,
        "jti": format!("{:032x}", fastrand::u128(..)),
    });
    key.sign("JWT", &claims).map_err(|e| {
        TokenSourceError::Refused(
            Refusal::local(format!("cannot sign the client assertion: {e}")).with_source(e),
        )
    })
}
