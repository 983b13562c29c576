//! The [`TokenValidator`] trait: turns a bearer token into a [`Principal`] or
//! an [`AuthError`]. warden-jwt and warden-introspect implement it; so can you.

use std::future::Future;
use std::sync::Arc;

use crate::error::AuthError;
use crate::principal::Principal;

/// Proves a bearer token valid and says who it belongs to.
///
/// Implementations must never panic on hostile input and must map every
/// failure to an [`AuthError`]: bad tokens to
/// [`AuthError::InvalidToken`], infrastructure failures to
/// [`AuthError::Unavailable`].
pub trait TokenValidator: Send + Sync + 'static {
    /// Validates `token` (the bytes after `Bearer `).
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send;
}

impl<V: TokenValidator> TokenValidator for Arc<V> {
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        (**self).validate(token)
    }
}

/// A [`TokenValidator`] from an async closure taking the token as a `String`;
/// see [`validator_fn`].
#[derive(Clone, Debug)]
pub struct ValidatorFn<F>(F);

/// Makes a [`TokenValidator`] from a closure, for tests and small adapters.
///
/// ```
/// use warden_core::{validator_fn, AuthError, InvalidToken, Principal, StandardClaims, Fingerprint};
/// let v = validator_fn(|token: String| async move {
///     if token == "let-me-in" {
///         Ok(Principal::new(StandardClaims::new(), (), Fingerprint::of(&token)))
///     } else {
///         Err(AuthError::from(InvalidToken::BadSignature))
///     }
/// });
/// # let _ = v;
/// ```
pub fn validator_fn<F, Fut>(f: F) -> ValidatorFn<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, AuthError>> + Send,
{
    ValidatorFn(f)
}

impl<F, Fut> TokenValidator for ValidatorFn<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, AuthError>> + Send,
{
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        (self.0)(token.to_owned())
    }
}
