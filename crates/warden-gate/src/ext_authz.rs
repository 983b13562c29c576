//! Envoy's external authorization, gRPC v3
//! (`envoy.service.auth.v3.Authorization/Check`), for Envoy and Istio
//! (`meshConfig.extensionProviders` with `envoyExtAuthzGrpc`).
//!
//! The same [`Gate`] decides; this module only translates:
//! - allow: `status.code` OK with an `OkHttpResponse` that sets the identity
//!   headers with `OVERWRITE_IF_EXISTS_OR_ADD` (Envoy appends by default, so
//!   a header a client sent would survive next to the real one), removes the
//!   ones without a value (all of them on an anonymous allow), removes the
//!   `access_token` query parameter and, when configured, `authorization`;
//! - deny: a `DeniedHttpResponse` that sets the HTTP status itself (401,
//!   403, 400; never Envoy's default 403 for an unauthenticated call) and
//!   the RFC 6750 `WWW-Authenticate` challenge, with `status.code`
//!   UNAUTHENTICATED (16), PERMISSION_DENIED (7) or INVALID_ARGUMENT (3);
//! - keys or revocation list unavailable: `status.code` UNAVAILABLE (14)
//!   and HTTP 503, as an answer rather than a failed call, so that even
//!   `failure_mode_allow: true` cannot turn it into an allow.
//!
//! The challenge is RFC 6750's
//! (<https://www.rfc-editor.org/rfc/rfc6750#section-3>); the service is
//! Envoy's `envoy/service/auth/v3/external_auth.proto`.

use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};
use envoy_types::pb::google::rpc;
use http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderName, StatusCode};
use tonic::{Code, Request, Response, Status};
use warden::inbound::TokenValidator;

use crate::config::Identity;
use crate::decide::{Check, Gate, Verdict, plain};

/// The ext_authz service over a [`Gate`].
#[derive(Debug)]
pub struct ExtAuthz<V> {
    gate: Gate<V>,
    /// Gone when the service is: what its health reporter watches.
    alive: std::sync::Arc<()>,
}

impl<V> ExtAuthz<V> {
    /// The service for `gate`.
    pub fn new(gate: Gate<V>) -> Self {
        ExtAuthz {
            gate,
            alive: std::sync::Arc::new(()),
        }
    }

    /// A handle that stops upgrading once the service is dropped.
    pub(crate) fn alive(&self) -> std::sync::Weak<()> {
        std::sync::Arc::downgrade(&self.alive)
    }
}

/// The original request an Envoy `CheckRequest` describes, or `None` when
/// it carries no HTTP attributes.
pub fn original(req: &CheckRequest) -> Option<Check> {
    let http = req.attributes.as_ref()?.request.as_ref()?.http.as_ref()?;
    // Envoy joins repeated headers with ","; two credentials then read as
    // one malformed credential, which is invalid_request.
    let mut authorization = Vec::new();
    if let Some(v) = http.headers.get(AUTHORIZATION.as_str()) {
        authorization.push(http::HeaderValue::from_str(v).ok()?);
    } else if let Some(map) = &http.header_map {
        for h in map
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case("authorization"))
        {
            let raw = if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                &h.raw_value
            };
            authorization.push(http::HeaderValue::from_bytes(raw).ok()?);
        }
    }
    Some(Check {
        method: http.method.clone(),
        host: (!http.host.is_empty()).then(|| http.host.clone()),
        target: http.path.clone(),
        authorization,
    })
}

/// The `CheckRequest` Envoy sends for `check` (repeated headers joined
/// with `,`, as Envoy joins them): for tests, load tools and clients that
/// ask the gate as Envoy would.
pub fn check_request(check: &Check) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    if !check.authorization.is_empty() {
        let joined: Vec<&str> = check
            .authorization
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(AUTHORIZATION.as_str().to_owned(), joined.join(","));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: check.method.clone(),
                    path: check.target.clone(),
                    host: check.host.clone().unwrap_or_default(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

fn set(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: value.to_owned(),
            ..HeaderValue::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..HeaderValueOption::default()
    }
}

fn code_for(status: StatusCode) -> Code {
    match status {
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ => Code::PermissionDenied,
    }
}

/// The `CheckResponse` for a verdict.
pub fn to_check_response(verdict: &Verdict, identity: &Identity) -> CheckResponse {
    let header = |name: &HeaderName| {
        verdict
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    if verdict.status() == StatusCode::OK {
        let mut ok = OkHttpResponse {
            query_parameters_to_remove: vec!["access_token".to_owned()],
            ..OkHttpResponse::default()
        };
        for name in identity.names() {
            match header(name) {
                Some(v) => ok.headers.push(set(name.as_str(), v)),
                None => ok.headers_to_remove.push(name.as_str().to_owned()),
            }
        }
        if identity.remove_authorization {
            ok.headers_to_remove.push(AUTHORIZATION.as_str().to_owned());
        }
        return CheckResponse {
            status: Some(rpc::Status::default()),
            http_response: Some(HttpResponse::OkResponse(ok)),
            ..CheckResponse::default()
        };
    }
    let code = code_for(verdict.status());
    let headers = [WWW_AUTHENTICATE, CACHE_CONTROL]
        .iter()
        .filter_map(|n| header(n).map(|v| set(n.as_str(), v)))
        .collect();
    CheckResponse {
        status: Some(rpc::Status {
            code: code as i32,
            message: verdict
                .status()
                .canonical_reason()
                .unwrap_or_default()
                .to_owned(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(verdict.status().as_u16()),
            }),
            headers,
            body: String::new(),
        })),
        ..CheckResponse::default()
    }
}

#[tonic::async_trait]
impl<V: TokenValidator + Clone> Authorization for ExtAuthz<V> {
    async fn check(&self, req: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let req = req.into_inner();
        let verdict = match original(&req) {
            Some(check) => self.gate.check(check).await,
            None => {
                tracing::warn!("ext_authz request without HTTP attributes");
                plain(StatusCode::BAD_REQUEST)
            }
        };
        Ok(Response::new(to_check_response(
            &verdict,
            self.gate.identity(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_survives_the_round_trip_through_envoys_message() {
        let check = Check {
            method: "POST".into(),
            host: Some("api.test".into()),
            target: "/orders/1?x=1".into(),
            authorization: vec![http::HeaderValue::from_static("Bearer a")],
        };
        let back = original(&check_request(&check)).unwrap();
        assert_eq!(
            (back.method, back.host, back.target, back.authorization),
            (check.method, check.host, check.target, check.authorization)
        );
    }

    #[test]
    fn status_codes() {
        for (http, grpc) in [
            (StatusCode::UNAUTHORIZED, Code::Unauthenticated),
            (StatusCode::FORBIDDEN, Code::PermissionDenied),
            (StatusCode::BAD_REQUEST, Code::InvalidArgument),
            (StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable),
        ] {
            let r = to_check_response(&plain(http), &Identity::default());
            assert_eq!(r.status.unwrap().code, grpc as i32);
            let Some(HttpResponse::DeniedResponse(d)) = r.http_response else {
                panic!("{http}: not a denial")
            };
            assert_eq!(d.status.unwrap().code, i32::from(http.as_u16()));
        }
    }
}
