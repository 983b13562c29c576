//! Signing a JWT with a private key (RFC 7515 §5.1,
//! <https://www.rfc-editor.org/rfc/rfc7515#section-5.1>, compact
//! serialization): client assertions for `private_key_jwt` (RFC 7523 §2.2)
//! are signed here, never with a jsonwebtoken type in a public signature.

use std::fmt;
use std::sync::Arc;

use crate::alg::{Algorithm, Family};

/// Why a private key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No JOSE crypto backend is compiled in.
    #[error("signing needs a JOSE crypto backend: enable the `aws_lc_rs` or `rust_crypto` feature")]
    NoCryptoBackend,
    /// The PEM does not hold a key for the algorithm.
    #[error("private key: {0}")]
    Key(String),
    /// The algorithm is not one a private key signs with here.
    #[error("unsupported signing algorithm {0}")]
    UnsupportedAlgorithm(Algorithm),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A private signing key with its algorithm and optional `kid`. `Debug`
/// never shows the key.
#[derive(Clone)]
pub struct PrivateKey {
    key: Arc<jsonwebtoken::EncodingKey>,
    alg: Algorithm,
    kid: Option<String>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A key from PEM (PKCS#8, or PKCS#1 for RSA) for `alg`: RS256, RS384,
    /// RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA.
    ///
    /// # Errors
    /// [`SignError`]: no crypto backend, an unsupported algorithm, or a PEM
    /// that is not such a key.
    pub fn from_pem(pem: &[u8], alg: Algorithm, kid: Option<String>) -> Result<Self, SignError> {
        use jsonwebtoken::EncodingKey;
        crate::builder::ensure_crypto_backend().map_err(|_| SignError::NoCryptoBackend)?;
        let bad = |e: jsonwebtoken::errors::Error| SignError::Key(e.to_string());
        let key = match alg.family() {
            Family::Rsa => EncodingKey::from_rsa_pem(pem).map_err(bad)?,
            Family::Ec => EncodingKey::from_ec_pem(pem).map_err(bad)?,
            Family::Ed => EncodingKey::from_ed_pem(pem).map_err(bad)?,
            Family::Hmac => return Err(SignError::UnsupportedAlgorithm(alg)),
        };
        Ok(Self {
            key: Arc::new(key),
            alg,
            kid,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Signs `claims` as a JWT with header `{alg, kid?, typ}`.
    ///
    /// # Errors
    /// [`SignError::Sign`] when the backend fails.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> Result<String, SignError> {
        let mut header = jsonwebtoken::Header::new(self.alg.to_jwt());
        header.kid = self.kid.clone();
        header.typ = Some(typ.to_owned());
        self.sign_with_header(header, claims)
    }

    /// Signs `claims` under `header` (whose `alg` must be this key's).
    pub(crate) fn sign_with_header(
        &self,
        header: jsonwebtoken::Header,
        claims: &serde_json::Value,
    ) -> Result<String, SignError> {
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| SignError::Sign(e.to_string()))
    }
}
