//! The remote key set against a real warden-issuer over loopback: rotation,
//! outages, slow and hostile answers, unknown-kid storms, and the lifecycle of
//! the background refresh. Time-dependent rules run on a manual clock.

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::task::JoinSet;
use warden::inbound::jwt::{JwksCacheConfig, JwtError};
use warden::inbound::{InvalidToken, Unavailable};
use warden::testing::ManualClock;
use warden::{AuthError, JwtValidator};
use warden_issuer::{Algorithm, Mode, SigningKey, TestIssuer, assemble, sign_jwt};

const AUD: &str = "api://orders";

fn clock_secs(clock: &ManualClock) -> u64 {
    use warden::testing::Clock;
    clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims valid at the manual clock's time.
fn claims_at(issuer: &TestIssuer, clock: &ManualClock) -> Value {
    let mut c = issuer.claims(AUD);
    let now = clock_secs(clock);
    c["iat"] = json!(now);
    c["exp"] = json!(now + 300);
    c
}

/// A cache config whose background retries never interfere with a test.
fn quiet() -> JwksCacheConfig {
    JwksCacheConfig::default()
        .retry_min(Duration::from_secs(3600))
        .retry_max(Duration::from_secs(3600))
}

fn validator(issuer: &TestIssuer, clock: &ManualClock, cfg: JwksCacheConfig) -> JwtValidator {
    JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .clock(clock.clone())
        .jwks_cache(cfg)
        .dangerous()
        .allow_http()
        .build()
        .unwrap()
}

fn unknown_kid_token(issuer: &TestIssuer, kid: &str) -> String {
    assemble(
        &json!({"alg": "RS256", "kid": kid}),
        &issuer.claims(AUD),
        b"not-a-signature",
    )
}

#[tokio::test]
async fn concurrent_first_fetch_is_one_request() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    let token = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    let mut set = JoinSet::new();
    for _ in 0..50 {
        let (v, t) = (v.clone(), token.clone());
        set.spawn(async move { v.validate_token(&t).await });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap().is_ok());
    }
    assert_eq!(issuer.discovery_hits(), 1);
    assert_eq!(issuer.jwks_hits(), 1);
}

#[tokio::test]
async fn rotation_picks_up_the_new_kid_and_keeps_the_old() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    let old = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    assert!(v.validate_token(&old).await.is_ok());
    assert_eq!(issuer.jwks_hits(), 1);

    issuer.rotate(Algorithm::ES256, "ES256-2").unwrap();
    let new = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    // Within 30 s of the last fetch a new kid is refused at once (the cooldown)...
    assert_eq!(
        v.validate_token(&new).await.err(),
        Some(AuthError::InvalidToken(InvalidToken::UnknownKey))
    );
    assert_eq!(issuer.jwks_hits(), 1);
    // ...and picked up by the first request after it.
    clock.advance(Duration::from_secs(31));
    let p = v.validate_token(&new).await.unwrap();
    assert_eq!(p.subject(), Some("alice"));
    assert_eq!(issuer.jwks_hits(), 2, "one refetch for the new kid");
    assert!(
        v.validate_token(&old).await.is_ok(),
        "old key still published"
    );
    assert!(v.validate_token(&new).await.is_ok());
    assert_eq!(issuer.jwks_hits(), 2);
}

#[tokio::test]
async fn unknown_kid_storm_fetches_at_most_once_per_cooldown() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    v.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    let before = issuer.jwks_hits();

    let mut set = JoinSet::new();
    for batch in 0..10 {
        let (v, tokens): (_, Vec<String>) = (
            v.clone(),
            (0..1000)
                .map(|i| unknown_kid_token(&issuer, &format!("storm-{batch}-{i}")))
                .collect(),
        );
        set.spawn(async move {
            let mut unknown = 0;
            for t in tokens {
                if v.validate_token(&t).await.err()
                    == Some(AuthError::InvalidToken(InvalidToken::UnknownKey))
                {
                    unknown += 1;
                }
            }
            unknown
        });
    }
    let mut total = 0;
    while let Some(r) = set.join_next().await {
        total += r.unwrap();
    }
    assert_eq!(total, 10_000, "every storm token is refused as unknown");
    assert!(
        issuer.jwks_hits() - before <= 1,
        "fetches during storm: {}",
        issuer.jwks_hits() - before
    );
    let after_storm = issuer.jwks_hits();

    // Inside the cooldown: refused at once, no fetch.
    clock.advance(Duration::from_secs(29));
    assert!(
        v.validate_token(&unknown_kid_token(&issuer, "late"))
            .await
            .is_err()
    );
    assert_eq!(issuer.jwks_hits(), after_storm);
    // After it: exactly one more fetch.
    clock.advance(Duration::from_secs(2));
    assert!(
        v.validate_token(&unknown_kid_token(&issuer, "later"))
            .await
            .is_err()
    );
    assert!(
        v.validate_token(&unknown_kid_token(&issuer, "even-later"))
            .await
            .is_err()
    );
    assert_eq!(issuer.jwks_hits(), after_storm + 1);
}

#[tokio::test]
async fn bad_signature_under_a_known_kid_never_fetches() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    v.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    let before = issuer.jwks_hits();
    let impostor = SigningKey::generate(Algorithm::RS256, "RS256-1").unwrap();
    let forged = sign_jwt(
        &json!({"alg": "RS256", "kid": "RS256-1"}),
        &claims_at(&issuer, &clock),
        &impostor,
    )
    .unwrap();
    for _ in 0..100 {
        clock.advance(Duration::from_secs(31));
        assert_eq!(
            v.validate_token(&forged).await.err(),
            Some(AuthError::InvalidToken(InvalidToken::BadSignature))
        );
    }
    assert_eq!(issuer.jwks_hits(), before);
}

#[tokio::test]
async fn issuer_down_at_start_then_up() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_mode(Mode::Down);
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    let token = issuer.mint(&claims_at(&issuer, &clock)).unwrap();

    assert_eq!(
        v.validate_token(&token).await.err(),
        Some(AuthError::Unavailable(Unavailable::NoKeys))
    );
    assert!(!v.is_ready());
    let st = v.status();
    assert!(
        matches!(st.last_error, Some(JwtError::Fetch { ref reason, .. }) if reason == "status 503"),
        "{st:?}"
    );

    issuer.set_mode(Mode::Up);
    let hits = issuer.discovery_hits();
    // Inside the cooldown the request is refused at once, without a fetch.
    assert_eq!(
        v.validate_token(&token).await.err(),
        Some(AuthError::Unavailable(Unavailable::NoKeys))
    );
    assert_eq!(issuer.discovery_hits(), hits);
    // After it, the next request heals the validator.
    clock.advance(Duration::from_secs(31));
    assert!(v.validate_token(&token).await.is_ok());
    assert!(v.is_ready());
    assert!(v.status().last_error.is_none());
}

#[tokio::test]
async fn down_after_a_good_fetch_serves_the_last_good_set_for_a_bounded_time() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(
        &issuer,
        &clock,
        quiet().max_stale(Duration::from_secs(3600)),
    );
    v.wait_until_ready(Duration::from_secs(5)).await.unwrap();

    issuer.set_mode(Mode::Down);
    clock.advance(Duration::from_secs(1800));
    // A failed refetch (forced by an unknown kid) keeps the last good set.
    assert!(
        v.validate_token(&unknown_kid_token(&issuer, "nope"))
            .await
            .is_err()
    );
    let st = v.status();
    assert!(st.stale && st.ready && st.last_error.is_some(), "{st:?}");
    let token = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    assert!(
        v.validate_token(&token).await.is_ok(),
        "last good keys serve"
    );

    // Past the bound: 503, never an accept.
    clock.advance(Duration::from_secs(1801));
    let token = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    assert_eq!(
        v.validate_token(&token).await.err(),
        Some(AuthError::Unavailable(Unavailable::NoKeys))
    );
    assert!(!v.is_ready());

    issuer.set_mode(Mode::Up);
    clock.advance(Duration::from_secs(31));
    assert!(v.validate_token(&token).await.is_ok());
}

#[tokio::test]
async fn slow_issuer_is_bounded_by_the_fetch_timeout() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_mode(Mode::Slow(Duration::from_secs(20)));
    let clock = ManualClock::starting_now();
    let v = validator(
        &issuer,
        &clock,
        quiet().fetch_timeout(Duration::from_millis(300)),
    );
    let token = issuer.mint(&claims_at(&issuer, &clock)).unwrap();
    let started = Instant::now();
    assert_eq!(
        v.validate_token(&token).await.err(),
        Some(AuthError::Unavailable(Unavailable::NoKeys))
    );
    // Without the timeout this would take 20 s; the bound is 300 ms plus scheduling.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    let st = v.status();
    assert!(
        matches!(st.last_error, Some(JwtError::Fetch { ref reason, .. }) if reason.contains("timed out")),
        "{st:?}"
    );
}

#[tokio::test]
async fn garbage_and_oversized_bodies_are_refused() {
    for (mode, expect) in [
        (Mode::Garbage, "not JSON"),
        (Mode::Oversized, "body larger"),
    ] {
        let issuer = TestIssuer::start().await.unwrap();
        issuer.set_mode(mode);
        let v = JwtValidator::builder()
            .issuer(issuer.issuer())
            .audience(AUD)
            .jwks_url(issuer.jwks_url())
            .jwks_cache(quiet())
            .dangerous()
            .allow_http()
            .build()
            .unwrap();
        let err = v
            .wait_until_ready(Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{mode:?}: {err}");
        let token = issuer.mint(&issuer.claims(AUD)).unwrap();
        assert_eq!(
            v.validate_token(&token).await.err(),
            Some(AuthError::Unavailable(Unavailable::NoKeys))
        );
    }
}

#[tokio::test]
async fn a_set_without_usable_keys_keeps_the_previous_one() {
    let issuer = TestIssuer::start().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, &clock, quiet());
    v.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    let key = issuer.active_key();
    issuer.remove_key(key.kid());
    clock.advance(Duration::from_secs(31));
    assert!(
        v.validate_token(&unknown_kid_token(&issuer, "x"))
            .await
            .is_err()
    );
    assert!(matches!(
        v.status().last_error,
        Some(JwtError::BadDocument { .. })
    ));
    let token = issuer.mint_with(&key, &claims_at(&issuer, &clock)).unwrap();
    assert!(v.validate_token(&token).await.is_ok());
}

#[tokio::test]
async fn discovery_issuer_must_match_exactly() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_discovery_issuer(Some(format!("{}/", issuer.issuer())));
    let v = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .jwks_cache(quiet())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let err = v
        .wait_until_ready(Duration::from_secs(3))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        JwtError::IssuerMismatch {
            configured: issuer.issuer().into(),
            discovered: format!("{}/", issuer.issuer())
        }
    );
    assert!(err.to_string().contains("issuer mismatch"), "{err}");
    assert_eq!(
        issuer.jwks_hits(),
        0,
        "keys are never fetched from a mismatched issuer"
    );
}

#[tokio::test]
async fn discovery_from_an_issuer_with_a_path() {
    let issuer = TestIssuer::start_at_path(&[Algorithm::ES384], "/realms/shop")
        .await
        .unwrap();
    let v = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let token = issuer.mint(&issuer.claims(AUD)).unwrap();
    assert!(v.validate_token(&token).await.is_ok());
}

#[tokio::test]
async fn background_refresh_runs_ahead_and_stops_when_dropped() {
    let issuer = TestIssuer::start().await.unwrap();
    // No max-age: the validator's (tiny) minimum freshness applies.
    issuer.set_cache_control(Some("no-cache".into()));
    let cfg = JwksCacheConfig::default()
        .default_ttl(Duration::from_millis(50))
        .min_ttl(Duration::from_millis(50));
    let v = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .jwks_url(issuer.jwks_url())
        .jwks_cache(cfg)
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while issuer.jwks_hits() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        issuer.jwks_hits() >= 3,
        "background refreshes: {}",
        issuer.jwks_hits()
    );
    drop(v);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let hits = issuer.jwks_hits();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        issuer.jwks_hits(),
        hits,
        "no fetch after the validator is gone"
    );
}

#[tokio::test]
async fn build_errors_say_how_to_fix_them() {
    let e = JwtValidator::builder().audience(AUD).build().unwrap_err();
    assert_eq!(e, JwtError::MissingIssuer);
    assert!(e.to_string().contains(".issuer("));
    let e = JwtValidator::builder()
        .issuer("https://id.example")
        .build()
        .unwrap_err();
    assert_eq!(e, JwtError::MissingAudience);
    let e = JwtValidator::builder()
        .issuer("http://127.0.0.1:9/")
        .audience(AUD)
        .build()
        .unwrap_err();
    assert_eq!(e, JwtError::HttpNotAllowed("http://127.0.0.1:9/".into()));
    assert!(e.to_string().contains("allow_http"));
    let keys = warden::inbound::jwt::KeySet::from_shared_secret(
        warden::inbound::jwt::Algorithm::HS256,
        &[1; 32],
        None,
    )
    .unwrap();
    let e = JwtValidator::builder()
        .issuer("https://id.example")
        .audience(AUD)
        .keys(keys)
        .jwks_url("https://id.example/jwks")
        .build()
        .unwrap_err();
    assert!(matches!(e, JwtError::ConflictingKeySources(_)));
    // The dangerous door waives the audience.
    let v = JwtValidator::builder()
        .issuer("https://id.example")
        .dangerous()
        .skip_audience_check()
        .build();
    assert!(v.is_ok());
}

#[test]
fn remote_keys_need_a_runtime() {
    let e = JwtValidator::builder()
        .issuer("https://id.example")
        .audience(AUD)
        .build()
        .unwrap_err();
    assert_eq!(e, JwtError::NoRuntime);
}

#[tokio::test]
async fn validators_share_nothing_but_the_issuer() {
    // Two validators on one issuer each fetch once; dropping one leaves the other working.
    let issuer = Arc::new(TestIssuer::start().await.unwrap());
    let a = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let b = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let t = issuer.mint(&issuer.claims(AUD)).unwrap();
    assert!(a.validate_token(&t).await.is_ok());
    drop(a);
    assert!(b.validate_token(&t).await.is_ok());
    assert_eq!(issuer.jwks_hits(), 2);
}
