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

mod auth;
mod cache;
mod error;
mod forward;
mod pkce;
mod response;
mod server;
mod source;
mod sources;

pub use auth::ClientAuth;
pub use cache::{CacheConfig, SourceStats};
pub use error::ClientError;
pub use forward::Forward;
pub use pkce::Pkce;
pub use response::{IntrospectionResponse, TokenResponse};
pub use server::{DangerousOAuthClient, OAuthClient, OAuthClientBuilder, REVOKE_RETRY_FOR};
pub use source::Dangerous;
pub use sources::{
    ClientCredentials, ClientCredentialsBuilder, RefreshToken, RefreshTokenBuilder, TokenExchange,
    TokenExchangeBuilder,
};
pub use warden_jwt::{Algorithm, PrivateKey, SignError};

/// Entry points for the fuzz targets (`fuzz/`): the production parsers,
/// reachable without a network.
///
/// **Unstable**: not part of the public API, only compiled with the
/// `fuzzing` feature, and may change in any release.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use std::time::SystemTime;

    use warden_core::TokenSourceError;

    /// Reads a token-endpoint answer (`status`, `body`) as the token sources
    /// do, and schedules its expiry and refresh as the cache does; also
    /// reads the token's unverified `exp` as exchange and forwarding do.
    ///
    /// # Errors
    /// The error the source would return.
    pub fn token_response(
        status: u16,
        body: &[u8],
    ) -> Result<(SystemTime, SystemTime, Option<SystemTime>), TokenSourceError> {
        let status =
            reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
        let r = crate::response::token_result(status, body)?;
        let exp = crate::source::unverified_exp(&r.access_token);
        let f = crate::source::fetched(r, exp, None);
        let (expires_at, refresh_at) =
            crate::cache::schedule(SystemTime::now(), &f, &crate::CacheConfig::default());
        Ok((expires_at, refresh_at, exp))
    }
}
