//! #11 item 3: requests abandoned while introspection is in flight must not
//! leave anything behind. A slow introspection endpoint, a flood of distinct
//! opaque tokens over real HTTP, clients that hang up after 50 ms: the
//! single-flight map returns to empty, and resident memory stays flat.
//!
//! Its own test binary, so that other tests do not skew the memory figure.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::task::JoinSet;
use warden::{Auth, RequireBearerLayer};
use warden_introspect::IntrospectionValidator;
use warden_issuer::{Issuer, Mode};
use warden_tests::{rss_bytes, serve};

fn validator(issuer: &Issuer, max_in_flight: usize) -> IntrospectionValidator {
    let url = issuer.introspection_url();
    warden_tests::introspection(
        &url,
        warden_tests::RS_LEDGER,
        issuer.issuer(),
        "api://ledger",
    )
    .max_in_flight(max_in_flight)
    .build()
    .unwrap()
}

async fn app(v: IntrospectionValidator) -> String {
    let app = Router::new()
        .route(
            "/protected",
            get(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(RequireBearerLayer::new(v));
    format!("http://{}/protected", serve(app).await)
}

/// Sends `total` requests, `concurrency` at a time, each with a fresh random
/// token, each abandoned by the client after `patience`.
async fn flood(url: &str, total: usize, concurrency: usize, patience: Duration) {
    let client = reqwest::Client::builder()
        .timeout(patience)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut set = JoinSet::new();
    let started = Instant::now();
    for i in 0..total {
        while set.len() >= concurrency {
            set.join_next().await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "flood ran too long"
        );
        let (client, url) = (client.clone(), url.to_owned());
        set.spawn(async move {
            let token = format!("opaque-{i}-{:016x}", fastrand::u64(..));
            let _ = client.get(url).bearer_auth(token).send().await;
        });
    }
    while set.join_next().await.is_some() {}
}

async fn until_zero(v: &IntrospectionValidator) -> usize {
    let start = Instant::now();
    while v.stats().in_flight > 0 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    v.stats().in_flight
}

/// An issuer answering introspection after `delay`, and an app whose
/// validator holds at most `in_flight` pending requests.
async fn slow_app(delay: Duration, in_flight: usize) -> (Issuer, IntrospectionValidator, String) {
    let issuer = Issuer::start_dev().await.unwrap();
    issuer.set_mode(Mode::Slow(delay));
    let v = validator(&issuer, in_flight);
    let url = app(v.clone()).await;
    (issuer, v, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_leave_nothing_in_flight() {
    let (_issuer, v, url) = slow_app(Duration::from_secs(3), 10_000).await;

    // Warm up allocator and connection paths before the first reading.
    flood(&url, 500, 64, Duration::from_millis(50)).await;
    until_zero(&v).await;
    let before = rss_bytes();
    let total = 6_000;
    flood(&url, total, 64, Duration::from_millis(50)).await;
    let left = until_zero(&v).await;
    let after = rss_bytes();
    let growth = after.saturating_sub(before);
    println!(
        "introspection flood: {total} abandoned requests, {left} left in flight, \
         resident {} KiB -> {} KiB (+{} bytes/request)",
        before / 1024,
        after / 1024,
        growth / total as u64
    );
    assert_eq!(left, 0, "abandoned requests left single-flight entries");
    assert!(
        growth < 16 * 1024 * 1024,
        "resident memory grew by {growth} bytes over {total} abandoned requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_in_flight_bound_tokens_are_still_introspected() {
    let (_issuer, v, url) = slow_app(Duration::from_millis(300), 4).await;
    let client = reqwest::Client::new();
    let mut set = JoinSet::new();
    for i in 0..24 {
        let (client, url, v) = (client.clone(), url.clone(), v.clone());
        set.spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(format!("flood-{i}"))
                .send()
                .await
                .unwrap();
            assert!(v.stats().in_flight <= 4, "the single-flight map is bounded");
            r.status().as_u16()
        });
    }
    while let Some(status) = set.join_next().await {
        // Inactive tokens: 401, never a 503 because the map was full.
        assert_eq!(status.unwrap(), 401);
    }
    assert_eq!(v.stats().requests, 24, "every token was introspected");
    assert_eq!(v.stats().in_flight, 0);
}
