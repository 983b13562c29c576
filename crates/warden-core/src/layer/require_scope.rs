//! [`RequireScopeLayer`]: per-route scope checks on the [`Principal`] that
//! [`RequireBearerLayer`](crate::RequireBearerLayer) put into the request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::challenge::Challenge;
use crate::error::AuthError;
use crate::principal::{Principal, Scopes};

/// What scopes a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeRequirement {
    /// Every listed scope.
    All(Scopes),
    /// At least one listed scope.
    Any(Scopes),
}

impl ScopeRequirement {
    /// Whether `granted` satisfies the requirement. An empty requirement is
    /// always satisfied.
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        match self {
            ScopeRequirement::All(req) => granted.contains_all(req.iter()),
            ScopeRequirement::Any(req) => req.is_empty() || granted.contains_any(req.iter()),
        }
    }

    /// The scopes named, for the `scope` attribute of the challenge.
    pub fn scopes(&self) -> &Scopes {
        match self {
            ScopeRequirement::All(s) | ScopeRequirement::Any(s) => s,
        }
    }

    /// Checks `principal` (none means the request was not authenticated).
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] without a principal,
    /// [`AuthError::InsufficientScope`] when the scopes fall short.
    pub fn check(&self, principal: Option<&Principal>) -> Result<(), AuthError> {
        let p = principal.ok_or(AuthError::MissingToken)?;
        if self.is_satisfied_by(p.scopes()) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.scopes().to_string(),
            })
        }
    }
}

/// Refuses requests whose principal lacks the required scopes: 403
/// `insufficient_scope` with `scope="..."` in the challenge (gRPC
/// PERMISSION_DENIED), or 401 when no principal is present.
///
/// Put it inside (after) [`RequireBearerLayer`](crate::RequireBearerLayer),
/// for example as an axum `route_layer`.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use warden_core::{Fingerprint, Principal, RequireScopeLayer, Scopes, StandardClaims};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(RequireScopeLayer::any(["orders:write", "orders:admin"]))
///     .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// // What RequireBearerLayer puts in the extensions: a caller with orders:read.
/// let mut claims = StandardClaims::new();
/// claims.scopes = Scopes::from_space_separated("orders:read");
/// let mut req = Request::new(());
/// req.extensions_mut().insert(Principal::new(claims, (), Fingerprint::of("t")));
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RequireScopeLayer {
    requirement: Arc<ScopeRequirement>,
    challenge: Challenge,
}

impl RequireScopeLayer {
    /// Every listed scope is required.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(ScopeRequirement::All(scopes.into_iter().collect()))
    }

    /// At least one listed scope is required.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(ScopeRequirement::Any(scopes.into_iter().collect()))
    }

    /// From a requirement.
    pub fn new(requirement: ScopeRequirement) -> Self {
        Self {
            requirement: Arc::new(requirement),
            challenge: Challenge::default(),
        }
    }

    /// The challenge parameters and wire format of rejections.
    #[must_use]
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeGuard::new(inner, self.requirement.clone(), self.challenge.clone())
    }
}

/// What a scope guard asks of each request: the verdict (RFC 6750 §3.1
/// `insufficient_scope`, or the gRPC equivalent, when it refuses).
/// [`ScopeRequirement`] is one policy, the same requirement for every
/// request; warden-tonic's per-method rules are another.
pub trait ScopePolicy: Send + Sync + 'static {
    /// The verdict on `req`, whose principal (if any) is in its extensions.
    ///
    /// # Errors
    /// The refusal: [`AuthError::MissingToken`] without a principal,
    /// [`AuthError::InsufficientScope`] when the scopes fall short.
    fn check<B>(&self, req: &Request<B>) -> Result<(), AuthError>;
}

impl ScopePolicy for ScopeRequirement {
    fn check<B>(&self, req: &Request<B>) -> Result<(), AuthError> {
        ScopeRequirement::check(self, req.extensions().get::<Principal>())
    }
}

/// The one scope-guard service: requests its [`ScopePolicy`] allows reach
/// the inner service, the others get the refusal in its [`Challenge`]'s
/// format.
pub struct ScopeGuard<S, P> {
    inner: S,
    policy: Arc<P>,
    challenge: Challenge,
}

/// The service made by [`RequireScopeLayer`].
pub type RequireScope<S> = ScopeGuard<S, ScopeRequirement>;

impl<S, P> ScopeGuard<S, P> {
    /// Guards `inner` with `policy`, refusing in `challenge`'s format.
    pub fn new(inner: S, policy: Arc<P>, challenge: Challenge) -> Self {
        Self {
            inner,
            policy,
            challenge,
        }
    }
}

impl<S: Clone, P> Clone for ScopeGuard<S, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            challenge: self.challenge.clone(),
        }
    }
}

impl<S: fmt::Debug, P: fmt::Debug> fmt::Debug for ScopeGuard<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .field("challenge", &self.challenge)
            .finish()
    }
}

crate::inner_service_accessors!(ScopeGuard<S, P>);

pin_project! {
    /// The response future of [`RequireScope`].
    pub struct ScopeFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Allowed { #[pin] fut: F },
        Refused { res: Option<Response<B>> },
    }
}

impl<F, B> ScopeFuture<F, B> {
    /// The request was allowed: the inner service's future.
    pub fn allowed(fut: F) -> Self {
        Self {
            state: State::Allowed { fut },
        }
    }

    /// The request was refused with `res`.
    pub fn refused(res: Response<B>) -> Self {
        Self {
            state: State::Refused { res: Some(res) },
        }
    }

    /// The future of a scope `verdict` on `req`: `inner`'s call when it
    /// allows, else the response `refuse` makes of the error (every scope
    /// guard, HTTP or gRPC, decides here).
    pub fn decide<S, Req>(
        verdict: Result<(), AuthError>,
        inner: &mut S,
        req: Request<Req>,
        refuse: impl FnOnce(&AuthError, &Request<Req>) -> Response<B>,
    ) -> Self
    where
        S: Service<Request<Req>, Future = F>,
    {
        match verdict {
            Ok(()) => Self::allowed(inner.call(req)),
            Err(err) => Self::refused(refuse(&err, &req)),
        }
    }
}

impl<F, B, E> Future for ScopeFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Allowed { fut } => fut.poll(cx),
            StateProj::Refused { res } => super::ready_once(res, "ScopeFuture"),
        }
    }
}

impl<F, B> fmt::Debug for ScopeFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

impl<S, P, ReqB, ResB> Service<Request<ReqB>> for ScopeGuard<S, P>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    P: ScopePolicy,
    ResB: Default,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let verdict = self.policy.check(&req);
        let challenge = &self.challenge;
        ScopeFuture::decide(verdict, &mut self.inner, req, |err, req| {
            tracing::debug!(path = req.uri().path(), error = %err, "request refused by scope guard");
            // A request that came with DPoP is answered in the DPoP scheme
            // (RFC 9449 §7.1).
            let scheme = req.extensions().get::<crate::bearer::Scheme>().copied();
            challenge.response_for(err, req, scheme)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Ready;
    use std::task::Waker;

    use super::*;

    type Fut = ScopeFuture<Ready<Result<Response<()>, ()>>, ()>;

    /// As tower-http's futures: a refusal is answered once; polling again
    /// is the caller's bug and says so, instead of hanging.
    #[test]
    #[should_panic(expected = "ScopeFuture polled after completion")]
    fn polled_after_completion_panics() {
        let mut fut = std::pin::pin!(Fut::refused(Response::new(())));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let _ = fut.as_mut().poll(&mut cx);
    }
}
