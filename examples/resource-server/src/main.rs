//! Run with `cargo run -p example-resource-server`; configure with
//! WARDEN_ISSUER, WARDEN_AUDIENCE and friends (see the README).
//! WARDEN_WORKERS sets the number of runtime threads (default: one per core).

fn main() {
    warden::bin::init_logging();
    let config = warden::bin::or_exit(
        "resource-server",
        example_resource_server::Config::from_env(),
    );
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("WARDEN_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        rt.worker_threads(n);
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("resource-server: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(example_resource_server::run(config)) {
        eprintln!("resource-server: {e}");
        std::process::exit(1);
    }
}
