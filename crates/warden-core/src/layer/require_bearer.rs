//! [`RequireBearerLayer`]: extract, validate, and hand the [`Principal`] to
//! the inner service through request extensions.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::bearer::Scheme;
use crate::bearer::{BearerExtractor, BearerToken};
use crate::cache::{Owner, RevocationCheck, TokenCache};
use crate::challenge::{Challenge, Protocol};
use crate::dpop::{self, Dpop, DpopPolicy};
use crate::error::AuthError;
use crate::metrics::{self, Outcome};
use crate::principal::Principal;
use crate::validator::TokenValidator;

#[derive(Clone)]
struct Config {
    extractor: BearerExtractor,
    challenge: Challenge,
    optional: bool,
    cache: Option<TokenCache>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    metrics: bool,
    dpop: Option<Dpop>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            extractor: BearerExtractor::default(),
            challenge: Challenge::default(),
            optional: false,
            cache: Some(TokenCache::default()),
            revocation: None,
            metrics: true,
            dpop: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("extractor", &self.extractor)
            .field("challenge", &self.challenge)
            .field("optional", &self.optional)
            .field("cache", &self.cache)
            .field("revocation", &self.revocation.is_some())
            .field("metrics", &self.metrics)
            .field("dpop", &self.dpop)
            .finish()
    }
}

impl Config {
    /// The refusal for `err`, counted.
    fn refuse<B: Default, R>(&self, err: &AuthError, req: &Request<R>) -> Response<B> {
        self.refuse_for(err, req, None)
    }

    /// The refusal for `err` to a request whose token came with `scheme`.
    fn refuse_for<B: Default, R>(
        &self,
        err: &AuthError,
        req: &Request<R>,
        scheme: Option<Scheme>,
    ) -> Response<B> {
        if self.metrics {
            metrics::outcome(Outcome::of(err));
        }
        self.challenge.response_for(err, req, scheme)
    }

    /// The extractor and challenge follow the DPoP setting.
    fn apply_dpop(&mut self) {
        let policy = self.dpop.as_ref().map(Dpop::get_policy);
        let on = policy.is_some_and(|p| p != DpopPolicy::Off);
        self.extractor = self.extractor.clone().dpop(on);
        if let (Some(d), Some(policy)) = (&self.dpop, policy) {
            self.challenge = self
                .challenge
                .clone()
                .dpop(&d.accepted_algorithms(), policy);
        }
    }

    /// The revocation verdict for an authenticated principal.
    fn admit(&self, principal: &Principal) -> Result<(), AuthError> {
        match &self.revocation {
            Some(r) => r.check(principal),
            None => Ok(()),
        }
    }
}

/// Authenticates every request with a [`TokenValidator`].
///
/// On success the [`Principal`](crate::Principal) is inserted into the request's extensions
/// (axum: the `warden_axum::Auth` extractor; tonic:
/// `request.extensions().get::<Principal>()`). On failure the request never
/// reaches the inner service: the response is a 400/401/503 with the RFC 6750
/// challenge, or the gRPC equivalent for gRPC requests (see [`Protocol`]).
/// A rejection is a response, not an `Err`, so the service keeps the inner
/// service's error type.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use warden_core::{validator_fn, AuthError, Fingerprint, InvalidToken, Principal, RequireBearerLayer, StandardClaims};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let validator = validator_fn(|t: String| async move {
///     if t == "good" { Ok(Principal::new(StandardClaims::new(), (), Fingerprint::of(&t))) }
///     else { Err(AuthError::from(InvalidToken::BadSignature)) }
/// });
/// let svc = ServiceBuilder::new()
///     .layer(RequireBearerLayer::new(validator))
///     .service_fn(|req: Request<()>| async move {
///         assert!(req.extensions().get::<Principal>().is_some());
///         Ok::<_, Infallible>(Response::new(()))
///     });
///
/// let res = svc.clone().oneshot(Request::new(())).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(res.headers()["www-authenticate"], "Bearer");
///
/// let req = Request::builder().header("authorization", "Bearer good").body(()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
pub struct RequireBearerLayer<V> {
    validator: Arc<V>,
    owner: Owner,
    config: Arc<Config>,
}

impl<V> Clone for RequireBearerLayer<V> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            owner: self.owner,
            config: self.config.clone(),
        }
    }
}

impl<V> fmt::Debug for RequireBearerLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireBearerLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<V: TokenValidator> RequireBearerLayer<V> {
    /// Every request must carry a valid token.
    pub fn new(validator: V) -> Self {
        Self {
            validator: Arc::new(validator),
            // The cache keys verdicts by this identity: a layer never answers
            // from another layer's validator.
            owner: Owner::fresh(),
            config: Arc::default(),
        }
    }

    /// Requests without any token pass through without a [`Principal`]; a
    /// token that is present must still be valid.
    pub fn optional(validator: V) -> Self {
        let mut layer = Self::new(validator);
        Arc::make_mut(&mut layer.config).optional = true;
        layer
    }

    /// Where tokens are looked for (default: the `Authorization` header only).
    #[must_use]
    pub fn extractor(self, extractor: BearerExtractor) -> Self {
        self.configure(|c| c.extractor = extractor)
    }

    /// Changes the settings, keeping the extractor and challenge in step
    /// with DPoP.
    fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        let c = Arc::make_mut(&mut self.config);
        f(c);
        c.apply_dpop();
        self
    }

    /// Accepts sender-constrained tokens by DPoP (RFC 9449 §7):
    /// `Authorization: DPoP <token>` with a `DPoP` proof, checked on every
    /// request (the token's verdict is cached, never the proof's). Under the
    /// default policy Bearer tokens are accepted too, but never one bound to
    /// a key (`cnf.jkt`); challenges name both schemes.
    ///
    /// Without this, the layer reads no `DPoP` scheme, and still refuses a
    /// DPoP-bound token presented as Bearer.
    #[must_use]
    pub fn dpop(self, dpop: Dpop) -> Self {
        self.configure(|c| c.dpop = Some(dpop))
    }

    /// The challenge parameters (realm, resource metadata) and wire format.
    #[must_use]
    pub fn challenge(self, challenge: Challenge) -> Self {
        self.configure(|c| c.challenge = challenge)
    }

    /// Shorthand for the wire format of rejections (default [`Protocol::Auto`]).
    #[must_use]
    pub fn protocol(self, protocol: Protocol) -> Self {
        self.configure(|c| c.challenge = c.challenge.clone().protocol(protocol))
    }

    /// Uses `cache` for validated tokens (share one between layers, or keep
    /// a clone to drop entries). Layers sharing a cache share its capacity,
    /// never their verdicts: each layer's entries are its validator's own. On by default with
    /// [`DEFAULT_CACHE_CAPACITY`](crate::cache::DEFAULT_CACHE_CAPACITY)
    /// entries on the system clock.
    #[must_use]
    pub fn cache(mut self, cache: TokenCache) -> Self {
        Arc::make_mut(&mut self.config).cache = Some(cache);
        self
    }

    /// Validates every request in full, without the cache.
    #[must_use]
    pub fn without_cache(mut self) -> Self {
        Arc::make_mut(&mut self.config).cache = None;
        self
    }

    /// Runs `check` on every authenticated request, cache hits included.
    #[must_use]
    pub fn revocation(mut self, check: impl RevocationCheck) -> Self {
        Arc::make_mut(&mut self.config).revocation = Some(Arc::new(check));
        self
    }

    /// Leaves this layer's requests out of the [metrics](crate::metrics)
    /// (health probes, for example); they are counted by default when the
    /// feature `metrics` is on.
    #[must_use]
    pub fn without_metrics(mut self) -> Self {
        Arc::make_mut(&mut self.config).metrics = false;
        self
    }

    /// The validated-token cache, if on.
    pub fn token_cache(&self) -> Option<&TokenCache> {
        self.config.cache.as_ref()
    }

    /// The validator.
    pub fn validator(&self) -> &V {
        &self.validator
    }
}

impl<S, V> Layer<S> for RequireBearerLayer<V> {
    type Service = RequireBearer<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearer {
            inner,
            validator: self.validator.clone(),
            owner: self.owner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`RequireBearerLayer`].
pub struct RequireBearer<S, V> {
    inner: S,
    validator: Arc<V>,
    owner: Owner,
    config: Arc<Config>,
}

impl<S: Clone, V> Clone for RequireBearer<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            owner: self.owner,
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, V> fmt::Debug for RequireBearer<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireBearer")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, V: TokenValidator> RequireBearer<S, V> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn layer(layer: &RequireBearerLayer<V>, inner: S) -> Self {
        layer.layer(inner)
    }
}

crate::inner_service_accessors!(RequireBearer<S, V>);

type BoxFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    /// The response future of [`RequireBearer`]: the inner service's future
    /// directly on a cache hit, a boxed validation on a miss, or a ready
    /// rejection.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] fut: F, count: bool },
        Authenticated { #[pin] fut: crate::current::WithToken<F>, count: bool },
        Validating { fut: BoxFuture<B, E> },
        Ready { res: Option<Response<B>> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn ready(res: Response<B>) -> Self {
        Self {
            state: State::Ready { res: Some(res) },
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut, count } => counted(fut.poll(cx), *count),
            StateProj::Authenticated { fut, count } => counted(fut.poll(cx), *count),
            StateProj::Validating { fut } => fut.as_mut().poll(cx),
            StateProj::Ready { res } => super::ready_once(res, "ResponseFuture"),
        }
    }
}

/// Counts the verdict of a request the inner service answered: `allowed`,
/// unless a layer inside refused it (a scope check: `forbidden`).
#[inline]
fn counted<B, E>(poll: Poll<Result<Response<B>, E>>, count: bool) -> Poll<Result<Response<B>, E>> {
    if count && let Poll::Ready(out) = &poll {
        count_answered(out);
    }
    poll
}

#[inline]
fn count_answered<B, E>(out: &Result<Response<B>, E>) {
    #[cfg(feature = "metrics")]
    metrics::outcome(match out {
        Ok(res) => res
            .extensions()
            .get::<Outcome>()
            .copied()
            .unwrap_or(Outcome::Allowed),
        Err(_) => Outcome::Allowed,
    });
    #[cfg(not(feature = "metrics"))]
    let _ = out;
}

impl<S, V, ReqB, ResB> Service<Request<ReqB>> for RequireBearer<S, V>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    V: TokenValidator,
    ReqB: Send + 'static,
    ResB: Default + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        if let http::header::Entry::Occupied(mut e) = req.headers_mut().entry(AUTHORIZATION) {
            for v in e.iter_mut() {
                v.set_sensitive(true);
            }
        }
        let config = &self.config;
        let token = match config.extractor.extract_deferred(req.headers(), req.uri()) {
            Ok(Some(token)) => token,
            Ok(None) if config.optional => {
                req.extensions_mut().insert(crate::principal::Anonymous);
                return ResponseFuture {
                    state: State::Inner {
                        fut: self.inner.call(req),
                        count: config.metrics,
                    },
                };
            }
            Ok(None) => {
                tracing::debug!("request without bearer token refused");
                return ResponseFuture::ready(config.refuse(&AuthError::MissingToken, &req));
            }
            Err(err) => {
                tracing::debug!(error = %err, "malformed bearer credential refused");
                return ResponseFuture::ready(config.refuse(&err, &req));
            }
        };

        let scheme = Some(token.scheme());
        // RFC 9449 §7.2: where DPoP is required, a Bearer token is refused
        // before anything else.
        if token.scheme() == Scheme::Bearer
            && config
                .dpop
                .as_ref()
                .is_some_and(|d| d.get_policy() == DpopPolicy::Require)
        {
            let err = AuthError::from(crate::error::InvalidToken::NotDpopBound);
            return ResponseFuture::ready(config.refuse_for(&err, &req, scheme));
        }

        // The hot path: a token validated before costs a lookup.
        // Equal bytes to a validated token: the grammar check is implied.
        let hit = config
            .cache
            .as_ref()
            .and_then(|c| c.get_for(self.owner, token.as_bytes()));
        if let Some(principal) = &hit {
            if config.metrics {
                metrics::cache_lookup(true);
            }
            if let Err(err) = config.admit(principal) {
                tracing::debug!(token = %token.fingerprint(), error = %err, "cached token refused");
                return ResponseFuture::ready(config.refuse_for(&err, &req, scheme));
            }
        }
        let hit = match hit {
            Some(principal) if token.scheme() == Scheme::Bearer => principal,
            other => return self.slow(req, token, other),
        };
        if let Err(err) = dpop::bearer_binding(&hit)
            .and_then(|()| crate::mtls::certificate_binding(&hit, req.extensions()))
        {
            tracing::debug!(token = %token.fingerprint(), error = %err, "bound token as bearer refused");
            return ResponseFuture::ready(config.refuse_for(&err, &req, scheme));
        }
        req.extensions_mut().insert(hit);
        ResponseFuture {
            state: State::Authenticated {
                fut: crate::current::with_token(Some(token), self.inner.call(req)),
                count: config.metrics,
            },
        }
    }
}

impl<S, V> RequireBearer<S, V> {
    /// Everything but a Bearer cache hit: validation on a miss (`hit` is
    /// `None`), the DPoP proof on every DPoP request, then the inner
    /// service; boxed.
    fn slow<ReqB, ResB>(
        &mut self,
        req: Request<ReqB>,
        mut token: BearerToken,
        hit: Option<Principal>,
    ) -> ResponseFuture<S::Future, ResB, S::Error>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
        V: TokenValidator,
        ReqB: Send + 'static,
        ResB: Default + Send + 'static,
    {
        let config = self.config.clone();
        let scheme = Some(token.scheme());
        if hit.is_none() {
            if config.metrics && config.cache.is_some() {
                metrics::cache_lookup(false);
            }
            if let Err(err) = token.check() {
                tracing::debug!(error = %err, "malformed bearer credential refused");
                return ResponseFuture::ready(config.refuse_for(&err, &req, scheme));
            }
        }
        // A DPoP request: the proof is checked on every request, hit or miss.
        let proof = match (&config.dpop, token.scheme()) {
            (Some(d), Scheme::Dpop) => Some(d.input(req.method(), req.uri(), req.headers())),
            _ => None,
        };
        // Take the service that was driven to readiness; leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let owner = self.owner;
        let mut req = req;
        let fut = Box::pin(async move {
            let verdict = match hit {
                // Admitted by the caller.
                Some(principal) => Ok(principal),
                None => {
                    let started = config.metrics.then(std::time::Instant::now);
                    let validated = validator.validate(token.as_str()).await;
                    if let Some(started) = started {
                        metrics::validation_time(started.elapsed());
                    }
                    match validated {
                        // Revocation first: a revoked token must not re-enter the cache.
                        Ok(principal) => config.admit(&principal).map(|()| {
                            if let Some(cache) = &config.cache {
                                cache.insert_for(owner, token.as_str(), &principal, None);
                            }
                            principal
                        }),
                        Err(err) => Err(err),
                    }
                }
            };
            // The binding: the token's verdict may come from the cache, the
            // proof's never does.
            let verdict = match (verdict, &config.dpop, &proof) {
                (Ok(p), Some(d), Some(input)) => d.check(&p, &token, input).await.map(|()| p),
                (Ok(p), _, _) => dpop::bearer_binding(&p).map(|()| p),
                (Err(e), _, _) => Err(e),
            };
            // RFC 8705 §3: a certificate-bound token needs its certificate.
            let verdict = verdict
                .and_then(|p| crate::mtls::certificate_binding(&p, req.extensions()).map(|()| p));
            match verdict {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    if token.scheme() == Scheme::Dpop {
                        // For the layers inside (a scope refusal's challenge).
                        req.extensions_mut().insert(Scheme::Dpop);
                    }
                    let out = crate::current::with_token(Some(token), inner.call(req)).await;
                    if config.metrics {
                        count_answered(&out);
                    }
                    out
                }
                Err(err) => {
                    tracing::debug!(token = %token.fingerprint(), error = %err, "bearer token refused");
                    let mut res: Response<ResB> = config.refuse_for(&err, &req, scheme);
                    // RFC 9449 §8: the nonce to use comes with the refusal.
                    if err == AuthError::InvalidDpopProof(dpop::InvalidProof::UseNonce)
                        && let Some(nonce) = config.dpop.as_ref().and_then(Dpop::fresh_nonce)
                        && let Ok(v) = http::HeaderValue::from_str(&nonce)
                    {
                        res.headers_mut().insert("dpop-nonce", v);
                    }
                    Ok(res)
                }
            }
        });
        ResponseFuture {
            state: State::Validating { fut },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Ready;
    use std::task::Waker;

    use super::*;

    type Fut = ResponseFuture<Ready<Result<Response<()>, ()>>, (), ()>;

    /// A rejection is answered once; a second poll panics with a message,
    /// as tower-http's futures do, instead of hanging.
    #[test]
    #[should_panic(expected = "ResponseFuture polled after completion")]
    fn polled_after_completion_panics() {
        let mut fut = std::pin::pin!(Fut::ready(Response::new(())));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let _ = fut.as_mut().poll(&mut cx);
    }
}
