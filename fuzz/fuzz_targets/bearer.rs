//! Bearer extraction (RFC 6750 §2) from arbitrary header maps and URIs.
//!
//! Input: the first byte picks the sources switched on; then lines: the
//! first is the request target (path and query), the others `name: value`
//! headers (repeats kept). Oracle: never a panic; an extracted token is
//! never empty and only b64token characters.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use warden_core::BearerExtractor;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut ex = BearerExtractor::new();
    if mode & 1 != 0 {
        ex = ex.query();
    }
    if mode & 2 != 0 {
        ex = ex.cookie("session");
    }
    if mode & 4 != 0 {
        ex = ex.header(HeaderName::from_static("x-token"));
    }
    if mode & 8 != 0 {
        ex = ex.max_len(64);
    }
    let mut lines = rest.split(|b| *b == b'\n');
    let uri = lines
        .next()
        .and_then(|l| Uri::try_from(l).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if let Ok(Some(token)) = ex.extract(&headers, &uri) {
        let t = token.as_str();
        assert!(!t.is_empty(), "an empty token was extracted");
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)),
            "a token outside the b64token grammar was extracted"
        );
    }
});
