//! Metrics (#15 item 3), read back from a real recorder (the Prometheus
//! exporter the example installs): every series exported at 0 from the
//! start, then each outcome counted once per request over real HTTP, the
//! cache, JWKS fetches per issuer, introspection, an outbound token request
//! and, with Redis, the revocation store gauge.
//!
//! One test: the recorder is global to this process.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use warden::inbound::TokenValidator;
use warden::outbound::TokenContext;
use warden::outbound::TokenSource;
use warden::{JwtValidator, RequireBearerLayer, RequireScopeLayer};
use warden_issuer::TestIssuer;
use warden_tests::get_bearer;

/// `name{labels}` → value, from the exposition text.
fn samples(handle: &PrometheusHandle) -> BTreeMap<String, f64> {
    // The hot-path tallies, published now (else within a second).
    warden::metrics::flush();
    handle
        .render()
        .lines()
        .filter(|l| l.starts_with("warden_"))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn value(handle: &PrometheusHandle, key: &str) -> f64 {
    samples(handle).get(key).copied().unwrap_or(f64::NAN)
}

fn outcome(o: &str) -> String {
    format!("warden_auth_requests_total{{outcome=\"{o}\"}}")
}

#[tokio::test]
async fn every_series_from_the_start_and_each_outcome_once() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    warden::metrics::register();

    // Exported at 0 before anything happened.
    let start = samples(&handle);
    let mut at_zero = vec![
        "warden_token_cache_hits_total".to_owned(),
        "warden_token_cache_misses_total".to_owned(),
        "warden_revocation_store_ready".to_owned(),
        "warden_auth_duration_seconds_count".to_owned(),
    ];
    at_zero.extend(
        [
            "allowed",
            "unauthenticated",
            "forbidden",
            "invalid_request",
            "unavailable",
        ]
        .map(outcome),
    );
    at_zero.extend(
        ["active", "inactive", "error"]
            .map(|r| format!("warden_introspections_total{{result=\"{r}\"}}")),
    );
    for grant in warden::metrics::GRANTS {
        for result in ["ok", "error"] {
            at_zero.push(format!(
                "warden_outbound_token_requests_total{{grant=\"{grant}\",result=\"{result}\"}}"
            ));
        }
    }
    for key in &at_zero {
        assert_eq!(start.get(key), Some(&0.0), "{key} at 0 in:\n{start:#?}");
    }

    let issuer = TestIssuer::start_dev().await.unwrap();
    let v = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
    let jwks = |result: &str| {
        format!(
            "warden_jwks_fetches_total{{issuer=\"{}\",result=\"{result}\"}}",
            issuer.issuer()
        )
    };
    // The issuer's series exist once its validator is built.
    assert!(samples(&handle).contains_key(&jwks("ok")));

    // Keys that can never be fetched: every token is 503.
    let dead = JwtValidator::builder()
        .issuer("http://127.0.0.1:1/dead")
        .audience("api://orders")
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/write",
            get(|| async { "written" })
                .route_layer(RequireScopeLayer::all(["orders:write"]))
                .route_layer(RequireBearerLayer::new(v.clone())),
        )
        .route(
            "/read",
            get(|| async { "read" }).route_layer(RequireBearerLayer::new(v.clone())),
        )
        .route(
            "/dead",
            get(|| async { "never" }).route_layer(RequireBearerLayer::new(dead)),
        );
    let base = format!("http://{}", warden_tests::serve(app).await);
    let token = issuer.mint(&issuer.claims("api://orders")).unwrap();

    // allowed, twice: a miss then a hit.
    assert_eq!(
        get_bearer(&format!("{base}/read"), &token).await.status,
        200
    );
    assert_eq!(
        get_bearer(&format!("{base}/read"), &token).await.status,
        200
    );
    // forbidden: authenticated inside the scope check; counted once.
    assert_eq!(
        get_bearer(&format!("{base}/write"), &token).await.status,
        403
    );
    // unauthenticated: no token, and a bad one.
    assert_eq!(
        warden_tests::get(&format!("{base}/read"), &[]).await.status,
        401
    );
    assert_eq!(
        get_bearer(&format!("{base}/read"), "e30.e30.c2ln")
            .await
            .status,
        401
    );
    // invalid_request: two credentials.
    let auth = format!("Bearer {token}");
    let two = [
        ("authorization", auth.as_str()),
        ("authorization", auth.as_str()),
    ];
    assert_eq!(
        warden_tests::get(&format!("{base}/read"), &two)
            .await
            .status,
        400
    );
    // unavailable.
    let mut claims = issuer.claims("api://orders");
    claims["iss"] = "http://127.0.0.1:1/dead".into();
    let for_dead = issuer.mint(&claims).unwrap();
    assert_eq!(
        get_bearer(&format!("{base}/dead"), &for_dead).await.status,
        503
    );

    let s = samples(&handle);
    for (o, n) in [
        ("allowed", 2.0),
        ("forbidden", 1.0),
        ("unauthenticated", 2.0),
        ("invalid_request", 1.0),
        ("unavailable", 1.0),
    ] {
        assert_eq!(s.get(&outcome(o)), Some(&n), "{o}: {s:#?}");
    }
    // /read: a miss, then a hit; /write: a hit (its layer owns its own
    // verdicts, so its first lookup is a miss); the bad token and /dead miss.
    assert_eq!(s["warden_token_cache_hits_total"], 1.0, "{s:#?}");
    assert_eq!(s["warden_token_cache_misses_total"], 4.0, "{s:#?}");
    assert_eq!(s["warden_auth_duration_seconds_count"], 4.0, "{s:#?}");
    assert_eq!(s[&jwks("ok")], 1.0);
    assert_eq!(s[&jwks("error")], 0.0);
    let dead_errors =
        "warden_jwks_fetches_total{issuer=\"http://127.0.0.1:1/dead\",result=\"error\"}";
    assert!(s[dead_errors] >= 1.0, "{s:#?}");

    // Introspection: one active, one inactive.
    let introspect = warden_tests::introspection(
        &issuer.introspection_url(),
        warden_tests::RS_LEDGER,
        issuer.issuer(),
        "api://ledger",
    )
    .cache_max_age(Duration::ZERO)
    .build()
    .unwrap();
    let opaque = warden_tests::batch_token(&issuer.token_url(), &[("scope", "ledger:read")]).await;
    assert!(introspect.validate(&opaque).await.is_ok());
    assert!(introspect.validate("not-a-token").await.is_err());
    let r = |r: &str| {
        value(
            &handle,
            &format!("warden_introspections_total{{result=\"{r}\"}}"),
        )
    };
    assert_eq!((r("active"), r("inactive"), r("error")), (1.0, 1.0, 0.0));

    // An outbound client-credentials request, and a refused one.
    let ok = warden_tests::cc_source(issuer.issuer(), warden_tests::BATCH, "api://orders");
    assert!(ok.token(&TokenContext::default()).await.is_ok());
    let refused = warden_tests::cc_source(issuer.issuer(), ("svc-batch", "wrong"), "api://orders");
    assert!(refused.token(&TokenContext::default()).await.is_err());
    let cc = |r: &str| {
        value(
            &handle,
            &format!(
                "warden_outbound_token_requests_total{{grant=\"client_credentials\",result=\"{r}\"}}"
            ),
        )
    };
    // The batch_token above was a plain HTTP request, not a token source.
    assert_eq!((cc("ok"), cc("error")), (1.0, 1.0));

    // The revocation store gauge, when a Redis is there (CI has one).
    match warden_tests::redis_url() {
        Some(url) => {
            use warden::revocation::redis::{RedisConfig, RedisRevocationStore};
            let store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
            assert!(store.wait_until_ready(Duration::from_secs(5)).await);
            assert_eq!(value(&handle, "warden_revocation_store_ready"), 1.0);
        }
        None => eprintln!("revocation gauge not checked"),
    }
}
