//! The error of a misconfigured client or source.

/// A misconfigured client or source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A setting is missing or wrong.
    #[error("client configuration: {0}")]
    Config(String),
    /// A URL breaks the URL policy (https unless allowed).
    #[error("client configuration: {0}")]
    Url(#[from] warden_http::UrlError),
    /// The HTTP client could not be built.
    #[error("client configuration: {0}")]
    Http(#[from] warden_http::ClientBuildError),
    /// A private key could not be used.
    #[error("client configuration: {0}")]
    Key(#[from] warden_jwt::SignError),
}
