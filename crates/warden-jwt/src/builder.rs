//! [`JwtValidatorBuilder`]: the settings of a [`JwtValidator`], safe by
//! default (RFC 8725 §3, <https://www.rfc-editor.org/rfc/rfc8725#section-3>:
//! issuer and audience required, the key decides the algorithm), and its
//! [`Dangerous`] door for the settings that weaken a check.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use warden_core::sync::OnDrop;
use warden_core::{ClaimRules, Clock, NoCustomClaims, SystemClock};
use warden_http::{Fetch, UrlPolicy};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::error::JwtError;
use crate::jwks::{JwksCacheConfig, KeyCache, Remote};
use crate::keys::KeySet;
use crate::validator::{Inner, JwtValidator, Keys};

/// Builds a [`JwtValidator`]. Issuer and audience are required; everything
/// else has a safe default (see the crate documentation).
#[must_use]
pub struct JwtValidatorBuilder<C> {
    rules: ClaimRules,
    keys: Option<KeySet>,
    jwks_url: Option<String>,
    http: Option<Arc<dyn Fetch>>,
    jwks_cache: JwksCacheConfig,
    algorithms: AlgorithmSet,
    strict_typ: bool,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    allow_http: bool,
    _claims: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for JwtValidatorBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidatorBuilder")
            .field("rules", &self.rules)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl Default for JwtValidatorBuilder<NoCustomClaims> {
    fn default() -> Self {
        Self {
            rules: ClaimRules::new(),
            keys: None,
            jwks_url: None,
            http: None,
            jwks_cache: JwksCacheConfig::default(),
            algorithms: AlgorithmSet::ASYMMETRIC,
            strict_typ: false,
            max_token_len: warden_core::DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            allow_http: false,
            _claims: PhantomData,
        }
    }
}

warden_core::field_setters! { JwtValidatorBuilder<C> {
    /// The largest accepted token (default 16 KiB).
    max_token_len: usize,
    /// Tuning of the key cache.
    jwks_cache: JwksCacheConfig,
} }

warden_core::audience_setters!(JwtValidatorBuilder<C>);

impl<C> JwtValidatorBuilder<C> {
    /// The expected `iss`, compared exactly. Also the discovery base unless
    /// [`jwks_url`](Self::jwks_url) or [`keys`](Self::keys) is given; the
    /// discovery document's `issuer` must equal it exactly.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.rules = self.rules.issuer(issuer);
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
        self.rules = self.rules.leeway(leeway);
        self
    }

    /// Strict RFC 9068 mode: the header `typ` must be `at+jwt` (by default
    /// `JWT` or no `typ` is accepted too, as most issuers send).
    pub fn strict_typ(mut self) -> Self {
        self.strict_typ = true;
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
    /// [`Principal::custom`](warden_core::Principal::custom).
    pub fn claims<C2: DeserializeOwned + Send + Sync + 'static>(self) -> JwtValidatorBuilder<C2> {
        JwtValidatorBuilder {
            rules: self.rules,
            keys: self.keys,
            jwks_url: self.jwks_url,
            http: self.http,
            jwks_cache: self.jwks_cache,
            algorithms: self.algorithms,
            strict_typ: self.strict_typ,
            max_token_len: self.max_token_len,
            clock: self.clock,
            allow_http: self.allow_http,
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
        let issuer = self.rules.issuers().first().cloned();
        if issuer.is_none() && !self.rules.issuer_waived() {
            return Err(JwtError::MissingIssuer);
        }
        if self.rules.audiences().is_empty() && !self.rules.audience_waived() {
            return Err(JwtError::MissingAudience);
        }
        let mut algorithms = self.algorithms;
        let keys = match (self.keys, self.jwks_url, &issuer) {
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
                        self.jwks_cache.fetch_timeout,
                    )?),
                };
                Keys::Remote(Arc::new(KeyCache::new(
                    remote,
                    policy,
                    client,
                    self.clock.clone(),
                    self.jwks_cache,
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
        Ok(JwtValidator {
            inner: Arc::new(Inner {
                keys,
                rules: self.rules,
                algorithms,
                strict_typ: self.strict_typ,
                max_len: self.max_token_len,
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
        self.0.rules = self.0.rules.dangerous().skip_audience_check();
        self.0
    }

    /// Accepts tokens whatever their `iss` (keys must then be given explicitly).
    ///
    /// # Security
    /// RFC 8725 §3.8: any issuer trusted with these keys is accepted.
    pub fn skip_issuer_check(mut self) -> JwtValidatorBuilder<C> {
        self.0.rules = self.0.rules.dangerous().skip_issuer_check();
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

// Built only without a backend (`cargo test -p warden-jwt --lib
// --no-default-features`, as `.ci/run` does).
#[cfg(all(test, not(any(feature = "aws_lc_rs", feature = "rust_crypto"))))]
mod tests {
    use super::*;

    /// No backend: a clear error, no panic.
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
}
