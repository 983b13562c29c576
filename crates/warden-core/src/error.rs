//! The errors a request can meet on its way in, and how each one is put on
//! the wire.
//!
//! Every [`AuthError`] knows its HTTP status, its RFC 6750 §3.1 error code
//! (<https://www.rfc-editor.org/rfc/rfc6750#section-3.1>) and its gRPC status
//! code. Display texts are lowercase, short, and never contain token bytes.

use http::StatusCode;

/// Why a request was refused.
///
/// | variant | HTTP | RFC 6750 code | gRPC |
/// | --- | --- | --- | --- |
/// | [`MissingToken`](Self::MissingToken) | 401 | none (bare challenge) | UNAUTHENTICATED |
/// | [`InvalidRequest`](Self::InvalidRequest) | 400 | `invalid_request` | UNAUTHENTICATED |
/// | [`InvalidToken`](Self::InvalidToken) | 401 | `invalid_token` | UNAUTHENTICATED |
/// | [`InsufficientScope`](Self::InsufficientScope) | 403 | `insufficient_scope` | PERMISSION_DENIED |
/// | [`Unavailable`](Self::Unavailable) | 503 | none | UNAVAILABLE |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no bearer credential at all (or only credentials of
    /// another scheme, such as `Basic`). RFC 6750 §3.1: no error code is sent.
    #[error("no bearer token in the request")]
    MissingToken,
    /// The request is malformed: more than one credential, or a credential
    /// that does not follow the RFC 6750 §2.1 grammar.
    #[error("malformed request: {0}")]
    InvalidRequest(InvalidRequest),
    /// The token was read but is not acceptable: expired, badly signed, for
    /// another audience, revoked, malformed and so on.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// A DPoP proof (RFC 9449) is missing, malformed or does not match the
    /// request or the token: 401 `invalid_dpop_proof` (§7.1).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(crate::dpop::InvalidProof),
    /// The token is valid but lacks the scopes the resource requires.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// The scopes required, space-separated, as sent in the `scope`
        /// attribute of the challenge.
        required: String,
    },
    /// The token cannot be judged right now because something upstream (the
    /// signing keys, an introspection endpoint, the revocation store) is not
    /// available. Never a silent accept, never a 401.
    #[error("token cannot be verified now: {0}")]
    Unavailable(Unavailable),
}

/// Why a request was malformed (`invalid_request`, RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one credential: two `Authorization` headers, or a header and
    /// a query parameter, cookie or custom header at once (RFC 6750 §2).
    #[error("more than one credential")]
    MultipleCredentials,
    /// `Bearer` with nothing after it.
    #[error("empty bearer credential")]
    EmptyCredential,
    /// The credential does not follow the `b64token` grammar of RFC 6750 §2.1.
    #[error("malformed bearer credential")]
    MalformedCredential,
    /// A request path that two upstreams could read two ways (an encoded
    /// separator, a dot segment above the root, a malformed escape), refused
    /// before any rule is matched against it (the gate's route matching).
    #[error("ambiguous request path")]
    AmbiguousPath,
}

/// Why a token was refused (`invalid_token`, RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Larger than the configured bound (16 KiB by default); refused before
    /// any parsing.
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed token: wrong number of segments, bad base64url, bad
    /// JSON, or a header without the fields it needs.
    #[error("malformed token")]
    Malformed,
    /// The `alg` is `none`, unknown, not allowed, or does not match the key.
    #[error("algorithm not allowed")]
    DisallowedAlgorithm,
    /// No key in the key set matches the token's `kid` (after a refetch, when
    /// the cooldown allowed one).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the selected key.
    #[error("bad signature")]
    BadSignature,
    /// The header lists a `crit` extension this library does not understand
    /// (RFC 7515 §4.1.11).
    #[error("unsupported critical header")]
    UnsupportedCritical,
    /// The header `typ` is not an access-token type (RFC 9068 §2.1, RFC 8725 §3.11).
    #[error("wrong token type")]
    WrongType,
    /// The `exp` claim is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// The `nbf` claim is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// The `iat` claim is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// The `iss` claim is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// No `aud` value is one of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// The token's tenant (`tid`) is not the one its issuer names, or not
    /// one of the accepted tenants (issuer templates such as Entra ID's).
    #[error("wrong tenant")]
    WrongTenant,
    /// The client the token was issued to (`client_id`, `azp`) is not one of
    /// the accepted clients, or the token is not an access token
    /// (Cognito's `token_use`).
    #[error("client not accepted")]
    WrongClient,
    /// A required claim is missing.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (for example a string `exp`, CVE-2026-25537).
    #[error("claim {0} has the wrong type")]
    InvalidClaim(&'static str),
    /// The token was revoked before its expiry.
    #[error("token revoked")]
    Revoked,
    /// The authorization server reports the token as not active (RFC 7662).
    #[error("token not active")]
    Inactive,
    /// The token is bound to a DPoP key (`cnf.jkt`) but came as a bearer
    /// token: without the proof, the binding would mean nothing.
    #[error("token bound to a DPoP key")]
    DpopBound,
    /// A DPoP proof came with a token that is not bound to its key, or the
    /// resource requires DPoP and got a bearer token.
    #[error("token not bound to a DPoP key")]
    NotDpopBound,
    /// The token is bound to a client certificate (`cnf["x5t#S256"]`, RFC
    /// 8705 §3) and the request came without it, or with another.
    #[error("token bound to another client certificate")]
    CertificateMismatch,
}

/// Why a token cannot be judged right now (HTTP 503, gRPC UNAVAILABLE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// No usable signing keys: the key set was never fetched, or the last
    /// good one is older than its bound.
    #[error("signing keys unavailable")]
    NoKeys,
    /// An upstream service (introspection endpoint, revocation store) failed.
    #[error("upstream unavailable")]
    Upstream,
}

/// gRPC status codes used for rejections
/// (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcCode {
    /// 7: authenticated, but not allowed (insufficient scope).
    PermissionDenied,
    /// 14: the service cannot judge the credential right now.
    Unavailable,
    /// 16: missing, malformed or invalid credential.
    Unauthenticated,
}

impl GrpcCode {
    /// The numeric code sent in `grpc-status`.
    pub fn as_u16(self) -> u16 {
        match self {
            GrpcCode::PermissionDenied => 7,
            GrpcCode::Unavailable => 14,
            GrpcCode::Unauthenticated => 16,
        }
    }
}

impl AuthError {
    /// The HTTP status of the rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidDpopProof(_) => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 §3.1 error code, or `None` where the RFC says to send none
    /// (no credentials) or the error is not an authentication failure (503).
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingToken | AuthError::Unavailable(_) => None,
            AuthError::InvalidRequest(_) => Some("invalid_request"),
            AuthError::InvalidToken(_) => Some("invalid_token"),
            AuthError::InvalidDpopProof(crate::dpop::InvalidProof::UseNonce) => {
                Some("use_dpop_nonce")
            }
            AuthError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            AuthError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The gRPC status code of the rejection.
    pub fn grpc_code(&self) -> GrpcCode {
        match self {
            AuthError::MissingToken
            | AuthError::InvalidRequest(_)
            | AuthError::InvalidToken(_)
            | AuthError::InvalidDpopProof(_) => GrpcCode::Unauthenticated,
            AuthError::InsufficientScope { .. } => GrpcCode::PermissionDenied,
            AuthError::Unavailable(_) => GrpcCode::Unavailable,
        }
    }

    /// The short text sent as `error_description` (and gRPC `grpc-message`).
    ///
    /// Only `%x20-21 / %x23-5B / %x5D-7E` characters (RFC 6750 §3), fixed per
    /// variant: it never echoes request data.
    pub fn description(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "a bearer token is required",
            AuthError::InvalidRequest(r) => match r {
                InvalidRequest::MultipleCredentials => "more than one credential was sent",
                InvalidRequest::EmptyCredential => "the bearer credential is empty",
                InvalidRequest::MalformedCredential => "the bearer credential is malformed",
                InvalidRequest::AmbiguousPath => "the request path is ambiguous",
            },
            AuthError::InvalidToken(r) => match r {
                InvalidToken::TooLarge => "the token is too large",
                InvalidToken::Malformed => "the token is malformed",
                InvalidToken::DisallowedAlgorithm => "the token algorithm is not allowed",
                InvalidToken::UnknownKey => "the token signing key is unknown",
                InvalidToken::BadSignature => "the token signature is invalid",
                InvalidToken::UnsupportedCritical => "the token has an unsupported critical header",
                InvalidToken::WrongType => "the token type is not an access token",
                InvalidToken::Expired => "the token has expired",
                InvalidToken::NotYetValid => "the token is not yet valid",
                InvalidToken::IssuedInFuture => "the token was issued in the future",
                InvalidToken::WrongIssuer => "the token issuer is not accepted",
                InvalidToken::WrongAudience => "the token audience is not accepted",
                InvalidToken::WrongTenant => "the token tenant is not accepted",
                InvalidToken::WrongClient => "the token client is not accepted",
                InvalidToken::MissingClaim(_) => "the token lacks a required claim",
                InvalidToken::InvalidClaim(_) => "the token has a claim of the wrong type",
                InvalidToken::Revoked => "the token has been revoked",
                InvalidToken::Inactive => "the token is not active",
                InvalidToken::DpopBound => "the token is bound to a DPoP key",
                InvalidToken::NotDpopBound => "the token is not bound to a DPoP key",
                InvalidToken::CertificateMismatch => {
                    "the token is bound to a client certificate this request does not present"
                }
            },
            AuthError::InvalidDpopProof(p) => p.description(),
            AuthError::InsufficientScope { .. } => "the token lacks the required scope",
            AuthError::Unavailable(_) => "the token cannot be verified right now",
        }
    }
}

impl From<InvalidToken> for AuthError {
    fn from(value: InvalidToken) -> Self {
        AuthError::InvalidToken(value)
    }
}

impl From<InvalidRequest> for AuthError {
    fn from(value: InvalidRequest) -> Self {
        AuthError::InvalidRequest(value)
    }
}

impl From<Unavailable> for AuthError {
    fn from(value: Unavailable) -> Self {
        AuthError::Unavailable(value)
    }
}
