//! Token sources for outbound calls: [`ClientCredentials`] (RFC 6749 §4.4),
//! [`TokenExchange`] (RFC 8693 §2,
//! <https://www.rfc-editor.org/rfc/rfc8693#section-2>), [`RefreshToken`]
//! (RFC 6749 §6) and [`Forward`]. Each is a [`TokenSource`] for
//! [`AttachBearerLayer`](warden_core::AttachBearerLayer), cached per key
//! with single flight and refresh ahead of expiry.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use warden_core::{AccessToken, Clock, TokenContext, TokenSource, TokenSourceError};

use crate::cache::{CacheConfig, Fetched, SourceStats, TokenCache};
use crate::endpoint::{ClientAuth, ClientError, OAuthClient, TokenResponse};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The longest lifetime a token response may claim: beyond it the token is
/// refreshed anyway (an absurd `expires_in` must not overflow the clock).
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

pub(crate) fn fetched(r: TokenResponse, not_after: Option<SystemTime>) -> Fetched {
    Fetched {
        token: r.access_token,
        expires_in: r
            .expires_in
            .map(|s| Duration::from_secs(s).min(MAX_LIFETIME)),
        not_after,
    }
}

/// A NumericDate as a time, clamped to the year 9999 (never an overflow).
fn numeric_date(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.min(253_402_300_799))
}

/// Where the authorization server is and how to authenticate to it; shared
/// by the source builders.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ServerSettings {
    issuer: Option<String>,
    token_endpoint: Option<String>,
    auth: Option<ClientAuth>,
    allow_http: bool,
    cache: CacheConfig,
    clock: Option<Arc<dyn Clock>>,
}

macro_rules! server_setters {
    ($builder:ident) => {
        impl $builder {
            /// The issuer; endpoints are discovered (RFC 8414).
            pub fn issuer(mut self, url: impl Into<String>) -> Self {
                self.server.issuer = Some(url.into());
                self
            }

            /// The token endpoint, instead of discovery.
            pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
                self.server.token_endpoint = Some(url.into());
                self
            }

            /// Client authentication (default: none set; required).
            pub fn auth(mut self, auth: ClientAuth) -> Self {
                self.server.auth = Some(auth);
                self
            }

            /// `client_secret_basic` with these credentials.
            pub fn client_secret_basic(
                self,
                client_id: impl Into<String>,
                secret: impl Into<String>,
            ) -> Self {
                self.auth(ClientAuth::basic(client_id, secret))
            }

            /// Allows `http://` URLs (loopback development).
            pub fn allow_http(mut self) -> Self {
                self.server.allow_http = true;
                self
            }

            /// Tuning of the token cache.
            pub fn cache(mut self, cache: CacheConfig) -> Self {
                self.server.cache = cache;
                self
            }

            /// The clock for expiry decisions (tests use a manual one).
            pub fn clock(mut self, clock: impl Clock) -> Self {
                self.server.clock = Some(Arc::new(clock));
                self
            }
        }
    };
}

impl ServerSettings {
    fn client(&self) -> Result<OAuthClient, ClientError> {
        let auth = self.auth.clone().ok_or_else(|| {
            ClientError::Config("client authentication is required: call .auth(..)".into())
        })?;
        match (&self.issuer, &self.token_endpoint) {
            (_, Some(t)) => OAuthClient::token_endpoint(t.clone(), auth, self.allow_http),
            (Some(i), None) => OAuthClient::discover(i.clone(), auth, self.allow_http),
            (None, None) => Err(ClientError::Config(
                "set .issuer(..) or .token_endpoint(..)".into(),
            )),
        }
    }
}

/// The service's own token (client credentials grant), for calls it makes on
/// its own behalf. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<CcInner>,
}

struct CcInner {
    client: OAuthClient,
    form: Vec<(&'static str, String)>,
    cache: Arc<TokenCache<()>>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client", &self.inner.client.client_id())
            .finish_non_exhaustive()
    }
}

/// Builds [`ClientCredentials`].
#[derive(Debug, Default)]
#[must_use]
pub struct ClientCredentialsBuilder {
    server: ServerSettings,
    scope: Option<String>,
    resource: Option<String>,
}

server_setters!(ClientCredentialsBuilder);

impl ClientCredentialsBuilder {
    /// The scopes to ask for (space-separated).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The target resource (RFC 8707).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Builds the source.
    ///
    /// # Errors
    /// A missing server or authentication setting, or a plain-http URL.
    pub fn build(self) -> Result<ClientCredentials, ClientError> {
        let client = self.server.client()?;
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if let Some(s) = self.scope {
            form.push(("scope", s));
        }
        if let Some(r) = self.resource {
            form.push(("resource", r));
        }
        Ok(ClientCredentials {
            inner: Arc::new(CcInner {
                client,
                form,
                cache: Arc::new(TokenCache::new(self.server.cache, self.server.clock)),
            }),
        })
    }
}

impl ClientCredentials {
    /// Starts a builder.
    pub fn builder() -> ClientCredentialsBuilder {
        ClientCredentialsBuilder::default()
    }

    /// The cache's counters.
    pub fn stats(&self) -> SourceStats {
        self.inner.cache.stats()
    }

    /// The authorization server client (for revocation and introspection).
    pub fn oauth_client(&self) -> &OAuthClient {
        &self.inner.client
    }
}

impl TokenSource for ClientCredentials {
    async fn token(&self, _ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let inner = self.inner.clone();
        self.inner
            .cache
            .get((), move || {
                let inner = inner.clone();
                async move {
                    inner
                        .client
                        .token_request(inner.form.clone())
                        .await
                        .map(|r| fetched(r, None))
                }
            })
            .await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.inner.cache.invalidate(token);
    }
}

/// The `exp` of a JWT, read without verification: only ever used to shorten
/// a cache lifetime, never to accept anything.
pub(crate) fn unverified_exp(token: &str) -> Option<SystemTime> {
    warden_jwt::peek::exp(token).map(numeric_date)
}

/// A token for the next audience on behalf of the current caller (RFC 8693
/// token exchange). Cached per (subject token, audience, scopes); an
/// exchanged token never outlives its subject token.
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<TxInner>,
}

struct TxInner {
    client: OAuthClient,
    form: Vec<(&'static str, String)>,
    actor: Option<ClientCredentials>,
    cache: Arc<TokenCache<[u8; 32]>>,
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange")
            .field("client", &self.inner.client.client_id())
            .finish_non_exhaustive()
    }
}

/// Builds [`TokenExchange`].
#[derive(Debug, Default)]
#[must_use]
pub struct TokenExchangeBuilder {
    server: ServerSettings,
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    actor: Option<ClientCredentials>,
}

server_setters!(TokenExchangeBuilder);

impl TokenExchangeBuilder {
    /// The target audience (RFC 8693 `audience`).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The target resource (RFC 8693 / RFC 8707 `resource`).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The scopes to ask for (space-separated), narrowing the result.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sends the service's own token as `actor_token` (RFC 8693 §2.1).
    pub fn actor(mut self, actor: ClientCredentials) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Builds the source.
    ///
    /// # Errors
    /// A missing server or authentication setting, or a plain-http URL.
    pub fn build(self) -> Result<TokenExchange, ClientError> {
        let client = self.server.client()?;
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE.to_owned()),
            ("subject_token_type", TT_ACCESS_TOKEN.to_owned()),
            ("requested_token_type", TT_ACCESS_TOKEN.to_owned()),
        ];
        for (k, v) in [
            ("audience", self.audience),
            ("resource", self.resource),
            ("scope", self.scope),
        ] {
            if let Some(v) = v {
                form.push((k, v));
            }
        }
        Ok(TokenExchange {
            inner: Arc::new(TxInner {
                client,
                form,
                actor: self.actor,
                cache: Arc::new(TokenCache::new(self.server.cache, self.server.clock)),
            }),
        })
    }
}

impl TokenExchange {
    /// Starts a builder.
    pub fn builder() -> TokenExchangeBuilder {
        TokenExchangeBuilder::default()
    }

    /// The cache's counters.
    pub fn stats(&self) -> SourceStats {
        self.inner.cache.stats()
    }
}

impl TokenSource for TokenExchange {
    async fn token(&self, ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let subject = ctx
            .subject
            .as_ref()
            .ok_or(TokenSourceError::NoSubjectToken)?
            .as_str()
            .to_owned();
        let key: [u8; 32] = Sha256::digest(subject.as_bytes()).into();
        let not_after = unverified_exp(&subject);
        let inner = self.inner.clone();
        self.inner
            .cache
            .get(key, move || {
                let inner = inner.clone();
                let subject = subject.clone();
                async move {
                    let mut form = inner.form.clone();
                    form.push(("subject_token", subject));
                    if let Some(actor) = &inner.actor {
                        let t = actor.token(&TokenContext::default()).await?;
                        form.push(("actor_token", t.secret().to_owned()));
                        form.push(("actor_token_type", TT_ACCESS_TOKEN.to_owned()));
                    }
                    inner
                        .client
                        .token_request(form)
                        .await
                        .map(|r| fetched(r, not_after))
                }
            })
            .await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.inner.cache.invalidate(token);
    }
}

/// A delegated client's access token from its refresh token (RFC 6749 §6);
/// the rotated refresh token is kept for the next refresh.
#[derive(Clone)]
pub struct RefreshToken {
    inner: Arc<RtInner>,
}

struct RtInner {
    client: OAuthClient,
    refresh_token: Mutex<String>,
    scope: Option<String>,
    cache: Arc<TokenCache<()>>,
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshToken")
            .field("client", &self.inner.client.client_id())
            .finish_non_exhaustive()
    }
}

/// Builds [`RefreshToken`].
#[derive(Debug, Default)]
#[must_use]
pub struct RefreshTokenBuilder {
    server: ServerSettings,
    refresh_token: Option<String>,
    scope: Option<String>,
}

server_setters!(RefreshTokenBuilder);

impl RefreshTokenBuilder {
    /// The refresh token to start from.
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(token.into());
        self
    }

    /// Narrower scopes to ask for.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Builds the source.
    ///
    /// # Errors
    /// A missing setting, or a plain-http URL.
    pub fn build(self) -> Result<RefreshToken, ClientError> {
        let client = self.server.client()?;
        let rt = self
            .refresh_token
            .ok_or_else(|| ClientError::Config("a refresh token is required".into()))?;
        Ok(RefreshToken {
            inner: Arc::new(RtInner {
                client,
                refresh_token: Mutex::new(rt),
                scope: self.scope,
                cache: Arc::new(TokenCache::new(self.server.cache, self.server.clock)),
            }),
        })
    }
}

impl RefreshToken {
    /// Starts a builder.
    pub fn builder() -> RefreshTokenBuilder {
        RefreshTokenBuilder::default()
    }

    /// The current (latest rotated) refresh token. A secret.
    pub fn current_refresh_token(&self) -> String {
        self.inner
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl TokenSource for RefreshToken {
    async fn token(&self, _ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let inner = self.inner.clone();
        self.inner
            .cache
            .get((), move || {
                let inner = inner.clone();
                async move {
                    let rt = inner
                        .refresh_token
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone();
                    let mut form = vec![
                        ("grant_type", "refresh_token".to_owned()),
                        ("refresh_token", rt),
                    ];
                    if let Some(s) = &inner.scope {
                        form.push(("scope", s.clone()));
                    }
                    let r = inner.client.token_request(form).await?;
                    if let Some(next) = &r.refresh_token {
                        *inner
                            .refresh_token
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = next.clone();
                    }
                    Ok(fetched(r, None))
                }
            })
            .await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.inner.cache.invalidate(token);
    }
}

/// Passes the caller's token through unchanged, only toward the listed
/// destinations: a token sent elsewhere could be replayed there.
///
/// An entry is `scheme://host[:port]` or `host[:port]`, which means https.
/// Hosts compare case-insensitively; a port left out is the scheme's
/// default. Plain `http` is allowed only when an entry names it.
#[derive(Debug, Clone)]
pub struct Forward {
    destinations: Arc<Vec<Destination>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Destination {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

impl Destination {
    fn of_uri(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or_else(|| default_port(&scheme))?;
        Some(Self {
            host: uri.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }

    fn parse(entry: &str) -> Option<Self> {
        let full = if entry.contains("://") {
            entry.to_owned()
        } else {
            format!("https://{entry}")
        };
        Self::of_uri(&full.parse().ok()?)
    }
}

impl Forward {
    /// Forwards to these destinations only (`https://orders.internal`,
    /// `orders.internal:8443`, `http://127.0.0.1:8081`). An entry that does
    /// not parse matches nothing.
    pub fn to<I, S>(destinations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let destinations = destinations
            .into_iter()
            .filter_map(|d| {
                let d = d.into();
                let parsed = Destination::parse(&d);
                if parsed.is_none() {
                    tracing::warn!(entry = %d, "Forward::to: not a destination; ignored");
                }
                parsed
            })
            .collect();
        Self {
            destinations: Arc::new(destinations),
        }
    }
}

impl TokenSource for Forward {
    async fn token(&self, ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let subject = ctx
            .subject
            .as_ref()
            .ok_or(TokenSourceError::NoSubjectToken)?;
        let target = ctx.target.as_ref().and_then(Destination::of_uri);
        if !target
            .as_ref()
            .is_some_and(|t| self.destinations.contains(t))
        {
            return Err(TokenSourceError::Refused(format!(
                "forwarding the caller's token to {} is not allowed",
                target.map_or_else(
                    || "an unknown destination".to_owned(),
                    |t| format!("{}://{}:{}", t.scheme, t.host, t.port)
                )
            )));
        }
        Ok(AccessToken::new(
            subject.as_str(),
            unverified_exp(subject.as_str()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::BearerToken;

    #[tokio::test]
    async fn forward_only_to_listed_hosts() {
        let f = Forward::to(["orders.internal", "http://127.0.0.1:8081"]);
        let ctx = |uri: &str| {
            TokenContext::with_subject(BearerToken::new("abc")).target(uri.parse().unwrap())
        };
        assert_eq!(
            f.token(&ctx("https://orders.internal:443/x"))
                .await
                .unwrap()
                .secret(),
            "abc"
        );
        assert!(f.token(&ctx("http://127.0.0.1:8081/x")).await.is_ok());
        assert!(f.token(&ctx("http://127.0.0.1:9999/x")).await.is_err());
        assert!(f.token(&ctx("https://evil.example/")).await.is_err());
        assert_eq!(
            f.token(&TokenContext::default()).await.unwrap_err(),
            TokenSourceError::NoSubjectToken
        );
    }

    #[test]
    fn builders_say_what_is_missing() {
        let e = ClientCredentials::builder()
            .issuer("https://id.example")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(".auth("), "{e}");
        let e = ClientCredentials::builder()
            .client_secret_basic("a", "b")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(".issuer("), "{e}");
        let e = ClientCredentials::builder()
            .issuer("http://127.0.0.1:1")
            .client_secret_basic("a", "b")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("allow_http"), "{e}");
        assert!(!format!("{:?}", ClientAuth::basic("id", "hunter2")).contains("hunter2"));
    }
}
