//! The browser half (#17) in a real browser: headless Chromium from the
//! distribution's packages, driven through Debian's chromedriver with
//! fantoccini. The demo runs (issuer, gateway, orders, inventory) with the
//! web app on a port of this test's own, and a person's steps are taken in
//! the browser: sign in as alice and consent, land back signed in with her
//! name and the gateway's answer; a wrong password; deny; sign out, after
//! which the old session cookie no longer works; and a page of another
//! origin framing the sign-in page, which the browser refuses.
//!
//! Chromium and chromedriver are installed with apt-get when missing. Under
//! CI (`CI` set) or with `WARDEN_TEST_BROWSER=1` a browser that cannot be
//! installed or started fails the test; otherwise the test says it was
//! skipped. Screenshots of every page go to `target/screenshots/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use microservices_demo::{Demo, Options};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var("WARDEN_TEST_BROWSER").is_ok_and(|v| v == "1")
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use warden_tests::free_port;

/// Chromium and chromedriver, installed when missing; `None` when they
/// cannot be had and the test is not required.
fn start_driver() -> Option<Driver> {
    let need = required();
    let why = "CI or WARDEN_TEST_BROWSER=1";
    warden_tests::ensure_installed("chromium", &["chromium", "chromium-driver"], need, why)?;
    let bin = warden_tests::ensure_installed("chromedriver", &["chromium-driver"], need, why)?;
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not answer");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=760,900",
    ];
    if running_as_root() {
        args.push("--no-sandbox");
    }
    let caps = json!({
        "goog:chromeOptions": {
            "binary": warden_tests::on_path("chromium").unwrap(),
            "args": args,
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, id: &str) -> String {
    let found = c.wait().at_most(WAIT).for_element(Locator::Id(id)).await;
    match found {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => panic!(
            "#{id} never appeared on {:?}: {e}",
            c.current_url().await.map(|u| u.to_string())
        ),
    }
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
        .click()
        .await
        .unwrap();
}

async fn type_into(c: &Client, id: &str, text: &str) {
    let field = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// From the web app's home page to the issuer's sign-in page.
async fn to_sign_in(c: &Client, web: &str) {
    c.goto(web).await.unwrap();
    click(c, "a.button[href='/login']").await;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("password"))
        .await
        .expect("the issuer's sign-in page");
}

/// Starts the demo with the web app on a port of its own; the web app's URL.
async fn start_demo() -> (Demo, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = format!("http://{}", listener.local_addr().unwrap());
    let demo = Demo::start(&Options {
        web_app_url: Some(web.clone()),
        ..Options::default()
    })
    .await
    .unwrap();
    let config = demo.web_app(&web);
    tokio::spawn(example_web_app::serve(listener, config));
    (demo, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_consents_is_denied_and_signs_out_in_a_real_browser() {
    let Some(driver) = start_driver() else {
        return;
    };
    let (demo, web) = start_demo().await;
    let c = browser(&driver).await;
    let version = c
        .execute("return navigator.userAgent", vec![])
        .await
        .unwrap();
    println!("browser: {version}");

    // Signed out at first.
    c.goto(&web).await.unwrap();
    assert!(text_of(&c, "message").await.contains("not signed in"));
    shot(&c, "1-web-app-signed-out").await;

    // To the issuer: the sign-in and consent page.
    to_sign_in(&c, &web).await;
    let url = c.current_url().await.unwrap();
    assert!(url.as_str().starts_with(demo.issuer.issuer()), "{url}");
    let page = c.source().await.unwrap();
    for needle in ["Orders web app", "See your orders", "api://gateway"] {
        assert!(page.contains(needle), "{needle}");
    }
    shot(&c, "2-sign-in").await;

    // A wrong password: the same page with the error, nothing said about
    // which of the two was wrong.
    type_into(&c, "username", "alice").await;
    type_into(&c, "password", "not-her-password").await;
    click(&c, "button[value=allow]").await;
    let error = text_of(&c, "error").await;
    assert!(error.contains("do not match"), "{error}");
    shot(&c, "3-wrong-password").await;

    // The right one, at once: back at the web app, signed in as alice,
    // with the gateway's answer (the gateway called orders, which called
    // inventory over gRPC, each with its own token).
    type_into(&c, "password", "alice-password").await;
    click(&c, "button[value=allow]").await;
    assert_eq!(text_of(&c, "user").await, "alice");
    assert!(c.current_url().await.unwrap().as_str().starts_with(&web));
    assert_eq!(text_of(&c, "gateway-status").await, "200");
    let answer = text_of(&c, "gateway").await;
    assert!(answer.contains("apple"), "{answer}");
    assert_eq!(text_of(&c, "scope").await, "orders:read orders:write");
    shot(&c, "4-signed-in").await;

    // The session cookie: HttpOnly, SameSite=Lax; no token in the browser.
    let session = c
        .get_named_cookie(example_web_app::SESSION_COOKIE)
        .await
        .unwrap();
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax")
    );
    let stale = session.value().to_owned();
    for cookie in c.get_all_cookies().await.unwrap() {
        assert!(cookie.value().len() < 100, "{}", cookie.name());
    }

    // Sign out: the old cookie no longer opens a session.
    click(&c, "header button").await;
    let message = text_of(&c, "message").await;
    assert!(message.contains("signed out"), "{message}");
    shot(&c, "5-signed-out").await;
    let http = reqwest::Client::new();
    let page = http
        .get(&web)
        .header(
            "cookie",
            format!("{}={stale}", example_web_app::SESSION_COOKIE),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("not signed in"), "{page}");
    assert!(!page.contains("id=\"user\""), "{page}");

    // Deny: the web app says so, and nobody is signed in.
    to_sign_in(&c, &web).await;
    click(&c, "button[value=deny]").await;
    let message = text_of(&c, "message").await;
    assert!(message.contains("Access was denied"), "{message}");
    assert!(message.contains("not signed in"), "{message}");
    assert!(c.current_url().await.unwrap().as_str().starts_with(&web));
    shot(&c, "6-denied").await;

    framing_is_refused(&c, &demo, &web).await;
    c.close().await.unwrap();
}

/// A page of another origin frames the issuer's sign-in page and the web
/// app: the browser shows neither. The same page framing a page that
/// allows it shows that one (the check can tell).
async fn framing_is_refused(c: &Client, demo: &Demo, web: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other: SocketAddr = listener.local_addr().unwrap();
    let control_origin = format!("http://localhost:{}", other.port());
    let sign_in = format!(
        "{}?response_type=code&client_id=web-app&redirect_uri={}&scope=orders:read&state=f&code_challenge={}&code_challenge_method=S256",
        demo.issuer.authorize_url(),
        format_args!("{web}/callback")
            .to_string()
            .replace(':', "%3A")
            .replace('/', "%2F"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
    let frame = |src: String| {
        Html(format!(
            "<!doctype html><iframe id=\"f\" src=\"{src}\" width=600 height=500></iframe>"
        ))
    };
    let app = Router::new()
        .route(
            "/issuer",
            get(move || async move { frame(sign_in.clone()) }),
        )
        .route("/web", {
            let web = web.to_owned();
            get(move || async move { frame(web.clone()) })
        })
        .route("/control", {
            let origin = control_origin.clone();
            get(move || async move { frame(format!("{origin}/framable")) })
        })
        .route(
            "/framable",
            get(|| async { Html("<!doctype html><main><p>a page that may be framed</p></main>") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let framer = format!("http://127.0.0.1:{}", other.port());
    // What the frame holds once the page has loaded: whether a page's
    // `main` is in it (the sign-in page, the web app and the control page
    // each have one; a refused frame's error page has none).
    let shows_a_form = |path: &'static str| {
        let url = format!("{framer}{path}");
        async move {
            c.goto(&url).await.unwrap();
            let deadline = Instant::now() + WAIT;
            loop {
                let done = c
                    .execute("return document.readyState", vec![])
                    .await
                    .unwrap();
                if done == "complete" || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Give a refused frame's error page a moment, then look inside.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let frame = c.find(Locator::Id("f")).await.unwrap();
            frame.enter_frame().await.unwrap();
            let inside = c
                .execute("return document.querySelector('main') !== null", vec![])
                .await
                .unwrap();
            c.enter_parent_frame().await.unwrap();
            inside == true
        }
    };
    assert!(
        shows_a_form("/control").await,
        "a framable page of another origin shows in the frame"
    );
    shot(c, "7-framing-control").await;
    assert!(
        !shows_a_form("/issuer").await,
        "the sign-in page must not show inside another origin's frame"
    );
    shot(c, "8-framing-refused").await;
    assert!(
        !shows_a_form("/web").await,
        "the web app must not show inside another origin's frame"
    );
}
