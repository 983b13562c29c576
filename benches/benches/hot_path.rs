//! The hot path, in one run so the ratios are fair on a noisy machine:
//! bearer extraction; uncached validation per algorithm next to a bare
//! `jsonwebtoken::decode` with the same key and token; a cache hit; and the
//! whole authenticate layer on a hit next to the same service without auth.
//!
//! Run with `cargo bench -p warden-bench --bench hot_path`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Uri};
use tower::{Service, ServiceExt};
use warden_bench::{Fixture, LayerBench, now_or_never};
use warden_core::{BearerExtractor, Principal, RequireBearerLayer, TokenCache};
use warden_issuer::Algorithm;

fn extraction(c: &mut Criterion) {
    let fx = Fixture::new(Algorithm::RS256);
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", fx.token)).unwrap(),
    );
    let uri = Uri::from_static("/orders");
    let ex = BearerExtractor::new();
    c.bench_function("extract/authorization_header", |b| {
        b.iter(|| black_box(ex.extract(black_box(&headers), &uri).unwrap()))
    });
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let fx = Fixture::new(alg);
        assert!(now_or_never(fx.validator.validate_token(&fx.token)).is_ok());
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&fx.token, &fx.decoding_key, &fx.validation)
                .is_ok()
        );
        group.bench_function(format!("{}/warden", fx.alg), |b| {
            b.iter(|| {
                black_box(now_or_never(
                    fx.validator.validate_token(black_box(&fx.token)),
                ))
            })
        });
        group.bench_function(format!("{}/jsonwebtoken", fx.alg), |b| {
            b.iter(|| {
                black_box(jsonwebtoken::decode::<serde_json::Value>(
                    black_box(&fx.token),
                    &fx.decoding_key,
                    &fx.validation,
                ))
            })
        });
    }
    group.finish();
}

fn cache(c: &mut Criterion) {
    let fx = Fixture::new(Algorithm::RS256);
    let principal: Principal = now_or_never(fx.validator.validate_token(&fx.token)).unwrap();
    let cache = TokenCache::new(10_000);
    // A realistically full cache: the hit is found among many entries.
    for i in 0..9_000 {
        cache.insert(&format!("{}{i}", fx.token), &principal);
    }
    cache.insert(&fx.token, &principal);
    assert!(cache.get(&fx.token).is_some());
    c.bench_function("cache/hit", |b| {
        b.iter(|| black_box(cache.get(black_box(&fx.token))))
    });
    let miss = format!("{}x", fx.token);
    c.bench_function("cache/miss", |b| {
        b.iter(|| black_box(cache.get(black_box(&miss))))
    });
}

fn layer(c: &mut Criterion) {
    let fx = Fixture::new(Algorithm::RS256);
    let lb = LayerBench::new(&fx);
    let (rt, req) = (&lb.rt, |t| lb.request(t));
    let handler = tower::service_fn(warden_bench::ok);
    let authed = tower::ServiceBuilder::new()
        .layer(RequireBearerLayer::new(fx.validator.clone()))
        .service(handler);
    let uncached = tower::ServiceBuilder::new()
        .layer(RequireBearerLayer::new(fx.validator.clone()).without_cache())
        .service(handler);
    let mut group = c.benchmark_group("layer");
    group.bench_function("no_auth", |b| {
        b.iter(|| rt.block_on(handler.oneshot(req(false))).unwrap())
    });
    group.bench_function("cached_token", |b| {
        b.iter(|| rt.block_on(authed.clone().oneshot(req(true))).unwrap())
    });
    group.bench_function("uncached_token", |b| {
        b.iter(|| rt.block_on(uncached.clone().oneshot(req(true))).unwrap())
    });
    group.finish();
    let mut svc = authed.clone();
    let res = rt
        .block_on(async { svc.ready().await.unwrap().call(req(true)).await })
        .unwrap();
    assert_eq!(res.status(), 200);
}

criterion_group!(benches, extraction, validation, cache, layer);
criterion_main!(benches);
