//! The client's DPoP key (RFC 9449 §4.2,
//! <https://www.rfc-editor.org/rfc/rfc9449#section-4.2>): it signs a proof
//! for every token request and every call made with a bound token, its
//! public JWK in the proof's header.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use serde_json::{Value, json};
use warden_core::dpop::{ProofSigner, normalize_uri};
use warden_core::{Clock, SystemClock};

use super::{thumbprint, token_hash};
use crate::alg::Family;
use crate::sign::{PrivateKey, SignError};

/// At most this many origins' nonces are remembered.
const MAX_NONCES: usize = 64;

/// A client's DPoP key: ES256 by default, generated for the process or
/// loaded. Cheap to clone (shared). `Debug` shows the thumbprint only.
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    key: PrivateKey,
    jwk: jsonwebtoken::jwk::Jwk,
    jkt: String,
    nonces: Mutex<HashMap<String, String>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.inner.key.algorithm())
            .field("jkt", &self.inner.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh ES256 key for this process (needs the `aws_lc_rs` feature;
    /// with `rust_crypto`, load one with [`from_parts`](Self::from_parts)).
    ///
    /// # Errors
    /// [`SignError`] when no key can be generated.
    pub fn generate() -> Result<Self, SignError> {
        #[cfg(feature = "aws_lc_rs")]
        {
            use aws_lc_rs::rand::SystemRandom;
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
            let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
            let failed = || SignError::Key("ES256 key generation failed".into());
            let doc =
                EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).map_err(|_| failed())?;
            let pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).map_err(|_| failed())?;
            let point = pair.public_key().as_ref();
            if point.len() != 65 {
                return Err(SignError::Key("unexpected P-256 public key".into()));
            }
            let jwk = json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(&point[1..33]),
                "y": b64url(&point[33..65]),
            });
            let pem = pem("PRIVATE KEY", doc.as_ref());
            let key = PrivateKey::from_pem(pem.as_bytes(), crate::alg::Algorithm::ES256, None)?;
            Self::from_parts(key, &jwk)
        }
        #[cfg(not(feature = "aws_lc_rs"))]
        Err(SignError::Key(
            "generating a DPoP key needs the aws_lc_rs feature; load one with DpopKey::from_parts"
                .into(),
        ))
    }

    /// A key from its private half and its public JWK (which goes into
    /// every proof).
    ///
    /// # Errors
    /// [`SignError::Key`] when the JWK is not a public key of the private
    /// key's family, or holds private members.
    pub fn from_parts(key: PrivateKey, public_jwk: &Value) -> Result<Self, SignError> {
        let bad = |m: &str| SignError::Key(m.into());
        let obj = public_jwk
            .as_object()
            .ok_or_else(|| bad("the JWK is not an object"))?;
        if super::PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(bad("the JWK holds private key members"));
        }
        let kty = obj.get("kty").and_then(Value::as_str);
        let fits = matches!(
            (key.algorithm().family(), kty),
            (Family::Ec, Some("EC")) | (Family::Rsa, Some("RSA")) | (Family::Ed, Some("OKP"))
        );
        if !fits {
            return Err(bad("the JWK is not of the private key's family"));
        }
        let jkt = thumbprint(public_jwk).ok_or_else(|| bad("the JWK has no thumbprint"))?;
        let jwk = serde_json::from_value(public_jwk.clone())
            .map_err(|e| SignError::Key(format!("the JWK: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                jwk,
                jkt,
                nonces: Mutex::default(),
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// The RFC 7638 thumbprint tokens are bound to.
    pub fn thumbprint(&self) -> &str {
        &self.inner.jkt
    }

    /// Signs a proof for `method uri` (RFC 9449 §4.2): a fresh `jti`, `iat`
    /// now, `htu` without query and fragment, `ath` for `access_token`,
    /// and the nonce last remembered for the URI's origin.
    ///
    /// # Errors
    /// [`SignError`] when signing fails or `uri` is not absolute.
    pub fn sign_proof(
        &self,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<String, SignError> {
        let htu = uri.split(['?', '#']).next().unwrap_or_default();
        let origin =
            origin(uri).ok_or_else(|| SignError::Key(format!("{uri:?} is not absolute")))?;
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| SignError::Sign(e.to_string()))?;
        let iat = self
            .inner
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut claims = json!({
            "jti": b64url(&jti),
            "htm": method,
            "htu": htu,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(token_hash(token));
        }
        if let Some(nonce) = warden_core::sync::lock(&self.inner.nonces).get(&origin) {
            claims["nonce"] = json!(nonce);
        }
        let mut header = jsonwebtoken::Header::new(self.inner.key.algorithm().to_jwt());
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.inner.jwk.clone());
        self.inner.key.sign_with_header(header, &claims)
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `scheme://authority` of an absolute URI, normalized.
fn origin(uri: &str) -> Option<String> {
    let n = normalize_uri(uri)?;
    let (scheme, rest) = n.split_once("://")?;
    let authority = rest.split('/').next()?;
    Some(format!("{scheme}://{authority}"))
}

#[cfg(feature = "aws_lc_rs")]
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl ProofSigner for DpopKey {
    fn proof(&self, method: &str, uri: &str, access_token: Option<&str>) -> Result<String, String> {
        self.sign_proof(method, uri, access_token)
            .map_err(|e| e.to_string())
    }

    fn remember_nonce(&self, uri: &str, nonce: &str) {
        let Some(origin) = origin(uri) else { return };
        let mut nonces = warden_core::sync::lock(&self.inner.nonces);
        if nonces.len() >= MAX_NONCES && !nonces.contains_key(&origin) {
            nonces.clear();
        }
        nonces.insert(origin, nonce.to_owned());
    }

    fn jkt(&self) -> &str {
        &self.inner.jkt
    }
}
