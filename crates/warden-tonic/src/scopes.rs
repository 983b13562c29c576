//! Per-method scope rules for gRPC: `/package.Service/Method` to a scope
//! requirement (RFC 6750 §3.1 `insufficient_scope` as PERMISSION_DENIED).

use std::collections::HashMap;
use std::sync::Arc;

use http::Request;
use tower_layer::Layer;
use warden_core::{
    AuthError, Challenge, Principal, Protocol, ScopeGuard, ScopePolicy, ScopeRequirement, Scopes,
};

/// What happens to a method no rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unlisted {
    /// Refused with PERMISSION_DENIED (the default: a new method is closed
    /// until someone writes its rule).
    #[default]
    Deny,
    /// Any authenticated caller may call it.
    Authenticated,
}

/// A rule set could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MethodRuleError {
    /// A method path is not of the form `/package.Service/Method`.
    #[error("malformed gRPC method path {0:?}: expected \"/package.Service/Method\"")]
    Malformed(String),
    /// Rules name methods the service does not have (typos, renamed methods).
    #[error("rules name unknown gRPC methods {unknown:?}; known methods: {known:?}")]
    Unknown {
        /// The unknown paths.
        unknown: Vec<String>,
        /// The methods the service has.
        known: Vec<String>,
    },
    /// A method has two rules.
    #[error("two rules for gRPC method {0:?}")]
    Duplicate(String),
}

/// Scope rules per gRPC method. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MethodScopes {
    rules: Arc<HashMap<String, ScopeRequirement>>,
    unlisted: Unlisted,
}

/// Builds [`MethodScopes`].
#[derive(Debug, Default)]
#[must_use]
pub struct MethodScopesBuilder {
    rules: Vec<(String, ScopeRequirement)>,
    unlisted: Unlisted,
}

fn well_formed(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let Some((service, method)) = rest.split_once('/') else {
        return false;
    };
    !service.is_empty()
        && !method.is_empty()
        && !method.contains('/')
        && service.split('.').all(|p| !p.is_empty())
}

impl MethodScopesBuilder {
    fn rule<I, S>(
        mut self,
        path: impl Into<String>,
        scopes: I,
        kind: fn(Scopes) -> ScopeRequirement,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rules
            .push((path.into(), kind(scopes.into_iter().collect())));
        self
    }

    /// `path` needs every scope in `scopes`.
    pub fn all<I, S>(self, path: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rule(path, scopes, ScopeRequirement::All)
    }

    /// `path` needs at least one scope in `scopes`.
    pub fn any<I, S>(self, path: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rule(path, scopes, ScopeRequirement::Any)
    }

    /// `path` needs only an authenticated caller.
    pub fn authenticated(mut self, path: impl Into<String>) -> Self {
        self.rules
            .push((path.into(), ScopeRequirement::All(Scopes::new())));
        self
    }

    /// What to do with methods no rule names (default [`Unlisted::Deny`]).
    pub fn unlisted(mut self, unlisted: Unlisted) -> Self {
        self.unlisted = unlisted;
        self
    }

    /// Builds the rules, checking only the form of the paths.
    ///
    /// # Errors
    /// [`MethodRuleError::Malformed`] or [`MethodRuleError::Duplicate`].
    pub fn build(self) -> Result<MethodScopes, MethodRuleError> {
        let mut rules = HashMap::with_capacity(self.rules.len());
        for (path, req) in self.rules {
            if !well_formed(&path) {
                return Err(MethodRuleError::Malformed(path));
            }
            if rules.insert(path.clone(), req).is_some() {
                return Err(MethodRuleError::Duplicate(path));
            }
        }
        Ok(MethodScopes {
            rules: Arc::new(rules),
            unlisted: self.unlisted,
        })
    }

    /// Builds the rules and checks that every path is one of the service's
    /// methods (for example from its file descriptor set), so a typo fails
    /// at start-up instead of silently denying (or allowing) a method.
    ///
    /// # Errors
    /// [`MethodRuleError::Unknown`] listing the unknown paths, or any error
    /// of [`build`](Self::build).
    pub fn build_for<I, S>(self, known_methods: I) -> Result<MethodScopes, MethodRuleError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let built = self.build()?;
        let mut known: Vec<String> = known_methods.into_iter().map(Into::into).collect();
        known.sort();
        let mut unknown: Vec<String> = built
            .rules
            .keys()
            .filter(|p| known.binary_search(p).is_err())
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(built)
        } else {
            unknown.sort();
            Err(MethodRuleError::Unknown { unknown, known })
        }
    }
}

impl MethodScopes {
    /// Starts a rule set.
    pub fn builder() -> MethodScopesBuilder {
        MethodScopesBuilder::default()
    }

    /// The verdict for a call of `path` by `principal`.
    ///
    /// # Errors
    /// [`AuthError::MissingToken`] without a principal,
    /// [`AuthError::InsufficientScope`] when the scopes fall short or the
    /// method is unlisted and unlisted methods are denied.
    pub fn check(&self, path: &str, principal: Option<&Principal>) -> Result<(), AuthError> {
        match self.rules.get(path) {
            Some(req) => req.check(principal),
            None => match self.unlisted {
                Unlisted::Authenticated => principal.map(|_| ()).ok_or(AuthError::MissingToken),
                Unlisted::Deny => {
                    principal.ok_or(AuthError::MissingToken)?;
                    Err(AuthError::InsufficientScope {
                        required: String::new(),
                    })
                }
            },
        }
    }

    /// The rule for `path`, if any.
    pub fn rule(&self, path: &str) -> Option<&ScopeRequirement> {
        self.rules.get(path)
    }
}

/// Enforces [`MethodScopes`] on a gRPC server; put it inside (after)
/// [`authenticate`](crate::authenticate). Streaming methods are checked the
/// same way, before the stream starts.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use warden_core::{Fingerprint, Principal, Scopes, StandardClaims};
/// use warden_tonic::{MethodRuleError, MethodScopes, RequireMethodScopeLayer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let methods = ["/inv.v1.Inventory/GetItem", "/inv.v1.Inventory/ReserveItem"];
/// // A typo is an error at start-up, not an open method in production.
/// let typo = MethodScopes::builder()
///     .all("/inv.v1.Inventory/ReserveItme", ["inventory:write"])
///     .build_for(methods);
/// assert!(matches!(typo, Err(MethodRuleError::Unknown { .. })));
///
/// let rules = MethodScopes::builder()
///     .all("/inv.v1.Inventory/GetItem", ["inventory:read"])
///     .all("/inv.v1.Inventory/ReserveItem", ["inventory:write"])
///     .build_for(methods)
///     .unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(RequireMethodScopeLayer::new(rules))
///     .service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// let mut claims = StandardClaims::new();
/// claims.scopes = Scopes::from_space_separated("inventory:read");
/// let mut req = Request::builder().uri("/inv.v1.Inventory/ReserveItem").body(()).unwrap();
/// req.extensions_mut().insert(Principal::new(claims, (), Fingerprint::of("t")));
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.headers()["grpc-status"], "7"); // PERMISSION_DENIED
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RequireMethodScopeLayer {
    scopes: Arc<MethodScopes>,
    challenge: Challenge,
}

impl RequireMethodScopeLayer {
    /// Enforces `scopes`, with gRPC rejections.
    pub fn new(scopes: MethodScopes) -> Self {
        Self {
            scopes: Arc::new(scopes),
            challenge: Challenge::new().protocol(Protocol::Grpc),
        }
    }
}

impl<S> Layer<S> for RequireMethodScopeLayer {
    type Service = RequireMethodScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ScopeGuard::new(inner, self.scopes.clone(), self.challenge.clone())
    }
}

/// The service made by [`RequireMethodScopeLayer`]: warden-core's one scope
/// guard with the per-method rules as its policy.
pub type RequireMethodScope<S> = ScopeGuard<S, MethodScopes>;

impl ScopePolicy for MethodScopes {
    fn check<B>(&self, req: &Request<B>) -> Result<(), AuthError> {
        MethodScopes::check(self, req.uri().path(), req.extensions().get::<Principal>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::{Fingerprint, StandardClaims};

    fn who(scopes: &str) -> Principal {
        let mut c = StandardClaims::new();
        c.scopes = Scopes::from_space_separated(scopes);
        Principal::new(c, (), Fingerprint::of("t"))
    }

    #[test]
    fn rules_and_unlisted() {
        let rules = MethodScopes::builder()
            .all("/p.S/Read", ["r"])
            .any("/p.S/Write", ["w", "admin"])
            .authenticated("/p.S/Ping")
            .build()
            .unwrap();
        assert!(rules.check("/p.S/Read", Some(&who("r"))).is_ok());
        assert_eq!(
            rules.check("/p.S/Read", Some(&who("w"))),
            Err(AuthError::InsufficientScope {
                required: "r".into()
            })
        );
        assert!(rules.check("/p.S/Write", Some(&who("admin"))).is_ok());
        assert!(rules.check("/p.S/Ping", Some(&who(""))).is_ok());
        assert_eq!(rules.check("/p.S/Read", None), Err(AuthError::MissingToken));
        assert!(matches!(
            rules.check("/p.S/Other", Some(&who("r w admin"))),
            Err(AuthError::InsufficientScope { .. })
        ));
        let open = MethodScopes::builder()
            .unlisted(Unlisted::Authenticated)
            .build()
            .unwrap();
        assert!(open.check("/p.S/Other", Some(&who(""))).is_ok());
        assert_eq!(open.check("/p.S/Other", None), Err(AuthError::MissingToken));
    }

    #[test]
    fn typos_fail_at_build() {
        for bad in [
            "p.S/Read",
            "/p.S",
            "/p.S/",
            "//Read",
            "/p..S/Read",
            "/p.S/Read/x",
        ] {
            assert_eq!(
                MethodScopes::builder().all(bad, ["r"]).build().unwrap_err(),
                MethodRuleError::Malformed(bad.into()),
                "{bad}"
            );
        }
        let err = MethodScopes::builder()
            .all("/p.S/Read", ["r"])
            .all("/p.S/Raed", ["r"])
            .build_for(["/p.S/Read", "/p.S/Write"])
            .unwrap_err();
        assert_eq!(
            err,
            MethodRuleError::Unknown {
                unknown: vec!["/p.S/Raed".into()],
                known: vec!["/p.S/Read".into(), "/p.S/Write".into()]
            }
        );
        assert!(err.to_string().contains("/p.S/Raed"));
        assert!(matches!(
            MethodScopes::builder()
                .all("/p.S/A", ["x"])
                .any("/p.S/A", ["y"])
                .build(),
            Err(MethodRuleError::Duplicate(_))
        ));
    }
}
