//! The sign-in and consent page over real loopback HTTP (#17): what it
//! shows, the headers that protect it, the CSRF token of its form, the same
//! answer for an unknown user and a wrong password, and the slowdown after
//! repeated failures. (The same flow in a real browser is
//! examples/web-app/tests/browser.rs.)

use std::time::{Duration, Instant};

use base64::Engine;
use warden_core::ManualClock;
use warden_issuer::{Issuer, IssuerConfig, SignInForm};

const REDIRECT: &str = "http://127.0.0.1:8080/callback";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn query(state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", "web-app".into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "orders:read orders:write".into()),
        ("state", state.into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    html: String,
}

async fn page(issuer: &Issuer, state: &str) -> Page {
    let res = http()
        .get(issuer.authorize_url())
        .query(&query(state))
        .send()
        .await
        .unwrap();
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        html: res.text().await.unwrap(),
    }
}

/// POSTs the form of `state`'s request with `extra` fields and `cookie`.
async fn submit(
    issuer: &Issuer,
    state: &str,
    extra: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut form = query(state);
    form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let mut req = http().post(issuer.authorize_url()).form(&form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn sign_in(issuer: &Issuer, user: &str, password: &str) -> reqwest::Response {
    let p = page(issuer, "s").await;
    let f = SignInForm::read(&p.headers, &p.html).unwrap();
    submit(
        issuer,
        "s",
        &[
            ("username", user),
            ("password", password),
            ("decision", "allow"),
            ("csrf", &f.csrf),
        ],
        Some(&f.cookie_header()),
    )
    .await
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_page_shows_the_client_the_scopes_in_words_and_the_audience() {
    let issuer = Issuer::start_dev().await.unwrap();
    let p = page(&issuer, "s").await;
    assert_eq!(p.status, 200);
    for needle in [
        "<html lang=\"en\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "Sign in to continue to Orders web app",
        "See your orders<code>orders:read</code>",
        "Place and change orders for you<code>orders:write</code>",
        "<code>api://gateway</code>",
        "<label for=\"username\">User name</label>",
        "<label for=\"password\">Password</label>",
        "value=\"allow\">Allow</button>",
        "value=\"deny\" formnovalidate>Deny</button>",
    ] {
        assert!(p.html.contains(needle), "{needle} missing from\n{}", p.html);
    }
    // No script, no external resource.
    assert!(!p.html.contains("<script"));
    for tag in ["<link", "<img", "<iframe"] {
        assert!(!p.html.contains(tag), "{tag}");
    }
}

#[tokio::test]
async fn every_page_carries_the_protective_headers_and_the_style_hash_matches() {
    let issuer = Issuer::start_dev().await.unwrap();
    let p = page(&issuer, "s").await;
    let csp = header(&p.headers, "content-security-policy");
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        &format!("form-action 'self' {REDIRECT}"),
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert_eq!(header(&p.headers, "x-frame-options"), "DENY");
    assert_eq!(header(&p.headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(&p.headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&p.headers, "cache-control"), "no-store");
    let cookie = header(&p.headers, "set-cookie");
    assert!(cookie.starts_with("warden_csrf="), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "a plain-http issuer: {cookie}");
    // The browser applies the inline style only if its hash is the one the
    // policy names.
    let style = p.html.split("<style>").nth(1).unwrap();
    let style = &style[..style.find("</style>").unwrap()];
    let hash = base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        style.as_bytes(),
    ));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");

    // A bad request's page and the expired-form page carry them too.
    let bad = http()
        .get(issuer.authorize_url())
        .query(&[("client_id", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let expired = submit(&issuer, "s", &[("decision", "allow")], None).await;
    assert_eq!(expired.status(), 403);
    for res in [bad, expired] {
        let csp = header(res.headers(), "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self';"), "{csp}");
        assert_eq!(header(res.headers(), "x-frame-options"), "DENY");
        assert_eq!(header(res.headers(), "cache-control"), "no-store");
    }
}

#[tokio::test]
async fn the_form_needs_its_own_csrf_token_and_cookie() {
    let issuer = Issuer::start_dev().await.unwrap();
    let p = page(&issuer, "s").await;
    let f = SignInForm::read(&p.headers, &p.html).unwrap();
    let other = page(&issuer, "another-state").await;
    let other = SignInForm::read(&other.headers, &other.html).unwrap();
    let creds = [
        ("username", "alice"),
        ("password", "alice-password"),
        ("decision", "allow"),
    ];
    let with = |csrf: &str| {
        let mut v = creds.to_vec();
        v.push(("csrf", csrf));
        v.into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>()
    };
    let forged = format!("{}.{}", u64::MAX, "A".repeat(43));
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Option<String>);
    let cases: Vec<Case<'_>> = vec![
        ("no token, no cookie", with(""), None),
        ("the token without its cookie", with(&f.csrf), None),
        (
            "the token with another cookie",
            with(&f.csrf),
            Some("warden_csrf=AAAAAAAAAAAAAAAAAAAAAA".into()),
        ),
        (
            "another request's token",
            with(&other.csrf),
            Some(f.cookie_header()),
        ),
        ("a forged token", with(&forged), Some(f.cookie_header())),
    ];
    for (name, form, cookie) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = submit(&issuer, "s", &form, cookie.as_deref()).await;
        assert_eq!(res.status(), 403, "{name}");
        assert!(res.headers().get("location").is_none(), "{name}");
    }
    assert_eq!(issuer.state_counts().codes, 0);
    // A deny needs the token too, and then goes back to the client.
    let res = submit(&issuer, "s", &[("decision", "deny")], None).await;
    assert_eq!(res.status(), 403);
    let res = submit(
        &issuer,
        "s",
        &[("decision", "deny"), ("csrf", &f.csrf)],
        Some(&f.cookie_header()),
    )
    .await;
    assert_eq!(res.status(), 303);
    let location = header(res.headers(), "location");
    assert!(
        location.starts_with(REDIRECT) && location.contains("error=access_denied"),
        "{location}"
    );
    // The right token and cookie sign in.
    let good = with(&f.csrf);
    let form: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = submit(&issuer, "s", &form, Some(&f.cookie_header())).await;
    assert_eq!(res.status(), 303);
    assert!(header(res.headers(), "location").contains("code="));
}

#[tokio::test]
async fn a_page_older_than_fifteen_minutes_is_refused() {
    let clock = ManualClock::starting_now();
    let issuer = Issuer::builder(IssuerConfig::dev())
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let p = page(&issuer, "s").await;
    let f = SignInForm::read(&p.headers, &p.html).unwrap();
    clock.advance(Duration::from_secs(15 * 60 + 1));
    let res = submit(
        &issuer,
        "s",
        &[
            ("username", "alice"),
            ("password", "alice-password"),
            ("decision", "allow"),
            ("csrf", &f.csrf),
        ],
        Some(&f.cookie_header()),
    )
    .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_read_the_same() {
    let issuer = Issuer::start_dev().await.unwrap();
    let mut pages = Vec::new();
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-password")] {
        let res = sign_in(&issuer, user, password).await;
        assert_eq!(res.status(), 401);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("That user name and password do not match"),
            "{html}"
        );
        assert!(html.contains("role=\"alert\""));
        assert!(!html.contains(password), "the password is never echoed");
        // Everything but the user name typed and the fresh CSRF token.
        let html = html.replace(user, "USER");
        let csrf_at = html.find("name=\"csrf\" value=\"").unwrap();
        let end = html[csrf_at + 19..].find('"').unwrap() + csrf_at + 19;
        pages.push(format!("{}{}", &html[..csrf_at], &html[end..]));
    }
    assert_eq!(pages[0], pages[1]);
    // A correct password after a wrong one signs in.
    let res = sign_in(&issuer, "alice", "alice-password").await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn repeated_failures_slow_further_attempts() {
    let issuer = Issuer::start_dev().await.unwrap();
    // Five failures from this address, each for another user: no wait
    // yet (the throttle's unit tests pin the waits to the second).
    for i in 0..5 {
        assert_eq!(
            sign_in(&issuer, &format!("guess-{i}"), "x").await.status(),
            401
        );
    }
    // The sixth waits a second, the seventh two, even with alice's right
    // password (every further attempt waits).
    let started = Instant::now();
    assert_eq!(sign_in(&issuer, "guess-5", "x").await.status(), 401);
    let sixth = started.elapsed();
    let started = Instant::now();
    assert_eq!(
        sign_in(&issuer, "alice", "alice-password").await.status(),
        303
    );
    let seventh = started.elapsed();
    assert!(sixth >= Duration::from_secs(1), "{sixth:?}");
    assert!(seventh >= Duration::from_secs(2), "{seventh:?}");
    // Six user names and one address are tracked (alice was forgotten).
    assert_eq!(issuer.state_counts().sign_in_failures, 7);
}
