//! Revocation that reaches resource servers: the [`RevocationStore`]
//! interface (revoke an identifier until a time; is it revoked) and an
//! in-memory store. The authorization server writes to it when a token is
//! revoked (RFC 7009, <https://www.rfc-editor.org/rfc/rfc7009#section-2>);
//! resource servers check it on every request through [`StoreCheck`],
//! validated-cache hits included.
//!
//! Identifiers are a token's `jti`, or for a token without one (opaque
//! tokens) a hash of the token: see [`revocation_id`]. [`StoreCheck`] looks
//! a token without `jti` up by that hash, or refuses it
//! ([`WithoutJti`]): it never lets one pass unchecked.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::cache::RevocationCheck;
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, InvalidToken, Unavailable};
use crate::principal::{Fingerprint, Principal};

/// A boxed future of a store operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The backing store could not be reached, and the local copy is older
    /// than its bound: fail closed.
    #[error("revocation store unavailable: {0}")]
    Unavailable(String),
}

/// Where revoked token identifiers live.
///
/// `is_revoked` is on the request path: it must answer from local state
/// (a replica's copy), never wait on the network.
pub trait RevocationStore: Send + Sync + 'static {
    /// Revokes `id` until `until` (the token's expiry; after it the token is
    /// refused anyway and the entry may be forgotten).
    fn revoke<'a>(
        &'a self,
        id: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<(), RevocationError>>;

    /// Whether `id` is revoked, from local state.
    ///
    /// # Errors
    /// [`RevocationError::Unavailable`] when the local state cannot be
    /// trusted any more (fail closed).
    fn is_revoked(&self, id: &str) -> Result<bool, RevocationError>;
}

impl<S: RevocationStore + ?Sized> RevocationStore for Arc<S> {
    fn revoke<'a>(
        &'a self,
        id: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<(), RevocationError>> {
        (**self).revoke(id, until)
    }

    fn is_revoked(&self, id: &str) -> Result<bool, RevocationError> {
        (**self).is_revoked(id)
    }
}

/// The revocation identifier of a token: its `jti`, else `sha256:<hex>` of
/// the token bytes.
pub fn revocation_id(jti: Option<&str>, token: &str) -> String {
    match jti {
        Some(j) => j.to_owned(),
        None => token_hash_id(token),
    }
}

/// `sha256:<hex>` of the token: the identifier of a token without `jti`.
pub fn token_hash_id(token: &str) -> String {
    Fingerprint::of(token).hash_id()
}

/// An in-memory store (one process; tests, the development issuer).
#[derive(Clone)]
pub struct MemoryRevocationStore {
    entries: Arc<RwLock<HashMap<String, SystemTime>>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocationStore")
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryRevocationStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRevocationStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// An empty store on `clock`.
    pub fn with_clock(clock: impl Clock) -> Self {
        Self {
            entries: Arc::default(),
            clock: Arc::new(clock),
        }
    }

    /// The number of identifiers held (expired ones are purged on write).
    pub fn len(&self) -> usize {
        crate::sync::read(&self.entries).len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn revoke<'a>(
        &'a self,
        id: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<(), RevocationError>> {
        let now = self.clock.now();
        let mut map = crate::sync::write(&self.entries);
        map.retain(|_, t| *t > now);
        if until > now {
            let e = map.entry(id.to_owned()).or_insert(until);
            if *e < until {
                *e = until;
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn is_revoked(&self, id: &str) -> Result<bool, RevocationError> {
        let map = crate::sync::read(&self.entries);
        Ok(map.get(id).is_some_and(|t| *t > self.clock.now()))
    }
}

/// What [`StoreCheck`] does with a token that has no `jti`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WithoutJti {
    /// Look it up by the hash of the token ([`token_hash_id`]), the
    /// identifier warden-issuer and RFC 7009 revocation of opaque tokens
    /// write. The default; logged once per check.
    #[default]
    Hash,
    /// Refuse it: 401 `invalid_token` (a required claim is missing).
    Refuse,
}

/// A [`RevocationCheck`] over a store, for
/// [`RequireBearerLayer::revocation`](crate::RequireBearerLayer::revocation):
/// a revoked token is 401 `invalid_token`, an untrustworthy store is 503.
///
/// A token is looked up by its `jti`; a token without one by the hash of
/// its bytes, or refused ([`without_jti`](Self::without_jti)). Never a
/// silent pass.
#[derive(Debug, Clone)]
pub struct StoreCheck<S> {
    store: S,
    without_jti: WithoutJti,
    warned: Arc<std::sync::atomic::AtomicBool>,
}

impl<S: RevocationStore> StoreCheck<S> {
    /// Checks every token against `store` ([`WithoutJti::Hash`] for tokens
    /// without `jti`).
    pub fn new(store: S) -> Self {
        Self {
            store,
            without_jti: WithoutJti::default(),
            warned: Arc::default(),
        }
    }

    /// What to do with tokens that have no `jti`.
    #[must_use]
    pub fn without_jti(mut self, mode: WithoutJti) -> Self {
        self.without_jti = mode;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

impl<S: RevocationStore> RevocationCheck for StoreCheck<S> {
    fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        let verdict = match principal.claims().jwt_id.as_deref() {
            Some(jti) => self.store.is_revoked(jti),
            None => match self.without_jti {
                WithoutJti::Refuse => return Err(InvalidToken::MissingClaim("jti").into()),
                WithoutJti::Hash => {
                    if !self.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!(
                            "a token without jti: its revocation is checked by the token's hash \
                             (StoreCheck::without_jti(WithoutJti::Refuse) refuses such tokens)"
                        );
                    }
                    self.store
                        .is_revoked(&principal.token_fingerprint().hash_id())
                }
            },
        };
        match verdict {
            Ok(false) => Ok(()),
            Ok(true) => Err(InvalidToken::Revoked.into()),
            Err(RevocationError::Unavailable(_)) => Err(Unavailable::Upstream.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::principal::StandardClaims;

    #[tokio::test]
    async fn revoke_until_expiry() {
        let clock = ManualClock::starting_now();
        let store = MemoryRevocationStore::with_clock(clock.clone());
        store
            .revoke("a", clock.now() + Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.is_revoked("a"), Ok(true));
        assert_eq!(store.is_revoked("b"), Ok(false));
        clock.advance(Duration::from_secs(61));
        assert_eq!(store.is_revoked("a"), Ok(false));
        store.revoke("c", clock.now()).await.unwrap();
        assert_eq!(
            store.len(),
            0,
            "expired entries purged, past ones not stored"
        );

        let mut c = StandardClaims::new();
        c.jwt_id = Some("j".into());
        let p = Principal::new(c, (), Fingerprint::of("t"));
        let check = StoreCheck::new(store.clone());
        assert!(check.check(&p).is_ok());
        store
            .revoke("j", clock.now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(check.check(&p), Err(InvalidToken::Revoked.into()));
        assert!(token_hash_id("x").starts_with("sha256:2d711642"));
        assert_eq!(token_hash_id("x").len(), 7 + 64);

        // Without jti: by hash (default), or refused.
        let anon = Principal::new(StandardClaims::new(), (), Fingerprint::of("opaque"));
        assert!(check.check(&anon).is_ok());
        store
            .revoke(
                &token_hash_id("opaque"),
                clock.now() + Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(check.check(&anon), Err(InvalidToken::Revoked.into()));
        let refuse = StoreCheck::new(MemoryRevocationStore::new()).without_jti(WithoutJti::Refuse);
        assert_eq!(
            refuse.check(&Principal::new(
                StandardClaims::new(),
                (),
                Fingerprint::of("o")
            )),
            Err(InvalidToken::MissingClaim("jti").into())
        );
    }
}
