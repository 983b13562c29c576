//! Sender-constrained tokens by DPoP, RFC 9449
//! (<https://www.rfc-editor.org/rfc/rfc9449#section-4.3>): the policy, what a
//! proof is checked against, the verdicts, and the replay store.
//!
//! A DPoP proof is a JWT signed by the client's own key, sent in the `DPoP`
//! header next to `Authorization: DPoP <token>`. It binds one request (its
//! method and URI, `htm` and `htu`) to one moment (`iat`) and to the token
//! (`ath`), and the token is bound to the key (`cnf.jkt`, RFC 7638
//! thumbprint). A stolen token is useless without the key; a stolen proof is
//! useless for another request, and refused as a replay (`jti`) for the same
//! one.
//!
//! Proof verification needs crypto and lives in warden-jwt
//! (`warden_jwt::dpop::DpopVerifier`), behind the [`ProofVerifier`] trait;
//! the replay store is a [`ReplayStore`]: [`MemoryReplayStore`] (bounded) by
//! default, Redis `SET NX` for fleets (warden-redis).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sha2::Digest;

use crate::bearer::{BearerToken, Scheme};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, InvalidToken, Unavailable};
use crate::principal::Principal;
use crate::revocation::StoreFuture;
use crate::sync::lock;

/// The default window a proof's `iat` must fall in, either side of now
/// (RFC 9449 §11.1 leaves it to the server; 60 s absorbs clock skew).
pub const DEFAULT_IAT_WINDOW: Duration = Duration::from_secs(60);

/// Which token schemes a resource accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopPolicy {
    /// Bearer and DPoP (the default). A DPoP-bound token (`cnf.jkt`)
    /// presented as Bearer is refused: its binding is the point.
    #[default]
    Allow,
    /// DPoP only: a Bearer token is refused, bound or not.
    Require,
    /// Bearer only: the DPoP scheme is not recognised.
    Off,
}

/// What one proof is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The request method (`htm`), as sent.
    pub method: &'a str,
    /// The request's URI as the client addressed it: the configured public
    /// base URL and the request path (`htu`; query and fragment ignored).
    pub uri: &'a str,
    /// The access token the proof comes with (`ath`), if any.
    pub access_token: Option<&'a str>,
    /// The thumbprint the token is bound to (`cnf.jkt`), if any.
    pub jkt: Option<&'a str>,
}

/// A proof that passed every check but the replay check, which the caller
/// makes once the token has verified too (RFC 9449 §11.1: a `jti` is
/// recorded only for a request that is otherwise accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    /// `jti`.
    pub jti: String,
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    /// `iat`.
    pub issued_at: SystemTime,
}

impl VerifiedProof {
    /// A verified proof (for [`ProofVerifier`] implementations).
    pub fn new(jti: String, jkt: String, issued_at: SystemTime) -> Self {
        Self {
            jti,
            jkt,
            issued_at,
        }
    }

    /// The replay key of this proof: its key and its `jti` (two clients may
    /// pick the same `jti`; one client may not reuse one).
    pub fn replay_key(&self) -> String {
        format!("{}:{}", self.jkt, self.jti)
    }
}

/// Why a DPoP proof was refused (`invalid_dpop_proof`, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidProof {
    /// No proof, more than one `DPoP` header, or one holding several proofs.
    #[error("exactly one DPoP proof is required")]
    NotOne,
    /// Not a JWS in compact form with JSON header and claims.
    #[error("malformed DPoP proof")]
    Malformed,
    /// The header `typ` is not `dpop+jwt`.
    #[error("DPoP proof type is not dpop+jwt")]
    WrongType,
    /// `none`, a symmetric algorithm, or one not in the allow-list, or one
    /// the key cannot use.
    #[error("DPoP proof algorithm not allowed")]
    DisallowedAlgorithm,
    /// The header `jwk` is missing, not a usable public key, or holds
    /// private key members.
    #[error("DPoP proof key unusable")]
    BadKey,
    /// The signature does not verify with the header's key.
    #[error("DPoP proof signature invalid")]
    BadSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`, `ath`) is missing or has
    /// the wrong type.
    #[error("DPoP proof lacks claim {0}")]
    MissingClaim(&'static str),
    /// `htm` is not the request method.
    #[error("DPoP proof method mismatch")]
    WrongMethod,
    /// `htu` is not the request URI.
    #[error("DPoP proof URI mismatch")]
    WrongUri,
    /// `iat` is outside the accepted window.
    #[error("DPoP proof too old or too new")]
    Stale,
    /// `ath` is not the hash of the access token.
    #[error("DPoP proof access token hash mismatch")]
    WrongTokenHash,
    /// The token is bound to another key (`cnf.jkt`).
    #[error("DPoP proof key does not match the token binding")]
    WrongKey,
    /// The proof was used before.
    #[error("DPoP proof replayed")]
    Replayed,
    /// The server requires a nonce it issued (RFC 9449 §8): the proof has
    /// none, or one that is not this server's or has expired. Sent as
    /// `error="use_dpop_nonce"` with a fresh `DPoP-Nonce`.
    #[error("DPoP nonce required")]
    UseNonce,
}

impl InvalidProof {
    /// A fixed, lower-case sentence for `error_description`.
    pub fn description(self) -> &'static str {
        match self {
            InvalidProof::NotOne => "exactly one DPoP proof is required",
            InvalidProof::Malformed => "the DPoP proof is malformed",
            InvalidProof::WrongType => "the DPoP proof type is not dpop+jwt",
            InvalidProof::DisallowedAlgorithm => "the DPoP proof algorithm is not allowed",
            InvalidProof::BadKey => "the DPoP proof key is unusable",
            InvalidProof::BadSignature => "the DPoP proof signature is invalid",
            InvalidProof::MissingClaim(_) => "the DPoP proof lacks a required claim",
            InvalidProof::WrongMethod => "the DPoP proof is for another method",
            InvalidProof::WrongUri => "the DPoP proof is for another URI",
            InvalidProof::Stale => "the DPoP proof is too old or too new",
            InvalidProof::WrongTokenHash => "the DPoP proof is for another access token",
            InvalidProof::WrongKey => "the DPoP proof key is not the one the token is bound to",
            InvalidProof::Replayed => "the DPoP proof was used before",
            InvalidProof::UseNonce => "the DPoP proof must carry the server's nonce",
        }
    }
}

/// Checks DPoP proofs (everything in RFC 9449 §4.3 but the replay check).
/// warden-jwt implements it.
pub trait ProofVerifier: Send + Sync + 'static {
    /// Verifies `proof` for `request`.
    ///
    /// # Errors
    /// The first check that failed.
    fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
    ) -> Result<VerifiedProof, InvalidProof>;

    /// The accepted algorithms, for the challenge's `algs` parameter.
    fn accepted_algorithms(&self) -> Vec<&'static str>;

    /// How far a proof's `iat` may be from now: a proof's `jti` is
    /// remembered that long past its `iat`.
    fn replay_window(&self) -> Duration {
        DEFAULT_IAT_WINDOW
    }

    /// A fresh server nonce for the `DPoP-Nonce` header, when this verifier
    /// requires nonces (RFC 9449 §8).
    fn fresh_nonce(&self) -> Option<String> {
        None
    }
}

/// Signs DPoP proofs for a client (RFC 9449 §4.2): a [`TokenSource`]'s
/// DPoP-bound [`AccessToken`] carries one, so that the outbound layer sends
/// `Authorization: DPoP` with a fresh proof, never the token as Bearer.
/// warden-jwt's `DpopKey` implements it.
///
/// [`TokenSource`]: crate::TokenSource
/// [`AccessToken`]: crate::AccessToken
pub trait ProofSigner: fmt::Debug + Send + Sync + 'static {
    /// A proof for `method uri` (query and fragment dropped), with `ath`
    /// for `access_token` when given, and the nonce last remembered for the
    /// URI's origin.
    ///
    /// # Errors
    /// A message when signing fails.
    fn proof(&self, method: &str, uri: &str, access_token: Option<&str>) -> Result<String, String>;

    /// Remembers the nonce a server at `uri`'s origin asked for
    /// (`DPoP-Nonce`), for the next proofs there.
    fn remember_nonce(&self, uri: &str, nonce: &str);

    /// The RFC 7638 thumbprint of the key (what tokens are bound to).
    fn jkt(&self) -> &str;
}

/// Why the replay store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The store is unreachable or full: the proof cannot be judged (503,
    /// never a pass).
    #[error("DPoP replay store unavailable: {0}")]
    Unavailable(String),
}

/// Remembers proofs seen within the window.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `until`; `Ok(true)` when it was not seen before,
    /// `Ok(false)` for a replay.
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<bool, ReplayError>>;
}

/// The default [`ReplayStore`]: one process's memory, bounded. Expired
/// entries are dropped as new ones arrive; when the store is full of live
/// ones, a new proof is refused as unavailable (fail closed) rather than an
/// old entry forgotten (which would let its replay through). Only proofs
/// whose token and proof verified reach the store, so filling it takes
/// valid credentials.
pub struct MemoryReplayStore {
    /// By the first 128 bits of the key's SHA-256: no allocation per entry,
    /// and no key an attacker can make collide.
    seen: Mutex<HashMap<[u8; 16], SystemTime, foldhash::fast::RandomState>>,
    capacity: usize,
    clock: Box<dyn Clock>,
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("entries", &lock(&self.seen).len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl MemoryReplayStore {
    /// The default bound: a million proofs in a window (about 100 MB at
    /// worst), 8,000 requests a second for two minutes.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// A store of at most `capacity` live proofs, on the system clock.
    pub fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, SystemClock)
    }

    /// As [`new`](Self::new), on `clock`.
    pub fn with_clock(capacity: usize, clock: impl Clock) -> Self {
        Self {
            seen: Mutex::default(),
            capacity: capacity.max(1),
            clock: Box::new(clock),
        }
    }

    /// The number of entries held.
    pub fn len(&self) -> usize {
        lock(&self.seen).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, key: &str, until: SystemTime) -> Result<bool, ReplayError> {
        let now = self.clock.now();
        let mut seen = lock(&self.seen);
        let digest = sha2::Sha256::digest(key.as_bytes());
        let mut short = [0u8; 16];
        short.copy_from_slice(&digest[..16]);
        let key = &short;
        if let Some(t) = seen.get(key)
            && *t > now
        {
            return Ok(false);
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, t| *t > now);
            if seen.len() >= self.capacity {
                return Err(ReplayError::Unavailable(format!(
                    "{} live proofs held",
                    seen.len()
                )));
            }
        }
        seen.insert(short, until);
        Ok(true)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<bool, ReplayError>> {
        let r = self.record(key, until);
        Box::pin(std::future::ready(r))
    }
}

/// DPoP at a resource: the proof verifier, the replay store, the policy and
/// the public base URL proofs are made for. Given to
/// [`RequireBearerLayer::dpop`](crate::RequireBearerLayer::dpop).
///
/// The `htu` a proof must carry is the public base URL followed by the
/// request's path: behind a proxy the `Host` header is not trusted, so the
/// base is configured (a proxy that strips a prefix keeps it in the base:
/// `https://api.example.com/orders-api`).
#[derive(Clone)]
pub struct Dpop {
    verifier: Arc<dyn ProofVerifier>,
    replay: Arc<dyn ReplayStore>,
    policy: DpopPolicy,
    base: Arc<str>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("policy", &self.policy)
            .field("base", &self.base)
            .field("algs", &self.verifier.accepted_algorithms())
            .finish_non_exhaustive()
    }
}

/// What the layer learned from the request before validating its token:
/// its method, `htu` and the one proof (or why there is not exactly one).
#[derive(Debug)]
pub(crate) struct ProofInput {
    method: String,
    uri: String,
    proof: Result<String, InvalidProof>,
}

impl Dpop {
    /// DPoP with `verifier` for proofs made for `public_url` (absolute: the
    /// base URL clients address), policy [`DpopPolicy::Allow`], replays
    /// remembered by a [`MemoryReplayStore`] (share a Redis one across
    /// replicas).
    pub fn new(verifier: impl ProofVerifier, public_url: impl Into<String>) -> Self {
        let base: String = public_url.into();
        Self {
            verifier: Arc::new(verifier),
            replay: Arc::new(MemoryReplayStore::default()),
            policy: DpopPolicy::Allow,
            base: base.trim_end_matches('/').into(),
        }
    }

    /// The policy (default [`DpopPolicy::Allow`]).
    #[must_use]
    pub fn policy(mut self, policy: DpopPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where seen proofs are remembered.
    #[must_use]
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Arc::new(store);
        self
    }

    /// The configured policy.
    pub fn get_policy(&self) -> DpopPolicy {
        self.policy
    }

    /// The algorithms proofs may use.
    pub fn accepted_algorithms(&self) -> Vec<&'static str> {
        self.verifier.accepted_algorithms()
    }

    /// A fresh nonce for a `DPoP-Nonce` header, when nonces are required.
    pub fn fresh_nonce(&self) -> Option<String> {
        self.verifier.fresh_nonce()
    }

    /// Reads what the proof check needs off the request.
    pub(crate) fn input(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> ProofInput {
        let mut values = headers.get_all("dpop").iter();
        let proof = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .map(str::to_owned)
                .map_err(|_| InvalidProof::Malformed),
            _ => Err(InvalidProof::NotOne),
        };
        ProofInput {
            method: method.as_str().to_owned(),
            uri: format!("{}{}", self.base, uri.path()),
            proof,
        }
    }

    /// The binding check of an authenticated request (RFC 9449 §7.1): a
    /// bound token needs the DPoP scheme, the DPoP scheme needs a bound
    /// token and a valid, unseen proof by the token's key. The proof's
    /// `jti` is recorded only when everything else passed.
    pub(crate) async fn check(
        &self,
        principal: &Principal,
        token: &BearerToken,
        input: &ProofInput,
    ) -> Result<(), AuthError> {
        let jkt = principal.claims().cnf.jkt.as_deref();
        match (token.scheme(), jkt) {
            (Scheme::Bearer, Some(_)) => return Err(InvalidToken::DpopBound.into()),
            (Scheme::Bearer, None) if self.policy == DpopPolicy::Require => {
                return Err(InvalidToken::NotDpopBound.into());
            }
            (Scheme::Bearer, None) => return Ok(()),
            (Scheme::Dpop, None) => return Err(InvalidToken::NotDpopBound.into()),
            (Scheme::Dpop, Some(_)) => {}
        }
        let proof = input
            .proof
            .as_deref()
            .map_err(|e| AuthError::InvalidDpopProof(*e))?;
        let request = ProofRequest {
            method: &input.method,
            uri: &input.uri,
            access_token: Some(token.as_str()),
            jkt,
        };
        let verified = self
            .verifier
            .verify(proof, &request)
            .map_err(AuthError::InvalidDpopProof)?;
        let until = verified.issued_at + self.verifier.replay_window() + Duration::from_secs(1);
        match self.replay.first_use(&verified.replay_key(), until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AuthError::InvalidDpopProof(InvalidProof::Replayed)),
            Err(e) => {
                tracing::warn!(error = %e, "DPoP replay store unavailable");
                Err(Unavailable::Upstream.into())
            }
        }
    }
}

/// A bound token presented as Bearer by a layer without DPoP: refused, so
/// that a stolen DPoP-bound token is useless even where DPoP is not set up.
pub(crate) fn bearer_binding(principal: &Principal) -> Result<(), AuthError> {
    match principal.claims().cnf.jkt {
        Some(_) => Err(InvalidToken::DpopBound.into()),
        None => Ok(()),
    }
}

/// The canonical form of an `htu` or a request URI for comparison (RFC 9449
/// §4.3 item 9): query and fragment dropped, scheme and host lower-cased,
/// the default port removed (RFC 3986 §6.2.3), the path normalized as
/// [`path::normalize`](crate::path::normalize) does (§6.2.2; an empty path
/// is `/`). `None` for anything that is not an absolute http(s) URI or
/// whose path has no canonical form.
///
/// ```
/// use warden_core::dpop::normalize_uri;
/// assert_eq!(
///     normalize_uri("HTTPS://API.Example.com:443/a/./b/%7euser?q=1#f").as_deref(),
///     Some("https://api.example.com/a/b/~user")
/// );
/// assert_eq!(normalize_uri("http://h:8080").as_deref(), Some("http://h:8080/"));
/// assert!(normalize_uri("/relative").is_none());
/// ```
pub fn normalize_uri(uri: &str) -> Option<String> {
    let uri = uri.split('#').next().unwrap_or_default();
    let uri = uri.split('?').next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port && !host.ends_with(':') => host.to_owned(),
        _ => authority,
    };
    let path = crate::path::normalize(path).ok()?;
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn uris_compare_in_canonical_form() {
        for (a, b) in [
            ("https://a.example/x", "https://A.EXAMPLE:443/x?y=1"),
            ("https://a.example/", "https://a.example"),
            ("http://a.example:80/%41", "http://a.example/A"),
            ("https://a.example/x/../y", "https://a.example/y"),
        ] {
            assert_eq!(normalize_uri(a), normalize_uri(b), "{a} {b}");
            assert!(normalize_uri(a).is_some());
        }
        for (a, b) in [
            ("https://a.example/x", "http://a.example/x"),
            ("https://a.example:8443/x", "https://a.example/x"),
            ("https://a.example/x", "https://a.example/x/"),
        ] {
            assert_ne!(normalize_uri(a), normalize_uri(b), "{a} {b}");
        }
        for bad in [
            "ftp://a/x",
            "https://",
            "https://u@a/x",
            "https://a/%2F",
            "a/x",
        ] {
            assert_eq!(normalize_uri(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_memory_store_refuses_replays_and_stays_bounded() {
        let clock = ManualClock::starting_now();
        let store = MemoryReplayStore::with_clock(2, clock.clone());
        let until = clock.now() + Duration::from_secs(120);
        assert_eq!(store.first_use("k1", until).await, Ok(true));
        assert_eq!(store.first_use("k1", until).await, Ok(false));
        assert_eq!(store.first_use("k2", until).await, Ok(true));
        // Full of live entries: fail closed, forget nothing.
        assert!(store.first_use("k3", until).await.is_err());
        assert_eq!(store.first_use("k1", until).await, Ok(false));
        // Once they expire, room again (and the old key is new again).
        clock.advance(Duration::from_secs(121));
        assert_eq!(
            store
                .first_use("k3", clock.now() + Duration::from_secs(1))
                .await,
            Ok(true)
        );
        assert_eq!(store.len(), 1);
    }
}
