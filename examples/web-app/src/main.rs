//! `web-app`: the backend-for-frontend example. Run it next to the demo's
//! issuer and gateway (`cargo run -p microservices-demo -- --serve` starts
//! all of them), or on its own:
//!
//! ```text
//! WARDEN_ISSUER=http://127.0.0.1:9000 WARDEN_ALLOW_HTTP=1 \
//! WARDEN_GATEWAY_URL=http://127.0.0.1:3000 cargo run -p example-web-app
//! ```

#![forbid(unsafe_code)]

use example_web_app::{Config, serve};

#[tokio::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("web-app: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("web-app: cannot bind {}: {e}", config.bind);
            std::process::exit(1);
        }
    };
    println!("web-app: {} (issuer {})", config.public_url, config.issuer);
    if let Err(e) = serve(listener, config).await {
        eprintln!("web-app: {e}");
        std::process::exit(1);
    }
}
