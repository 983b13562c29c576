//! The validated-token cache: a token proven valid once is accepted again
//! for the cost of a lookup, until its `exp`.
//!
//! Like Envoy's `jwt_cache_config`, made revocation-aware. The rules:
//! - A hit implies the very same token bytes were validated before: entries
//!   are found by a keyed hash (a random seed per cache) and then the stored
//!   token is compared in full, so no collision, chosen or accidental, can
//!   produce a hit.
//! - Only successes are cached. An entry never outlives the token's `exp`
//!   (RFC 7519 §4.1.4, <https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4>):
//!   `exp` and `nbf` are checked against the clock on every hit, and tokens
//!   without `exp` are not cached.
//! - The principal is shared (`Arc`), never re-parsed or deep-cloned.
//! - A [`RevocationCheck`] runs on every request, hits included.
//! - Bounded: S3-FIFO eviction ([`quick_cache`]) keeps hot tokens under
//!   pressure; [`TokenCache::remove`], [`TokenCache::remove_if`] and
//!   [`TokenCache::clear`] drop entries.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Clock, SystemClock};
use crate::error::AuthError;
use crate::principal::Principal;

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

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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

    fn key(&self, token: &[u8]) -> u64 {
        self.inner.seed.hash_one(token)
    }

    /// The principal of `token` if it was validated before and is still
    /// within its `exp` and `nbf`.
    pub fn get(&self, token: &str) -> Option<Principal> {
        self.get_bytes(token.as_bytes())
    }

    /// Like [`get`](Self::get), for the token's bytes as they came off the
    /// wire (no UTF-8 check needed: equal bytes are required for a hit).
    pub fn get_bytes(&self, token: &[u8]) -> Option<Principal> {
        let key = self.key(token);
        let entry = self.inner.map.get(&key)?;
        if entry.token.as_bytes() != token {
            return None;
        }
        let now = ms(self.inner.clock.now());
        if now >= entry.exp_ms {
            self.inner.map.remove_if(&key, |e| Arc::ptr_eq(e, &entry));
            return None;
        }
        if entry.nbf_ms > now.saturating_add(self.inner.leeway_ms) {
            return None;
        }
        Some(entry.principal.clone())
    }

    /// Remembers that `token` validated to `principal`. Tokens without `exp`,
    /// or already expired, are not cached.
    pub fn insert(&self, token: &str, principal: &Principal) {
        if let Some(exp) = principal.expires_at() {
            self.insert_until(token, principal, exp);
        }
    }

    /// Like [`insert`](Self::insert), but the entry ends at `until` or the
    /// token's `exp`, whichever comes first (introspection results are kept
    /// for a bounded time).
    pub fn insert_until(&self, token: &str, principal: &Principal, until: SystemTime) {
        let exp = principal.expires_at().map_or(until, |e| e.min(until));
        let exp_ms = ms(exp);
        if exp_ms <= ms(self.inner.clock.now()) {
            return;
        }
        let nbf_ms = principal.claims().not_before.map(ms).unwrap_or(0);
        let entry = Arc::new(Entry {
            token: token.into(),
            principal: principal.clone(),
            exp_ms,
            nbf_ms,
        });
        self.inner.map.insert(self.key(token.as_bytes()), entry);
    }

    /// Drops the entry of `token`; `true` if there was one.
    pub fn remove(&self, token: &str) -> bool {
        self.inner
            .map
            .remove_if(&self.key(token.as_bytes()), |e| &*e.token == token)
            .is_some()
    }

    /// Drops every entry whose principal matches (for example one `jti`, or
    /// every token of a subject).
    pub fn remove_if(&self, pred: impl Fn(&Principal) -> bool) {
        self.inner.map.retain(|_, e| !pred(&e.principal));
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

    #[test]
    fn hit_expiry_and_nbf() {
        let clock = ManualClock::starting_now();
        let cache = TokenCache::with_clock(100, clock.clone());
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
        let clock = ManualClock::starting_now();
        let cache = TokenCache::with_clock(100, clock.clone());
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
        let clock = ManualClock::starting_now();
        let cache = TokenCache::with_clock(100, clock.clone());
        for (t, exp) in [("a", 60), ("b", 61), ("c", 62)] {
            cache.insert(t, &principal(exp, None, &clock));
        }
        assert!(cache.remove("a"));
        assert!(!cache.remove("a"));
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        cache.remove_if(|p| p.claims().jwt_id.as_deref() == Some("jti-61"));
        assert!(cache.get("b").is_none() && cache.get("c").is_some());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_bounds_and_hot_tokens_survive() {
        let clock = ManualClock::starting_now();
        let cache = TokenCache::with_clock(200, clock.clone());
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
