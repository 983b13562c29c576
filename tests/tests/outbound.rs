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
use warden::inbound::BearerToken;
use warden::outbound::{AttachBearerLayer, TokenContext, TokenSource, TokenSourceError};
use warden::revocation::StoreCheck;
use warden::testing::ManualClock;
use warden::{Auth, RequireBearerLayer};
use warden_client::{Algorithm, CacheConfig, ClientAuth, ClientCredentials, PrivateKey};
use warden_issuer::{Issuer, IssuerConfig, Mode, SigningKey, now_secs};
use warden_tests::serve;

fn batch(issuer: &Issuer, clock: Option<&ManualClock>, cache: CacheConfig) -> ClientCredentials {
    let mut b = ClientCredentials::builder()
        .issuer(issuer.issuer())
        .client_secret_basic("svc-batch", "svc-batch-secret")
        .resource("api://orders")
        .cache(cache)
        .dangerous()
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

/// `n` concurrent callers of `source`: the token each got (`None` for a
/// refusal).
async fn concurrent_tokens(source: &ClientCredentials, n: usize) -> Vec<Option<String>> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let s = source.clone();
        set.spawn(async move {
            s.token(&TokenContext::default())
                .await
                .ok()
                .map(|t| t.secret().to_owned())
        });
    }
    let mut tokens = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        tokens.push(r.unwrap());
    }
    tokens
}

/// 1,000 concurrent callers of `source`: how many got a token.
async fn thousand_callers(source: &ClientCredentials) -> usize {
    concurrent_tokens(source, 1000)
        .await
        .iter()
        .flatten()
        .count()
}

#[tokio::test]
async fn ten_thousand_concurrent_calls_on_a_cold_cache_make_one_request() {
    let issuer = Issuer::start_dev().await.unwrap();
    let source = batch(&issuer, None, CacheConfig::default());
    let tokens: std::collections::HashSet<_> = concurrent_tokens(&source, 10_000)
        .await
        .into_iter()
        .collect();
    assert_eq!(tokens.len(), 1);
    assert!(tokens.iter().all(Option::is_some), "every caller served");
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
    for t in concurrent_tokens(&source, 100).await {
        assert_eq!(
            t.as_deref(),
            Some(first.secret()),
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
    assert_eq!(thousand_callers(&source).await, 0, "every caller refused");
    assert_eq!(
        issuer.token_hits(),
        hits,
        "no thundering herd on a failing issuer"
    );

    // Back up: after the backoff one request heals every caller.
    issuer.set_mode(Mode::Up);
    clock.advance(Duration::from_secs(11));
    assert_eq!(thousand_callers(&source).await, 1000, "every caller served");
    assert_eq!(
        issuer.token_hits(),
        hits + 1,
        "one request when the issuer returns"
    );
}

#[tokio::test]
async fn a_downstream_401_causes_one_refetch_and_one_retry() {
    let issuer = Issuer::start_dev().await.unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
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
    let exchange = warden_tests::exchange_source(
        issuer.issuer(),
        ("svc-gateway", "svc-gateway-secret"),
        "api://orders",
    );
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

/// A client-credentials token for api://orders, the client authenticating
/// with `auth`.
async fn orders_token_as(issuer: &Issuer, auth: ClientAuth) -> warden::outbound::AccessToken {
    fetch(
        ClientCredentials::builder()
            .issuer(issuer.issuer())
            .auth(auth)
            .resource("api://orders"),
    )
    .await
    .unwrap()
}

/// One token from the source `builder` makes, plain http allowed.
async fn fetch(
    builder: warden_client::ClientCredentialsBuilder,
) -> Result<warden::outbound::AccessToken, TokenSourceError> {
    builder
        .dangerous()
        .allow_http()
        .build()
        .unwrap()
        .token(&TokenContext::default())
        .await
}

/// A dev issuer with `svc-signer`, a private_key_jwt client whose ES256
/// key has `kid`; returns the issuer and the key's private PEM.
async fn with_signer(kid: &str) -> (Issuer, String) {
    let key = SigningKey::generate(Algorithm::ES256, kid).unwrap();
    let mut cfg = IssuerConfig::dev();
    cfg.add_key_client("svc-signer", "svc-batch", &key).unwrap();
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    (issuer, key.private_key_pem().unwrap())
}

#[tokio::test]
async fn basic_post_and_private_key_jwt_are_each_accepted() {
    let (issuer, pem) = with_signer("batch-key").await;
    for auth in [
        ClientAuth::basic("svc-batch", "svc-batch-secret"),
        ClientAuth::post("svc-batch", "svc-batch-secret"),
        ClientAuth::private_key_jwt(
            "svc-signer",
            PrivateKey::from_pem(pem.as_bytes(), Algorithm::ES256, Some("batch-key".into()))
                .unwrap(),
        ),
    ] {
        let name = format!("{auth:?}");
        let source = ClientCredentials::builder()
            .issuer(issuer.issuer())
            .auth(auth)
            .scope("ledger:read")
            .dangerous()
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
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    match source.token(&TokenContext::default()).await {
        Err(TokenSourceError::Refused(r)) => {
            assert_eq!(
                r.code(),
                Some(&warden::outbound::ErrorCode::InvalidClient),
                "{r}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_handler_calls_onward_on_behalf_of_its_caller_without_threading_the_token() {
    let issuer = Issuer::start_dev().await.unwrap();
    let validator = |aud: &str| warden_tests::jwt_validator(issuer.issuer(), aud);
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
    let exchange = warden_tests::exchange_source(
        issuer.issuer(),
        ("svc-gateway", "svc-gateway-secret"),
        "api://orders",
    );
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

/// #11 item 7: private_key_jwt assertions are signed for the authorization
/// server itself, so revocation and introspection accept them too (not only
/// the token endpoint).
#[tokio::test]
async fn private_key_jwt_works_for_revoke_and_introspect() {
    let (issuer, pem) = with_signer("signer-key").await;
    let auth = || {
        ClientAuth::private_key_jwt(
            "svc-signer",
            PrivateKey::from_pem(pem.as_bytes(), Algorithm::ES256, Some("signer-key".into()))
                .unwrap(),
        )
    };
    let token = orders_token_as(&issuer, auth()).await;
    let client = warden_client::OAuthClient::builder(auth())
        .issuer(issuer.issuer())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let doc = client.introspect(token.secret(), None).await;
    assert_eq!(
        doc.as_ref().map(|d| d.as_json()["active"].clone()),
        Ok(json!(true)),
        "{doc:?}"
    );
    let revoked = client.revoke(token.secret(), Some("access_token")).await;
    assert_eq!(revoked, Ok(()));
    let doc = client.introspect(token.secret(), None).await.unwrap();
    assert_eq!(doc.as_json()["active"], json!(false));
}

/// #13: the introspection validator asks through the one client, so it
/// authenticates with `private_key_jwt` too; its assertion names the
/// configured issuer, as warden-issuer requires.
#[tokio::test]
async fn the_introspection_validator_authenticates_with_private_key_jwt() {
    let (issuer, pem) = with_signer("rs-key").await;
    let key =
        PrivateKey::from_pem(pem.as_bytes(), Algorithm::ES256, Some("rs-key".into())).unwrap();
    let token = orders_token_as(
        &issuer,
        ClientAuth::private_key_jwt("svc-signer", key.clone()),
    )
    .await;
    let v = warden_introspect::IntrospectionValidator::builder()
        .endpoint(issuer.introspection_url())
        .auth(ClientAuth::private_key_jwt("svc-signer", key))
        .issuer(issuer.issuer())
        .audience("api://orders")
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let p = v.validate_token(token.secret()).await;
    assert_eq!(
        p.as_ref().map(|p| p.client_id()),
        Ok(Some("svc-signer")),
        "{p:?}"
    );
}

async fn token_from(url: &str) -> Result<warden::outbound::AccessToken, TokenSourceError> {
    fetch(
        ClientCredentials::builder()
            .token_endpoint(url)
            .client_secret_basic("svc", "secret"),
    )
    .await
}

/// #11 item 7: a huge `expires_in` never panics, and response bodies are
/// capped (a 5 MiB token response is an error, not a token).
#[tokio::test]
async fn hostile_token_responses_are_errors_never_panics() {
    let huge = warden_tests::answering(
        "/token",
        json!({"access_token": "abc", "token_type": "Bearer", "expires_in": u64::MAX}).to_string(),
    )
    .await;
    let t = token_from(&huge).await.unwrap();
    assert_eq!(t.secret(), "abc");
    assert!(t.expires_at().is_some());

    let padded = json!({
        "access_token": "abc", "token_type": "Bearer", "expires_in": 60,
        "padding": "x".repeat(5 * 1024 * 1024),
    });
    let big = warden_tests::answering("/token", padded.to_string()).await;
    match token_from(&big).await {
        Err(TokenSourceError::Unavailable(m)) => assert!(m.contains("larger"), "{m}"),
        other => panic!("a 5 MiB token response was accepted: {other:?}"),
    }
}

/// #11 item 7: a subject token whose unverified `exp` is absurd does not
/// panic (forwarding and exchange read it to bound cache lifetimes).
#[tokio::test]
async fn an_absurd_unverified_exp_does_not_panic() {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let subject = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "none"})),
        b64(&json!({"exp": u64::MAX}))
    );
    let forward = warden_client::Forward::to(["orders.internal"]);
    let ctx = TokenContext::with_subject(BearerToken::new(subject))
        .target("https://orders.internal/x".parse().unwrap());
    let t = forward.token(&ctx).await.unwrap();
    assert!(t.expires_at().is_some());
}

/// #11 item 7: `Forward::to` entries name a scheme and a host (https when
/// no scheme is given), and hosts compare case-insensitively.
#[tokio::test]
async fn forward_checks_scheme_and_host() {
    let f = warden_client::Forward::to(["orders.internal", "http://127.0.0.1:8081"]);
    let ctx = |uri: &str| {
        TokenContext::with_subject(BearerToken::new("abc")).target(uri.parse().unwrap())
    };
    assert!(f.token(&ctx("https://orders.internal/x")).await.is_ok());
    assert!(f.token(&ctx("https://ORDERS.Internal/x")).await.is_ok());
    assert!(
        f.token(&ctx("http://orders.internal/x")).await.is_err(),
        "a bare host means https only: plain http would expose the token"
    );
    assert!(f.token(&ctx("http://127.0.0.1:8081/x")).await.is_ok());
    assert!(f.token(&ctx("https://127.0.0.1:8082/x")).await.is_err());
    assert!(f.token(&ctx("https://evil.example/x")).await.is_err());
}

/// #11 item 7: Basic credentials are form-encoded before base64 (RFC 6749
/// §2.3.1) everywhere, introspection included: a client id with a colon and
/// a secret with reserved characters still authenticate.
#[tokio::test]
async fn basic_credentials_are_form_encoded_for_introspection_too() {
    let mut cfg = IssuerConfig::dev();
    let mut rs = cfg.client("svc-batch").unwrap().clone();
    rs.id = "rs:ledger".into();
    rs.secret = Some("p@ss:w rd%+/".into());
    rs.audience = Some("api://ledger".into());
    cfg.clients.push(rs);
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let opaque = warden_tests::batch_token(&issuer.token_url(), &[("scope", "ledger:read")]).await;
    let opaque = opaque.as_str();
    let v = warden_introspect::IntrospectionValidator::builder()
        .endpoint(issuer.introspection_url())
        .client("rs:ledger", "p@ss:w rd%+/")
        .issuer(issuer.issuer())
        .audience("api://ledger")
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let p = v.validate_token(opaque).await;
    assert!(p.is_ok(), "{p:?}");
}

/// #12 item 4: fault injection on the token endpoint: garbage, a 5 MiB
/// body, and every odd `expires_in` give a clear answer, never a panic or
/// a hang.
#[tokio::test]
async fn odd_token_endpoint_answers_are_clear_errors() {
    let token = |expires_in: &str| {
        format!(r#"{{"access_token":"abc","token_type":"Bearer","expires_in":{expires_in}}}"#)
    };
    let cases: Vec<(&str, String, Option<u64>)> = vec![
        ("garbage", "<html>surprise</html>".into(), None),
        ("not an object", "[1,2,3]".into(), None),
        ("no token", r#"{"token_type":"Bearer"}"#.into(), None),
        (
            "5 MiB",
            format!(r#"{{"access_token":"{}"}}"#, "a".repeat(5 << 20)),
            None,
        ),
        ("expires_in 0", token("0"), None),
        ("expires_in negative", token("-5"), None),
        ("expires_in 1e19", token("1e19"), Some(365 * 24 * 3600)),
        ("expires_in a number string", token("\"300\""), Some(300)),
        ("expires_in a word", token("\"soon\""), None),
        ("expires_in 300.5", token("300.5"), Some(300)),
    ];
    for (name, body, lifetime) in cases {
        let url = warden_tests::answering("/token", body).await;
        let r = tokio::time::timeout(Duration::from_secs(10), token_from(&url))
            .await
            .unwrap_or_else(|_| panic!("{name}: hung"));
        match (lifetime, r) {
            (Some(secs), Ok(t)) => {
                let left = t
                    .expires_at()
                    .unwrap()
                    .duration_since(std::time::SystemTime::now())
                    .unwrap()
                    .as_secs();
                assert!(left <= secs && left + 5 >= secs, "{name}: {left} s");
            }
            (None, Err(TokenSourceError::Unavailable(m))) => {
                assert!(!m.is_empty(), "{name}");
            }
            (want, got) => panic!("{name}: wanted a lifetime {want:?}, got {got:?}"),
        }
    }
}

/// #18: a revocation the server cannot record now (503, as warden-issuer
/// answers while its Redis has no master) is asked again with backoff, and
/// lands once the server is back; a refusal (4xx) is not retried.
#[tokio::test]
async fn revoke_retries_while_the_server_is_unavailable() {
    let issuer = Issuer::start_dev().await.unwrap();
    let auth = || ClientAuth::basic("svc-batch", "svc-batch-secret");
    let token = orders_token_as(&issuer, auth()).await;
    let client = warden_client::OAuthClient::builder(auth())
        .issuer(issuer.issuer())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    // Discovery first, so that the outage meets the revocation itself.
    assert!(client.introspect(token.secret(), None).await.is_ok());
    issuer.set_mode(warden_issuer::Mode::Down);
    let hits = issuer.revocation_hits();
    let revoking = tokio::spawn({
        let client = client.clone();
        let secret = token.secret().to_owned();
        async move { client.revoke(&secret, None).await }
    });
    // Back after a few refused attempts.
    let started = std::time::Instant::now();
    while issuer.revocation_hits() < hits + 3 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no retries seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    issuer.set_mode(warden_issuer::Mode::Up);
    assert_eq!(revoking.await.unwrap(), Ok(()));
    let doc = client.introspect(token.secret(), None).await.unwrap();
    assert_eq!(doc.as_json()["active"], json!(false));
    // A 4xx is an answer: not retried.
    let before = issuer.revocation_hits();
    let wrong = warden_client::OAuthClient::builder(ClientAuth::basic("svc-batch", "wrong"))
        .issuer(issuer.issuer())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    assert!(wrong.revoke(token.secret(), None).await.is_err());
    assert_eq!(issuer.revocation_hits(), before + 1);
}
