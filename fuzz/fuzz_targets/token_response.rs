//! Token-endpoint response parsing in warden-client (RFC 6749 §5.1/§5.2),
//! with the cache's expiry arithmetic and the unverified `exp` read.
//!
//! Input: two bytes of status, then the body. Oracle: never a panic; a
//! success only for a 2xx with an `access_token`; refresh never after
//! expiry.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_be_bytes([data[0], data[1]]) % 500;
    let body = &data[2..];
    if let Ok((expires_at, refresh_at, _exp)) = warden_client::fuzzing::token_response(status, body)
    {
        assert!((200..300).contains(&status), "a token from status {status}");
        assert!(refresh_at <= expires_at);
    }
});
