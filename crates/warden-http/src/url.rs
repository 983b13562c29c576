//! The URL policy for every endpoint warden talks to (issuer, discovery,
//! JWKS, token, introspection, revocation): an absolute URL with a host,
//! and https (RFC 9700 §2.6,
//! <https://www.rfc-editor.org/rfc/rfc9700#section-2.6>) unless plain http
//! was allowed through a component's `dangerous()` door.

/// Which schemes are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UrlPolicy {
    /// `https` only: the default.
    #[default]
    HttpsOnly,
    /// `https` and `http` (loopback development, reached only through a
    /// `dangerous()` door).
    AllowHttp,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL at all.
    #[error("invalid URL {0:?}: not a URL")]
    NotUrl(String),
    /// A URL without a host.
    #[error("invalid URL {0:?}: no host")]
    NoHost(String),
    /// A scheme other than http(s).
    #[error("invalid URL {0:?}: scheme must be https")]
    Scheme(String),
    /// `http://` under [`UrlPolicy::HttpsOnly`].
    #[error(
        "refusing plain-http URL {0:?}: use https, or .dangerous().allow_http() for local development"
    )]
    HttpNotAllowed(String),
}

impl UrlPolicy {
    /// Checks `url` against the policy.
    ///
    /// ```
    /// use warden_http::{UrlError, UrlPolicy};
    /// assert!(UrlPolicy::HttpsOnly.check("https://id.example/t").is_ok());
    /// assert!(matches!(UrlPolicy::HttpsOnly.check("http://id.example"), Err(UrlError::HttpNotAllowed(_))));
    /// assert!(UrlPolicy::AllowHttp.check("http://127.0.0.1:8080").is_ok());
    /// assert!(matches!(UrlPolicy::AllowHttp.check("https:///x"), Err(_)));
    /// ```
    ///
    /// # Errors
    /// A [`UrlError`] naming the URL and the reason.
    pub fn check(self, url: &str) -> Result<(), UrlError> {
        let uri: http::Uri = url.parse().map_err(|_| UrlError::NotUrl(url.into()))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("https" | "http")) => s,
            Some(_) => return Err(UrlError::Scheme(url.into())),
            None => return Err(UrlError::NotUrl(url.into())),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost(url.into()));
        }
        match (scheme, self) {
            ("https", _) | ("http", UrlPolicy::AllowHttp) => Ok(()),
            _ => Err(UrlError::HttpNotAllowed(url.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = UrlPolicy::HttpsOnly;
        assert_eq!(
            p.check("not a url"),
            Err(UrlError::NotUrl("not a url".into()))
        );
        assert_eq!(
            p.check("/relative"),
            Err(UrlError::NotUrl("/relative".into()))
        );
        assert_eq!(
            p.check("ftp://h/x"),
            Err(UrlError::Scheme("ftp://h/x".into()))
        );
        assert!(p.check("https://h:8443/p?q").is_ok());
    }
}
