//! Revocation across replicas on a real Redis. These tests run when
//! `WARDEN_TEST_REDIS_URL` is set (`.ci/run` sets it and makes sure a server
//! answers); without it they say so and pass. The fault test starts its own
//! `redis-server` on a free port so that it can stop and restart it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use example_resource_server::{Protection, app_with};
use warden::inbound::TokenCache;
use warden::inbound::introspect::JwtOrIntrospect;
use warden::revocation::RevocationStore;
use warden::testing::{Clock, ManualClock};
use warden_issuer::Issuer;
use warden_redis::{RedisConfig, RedisRevocationStore};
use warden_tests::redis_servers::{RedisProcess, node_args};
use warden_tests::{free_port, get_bearer, redis_url, serve};

async fn ready(store: &RedisRevocationStore) {
    assert!(
        store.wait_until_ready(Duration::from_secs(10)).await,
        "redis store never synchronised"
    );
}

async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A dev issuer that records revocations in `store`, once it is ready.
async fn issuer_on(store: RedisRevocationStore) -> Issuer {
    ready(&store).await;
    Issuer::builder(warden_issuer::IssuerConfig::dev())
        .revocation_store(Arc::new(store))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_resource_servers_reject_a_token_revoked_at_the_issuer() {
    let Some(url) = redis_url() else { return };
    let issuer_store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
    let issuer = issuer_on(issuer_store).await;

    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
        ready(&store).await;
        let jwt = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        let cache = TokenCache::default();
        let protection = Protection {
            jwt: jwt.clone(),
            validator: JwtOrIntrospect::jwt_only(jwt),
            revocation: Some(store),
            without_jti: warden::revocation::WithoutJti::Hash,
            cache: cache.clone(),
            resource: None,
            dpop: None,
        };
        let addr = serve(app_with(protection, "orders:read")).await;
        replicas.push((format!("http://{addr}/protected"), cache));
    }

    let token =
        warden_tests::batch_token(&issuer.token_url(), &[("resource", "api://orders")]).await;
    for (url, cache) in &replicas {
        assert_eq!(get_bearer(url, &token).await.status, 200);
        assert!(cache.contains(&token), "validated and cached");
    }

    let started = Instant::now();
    let status = warden_tests::revoke(&issuer.revocation_url(), warden_tests::BATCH, &token).await;
    assert_eq!(status, 200);
    let acknowledged = started.elapsed();
    let mut delays = Vec::new();
    for (url, cache) in &replicas {
        loop {
            let r = get_bearer(url, &token).await;
            if r.status == 401 {
                assert_eq!(
                    r.www.as_deref(),
                    Some(warden_tests::invalid_token("the token has been revoked").as_str())
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "replica never learned the revocation"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        delays.push(started.elapsed());
        until(
            "the validated-cache entry to be dropped",
            Duration::from_secs(2),
            || !cache.contains(&token),
        )
        .await;
    }
    println!(
        "revocation: issuer acknowledged in {acknowledged:?}; refused by both replicas after {:?}",
        delays.iter().max().unwrap()
    );
}

/// A Redis of this test's own, stopped and restarted on the same port.
struct RedisServer {
    port: u16,
    process: Option<RedisProcess>,
}

impl RedisServer {
    fn start(port: u16) -> Self {
        Self {
            port,
            process: Some(RedisProcess::start(&node_args(port, &std::env::temp_dir()))),
        }
    }

    fn stop(&mut self) {
        drop(self.process.take());
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

#[tokio::test]
async fn redis_outage_uses_the_last_known_list_then_fails_closed_and_resyncs() {
    if redis_url().is_none() {
        return;
    }
    let mut server = RedisServer::start(free_port());
    let url = server.url();
    let clock = ManualClock::starting_now();
    let replica = RedisRevocationStore::connect_with_clock(
        &url,
        RedisConfig::default()
            .max_stale(Duration::from_secs(30))
            .reconnect_min(Duration::from_millis(1500)),
        clock.clone(),
    )
    .unwrap();
    let writer = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
    ready(&replica).await;
    ready(&writer).await;

    let far = SystemTime::now() + Duration::from_secs(600);
    writer.revoke("known", far).await.unwrap();
    until(
        "the replica to learn the revocation",
        Duration::from_secs(2),
        || replica.is_revoked("known") == Ok(true),
    )
    .await;

    // Redis goes away: the last known list still applies...
    server.stop();
    until(
        "the replica to notice the outage",
        Duration::from_secs(5),
        || !replica.status().connected,
    )
    .await;
    assert_eq!(replica.is_revoked("known"), Ok(true));
    assert_eq!(replica.is_revoked("other"), Ok(false));
    assert!(replica.status().ready);
    // ...for a bounded time, then lookups fail closed (503 at the layer).
    clock.advance(Duration::from_secs(31));
    assert!(replica.is_revoked("other").is_err());
    assert_eq!(
        replica.is_revoked("known"),
        Ok(true),
        "a revoked token stays revoked"
    );
    assert!(!replica.status().ready);

    // Redis is back (empty: it keeps nothing on disk) and a revocation is made
    // while the replica is still cut off.
    let mut server = RedisServer::start(server.port);
    let resyncs = replica.status().resyncs;
    let start = Instant::now();
    loop {
        if writer.revoke("while-cut-off", far).await.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the writer could not reach the restarted redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let missed_the_message = !replica.status().connected;
    until(
        "the replica to resynchronise",
        Duration::from_secs(10),
        || replica.status().resyncs > resyncs,
    )
    .await;
    assert_eq!(
        replica.is_revoked("while-cut-off"),
        Ok(true),
        "learned by the full resync"
    );
    assert_eq!(replica.is_revoked("other"), Ok(false), "ready again");
    println!(
        "resync: the replica was {} when the revocation was published",
        if missed_the_message {
            "cut off"
        } else {
            "already back"
        }
    );
    server.stop();
}

/// A TCP proxy in front of Redis that can go silent: once `cut` is set, no
/// byte passes either way on any connection, and the sockets stay open (a
/// NAT or load balancer that lost the flow). Connections accepted while cut
/// are held silently too. `reads` counts the client's writes (reads on the
/// client side): a floor on the number of round trips.
struct SilentProxy {
    addr: std::net::SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

/// Copies `from` to `to` until either side closes, counting reads into
/// `reads`; once `cut` is set, holds both open and silent for at most a
/// minute.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<std::sync::atomic::AtomicBool>,
    reads: Option<Arc<std::sync::atomic::AtomicUsize>>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            let _keep = (from, to);
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        if let Some(r) = &reads {
            r.fetch_add(1, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl SilentProxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let (c, r) = (cut.clone(), reads.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (cut, reads) = (c.clone(), r.clone());
                tokio::spawn(async move {
                    // Held open, silent, for at most a minute.
                    let hold = || tokio::time::sleep(Duration::from_secs(60));
                    if cut.load(Ordering::SeqCst) {
                        let _keep = client;
                        hold().await;
                        return;
                    }
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(
                        pump(cr, sw, cut.clone(), Some(reads)),
                        pump(sr, cw, cut, None)
                    );
                });
            }
        });
        Self { addr, cut, reads }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }

    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn socket_of(url: &str) -> std::net::SocketAddr {
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let hostport = hostport.rsplit('@').next().unwrap();
    std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .unwrap()
        .next()
        .unwrap()
}

/// #11 item 4: a Redis flow that goes silent (socket open, no byte either
/// way) must not leave a replica answering from a list nobody updates: past
/// `max_stale` it fails closed (503) and reports not ready, then recovers
/// when the path is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dropped_redis_flow_fails_closed_after_max_stale() {
    let Some(url) = redis_url() else { return };
    let proxy = SilentProxy::start(socket_of(&url)).await;
    let issuer = Issuer::start_dev().await.unwrap();
    let store = RedisRevocationStore::connect(
        &proxy.url(),
        RedisConfig::default()
            .max_stale(Duration::from_secs(2))
            .reconnect_min(Duration::from_millis(100)),
    )
    .unwrap();
    ready(&store).await;
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
    let base = format!(
        "http://{}",
        serve(app_with(protection, "orders:read")).await
    );
    let token = issuer.mint(&issuer.claims("api://orders")).unwrap();
    let protected = |token: &str| {
        let url = format!("{base}/protected");
        let token = token.to_owned();
        async move { get_bearer(&url, &token).await.status }
    };
    let health = || {
        let url = format!("{base}/healthz");
        async move { warden_tests::get(&url, &[]).await.status }
    };
    assert_eq!(protected(&token).await, 200);
    assert_eq!(health().await, 200);

    proxy.set_cut(true);
    let cut_at = Instant::now();
    loop {
        if health().await == 503 {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(10),
            "still ready {:?} after the flow went silent (max_stale 2 s)",
            cut_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noticed = cut_at.elapsed();
    assert_eq!(
        protected(&token).await,
        503,
        "a token accepted on a list nobody updates"
    );
    assert!(!store.status().ready);

    proxy.set_cut(false);
    let back = Instant::now();
    while !store.status().ready {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "never recovered after the path came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(protected(&token).await, 200);
    println!(
        "silent redis flow: not ready {noticed:?} after the cut (max_stale 2 s); ready again {:?} after it healed",
        back.elapsed()
    );
}

/// #11 item 4: resynchronisation reads the list in a few round trips, not
/// one per key, and a key that is not UTF-8 does not break it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_is_pipelined_and_survives_non_utf8_keys() {
    if redis_url().is_none() {
        return;
    }
    let server = RedisServer::start(free_port());
    let writer = RedisRevocationStore::connect(&server.url(), RedisConfig::default()).unwrap();
    ready(&writer).await;
    let far = SystemTime::now() + Duration::from_secs(600);
    let n = 2_000;
    for i in 0..n {
        writer.revoke(&format!("jti-{i}"), far).await.unwrap();
    }
    // A foreign key under the prefix whose name is not UTF-8.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut bad = b"warden:revoked:".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, 0x80]);
    let _: () = redis::cmd("SET")
        .arg(&bad)
        .arg("1")
        .arg("PX")
        .arg(600_000)
        .query_async(&mut conn)
        .await
        .unwrap();

    let proxy = SilentProxy::start(socket_of(&server.url())).await;
    let replica = RedisRevocationStore::connect(&proxy.url(), RedisConfig::default()).unwrap();
    ready(&replica).await;
    let trips = proxy.reads();
    assert_eq!(replica.is_revoked("jti-0"), Ok(true));
    assert_eq!(replica.is_revoked(&format!("jti-{}", n - 1)), Ok(true));
    assert!(replica.status().revoked >= n);
    println!("resync of {n} revocations: {trips} client writes through the proxy");
    assert!(
        trips < 60,
        "{trips} client writes to resync {n} keys: one round trip per key"
    );
}

/// #11 item 4: the replica's local list forgets entries as they expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_list_is_pruned_as_entries_expire() {
    if redis_url().is_none() {
        return;
    }
    let server = RedisServer::start(free_port());
    let url = server.url();
    let clock = ManualClock::starting_now();
    let replica = RedisRevocationStore::connect_with_clock(
        &url,
        RedisConfig::default().max_stale(Duration::from_millis(600)),
        clock.clone(),
    )
    .unwrap();
    ready(&replica).await;
    let base = replica.status().revoked;
    assert_eq!(base, 0, "a fresh server");
    let soon = clock.now() + Duration::from_secs(5);
    for i in 0..50 {
        replica
            .revoke(&format!("prune-{i}-{}", fastrand::u64(..)), soon)
            .await
            .unwrap();
    }
    assert!(replica.status().revoked >= base + 50);
    clock.advance(Duration::from_secs(6));
    let start = Instant::now();
    while replica.status().revoked > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "expired entries were never pruned ({} held)",
            replica.status().revoked
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// #11 item 6: when the revocation store cannot record a revocation, the
/// issuer says so (503 `temporarily_unavailable`) instead of a 200 that
/// revoked nothing; refresh-token families included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_the_store_cannot_record_is_503() {
    if redis_url().is_none() {
        return;
    }
    let mut server = RedisServer::start(free_port());
    let store = RedisRevocationStore::connect(
        &server.url(),
        RedisConfig::default().timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let issuer = issuer_on(store).await;
    let token =
        warden_tests::batch_token(&issuer.token_url(), &[("resource", "api://orders")]).await;
    server.stop();
    let res = reqwest::Client::new()
        .post(issuer.revocation_url())
        .basic_auth("svc-batch", Some("svc-batch-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
}

/// #18: the staleness policy. `ServeStale`, only through the `dangerous()`
/// door, answers from the last known list past `max_stale` for its bound,
/// then fails closed as `FailClosed` does at once; the bound is clamped.
#[tokio::test]
async fn serve_stale_answers_for_its_bound_then_fails_closed() {
    if redis_url().is_none() {
        return;
    }
    use warden_redis::{MAX_SERVE_STALE, Staleness};
    assert_eq!(RedisConfig::default().staleness(), Staleness::FailClosed);
    let clamped = RedisConfig::default()
        .dangerous()
        .serve_stale(Duration::from_secs(24 * 3600));
    assert_eq!(clamped.staleness(), Staleness::ServeStale(MAX_SERVE_STALE));

    let mut server = RedisServer::start(free_port());
    let url = server.url();
    let clock = ManualClock::starting_now();
    let cfg = RedisConfig::default()
        .max_stale(Duration::from_secs(30))
        .reconnect_min(Duration::from_millis(1500));
    let stale_ok = RedisRevocationStore::connect_with_clock(
        &url,
        cfg.clone()
            .dangerous()
            .serve_stale(Duration::from_secs(120)),
        clock.clone(),
    )
    .unwrap();
    let closed = RedisRevocationStore::connect_with_clock(&url, cfg, clock.clone()).unwrap();
    ready(&stale_ok).await;
    ready(&closed).await;
    stale_ok
        .revoke("known", SystemTime::now() + Duration::from_secs(3600))
        .await
        .unwrap();
    until(
        "the other store to learn it",
        Duration::from_secs(2),
        || closed.is_revoked("known") == Ok(true),
    )
    .await;

    server.stop();
    until("both to notice the outage", Duration::from_secs(5), || {
        !stale_ok.status().connected && !closed.status().connected
    })
    .await;
    clock.advance(Duration::from_secs(31));
    // Past max_stale: one fails closed, the other answers from its list.
    assert!(closed.is_revoked("other").is_err());
    assert_eq!(stale_ok.is_revoked("other"), Ok(false));
    assert_eq!(stale_ok.is_revoked("known"), Ok(true));
    let st = stale_ok.status();
    assert!(st.ready && st.stale, "{st:?}");
    // Past its bound it fails closed too.
    clock.advance(Duration::from_secs(90));
    assert!(stale_ok.is_revoked("other").is_err());
    assert_eq!(stale_ok.is_revoked("known"), Ok(true));
    assert!(!stale_ok.status().ready);
}
