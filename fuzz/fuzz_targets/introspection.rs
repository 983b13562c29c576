//! Introspection response parsing and claims normalisation (RFC 7662
//! §2.2), through the validator's own code path.
//!
//! Oracle: never a panic; a response is accepted only when it says
//! `"active": true`, names the configured issuer and audience, and is not
//! expired beyond the leeway every validator allows (`DEFAULT_LEEWAY`, the
//! same rule as for a JWT: one token, one verdict).
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use warden_core::{DEFAULT_LEEWAY, ManualClock};
use warden_introspect::IntrospectionValidator;

const NOW: u64 = 1_800_000_000;

static VALIDATOR: LazyLock<IntrospectionValidator> = LazyLock::new(|| {
    IntrospectionValidator::builder()
        .endpoint("https://as.fuzz.invalid/introspect")
        .client("rs", "rs-secret")
        .issuer("https://as.fuzz.invalid")
        .audience("api://fuzz")
        .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)))
        .build()
        .expect("fuzz validator")
});

fuzz_target!(|data: &[u8]| {
    let Ok(p) = warden_introspect::fuzzing::verdict(&VALIDATOR, "opaque-token", data) else {
        return;
    };
    let doc: serde_json::Value = serde_json::from_slice(data).expect("accepted, so JSON");
    assert_eq!(doc["active"], true, "accepted an inactive answer");
    assert_eq!(
        p.claims().issuer.as_deref(),
        Some("https://as.fuzz.invalid")
    );
    assert!(p.claims().audiences.iter().any(|a| a == "api://fuzz"));
    if let Some(exp) = p.expires_at() {
        assert!(
            exp + DEFAULT_LEEWAY > UNIX_EPOCH + Duration::from_secs(NOW),
            "accepted an answer expired beyond the leeway"
        );
    }
});
