//! The DPoP proof verifier (RFC 9449 §4.3) on arbitrary proof strings, for
//! a fixed request, token binding and clock.
//!
//! Oracle: never a panic, and nothing is accepted but the seed proof
//! (`keys/dpop_seeds.txt`) byte for byte: its key's private half was thrown
//! away when the seed was made, so any other accepted input is a forgery
//! the verifier let through.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use warden_core::ManualClock;
use warden_core::dpop::{ProofRequest, ProofVerifier};
use warden_jwt::DpopVerifier;

/// The seed's `iat`.
const NOW: u64 = 1_800_000_000;
/// The thumbprint of the seed's key.
const JKT: &str = "uxYBVty75r4iYQx_Ljb2aojPj_z-GkV8lr5X2_vZzlw";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2ln";
const SEEDS: &str = include_str!("../keys/dpop_seeds.txt");

/// One verifier for every input: its parsed-header cache is part of what
/// is fuzzed.
static VERIFIER: LazyLock<DpopVerifier> = LazyLock::new(|| {
    DpopVerifier::new().clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)))
});

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = &*VERIFIER;
    let request = ProofRequest {
        method: "GET",
        uri: "https://fuzz.warden.invalid/orders?page=1",
        access_token: Some(TOKEN),
        jkt: Some(JKT),
    };
    if verifier.verify(proof, &request).is_ok() {
        assert!(
            SEEDS.lines().any(|s| s == proof),
            "accepted a proof that is not a seed"
        );
    }
});
