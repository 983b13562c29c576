//! What a DPoP check costs on a cache hit (#16): the authenticate layer
//! with a cached DPoP-bound token and a fresh proof per request (its
//! ES256 signature verified, its claims checked, its `jti` recorded in the
//! memory replay store), next to the same layer with a cached Bearer token
//! and to one ES256 token verification (of the same token again, and of a
//! fresh token each time, as every proof is), in one run. The target: below
//! one ES256 verification plus 2 µs.
//!
//! Run with `cargo bench -p warden-bench --bench dpop_cost`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group};
use http::HeaderValue;
use serde_json::json;
use tower::ServiceExt;
use warden_bench::{Fixture, LayerBench, now_or_never, typical_claims};
use warden_core::RequireBearerLayer;
use warden_core::dpop::{Dpop, ProofRequest, ProofVerifier};
use warden_issuer::Algorithm;
use warden_jwt::{DpopKey, DpopVerifier};

const PUBLIC: &str = "https://api.example.com";

fn dpop(c: &mut Criterion) {
    let key = DpopKey::generate().expect("a DPoP key");
    let mut claims = typical_claims();
    claims["cnf"] = json!({"jkt": key.thumbprint()});
    let fx = Fixture::with_claims(Algorithm::ES256, &claims);
    let plain = Fixture::new(Algorithm::ES256);
    let lb = LayerBench::new(&plain);
    let handler = tower::service_fn(warden_bench::ok);
    let bearer = tower::ServiceBuilder::new()
        .layer(RequireBearerLayer::new(plain.validator.clone()))
        .service(handler);
    let bound = tower::ServiceBuilder::new()
        .layer(
            RequireBearerLayer::new(fx.validator.clone())
                .dpop(Dpop::new(DpopVerifier::new(), PUBLIC)),
        )
        .service(handler);
    let htu = format!("{PUBLIC}/protected");
    let dpop_request = || {
        let proof = key.sign_proof("GET", &htu, Some(&fx.token)).expect("proof");
        http::Request::get("/protected")
            .header("authorization", format!("DPoP {}", fx.token))
            .header("dpop", HeaderValue::from_str(&proof).expect("ascii"))
            .body(())
            .expect("request")
    };
    // Warm both caches; the DPoP path really passes.
    let res = lb
        .rt
        .block_on(bearer.clone().oneshot(lb.request(true)))
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = lb
        .rt
        .block_on(bound.clone().oneshot(dpop_request()))
        .unwrap();
    assert_eq!(res.status(), 200);

    let mut group = c.benchmark_group("dpop");
    group.bench_function("es256_verification", |b| {
        b.iter(|| {
            black_box(now_or_never(
                plain.validator.validate_token(black_box(&plain.token)),
            ))
        })
    });
    // Fresh tokens, each verified once (a DPoP proof is always fresh).
    let mut n = 0u64;
    // Inputs are made ahead of each sample, untimed; the sample runs them
    // back to back, as a busy server meets them.
    group.bench_function("es256_verification/fresh", |b| {
        b.iter_custom(|iters| {
            let tokens: Vec<String> = (0..iters)
                .map(|_| {
                    n += 1;
                    let mut c = typical_claims();
                    c["jti"] = json!(format!("fresh-{n}"));
                    Fixture::sign(&plain.key, &c)
                })
                .collect();
            let start = Instant::now();
            for t in &tokens {
                black_box(now_or_never(plain.validator.validate_token(t)).is_ok());
            }
            start.elapsed()
        })
    });
    let proof = key.sign_proof("GET", &htu, Some(&fx.token)).expect("proof");
    let verifier = DpopVerifier::new();
    let request = ProofRequest {
        method: "GET",
        uri: &htu,
        access_token: Some(&fx.token),
        jkt: Some(key.thumbprint()),
    };
    assert!(verifier.verify(&proof, &request).is_ok());
    group.bench_function("proof_verification", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&proof), &request)))
    });
    group.bench_function("cached_token/bearer", |b| {
        b.iter(|| {
            lb.rt
                .block_on(bearer.clone().oneshot(lb.request(true)))
                .unwrap()
        })
    });
    group.bench_function("cached_token/dpop", |b| {
        b.iter_custom(|iters| {
            let requests: Vec<_> = (0..iters).map(|_| dpop_request()).collect();
            let start = Instant::now();
            for req in requests {
                let res = lb.rt.block_on(bound.clone().oneshot(req)).unwrap();
                black_box(res.status());
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// The gap measured in pairs: rounds of fresh ES256 verifications and of
/// DPoP cache hits, in batches that alternate (and swap order each round),
/// so that a noisy machine slows both alike; the figure is the median of
/// the per-round differences.
fn paired() {
    const ROUNDS: usize = 200;
    const BATCH: usize = 100;
    let key = DpopKey::generate().expect("a DPoP key");
    let mut claims = typical_claims();
    claims["cnf"] = json!({"jkt": key.thumbprint()});
    let fx = Fixture::with_claims(Algorithm::ES256, &claims);
    let plain = Fixture::new(Algorithm::ES256);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bound = tower::ServiceBuilder::new()
        .layer(
            RequireBearerLayer::new(fx.validator.clone())
                .dpop(Dpop::new(DpopVerifier::new(), PUBLIC)),
        )
        .service(tower::service_fn(warden_bench::ok));
    let htu = format!("{PUBLIC}/protected");
    let dpop_request = || {
        let proof = key.sign_proof("GET", &htu, Some(&fx.token)).expect("proof");
        http::Request::get("/protected")
            .header("authorization", format!("DPoP {}", fx.token))
            .header("dpop", HeaderValue::from_str(&proof).expect("ascii"))
            .body(())
            .expect("request")
    };
    let mut n = 0u64;
    let mut fresh_tokens = || -> Vec<String> {
        (0..BATCH)
            .map(|_| {
                n += 1;
                let mut c = typical_claims();
                c["jti"] = json!(format!("paired-{n}"));
                Fixture::sign(&plain.key, &c)
            })
            .collect()
    };
    let time_fresh = |tokens: Vec<String>| {
        let start = Instant::now();
        for t in &tokens {
            assert!(now_or_never(plain.validator.validate_token(t)).is_ok());
        }
        start.elapsed().as_secs_f64() * 1e6 / BATCH as f64
    };
    let time_dpop = |requests: Vec<http::Request<()>>| {
        let start = Instant::now();
        for req in requests {
            let res = rt.block_on(bound.clone().oneshot(req)).expect("infallible");
            assert_eq!(res.status(), 200);
        }
        start.elapsed().as_secs_f64() * 1e6 / BATCH as f64
    };
    // Warm the token cache and both code paths.
    time_dpop((0..BATCH).map(|_| dpop_request()).collect());
    time_fresh(fresh_tokens());
    let (mut fresh, mut dpop, mut gap) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let tokens = fresh_tokens();
        let requests: Vec<_> = (0..BATCH).map(|_| dpop_request()).collect();
        let (f, d) = if round % 2 == 0 {
            let f = time_fresh(tokens);
            (f, time_dpop(requests))
        } else {
            let d = time_dpop(requests);
            (time_fresh(tokens), d)
        };
        fresh.push(f);
        dpop.push(d);
        gap.push(d - f);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let quartiles = |v: &Vec<f64>| (v[v.len() / 4], v[v.len() * 3 / 4]);
    let (f, d, g) = (median(&mut fresh), median(&mut dpop), median(&mut gap));
    let (g25, g75) = quartiles(&gap);
    println!(
        "dpop/paired ({ROUNDS} rounds of {BATCH}): fresh ES256 verification {f:.2} µs, \
         DPoP cache hit {d:.2} µs; gap {g:+.2} µs (quartiles {g25:+.2} .. {g75:+.2}), \
         ratio {:.3}",
        d / f
    );
}

criterion_group!(benches, dpop);

fn main() {
    // `cargo bench -p warden-bench --bench dpop_cost paired` runs only the
    // paired figure; a criterion filter skips it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_none_or(|f| "dpop/paired".contains(f)) {
        paired();
    }
    if filter.as_deref() != Some("paired") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
