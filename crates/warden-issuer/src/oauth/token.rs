//! `POST /token` (RFC 6749 §3.2,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-3.2>): authenticates the
//! client and dispatches on the grant.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::GRANT_TOKEN_EXCHANGE;
use super::client_auth::authenticate_client;
use super::code::authorization_code_grant;
use super::error::{OAuthError, err};
use super::exchange::exchange_grant;
use super::issue::{
    AccessGrant, issue_access_token, require_grant, resolve_target, token_response,
};
use super::params::Params;
use super::refresh::refresh_grant;
use crate::config::{ClientConfig, Grant, IssuerConfig};
use crate::state::Shared;

/// `POST /token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.token_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = crate::state::fault(&shared).await {
        return res;
    }
    shared.prune();
    match token_inner(&shared, &headers, &Params(form)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = e.code, description = %e.description, "token request refused");
            e.into_response()
        }
    }
}

/// An authenticated token request, as every grant reads it.
#[derive(Clone, Copy)]
pub(super) struct TokenRequest<'a> {
    /// The issuer's state.
    pub(super) shared: &'a Shared,
    /// The configuration, as of this request.
    pub(super) cfg: &'a IssuerConfig,
    /// The authenticated client.
    pub(super) client: &'a ClientConfig,
    /// The form parameters.
    pub(super) params: &'a Params,
    /// The DPoP key the request proved (RFC 9449 §5), if any.
    pub(super) jkt: Option<&'a str>,
}

pub(super) async fn token_inner(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, OAuthError> {
    let cfg = shared.config();
    let grant = params.require("grant_type")?;
    let client = authenticate_client(shared, &cfg, headers, params).await?;
    let jkt = super::dpop::proved_key(shared, &client, headers).await?;
    let request = TokenRequest {
        shared,
        cfg: &cfg,
        client: &client,
        params,
        jkt: jkt.as_deref(),
    };
    match grant {
        "client_credentials" => {
            require_grant(&client, Grant::ClientCredentials)?;
            if client.public {
                return Err(err(
                    "unauthorized_client",
                    "public clients cannot use client_credentials",
                ));
            }
            let requested = params.scopes()?;
            let (aud, scopes) = resolve_target(
                &cfg,
                &client,
                params.get("resource")?,
                requested.as_deref(),
                None,
            )?;
            let issued = issue_access_token(
                shared,
                &cfg,
                AccessGrant::new(&client.id, &client.id, &aud, &scopes).bound(jkt.as_deref()),
            )?;
            Ok(token_response(&issued, &scopes, json!({})))
        }
        "authorization_code" => authorization_code_grant(request).await,
        "refresh_token" => refresh_grant(request).await,
        GRANT_TOKEN_EXCHANGE => exchange_grant(request).await,
        other => Err(err(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported"),
        )),
    }
}
