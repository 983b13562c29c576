//! Through real proxies over loopback: nginx (`auth_request`, with the
//! shipped `examples/gate/nginx.conf`) and Caddy (`forward_auth`, with the
//! shipped `examples/gate/Caddyfile`) in front of an upstream that echoes
//! the headers it received, and warden-gate in-process.
//!
//! nginx and Caddy come from the distribution's packages: when one is
//! missing the test installs it (as root, with apt-get). With
//! `WARDEN_TEST_PROXIES=1` (set by `.ci/run`) a proxy that cannot be
//! installed or started fails the test; without it the test says it was
//! skipped and passes, so `cargo test` works on a machine without them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::any;
use serde_json::{Value, json};
use warden_gate::GateConfig;
use warden_issuer::{Algorithm, Mode, TestIssuer};

mod common;

use common::bearer;

fn required() -> bool {
    std::env::var("WARDEN_TEST_PROXIES").is_ok_and(|v| v == "1")
}

/// The proxy's binary, installed from the distribution when missing;
/// `None` (the test is skipped) only when not required.
fn ensure(bin: &str, package: &str) -> Option<PathBuf> {
    warden_tests::ensure_installed(bin, &[package], required(), "WARDEN_TEST_PROXIES=1")
}

use warden_tests::free_port;

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts `cmd` (output discarded) and waits, at most 10 s, until
/// something answers HTTP on `port`.
async fn launch(cmd: &mut Command, port: u16, name: &str) -> (Running, u16) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
    let mut running = Running(child);
    let start = Instant::now();
    loop {
        if reqwest::get(format!("http://127.0.0.1:{port}/public/"))
            .await
            .is_ok()
        {
            return (running, port);
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("{name} exited at start: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The upstream: every request answers 200 with the headers it got.
async fn echo() -> u16 {
    let app = Router::new().fallback(any(|headers: HeaderMap| async move {
        let map: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| {
                // Never a whole token in a failure message.
                let v = if k == "authorization" {
                    "<present>"
                } else {
                    v.to_str().unwrap_or("?")
                };
                (k.as_str().to_owned(), json!(v))
            })
            .collect();
        axum::Json(Value::Object(map))
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    port
}

/// The gate for `issuer` on a loopback port.
async fn gate(issuer: &TestIssuer) -> u16 {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/gate/gate.toml"
    ))
    .unwrap()
    .replace("http://127.0.0.1:9000", issuer.issuer());
    let config = GateConfig::parse(&text, |_| None).unwrap();
    let parts = warden_gate::Parts::new(&config).unwrap();
    let app = parts.forward_router(&config);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await });
    port
}

/// A shipped example file with its fixed ports replaced.
fn example(name: &str, listen: u16, gate: u16, upstream: u16) -> String {
    std::fs::read_to_string(format!(
        "{}/../../examples/gate/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("127.0.0.1:8080", &format!("127.0.0.1:{listen}"))
    .replace("127.0.0.1:8181", &format!("127.0.0.1:{gate}"))
    .replace("127.0.0.1:3000", &format!("127.0.0.1:{upstream}"))
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("warden-gate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(d.join("logs")).unwrap();
    d
}

async fn start_nginx(bin: &Path, gate: u16, upstream: u16) -> (Running, u16) {
    let dir = workdir("nginx");
    let listen = free_port();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{site}\n}}\n",
        d = dir.display(),
        site = example("nginx.conf", listen, gate, upstream),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    launch(
        Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log")),
        listen,
        "nginx",
    )
    .await
}

async fn start_caddy(bin: &Path, gate: u16, upstream: u16) -> (Running, u16) {
    let dir = workdir("caddy");
    let listen = free_port();
    let file = dir.join("Caddyfile");
    std::fs::write(&file, example("Caddyfile", listen, gate, upstream)).unwrap();
    launch(
        Command::new(bin)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir),
        listen,
        "caddy",
    )
    .await
}

struct Got {
    status: u16,
    www: Option<String>,
    upstream: Option<Value>,
}

async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        www.len() <= 1,
        "WWW-Authenticate sent {} times: {www:?}",
        www.len()
    );
    let body = res.text().await.unwrap();
    Got {
        status,
        www: www.into_iter().next(),
        upstream: (status == 200).then(|| serde_json::from_str(&body).unwrap()),
    }
}

/// The same verdicts through any proxy in front of the gate; the gate's
/// 400 reaches the client as `ambiguous`.
async fn verdicts_through(port: u16, issuer: &TestIssuer, name: &str, ambiguous: u16) {
    let no = get(port, "/orders/1", &[]).await;
    assert_eq!(
        (no.status, no.www.as_deref()),
        (401, Some("Bearer")),
        "{name}"
    );

    let reader = bearer(issuer, "orders:read", |_| {});
    let spoof = ("x-auth-subject", "root");
    let ok = get(port, "/orders/1", &[("authorization", &reader), spoof]).await;
    assert_eq!(ok.status, 200, "{name}");
    let up = ok.upstream.unwrap();
    assert_eq!(up["x-auth-subject"], "alice", "{name}: {up}");
    assert_eq!(up["x-auth-scopes"], "orders:read", "{name}: {up}");
    assert_eq!(up["x-auth-client-id"], "web-app", "{name}: {up}");

    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/orders/1"))
        .header("authorization", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(req.status(), 403, "{name}");
    let www = req.headers_mut().remove("www-authenticate");
    assert_eq!(
        www.as_ref().map(|v| v.to_str().unwrap()),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:write""#
        ),
        "{name}"
    );

    // Anonymous route: allowed, and a client's identity header never arrives.
    let anon = get(port, "/public/x", &[spoof]).await;
    assert_eq!(anon.status, 200, "{name}");
    let up = anon.upstream.unwrap();
    assert!(
        up.get("x-auth-subject").is_none_or(|v| v == ""),
        "{name}: a client-sent identity reached the upstream: {up}"
    );

    // An escape from the anonymous prefix is judged on its real path.
    let esc = get(port, "/public/%2e%2e/orders/1", &[]).await;
    assert_eq!(esc.status, 401, "{name}");
    let none = get(port, "/admin", &[("authorization", &reader)]).await;
    assert_eq!(none.status, 403, "{name}");
    let bad = get(port, "/public/..%2forders", &[]).await;
    assert_eq!(bad.status, ambiguous, "{name}");
}

/// The proxies under test.
#[derive(Clone, Copy)]
enum Proxy {
    Nginx,
    Caddy,
}

/// A gate for a fresh issuer (in `mode`) behind `proxy`, the proxy's
/// version printed; `None` when the proxy is not installed and not required.
async fn behind(proxy: Proxy, mode: Mode) -> Option<(TestIssuer, Running, u16)> {
    let (bin, version_arg) = match proxy {
        Proxy::Nginx => (ensure("nginx", "nginx-light")?, "-v"),
        Proxy::Caddy => (ensure("caddy", "caddy")?, "version"),
    };
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    issuer.set_mode(mode);
    let (gate, upstream) = (gate(&issuer).await, echo().await);
    let (running, port) = match proxy {
        Proxy::Nginx => start_nginx(&bin, gate, upstream).await,
        Proxy::Caddy => start_caddy(&bin, gate, upstream).await,
    };
    let v = Command::new(&bin).arg(version_arg).output().unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout).trim(),
        String::from_utf8_lossy(&v.stderr).trim()
    );
    Some((issuer, running, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request() {
    if let Some((issuer, _nginx, port)) = behind(Proxy::Nginx, Mode::Up).await {
        // nginx shows the gate's 400 (an ambiguous path) as 500.
        verdicts_through(port, &issuer, "nginx", 500).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth() {
    if let Some((issuer, _caddy, port)) = behind(Proxy::Caddy, Mode::Up).await {
        // Caddy passes the gate's own refusals through.
        verdicts_through(port, &issuer, "caddy", 400).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_is_a_server_error_through_nginx() {
    if let Some((issuer, _nginx, port)) = behind(Proxy::Nginx, Mode::Down).await {
        let t = bearer(&issuer, "orders:read", |_| {});
        let r = get(port, "/orders/1", &[("authorization", &t)]).await;
        assert!(r.status >= 500, "keys unavailable answered {}", r.status);
    }
}
