//! JWK Set parsing from arbitrary bytes (and, when they are JSON, from the
//! parsed value). Oracle: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_jwt::KeySet;

fuzz_target!(|data: &[u8]| {
    let _ = KeySet::from_jwks(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = KeySet::from_jwks_value(&v);
    }
});
