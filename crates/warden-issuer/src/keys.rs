//! Signing keys for the issuer: generation (aws-lc-rs), JWS signing
//! (RFC 7518 §3, <https://www.rfc-editor.org/rfc/rfc7518#section-3>) and the
//! public JWK (RFC 7517 §4) each one publishes.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

pub use warden_jwt::Algorithm;

/// One algorithm of each key family the issuer generates: RSA PKCS#1, RSA
/// PSS, ECDSA and Ed25519 (tests that cover every family start with these).
pub const EVERY_FAMILY: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

enum Material {
    Rsa(signature::RsaKeyPair),
    Ec(EcdsaKeyPair, Vec<u8>),
    Ed(Ed25519KeyPair, Vec<u8>),
    Hmac(Vec<u8>),
}

/// A private signing key with its `kid` and algorithm.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    material: Material,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A key could not be generated or used.
#[derive(Debug, thiserror::Error)]
#[error("key error: {0}")]
pub struct KeyError(pub &'static str);

impl SigningKey {
    /// Generates a fresh key for `alg` (RSA keys are 2048-bit).
    ///
    /// # Errors
    /// When the crypto library fails to generate one, or for HS384 and
    /// HS512 (the issuer generates HMAC keys for HS256 only).
    pub fn generate(alg: Algorithm, kid: impl Into<String>) -> Result<Self, KeyError> {
        let material = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Material::Rsa(
                signature::RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| KeyError("rsa keygen"))?,
            ),
            Algorithm::ES256 | Algorithm::ES384 => {
                let alg = if alg == Algorithm::ES256 {
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let rng = SystemRandom::new();
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| KeyError("ecdsa keygen"))?;
                let der = doc.as_ref().to_vec();
                Material::Ec(
                    EcdsaKeyPair::from_pkcs8(alg, &der).map_err(|_| KeyError("ecdsa keygen"))?,
                    der,
                )
            }
            Algorithm::EdDSA => {
                let rng = SystemRandom::new();
                let doc =
                    Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError("ed25519 keygen"))?;
                let der = doc.as_ref().to_vec();
                Material::Ed(
                    Ed25519KeyPair::from_pkcs8(&der).map_err(|_| KeyError("ed25519 keygen"))?,
                    der,
                )
            }
            Algorithm::HS256 => {
                let mut secret = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut secret).map_err(|_| KeyError("random"))?;
                Material::Hmac(secret)
            }
            _ => {
                return Err(KeyError(
                    "the issuer does not generate keys for this algorithm",
                ));
            }
        };
        Ok(Self {
            kid: kid.into(),
            alg,
            material,
        })
    }

    /// An HMAC key from a given secret (for algorithm-confusion tests, the
    /// secret can be anything, such as another key's public bytes).
    pub fn hmac(secret: impl Into<Vec<u8>>, kid: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            alg: Algorithm::HS256,
            material: Material::Hmac(secret.into()),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Signs `message` (the JWS signing input).
    ///
    /// # Errors
    /// When the crypto library fails.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.material {
            Material::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(padding, &rng, message, &mut sig)
                    .map_err(|_| KeyError("rsa sign"))?;
                Ok(sig)
            }
            Material::Ec(kp, _) => Ok(kp
                .sign(&rng, message)
                .map_err(|_| KeyError("ecdsa sign"))?
                .as_ref()
                .to_vec()),
            Material::Ed(kp, _) => Ok(kp.sign(message).as_ref().to_vec()),
            Material::Hmac(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                Ok(aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec())
            }
        }
    }

    /// The public JWK, with `kid`, `alg` and `use: sig`; `None` for HMAC keys.
    pub fn public_jwk(&self) -> Option<Value> {
        let b = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &self.material {
            Material::Rsa(kp) => {
                let pk = kp.public_key();
                json!({
                    "kty": "RSA",
                    "n": b(pk.modulus().big_endian_without_leading_zero()),
                    "e": b(pk.exponent().big_endian_without_leading_zero()),
                })
            }
            Material::Ec(kp, _) => {
                let point = kp.public_key().as_ref();
                let (crv, len) = if self.alg == Algorithm::ES384 {
                    ("P-384", 48)
                } else {
                    ("P-256", 32)
                };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b(&point[1..1 + len]),
                    "y": b(&point[1 + len..]),
                })
            }
            Material::Ed(kp, _) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b(kp.public_key().as_ref())})
            }
            Material::Hmac(_) => return None,
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        Some(jwk)
    }

    /// The raw public key bytes as published (RSA: the X.509 SPKI DER; EC:
    /// the uncompressed point; Ed25519: the 32-byte key); empty for HMAC.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.material {
            Material::Rsa(kp) => kp
                .public_key()
                .as_der()
                .map(|d| d.as_ref().to_vec())
                .unwrap_or_default(),
            Material::Ec(kp, _) => kp.public_key().as_ref().to_vec(),
            Material::Ed(kp, _) => kp.public_key().as_ref().to_vec(),
            Material::Hmac(_) => Vec::new(),
        }
    }

    /// The private key as PKCS#8 PEM (`PRIVATE KEY`), for clients that
    /// authenticate with private_key_jwt in tests; `None` for HMAC keys.
    pub fn private_key_pem(&self) -> Option<String> {
        let der: Vec<u8> = match &self.material {
            Material::Rsa(kp) => {
                let d: aws_lc_rs::encoding::Pkcs8V1Der<'static> = kp.as_der().ok()?;
                d.as_ref().to_vec()
            }
            Material::Ec(_, der) | Material::Ed(_, der) => der.clone(),
            Material::Hmac(_) => return None,
        };
        Some(pem("PRIVATE KEY", &der))
    }

    /// The public key as PEM (`PUBLIC KEY`, SPKI), for RSA keys.
    pub fn public_pem(&self) -> Option<String> {
        let Material::Rsa(_) = &self.material else {
            return None;
        };
        Some(pem("PUBLIC KEY", &self.public_key_bytes()))
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
