//! Revocation across replicas on a real Redis. These tests run when
//! `WARDEN_TEST_REDIS_URL` is set (`.ci/run` sets it and makes sure a server
//! answers); without it they say so and pass. The fault test starts its own
//! `redis-server` on a free port so that it can stop and restart it.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use example_resource_server::{ExampleValidator, Protection, app_with};
use warden::{JwtValidator, ManualClock, RevocationStore, TokenCache};
use warden_issuer::Issuer;
use warden_redis::{RedisConfig, RedisRevocationStore};
use warden_tests::{get_bearer, serve};

fn redis_url() -> Option<String> {
    match std::env::var("WARDEN_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "redis tests skipped: set WARDEN_TEST_REDIS_URL=redis://127.0.0.1:6379 to run them"
            );
            None
        }
    }
}

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

#[tokio::test]
async fn two_resource_servers_reject_a_token_revoked_at_the_issuer() {
    let Some(url) = redis_url() else { return };
    let issuer_store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
    ready(&issuer_store).await;
    let issuer = Issuer::builder(warden_issuer::IssuerConfig::dev())
        .revocation_store(Arc::new(issuer_store))
        .start()
        .await
        .unwrap();

    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
        ready(&store).await;
        let jwt = JwtValidator::builder()
            .issuer(issuer.issuer())
            .audience("api://orders")
            .dangerous()
            .allow_http()
            .build()
            .unwrap();
        let cache = TokenCache::default();
        let protection = Protection {
            jwt: jwt.clone(),
            validator: ExampleValidator::Jwt(jwt),
            revocation: Some(store),
            cache: cache.clone(),
        };
        let addr = serve(app_with(protection, "orders:read")).await;
        replicas.push((format!("http://{addr}/protected"), cache));
    }

    let res = reqwest::Client::new()
        .post(issuer.token_url())
        .basic_auth("svc-batch", Some("svc-batch-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "api://orders"),
        ])
        .send()
        .await
        .unwrap();
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (url, cache) in &replicas {
        assert_eq!(get_bearer(url, &token).await.status, 200);
        assert!(cache.get(&token).is_some(), "validated and cached");
    }

    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(issuer.revocation_url())
        .basic_auth("svc-batch", Some("svc-batch-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
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
            || cache.get(&token).is_none(),
        )
        .await;
    }
    println!(
        "revocation: issuer acknowledged in {acknowledged:?}; refused by both replicas after {:?}",
        delays.iter().max().unwrap()
    );
}

struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed to run the redis fault test");
        Self {
            port,
            child: Some(child),
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
