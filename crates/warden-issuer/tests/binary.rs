//! `warden-issuer --dev` as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn dev_mode_prints_its_configuration_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden-issuer"))
        .arg("--dev")
        .env("WARDEN_ISSUER_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut addr = None;
    for _ in 0..200 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(a) = line.trim().strip_prefix("listening on ") {
            addr = Some(a.to_owned());
            break;
        }
        printed.push_str(&line);
    }
    let addr = addr.expect("listening line");
    assert!(
        printed.contains("svc-gateway-secret") && printed.contains("api://ledger"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("issuer http://{addr}")),
        "the issuer URL follows the address"
    );
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/token"))
        .basic_auth("svc-batch", Some("svc-batch-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "ledger:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_arguments_and_configs_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_warden-issuer"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let out = Command::new(env!("CARGO_BIN_EXE_warden-issuer"))
        .args(["--config", "/nonexistent/issuer.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
