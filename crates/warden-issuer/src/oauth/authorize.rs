//! `GET`/`POST /authorize` (RFC 6749 §4.1.1,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1>): the request checks,
//! the sign-in and consent page, and the redirect back with `iss` (RFC 9207).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};

use super::client_auth::constant_time_eq;
use super::issue::resolve_target;
use super::params::Params;
use super::signin::{self, message_page};
use crate::config::{ClientConfig, Grant, IssuerConfig};
use crate::state::{Code, Consent, Shared, lock, random_id};

pub(super) const CODE_LIFETIME: Duration = Duration::from_secs(60);

pub(super) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
pub(super) struct AuthzRequest {
    pub(super) client: ClientConfig,
    pub(super) redirect_uri: String,
    pub(super) state: Option<String>,
    pub(super) scopes: Vec<String>,
    pub(super) audience: String,
    pub(super) challenge: String,
}

/// A redirect to the client (RFC 6749 §4.1.2): the registered URI with its
/// own query kept (§3.1.2), `params`, `state` when the request had one, and
/// `iss` (RFC 9207 §2) so the client can tell which server answered.
pub(super) fn redirect_to_client(
    redirect_uri: &str,
    issuer: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let mut url = redirect_uri.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    let state = state.map(|s| ("state", s));
    for (k, v) in params.iter().copied().chain(state).chain([("iss", issuer)]) {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&urlencode(v));
        sep = '&';
    }
    Redirect::to(&url).into_response()
}

pub(super) fn redirect_error(
    redirect_uri: &str,
    issuer: &str,
    code: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    redirect_to_client(
        redirect_uri,
        issuer,
        &[("error", code), ("error_description", description)],
        state,
    )
}

pub(super) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Checks an authorization request. `Err(response)` is either an error page
/// (bad client or redirect URI: never redirect there) or a redirect carrying
/// the error.
pub(super) fn check_authz(
    cfg: &IssuerConfig,
    issuer: &str,
    params: &Params,
) -> Result<AuthzRequest, Box<Response>> {
    let page = |msg: &str| Box::new(message_page(StatusCode::BAD_REQUEST, "Bad request", msg));
    let client_id = params
        .get("client_id")
        .ok()
        .flatten()
        .ok_or_else(|| page("missing client_id"))?;
    let client = cfg
        .client(client_id)
        .ok_or_else(|| page("unknown client"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok()
        .flatten()
        .ok_or_else(|| page("missing redirect_uri"))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page("redirect_uri is not registered for this client"));
    }
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let fail = |code: &str, msg: &str| {
        Box::new(redirect_error(
            redirect_uri,
            issuer,
            code,
            msg,
            state.as_deref(),
        ))
    };
    if params.get("response_type").ok().flatten() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !client.grants.contains(&Grant::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "the client may not use the code flow",
        ));
    }
    let challenge = params
        .get("code_challenge")
        .ok()
        .flatten()
        .ok_or_else(|| fail("invalid_request", "PKCE is required: send code_challenge"))?;
    if params.get("code_challenge_method").ok().flatten() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43 {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256",
        ));
    }
    let requested = params
        .scopes()
        .map_err(|_| fail("invalid_request", "scope given twice"))?;
    let resource = params.get("resource").ok().flatten();
    // A client's token audience is a restriction, not a default.
    if let (Some(fixed), Some(r)) = (client.token_audience.as_deref(), resource)
        && fixed != r
    {
        return Err(fail(
            "invalid_target",
            &format!("the tokens of {} are for {fixed} only", client.id),
        ));
    }
    let (audience, scopes) = resolve_target(
        cfg,
        client,
        resource,
        requested.as_deref(),
        client.token_audience.as_deref(),
    )
    .map_err(|e| fail(e.code, &e.description))?;
    Ok(AuthzRequest {
        client: client.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scopes,
        audience,
        challenge: challenge.to_owned(),
    })
}

/// The browser's CSRF cookie, or a fresh one.
fn cookie_or_fresh(headers: &HeaderMap) -> Option<String> {
    signin::csrf_cookie(headers)
        .map(str::to_owned)
        .or_else(|| random_id(16).ok())
}

/// `GET /authorize`: the sign-in and consent page.
pub(crate) async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(query);
    let req = match check_authz(&shared.config(), &shared.issuer, &params) {
        Ok(req) => req,
        Err(res) => return *res,
    };
    match cookie_or_fresh(&headers) {
        Some(cookie) => signin::sign_in_page(&shared, &params, &req, &cookie, None),
        None => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The server could not make this page safely. Try again in a moment.",
        ),
    }
}

/// `POST /authorize`: checks the form's CSRF token, the decision, the user
/// (slowed after repeated failures), then redirects with a code.
pub(crate) async fn authorize_submit(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    // The form carries the request parameters (hidden fields); the query may too.
    let mut all = form;
    let seen: HashSet<String> = all.iter().map(|(k, _)| k.clone()).collect();
    all.extend(query.into_iter().filter(|(k, _)| !seen.contains(k)));
    shared.prune();
    let params = Params(all);
    let cfg = shared.config();
    let req = match check_authz(&cfg, &shared.issuer, &params) {
        Ok(r) => r,
        Err(res) => return *res,
    };
    // RFC 6749 §10.12: only a form this server made for this request, in
    // this browser, is taken. Not sent back to the client: it may not be
    // the client's doing.
    let cookie = signin::csrf_cookie(&headers);
    let token = params.get(signin::CSRF_FIELD).ok().flatten();
    if !signin::csrf_ok(&shared.csrf_key, cookie, token, &req, shared.now_secs()) {
        return message_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The sign-in form was not sent from this page, or has expired. \
             Go back to the application and sign in again.",
        );
    }
    let cookie = cookie.unwrap_or_default().to_owned();
    // RFC 6749 §4.1.2.1: errors after the request is known go back to the client.
    let to_client = |code: &str, description: &str| {
        redirect_error(
            &req.redirect_uri,
            &shared.issuer,
            code,
            description,
            req.state.as_deref(),
        )
    };
    if params.get("decision").ok().flatten() == Some("deny") {
        return to_client("access_denied", "the user denied the request");
    }
    let username = params.get("username").ok().flatten().unwrap_or_default();
    let password = params.get("password").ok().flatten().unwrap_or_default();
    let addr = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let wait = shared.throttle.attempt(username, addr, shared.now());
    if !wait.is_zero() {
        tracing::info!(
            wait_ms = wait.as_millis() as u64,
            "sign-in slowed after repeated failures"
        );
        tokio::time::sleep(wait).await;
    }
    let ok = cfg
        .users
        .iter()
        .any(|u| u.username == username && constant_time_eq(&u.password, password));
    if !ok {
        return signin::sign_in_page(
            &shared,
            &params,
            &req,
            &cookie,
            Some((signin::WRONG_CREDENTIALS, username)),
        );
    }
    shared.throttle.succeeded(username, addr);
    let code = match random_id(24) {
        Ok(c) => c,
        Err(_) => return to_client("server_error", "the random generator failed"),
    };
    lock(&shared.codes).insert(
        code.clone(),
        Code {
            consent: Consent {
                client_id: req.client.id.clone(),
                user: username.to_owned(),
                scopes: req.scopes.clone(),
                audience: req.audience.clone(),
            },
            redirect_uri: req.redirect_uri.clone(),
            challenge: req.challenge.clone(),
            expires_at: shared.now() + CODE_LIFETIME,
            used: false,
            reused: false,
            issued: Vec::new(),
            family: None,
        },
    );
    redirect_to_client(
        &req.redirect_uri,
        &shared.issuer,
        &[("code", &code)],
        req.state.as_deref(),
    )
}
