//! [`JwtValidator`]: JWT access tokens (RFC 7519, RFC 9068
//! <https://www.rfc-editor.org/rfc/rfc9068#section-4>) validated by the
//! rules of RFC 8725 (<https://www.rfc-editor.org/rfc/rfc8725#section-3>).

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
    SystemClock, TokenValidator, Unavailable,
};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::error::JwtError;
use crate::jwks::{JwksCacheConfig, KeyCache, KeySetStatus, Remote};
use crate::keys::KeySet;
use warden_http::{Fetch, UrlPolicy};

pub use warden_core::DEFAULT_LEEWAY;

/// At most this many keys are tried for a token without `kid`.
const MAX_CANDIDATES: usize = 8;

enum Keys {
    Static(KeySet),
    Remote(Arc<KeyCache>),
}

struct Inner {
    keys: Keys,
    rules: ClaimRules,
    algorithms: AlgorithmSet,
    strict_typ: bool,
    max_len: usize,
    clock: Arc<dyn Clock>,
    _task: Option<OnDrop>,
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
/// let validator = warden_jwt::JwtValidator::builder()
///     .issuer("https://id.example.com/realms/shop")
///     .audience("api://orders")
///     .build()?;
/// # Ok(()) }
/// ```
pub struct JwtValidator<C = NoCustomClaims> {
    inner: Arc<Inner>,
    _claims: PhantomData<fn() -> C>,
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
        f.debug_struct("JwtValidator")
            .field("rules", &self.inner.rules)
            .field("algorithms", &self.inner.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtValidator<NoCustomClaims> {
    /// Starts a builder. Issuer and audience are required.
    pub fn builder() -> JwtValidatorBuilder<NoCustomClaims> {
        JwtValidatorBuilder::default()
    }
}

impl<C> JwtValidator<C> {
    /// The state of the key set (for readiness probes and metrics).
    pub fn status(&self) -> KeySetStatus {
        match &self.inner.keys {
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

    /// Whether signing keys are usable now: the readiness answer.
    pub fn is_ready(&self) -> bool {
        match &self.inner.keys {
            Keys::Static(set) => !set.is_empty(),
            Keys::Remote(cache) => cache.usable().is_some(),
        }
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
        let Keys::Remote(cache) = &self.inner.keys else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + timeout;
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
        if !inner.algorithms.contains(alg) {
            return Err(InvalidToken::DisallowedAlgorithm.into());
        }
        // RFC 7515 §4.1.11: we understand no extension, so any `crit` is fatal.
        if header.crit.is_some() {
            return Err(InvalidToken::UnsupportedCritical.into());
        }
        // RFC 9068 §2.1 / RFC 8725 §3.11.
        match header.typ.as_deref() {
            None if !inner.strict_typ => {}
            None => return Err(InvalidToken::WrongType.into()),
            Some(t) => {
                let t = t.to_ascii_lowercase();
                let t = t.strip_prefix("application/").unwrap_or(&t);
                match t {
                    "at+jwt" => {}
                    "jwt" if !inner.strict_typ => {}
                    _ => return Err(InvalidToken::WrongType.into()),
                }
            }
        }

        let message = &token.as_bytes()[..h64.len() + 1 + p64.len()];
        self.verify(header.kid.as_deref(), alg, message, s64)
            .await?;

        // Only signed bytes are parsed from here on.
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| InvalidToken::Malformed)?;
        let payload = json_object(&payload)?;
        let claims = inner.rules.check_json(payload, inner.clock.now())?;
        let custom: C =
            serde_json::from_str(payload).map_err(|_| InvalidToken::InvalidClaim("custom"))?;
        Ok(Principal::new(claims, custom, Fingerprint::of(token)))
    }

    async fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        message: &[u8],
        sig: &str,
    ) -> Result<(), AuthError> {
        let cache = match &self.inner.keys {
            Keys::Static(set) => {
                return verify_with(set, kid, alg, message, sig).map_err(|e| match e {
                    KeyLookup::UnknownKid => InvalidToken::UnknownKey.into(),
                    KeyLookup::Failed(r) => r.into(),
                });
            }
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
            Some(snap) => verify_with(&snap.keys, kid, alg, message, sig).map_err(|e| match e {
                KeyLookup::UnknownKid => InvalidToken::UnknownKey.into(),
                KeyLookup::Failed(r) => r.into(),
            }),
            None => Err(Unavailable::NoKeys.into()),
        }
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

/// Builds a [`JwtValidator`]. Issuer and audience are required; everything
/// else has a safe default (see the crate documentation).
#[must_use]
pub struct JwtValidatorBuilder<C> {
    issuer: Option<String>,
    audiences: Vec<String>,
    keys: Option<KeySet>,
    jwks_url: Option<String>,
    http: Option<Arc<dyn Fetch>>,
    cache: JwksCacheConfig,
    algorithms: AlgorithmSet,
    leeway: Duration,
    strict_typ: bool,
    max_len: usize,
    clock: Arc<dyn Clock>,
    allow_http: bool,
    skip_issuer: bool,
    skip_audience: bool,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtValidatorBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl Default for JwtValidatorBuilder<NoCustomClaims> {
    fn default() -> Self {
        Self {
            issuer: None,
            audiences: Vec::new(),
            keys: None,
            jwks_url: None,
            http: None,
            cache: JwksCacheConfig::default(),
            algorithms: AlgorithmSet::ASYMMETRIC,
            leeway: DEFAULT_LEEWAY,
            strict_typ: false,
            max_len: warden_core::DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            allow_http: false,
            skip_issuer: false,
            skip_audience: false,
            _claims: PhantomData,
        }
    }
}

impl<C> JwtValidatorBuilder<C> {
    /// The expected `iss`, compared exactly. Also the discovery base unless
    /// [`jwks_url`](Self::jwks_url) or [`keys`](Self::keys) is given; the
    /// discovery document's `issuer` must equal it exactly.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// An accepted `aud` value; call again to accept several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepted `aud` values.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Fetch keys from this JWKS URL instead of discovering it.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Use these keys and never fetch (static JWKS, PEM, or a shared secret).
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Restricts the accepted algorithms (default: all asymmetric ones; HMAC
    /// is added automatically only for keys made with
    /// [`KeySet::from_shared_secret`]).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Strict RFC 9068 mode: the header `typ` must be `at+jwt`.
    pub fn strict_typ(mut self, strict: bool) -> Self {
        self.strict_typ = strict;
        self
    }

    /// The largest accepted token (default 16 KiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Tuning of the key cache.
    pub fn jwks_cache(mut self, config: JwksCacheConfig) -> Self {
        self.cache = config;
        self
    }

    /// The HTTP client for discovery and JWKS (share one across validators).
    pub fn http_client(mut self, client: impl Fetch) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// The clock for time claims and cache ages (tests use a manual one).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Deserialize the payload into `C2` as well, reachable with
    /// [`Principal::custom`].
    pub fn claims<C2: DeserializeOwned + Send + Sync + 'static>(self) -> JwtValidatorBuilder<C2> {
        JwtValidatorBuilder {
            issuer: self.issuer,
            audiences: self.audiences,
            keys: self.keys,
            jwks_url: self.jwks_url,
            http: self.http,
            cache: self.cache,
            algorithms: self.algorithms,
            leeway: self.leeway,
            strict_typ: self.strict_typ,
            max_len: self.max_len,
            clock: self.clock,
            allow_http: self.allow_http,
            skip_issuer: self.skip_issuer,
            skip_audience: self.skip_audience,
            _claims: PhantomData,
        }
    }

    /// The door to settings that weaken security.
    pub fn dangerous(self) -> Dangerous<C> {
        Dangerous(self)
    }

    /// Builds the validator and, for remote keys, starts fetching them in the
    /// background (the first fetch begins at once; requests wait for it).
    ///
    /// # Errors
    /// A [`JwtError`] naming the missing or contradictory setting.
    pub fn build(self) -> Result<JwtValidator<C>, JwtError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        ensure_crypto_backend()?;
        if self.issuer.is_none() && !self.skip_issuer {
            return Err(JwtError::MissingIssuer);
        }
        if self.audiences.is_empty() && !self.skip_audience {
            return Err(JwtError::MissingAudience);
        }
        let mut algorithms = self.algorithms;
        let keys = match (self.keys, self.jwks_url, &self.issuer) {
            (Some(_), Some(_), _) => {
                return Err(JwtError::ConflictingKeySources(
                    ".keys(..) and .jwks_url(..)",
                ));
            }
            (Some(set), None, _) => {
                if set.is_empty() {
                    return Err(JwtError::InvalidKey("the key set has no usable key".into()));
                }
                // Shared secrets are explicit; admit their algorithms.
                for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                    if set.admits(alg) {
                        algorithms = algorithms.union(AlgorithmSet::one(alg));
                    }
                }
                Keys::Static(set)
            }
            (None, url, issuer) => {
                let policy = if self.allow_http {
                    UrlPolicy::AllowHttp
                } else {
                    UrlPolicy::HttpsOnly
                };
                let remote = match (url, issuer) {
                    (Some(url), _) => {
                        policy.check(&url)?;
                        Remote::Jwks { url }
                    }
                    (None, Some(issuer)) => {
                        policy.check(issuer)?;
                        Remote::Discovery {
                            issuer: issuer.clone(),
                        }
                    }
                    (None, None) => return Err(JwtError::MissingKeySource),
                };
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(JwtError::NoRuntime);
                }
                let client: Arc<dyn Fetch> = match self.http {
                    Some(client) => client,
                    None => Arc::new(warden_http::build_client(
                        concat!("warden-jwt/", env!("CARGO_PKG_VERSION")),
                        self.cache.fetch_timeout,
                    )?),
                };
                Keys::Remote(Arc::new(KeyCache::new(
                    remote,
                    policy,
                    client,
                    self.clock.clone(),
                    self.cache,
                )))
            }
        };
        let task = match &keys {
            Keys::Remote(cache) => {
                let task = cache.spawn();
                Some(OnDrop::new(move || task.abort()))
            }
            Keys::Static(_) => None,
        };
        let mut rules = ClaimRules::new().leeway(self.leeway);
        if let Some(issuer) = self.issuer {
            rules = rules.issuer(issuer);
        }
        if self.skip_issuer {
            rules = rules.dangerous().skip_issuer_check();
        }
        for audience in self.audiences {
            rules = rules.audience(audience);
        }
        if self.skip_audience {
            rules = rules.dangerous().skip_audience_check();
        }
        Ok(JwtValidator {
            inner: Arc::new(Inner {
                keys,
                rules,
                algorithms,
                strict_typ: self.strict_typ,
                max_len: self.max_len,
                clock: self.clock,
                _task: task,
            }),
            _claims: PhantomData,
        })
    }
}

/// Settings that weaken security, reached through
/// [`JwtValidatorBuilder::dangerous`].
#[must_use]
pub struct Dangerous<C>(JwtValidatorBuilder<C>);

impl<C> fmt::Debug for Dangerous<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dangerous").field(&self.0).finish()
    }
}

impl<C> Dangerous<C> {
    /// Allows `http://` issuer, discovery and JWKS URLs (loopback development).
    ///
    /// # Security
    /// Keys fetched over plain HTTP can be replaced by anyone on the path.
    pub fn allow_http(mut self) -> JwtValidatorBuilder<C> {
        self.0.allow_http = true;
        self.0
    }

    /// Accepts tokens whatever their `aud`.
    ///
    /// # Security
    /// A token minted for any other service of the same issuer is accepted
    /// here (RFC 8725 §3.9).
    pub fn skip_audience_check(mut self) -> JwtValidatorBuilder<C> {
        self.0.skip_audience = true;
        self.0
    }

    /// Accepts tokens whatever their `iss` (keys must then be given explicitly).
    ///
    /// # Security
    /// RFC 8725 §3.8: any issuer trusted with these keys is accepted.
    pub fn skip_issuer_check(mut self) -> JwtValidatorBuilder<C> {
        self.0.skip_issuer = true;
        self.0
    }
}

/// Fails with a clear error when jsonwebtoken has no crypto backend; prefers
/// aws-lc-rs when both backends are compiled in.
pub(crate) fn ensure_crypto_backend() -> Result<(), JwtError> {
    #[cfg(all(feature = "aws_lc_rs", feature = "rust_crypto"))]
    {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    }
    jsonwebtoken::crypto::CryptoProvider::try_get_default()
        .map(|_| ())
        .ok_or(JwtError::NoCryptoBackend)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built only without a backend (`cargo test -p warden-jwt --lib
    /// --no-default-features`, as `.ci/run` does): a clear error, no panic.
    #[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
    #[test]
    fn no_backend_is_a_build_error() {
        let keys = KeySet::from_shared_secret(Algorithm::HS256, &[1; 32], None).unwrap();
        let err = JwtValidator::builder()
            .issuer("https://id.example")
            .audience("a")
            .keys(keys)
            .build()
            .unwrap_err();
        assert_eq!(err, JwtError::NoCryptoBackend);
        assert!(err.to_string().contains("aws_lc_rs"));
    }

    #[test]
    fn json_objects() {
        assert_eq!(json_object(b" {}"), Ok(" {}"));
        assert!(json_object(b"[]").is_err());
        assert!(json_object(b"{\"a\":\"\xff\"}").is_err());
    }
}
