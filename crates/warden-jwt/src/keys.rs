//! Key sets: JWK Sets (RFC 7517 §5, <https://www.rfc-editor.org/rfc/rfc7517#section-5>)
//! and PEM keys, reduced to the keys that can verify signatures.
//!
//! Each key carries the algorithms it may be used with: its JWK `alg` if
//! present, else what its `kty`/`crv` allows (RSA: RS*/PS*; P-256: ES256;
//! P-384: ES384; Ed25519: EdDSA). A token's `alg` must be one of them, so a
//! token can never pick the algorithm for a key (RFC 8725 §3.1). Keys that
//! cannot be used (unknown type or curve, `use` other than `sig`, symmetric
//! keys in a fetched set, RSA under 2048 bits, bad encoding) are skipped, not
//! fatal.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::alg::{Algorithm, AlgorithmSet, Family};
use crate::error::JwtError;

/// One verification key.
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) algs: AlgorithmSet,
    pub(crate) key: DecodingKey,
}

/// A set of verification keys, indexed by `kid`.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    by_kid: HashMap<String, Vec<usize>>,
    skipped: usize,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWK Set document, skipping unusable keys (symmetric keys
    /// included: shared secrets are configured explicitly, never fetched).
    ///
    /// # Errors
    /// [`JwtError::BadDocument`] when the document is not a JWK Set;
    /// a set with no usable key is returned empty (see [`len`](Self::len)).
    pub fn from_jwks(json: &[u8]) -> Result<Self, JwtError> {
        let bad = |reason: &str| JwtError::BadDocument {
            url: "jwks".into(),
            reason: reason.into(),
        };
        let doc: Value = serde_json::from_slice(json).map_err(|_| bad("not JSON"))?;
        Self::from_jwks_value(&doc)
    }

    /// Like [`from_jwks`](Self::from_jwks), from parsed JSON.
    ///
    /// # Errors
    /// [`JwtError::BadDocument`] when the document is not a JWK Set.
    pub fn from_jwks_value(doc: &Value) -> Result<Self, JwtError> {
        let bad = |reason: &str| JwtError::BadDocument {
            url: "jwks".into(),
            reason: reason.into(),
        };
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no \"keys\" array"))?;
        let mut set = KeySet::new();
        for jwk in keys {
            match parse_jwk(jwk) {
                Some(k) => set.push(k),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// One PEM public key (SubjectPublicKeyInfo, or PKCS#1 for RSA) to be used
    /// with `alg`, with an optional `kid`.
    ///
    /// # Errors
    /// [`JwtError::InvalidKey`] when the PEM does not hold a key for `alg`.
    pub fn from_pem(alg: Algorithm, pem: &[u8], kid: Option<&str>) -> Result<Self, JwtError> {
        let err =
            |e: jsonwebtoken::errors::Error| JwtError::InvalidKey(format!("{alg} PEM key: {e}"));
        let key = match alg.family() {
            Family::Rsa => DecodingKey::from_rsa_pem(pem).map_err(err)?,
            Family::Ec => DecodingKey::from_ec_pem(pem).map_err(err)?,
            Family::Ed => DecodingKey::from_ed_pem(pem).map_err(err)?,
            Family::Hmac => {
                return Err(JwtError::InvalidKey(format!(
                    "{alg} takes a shared secret, not a PEM key"
                )));
            }
        };
        Ok(KeySet::single(kid, alg, key))
    }

    /// A shared secret for HS256/384/512: the only way HMAC tokens are ever
    /// accepted.
    ///
    /// # Errors
    /// [`JwtError::InvalidKey`] when `alg` is not HMAC or the secret is
    /// shorter than the hash output (RFC 7518 §3.2).
    pub fn from_shared_secret(
        alg: Algorithm,
        secret: &[u8],
        kid: Option<&str>,
    ) -> Result<Self, JwtError> {
        let min = match alg {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => {
                return Err(JwtError::InvalidKey(format!(
                    "{alg} is not an HMAC algorithm"
                )));
            }
        };
        if secret.len() < min {
            return Err(JwtError::InvalidKey(format!(
                "{alg} needs a secret of at least {min} bytes"
            )));
        }
        let key =
            DecodingKey::from_secret(secret).map_err(|e| JwtError::InvalidKey(e.to_string()))?;
        Ok(KeySet::single(kid, alg, key))
    }

    fn single(kid: Option<&str>, alg: Algorithm, key: DecodingKey) -> Self {
        let mut set = KeySet::new();
        set.push(VerifyKey {
            kid: kid.map(str::to_owned),
            algs: AlgorithmSet::one(alg),
            key,
        });
        set
    }

    /// Adds every key of `other`.
    #[must_use]
    pub fn merge(mut self, other: KeySet) -> Self {
        for k in other.keys {
            self.push_arc(k);
        }
        self.skipped += other.skipped;
        self
    }

    fn push(&mut self, key: VerifyKey) {
        self.push_arc(Arc::new(key));
    }

    fn push_arc(&mut self, key: Arc<VerifyKey>) {
        let i = self.keys.len();
        if let Some(kid) = &key.kid {
            self.by_kid.entry(kid.clone()).or_default().push(i);
        }
        self.keys.push(key);
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys of the source document were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The key ids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Whether the set has at least one key with this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Whether some key in the set may be used with `alg`.
    pub fn admits(&self, alg: Algorithm) -> bool {
        self.keys.iter().any(|k| k.algs.contains(alg))
    }

    /// Keys with this `kid`, or all keys when the token has none.
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<VerifyKey>> + 'a> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(ix) => Box::new(ix.iter().map(|i| &self.keys[*i])),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(self.keys.iter()),
        }
    }
}

fn b64(v: &Value) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(v.as_str()?).ok()
}

/// A usable verification key from one JWK, or `None`.
pub(crate) fn parse_jwk(jwk: &Value) -> Option<VerifyKey> {
    let obj = jwk.as_object()?;
    if let Some(u) = obj.get("use")
        && u.as_str() != Some("sig")
    {
        return None;
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return None;
        }
    }
    let kid = match obj.get("kid") {
        None => None,
        Some(k) => Some(k.as_str()?.to_owned()),
    };
    let declared = match obj.get("alg") {
        None => None,
        Some(a) => Some(a.as_str()?.parse::<Algorithm>().ok()?),
    };
    let (family, key) = match obj.get("kty")?.as_str()? {
        "RSA" => {
            let n = b64(obj.get("n")?)?;
            let e = b64(obj.get("e")?)?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 || e.is_empty() || e.len() > 8 {
                return None;
            }
            (
                AlgorithmSet::RSA,
                DecodingKey::from_rsa_raw_components(&n, &e),
            )
        }
        "EC" => {
            let (alg, len) = match obj.get("crv")?.as_str()? {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                _ => return None,
            };
            let x = b64(obj.get("x")?)?;
            let y = b64(obj.get("y")?)?;
            if x.len() != len || y.len() != len {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (AlgorithmSet::one(alg), DecodingKey::from_ec_der(&point))
        }
        "OKP" => {
            if obj.get("crv")?.as_str()? != "Ed25519" {
                return None;
            }
            let x = b64(obj.get("x")?)?;
            if x.len() != 32 {
                return None;
            }
            (
                AlgorithmSet::one(Algorithm::EdDSA),
                DecodingKey::from_ed_der(&x),
            )
        }
        // "oct" and anything else: never from a fetched set.
        _ => return None,
    };
    let algs = match declared {
        Some(a) if family.contains(a) => AlgorithmSet::one(a),
        Some(_) => return None,
        None => family,
    };
    Some(VerifyKey { kid, algs, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let small_n = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let x32 = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "ok-rsa", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-alg", "alg": "PS256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "small", "n": small_n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "mismatch", "alg": "ES256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "weird-alg", "alg": "RSA-OAEP", "n": n, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": x32, "y": x32},
            {"kty": "EC", "kid": "ec-521", "crv": "P-521", "x": x32, "y": x32},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": x32},
            {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": x32},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "bad-b64", "n": "***", "e": "AQAB"},
            "not an object",
            {"kid": "no-kty"}
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = set.kids().collect();
        assert_eq!(kids, ["ok-rsa", "rsa-alg", "ec", "ed"]);
        assert_eq!(set.skipped(), 10);
        let ok = set.candidates(Some("ok-rsa")).next().unwrap();
        assert_eq!(ok.algs, AlgorithmSet::RSA);
        let ps = set.candidates(Some("rsa-alg")).next().unwrap();
        assert_eq!(ps.algs, AlgorithmSet::one(Algorithm::PS256));
    }

    #[test]
    fn not_a_jwks() {
        assert!(KeySet::from_jwks(b"<html>").is_err());
        assert!(KeySet::from_jwks(b"{\"keys\": 3}").is_err());
        assert!(KeySet::from_jwks(b"{\"keys\": []}").unwrap().is_empty());
    }

    #[test]
    fn shared_secret_needs_hmac_and_length() {
        assert!(KeySet::from_shared_secret(Algorithm::HS256, &[1; 32], None).is_ok());
        assert!(KeySet::from_shared_secret(Algorithm::HS256, &[1; 16], None).is_err());
        assert!(KeySet::from_shared_secret(Algorithm::RS256, &[1; 64], None).is_err());
    }
}
