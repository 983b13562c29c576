//! warden-gate: warden's layers as an external authorizer, so services in
//! any language get the same validation, cache, scopes and revocation as a
//! Rust service that links warden.
//!
//! - [`forward`]: HTTP forward-auth for nginx `auth_request`, Traefik
//!   `forwardAuth` and Caddy `forward_auth`;
//! - [`ext_authz`]: Envoy's external authorization over gRPC (v3), for
//!   Envoy and Istio;
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
pub mod ext_authz;
pub mod forward;
pub use warden::inbound::path;
pub mod route;

use std::sync::Arc;

use envoy_types::ext_authz::v3::pb::AuthorizationServer;
use std::future::IntoFuture;
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
    /// JWTs locally and, when configured, opaque tokens by introspection.
    pub validator: JwtOrIntrospect,
    /// The Redis revocation store, when configured.
    pub redis: Option<RedisRevocationStore>,
    /// The validated-token cache (none with `[cache] size = 0`).
    pub cache: Option<TokenCache>,
}

impl Parts {
    /// Builds what `config` describes (fetches start in the background).
    ///
    /// # Errors
    /// A validator or store that cannot be built.
    pub fn new(config: &GateConfig) -> Result<Self, StartError> {
        let mut builders = Vec::with_capacity(config.issuers.len());
        let mut default_introspection = None;
        let mut by_prefix = Vec::new();
        for i in &config.issuers {
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
            builders.push(b);
            if let Some(x) = &i.introspection {
                let mut b = IntrospectionValidator::builder()
                    .endpoint(&x.endpoint)
                    .client(&x.client_id, &x.client_secret)
                    .issuer(&i.issuer)
                    .audiences(&i.audiences);
                if let Some(age) = x.cache_max_age {
                    b = b.cache_max_age(age);
                }
                if i.allow_http {
                    b = b.dangerous().allow_http();
                }
                match &x.token_prefix {
                    Some(prefix) => by_prefix.push((prefix.clone(), b.build()?)),
                    None => default_introspection = Some(b.build()?),
                }
            }
        }
        let jwt = match builders.len() {
            1 => builders.remove(0).build()?,
            _ => builders
                .into_iter()
                .fold(JwtValidator::multi_issuer(), |m, b| m.trust(b))
                .build()?,
        };
        let mut validator = match default_introspection {
            Some(introspect) => JwtOrIntrospect::new(jwt.clone(), introspect),
            None => JwtOrIntrospect::jwt_only(jwt.clone()),
        };
        for (prefix, introspect) in by_prefix {
            validator = validator.introspect_prefix(prefix, introspect);
        }
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
        let cache = (config.cache_size > 0)
            .then(|| TokenCache::builder().capacity(config.cache_size).build());
        if let (Some(store), Some(cache)) = (&redis, &cache) {
            let cache = cache.clone();
            store.on_revoke(move |id| cache.remove_revoked(id));
        }
        Ok(Parts {
            jwt,
            validator,
            redis,
            cache,
        })
    }

    /// Whether the gate can decide: keys loaded and, with Redis, the
    /// revocation list trustworthy.
    pub fn is_ready(&self) -> bool {
        self.jwt.is_ready() && self.redis.as_ref().is_none_or(|r| r.status().ready)
    }

    /// The gate `config` describes over these parts.
    pub fn gate(&self, config: &GateConfig) -> Gate<JwtOrIntrospect> {
        Gate::new(
            self.validator.clone(),
            config.routes.clone(),
            config.identity.clone(),
            self.cache.clone(),
            self.redis.clone().map(StoreCheck::new),
        )
    }

    /// The forward-auth router for `config`.
    pub fn forward_router(&self, config: &GateConfig) -> axum::Router {
        let parts = self.clone();
        forward::router(self.gate(config), Arc::new(move || parts.is_ready()))
    }

    /// The ext_authz gRPC routes for `config`, with `grpc.health.v1`
    /// reporting `envoy.service.auth.v3.Authorization` as SERVING while the
    /// gate is ready and NOT_SERVING otherwise (the server itself, `""`,
    /// is always SERVING: liveness, not readiness).
    pub fn ext_authz_routes(&self, config: &GateConfig) -> tonic::service::Routes {
        let (reporter, health) = tonic_health::server::health_reporter();
        let service = ext_authz::ExtAuthz::new(self.gate(config));
        let alive = service.alive();
        let parts = self.clone();
        tokio::spawn(async move {
            let mut was = None;
            // Polls the gate's readiness for as long as the service exists.
            while alive.upgrade().is_some() {
                let now = parts.is_ready();
                if was != Some(now) {
                    let status = if now {
                        tonic_health::ServingStatus::Serving
                    } else {
                        tonic_health::ServingStatus::NotServing
                    };
                    reporter.set_service_status(EXT_AUTHZ_SERVICE, status).await;
                    was = Some(now);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
        tonic::service::Routes::new(AuthorizationServer::new(service)).add_service(health)
    }
}

/// The gRPC service name Envoy calls.
pub const EXT_AUTHZ_SERVICE: &str = "envoy.service.auth.v3.Authorization";

/// Binds the listeners, prints where they are, and serves until Ctrl-C.
///
/// # Errors
/// When the parts cannot be built or an address cannot be bound.
pub async fn run(config: GateConfig) -> Result<(), StartError> {
    let parts = Parts::new(&config)?;
    let http = tokio::net::TcpListener::bind(config.http_bind).await?;
    let grpc = tokio::net::TcpListener::bind(config.grpc_bind).await?;
    println!(
        "warden-gate: forward-auth on http://{}/auth",
        http.local_addr()?
    );
    println!("warden-gate: ext_authz on {}", grpc.local_addr()?);
    let http = axum::serve(http, parts.forward_router(&config))
        .with_graceful_shutdown(shutdown())
        .into_future();
    let grpc = tonic::transport::Server::builder()
        .add_routes(parts.ext_authz_routes(&config))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(grpc),
            shutdown(),
        );
    let (h, g) = tokio::join!(http, grpc);
    h?;
    g.map_err(|e| StartError::Bind(std::io::Error::other(e)))?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
