//! Why an authorization server (or warden, before asking it) refused a
//! token: the RFC 6749 §5.2 error code as a type
//! (<https://www.rfc-editor.org/rfc/rfc6749#section-5.2>; RFC 8707 §2 and
//! RFC 8693 §2.2.2 add `invalid_target`), its description, and the cause.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An OAuth error code from a token, introspection or revocation response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: the grant (code, refresh token, subject token) is
    /// invalid, expired or revoked.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `invalid_target` (RFC 8707, RFC 8693).
    InvalidTarget,
    /// `access_denied`.
    AccessDenied,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    /// The code a response's `error` member names.
    ///
    /// ```
    /// use warden_core::outbound::ErrorCode;
    /// assert_eq!(ErrorCode::parse("invalid_scope"), ErrorCode::InvalidScope);
    /// assert_eq!(ErrorCode::parse("slow_down").as_str(), "slow_down");
    /// ```
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_grant" => ErrorCode::InvalidGrant,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "invalid_target" => ErrorCode::InvalidTarget,
            "access_denied" => ErrorCode::AccessDenied,
            other => ErrorCode::Other(other.to_owned()),
        }
    }

    /// The code as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: by the server (with its code), or by warden before asking
/// (no code: a destination not allowed, an assertion that cannot be
/// signed, a discovery document naming another issuer). Equality ignores
/// the cause.
#[derive(Clone)]
pub struct Refusal {
    code: Option<ErrorCode>,
    description: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl Refusal {
    /// The server's refusal: its `error` and `error_description`.
    pub fn by_server(code: ErrorCode, description: Option<String>) -> Self {
        Self {
            code: Some(code),
            description: description.unwrap_or_default(),
            source: None,
        }
    }

    /// Warden's own refusal, before anything was asked.
    pub fn local(description: impl Into<String>) -> Self {
        Self {
            code: None,
            description: description.into(),
            source: None,
        }
    }

    /// The same refusal, with its cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The server's error code (`None` for warden's own refusals).
    pub fn code(&self) -> Option<&ErrorCode> {
        self.code.as_ref()
    }

    /// The description (the server's `error_description`, or warden's).
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refusal")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.description.is_empty()) {
            (Some(code), true) => write!(f, "{code}"),
            (Some(code), false) => write!(f, "{code}: {}", self.description),
            (None, _) => f.write_str(&self.description),
        }
    }
}

impl Error for Refusal {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl PartialEq for Refusal {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.description == other.description
    }
}

impl Eq for Refusal {}
