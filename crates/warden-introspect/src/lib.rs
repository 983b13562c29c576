//! warden-introspect: opaque access tokens validated through the
//! authorization server's introspection endpoint (RFC 7662 §2,
//! <https://www.rfc-editor.org/rfc/rfc7662#section-2>).
//!
//! [`IntrospectionValidator`] authenticates to the endpoint, checks `active`,
//! and the response's `exp`, `iss` and `aud`; it caches positive results,
//! keyed so that a hit implies the same token bytes, for at most
//! min(`exp`, a maximum age, default 60 s), negative results briefly or not
//! at all (default: not), and sends one request per token however many
//! callers ask at once. An endpoint that is down, slow or answers garbage is
//! 503 (gRPC UNAVAILABLE), never an accept.
//!
//! Every verdict carries its cache bound ([`Principal::cache_until`]): the
//! authenticate layer's validated-token cache keeps an introspected token no
//! longer than the introspection max age (and not at all when it is zero), so
//! a token revoked at the server is refused once that age has passed.
//!
//! The single-flight map is bounded ([`max_in_flight`](IntrospectionValidatorBuilder::max_in_flight),
//! default 10,000) and an entry leaves it when its last waiter goes, also
//! when the waiters are dropped (a client that hangs up): nothing an
//! unauthenticated peer sends stays behind. Past the bound a new token is
//! introspected on its own, without single flight, never refused.
//!
//! [`JwtOrIntrospect`] sends JWT-shaped tokens to a
//! [`JwtValidator`](warden_jwt::JwtValidator) and the rest to introspection;
//! with several authorization servers, opaque tokens go to an endpoint by
//! their prefix, and the JWTs of an issuer that must be asked (for
//! immediate revocation) to that issuer's endpoint.
#![forbid(unsafe_code)]

mod flight;
mod validator;

use serde::de::DeserializeOwned;
use warden_core::{AuthError, Principal, TokenValidator};

pub use validator::{
    Dangerous, IntrospectError, IntrospectStats, IntrospectionValidator,
    IntrospectionValidatorBuilder,
};
pub use warden_client::ClientAuth;

/// Entry points for the fuzz targets (`fuzz/`): the production parsers,
/// reachable without a network.
///
/// **Unstable**: not part of the public API, only compiled with the
/// `fuzzing` feature, and may change in any release.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use warden_core::{AuthError, Principal};

    use crate::IntrospectionValidator;

    /// The verdict `validator` reaches on an introspection response `body`
    /// for `token`: exactly what it does after a real request.
    ///
    /// # Errors
    /// As [`IntrospectionValidator::validate_token`].
    pub fn verdict(
        validator: &IntrospectionValidator,
        token: &str,
        body: &[u8],
    ) -> Result<Principal, AuthError> {
        validator.verdict(token, body)
    }
}

/// JWT-shaped tokens to a JWT validator, the rest to introspection; the
/// one validator type for a service whose configuration may or may not
/// name an introspection endpoint, or names several.
///
/// Where a token goes, in this order:
/// 1. a JWT-shaped token whose `iss` (read unverified, only to choose) was
///    given to [`introspect_issuer`](Self::introspect_issuer): that
///    issuer's endpoint, whose answer must name the same issuer;
/// 2. another JWT-shaped token: the JWT validator (one issuer or several);
/// 3. an opaque token with a prefix given to
///    [`introspect_prefix`](Self::introspect_prefix) (the first that
///    matches): that endpoint;
/// 4. any other opaque token: the default endpoint, else the JWT validator,
///    which refuses it as malformed.
#[derive(Debug, Clone)]
pub struct JwtOrIntrospect<C = warden_core::NoCustomClaims> {
    jwt: warden_jwt::JwtValidator<C>,
    introspect: Option<IntrospectionValidator>,
    by_prefix: Vec<(String, IntrospectionValidator)>,
    by_issuer: Vec<(String, IntrospectionValidator)>,
}

impl<C> JwtOrIntrospect<C> {
    /// Combines the two validators.
    pub fn new(jwt: warden_jwt::JwtValidator<C>, introspect: IntrospectionValidator) -> Self {
        Self {
            jwt,
            introspect: Some(introspect),
            by_prefix: Vec::new(),
            by_issuer: Vec::new(),
        }
    }

    /// Every token to the JWT validator (an opaque token is then refused as
    /// the JWT validator refuses it): what [`new`](Self::new) is without an
    /// introspection endpoint.
    pub fn jwt_only(jwt: warden_jwt::JwtValidator<C>) -> Self {
        Self {
            jwt,
            introspect: None,
            by_prefix: Vec::new(),
            by_issuer: Vec::new(),
        }
    }

    /// Opaque tokens starting with `prefix` (such as Ory's `ory_at_`) are
    /// introspected at `introspect`; prefixes are tried in the order given.
    #[must_use]
    pub fn introspect_prefix(
        mut self,
        prefix: impl Into<String>,
        introspect: IntrospectionValidator,
    ) -> Self {
        self.by_prefix.push((prefix.into(), introspect));
        self
    }

    /// JWTs claiming `issuer` are introspected at `introspect` instead of
    /// being verified locally: for an issuer whose revocations must take
    /// effect at once. Build `introspect` with the same
    /// [`issuer`](IntrospectionValidatorBuilder::issuer), so that the
    /// answer is checked against it; a token that claims the issuer falsely
    /// is judged by that issuer's server, which does not know it.
    #[must_use]
    pub fn introspect_issuer(
        mut self,
        issuer: impl Into<String>,
        introspect: IntrospectionValidator,
    ) -> Self {
        self.by_issuer.push((issuer.into(), introspect));
        self
    }

    /// The JWT validator (its key set decides readiness).
    pub fn jwt(&self) -> &warden_jwt::JwtValidator<C> {
        &self.jwt
    }
}

/// Whether a token looks like a JWS: three segments, the first a base64url
/// JSON object.
fn jwt_shaped(token: &str) -> bool {
    let mut parts = token.split('.');
    matches!((parts.next(), parts.next(), parts.next(), parts.next()), (Some(h), Some(_), Some(_), None) if h.starts_with("eyJ"))
}

impl<C> JwtOrIntrospect<C> {
    /// The introspection endpoint for `token`, if one is to be asked.
    fn route(&self, token: &str) -> Option<&IntrospectionValidator> {
        if jwt_shaped(token) {
            if self.by_issuer.is_empty() {
                return None;
            }
            let claims = warden_jwt::peek::claims(token).ok()?;
            let iss = claims.get("iss")?.as_str()?;
            return self
                .by_issuer
                .iter()
                .find(|(i, _)| i == iss)
                .map(|(_, v)| v);
        }
        self.by_prefix
            .iter()
            .find(|(p, _)| token.starts_with(p.as_str()))
            .map(|(_, v)| v)
            .or(self.introspect.as_ref())
    }
}

impl<C: DeserializeOwned + Send + Sync + 'static> TokenValidator for JwtOrIntrospect<C> {
    async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        match self.route(token) {
            Some(introspect) => introspect.validate_token(token).await,
            None => self.jwt.validate_token(token).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(jwt_shaped("eyJhbGciOi.eyJ.sig"));
        assert!(!jwt_shaped("opaqueTOKEN123"));
        assert!(!jwt_shaped("a.b.c.d.e"));
    }

    #[test]
    fn builder_errors() {
        let e = IntrospectionValidator::builder()
            .endpoint("http://127.0.0.1/i")
            .client("a", "b")
            .audience("x")
            .build();
        assert!(e.unwrap_err().to_string().contains("plain-http"));
        let e = IntrospectionValidator::builder()
            .endpoint("https://a/i")
            .audience("x")
            .build();
        assert!(e.unwrap_err().to_string().contains("credentials"));
        let e = IntrospectionValidator::builder()
            .endpoint("https://a/i")
            .client("a", "b")
            .build();
        assert!(e.unwrap_err().to_string().contains("audience"));
    }
}
