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
use warden::jwt::EnvConfig;
use warden::{Auth, JwtValidator, RequireBearerLayer, RequireScopeLayer};

/// The example's settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WARDEN_ISSUER`, `WARDEN_AUDIENCE`, `WARDEN_JWKS_URL`, `WARDEN_ALLOW_HTTP`.
    pub jwt: EnvConfig,
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
        let bind = get("WARDEN_BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
        Ok(Self {
            jwt: EnvConfig::from_lookup(&get)?,
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
        self.jwt.validator()
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
