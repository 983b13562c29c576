//! The binary: a bad configuration names the file, the line and the reason
//! and exits with code 2; a good one serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("warden-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn invalid_config_exits_2_with_the_line() {
    let path = write(
        "bad.toml",
        "[[issuer]]\nissuer = \"https://i\"\naudience = \"a\"\n\n[[route]]\npath = \"/x/\"\nanonymous = true\nscopes = [\"s\"]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_warden-gate"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5: an anonymous route cannot require scopes",
            path.display()
        )),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_warden-gate"))
        .args(["--config", "/nonexistent/gate.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_warden-gate"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--config is required");
}

#[test]
fn a_valid_config_serves_on_the_bind_the_environment_names() {
    let path = write(
        "good.toml",
        "[[issuer]]\nissuer = \"http://127.0.0.1:9\"\naudience = \"a\"\nallow_http = true\njwks_url = \"http://127.0.0.1:9/jwks.json\"\n\n[[route]]\npath = \"/\"\nanonymous = true\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden-gate"))
        .arg("--config")
        .arg(&path)
        .env("WARDEN_GATE_HTTP_BIND", "127.0.0.1:0")
        .env("WARDEN_GATE_GRPC_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let printed: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(2)
        .map(Result::unwrap)
        .collect();
    child.kill().ok();
    child.wait().ok();
    assert!(
        printed[0].starts_with("warden-gate: forward-auth on http://127.0.0.1:")
            && printed[1].starts_with("warden-gate: ext_authz on 127.0.0.1:"),
        "{printed:?}"
    );
}
