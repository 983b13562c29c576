//! The settings of the remote key set, and its state as reported to
//! readiness probes and metrics.

use std::time::{Duration, SystemTime};

use crate::error::JwtError;

/// Tuning of the remote key-set cache. The defaults are the ones in the
/// module documentation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwksCacheConfig {
    /// Freshness when the response has no usable `Cache-Control` (10 min).
    pub default_ttl: Duration,
    /// Lower bound on freshness (1 min).
    pub min_ttl: Duration,
    /// Upper bound on freshness (24 h).
    pub max_ttl: Duration,
    /// At most one unknown-`kid` refetch per this period (30 s).
    pub refetch_cooldown: Duration,
    /// Bound on one fetch, discovery included (5 s).
    pub fetch_timeout: Duration,
    /// Largest accepted document (256 KiB).
    pub max_body: usize,
    /// How long the last good set is used while fetches fail (24 h).
    pub max_stale: Duration,
    /// First retry delay after a failed background fetch (1 s), doubling.
    pub retry_min: Duration,
    /// Largest retry delay after failed background fetches (30 s).
    pub retry_max: Duration,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            refetch_cooldown: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
            max_body: warden_http::DEFAULT_MAX_BODY,
            max_stale: Duration::from_secs(24 * 3600),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}

warden_core::field_setters! { JwksCacheConfig {
    /// Sets [`default_ttl`](Self::default_ttl).
    default_ttl: Duration,
    /// Sets [`min_ttl`](Self::min_ttl).
    min_ttl: Duration,
    /// Sets [`max_ttl`](Self::max_ttl).
    max_ttl: Duration,
    /// Sets [`refetch_cooldown`](Self::refetch_cooldown).
    refetch_cooldown: Duration,
    /// Sets [`fetch_timeout`](Self::fetch_timeout).
    fetch_timeout: Duration,
    /// Sets [`max_body`](Self::max_body).
    max_body: usize,
    /// Sets [`max_stale`](Self::max_stale).
    max_stale: Duration,
    /// Sets [`retry_min`](Self::retry_min).
    retry_min: Duration,
    /// Sets [`retry_max`](Self::retry_max).
    retry_max: Duration,
} }

/// The state of a key source, for readiness probes and metrics.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KeySetStatus {
    /// Whether keys are usable right now (the readiness answer).
    pub ready: bool,
    /// The number of usable keys in the current set.
    pub keys: usize,
    /// When the current set was fetched (`None` for never, or static keys).
    pub fetched_at: Option<SystemTime>,
    /// The age of the current set, when it was fetched.
    pub age: Option<Duration>,
    /// Whether the last fetch failed, so the set in use is a last good copy.
    pub stale: bool,
    /// The error of the last failed fetch, if the last fetch failed.
    pub last_error: Option<JwtError>,
    /// Fetches attempted so far.
    pub fetches: u64,
    /// Fetches failed so far.
    pub failures: u64,
}
