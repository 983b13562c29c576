//! A web app that signs people in: a backend-for-frontend (the pattern of
//! the OAuth 2.0 for Browser-Based Applications draft, §6.1,
//! <https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#section-6.1>)
//! on axum. It runs the authorization code flow with PKCE (RFC 6749 §4.1,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-4.1>; RFC 7636), checks
//! `state` and `iss` (RFC 9207) on the way back, keeps every token on the
//! server behind an HttpOnly session cookie, refreshes the access token
//! when it runs out (RFC 6749 §6), calls the demo's gateway on the user's
//! behalf, and on sign-out revokes the refresh token (RFC 7009) and forgets
//! the session. The browser never holds a token or the PKCE verifier.
//!
//! Configured by environment ([`Config::from_env`]):
//!
//! | variable | default |
//! | --- | --- |
//! | `WARDEN_ISSUER` | required |
//! | `WARDEN_CLIENT_ID` | `web-app` |
//! | `WARDEN_GATEWAY_URL` | none (the page says so) |
//! | `WARDEN_PUBLIC_URL` | `http://127.0.0.1:8080` |
//! | `WARDEN_BIND` | `127.0.0.1:8080` |
//! | `WARDEN_ALLOW_HTTP` | `1` lets a plain-http issuer through (development) |

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use warden::outbound::client::{ClientAuth, OAuthClient, Pkce, TokenResponse};

/// The scopes the web app asks for.
pub const SCOPES: &str = "orders:read orders:write";
/// What the home page asks the gateway for.
pub const GATEWAY_PATH: &str = "/api/stock/apple";
/// The session cookie.
pub const SESSION_COOKIE: &str = "web_app_session";
/// The cookie that ties a sign-in's callback to the browser that started it.
pub const LOGIN_COOKIE: &str = "web_app_login";

/// How long a sign-in may take from `/login` to `/callback`.
const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long a session lasts without use.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// Sign-ins in flight and sessions held, at most (each table).
const MAX_ENTRIES: usize = 10_000;
/// An access token this close to its expiry is refreshed first.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable is missing or malformed.
    #[error("{0}")]
    Invalid(String),
}

/// The web app's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// This app's `client_id` (a public client).
    pub client_id: String,
    /// The gateway called on the user's behalf.
    pub gateway_url: Option<String>,
    /// The URL people reach this app at; the redirect URI is
    /// `{public_url}/callback`.
    pub public_url: String,
    /// The listen address.
    pub bind: SocketAddr,
    /// Whether a plain-http issuer is accepted (development only).
    pub allow_http: bool,
}

impl Config {
    /// A configuration for `issuer`, with the defaults of the table above.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: "web-app".into(),
            gateway_url: None,
            public_url: "http://127.0.0.1:8080".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            allow_http: false,
        }
    }

    /// The gateway to call.
    #[must_use]
    pub fn gateway(mut self, url: impl Into<String>) -> Self {
        self.gateway_url = Some(url.into());
        self
    }

    /// The public URL (and so the redirect URI).
    #[must_use]
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Accepts a plain-http issuer (development only).
    #[must_use]
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Reads the `WARDEN_*` variables of the module's table.
    ///
    /// # Errors
    /// A missing `WARDEN_ISSUER`, or an address that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let issuer = var("WARDEN_ISSUER")
            .ok_or_else(|| ConfigError::Invalid("WARDEN_ISSUER is required".into()))?;
        let mut c = Self::new(issuer);
        if let Some(id) = var("WARDEN_CLIENT_ID") {
            c.client_id = id;
        }
        c.gateway_url = var("WARDEN_GATEWAY_URL").map(|g| g.trim_end_matches('/').to_owned());
        if let Some(p) = var("WARDEN_PUBLIC_URL") {
            c = c.public_url(p);
        }
        if let Some(b) = var("WARDEN_BIND") {
            c.bind = b.parse().map_err(|_| {
                ConfigError::Invalid(format!("WARDEN_BIND is not an address: {b:?}"))
            })?;
        }
        c.allow_http = var("WARDEN_ALLOW_HTTP").is_some_and(|v| v == "1");
        Ok(c)
    }

    /// The redirect URI registered for this app.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.public_url)
    }

    fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// A sign-in between `/login` and `/callback`.
struct Pending {
    verifier: String,
    browser: String,
    started: Instant,
}

/// A signed-in user's tokens, held here only.
struct Session {
    user: String,
    scope: String,
    access_token: String,
    refresh_token: Option<String>,
    expires: Instant,
    used: Instant,
}

struct AppState {
    config: Config,
    oauth: OAuthClient,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// 32 random bytes, base64url.
fn random() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok()?;
    Some(URL_SAFE_NO_PAD.encode(b))
}

/// Makes room in a bounded table: what has expired goes, then the oldest.
fn make_room<V>(
    map: &mut HashMap<String, V>,
    expired: impl Fn(&V) -> bool,
    age: impl Fn(&V) -> Instant,
) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, v| !expired(v));
    if map.len() >= MAX_ENTRIES
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, v)| age(v))
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
}

/// The web app's routes.
///
/// # Errors
/// When the issuer breaks the URL policy (plain http without
/// [`Config::allow_http`]) or no HTTP client can be built.
pub fn router(config: Config) -> Result<Router, ConfigError> {
    let mut b = OAuthClient::builder(ClientAuth::public(config.client_id.clone()));
    if config.allow_http {
        b = b.dangerous().allow_http();
    }
    let oauth = b
        .issuer(config.issuer.clone())
        .build()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let state = Arc::new(AppState {
        config,
        oauth,
        http,
        pending: Mutex::default(),
        sessions: Mutex::default(),
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(state))
}

/// Serves the web app on `listener` until the process ends.
///
/// # Errors
/// As [`router`]; an I/O error of the server.
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> Result<(), ConfigError> {
    let app = router(config)?;
    axum::serve(listener, app)
        .await
        .map_err(|e| ConfigError::Invalid(e.to_string()))
}

// ---- pages ----

const STYLE: &str = "\
*{box-sizing:border-box}\
html{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;background:#f6f7f9}\
body{margin:0}\
header{background:#14213d;color:#fff;padding:1rem 1.5rem;display:flex;justify-content:space-between;align-items:center;gap:1rem}\
header strong{font-size:1.1rem}\
main{max-width:44rem;margin:2rem auto;padding:0 1.5rem}\
.card{background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:1.5rem;margin:0 0 1.5rem}\
h1{font-size:1.5rem;margin:0 0 1rem}\
h2{font-size:1.1rem;margin:0 0 .75rem}\
pre{background:#f0f2f5;padding:1rem;border-radius:.5rem;overflow:auto;font-size:.85rem}\
.button,button{display:inline-block;font:inherit;font-weight:600;padding:.6rem 1.1rem;border-radius:.4rem;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;text-decoration:none;cursor:pointer}\
header button{background:transparent;border-color:#fff}\
a:focus,button:focus{outline:3px solid #f59e0b;outline-offset:2px}\
.notice{border-left:4px solid #b45309;background:#fff7ed;padding:.75rem 1rem;border-radius:.25rem}\
code{background:#f0f2f5;border-radius:.25rem;padding:.05rem .3rem}\
p{line-height:1.5}";

static STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    use sha2::Digest;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()))
    )
});

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page with the app's header; `user` shows the sign-out button.
fn page(status: StatusCode, title: &str, user: Option<&str>, body: &str) -> Response {
    let account = match user {
        Some(u) => format!(
            "<form method=\"post\" action=\"/logout\"><span>{}</span> <button type=\"submit\">Sign out</button></form>",
            escape(u)
        ),
        None => String::new(),
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Orders web app</title>
<style>{STYLE}</style>
</head>
<body>
<header><strong>Orders web app</strong>{account}</header>
<main>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    let csp = format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_SOURCE
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it the browser sends `Origin: null` with the
    // sign-out form, and the origin check could not tell it from a foreign
    // site's. Nothing leaves for other sites either way.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn signed_out_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        None,
        &format!(
            "<section class=\"card\">\n<h1>{}</h1>\n<p id=\"message\">{}</p>\n<p><a class=\"button\" href=\"/login\">Sign in</a></p>\n</section>",
            escape(title),
            escape(message)
        ),
    )
}

fn cookie(
    config: &Config,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if config.secure() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Who the access token says the user is: read here, on the server, from
/// a token this app received straight from the token endpoint (it is not
/// the token's audience and shows the name only). `name`, then
/// `preferred_username`, then `sub`.
fn user_of(access_token: &str) -> Option<String> {
    let claims = warden::inbound::jwt::peek::claims(access_token).ok()?;
    ["name", "preferred_username", "sub"]
        .iter()
        .find_map(|c| claims.get(*c).and_then(Value::as_str))
        .map(str::to_owned)
}

// ---- handlers ----

async fn home(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(id) = read_cookie(&headers, SESSION_COOKIE).map(str::to_owned) else {
        return signed_out_page(
            StatusCode::OK,
            "Welcome",
            "You are not signed in. Sign in to see your orders.",
        );
    };
    let Some((user, scope, token)) = session_token(&st, &id).await else {
        let mut res = signed_out_page(
            StatusCode::OK,
            "Welcome",
            "You are not signed in (your session has ended). Sign in to see your orders.",
        );
        res.headers_mut().append(
            header::SET_COOKIE,
            cookie(&st.config, SESSION_COOKIE, "", "/", Some(0)),
        );
        return res;
    };
    let gateway = match &st.config.gateway_url {
        Some(g) => {
            let url = format!("{g}{GATEWAY_PATH}");
            match st.http.get(&url).bearer_auth(&token).send().await {
                Ok(res) => {
                    let status = res.status();
                    let text = res.text().await.unwrap_or_default();
                    let shown = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|v| serde_json::to_string_pretty(&v).ok())
                        .unwrap_or(text);
                    format!(
                        "<p>GET <code>{}</code> answered <strong id=\"gateway-status\">{}</strong>:</p>\n<pre id=\"gateway\">{}</pre>",
                        escape(GATEWAY_PATH),
                        status.as_u16(),
                        escape(&shown)
                    )
                }
                Err(e) => format!(
                    "<p class=\"notice\" id=\"gateway\">The gateway could not be reached: {}</p>",
                    escape(&e.without_url().to_string())
                ),
            }
        }
        None => {
            "<p class=\"notice\" id=\"gateway\">No gateway is configured (WARDEN_GATEWAY_URL).</p>"
                .into()
        }
    };
    let body = format!(
        "<section class=\"card\">\n<h1>Hello, <span id=\"user\">{user}</span></h1>\n<p>You are signed in. This app holds your tokens on its server; your browser holds only a session cookie.</p>\n<p>Granted: <code id=\"scope\">{scope}</code></p>\n</section>\n<section class=\"card\">\n<h2>The gateway, called on your behalf</h2>\n{gateway}\n</section>",
        user = escape(&user),
        scope = escape(&scope),
    );
    page(StatusCode::OK, "Signed in", Some(&user), &body)
}

/// The session's user, scope and a live access token (refreshed when it
/// is about to run out); `None` when there is no such session or it could
/// not be kept alive.
async fn session_token(st: &AppState, id: &str) -> Option<(String, String, String)> {
    let now = Instant::now();
    let refresh = {
        let mut sessions = lock(&st.sessions);
        let s = sessions.get_mut(id)?;
        if now.duration_since(s.used) > SESSION_IDLE {
            sessions.remove(id);
            return None;
        }
        s.used = now;
        if s.expires > now + REFRESH_MARGIN {
            return Some((s.user.clone(), s.scope.clone(), s.access_token.clone()));
        }
        s.refresh_token.clone()
    };
    // RFC 6749 §6; the server rotates the refresh token.
    let rt = refresh?;
    let fresh = st
        .oauth
        .token_request(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt),
        ])
        .await;
    let mut sessions = lock(&st.sessions);
    match fresh {
        Ok(t) => {
            let s = sessions.get_mut(id)?;
            apply(s, t, now);
            Some((s.user.clone(), s.scope.clone(), s.access_token.clone()))
        }
        Err(e) => {
            tracing::info!(error = %e, "refresh failed; the session ends");
            sessions.remove(id);
            None
        }
    }
}

fn apply(s: &mut Session, t: TokenResponse, now: Instant) {
    s.expires = now + Duration::from_secs(t.expires_in.unwrap_or(60).min(24 * 3600));
    if let Some(scope) = t.scope {
        s.scope = scope;
    }
    if t.refresh_token.is_some() {
        s.refresh_token = t.refresh_token;
    }
    s.access_token = t.access_token;
}

/// `GET /login`: a fresh `state` and PKCE verifier, kept here and tied to
/// this browser by a cookie; the browser goes to the authorization server.
async fn login(State(st): State<Arc<AppState>>) -> Response {
    let unavailable = || {
        signed_out_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is unavailable",
            "The authorization server cannot be reached. Try again in a moment.",
        )
    };
    let Ok(endpoint) = st.oauth.authorization_endpoint().await else {
        return unavailable();
    };
    let (Some(state), Some(browser), Ok(pkce)) = (random(), random(), Pkce::generate()) else {
        return unavailable();
    };
    {
        let mut pending = lock(&st.pending);
        let now = Instant::now();
        make_room(
            &mut pending,
            |p| now.duration_since(p.started) > LOGIN_LIFETIME,
            |p| p.started,
        );
        pending.insert(
            state.clone(),
            Pending {
                verifier: pkce.verifier().to_owned(),
                browser: browser.clone(),
                started: now,
            },
        );
    }
    let redirect_uri = st.config.redirect_uri();
    let query = [
        ("response_type", "code"),
        ("client_id", st.config.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", SCOPES),
        ("state", state.as_str()),
        ("code_challenge", pkce.challenge()),
        ("code_challenge_method", Pkce::METHOD),
    ];
    let Ok(url) = reqwest::Url::parse_with_params(&endpoint, &query) else {
        return unavailable();
    };
    let mut res = Redirect::to(url.as_str()).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(
            &st.config,
            LOGIN_COOKIE,
            &browser,
            "/callback",
            Some(LOGIN_LIFETIME.as_secs()),
        ),
    );
    res
}

/// `GET /callback`: the authorization server's answer. The `state` must
/// be one this app made for this browser (and is used once), `iss` the
/// configured issuer; then the code is redeemed with the verifier and a
/// session begins.
async fn callback(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let browser = read_cookie(&headers, LOGIN_COOKIE);
    let pending = q
        .get("state")
        .and_then(|s| lock(&st.pending).remove(s))
        .filter(|p| p.started.elapsed() <= LOGIN_LIFETIME);
    let clear_login = cookie(&st.config, LOGIN_COOKIE, "", "/callback", Some(0));
    let with_cleared = |mut res: Response| {
        res.headers_mut()
            .append(header::SET_COOKIE, clear_login.clone());
        res
    };
    let Some(pending) = pending.filter(|p| Some(p.browser.as_str()) == browser) else {
        return with_cleared(signed_out_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "This sign-in was not started in this browser, or took too long. You are not signed in.",
        ));
    };
    // RFC 9207: the answer must come from the server we sent the user to.
    if q.get("iss").is_some_and(|iss| *iss != st.config.issuer) {
        return with_cleared(signed_out_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The answer came from another authorization server. You are not signed in.",
        ));
    }
    if let Some(error) = q.get("error") {
        let (title, message) = if error == "access_denied" {
            (
                "Access denied",
                "Access was denied, so you are not signed in. The app cannot see your orders.",
            )
        } else {
            (
                "Sign-in failed",
                "The authorization server refused the sign-in. You are not signed in.",
            )
        };
        return with_cleared(signed_out_page(StatusCode::OK, title, message));
    }
    let Some(code) = q.get("code") else {
        return with_cleared(signed_out_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The answer carried no code. You are not signed in.",
        ));
    };
    let tokens = match st
        .oauth
        .redeem_code(code, &st.config.redirect_uri(), &pending.verifier)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(error = %e, "code redemption failed");
            return with_cleared(signed_out_page(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The code could not be redeemed. You are not signed in.",
            ));
        }
    };
    let Some(id) = random() else {
        return with_cleared(signed_out_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in failed",
            "No session could be made. You are not signed in.",
        ));
    };
    let now = Instant::now();
    let mut session = Session {
        user: user_of(&tokens.access_token).unwrap_or_else(|| "(unknown)".into()),
        scope: String::new(),
        access_token: String::new(),
        refresh_token: None,
        expires: now,
        used: now,
    };
    apply(&mut session, tokens, now);
    {
        let mut sessions = lock(&st.sessions);
        make_room(
            &mut sessions,
            |s| now.duration_since(s.used) > SESSION_IDLE,
            |s| s.used,
        );
        sessions.insert(id.clone(), session);
    }
    let mut res = with_cleared(Redirect::to("/").into_response());
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&st.config, SESSION_COOKIE, &id, "/", None),
    );
    res
}

/// `POST /logout`: revokes the refresh token (and with it the session's
/// tokens at warden-issuer), forgets the session, clears the cookie. A
/// cross-site POST carries no `SameSite=Lax` cookie, and one with a
/// foreign `Origin` is refused.
async fn logout(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && origin != st.config.public_url
    {
        return signed_out_page(
            StatusCode::FORBIDDEN,
            "Not signed out",
            "The request came from another site.",
        );
    }
    let session =
        read_cookie(&headers, SESSION_COOKIE).and_then(|id| lock(&st.sessions).remove(id));
    if let Some(s) = session {
        let (token, hint) = match &s.refresh_token {
            Some(rt) => (rt.clone(), "refresh_token"),
            None => (s.access_token.clone(), "access_token"),
        };
        if let Err(e) = st.oauth.revoke(&token, Some(hint)).await {
            tracing::warn!(error = %e, "revocation at sign-out failed");
        }
    }
    let mut res = signed_out_page(StatusCode::OK, "Signed out", "You are signed out.");
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(&st.config, SESSION_COOKIE, "", "/", Some(0)),
    );
    res
}
