//! Why quick_cache: the hit path of the validated-token cache (keyed hash of
//! an ~800-byte token, lookup, full comparison) on quick_cache and on moka,
//! 10,000 entries each, in one run.
//!
//! Run with `cargo bench -p warden-bench --features compare-moka --bench cache_choice`.

use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

struct Entry {
    token: Box<[u8]>,
}

fn choice(c: &mut Criterion) {
    let n = 10_000usize;
    let tokens: Vec<Vec<u8>> = (0..n).map(|i| format!("{i:0800}").into_bytes()).collect();
    let seed = foldhash::fast::RandomState::default();
    let qc: quick_cache::sync::Cache<u64, Arc<Entry>> = quick_cache::sync::Cache::new(n * 2);
    let mk: moka::sync::Cache<u64, Arc<Entry>> = moka::sync::Cache::new((n * 2) as u64);
    for t in &tokens {
        let e = Arc::new(Entry {
            token: t.clone().into_boxed_slice(),
        });
        qc.insert(seed.hash_one(t.as_slice()), e.clone());
        mk.insert(seed.hash_one(t.as_slice()), e);
    }
    let mut group = c.benchmark_group("cache_choice");
    let caches: [(&str, &dyn Fn(u64) -> Option<Arc<Entry>>); 2] = [
        ("quick_cache/hit", &|k| qc.get(&k)),
        ("moka/hit", &|k| mk.get(&k)),
    ];
    for (name, get) in caches {
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                let t = &tokens[i];
                let e = get(seed.hash_one(t.as_slice()));
                black_box(e.is_some_and(|e| *e.token == **t))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, choice);
criterion_main!(benches);
