//! DPoP proof verification, RFC 9449 §4.3
//! (<https://www.rfc-editor.org/rfc/rfc9449#section-4.3>), and the JWK
//! thumbprint that binds a token to a key, RFC 7638 §3
//! (<https://www.rfc-editor.org/rfc/rfc7638#section-3>).
//!
//! [`DpopVerifier`] makes every check of §4.3 but the replay check (the
//! layer records a `jti` once the token has verified too; see
//! [`warden_core::dpop`]):
//!
//! | check | refusal |
//! | --- | --- |
//! | a compact JWS with JSON header and claims (an object, each claim once), at most 8 KiB | `Malformed` |
//! | header `typ` = `dpop+jwt` | `WrongType` |
//! | `alg` asymmetric and allowed (never `none`, never HS*), usable with the key | `DisallowedAlgorithm` |
//! | header `jwk` a public key (no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) | `BadKey` |
//! | the signature, by that key | `BadSignature` |
//! | `jti`, `htm`, `htu`, `iat` present (and `ath` with a token) | `MissingClaim` |
//! | `htm` = the method; `htu` = the URI (RFC 3986 normalized, query and fragment ignored) | `WrongMethod`, `WrongUri` |
//! | `iat` within the window (default ±60 s) | `Stale` |
//! | `ath` = base64url(SHA-256(token)) | `WrongTokenHash` |
//! | the key's thumbprint = the token's `cnf.jkt` | `WrongKey` |
//! | with [nonces](DpopVerifier::nonces): `nonce` one this fleet issued, not expired | `UseNonce` (`use_dpop_nonce`, with a fresh `DPoP-Nonce`) |
//!
//! [`DpopKey`] is the client half: a key that signs proofs (RFC 9449 §4.2).
//!
//! Nonces (RFC 9449 §8, §9) are sealed timestamps: the time they were
//! made and an HMAC-SHA256 of it under a [`NonceKey`]. Any replica with the
//! same key accepts any replica's nonce, and nothing is stored per nonce.

mod key;

pub use key::DpopKey;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use warden_core::dpop::{
    DEFAULT_IAT_WINDOW, InvalidProof, ProofRequest, ProofVerifier, VerifiedProof, normalize_uri,
};
use warden_core::{Clock, SystemClock};

use crate::alg::{Algorithm, AlgorithmSet};
use crate::keys::parse_jwk;

/// The largest proof read.
const MAX_PROOF_LEN: usize = 8 * 1024;

/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The RFC 7638 thumbprint of a public JWK: base64url(SHA-256) of its
/// required members in lexicographic order, without whitespace. `None` for
/// a key type other than RSA, EC and OKP, or a missing member.
///
/// ```
/// use serde_json::json;
/// // RFC 7638 §3.1's example key.
/// let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
///     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
/// assert_eq!(
///     warden_jwt::dpop::thumbprint(&jwk).unwrap(),
///     "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
/// );
/// ```
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let obj = jwk.as_object()?;
    let members: &[&str] = match obj.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for m in members {
        canonical.insert(
            (*m).to_owned(),
            Value::String(obj.get(*m)?.as_str()?.to_owned()),
        );
    }
    // serde_json's map is ordered by key and writes no whitespace.
    let text = serde_json::to_string(&canonical).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

/// `ath`: base64url(SHA-256(the access token)), RFC 9449 §4.2.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The default lifetime of a server nonce.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// The key that seals server nonces: from configuration, shared by the
/// replicas (so that one replica's nonce is good at every other), or random
/// per process. `Debug` never shows it.
#[derive(Clone)]
pub struct NonceKey(jsonwebtoken::EncodingKey);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey([redacted])")
    }
}

impl NonceKey {
    /// A key of at least 32 bytes (for example base64-decoded from the
    /// configuration); `None` when shorter.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 32 {
            return None;
        }
        jsonwebtoken::EncodingKey::from_secret(bytes).ok().map(Self)
    }

    /// A random key for this process only (replicas then refuse each
    /// other's nonces, and clients fetch a new one: correct, a round trip
    /// slower).
    ///
    /// # Panics
    /// When the operating system has no randomness to give.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("operating system randomness");
        Self::from_bytes(&bytes).expect("32 bytes are a valid HMAC key")
    }

    /// The seal of `secs`: base64url of HMAC-SHA256, cut to 128 bits.
    fn seal(&self, secs: u64) -> Option<String> {
        let sig = jsonwebtoken::crypto::sign(
            &secs.to_be_bytes(),
            &self.0,
            jsonwebtoken::Algorithm::HS256,
        )
        .ok()?;
        Some(sig[..22].to_owned())
    }
}

/// Nonces under a key, good for a lifetime.
#[derive(Clone, Debug)]
struct Nonces {
    key: NonceKey,
    lifetime: Duration,
}

/// How many proof headers (one per client key, typically) are kept parsed.
const HEADER_CACHE: usize = 4096;

/// A proof header that passed its checks: the algorithm, the key, its
/// thumbprint.
struct ProofHeader {
    alg: Algorithm,
    key: crate::keys::VerifyKey,
    jkt: String,
}

/// Verifies DPoP proofs; a [`ProofVerifier`] for warden's layers.
#[derive(Clone)]
pub struct DpopVerifier {
    algorithms: AlgorithmSet,
    window: Duration,
    clock: Arc<dyn Clock>,
    nonces: Option<Nonces>,
    headers: Arc<quick_cache::sync::Cache<Box<str>, Arc<ProofHeader>>>,
}

impl std::fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.algorithms)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Default for DpopVerifier {
    fn default() -> Self {
        Self {
            algorithms: AlgorithmSet::ASYMMETRIC,
            window: DEFAULT_IAT_WINDOW,
            clock: Arc::new(SystemClock),
            nonces: None,
            headers: Arc::new(quick_cache::sync::Cache::new(HEADER_CACHE)),
        }
    }
}

impl DpopVerifier {
    /// Every asymmetric algorithm, a ±60 s `iat` window, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these algorithms (symmetric ones are never accepted).
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !a.is_symmetric())
            .collect();
        // Headers were judged under the old list: a fresh cache.
        self.headers = Arc::new(quick_cache::sync::Cache::new(HEADER_CACHE));
        self
    }

    /// How far `iat` may be from now, either way (default 60 s).
    #[must_use]
    pub fn iat_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Requires server nonces sealed by `key` (RFC 9449 §8), good for
    /// `lifetime` ([`DEFAULT_NONCE_LIFETIME`] when `None`): a proof without
    /// a valid one is refused with `use_dpop_nonce` and a fresh nonce.
    #[must_use]
    pub fn nonces(mut self, key: NonceKey, lifetime: Option<Duration>) -> Self {
        self.nonces = Some(Nonces {
            key,
            lifetime: lifetime.unwrap_or(DEFAULT_NONCE_LIFETIME),
        });
        self
    }

    /// A nonce made now, if nonces are on.
    fn issue_nonce(&self) -> Option<String> {
        let n = self.nonces.as_ref()?;
        let secs = self.clock.now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(format!("{secs}.{}", n.key.seal(secs)?))
    }

    /// Whether `nonce` was sealed by this key within the lifetime (a
    /// nonce from a few seconds in the future, a replica's clock ahead, is
    /// accepted).
    fn nonce_ok(&self, n: &Nonces, nonce: &str) -> bool {
        let Some((secs, seal)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(secs) = secs.parse::<u64>() else {
            return false;
        };
        let now = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let fresh = secs <= now + 5 && now.saturating_sub(secs) <= n.lifetime.as_secs();
        fresh
            && n.key
                .seal(secs)
                .is_some_and(|s| constant_eq(s.as_bytes(), seal.as_bytes()))
    }

    /// The clock for `iat` (tests use a manual one).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A proof's header, checked: `typ`, no `crit`, an allowed asymmetric
    /// `alg` the public `jwk` can use. The same for every proof of one
    /// client key, so it is parsed once and kept (bounded) by its text.
    fn parse_header(&self, h64: &str) -> Result<ProofHeader, InvalidProof> {
        let header = object(h64)?;
        let typ = header.get("typ").and_then(Value::as_str);
        if !typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
            return Err(InvalidProof::WrongType);
        }
        if header.contains_key("crit") {
            return Err(InvalidProof::Malformed);
        }
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok())
            .ok_or(InvalidProof::DisallowedAlgorithm)?;
        if alg.is_symmetric() || !self.algorithms.contains(alg) {
            return Err(InvalidProof::DisallowedAlgorithm);
        }
        let jwk = header.get("jwk").ok_or(InvalidProof::BadKey)?;
        let jwk_obj = jwk.as_object().ok_or(InvalidProof::BadKey)?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk_obj.contains_key(*m)) {
            return Err(InvalidProof::BadKey);
        }
        let key = parse_jwk(jwk).ok_or(InvalidProof::BadKey)?;
        if !key.algs.contains(alg) {
            return Err(InvalidProof::DisallowedAlgorithm);
        }
        let jkt = thumbprint(jwk).ok_or(InvalidProof::BadKey)?;
        Ok(ProofHeader { alg, key, jkt })
    }

    fn check(&self, proof: &str, req: &ProofRequest<'_>) -> Result<VerifiedProof, InvalidProof> {
        if proof.len() > MAX_PROOF_LEN || proof.contains(',') {
            return Err(if proof.contains(',') {
                InvalidProof::NotOne
            } else {
                InvalidProof::Malformed
            });
        }
        let mut parts = proof.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidProof::Malformed);
        };
        let header = match self.headers.get(h64) {
            Some(h) => h,
            None => {
                let h = Arc::new(self.parse_header(h64)?);
                self.headers.insert(h64.into(), h.clone());
                h
            }
        };
        let (alg, key, jkt) = (header.alg, &header.key, header.jkt.as_str());
        let message = &proof.as_bytes()[..h64.len() + 1 + p64.len()];
        match jsonwebtoken::crypto::verify(s64, message, &key.key, alg.to_jwt()) {
            Ok(true) => {}
            _ => return Err(InvalidProof::BadSignature),
        }

        // Signed bytes only from here on.
        let bytes = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| InvalidProof::Malformed)?;
        // An object only (serde would read a struct from an array too).
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(InvalidProof::Malformed);
        }
        let claims: ProofClaims<'_> =
            serde_json::from_slice(&bytes).map_err(|_| InvalidProof::Malformed)?;
        let jti = claims.text("jti", &claims.jti)?;
        if jti.len() > 256 {
            return Err(InvalidProof::MissingClaim("jti"));
        }
        if claims.text("htm", &claims.htm)? != req.method {
            return Err(InvalidProof::WrongMethod);
        }
        // The same text, query aside, is the same URI; anything else is
        // compared in normal form.
        let htu = claims.text("htu", &claims.htu)?;
        let same = req.uri.split(['?', '#']).next() == Some(htu) && !htu.contains(['?', '#']);
        if !same {
            let htu = normalize_uri(htu);
            if htu.is_none() || htu != normalize_uri(req.uri) {
                return Err(InvalidProof::WrongUri);
            }
        }
        let iat = match claims.iat {
            Some(Member::Number(t)) if (0.0..1e11).contains(&t) => t,
            _ => return Err(InvalidProof::MissingClaim("iat")),
        };
        let issued_at = UNIX_EPOCH + Duration::from_secs_f64(iat);
        let now = self.clock.now();
        let skew = match issued_at.duration_since(now) {
            Ok(ahead) => ahead,
            Err(behind) => behind.duration(),
        };
        if skew > self.window {
            return Err(InvalidProof::Stale);
        }
        if let Some(token) = req.access_token
            && !ath_matches(claims.text("ath", &claims.ath)?, token)
        {
            return Err(InvalidProof::WrongTokenHash);
        }
        if req.jkt.is_some_and(|bound| bound != jkt) {
            return Err(InvalidProof::WrongKey);
        }
        if let Some(n) = &self.nonces {
            let nonce = match &claims.nonce {
                Some(Member::Text(t)) => Some(&**t),
                _ => None,
            };
            if !nonce.is_some_and(|nonce| self.nonce_ok(n, nonce)) {
                return Err(InvalidProof::UseNonce);
            }
        }
        Ok(VerifiedProof::new(
            jti.to_owned(),
            jkt.to_owned(),
            issued_at,
        ))
    }
}

/// Equality in time independent of where the inputs differ.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `ath` is base64url(SHA-256(token)): compared without allocating.
fn ath_matches(ath: &str, token: &str) -> bool {
    let mut encoded = [0u8; 43];
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD
        .encode_slice(digest, &mut encoded)
        .is_ok_and(|n| &encoded[..n] == ath.as_bytes())
}

/// The claims a proof is judged by, read in place (no map, no copies but
/// of escaped strings). A claim of the wrong type counts as missing; a
/// claim given twice makes the proof malformed.
#[derive(serde::Deserialize)]
struct ProofClaims<'a> {
    #[serde(borrow, default)]
    jti: Option<Member<'a>>,
    #[serde(borrow, default)]
    htm: Option<Member<'a>>,
    #[serde(borrow, default)]
    htu: Option<Member<'a>>,
    #[serde(borrow, default)]
    ath: Option<Member<'a>>,
    #[serde(borrow, default)]
    nonce: Option<Member<'a>>,
    #[serde(borrow, default)]
    iat: Option<Member<'a>>,
}

impl ProofClaims<'_> {
    /// A non-empty string claim, or `MissingClaim(name)`.
    fn text<'s>(
        &self,
        name: &'static str,
        member: &'s Option<Member<'_>>,
    ) -> Result<&'s str, InvalidProof> {
        match member {
            Some(Member::Text(t)) if !t.is_empty() => Ok(t),
            _ => Err(InvalidProof::MissingClaim(name)),
        }
    }
}

/// One claim's value: a string, a number, or anything else (skipped).
enum Member<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(f64),
    Other,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Member<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Member::Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Member::Text(v.to_owned().into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Member::Number(v))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Member::Number(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Member::Number(v as f64))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Member::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Member::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Member::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Member::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A base64url JSON object.
fn object(part: &str) -> Result<Map<String, Value>, InvalidProof> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| InvalidProof::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(InvalidProof::Malformed),
    }
}

impl ProofVerifier for DpopVerifier {
    fn verify(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
    ) -> Result<VerifiedProof, InvalidProof> {
        crate::builder::ensure_crypto_backend().map_err(|_| InvalidProof::BadSignature)?;
        self.check(proof, request)
    }

    fn accepted_algorithms(&self) -> Vec<&'static str> {
        self.algorithms.iter().map(Algorithm::as_str).collect()
    }

    fn replay_window(&self) -> Duration {
        self.window
    }

    fn fresh_nonce(&self) -> Option<String> {
        self.issue_nonce()
    }
}
