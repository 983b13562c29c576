//! warden-client: tokens for the calls a service makes onward.
//!
//! - [`ClientCredentials`]: the service's own token (RFC 6749 §4.4,
//!   <https://www.rfc-editor.org/rfc/rfc6749#section-4.4>).
//! - [`TokenExchange`]: a token for the next audience on behalf of the
//!   current caller (RFC 8693, <https://www.rfc-editor.org/rfc/rfc8693>).
//! - [`RefreshToken`]: a delegated client's token from its refresh token.
//! - [`Forward`]: the caller's token unchanged, to listed hosts only.
//! - [`OAuthClient`]: discovery, token requests, revocation (RFC 7009) and
//!   introspection (RFC 7662).
//!
//! Every source is a [`warden_core::TokenSource`]: put it under
//! [`AttachBearerLayer`](warden_core::AttachBearerLayer) on a hyper-util
//! client or a tonic `Channel`. Tokens are cached per key, refreshed ahead of
//! expiry in the background, with one request in flight per key and
//! jittered backoff when the server fails (see [`CacheConfig`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use warden_client::ClientCredentials;
//! use warden_core::{AttachBearerLayer, TokenContext, TokenSource};
//!
//! let orders = ClientCredentials::builder()
//!     .issuer("https://id.example.com")
//!     .client_secret_basic("svc-batch", "svc-batch-secret")
//!     .resource("api://orders")
//!     .build()?;
//! // As a layer on any tower HTTP client or tonic Channel:
//! let layer = AttachBearerLayer::new(orders.clone());
//! // With reqwest: ask the source, then set the header.
//! let token = orders.token(&TokenContext::default()).await?;
//! let _req = reqwest::Client::new().get("https://orders.internal/orders").bearer_auth(token.secret());
//! # let _ = layer; Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod cache;
mod endpoint;
mod sources;

pub use cache::{CacheConfig, SourceStats};
pub use endpoint::{ClientAuth, ClientError, OAuthClient, TokenResponse};
pub use sources::{
    ClientCredentials, ClientCredentialsBuilder, Forward, RefreshToken, RefreshTokenBuilder,
    ServerSettings, TokenExchange, TokenExchangeBuilder,
};
