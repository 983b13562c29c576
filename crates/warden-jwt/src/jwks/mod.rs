//! The remote key set: discovery (OpenID Connect Discovery 1.0 §4,
//! <https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig>;
//! RFC 8414 §3, <https://www.rfc-editor.org/rfc/rfc8414#section-3>), JWKS
//! fetching (RFC 7517 §5) and the cache in front of it.
//!
//! - Reads are lock-free (an `ArcSwap` snapshot).
//! - Freshness: `Cache-Control: max-age` bounded to [1 min, 24 h], 10 min when
//!   absent; refreshed ahead in the background with up to 5 % jitter.
//! - An unknown `kid` triggers at most one shared refetch per cooldown (30 s);
//!   requests arriving during the fetch wait for it, requests arriving after it
//!   inside the cooldown are refused at once. A bad signature under a known
//!   `kid` never triggers a fetch.
//! - Fetches time out (5 s) and cap the body (256 KiB); a failed fetch keeps
//!   the last good set for a bounded time (24 h), then keys are unavailable
//!   (503).
//! - The background task stops when the validator is dropped.

mod config;

pub use config::{JwksCacheConfig, KeySetStatus};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use warden_core::Clock;

use crate::error::JwtError;
use crate::keys::KeySet;
use warden_core::clock::unix_millis;
use warden_http::{Fetch, UrlPolicy};

/// Where a remote key set comes from.
#[derive(Clone, Debug)]
pub(crate) enum Remote {
    /// Discover `jwks_uri` from the issuer.
    Discovery { issuer: String },
    /// A JWKS URL.
    Jwks { url: String },
}

/// A key set as fetched.
pub(crate) struct Snapshot {
    pub(crate) keys: KeySet,
    pub(crate) fetched_at: Option<SystemTime>,
}

#[derive(Default)]
struct State {
    jwks_uri: Option<String>,
    last_error: Option<JwtError>,
    failures_in_row: u32,
    ttl: Duration,
}

pub(crate) struct KeyCache {
    remote: Remote,
    policy: UrlPolicy,
    client: Arc<dyn Fetch>,
    clock: Arc<dyn Clock>,
    cfg: JwksCacheConfig,
    current: ArcSwap<Snapshot>,
    gate: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    in_flight: AtomicBool,
    last_attempt_ms: AtomicU64,
    state: Mutex<State>,
    fetches: AtomicU64,
    failures: AtomicU64,
    changed: tokio::sync::Notify,
    /// The configured issuer, the `issuer` label of the fetch metrics.
    label: String,
}

/// `max-age` from a Cache-Control value; `Some(0)` for no-store / no-cache.
fn max_age(cc: &str) -> Option<u64> {
    let mut out = None;
    for directive in cc.split(',') {
        let d = directive.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(0);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            out = v.trim_matches('"').parse().ok();
        }
    }
    out
}

impl KeyCache {
    pub(crate) fn new(
        remote: Remote,
        policy: UrlPolicy,
        client: Arc<dyn Fetch>,
        clock: Arc<dyn Clock>,
        cfg: JwksCacheConfig,
        label: String,
    ) -> Self {
        warden_core::metrics::register_issuer(&label);
        Self {
            remote,
            policy,
            client,
            clock,
            cfg,
            current: ArcSwap::from_pointee(Snapshot {
                keys: KeySet::new(),
                fetched_at: None,
            }),
            gate: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            in_flight: AtomicBool::new(false),
            last_attempt_ms: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            label,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        warden_core::sync::lock(&self.state)
    }

    /// The current snapshot, if it may be used now (not older than the
    /// staleness bound, at least one key).
    pub(crate) fn usable(&self) -> Option<Arc<Snapshot>> {
        let snap = self.current.load_full();
        let fetched = snap.fetched_at?;
        let age = self.clock.now().duration_since(fetched).unwrap_or_default();
        (age <= self.cfg.max_stale && !snap.keys.is_empty()).then_some(snap)
    }

    pub(crate) fn status(&self) -> KeySetStatus {
        let snap = self.current.load_full();
        let now = self.clock.now();
        let st = self.state();
        KeySetStatus {
            ready: self.usable().is_some(),
            keys: snap.keys.len(),
            fetched_at: snap.fetched_at,
            age: snap
                .fetched_at
                .map(|t| now.duration_since(t).unwrap_or_default()),
            stale: st.last_error.is_some() && snap.fetched_at.is_some(),
            last_error: st.last_error.clone(),
            fetches: self.fetches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn in_cooldown(&self) -> bool {
        let last = self.last_attempt_ms.load(Ordering::Acquire);
        if last == 0 {
            return false;
        }
        let now = unix_millis(self.clock.now());
        now.saturating_sub(last) < self.cfg.refetch_cooldown.as_millis() as u64
    }

    /// A refetch on behalf of a request (unknown `kid`, or no keys yet).
    ///
    /// Returns `true` when a fetch completed since `seen_generation` (so the
    /// caller should look again), `false` when the cooldown forbids one.
    pub(crate) async fn refetch(&self, seen_generation: u64) -> bool {
        if !self.in_flight.load(Ordering::Acquire) && self.in_cooldown() {
            return false;
        }
        let _gate = self.gate.lock().await;
        if self.generation() != seen_generation {
            return true;
        }
        if self.in_cooldown() {
            return false;
        }
        self.fetch_locked().await;
        true
    }

    /// One fetch by the background task, skipped when another fetch completed
    /// since `seen_generation`.
    async fn refresh(&self, seen_generation: u64) {
        let _gate = self.gate.lock().await;
        if self.generation() == seen_generation {
            self.fetch_locked().await;
        }
    }

    /// Fetches and installs a new set; the caller holds the gate.
    async fn fetch_locked(&self) {
        self.in_flight.store(true, Ordering::Release);
        self.last_attempt_ms
            .store(unix_millis(self.clock.now()).max(1), Ordering::Release);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(self.cfg.fetch_timeout, self.fetch_once())
            .await
            .unwrap_or_else(|_| {
                Err(JwtError::Fetch {
                    url: self.describe_remote(),
                    reason: format!("timed out after {:?}", self.cfg.fetch_timeout),
                })
            });
        warden_core::metrics::jwks_fetch(&self.label, result.is_ok());
        match result {
            Ok((keys, ttl)) => {
                tracing::debug!(
                    keys = keys.len(),
                    skipped = keys.skipped(),
                    ?ttl,
                    "key set fetched"
                );
                let mut st = self.state();
                st.last_error = None;
                st.failures_in_row = 0;
                st.ttl = ttl;
                self.current.store(Arc::new(Snapshot {
                    keys,
                    fetched_at: Some(self.clock.now()),
                }));
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "key set fetch failed; keeping the last good set");
                let mut st = self.state();
                if matches!(err, JwtError::Fetch { .. } | JwtError::BadDocument { .. }) {
                    // Re-run discovery next time: the JWKS location may have moved.
                    st.jwks_uri = None;
                }
                st.last_error = Some(err);
                st.failures_in_row = st.failures_in_row.saturating_add(1);
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.in_flight.store(false, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn describe_remote(&self) -> String {
        match &self.remote {
            Remote::Discovery { issuer } => format!("discovery for {issuer}"),
            Remote::Jwks { url } => url.clone(),
        }
    }

    async fn get_json(&self, url: &str) -> Result<(serde_json::Value, Option<String>), JwtError> {
        let res = self
            .client
            .get(url, self.cfg.max_body, self.cfg.fetch_timeout)
            .await
            .map_err(|e| JwtError::Fetch {
                url: url.into(),
                reason: e.to_string(),
            })?;
        if res.status != 200 {
            return Err(JwtError::Fetch {
                url: url.into(),
                reason: format!("status {}", res.status),
            });
        }
        let doc = serde_json::from_slice(&res.body).map_err(|_| JwtError::BadDocument {
            url: url.into(),
            reason: "not JSON".into(),
        })?;
        Ok((doc, res.cache_control))
    }

    async fn jwks_uri(&self) -> Result<String, JwtError> {
        let issuer = match &self.remote {
            Remote::Jwks { url } => return Ok(url.clone()),
            Remote::Discovery { issuer } => issuer,
        };
        if let Some(uri) = self.state().jwks_uri.clone() {
            return Ok(uri);
        }
        let doc = warden_http::discover(
            &*self.client,
            issuer,
            self.policy,
            self.cfg.max_body,
            self.cfg.fetch_timeout,
        )
        .await?;
        let uri = doc.jwks_uri.ok_or_else(|| JwtError::BadDocument {
            url: warden_http::discovery_urls(issuer)[0].clone(),
            reason: "no jwks_uri".into(),
        })?;
        self.policy.check(&uri)?;
        self.state().jwks_uri = Some(uri.clone());
        Ok(uri)
    }

    async fn fetch_once(&self) -> Result<(KeySet, Duration), JwtError> {
        let url = self.jwks_uri().await?;
        let (doc, cc) = self.get_json(&url).await?;
        let keys = KeySet::from_jwks_value(&doc).map_err(|e| match e {
            JwtError::BadDocument { reason, .. } => JwtError::BadDocument {
                url: url.clone(),
                reason,
            },
            other => other,
        })?;
        if keys.is_empty() {
            return Err(JwtError::BadDocument {
                url,
                reason: "no usable keys".into(),
            });
        }
        let ttl = cc
            .as_deref()
            .and_then(max_age)
            .map(Duration::from_secs)
            .unwrap_or(self.cfg.default_ttl)
            .clamp(self.cfg.min_ttl, self.cfg.max_ttl.max(self.cfg.min_ttl));
        Ok((keys, ttl))
    }

    /// How long the background task sleeps before its next fetch.
    fn next_delay(&self) -> Duration {
        let st = self.state();
        if st.failures_in_row > 0 {
            warden_core::sync::backoff(self.cfg.retry_min, self.cfg.retry_max, st.failures_in_row)
        } else {
            // Refresh ahead: up to 5 % before the set goes stale.
            st.ttl.mul_f64(1.0 - fastrand::f64() * 0.05)
        }
    }

    /// Waits until the next fetch completes or `timeout` passes.
    pub(crate) async fn changed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.changed.notified()).await;
    }

    /// Starts the background task: a first fetch now, then refreshes ahead of
    /// expiry; ends when the cache is dropped.
    pub(crate) fn spawn(self: &Arc<Self>) -> tokio::task::AbortHandle {
        let weak: Weak<Self> = Arc::downgrade(self);
        let mut seen = self.generation();
        tokio::spawn(async move {
            loop {
                let Some(cache) = weak.upgrade() else { break };
                cache.refresh(seen).await;
                let delay = cache.next_delay();
                drop(cache);
                tokio::time::sleep(delay).await;
                let Some(cache) = weak.upgrade() else { break };
                seen = cache.generation();
            }
        })
        .abort_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
