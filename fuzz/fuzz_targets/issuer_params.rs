//! warden-issuer's own parsers of request bytes: Basic client credentials
//! (RFC 6749 §2.3.1), form decoding, PKCE (RFC 7636 §4.6) and `scope`.
//!
//! Input: lines; the first byte of the input picks the parser. Oracle:
//! never a panic; what decodes re-encodes consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_issuer::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 4 {
        0 => {
            if let Some((id, secret)) = fuzzing::basic(&text) {
                // What the client side encodes, the server side decodes.
                let again = warden_core::client_secret_basic(&id, &secret);
                let b64 = again.strip_prefix("Basic ").expect("prefix");
                assert_eq!(fuzzing::basic(b64), Some((id, secret)));
            }
        }
        1 => {
            let _ = fuzzing::form_decode(&text);
        }
        2 => {
            let (verifier, challenge) = text.split_once('\n').unwrap_or((&text, ""));
            let _ = fuzzing::pkce_matches(verifier, challenge);
        }
        _ => {
            let params: Vec<(String, String)> = text
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            if let Ok(Some(scopes)) = fuzzing::scopes(params) {
                assert!(scopes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
                assert!(scopes.iter().all(|s| !s.is_empty() && !s.contains(' ')));
            }
        }
    }
});
