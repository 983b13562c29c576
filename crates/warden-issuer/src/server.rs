//! The running issuer: discovery (RFC 8414 §3,
//! <https://www.rfc-editor.org/rfc/rfc8414#section-3>; OpenID Connect
//! Discovery §4), the JWKS, and the OAuth endpoints (token, authorize,
//! introspection, revocation), on
//! any listener (`127.0.0.1:0` in tests). For tests it also mints tokens
//! directly and has switches to rotate keys, go down, answer slowly or serve
//! garbage, so that tests exercise real HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use warden_core::{Clock, MemoryRevocationStore, RevocationStore, SystemClock};

use crate::config::IssuerConfig;
use crate::keys::{KeyError, SigningAlg, SigningKey};
use crate::mint::sign_jwt;

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

/// An authorization code (RFC 6749 §4.1.2): single use, short life.
pub(crate) struct Code {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) audience: String,
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
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) audience: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
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
    mode: RwLock<Mode>,
    discovery_issuer: RwLock<Option<String>>,
    cache_control: RwLock<Option<String>>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
    pub(crate) token_hits: AtomicUsize,
    pub(crate) introspection_hits: AtomicUsize,
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
    /// When the maps were last swept of what has expired.
    last_prune: Mutex<SystemTime>,
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
}

/// How often the issuer sweeps its maps (by its clock).
pub const PRUNE_EVERY: Duration = Duration::from_secs(5);

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(l: &RwLock<T>, v: T) {
    *l.write().unwrap_or_else(|e| e.into_inner()) = v;
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
        let max_at = Duration::from_secs(
            self.config
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .max_lifetime_secs(),
        );
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
        }
    }

    /// The key that signs now: the newest one whose activation time has come.
    pub(crate) fn signing_key(&self) -> Option<Arc<SigningKey>> {
        let now = self.now();
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter(|k| k.activates_at <= now && k.key.alg() != SigningAlg::HS256)
            .max_by_key(|k| k.activates_at)
            .or_else(|| keys.first())
            .map(|k| k.key.clone())
    }

    pub(crate) fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
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

/// A running issuer; stops when dropped.
pub struct Issuer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

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
    Config(String),
}

/// How to start an issuer.
#[must_use]
pub struct IssuerBuilder {
    config: IssuerConfig,
    algs: Vec<SigningAlg>,
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
    pub fn keys(mut self, algs: &[SigningAlg]) -> Self {
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
            revocations: self
                .store
                .unwrap_or_else(|| Arc::new(MemoryRevocationStore::with_clock(self.clock.clone()))),
            clock: self.clock,
            last_prune: Mutex::new(UNIX_EPOCH),
            codes: Mutex::default(),
            refresh: Mutex::default(),
            families: Mutex::default(),
            opaque: Mutex::default(),
            assertion_jtis: Mutex::default(),
            derived: Mutex::default(),
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
        Self::start_with(&[SigningAlg::RS256]).await
    }

    /// Starts an issuer with one key per algorithm (`kid` `"<ALG>-1"`); the
    /// first one signs.
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_with(algs: &[SigningAlg]) -> Result<Self, StartError> {
        Self::builder(IssuerConfig::dev()).keys(algs).start().await
    }

    /// Like [`start_with`](Self::start_with), with the issuer at a path
    /// (such as `/realms/test`).
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_at_path(algs: &[SigningAlg], path: &str) -> Result<Self, StartError> {
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
    pub fn add_key(&self, alg: SigningAlg, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        self.push_key(alg, kid, UNIX_EPOCH)
    }

    fn push_key(
        &self,
        alg: SigningAlg,
        kid: &str,
        activates_at: SystemTime,
    ) -> Result<Arc<SigningKey>, KeyError> {
        let key = Arc::new(SigningKey::generate(alg, kid)?);
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(KeyEntry {
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
    pub fn rotate(&self, alg: SigningAlg, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
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
        alg: SigningAlg,
        kid: &str,
        lead: Duration,
    ) -> Result<Arc<SigningKey>, KeyError> {
        self.push_key(alg, kid, self.shared.now() + lead)
    }

    /// Stops publishing a key.
    pub fn remove_key(&self, kid: &str) {
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k| k.key.kid() != kid);
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
/// then; see [`random_id`]).
pub fn fresh_id() -> String {
    random_id(12).expect("the system random generator failed")
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

fn random_id_with(
    bytes: usize,
    fill: impl Fn(&mut [u8]) -> Result<(), RngFailed>,
) -> Result<String, RngFailed> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(crate::mint::b64(&b))
}

fn jwks_value(shared: &Shared) -> Value {
    let keys: Vec<Value> = shared
        .keys
        .read()
        .unwrap_or_else(|e| e.into_inner())
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

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = fault(&shared).await {
        return res;
    }
    let issuer = read(&shared.discovery_issuer).unwrap_or_else(|| shared.issuer.clone());
    let scopes: Vec<String> = {
        let cfg = shared.config.read().unwrap_or_else(|e| e.into_inner());
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
            "urn:ietf:params:oauth:grant-type:token-exchange"
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
