//! The path a route rule is matched against: the request target reduced to
//! one canonical form, so that two spellings of one resource can never take
//! two different rules.
//!
//! - the query and the fragment are dropped (RFC 3986 §3.4, §3.5);
//! - percent-encoded unreserved characters are decoded and the other
//!   escapes are kept with upper-case hex (RFC 3986 §6.2.2.1, §6.2.2.2);
//! - dot segments are removed (RFC 3986 §5.2.4), after decoding, so
//!   `%2e%2e` is `..`;
//! - repeated slashes are collapsed.
//!
//! Refused outright, as `invalid_request`: a target that is not an absolute
//! path, an encoded `/` or `\`, a raw `\`, a malformed escape, a byte that is
//! not a visible ASCII character, a `..` that climbs above the root, and a
//! dot segment carrying `;` parameters (`..;/`, which Tomcat and Jetty read
//! as `..`). Upstreams disagree on every one of these, which is what makes
//! them bypasses.
//!
//! RFC 3986: <https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2> (case
//! and percent-encoding normalization),
//! <https://www.rfc-editor.org/rfc/rfc3986#section-5.2.4> (dot segments).

use std::fmt;

/// Why a request target has no canonical path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path (`/...`).
    NotAbsolute,
    /// `%2F` or `%5C`: a separator the upstream may or may not see.
    EncodedSeparator,
    /// A `\`, which some upstreams read as `/`.
    Backslash,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A control character, a space or a non-ASCII byte.
    BadCharacter,
    /// `..` above the root.
    EscapesRoot,
    /// A dot segment with `;` parameters.
    DotSegmentParameters,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the request path is not absolute",
            PathError::EncodedSeparator => "the request path has an encoded separator",
            PathError::Backslash => "the request path has a backslash",
            PathError::BadEscape => "the request path has a malformed percent-escape",
            PathError::BadCharacter => "the request path has a character outside visible ASCII",
            PathError::EscapesRoot => "the request path climbs above the root",
            PathError::DotSegmentParameters => "the request path has a dot segment with parameters",
        })
    }
}

impl std::error::Error for PathError {}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The byte `%XY` at `bytes[i..]` stands for, when `X` and `Y` are hex digits.
fn escaped(bytes: &[u8], i: usize) -> Option<u8> {
    let pair = bytes.get(i + 1..i + 3)?;
    if !pair.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()
}

/// Decodes unreserved escapes and upper-cases the others.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let v = escaped(bytes, i).ok_or(PathError::BadEscape)?;
                if v == b'/' || v == b'\\' {
                    return Err(PathError::EncodedSeparator);
                }
                if unreserved(v) {
                    out.push(char::from(v));
                } else {
                    out.push('%');
                    out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                    out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0x21..=0x7e => {
                out.push(char::from(b));
                i += 1;
            }
            _ => return Err(PathError::BadCharacter),
        }
    }
    Ok(out)
}

/// The canonical path of a request target (origin form, `/path?query`).
///
/// # Errors
/// A [`PathError`] for a target that must be refused.
pub fn normalize(target: &str) -> Result<String, PathError> {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let raw = &target[..end];
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut pieces = decoded.split('/').skip(1).peekable();
    // Whether the path ends in a directory (`/`, `/.`, `/..`).
    let mut directory = false;
    while let Some(seg) = pieces.next() {
        let last = pieces.peek().is_none();
        directory = last && matches!(seg, "" | "." | "..");
        match seg {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::EscapesRoot);
                }
            }
            s if s.starts_with(".;") || s.starts_with("..;") => {
                return Err(PathError::DotSegmentParameters);
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if directory || segments.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        for (target, want) in [
            ("/", "/"),
            ("/orders", "/orders"),
            ("/orders/", "/orders/"),
            ("/orders?x=1#f", "/orders"),
            ("/orders/../public/x", "/public/x"),
            ("/public/../admin/x", "/admin/x"),
            ("/public/%2e%2e/admin/x", "/admin/x"),
            ("/public/%2E%2E/admin/x", "/admin/x"),
            ("/public/.%2e/admin", "/admin"),
            ("//orders///1", "/orders/1"),
            ("/./orders/./1/.", "/orders/1/"),
            ("/orders/1/..", "/orders/"),
            ("/%6Frders", "/orders"),
            ("/a%7eb", "/a~b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/orders;v=1", "/orders;v=1"),
            ("/?q=/../..", "/"),
        ] {
            assert_eq!(normalize(target).as_deref(), Ok(want), "{target}");
        }
    }

    #[test]
    fn refusals() {
        for (target, want) in [
            ("", PathError::NotAbsolute),
            ("orders", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("http://h/orders", PathError::NotAbsolute),
            ("/public%2f..%2fadmin", PathError::EncodedSeparator),
            ("/public%2F..", PathError::EncodedSeparator),
            ("/public%5c..", PathError::EncodedSeparator),
            ("/public\\..\\admin", PathError::Backslash),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/a%", PathError::BadEscape),
            ("/a%+1", PathError::BadEscape),
            ("/a b", PathError::BadCharacter),
            ("/a\tb", PathError::BadCharacter),
            ("/caf\u{e9}", PathError::BadCharacter),
            ("/..", PathError::EscapesRoot),
            ("/a/../../b", PathError::EscapesRoot),
            ("/%2e%2e/x", PathError::EscapesRoot),
            ("/public/..;/admin", PathError::DotSegmentParameters),
            ("/public/.;x/admin", PathError::DotSegmentParameters),
        ] {
            assert_eq!(normalize(target), Err(want), "{target:?}");
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for t in ["/a/./b/../c//d/", "/%7Ex/%c3%a9", "/x;y/z"] {
            let once = normalize(t).unwrap();
            assert_eq!(normalize(&once).unwrap(), once);
        }
    }
}
