//! Authorization-server metadata and its discovery: RFC 8414 §3
//! (<https://www.rfc-editor.org/rfc/rfc8414#section-3>) and OpenID Connect
//! Discovery 1.0 §4
//! (<https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig>).
//!
//! The two specifications put the document at different places for an
//! issuer with a path (`https://id.example/tenant-a`):
//!
//! | specification | document URL |
//! | --- | --- |
//! | OpenID Connect Discovery §4.1 (appended) | `https://id.example/tenant-a/.well-known/openid-configuration` |
//! | RFC 8414 §3.1 (inserted between host and path) | `https://id.example/.well-known/oauth-authorization-server/tenant-a` |
//!
//! Both are tried, in that order. The document's `issuer` must equal the
//! configured issuer exactly (RFC 8414 §3.3, OpenID Connect Discovery
//! §4.3). Each endpoint is checked against the [`UrlPolicy`] by the caller
//! that uses it, when it uses it: an endpoint a component never calls
//! cannot fail it.

use std::time::Duration;

use serde::Deserialize;

use crate::fetch::{Fetch, FetchError};
use crate::url::{UrlError, UrlPolicy};

/// The members of an authorization server's metadata warden uses (RFC 8414
/// §2). Members warden does not use are not kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ServerMetadata {
    /// `issuer`: equal to the configured issuer once discovery succeeded.
    pub issuer: String,
    /// `jwks_uri`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `token_endpoint`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// `authorization_endpoint`.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// `introspection_endpoint` (RFC 7662).
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
}

impl ServerMetadata {
    /// Metadata naming only `issuer` (the other members are set by field).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri: None,
            token_endpoint: None,
            authorization_endpoint: None,
            revocation_endpoint: None,
            introspection_endpoint: None,
        }
    }
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer breaks the URL policy.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The document could not be fetched.
    #[error("fetching {url} failed: {source}")]
    Fetch {
        /// The document URL.
        url: String,
        /// Why.
        source: FetchError,
    },
    /// The server answered with another status than 200.
    #[error("fetching {url} failed: status {status}")]
    Status {
        /// The document URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is not a metadata document (not JSON, no `issuer`).
    #[error("bad document from {url}: {reason}")]
    BadDocument {
        /// The document URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The document's `issuer` is not the configured issuer. A trailing
    /// slash is a common cause.
    #[error(
        "issuer mismatch: configured {configured:?}, but the discovery document says {discovered:?}"
    )]
    IssuerMismatch {
        /// The configured issuer.
        configured: String,
        /// The issuer the document names.
        discovered: String,
    },
}

/// The discovery URLs for `issuer`: OpenID Connect's (appended), then
/// RFC 8414's (inserted between host and path).
///
/// ```
/// assert_eq!(
///     warden_http::discovery_urls("https://id.example/tenant-a/"),
///     [
///         "https://id.example/tenant-a/.well-known/openid-configuration".to_string(),
///         "https://id.example/.well-known/oauth-authorization-server/tenant-a".to_string(),
///     ]
/// );
/// assert_eq!(
///     warden_http::discovery_urls("https://id.example")[1],
///     "https://id.example/.well-known/oauth-authorization-server"
/// );
/// ```
pub fn discovery_urls(issuer: &str) -> [String; 2] {
    let trimmed = issuer.trim_end_matches('/');
    let oidc = format!("{trimmed}/.well-known/openid-configuration");
    let rfc8414 = match issuer.find("://").map(|i| i + 3) {
        Some(start) => match issuer[start..].find('/') {
            Some(p) => {
                let (origin, path) = issuer.split_at(start + p);
                let path = path.trim_end_matches('/');
                format!("{origin}/.well-known/oauth-authorization-server{path}")
            }
            None => format!("{trimmed}/.well-known/oauth-authorization-server"),
        },
        None => format!("{trimmed}/.well-known/oauth-authorization-server"),
    };
    [oidc, rfc8414]
}

async fn fetch_one(
    fetch: &dyn Fetch,
    url: &str,
    max_body: usize,
    timeout: Duration,
) -> Result<ServerMetadata, DiscoveryError> {
    let res = fetch
        .get(url, max_body, timeout)
        .await
        .map_err(|source| DiscoveryError::Fetch {
            url: url.into(),
            source,
        })?;
    if res.status != 200 {
        return Err(DiscoveryError::Status {
            url: url.into(),
            status: res.status,
        });
    }
    let bad = |reason| DiscoveryError::BadDocument {
        url: url.into(),
        reason,
    };
    let doc: serde_json::Value = serde_json::from_slice(&res.body).map_err(|_| bad("not JSON"))?;
    if !doc.get("issuer").is_some_and(serde_json::Value::is_string) {
        return Err(bad("no issuer"));
    }
    ServerMetadata::deserialize(&doc).map_err(|_| bad("a member has the wrong type"))
}

/// Discovers the metadata of `issuer` through `fetch`: the OpenID Connect
/// document, else the RFC 8414 one; the first failure is the error when
/// both fail. The endpoints it names are not checked here: pass the one you
/// use through [`UrlPolicy::check`].
///
/// # Errors
/// A [`DiscoveryError`]: the URL policy, the fetch, the document, or an
/// issuer mismatch.
pub async fn discover(
    fetch: &dyn Fetch,
    issuer: &str,
    policy: UrlPolicy,
    max_body: usize,
    timeout: Duration,
) -> Result<ServerMetadata, DiscoveryError> {
    policy.check(issuer)?;
    let [oidc, rfc8414] = discovery_urls(issuer);
    let doc = match fetch_one(fetch, &oidc, max_body, timeout).await {
        Ok(doc) => doc,
        Err(first) => match fetch_one(fetch, &rfc8414, max_body, timeout).await {
            Ok(doc) => doc,
            Err(_) => return Err(first),
        },
    };
    if doc.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            configured: issuer.into(),
            discovered: doc.issuer,
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        assert_eq!(
            discovery_urls("https://id.example"),
            [
                "https://id.example/.well-known/openid-configuration".to_string(),
                "https://id.example/.well-known/oauth-authorization-server".to_string(),
            ]
        );
        assert_eq!(
            discovery_urls("https://id.example/a/b")[1],
            "https://id.example/.well-known/oauth-authorization-server/a/b"
        );
    }

    /// Over loopback: a server that publishes only the RFC 8414 form.
    #[tokio::test]
    async fn rfc8414_only_server_with_a_path() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/t", listener.local_addr().unwrap());
        let doc =
            serde_json::json!({"issuer": issuer, "token_endpoint": format!("{issuer}/token")});
        let app = axum::Router::new().route(
            "/.well-known/oauth-authorization-server/t",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = crate::build_client("test", Duration::from_secs(5)).unwrap();
        let find = |issuer: String, policy| {
            let client = client.clone();
            async move { discover(&client, &issuer, policy, 65536, Duration::from_secs(5)).await }
        };
        let md = find(issuer.clone(), UrlPolicy::AllowHttp).await.unwrap();
        assert_eq!(md.token_endpoint, Some(format!("{issuer}/token")));
        let refused = find(issuer.clone(), UrlPolicy::HttpsOnly).await;
        assert!(matches!(
            refused,
            Err(DiscoveryError::Url(UrlError::HttpNotAllowed(_)))
        ));
        let wrong = find(format!("{issuer}/"), UrlPolicy::AllowHttp).await;
        assert!(
            matches!(wrong, Err(DiscoveryError::IssuerMismatch { .. })),
            "a trailing slash is another issuer: {wrong:?}"
        );
    }
}
