//! The validated-token cache: a token proven valid once is accepted again
//! for the cost of a lookup, until its `exp`.
//!
//! Like Envoy's `jwt_cache_config`, made revocation-aware. The rules:
//! - A hit implies the very same token bytes were validated before **by the
//!   same validator**: entries are found by a keyed hash (a random seed per
//!   cache) of the validator's identity and the token, and then both are
//!   compared in full, so no collision, chosen or accidental, can produce a
//!   hit, and two [`RequireBearerLayer`](crate::RequireBearerLayer)s sharing
//!   one cache never answer for each other (a token checked for audience A
//!   is not accepted by a layer that wants audience B).
//! - Only successes are cached. An entry never outlives the token's `exp`
//!   (RFC 7519 §4.1.4, <https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4>)
//!   nor the bound its validator put on the verdict
//!   ([`Principal::cache_until`]; introspection results: the introspection
//!   max age, and never when it is zero): `exp` and `nbf` are checked against
//!   the clock on every hit, and tokens without `exp` are not cached.
//! - The principal is shared (`Arc`), never re-parsed or deep-cloned.
//! - A [`RevocationCheck`] runs on every request, hits included.
//! - Bounded: S3-FIFO eviction ([`quick_cache`]) keeps hot tokens under
//!   pressure; [`TokenCache::remove`], [`TokenCache::remove_if`] and
//!   [`TokenCache::clear`] drop entries.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::clock::unix_millis;
use crate::clock::{Clock, SystemClock};
use crate::error::AuthError;
use crate::principal::Principal;

/// Who made a verdict: each [`RequireBearerLayer`](crate::RequireBearerLayer)
/// draws its own identity, and the cache's direct users
/// ([`TokenCache::get`], [`TokenCache::insert`]) share [`Owner::DIRECT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner(u64);

impl Owner {
    /// The owner of entries made through the public `insert` methods.
    pub(crate) const DIRECT: Owner = Owner(0);

    /// A fresh identity, never equal to another one in this process.
    pub(crate) fn fresh() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Owner(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The default number of cached tokens.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Runs on every authenticated request, cache hits included, to refuse
/// tokens revoked before their expiry. Must be cheap and must not block:
/// consult a local copy, not a remote store.
pub trait RevocationCheck: Send + Sync + 'static {
    /// `Err` (normally [`InvalidToken::Revoked`](crate::InvalidToken::Revoked))
    /// refuses the request.
    ///
    /// # Errors
    /// The rejection to send.
    fn check(&self, principal: &Principal) -> Result<(), AuthError>;
}

impl<F> RevocationCheck for F
where
    F: Fn(&Principal) -> Result<(), AuthError> + Send + Sync + 'static,
{
    fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        self(principal)
    }
}

struct Entry {
    owner: Owner,
    token: Box<str>,
    principal: Principal,
    exp_ms: u64,
    nbf_ms: u64,
}

struct Inner {
    map: quick_cache::sync::Cache<u64, Arc<Entry>>,
    seed: foldhash::fast::RandomState,
    clock: Arc<dyn Clock>,
    leeway_ms: u64,
}

/// A bounded cache of validated tokens. Cheap to clone; clones share entries.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.len())
            .field("capacity", &self.inner.map.capacity())
            .finish()
    }
}

/// Builds a [`TokenCache`].
#[must_use]
#[derive(Debug)]
pub struct TokenCacheBuilder {
    capacity: usize,
    clock: Arc<dyn Clock>,
    leeway: Duration,
}

impl TokenCacheBuilder {
    /// The maximum number of entries (default 10,000).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The clock for the `exp`/`nbf` re-checks (give it the validator's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The leeway of the `nbf` re-check (default 60 s). `exp` is enforced
    /// without leeway: an entry never outlives the token.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Builds the cache.
    pub fn build(self) -> TokenCache {
        TokenCache {
            inner: Arc::new(Inner {
                map: quick_cache::sync::Cache::new(self.capacity.max(1)),
                seed: foldhash::fast::RandomState::default(),
                clock: self.clock,
                leeway_ms: self.leeway.as_millis() as u64,
            }),
        }
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, on the system clock, with a
    /// 60 s leeway for `nbf`.
    pub fn new(capacity: usize) -> Self {
        Self::builder().capacity(capacity).build()
    }

    /// A cache of at most `capacity` tokens on `clock` (give it the
    /// validator's clock).
    pub fn with_clock(capacity: usize, clock: impl Clock) -> Self {
        Self::builder().capacity(capacity).clock(clock).build()
    }

    /// A builder for the other settings.
    pub fn builder() -> TokenCacheBuilder {
        TokenCacheBuilder {
            capacity: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(SystemClock),
            leeway: Duration::from_secs(60),
        }
    }

    fn key(&self, owner: Owner, token: &[u8]) -> u64 {
        self.inner.seed.hash_one((owner.0, token))
    }

    /// The principal of `token` if it was inserted through
    /// [`insert`](Self::insert) before and is still within its `exp` and
    /// `nbf`. Entries made by a [`RequireBearerLayer`](crate::RequireBearerLayer)
    /// belong to that layer's validator and are not returned here (see
    /// [`contains`](Self::contains) to inspect them).
    pub fn get(&self, token: &str) -> Option<Principal> {
        self.get_bytes(token.as_bytes())
    }

    /// Like [`get`](Self::get), for the token's bytes as they came off the
    /// wire (no UTF-8 check needed: equal bytes are required for a hit).
    pub fn get_bytes(&self, token: &[u8]) -> Option<Principal> {
        self.get_for(Owner::DIRECT, token)
    }

    /// The verdict `owner` cached for `token`.
    pub(crate) fn get_for(&self, owner: Owner, token: &[u8]) -> Option<Principal> {
        let key = self.key(owner, token);
        let entry = self.inner.map.get(&key)?;
        if entry.owner != owner || entry.token.as_bytes() != token {
            return None;
        }
        let now = unix_millis(self.inner.clock.now());
        if now >= entry.exp_ms {
            self.inner.map.remove_if(&key, |e| Arc::ptr_eq(e, &entry));
            return None;
        }
        if entry.nbf_ms > now.saturating_add(self.inner.leeway_ms) {
            return None;
        }
        Some(entry.principal.clone())
    }

    /// Remembers that `token` validated to `principal`, until the token's
    /// `exp` or the principal's [`cache_until`](Principal::cache_until),
    /// whichever comes first. Tokens without `exp`, or already expired, are
    /// not cached.
    pub fn insert(&self, token: &str, principal: &Principal) {
        self.insert_for(Owner::DIRECT, token, principal, None);
    }

    /// Like [`insert`](Self::insert), but the entry also ends at `until`
    /// (introspection results are kept for a bounded time).
    pub fn insert_until(&self, token: &str, principal: &Principal, until: SystemTime) {
        self.insert_for(Owner::DIRECT, token, principal, Some(until));
    }

    /// Caches `owner`'s verdict on `token`, bounded by `exp`, the
    /// principal's own cache bound and `until`.
    pub(crate) fn insert_for(
        &self,
        owner: Owner,
        token: &str,
        principal: &Principal,
        until: Option<SystemTime>,
    ) {
        let Some(mut exp) = principal.expires_at() else {
            return;
        };
        for bound in [principal.cache_until(), until].into_iter().flatten() {
            exp = exp.min(bound);
        }
        let exp_ms = unix_millis(exp);
        if exp_ms <= unix_millis(self.inner.clock.now()) {
            return;
        }
        let nbf_ms = principal.claims().not_before.map(unix_millis).unwrap_or(0);
        let entry = Arc::new(Entry {
            owner,
            token: token.into(),
            principal: principal.clone(),
            exp_ms,
            nbf_ms,
        });
        self.inner
            .map
            .insert(self.key(owner, token.as_bytes()), entry);
    }

    /// Drops every entry of `token`, whichever validator made it; `true` if
    /// there was one. Walks the cache (for revocation and tests, not the
    /// request path).
    pub fn remove(&self, token: &str) -> bool {
        let removed = std::sync::atomic::AtomicBool::new(false);
        self.inner.map.retain(|_, e| {
            let hit = &*e.token == token;
            if hit {
                removed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            !hit
        });
        removed.into_inner()
    }

    /// Whether any validator has a live verdict on `token` in the cache.
    /// Walks the cache: for inspection and tests, never for authentication.
    pub fn contains(&self, token: &str) -> bool {
        let now = unix_millis(self.inner.clock.now());
        self.inner
            .map
            .iter()
            .any(|(_, e)| &*e.token == token && now < e.exp_ms)
    }

    /// Drops every entry whose principal matches (for example one `jti`, or
    /// every token of a subject).
    pub fn remove_if(&self, pred: impl Fn(&Principal) -> bool) {
        self.inner.map.retain(|_, e| !pred(&e.principal));
    }

    /// Drops the entries of the token a revocation names: `id` is its `jti`
    /// or, for a token without one, `sha256:<hex>` of the token
    /// ([`revocation_id`](crate::revocation_id)). Give it to a revocation
    /// store's notification so a revoked token stops answering from the
    /// cache at once.
    pub fn remove_revoked(&self, id: &str) {
        self.remove_if(|p| match p.claims().jwt_id.as_deref() {
            Some(jti) => jti == id,
            None => p.token_fingerprint().hash_id() == id,
        });
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.inner.map.clear();
    }

    /// The number of entries (expired ones linger until looked up or evicted).
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// The maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.inner.map.capacity() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::principal::{Fingerprint, StandardClaims};

    fn principal(exp_in: i64, nbf_in: Option<i64>, clock: &ManualClock) -> Principal {
        let now = clock.now();
        let at = |d: i64| {
            if d >= 0 {
                now + Duration::from_secs(d as u64)
            } else {
                now - Duration::from_secs((-d) as u64)
            }
        };
        let mut c = StandardClaims::new();
        c.subject = Some("alice".into());
        c.jwt_id = Some(format!("jti-{exp_in}"));
        c.expires_at = Some(at(exp_in));
        c.not_before = nbf_in.map(at);
        Principal::new(c, (), Fingerprint::of("x"))
    }

    /// A cache of `capacity` entries on a manual clock.
    fn setup(capacity: usize) -> (ManualClock, TokenCache) {
        let clock = ManualClock::starting_now();
        (clock.clone(), TokenCache::with_clock(capacity, clock))
    }

    #[test]
    fn hit_expiry_and_nbf() {
        let (clock, cache) = setup(100);
        let p = principal(120, None, &clock);
        cache.insert("tok.en.a", &p);
        let hit = cache.get("tok.en.a").expect("hit");
        assert_eq!(hit.subject(), Some("alice"));
        // Shared, not copied.
        assert_eq!(hit.claims() as *const _, p.claims() as *const _);
        assert!(cache.get("tok.en.b").is_none());

        clock.advance(Duration::from_secs(119));
        assert!(cache.get("tok.en.a").is_some());
        clock.advance(Duration::from_secs(1));
        assert!(cache.get("tok.en.a").is_none(), "never outlives exp");
        assert_eq!(cache.len(), 0, "expired entry dropped on lookup");

        // Already expired, or without exp: not cached.
        cache.insert("old", &principal(-1, None, &clock));
        assert!(cache.get("old").is_none());
        let no_exp = Principal::new(StandardClaims::new(), (), Fingerprint::of("y"));
        cache.insert("no-exp", &no_exp);
        assert!(cache.get("no-exp").is_none());

        // nbf re-checked against the clock (here the clock went backwards).
        cache.insert("nbf", &principal(600, Some(0), &clock));
        assert!(cache.get("nbf").is_some());
        clock.set(clock.now() - Duration::from_secs(120));
        assert!(cache.get("nbf").is_none());
    }

    #[test]
    fn prefix_or_signature_sharing_tokens_miss() {
        let (clock, cache) = setup(100);
        cache.insert("aaaa.bbbb.cccc", &principal(60, None, &clock));
        for other in [
            "aaaa.bbbb.ccc",
            "aaaa.bbbb.ccccd",
            "aaaa.bbbX.cccc",
            "Xaaa.bbbb.cccc",
            "",
        ] {
            assert!(cache.get(other).is_none(), "{other}");
        }
    }

    #[test]
    fn drop_one_drop_matching_drop_all() {
        let (clock, cache) = setup(100);
        for (t, exp) in [("a", 60), ("b", 61), ("c", 62)] {
            cache.insert(t, &principal(exp, None, &clock));
        }
        assert!(cache.remove("a"));
        assert!(!cache.remove("a"));
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        cache.remove_revoked("jti-61");
        assert!(cache.get("b").is_none() && cache.get("c").is_some());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_bounds_and_hot_tokens_survive() {
        let (clock, cache) = setup(200);
        let p = principal(600, None, &clock);
        cache.insert("hot", &p);
        for i in 0..5_000 {
            cache.insert(&format!("cold-{i}"), &p);
            // The hot token is used all the time.
            if i % 4 == 0 {
                assert!(cache.get("hot").is_some(), "hot token evicted at {i}");
            }
        }
        assert!(cache.len() <= 200 + 200 / 10, "len {}", cache.len());
        assert!(cache.get("hot").is_some());
        let cold_left = (0..5_000)
            .filter(|i| cache.get(&format!("cold-{i}")).is_some())
            .count();
        assert!(cold_left < 300, "{cold_left}");
    }
}
