//! Revocation fan-out at fleet scale (#18): one revocation published to N
//! subscribed replicas (`RedisRevocationStore`s, N = 10, 100, 500, in this
//! one process), the time until the last of them refuses the token (p50,
//! p99 over the rounds), and the Redis CPU each revocation costs (from
//! `INFO cpu`, user + system, over the rounds).
//!
//! Run with `cargo bench -p warden-bench --bench fanout` against the Redis
//! at `WARDEN_BENCH_REDIS_URL` (default `redis://127.0.0.1:6379`). Bounded:
//! 200 revocations per N, each waited for at most 5 s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use warden_core::RevocationStore;
use warden_redis::{RedisConfig, RedisRevocationStore};

const ROUNDS: usize = 200;

/// Redis's CPU seconds so far (user + system, main thread and children).
async fn redis_cpu(url: &str) -> f64 {
    let client = redis::Client::open(url).expect("a redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn)
        .await
        .expect("INFO cpu");
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(*k, "used_cpu_sys" | "used_cpu_user"))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// How many replicas learned the current revocation, and when the last did.
#[derive(Default)]
struct Tally {
    learned: AtomicUsize,
    last: Mutex<Option<Instant>>,
    done: tokio::sync::Notify,
}

async fn run(url: &str, n: usize) -> (Duration, Duration, f64) {
    let tally = Arc::new(Tally::default());
    let mut replicas = Vec::with_capacity(n);
    for _ in 0..n {
        let store = RedisRevocationStore::connect(url, RedisConfig::default()).expect("connect");
        let tally = tally.clone();
        store.on_revoke(move |id| {
            if id.starts_with("fanout-") && tally.learned.fetch_add(1, Ordering::SeqCst) + 1 == n {
                *tally.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                tally.done.notify_one();
            }
        });
        replicas.push(store);
    }
    for r in &replicas {
        assert!(
            r.wait_until_ready(Duration::from_secs(30)).await,
            "a replica never synchronised"
        );
    }
    let writer = RedisRevocationStore::connect(url, RedisConfig::default()).expect("connect");
    assert!(writer.wait_until_ready(Duration::from_secs(10)).await);
    let until = SystemTime::now() + Duration::from_secs(120);
    // Warm the writer's connection.
    writer.revoke("warm-up", until).await.expect("revoke");

    let cpu_before = redis_cpu(url).await;
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        tally.learned.store(0, Ordering::SeqCst);
        let id = format!("fanout-{n}-{round}-{}", std::process::id());
        let started = Instant::now();
        writer.revoke(&id, until).await.expect("revoke");
        let all = tokio::time::timeout(Duration::from_secs(5), tally.done.notified()).await;
        assert!(
            all.is_ok(),
            "only {} of {n} replicas learned a revocation",
            tally.learned.load(Ordering::SeqCst)
        );
        let last = tally
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the last replica's time");
        times.push(last - started);
        // Every replica refuses it now.
        debug_assert!(replicas.iter().all(|r| r.is_revoked(&id) == Ok(true)));
    }
    let cpu = (redis_cpu(url).await - cpu_before) / ROUNDS as f64;
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99), cpu)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter other than "fanout" skips.
    if std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|f| !"fanout".contains(&f))
    {
        return;
    }
    let url = std::env::var("WARDEN_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "fan-out of one revocation to N replicas in one process ({ROUNDS} revocations each; {})",
        warden_redis::redact_url(&url)
    );
    println!("| N | p50 until the last refuses | p99 | Redis CPU per revocation |");
    println!("| --- | --- | --- | --- |");
    for n in [10, 100, 500] {
        let (p50, p99, cpu) = rt.block_on(run(&url, n));
        println!(
            "| {n} | {:.2} ms | {:.2} ms | {:.1} µs |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            cpu * 1e6
        );
    }
}
