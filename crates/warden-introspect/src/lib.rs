//! warden-introspect: opaque access tokens validated through the
//! authorization server's introspection endpoint (RFC 7662 §2,
//! <https://www.rfc-editor.org/rfc/rfc7662#section-2>).
//!
//! [`IntrospectionValidator`] authenticates to the endpoint, checks `active`,
//! and the response's `exp`, `iss` and `aud`; it caches positive results,
//! keyed so that a hit implies the same token bytes, for at most
//! min(`exp`, a maximum age, default 60 s), negative results briefly or not
//! at all (default: not), and sends one request per token however many
//! callers ask at once. An endpoint that is down, slow or answers garbage is
//! 503 (gRPC UNAVAILABLE), never an accept.
//!
//! Every verdict carries its cache bound ([`Principal::cache_until`]): the
//! authenticate layer's validated-token cache keeps an introspected token no
//! longer than the introspection max age (and not at all when it is zero), so
//! a token revoked at the server is refused once that age has passed.
//!
//! The single-flight map is bounded ([`max_in_flight`](IntrospectionValidatorBuilder::max_in_flight),
//! default 10,000) and an entry leaves it when its last waiter goes, also
//! when the waiters are dropped (a client that hangs up): nothing an
//! unauthenticated peer sends stays behind. Past the bound a new token is
//! introspected on its own, without single flight, never refused.
//!
//! [`JwtOrIntrospect`] sends JWT-shaped tokens to a
//! [`JwtValidator`](warden_jwt::JwtValidator) and the rest to introspection.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use warden_core::{
    AuthError, ClaimRules, Clock, Fingerprint, InvalidToken, Principal, SystemClock, TokenCache,
    TokenValidator, Unavailable,
};

/// A misconfigured validator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectError {
    /// A setting is missing or wrong.
    #[error("introspection configuration: {0}")]
    Config(String),
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

type Inflight = Arc<OnceCell<Result<Principal, AuthError>>>;

struct Inner {
    http: reqwest::Client,
    url: String,
    client_id: String,
    client_secret: String,
    rules: ClaimRules,
    max_age: Duration,
    negative_ttl: Duration,
    cache: Option<TokenCache>,
    negative: Mutex<HashMap<[u8; 32], SystemTime>>,
    inflight: Mutex<HashMap<[u8; 32], Inflight>>,
    max_in_flight: usize,
    /// The most negative entries (the positive cache's capacity).
    max_negative: usize,
    clock: Arc<dyn Clock>,
    requests: AtomicU64,
    hits: AtomicU64,
}

/// Validates opaque tokens by introspection. Cheap to clone.
#[derive(Clone)]
pub struct IntrospectionValidator {
    inner: Arc<Inner>,
}

impl fmt::Debug for IntrospectionValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("url", &self.inner.url)
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IntrospectionValidator`].
#[must_use]
pub struct IntrospectionValidatorBuilder {
    url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    skip_audience: bool,
    allow_http: bool,
    max_age: Duration,
    negative_ttl: Duration,
    capacity: usize,
    max_in_flight: usize,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for IntrospectionValidatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionValidatorBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl IntrospectionValidatorBuilder {
    /// The introspection endpoint.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The resource server's credentials (client_secret_basic).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self.client_secret = Some(secret.into());
        self
    }

    /// The expected `iss` of introspection responses: an answer without it,
    /// or with another, is refused.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An accepted `aud`; call again for several. Required unless waived.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts any audience.
    ///
    /// # Security
    /// A token issued for another resource of the same server is accepted.
    pub fn dangerous_skip_audience_check(mut self) -> Self {
        self.skip_audience = true;
        self
    }

    /// Allows an `http://` endpoint (loopback development).
    pub fn dangerous_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// The longest a positive result is cached (default 60 s; zero disables
    /// the cache).
    pub fn cache_max_age(mut self, d: Duration) -> Self {
        self.max_age = d;
        self
    }

    /// How long a negative result is cached (default zero: not cached). At
    /// most [`capacity`](Self::capacity) refusals are remembered.
    pub fn negative_cache(mut self, d: Duration) -> Self {
        self.negative_ttl = d;
        self
    }

    /// The most cached results, positive and negative each (default 10,000).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// The most tokens introspected at once with single flight (default
    /// 10,000). Past it a new token is introspected on its own: memory stays
    /// bounded and no caller is refused because of a flood.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// The bound on one introspection request (default 5 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The clock for expiry decisions.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the validator.
    ///
    /// # Errors
    /// A missing endpoint, credentials or audience, or a plain-http URL.
    pub fn build(self) -> Result<IntrospectionValidator, IntrospectError> {
        let cfg = |m: &str| IntrospectError::Config(m.into());
        let url = self.url.ok_or_else(|| cfg("set .endpoint(..)"))?;
        match url.split_once("://").map(|(s, _)| s) {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            Some("http") => {
                return Err(cfg(
                    "refusing a plain-http endpoint; use https (or dangerous_allow_http for loopback)",
                ));
            }
            _ => return Err(cfg("the endpoint is not an http(s) URL")),
        }
        let client_id = self
            .client_id
            .ok_or_else(|| cfg("set .client(id, secret): introspection needs credentials"))?;
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(cfg("set .audience(..) (or dangerous_skip_audience_check)"));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .unwrap_or_default();
        // Without a configured issuer, the answer's `iss` is not checked:
        // the endpoint itself is the authority it was configured as.
        let mut rules = ClaimRules::new().exp_optional();
        rules = match self.issuer {
            Some(issuer) => rules.issuer(issuer),
            None => rules.dangerous().skip_issuer_check(),
        };
        for audience in self.audiences {
            rules = rules.audience(audience);
        }
        if self.skip_audience {
            rules = rules.dangerous().skip_audience_check();
        }
        let cache = (!self.max_age.is_zero()).then(|| {
            TokenCache::builder()
                .capacity(self.capacity)
                .clock(self.clock.clone())
                .build()
        });
        Ok(IntrospectionValidator {
            inner: Arc::new(Inner {
                http,
                url,
                client_id,
                client_secret: self.client_secret.unwrap_or_default(),
                rules,
                max_age: self.max_age,
                negative_ttl: self.negative_ttl,
                cache,
                negative: Mutex::default(),
                inflight: Mutex::default(),
                max_in_flight: self.max_in_flight,
                max_negative: self.capacity.max(1),
                clock: self.clock,
                requests: AtomicU64::new(0),
                hits: AtomicU64::new(0),
            }),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl IntrospectionValidator {
    /// Starts a builder.
    pub fn builder() -> IntrospectionValidatorBuilder {
        IntrospectionValidatorBuilder {
            url: None,
            client_id: None,
            client_secret: None,
            issuer: None,
            audiences: Vec::new(),
            skip_audience: false,
            allow_http: false,
            max_age: Duration::from_secs(60),
            negative_ttl: Duration::ZERO,
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
            in_flight: lock(&self.inner.inflight).len(),
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
        let Some(flight) = InFlight::join(inner, key) else {
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
        let inner = &self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let res = inner
            .http
            .post(&inner.url)
            .header(
                reqwest::header::AUTHORIZATION,
                warden_core::client_secret_basic(&inner.client_id, &inner.client_secret),
            )
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e.without_url(), "introspection endpoint unreachable");
                AuthError::from(Unavailable::Upstream)
            })?;
        let status = res.status();
        if !status.is_success() {
            tracing::warn!(
                status = status.as_u16(),
                "introspection endpoint refused the request"
            );
            return Err(Unavailable::Upstream.into());
        }
        let body = warden_jwt::fetch::read_capped(res, warden_jwt::fetch::DEFAULT_MAX_BODY)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "introspection response refused");
                AuthError::from(Unavailable::Upstream)
            })?;
        self.verdict(token, &body)
    }

    /// The verdict of an introspection response body (RFC 7662 §2.2).
    fn verdict(&self, token: &str, body: &[u8]) -> Result<Principal, AuthError> {
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

/// A caller's share of a single-flight entry. Dropping the last share (the
/// answer came, or every waiter was dropped) removes the entry.
struct InFlight<'a> {
    inner: &'a Inner,
    key: [u8; 32],
    cell: Inflight,
}

impl<'a> InFlight<'a> {
    /// Joins (or opens) the flight for `key`; `None` when the map is full.
    fn join(inner: &'a Inner, key: [u8; 32]) -> Option<Self> {
        let mut map = lock(&inner.inflight);
        let cell = match map.get(&key) {
            Some(cell) => cell.clone(),
            None if map.len() >= inner.max_in_flight => return None,
            None => map.entry(key).or_default().clone(),
        };
        Some(Self { inner, key, cell })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.inner.inflight);
        // Shares are taken and dropped under the lock: two references left
        // means the map's and this one, so this is the last waiter.
        if map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell) && Arc::strong_count(c) == 2)
        {
            map.remove(&self.key);
        }
    }
}

impl TokenValidator for IntrospectionValidator {
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        self.validate_token(token)
    }
}

/// Entry points for the fuzz targets (`fuzz/`): the production parsers,
/// reachable without a network.
///
/// **Unstable**: not part of the public API, only compiled with the
/// `fuzzing` feature, and may change in any release.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// The verdict `validator` reaches on an introspection response `body`
    /// for `token`: exactly what it does after a real request.
    ///
    /// # Errors
    /// As [`IntrospectionValidator::validate_token`].
    pub fn verdict(
        validator: &IntrospectionValidator,
        token: &str,
        body: &[u8],
    ) -> Result<Principal, AuthError> {
        validator.verdict(token, body)
    }
}

/// JWT-shaped tokens to a JWT validator, the rest to introspection.
#[derive(Debug, Clone)]
pub struct JwtOrIntrospect<C = warden_core::NoCustomClaims> {
    jwt: warden_jwt::JwtValidator<C>,
    introspect: IntrospectionValidator,
}

impl<C> JwtOrIntrospect<C> {
    /// Combines the two validators.
    pub fn new(jwt: warden_jwt::JwtValidator<C>, introspect: IntrospectionValidator) -> Self {
        Self { jwt, introspect }
    }
}

/// Whether a token looks like a JWS: three segments, the first a base64url
/// JSON object.
fn jwt_shaped(token: &str) -> bool {
    let mut parts = token.split('.');
    matches!((parts.next(), parts.next(), parts.next(), parts.next()), (Some(h), Some(_), Some(_), None) if h.starts_with("eyJ"))
}

impl<C: DeserializeOwned + Send + Sync + 'static> TokenValidator for JwtOrIntrospect<C> {
    async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        if jwt_shaped(token) {
            self.jwt.validate_token(token).await
        } else {
            self.introspect.validate_token(token).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(jwt_shaped("eyJhbGciOi.eyJ.sig"));
        assert!(!jwt_shaped("opaqueTOKEN123"));
        assert!(!jwt_shaped("a.b.c.d.e"));
    }

    #[test]
    fn builder_errors() {
        let e = IntrospectionValidator::builder()
            .endpoint("http://127.0.0.1/i")
            .client("a", "b")
            .audience("x")
            .build();
        assert!(e.unwrap_err().to_string().contains("plain-http"));
        let e = IntrospectionValidator::builder()
            .endpoint("https://a/i")
            .audience("x")
            .build();
        assert!(e.unwrap_err().to_string().contains("credentials"));
        let e = IntrospectionValidator::builder()
            .endpoint("https://a/i")
            .client("a", "b")
            .build();
        assert!(e.unwrap_err().to_string().contains("audience"));
    }
}
