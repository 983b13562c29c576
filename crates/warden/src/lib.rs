#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub use warden_core::{
    AccessToken, AttachBearer, AttachBearerLayer, MemoryRevocationStore, RevocationStore,
    StaticToken, StoreCheck, TokenCache, TokenContext, TokenSource, TokenSourceError, WithoutJti,
};
pub use warden_core::{
    Anonymous, AuthError, BearerExtractor, BearerToken, Challenge, Clock, Fingerprint, GrpcCode,
    InvalidRequest, InvalidToken, ManualClock, NoCustomClaims, Principal, Protocol, RequireBearer,
    RequireBearerLayer, RequireScope, RequireScopeLayer, ScopeRequirement, Scopes, StandardClaims,
    SystemClock, TokenValidator, Unavailable, validator_fn,
};
pub use warden_core::{current_token, with_token};

/// The shared layers and types ([`warden_core`]).
pub mod core {
    pub use warden_core::*;
}

/// JWT validation ([`warden_jwt`]).
#[cfg(feature = "jwt")]
pub mod jwt {
    pub use warden_jwt::*;
}

#[cfg(feature = "jwt")]
pub use warden_jwt::{JwtError, JwtValidator, KeySet};

/// axum extractors ([`warden_axum`]).
#[cfg(feature = "axum")]
pub mod axum {
    pub use warden_axum::*;
}

#[cfg(feature = "axum")]
pub use warden_axum::{Auth, Claims};

/// Outbound token sources ([`warden_client`]).
#[cfg(feature = "client")]
pub mod client {
    pub use warden_client::*;
}

/// Opaque tokens by introspection ([`warden_introspect`]).
#[cfg(feature = "introspect")]
pub mod introspect {
    pub use warden_introspect::*;
}

/// The Redis revocation store ([`warden_redis`]).
#[cfg(feature = "redis")]
pub mod redis {
    pub use warden_redis::*;
}

/// tonic gRPC servers and clients ([`warden_tonic`]).
#[cfg(feature = "tonic")]
pub mod tonic {
    pub use warden_tonic::*;
}

/// The workspace README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
