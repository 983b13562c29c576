//! What an outbound call's token comes from: the [`TokenSource`] trait, the
//! [`AccessToken`] it yields, and what it knows of the call
//! ([`TokenContext`]). RFC 6750 §2.1
//! (<https://www.rfc-editor.org/rfc/rfc6750#section-2.1>) defines how the
//! token travels.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use super::refusal::Refusal;
use crate::dpop::ProofSigner;
use crate::principal::Fingerprint;

/// An access token for an outbound call. `Debug` shows only a fingerprint.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    expires_at: Option<SystemTime>,
    signer: Option<Arc<dyn ProofSigner>>,
}

impl AccessToken {
    /// A token, with its expiry when known.
    pub fn new(value: impl Into<Arc<str>>, expires_at: Option<SystemTime>) -> Self {
        Self {
            value: value.into(),
            expires_at,
            signer: None,
        }
    }

    /// A token bound to `signer`'s key (RFC 9449): it is only ever sent as
    /// `Authorization: DPoP` with a proof by that key.
    #[must_use]
    pub fn dpop_bound(mut self, signer: Arc<dyn ProofSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The key the token is bound to, if it is DPoP-bound.
    pub fn proof_signer(&self) -> Option<&Arc<dyn ProofSigner>> {
        self.signer.as_ref()
    }

    /// The token. Treat it as a secret: never log it.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// A short, non-reversible fingerprint for logs.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.value)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("fingerprint", &self.fingerprint())
            .field("expires_at", &self.expires_at)
            .field("dpop", &self.signer.as_ref().map(|s| s.jkt().to_owned()))
            .finish()
    }
}

/// Why a [`TokenSource`] could not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenSourceError {
    /// The authorization server refused (its RFC 6749 §5.2 code, such as
    /// `invalid_client`), or warden refused before asking.
    #[error("token request refused: {0}")]
    Refused(#[source] Refusal),
    /// The authorization server could not be reached or answered garbage.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The source needs an inbound token (token exchange, forwarding) and the
    /// request has none.
    #[error("no inbound token to act on behalf of")]
    NoSubjectToken,
    /// The token would not be a valid HTTP header value.
    #[error("token is not a valid header value")]
    InvalidToken,
}

/// What a [`TokenSource`] knows about the call it is asked a token for.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct TokenContext {
    /// The inbound caller's token, when the call is made on their behalf:
    /// a `BearerToken` in the outbound request's extensions, else the
    /// task's [`current_token`](crate::current_token).
    pub subject: Option<crate::bearer::BearerToken>,
    /// Where the call goes.
    pub target: Option<http::Uri>,
}

impl TokenContext {
    /// A context with a subject token.
    pub fn with_subject(subject: crate::bearer::BearerToken) -> Self {
        Self {
            subject: Some(subject),
            target: None,
        }
    }

    /// A context for a call to `target`.
    #[must_use]
    pub fn target(mut self, target: http::Uri) -> Self {
        self.target = Some(target);
        self
    }

    /// The subject token, for a source that acts on a caller's behalf.
    ///
    /// # Errors
    /// [`TokenSourceError::NoSubjectToken`] when the call has none.
    pub fn require_subject(&self) -> Result<&str, TokenSourceError> {
        self.subject
            .as_ref()
            .map(|s| s.as_str())
            .ok_or(TokenSourceError::NoSubjectToken)
    }
}

/// Produces access tokens for outbound calls (client credentials, token
/// exchange, a static token, ...).
pub trait TokenSource: Send + Sync + 'static {
    /// A token for a call described by `ctx`.
    fn token(
        &self,
        ctx: &TokenContext,
    ) -> impl Future<Output = Result<AccessToken, TokenSourceError>> + Send;

    /// Tells the source that `token` was refused downstream
    /// (`error="invalid_token"`), so a cache should drop it. Default: nothing.
    fn invalidate(&self, token: &AccessToken) {
        let _ = token;
    }
}

/// A fixed token (tests, demos, long-lived service tokens).
#[derive(Clone)]
pub struct StaticToken(AccessToken);

impl StaticToken {
    /// Always hands out `token`.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(AccessToken::new(token, None))
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticToken").field(&self.0).finish()
    }
}

impl TokenSource for StaticToken {
    fn token(
        &self,
        _ctx: &TokenContext,
    ) -> impl Future<Output = Result<AccessToken, TokenSourceError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}
