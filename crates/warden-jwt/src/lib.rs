//! warden-jwt: JWT access-token validation for warden.
//!
//! [`JwtValidator`] checks a JWT access token (RFC 9068,
//! <https://www.rfc-editor.org/rfc/rfc9068>) by the rules of RFC 8725
//! (<https://www.rfc-editor.org/rfc/rfc8725>), against keys from the issuer's
//! discovery document, a JWKS URL, or a static set.
//!
//! ## Defaults and why
//! | concern | default |
//! | --- | --- |
//! | issuer, audience | required at build time; waived only through `.dangerous()` |
//! | algorithm | decided by the key (JWK `alg`, else `kty`/`crv`), never by the token alone; `none` never; HS* only with an explicit shared secret |
//! | header key hints | `jku`, `x5u`, `jwk`, `x5c` ignored; any `crit` rejected |
//! | `typ` | `at+jwt` accepted; `JWT` or absent accepted unless [`strict_typ`](JwtValidatorBuilder::strict_typ) |
//! | time claims | `exp` required; `exp`/`nbf`/`iat` must be JSON numbers; 60 s leeway |
//! | scopes | `scope` and `scp`, each a space-separated string or an array |
//! | key cache | see [`jwks`] |
//!
//! ## Crypto backend
//! jsonwebtoken's backend is chosen with this crate's features `aws_lc_rs`
//! or `rust_crypto`; no default is forced. With neither,
//! [`build`](JwtValidatorBuilder::build) fails with
//! [`JwtError::NoCryptoBackend`]; with both, aws-lc-rs is used.
#![forbid(unsafe_code)]

pub mod alg;
pub mod builder;
pub mod dpop;
pub mod env;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod peek;
pub mod sign;
pub mod validator;

pub use alg::{Algorithm, AlgorithmSet};
pub use builder::{Dangerous, ENTRA_COMMON_JWKS, JwtValidatorBuilder, MultiIssuerBuilder};
pub use dpop::{DpopKey, DpopVerifier, NonceKey};
pub use env::{EnvConfig, EnvError};
pub use error::JwtError;
pub use jwks::{JwksCacheConfig, KeySetStatus};
pub use keys::KeySet;
pub use sign::{PrivateKey, SignError};
pub use validator::{DEFAULT_LEEWAY, JwtValidator};
pub use warden_http::{Fetch, FetchError, FetchFuture, FetchResponse};
