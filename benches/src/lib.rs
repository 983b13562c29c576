//! Shared fixtures for warden's benchmarks: keys, tokens and a validator per
//! algorithm, built without a network so that the numbers measure CPU only.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde_json::{Value, json};
use warden_issuer::{Algorithm, SigningKey};
use warden_jwt::{JwtValidator, KeySet};

/// The audience every fixture token carries.
pub const AUD: &str = "api://orders";
/// The issuer every fixture token carries.
pub const ISS: &str = "https://id.example.com/realms/shop";

/// One algorithm's key, a typical token, our validator and the bare
/// jsonwebtoken inputs for the same key and token.
pub struct Fixture {
    /// The algorithm.
    pub alg: Algorithm,
    /// A typical access token (about 800 bytes with RS256).
    pub token: String,
    /// warden's validator with this key as a static set.
    pub validator: JwtValidator,
    /// The same key for jsonwebtoken.
    pub decoding_key: jsonwebtoken::DecodingKey,
    /// jsonwebtoken's validation with the same issuer and audience.
    pub validation: jsonwebtoken::Validation,
    /// The signing key, to mint fresh tokens.
    pub key: SigningKey,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Typical claims: the registered ones, scopes and a custom roles claim; an
/// RS256 token of these is about 800 bytes, like a small Keycloak or Auth0
/// access token.
pub fn typical_claims() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "iss": ISS,
        "sub": "f1c3a7e2-5b1d-4f7e-9a0c-3d2b1e4f5a6b",
        "aud": [AUD, "account"],
        "exp": now + 3600,
        "iat": now,
        "jti": "7d7f1f3c-1b2a-4c5d-8e9f-0a1b2c3d4e5f",
        "azp": "web-app",
        "scope": "openid profile orders:read orders:write",
        "realm_access": {"roles": ["shopper"]},
    })
}

fn jwt_alg(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::PS256 => jsonwebtoken::Algorithm::PS256,
        Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        _ => jsonwebtoken::Algorithm::RS256,
    }
}

impl Fixture {
    /// Builds the fixture for `alg`.
    ///
    /// # Panics
    /// When key generation or signing fails (a broken crypto library).
    pub fn new(alg: Algorithm) -> Self {
        Self::with_claims(alg, &typical_claims())
    }

    /// Builds the fixture for `alg` with a token of these claims.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    pub fn with_claims(alg: Algorithm, claims: &Value) -> Self {
        let key = SigningKey::generate(alg, format!("{alg}-bench")).expect("keygen");
        let jwk = key.public_jwk().expect("asymmetric");
        let token = Self::sign(&key, claims);
        let set = KeySet::from_jwks_value(&json!({"keys": [jwk.clone()]})).expect("jwks");
        let validator = JwtValidator::builder()
            .issuer(ISS)
            .audience(AUD)
            .keys(set)
            .build()
            .expect("validator");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).expect("jwk");
        let decoding_key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
        let mut validation = jsonwebtoken::Validation::new(jwt_alg(alg));
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        Self {
            alg,
            token,
            validator,
            decoding_key,
            validation,
            key,
        }
    }
}

impl Fixture {
    /// A token of `claims` signed by `key`, as the fixture's token is.
    ///
    /// # Panics
    /// When signing fails.
    pub fn sign(key: &SigningKey, claims: &Value) -> String {
        let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"});
        warden_issuer::sign_jwt(&header, claims, key).expect("sign")
    }
}

/// Polls a future that never waits (static keys, no I/O) to completion.
///
/// # Panics
/// When the future is not ready at once.
pub fn now_or_never<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future was expected to be ready"),
    }
}

/// What the layer benchmarks share: a current-thread runtime and the
/// fixture token's `Authorization` value.
#[derive(Debug)]
pub struct LayerBench {
    /// Runs each request to completion.
    pub rt: tokio::runtime::Runtime,
    /// `Bearer <the fixture's token>`.
    pub auth: http::HeaderValue,
}

impl LayerBench {
    /// For `fx`'s token.
    ///
    /// # Panics
    /// When the runtime cannot be built.
    pub fn new(fx: &Fixture) -> Self {
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime"),
            auth: http::HeaderValue::from_str(&format!("Bearer {}", fx.token))
                .expect("a token is a header value"),
        }
    }

    /// `GET /protected`, with the token or without any.
    ///
    /// # Panics
    /// Never: the request is fixed.
    pub fn request(&self, with_token: bool) -> http::Request<()> {
        let mut r = http::Request::builder().uri("/protected");
        if with_token {
            r = r.header(http::header::AUTHORIZATION, self.auth.clone());
        }
        r.body(()).expect("a fixed request")
    }
}

/// The handler behind the layer: 200 at once (use with `tower::service_fn`).
///
/// # Errors
/// Never.
pub async fn ok(_req: http::Request<()>) -> Result<http::Response<()>, Infallible> {
    Ok(http::Response::new(()))
}
