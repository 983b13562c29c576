//! warden-axum: axum extractors for the caller that
//! [`RequireBearerLayer`](warden_core::RequireBearerLayer) authenticated
//! (RFC 6750 bearer tokens, <https://www.rfc-editor.org/rfc/rfc6750>).
//!
//! - [`Auth`] gives the [`Principal`]; `Option<Auth>` gives `None` for an
//!   anonymous caller behind an optional layer.
//! - [`Claims<C>`] gives your own claims type, the one the validator was
//!   built with.
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use warden_axum::Auth;
//! use warden_core::{validator_fn, AuthError, Fingerprint, InvalidToken, Principal, RequireBearerLayer, StandardClaims};
//!
//! async fn me(Auth(who): Auth) -> String {
//!     who.subject().unwrap_or("nobody").to_owned()
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let validator = validator_fn(|t: String| async move {
//!     let mut claims = StandardClaims::new();
//!     claims.subject = Some("alice".into());
//!     if t == "good" { Ok(Principal::new(claims, (), Fingerprint::of(&t))) }
//!     else { Err(AuthError::from(InvalidToken::BadSignature)) }
//! });
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(RequireBearerLayer::new(validator));
//! let req = Request::get("/me").header("authorization", "Bearer good").body(Body::empty()).unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
//! assert_eq!(&body[..], b"alice");
//! let req = Request::get("/me").header("authorization", "Bearer bad").body(Body::empty()).unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "mtls")]
pub mod mtls;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use warden_core::{Anonymous, AuthError, Challenge, Principal};

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth(pub Principal);

impl std::ops::Deref for Auth {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The caller's own claims, as deserialized by the validator.
#[derive(Debug)]
pub struct Claims<C>(pub Arc<C>);

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> std::ops::Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

/// Why [`Auth`] or [`Claims`] could not be extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// An optional layer let an anonymous request through, and the handler
    /// requires a caller: 401 with a bare `Bearer` challenge.
    Anonymous,
    /// No `RequireBearerLayer` ran for this route: a server bug, 500.
    LayerMissing,
    /// The validator was built with another claims type than the one asked
    /// for: a server bug, 500.
    ClaimsTypeMismatch(&'static str),
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthRejection::Anonymous => f.write_str("a bearer token is required"),
            AuthRejection::LayerMissing => f.write_str(
                "warden: no Principal in the request extensions; install RequireBearerLayer on this route",
            ),
            AuthRejection::ClaimsTypeMismatch(ty) => write!(
                f,
                "warden: the validator was not built with claims type {ty}; use .claims::<{ty}>() on its builder"
            ),
        }
    }
}

impl std::error::Error for AuthRejection {}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Anonymous => Challenge::new().http_response(&AuthError::MissingToken),
            other => (StatusCode::INTERNAL_SERVER_ERROR, other.to_string()).into_response(),
        }
    }
}

fn principal(parts: &Parts) -> Result<Option<Principal>, AuthRejection> {
    if let Some(p) = parts.extensions.get::<Principal>() {
        return Ok(Some(p.clone()));
    }
    if parts.extensions.get::<Anonymous>().is_some() {
        return Ok(None);
    }
    Err(AuthRejection::LayerMissing)
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        principal(parts)?.map(Auth).ok_or(AuthRejection::Anonymous)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(principal(parts)?.map(Auth))
    }
}

fn claims<C: Any + Send + Sync>(p: &Principal) -> Result<Claims<C>, AuthRejection> {
    p.custom_arc::<C>()
        .map(Claims)
        .ok_or(AuthRejection::ClaimsTypeMismatch(std::any::type_name::<C>()))
}

impl<S: Send + Sync, C: Any + Send + Sync> FromRequestParts<S> for Claims<C> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let p = principal(parts)?.ok_or(AuthRejection::Anonymous)?;
        claims(&p)
    }
}

impl<S: Send + Sync, C: Any + Send + Sync> OptionalFromRequestParts<S> for Claims<C> {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match principal(parts)? {
            Some(p) => claims(&p).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::Request;
    use tower::ServiceExt;
    use warden_core::{
        Fingerprint, InvalidToken, RequireBearerLayer, StandardClaims, validator_fn,
    };

    #[derive(Debug, PartialEq)]
    struct Roles(Vec<String>);

    fn validator() -> impl warden_core::TokenValidator + Clone {
        validator_fn(|t: String| async move {
            if t == "good" {
                let mut c = StandardClaims::new();
                c.subject = Some("alice".into());
                Ok(Principal::new(
                    c,
                    Roles(vec!["admin".into()]),
                    Fingerprint::of(&t),
                ))
            } else {
                Err(AuthError::from(InvalidToken::BadSignature))
            }
        })
    }

    async fn call(app: Router, auth: Option<&str>) -> (StatusCode, String, Option<String>) {
        let mut req = Request::builder().uri("/");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let www = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), www)
    }

    #[tokio::test]
    async fn required_and_optional() {
        let app = Router::new()
            .route(
                "/",
                get(|Auth(p): Auth, Claims(r): Claims<Roles>| async move {
                    format!("{} {:?}", p.subject().unwrap_or("-"), r.0)
                }),
            )
            .layer(RequireBearerLayer::new(validator()));
        assert_eq!(
            call(app.clone(), Some("Bearer good")).await.1,
            "alice [\"admin\"]"
        );
        assert_eq!(call(app.clone(), None).await.0, StatusCode::UNAUTHORIZED);

        let app = Router::new()
            .route(
                "/",
                get(|who: Option<Auth>| async move {
                    who.map(|a| a.subject().unwrap_or("-").to_owned())
                        .unwrap_or_else(|| "anonymous".into())
                }),
            )
            .layer(RequireBearerLayer::optional(validator()));
        assert_eq!(call(app.clone(), None).await.1, "anonymous");
        assert_eq!(call(app.clone(), Some("Bearer good")).await.1, "alice");
        // A bad token is still refused in optional mode.
        let (s, _, www) = call(app, Some("Bearer bad")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(
            www.as_deref(),
            Some(
                r#"Bearer error="invalid_token", error_description="the token signature is invalid""#
            )
        );

        let app = Router::new()
            .route("/", get(|Auth(_): Auth| async { "x" }))
            .layer(RequireBearerLayer::optional(validator()));
        let (s, _, www) = call(app, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(www.as_deref(), Some("Bearer"));
    }

    #[tokio::test]
    async fn missing_layer_and_wrong_claims_type_say_so() {
        let app = Router::new().route("/", get(|Auth(_): Auth| async { "x" }));
        let (s, body, _) = call(app, Some("Bearer good")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("install RequireBearerLayer"), "{body}");

        let app = Router::new()
            .route("/", get(|Claims(_): Claims<u32>| async { "x" }))
            .layer(RequireBearerLayer::new(validator()));
        let (s, body, _) = call(app, Some("Bearer good")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("claims type u32"), "{body}");
    }
}
