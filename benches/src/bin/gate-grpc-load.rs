//! gRPC load for `scripts/gate-load.sh`: keeps CONCURRENCY calls in flight
//! on one HTTP/2 connection to warden-gate for SECONDS and prints the calls
//! per second. Scenarios: `health` (`grpc.health.v1` Check on the same
//! server, the baseline), `allow` (ext_authz Check with the token), `deny`
//! (ext_authz Check without a token). Every answer is checked: a call that
//! fails or decides otherwise than expected ends the run with an error.
//!
//! `gate-grpc-load ADDR SCENARIO SECONDS CONCURRENCY [TOKEN]`
//! Bounded: it stops after SECONDS.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use envoy_types::ext_authz::v3::pb::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use warden_gate::Check;

/// What Envoy asks about `GET /orders/1`, with the token when given.
fn check_request(token: Option<&str>) -> CheckRequest {
    warden_gate::ext_authz::check_request(&Check {
        method: "GET".into(),
        host: Some("api.test".into()),
        target: "/orders/1".into(),
        authorization: token
            .map(|t| format!("Bearer {t}").parse().expect("a header value"))
            .into_iter()
            .collect(),
    })
}

async fn one(channel: Channel, scenario: &str, req: &CheckRequest) -> Result<(), String> {
    match scenario {
        "health" => {
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map_err(|e| e.to_string())?;
        }
        "allow" | "deny" => {
            let r = AuthorizationClient::new(channel)
                .check(req.clone())
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            let code = r.status.map(|s| s.code).unwrap_or(-1);
            let want = if scenario == "allow" { 0 } else { 16 };
            if code != want {
                return Err(format!("{scenario}: status {code}, expected {want}"));
            }
        }
        other => return Err(format!("unknown scenario {other}")),
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, scenario, secs, conc, rest @ ..] = args.as_slice() else {
        eprintln!("usage: gate-grpc-load ADDR SCENARIO SECONDS CONCURRENCY [TOKEN]");
        std::process::exit(2);
    };
    let secs: u64 = secs.parse().expect("SECONDS");
    let conc: usize = conc.parse().expect("CONCURRENCY");
    let token = rest.first().filter(|_| scenario == "allow").cloned();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("address")
        .connect()
        .await
        .expect("the gate answers");
    let req = Arc::new(check_request(token.as_deref()));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (channel, req, done, scenario) =
            (channel.clone(), req.clone(), done.clone(), scenario.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                one(channel.clone(), &scenario, &req).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        if let Err(e) = t.await.expect("task") {
            eprintln!("gate-grpc-load: {e}");
            std::process::exit(1);
        }
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0}");
}
