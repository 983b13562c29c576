//! [`RequireBearerLayer`]: extract, validate, and hand the [`Principal`] to
//! the inner service through request extensions.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::bearer::BearerExtractor;
use crate::challenge::{Challenge, Protocol};
use crate::error::AuthError;
use crate::validator::TokenValidator;

#[derive(Clone, Debug, Default)]
struct Config {
    extractor: BearerExtractor,
    challenge: Challenge,
    optional: bool,
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
    config: Arc<Config>,
}

impl<V> Clone for RequireBearerLayer<V> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
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
    pub fn extractor(mut self, extractor: BearerExtractor) -> Self {
        Arc::make_mut(&mut self.config).extractor = extractor;
        self
    }

    /// The challenge parameters (realm, resource metadata) and wire format.
    #[must_use]
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        Arc::make_mut(&mut self.config).challenge = challenge;
        self
    }

    /// Shorthand for the wire format of rejections (default [`Protocol::Auto`]).
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        let c = Arc::make_mut(&mut self.config);
        c.challenge = c.challenge.clone().protocol(protocol);
        self
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
            config: self.config.clone(),
        }
    }
}

/// The service made by [`RequireBearerLayer`].
pub struct RequireBearer<S, V> {
    inner: S,
    validator: Arc<V>,
    config: Arc<Config>,
}

impl<S: Clone, V> Clone for RequireBearer<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
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

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The response future of [`RequireBearer`].
pub struct ResponseFuture<T, E> {
    inner: Pin<Box<dyn Future<Output = Result<T, E>> + Send>>,
}

impl<T, E> fmt::Debug for ResponseFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<T, E> Future for ResponseFuture<T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
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
    type Future = ResponseFuture<Response<ResB>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        if let http::header::Entry::Occupied(mut e) = req.headers_mut().entry(AUTHORIZATION) {
            for v in e.iter_mut() {
                v.set_sensitive(true);
            }
        }

        let extracted = self.config.extractor.extract(req.headers(), req.uri());
        // Take the service that was driven to readiness; leave a clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let token = match extracted {
            Ok(Some(token)) => token,
            Ok(None) if self.config.optional => {
                req.extensions_mut().insert(crate::principal::Anonymous);
                return ResponseFuture {
                    inner: Box::pin(inner.call(req)),
                };
            }
            Ok(None) => {
                tracing::debug!("request without bearer token refused");
                let res = self
                    .config
                    .challenge
                    .response(&AuthError::MissingToken, req.headers());
                return ResponseFuture {
                    inner: Box::pin(std::future::ready(Ok(res))),
                };
            }
            Err(err) => {
                tracing::debug!(error = %err, "malformed bearer credential refused");
                let res = self.config.challenge.response(&err, req.headers());
                return ResponseFuture {
                    inner: Box::pin(std::future::ready(Ok(res))),
                };
            }
        };
        let validator = self.validator.clone();
        let config = self.config.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                match validator.validate(token.as_str()).await {
                    Ok(principal) => {
                        req.extensions_mut().insert(principal);
                        inner.call(req).await
                    }
                    Err(err) => {
                        tracing::debug!(token = %token.fingerprint(), error = %err, "bearer token refused");
                        Ok(config.challenge.response(&err, req.headers()))
                    }
                }
            }),
        }
    }
}
