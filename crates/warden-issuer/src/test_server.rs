//! An in-process issuer for tests and demos: serves discovery (RFC 8414 §3,
//! <https://www.rfc-editor.org/rfc/rfc8414#section-3>; OpenID Connect
//! Discovery §4) and a JWKS on `127.0.0.1:0`, mints tokens, and has switches
//! to rotate keys, go down, answer slowly or serve garbage, so that tests
//! exercise real HTTP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;

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

struct Shared {
    issuer: String,
    keys: RwLock<Vec<Arc<SigningKey>>>,
    active: RwLock<String>,
    mode: RwLock<Mode>,
    discovery_issuer: RwLock<Option<String>>,
    cache_control: RwLock<Option<String>>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
}

fn read<T: Clone>(l: &RwLock<T>) -> T {
    l.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn write<T>(l: &RwLock<T>, v: T) {
    *l.write().unwrap_or_else(|e| e.into_inner()) = v;
}

/// A running test issuer; stops when dropped.
pub struct TestIssuer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

/// The issuer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Binding the loopback listener failed.
    #[error("bind failed: {0}")]
    Bind(#[from] std::io::Error),
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl TestIssuer {
    /// Starts an issuer with one RS256 key (`kid` "RS256-1").
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(&[SigningAlg::RS256]).await
    }

    /// Starts an issuer with one key per algorithm (`kid` "<ALG>-1"); the
    /// first one signs.
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_with(algs: &[SigningAlg]) -> Result<Self, StartError> {
        Self::start_at_path(algs, "").await
    }

    /// Like [`start_with`](Self::start_with), with the issuer at a path
    /// (such as `/realms/test`).
    ///
    /// # Errors
    /// When the listener cannot bind or key generation fails.
    pub async fn start_at_path(algs: &[SigningAlg], path: &str) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut keys = Vec::new();
        for alg in algs {
            keys.push(Arc::new(SigningKey::generate(*alg, format!("{alg}-1"))?));
        }
        let active = keys.first().map(|k| k.kid().to_owned()).unwrap_or_default();
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}{path}"),
            keys: RwLock::new(keys),
            active: RwLock::new(active),
            mode: RwLock::new(Mode::Up),
            discovery_issuer: RwLock::new(None),
            cache_control: RwLock::new(None),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
        });
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
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The issuer identifier (`http://127.0.0.1:<port><path>`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.shared.issuer)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The published key with this `kid`.
    pub fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.shared
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|k| k.kid() == kid)
            .cloned()
    }

    /// The key that signs by default.
    pub fn active_key(&self) -> Arc<SigningKey> {
        let kid = read(&self.shared.active);
        self.key(&kid).unwrap_or_else(|| {
            self.shared.keys.read().unwrap_or_else(|e| e.into_inner())[0].clone()
        })
    }

    /// Publishes a new key (not yet signing) and returns its `kid`.
    ///
    /// # Errors
    /// When key generation fails.
    pub fn add_key(&self, alg: SigningAlg, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        let key = Arc::new(SigningKey::generate(alg, kid)?);
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(key.clone());
        Ok(key)
    }

    /// Rotates: publishes a new key and makes it the signing key; the old
    /// keys stay published until [`remove_key`](Self::remove_key).
    ///
    /// # Errors
    /// When key generation fails.
    pub fn rotate(&self, alg: SigningAlg, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        let key = self.add_key(alg, kid)?;
        write(&self.shared.active, kid.to_owned());
        Ok(key)
    }

    /// Stops publishing a key.
    pub fn remove_key(&self, kid: &str) {
        self.shared
            .keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k| k.kid() != kid);
    }

    /// Sets how the endpoints answer.
    pub fn set_mode(&self, mode: Mode) {
        write(&self.shared.mode, mode);
    }

    /// Makes discovery report another `issuer` (to test mismatch detection).
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        write(&self.shared.discovery_issuer, issuer);
    }

    /// Sets the JWKS `Cache-Control` header.
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

    /// Typical access-token claims for `audience`: `iss`, `sub` "alice",
    /// `aud`, `iat` now, `exp` in 5 minutes, `scope` "orders:read",
    /// `client_id` "web-app", a fresh `jti`.
    pub fn claims(&self, audience: &str) -> Value {
        let now = now_secs();
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

    fn jwks_doc(&self) -> Value {
        jwks_value(&self.shared)
    }

    /// The JWKS document currently published.
    pub fn jwks(&self) -> Value {
        self.jwks_doc()
    }
}

impl Drop for TestIssuer {
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

fn fresh_id() -> String {
    let mut b = [0u8; 12];
    let _ = aws_lc_rs::rand::fill(&mut b);
    crate::mint::b64(&b)
}

fn jwks_value(shared: &Shared) -> Value {
    let keys: Vec<Value> = shared
        .keys
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|k| k.public_jwk())
        .collect();
    json!({ "keys": keys })
}

/// Applies the fault mode; `Some(response)` replaces the normal answer.
async fn fault(shared: &Shared) -> Option<Response> {
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
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", shared.issuer),
        "token_endpoint": format!("{}/token", shared.issuer),
        "response_types_supported": ["code"],
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
    if let Some(cc) = read(&shared.cache_control)
        && let Ok(v) = HeaderValue::from_str(&cc)
    {
        res.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    res
}
