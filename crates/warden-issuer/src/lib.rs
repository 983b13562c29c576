//! warden-issuer: a small authorization server for development, tests and
//! demos.
//!
//! This release has the parts tests need: [`SigningKey`] generation and
//! signing, [`sign_jwt`] for any header and claims (hostile ones included),
//! and [`TestIssuer`], which serves discovery and a JWKS on loopback with
//! switches for rotation and faults.
#![forbid(unsafe_code)]

pub mod keys;
pub mod mint;
pub mod test_server;

pub use keys::{KeyError, SigningAlg, SigningKey};
pub use mint::{assemble, b64, sign_jwt};
pub use test_server::{Mode, StartError, TestIssuer, now_secs};
