//! Taking the bearer token off a request, RFC 6750 §2
//! (<https://www.rfc-editor.org/rfc/rfc6750#section-2>).
//!
//! By default only the `Authorization: Bearer <b64token>` header is read
//! (§2.1). A custom header, a cookie and the `access_token` query parameter
//! (§2.3) can be switched on; whichever sources are on, a request that carries
//! more than one credential is refused with 400 `invalid_request`.
//!
//! | request | result |
//! | --- | --- |
//! | no credential, or `Authorization: Basic ...` | `Ok(None)`: 401 with a bare `Bearer` challenge |
//! | `Bearer` with nothing after it | 400 `invalid_request` |
//! | characters outside `b64token`, or more than one token | 400 `invalid_request` |
//! | two `Authorization` headers, or two sources at once | 400 `invalid_request` |
//! | a credential and an `access_token` query parameter, even with the query source off | 400 `invalid_request` (two methods, §2) |
//! | longer than the bound (16 KiB) | 401 `invalid_token`, before any parsing |

use std::fmt;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

use crate::error::{AuthError, InvalidRequest, InvalidToken};
use crate::principal::Fingerprint;

/// The default bound on a token's length, checked before any parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// The authentication scheme an access token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750), or a cookie, custom header or
    /// query parameter.
    #[default]
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof header (RFC 9449 §7.1);
    /// recognised only by layers configured for DPoP.
    Dpop,
}

/// A bearer token taken off a request.
///
/// Holds the bytes without copying the header (a `HeaderValue` clone shares
/// them). `Debug` shows only a fingerprint, never the token.
#[derive(Clone)]
pub struct BearerToken {
    repr: Repr,
    /// Whether the b64token grammar was checked (deferred for header values
    /// so that a cache hit on identical bytes can skip it).
    checked: bool,
    scheme: Scheme,
}

#[derive(Clone)]
enum Repr {
    Header { value: HeaderValue, start: usize },
    Owned(Box<str>),
}

impl BearerToken {
    /// Wraps a token string (for tests and non-HTTP transports).
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            repr: Repr::Owned(token.into().into_boxed_str()),
            checked: true,
            scheme: Scheme::Bearer,
        }
    }

    /// The scheme the token came with.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The token. Treat it as a secret: never log it.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            // Checked to be ASCII when the token was extracted.
            Repr::Header { value, start } => {
                std::str::from_utf8(&value.as_bytes()[*start..]).unwrap_or_default()
            }
            Repr::Owned(s) => s,
        }
    }

    /// The token's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.repr {
            Repr::Header { value, start } => &value.as_bytes()[*start..],
            Repr::Owned(s) => s.as_bytes(),
        }
    }

    /// Checks the b64token grammar if that was deferred.
    pub(crate) fn check(&mut self) -> Result<(), AuthError> {
        if !self.checked {
            check_b64token(self.as_bytes())?;
            self.checked = true;
        }
        Ok(())
    }

    /// A short, non-reversible fingerprint for logs.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.as_str())
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BearerToken")
            .field(&self.fingerprint())
            .finish()
    }
}

/// Where tokens are looked for, and how large one may be.
///
/// The default reads only the `Authorization` header, as RFC 6750 §2.1
/// recommends; the other sources leak tokens into logs, caches and browser
/// history more easily and are opt-in.
#[derive(Clone, Debug)]
pub struct BearerExtractor {
    authorization: bool,
    header: Option<HeaderName>,
    cookie: Option<String>,
    query: bool,
    max_len: usize,
    dpop: bool,
}

impl Default for BearerExtractor {
    fn default() -> Self {
        Self {
            authorization: true,
            header: None,
            cookie: None,
            query: false,
            max_len: DEFAULT_MAX_TOKEN_LEN,
            dpop: false,
        }
    }
}

impl BearerExtractor {
    /// The default: `Authorization: Bearer` only, 16 KiB bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also reads the raw token from the custom header `name` (the whole value
    /// is the token, without a scheme).
    #[must_use]
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Also reads the token from the cookie `name`.
    #[must_use]
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Also reads the `access_token` query parameter (RFC 6750 §2.3).
    ///
    /// # Security
    /// URLs are logged by proxies and servers; RFC 6750 §5.3 advises against it.
    #[must_use]
    pub fn query(mut self) -> Self {
        self.query = true;
        self
    }

    /// Stops reading the `Authorization` header (for example when only a
    /// cookie is used).
    #[must_use]
    pub fn without_authorization(mut self) -> Self {
        self.authorization = false;
        self
    }

    /// Also reads `Authorization: DPoP <token>` (RFC 9449 §7.1); the
    /// authenticate layer turns it on when it is configured for DPoP.
    #[must_use]
    pub fn dpop(mut self, on: bool) -> Self {
        self.dpop = on;
        self
    }

    /// Sets the largest accepted token, in bytes (default 16 KiB).
    #[must_use]
    pub fn max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Takes the one bearer token off a request.
    ///
    /// `Ok(None)` when the request carries no bearer credential.
    ///
    /// # Errors
    /// [`AuthError::InvalidRequest`] for malformed or multiple credentials,
    /// [`AuthError::InvalidToken`] with [`InvalidToken::TooLarge`] for a token
    /// over the bound.
    pub fn extract(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Option<BearerToken>, AuthError> {
        match self.extract_deferred(headers, uri)? {
            Some(mut t) => {
                t.check()?;
                Ok(Some(t))
            }
            None => Ok(None),
        }
    }

    /// Like [`extract`](Self::extract), but a header-borne token's grammar
    /// check is left to [`BearerToken::check`]: the authenticate layer skips
    /// it when the exact bytes are in the validated-token cache.
    pub(crate) fn extract_deferred(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Option<BearerToken>, AuthError> {
        let mut found: Option<BearerToken> = None;
        let mut put = |t: BearerToken| -> Result<(), AuthError> {
            if found.replace(t).is_some() {
                return Err(InvalidRequest::MultipleCredentials.into());
            }
            Ok(())
        };

        if self.authorization {
            let mut values = headers.get_all(AUTHORIZATION).iter();
            if let Some(value) = values.next() {
                if values.next().is_some() {
                    return Err(InvalidRequest::MultipleCredentials.into());
                }
                if let Some(t) = self.read_authorization(value)? {
                    put(t)?;
                }
            }
        }
        if let Some(name) = &self.header {
            let mut values = headers.get_all(name).iter();
            if let Some(value) = values.next() {
                if values.next().is_some() {
                    return Err(InvalidRequest::MultipleCredentials.into());
                }
                put(self.raw_value(value, 0)?)?;
            }
        }
        if let Some(name) = &self.cookie {
            for t in self.read_cookies(headers, name)? {
                put(t)?;
            }
        }
        if let Some(q) = uri.query() {
            if self.query {
                for t in self.read_query(q)? {
                    put(t)?;
                }
            } else if found.is_some() && has_access_token_param(q) {
                // RFC 6750 §2: a client must not use more than one method,
                // whether or not this server reads the second one.
                return Err(InvalidRequest::MultipleCredentials.into());
            }
        }
        Ok(found)
    }

    fn too_large(&self, len: usize) -> bool {
        len > self.max_len
    }

    fn read_authorization(&self, value: &HeaderValue) -> Result<Option<BearerToken>, AuthError> {
        let bytes = value.as_bytes();
        // Bound first: "Bearer" + spaces + token.
        let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
            Some(i) => (&bytes[..i], &bytes[i..]),
            None => (bytes, &bytes[bytes.len()..]),
        };
        let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
            Scheme::Bearer
        } else if self.dpop && scheme.eq_ignore_ascii_case(b"dpop") {
            Scheme::Dpop
        } else {
            // Only our schemes are ours to judge.
            return Ok(None);
        };
        if self.too_large(bytes.len().saturating_sub(7)) {
            return Err(InvalidToken::TooLarge.into());
        }
        let skip = rest.iter().take_while(|b| **b == b' ').count();
        let start = bytes.len() - rest.len() + skip;
        if start == bytes.len() {
            return Err(InvalidRequest::EmptyCredential.into());
        }
        let mut token = self.raw_value(value, start)?;
        token.scheme = scheme;
        Ok(Some(token))
    }

    /// The token is `value[start..]`, checked against the b64token grammar.
    fn raw_value(&self, value: &HeaderValue, start: usize) -> Result<BearerToken, AuthError> {
        let token = &value.as_bytes()[start..];
        if self.too_large(token.len()) {
            return Err(InvalidToken::TooLarge.into());
        }
        Ok(BearerToken {
            checked: false,
            repr: Repr::Header {
                value: value.clone(),
                start,
            },
            scheme: Scheme::Bearer,
        })
    }

    fn owned(&self, token: Vec<u8>) -> Result<BearerToken, AuthError> {
        if self.too_large(token.len()) {
            return Err(InvalidToken::TooLarge.into());
        }
        check_b64token(&token)?;
        // b64token is ASCII, so this cannot fail.
        let s = String::from_utf8(token).map_err(|_| InvalidRequest::MalformedCredential)?;
        Ok(BearerToken::new(s))
    }

    fn read_cookies(&self, headers: &HeaderMap, name: &str) -> Result<Vec<BearerToken>, AuthError> {
        let mut out = Vec::new();
        for header in headers.get_all(COOKIE) {
            let Ok(s) = header.to_str() else { continue };
            for pair in s.split(';') {
                let pair = pair.trim();
                if let Some((k, v)) = pair.split_once('=')
                    && k.trim() == name
                {
                    let v = v.trim().trim_matches('"');
                    if self.too_large(v.len()) {
                        return Err(InvalidToken::TooLarge.into());
                    }
                    if v.is_empty() {
                        return Err(InvalidRequest::EmptyCredential.into());
                    }
                    out.push(self.owned(v.as_bytes().to_vec())?);
                }
            }
        }
        Ok(out)
    }

    fn read_query(&self, query: &str) -> Result<Vec<BearerToken>, AuthError> {
        let mut out = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k != "access_token" {
                continue;
            }
            if self.too_large(v.len() / 3) {
                return Err(InvalidToken::TooLarge.into());
            }
            let v =
                crate::credentials::form_urldecode(v).ok_or(InvalidRequest::MalformedCredential)?;
            if v.is_empty() {
                return Err(InvalidRequest::EmptyCredential.into());
            }
            out.push(self.owned(v)?);
        }
        Ok(out)
    }
}

/// Whether the query string carries an `access_token` parameter (RFC 6750 §2.3).
fn has_access_token_param(query: &str) -> bool {
    query
        .split('&')
        .any(|p| p == "access_token" || p.starts_with("access_token="))
}

/// Whether `b` is a b64token body character: `ALPHA / DIGIT / "-" / "." /
/// "_" / "~" / "+" / "/"`. Branch-free, so the check over a whole token
/// vectorizes.
#[inline(always)]
fn is_b64token_char(b: u8) -> bool {
    let lower = b | 0x20;
    (lower.wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn check_b64token(token: &[u8]) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(InvalidRequest::EmptyCredential.into());
    }
    let body_len = token.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let body = &token[..body_len];
    // Fold without short-circuit over fixed-size chunks: the compiler
    // vectorizes the inner loop.
    let chunks = body.chunks_exact(32);
    let mut valid = chunks
        .remainder()
        .iter()
        .fold(true, |a, b| a & is_b64token_char(*b));
    for chunk in chunks {
        valid &= chunk.iter().fold(true, |a, b| a & is_b64token_char(*b));
    }
    if body.is_empty() || !valid {
        return Err(InvalidRequest::MalformedCredential.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn run(ex: &BearerExtractor, auth: &[&str], uri: &str) -> Result<Option<String>, AuthError> {
        let mut h = HeaderMap::new();
        for a in auth {
            h.append(AUTHORIZATION, hv(a));
        }
        let uri: Uri = uri.parse().unwrap();
        ex.extract(&h, &uri)
            .map(|o| o.map(|t| t.as_str().to_owned()))
    }

    #[test]
    fn authorization_header_table() {
        let ex = BearerExtractor::new();
        let ok = |s: &str| Ok(Some(s.to_owned()));
        let mal = Err(AuthError::InvalidRequest(
            InvalidRequest::MalformedCredential,
        ));
        let empty = Err(AuthError::InvalidRequest(InvalidRequest::EmptyCredential));
        type Case<'a> = (&'a [&'a str], Result<Option<String>, AuthError>);
        let cases: Vec<Case<'_>> = vec![
            (&[], Ok(None)),
            (&["Bearer abc.def.ghi"], ok("abc.def.ghi")),
            (&["bearer abc"], ok("abc")),
            (&["BEARER abc"], ok("abc")),
            (&["BeArEr abc"], ok("abc")),
            (&["Bearer   abc"], ok("abc")),
            (&["Bearer a-._~+/Z9=="], ok("a-._~+/Z9==")),
            (&["Basic dXNlcjpwYXNz"], Ok(None)),
            (&["Bearerabc"], Ok(None)),
            (&["Token abc"], Ok(None)),
            (&["Bearer"], empty.clone()),
            (&["Bearer "], empty.clone()),
            (&["Bearer    "], empty),
            (&["Bearer abc def"], mal.clone()),
            (&["Bearer abc,def"], mal.clone()),
            (&["Bearer ab=c"], mal.clone()),
            (&["Bearer =abc"], mal.clone()),
            (&["Bearer ===="], mal.clone()),
            (&["Bearer abc\t"], mal.clone()),
            (&["Bearer \"abc\""], mal.clone()),
            (&["Bearer abc "], mal.clone()),
            (
                &["Bearer abc", "Bearer abc"],
                Err(InvalidRequest::MultipleCredentials.into()),
            ),
            (
                &["Bearer abc", "Basic eA=="],
                Err(InvalidRequest::MultipleCredentials.into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(&ex, input, "/"), want, "input {input:?}");
        }
    }

    #[test]
    fn non_ascii_header_is_malformed() {
        let ex = BearerExtractor::new();
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer abc\xff").unwrap(),
        );
        assert_eq!(
            ex.extract(&h, &Uri::from_static("/")).map(|o| o.is_some()),
            Err(InvalidRequest::MalformedCredential.into())
        );
    }

    #[test]
    fn size_bound_before_parsing() {
        let ex = BearerExtractor::new().max_len(10);
        let long = format!("Bearer {}", "a".repeat(11));
        assert_eq!(run(&ex, &[&long], "/"), Err(InvalidToken::TooLarge.into()));
        let long_bad = format!("Bearer {}", "\"".repeat(100));
        assert_eq!(
            run(&ex, &[&long_bad], "/"),
            Err(InvalidToken::TooLarge.into())
        );
        assert_eq!(
            run(&ex, &["Bearer aaaaaaaaaa"], "/"),
            Ok(Some("a".repeat(10)))
        );
        let long_basic = format!("Basic {}", "a".repeat(100));
        assert_eq!(run(&ex, &[&long_basic], "/"), Ok(None));
        let ex = BearerExtractor::new();
        let at_bound = format!("Bearer {}", "a".repeat(DEFAULT_MAX_TOKEN_LEN));
        assert!(run(&ex, &[&at_bound], "/").unwrap().is_some());
        let over = format!("Bearer {}", "a".repeat(DEFAULT_MAX_TOKEN_LEN + 1));
        assert_eq!(run(&ex, &[&over], "/"), Err(InvalidToken::TooLarge.into()));
    }

    #[test]
    fn query_is_off_by_default() {
        let ex = BearerExtractor::new();
        assert_eq!(run(&ex, &[], "/x?access_token=abc"), Ok(None));
        // Off, but a header credential beside it is still two methods.
        assert_eq!(
            run(&ex, &["Bearer abc"], "/x?access_token=abc"),
            Err(InvalidRequest::MultipleCredentials.into())
        );
        assert_eq!(
            run(&ex, &["Bearer abc"], "/x?access_token_hint=1"),
            Ok(Some("abc".into()))
        );
        let ex = BearerExtractor::new().query();
        let multiple = Err(InvalidRequest::MultipleCredentials.into());
        let malformed = Err(InvalidRequest::MalformedCredential.into());
        for (headers, uri, expected) in [
            (&[][..], "/x?access_token=abc", Ok(Some("abc".into()))),
            (&[], "/x?a=1&access_token=a%2Bb%3D", Ok(Some("a+b=".into()))),
            (&["Bearer abc"], "/x?access_token=abc", multiple.clone()),
            (&[], "/x?access_token=a&access_token=b", multiple),
            (
                &[],
                "/x?access_token=",
                Err(InvalidRequest::EmptyCredential.into()),
            ),
            (&[], "/x?access_token=a+b", malformed.clone()),
            (&[], "/x?access_token=%zz", malformed.clone()),
            (&[], "/x?access_token=a%+1", malformed),
            // Another scheme in the header does not count as a second credential.
            (
                &["Basic eA=="],
                "/x?access_token=abc",
                Ok(Some("abc".into())),
            ),
        ] {
            assert_eq!(run(&ex, headers, uri), expected, "{headers:?} {uri}");
        }
    }

    #[test]
    fn custom_header_and_cookie() {
        let ex = BearerExtractor::new()
            .header(HeaderName::from_static("x-access-token"))
            .cookie("at");
        let mut h = HeaderMap::new();
        h.insert("x-access-token", hv("abc"));
        let u = Uri::from_static("/");
        assert_eq!(ex.extract(&h, &u).unwrap().unwrap().as_str(), "abc");
        h.insert(AUTHORIZATION, hv("Bearer abc"));
        assert_eq!(
            ex.extract(&h, &u).map(|_| ()),
            Err(InvalidRequest::MultipleCredentials.into())
        );

        let mut h = HeaderMap::new();
        h.insert(COOKIE, hv("theme=dark; at=tok.en; other=1"));
        assert_eq!(ex.extract(&h, &u).unwrap().unwrap().as_str(), "tok.en");
        h.insert("x-access-token", hv("abc"));
        assert_eq!(
            ex.extract(&h, &u).map(|_| ()),
            Err(InvalidRequest::MultipleCredentials.into())
        );

        let mut h = HeaderMap::new();
        h.insert(COOKIE, hv("at=bad token"));
        assert_eq!(
            ex.extract(&h, &u).map(|_| ()),
            Err(InvalidRequest::MalformedCredential.into())
        );
    }

    #[test]
    fn debug_never_shows_token() {
        let t = BearerToken::new("secret-token-value");
        let d = format!("{t:?}");
        assert!(!d.contains("secret"), "{d}");
    }
}
