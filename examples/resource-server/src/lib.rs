//! An axum API protected by warden, configured only by environment.
//!
//! Run with `cargo run -p example-resource-server` (see the README for the
//! variables). The router is a library so tests can drive it too.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use warden::{Auth, JwtValidator, RequireBearerLayer, RequireScopeLayer};

/// The example's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WARDEN_ISSUER`: expected `iss`, and discovery base.
    pub issuer: String,
    /// `WARDEN_AUDIENCE`: expected `aud`.
    pub audience: String,
    /// `WARDEN_JWKS_URL`: JWKS location (skips discovery).
    pub jwks_url: Option<String>,
    /// `WARDEN_ALLOW_HTTP=1`: allow http:// URLs (loopback development).
    pub allow_http: bool,
    /// `WARDEN_SCOPE`: the scope `/scoped` requires (default `orders:read`).
    pub scope: String,
    /// `WARDEN_BIND`: listen address (default `127.0.0.1:3000`).
    pub bind: SocketAddr,
}

impl Config {
    /// Reads the settings from an environment lookup function.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let need = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{k} is required"))
        };
        let bind = get("WARDEN_BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
        Ok(Self {
            issuer: need("WARDEN_ISSUER")?,
            audience: need("WARDEN_AUDIENCE")?,
            jwks_url: get("WARDEN_JWKS_URL").filter(|v| !v.is_empty()),
            allow_http: get("WARDEN_ALLOW_HTTP").as_deref() == Some("1"),
            scope: get("WARDEN_SCOPE")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "orders:read".into()),
            bind: bind
                .parse()
                .map_err(|_| format!("WARDEN_BIND is not an address: {bind:?}"))?,
        })
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A message naming the missing or malformed variable.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the validator these settings describe.
    ///
    /// # Errors
    /// The validator's build error (for example an http:// URL without
    /// `WARDEN_ALLOW_HTTP=1`).
    pub fn validator(&self) -> Result<JwtValidator, warden::JwtError> {
        let mut b = JwtValidator::builder()
            .issuer(&self.issuer)
            .audience(&self.audience);
        if let Some(url) = &self.jwks_url {
            b = b.jwks_url(url);
        }
        if self.allow_http {
            b = b.dangerous().allow_http();
        }
        b.build()
    }
}

/// The body of `/protected` and `/scoped`.
#[derive(serde::Serialize)]
struct Caller<'a> {
    sub: Option<&'a str>,
    client_id: Option<&'a str>,
    scopes: Vec<&'a str>,
}

async fn protected(Auth(who): Auth) -> Response {
    Json(Caller {
        sub: who.subject(),
        client_id: who.client_id(),
        scopes: who.scopes().iter().collect(),
    })
    .into_response()
}

async fn healthz(State(v): State<JwtValidator>) -> impl IntoResponse {
    if v.is_ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "signing keys not loaded")
    }
}

/// The router: `/public`, `/protected`, `/scoped` (needs `scope`), `/healthz`.
pub fn app(validator: JwtValidator, scope: &str) -> Router {
    let protected_routes = Router::new()
        .route("/protected", get(protected))
        .route(
            "/scoped",
            get(protected).route_layer(RequireScopeLayer::all([scope])),
        )
        .route_layer(RequireBearerLayer::new(validator.clone()));
    Router::new()
        .route("/public", get(|| async { "public" }))
        .route("/healthz", get(healthz).with_state(validator))
        .merge(protected_routes)
}

/// Binds, prints `listening on <addr>`, and serves until Ctrl-C.
///
/// # Errors
/// When the validator cannot be built or the address cannot be bound.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let validator = config.validator()?;
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(validator, &config.scope))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
