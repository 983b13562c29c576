//! RFC 6749 §5.2 error responses
//! (<https://www.rfc-editor.org/rfc/rfc6749#section-5.2>): one type, its status
//! and its `no-store` headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::RngFailed;

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    pub(super) fn new(code: &'static str, description: impl Into<String>) -> Self {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            code,
            description: description.into(),
        }
    }
}

pub(super) fn err(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, description)
}

impl From<RngFailed> for OAuthError {
    fn from(_: RngFailed) -> Self {
        err("server_error", "the random generator failed")
    }
}

pub(super) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.code == "invalid_client" {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"warden-issuer\""),
            );
        }
        no_store(res)
    }
}
