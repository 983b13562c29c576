//! One decision for one original request, whichever proxy asks: the route
//! rule picks what is needed, then warden's own layers decide
//! ([`RequireBearerLayer`] for the token, its cache and revocation;
//! [`ScopeRequirement`](warden::inbound::ScopeRequirement) for the scopes;
//! RFC 6750 §3.1 for every refusal). The front ends (forward-auth,
//! ext_authz) only translate the answer.
//!
//! <https://www.rfc-editor.org/rfc/rfc6750#section-3.1>

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, CACHE_CONTROL};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};
use warden::inbound::{
    Challenge, InvalidRequest, Protocol, RequireBearer, TokenCache, TokenValidator,
};
use warden::revocation::RevocationCheck;
use warden::{AuthError, Principal, RequireBearerLayer};

use crate::config::Identity;
use crate::path::normalize;
use crate::route::{Access, Routes};

/// The original request a proxy asks about.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// Its method.
    pub method: String,
    /// Its host, when the proxy says.
    pub host: Option<String>,
    /// Its request target (`/path?query`), before normalization.
    pub target: String,
    /// Its `Authorization` header values (all of them: two is
    /// `invalid_request`).
    pub authorization: Vec<HeaderValue>,
}

/// The answer: the status and headers a forward-auth endpoint returns.
/// 200 with the identity headers is an allow; anything else a refusal,
/// with the RFC 6750 challenge where the token is the reason.
pub type Verdict = Response<()>;

/// The inner service: the scope check and the identity headers.
#[derive(Debug, Clone)]
struct Decide {
    identity: Arc<Identity>,
    challenge: Challenge,
}

impl Service<Request<()>> for Decide {
    type Response = Verdict;
    type Error = Infallible;
    type Future = Ready<Result<Verdict, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        let principal = req.extensions().get::<Principal>();
        let verdict = match req.extensions().get::<Access>() {
            Some(Access::Token(needed)) => needed.check(principal),
            Some(Access::Anonymous) => Ok(()),
            // Not reachable through `Gate::check`; never an allow.
            None => Err(AuthError::MissingToken),
        };
        ready(Ok(match verdict {
            Ok(()) => allow(&self.identity, principal),
            Err(e) => self.challenge.http_response(&e),
        }))
    }
}

/// Appends an identity string to a header value: visible ASCII as it is,
/// every other byte and `%` percent-encoded, so two identities never share
/// one header value and no value can break the header.
fn push_identity(out: &mut String, s: &str) {
    use std::fmt::Write;
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The header value of one or more identity strings, space-separated.
fn identity_value<'a>(parts: impl IntoIterator<Item = &'a str>) -> HeaderValue {
    let mut out = String::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_identity(&mut out, part);
    }
    HeaderValue::try_from(out).expect("visible ASCII and spaces are a header value")
}

fn secs(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// The standard claims warden read from the token, as base64url JSON.
fn claims_value(p: &Principal) -> HeaderValue {
    let c = p.claims();
    let scope = c.scopes.iter().collect::<Vec<_>>().join(" ");
    let json = serde_json::json!({
        "iss": c.issuer,
        "sub": c.subject,
        "aud": c.audiences,
        "exp": secs(c.expires_at),
        "nbf": secs(c.not_before),
        "iat": secs(c.issued_at),
        "jti": c.jwt_id,
        "client_id": c.client_id,
        "scope": (!scope.is_empty()).then_some(scope),
    });
    let encoded = URL_SAFE_NO_PAD.encode(json.to_string());
    HeaderValue::try_from(encoded).expect("base64url is a header value")
}

/// 200 with the identity headers; on an anonymous allow they are empty, so
/// that a proxy copying them overwrites whatever the client sent.
fn allow(identity: &Identity, principal: Option<&Principal>) -> Verdict {
    let mut res = Response::new(());
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let empty = HeaderValue::from_static("");
    let subject = principal
        .and_then(Principal::subject)
        .map(|s| identity_value([s]));
    let client = principal
        .and_then(Principal::client_id)
        .map(|c| identity_value([c]));
    let scopes = principal.map(|p| identity_value(p.scopes().iter()));
    h.insert(identity.subject.clone(), subject.unwrap_or(empty.clone()));
    h.insert(identity.client_id.clone(), client.unwrap_or(empty.clone()));
    h.insert(identity.scopes.clone(), scopes.unwrap_or(empty.clone()));
    if let Some(name) = &identity.claims {
        h.insert(name.clone(), principal.map(claims_value).unwrap_or(empty));
    }
    res
}

/// A refusal that is no token's fault: no route, or a request the gate
/// cannot read. No challenge: a token would not help.
pub(crate) fn plain(status: StatusCode) -> Verdict {
    let mut res = Response::new(());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The gate: route rules in front of warden's bearer and scope checks.
#[derive(Debug)]
pub struct Gate<V> {
    routes: Routes,
    required: RequireBearer<Decide, V>,
    optional: RequireBearer<Decide, V>,
    challenge: Challenge,
    identity: Arc<Identity>,
}

impl<V: TokenValidator + Clone> Gate<V> {
    /// A gate over `validator`, with the validated-token cache `cache`
    /// (none: every token is validated every time) and, when given, a
    /// revocation check.
    pub fn new<R>(
        validator: V,
        routes: Routes,
        identity: Identity,
        cache: Option<TokenCache>,
        revocation: Option<R>,
    ) -> Self
    where
        R: RevocationCheck + Clone,
    {
        let challenge = Challenge::new().protocol(Protocol::Http);
        let identity = Arc::new(identity);
        let decide = Decide {
            identity: identity.clone(),
            challenge: challenge.clone(),
        };
        let configure = |layer: RequireBearerLayer<V>| {
            let layer = layer.protocol(Protocol::Http);
            let layer = match &cache {
                Some(c) => layer.cache(c.clone()),
                None => layer.without_cache(),
            };
            match &revocation {
                Some(r) => layer.revocation(r.clone()),
                None => layer,
            }
        };
        Gate {
            routes,
            required: configure(RequireBearerLayer::new(validator.clone())).layer(decide.clone()),
            optional: configure(RequireBearerLayer::optional(validator)).layer(decide),
            challenge,
            identity,
        }
    }

    /// The identity headers this gate sets.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Decides about `check`.
    pub async fn check(&self, check: Check) -> Verdict {
        let path = match normalize(&check.target) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "request refused: ambiguous path");
                warden::metrics::outcome(warden::metrics::Outcome::InvalidRequest);
                return self
                    .challenge
                    .http_response(&AuthError::InvalidRequest(InvalidRequest::AmbiguousPath));
            }
        };
        let Some(route) = self
            .routes
            .find(&check.method, check.host.as_deref(), &path)
        else {
            tracing::debug!(method = %check.method, path, "request refused: no route");
            warden::metrics::outcome(warden::metrics::Outcome::Forbidden);
            return plain(StatusCode::FORBIDDEN);
        };
        let mut req = Request::new(());
        for v in check.authorization {
            req.headers_mut().append(AUTHORIZATION, v);
        }
        req.extensions_mut().insert(route.access().clone());
        let svc = match route.access() {
            Access::Anonymous => self.optional.clone(),
            Access::Token(_) => self.required.clone(),
        };
        match svc.oneshot(req).await {
            Ok(verdict) => verdict,
            Err(never) => match never {},
        }
    }
}

/// The `Authorization` values of `headers`.
pub(crate) fn authorization(headers: &HeaderMap) -> Vec<HeaderValue> {
    headers.get_all(AUTHORIZATION).iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_are_injective_and_safe() {
        assert_eq!(identity_value(["alice"]), "alice");
        assert_eq!(identity_value(["a b"]), "a%20b");
        assert_eq!(identity_value(["a%20b"]), "a%2520b");
        assert_eq!(
            identity_value(["x\r\nx-auth-subject: root"]),
            "x%0D%0Ax-auth-subject:%20root"
        );
        assert_eq!(identity_value(["caf\u{e9}"]), "caf%C3%A9");
        assert_eq!(identity_value(["a", "b c"]), "a b%20c");
    }
}
