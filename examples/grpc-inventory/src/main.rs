//! Run with `cargo run -p example-grpc-inventory`; configure with
//! WARDEN_ISSUER, WARDEN_AUDIENCE, WARDEN_JWKS_URL, WARDEN_ALLOW_HTTP and
//! WARDEN_BIND (default 127.0.0.1:50051).

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match example_grpc_inventory::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("grpc-inventory: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = example_grpc_inventory::run(config).await {
        eprintln!("grpc-inventory: {e}");
        std::process::exit(1);
    }
}
