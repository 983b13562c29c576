//! HTTP forward-auth, for nginx `auth_request`, Traefik `forwardAuth` and
//! Caddy `forward_auth`: `/auth` (any method) answers about the request the
//! proxy describes; `/healthz` says whether the gate can decide.
//!
//! The original request comes from `X-Original-Method` and
//! `X-Original-URI` (nginx) or `X-Forwarded-Method` and `X-Forwarded-Uri`
//! (Traefik, Caddy), its host from `X-Forwarded-Host`, its credential from
//! `Authorization` (RFC 6750 §2.1). A header sent twice, the two families
//! disagreeing, or a missing method or URI is 400: the proxy is
//! misconfigured, and the gate never guesses.
//!
//! <https://www.rfc-editor.org/rfc/rfc6750#section-2.1> (the credential),
//! <https://www.rfc-editor.org/rfc/rfc6750#section-3> (the challenge).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::{HeaderMap, StatusCode};
use warden::inbound::TokenValidator;

use crate::decide::{Check, Gate, authorization, plain};

/// Whether the gate can decide now (keys loaded, revocation list fresh).
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// One header's single value, `None` when absent, `Err` when repeated or
/// not text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    first.map(|v| v.to_str().map_err(|_| ())).transpose()
}

/// The one value the two header families give, if they agree.
fn either(headers: &HeaderMap, nginx: &str, forwarded: &str) -> Result<Option<String>, ()> {
    match (single(headers, nginx)?, single(headers, forwarded)?) {
        (Some(a), Some(b)) if a != b => Err(()),
        (a, b) => Ok(a.or(b).map(str::to_owned)),
    }
}

/// The original request, or why it cannot be read.
pub fn original(headers: &HeaderMap) -> Option<Check> {
    let method = either(headers, "x-original-method", "x-forwarded-method").ok()??;
    let target = either(headers, "x-original-uri", "x-forwarded-uri").ok()??;
    let host = single(headers, "x-forwarded-host").ok()?;
    Some(Check {
        method,
        host: host.map(str::to_owned),
        target,
        authorization: authorization(headers),
    })
}

struct Shared<V> {
    gate: Gate<V>,
    ready: Readiness,
}

async fn auth<V: TokenValidator + Clone>(
    State(s): State<Arc<Shared<V>>>,
    headers: HeaderMap,
) -> Response {
    let Some(check) = original(&headers) else {
        tracing::warn!(
            "forward-auth request without one X-Original-Method/X-Forwarded-Method and one X-Original-URI/X-Forwarded-Uri: fix the proxy configuration"
        );
        return respond(plain(StatusCode::BAD_REQUEST));
    };
    respond(s.gate.check(check).await)
}

fn respond(verdict: crate::Verdict) -> Response {
    verdict.map(|()| axum::body::Body::empty())
}

async fn healthz<V>(State(s): State<Arc<Shared<V>>>) -> Response {
    if (s.ready)() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: signing keys or revocation list unavailable",
        )
            .into_response()
    }
}

/// The forward-auth router: `/auth` and `/healthz`.
pub fn router<V: TokenValidator + Clone>(gate: Gate<V>, ready: Readiness) -> Router {
    let shared = Arc::new(Shared { gate, ready });
    Router::new()
        .route("/auth", any(auth::<V>))
        .route("/healthz", get(healthz::<V>))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_original_request_comes_from_either_family() {
        let nginx = original(&headers(&[
            ("x-original-method", "GET"),
            ("x-original-uri", "/orders/1?x=1"),
            ("authorization", "Bearer a"),
        ]))
        .unwrap();
        assert_eq!(
            (nginx.method.as_str(), nginx.target.as_str()),
            ("GET", "/orders/1?x=1")
        );
        assert_eq!(nginx.authorization.len(), 1);
        let traefik = original(&headers(&[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/orders/"),
            ("x-forwarded-host", "api.test"),
        ]))
        .unwrap();
        assert_eq!(traefik.host.as_deref(), Some("api.test"));
        assert!(traefik.authorization.is_empty());
    }

    #[test]
    fn ambiguity_is_refused() {
        for h in [
            headers(&[("x-original-uri", "/a")]),
            headers(&[("x-original-method", "GET")]),
            headers(&[
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-original-uri", "/b"),
            ]),
            headers(&[
                ("x-original-method", "GET"),
                ("x-forwarded-method", "POST"),
                ("x-original-uri", "/a"),
            ]),
            headers(&[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/a"),
                ("x-forwarded-host", "a"),
                ("x-forwarded-host", "b"),
            ]),
        ] {
            assert!(original(&h).is_none(), "{h:?}");
        }
    }
}
