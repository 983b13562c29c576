//! #18: revocation through a Redis failover under Sentinel, on real
//! servers: a master, a replica and three sentinels (`redis-server`, and
//! `redis-server --sentinel`), all on loopback ports this test picks;
//! warden-issuer and two resource-server replicas on
//! `redis+sentinel://`, traffic running. A `SENTINEL FAILOVER`, then the
//! new master killed: revocations issued before, during and after each
//! reach both replicas, no revoked token is accepted once its revocation
//! was acknowledged and had a moment to travel, and no request is answered
//! 503 during the `SENTINEL FAILOVER` (asserted); the 503s while a killed
//! master is replaced are counted and printed, with the time each replica
//! took to follow the new master.
//!
//! Runs when `WARDEN_TEST_REDIS_URL` is set (the Redis tests' switch;
//! `.ci/run` sets it), with `redis-server` installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use example_resource_server::{Protection, app_with};
use warden::inbound::TokenCache;
use warden::inbound::introspect::JwtOrIntrospect;
use warden::revocation::RevocationStore;
use warden_client::{ClientAuth, OAuthClient};
use warden_issuer::Issuer;
use warden_redis::{RedisConfig, RedisRevocationStore};
use warden_tests::redis_servers::{RedisProcess, ask, node_args};
use warden_tests::{eventually, free_port, get_bearer, redis_url, serve};

/// Sentinel's `down-after-milliseconds` here: a killed master is noticed
/// within it (the failover then takes about as long again).
const DOWN_AFTER_MS: u64 = 2000;
const MASTER: &str = "warden";

fn node(port: u16, replica_of: Option<u16>, dir: &std::path::Path) -> RedisProcess {
    let mut args = node_args(port, dir);
    if let Some(m) = replica_of {
        args.extend(["--replicaof".into(), "127.0.0.1".into(), m.to_string()]);
    }
    RedisProcess::start(&args)
}

fn sentinel(port: u16, master: u16, dir: &std::path::Path) -> RedisProcess {
    let conf = dir.join(format!("sentinel-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {}\n\
             sentinel monitor {MASTER} 127.0.0.1 {master} 2\n\
             sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {MASTER} 10000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            dir.display()
        ),
    )
    .unwrap();
    RedisProcess::start(&[conf.display().to_string(), "--sentinel".into()])
}

/// `INFO replication`'s `field`.
async fn replication(port: u16, field: &str) -> Option<String> {
    let info: String = ask(port, redis::cmd("INFO").arg("replication"))
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

/// The master's port the sentinels agree on.
async fn master_port(sentinel: u16) -> Option<u16> {
    let addr: Vec<String> = ask(
        sentinel,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER),
    )
    .await
    .ok()?;
    addr.get(1)?.parse().ok()
}

/// `SENTINEL MASTER`'s `field`.
async fn sentinel_view(sentinel: u16, field: &str) -> Option<String> {
    let flat: Vec<String> = ask(sentinel, redis::cmd("SENTINEL").arg("master").arg(MASTER))
        .await
        .ok()?;
    flat.chunks(2)
        .find(|kv| kv[0] == field)
        .map(|kv| kv[1].clone())
}

/// What the replicas answered while traffic ran.
#[derive(Default)]
struct Counts {
    ok: AtomicUsize,
    unavailable: AtomicUsize,
    other: AtomicUsize,
    revoked_accepted: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_survive_a_sentinel_failover_and_a_killed_master() {
    if redis_url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("warden-sentinel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (free_port(), free_port());
    let mut nodes = vec![node(a, None, &dir), node(b, Some(a), &dir)];
    eventually("the replica to sync", Duration::from_secs(20), || async {
        replication(b, "master_link_status").await.as_deref() == Some("up")
    })
    .await;
    let sentinel_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let _sentinels: Vec<RedisProcess> = sentinel_ports
        .iter()
        .map(|p| sentinel(*p, a, &dir))
        .collect();
    let s0 = sentinel_ports[0];
    eventually(
        "the sentinels to know the replica and each other",
        Duration::from_secs(30),
        || async {
            sentinel_view(s0, "num-slaves").await.as_deref() == Some("1")
                && sentinel_view(s0, "num-other-sentinels").await.as_deref() == Some("2")
        },
    )
    .await;
    let url = format!(
        "redis+sentinel://{}/{MASTER}",
        sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );

    // The issuer writes revocations through the sentinels; two replicas
    // read them.
    let cfg = RedisConfig::default().timeout(Duration::from_secs(2));
    let issuer_store = RedisRevocationStore::connect(&url, cfg.clone()).unwrap();
    assert!(issuer_store.wait_until_ready(Duration::from_secs(10)).await);
    let issuer = Issuer::builder(warden_issuer::IssuerConfig::dev())
        .revocation_store(Arc::new(issuer_store))
        .start()
        .await
        .unwrap();
    let mut replicas = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = RedisRevocationStore::connect(&url, cfg.clone()).unwrap();
        assert!(store.wait_until_ready(Duration::from_secs(10)).await);
        assert_eq!(store.status().node, Some(format!("127.0.0.1:{a}")));
        let jwt = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        let protection = Protection {
            jwt: jwt.clone(),
            validator: JwtOrIntrospect::jwt_only(jwt),
            revocation: Some(store.clone()),
            without_jti: warden::revocation::WithoutJti::Hash,
            cache: TokenCache::default(),
            resource: None,
            dpop: None,
        };
        let addr = serve(app_with(protection, "orders:read")).await;
        replicas.push(format!("http://{addr}/protected"));
        stores.push(store);
    }
    let token = || async {
        warden_tests::batch_token(&issuer.token_url(), &[("resource", "api://orders")]).await
    };
    let revoker = OAuthClient::builder(ClientAuth::basic(
        warden_tests::BATCH.0,
        warden_tests::BATCH.1,
    ))
    .issuer(issuer.issuer())
    .dangerous()
    .allow_http()
    .build()
    .unwrap();

    // Traffic: a live token to both replicas, and every revoked token a
    // second after its revocation was acknowledged.
    let counts = Arc::new(Counts::default());
    let revoked: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let live = token().await;
    let traffic = tokio::spawn({
        let (counts, revoked, stop, replicas) = (
            counts.clone(),
            revoked.clone(),
            stop.clone(),
            replicas.clone(),
        );
        async move {
            let started = Instant::now();
            while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(180) {
                for url in &replicas {
                    match get_bearer(url, &live).await.status {
                        200 => counts.ok.fetch_add(1, Ordering::SeqCst),
                        503 => counts.unavailable.fetch_add(1, Ordering::SeqCst),
                        _ => counts.other.fetch_add(1, Ordering::SeqCst),
                    };
                    let due: Vec<String> = revoked
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(_, at)| at.elapsed() > Duration::from_secs(1))
                        .map(|(t, _)| t.clone())
                        .collect();
                    for t in due {
                        if get_bearer(url, &t).await.status == 200 {
                            counts.revoked_accepted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let revoke = |t: String| {
        let (revoker, revoked) = (revoker.clone(), revoked.clone());
        async move {
            let started = Instant::now();
            revoker
                .revoke(&t, None)
                .await
                .expect("revoked within the retries");
            revoked.lock().unwrap().push((t.clone(), Instant::now()));
            (t, started.elapsed())
        }
    };
    let refused_by_both = |t: String| {
        let replicas = replicas.clone();
        async move {
            for url in &replicas {
                eventually(
                    "a replica to refuse a revoked token",
                    Duration::from_secs(5),
                    || {
                        let (url, t) = (url.clone(), t.clone());
                        async move { get_bearer(&url, &t).await.status == 401 }
                    },
                )
                .await;
            }
        }
    };
    let follows = |port: u16| {
        let stores = stores.clone();
        async move {
            let want = Some(format!("127.0.0.1:{port}"));
            eventually(
                "both replicas to follow the new master",
                Duration::from_secs(30),
                || {
                    let ok = stores
                        .iter()
                        .all(|s| s.status().node == want && s.status().ready);
                    async move { ok }
                },
            )
            .await;
        }
    };

    // --- SENTINEL FAILOVER: a planned switch.
    let (before, _) = revoke(token().await).await;
    refused_by_both(before).await;
    let unavailable_before = counts.unavailable.load(Ordering::SeqCst);
    let t0 = Instant::now();
    let _: String = ask(s0, redis::cmd("SENTINEL").arg("failover").arg(MASTER))
        .await
        .unwrap();
    let (during, during_ack) = revoke(token().await).await;
    eventually(
        "the sentinels to name the new master",
        Duration::from_secs(30),
        || async { master_port(s0).await == Some(b) },
    )
    .await;
    let switched = t0.elapsed();
    // Every sentinel has the new configuration (they spread it within a
    // moment of the switch): a write now must not land on the old master.
    eventually(
        "every sentinel to name the new master",
        Duration::from_secs(10),
        || {
            let ports = sentinel_ports.clone();
            async move {
                for p in ports {
                    if master_port(p).await != Some(b) {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;
    // Right after the switch: the old master may still take writes for
    // seconds (the sentinels demote it later); the writer and the
    // subscribers must be on the new one already.
    let (just_after, _) = revoke(token().await).await;
    let t = Instant::now();
    refused_by_both(just_after.clone()).await;
    let just_after_refused = t.elapsed();
    follows(b).await;
    let followed = t0.elapsed();
    let (after, _) = revoke(token().await).await;
    for t in [during, after] {
        refused_by_both(t).await;
    }
    // Written to the new master, not lost on a demoted one: a replica
    // started now learns it from Redis alone.
    let late = RedisRevocationStore::connect(&url, cfg.clone()).unwrap();
    assert!(late.wait_until_ready(Duration::from_secs(10)).await);
    let claims = warden::inbound::jwt::peek::claims(&just_after).unwrap();
    let id = warden::revocation::revocation_id(claims["jti"].as_str(), &just_after);
    assert_eq!(
        late.is_revoked(&id),
        Ok(true),
        "the revocation is on the new master"
    );
    let planned_503 = counts.unavailable.load(Ordering::SeqCst) - unavailable_before;
    println!(
        "SENTINEL FAILOVER (down-after-milliseconds {DOWN_AFTER_MS}): new master named after {switched:?}, \
         both replicas resynchronised with it after {followed:?}; the revocation sent during it \
         was acknowledged after {during_ack:?}; one sent right after the switch was refused by \
         both replicas {just_after_refused:?} later; 503s: {planned_503}"
    );
    assert_eq!(
        planned_503, 0,
        "no request answered 503 during SENTINEL FAILOVER"
    );

    // --- The new master killed: the sentinels notice and promote the old one.
    eventually(
        "the old master to replicate the new one",
        Duration::from_secs(30),
        || async {
            replication(a, "master_link_status").await.as_deref() == Some("up")
                && sentinel_view(s0, "num-slaves").await.as_deref() == Some("1")
        },
    )
    .await;
    let (before, _) = revoke(token().await).await;
    refused_by_both(before).await;
    let unavailable_before = counts.unavailable.load(Ordering::SeqCst);
    let t1 = Instant::now();
    nodes[1].kill();
    let (during, during_ack) = revoke(token().await).await;
    eventually(
        "the sentinels to promote the old master",
        Duration::from_secs(60),
        || async { master_port(s0).await == Some(a) },
    )
    .await;
    let switched = t1.elapsed();
    follows(a).await;
    let followed = t1.elapsed();
    let (after, _) = revoke(token().await).await;
    for t in [during, after] {
        refused_by_both(t).await;
    }
    let killed_503 = counts.unavailable.load(Ordering::SeqCst) - unavailable_before;

    stop.store(true, Ordering::SeqCst);
    traffic.await.unwrap();
    println!(
        "killed master (down-after-milliseconds {DOWN_AFTER_MS}): new master named after {switched:?}, \
         both replicas resynchronised with it after {followed:?}; the revocation sent during it \
         was acknowledged after {during_ack:?}; 503s: {killed_503} of {} requests with the live token",
        counts.ok.load(Ordering::SeqCst) + counts.unavailable.load(Ordering::SeqCst)
    );
    assert!(
        followed < Duration::from_secs(30),
        "a failover completes inside the default max_stale"
    );
    assert_eq!(counts.revoked_accepted.load(Ordering::SeqCst), 0);
    assert_eq!(counts.other.load(Ordering::SeqCst), 0);
    assert!(counts.ok.load(Ordering::SeqCst) > 0);
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}
