//! Run with `cargo run -p example-grpc-inventory`; configure with
//! WARDEN_ISSUER, WARDEN_AUDIENCE, WARDEN_JWKS_URL, WARDEN_ALLOW_HTTP and
//! WARDEN_BIND (default 127.0.0.1:50051).

#[tokio::main]
async fn main() {
    warden::bin::init_logging();
    let config = warden::bin::or_exit("grpc-inventory", example_grpc_inventory::Config::from_env());
    if let Err(e) = example_grpc_inventory::run(config).await {
        eprintln!("grpc-inventory: {e}");
        std::process::exit(1);
    }
}
