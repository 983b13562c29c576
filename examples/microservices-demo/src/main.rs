//! Run with `cargo run --release -p microservices-demo` (`--serve` keeps the
//! services running; `--redis URL` puts revocations on Redis).

use microservices_demo::{Demo, Options, print_serve_info, scenario};

#[tokio::main]
async fn main() {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--serve" => opts.serve = true,
            "--redis" => match args.next() {
                Some(url) => opts.redis = Some(url),
                None => {
                    eprintln!("microservices-demo: --redis needs a URL (redis://127.0.0.1:6379)");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!("usage: microservices-demo [--serve] [--redis URL]");
                std::process::exit(2);
            }
        }
    }
    let demo = match Demo::start(&opts).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("microservices-demo: cannot start: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "warden microservices demo: issuer {}, gateway {}, orders {}, inventory {}",
        demo.issuer.issuer(),
        demo.gateway,
        demo.orders,
        demo.inventory
    );
    let report = match scenario(&demo).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("microservices-demo: the scenario could not run: {e}");
            std::process::exit(1);
        }
    };
    println!("\n== summary");
    for s in &report.steps {
        println!(
            "   {} {}",
            if s.passed { "passed" } else { "FAILED" },
            s.name
        );
    }
    let passed = report.steps.iter().filter(|s| s.passed).count();
    println!("{passed} passed, {} failed", report.steps.len() - passed);
    if opts.serve {
        if let Err(e) = print_serve_info(&demo).await {
            eprintln!("microservices-demo: {e}");
        }
        let _ = tokio::signal::ctrl_c().await;
    }
    std::process::exit(if report.passed() { 0 } else { 1 });
}
