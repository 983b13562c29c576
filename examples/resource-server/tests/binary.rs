//! Runs the `resource-server` binary as a user would: configured only by
//! environment, pointed at a warden-issuer that serves RS256, PS256, ES256
//! and EdDSA keys.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use warden_issuer::TestIssuer;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(envs: &[(&str, &str)]) -> (Server, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_resource-server"));
    cmd.env_clear()
        .env("WARDEN_BIND", "127.0.0.1:0")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn resource-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    (Server(child), format!("http://{addr}"))
}

async fn get(url: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, www, res.text().await.unwrap_or_default())
}

/// Waits (at most 5 s) until `/healthz` says every key set is loaded.
async fn wait_ready(base: &str) {
    for _ in 0..100 {
        if get(&format!("{base}/healthz"), None).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("healthz never became ready");
}

#[tokio::test]
async fn binary_serves_every_algorithm_and_refuses_bad_tokens() {
    let issuer = TestIssuer::start_with(&warden_issuer::EVERY_FAMILY)
        .await
        .unwrap();
    let (_server, base) = spawn(&[
        ("WARDEN_ISSUER", issuer.issuer()),
        ("WARDEN_AUDIENCE", "api://orders"),
        ("WARDEN_ALLOW_HTTP", "1"),
        ("WARDEN_SCOPE", "orders:write"),
    ]);
    wait_ready(&base).await;
    assert_eq!(get(&format!("{base}/public"), None).await.0, 200);

    for kid in ["RS256-1", "PS256-1", "ES256-1", "EdDSA-1"] {
        let key = issuer.key(kid).unwrap();
        let mut claims = issuer.claims("api://orders");
        claims["scope"] = json!("orders:read orders:write");
        let token = issuer.mint_with(&key, &claims).unwrap();
        let (status, _, body) = get(&format!("{base}/protected"), Some(&token)).await;
        assert_eq!(status, 200, "{kid}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["sub"], "alice");
        assert_eq!(body["scopes"], json!(["orders:read", "orders:write"]));
        assert_eq!(
            get(&format!("{base}/scoped"), Some(&token)).await.0,
            200,
            "{kid}"
        );

        let mut narrow = issuer.claims("api://orders");
        narrow["scope"] = json!("orders:read");
        // Every challenge points at the RFC 9728 document (WARDEN_PUBLIC_URL
        // defaults to the bound address).
        let pointer =
            format!(r#", resource_metadata="{base}/.well-known/oauth-protected-resource""#);
        for (path, claims, status, challenge) in [
            // The same key without the scope WARDEN_SCOPE names.
            (
                "/scoped",
                narrow,
                403,
                r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:write""#,
            ),
            // Wrong audience, signed by the same key.
            (
                "/protected",
                issuer.claims("api://other"),
                401,
                r#"Bearer error="invalid_token", error_description="the token audience is not accepted""#,
            ),
        ] {
            let token = issuer.mint_with(&key, &claims).unwrap();
            let (got, www, _) = get(&format!("{base}{path}"), Some(&token)).await;
            let want = format!("{challenge}{pointer}");
            assert_eq!(
                (got, www.as_deref()),
                (status, Some(want.as_str())),
                "{kid}"
            );
        }
    }
    let (status, www, _) = get(&format!("{base}/protected"), None).await;
    let bare = format!(r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource""#);
    assert_eq!((status, www.as_deref()), (401, Some(bare.as_str())));

    // The document: this server as the resource, the issuer, the scope.
    let res = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(doc["resource"], base.as_str());
    assert_eq!(doc["authorization_servers"], json!([issuer.issuer()]));
    assert_eq!(doc["scopes_supported"], json!(["orders:write"]));
}

#[tokio::test]
async fn a_public_url_names_the_resource_and_its_document() {
    let issuer = TestIssuer::start().await.unwrap();
    let (_server, base) = spawn(&[
        ("WARDEN_ISSUER", issuer.issuer()),
        ("WARDEN_AUDIENCE", "api://orders"),
        ("WARDEN_ALLOW_HTTP", "1"),
        ("WARDEN_PUBLIC_URL", "https://orders.example.com/api"),
    ]);
    // Behind a proxy the document lives under the public path.
    let url = format!("{base}/.well-known/oauth-protected-resource/api");
    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["resource"], "https://orders.example.com/api");
    let (_, www, _) = get(&format!("{base}/protected"), None).await;
    assert_eq!(
        www.as_deref(),
        Some(
            r#"Bearer resource_metadata="https://orders.example.com/.well-known/oauth-protected-resource/api""#
        )
    );
}

#[tokio::test]
async fn binary_starts_while_the_issuer_is_down() {
    // A port with nothing listening: connection refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let issuer = format!("http://{dead}");
    let (_server, base) = spawn(&[
        ("WARDEN_ISSUER", &issuer),
        ("WARDEN_AUDIENCE", "api://orders"),
        ("WARDEN_ALLOW_HTTP", "1"),
    ]);
    assert_eq!(get(&format!("{base}/healthz"), None).await.0, 503);
    assert_eq!(get(&format!("{base}/public"), None).await.0, 200);
    assert_eq!(
        get(&format!("{base}/protected"), Some("a.b.c")).await.0,
        401
    );
}

#[test]
fn binary_refuses_to_start_without_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARDEN_ISSUER is required"));
    let out = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .env_clear()
        .env("WARDEN_ISSUER", "http://127.0.0.1:1")
        .env("WARDEN_AUDIENCE", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("allow_http"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `WARDEN_ISSUER` with two issuers (the second's keys named by
/// `WARDEN_JWKS_URL`, one URL per issuer), and a third it does not trust.
#[tokio::test]
async fn two_issuers_from_the_environment() {
    let a = TestIssuer::start().await.unwrap();
    let b = TestIssuer::start_with(&[warden_issuer::Algorithm::ES256])
        .await
        .unwrap();
    let stranger = TestIssuer::start().await.unwrap();
    let issuers = format!("{},{}", a.issuer(), b.issuer());
    let urls = format!("{}, {}", a.jwks_url(), b.jwks_url());
    let (_server, base) = spawn(&[
        ("WARDEN_ISSUER", issuers.as_str()),
        ("WARDEN_JWKS_URL", urls.as_str()),
        ("WARDEN_AUDIENCE", "api://orders"),
        ("WARDEN_ALLOW_HTTP", "1"),
    ]);
    wait_ready(&base).await;
    for issuer in [&a, &b] {
        let token = issuer.mint(&issuer.claims("api://orders")).unwrap();
        let (status, _, body) = get(&format!("{base}/protected"), Some(&token)).await;
        assert_eq!(status, 200);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["iss"], issuer.issuer());
    }
    let token = stranger.mint(&stranger.claims("api://orders")).unwrap();
    let (status, www, _) = get(&format!("{base}/protected"), Some(&token)).await;
    assert_eq!(status, 401);
    assert!(
        www.unwrap()
            .contains(r#"error_description="the token issuer is not accepted""#)
    );
    assert_eq!(stranger.jwks_hits() + stranger.discovery_hits(), 0);
    // Discovery was never used: the JWKS URLs were given.
    assert_eq!(a.discovery_hits() + b.discovery_hits(), 0);
    let res = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(
        doc["authorization_servers"],
        json!([a.issuer(), b.issuer()])
    );

    // GET /metrics: Prometheus text, every series from the start, each
    // issuer's key fetches under its own label.
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"warden_auth_requests_total{outcome="allowed"} 2"#,
        r#"warden_auth_requests_total{outcome="unauthenticated"} 1"#,
        r#"warden_auth_requests_total{outcome="forbidden"} 0"#,
        r#"warden_introspections_total{result="error"} 0"#,
        "warden_token_cache_misses_total 3",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    for issuer in [&a, &b] {
        let ok = format!(
            r#"warden_jwks_fetches_total{{issuer="{}",result="ok"}} 1"#,
            issuer.issuer()
        );
        assert!(text.lines().any(|l| l == ok), "{ok} in:\n{text}");
    }

    // One URL for two issuers is a configuration error, named at start.
    let out = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .env_clear()
        .env("WARDEN_BIND", "127.0.0.1:0")
        .env("WARDEN_ISSUER", &issuers)
        .env("WARDEN_JWKS_URL", a.jwks_url())
        .env("WARDEN_AUDIENCE", "api://orders")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARDEN_JWKS_URL has 1 URL(s) for 2 issuer(s)"),
        "{err}"
    );
}

/// `WARDEN_DPOP=require`: the metadata says so, a bound token works with
/// its key's proof (made for `WARDEN_PUBLIC_URL`), a Bearer token is
/// refused with the DPoP challenge; a bad value stops the start.
#[tokio::test]
async fn dpop_required_from_the_environment() {
    use warden::inbound::jwt::dpop::{DpopKey, thumbprint};
    let issuer = TestIssuer::start().await.unwrap();
    let (_server, base) = spawn(&[
        ("WARDEN_ISSUER", issuer.issuer()),
        ("WARDEN_AUDIENCE", "api://orders"),
        ("WARDEN_ALLOW_HTTP", "1"),
        ("WARDEN_DPOP", "require"),
    ]);
    wait_ready(&base).await;
    let res = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(doc["dpop_bound_access_tokens_required"], true);
    assert!(
        doc["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );

    let key = DpopKey::generate().unwrap();
    let mut claims = issuer.claims("api://orders");
    claims["cnf"] = json!({"jkt": key.thumbprint()});
    let token = issuer.mint(&claims).unwrap();
    let url = format!("{base}/protected");
    let proof = key.sign_proof("GET", &url, Some(&token)).unwrap();
    let res = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let plain = issuer.mint(&issuer.claims("api://orders")).unwrap();
    let (status, www, _) = get(&url, Some(&plain)).await;
    assert_eq!(status, 401);
    assert!(www.unwrap().starts_with("DPoP algs="));
    assert!(thumbprint(&json!({"kty": "EC"})).is_none());

    let out = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .env_clear()
        .env("WARDEN_ISSUER", issuer.issuer())
        .env("WARDEN_AUDIENCE", "api://orders")
        .env("WARDEN_DPOP", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARDEN_DPOP is allow, require or off"));
}
