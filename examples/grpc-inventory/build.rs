//! Compiles proto/inventory.proto with protox (pure Rust, no system protoc)
//! and writes the list of gRPC method paths the service has, so that scope
//! rules can be checked against it at start-up.

use std::fmt::Write as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/inventory.proto");
    let fds = protox::compile(["inventory.proto"], ["proto"])?;
    let mut methods = String::from(
        "/// Every gRPC method path of the proto services.\npub const METHODS: &[&str] = &[\n",
    );
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                writeln!(
                    methods,
                    "    \"/{}.{}/{}\",",
                    file.package(),
                    service.name(),
                    method.name()
                )?;
            }
        }
    }
    methods.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("methods.rs"), methods)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
