//! warden-core: the tower layers and types that every part of warden shares.
//!
//! - [`BearerExtractor`] takes the bearer token off a request (RFC 6750 §2,
//!   <https://www.rfc-editor.org/rfc/rfc6750#section-2>).
//! - [`TokenValidator`] turns it into a [`Principal`]; warden-jwt and others
//!   implement it.
//! - [`RequireBearerLayer`] authenticates each request and puts the
//!   [`Principal`] into its extensions; [`RequireScopeLayer`] checks scopes.
//! - [`TokenCache`] makes a token validated once cost a lookup until its
//!   `exp`; on by default in [`RequireBearerLayer`].
//! - [`AttachBearerLayer`] puts a token from a [`TokenSource`] on outbound
//!   calls.
//! - [`AuthError`] is every way a request can be refused, rendered by
//!   [`Challenge`] as an RFC 6750 §3 challenge or a gRPC status.
//!
//! This crate does no network I/O and pulls in no crypto backend.
#![forbid(unsafe_code)]

/// Chaining setters for the public fields of a settings struct:
/// `field_setters! { CacheConfig { /// doc\n retry_min: Duration, } }` makes
/// `#[must_use] pub fn retry_min(mut self, value: Duration) -> Self`. Used
/// by warden's own settings types; not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! field_setters {
    ($ty:ident $(<$g:ident>)? { $($(#[$m:meta])* $name:ident: $fty:ty),* $(,)? }) => {
        impl$(<$g>)? $ty$(<$g>)? {
            $(
                $(#[$m])*
                #[must_use]
                pub fn $name(mut self, value: $fty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

/// Chaining setters for optional text settings of a builder:
/// `string_setters! { Builder { /// doc\n scope } }` makes
/// `pub fn scope(mut self, value: impl Into<String>) -> Self` that sets
/// `self.scope = Some(..)`. Used by warden's own builders; not part of the
/// API.
#[doc(hidden)]
#[macro_export]
macro_rules! string_setters {
    ($ty:ident { $($(#[$m:meta])* $name:ident),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$m])*
                pub fn $name(mut self, value: impl Into<String>) -> Self {
                    self.$name = Some(value.into());
                    self
                }
            )*
        }
    };
}

/// `audience` and `audiences` of a validator builder whose claim rules are
/// its field `rules` ([`ClaimRules`](crate::claims::ClaimRules)):
/// `audience_setters!(IntrospectionValidatorBuilder)`, or with one generic
/// parameter `audience_setters!(JwtValidatorBuilder<C>)`. Used by warden's
/// own builders; not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! audience_setters {
    ($ty:ident $(<$g:ident>)?) => {
        impl$(<$g>)? $ty$(<$g>)? {
            /// An accepted `aud` value; call again to accept several.
            /// Required unless waived through `dangerous()`.
            pub fn audience(mut self, audience: impl Into<String>) -> Self {
                self.rules = self.rules.audience(audience);
                self
            }

            /// Accepted `aud` values.
            pub fn audiences<I, S>(mut self, audiences: I) -> Self
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                for audience in audiences {
                    self.rules = self.rules.audience(audience);
                }
                self
            }
        }
    };
}

/// `get_ref`, `get_mut` and `into_inner` of a middleware service whose
/// wrapped service is its field `inner`, as tower-http's services have
/// them: `inner_service_accessors!(ScopeGuard<S, P>)`. Used by warden's own
/// layers; not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! inner_service_accessors {
    ($ty:ident < S $(, $p:ident)* >) => {
        impl<S $(, $p)*> $ty<S $(, $p)*> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// Unwraps the inner service.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}

pub mod bearer;
pub mod cache;
pub mod challenge;
pub mod claims;
pub mod clock;
pub mod credentials;
pub mod current;
pub mod dpop;
pub mod error;
pub mod layer;
pub mod metrics;
pub mod mtls;
pub mod outbound;
pub mod path;
pub mod principal;
pub mod resource;
pub mod revocation;
pub mod sync;
pub mod urn;
pub mod validator;

pub use bearer::{BearerExtractor, BearerToken, DEFAULT_MAX_TOKEN_LEN, Scheme};
pub use cache::{DEFAULT_CACHE_CAPACITY, RevocationCheck, TokenCache, TokenCacheBuilder};
pub use challenge::{Challenge, Protocol};
pub use claims::{ClaimRules, ClientRule, DEFAULT_LEEWAY, IssuerTemplate};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credentials::{client_secret_basic, form_urldecode};
pub use current::{WithToken, current_token, with_token};
pub use error::{AuthError, GrpcCode, InvalidRequest, InvalidToken, Unavailable};
pub use layer::{
    RequireBearer, RequireBearerLayer, RequireScope, RequireScopeLayer, ResponseFuture,
    ScopeFuture, ScopeGuard, ScopePolicy, ScopeRequirement,
};
pub use outbound::{
    AccessToken, AttachBearer, AttachBearerLayer, AttachFuture, ErrorCode, NoRetry, Refusal,
    RetryOnce, RetryPolicy, StaticToken, TokenContext, TokenSource, TokenSourceError,
};
pub use principal::{
    Anonymous, Confirmation, Fingerprint, NoCustomClaims, Principal, Scopes, StandardClaims,
};
pub use revocation::{
    MemoryRevocationStore, RevocationError, RevocationStore, StoreCheck, StoreFuture, WithoutJti,
    revocation_id, token_hash_id,
};
pub use validator::{TokenValidator, ValidatorFn, validator_fn};
