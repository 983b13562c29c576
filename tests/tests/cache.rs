//! The validated-token cache in the authenticate layer, with a real
//! `JwtValidator` and warden-issuer over loopback HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use warden::inbound::{InvalidToken, TokenValidator};
use warden::testing::{Clock, ManualClock};
use warden::{Auth, AuthError, JwtValidator, Principal, RequireBearerLayer};
use warden_core::TokenCache;
use warden_issuer::{Algorithm, TestIssuer, b64};
use warden_tests::{get_bearer, invalid_token, serve};

const AUD: &str = "api://orders";

/// Counts how often the real validator runs (cache misses).
#[derive(Clone)]
struct Counting {
    inner: JwtValidator,
    calls: Arc<AtomicUsize>,
}

impl TokenValidator for Counting {
    async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.validate_token(token).await
    }
}

struct Env {
    issuer: TestIssuer,
    clock: ManualClock,
    calls: Arc<AtomicUsize>,
    cache: TokenCache,
    url: String,
    revoked: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn env() -> Env {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let clock = ManualClock::starting_now();
    let inner = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = TokenCache::builder()
        .capacity(1000)
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build();
    let revoked: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let r = revoked.clone();
    let layer = RequireBearerLayer::new(Counting {
        inner,
        calls: calls.clone(),
    })
    .cache(cache.clone())
    .revocation(move |p: &Principal| {
        let jti = p.claims().jwt_id.clone().unwrap_or_default();
        if r.lock().unwrap().contains(&jti) {
            Err(AuthError::InvalidToken(InvalidToken::Revoked))
        } else {
            Ok(())
        }
    });
    let app = Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(layer);
    let addr = serve(app).await;
    Env {
        issuer,
        clock,
        calls,
        cache,
        url: format!("http://{addr}/me"),
        revoked,
    }
}

impl Env {
    /// Asserts that the app refuses `token` as invalid with `description`.
    async fn assert_refused(&self, token: &str, description: &str) {
        get_bearer(&self.url, token)
            .await
            .assert_challenge(401, &invalid_token(description), "");
    }

    fn claims(&self, exp_in: u64) -> Value {
        let now = self
            .clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut c = self.issuer.claims(AUD);
        c["iat"] = json!(now);
        c["exp"] = json!(now + exp_in);
        c
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_validated_token_costs_a_lookup_until_exp() {
    let env = env().await;
    let token = env.issuer.mint(&env.claims(120)).unwrap();
    for _ in 0..5 {
        let r = get_bearer(&env.url, &token).await;
        assert_eq!((r.status, r.body.as_str()), (200, "alice"));
    }
    assert_eq!(env.calls(), 1, "one validation, four hits");
    assert_eq!(env.cache.len(), 1);

    // Expiry while cached: the hit path re-checks exp against the clock.
    env.clock.advance(Duration::from_secs(121));
    env.assert_refused(&token, "the token has expired").await;
    assert_eq!(env.calls(), 2, "the expired entry was a miss");
}

#[tokio::test]
async fn tampered_tokens_sharing_parts_of_a_cached_one_miss_and_fail() {
    let env = env().await;
    let token = env.issuer.mint(&env.claims(300)).unwrap();
    assert_eq!(get_bearer(&env.url, &token).await.status, 200);
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = env.claims(300);
    c["sub"] = json!("mallory");
    let forged_payload = b64(c.to_string().as_bytes());
    let attempts = [
        // Same header and signature, other payload.
        format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
        // The cached token as a prefix.
        format!("{token}AAAA"),
        // A prefix of the cached token.
        token[..token.len() - 2].to_string(),
    ];
    for t in attempts {
        let before = env.calls();
        let r = get_bearer(&env.url, &t).await;
        assert_eq!(r.status, 401, "{t}");
        assert_eq!(env.calls(), before + 1, "a miss, validated in full");
    }
    // The genuine token still hits.
    let before = env.calls();
    assert_eq!(get_bearer(&env.url, &token).await.body, "alice");
    assert_eq!(env.calls(), before);
}

#[tokio::test]
async fn only_successes_are_cached_and_entries_can_be_dropped() {
    let env = env().await;
    let mut bad = env.claims(300);
    bad["aud"] = json!("api://other");
    let bad = env.issuer.mint(&bad).unwrap();
    for _ in 0..3 {
        assert_eq!(get_bearer(&env.url, &bad).await.status, 401);
    }
    assert_eq!(env.calls(), 3, "failures are never cached");
    assert!(env.cache.is_empty());

    let a = env.issuer.mint(&env.claims(300)).unwrap();
    let b = env.issuer.mint(&env.claims(300)).unwrap();
    get_bearer(&env.url, &a).await;
    get_bearer(&env.url, &b).await;
    assert_eq!(env.calls(), 5);
    assert!(env.cache.remove(&a), "drop one");
    get_bearer(&env.url, &a).await;
    get_bearer(&env.url, &b).await;
    assert_eq!(env.calls(), 6, "a revalidated, b still cached");
    env.cache.clear();
    get_bearer(&env.url, &a).await;
    get_bearer(&env.url, &b).await;
    assert_eq!(env.calls(), 8, "drop all");
}

#[tokio::test]
async fn revocation_is_checked_on_cache_hits() {
    let env = env().await;
    let claims = env.claims(300);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    let token = env.issuer.mint(&claims).unwrap();
    assert_eq!(get_bearer(&env.url, &token).await.status, 200);
    env.revoked.lock().unwrap().push(jti);
    env.assert_refused(&token, "the token has been revoked")
        .await;
    assert_eq!(env.calls(), 1, "refused on the hit path");
}

#[tokio::test]
async fn nbf_is_rechecked_on_hits() {
    let env = env().await;
    let mut c = env.claims(600);
    let now = c["iat"].as_u64().unwrap();
    c["nbf"] = json!(now);
    let token = env.issuer.mint(&c).unwrap();
    assert_eq!(get_bearer(&env.url, &token).await.status, 200);
    // The clock steps back before nbf: the cached entry is not used.
    env.clock.set(env.clock.now() - Duration::from_secs(30));
    env.assert_refused(&token, "the token is not yet valid")
        .await;
}

/// #11 item 5: two layers sharing one cache must not answer for each other's
/// validator. Layer A wants `api://orders`; layer B wants `api://inventory`.
/// A token for orders, validated and cached by A, must still be refused by B.
#[tokio::test]
async fn a_shared_cache_answers_only_for_the_validator_that_checked() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let build = |aud: &str| warden_tests::jwt_validator(issuer.issuer(), aud);
    let shared = TokenCache::default();
    let b_calls = Arc::new(AtomicUsize::new(0));
    let a = RequireBearerLayer::new(build(AUD)).cache(shared.clone());
    let b = RequireBearerLayer::new(Counting {
        inner: build("api://inventory"),
        calls: b_calls.clone(),
    })
    .cache(shared.clone());
    let handler = || get(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() });
    let app = Router::new()
        .route("/a", handler().layer(a))
        .route("/b", handler().layer(b));
    let base = format!("http://{}", serve(app).await);

    let token = issuer.mint(&issuer.claims(AUD)).unwrap();
    // Layer B alone refuses the token.
    let r = get_bearer(&format!("{base}/b"), &token).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(b_calls.load(Ordering::SeqCst), 1);
    // Layer A accepts and caches it.
    assert_eq!(get_bearer(&format!("{base}/a"), &token).await.status, 200);
    assert_eq!(get_bearer(&format!("{base}/a"), &token).await.status, 200);
    // Layer B, sharing A's cache, must still ask its own validator and refuse.
    let r = get_bearer(&format!("{base}/b"), &token).await;
    r.assert_challenge(
        401,
        &invalid_token("the token audience is not accepted"),
        "B answered from A's verdict",
    );
    assert_eq!(b_calls.load(Ordering::SeqCst), 2, "B's validator ran again");
}
