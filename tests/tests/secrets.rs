//! #11 item 10: secrets never reach `Debug` output or logs: token responses,
//! client and user configurations, the example's configuration, a Redis
//! URL's password; and a whole run of the components over real HTTP logs
//! no token and no secret (at TRACE, every warden target).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use warden::outbound::{TokenContext, TokenSource};
use warden_client::TokenResponse;
use warden_issuer::{Issuer, IssuerConfig};
use warden_redis::{RedisConfig, RedisRevocationStore};
use warden_tests::{get_bearer, serve};

#[test]
fn debug_output_redacts_secrets() {
    let r: TokenResponse = serde_json::from_value(json!({
        "access_token": "at-secret-value", "token_type": "Bearer",
        "refresh_token": "rt-secret-value", "expires_in": 60,
    }))
    .unwrap();
    let d = format!("{r:?}");
    assert!(
        !d.contains("at-secret-value") && !d.contains("rt-secret-value"),
        "{d}"
    );

    let cfg = IssuerConfig::dev();
    let d = format!("{cfg:?}");
    for secret in ["svc-batch-secret", "svc-gateway-secret", "alice-password"] {
        assert!(!d.contains(secret), "{secret} in {d}");
    }
    // --dev prints its configuration on purpose: the TOML keeps the secrets.
    assert!(cfg.to_toml().contains("svc-batch-secret"));

    let example = example_resource_server::Config::from_lookup(|k| match k {
        "WARDEN_ISSUER" => Some("https://id.example".into()),
        "WARDEN_AUDIENCE" => Some("api://orders".into()),
        "WARDEN_INTROSPECTION_URL" => Some("https://id.example/introspect".into()),
        "WARDEN_CLIENT_ID" => Some("rs".into()),
        "WARDEN_CLIENT_SECRET" => Some("rs-client-secret".into()),
        "WARDEN_REDIS_URL" => Some("redis://:redis-password@127.0.0.1:6379".into()),
        _ => None,
    })
    .unwrap();
    let d = format!("{example:?}");
    assert!(!d.contains("rs-client-secret"), "{d}");
    assert!(!d.contains("redis-password"), "{d}");
}

/// Collects everything written by the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_whole_run_logs_no_token_and_no_secret() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target().starts_with("warden") || m.target().starts_with("example")
            })),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = Issuer::start_dev().await.unwrap();
    let source = warden_tests::cc_source(
        issuer.issuer(),
        ("svc-batch", "svc-batch-secret"),
        "api://orders",
    );
    let token = source.token(&TokenContext::default()).await.unwrap();
    let wrong = warden_tests::cc_source(
        issuer.issuer(),
        ("svc-batch", "wrong-secret-value"),
        "api://orders",
    );
    assert!(wrong.token(&TokenContext::default()).await.is_err());

    let validator = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
    let url = format!(
        "http://{}/protected",
        serve(example_resource_server::app(validator, "orders:read")).await
    );
    assert_eq!(get_bearer(&url, token.secret()).await.status, 200);
    let mut tampered = token.secret().to_owned();
    tampered.push('A');
    assert_eq!(get_bearer(&url, &tampered).await.status, 401);

    // A Redis URL with a password, unreachable: its errors are logged.
    let store = RedisRevocationStore::connect(
        "redis://:redis-password@127.0.0.1:1",
        RedisConfig::default().timeout(Duration::from_millis(200)),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = format!("{store:?}");
    drop(store);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("token"), "something was logged: {text}");
    for (what, secret) in [
        ("the access token", token.secret()),
        ("a tampered token", tampered.as_str()),
        ("the client secret", "svc-batch-secret"),
        ("a wrong secret", "wrong-secret-value"),
        ("the redis password", "redis-password"),
    ] {
        assert!(!text.contains(secret), "{what} in the logs:\n{text}");
        assert!(!status.contains(secret), "{what} in {status}");
    }
}
