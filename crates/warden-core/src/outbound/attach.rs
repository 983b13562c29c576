//! [`AttachBearerLayer`]: `Authorization: Bearer <token>` (RFC 6750 §2.1,
//! <https://www.rfc-editor.org/rfc/rfc6750#section-2.1>) on every request a
//! client sends, from a [`TokenSource`]; one retry with a fresh token after
//! a `401 invalid_token` when the request can be replayed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use super::source::{AccessToken, TokenContext, TokenSource, TokenSourceError};

/// The error type of [`AttachBearer`]: the inner client's error or the token
/// source's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marker: no replay on a downstream `invalid_token` (any body type).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetry;

/// Marker: replay once on a downstream `invalid_token` (bodies that clone).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryOnce;

mod sealed {
    // The sealed-trait pattern: nameable outside only through its bound.
    #[allow(unnameable_types)]
    pub trait Sealed {}
    impl Sealed for super::NoRetry {}
    impl Sealed for super::RetryOnce {}
}

/// What [`AttachBearer`] does when the downstream answers
/// `error="invalid_token"`: [`NoRetry`] (any body) or [`RetryOnce`] (bodies
/// that clone). Sealed: these two are the policies.
pub trait RetryPolicy<B>: sealed::Sealed + Send + 'static {
    /// The request to replay with a fresh token, if this policy replays.
    fn keep(req: &Request<B>) -> Option<Request<B>>;
}

impl<B> RetryPolicy<B> for NoRetry {
    fn keep(_: &Request<B>) -> Option<Request<B>> {
        None
    }
}

impl<B: Clone> RetryPolicy<B> for RetryOnce {
    fn keep(req: &Request<B>) -> Option<Request<B>> {
        let mut replay = Request::new(req.body().clone());
        *replay.method_mut() = req.method().clone();
        *replay.uri_mut() = req.uri().clone();
        *replay.version_mut() = req.version();
        *replay.headers_mut() = req.headers().clone();
        *replay.extensions_mut() = req.extensions().clone();
        Some(replay)
    }
}

/// Puts a bearer token from a [`TokenSource`] on every outbound request.
///
/// When the downstream answers 401 with `error="invalid_token"` (or gRPC
/// UNAUTHENTICATED carrying that challenge), the token is dropped from the
/// source's cache ([`TokenSource::invalidate`]); with
/// [`retry_once`](Self::retry_once) the request is also sent once more with a
/// fresh token, which needs a body that can be cloned (a buffered body such
/// as `Full<Bytes>`; streaming bodies cannot be replayed).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use warden_core::{AttachBearerLayer, StaticToken};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // tonic: InventoryClient::new(ServiceBuilder::new().layer(layer).service(channel))
/// let client = ServiceBuilder::new()
///     .layer(AttachBearerLayer::new(StaticToken::new("eyJ.x.y")))
///     .service_fn(|req: Request<()>| async move {
///         // The downstream sees the token, as a sensitive header.
///         let h = req.headers()["authorization"].clone();
///         assert!(h.is_sensitive());
///         Ok::<_, Infallible>(Response::new(h.to_str().unwrap().to_owned()))
///     });
/// let res = client.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(res.body(), "Bearer eyJ.x.y");
/// # }
/// ```
pub struct AttachBearerLayer<T, R = NoRetry> {
    source: Arc<T>,
    _retry: R,
}

impl<T, R: Clone> Clone for AttachBearerLayer<T, R> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            _retry: self._retry.clone(),
        }
    }
}

impl<T, R> fmt::Debug for AttachBearerLayer<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachBearerLayer").finish_non_exhaustive()
    }
}

impl<T: TokenSource> AttachBearerLayer<T, NoRetry> {
    /// Attaches tokens from `source`.
    pub fn new(source: T) -> Self {
        Self {
            source: Arc::new(source),
            _retry: NoRetry,
        }
    }

    /// From a shared source.
    pub fn from_arc(source: Arc<T>) -> Self {
        Self {
            source,
            _retry: NoRetry,
        }
    }

    /// Replays a request once, with a fresh token, when the downstream says
    /// the token was invalid.
    pub fn retry_once(self) -> AttachBearerLayer<T, RetryOnce> {
        AttachBearerLayer {
            source: self.source,
            _retry: RetryOnce,
        }
    }
}

impl<S, T, R: Clone> Layer<S> for AttachBearerLayer<T, R> {
    type Service = AttachBearer<S, T, R>;

    fn layer(&self, inner: S) -> Self::Service {
        AttachBearer {
            inner,
            source: self.source.clone(),
            _retry: self._retry.clone(),
        }
    }
}

/// The service made by [`AttachBearerLayer`].
pub struct AttachBearer<S, T, R = NoRetry> {
    inner: S,
    source: Arc<T>,
    _retry: R,
}

impl<S: Clone, T, R: Clone> Clone for AttachBearer<S, T, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            source: self.source.clone(),
            _retry: self._retry.clone(),
        }
    }
}

impl<S: fmt::Debug, T, R> fmt::Debug for AttachBearer<S, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

crate::inner_service_accessors!(AttachBearer<S, T, R>);

/// The response future of [`AttachBearer`].
pub struct AttachFuture<R> {
    inner: Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>,
}

impl<R> fmt::Debug for AttachFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachFuture").finish_non_exhaustive()
    }
}

impl<R> Future for AttachFuture<R> {
    type Output = Result<R, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// Whether a downstream response says the token was invalid (RFC 6750 §3.1).
fn says_invalid_token<B>(res: &http::Response<B>) -> bool {
    let grpc_unauthenticated = res.headers().get("grpc-status").is_some_and(|v| v == "16");
    if res.status() != http::StatusCode::UNAUTHORIZED && !grpc_unauthenticated {
        return false;
    }
    res.headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|s| s.contains("error=\"invalid_token\""))
        })
}

fn context<B>(req: &Request<B>) -> TokenContext {
    TokenContext {
        subject: req
            .extensions()
            .get::<crate::bearer::BearerToken>()
            .cloned()
            .or_else(crate::current::current_token),
        target: Some(req.uri().clone()),
    }
}

fn set_token<B>(req: &mut Request<B>, token: &AccessToken) -> Result<(), TokenSourceError> {
    let Some(signer) = token.proof_signer() else {
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.secret()))
            .map_err(|_| TokenSourceError::InvalidToken)?;
        value.set_sensitive(true);
        req.headers_mut().insert(AUTHORIZATION, value);
        return Ok(());
    };
    // RFC 9449 §7: a bound token goes as DPoP, with a proof for this call.
    let mut value = HeaderValue::try_from(format!("DPoP {}", token.secret()))
        .map_err(|_| TokenSourceError::InvalidToken)?;
    value.set_sensitive(true);
    let uri = req.uri();
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(TokenSourceError::Unavailable(
            "a DPoP proof needs the request's absolute URI".into(),
        ));
    }
    let proof = signer
        .proof(
            req.method().as_str(),
            &uri.to_string(),
            Some(token.secret()),
        )
        .map_err(|e| TokenSourceError::Unavailable(format!("DPoP proof: {e}")))?;
    let proof = HeaderValue::try_from(proof).map_err(|_| TokenSourceError::InvalidToken)?;
    req.headers_mut().insert(AUTHORIZATION, value);
    req.headers_mut().insert("dpop", proof);
    Ok(())
}

/// The nonce a downstream asked for (RFC 9449 §9: 401 with
/// `error="use_dpop_nonce"` and `DPoP-Nonce`), if it did.
fn asks_nonce<B>(res: &http::Response<B>) -> Option<String> {
    let asks = res
        .headers()
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|s| s.contains("error=\"use_dpop_nonce\""))
        });
    if !asks {
        return None;
    }
    res.headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Passes an explicit credential through, marked sensitive. `None` when the
/// request has no `Authorization` header.
fn explicit<B>(req: &mut Request<B>) -> bool {
    if let http::header::Entry::Occupied(mut e) = req.headers_mut().entry(AUTHORIZATION) {
        for v in e.iter_mut() {
            v.set_sensitive(true);
        }
        return true;
    }
    false
}

impl<S: Clone, T, R> AttachBearer<S, T, R> {
    /// Takes the service driven to readiness (leaving a clone), and the
    /// source and context to attach a token with; `None` when the request
    /// carries its own credential, which always wins.
    fn begin<B>(&mut self, req: &mut Request<B>) -> (S, Option<(Arc<T>, TokenContext)>) {
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        if explicit(req) {
            return (inner, None);
        }
        (inner, Some((self.source.clone(), context(req))))
    }
}

/// Sends a request that carries its own credential, untouched.
fn passthrough<S, B, RB>(mut inner: S, req: Request<B>) -> AttachFuture<http::Response<RB>>
where
    S: Service<Request<B>, Response = http::Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    AttachFuture {
        inner: Box::pin(async move { inner.call(req).await.map_err(Into::into) }),
    }
}

async fn ready<S: Service<Req>, Req>(svc: &mut S) -> Result<(), S::Error> {
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await
}

impl<S, T, B, RB, R> Service<Request<B>> for AttachBearer<S, T, R>
where
    S: Service<Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    RB: Send + 'static,
    T: TokenSource,
    B: Send + 'static,
    R: RetryPolicy<B>,
{
    type Response = http::Response<RB>;
    type Error = BoxError;
    type Future = AttachFuture<http::Response<RB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let (mut inner, attach) = self.begin(&mut req);
        let Some((source, ctx)) = attach else {
            return passthrough(inner, req);
        };
        AttachFuture {
            inner: Box::pin(async move {
                let token = source.token(&ctx).await?;
                let mut replay = R::keep(&req);
                let uri = req.uri().to_string();
                set_token(&mut req, &token)?;
                let mut res = inner.call(req).await.map_err(Into::into)?;
                // A DPoP nonce asked for: remembered, and the call retried
                // once with it (when the policy keeps a copy).
                if let (Some(signer), Some(nonce)) = (token.proof_signer(), asks_nonce(&res)) {
                    signer.remember_nonce(&uri, &nonce);
                    if let Some(mut again) = replay.take() {
                        set_token(&mut again, &token)?;
                        ready(&mut inner).await.map_err(Into::into)?;
                        replay = R::keep(&again);
                        res = inner.call(again).await.map_err(Into::into)?;
                    }
                }
                if !says_invalid_token(&res) {
                    return Ok(res);
                }
                source.invalidate(&token);
                let Some(mut replay) = replay else {
                    tracing::debug!(token = %token.fingerprint(), "downstream refused the token; dropped from the cache");
                    return Ok(res);
                };
                let fresh = source.token(&ctx).await?;
                if fresh.secret() == token.secret() {
                    // The source has nothing better: the refusal stands.
                    return Ok(res);
                }
                tracing::debug!(token = %token.fingerprint(), "downstream refused the token; retrying once with a fresh one");
                set_token(&mut replay, &fresh)?;
                ready(&mut inner).await.map_err(Into::into)?;
                inner.call(replay).await.map_err(Into::into)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::Response;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;
    use crate::outbound::StaticToken;

    #[tokio::test]
    async fn attaches_and_never_overwrites() {
        let svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::new(StaticToken::new("tok.en")))
            .service_fn(|req: Request<()>| async move {
                let v = req.headers()[AUTHORIZATION].clone();
                assert!(v.is_sensitive());
                Ok::<_, Infallible>(Response::new(v.to_str().unwrap().to_owned()))
            });
        let res = svc.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(res.body(), "Bearer tok.en");
        let req = Request::builder()
            .header(AUTHORIZATION, "Bearer mine")
            .body(())
            .unwrap();
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(res.body(), "Bearer mine");
    }

    #[tokio::test]
    async fn a_bad_token_is_an_error_not_a_header() {
        let svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::new(StaticToken::new("bad\ntoken")))
            .service_fn(|_req: Request<()>| async move { Ok::<_, Infallible>(Response::new(())) });
        let err = svc.oneshot(Request::new(())).await.unwrap_err();
        assert_eq!(err.to_string(), "token is not a valid header value");
        assert!(!format!("{:?}", AccessToken::new("secret-value", None)).contains("secret"));
    }

    /// Hands out token-1, token-2, ... and counts invalidations.
    #[derive(Default)]
    struct Counter {
        next: AtomicUsize,
        invalidated: AtomicUsize,
    }

    impl TokenSource for Counter {
        async fn token(&self, _ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
            let n = self.next.load(Ordering::SeqCst) + 1;
            Ok(AccessToken::new(format!("token-{n}"), None))
        }

        fn invalidate(&self, _token: &AccessToken) {
            self.invalidated.fetch_add(1, Ordering::SeqCst);
            self.next.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn downstream(
        calls: Arc<AtomicUsize>,
    ) -> impl Service<
        Request<String>,
        Response = Response<String>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send {
        tower::service_fn(move |req: Request<String>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let auth = req.headers()[AUTHORIZATION].to_str().unwrap().to_owned();
                let mut res = Response::new(format!("{auth} {}", req.body()));
                if auth == "Bearer token-1" {
                    *res.status_mut() = http::StatusCode::UNAUTHORIZED;
                    res.headers_mut().insert(
                        http::header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer error=\"invalid_token\", error_description=\"the token has expired\""),
                    );
                }
                Ok::<_, Infallible>(res)
            }
        })
    }

    #[tokio::test]
    async fn a_downstream_invalid_token_refetches_once_and_retries_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let source = Arc::new(Counter::default());
        let svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::from_arc(source.clone()).retry_once())
            .service(downstream(calls.clone()));
        let res = svc.oneshot(Request::new("body".to_string())).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.body(), "Bearer token-2 body", "replayed with the body");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry");
        assert_eq!(source.invalidated.load(Ordering::SeqCst), 1, "one re-fetch");

        // Without retry: the refusal is returned, the token still dropped.
        let calls = Arc::new(AtomicUsize::new(0));
        let source = Arc::new(Counter::default());
        let svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::from_arc(source.clone()))
            .service(downstream(calls.clone()));
        let res = svc.oneshot(Request::new(String::new())).await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            (
                calls.load(Ordering::SeqCst),
                source.invalidated.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
    }

    #[tokio::test]
    async fn the_caller_token_reaches_the_source() {
        struct Echo;
        impl TokenSource for Echo {
            async fn token(&self, ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
                let s = ctx.require_subject()?;
                Ok(AccessToken::new(format!("for-{s}"), None))
            }
        }
        let svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::new(Echo))
            .service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(
                    req.headers()[AUTHORIZATION].to_str().unwrap().to_owned(),
                ))
            });
        let err = svc.clone().oneshot(Request::new(())).await.unwrap_err();
        assert_eq!(err.to_string(), "no inbound token to act on behalf of");
        let res = crate::current::with_token(
            Some(crate::BearerToken::new("alice")),
            svc.clone().oneshot(Request::new(())),
        )
        .await
        .unwrap();
        assert_eq!(res.body(), "Bearer for-alice");
        let mut req = Request::new(());
        req.extensions_mut().insert(crate::BearerToken::new("bob"));
        let res =
            crate::current::with_token(Some(crate::BearerToken::new("alice")), svc.oneshot(req))
                .await
                .unwrap();
        assert_eq!(res.body(), "Bearer for-bob", "the explicit form wins");
    }
}
