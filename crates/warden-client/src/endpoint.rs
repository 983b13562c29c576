//! Talking to the authorization server: discovery of its endpoints (RFC 8414
//! §3, <https://www.rfc-editor.org/rfc/rfc8414#section-3>), client
//! authentication (RFC 6749 §2.3.1; RFC 7523 §2.2 private_key_jwt), token
//! requests and their errors (RFC 6749 §5), revocation (RFC 7009) and
//! introspection (RFC 7662).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;
use warden_core::TokenSourceError;

/// How the client proves who it is at the token endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic` (the default of RFC 6749 §2.3.1).
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
        /// The signing key.
        key: Arc<jsonwebtoken::EncodingKey>,
        /// Its algorithm.
        alg: jsonwebtoken::Algorithm,
        /// Its `kid`, if the client's JWK Set has several keys.
        kid: Option<String>,
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
            ClientAuth::PrivateKeyJwt { client_id, alg, .. } => {
                write!(f, "PrivateKeyJwt({client_id}, {alg:?})")
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

    /// `private_key_jwt` with a PEM private key (PKCS#8, or PKCS#1 for RSA)
    /// for `alg` ("RS256", "PS256", "ES256", "ES384" or "EdDSA").
    ///
    /// # Errors
    /// When the key does not parse, the algorithm is unknown, or no JOSE
    /// crypto backend is compiled in (features `aws_lc_rs` / `rust_crypto`).
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        pem: &[u8],
        alg: &str,
        kid: Option<String>,
    ) -> Result<Self, ClientError> {
        use jsonwebtoken::{Algorithm as A, EncodingKey};
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(ClientError::Config(
                "private_key_jwt needs a JOSE crypto backend: enable warden-client's `aws_lc_rs` or `rust_crypto` feature".into(),
            ));
        }
        let bad = |e: jsonwebtoken::errors::Error| ClientError::Config(format!("private key: {e}"));
        let (alg, key) = match alg {
            "RS256" => (A::RS256, EncodingKey::from_rsa_pem(pem).map_err(bad)?),
            "PS256" => (A::PS256, EncodingKey::from_rsa_pem(pem).map_err(bad)?),
            "ES256" => (A::ES256, EncodingKey::from_ec_pem(pem).map_err(bad)?),
            "ES384" => (A::ES384, EncodingKey::from_ec_pem(pem).map_err(bad)?),
            "EdDSA" => (A::EdDSA, EncodingKey::from_ed_pem(pem).map_err(bad)?),
            other => {
                return Err(ClientError::Config(format!(
                    "unsupported assertion algorithm {other}"
                )));
            }
        };
        Ok(ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            key: Arc::new(key),
            alg,
            kid,
        })
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
}

/// A misconfigured client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A setting is missing or wrong.
    #[error("client configuration: {0}")]
    Config(String),
}

/// Where the authorization server is.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Discover(String),
    Explicit { token: String },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoints {
    pub(crate) token: String,
    pub(crate) revocation: Option<String>,
    pub(crate) introspection: Option<String>,
}

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

/// An authorization server as one client sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    http: reqwest::Client,
    location: Location,
    endpoints: OnceCell<Endpoints>,
    auth: ClientAuth,
    allow_http: bool,
}

fn check_url(url: &str, allow_http: bool) -> Result<(), ClientError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ClientError::Config(format!("not a URL: {url:?}")))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_http => Ok(()),
        Some("http") => Err(ClientError::Config(format!(
            "refusing plain-http URL {url:?}: use https, or allow_http for loopback development"
        ))),
        _ => Err(ClientError::Config(format!("not an http(s) URL: {url:?}"))),
    }
}

impl OAuthClient {
    /// A client of the server at `issuer`, whose endpoints are discovered.
    ///
    /// # Errors
    /// When the URL is not https (unless `allow_http`).
    pub fn discover(
        issuer: impl Into<String>,
        auth: ClientAuth,
        allow_http: bool,
    ) -> Result<Self, ClientError> {
        let issuer = issuer.into();
        check_url(&issuer, allow_http)?;
        Ok(Self::new(Location::Discover(issuer), auth, allow_http))
    }

    /// A client of the token endpoint at `token_url`.
    ///
    /// # Errors
    /// When the URL is not https (unless `allow_http`).
    pub fn token_endpoint(
        token_url: impl Into<String>,
        auth: ClientAuth,
        allow_http: bool,
    ) -> Result<Self, ClientError> {
        let token = token_url.into();
        check_url(&token, allow_http)?;
        Ok(Self::new(Location::Explicit { token }, auth, allow_http))
    }

    fn new(location: Location, auth: ClientAuth, allow_http: bool) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("warden-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(ClientInner {
                http,
                location,
                endpoints: OnceCell::new(),
                auth,
                allow_http,
            }),
        }
    }

    /// The client's id.
    pub fn client_id(&self) -> &str {
        self.inner.auth.client_id()
    }

    async fn endpoints(&self) -> Result<&Endpoints, TokenSourceError> {
        self.inner
            .endpoints
            .get_or_try_init(|| async {
                match &self.inner.location {
                    Location::Explicit { token } => Ok(Endpoints {
                        token: token.clone(),
                        ..Default::default()
                    }),
                    Location::Discover(issuer) => self.discover_endpoints(issuer).await,
                }
            })
            .await
    }

    async fn discover_endpoints(&self, issuer: &str) -> Result<Endpoints, TokenSourceError> {
        let base = issuer.trim_end_matches('/');
        let mut last = String::new();
        for url in [
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/.well-known/openid-configuration"),
        ] {
            let res = match self.inner.http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    last = format!("{url}: status {}", r.status().as_u16());
                    continue;
                }
                Err(_) => {
                    last = format!("{url}: unreachable");
                    continue;
                }
            };
            let body = read(res)
                .await
                .map_err(|e| TokenSourceError::Unavailable(format!("{url}: {e}")))?;
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|_| TokenSourceError::Unavailable(format!("{url}: not JSON")))?;
            if doc["issuer"].as_str() != Some(issuer) {
                return Err(TokenSourceError::Refused(format!(
                    "issuer mismatch: configured {issuer:?}, discovery says {:?}",
                    doc["issuer"]
                )));
            }
            let s = |k: &str| doc[k].as_str().map(str::to_owned);
            let token = s("token_endpoint").ok_or_else(|| {
                TokenSourceError::Unavailable(format!("{url}: no token_endpoint"))
            })?;
            for u in [
                Some(&token),
                s("revocation_endpoint").as_ref(),
                s("introspection_endpoint").as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                check_url(u, self.inner.allow_http)
                    .map_err(|e| TokenSourceError::Refused(e.to_string()))?;
            }
            return Ok(Endpoints {
                token,
                revocation: s("revocation_endpoint"),
                introspection: s("introspection_endpoint"),
            });
        }
        Err(TokenSourceError::Unavailable(format!(
            "discovery failed: {last}"
        )))
    }

    /// The `aud` of client assertions: the authorization server's issuer
    /// identifier when it is known (so one assertion form serves the token,
    /// introspection and revocation endpoints alike), else the token
    /// endpoint (RFC 7523 §3).
    fn assertion_audience(&self) -> &str {
        match &self.inner.location {
            Location::Discover(issuer) => issuer,
            Location::Explicit { token } => token,
        }
    }

    fn assertion(&self, audience: &str) -> Result<String, TokenSourceError> {
        let ClientAuth::PrivateKeyJwt {
            client_id,
            key,
            alg,
            kid,
        } = &self.inner.auth
        else {
            return Err(TokenSourceError::Refused(
                "not a private_key_jwt client".into(),
            ));
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let jti = format!("{:032x}", fastrand::u128(..));
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": audience,
            "iat": now, "exp": now + 60, "jti": jti,
        });
        let mut header = jsonwebtoken::Header::new(*alg);
        header.kid = kid.clone();
        jsonwebtoken::encode(&header, &claims, key).map_err(|e| {
            TokenSourceError::Refused(format!("cannot sign the client assertion: {e}"))
        })
    }

    /// POSTs `form` to `url` with client authentication.
    async fn post(
        &self,
        url: &str,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<reqwest::Response, TokenSourceError> {
        let mut req = self.inner.http.post(url);
        match &self.inner.auth {
            ClientAuth::Basic { client_id, secret } => {
                req = req.header(
                    http::header::AUTHORIZATION,
                    warden_core::client_secret_basic(client_id, secret),
                );
            }
            ClientAuth::Post { client_id, secret } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", secret.clone()));
            }
            ClientAuth::PrivateKeyJwt { .. } => {
                let assertion = self.assertion(self.assertion_audience())?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
            ClientAuth::None { client_id } => form.push(("client_id", client_id.clone())),
        }
        req.form(&form).send().await.map_err(|e| {
            TokenSourceError::Unavailable(if e.is_timeout() {
                "timed out".into()
            } else {
                "unreachable".into()
            })
        })
    }

    /// A token request (RFC 6749 §4.4.2, §6; RFC 8693 §2.1).
    ///
    /// # Errors
    /// [`TokenSourceError::Refused`] with the server's error code for 4xx,
    /// [`TokenSourceError::Unavailable`] for connection failures and 5xx.
    pub async fn token_request(
        &self,
        form: Vec<(&'static str, String)>,
    ) -> Result<TokenResponse, TokenSourceError> {
        let url = self.endpoints().await?.token.clone();
        let res = self.post(&url, form).await?;
        let status = res.status();
        let body = read(res).await?;
        token_result(status, &body)
    }

    /// Revokes a token (RFC 7009 §2.1).
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request); a server without a
    /// revocation endpoint is `Refused`.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Result<(), TokenSourceError> {
        let url = self.endpoints().await?.revocation.clone().ok_or_else(|| {
            TokenSourceError::Refused("the server has no revocation endpoint".into())
        })?;
        let mut form = vec![("token", token.to_owned())];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.to_owned()));
        }
        let res = self.post(&url, form).await?;
        error_for(res).await.map(|_| ())
    }

    /// Introspects a token (RFC 7662 §2.1), returning the response document.
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request).
    pub async fn introspect(&self, token: &str) -> Result<Value, TokenSourceError> {
        let url = self
            .endpoints()
            .await?
            .introspection
            .clone()
            .ok_or_else(|| {
                TokenSourceError::Refused("the server has no introspection endpoint".into())
            })?;
        let res = self.post(&url, vec![("token", token.to_owned())]).await?;
        let body = error_for(res).await?;
        serde_json::from_slice(&body).map_err(|_| TokenSourceError::Unavailable("not JSON".into()))
    }
}

/// The response body, capped like every response from the server.
async fn read(res: reqwest::Response) -> Result<warden_jwt::fetch::Bytes, TokenSourceError> {
    warden_jwt::fetch::read_capped(res, warden_jwt::fetch::DEFAULT_MAX_BODY)
        .await
        .map_err(TokenSourceError::Unavailable)
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
fn error_of(status: reqwest::StatusCode, body: &[u8]) -> TokenSourceError {
    let err: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = err["error"].as_str().unwrap_or("");
    let desc = err["error_description"].as_str().unwrap_or("");
    if status.is_server_error() || code.is_empty() {
        TokenSourceError::Unavailable(format!("status {}", status.as_u16()))
    } else if desc.is_empty() {
        TokenSourceError::Refused(code.to_owned())
    } else {
        TokenSourceError::Refused(format!("{code}: {desc}"))
    }
}

async fn error_for(res: reqwest::Response) -> Result<Vec<u8>, TokenSourceError> {
    let status = res.status();
    let body = read(res).await?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    Err(error_of(status, &body))
}
