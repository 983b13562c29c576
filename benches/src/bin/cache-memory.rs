//! Bytes held per validated-token cache entry, measured from the process's
//! resident memory while filling a cache with 100,000 typical tokens (about
//! 800 bytes each). Prints the total per entry and the part beyond the claims
//! themselves (the principal, measured the same way).
//!
//! Run with `cargo run --release -p warden-bench --bin cache-memory`.

use warden_bench::{Fixture, now_or_never};
use warden_core::{Principal, TokenCache};
use warden_issuer::Algorithm;

const N: usize = 100_000;

/// Resident set size in bytes (the tests' one measure of it).
fn rss() -> usize {
    usize::try_from(warden_tests::rss_bytes()).unwrap_or(usize::MAX)
}

fn main() {
    let fx = Fixture::new(Algorithm::RS256);
    // Distinct tokens of the same length as the fixture token.
    let base = &fx.token[..fx.token.len() - 8];
    let tokens: Vec<String> = (0..N).map(|i| format!("{base}{i:08}")).collect();
    let token_len = fx.token.len();

    // The claims themselves: N principals, as validation produces them.
    let before = rss();
    let principals: Vec<Principal> = (0..N)
        .map(|_| now_or_never(fx.validator.validate_token(&fx.token)).expect("valid"))
        .collect();
    let claims_bytes = (rss() - before) as f64 / N as f64;

    let cache = TokenCache::new(N);
    let before = rss();
    for (t, p) in tokens.iter().zip(&principals) {
        cache.insert(t, p);
    }
    let entry_bytes = (rss() - before) as f64 / N as f64;
    println!("token length: {token_len} bytes");
    println!("entries: {}", cache.len());
    println!("claims (principal) per token: {claims_bytes:.0} bytes");
    println!(
        "cache overhead per entry (beyond the claims, token copy included): {entry_bytes:.0} bytes"
    );
    println!(
        "total per cached token: {:.0} bytes",
        claims_bytes + entry_bytes
    );
}
