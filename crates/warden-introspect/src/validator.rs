//! [`IntrospectionValidator`]: a token's verdict from the authorization
//! server's introspection endpoint (RFC 7662 §2,
//! <https://www.rfc-editor.org/rfc/rfc7662#section-2>), asked through
//! warden-client's [`OAuthClient`] (the one client warden has, with every
//! client authentication it knows) and read by the claims rules every
//! validator shares ([`warden_core::claims`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};
use warden_client::{ClientAuth, OAuthClient};
use warden_core::metrics::Introspected;
use warden_core::sync::lock;
use warden_core::{
    AuthError, ClaimRules, Clock, Fingerprint, InvalidToken, Principal, SystemClock, TokenCache,
    TokenSourceError, TokenValidator, Unavailable,
};

use crate::flight::{Flights, InFlight};

/// A misconfigured validator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectError {
    /// A setting is missing or wrong.
    #[error("introspection configuration: {0}")]
    Config(String),
    /// The client to the endpoint could not be built (a URL that breaks
    /// the policy, or no HTTP client).
    #[error(transparent)]
    Client(#[from] warden_client::ClientError),
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectStats {
    /// Requests sent to the endpoint.
    pub requests: u64,
    /// Answers from the positive cache.
    pub hits: u64,
    /// Tokens with an introspection request in flight (the single-flight map).
    pub in_flight: usize,
    /// Entries of the negative cache.
    pub negative: usize,
}

struct Inner {
    client: OAuthClient,
    rules: ClaimRules,
    max_age: Duration,
    negative_ttl: Duration,
    cache: Option<TokenCache>,
    negative: Mutex<HashMap<[u8; 32], SystemTime>>,
    flights: Flights,
    max_in_flight: usize,
    /// The most negative entries (the positive cache's capacity).
    max_negative: usize,
    clock: Arc<dyn Clock>,
    requests: AtomicU64,
    hits: AtomicU64,
}

/// Validates opaque tokens by introspection. Cheap to clone.
///
/// ```
/// use warden_introspect::IntrospectionValidator;
///
/// let v = IntrospectionValidator::builder()
///     .endpoint("https://id.example/introspect")
///     .client("rs-ledger", "secret")
///     .issuer("https://id.example")
///     .audience("api://ledger")
///     .build()
///     .unwrap();
/// assert_eq!(v.stats().requests, 0);
/// // Plain http, or no audience, only through the door:
/// assert!(IntrospectionValidator::builder()
///     .endpoint("http://127.0.0.1:1/introspect")
///     .client("rs-ledger", "secret")
///     .audience("api://ledger")
///     .build()
///     .is_err());
/// ```
#[derive(Clone)]
pub struct IntrospectionValidator {
    inner: Arc<Inner>,
}

impl fmt::Debug for IntrospectionValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("client", &self.inner.client)
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IntrospectionValidator`]. `Debug` shows no secret (the
/// client authentication redacts its own).
#[derive(Debug)]
#[must_use]
pub struct IntrospectionValidatorBuilder {
    url: Option<String>,
    auth: Option<ClientAuth>,
    rules: ClaimRules,
    allow_http: bool,
    cache_max_age: Duration,
    negative_cache: Duration,
    capacity: usize,
    max_in_flight: usize,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

warden_core::field_setters! { IntrospectionValidatorBuilder {
    /// The longest a positive result is cached (default 60 s; zero disables
    /// the cache).
    cache_max_age: Duration,
    /// How long a negative result is cached (default zero: not cached). At
    /// most [`capacity`](Self::capacity) refusals are remembered.
    negative_cache: Duration,
    /// The most cached results, positive and negative each (default 10,000).
    capacity: usize,
    /// The most tokens introspected at once with single flight (default
    /// 10,000). Past it a new token is introspected on its own: memory stays
    /// bounded and no caller is refused because of a flood.
    max_in_flight: usize,
    /// The bound on one introspection request (default 5 s).
    timeout: Duration,
} }

warden_core::audience_setters!(IntrospectionValidatorBuilder);

impl IntrospectionValidatorBuilder {
    /// The introspection endpoint.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The resource server's credentials, sent as `client_secret_basic`.
    pub fn client(self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth(ClientAuth::basic(id, secret))
    }

    /// The resource server's client authentication, any kind warden-client
    /// knows (`client_secret_post`, `private_key_jwt`).
    pub fn auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The expected `iss` of introspection responses: an answer without it,
    /// or with another, is refused. Without it, `iss` is not checked (the
    /// configured endpoint is the authority).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.rules = self.rules.issuer(issuer);
        self
    }

    /// The clock for expiry decisions.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The door to settings that weaken security.
    pub fn dangerous(self) -> Dangerous {
        Dangerous(self)
    }

    /// Builds the validator.
    ///
    /// # Errors
    /// A missing endpoint, credentials or audience, or a plain-http URL.
    pub fn build(self) -> Result<IntrospectionValidator, IntrospectError> {
        let cfg = |m: &str| IntrospectError::Config(m.into());
        let url = self.url.ok_or_else(|| cfg("set .endpoint(..)"))?;
        let auth = self
            .auth
            .ok_or_else(|| cfg("set .client(id, secret): introspection needs credentials"))?;
        if self.rules.audiences().is_empty() && !self.rules.audience_waived() {
            return Err(cfg(
                "set .audience(..) (or .dangerous().skip_audience_check())",
            ));
        }
        let mut client = OAuthClient::builder(auth)
            .introspection_endpoint(url)
            .timeout(self.timeout);
        if let Some(issuer) = self.rules.issuers().first() {
            // RFC 7523 §3: a private_key_jwt assertion names the server.
            client = client.assertion_audience(issuer.clone());
        }
        if self.allow_http {
            client = client.dangerous().allow_http();
        }
        let client = client.build()?;
        // RFC 7662 §2.2: `exp` is optional in an answer; `active` decides.
        // Without a configured issuer the endpoint is the authority.
        let mut rules = self.rules.exp_optional();
        if rules.issuers().is_empty() {
            rules = rules.dangerous().skip_issuer_check();
        }
        let cache = (!self.cache_max_age.is_zero()).then(|| {
            TokenCache::builder()
                .capacity(self.capacity)
                .clock(self.clock.clone())
                .build()
        });
        Ok(IntrospectionValidator {
            inner: Arc::new(Inner {
                client,
                rules,
                max_age: self.cache_max_age,
                negative_ttl: self.negative_cache,
                cache,
                negative: Mutex::default(),
                flights: Flights::default(),
                max_in_flight: self.max_in_flight,
                max_negative: self.capacity.max(1),
                clock: self.clock,
                requests: AtomicU64::new(0),
                hits: AtomicU64::new(0),
            }),
        })
    }
}

/// Settings that weaken security, reached through
/// [`IntrospectionValidatorBuilder::dangerous`].
#[derive(Debug)]
#[must_use]
pub struct Dangerous(IntrospectionValidatorBuilder);

impl Dangerous {
    /// Accepts any audience.
    ///
    /// # Security
    /// A token issued for another resource of the same server is accepted.
    pub fn skip_audience_check(mut self) -> IntrospectionValidatorBuilder {
        self.0.rules = self.0.rules.dangerous().skip_audience_check();
        self.0
    }

    /// Allows an `http://` endpoint (loopback development).
    ///
    /// # Security
    /// The resource server's credentials and every token cross the network
    /// in clear.
    pub fn allow_http(mut self) -> IntrospectionValidatorBuilder {
        self.0.allow_http = true;
        self.0
    }
}

impl IntrospectionValidator {
    /// Starts a builder.
    pub fn builder() -> IntrospectionValidatorBuilder {
        IntrospectionValidatorBuilder {
            url: None,
            auth: None,
            rules: ClaimRules::new(),
            allow_http: false,
            cache_max_age: Duration::from_secs(60),
            negative_cache: Duration::ZERO,
            capacity: 10_000,
            max_in_flight: 10_000,
            timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }

    /// The counters.
    pub fn stats(&self) -> IntrospectStats {
        IntrospectStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            hits: self.inner.hits.load(Ordering::Relaxed),
            in_flight: self.inner.flights.len(),
            negative: lock(&self.inner.negative).len(),
        }
    }

    /// The positive cache, to drop entries on revocation.
    pub fn cache(&self) -> Option<&TokenCache> {
        self.inner.cache.as_ref()
    }

    /// Validates `token` by introspection (cached).
    ///
    /// # Errors
    /// [`InvalidToken::Inactive`] and friends for refused tokens,
    /// [`Unavailable::Upstream`] when the endpoint cannot answer.
    pub async fn validate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let inner = &self.inner;
        if token.len() > warden_core::DEFAULT_MAX_TOKEN_LEN {
            return Err(InvalidToken::TooLarge.into());
        }
        if let Some(p) = inner.cache.as_ref().and_then(|c| c.get(token)) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = inner.clock.now();
        if let Some(until) = lock(&inner.negative).get(&key)
            && *until > now
        {
            return Err(InvalidToken::Inactive.into());
        }
        // One request per token: the first caller asks, the others wait for
        // its answer. The guard takes the entry out when the last waiter
        // goes, finished or dropped.
        let Some(flight) = InFlight::join(&inner.flights, key, inner.max_in_flight) else {
            // The map is full (a flood of distinct tokens): ask alone.
            let result = self.ask(token).await;
            self.remember(token, key, now, &result);
            return result;
        };
        let result = flight.cell.get_or_init(|| self.ask(token)).await.clone();
        // Cached first, then forgotten as in flight (when `flight` drops): no
        // gap for a second request.
        self.remember(token, key, now, &result);
        drop(flight);
        result
    }

    /// Caches a verdict as configured.
    fn remember(
        &self,
        token: &str,
        key: [u8; 32],
        now: SystemTime,
        result: &Result<Principal, AuthError>,
    ) {
        let inner = &self.inner;
        match result {
            Ok(p) => {
                if let Some(cache) = &inner.cache {
                    cache.insert(token, p);
                }
            }
            Err(AuthError::InvalidToken(_)) if !inner.negative_ttl.is_zero() => {
                // Bounded: expired entries go when the map is full; if it is
                // still full, the refusal is simply not remembered (a flood
                // of distinct bad tokens costs requests, never memory).
                let mut neg = lock(&inner.negative);
                if neg.len() >= inner.max_negative {
                    neg.retain(|_, t| *t > now);
                }
                if neg.len() < inner.max_negative {
                    neg.insert(key, now + inner.negative_ttl);
                }
            }
            Err(_) => {}
        }
    }

    async fn ask(&self, token: &str) -> Result<Principal, AuthError> {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .inner
            .client
            .introspect(token, Some("access_token"))
            .await
            .map_err(|e| {
                let e = match e {
                    TokenSourceError::Refused(r) => format!("refused: {r}"),
                    other => other.to_string(),
                };
                tracing::warn!(error = %e, "introspection failed");
                AuthError::from(Unavailable::Upstream)
            });
        let verdict = answer.and_then(|answer| self.principal(token, answer.as_json()));
        warden_core::metrics::introspection(match &verdict {
            Ok(_) => Introspected::Active,
            Err(AuthError::Unavailable(_)) => Introspected::Error,
            Err(_) => Introspected::Inactive,
        });
        verdict
    }

    /// The verdict of an introspection response body (RFC 7662 §2.2).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn verdict(&self, token: &str, body: &[u8]) -> Result<Principal, AuthError> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| {
            tracing::warn!("introspection response is not JSON");
            AuthError::from(Unavailable::Upstream)
        })?;
        self.principal(token, &doc)
    }

    fn principal(&self, token: &str, doc: &Value) -> Result<Principal, AuthError> {
        let inner = &self.inner;
        match doc.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(InvalidToken::Inactive.into()),
            _ => return Err(Unavailable::Upstream.into()),
        }
        // RFC 7662 §2.2: only access tokens are bearer credentials here (a
        // refresh or ID token that introspects as active is refused).
        match doc.get("token_type") {
            None => {}
            Some(Value::String(t))
                if t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("access_token") => {}
            Some(_) => return Err(InvalidToken::WrongType.into()),
        }
        // The same reading of the claims as the JWT validator's.
        let now = inner.clock.now();
        let claims = inner.rules.check_value(doc, now)?;
        // The answer ages: no cache may reuse it past the max age (zero: never).
        Ok(Principal::new(claims, doc.clone(), Fingerprint::of(token))
            .with_cache_until(now + inner.max_age))
    }
}

impl TokenValidator for IntrospectionValidator {
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        self.validate_token(token)
    }
}
