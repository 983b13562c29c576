//! The sign-in and consent page of `/authorize`: what a person sees (the
//! client, the scopes in words, the audience, Allow and Deny), the headers
//! that keep the page from being framed, cached or leaking its URL
//! (RFC 6749 §10.13, <https://www.rfc-editor.org/rfc/rfc6749#section-10.13>;
//! RFC 9700 §4.16), and the CSRF token of its form (RFC 6749 §10.12,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-10.12>).
//!
//! The CSRF token is an HMAC, under a key of this process, of the
//! authorization request (client, redirect URI, `state`, PKCE challenge,
//! scopes, audience), a random value held in an HttpOnly `SameSite=Strict`
//! cookie, and an expiry: a form posted from another site lacks the
//! cookie, a token copied from one request does not fit another, and
//! nothing is stored per page.

use std::sync::LazyLock;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;

use super::authorize::{AuthzRequest, html_escape};
use super::params::Params;
use crate::state::Shared;

/// The cookie the CSRF token is bound to.
pub const CSRF_COOKIE: &str = "warden_csrf";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// How long a page's form may be submitted.
const CSRF_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The page's stylesheet: inline, allowed by its hash (no other style, no
/// script, no request for anything else).
const STYLE: &str = "\
*{box-sizing:border-box}\
html{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24;background:#eef1f5}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1.5rem}\
main{width:100%;max-width:26rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.12),0 8px 24px rgba(0,0,0,.08);padding:2rem}\
.brand{margin:0 0 1.25rem;font-size:.8rem;font-weight:600;letter-spacing:.08em;text-transform:uppercase;color:#4a5563}\
h1{font-size:1.35rem;margin:0 0 1.25rem;line-height:1.3}\
label{display:block;font-weight:600;font-size:.9rem;margin:0 0 .35rem}\
input[type=text],input[type=password]{display:block;width:100%;font:inherit;padding:.6rem .75rem;margin:0 0 1rem;border:1px solid #8a94a3;border-radius:.4rem;background:#fff;color:inherit}\
input:focus,button:focus{outline:3px solid #1d4ed8;outline-offset:2px}\
.consent{border-top:1px solid #d8dde4;margin:.5rem 0 1.25rem;padding-top:1rem}\
h2{font-size:1rem;margin:0 0 .5rem}\
ul{margin:0 0 .75rem;padding:0;list-style:none}\
li{padding:.45rem 0;border-bottom:1px solid #eef1f5}\
li code,.aud code{font-size:.8rem;color:#4a5563;background:#eef1f5;border-radius:.25rem;padding:.05rem .3rem;margin-left:.35rem}\
.aud{margin:0;font-size:.9rem;color:#374151}\
.error{background:#fdecec;color:#8a1c1c;border:1px solid #f3b4b4;border-radius:.4rem;padding:.6rem .75rem;margin:0 0 1rem}\
.actions{display:flex;gap:.75rem}\
button{flex:1;font:inherit;font-weight:600;padding:.65rem 1rem;border-radius:.4rem;border:1px solid #1d4ed8;cursor:pointer}\
.allow{background:#1d4ed8;color:#fff}\
.deny{background:#fff;color:#1d4ed8}\
p{line-height:1.5}\
@media (max-width:30rem){main{padding:1.25rem;box-shadow:none}body{padding:.5rem;align-items:flex-start}}";

/// `'sha256-…'` of [`STYLE`], for `style-src`.
static STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let d = digest::digest(&digest::SHA256, STYLE.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(d.as_ref())
    )
});

/// The headers every page of the issuer carries. `form_target` is where
/// the page's form may lead besides this origin: the client's redirect URI
/// (browsers apply `form-action` to the redirect that follows the POST).
fn protect(res: &mut Response, form_target: Option<&str>) {
    let mut form_action = "'self'".to_owned();
    if let Some(t) = form_target.filter(|t| !t.contains([';', ',', ' ', '\'', '"'])) {
        form_action.push(' ');
        form_action.push_str(t);
    }
    let csp = format!(
        "default-src 'none'; style-src {}; form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
        *STYLE_SOURCE
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn document(title: &str, main: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<p class="brand">warden-issuer</p>
{main}
</main>
</body>
</html>
"#,
        title = html_escape(title),
    )
}

/// A page with a message and nothing to do (a bad request, an expired
/// form), with the same headers.
pub(super) fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let main = format!(
        "<h1>{}</h1>\n<p>{}</p>",
        html_escape(title),
        html_escape(message)
    );
    let mut res = (status, Html(document(title, &main))).into_response();
    protect(&mut res, None);
    res
}

/// What the page says about one failed attempt: never which of the user
/// name and the password was wrong.
pub(super) const WRONG_CREDENTIALS: &str = "That user name and password do not match. Try again.";

/// The sign-in and consent page for `req`; `cookie` is the browser's CSRF
/// cookie value (set again with the page), `error` a failed attempt.
pub(super) fn sign_in_page(
    shared: &Shared,
    params: &Params,
    req: &AuthzRequest,
    cookie: &str,
    error: Option<(&str, &str)>,
) -> Response {
    let cfg = shared.config();
    let hidden: String = params
        .0
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "username" | "password" | "decision" | CSRF_FIELD
            )
        })
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let expires = shared.now_secs() + CSRF_LIFETIME.as_secs();
    let csrf = csrf_token(&shared.csrf_key, cookie, req, expires);
    let client = req.client.name.as_deref().unwrap_or(&req.client.id);
    let descriptions = cfg
        .resources
        .iter()
        .find(|r| r.audience == req.audience)
        .map(|r| &r.scope_descriptions);
    let scopes: String = req
        .scopes
        .iter()
        .map(|s| {
            let words = descriptions.and_then(|d| d.get(s)).unwrap_or(s);
            format!(
                "<li>{}<code>{}</code></li>\n",
                html_escape(words),
                html_escape(s)
            )
        })
        .collect();
    let scopes = if scopes.is_empty() {
        "<li>Know who you are</li>\n".to_owned()
    } else {
        scopes
    };
    let (error_html, username) = match error {
        Some((message, user)) => (
            format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p>\n",
                html_escape(message)
            ),
            user,
        ),
        None => (String::new(), ""),
    };
    let main = format!(
        r#"<h1>Sign in to continue to {client}</h1>
{error_html}<form method="post" action="">
{hidden}<input type="hidden" name="{CSRF_FIELD}" value="{csrf}">
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="{username}"{autofocus_user}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required{autofocus_password}>
<section class="consent" aria-labelledby="asks">
<h2 id="asks">{client} asks to</h2>
<ul>
{scopes}</ul>
<p class="aud">at <code>{aud}</code></p>
</section>
<div class="actions">
<button type="submit" class="allow" name="decision" value="allow">Allow</button>
<button type="submit" class="deny" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>"#,
        client = html_escape(client),
        csrf = html_escape(&csrf),
        username = html_escape(username),
        aud = html_escape(&req.audience),
        autofocus_user = if username.is_empty() {
            " autofocus"
        } else {
            ""
        },
        autofocus_password = if username.is_empty() {
            ""
        } else {
            " autofocus"
        },
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let title = format!("Sign in · {client}");
    let mut res = (status, Html(document(&title, &main))).into_response();
    protect(&mut res, Some(&req.redirect_uri));
    let cookie = format!(
        "{CSRF_COOKIE}={cookie}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        CSRF_LIFETIME.as_secs(),
        if shared.issuer.starts_with("https://") {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// The browser's CSRF cookie, if it holds a well-formed value.
pub(super) fn csrf_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == CSRF_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| {
            v.len() == 22
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn csrf_mac(key: &hmac::Key, cookie: &str, req: &AuthzRequest, expires: u64) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    let expires = expires.to_string();
    let scopes = req.scopes.join(" ");
    for part in [
        "warden-csrf-1",
        cookie,
        &req.client.id,
        &req.redirect_uri,
        req.state.as_deref().unwrap_or(""),
        &req.challenge,
        &scopes,
        &req.audience,
        &expires,
    ] {
        // Length-prefixed: no two different lists make the same bytes.
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    ctx.sign()
}

fn csrf_token(key: &hmac::Key, cookie: &str, req: &AuthzRequest, expires: u64) -> String {
    let tag = csrf_mac(key, cookie, req, expires);
    format!("{expires}.{}", crate::mint::b64(tag.as_ref()))
}

/// Whether `token` is this server's token for `req` and `cookie`, not
/// expired at `now_secs`.
pub(super) fn csrf_ok(
    key: &hmac::Key,
    cookie: Option<&str>,
    token: Option<&str>,
    req: &AuthzRequest,
    now_secs: u64,
) -> bool {
    let (Some(cookie), Some(token)) = (cookie, token) else {
        return false;
    };
    let Some(expires) = token
        .split_once('.')
        .and_then(|(e, _)| e.parse::<u64>().ok())
    else {
        return false;
    };
    now_secs <= expires
        && super::client_auth::constant_time_eq(&csrf_token(key, cookie, req, expires), token)
}

/// What a program (a test, the demo) needs to submit the sign-in page as
/// a browser would: the page's CSRF token and the cookie it is bound to.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInForm {
    /// The `csrf` field's value.
    pub csrf: String,
    /// The `warden_csrf` cookie's value.
    pub cookie: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInForm([redacted])")
    }
}

impl SignInForm {
    /// Reads the form off a sign-in page: its `Set-Cookie` headers and its
    /// HTML. `None` when either is missing.
    pub fn read(headers: &http::HeaderMap, page: &str) -> Option<Self> {
        let cookie = headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(CSRF_COOKIE)?.strip_prefix('='))?
            .split(';')
            .next()?
            .to_owned();
        let marker = format!("name=\"{CSRF_FIELD}\" value=\"");
        let rest = &page[page.find(&marker)? + marker.len()..];
        let csrf = rest[..rest.find('"')?].to_owned();
        Some(Self { csrf, cookie })
    }

    /// The `Cookie` header to send with the form.
    pub fn cookie_header(&self) -> String {
        format!("{CSRF_COOKIE}={}", self.cookie)
    }
}
