//! Opaque tokens through RFC 7662 introspection at warden-issuer: verdicts,
//! the positive cache, single flight, and an issuer that is down.

use std::time::Duration;

use tokio::task::JoinSet;
use warden::AuthError;
use warden::inbound::{InvalidToken, Unavailable};
use warden::testing::ManualClock;
use warden_introspect::IntrospectionValidator;
use warden_issuer::{Issuer, Mode};

async fn opaque(issuer: &Issuer) -> String {
    warden_tests::batch_token(&issuer.token_url(), &[("scope", "ledger:read")]).await
}

fn validator(issuer: &Issuer, audience: &str, clock: &ManualClock) -> IntrospectionValidator {
    let url = issuer.introspection_url();
    warden_tests::introspection(&url, warden_tests::RS_LEDGER, issuer.issuer(), audience)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn verdicts() {
    let issuer = Issuer::start_dev().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, "api://ledger", &clock);
    let token = opaque(&issuer).await;
    let p = v.validate_token(&token).await.unwrap();
    assert_eq!(
        (p.subject(), p.client_id()),
        (Some("svc-batch"), Some("svc-batch"))
    );
    assert!(p.scopes().contains("ledger:read"));

    assert_eq!(
        v.validate_token("no-such-token").await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::Inactive)
    );
    let other = validator(&issuer, "api://orders", &clock);
    assert_eq!(
        other.validate_token(&token).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongAudience)
    );

    // Revoked at the issuer: inactive (after the cache entry is gone).
    let fresh = opaque(&issuer).await;
    warden_tests::revoke(&issuer.revocation_url(), warden_tests::BATCH, &fresh).await;
    assert_eq!(
        v.validate_token(&fresh).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::Inactive)
    );

    // Expired: the response's exp is checked against the clock.
    let late = validator(&issuer, "api://ledger", &clock);
    clock.advance(Duration::from_secs(3600));
    let t = opaque(&issuer).await;
    assert_eq!(
        late.validate_token(&t).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::Expired)
    );
}

#[tokio::test]
async fn cache_hit_expiry_and_single_flight() {
    let issuer = Issuer::start_dev().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, "api://ledger", &clock);
    let token = opaque(&issuer).await;

    let mut set = JoinSet::new();
    for _ in 0..1000 {
        let (v, t) = (v.clone(), token.clone());
        set.spawn(async move { v.validate_token(&t).await.is_ok() });
    }
    while let Some(r) = set.join_next().await {
        assert!(r.unwrap());
    }
    assert_eq!(
        v.stats().requests,
        1,
        "one request for 1,000 concurrent callers"
    );
    assert_eq!(issuer.introspection_hits(), 1);

    for _ in 0..100 {
        assert!(v.validate_token(&token).await.is_ok());
    }
    assert_eq!(issuer.introspection_hits(), 1, "cache hits");
    assert!(v.stats().hits >= 100);

    // The positive cache lasts at most 60 s.
    clock.advance(Duration::from_secs(61));
    assert!(v.validate_token(&token).await.is_ok());
    assert_eq!(
        issuer.introspection_hits(),
        2,
        "re-introspected after the cache age"
    );
    println!(
        "introspection: 1,000 concurrent callers -> 1 request; {} cache hits; re-asked after 60 s",
        v.stats().hits
    );
}

#[tokio::test]
async fn issuer_down_is_unavailable_never_an_accept() {
    let issuer = Issuer::start_dev().await.unwrap();
    let clock = ManualClock::starting_now();
    let v = validator(&issuer, "api://ledger", &clock);
    let token = opaque(&issuer).await;
    issuer.set_mode(Mode::Down);
    assert_eq!(
        v.validate_token(&token).await.unwrap_err(),
        AuthError::Unavailable(Unavailable::Upstream)
    );
    issuer.set_mode(Mode::Garbage);
    assert_eq!(
        v.validate_token(&token).await.unwrap_err(),
        AuthError::Unavailable(Unavailable::Upstream)
    );
    issuer.set_mode(Mode::Up);
    assert!(v.validate_token(&token).await.is_ok());
    // Bad credentials for the endpoint are a server problem: 503, not the caller's 401.
    let endpoint = issuer.introspection_url();
    let wrong = warden_tests::introspection(
        &endpoint,
        ("rs-ledger", "wrong"),
        issuer.issuer(),
        "api://ledger",
    )
    .build()
    .unwrap();
    assert_eq!(
        wrong.validate_token(&token).await.unwrap_err(),
        AuthError::Unavailable(Unavailable::Upstream)
    );
}

#[tokio::test]
async fn the_example_serves_opaque_and_jwt_tokens() {
    let issuer = Issuer::start_dev().await.unwrap();
    let cfg = example_resource_server::Config::from_lookup(|k| match k {
        "WARDEN_ISSUER" => Some(issuer.issuer().to_owned()),
        "WARDEN_AUDIENCE" => Some("api://ledger,api://orders".into()),
        "WARDEN_ALLOW_HTTP" => Some("1".into()),
        "WARDEN_INTROSPECTION_URL" => Some(issuer.introspection_url()),
        "WARDEN_CLIENT_ID" => Some("rs-ledger".into()),
        "WARDEN_CLIENT_SECRET" => Some("rs-ledger-secret".into()),
        "WARDEN_SCOPE" => Some("ledger:read".into()),
        _ => None,
    })
    .unwrap();
    let app = example_resource_server::app_with(cfg.protection().unwrap(), &cfg.scope);
    let base = format!("http://{}", warden_tests::serve(app).await);
    let token = opaque(&issuer).await;
    let r = warden_tests::get_bearer(&format!("{base}/scoped"), &token).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = warden_tests::get_bearer(&format!("{base}/protected"), "opaque-but-unknown").await;
    r.assert_challenge(
        401,
        &warden_tests::invalid_token("the token is not active"),
        "",
    );
}

async fn revoke(issuer: &Issuer, token: &str) {
    let status = warden_tests::revoke(&issuer.revocation_url(), warden_tests::BATCH, token).await;
    assert_eq!(status, 200);
}

fn example_with_cache(issuer: &Issuer, seconds: &str) -> example_resource_server::Config {
    let seconds = seconds.to_owned();
    example_resource_server::Config::from_lookup(move |k| match k {
        "WARDEN_ISSUER" => Some(issuer.issuer().to_owned()),
        "WARDEN_AUDIENCE" => Some("api://ledger,api://orders".into()),
        "WARDEN_ALLOW_HTTP" => Some("1".into()),
        "WARDEN_INTROSPECTION_URL" => Some(issuer.introspection_url()),
        "WARDEN_CLIENT_ID" => Some("rs-ledger".into()),
        "WARDEN_CLIENT_SECRET" => Some("rs-ledger-secret".into()),
        "WARDEN_INTROSPECTION_CACHE" => Some(seconds.clone()),
        _ => None,
    })
    .unwrap()
}

/// #11 item 2: with the introspection cache off, a token revoked at the
/// authorization server is refused on the very next request: the layer's
/// validated-token cache must not keep the introspected verdict until `exp`.
#[tokio::test]
async fn a_revoked_opaque_token_is_refused_when_the_introspection_cache_is_off() {
    let issuer = Issuer::start_dev().await.unwrap();
    let cfg = example_with_cache(&issuer, "0");
    let app = example_resource_server::app_with(cfg.protection().unwrap(), &cfg.scope);
    let url = format!("http://{}/protected", warden_tests::serve(app).await);
    let token = opaque(&issuer).await;
    assert_eq!(warden_tests::get_bearer(&url, &token).await.status, 200);
    assert_eq!(warden_tests::get_bearer(&url, &token).await.status, 200);
    assert_eq!(issuer.introspection_hits(), 2, "asked every time");
    revoke(&issuer, &token).await;
    let r = warden_tests::get_bearer(&url, &token).await;
    r.assert_challenge(
        401,
        &warden_tests::invalid_token("the token is not active"),
        "a revoked token was accepted",
    );
}

/// #11 item 2: through `JwtOrIntrospect` behind the layer, a JWT is cached
/// until its `exp`, an introspected token for at most the introspection
/// max age (here 1 s, on the system clock the example uses).
#[tokio::test]
async fn the_layer_caches_each_verdict_only_as_long_as_its_validator_allows() {
    let issuer = Issuer::start_dev().await.unwrap();
    let cfg = example_with_cache(&issuer, "1");
    let protection = cfg.protection().unwrap();
    let cache = protection.cache.clone();
    let app = example_resource_server::app_with(protection, &cfg.scope);
    let url = format!("http://{}/protected", warden_tests::serve(app).await);
    let token = opaque(&issuer).await;
    for _ in 0..3 {
        assert_eq!(warden_tests::get_bearer(&url, &token).await.status, 200);
    }
    assert_eq!(issuer.introspection_hits(), 1, "cached within the max age");
    revoke(&issuer, &token).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        !cache.contains(&token),
        "the layer's entry ended at the max age"
    );
    assert_eq!(warden_tests::get_bearer(&url, &token).await.status, 401);

    // A JWT: cached by the layer until exp (more than a second here).
    let jwt = warden_tests::batch_token(&issuer.token_url(), &[("resource", "api://orders")]).await;
    let jwt = jwt.as_str();
    assert_eq!(warden_tests::get_bearer(&url, jwt).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(cache.contains(jwt), "a JWT stays cached until exp");
}

fn foreign(url: &str) -> IntrospectionValidator {
    warden_tests::introspection(
        url,
        ("rs", "rs-secret"),
        "https://as.example",
        "api://ledger",
    )
    .build()
    .unwrap()
}

/// #11 item 8: only access tokens are accepted (`token_type` absent, `Bearer`
/// or `access_token`), and when the validator names an issuer the answer
/// must carry that `iss`.
#[tokio::test]
async fn introspection_answers_must_be_access_tokens_of_the_issuer() {
    let exp = warden_issuer::now_secs() + 300;
    let base = serde_json::json!({
        "active": true, "sub": "alice", "aud": "api://ledger",
        "iss": "https://as.example", "exp": exp, "scope": "ledger:read",
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut d = base.clone();
        d[k] = v;
        d
    };
    let without_iss = {
        let mut d = base.clone();
        d.as_object_mut().unwrap().remove("iss");
        d
    };
    let cases = [
        ("plain", base.clone(), true),
        ("Bearer", with("token_type", "Bearer".into()), true),
        ("bearer", with("token_type", "bearer".into()), true),
        (
            "access_token",
            with("token_type", "access_token".into()),
            true,
        ),
        (
            "refresh token",
            with("token_type", "refresh_token".into()),
            false,
        ),
        ("id token", with("token_type", "id_token".into()), false),
        (
            "token_type not a string",
            with("token_type", 1.into()),
            false,
        ),
        ("no iss", without_iss, false),
    ];
    for (name, doc, accepted) in cases {
        let v = foreign(&warden_tests::answering("/introspect", doc.to_string()).await);
        let r = v.validate_token("opaque-token").await;
        assert_eq!(r.is_ok(), accepted, "{name}: {r:?}");
        if !accepted {
            assert!(
                matches!(r, Err(AuthError::InvalidToken(_))),
                "{name}: {r:?}"
            );
        }
    }
}

/// #12 item 4: fault injection on the introspection endpoint: garbage, a
/// 5 MiB body and odd time claims give a clear verdict, never a panic, a
/// hang, or a token accepted without a readable `exp`.
#[tokio::test]
async fn odd_introspection_answers_are_clear_verdicts() {
    let now = warden_issuer::now_secs();
    let doc = |exp: serde_json::Value| {
        serde_json::json!({
            "active": true, "sub": "alice", "aud": "api://ledger",
            "iss": "https://as.example", "exp": exp,
        })
    };
    let upstream = AuthError::Unavailable(Unavailable::Upstream);
    let cases: Vec<(&str, String, Result<(), AuthError>)> = vec![
        (
            "garbage",
            "<html>surprise</html>".into(),
            Err(upstream.clone()),
        ),
        (
            "5 MiB",
            format!(r#"{{"active":true,"pad":"{}"}}"#, "a".repeat(5 << 20)),
            Err(upstream.clone()),
        ),
        ("active missing", "{}".into(), Err(upstream.clone())),
        (
            "exp 0",
            doc(0.into()).to_string(),
            Err(InvalidToken::Expired.into()),
        ),
        (
            "exp negative",
            doc((-5).into()).to_string(),
            Err(InvalidToken::InvalidClaim("exp").into()),
        ),
        (
            "exp 1e19",
            doc(1e19.into()).to_string(),
            Err(InvalidToken::InvalidClaim("exp").into()),
        ),
        (
            "exp a string",
            doc("soon".into()).to_string(),
            Err(InvalidToken::InvalidClaim("exp").into()),
        ),
        ("exp fine", doc((now + 60).into()).to_string(), Ok(())),
    ];
    for (name, body, want) in cases {
        let url = warden_tests::answering("/introspect", body).await;
        let got = tokio::time::timeout(Duration::from_secs(10), foreign(&url).validate_token("t"))
            .await
            .unwrap_or_else(|_| panic!("{name}: hung"));
        assert_eq!(got.map(|_| ()), want, "{name}");
    }
}
