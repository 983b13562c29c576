//! An axum API protected by warden, configured only by environment.
//!
//! Run with `cargo run -p example-resource-server` (see the README for the
//! variables). The router is a library so tests can drive it too.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use warden::inbound::TokenCache;
use warden::inbound::dpop::{Dpop, DpopPolicy};
use warden::inbound::introspect::{IntrospectError, IntrospectionValidator, JwtOrIntrospect};
use warden::inbound::jwt::dpop::DpopVerifier;
use warden::inbound::jwt::{EnvConfig, EnvError, JwtError};
use warden::inbound::resource::ProtectedResource;
use warden::revocation::redis::{RedisConfig, RedisRevocationStore, RedisStoreError};
use warden::revocation::{StoreCheck, WithoutJti};
use warden::{Auth, JwtValidator, RequireBearerLayer, RequireScopeLayer};

/// The example's settings, read from the environment. `Debug` redacts the
/// client secret and the Redis URL's credentials.
#[derive(Clone)]
pub struct Config {
    /// `WARDEN_ISSUER` (comma-separated for several issuers),
    /// `WARDEN_AUDIENCE` (for all of them), `WARDEN_JWKS_URL` (one per
    /// issuer, in the same order), `WARDEN_ALLOW_HTTP`.
    pub jwt: EnvConfig,
    /// `WARDEN_SCOPE`: the scope `/scoped` requires (default `orders:read`).
    pub scope: String,
    /// `WARDEN_BIND`: listen address (default `127.0.0.1:3000`).
    pub bind: SocketAddr,
    /// `WARDEN_INTROSPECTION_URL`: opaque tokens are introspected there.
    pub introspection_url: Option<String>,
    /// `WARDEN_CLIENT_ID` / `WARDEN_CLIENT_SECRET`: credentials for introspection.
    pub client: Option<(String, String)>,
    /// `WARDEN_INTROSPECTION_CACHE`: max seconds to cache a positive result (0 disables; default 60).
    pub introspection_cache: Duration,
    /// `WARDEN_REDIS_URL`: revocation store and fleet invalidation (one
    /// node, or `redis+sentinel://`).
    pub redis_url: Option<String>,
    /// `WARDEN_REDIS_MAX_STALE` and the store's other settings.
    pub redis: RedisConfig,
    /// `WARDEN_REVOCATION_WITHOUT_JTI`: `hash` (default: a token without
    /// `jti` is looked up by its hash) or `refuse`.
    pub without_jti: WithoutJti,
    /// `WARDEN_PUBLIC_URL`: the absolute base URL clients reach this server
    /// at, the resource identifier of its RFC 9728 metadata and the base of
    /// DPoP proofs' `htu` (default `http://<the bound address>`).
    pub public_url: Option<String>,
    /// `WARDEN_DPOP`: `allow` (default: Bearer and DPoP, a DPoP-bound token
    /// never as Bearer), `require` or `off` (RFC 9449).
    pub dpop: DpopPolicy,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("jwt", &self.jwt)
            .field("scope", &self.scope)
            .field("bind", &self.bind)
            .field("introspection_url", &self.introspection_url)
            .field(
                "client",
                &self.client.as_ref().map(|(id, _)| (id, "[redacted]")),
            )
            .field("introspection_cache", &self.introspection_cache)
            .field(
                "redis_url",
                &self
                    .redis_url
                    .as_deref()
                    .map(warden::revocation::redis::redact_url),
            )
            .field("without_jti", &self.without_jti)
            .finish()
    }
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A `WARDEN_*` variable of the validator is missing.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A variable's value is unusable; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The JWT validator cannot be built from the settings.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// The introspection validator cannot be built from the settings.
    #[error(transparent)]
    Introspection(#[from] IntrospectError),
    /// The Redis store cannot be made from `WARDEN_REDIS_URL`.
    #[error(transparent)]
    Redis(#[from] RedisStoreError),
}

impl Config {
    /// Reads the settings from an environment lookup function.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |k: &str| get(k).filter(|v| !v.is_empty());
        let bind = get("WARDEN_BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
        let introspection_url = opt("WARDEN_INTROSPECTION_URL");
        let client = match (opt("WARDEN_CLIENT_ID"), opt("WARDEN_CLIENT_SECRET")) {
            (Some(i), Some(s)) => Some((i, s)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "WARDEN_CLIENT_ID and WARDEN_CLIENT_SECRET go together".into(),
                ));
            }
        };
        if introspection_url.is_some() && client.is_none() {
            return Err(ConfigError::Invalid(
                "WARDEN_INTROSPECTION_URL needs WARDEN_CLIENT_ID and WARDEN_CLIENT_SECRET".into(),
            ));
        }
        let cache = opt("WARDEN_INTROSPECTION_CACHE").unwrap_or_else(|| "60".into());
        let without_jti = match opt("WARDEN_REVOCATION_WITHOUT_JTI").as_deref() {
            None | Some("hash") => WithoutJti::Hash,
            Some("refuse") => WithoutJti::Refuse,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "WARDEN_REVOCATION_WITHOUT_JTI is refuse or hash, not {other:?}"
                )));
            }
        };
        Ok(Self {
            jwt: EnvConfig::from_lookup(&get)?,
            scope: opt("WARDEN_SCOPE").unwrap_or_else(|| "orders:read".into()),
            bind: bind.parse().map_err(|_| {
                ConfigError::Invalid(format!("WARDEN_BIND is not an address: {bind:?}"))
            })?,
            introspection_url,
            client,
            introspection_cache: Duration::from_secs(cache.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "WARDEN_INTROSPECTION_CACHE is not a number of seconds: {cache:?}"
                ))
            })?),
            redis_url: opt("WARDEN_REDIS_URL"),
            redis: RedisConfig::from_env().map_err(ConfigError::Invalid)?,
            without_jti,
            public_url: opt("WARDEN_PUBLIC_URL"),
            dpop: match opt("WARDEN_DPOP").as_deref() {
                None | Some("allow") => DpopPolicy::Allow,
                Some("require") => DpopPolicy::Require,
                Some("off") => DpopPolicy::Off,
                Some(other) => {
                    return Err(ConfigError::Invalid(format!(
                        "WARDEN_DPOP is allow, require or off, not {other:?}"
                    )));
                }
            },
        })
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the JWT validator these settings describe.
    ///
    /// # Errors
    /// The validator's build error (for example an http:// URL without
    /// `WARDEN_ALLOW_HTTP=1`).
    pub fn validator(&self) -> Result<JwtValidator, JwtError> {
        self.jwt.validator()
    }

    /// Builds everything the app needs.
    ///
    /// # Errors
    /// A message for a setting that cannot be used.
    pub fn protection(&self) -> Result<Protection, ConfigError> {
        let jwt = self.validator()?;
        let validator = match (&self.introspection_url, &self.client) {
            (Some(url), Some((id, secret))) => {
                let mut b = IntrospectionValidator::builder()
                    .endpoint(url)
                    .client(id, secret);
                // An answer must name one of the trusted issuers.
                for issuer in &self.jwt.issuers {
                    b = b.issuer(issuer);
                }
                b = b
                    .cache_max_age(self.introspection_cache)
                    .audiences(&self.jwt.audiences);
                if self.jwt.allow_http {
                    b = b.dangerous().allow_http();
                }
                JwtOrIntrospect::new(jwt.clone(), b.build()?)
            }
            _ => JwtOrIntrospect::jwt_only(jwt.clone()),
        };
        let revocation = match &self.redis_url {
            Some(url) => Some(RedisRevocationStore::connect(url, self.redis.clone())?),
            None => None,
        };
        Ok(Protection {
            jwt,
            validator,
            revocation,
            without_jti: self.without_jti,
            cache: TokenCache::default(),
            resource: None,
            dpop: None,
        })
    }

    /// The RFC 9728 metadata of this server reached at `public_url`: the
    /// issuer, the scope `/scoped` needs, the audiences.
    ///
    /// # Errors
    /// A `public_url` that is not an absolute http(s) URL.
    pub fn resource(&self, public_url: &str) -> Result<ProtectedResource, ConfigError> {
        let mut pr = ProtectedResource::new(public_url)
            .map_err(|e| ConfigError::Invalid(format!("WARDEN_PUBLIC_URL: {e}")))?
            .scopes([self.scope.as_str()])
            .audiences(&self.jwt.audiences);
        for issuer in &self.jwt.issuers {
            pr = pr.authorization_server(issuer);
        }
        Ok(pr)
    }
}

/// What protects the routes.
#[derive(Debug, Clone)]
pub struct Protection {
    /// The JWT validator (its key set decides readiness).
    pub jwt: JwtValidator,
    /// The validator the layer uses.
    pub validator: JwtOrIntrospect,
    /// The Redis revocation store, when `WARDEN_REDIS_URL` is set.
    pub revocation: Option<RedisRevocationStore>,
    /// What the revocation check does with tokens without `jti`.
    pub without_jti: WithoutJti,
    /// The validated-token cache (entries of revoked tokens are dropped).
    pub cache: TokenCache,
    /// RFC 9728 metadata: when set, served at its well-known path and named
    /// by every 401 and 403 challenge (`resource_metadata`).
    pub resource: Option<ProtectedResource>,
    /// DPoP (RFC 9449), when on.
    pub dpop: Option<Dpop>,
}

impl Protection {
    /// Ready when signing keys are loaded and, with Redis, the revocation
    /// list is trustworthy.
    pub fn is_ready(&self) -> bool {
        self.jwt.is_ready() && self.revocation.as_ref().is_none_or(|r| r.status().ready)
    }
}

/// The body of `/protected` and `/scoped`.
#[derive(serde::Serialize)]
struct Caller<'a> {
    /// The issuer that accepted the token (one of `WARDEN_ISSUER`).
    iss: Option<&'a str>,
    sub: Option<&'a str>,
    client_id: Option<&'a str>,
    scopes: Vec<&'a str>,
}

async fn protected(Auth(who): Auth) -> Response {
    Json(Caller {
        iss: who.issuer(),
        sub: who.subject(),
        client_id: who.client_id(),
        scopes: who.scopes().iter().collect(),
    })
    .into_response()
}

async fn healthz(State(p): State<Arc<Protection>>) -> impl IntoResponse {
    if p.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: signing keys or revocation list unavailable",
        )
    }
}

/// The router with JWT validation only: `/public`, `/protected`, `/scoped`
/// (needs `scope`), `/healthz`.
pub fn app(validator: JwtValidator, scope: &str) -> Router {
    let protection = Protection {
        jwt: validator.clone(),
        validator: JwtOrIntrospect::jwt_only(validator),
        revocation: None,
        without_jti: WithoutJti::default(),
        cache: TokenCache::default(),
        resource: None,
        dpop: None,
    };
    app_with(protection, scope)
}

/// The router for any [`Protection`].
pub fn app_with(protection: Protection, scope: &str) -> Router {
    let mut layer =
        RequireBearerLayer::new(protection.validator.clone()).cache(protection.cache.clone());
    if let Some(store) = &protection.revocation {
        // A revocation message drops the token's validated-cache entries at once.
        let cache = protection.cache.clone();
        store.on_revoke(move |id| cache.remove_revoked(id));
        layer =
            layer.revocation(StoreCheck::new(store.clone()).without_jti(protection.without_jti));
    }
    let mut scoped = RequireScopeLayer::all([scope]);
    let mut router = Router::new();
    if let Some(dpop) = &protection.dpop {
        layer = layer.dpop(dpop.clone());
    }
    if let Some(pr) = &protection.resource {
        layer = layer.challenge(pr.challenge());
        scoped = scoped.challenge(pr.challenge());
        router = router.route_service(&pr.well_known_path(), pr.service());
    }
    let protected_routes = Router::new()
        .route("/protected", get(protected))
        .route("/scoped", get(protected).route_layer(scoped))
        .route_layer(layer);
    router
        .route("/public", get(|| async { "public" }))
        .route("/healthz", get(healthz).with_state(Arc::new(protection)))
        .merge(protected_routes)
}

/// The process's Prometheus recorder, installed on first use (before any
/// validator is built, so that every series is exported from the start).
/// `None` when another recorder was installed first.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                warden::metrics::register();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no Prometheus recorder: GET /metrics answers 404");
                None
            }
        })
        .as_ref()
}

/// `GET /metrics`: the Prometheus text exposition format.
async fn metrics_text() -> Response {
    match prometheus() {
        Some(handle) => {
            warden::metrics::flush();
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Binds, prints `listening on <addr>`, and serves until Ctrl-C.
///
/// # Errors
/// When the settings cannot be used or the address cannot be bound.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    prometheus();
    let mut protection = config.protection()?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut resource = config.resource(&public_url)?;
    if config.dpop != DpopPolicy::Off {
        // Proofs are made for the public URL; with Redis, a proof seen by
        // one replica is a replay at every other.
        let mut dpop = Dpop::new(DpopVerifier::new(), &public_url).policy(config.dpop);
        if let Some(store) = &protection.revocation {
            dpop = dpop.replay_store(store.clone());
        }
        resource = resource.dpop(&dpop);
        protection.dpop = Some(dpop);
    }
    protection.resource = Some(resource);
    println!("listening on {addr}");
    let app = app_with(protection, &config.scope).route("/metrics", get(metrics_text));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
