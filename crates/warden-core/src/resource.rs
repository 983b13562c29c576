//! OAuth 2.0 Protected Resource Metadata (RFC 9728,
//! <https://www.rfc-editor.org/rfc/rfc9728>): the document that tells a
//! client which authorization servers this resource trusts and which scopes
//! it knows, served at `/.well-known/oauth-protected-resource` (path-inserted
//! for a resource with a path, §3.1), and the `resource_metadata` attribute
//! of the challenge that points to it (§5.1).
//!
//! ```
//! use warden_core::resource::ProtectedResource;
//!
//! let pr = ProtectedResource::new("https://api.example.com/orders")
//!     .unwrap()
//!     .authorization_server("https://issuer.example.com")
//!     .scopes(["orders:read", "orders:write", "offline_access"]);
//! assert_eq!(pr.well_known_path(), "/.well-known/oauth-protected-resource/orders");
//! assert_eq!(
//!     pr.metadata_url(),
//!     "https://api.example.com/.well-known/oauth-protected-resource/orders"
//! );
//! // offline_access is a client's business with its authorization server.
//! assert_eq!(pr.document()["scopes_supported"], serde_json::json!(["orders:read", "orders:write"]));
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, Uri};
use serde_json::{Value, json};
use tower_service::Service;

use crate::challenge::Challenge;

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A resource identifier that cannot name a protected resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// Not an absolute `http` or `https` URL with a host.
    #[error("the resource {0:?} is not an absolute http(s) URL with a host")]
    NotAbsolute(String),
    /// A query or a fragment (RFC 9728 §1.2).
    #[error("the resource {0:?} has a query or a fragment")]
    QueryOrFragment(String),
}

/// The metadata of one protected resource.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    resource: String,
    origin: String,
    path: String,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    bearer_methods: Vec<&'static str>,
    signing_algs: Vec<String>,
    audiences: Vec<String>,
    dpop_algs: Vec<String>,
    dpop_required: bool,
}

impl ProtectedResource {
    /// The metadata of the resource whose identifier (its own public URL,
    /// RFC 9728 §3.3) is `resource`. Bearer tokens in the `Authorization`
    /// header are the one method advertised until another is added.
    ///
    /// # Errors
    /// [`ResourceError`] for a URL that is not absolute, or that has a query
    /// or fragment.
    pub fn new(resource: impl Into<String>) -> Result<Self, ResourceError> {
        let resource = resource.into();
        if resource.contains(['?', '#']) {
            return Err(ResourceError::QueryOrFragment(resource));
        }
        let uri: Uri = resource
            .parse()
            .map_err(|_| ResourceError::NotAbsolute(resource.clone()))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ResourceError::NotAbsolute(resource));
        };
        if !matches!(scheme, "http" | "https") || authority.host().is_empty() {
            return Err(ResourceError::NotAbsolute(resource));
        }
        let origin = format!("{scheme}://{authority}");
        let path = uri.path().trim_end_matches('/').to_owned();
        Ok(ProtectedResource {
            resource,
            origin,
            path,
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            bearer_methods: vec!["header"],
            signing_algs: Vec::new(),
            dpop_algs: Vec::new(),
            dpop_required: false,
            audiences: Vec::new(),
        })
    }

    /// An authorization server (its issuer identifier) whose tokens this
    /// resource accepts; call again for several.
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes this resource understands. `offline_access` is left out:
    /// refresh tokens are between a client and its authorization server,
    /// and MCP forbids advertising it here.
    #[must_use]
    pub fn scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        for s in scopes {
            let s = s.into();
            if s != "offline_access" && !self.scopes.contains(&s) {
                self.scopes.push(s);
            }
        }
        self
    }

    /// Also advertise the `access_token` query parameter (RFC 6750 §2.3),
    /// for a resource whose extractor accepts it.
    #[must_use]
    pub fn query_bearer_method(mut self) -> Self {
        if !self.bearer_methods.contains(&"query") {
            self.bearer_methods.push("query");
        }
        self
    }

    /// The JWS algorithms this resource signs its own responses with
    /// (`resource_signing_alg_values_supported`, RFC 9728 §2); left out when
    /// it signs none, as warden's resources do unless told.
    #[must_use]
    pub fn resource_signing_algs(
        mut self,
        algs: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.signing_algs = algs.into_iter().map(Into::into).collect();
        self
    }

    /// Advertises DPoP (RFC 9728 §2, RFC 9449 §7.1): the proof algorithms
    /// (`dpop_signing_alg_values_supported`) and whether bound tokens are
    /// required (`dpop_bound_access_tokens_required`); the configuration
    /// of a [`Dpop`](crate::dpop::Dpop) gives both.
    #[must_use]
    pub fn dpop(mut self, dpop: &crate::dpop::Dpop) -> Self {
        if dpop.get_policy() == crate::dpop::DpopPolicy::Off {
            return self;
        }
        self.dpop_algs = dpop
            .accepted_algorithms()
            .into_iter()
            .map(str::to_owned)
            .collect();
        self.dpop_required = dpop.get_policy() == crate::dpop::DpopPolicy::Require;
        self
    }

    /// The `aud` values the validator expects, listed apart from
    /// `resource` (as `warden_audiences`) for clients that need them.
    #[must_use]
    pub fn audiences(mut self, audiences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path the document is served at on the resource's host: the
    /// well-known segment, then the resource's own path (RFC 9728 §3.1).
    pub fn well_known_path(&self) -> String {
        format!("{WELL_KNOWN}{}", self.path)
    }

    /// The document's absolute URL, for `resource_metadata`.
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.origin, self.well_known_path())
    }

    /// The challenge parameters that point clients at the document: give
    /// it to [`RequireBearerLayer`](crate::RequireBearerLayer) and
    /// [`RequireScopeLayer`](crate::RequireScopeLayer), so 401 and 403
    /// (`insufficient_scope` with every scope the route needs) carry
    /// `resource_metadata`.
    pub fn challenge(&self) -> Challenge {
        Challenge::new().resource_metadata(self.metadata_url())
    }

    /// The metadata document (RFC 9728 §2).
    pub fn document(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource,
            "bearer_methods_supported": self.bearer_methods,
        });
        let mut list = |name: &str, values: &[String]| {
            if !values.is_empty() {
                doc[name] = json!(values);
            }
        };
        list("authorization_servers", &self.authorization_servers);
        list("scopes_supported", &self.scopes);
        list("resource_signing_alg_values_supported", &self.signing_algs);
        list("warden_audiences", &self.audiences);
        list("dpop_signing_alg_values_supported", &self.dpop_algs);
        if self.dpop_required {
            doc["dpop_bound_access_tokens_required"] = json!(true);
        }
        doc
    }

    /// A tower service answering every request with the document (mount it
    /// at [`well_known_path`](Self::well_known_path), for example with
    /// axum's `route_service`).
    pub fn service(&self) -> MetadataService {
        MetadataService {
            body: Arc::from(self.document().to_string()),
        }
    }
}

/// Serves a [`ProtectedResource`] document as `application/json`.
#[derive(Debug, Clone)]
pub struct MetadataService {
    body: Arc<str>,
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(self.body.to_string());
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
        ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_paths() {
        let root = ProtectedResource::new("https://api.example.com").unwrap();
        assert_eq!(root.well_known_path(), WELL_KNOWN);
        let slash = ProtectedResource::new("https://api.example.com/").unwrap();
        assert_eq!(
            slash.metadata_url(),
            format!("https://api.example.com{WELL_KNOWN}")
        );
        let port = ProtectedResource::new("http://127.0.0.1:8080/a/b/").unwrap();
        assert_eq!(
            port.metadata_url(),
            format!("http://127.0.0.1:8080{WELL_KNOWN}/a/b")
        );
        for bad in [
            "/orders",
            "orders",
            "ftp://h/x",
            "https://h/x?y=1",
            "https://h/x#f",
            "",
        ] {
            assert!(ProtectedResource::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_document_lists_what_it_was_given() {
        let pr = ProtectedResource::new("https://api.example.com/orders")
            .unwrap()
            .authorization_server("https://a.example")
            .authorization_server("https://b.example")
            .scopes(["orders:read", "offline_access", "orders:read"])
            .query_bearer_method()
            .audiences(["api://orders"]);
        assert_eq!(
            pr.document(),
            json!({
                "resource": "https://api.example.com/orders",
                "authorization_servers": ["https://a.example", "https://b.example"],
                "scopes_supported": ["orders:read"],
                "bearer_methods_supported": ["header", "query"],
                "warden_audiences": ["api://orders"],
            })
        );
        let www = pr
            .challenge()
            .www_authenticate(&crate::AuthError::MissingToken)
            .unwrap();
        assert_eq!(
            www,
            "Bearer resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/orders\""
        );
    }
}
