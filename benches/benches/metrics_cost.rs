//! What metrics cost on the hot path (#15): the authenticate layer on a
//! cache hit with warden's metrics recorded into the Prometheus recorder the
//! example installs, next to the same layer with metrics left out
//! (`without_metrics`, what the feature's absence compiles to, less one
//! branch) and the same service without auth, in one run.
//!
//! Run with `cargo bench -p warden-bench --features metrics --bench metrics_cost`.

use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use warden_bench::{Fixture, LayerBench};
use warden_core::RequireBearerLayer;
use warden_issuer::Algorithm;

fn layer(c: &mut Criterion) {
    // The recorder first: the hot path's handles are resolved once.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder in this process");
    warden_core::metrics::register();
    let fx = Fixture::new(Algorithm::RS256);
    let lb = LayerBench::new(&fx);
    let (rt, req) = (&lb.rt, |t| lb.request(t));
    let handler = tower::service_fn(warden_bench::ok);
    let counted = tower::ServiceBuilder::new()
        .layer(RequireBearerLayer::new(fx.validator.clone()))
        .service(handler);
    let uncounted = tower::ServiceBuilder::new()
        .layer(RequireBearerLayer::new(fx.validator.clone()).without_metrics())
        .service(handler);
    // Warm both caches.
    for svc in [&counted, &uncounted] {
        let res = rt.block_on(svc.clone().oneshot(req(true))).unwrap();
        assert_eq!(res.status(), 200);
    }
    let mut group = c.benchmark_group("metrics");
    group.bench_function("no_auth", |b| {
        b.iter(|| rt.block_on(handler.oneshot(req(false))).unwrap())
    });
    group.bench_function("cached_token/metrics_off", |b| {
        b.iter(|| rt.block_on(uncounted.clone().oneshot(req(true))).unwrap())
    });
    group.bench_function("cached_token/metrics_on", |b| {
        b.iter(|| rt.block_on(counted.clone().oneshot(req(true))).unwrap())
    });
    group.finish();
    // The counted layer did count.
    warden_core::metrics::flush();
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("warden_token_cache_hits_total ") && !l.ends_with(" 0")),
        "{text}"
    );
}

criterion_group!(benches, layer);
criterion_main!(benches);
