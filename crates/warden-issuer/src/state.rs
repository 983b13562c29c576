//! The issuer's state, shared by the server and the OAuth endpoints:
//! keys, codes, refresh families, opaque tokens, assertion `jti`s and
//! exchange links, each pruned when it expires; the fault switches tests
//! use; and the one random generator for codes and tokens.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_core::{Clock, RevocationStore};

use crate::config::IssuerConfig;
use crate::keys::{Algorithm, SigningKey};

/// How the issuer's discovery and JWKS endpoints answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Normal answers.
    #[default]
    Up,
    /// 503 Service Unavailable.
    Down,
    /// Normal answers after this delay.
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a valid but 1 MiB JSON body.
    Oversized,
}

pub(crate) struct KeyEntry {
    pub(crate) key: Arc<SigningKey>,
    pub(crate) activates_at: SystemTime,
}

/// What a user consented to (RFC 6749 §4.1): carried by a code, then by
/// every refresh token of the family the code starts.
#[derive(Clone)]
pub(crate) struct Consent {
    /// The client the user signed in to.
    pub(crate) client_id: String,
    /// The user.
    pub(crate) user: String,
    /// The scopes consented to.
    pub(crate) scopes: Vec<String>,
    /// The resource the tokens are for.
    pub(crate) audience: String,
}

/// An authorization code (RFC 6749 §4.1.2): single use, short life.
pub(crate) struct Code {
    pub(crate) consent: Consent,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
    /// Reuse was seen: whatever the code issued, now or later, is revoked.
    pub(crate) reused: bool,
    /// jtis of access tokens issued from this code (revoked on code reuse).
    pub(crate) issued: Vec<(String, SystemTime)>,
    /// The refresh-token family started by this code (revoked on reuse).
    pub(crate) family: Option<String>,
}

/// A refresh token; a family is every token rotated from one grant.
pub(crate) struct RefreshEntry {
    pub(crate) family: String,
    pub(crate) consent: Consent,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449
    /// §5): its next use needs a proof by the same key.
    pub(crate) jkt: Option<String>,
}

/// A refresh-token family: everything rotated from one grant.
pub(crate) struct Family {
    /// Access tokens issued in the family (jti, exp): revoked with it.
    pub(crate) issued: Vec<(String, SystemTime)>,
    /// Reuse was detected, or a member was revoked: every token is refused.
    pub(crate) revoked: bool,
    /// The family's absolute end: no rotation reaches past it.
    pub(crate) expires_at: SystemTime,
}

/// What an opaque token stands for.
pub(crate) struct OpaqueEntry {
    pub(crate) claims: Value,
    pub(crate) expires_at: SystemTime,
}

pub(crate) struct Shared {
    pub(crate) issuer: String,
    pub(crate) config: RwLock<IssuerConfig>,
    pub(crate) keys: RwLock<Vec<KeyEntry>>,
    pub(crate) mode: RwLock<Mode>,
    pub(crate) discovery_issuer: RwLock<Option<String>>,
    pub(crate) cache_control: RwLock<Option<String>>,
    pub(crate) jwks_hits: AtomicUsize,
    pub(crate) discovery_hits: AtomicUsize,
    pub(crate) token_hits: AtomicUsize,
    pub(crate) introspection_hits: AtomicUsize,
    pub(crate) revocation_hits: AtomicUsize,
    pub(crate) revocations: Arc<dyn RevocationStore>,
    pub(crate) codes: Mutex<HashMap<String, Code>>,
    pub(crate) refresh: Mutex<HashMap<String, RefreshEntry>>,
    /// Refresh-token families: the access tokens each issued, and whether
    /// reuse (or revocation) killed it.
    pub(crate) families: Mutex<HashMap<String, Family>>,
    pub(crate) opaque: Mutex<HashMap<String, OpaqueEntry>>,
    pub(crate) assertion_jtis: Mutex<HashMap<String, SystemTime>>,
    /// Tokens exchanged from a subject token (by jti): revoking the subject
    /// revokes them too.
    pub(crate) derived: Mutex<HashMap<String, Vec<(String, SystemTime)>>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// DPoP proofs seen at the token endpoint (bounded; full of live
    /// proofs, a new one is refused rather than an old one forgotten).
    pub(crate) dpop_jtis: warden_core::dpop::MemoryReplayStore,
    /// The token endpoint's DPoP proof verifier.
    pub(crate) dpop: warden_jwt::DpopVerifier,
    /// When the maps were last swept of what has expired.
    pub(crate) last_prune: Mutex<SystemTime>,
    /// The key of the sign-in page's CSRF tokens (this process's own).
    pub(crate) csrf_key: aws_lc_rs::hmac::Key,
    /// Sign-in failures by user and address (bounded).
    pub(crate) throttle: crate::oauth::throttle::Throttle,
}

/// How many entries the issuer holds in memory, for tests and metrics. Every
/// map an unauthenticated (or any) client can grow is pruned as its entries
/// expire (swept at most every [`PRUNE_EVERY`], on requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateCounts {
    /// Authorization codes (used ones stay until they expire, for reuse detection).
    pub codes: usize,
    /// Refresh tokens (rotated ones stay until they expire, for reuse detection).
    pub refresh_tokens: usize,
    /// Refresh-token families.
    pub families: usize,
    /// Opaque access tokens.
    pub opaque_tokens: usize,
    /// Client-assertion `jti`s remembered against replay.
    pub assertion_jtis: usize,
    /// Subject tokens with exchanged tokens hanging off them.
    pub derived: usize,
    /// Users and addresses with recent sign-in failures (bounded).
    pub sign_in_failures: usize,
}

/// How often the issuer sweeps its maps (by its clock).
pub const PRUNE_EVERY: Duration = Duration::from_secs(5);

pub(crate) use warden_core::sync::lock;

/// A copy of what `l` holds.
pub(crate) fn read<T: Clone>(l: &RwLock<T>) -> T {
    warden_core::sync::read(l).clone()
}

/// Replaces what `l` holds.
pub(crate) fn write<T>(l: &RwLock<T>, v: T) {
    *warden_core::sync::write(l) = v;
}

impl Shared {
    /// Now, by the issuer's clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Now in seconds since the epoch, by the issuer's clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Sweeps every map of what has expired, at most every [`PRUNE_EVERY`]
    /// (amortised over requests: one sweep, then nothing for a while).
    pub(crate) fn prune(&self) {
        let now = self.now();
        {
            let mut last = lock(&self.last_prune);
            if now.duration_since(*last).unwrap_or_default() < PRUNE_EVERY {
                return;
            }
            *last = now;
        }
        // A family outlives its last refresh token by at most one access
        // token lifetime (the tokens it issued must stay revocable).
        let max_at = Duration::from_secs(warden_core::sync::read(&self.config).max_lifetime_secs());
        lock(&self.codes).retain(|_, c| c.expires_at > now);
        lock(&self.refresh).retain(|_, r| r.expires_at > now);
        lock(&self.families).retain(|_, f| f.expires_at + max_at > now);
        lock(&self.opaque).retain(|_, o| o.expires_at > now);
        lock(&self.assertion_jtis).retain(|_, t| *t > now);
        lock(&self.derived).retain(|_, children| {
            children.retain(|(_, exp)| *exp > now);
            !children.is_empty()
        });
    }

    /// The sizes of the maps.
    pub(crate) fn counts(&self) -> StateCounts {
        StateCounts {
            codes: lock(&self.codes).len(),
            refresh_tokens: lock(&self.refresh).len(),
            families: lock(&self.families).len(),
            opaque_tokens: lock(&self.opaque).len(),
            assertion_jtis: lock(&self.assertion_jtis).len(),
            derived: lock(&self.derived).len(),
            sign_in_failures: self.throttle.len(),
        }
    }

    /// The key that signs now: the newest one whose activation time has come.
    pub(crate) fn signing_key(&self) -> Option<Arc<SigningKey>> {
        let now = self.now();
        let keys = warden_core::sync::read(&self.keys);
        keys.iter()
            .filter(|k| k.activates_at <= now && k.key.alg() != Algorithm::HS256)
            .max_by_key(|k| k.activates_at)
            .or_else(|| keys.first())
            .map(|k| k.key.clone())
    }

    pub(crate) fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        warden_core::sync::read(&self.keys)
            .iter()
            .find(|k| k.key.kid() == kid)
            .map(|k| k.key.clone())
    }

    pub(crate) fn config(&self) -> IssuerConfig {
        read(&self.config)
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The system random generator failed: nothing that needs randomness (a
/// code, a token, an identifier) can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RngFailed;

/// `bytes` random bytes, base64url: an error, never zeros, when the
/// generator fails.
pub(crate) fn random_id(bytes: usize) -> Result<String, RngFailed> {
    random_id_with(bytes, |b| aws_lc_rs::rand::fill(b).map_err(|_| RngFailed))
}

pub(crate) fn random_id_with(
    bytes: usize,
    fill: impl Fn(&mut [u8]) -> Result<(), RngFailed>,
) -> Result<String, RngFailed> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(crate::mint::b64(&b))
}

pub(crate) fn jwks_value(shared: &Shared) -> Value {
    let keys: Vec<Value> = warden_core::sync::read(&shared.keys)
        .iter()
        .filter_map(|k| k.key.public_jwk())
        .collect();
    json!({ "keys": keys })
}

/// Applies the fault mode; `Some(response)` replaces the normal answer.
pub(crate) async fn fault(shared: &Shared) -> Option<Response> {
    match read(&shared.mode) {
        Mode::Up => None,
        Mode::Down => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Mode::Garbage => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html>surprise</html>",
            )
                .into_response(),
        ),
        Mode::Oversized => {
            let mut doc = jwks_value(shared);
            doc["padding"] = json!("x".repeat(1024 * 1024));
            Some(axum::Json(doc).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_random_generator_is_an_error_never_zeros() {
        assert_eq!(random_id_with(12, |_| Err(RngFailed)), Err(RngFailed));
        let a = random_id(32).unwrap();
        assert_ne!(a, crate::mint::b64(&[0u8; 32]));
        assert_ne!(a, random_id(32).unwrap());
    }
}
