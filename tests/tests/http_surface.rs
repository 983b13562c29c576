//! The HTTP surface of the example resource server over loopback: every
//! extraction edge case with its exact status and challenge, the 503 path
//! while keys are unavailable, and `/healthz`.

use std::time::Duration;

use warden::JwtValidator;
use warden::jwt::JwksCacheConfig;
use warden_issuer::{Mode, SigningAlg, TestIssuer};
use warden_tests::{get, invalid_request, invalid_token, serve};

const AUD: &str = "api://orders";

async fn start(issuer: &TestIssuer, cfg: JwksCacheConfig) -> String {
    let validator = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .jwks_cache(cfg)
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let addr = serve(example_resource_server::app(validator, "orders:read")).await;
    format!("http://{addr}")
}

#[tokio::test]
async fn extraction_table() {
    let issuer = TestIssuer::start_with(&[SigningAlg::ES256]).await.unwrap();
    let base = start(&issuer, JwksCacheConfig::default()).await;
    let good = issuer.mint(&issuer.claims(AUD)).unwrap();
    let bearer = format!("Bearer {good}");
    let lower = format!("bearer {good}");
    let upper = format!("BEARER {good}");
    let spaced = format!("Bearer    {good}");
    let two_tokens = format!("Bearer {good} {good}");
    let comma = format!("Bearer {good},x");
    let quoted = format!("Bearer \"{good}\"");
    let big = format!("Bearer {}", "a".repeat(16 * 1024 + 1));

    let malformed = invalid_request("the bearer credential is malformed");
    let empty = invalid_request("the bearer credential is empty");
    let multiple = invalid_request("more than one credential was sent");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, Option<String>);
    let cases: Vec<Case> = vec![
        ("no header", vec![], 401, Some("Bearer".into())),
        (
            "basic scheme",
            vec![("authorization", "Basic dXNlcjpwYXNz")],
            401,
            Some("Bearer".into()),
        ),
        (
            "digest scheme",
            vec![("authorization", "Digest username=\"x\"")],
            401,
            Some("Bearer".into()),
        ),
        (
            "scheme glued to token",
            vec![("authorization", "Bearerabc")],
            401,
            Some("Bearer".into()),
        ),
        ("bearer", vec![("authorization", &bearer)], 200, None),
        (
            "lowercase scheme",
            vec![("authorization", &lower)],
            200,
            None,
        ),
        (
            "uppercase scheme",
            vec![("authorization", &upper)],
            200,
            None,
        ),
        (
            "several spaces",
            vec![("authorization", &spaced)],
            200,
            None,
        ),
        (
            "empty credential",
            vec![("authorization", "Bearer")],
            400,
            Some(empty.clone()),
        ),
        (
            "blank credential",
            vec![("authorization", "Bearer   ")],
            400,
            Some(empty),
        ),
        (
            "two tokens",
            vec![("authorization", &two_tokens)],
            400,
            Some(malformed.clone()),
        ),
        (
            "comma",
            vec![("authorization", &comma)],
            400,
            Some(malformed.clone()),
        ),
        (
            "quoted",
            vec![("authorization", &quoted)],
            400,
            Some(malformed.clone()),
        ),
        (
            "bad chars",
            vec![("authorization", "Bearer a$b")],
            400,
            Some(malformed.clone()),
        ),
        (
            "inner padding",
            vec![("authorization", "Bearer ab=c")],
            400,
            Some(malformed),
        ),
        (
            "two authorization headers",
            vec![("authorization", &bearer), ("authorization", &bearer)],
            400,
            Some(multiple.clone()),
        ),
        (
            "bearer and basic",
            vec![("authorization", &bearer), ("authorization", "Basic eA==")],
            400,
            Some(multiple),
        ),
        (
            "not a jwt",
            vec![("authorization", "Bearer abc")],
            401,
            Some(invalid_token("the token is malformed")),
        ),
        (
            "too large",
            vec![("authorization", &big)],
            401,
            Some(invalid_token("the token is too large")),
        ),
    ];
    for (name, headers, status, www) in cases {
        let r = get(&format!("{base}/protected"), &headers).await;
        assert_eq!(r.status, status, "{name}: {r:?}");
        assert_eq!(r.www, www, "{name}");
    }
    // The query parameter is not a credential source unless switched on.
    let r = get(&format!("{base}/protected?access_token={good}"), &[]).await;
    assert_eq!((r.status, r.www.as_deref()), (401, Some("Bearer")));
}

#[tokio::test]
async fn keys_unavailable_is_503_and_heals() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_mode(Mode::Down);
    let cfg = JwksCacheConfig::default()
        .refetch_cooldown(Duration::from_millis(50))
        .retry_min(Duration::from_millis(50))
        .retry_max(Duration::from_millis(100));
    let base = start(&issuer, cfg).await;
    let token = issuer.mint(&issuer.claims(AUD)).unwrap();

    let r = get(&format!("{base}/healthz"), &[]).await;
    assert_eq!(r.status, 503);
    let r = warden_tests::get_bearer(&format!("{base}/protected"), &token).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.www, None, "no challenge: the token was not judged");
    assert_eq!(r.retry_after.as_deref(), Some("5"));
    // Bad requests are still judged without keys.
    let r = get(&format!("{base}/protected"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(get(&format!("{base}/public"), &[]).await.status, 200);

    issuer.set_mode(Mode::Up);
    let mut healthy = false;
    for _ in 0..100 {
        if get(&format!("{base}/healthz"), &[]).await.status == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "the background refresh heals the service");
    let r = warden_tests::get_bearer(&format!("{base}/protected"), &token).await;
    assert_eq!(r.status, 200);
}
