#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// The three-line story: a validator, the two layers, what the handler gets,
// and why a request was refused.
#[cfg(feature = "axum")]
pub use warden_axum::{Auth, Claims};
pub use warden_core::{AuthError, Principal, RequireBearerLayer, RequireScopeLayer};
#[cfg(feature = "jwt")]
pub use warden_jwt::JwtValidator;

/// Inbound: taking the bearer token off a request (RFC 6750 §2), proving it
/// valid, checking scopes, and every way a request is refused.
pub mod inbound {
    pub use warden_core::claims::{ClaimRules, DEFAULT_LEEWAY, DangerousClaimRules};
    pub use warden_core::{
        Anonymous, BearerExtractor, BearerToken, Challenge, DEFAULT_CACHE_CAPACITY,
        DEFAULT_MAX_TOKEN_LEN, Fingerprint, GrpcCode, InvalidRequest, InvalidToken, NoCustomClaims,
        Protocol, RequireBearer, RequireScope, ResponseFuture, ScopeFuture, ScopeGuard,
        ScopePolicy, ScopeRequirement, Scopes, StandardClaims, TokenCache, TokenCacheBuilder,
        TokenValidator, Unavailable, ValidatorFn, validator_fn,
    };

    /// RFC 9728 protected resource metadata and its `resource_metadata`
    /// challenge.
    pub mod resource {
        pub use warden_core::resource::{
            MetadataService, ProtectedResource, ResourceError, WELL_KNOWN,
        };
    }

    /// Sender-constrained tokens by DPoP (RFC 9449): policy, proof
    /// requests and verdicts, replay stores; the verifier is
    /// `jwt::dpop::DpopVerifier`.
    pub use warden_core::dpop;

    /// Certificate-bound tokens (RFC 8705 §3): the client certificate in
    /// request extensions, from a trusted proxy's header or (feature
    /// `mtls`) from warden's rustls server.
    pub mod mtls {
        pub use warden_core::mtls::*;

        /// Serves an axum app over rustls with each request's client
        /// certificate in its extensions.
        #[cfg(feature = "mtls")]
        pub use warden_axum::mtls::serve;
    }

    /// The canonical form of a request path (RFC 3986 §6.2.2, §5.2.4), or
    /// its refusal when two servers could read it two ways.
    pub use warden_core::path;

    /// JWT access tokens (RFC 9068) checked by the rules of RFC 8725
    /// ([`warden_jwt`]); the validator itself is [`crate::JwtValidator`].
    #[cfg(feature = "jwt")]
    pub mod jwt {
        pub use warden_core::{ClientRule, IssuerTemplate};
        pub use warden_jwt::{
            Algorithm, AlgorithmSet, Dangerous, ENTRA_COMMON_JWKS, EnvConfig, EnvError, Fetch,
            FetchError, FetchFuture, FetchResponse, JwksCacheConfig, JwtError, JwtValidatorBuilder,
            KeySet, KeySetStatus, MultiIssuerBuilder, dpop, peek,
        };
    }

    /// Opaque tokens by RFC 7662 introspection ([`warden_introspect`]).
    #[cfg(feature = "introspect")]
    pub mod introspect {
        pub use warden_introspect::{
            Dangerous, IntrospectError, IntrospectStats, IntrospectionValidator,
            IntrospectionValidatorBuilder, JwtOrIntrospect,
        };
    }

    /// The axum rejection of [`crate::Auth`] and [`crate::Claims`].
    #[cfg(feature = "axum")]
    pub use warden_axum::AuthRejection;
}

/// Metrics on authentication outcomes (the series are always named here;
/// they are recorded with the feature `metrics`): install a recorder, then
/// call [`metrics::register`].
pub mod metrics {
    pub use warden_core::metrics::*;
}

/// Outbound: the token a service attaches to the calls it makes onward
/// (RFC 6750 §2.1), from a [`TokenSource`](outbound::TokenSource).
pub mod outbound {
    pub use warden_core::urn;
    pub use warden_core::{
        AccessToken, AttachBearer, AttachBearerLayer, AttachFuture, ErrorCode, NoRetry, Refusal,
        RetryOnce, RetryPolicy, StaticToken, TokenContext, TokenSource, TokenSourceError,
        WithToken, current_token, with_token,
    };

    /// Token sources for the grants, and the authorization server client
    /// ([`warden_client`]).
    #[cfg(feature = "client")]
    pub mod client {
        pub use warden_client::{
            CacheConfig, ClientAuth, ClientCredentials, ClientCredentialsBuilder, ClientError,
            Dangerous, DangerousOAuthClient, Forward, IntrospectionResponse, OAuthClient,
            OAuthClientBuilder, Pkce, PrivateKey, RefreshToken, RefreshTokenBuilder, SignError,
            SourceStats, TokenExchange, TokenExchangeBuilder, TokenResponse,
        };
    }
}

/// Revocation across replicas: the store the authenticate layer checks,
/// failing closed.
pub mod revocation {
    pub use warden_core::{
        MemoryRevocationStore, RevocationCheck, RevocationError, RevocationStore, StoreCheck,
        StoreFuture, WithoutJti, revocation_id, token_hash_id,
    };

    /// The Redis revocation store ([`warden_redis`]).
    #[cfg(feature = "redis")]
    pub mod redis {
        pub use warden_redis::{
            DangerousRedisConfig, MAX_SERVE_STALE, RedisConfig, RedisRevocationStore, RedisStatus,
            RedisStoreError, Staleness, redact_url,
        };
    }
}

/// tonic gRPC servers and clients ([`warden_tonic`]).
#[cfg(feature = "tonic")]
pub mod grpc {
    pub use warden_tonic::*;
}

/// warden-issuer, the small authorization server, in process
/// ([`warden_issuer`]).
#[cfg(feature = "issuer")]
pub mod issuer {
    pub use warden_issuer::*;
}

/// What a binary built on warden does at start (its examples, warden-gate):
/// logging to stderr, and a configuration it cannot start with ending the
/// process with code 2.
#[cfg(feature = "bin")]
pub mod bin {
    use std::fmt::Display;

    /// Logs to stderr through `tracing-subscriber`, filtered by `RUST_LOG`
    /// (`info` when it is unset or cannot be read).
    pub fn init_logging() {
        let filter = tracing_subscriber::EnvFilter::builder()
            .with_default_directive(tracing_subscriber::filter::LevelFilter::INFO.into())
            .from_env_lossy();
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    }

    /// The value of `result`, or `name: error` on stderr and exit code 2:
    /// a binary's configuration that it cannot start with.
    pub fn or_exit<T, E: Display>(name: &str, result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| {
            eprintln!("{name}: {e}");
            std::process::exit(2)
        })
    }
}

/// Time for tests and custom clocks: every builder takes a
/// [`Clock`](testing::Clock); tests move a [`ManualClock`](testing::ManualClock).
pub mod testing {
    pub use warden_core::{Clock, ManualClock, SystemClock};
}

/// The workspace README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
