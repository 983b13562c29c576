//! [`JwtValidatorBuilder`]: the settings of a [`JwtValidator`], safe by
//! default (RFC 8725 §3, <https://www.rfc-editor.org/rfc/rfc8725#section-3>:
//! issuer and audience required, the key decides the algorithm), and its
//! [`Dangerous`] door for the settings that weaken a check; and
//! [`MultiIssuerBuilder`], for a validator that trusts several issuers
//! (RFC 8725 §3.8, <https://www.rfc-editor.org/rfc/rfc8725#section-3.8>).
//!
//! The issuers that bend the rules (see the crate's "Issuer presets") each
//! have an explicit option here; none of them is on by default.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use warden_core::sync::OnDrop;
use warden_core::{ClaimRules, ClientRule, Clock, IssuerTemplate, NoCustomClaims, SystemClock};
use warden_http::{Fetch, UrlPolicy};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::error::JwtError;
use crate::jwks::{JwksCacheConfig, KeyCache, Remote};
use crate::keys::KeySet;
use crate::validator::{Inner, Issuer, JwtValidator, Keys};

/// Where Entra ID publishes the signing keys of every tenant (v1.0 and
/// v2.0 tokens are signed with the same keys), used by
/// [`JwtValidatorBuilder::entra_id`].
pub const ENTRA_COMMON_JWKS: &str = "https://login.microsoftonline.com/common/discovery/v2.0/keys";

/// Builds a [`JwtValidator`]. Issuer and audience are required; everything
/// else has a safe default (see the crate documentation).
#[must_use]
pub struct JwtValidatorBuilder<C> {
    rules: ClaimRules,
    issuer: Option<String>,
    aliases: Vec<String>,
    templates: Vec<String>,
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
            .field("issuer", &self.issuer)
            .field("aliases", &self.aliases)
            .field("templates", &self.templates)
            .field("rules", &self.rules)
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl Default for JwtValidatorBuilder<NoCustomClaims> {
    fn default() -> Self {
        Self {
            rules: ClaimRules::new(),
            issuer: None,
            aliases: Vec::new(),
            templates: Vec::new(),
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
    /// discovery document's `issuer` must equal it exactly. Called again,
    /// replaces the previous one.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Another `iss` this issuer signs under with the same keys: Auth0 and
    /// Okta custom domains (tokens asked for at `https://login.example.com/`
    /// say so in `iss`, tokens asked for at the tenant's canonical domain say
    /// that), or Entra ID v1.0 tokens of a single tenant
    /// (`https://sts.windows.net/{tid}/` next to the v2.0 issuer). Compared
    /// exactly, like [`issuer`](Self::issuer); never a discovery base.
    pub fn issuer_alias(mut self, issuer: impl Into<String>) -> Self {
        self.aliases.push(issuer.into());
        self
    }

    /// Accepts every `iss` matching `template`, which holds `{tenantid}` once
    /// (see [`IssuerTemplate`]); the token's `tid` must equal the tenant its
    /// `iss` names. Keys must be given with [`jwks_url`](Self::jwks_url) or
    /// [`keys`](Self::keys): a key location is never derived from a token's
    /// issuer, which is unverified when it is read (the pitfall Microsoft and
    /// Spring document for multi-tenant apps). Restrict the tenants with
    /// [`tenants`](Self::tenants).
    pub fn issuer_template(mut self, template: impl Into<String>) -> Self {
        self.templates.push(template.into());
        self
    }

    /// Entra ID (Azure AD), multi-tenant: v2.0 tokens of any tenant
    /// (`https://login.microsoftonline.com/{tenantid}/v2.0`, `tid` matching),
    /// with keys from [`ENTRA_COMMON_JWKS`]. Add [`entra_v1`](Self::entra_v1)
    /// for v1.0 tokens and [`tenants`](Self::tenants) for an allow-list; the
    /// audience (your app's client id GUID for v2.0, and its App ID URI for
    /// v1.0) is still required. For a single tenant, prefer
    /// `.issuer("https://login.microsoftonline.com/<tid>/v2.0")` (discovery).
    pub fn entra_id(self) -> Self {
        self.issuer_template(IssuerTemplate::ENTRA_V2)
            .jwks_url(ENTRA_COMMON_JWKS)
    }

    /// Also accepts Entra ID v1.0 tokens (`https://sts.windows.net/{tenantid}/`,
    /// `ver` 1.0, the client in `appid`), next to v2.0; same keys, same
    /// tenant rule.
    pub fn entra_v1(self) -> Self {
        self.issuer_template(IssuerTemplate::ENTRA_V1)
    }

    /// Only tokens of these tenants, for issuers accepted through a
    /// template (default: any tenant the template matches).
    pub fn tenants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.rules = self.rules.tenants(tenants);
        self
    }

    /// AWS Cognito access tokens, which carry no `aud`: `token_use` must be
    /// `access` (Cognito's ID tokens, whose `aud` is the client, are
    /// refused) and `client_id` one of `client_ids`. No audience is then
    /// required; any audience configured is still checked.
    pub fn cognito_client_ids<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        client_ids: I,
    ) -> Self {
        let ids = client_ids.into_iter().map(Into::into).collect();
        self.rules = self.rules.client_rule(ClientRule::Cognito(ids));
        self
    }

    /// Keycloak without an audience mapper (`aud` is `account`, or absent):
    /// the token's authorized party `azp` must be one of `clients`. No
    /// audience is then required; any audience configured is still checked,
    /// which is the stronger setting when an Audience mapper exists.
    pub fn authorized_parties<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        clients: I,
    ) -> Self {
        let ids = clients.into_iter().map(Into::into).collect();
        self.rules = self.rules.client_rule(ClientRule::AuthorizedParty(ids));
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
            issuer: self.issuer,
            aliases: self.aliases,
            templates: self.templates,
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
        let max_len = self.max_token_len;
        let issuer = self.build_issuer(None)?;
        Ok(JwtValidator {
            inner: Arc::new(Inner {
                issuers: vec![issuer],
                max_len,
            }),
            _claims: PhantomData,
        })
    }

    /// One trusted issuer; `shared` is the HTTP client of a multi-issuer
    /// validator, used when this issuer was given none.
    fn build_issuer(mut self, shared: Option<&Arc<dyn Fetch>>) -> Result<Issuer, JwtError> {
        ensure_crypto_backend()?;
        let waived = self.rules.issuer_waived();
        let issuer = self.issuer.clone();
        let mut name = issuer.clone();
        for iss in self.issuer.iter().chain(&self.aliases) {
            self.rules = self.rules.issuer(iss.clone());
        }
        for t in &self.templates {
            let template = IssuerTemplate::parse(t).ok_or_else(|| {
                JwtError::InvalidSetting(format!(
                    "issuer template {t:?} must hold {} once, after a prefix",
                    IssuerTemplate::PLACEHOLDER
                ))
            })?;
            name.get_or_insert_with(|| template.to_string());
            self.rules = self.rules.issuer_template(template);
        }
        if name.is_none() && !waived {
            return Err(JwtError::MissingIssuer);
        }
        if self.rules.audiences().is_empty()
            && !self.rules.audience_waived()
            && self.rules.client().is_none()
        {
            return Err(JwtError::MissingAudience);
        }
        if !self.templates.is_empty() && self.keys.is_none() && self.jwks_url.is_none() {
            return Err(JwtError::InvalidSetting(
                "an issuer template needs .jwks_url(..) or .keys(..): a key location is never \
                 derived from a token's issuer"
                    .into(),
            ));
        }
        if self.http.is_none() {
            self.http = shared.cloned();
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
                let label = match (&name, &remote) {
                    (Some(name), _) => name.clone(),
                    (None, Remote::Jwks { url }) => url.clone(),
                    (None, Remote::Discovery { issuer }) => issuer.clone(),
                };
                Keys::Remote(Arc::new(KeyCache::new(
                    remote,
                    policy,
                    client,
                    self.clock.clone(),
                    self.jwks_cache,
                    label,
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
        Ok(Issuer {
            name: name.unwrap_or_else(|| "(any issuer)".to_owned()),
            keys,
            rules: self.rules,
            algorithms,
            strict_typ: self.strict_typ,
            clock: self.clock,
            _task: task,
        })
    }
}

/// Builds a [`JwtValidator`] that trusts several issuers, each with its own
/// audiences, algorithms, key source and key cache (a whole
/// [`JwtValidatorBuilder`] each).
///
/// - The token's `iss`, read before the signature is checked, chooses the
///   issuer: the first, in the order given, whose [`issuer`](JwtValidatorBuilder::issuer),
///   [`issuer_alias`](JwtValidatorBuilder::issuer_alias) or
///   [`issuer_template`](JwtValidatorBuilder::issuer_template) accepts it.
///   After the signature, that issuer's rules check `iss` again.
/// - A token whose `iss` no issuer accepts is `invalid_token` at once:
///   nothing is fetched for it, whatever its `kid`.
/// - Only the chosen issuer's keys are tried: a key of one issuer never
///   verifies a token claiming another, even under the same `kid`.
/// - Issuers without their own HTTP client share one.
///
/// ```no_run
/// # async fn f() -> Result<(), warden_jwt::JwtError> {
/// use warden_jwt::JwtValidator;
/// let validator = JwtValidator::multi_issuer()
///     .trust(JwtValidator::builder().issuer("https://id.example.com/realms/shop").audience("api://orders"))
///     .trust(JwtValidator::builder().entra_id().tenants(["4b1c…"]).audience("6e2a…"))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct MultiIssuerBuilder<C> {
    issuers: Vec<JwtValidatorBuilder<C>>,
    http: Option<Arc<dyn Fetch>>,
}

impl<C> fmt::Debug for MultiIssuerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiIssuerBuilder")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl<C> MultiIssuerBuilder<C> {
    /// No issuer yet; [`JwtValidator::multi_issuer`] for the default claims.
    pub fn new() -> Self {
        Self {
            issuers: Vec::new(),
            http: None,
        }
    }

    /// Trusts one more issuer, configured as a single-issuer validator would
    /// be (the builder's [`claims`](JwtValidatorBuilder::claims) type must
    /// match).
    pub fn trust(mut self, issuer: JwtValidatorBuilder<C>) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// The HTTP client for the issuers that were given none.
    pub fn http_client(mut self, client: impl Fetch) -> Self {
        self.http = Some(Arc::new(client));
        self
    }

    /// Builds every issuer (starting each remote key set's fetch).
    ///
    /// # Errors
    /// [`JwtError::MissingIssuer`] with no issuer; an issuer's own build
    /// error; [`JwtError::InvalidSetting`] when an issuer waives the issuer
    /// check (the token's `iss` could not choose it) or two issuers claim
    /// the same `iss`.
    pub fn build(self) -> Result<JwtValidator<C>, JwtError>
    where
        C: DeserializeOwned + Send + Sync + 'static,
    {
        if self.issuers.is_empty() {
            return Err(JwtError::MissingIssuer);
        }
        let mut names: Vec<&str> = Vec::new();
        for b in &self.issuers {
            if b.rules.issuer_waived() {
                return Err(JwtError::InvalidSetting(
                    "skip_issuer_check() cannot be used with several issuers".into(),
                ));
            }
            for iss in b.issuer.iter().chain(&b.aliases) {
                if names.contains(&iss.as_str()) {
                    return Err(JwtError::InvalidSetting(format!(
                        "issuer {iss:?} is trusted twice"
                    )));
                }
                names.push(iss);
            }
        }
        let needs_http = self
            .issuers
            .iter()
            .any(|b| b.http.is_none() && b.keys.is_none());
        let http = match (self.http, needs_http) {
            (Some(client), _) => Some(client),
            (None, true) => Some(Arc::new(warden_http::build_client(
                concat!("warden-jwt/", env!("CARGO_PKG_VERSION")),
                JwksCacheConfig::default().fetch_timeout,
            )?) as Arc<dyn Fetch>),
            (None, false) => None,
        };
        let max_len = self
            .issuers
            .iter()
            .map(|b| b.max_token_len)
            .max()
            .unwrap_or(0);
        let issuers = self
            .issuers
            .into_iter()
            .map(|b| b.build_issuer(http.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JwtValidator {
            inner: Arc::new(Inner { issuers, max_len }),
            _claims: PhantomData,
        })
    }
}

impl<C> Default for MultiIssuerBuilder<C> {
    fn default() -> Self {
        Self::new()
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
