//! warden-issuer: a small, spec-true authorization server for development,
//! tests, demos and small internal deployments.
//!
//! - Grants: client credentials (RFC 6749 §4.4), authorization code with
//!   PKCE S256 required (RFC 6749 §4.1, RFC 7636), refresh tokens with
//!   rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14), token
//!   exchange with nested `act` (RFC 8693).
//! - Client authentication: client_secret_basic, client_secret_post,
//!   private_key_jwt (RFC 7523); secrets compared in constant time.
//! - Introspection (RFC 7662) and revocation (RFC 7009) for JWT and opaque
//!   tokens; revocations go to a [`warden_core::RevocationStore`] that
//!   resource servers read.
//! - JWT access tokens per RFC 9068 (`typ: at+jwt`, `kid`; `iss`, `sub`,
//!   `aud`, `exp`, `iat`, `jti`, `client_id`, `scope`).
//! - Discovery (RFC 8414, OpenID Connect Discovery) and JWKS, key rotation
//!   that publishes a key before it signs.
//!
//! What it does not do: OpenID Connect ID tokens and userinfo, dynamic
//! client registration, persistence (all state is in memory and lost on
//! restart), consent memory, rate limiting, TLS (put it behind a proxy), or
//! the implicit and password grants (removed by RFC 9700). It is not a
//! production identity provider.
//!
//! For tests, [`Issuer`] (alias [`TestIssuer`]) starts in-process on
//! `127.0.0.1:0`, mints any token, and has fault switches ([`Mode`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod keys;
pub mod mint;
mod oauth;
pub mod server;
mod state;

pub use config::{
    ClientConfig, ConfigError, Grant, IssuerConfig, KeysConfig, ResourceConfig, TokenFormat,
    UserConfig,
};
pub use keys::{Algorithm, EVERY_FAMILY, KeyError, SigningKey};
pub use mint::{assemble, b64, sign_jwt};
pub use oauth::signin::{CSRF_COOKIE, CSRF_FIELD, SignInForm};
pub use server::{Issuer, IssuerBuilder, StartError, TestIssuer, fresh_id, now_secs};
pub use state::{Mode, PRUNE_EVERY, StateCounts};

/// Entry points for the fuzz targets (`fuzz/`). **Unstable**: only with the
/// `fuzzing` feature, not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use oauth::fuzzing;
