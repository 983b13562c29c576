//! The inbound tower layers: [`RequireBearerLayer`] authenticates,
//! [`RequireScopeLayer`] authorizes by scope (RFC 6750 §3.1
//! `insufficient_scope`, <https://www.rfc-editor.org/rfc/rfc6750#section-3.1>).

mod require_bearer;
mod require_scope;

pub use require_bearer::{RequireBearer, RequireBearerLayer, ResponseFuture};
pub use require_scope::{
    RequireScope, RequireScopeLayer, ScopeFuture, ScopeGuard, ScopePolicy, ScopeRequirement,
};

/// A ready response, handed out once: the refusal state of the layers'
/// futures. As tower-http's futures, a second poll is a bug in the caller.
pub(crate) fn ready_once<B, E>(
    res: &mut Option<http::Response<B>>,
    future: &str,
) -> std::task::Poll<Result<http::Response<B>, E>> {
    match res.take() {
        Some(r) => std::task::Poll::Ready(Ok(r)),
        None => panic!("{future} polled after completion"),
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{Request, Response, StatusCode};
    use tower::{ServiceBuilder, ServiceExt};

    use crate::{
        AuthError, Fingerprint, InvalidToken, Principal, RequireBearerLayer, RequireScopeLayer,
        Scopes, StandardClaims, Unavailable, validator_fn,
    };

    fn svc()
    -> impl tower::Service<
        Request<()>,
        Response = Response<()>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + Sync {
        let v = validator_fn(|t: String| async move {
            match t.as_str() {
                "down" => Err(AuthError::from(Unavailable::NoKeys)),
                "bad" => Err(AuthError::from(InvalidToken::Expired)),
                _ => {
                    let mut c = StandardClaims::new();
                    c.scopes = Scopes::from_space_separated(&t.replace('_', " "));
                    Ok(Principal::new(c, (), Fingerprint::of(&t)))
                }
            }
        });
        ServiceBuilder::new()
            .layer(RequireBearerLayer::new(v))
            .layer(RequireScopeLayer::all(["a", "b"]))
            .service_fn(|req: Request<()>| async move {
                // The credential is marked sensitive before the handler sees it.
                assert!(req.headers()["authorization"].is_sensitive());
                assert!(req.extensions().get::<Principal>().is_some());
                Ok::<_, Infallible>(Response::new(()))
            })
    }

    async fn call(token: Option<&str>, grpc: bool) -> Response<()> {
        let mut b = Request::builder();
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if grpc {
            b = b
                .header("content-type", "application/grpc")
                .version(http::Version::HTTP_2);
        }
        svc().oneshot(b.body(()).unwrap()).await.unwrap()
    }

    #[tokio::test]
    async fn http_and_grpc_verdicts() {
        assert_eq!(call(Some("a_b"), false).await.status(), StatusCode::OK);
        let r = call(Some("a"), false).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.headers()["www-authenticate"],
            r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="a b""#
        );
        assert_eq!(
            call(Some("bad"), false).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let r = call(Some("down"), false).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get("www-authenticate").is_none());

        for (token, code) in [
            (None, "16"),
            (Some("bad"), "16"),
            (Some("a"), "7"),
            (Some("down"), "14"),
        ] {
            let r = call(token, true).await;
            assert_eq!(r.status(), StatusCode::OK, "{token:?}");
            assert_eq!(r.headers()["grpc-status"], code, "{token:?}");
        }
        let r = call(Some("a_b"), true).await;
        assert!(r.headers().get("grpc-status").is_none());
    }

    #[test]
    fn stacks_are_clone_send_sync() {
        fn check<T: Clone + Send + Sync>(_: &T) {}
        check(&svc());
    }
}
