//! The JWT validator on arbitrary token strings, with a fixed key set (the
//! public half of three fuzz keys: ES256, RS256, EdDSA) and a fixed clock.
//!
//! Oracle: never a panic, and nothing is accepted but the seed tokens
//! (`keys/seeds.txt`) byte for byte. The private halves were thrown away
//! when the seeds were made, so any other accepted input is a forgery the
//! validator let through.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use warden_core::ManualClock;
use warden_jwt::{JwtValidator, KeySet};

/// The seeds' `iat` + 10 s: every seed is valid at this instant.
const NOW: u64 = 1_800_000_000;
const SEEDS: &str = include_str!("../keys/seeds.txt");

struct Target {
    rt: tokio::runtime::Runtime,
    validator: JwtValidator,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let keys = KeySet::from_jwks(include_bytes!("../keys/jwks.json")).expect("fuzz JWKS");
    let validator = JwtValidator::builder()
        .issuer("https://fuzz.warden.invalid")
        .audience("api://fuzz")
        .keys(keys)
        .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)))
        .build()
        .expect("fuzz validator");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    Target { rt, validator }
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let t = &*TARGET;
    if let Ok(p) = t.rt.block_on(t.validator.validate_token(token)) {
        assert!(
            SEEDS.lines().any(|s| s == token),
            "accepted a token that is not a seed: {token:?} -> {:?}",
            p.claims()
        );
    }
});
