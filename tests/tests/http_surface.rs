//! The HTTP surface of the example resource server over loopback: every
//! extraction edge case with its exact status and challenge, the 503 path
//! while keys are unavailable, and `/healthz`.

use std::time::Duration;

use warden::JwtValidator;
use warden::inbound::jwt::JwksCacheConfig;
use warden_issuer::{Algorithm, Mode, TestIssuer, b64};
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
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
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
    let cases: Vec<Case<'_>> = vec![
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

/// A token signed by the issuer's active key over exactly these header and
/// payload bytes (which need not be valid UTF-8).
fn sign_raw(issuer: &TestIssuer, header: &[u8], payload: &[u8]) -> String {
    let key = issuer.active_key();
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(&sig))
}

/// #11 item 9: JSON holding invalid UTF-8 anywhere in the JOSE header or
/// the payload (also inside a member warden ignores) is invalid_token, even
/// with a good signature.
#[tokio::test]
async fn invalid_utf8_in_header_or_payload_is_invalid_token() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let base = start(&issuer, JwksCacheConfig::default()).await;
    let key = issuer.active_key();
    let header = serde_json::json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"});
    let header = header.to_string().into_bytes();
    let claims = issuer.claims(AUD).to_string();
    // The valid baseline: the same construction verifies.
    let good = sign_raw(&issuer, &header, claims.as_bytes());
    assert_eq!(
        warden_tests::get_bearer(&format!("{base}/protected"), &good)
            .await
            .status,
        200
    );

    // An ignored member whose string holds a lone 0xff byte.
    let mut bad_payload = claims.trim_end_matches('}').as_bytes().to_vec();
    bad_payload.extend_from_slice(b",\"note\":\"a\xffb\"}");
    let mut bad_header = header.clone();
    bad_header.truncate(bad_header.len() - 1);
    bad_header.extend_from_slice(b",\"x-ignored\":\"\xc3\x28\"}");
    for (name, token) in [
        ("payload", sign_raw(&issuer, &header, &bad_payload)),
        ("header", sign_raw(&issuer, &bad_header, claims.as_bytes())),
    ] {
        let r = warden_tests::get_bearer(&format!("{base}/protected"), &token).await;
        r.assert_challenge(401, &invalid_token("the token is malformed"), name);
    }
}

/// #11 item 9: a header credential and an `access_token` query parameter
/// are two methods (RFC 6750 §2): 400 invalid_request, whether or not the
/// query source is on.
#[tokio::test]
async fn header_and_query_credentials_together_are_invalid_request() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let base = start(&issuer, JwksCacheConfig::default()).await;
    let good = issuer.mint(&issuer.claims(AUD)).unwrap();
    let r = warden_tests::get_bearer(&format!("{base}/protected?access_token={good}"), &good).await;
    r.assert_challenge(
        400,
        &invalid_request("more than one credential was sent"),
        "",
    );
}

/// #11 item 9: rejections are never stored by caches (`Cache-Control:
/// no-store`), and a gRPC-shaped rejection needs HTTP/2 as well as the gRPC
/// content type: over HTTP/1.1 it is a plain HTTP 401.
#[tokio::test]
async fn rejections_are_no_store_and_grpc_shape_needs_http2() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let base = start(&issuer, JwksCacheConfig::default()).await;
    let url = format!("{base}/protected");
    for (name, headers, status) in [
        ("missing", vec![], 401),
        ("malformed", vec![("authorization", "Bearer a$b")], 400),
        ("invalid", vec![("authorization", "Bearer abc")], 401),
    ] {
        let r = get(&url, &headers).await;
        assert_eq!(r.status, status, "{name}");
        assert_eq!(r.cache_control.as_deref(), Some("no-store"), "{name}");
    }
    let r = get(&url, &[("content-type", "application/grpc")]).await;
    assert_eq!(r.status, 401, "HTTP/1.1 with a gRPC content type: {r:?}");
    assert_eq!(r.grpc_status, None);
    assert_eq!(r.www.as_deref(), Some("Bearer"));
}

/// #11 item 12: a token without `jti` is checked against the revocation
/// store by its hash, never passed silently.
#[tokio::test]
async fn tokens_without_jti_are_checked_by_hash() {
    use axum::routing::get as route;
    use warden::revocation::{MemoryRevocationStore, RevocationStore, StoreCheck};
    use warden::{Auth, RequireBearerLayer};
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let store = MemoryRevocationStore::new();
    let app = axum::Router::new()
        .route(
            "/hash",
            route(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(RequireBearerLayer::new(validator).revocation(StoreCheck::new(store.clone())));
    let base = format!("http://{}", serve(app).await);
    let mut claims = issuer.claims(AUD);
    claims.as_object_mut().unwrap().remove("jti");
    let token = issuer.mint(&claims).unwrap();
    assert_eq!(
        warden_tests::get_bearer(&format!("{base}/hash"), &token)
            .await
            .status,
        200
    );
    let exp = std::time::UNIX_EPOCH + Duration::from_secs(claims["exp"].as_u64().unwrap());
    store
        .revoke(&warden::revocation::token_hash_id(&token), exp)
        .await
        .unwrap();
    let r = warden_tests::get_bearer(&format!("{base}/hash"), &token).await;
    r.assert_challenge(
        401,
        &invalid_token("the token has been revoked"),
        "a revoked token without jti passed",
    );

    // Or refused outright, as configured (the example: WARDEN_REVOCATION_WITHOUT_JTI=refuse).
    let cfg = example_resource_server::Config::from_lookup(|k| match k {
        "WARDEN_ISSUER" => Some(issuer.issuer().to_owned()),
        "WARDEN_AUDIENCE" => Some(AUD.into()),
        "WARDEN_ALLOW_HTTP" => Some("1".into()),
        "WARDEN_REVOCATION_WITHOUT_JTI" => Some("refuse".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(cfg.without_jti, warden::revocation::WithoutJti::Refuse);
    let bad = example_resource_server::Config::from_lookup(|k| match k {
        "WARDEN_ISSUER" => Some(issuer.issuer().to_owned()),
        "WARDEN_AUDIENCE" => Some(AUD.into()),
        "WARDEN_REVOCATION_WITHOUT_JTI" => Some("ignore".into()),
        _ => None,
    });
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("WARDEN_REVOCATION_WITHOUT_JTI")
    );
    let refuse = axum::Router::new()
        .route(
            "/refuse",
            route(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(
            RequireBearerLayer::new(cfg.validator().unwrap())
                .revocation(StoreCheck::new(store.clone()).without_jti(cfg.without_jti)),
        );
    let refuse = format!("http://{}/refuse", serve(refuse).await);
    let fresh = issuer.mint(&claims).unwrap();
    let with_jti = issuer.mint(&issuer.claims(AUD)).unwrap();
    let r = warden_tests::get_bearer(&refuse, &fresh).await;
    r.assert_challenge(401, &invalid_token("the token lacks a required claim"), "");
    assert_eq!(
        warden_tests::get_bearer(&refuse, &with_jti).await.status,
        200
    );
}
