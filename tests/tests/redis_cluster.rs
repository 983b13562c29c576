//! #18: revocation on a Redis Cluster of three masters (`redis-server
//! --cluster-enabled yes`, slots assigned and nodes met by this test, on
//! loopback ports it picks): warden-issuer and two replicas on
//! `redis+cluster://`; revocations spread over many slots (and so over all
//! three masters) reach every replica; a replica restarted mid-run learns,
//! by its resync across all masters, what was revoked while it was away.
//!
//! Runs when `WARDEN_TEST_REDIS_URL` is set (the Redis tests' switch;
//! `.ci/run` sets it), with `redis-server` installed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use warden::revocation::RevocationStore;
use warden_client::{ClientAuth, OAuthClient};
use warden_issuer::Issuer;
use warden_redis::{RedisConfig, RedisRevocationStore};
use warden_tests::redis_servers::{RedisProcess, ask, node_args};
use warden_tests::{eventually, free_port, redis_url};

fn node(port: u16, dir: &std::path::Path) -> RedisProcess {
    let mut args = node_args(port, dir);
    for a in [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "5000",
        "--cluster-config-file",
        &dir.join(format!("nodes-{port}.conf")).display().to_string(),
    ] {
        args.push(a.to_owned());
    }
    RedisProcess::start(&args)
}

/// Three masters sharing the 16384 slots, met and agreed.
async fn cluster(dir: &std::path::Path) -> (Vec<RedisProcess>, Vec<u16>) {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes: Vec<RedisProcess> = ports.iter().map(|p| node(*p, dir)).collect();
    for p in &ports {
        eventually("a node to answer", Duration::from_secs(10), || async {
            ask::<String>(*p, &redis::cmd("PING")).await.is_ok()
        })
        .await;
    }
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (p, (from, to)) in ports.iter().zip(ranges) {
        let _: () = ask(
            *p,
            redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(from).arg(to),
        )
        .await
        .unwrap_or_else(|e| panic!("{p} {from}-{to}: {e}"));
    }
    for p in &ports[1..] {
        let _: () = ask(
            ports[0],
            redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(*p),
        )
        .await
        .unwrap();
    }
    for p in &ports {
        eventually("the cluster to agree", Duration::from_secs(30), || async {
            let info: String = ask(*p, redis::cmd("CLUSTER").arg("INFO"))
                .await
                .unwrap_or_default();
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
        })
        .await;
    }
    (nodes, ports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_over_many_slots_reach_every_replica_and_a_restarted_one_resyncs() {
    if redis_url().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("warden-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_nodes, ports) = cluster(&dir).await;
    let url = format!(
        "redis+cluster://{}",
        ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cfg = RedisConfig::default().timeout(Duration::from_secs(2));
    let connect = || async {
        let s = RedisRevocationStore::connect(&url, cfg.clone()).unwrap();
        assert!(
            s.wait_until_ready(Duration::from_secs(10)).await,
            "{:?}",
            s.status()
        );
        s
    };
    let writer = connect().await;
    let replicas = vec![connect().await, connect().await];
    let until_t = SystemTime::now() + Duration::from_secs(600);

    // 300 identifiers: their keys hash all over the slots.
    let ids: Vec<String> = (0..300).map(|i| format!("spread-{i}")).collect();
    for id in &ids {
        writer.revoke(id, until_t).await.unwrap();
    }
    for r in &replicas {
        eventually(
            "every revocation to reach a replica",
            Duration::from_secs(10),
            || {
                let all = ids.iter().all(|id| r.is_revoked(id) == Ok(true));
                async move { all }
            },
        )
        .await;
    }
    let mut per_master = Vec::new();
    for p in &ports {
        per_master.push(ask::<usize>(*p, &redis::cmd("DBSIZE")).await.unwrap());
    }
    assert!(
        per_master.iter().all(|n| *n > 50),
        "keys on every master: {per_master:?}"
    );
    assert_eq!(replicas[0].is_revoked("never-revoked"), Ok(false));

    // A replica goes away; revocations continue; it comes back and learns
    // them from all three masters.
    let mut replicas = replicas;
    drop(replicas.pop());
    let later: Vec<String> = (0..100).map(|i| format!("while-away-{i}")).collect();
    for id in &later {
        writer.revoke(id, until_t).await.unwrap();
    }
    let restarted = connect().await;
    for id in ids.iter().chain(&later) {
        assert_eq!(restarted.is_revoked(id), Ok(true), "{id}");
    }
    assert_eq!(restarted.status().revoked, 400);

    // warden-issuer on the cluster: a token revoked there is refused by a
    // replica.
    let issuer = Issuer::builder(warden_issuer::IssuerConfig::dev())
        .revocation_store(Arc::new(connect().await))
        .start()
        .await
        .unwrap();
    let token =
        warden_tests::batch_token(&issuer.token_url(), &[("resource", "api://orders")]).await;
    let jti = warden::inbound::jwt::peek::claims(&token).unwrap()["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    OAuthClient::builder(ClientAuth::basic(
        warden_tests::BATCH.0,
        warden_tests::BATCH.1,
    ))
    .issuer(issuer.issuer())
    .dangerous()
    .allow_http()
    .build()
    .unwrap()
    .revoke(&token, None)
    .await
    .unwrap();
    eventually(
        "the replica to refuse the token",
        Duration::from_secs(5),
        || {
            let r =
                restarted.is_revoked(&jti) == Ok(true) && replicas[0].is_revoked(&jti) == Ok(true);
            async move { r }
        },
    )
    .await;
    println!("cluster: revoked keys per master {per_master:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
