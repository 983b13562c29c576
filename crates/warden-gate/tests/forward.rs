//! The forward-auth endpoint over real HTTP, against warden-issuer started
//! in-process on loopback.

use std::time::Duration;

mod common;

use common::{AUD, bearer as token, orders_config, serve_forward};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden_gate::{GateConfig, forward::Readiness};
use warden_issuer::{Algorithm, Mode, TestIssuer};

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts a refusal with `status` and the RFC 6750 `error` code.
    #[track_caller]
    fn assert_refused(&self, status: u16, code: &str) {
        let www = self.header("www-authenticate").unwrap_or_default();
        assert!(
            self.status == status && www.starts_with(&format!("Bearer error=\"{code}\"")),
            "{} {www}",
            self.status
        );
    }
}

/// Asks `/auth` about `method target` with these extra headers.
async fn ask(base: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let original = [("x-original-method", method), ("x-original-uri", target)];
    auth(base, reqwest::Method::GET, &[&original, headers].concat()).await
}

/// Calls `/auth` with `method` and exactly these headers.
async fn auth(base: &str, method: reqwest::Method, headers: &[(&str, &str)]) -> Answer {
    let mut req = reqwest::Client::new().request(method, format!("{base}/auth"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
    }
}

#[tokio::test]
async fn verdicts_and_their_headers() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, _parts) = serve_forward(&orders_config(&issuer, "")).await;
    let reader = token(&issuer, "orders:read", |_| {});
    let auth = |t: &str| [("authorization", t.to_owned())];

    // No token on a token route: 401 with the bare challenge.
    let a = ask(&base, "GET", "/orders/1", &[]).await;
    assert_eq!(
        (a.status, a.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));

    // A valid token with the scope: 200 and the identity headers.
    let [(k, v)] = auth(&reader);
    let a = ask(&base, "GET", "/orders/1?page=2", &[(k, &v)]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-auth-subject"), Some("alice"));
    assert_eq!(a.header("x-auth-client-id"), Some("web-app"));
    assert_eq!(a.header("x-auth-scopes"), Some("orders:read"));
    assert_eq!(
        a.header("x-auth-claims"),
        None,
        "claims only when configured"
    );

    // The write rule comes first for POST: 403 insufficient_scope with scope=.
    let a = ask(&base, "POST", "/orders/1", &[(k, &v)]).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.header("www-authenticate"),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:write""#
        )
    );

    // No route: 403 without a challenge (a token would not help).
    let a = ask(&base, "GET", "/admin/users", &[(k, &v)]).await;
    assert_eq!((a.status, a.header("www-authenticate")), (403, None));

    // A bad token, an expired one, one for another audience: 401 invalid_token.
    for (name, bad) in [
        ("garbage", "Bearer not.a.jwt".to_owned()),
        (
            "expired",
            token(&issuer, "orders:read", |c| {
                c["exp"] = json!(warden_issuer::now_secs() - 3600)
            }),
        ),
        (
            "audience",
            token(&issuer, "orders:read", |c| c["aud"] = json!("api://other")),
        ),
    ] {
        println!("{name}");
        let a = ask(&base, "GET", "/orders/1", &[("authorization", &bad)]).await;
        a.assert_refused(401, "invalid_token");
    }

    // Two Authorization headers: 400 invalid_request.
    let a = ask(&base, "GET", "/orders/1", &[(k, &v), (k, &v)]).await;
    a.assert_refused(400, "invalid_request");
}

#[tokio::test]
async fn anonymous_routes_and_spoofed_identity() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, _parts) = serve_forward(&orders_config(&issuer, "")).await;
    // No token: allowed, identity headers present and empty, so the proxy
    // that copies them overwrites whatever the client sent.
    let a = ask(&base, "GET", "/public/x", &[("x-auth-subject", "root")]).await;
    assert_eq!(a.status, 200);
    for h in ["x-auth-subject", "x-auth-client-id", "x-auth-scopes"] {
        assert_eq!(a.header(h), Some(""), "{h}");
    }
    // A valid token on an anonymous route: its identity.
    let t = token(&issuer, "orders:read", |_| {});
    let a = ask(&base, "GET", "/public/x", &[("authorization", &t)]).await;
    assert_eq!((a.status, a.header("x-auth-subject")), (200, Some("alice")));
    // A bad token is still refused there.
    let forged = [("authorization", "Bearer x.y.z")];
    let a = ask(&base, "GET", "/public/x", &forged).await;
    assert_eq!(a.status, 401);
    // A subject that would break a header reaches the upstream encoded.
    let t = token(&issuer, "orders:read", |c| {
        c["sub"] = json!("eve\r\nx-auth-subject: root")
    });
    let a = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
    assert_eq!(
        (a.status, a.header("x-auth-subject")),
        (200, Some("eve%0D%0Ax-auth-subject:%20root"))
    );
}

#[tokio::test]
async fn routes_match_the_normalized_path_only() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, _parts) = serve_forward(&orders_config(&issuer, "")).await;
    let ambiguous =
        r#"Bearer error="invalid_request", error_description="the request path is ambiguous""#;
    for (target, status, www) in [
        // Escapes from an anonymous prefix land on their real path: no route.
        ("/public/../admin/x", 403, None),
        ("/public/%2e%2e/admin/x", 403, None),
        ("/public/%2E%2E/admin/x", 403, None),
        ("/public/.%2e/admin/x", 403, None),
        ("//public/../admin", 403, None),
        // Spellings a router may read differently: 400 invalid_request.
        ("/public/..%2fadmin", 400, Some(ambiguous)),
        ("/public/%2F..%2Fadmin", 400, Some(ambiguous)),
        ("/public/..%5cadmin", 400, Some(ambiguous)),
        ("/public\\..\\admin", 400, Some(ambiguous)),
        ("/public/..;/admin", 400, Some(ambiguous)),
        ("/..", 400, Some(ambiguous)),
        ("/public/%zz", 400, Some(ambiguous)),
        ("public/x", 400, Some(ambiguous)),
        // Unreserved escapes and repeated slashes still reach their route.
        ("//public/%78", 200, None),
    ] {
        let a = ask(&base, "GET", target, &[]).await;
        assert_eq!(
            (a.status, a.header("www-authenticate")),
            (status, www),
            "{target}"
        );
    }
    // Host rules: the host comes from X-Forwarded-Host.
    let t = token(&issuer, "orders:read", |_| {});
    let h = [
        ("authorization", t.as_str()),
        ("x-forwarded-host", "reports.test:443"),
    ];
    assert_eq!(ask(&base, "GET", "/reports/1", &h).await.status, 200);
    let h = [
        ("authorization", t.as_str()),
        ("x-forwarded-host", "other.test"),
    ];
    assert_eq!(ask(&base, "GET", "/reports/1", &h).await.status, 403);
}

#[tokio::test]
async fn traefik_and_caddy_headers_and_a_misconfigured_proxy() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, _parts) = serve_forward(&orders_config(&issuer, "")).await;
    let t = token(&issuer, "orders:read orders:write", |_| {});
    let traefik = [
        ("x-forwarded-method", "DELETE"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "api.test"),
        ("x-forwarded-uri", "/orders/7"),
        ("authorization", t.as_str()),
    ];
    // Any method on /auth: the original one is in the headers.
    assert_eq!(
        auth(&base, reqwest::Method::POST, &traefik).await.status,
        200
    );
    // Without the original method the gate cannot apply method rules: 400.
    let no_method = [
        ("x-original-uri", "/orders/7"),
        ("authorization", t.as_str()),
    ];
    assert_eq!(
        auth(&base, reqwest::Method::GET, &no_method).await.status,
        400
    );
}

#[tokio::test]
async fn claims_header_and_readiness() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, _parts) = serve_forward(&orders_config(
        &issuer,
        "[identity]\nclaims = \"x-auth-claims\"\n",
    ))
    .await;
    let client = reqwest::Client::new();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let t = token(&issuer, "orders:read", |_| {});
    let a = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(a.header("x-auth-claims").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!([AUD]));
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["iss"], issuer.issuer());
}

#[tokio::test]
async fn keys_unavailable_is_503_and_not_ready() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    issuer.set_mode(Mode::Down);
    let config = orders_config(&issuer, "");
    let parts = warden_gate::Parts::new(&config).unwrap();
    let ready: Readiness = {
        let p = parts.clone();
        std::sync::Arc::new(move || p.is_ready())
    };
    assert!(!ready());
    let app = parts.forward_router(&config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let t = token(&issuer, "orders:read", |_| {});
    let a = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
    assert_eq!(a.status, 503, "keys unavailable is never an allow");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
}

#[tokio::test]
async fn opaque_tokens_by_introspection() {
    let issuer = warden_issuer::Issuer::start_dev().await.unwrap();
    let (id, secret) = warden_tests::RS_LEDGER;
    let (base, _parts) = serve_text(&format!(
        r#"
[[issuer]]
issuer = "{iss}"
audience = "api://ledger"
allow_http = true
[issuer.introspection]
endpoint = "{endpoint}"
client_id = "{id}"
client_secret = "{secret}"

[[route]]
path = "/ledger/"
scopes = ["ledger:read"]
"#,
        iss = issuer.issuer(),
        endpoint = issuer.introspection_url(),
    ))
    .await;
    let opaque = warden_tests::batch_token(&issuer.token_url(), &[("scope", "ledger:read")]).await;
    assert_eq!(opaque.split('.').count(), 1, "an opaque token");
    let bearer = format!("Bearer {opaque}");
    let a = ask(&base, "GET", "/ledger/1", &[("authorization", &bearer)]).await;
    assert_eq!(
        (a.status, a.header("x-auth-subject")),
        (200, Some("svc-batch"))
    );
    let unknown = [("authorization", "Bearer notatoken")];
    let a = ask(&base, "GET", "/ledger/1", &unknown).await;
    a.assert_refused(401, "invalid_token");
}

#[tokio::test]
async fn cache_off_still_decides() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (base, parts) = serve_forward(&orders_config(&issuer, "[cache]\nsize = 0\n")).await;
    assert!(parts.cache.is_none());
    let t = token(&issuer, "orders:read", |_| {});
    for _ in 0..3 {
        assert_eq!(
            ask(&base, "GET", "/orders/1", &[("authorization", &t)])
                .await
                .status,
            200
        );
    }
}

/// Fleet revocation through the gate: a token revoked at the issuer, which
/// publishes to Redis, is refused by the gate (needs WARDEN_TEST_REDIS_URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_at_the_issuer_is_refused_by_the_gate() {
    let Some(url) = warden_tests::redis_url() else {
        return;
    };
    use warden::revocation::redis::{RedisConfig, RedisRevocationStore};
    let store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
    let issuer = warden_issuer::Issuer::builder(warden_issuer::IssuerConfig::dev())
        .revocation_store(std::sync::Arc::new(store))
        .start()
        .await
        .unwrap();
    let (base, parts) = serve_text(&format!(
        "[[issuer]]\nissuer = \"{}\"\naudience = \"{AUD}\"\nallow_http = true\n\n[[route]]\npath = \"/orders/\"\nscopes = [\"orders:read\"]\n\n[redis]\nurl = \"{url}\"\n",
        issuer.issuer()
    ))
    .await;
    let redis = parts.redis.clone().unwrap();
    for _ in 0..100 {
        if redis.status().ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        redis.status().ready,
        "the gate's revocation list never became ready"
    );
    let jwt = warden_tests::batch_token(&issuer.token_url(), &[("resource", AUD)]).await;
    let bearer = format!("Bearer {jwt}");
    let a = ask(&base, "GET", "/orders/1", &[("authorization", &bearer)]).await;
    assert_eq!(a.status, 200, "cached as allowed first");
    assert_eq!(
        warden_tests::revoke(&issuer.revocation_url(), warden_tests::BATCH, &jwt).await,
        200
    );
    let start = std::time::Instant::now();
    loop {
        let a = ask(&base, "GET", "/orders/1", &[("authorization", &bearer)]).await;
        if a.status == 401 {
            assert_eq!(
                a.header("www-authenticate"),
                Some(
                    r#"Bearer error="invalid_token", error_description="the token has been revoked""#
                )
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the revoked token was still allowed after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The gate for the configuration `text`.
async fn serve_text(text: &str) -> (String, warden_gate::Parts) {
    serve_forward(&GateConfig::parse(text, |_| None).unwrap()).await
}

/// Two `[[issuer]]` sections: tokens of each are decided by their own
/// keys; a third issuer's token is refused and its keys never fetched.
#[tokio::test]
async fn several_issuers_in_one_gate() {
    let a = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let b = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    let stranger = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let extra = format!(
        "[[issuer]]\nissuer = \"{}\"\naudience = \"{AUD}\"\njwks_url = \"{}\"\nallow_http = true\n",
        b.issuer(),
        b.jwks_url()
    );
    let config = orders_config(&a, &extra);
    assert_eq!(config.issuers.len(), 2);
    let (base, parts) = serve_forward(&config).await;
    assert!(parts.is_ready(), "ready once both key sets are loaded");
    for issuer in [&a, &b] {
        let t = token(issuer, "orders:read", |_| {});
        let ans = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
        assert_eq!(ans.status, 200, "{}", issuer.issuer());
        // Still its own scopes: the write route refuses both.
        let ans = ask(&base, "POST", "/orders/1", &[("authorization", &t)]).await;
        ans.assert_refused(403, "insufficient_scope");
    }
    let t = token(&stranger, "orders:read orders:write", |_| {});
    let ans = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
    ans.assert_refused(401, "invalid_token");
    assert_eq!(stranger.jwks_hits() + stranger.discovery_hits(), 0);
    // A's key signing a token that claims B.
    let t = token(&a, "orders:read", |c| c["iss"] = json!(b.issuer()));
    let ans = ask(&base, "GET", "/orders/1", &[("authorization", &t)]).await;
    ans.assert_refused(401, "invalid_token");
}
