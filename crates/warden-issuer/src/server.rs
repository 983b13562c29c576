//! The running issuer: discovery (RFC 8414 §3,
//! <https://www.rfc-editor.org/rfc/rfc8414#section-3>; OpenID Connect
//! Discovery §4), the JWKS, and the OAuth endpoints (token, authorize,
//! introspection, revocation), on
//! any listener (`127.0.0.1:0` in tests). For tests it also mints tokens
//! directly and has switches to rotate keys, go down, answer slowly or serve
//! garbage, so that tests exercise real HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use warden_core::{Clock, MemoryRevocationStore, RevocationStore, SystemClock};

use crate::config::{ConfigError, IssuerConfig};
use crate::keys::{Algorithm, KeyError, SigningKey};
use crate::mint::sign_jwt;
use crate::state::{
    KeyEntry, Mode, Shared, StateCounts, fault, jwks_value, random_id, read, write,
};

/// A running issuer; stops when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let issuer = warden_issuer::Issuer::start_dev().await.unwrap();
/// assert!(issuer.issuer().starts_with("http://127.0.0.1:"));
/// assert_eq!(issuer.token_url(), format!("{}/token", issuer.issuer()));
/// // Tests mint any token with the active key.
/// let token = issuer.mint(&issuer.claims("api://orders")).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// # }
/// ```
pub struct Issuer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// The most DPoP proofs the token endpoint remembers at once (each for
/// about two minutes).
const DPOP_JTI_CAPACITY: usize = 100_000;

/// The name the foundation tests know the issuer by.
pub type TestIssuer = Issuer;

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

/// The issuer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the listener failed.
    #[error("bind failed: {0}")]
    Bind(#[from] std::io::Error),
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The configuration is inconsistent.
    #[error("bad configuration: {0}")]
    Config(#[from] ConfigError),
}

/// How to start an issuer.
#[must_use]
pub struct IssuerBuilder {
    config: IssuerConfig,
    algs: Vec<Algorithm>,
    path: String,
    store: Option<Arc<dyn RevocationStore>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for IssuerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerBuilder")
            .field("algs", &self.algs)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl IssuerBuilder {
    /// Generate one key per algorithm (`kid` `"<ALG>-1"`); the first signs.
    /// Default: the configuration's algorithm.
    pub fn keys(mut self, algs: &[Algorithm]) -> Self {
        self.algs = algs.to_vec();
        self
    }

    /// Serve the issuer under a path, such as `/realms/test`.
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.trim_end_matches('/').to_owned();
        self
    }

    /// The clock for every expiry decision (default: the system clock).
    /// Tests move a [`ManualClock`](warden_core::ManualClock) to expire
    /// codes, tokens and families without waiting.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Write revocations to `store` (default: an in-memory store).
    pub fn revocation_store(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Binds `127.0.0.1:0` and starts.
    ///
    /// # Errors
    /// When the listener cannot bind, key generation fails or the
    /// configuration is inconsistent.
    pub async fn start(self) -> Result<Issuer, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        self.start_on(listener).await
    }

    /// Starts on `listener`; the issuer URL follows its address unless the
    /// configuration names one.
    ///
    /// # Errors
    /// When key generation fails or the configuration is inconsistent.
    pub async fn start_on(self, listener: tokio::net::TcpListener) -> Result<Issuer, StartError> {
        self.config.check().map_err(StartError::Config)?;
        let addr = listener.local_addr()?;
        let algs = if self.algs.is_empty() {
            vec![self.config.keys.alg().map_err(StartError::Config)?]
        } else {
            self.algs
        };
        let epoch = UNIX_EPOCH;
        let mut keys = Vec::new();
        for (i, alg) in algs.iter().enumerate() {
            // The first key signs: it is the most recently activated.
            let activates_at = epoch + Duration::from_secs(if i == 0 { 2 } else { 1 });
            keys.push(KeyEntry {
                key: Arc::new(SigningKey::generate(*alg, format!("{alg}-1"))?),
                activates_at,
            });
        }
        let issuer = self
            .config
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}{}", self.path));
        let shared = Arc::new(Shared {
            issuer,
            config: RwLock::new(self.config),
            keys: RwLock::new(keys),
            mode: RwLock::new(Mode::Up),
            discovery_issuer: RwLock::new(None),
            cache_control: RwLock::new(None),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
            token_hits: AtomicUsize::new(0),
            introspection_hits: AtomicUsize::new(0),
            revocation_hits: AtomicUsize::new(0),
            revocations: self
                .store
                .unwrap_or_else(|| Arc::new(MemoryRevocationStore::with_clock(self.clock.clone()))),
            dpop_jtis: warden_core::dpop::MemoryReplayStore::with_clock(
                DPOP_JTI_CAPACITY,
                self.clock.clone(),
            ),
            dpop: crate::oauth::dpop::verifier(self.clock.clone()),
            clock: self.clock,
            last_prune: Mutex::new(UNIX_EPOCH),
            codes: Mutex::default(),
            refresh: Mutex::default(),
            families: Mutex::default(),
            opaque: Mutex::default(),
            assertion_jtis: Mutex::default(),
            derived: Mutex::default(),
            csrf_key: aws_lc_rs::hmac::Key::generate(
                aws_lc_rs::hmac::HMAC_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .map_err(|_| KeyError("CSRF key generation"))?,
            throttle: crate::oauth::throttle::Throttle::default(),
        });
        let path = self.path;
        let app = Router::new()
            .route(
                &format!("{path}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(
                &format!("/.well-known/oauth-authorization-server{path}"),
                get(discovery),
            )
            .route(&format!("{path}/jwks"), get(jwks))
            .route(&format!("{path}/token"), post(crate::oauth::token))
            .route(
                &format!("{path}/authorize"),
                get(crate::oauth::authorize_page).post(crate::oauth::authorize_submit),
            )
            .route(
                &format!("{path}/introspect"),
                post(crate::oauth::introspect),
            )
            .route(&format!("{path}/revoke"), post(crate::oauth::revoke))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // The peer address: sign-in failures are counted by it too.
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Issuer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }
}

impl Issuer {
    /// A builder over `config`.
    pub fn builder(config: IssuerConfig) -> IssuerBuilder {
        IssuerBuilder {
            config,
            algs: Vec::new(),
            path: String::new(),
            store: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Starts the development configuration on `127.0.0.1:0`.
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_dev() -> Result<Self, StartError> {
        Self::builder(IssuerConfig::dev()).start().await
    }

    /// Starts an issuer with the development configuration and one RS256 key
    /// (`kid` "RS256-1").
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(&[Algorithm::RS256]).await
    }

    /// Starts an issuer with one key per algorithm (`kid` `"<ALG>-1"`); the
    /// first one signs.
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_with(algs: &[Algorithm]) -> Result<Self, StartError> {
        Self::builder(IssuerConfig::dev()).keys(algs).start().await
    }

    /// Like [`start_with`](Self::start_with), with the issuer at a path
    /// (such as `/realms/test`).
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_at_path(algs: &[Algorithm], path: &str) -> Result<Self, StartError> {
        Self::builder(IssuerConfig::dev())
            .keys(algs)
            .path(path)
            .start()
            .await
    }

    /// The issuer identifier (`http://127.0.0.1:<port><path>`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        self.shared.endpoint("/jwks")
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        self.shared.endpoint("/token")
    }

    /// The authorization endpoint URL.
    pub fn authorize_url(&self) -> String {
        self.shared.endpoint("/authorize")
    }

    /// The introspection endpoint URL.
    pub fn introspection_url(&self) -> String {
        self.shared.endpoint("/introspect")
    }

    /// The revocation endpoint URL.
    pub fn revocation_url(&self) -> String {
        self.shared.endpoint("/revoke")
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force.
    pub fn config(&self) -> IssuerConfig {
        self.shared.config()
    }

    /// The store revocations are written to.
    pub fn revocation_store(&self) -> Arc<dyn RevocationStore> {
        self.shared.revocations.clone()
    }

    /// The published key with this `kid`.
    pub fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.shared.key(kid)
    }

    /// The key that signs now.
    ///
    /// # Panics
    /// Never for a started issuer: it always has a key.
    pub fn active_key(&self) -> Arc<SigningKey> {
        self.shared.signing_key().expect("the issuer has a key")
    }

    /// Publishes a new key that does not sign (yet).
    ///
    /// # Errors
    /// When key generation fails.
    pub fn add_key(&self, alg: Algorithm, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        self.push_key(alg, kid, UNIX_EPOCH)
    }

    fn push_key(
        &self,
        alg: Algorithm,
        kid: &str,
        activates_at: SystemTime,
    ) -> Result<Arc<SigningKey>, KeyError> {
        let key = Arc::new(SigningKey::generate(alg, kid)?);
        warden_core::sync::write(&self.shared.keys).push(KeyEntry {
            key: key.clone(),
            activates_at,
        });
        Ok(key)
    }

    /// Rotates at once: publishes a new key and makes it the signing key;
    /// the old keys stay published until [`remove_key`](Self::remove_key).
    ///
    /// # Errors
    /// When key generation fails.
    pub fn rotate(&self, alg: Algorithm, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        self.push_key(alg, kid, self.shared.now())
    }

    /// Rotates the safe way: publishes a new key now and lets it sign only
    /// after `lead`, so resource servers' key caches learn it first. The
    /// old keys stay published (until [`remove_key`](Self::remove_key)), so
    /// tokens they signed keep validating until they expire.
    ///
    /// # Errors
    /// When key generation fails.
    pub fn rotate_after(
        &self,
        alg: Algorithm,
        kid: &str,
        lead: Duration,
    ) -> Result<Arc<SigningKey>, KeyError> {
        self.push_key(alg, kid, self.shared.now() + lead)
    }

    /// Stops publishing a key.
    pub fn remove_key(&self, kid: &str) {
        warden_core::sync::write(&self.shared.keys).retain(|k| k.key.kid() != kid);
    }

    /// Sets how the discovery, JWKS, token and introspection endpoints answer.
    pub fn set_mode(&self, mode: Mode) {
        write(&self.shared.mode, mode);
    }

    /// Makes discovery report another `issuer` (to test mismatch detection).
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        write(&self.shared.discovery_issuer, issuer);
    }

    /// Sets the JWKS `Cache-Control` header (default `max-age=60`).
    pub fn set_cache_control(&self, value: Option<String>) {
        write(&self.shared.cache_control, value);
    }

    /// JWKS requests served so far.
    pub fn jwks_hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }

    /// Discovery requests served so far.
    pub fn discovery_hits(&self) -> usize {
        self.shared.discovery_hits.load(Ordering::SeqCst)
    }

    /// Introspection requests served so far.
    pub fn introspection_hits(&self) -> usize {
        self.shared.introspection_hits.load(Ordering::SeqCst)
    }

    /// How many entries the issuer holds in memory.
    pub fn state_counts(&self) -> StateCounts {
        self.shared.counts()
    }

    /// Revocation endpoint requests served so far (refused ones too).
    pub fn revocation_hits(&self) -> usize {
        self.shared.revocation_hits.load(Ordering::SeqCst)
    }

    /// Token endpoint requests served so far.
    pub fn token_hits(&self) -> usize {
        self.shared.token_hits.load(Ordering::SeqCst)
    }

    /// Typical access-token claims for `audience`: `iss`, `sub` "alice",
    /// `aud`, `iat` now, `exp` in 5 minutes, `scope` "orders:read",
    /// `client_id` "web-app", a fresh `jti`.
    pub fn claims(&self, audience: &str) -> Value {
        let now = self.shared.now_secs();
        json!({
            "iss": self.shared.issuer,
            "sub": "alice",
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "scope": "orders:read",
            "client_id": "web-app",
            "jti": format!("jti-{}", fresh_id()),
        })
    }

    /// Signs `claims` with the active key, header `{alg, kid, typ: "at+jwt"}`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn mint(&self, claims: &Value) -> Result<String, KeyError> {
        self.mint_with(&self.active_key(), claims)
    }

    /// Signs `claims` with `key`, header `{alg, kid, typ: "at+jwt"}`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn mint_with(&self, key: &SigningKey, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"});
        sign_jwt(&header, claims, key)
    }

    /// The JWKS document currently published.
    pub fn jwks(&self) -> Value {
        jwks_value(&self.shared)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh random identifier (96 bits, base64url), for tests and minting.
///
/// # Panics
/// When the system's random generator fails (the issuer itself answers 500
/// then; the codes and tokens it makes need randomness).
pub fn fresh_id() -> String {
    random_id(12).expect("the system random generator failed")
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = fault(&shared).await {
        return res;
    }
    let issuer = read(&shared.discovery_issuer).unwrap_or_else(|| shared.issuer.clone());
    let scopes: Vec<String> = {
        let cfg = warden_core::sync::read(&shared.config);
        let mut s: Vec<String> = cfg
            .resources
            .iter()
            .flat_map(|r| r.scopes.clone())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": shared.endpoint("/jwks"),
        "token_endpoint": shared.endpoint("/token"),
        "authorization_endpoint": shared.endpoint("/authorize"),
        "introspection_endpoint": shared.endpoint("/introspect"),
        "revocation_endpoint": shared.endpoint("/revoke"),
        "grant_types_supported": [
            "client_credentials", "authorization_code", "refresh_token",
            warden_core::urn::GRANT_TOKEN_EXCHANGE
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "scopes_supported": scopes,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "dpop_signing_alg_values_supported": crate::oauth::dpop::ALGS,
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = fault(&shared).await {
        return res;
    }
    let mut res = axum::Json(jwks_value(&shared)).into_response();
    let cc = read(&shared.cache_control).unwrap_or_else(|| "max-age=60".to_owned());
    if let Ok(v) = HeaderValue::from_str(&cc) {
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}
