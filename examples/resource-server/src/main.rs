//! Run with `cargo run -p example-resource-server`; configure with
//! WARDEN_ISSUER, WARDEN_AUDIENCE and friends (see the README).

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match example_resource_server::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("resource-server: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = example_resource_server::run(config).await {
        eprintln!("resource-server: {e}");
        std::process::exit(1);
    }
}
