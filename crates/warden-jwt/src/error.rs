//! Errors met while building a validator or fetching keys. Errors met while
//! validating a token are [`warden_core::AuthError`]s.

/// Why a [`JwtValidator`](crate::JwtValidator) could not be built, or why the
/// last key fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// No issuer was configured. RFC 8725 §3.8: tokens must be bound to their
    /// issuer. Set `.issuer(..)`, or waive it with
    /// `.dangerous().skip_issuer_check()`.
    #[error("no issuer configured: call .issuer(..) (or .dangerous().skip_issuer_check())")]
    MissingIssuer,
    /// No audience was configured. RFC 8725 §3.9: a token minted for another
    /// service must not be accepted here. Set `.audience(..)`, or waive it with
    /// `.dangerous().skip_audience_check()`.
    #[error("no audience configured: call .audience(..) (or .dangerous().skip_audience_check())")]
    MissingAudience,
    /// No key source: neither keys, a JWKS URL, nor an issuer to discover from.
    #[error("no key source: set .issuer(..) for discovery, .jwks_url(..), or .keys(..)")]
    MissingKeySource,
    /// Two key sources were configured.
    #[error("contradictory key sources: {0}; choose one")]
    ConflictingKeySources(&'static str),
    /// jsonwebtoken has no usable crypto backend.
    #[error(
        "no JOSE crypto backend: enable exactly one of warden-jwt's features `aws_lc_rs` or `rust_crypto` \
         (the `warden` crate enables `aws_lc_rs` by default), or install a jsonwebtoken CryptoProvider"
    )]
    NoCryptoBackend,
    /// Remote key sources need a tokio runtime for their background refresh.
    #[error("build() must be called inside a tokio runtime when keys are fetched over the network")]
    NoRuntime,
    /// A URL could not be parsed or has no host.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An `http://` URL without `.dangerous().allow_http()` (RFC 9700 §2.6).
    #[error(
        "refusing plain-http URL {0:?}: use https, or .dangerous().allow_http() for local development"
    )]
    HttpNotAllowed(String),
    /// The discovery document's `issuer` is not exactly the configured issuer
    /// (OpenID Connect Discovery §4.3). A trailing slash is a common cause.
    #[error(
        "issuer mismatch: configured {configured:?}, but the discovery document says {discovered:?}"
    )]
    IssuerMismatch {
        /// The issuer given to the builder.
        configured: String,
        /// The issuer in the discovery document.
        discovered: String,
    },
    /// The discovery document or JWKS could not be fetched.
    #[error("fetching {url} failed: {reason}")]
    Fetch {
        /// What was fetched.
        url: String,
        /// Why it failed (timeout, status, size, connection).
        reason: String,
    },
    /// The document was fetched but is not usable.
    #[error("bad document from {url}: {reason}")]
    BadDocument {
        /// What was fetched.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured key could not be used.
    #[error("unusable key: {0}")]
    InvalidKey(String),
    /// A contradictory or out-of-range setting.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
}

impl From<warden_http::UrlError> for JwtError {
    fn from(e: warden_http::UrlError) -> Self {
        use warden_http::UrlError as U;
        match e {
            U::HttpNotAllowed(url) => JwtError::HttpNotAllowed(url),
            U::NotUrl(url) => JwtError::InvalidUrl {
                url,
                reason: "not a URL",
            },
            U::NoHost(url) => JwtError::InvalidUrl {
                url,
                reason: "no host",
            },
            U::Scheme(url) => JwtError::InvalidUrl {
                url,
                reason: "scheme must be https",
            },
            other => JwtError::InvalidUrl {
                url: other.to_string(),
                reason: "refused",
            },
        }
    }
}

impl From<warden_http::DiscoveryError> for JwtError {
    fn from(e: warden_http::DiscoveryError) -> Self {
        use warden_http::DiscoveryError as D;
        match e {
            D::Url(u) => u.into(),
            D::Fetch { url, source } => JwtError::Fetch {
                url,
                reason: source.to_string(),
            },
            D::Status { url, status } => JwtError::Fetch {
                url,
                reason: format!("status {status}"),
            },
            D::BadDocument { url, reason } => JwtError::BadDocument {
                url,
                reason: reason.into(),
            },
            D::IssuerMismatch {
                configured,
                discovered,
            } => JwtError::IssuerMismatch {
                configured,
                discovered,
            },
            other => JwtError::BadDocument {
                url: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

/// The HTTP client could not be built.
impl From<warden_http::ClientBuildError> for JwtError {
    fn from(e: warden_http::ClientBuildError) -> Self {
        JwtError::InvalidSetting(e.to_string())
    }
}
