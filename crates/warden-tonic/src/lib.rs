//! warden-tonic: warden's layers on tonic gRPC servers and clients.
//!
//! gRPC carries the bearer token in the `authorization` metadata entry, which
//! is the HTTP/2 `Authorization` header (RFC 6750 §2.1,
//! <https://www.rfc-editor.org/rfc/rfc6750#section-2.1>), so the same
//! [`RequireBearerLayer`] and validator serve axum and tonic. A gRPC
//! rejection is a trailers-only response, HTTP 200 with `grpc-status`
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>):
//! UNAUTHENTICATED (16) for a missing or bad token, PERMISSION_DENIED (7) for
//! a missing scope, UNAVAILABLE (14) when keys cannot be had; the RFC 6750
//! challenge rides along in `www-authenticate` metadata.
//!
//! ```ignore
//! Server::builder()
//!     .layer(warden_tonic::authenticate(validator))          // who
//!     .layer(RequireMethodScopeLayer::new(rules))            // may they call this method
//!     .add_service(InventoryServer::new(svc))
//! ```
//!
//! Handlers read the caller with [`principal`] (or
//! `request.extensions().get::<Principal>()`): tower layers' request
//! extensions are tonic's.
#![forbid(unsafe_code)]

mod scopes;

pub use scopes::{
    MethodRuleError, MethodScopes, MethodScopesBuilder, RequireMethodScope,
    RequireMethodScopeLayer, Unlisted,
};
use warden_core::{AuthError, Principal, Protocol, RequireBearerLayer, TokenValidator};

/// The authenticate layer for a gRPC server: [`RequireBearerLayer`] with
/// gRPC rejections for every request (not only those with a gRPC
/// content-type).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use warden_core::{validator_fn, AuthError, InvalidToken, Principal};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let validator = validator_fn(|_t: String| async {
///     Err::<Principal, _>(AuthError::from(InvalidToken::Expired))
/// });
/// let svc = ServiceBuilder::new()
///     .layer(warden_tonic::authenticate(validator))
///     .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// let req = Request::builder().header("authorization", "Bearer old").body(()).unwrap();
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.headers()["grpc-status"], "16"); // UNAUTHENTICATED
/// # }
/// ```
pub fn authenticate<V: TokenValidator>(validator: V) -> RequireBearerLayer<V> {
    RequireBearerLayer::new(validator).protocol(Protocol::Grpc)
}

/// The caller of a gRPC request, as authenticated by the layer.
///
/// # Errors
/// UNAUTHENTICATED when no principal is present (the layer was not
/// installed, or is optional and the call was anonymous).
#[allow(clippy::result_large_err)]
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, tonic::Status> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| tonic::Status::unauthenticated("a bearer token is required"))
}

/// The [`tonic::Status`] for an [`AuthError`], with the RFC 6750 challenge in
/// `www-authenticate` metadata (for handlers that refuse a call themselves).
pub fn status(error: &AuthError) -> tonic::Status {
    let code = match error.grpc_code() {
        warden_core::GrpcCode::PermissionDenied => tonic::Code::PermissionDenied,
        warden_core::GrpcCode::Unavailable => tonic::Code::Unavailable,
        _ => tonic::Code::Unauthenticated,
    };
    let mut status = tonic::Status::new(code, error.description());
    if let Some(v) = warden_core::Challenge::new().www_authenticate(error)
        && let Ok(v) = v.to_str().unwrap_or_default().parse()
    {
        status.metadata_mut().insert("www-authenticate", v);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::InvalidToken;

    #[test]
    fn status_mapping() {
        let s = status(&InvalidToken::Expired.into());
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            s.metadata().get("www-authenticate").unwrap(),
            r#"Bearer error="invalid_token", error_description="the token has expired""#
        );
        let s = status(&AuthError::InsufficientScope {
            required: "a".into(),
        });
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        let s = status(&warden_core::Unavailable::NoKeys.into());
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert!(s.metadata().get("www-authenticate").is_none());
    }
}
