//! `warden-gate --config gate.toml`: an invalid configuration prints the
//! line and the reason and exits with code 2.

use std::path::PathBuf;

use clap::Parser;

/// warden's checks as an external authorizer for nginx, Traefik, Caddy and Envoy.
#[derive(Debug, Parser)]
#[command(name = "warden-gate", version)]
struct Args {
    /// The TOML configuration file.
    #[arg(long)]
    config: PathBuf,
}

#[tokio::main]
async fn main() {
    warden::bin::init_logging();
    let args = Args::parse();
    let file = args.config.display();
    let config = std::fs::read_to_string(&args.config)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            warden_gate::GateConfig::parse(&text, |k| std::env::var(k).ok()).map_err(|e| {
                match e.line {
                    Some(line) => format!("{file}:{line}: {}", e.reason),
                    None => format!("{file}: {}", e.reason),
                }
            })
        });
    let config = warden::bin::or_exit("warden-gate", config);
    if let Err(e) = warden_gate::run(config).await {
        eprintln!("warden-gate: {e}");
        std::process::exit(1);
    }
}
