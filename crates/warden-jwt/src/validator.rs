//! [`JwtValidator`]: JWT access tokens (RFC 7519, RFC 9068
//! <https://www.rfc-editor.org/rfc/rfc9068#section-4>) validated by the
//! rules of RFC 8725 (<https://www.rfc-editor.org/rfc/rfc8725#section-3>),
//! from one issuer or several (RFC 8725 §3.8: each issuer's tokens are
//! verified with that issuer's keys only).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use warden_core::sync::OnDrop;
use warden_core::{
    AuthError, ClaimRules, Clock, Fingerprint, InvalidToken, NoCustomClaims, Principal,
    TokenValidator, Unavailable,
};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::builder::{JwtValidatorBuilder, MultiIssuerBuilder};
use crate::error::JwtError;
use crate::jwks::{KeyCache, KeySetStatus};
use crate::keys::KeySet;

pub use warden_core::DEFAULT_LEEWAY;

/// At most this many keys are tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

pub(crate) enum Keys {
    Static(KeySet),
    Remote(Arc<KeyCache>),
}

/// One trusted issuer: its names, its keys, its rules.
pub(crate) struct Issuer {
    /// The primary issuer (or template) as configured, for status reports.
    pub(crate) name: String,
    pub(crate) keys: Keys,
    pub(crate) rules: ClaimRules,
    pub(crate) algorithms: AlgorithmSet,
    pub(crate) strict_typ: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) _task: Option<OnDrop>,
}

/// The issuers a validator trusts, in the order they were given: the first
/// whose names accept a token's `iss` verifies it.
pub(crate) struct Inner {
    pub(crate) issuers: Vec<Issuer>,
    pub(crate) max_len: usize,
}

impl Inner {
    /// The issuer whose names accept `iss` (not yet verified). Nothing is
    /// fetched for a token no issuer accepts.
    fn issuer_for(&self, iss: Option<&str>) -> Result<&Issuer, InvalidToken> {
        match self.issuers.iter().find(|i| i.rules.accepts_issuer(iss)) {
            Some(issuer) => Ok(issuer),
            None if iss.is_none() => Err(InvalidToken::MissingClaim("iss")),
            None => Err(InvalidToken::WrongIssuer),
        }
    }
}

/// Validates JWT access tokens; a [`TokenValidator`] for
/// [`RequireBearerLayer`](warden_core::RequireBearerLayer).
///
/// `C` is the type your own claims deserialize into (roles live in a
/// different claim at every issuer); it is reachable with
/// [`Principal::custom`]. Cheap to clone; the key cache and its background
/// refresh are shared and stop when the last clone is dropped.
///
/// ```no_run
/// # async fn f() -> Result<(), warden_jwt::JwtError> {
/// // Keys from the issuer's discovery document, refreshed in the background.
/// let validator = warden_jwt::JwtValidator::builder()
///     .issuer("https://id.example.com/realms/shop")
///     .audience("api://orders")
///     .build()?;
/// # Ok(()) }
/// ```
///
/// With a static key set, and what it refuses:
///
/// ```
/// use warden_core::{AuthError, InvalidToken};
/// use warden_jwt::{Algorithm, JwtError, JwtValidator, KeySet};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let keys = KeySet::from_shared_secret(Algorithm::HS256, &[7; 32], None).unwrap();
/// let built = JwtValidator::builder()
///     .issuer("https://id.example")
///     .audience("api://orders")
///     .keys(keys.clone())
///     .build();
/// let v = match built {
///     // Compiled without `aws_lc_rs` or `rust_crypto`: a clear error, no panic.
///     Err(JwtError::NoCryptoBackend) => return,
///     other => other.unwrap(),
/// };
/// assert!(v.is_ready());
/// // `alg: none` never passes, whatever the keys.
/// let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.";
/// assert!(matches!(v.validate_token(none).await, Err(AuthError::InvalidToken(_))));
/// // An audience is required unless waived through the door.
/// let e = JwtValidator::builder().issuer("https://id.example").keys(keys).build();
/// assert_eq!(e.unwrap_err(), JwtError::MissingAudience);
/// # }
/// ```
pub struct JwtValidator<C = NoCustomClaims> {
    pub(crate) inner: Arc<Inner>,
    pub(crate) _claims: PhantomData<fn() -> C>,
}

impl<C> Clone for JwtValidator<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C> fmt::Debug for JwtValidator<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("JwtValidator");
        for issuer in &self.inner.issuers {
            d.field("rules", &issuer.rules)
                .field("algorithms", &issuer.algorithms);
        }
        d.finish_non_exhaustive()
    }
}

impl JwtValidator<NoCustomClaims> {
    /// Starts a builder. Issuer and audience are required.
    pub fn builder() -> JwtValidatorBuilder<NoCustomClaims> {
        JwtValidatorBuilder::default()
    }

    /// Starts a validator that trusts several issuers, each configured by
    /// its own [`builder`](Self::builder); see [`MultiIssuerBuilder`].
    pub fn multi_issuer() -> MultiIssuerBuilder<NoCustomClaims> {
        MultiIssuerBuilder::new()
    }
}

impl Issuer {
    fn status(&self) -> KeySetStatus {
        match &self.keys {
            Keys::Static(set) => KeySetStatus {
                ready: !set.is_empty(),
                keys: set.len(),
                fetched_at: None,
                age: None,
                stale: false,
                last_error: None,
                fetches: 0,
                failures: 0,
            },
            Keys::Remote(cache) => cache.status(),
        }
    }

    fn is_ready(&self) -> bool {
        match &self.keys {
            Keys::Static(set) => !set.is_empty(),
            Keys::Remote(cache) => cache.usable().is_some(),
        }
    }
}

impl<C> JwtValidator<C> {
    /// The state of the key sets (for readiness probes and metrics): with
    /// several issuers, ready when every issuer has keys, key and fetch
    /// counts summed, the oldest set's age, the first error. See
    /// [`issuer_status`](Self::issuer_status) for each one.
    pub fn status(&self) -> KeySetStatus {
        let mut all = self.inner.issuers.iter().map(Issuer::status);
        let mut sum = all.next().expect("a validator has at least one issuer");
        for s in all {
            sum.ready &= s.ready;
            sum.keys += s.keys;
            sum.fetched_at = match (sum.fetched_at, s.fetched_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            sum.age = sum.age.max(s.age);
            sum.stale |= s.stale;
            sum.last_error = sum.last_error.or(s.last_error);
            sum.fetches += s.fetches;
            sum.failures += s.failures;
        }
        sum
    }

    /// Each trusted issuer (its primary `iss`, or its template) with the
    /// state of its own key set, in configuration order.
    pub fn issuer_status(&self) -> Vec<(String, KeySetStatus)> {
        self.inner
            .issuers
            .iter()
            .map(|i| (i.name.clone(), i.status()))
            .collect()
    }

    /// The trusted issuers (primary `iss` or template of each), in
    /// configuration order: the `authorization_servers` of RFC 9728 metadata.
    pub fn issuers(&self) -> Vec<String> {
        self.inner.issuers.iter().map(|i| i.name.clone()).collect()
    }

    /// Whether every issuer's signing keys are usable now: the readiness
    /// answer.
    pub fn is_ready(&self) -> bool {
        self.inner.issuers.iter().all(Issuer::is_ready)
    }

    /// Waits until keys are usable, at most `timeout`; returns early with the
    /// error of a failed fetch. For start-up checks: a service that must not
    /// start without keys calls this, one that must start anyway (and heal
    /// later) does not.
    ///
    /// # Errors
    /// The error of the last failed fetch (for example
    /// [`JwtError::IssuerMismatch`]), or a [`JwtError::Fetch`] timeout when
    /// nothing was fetched in time.
    pub async fn wait_until_ready(&self, timeout: Duration) -> Result<(), JwtError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for issuer in &self.inner.issuers {
            if let Keys::Remote(cache) = &issuer.keys {
                wait_for(cache, deadline, timeout).await?;
            }
        }
        Ok(())
    }
}

async fn wait_for(
    cache: &KeyCache,
    deadline: tokio::time::Instant,
    timeout: Duration,
) -> Result<(), JwtError> {
    loop {
        if cache.usable().is_some() {
            return Ok(());
        }
        if let Some(err) = cache.status().last_error {
            return Err(err);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(cache.status().last_error.unwrap_or(JwtError::Fetch {
                url: "key set".into(),
                reason: format!("no keys after {timeout:?}"),
            }));
        }
        cache
            .changed((deadline - now).min(Duration::from_millis(250)))
            .await;
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<Value>,
}

/// The one claim read before the signature: `iss`, to choose the issuer
/// whose keys may verify the token (RFC 8725 §3.8). Never an acceptance.
#[derive(Deserialize)]
struct PeekIssuer {
    #[serde(default, deserialize_with = "present")]
    iss: Option<Value>,
}

/// A present member, `null` included (so that `"crit": null` is a `crit`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

enum KeyLookup {
    UnknownKid,
    Failed(InvalidToken),
}

fn verify_with(
    set: &KeySet,
    kid: Option<&str>,
    alg: Algorithm,
    message: &[u8],
    sig: &str,
) -> Result<(), KeyLookup> {
    let mut any_kid = false;
    let mut tried = 0;
    for key in set.candidates(kid) {
        any_kid = true;
        if !key.algs.contains(alg) {
            continue;
        }
        if tried == MAX_CANDIDATES {
            break;
        }
        tried += 1;
        if let Ok(true) = jsonwebtoken::crypto::verify(sig, message, &key.key, alg.to_jwt()) {
            return Ok(());
        }
    }
    match (any_kid, tried) {
        (false, _) if kid.is_some() => Err(KeyLookup::UnknownKid),
        (false, _) => Err(KeyLookup::Failed(InvalidToken::UnknownKey)),
        (true, 0) if kid.is_some() => Err(KeyLookup::Failed(InvalidToken::DisallowedAlgorithm)),
        (true, 0) => Err(KeyLookup::Failed(InvalidToken::UnknownKey)),
        _ => Err(KeyLookup::Failed(InvalidToken::BadSignature)),
    }
}

impl<C> JwtValidator<C>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    /// Validates `token`, returning the principal.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for any bad token;
    /// [`AuthError::Unavailable`] when no usable keys can be had.
    pub async fn validate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.max_len {
            return Err(InvalidToken::TooLarge.into());
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed.into());
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(InvalidToken::Malformed.into());
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(h64)
            .map_err(|_| InvalidToken::Malformed)?;
        let header: RawHeader = serde_json::from_str(json_object(&header_json)?)
            .map_err(|_| InvalidToken::Malformed)?;

        // RFC 8725 §3.1: never `none`, in any casing; only known, allowed names.
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| InvalidToken::DisallowedAlgorithm)?;
        // RFC 7515 §4.1.11: we understand no extension, so any `crit` is fatal.
        if header.crit.is_some() {
            return Err(InvalidToken::UnsupportedCritical.into());
        }

        // The issuer is chosen by the unverified `iss`, before any key is
        // looked up: a token no issuer accepts never causes a fetch, and one
        // issuer's keys never verify a token claiming another.
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| InvalidToken::Malformed)?;
        let payload = json_object(&payload)?;
        let peeked: PeekIssuer =
            serde_json::from_str(payload).map_err(|_| InvalidToken::Malformed)?;
        let iss = match &peeked.iss {
            None => None,
            Some(Value::String(iss)) => Some(iss.as_str()),
            Some(_) => return Err(InvalidToken::InvalidClaim("iss").into()),
        };
        let issuer = inner.issuer_for(iss)?;

        if !issuer.algorithms.contains(alg) {
            return Err(InvalidToken::DisallowedAlgorithm.into());
        }
        // RFC 9068 §2.1 / RFC 8725 §3.11.
        match header.typ.as_deref() {
            None if !issuer.strict_typ => {}
            None => return Err(InvalidToken::WrongType.into()),
            Some(t) => {
                let t = t.to_ascii_lowercase();
                let t = t.strip_prefix("application/").unwrap_or(&t);
                match t {
                    "at+jwt" => {}
                    "jwt" if !issuer.strict_typ => {}
                    _ => return Err(InvalidToken::WrongType.into()),
                }
            }
        }

        let message = &token.as_bytes()[..h64.len() + 1 + p64.len()];
        verify(issuer, header.kid.as_deref(), alg, message, s64).await?;

        // The signature holds: the claims (`iss` again, now verified, with
        // the tenant rule) are checked by this issuer's rules.
        let claims = issuer.rules.check_json(payload, issuer.clock.now())?;
        let custom: C =
            serde_json::from_str(payload).map_err(|_| InvalidToken::InvalidClaim("custom"))?;
        Ok(Principal::new(claims, custom, Fingerprint::of(token)))
    }
}

async fn verify(
    issuer: &Issuer,
    kid: Option<&str>,
    alg: Algorithm,
    message: &[u8],
    sig: &str,
) -> Result<(), AuthError> {
    let lookup = |e| match e {
        KeyLookup::UnknownKid => AuthError::from(InvalidToken::UnknownKey),
        KeyLookup::Failed(r) => r.into(),
    };
    let cache = match &issuer.keys {
        Keys::Static(set) => return verify_with(set, kid, alg, message, sig).map_err(lookup),
        Keys::Remote(cache) => cache,
    };
    let seen = cache.generation();
    let first = match cache.usable() {
        Some(snap) => match verify_with(&snap.keys, kid, alg, message, sig) {
            Ok(()) => return Ok(()),
            Err(KeyLookup::Failed(r)) => return Err(r.into()),
            Err(KeyLookup::UnknownKid) => true,
        },
        None => false,
    };
    // Unknown kid, or no usable keys: one shared refetch, unless in cooldown.
    if !cache.refetch(seen).await {
        return Err(if first {
            InvalidToken::UnknownKey.into()
        } else {
            Unavailable::NoKeys.into()
        });
    }
    match cache.usable() {
        Some(snap) => verify_with(&snap.keys, kid, alg, message, sig).map_err(lookup),
        None => Err(Unavailable::NoKeys.into()),
    }
}

/// RFC 7515 §4 / RFC 7519 §7.2: header and claims are JSON objects (serde
/// would also read a struct from an array).
/// The bytes of a JOSE header or JWT payload as a JSON object's text.
/// RFC 7515 §4 / RFC 7519 §7.2: UTF-8 throughout, members warden ignores
/// included (serde does not look inside strings it skips).
fn json_object(bytes: &[u8]) -> Result<&str, InvalidToken> {
    let text = std::str::from_utf8(bytes).map_err(|_| InvalidToken::Malformed)?;
    if text.trim_start().starts_with('{') {
        Ok(text)
    } else {
        Err(InvalidToken::Malformed)
    }
}

impl<C> TokenValidator for JwtValidator<C>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, AuthError>> + Send {
        self.validate_token(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects() {
        assert_eq!(json_object(b" {}"), Ok(" {}"));
        assert!(json_object(b"[]").is_err());
        assert!(json_object(b"{\"a\":\"\xff\"}").is_err());
    }
}
