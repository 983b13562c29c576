//! What the gate's test files share: the orders configuration, tokens, and
//! a gate serving forward-auth on a loopback port.
#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use serde_json::{Value, json};
use warden_gate::{GateConfig, Parts};
use warden_issuer::TestIssuer;

/// The audience every test token is for.
pub(crate) const AUD: &str = "api://orders";

/// A configuration for `issuer` (keys from its JWKS URL, plain http) with
/// the orders routes: POST/DELETE need orders:write, the rest of /orders/
/// orders:read, /reports/ on host reports.test either of reports:read and
/// orders:read, /public/ is anonymous; then `extra`.
pub(crate) fn orders_config(issuer: &TestIssuer, extra: &str) -> GateConfig {
    let text = format!(
        r#"
[[issuer]]
issuer = "{iss}"
audience = "{AUD}"
jwks_url = "{jwks}"
allow_http = true

[[route]]
path = "/orders/"
methods = ["POST", "DELETE"]
scopes = ["orders:write"]

[[route]]
path = "/orders/"
scopes = ["orders:read"]

[[route]]
path = "/reports/"
host = "reports.test"
any_scopes = ["reports:read", "orders:read"]

[[route]]
path = "/public/"
anonymous = true

{extra}
"#,
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
    );
    GateConfig::parse(&text, |_| None).unwrap()
}

/// `Bearer <token>` for the orders audience with `scope`, claims edited by `edit`.
pub(crate) fn bearer(issuer: &TestIssuer, scope: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut c = issuer.claims(AUD);
    c["scope"] = json!(scope);
    edit(&mut c);
    format!("Bearer {}", issuer.mint(&c).unwrap())
}

/// The gate's forward-auth for `config` on a loopback port (keys loaded
/// when the issuer answers): its base URL and parts.
pub(crate) async fn serve_forward(config: &GateConfig) -> (String, Parts) {
    let parts = Parts::new(config).unwrap();
    let app = parts.forward_router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    parts
        .jwt
        .wait_until_ready(Duration::from_secs(5))
        .await
        .ok();
    (format!("http://{addr}"), parts)
}
