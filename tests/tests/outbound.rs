//! Outbound tokens against warden-issuer over loopback: single flight,
//! refresh ahead, outages, downstream refusals, token exchange, client
//! authentication methods, and a handler calling on behalf of its caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tower::{Service, ServiceBuilder, ServiceExt};
use warden::{
    AttachBearerLayer, Auth, BearerToken, JwtValidator, ManualClock, RequireBearerLayer,
    StoreCheck, TokenContext, TokenSource, TokenSourceError,
};
use warden_client::{CacheConfig, ClientAuth, ClientCredentials, TokenExchange};
use warden_issuer::{Issuer, IssuerConfig, Mode, SigningAlg, SigningKey, now_secs};
use warden_tests::serve;

fn batch(issuer: &Issuer, clock: Option<&ManualClock>, cache: CacheConfig) -> ClientCredentials {
    let mut b = ClientCredentials::builder()
        .issuer(issuer.issuer())
        .client_secret_basic("svc-batch", "svc-batch-secret")
        .resource("api://orders")
        .cache(cache)
        .allow_http();
    if let Some(c) = clock {
        b = b.clock(c.clone());
    }
    b.build().unwrap()
}

async fn settle(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ten_thousand_concurrent_calls_on_a_cold_cache_make_one_request() {
    let issuer = Issuer::start_dev().await.unwrap();
    let source = batch(&issuer, None, CacheConfig::default());
    let mut set = JoinSet::new();
    for _ in 0..10_000 {
        let s = source.clone();
        set.spawn(async move {
            s.token(&TokenContext::default())
                .await
                .map(|t| t.secret().to_owned())
        });
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(r) = set.join_next().await {
        tokens.insert(r.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(issuer.token_hits(), 1, "exactly one token request");
    assert_eq!(issuer.discovery_hits(), 1);
    let st = source.stats();
    assert_eq!(st.fetches, 1);
    println!(
        "single flight: 10000 concurrent calls, {} token request(s), {} waited, {} cache hits",
        st.fetches, st.waited, st.hits
    );
}

#[tokio::test]
async fn refresh_ahead_of_expiry_with_zero_callers_waiting() {
    let issuer = Issuer::start_dev().await.unwrap();
    let clock = ManualClock::starting_now();
    let source = batch(&issuer, Some(&clock), CacheConfig::default());
    let first = source.token(&TokenContext::default()).await.unwrap();
    let waited = source.stats().waited;
    assert_eq!(waited, 1, "the cold start waits, once");

    // 600 s tokens are refreshed 60 s before expiry.
    clock.advance(Duration::from_secs(545));
    let mut set = JoinSet::new();
    for _ in 0..100 {
        let s = source.clone();
        set.spawn(async move {
            s.token(&TokenContext::default())
                .await
                .unwrap()
                .secret()
                .to_owned()
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(
            r.unwrap(),
            first.secret(),
            "callers get the cached token at once"
        );
    }
    settle(|| issuer.token_hits() == 2 && source.stats().fetches == 2).await;
    assert_eq!(issuer.token_hits(), 2, "one background refresh");
    let next = source.token(&TokenContext::default()).await.unwrap();
    assert_ne!(next.secret(), first.secret());
    let st = source.stats();
    assert_eq!(st.waited, waited, "no caller waited for the refresh");
    assert_eq!(st.refreshes, 1);
    println!(
        "refresh ahead: {} calls, {} waited after start, {} background refresh(es)",
        st.hits + st.waited,
        st.waited - waited,
        st.refreshes
    );
}

#[tokio::test]
async fn issuer_down_serves_the_cached_token_until_expiry_then_fails_without_a_herd() {
    let issuer = Issuer::start_dev().await.unwrap();
    let clock = ManualClock::starting_now();
    let cache = CacheConfig::default()
        .retry_min(Duration::from_secs(10))
        .retry_max(Duration::from_secs(10));
    let source = batch(&issuer, Some(&clock), cache);
    let first = source.token(&TokenContext::default()).await.unwrap();
    issuer.set_mode(Mode::Down);

    // In the refresh window: the refresh fails in the background; callers keep the token.
    clock.advance(Duration::from_secs(545));
    for _ in 0..1000 {
        assert_eq!(
            source
                .token(&TokenContext::default())
                .await
                .unwrap()
                .secret(),
            first.secret()
        );
    }
    settle(|| source.stats().failures == 1).await;
    assert_eq!(issuer.token_hits(), 2, "one failed refresh, then backoff");

    // Past expiry: a clear error, and during the backoff no request reaches the issuer.
    clock.advance(Duration::from_secs(60));
    let e = source.token(&TokenContext::default()).await.unwrap_err();
    assert!(matches!(e, TokenSourceError::Unavailable(_)), "{e:?}");
    let hits = issuer.token_hits();
    let mut set = JoinSet::new();
    for _ in 0..1000 {
        let s = source.clone();
        set.spawn(async move { s.token(&TokenContext::default()).await.is_err() });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap());
    }
    assert_eq!(
        issuer.token_hits(),
        hits,
        "no thundering herd on a failing issuer"
    );

    // Back up: after the backoff one request heals every caller.
    issuer.set_mode(Mode::Up);
    clock.advance(Duration::from_secs(11));
    let mut set = JoinSet::new();
    for _ in 0..1000 {
        let s = source.clone();
        set.spawn(async move { s.token(&TokenContext::default()).await.is_ok() });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap());
    }
    assert_eq!(
        issuer.token_hits(),
        hits + 1,
        "one request when the issuer returns"
    );
}

#[tokio::test]
async fn a_downstream_401_causes_one_refetch_and_one_retry() {
    let issuer = Issuer::start_dev().await.unwrap();
    let validator = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience("api://orders")
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Router::new()
        .route(
            "/orders",
            post(|Auth(p): Auth, body: String| async move {
                format!("{} {body}", p.client_id().unwrap_or("-"))
            }),
        )
        .layer(
            RequireBearerLayer::new(validator)
                .revocation(StoreCheck::new(issuer.revocation_store())),
        )
        .layer(axum::middleware::from_fn(
            move |req, next: axum::middleware::Next| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            },
        ));
    let addr = serve(app).await;

    let source = batch(&issuer, None, CacheConfig::default());
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut svc = ServiceBuilder::new()
        .layer(AttachBearerLayer::new(source.clone()).retry_once())
        .service(client);
    let req = || {
        http::Request::post(format!("http://{addr}/orders"))
            .body(Full::new(Bytes::from_static(b"order-42")))
            .unwrap()
    };
    let res = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(issuer.token_hits(), 1);

    // The token is revoked at the issuer: the downstream refuses it.
    let t = source.token(&TokenContext::default()).await.unwrap();
    source
        .oauth_client()
        .revoke(t.secret(), None)
        .await
        .unwrap();
    let res = svc.ready().await.unwrap().call(req()).await.unwrap();
    assert_eq!(res.status(), 200, "retried with a fresh token");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"svc-batch order-42", "the body was replayed");
    assert_eq!(issuer.token_hits(), 2, "one re-fetch");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one refused call and one retry"
    );
}

#[tokio::test]
async fn exchanged_tokens_are_per_subject_and_never_outlive_it() {
    let issuer = Issuer::start_dev().await.unwrap();
    let exchange = TokenExchange::builder()
        .issuer(issuer.issuer())
        .client_secret_basic("svc-gateway", "svc-gateway-secret")
        .audience("api://orders")
        .allow_http()
        .build()
        .unwrap();
    let subject = |sub: &str, ttl: u64| {
        let mut c = issuer.claims("api://gateway");
        c["sub"] = json!(sub);
        c["exp"] = json!(now_secs() + ttl);
        c["scope"] = json!("orders:read orders:write");
        issuer.mint(&c).unwrap()
    };
    let alice = subject("alice", 30);
    let bob = subject("bob", 300);
    let ctx = |t: &str| TokenContext::with_subject(BearerToken::new(t));
    let a1 = exchange.token(&ctx(&alice)).await.unwrap();
    let a2 = exchange.token(&ctx(&alice)).await.unwrap();
    let b1 = exchange.token(&ctx(&bob)).await.unwrap();
    assert_eq!(a1.secret(), a2.secret(), "cached per subject");
    assert_ne!(a1.secret(), b1.secret(), "distinct per subject");
    assert_eq!(issuer.token_hits(), 2);
    let claims = |t: &str| -> Value {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(claims(a1.secret())["sub"], "alice");
    assert_eq!(claims(b1.secret())["sub"], "bob");
    let alice_exp = claims(&alice)["exp"].as_u64().unwrap();
    assert!(claims(a1.secret())["exp"].as_u64().unwrap() <= alice_exp);
    let cached_until = a1
        .expires_at()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        cached_until <= alice_exp,
        "the cache entry never outlives the subject"
    );
    assert_eq!(
        exchange.token(&TokenContext::default()).await.unwrap_err(),
        TokenSourceError::NoSubjectToken
    );
}

#[tokio::test]
async fn basic_post_and_private_key_jwt_are_each_accepted() {
    let key = SigningKey::generate(SigningAlg::ES256, "batch-key").unwrap();
    let mut cfg = IssuerConfig::dev();
    let mut signer = cfg.client("svc-batch").unwrap().clone();
    signer.id = "svc-signer".into();
    signer.secret = None;
    signer.jwks = Some(json!({"keys": [key.public_jwk().unwrap()]}).to_string());
    cfg.clients.push(signer);
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let pem = key.private_key_pem().unwrap();
    for auth in [
        ClientAuth::basic("svc-batch", "svc-batch-secret"),
        ClientAuth::post("svc-batch", "svc-batch-secret"),
        ClientAuth::private_key_jwt(
            "svc-signer",
            pem.as_bytes(),
            "ES256",
            Some("batch-key".into()),
        )
        .unwrap(),
    ] {
        let name = format!("{auth:?}");
        let source = ClientCredentials::builder()
            .issuer(issuer.issuer())
            .auth(auth)
            .scope("ledger:read")
            .allow_http()
            .build()
            .unwrap();
        let t = source.token(&TokenContext::default()).await;
        assert!(t.is_ok(), "{name}: {t:?}");
    }
    // A wrong secret is the issuer's invalid_client, surfaced as such.
    let source = ClientCredentials::builder()
        .issuer(issuer.issuer())
        .client_secret_basic("svc-batch", "wrong")
        .scope("ledger:read")
        .allow_http()
        .build()
        .unwrap();
    match source.token(&TokenContext::default()).await {
        Err(TokenSourceError::Refused(m)) => assert!(m.starts_with("invalid_client"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_handler_calls_onward_on_behalf_of_its_caller_without_threading_the_token() {
    let issuer = Issuer::start_dev().await.unwrap();
    let validator = |aud: &str| {
        JwtValidator::builder()
            .issuer(issuer.issuer())
            .audience(aud)
            .dangerous()
            .allow_http()
            .build()
            .unwrap()
    };
    // orders: reports who called and through whom.
    let orders = Router::new()
        .route(
            "/whoami",
            get(|Auth(p): Auth| async move {
                format!(
                    "{} via {}",
                    p.subject().unwrap_or("-"),
                    p.client_id().unwrap_or("-")
                )
            }),
        )
        .layer(RequireBearerLayer::new(validator("api://orders")));
    let orders_addr = serve(orders).await;

    // gateway: its handler just makes a call; the layer finds the caller's token.
    let exchange = TokenExchange::builder()
        .issuer(issuer.issuer())
        .client_secret_basic("svc-gateway", "svc-gateway-secret")
        .audience("api://orders")
        .allow_http()
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let outbound = ServiceBuilder::new()
        .layer(AttachBearerLayer::new(exchange))
        .service(client);
    let gateway = Router::new()
        .route(
            "/",
            get(move || {
                let mut outbound = outbound.clone();
                async move {
                    let req = http::Request::get(format!("http://{orders_addr}/whoami"))
                        .body(Full::default())
                        .unwrap();
                    let res = outbound.ready().await.unwrap().call(req).await.unwrap();
                    String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes())
                        .into_owned()
                }
            }),
        )
        .layer(RequireBearerLayer::new(validator("api://gateway")));
    let gateway_addr = serve(gateway).await;

    let mut c = issuer.claims("api://gateway");
    c["scope"] = json!("orders:read");
    let alice = issuer.mint(&c).unwrap();
    let r = warden_tests::get_bearer(&format!("http://{gateway_addr}/"), &alice).await;
    assert_eq!((r.status, r.body.as_str()), (200, "alice via svc-gateway"));
}
