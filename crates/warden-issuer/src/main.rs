//! `warden-issuer`: run the development authorization server.
//!
//! ```text
//! warden-issuer --dev            built-in development configuration (printed at start)
//! warden-issuer --config FILE    a TOML configuration
//! ```
//! Listens on 127.0.0.1:9000 unless WARDEN_ISSUER_BIND says otherwise; the
//! issuer URL follows the address (http://127.0.0.1:9000). With
//! WARDEN_REDIS_URL set, revocations go to the Redis store, so every
//! resource server on the same Redis learns of them.

use warden_issuer::{Issuer, IssuerConfig};

const USAGE: &str =
    "usage: warden-issuer --dev | --config FILE\n  env WARDEN_ISSUER_BIND (default 127.0.0.1:9000)";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, print) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--dev"] => (IssuerConfig::dev(), true),
        ["--config", file] => match std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {file}: {e}"))
            .and_then(|t| IssuerConfig::from_toml(&t).map_err(|e| e.to_string()))
        {
            Ok(c) => (c, false),
            Err(e) => {
                eprintln!("warden-issuer: {e}");
                std::process::exit(2);
            }
        },
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            return;
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let bind = std::env::var("WARDEN_ISSUER_BIND").unwrap_or_else(|_| "127.0.0.1:9000".into());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("warden-issuer: cannot listen on {bind}: {e}");
            std::process::exit(1);
        }
    };
    if print {
        println!(
            "# development configuration (never use in production)\n{}",
            config.to_toml()
        );
    }
    let mut builder = Issuer::builder(config);
    if let Ok(url) = std::env::var("WARDEN_REDIS_URL")
        && !url.is_empty()
    {
        let cfg = warden_redis::RedisConfig::from_env().unwrap_or_else(|e| {
            eprintln!("warden-issuer: {e}");
            std::process::exit(2);
        });
        match warden_redis::RedisRevocationStore::connect(&url, cfg) {
            Ok(store) => {
                println!("revocations go to {}", warden_redis::redact_url(&url));
                builder = builder.revocation_store(std::sync::Arc::new(store));
            }
            Err(e) => {
                eprintln!("warden-issuer: WARDEN_REDIS_URL: {e}");
                std::process::exit(2);
            }
        }
    }
    let issuer = match builder.start_on(listener).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("warden-issuer: {e}");
            std::process::exit(1);
        }
    };
    println!("issuer {}", issuer.issuer());
    println!("listening on {}", issuer.addr());
    let _ = tokio::signal::ctrl_c().await;
}
