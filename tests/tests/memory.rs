//! #12: memory stays bounded under hostile load. Distinct tokens, valid and
//! forged, through `RequireBearerLayer` with the JWT validator and with the
//! introspection validator (an endpoint answering inactive): the validated
//! cache stays at its capacity, the in-flight and negative structures stay
//! bounded, and resident memory after the run is within a stated bound of
//! before. (Abandoned requests on a slow endpoint: `introspection_flood.rs`.)
//!
//! Its own test binary, so that parallel tests elsewhere do not skew the
//! resident-memory readings. Counts are scaled for `cargo test`; set
//! `WARDEN_MEMORY_TOKENS` (for example 1000000, with `--release`) for the
//! full-size run.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};
use warden::RequireBearerLayer;
use warden::inbound::TokenCache;
use warden_issuer::{Algorithm, Issuer, TestIssuer, b64};
use warden_tests::rss_bytes;

fn tokens(default: usize) -> usize {
    std::env::var("WARDEN_MEMORY_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One flood at a time: resident memory is the whole process's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The bound on growth after the flood, whatever its size.
const GROWTH_BOUND: u64 = 48 * 1024 * 1024;

async fn status<S>(svc: &S, token: &str) -> StatusCode
where
    S: tower::Service<Request<()>, Response = Response<()>, Error = Infallible> + Clone,
{
    let req = Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    svc.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_jwts_valid_and_forged_keep_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let n = tokens(40_000);
    let capacity = 1_000;
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
    let cache = TokenCache::new(capacity);
    let svc = ServiceBuilder::new()
        .layer(RequireBearerLayer::new(validator).cache(cache.clone()))
        .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let claims = issuer.claims("api://orders");
    let good = issuer.mint(&claims).unwrap();
    let header = good.split('.').next().unwrap().to_owned();
    let run = |from: usize, to: usize| {
        let (svc, issuer, header) = (svc.clone(), &issuer, header.clone());
        let mut claims = claims.clone();
        async move {
            let (mut ok, mut refused) = (0usize, 0usize);
            for i in from..to {
                let token = if i % 2 == 0 {
                    claims["jti"] = format!("flood-{i}").into();
                    issuer.mint(&claims).unwrap()
                } else {
                    // Well-formed, a known kid, a forged signature.
                    let payload = b64(format!(r#"{{"sub":"x{i}","jti":"{i}"}}"#).as_bytes());
                    format!(
                        "{header}.{payload}.{}",
                        b64(&fastrand::u128(..).to_le_bytes())
                    )
                };
                match status(&svc, &token).await {
                    StatusCode::OK => ok += 1,
                    _ => refused += 1,
                }
            }
            (ok, refused)
        }
    };
    run(0, 4_000).await;
    let before = rss_bytes();
    let started = Instant::now();
    let (ok, refused) = run(4_000, 4_000 + n).await;
    let after = rss_bytes();
    println!(
        "jwt flood: {n} distinct tokens ({ok} valid, {refused} forged) in {:?}; cache {} of {capacity}; \
         resident {} KiB -> {} KiB",
        started.elapsed(),
        cache.len(),
        before / 1024,
        after / 1024
    );
    assert_eq!((ok, refused), (n / 2, n - n / 2));
    assert!(
        cache.len() <= capacity + capacity / 10,
        "cache {}",
        cache.len()
    );
    assert!(
        after.saturating_sub(before) < GROWTH_BOUND,
        "resident memory grew by {} bytes",
        after.saturating_sub(before)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_opaque_tokens_answered_inactive_keep_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let n = tokens(40_000) / 4;
    let capacity = 500;
    let issuer = Issuer::start_dev().await.unwrap();
    let url = issuer.introspection_url();
    let v = warden_tests::introspection(
        &url,
        warden_tests::RS_LEDGER,
        issuer.issuer(),
        "api://ledger",
    )
    .negative_cache(Duration::from_secs(60))
    .capacity(capacity)
    .build()
    .unwrap();
    let layer = RequireBearerLayer::new(v.clone());
    let cache = layer.token_cache().unwrap().clone();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let run = |from: usize, to: usize| {
        let svc = svc.clone();
        async move {
            let mut set = tokio::task::JoinSet::new();
            for i in from..to {
                while set.len() >= 32 {
                    assert_eq!(
                        set.join_next().await.unwrap().unwrap(),
                        StatusCode::UNAUTHORIZED
                    );
                }
                let svc = svc.clone();
                set.spawn(async move {
                    status(&svc, &format!("opaque-{i}-{:x}", fastrand::u64(..))).await
                });
            }
            while let Some(s) = set.join_next().await {
                assert_eq!(s.unwrap(), StatusCode::UNAUTHORIZED);
            }
        }
    };
    run(0, 2_000).await;
    let before = rss_bytes();
    let started = Instant::now();
    run(2_000, 2_000 + n).await;
    let after = rss_bytes();
    let stats = v.stats();
    println!(
        "introspection flood: {n} distinct inactive tokens in {:?}; {} requests; negative {} of {capacity}; \
         in flight {}; layer cache {}; resident {} KiB -> {} KiB",
        started.elapsed(),
        stats.requests,
        stats.negative,
        stats.in_flight,
        cache.len(),
        before / 1024,
        after / 1024
    );
    assert!(
        stats.negative <= capacity,
        "negative cache {}",
        stats.negative
    );
    assert_eq!(stats.in_flight, 0);
    assert_eq!(cache.len(), 0, "refusals are never cached by the layer");
    assert!(
        after.saturating_sub(before) < GROWTH_BOUND,
        "resident memory grew by {} bytes",
        after.saturating_sub(before)
    );
}
