//! Revocation that reaches resource servers: the [`RevocationStore`]
//! interface (revoke an identifier until a time; is it revoked) and an
//! in-memory store. The authorization server writes to it when a token is
//! revoked (RFC 7009, <https://www.rfc-editor.org/rfc/rfc7009#section-2>);
//! resource servers check it on every request through [`StoreCheck`],
//! validated-cache hits included.
//!
//! Identifiers are a token's `jti`, or for a token without one (opaque
//! tokens) a hash of the token: see [`revocation_id`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::cache::RevocationCheck;
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, InvalidToken, Unavailable};
use crate::principal::Principal;

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
    let d = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
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
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
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
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
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
        let map = self.entries.read().unwrap_or_else(|e| e.into_inner());
        Ok(map.get(id).is_some_and(|t| *t > self.clock.now()))
    }
}

/// A [`RevocationCheck`] over a store, for
/// [`RequireBearerLayer::revocation`](crate::RequireBearerLayer::revocation):
/// a revoked `jti` is 401 `invalid_token`, an untrustworthy store is 503.
#[derive(Debug, Clone)]
pub struct StoreCheck<S>(pub S);

impl<S: RevocationStore> RevocationCheck for StoreCheck<S> {
    fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        let Some(jti) = principal.claims().jwt_id.as_deref() else {
            return Ok(());
        };
        match self.0.is_revoked(jti) {
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
    use crate::principal::{Fingerprint, StandardClaims};

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
        let check = StoreCheck(store.clone());
        assert!(check.check(&p).is_ok());
        store
            .revoke("j", clock.now() + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(check.check(&p), Err(InvalidToken::Revoked.into()));
        assert!(token_hash_id("x").starts_with("sha256:2d711642"));
    }
}
