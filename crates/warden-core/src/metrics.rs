//! Metrics on authentication outcomes, through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`, off by
//! default). The application installs the recorder (Prometheus, OpenTelemetry,
//! StatsD...) and then calls [`register`], which exports every series at 0.
//! Without the feature every function here is an empty inline no-op.
//!
//! Names and labels follow Envoy's `jwt_authn` statistics and Spring
//! Security's observations, with low-cardinality labels only (never a
//! subject, client, token or path):
//!
//! | series | kind | labels | counts |
//! | --- | --- | --- | --- |
//! | `warden_auth_requests_total` | counter | `outcome`: `allowed`, `unauthenticated`, `forbidden`, `invalid_request`, `unavailable` | every request through [`RequireBearerLayer`](crate::RequireBearerLayer), once, by its final verdict (a scope refusal inside it is `forbidden`) |
//! | `warden_auth_duration_seconds` | histogram | | validation on a cache miss (signature, claims, introspection) |
//! | `warden_token_cache_hits_total` | counter | | requests answered from the validated-token cache |
//! | `warden_token_cache_misses_total` | counter | | requests the cache could not answer |
//! | `warden_jwks_fetches_total` | counter | `issuer` (configured), `result`: `ok`, `error` | discovery and JWKS fetches |
//! | `warden_introspections_total` | counter | `result`: `active`, `inactive`, `error` | introspection requests (RFC 7662) |
//! | `warden_revocation_store_ready` | gauge | | 1 while the shared revocation list can be trusted, else 0 |
//! | `warden_outbound_token_requests_total` | counter | `grant`, `result`: `ok`, `error` | token endpoint requests of outbound token sources |
//!
//! The hot path (a cache hit) must stay cheap: a recorder's counter
//! increment is one or two atomic read-modify-writes (about 8 ns with the
//! Prometheus exporter), so the two counters a cache hit moves
//! (`allowed` and the cache hits) are tallied per thread without atomic
//! read-modify-writes and published to the recorder by [`flush`]: every
//! second from a background thread (`warden-metrics`, started with the
//! handles), and whenever [`flush`] is called (before rendering a scrape, as
//! the example's `/metrics` does, for exact figures). A thread's tally is
//! kept when the thread ends. Every other series is recorded directly.
//!
//! Handles are taken from the recorder installed when [`register`] (or the
//! first request) runs: install the recorder first.

use std::time::Duration;

use crate::error::AuthError;

/// `warden_auth_requests_total`.
pub const AUTH_REQUESTS_TOTAL: &str = "warden_auth_requests_total";
/// `warden_auth_duration_seconds`.
pub const AUTH_DURATION_SECONDS: &str = "warden_auth_duration_seconds";
/// `warden_token_cache_hits_total`.
pub const TOKEN_CACHE_HITS_TOTAL: &str = "warden_token_cache_hits_total";
/// `warden_token_cache_misses_total`.
pub const TOKEN_CACHE_MISSES_TOTAL: &str = "warden_token_cache_misses_total";
/// `warden_jwks_fetches_total`.
pub const JWKS_FETCHES_TOTAL: &str = "warden_jwks_fetches_total";
/// `warden_introspections_total`.
pub const INTROSPECTIONS_TOTAL: &str = "warden_introspections_total";
/// `warden_revocation_store_ready`.
pub const REVOCATION_STORE_READY: &str = "warden_revocation_store_ready";
/// `warden_outbound_token_requests_total`.
pub const OUTBOUND_TOKEN_REQUESTS_TOTAL: &str = "warden_outbound_token_requests_total";

/// The `grant` label's values: the grants outbound token sources use, and
/// `other`.
pub const GRANTS: [&str; 5] = [
    "client_credentials",
    "token_exchange",
    "refresh_token",
    "authorization_code",
    "other",
];

/// A request's final verdict, the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The request reached the service.
    Allowed,
    /// No token, or an invalid one (401).
    Unauthenticated,
    /// A valid token without the scopes needed (403).
    Forbidden,
    /// A malformed request (400).
    InvalidRequest,
    /// The token could not be judged (503).
    Unavailable,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Allowed,
        Outcome::Unauthenticated,
        Outcome::Forbidden,
        Outcome::InvalidRequest,
        Outcome::Unavailable,
    ];

    /// The outcome a refusal for `err` is.
    pub fn of(err: &AuthError) -> Self {
        match err {
            AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidDpopProof(_) => Outcome::Unauthenticated,
            AuthError::InvalidRequest(_) => Outcome::InvalidRequest,
            AuthError::InsufficientScope { .. } => Outcome::Forbidden,
            AuthError::Unavailable(_) => Outcome::Unavailable,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The result of one introspection request, the `result` label of
/// `warden_introspections_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Introspected {
    /// `active: true`, accepted.
    Active,
    /// Inactive, or an answer refused.
    Inactive,
    /// The endpoint failed (503).
    Error,
}

impl Introspected {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Introspected::Active => "active",
            Introspected::Inactive => "inactive",
            Introspected::Error => "error",
        }
    }
}

#[cfg_attr(not(any(feature = "metrics", test)), allow(dead_code))]
fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

#[cfg(feature = "metrics")]
mod on {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use metrics::{Counter, Histogram, Unit};

    use super::*;
    use crate::sync::lock;

    pub(super) struct Handles {
        pub(super) outcomes: [Counter; 5],
        pub(super) duration: Histogram,
        pub(super) hits: Counter,
        pub(super) misses: Counter,
    }

    static HANDLES: OnceLock<Handles> = OnceLock::new();

    #[inline]
    pub(super) fn handles() -> &'static Handles {
        HANDLES.get_or_init(|| {
            describe();
            // Publishes the per-thread tallies every second, for exporters
            // that render without calling `flush` first. Ends with the
            // process; one thread, started once.
            let _ = std::thread::Builder::new()
                .name("warden-metrics".into())
                .spawn(|| {
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                        flush();
                    }
                });
            Handles {
                outcomes: Outcome::ALL
                    .map(|o| metrics::counter!(AUTH_REQUESTS_TOTAL, "outcome" => o.as_str())),
                duration: metrics::histogram!(AUTH_DURATION_SECONDS),
                hits: metrics::counter!(TOKEN_CACHE_HITS_TOTAL),
                misses: metrics::counter!(TOKEN_CACHE_MISSES_TOTAL),
            }
        })
    }

    /// One thread's counts of the two hot-path counters. Only its thread
    /// writes them (a load and a store, no read-modify-write); `flush` reads.
    #[derive(Default)]
    pub(super) struct Tally {
        pub(super) hits: AtomicU64,
        pub(super) allowed: AtomicU64,
    }

    /// The live threads' tallies and what ended threads counted.
    struct Tallies {
        live: Vec<Arc<Tally>>,
        retired_hits: u64,
        retired_allowed: u64,
    }

    static TALLIES: Mutex<Tallies> = Mutex::new(Tallies {
        live: Vec::new(),
        retired_hits: 0,
        retired_allowed: 0,
    });

    /// The thread's tally; folded into the retired counts when the thread
    /// ends, so the registry holds live threads only.
    struct Local(Arc<Tally>);

    impl Drop for Local {
        fn drop(&mut self) {
            let mut t = lock(&TALLIES);
            t.retired_hits += self.0.hits.load(Relaxed);
            t.retired_allowed += self.0.allowed.load(Relaxed);
            t.live.retain(|x| !Arc::ptr_eq(x, &self.0));
        }
    }

    thread_local! {
        static LOCAL: Local = {
            let tally = Arc::new(Tally::default());
            lock(&TALLIES).live.push(tally.clone());
            Local(tally)
        };
    }

    /// Adds one to this thread's `which` count.
    #[inline]
    pub(super) fn bump(which: fn(&Tally) -> &AtomicU64) {
        let counted = LOCAL.try_with(|l| {
            let c = which(&l.0);
            c.store(c.load(Relaxed) + 1, Relaxed);
        });
        if counted.is_err() {
            // The thread is ending: count it as retired.
            let mut t = lock(&TALLIES);
            let one = Tally::default();
            which(&one).store(1, Relaxed);
            t.retired_hits += one.hits.load(Relaxed);
            t.retired_allowed += one.allowed.load(Relaxed);
        }
    }

    /// Publishes the tallies' totals (serialised: a counter never goes back).
    pub(super) fn flush() {
        let h = handles();
        let t = lock(&TALLIES);
        let hits = t.retired_hits + t.live.iter().map(|x| x.hits.load(Relaxed)).sum::<u64>();
        let allowed =
            t.retired_allowed + t.live.iter().map(|x| x.allowed.load(Relaxed)).sum::<u64>();
        h.hits.absolute(hits);
        h.outcomes[Outcome::Allowed as usize].absolute(allowed);
        drop(t);
    }

    fn describe() {
        metrics::describe_counter!(
            AUTH_REQUESTS_TOTAL,
            Unit::Count,
            "Requests through warden's authenticate layer, by final verdict"
        );
        metrics::describe_histogram!(
            AUTH_DURATION_SECONDS,
            Unit::Seconds,
            "Token validation time on a cache miss"
        );
        metrics::describe_counter!(
            TOKEN_CACHE_HITS_TOTAL,
            Unit::Count,
            "Requests answered from the validated-token cache"
        );
        metrics::describe_counter!(
            TOKEN_CACHE_MISSES_TOTAL,
            Unit::Count,
            "Requests the validated-token cache could not answer"
        );
        metrics::describe_counter!(
            JWKS_FETCHES_TOTAL,
            Unit::Count,
            "Discovery and JWKS fetches, by issuer and result"
        );
        metrics::describe_counter!(
            INTROSPECTIONS_TOTAL,
            Unit::Count,
            "Introspection requests (RFC 7662), by result"
        );
        metrics::describe_gauge!(
            REVOCATION_STORE_READY,
            Unit::Count,
            "1 while the shared revocation list can be trusted"
        );
        metrics::describe_counter!(
            OUTBOUND_TOKEN_REQUESTS_TOTAL,
            Unit::Count,
            "Token endpoint requests of outbound token sources, by grant and result"
        );
    }
}

/// Exports every series at 0 (the per-issuer JWKS series appear when each
/// validator is built) and resolves the hot path's handles. Call once, after
/// installing the recorder; a no-op without the feature.
pub fn register() {
    #[cfg(feature = "metrics")]
    {
        let _ = on::handles();
        for r in [
            Introspected::Active,
            Introspected::Inactive,
            Introspected::Error,
        ] {
            metrics::counter!(INTROSPECTIONS_TOTAL, "result" => r.as_str()).absolute(0);
        }
        for grant in GRANTS {
            for ok in [true, false] {
                metrics::counter!(OUTBOUND_TOKEN_REQUESTS_TOTAL, "grant" => grant, "result" => result(ok))
                    .absolute(0);
            }
        }
        metrics::gauge!(REVOCATION_STORE_READY).increment(0.0);
    }
}

/// Publishes the per-thread tallies of `allowed` and the cache hits to the
/// recorder now (see the [module docs](self)): call it before rendering a
/// scrape for exact figures. A no-op without the feature.
pub fn flush() {
    #[cfg(feature = "metrics")]
    on::flush();
}

/// Counts a request's final verdict.
#[inline]
pub fn outcome(outcome: Outcome) {
    #[cfg(feature = "metrics")]
    match outcome {
        Outcome::Allowed => on::bump(|t| &t.allowed),
        other => on::handles().outcomes[other as usize].increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}

/// Records one validation on a cache miss.
#[inline]
pub fn validation_time(took: Duration) {
    #[cfg(feature = "metrics")]
    on::handles().duration.record(took);
    #[cfg(not(feature = "metrics"))]
    let _ = took;
}

/// Counts a validated-token cache hit (`true`) or miss.
#[inline]
pub fn cache_lookup(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        on::bump(|t| &t.hits);
    } else {
        on::handles().misses.increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = hit;
}

/// Exports `issuer`'s JWKS series at 0 (when its validator is built).
pub fn register_issuer(issuer: &str) {
    #[cfg(feature = "metrics")]
    for ok in [true, false] {
        metrics::counter!(JWKS_FETCHES_TOTAL, "issuer" => issuer.to_owned(), "result" => result(ok))
            .absolute(0);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = issuer;
}

/// Counts a discovery or JWKS fetch for `issuer` (a configured value, never
/// one read from a token).
pub fn jwks_fetch(issuer: &str, ok: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(JWKS_FETCHES_TOTAL, "issuer" => issuer.to_owned(), "result" => result(ok))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, ok);
}

/// Counts one introspection request.
pub fn introspection(result: Introspected) {
    #[cfg(feature = "metrics")]
    metrics::counter!(INTROSPECTIONS_TOTAL, "result" => result.as_str()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Sets the revocation store gauge.
pub fn revocation_store_ready(ready: bool) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(REVOCATION_STORE_READY).set(if ready { 1.0 } else { 0.0 });
    #[cfg(not(feature = "metrics"))]
    let _ = ready;
}

/// Counts one token endpoint request of an outbound source; `grant` is one
/// of [`GRANTS`].
pub fn outbound_token_request(grant: &'static str, ok: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!(OUTBOUND_TOKEN_REQUESTS_TOTAL, "grant" => grant, "result" => result(ok))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (grant, ok);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{InvalidRequest, InvalidToken, Unavailable};

    #[test]
    fn outcomes_of_errors() {
        let cases = [
            (AuthError::MissingToken, "unauthenticated"),
            (InvalidToken::Expired.into(), "unauthenticated"),
            (
                InvalidRequest::MultipleCredentials.into(),
                "invalid_request",
            ),
            (
                AuthError::InsufficientScope {
                    required: "a".into(),
                },
                "forbidden",
            ),
            (Unavailable::NoKeys.into(), "unavailable"),
        ];
        for (err, label) in cases {
            assert_eq!(Outcome::of(&err).as_str(), label);
        }
        let labels: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            labels,
            [
                "allowed",
                "unauthenticated",
                "forbidden",
                "invalid_request",
                "unavailable"
            ]
        );
        assert_eq!(result(true), "ok");
    }
}
