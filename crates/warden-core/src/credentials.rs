//! Client credentials on the wire: `client_secret_basic`, RFC 6749 §2.3.1
//! (<https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1>). The client id
//! and secret are form-urlencoded *before* they are joined with `:` and
//! base64-encoded, so an id holding a colon, or a secret holding `%`, `+` or
//! a space, reaches the server intact. Every warden component that
//! authenticates with a client secret (token, introspection and revocation
//! requests) builds its header here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The `Authorization` header value for `client_secret_basic`.
///
/// ```
/// assert_eq!(
///     warden_core::client_secret_basic("rs:ledger", "a b"),
///     "Basic cnMlM0FsZWRnZXI6YSUyMGI="
/// );
/// ```
pub fn client_secret_basic(client_id: &str, secret: &str) -> String {
    let joined = format!("{}:{}", form_urlencode(client_id), form_urlencode(secret));
    format!("Basic {}", STANDARD.encode(joined))
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space,
/// `%XX` a byte. `None` when a `%` is not followed by two hex digits (so
/// `%+1` or `%-1` are refused, not read as numbers).
pub fn form_urldecode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_value(*b.get(i + 1)?)?;
                let lo = hex_value(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` encoding of one value, with every
/// byte outside the unreserved set percent-encoded (a space as `%20`, which
/// every form decoder reads back as a space).
fn form_urlencode(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_encoded_before_base64() {
        let h = client_secret_basic("svc-batch", "svc-batch-secret");
        let raw = STANDARD.decode(h.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(raw, b"svc-batch:svc-batch-secret");
        let h = client_secret_basic("a:b", "p@ss:w rd%+/");
        let raw = STANDARD.decode(h.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(raw, b"a%3Ab:p%40ss%3Aw%20rd%25%2B%2F");
    }

    #[test]
    fn form_values_decode_strictly_and_round_trip() {
        assert_eq!(
            form_urldecode("a+b%2Fc%2bd").as_deref(),
            Some(&b"a b/c+d"[..])
        );
        // Found while fuzzing: from_str_radix would read "+1" as a number.
        for bad in ["%+1", "%-1", "%1", "%", "%zz", "% 1"] {
            assert_eq!(form_urldecode(bad), None, "{bad}");
        }
        for v in ["p@ss:w rd%+/", "", "ünï"] {
            assert_eq!(
                form_urldecode(&form_urlencode(v)).as_deref(),
                Some(v.as_bytes())
            );
        }
    }
}
