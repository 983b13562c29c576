//! The issuer side of `scripts/load.sh`: starts a warden-issuer on loopback,
//! prints `issuer <url>` and `token <jwt>` (a valid token for
//! `api://orders`, one hour), then serves until stdin closes or an hour has
//! passed.
//!
//! Run with `cargo run --release -p warden-bench --bin load-fixture`.

use std::io::Read;
use std::time::Duration;

use serde_json::json;
use warden_issuer::{Algorithm, TestIssuer, now_secs};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256])
        .await
        .expect("issuer starts");
    let mut claims = issuer.claims(warden_bench::AUD);
    claims["exp"] = json!(now_secs() + 3600);
    let token = issuer.mint(&claims).expect("mint");
    println!("issuer {}", issuer.issuer());
    println!("token {token}");
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    });
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
