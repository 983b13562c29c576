//! warden-gate: warden's layers as an external authorizer, so services in
//! any language get the same validation, cache, scopes and revocation as a
//! Rust service that links warden.
//!
//! - [`forward`]: HTTP forward-auth for nginx `auth_request`, Traefik
//!   `forwardAuth` and Caddy `forward_auth`;
//! - [`decide`]: one decision for one original request, built on
//!   [`RequireBearerLayer`](warden::RequireBearerLayer) and
//!   [`ScopeRequirement`](warden::inbound::ScopeRequirement) (RFC 6750);
//! - [`route`] and [`path`]: first-match route rules on the normalized path
//!   (RFC 3986 §6);
//! - [`config`]: the TOML file.
//!
//! Run it with `cargo run -p warden-gate -- --config gate.toml`.

#![forbid(unsafe_code)]

pub mod config;
pub mod decide;
pub mod forward;
pub mod path;
pub mod route;

use std::sync::Arc;

use warden::JwtValidator;
use warden::inbound::TokenCache;
use warden::inbound::introspect::{IntrospectionValidator, JwtOrIntrospect};
use warden::inbound::jwt::JwtError;
use warden::revocation::StoreCheck;
use warden::revocation::redis::{RedisConfig, RedisRevocationStore, RedisStoreError};

pub use config::{ConfigError, GateConfig};
pub use decide::{Check, Gate, Verdict};

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The JWT validator could not be built.
    #[error("issuer: {0}")]
    Jwt(#[from] JwtError),
    /// The introspection validator could not be built.
    #[error("introspection: {0}")]
    Introspect(#[from] warden::inbound::introspect::IntrospectError),
    /// The Redis store could not be set up.
    #[error("redis: {0}")]
    Redis(#[from] RedisStoreError),
    /// A listener could not be bound.
    #[error("bind: {0}")]
    Bind(#[from] std::io::Error),
}

/// The validators and stores a configuration describes.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The JWT validator (its key set decides readiness).
    pub jwt: JwtValidator,
    /// The introspection validator, when configured.
    pub introspection: Option<IntrospectionValidator>,
    /// The Redis revocation store, when configured.
    pub redis: Option<RedisRevocationStore>,
    /// The validated-token cache.
    pub cache: TokenCache,
}

impl Parts {
    /// Builds what `config` describes (fetches start in the background).
    ///
    /// # Errors
    /// A validator or store that cannot be built.
    pub fn new(config: &GateConfig) -> Result<Self, StartError> {
        let i = &config.issuer;
        let mut b = JwtValidator::builder()
            .issuer(&i.issuer)
            .audiences(&i.audiences);
        if let Some(url) = &i.jwks_url {
            b = b.jwks_url(url);
        }
        if !i.algorithms.is_empty() {
            b = b.algorithms(i.algorithms.iter().copied());
        }
        if i.allow_http {
            b = b.dangerous().allow_http();
        }
        let jwt = b.build()?;
        let introspection = match &i.introspection {
            Some(x) => {
                let mut b = IntrospectionValidator::builder()
                    .endpoint(&x.endpoint)
                    .client(&x.client_id, &x.client_secret)
                    .issuer(&i.issuer);
                for a in &i.audiences {
                    b = b.audience(a);
                }
                if let Some(age) = x.cache_max_age {
                    b = b.cache_max_age(age);
                }
                if i.allow_http {
                    b = b.dangerous().allow_http();
                }
                Some(b.build()?)
            }
            None => None,
        };
        let redis = match &config.redis {
            Some(r) => {
                let mut cfg = RedisConfig::default();
                if let Some(d) = r.max_stale {
                    cfg = cfg.max_stale(d);
                }
                Some(RedisRevocationStore::connect(&r.url, cfg)?)
            }
            None => None,
        };
        let cache = TokenCache::builder().capacity(config.cache_size).build();
        if let Some(store) = &redis {
            let cache = cache.clone();
            store.on_revoke(move |id| cache.remove_revoked(id));
        }
        Ok(Parts {
            jwt,
            introspection,
            redis,
            cache,
        })
    }

    /// Whether the gate can decide: keys loaded and, with Redis, the
    /// revocation list trustworthy.
    pub fn is_ready(&self) -> bool {
        self.jwt.is_ready() && self.redis.as_ref().is_none_or(|r| r.status().ready)
    }

    /// The forward-auth router for `config`.
    pub fn forward_router(&self, config: &GateConfig) -> axum::Router {
        let parts = self.clone();
        let ready: forward::Readiness = Arc::new(move || parts.is_ready());
        let revocation = self.redis.clone().map(StoreCheck::new);
        match &self.introspection {
            Some(x) => forward::router(
                Gate::new(
                    JwtOrIntrospect::new(self.jwt.clone(), x.clone()),
                    config.routes.clone(),
                    config.identity.clone(),
                    self.cache.clone(),
                    revocation,
                ),
                ready,
            ),
            None => forward::router(
                Gate::new(
                    self.jwt.clone(),
                    config.routes.clone(),
                    config.identity.clone(),
                    self.cache.clone(),
                    revocation,
                ),
                ready,
            ),
        }
    }
}

/// Binds the listeners, prints where they are, and serves until Ctrl-C.
///
/// # Errors
/// When the parts cannot be built or an address cannot be bound.
pub async fn run(config: GateConfig) -> Result<(), StartError> {
    let parts = Parts::new(&config)?;
    let http = tokio::net::TcpListener::bind(config.http_bind).await?;
    println!(
        "warden-gate: forward-auth on http://{}/auth",
        http.local_addr()?
    );
    axum::serve(http, parts.forward_router(&config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
