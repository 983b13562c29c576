//! Outbound: the [`TokenSource`] trait and [`AttachBearerLayer`], which puts
//! `Authorization: Bearer <token>` (RFC 6750 §2.1,
//! <https://www.rfc-editor.org/rfc/rfc6750#section-2.1>) on every request a
//! client sends, over any tower HTTP client: a tonic `Channel`, a hyper-util
//! client.
//!
//! A request that already carries an `Authorization` header is never
//! overwritten. The header is marked sensitive so that tracing layers do not
//! print it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::principal::Fingerprint;

/// The error type of [`AttachBearer`]: the inner client's error or the token
/// source's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An access token for an outbound call. `Debug` shows only a fingerprint.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// A token, with its expiry when known.
    pub fn new(value: impl Into<Arc<str>>, expires_at: Option<SystemTime>) -> Self {
        Self {
            value: value.into(),
            expires_at,
        }
    }

    /// The token. Treat it as a secret: never log it.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// A short, non-reversible fingerprint for logs.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("fingerprint", &self.fingerprint())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a [`TokenSource`] could not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenSourceError {
    /// The authorization server refused (for example `invalid_client`).
    #[error("token request refused: {0}")]
    Refused(String),
    /// The authorization server could not be reached or answered garbage.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The source needs an inbound token (token exchange, forwarding) and the
    /// request has none.
    #[error("no inbound token to act on behalf of")]
    NoSubjectToken,
    /// The token would not be a valid HTTP header value.
    #[error("token is not a valid header value")]
    InvalidToken,
}

/// What a [`TokenSource`] knows about the call it is asked a token for.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct TokenContext {
    /// The inbound caller's token, when the call is made on their behalf.
    pub subject: Option<crate::bearer::BearerToken>,
}

/// Produces access tokens for outbound calls (client credentials, token
/// exchange, a static token, ...).
pub trait TokenSource: Send + Sync + 'static {
    /// A token for a call described by `ctx`.
    fn token(
        &self,
        ctx: &TokenContext,
    ) -> impl Future<Output = Result<AccessToken, TokenSourceError>> + Send;

    /// Tells the source that `token` was refused downstream
    /// (`error="invalid_token"`), so a cache should drop it. Default: nothing.
    fn invalidate(&self, token: &AccessToken) {
        let _ = token;
    }
}

/// A fixed token (tests, demos, long-lived service tokens).
#[derive(Clone)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// Always hands out `token`.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(AccessToken::new(token, None))
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticToken").field(&self.0).finish()
    }
}

impl TokenSource for StaticToken {
    fn token(
        &self,
        _ctx: &TokenContext,
    ) -> impl Future<Output = Result<AccessToken, TokenSourceError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}

/// Puts a bearer token from a [`TokenSource`] on every outbound request.
///
/// ```
/// use warden_core::{AttachBearerLayer, StaticToken};
/// let layer = AttachBearerLayer::new(StaticToken::new("eyJ..."));
/// // tonic: InventoryClient::new(ServiceBuilder::new().layer(layer).service(channel))
/// # let _ = layer;
/// ```
pub struct AttachBearerLayer<T> {
    source: Arc<T>,
}

impl<T> Clone for AttachBearerLayer<T> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
        }
    }
}

impl<T> fmt::Debug for AttachBearerLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachBearerLayer").finish_non_exhaustive()
    }
}

impl<T: TokenSource> AttachBearerLayer<T> {
    /// Attaches tokens from `source`.
    pub fn new(source: T) -> Self {
        Self {
            source: Arc::new(source),
        }
    }

    /// From a shared source.
    pub fn from_arc(source: Arc<T>) -> Self {
        Self { source }
    }
}

impl<S, T> Layer<S> for AttachBearerLayer<T> {
    type Service = AttachBearer<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        AttachBearer {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The service made by [`AttachBearerLayer`].
pub struct AttachBearer<S, T> {
    inner: S,
    source: Arc<T>,
}

impl<S: Clone, T> Clone for AttachBearer<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            source: self.source.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for AttachBearer<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachBearer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, T> AttachBearer<S, T> {
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

impl<S, T, B> Service<Request<B>> for AttachBearer<S, T>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    S::Response: Send + 'static,
    T: TokenSource,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = AttachFuture<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if let http::header::Entry::Occupied(mut e) = req.headers_mut().entry(AUTHORIZATION) {
            // An explicit credential on the request wins; it is still a secret.
            for v in e.iter_mut() {
                v.set_sensitive(true);
            }
            return AttachFuture {
                inner: Box::pin(async move { inner.call(req).await.map_err(Into::into) }),
            };
        }
        let source = self.source.clone();
        let ctx = TokenContext {
            subject: req
                .extensions()
                .get::<crate::bearer::BearerToken>()
                .cloned(),
        };
        AttachFuture {
            inner: Box::pin(async move {
                let token = source.token(&ctx).await?;
                let mut value = HeaderValue::try_from(format!("Bearer {}", token.secret()))
                    .map_err(|_| TokenSourceError::InvalidToken)?;
                value.set_sensitive(true);
                req.headers_mut().insert(AUTHORIZATION, value);
                inner.call(req).await.map_err(Into::into)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::Response;
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;

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
}
