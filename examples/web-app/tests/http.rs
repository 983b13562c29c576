//! The web app over real loopback HTTP, without a browser (the browser
//! test is examples/microservices-demo/tests/browser.rs): the checks on
//! the way back from the authorization server and on sign-out that a
//! browser run would not reach.

use example_web_app::{Config, LOGIN_COOKIE, SESSION_COOKIE, router};
use warden_issuer::{Issuer, IssuerConfig};

struct App {
    url: String,
    issuer: Issuer,
}

async fn start(public: Option<&str>) -> App {
    start_with(public, None).await
}

/// The web app and an issuer whose gateway tokens live `lifetime` seconds.
async fn start_with(public: Option<&str>, lifetime: Option<u64>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = IssuerConfig::dev();
    if let Some(secs) = lifetime {
        for r in cfg
            .resources
            .iter_mut()
            .filter(|r| r.audience == "api://gateway")
        {
            r.lifetime_secs = secs;
        }
    }
    let web = cfg.clients.iter_mut().find(|c| c.id == "web-app").unwrap();
    web.redirect_uris.push(format!("{url}/callback"));
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let config = Config::new(issuer.issuer())
        .public_url(public.unwrap_or(&url))
        .allow_http();
    let app = router(config).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    App { url, issuer }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `/login`: the redirect to the issuer and the browser-binding cookie.
async fn login(app: &App) -> (String, String) {
    let res = http()
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let cookie = cookies(&res)
        .into_iter()
        .find(|c| c.starts_with(LOGIN_COOKIE))
        .unwrap();
    let value = cookie.split(';').next().unwrap().to_owned();
    (location, value)
}

fn param(url: &str, name: &str) -> String {
    url.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn login_sends_the_browser_to_the_issuer_with_pkce_and_no_verifier() {
    let app = start(None).await;
    let (location, cookie) = login(&app).await;
    assert!(
        location.starts_with(&app.issuer.authorize_url()),
        "{location}"
    );
    assert_eq!(param(&location, "code_challenge_method"), "S256");
    assert_eq!(param(&location, "code_challenge").len(), 43);
    assert!(!location.contains("code_verifier"));
    assert_eq!(param(&location, "client_id"), "web-app");
    assert!(cookie.starts_with(&format!("{LOGIN_COOKIE}=")));
    // Every login has its own state.
    let (again, _) = login(&app).await;
    assert_ne!(param(&location, "state"), param(&again, "state"));
}

#[tokio::test]
async fn a_callback_needs_its_state_its_browser_and_the_right_issuer() {
    let app = start(None).await;
    let (location, cookie) = login(&app).await;
    let state = param(&location, "state");
    let callback = |query: String, cookie: Option<String>| {
        let mut req = http().get(format!("{}/callback?{query}", app.url));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let iss = app.issuer.issuer().replace(':', "%3A").replace('/', "%2F");
    // An unknown state, and the right state from another browser: refused,
    // and that state is spent.
    let res = callback(
        format!("code=x&state=unknown&iss={iss}"),
        Some(cookie.clone()),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let res = callback(
        format!("code=x&state={state}&iss={iss}"),
        Some(format!("{LOGIN_COOKIE}=another-browser")),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let res = callback(format!("code=x&state={state}&iss={iss}"), Some(cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a state is used once");
    // RFC 9207: an answer naming another issuer.
    let (location, cookie) = login(&app).await;
    let state = param(&location, "state");
    let res = callback(
        format!("code=x&state={state}&iss=https%3A%2F%2Fevil.example"),
        Some(cookie),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("another authorization server"), "{page}");
    // A code the issuer never gave: no session.
    let (location, cookie) = login(&app).await;
    let state = param(&location, "state");
    let res = callback(format!("code=forged&state={state}&iss={iss}"), Some(cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert!(
        !cookies(&res)
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=")) && !c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn sign_out_from_another_site_is_refused_and_pages_are_protected() {
    let app = start(None).await;
    let res = http()
        .post(format!("{}/logout", app.url))
        .header("origin", "https://evil.example")
        .header("cookie", format!("{SESSION_COOKIE}=whatever"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = http().get(&app.url).send().await.unwrap();
    let h = res.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(res.text().await.unwrap().contains("not signed in"));
}

#[tokio::test]
async fn cookies_are_http_only_lax_and_secure_behind_https() {
    let plain = start(None).await;
    let (_, _) = login(&plain).await;
    let res = http()
        .get(format!("{}/login", plain.url))
        .send()
        .await
        .unwrap();
    let c = cookies(&res).join("\n");
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
    assert!(!c.contains("Secure"), "{c}");
    let tls = start(Some("https://app.example")).await;
    let res = http()
        .get(format!("{}/login", tls.url))
        .send()
        .await
        .unwrap();
    let c = cookies(&res).join("\n");
    assert!(c.contains("HttpOnly") && c.contains("Secure"), "{c}");
}

/// Signs alice in over HTTP, as a browser would (the sign-in page's CSRF
/// token and cookie, the callback with the login cookie); the session
/// cookie.
async fn sign_in(app: &App) -> String {
    let (location, login_cookie) = login(app).await;
    let page = http().get(&location).send().await.unwrap();
    let headers = page.headers().clone();
    let form = warden_issuer::SignInForm::read(&headers, &page.text().await.unwrap()).unwrap();
    let mut fields: Vec<(String, String)> = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, v) in [
        ("username", "alice"),
        ("password", "alice-password"),
        ("decision", "allow"),
        ("csrf", form.csrf.as_str()),
    ] {
        fields.push((k.into(), v.into()));
    }
    let res = http()
        .post(app.issuer.authorize_url())
        .header("cookie", form.cookie_header())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let callback = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&app.url), "{callback}");
    let res = http()
        .get(&callback)
        .header("cookie", &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    cookies(&res)
        .into_iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")) && !c.contains("Max-Age=0"))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_access_token_is_refreshed_with_rotation_and_sign_out_revokes_it() {
    // Gateway tokens live 20 s, inside the app's 30 s refresh margin: every
    // page view refreshes.
    let app = start_with(None, Some(20)).await;
    let session = sign_in(&app).await;
    for view in 0..3 {
        let hits = app.issuer.token_hits();
        let page = http()
            .get(&app.url)
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("id=\"user\">alice<"), "view {view}: {page}");
        // One refresh each time, with the rotated refresh token (the
        // issuer's reuse detection would end the session otherwise).
        assert_eq!(app.issuer.token_hits(), hits + 1, "view {view}");
    }
    // Sign-out revokes the refresh token: the session is gone, and a
    // revocation reached the issuer.
    let revocations = app.issuer.revocation_hits();
    let res = http()
        .post(format!("{}/logout", app.url))
        .header("cookie", &session)
        .header("origin", &app.url)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.issuer.revocation_hits(), revocations + 1);
    let page = http()
        .get(&app.url)
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("not signed in"), "{page}");
}
