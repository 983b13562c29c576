//! Runs the `grpc-inventory` binary as a user would, configured only by
//! environment.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use example_grpc_inventory::pb::GetItemRequest;
use example_grpc_inventory::pb::inventory_client::InventoryClient;
use serde_json::json;
use warden_issuer::TestIssuer;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_serves_calls() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_grpc-inventory"))
        .env_clear()
        .env("WARDEN_ISSUER", issuer.issuer())
        .env("WARDEN_AUDIENCE", "api://inventory")
        .env("WARDEN_ALLOW_HTTP", "1")
        .env("WARDEN_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    let mut client = InventoryClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let mut claims = issuer.claims("api://inventory");
    claims["scope"] = json!("inventory:read");
    let t = issuer.mint(&claims).unwrap();
    let mut req = tonic::Request::new(GetItemRequest {
        sku: "apple".into(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {t}").parse().unwrap());
    let item = client.get_item(req).await.unwrap().into_inner();
    assert_eq!(item.caller, "alice");

    let s = client
        .get_item(GetItemRequest {
            sku: "apple".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated);
}

#[test]
fn binary_needs_its_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_grpc-inventory"))
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        (
            out.status.code(),
            stderr.contains("WARDEN_ISSUER is required")
        ),
        (Some(2), true),
        "{stderr}"
    );
}
