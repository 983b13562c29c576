//! Route rules: which requests need a token and which scopes (RFC 6750 §3.1
//! `insufficient_scope`). The first rule that matches decides; a request no
//! rule matches is denied.
//!
//! <https://www.rfc-editor.org/rfc/rfc6750#section-3.1>

use warden::inbound::ScopeRequirement;

/// What a matching request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No token needed; a token that is sent must still be valid.
    Anonymous,
    /// A valid token meeting the requirement.
    Token(ScopeRequirement),
}

/// One rule: a path prefix, optionally a host and methods.
#[derive(Debug, Clone)]
pub struct Route {
    prefix: String,
    host: Option<String>,
    methods: Vec<String>,
    access: Access,
}

impl Route {
    /// A rule for paths under `prefix`, matched on segment boundaries:
    /// `/orders/` and `/orders` both take `/orders`, `/orders/` and
    /// `/orders/1`, never `/orders-admin`. The prefix is itself normalized
    /// by the caller (see [`crate::path`]).
    pub fn new(prefix: impl Into<String>, access: Access) -> Self {
        Route {
            prefix: prefix.into(),
            host: None,
            methods: Vec::new(),
            access,
        }
    }

    /// Only for this host (compared without case; without a port in the
    /// rule, any port).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into().to_ascii_lowercase());
        self
    }

    /// Only for these methods (compared without case).
    #[must_use]
    pub fn methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods = methods
            .into_iter()
            .map(|m| m.as_ref().to_ascii_uppercase())
            .collect();
        self
    }

    /// What a matching request needs.
    pub fn access(&self) -> &Access {
        &self.access
    }

    fn path_matches(&self, path: &str) -> bool {
        let base = self.prefix.strip_suffix('/').unwrap_or(&self.prefix);
        match path.strip_prefix(base) {
            Some(rest) => base.is_empty() || rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    fn host_matches(&self, host: Option<&str>) -> bool {
        let Some(want) = &self.host else {
            return true;
        };
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return false;
        };
        if want.contains(':') && !want.ends_with(']') {
            return host == *want;
        }
        // Without a port in the rule: compare the host part alone.
        let name = match host.rfind(':') {
            Some(i) if !host.ends_with(']') => &host[..i],
            _ => &host,
        };
        name == want
    }

    /// Whether the rule takes a request.
    pub fn matches(&self, method: &str, host: Option<&str>, path: &str) -> bool {
        self.path_matches(path)
            && self.host_matches(host)
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// The rules, in order.
#[derive(Debug, Clone, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// The rules, first match wins.
    pub fn new(routes: Vec<Route>) -> Self {
        Routes(routes)
    }

    /// The first rule that takes the request (its path already
    /// normalized), if any.
    pub fn find(&self, method: &str, host: Option<&str>, path: &str) -> Option<&Route> {
        self.0.iter().find(|r| r.matches(method, host, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scopes: &[&str]) -> Access {
        Access::Token(ScopeRequirement::All(scopes.iter().collect()))
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        let r = Route::new("/orders/", token(&[]));
        for p in ["/orders", "/orders/", "/orders/1", "/orders/1/items"] {
            assert!(r.matches("GET", None, p), "{p}");
        }
        for p in ["/orders-admin", "/order", "/", "/public/orders/"] {
            assert!(!r.matches("GET", None, p), "{p}");
        }
        let r = Route::new("/orders", token(&[]));
        assert!(r.matches("GET", None, "/orders/1") && !r.matches("GET", None, "/ordersx"));
        let root = Route::new("/", Access::Anonymous);
        assert!(root.matches("GET", None, "/") && root.matches("GET", None, "/anything/else"));
    }

    #[test]
    fn methods_and_hosts() {
        let r = Route::new("/orders/", token(&[]))
            .methods(["get", "HEAD"])
            .host("API.example.com");
        assert!(r.matches("GET", Some("api.example.com"), "/orders/1"));
        assert!(r.matches("head", Some("API.EXAMPLE.COM:8443"), "/orders/1"));
        assert!(!r.matches("POST", Some("api.example.com"), "/orders/1"));
        assert!(!r.matches("GET", Some("other.example.com"), "/orders/1"));
        assert!(
            !r.matches("GET", None, "/orders/1"),
            "a host rule needs a host"
        );
        let with_port = Route::new("/", Access::Anonymous).host("h:8443");
        assert!(with_port.matches("GET", Some("h:8443"), "/"));
        assert!(!with_port.matches("GET", Some("h:9443"), "/"));
        let v6 = Route::new("/", Access::Anonymous).host("[::1]");
        assert!(v6.matches("GET", Some("[::1]:80"), "/") && v6.matches("GET", Some("[::1]"), "/"));
    }

    #[test]
    fn first_match_wins_and_no_match_is_none() {
        let routes = Routes::new(vec![
            Route::new("/orders/", token(&["orders:write"])).methods(["POST"]),
            Route::new("/orders/", token(&["orders:read"])),
            Route::new("/public/", Access::Anonymous),
        ]);
        let scope_of = |m: &str, p: &str| routes.find(m, None, p).map(|r| r.access().clone());
        assert_eq!(
            scope_of("POST", "/orders/1"),
            Some(token(&["orders:write"]))
        );
        assert_eq!(scope_of("GET", "/orders/1"), Some(token(&["orders:read"])));
        assert_eq!(scope_of("GET", "/public/x"), Some(Access::Anonymous));
        assert_eq!(scope_of("GET", "/admin"), None);
    }
}
