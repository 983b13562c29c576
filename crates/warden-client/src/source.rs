//! The one cached-source implementation every grant shares: a key per
//! token, the cache of [`crate::cache`] (single flight, refresh ahead,
//! backoff), and the server settings of the source builders. What differs
//! between client credentials, token exchange and refresh tokens is a
//! [`Grant`]: the cache key, and the token request.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use warden_core::{AccessToken, Clock, TokenContext, TokenSourceError};

use crate::auth::ClientAuth;
use crate::cache::{CacheConfig, Fetched, SourceStats, TokenCache};
use crate::error::ClientError;
use crate::response::TokenResponse;
use crate::server::OAuthClient;

/// The longest lifetime a token response may claim: beyond it the token is
/// refreshed anyway (an absurd `expires_in` must not overflow the clock).
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

pub(crate) fn fetched(
    r: TokenResponse,
    not_after: Option<SystemTime>,
    client: Option<&OAuthClient>,
) -> Fetched {
    // A DPoP-bound token keeps its key: it is never sent as Bearer.
    let dpop = match client.and_then(OAuthClient::dpop_key) {
        Some(key) if r.token_type.eq_ignore_ascii_case("dpop") => {
            Some(Arc::new(key.clone()) as Arc<dyn warden_core::dpop::ProofSigner>)
        }
        _ => None,
    };
    Fetched {
        dpop,
        token: r.access_token,
        expires_in: r
            .expires_in
            .map(|s| Duration::from_secs(s).min(MAX_LIFETIME)),
        not_after,
    }
}

/// The `exp` of a JWT, read without verification: only ever used to shorten
/// a cache lifetime, never to accept anything. Clamped to the year 9999.
pub(crate) fn unverified_exp(token: &str) -> Option<SystemTime> {
    warden_jwt::peek::exp(token)
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs.min(253_402_300_799)))
}

/// What differs between the grants: the token request. A grant made
/// `ON_BEHALF` of the caller gets one token per caller's token (cached by
/// its hash, never outliving it); the others one token in all.
pub(crate) trait Grant: Send + Sync + 'static {
    /// Whether the token is made from the inbound caller's token.
    const ON_BEHALF: bool = false;

    /// Asks the server for a token (`subject`: the caller's token, for a
    /// grant made on behalf).
    fn request<'a>(
        &'a self,
        client: &'a OAuthClient,
        subject: Option<&'a str>,
    ) -> impl Future<Output = Result<TokenResponse, TokenSourceError>> + Send + 'a;
}

/// A grant behind the shared cache.
pub(crate) struct Cached<G: Grant> {
    pub(crate) client: OAuthClient,
    pub(crate) grant: Arc<G>,
    cache: Arc<TokenCache<Option<[u8; 32]>>>,
}

impl<G: Grant> Cached<G> {
    pub(crate) fn new(client: OAuthClient, grant: G, server: &Server) -> Self {
        Self {
            client,
            grant: Arc::new(grant),
            cache: Arc::new(TokenCache::new(server.cache.clone(), server.clock.clone())),
        }
    }

    pub(crate) async fn token(&self, ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let (key, subject, not_after) = if G::ON_BEHALF {
            let subject = ctx.require_subject()?;
            let key: [u8; 32] = Sha256::digest(subject.as_bytes()).into();
            (Some(key), Some(subject.to_owned()), unverified_exp(subject))
        } else {
            (None, None, None)
        };
        let client = self.client.clone();
        let grant = self.grant.clone();
        self.cache
            .get(key, move || {
                let (client, grant, subject) = (client.clone(), grant.clone(), subject.clone());
                async move {
                    grant
                        .request(&client, subject.as_deref())
                        .await
                        .map(|r| fetched(r, not_after, Some(&client)))
                }
            })
            .await
    }

    pub(crate) fn invalidate(&self, token: &AccessToken) {
        self.cache.invalidate(token);
    }

    pub(crate) fn stats(&self) -> SourceStats {
        self.cache.stats()
    }
}

/// Where the authorization server is and how to authenticate to it; the
/// part every source builder shares.
#[derive(Debug, Clone, Default)]
pub(crate) struct Server {
    pub(crate) issuer: Option<String>,
    pub(crate) token_endpoint: Option<String>,
    pub(crate) auth: Option<ClientAuth>,
    pub(crate) allow_http: bool,
    pub(crate) cache: CacheConfig,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) dpop: Option<warden_jwt::DpopKey>,
}

impl Server {
    pub(crate) fn client(&self) -> Result<OAuthClient, ClientError> {
        let auth = self.auth.clone().ok_or_else(|| {
            ClientError::Config("client authentication is required: call .auth(..)".into())
        })?;
        let mut b = OAuthClient::builder(auth);
        match (&self.issuer, &self.token_endpoint) {
            (_, Some(t)) => b = b.token_endpoint(t.clone()),
            (Some(i), None) => b = b.issuer(i.clone()),
            (None, None) => {
                return Err(ClientError::Config(
                    "set .issuer(..) or .token_endpoint(..)".into(),
                ));
            }
        }
        if let Some(key) = &self.dpop {
            b = b.dpop(key.clone());
        }
        if self.allow_http {
            b = b.dangerous().allow_http();
        }
        b.build()
    }
}

/// Settings of a source builder that weaken security, reached through its
/// `dangerous()`.
#[derive(Debug)]
#[must_use]
pub struct Dangerous<B>(pub(crate) B);

/// The server setters of every source builder, and its door.
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

            /// Client authentication (required).
            pub fn auth(mut self, auth: $crate::ClientAuth) -> Self {
                self.server.auth = Some(auth);
                self
            }

            /// `client_secret_basic` with these credentials.
            pub fn client_secret_basic(
                self,
                client_id: impl Into<String>,
                secret: impl Into<String>,
            ) -> Self {
                self.auth($crate::ClientAuth::basic(client_id, secret))
            }

            /// Tuning of the token cache.
            pub fn cache(mut self, cache: $crate::CacheConfig) -> Self {
                self.server.cache = cache;
                self
            }

            /// Proves possession of `key` on token requests (RFC 9449): the
            /// tokens are bound to it and sent as `DPoP` with a proof per
            /// call, never as Bearer.
            pub fn dpop(mut self, key: warden_jwt::DpopKey) -> Self {
                self.server.dpop = Some(key);
                self
            }

            /// The clock for expiry decisions (tests use a manual one).
            pub fn clock(mut self, clock: impl warden_core::Clock) -> Self {
                self.server.clock = Some(std::sync::Arc::new(clock));
                self
            }

            /// The door to settings that weaken security.
            pub fn dangerous(self) -> $crate::source::Dangerous<Self> {
                $crate::source::Dangerous(self)
            }
        }

        impl $crate::source::Dangerous<$builder> {
            /// Allows `http://` URLs (loopback development).
            ///
            /// # Security
            /// Client credentials and tokens cross the network in clear.
            pub fn allow_http(mut self) -> $builder {
                self.0.server.allow_http = true;
                self.0
            }
        }
    };
}

/// `Debug`, `stats` and [`TokenSource`](warden_core::TokenSource) of a
/// public source type wrapping `Arc<Cached<G>>` as `inner`.
macro_rules! cached_source {
    ($source:ident) => {
        impl std::fmt::Debug for $source {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($source))
                    .field("client", &self.inner.client.client_id())
                    .finish_non_exhaustive()
            }
        }

        impl $source {
            /// The cache's counters.
            pub fn stats(&self) -> $crate::SourceStats {
                self.inner.stats()
            }

            /// The authorization server client (for revocation and
            /// introspection).
            pub fn oauth_client(&self) -> &$crate::OAuthClient {
                &self.inner.client
            }
        }

        impl warden_core::TokenSource for $source {
            async fn token(
                &self,
                ctx: &warden_core::TokenContext,
            ) -> Result<warden_core::AccessToken, warden_core::TokenSourceError> {
                self.inner.token(ctx).await
            }

            fn invalidate(&self, token: &warden_core::AccessToken) {
                self.inner.invalidate(token);
            }
        }
    };
}

pub(crate) use {cached_source, server_setters};
