//! The outbound token cache behind every source: one entry per key (what
//! determines the token), refreshed ahead of expiry in the background so no
//! request waits, exactly one request in flight per key (single flight), and
//! jittered backoff when the authorization server fails, serving the cached
//! token until it truly expires.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use warden_core::sync::lock;
use warden_core::{AccessToken, Clock, SystemClock, TokenSourceError};

/// Tuning of a source's cache.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Refresh this long before expiry (60 s), or half the lifetime of a
    /// shorter-lived token.
    pub refresh_lead: Duration,
    /// The lifetime assumed when the response has no `expires_in` (5 min).
    pub max_age: Duration,
    /// First retry delay after a failure (1 s), doubling with jitter.
    pub retry_min: Duration,
    /// Largest retry delay (30 s).
    pub retry_max: Duration,
    /// Most entries kept (token exchange has one per subject; 10,000).
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            refresh_lead: Duration::from_secs(60),
            max_age: Duration::from_secs(300),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            max_entries: 10_000,
        }
    }
}

warden_core::field_setters! { CacheConfig {
    /// Sets [`refresh_lead`](Self::refresh_lead).
    refresh_lead: Duration,
    /// Sets [`max_age`](Self::max_age).
    max_age: Duration,
    /// Sets [`retry_min`](Self::retry_min).
    retry_min: Duration,
    /// Sets [`retry_max`](Self::retry_max).
    retry_max: Duration,
} }

/// Counters of a source, for tests, metrics and the issue figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// Token requests sent to the authorization server.
    pub fetches: u64,
    /// Of which failed.
    pub failures: u64,
    /// Calls that had to wait for a fetch (no usable cached token).
    pub waited: u64,
    /// Calls answered from the cache.
    pub hits: u64,
    /// Background refreshes started.
    pub refreshes: u64,
}

/// What a fetch produced: the token and how long it lives.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) token: String,
    /// The key a DPoP-bound token (`token_type: DPoP`) is bound to.
    pub(crate) dpop: Option<std::sync::Arc<dyn warden_core::dpop::ProofSigner>>,
    pub(crate) expires_in: Option<Duration>,
    /// A hard upper bound on the expiry (an exchanged token never outlives
    /// its subject).
    pub(crate) not_after: Option<SystemTime>,
}

/// When a fetched token expires and when to refresh it: its lifetime (or
/// the configured default) from `now`, capped by `not_after`; refreshed
/// `refresh_lead` (at most half the lifetime) before. Never overflows.
pub(crate) fn schedule(
    now: SystemTime,
    f: &Fetched,
    cfg: &CacheConfig,
) -> (SystemTime, SystemTime) {
    let lifetime = f.expires_in.unwrap_or(cfg.max_age);
    let mut expires_at = now
        .checked_add(lifetime)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
    if let Some(cap) = f.not_after {
        expires_at = expires_at.min(cap);
    }
    let lifetime = expires_at.duration_since(now).unwrap_or_default();
    let lead = cfg.refresh_lead.min(lifetime / 2);
    let refresh_at = expires_at.checked_sub(lead).unwrap_or(expires_at);
    (expires_at, refresh_at)
}

#[derive(Default)]
struct SlotState {
    token: Option<AccessToken>,
    refresh_at: Option<SystemTime>,
    failures: u32,
    retry_at: Option<SystemTime>,
    last_error: Option<TokenSourceError>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    gate: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    waited: AtomicU64,
    hits: AtomicU64,
    refreshes: AtomicU64,
}

pub(crate) struct TokenCache<K> {
    slots: Mutex<HashMap<K, Arc<Slot>>>,
    clock: Arc<dyn Clock>,
    cfg: CacheConfig,
    counters: Counters,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> TokenCache<K> {
    pub(crate) fn new(cfg: CacheConfig, clock: Option<Arc<dyn Clock>>) -> Self {
        Self {
            slots: Mutex::default(),
            clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
            cfg,
            counters: Counters::default(),
        }
    }

    pub(crate) fn stats(&self) -> SourceStats {
        let c = &self.counters;
        SourceStats {
            fetches: c.fetches.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            waited: c.waited.load(Ordering::Relaxed),
            hits: c.hits.load(Ordering::Relaxed),
            refreshes: c.refreshes.load(Ordering::Relaxed),
        }
    }

    fn slot(&self, key: &K) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if slots.len() >= self.cfg.max_entries && !slots.contains_key(key) {
            let now = self.clock.now();
            slots.retain(|_, s| {
                lock(&s.state)
                    .token
                    .as_ref()
                    .and_then(AccessToken::expires_at)
                    .is_some_and(|e| e > now)
            });
            if slots.len() >= self.cfg.max_entries
                && let Some(k) = slots.keys().next().cloned()
            {
                slots.remove(&k);
            }
        }
        slots.entry(key.clone()).or_default().clone()
    }

    /// Drops the cached token of `key` if it is `token`.
    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let slots = lock(&self.slots);
        for slot in slots.values() {
            let mut st = lock(&slot.state);
            if st
                .token
                .as_ref()
                .is_some_and(|t| t.secret() == token.secret())
            {
                st.token = None;
                st.refresh_at = None;
            }
        }
    }

    /// Records a fetch result into the slot.
    fn store(
        &self,
        slot: &Slot,
        result: Result<Fetched, TokenSourceError>,
    ) -> Result<AccessToken, TokenSourceError> {
        let now = self.clock.now();
        let mut st = lock(&slot.state);
        match result {
            Ok(f) => {
                let (expires_at, refresh_at) = schedule(now, &f, &self.cfg);
                let mut token = AccessToken::new(f.token, Some(expires_at));
                if let Some(signer) = f.dpop {
                    token = token.dpop_bound(signer);
                }
                st.token = Some(token.clone());
                st.refresh_at = Some(refresh_at);
                st.failures = 0;
                st.retry_at = None;
                st.last_error = None;
                Ok(token)
            }
            Err(e) => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                st.failures = st.failures.saturating_add(1);
                st.retry_at = Some(
                    now + warden_core::sync::backoff(
                        self.cfg.retry_min,
                        self.cfg.retry_max,
                        st.failures,
                    ),
                );
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// A token for `key`, fetching with `fetch` when needed.
    pub(crate) async fn get<F, Fut>(
        self: &Arc<Self>,
        key: K,
        fetch: F,
    ) -> Result<AccessToken, TokenSourceError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched, TokenSourceError>> + Send + 'static,
    {
        let slot = self.slot(&key);
        let now = self.clock.now();
        {
            let st = lock(&slot.state);
            if let Some(t) = &st.token
                && t.expires_at().is_some_and(|e| now < e)
            {
                let token = t.clone();
                let due =
                    st.refresh_at.is_some_and(|r| now >= r) && st.retry_at.is_none_or(|r| now >= r);
                drop(st);
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                if due && !slot.refreshing.swap(true, Ordering::AcqRel) {
                    self.spawn_refresh(slot, fetch);
                }
                return Ok(token);
            }
            // No usable token. Inside the backoff window, fail at once: no
            // thundering herd on a server that just failed.
            if let (Some(r), Some(e)) = (st.retry_at, &st.last_error)
                && now < r
            {
                return Err(e.clone());
            }
        }
        self.counters.waited.fetch_add(1, Ordering::Relaxed);
        let _gate = slot.gate.lock().await;
        // Someone else may have fetched (or failed) while we waited.
        {
            let now = self.clock.now();
            let st = lock(&slot.state);
            if let Some(t) = &st.token
                && t.expires_at().is_some_and(|e| now < e)
            {
                return Ok(t.clone());
            }
            if let (Some(r), Some(e)) = (st.retry_at, &st.last_error)
                && now < r
            {
                return Err(e.clone());
            }
        }
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let result = fetch().await;
        self.store(&slot, result)
    }

    fn spawn_refresh<F, Fut>(self: &Arc<Self>, slot: Arc<Slot>, fetch: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Fetched, TokenSourceError>> + Send + 'static,
    {
        self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            slot.refreshing.store(false, Ordering::Release);
            return;
        };
        handle.spawn(async move {
            let _gate = slot.gate.lock().await;
            this.counters.fetches.fetch_add(1, Ordering::Relaxed);
            let result = fetch().await;
            if let Err(e) = this.store(&slot, result) {
                tracing::warn!(error = %e, "background token refresh failed; serving the cached token until it expires");
            }
            slot.refreshing.store(false, Ordering::Release);
        });
    }
}
