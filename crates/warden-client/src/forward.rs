//! [`Forward`]: the caller's own token, passed on unchanged, only toward the
//! destinations listed (RFC 6750 §5.2,
//! <https://www.rfc-editor.org/rfc/rfc6750#section-5.2>: a bearer token sent
//! elsewhere can be replayed there; RFC 8693 exchange is the alternative).

use std::sync::Arc;

use warden_core::{AccessToken, Refusal, TokenContext, TokenSource, TokenSourceError};

use crate::source::unverified_exp;

/// Passes the caller's token through unchanged, only toward the listed
/// destinations: a token sent elsewhere could be replayed there.
///
/// An entry is `scheme://host[:port]` or `host[:port]`, which means https.
/// Hosts compare case-insensitively; a port left out is the scheme's
/// default. Plain `http` is allowed only when an entry names it.
///
/// ```
/// use warden_client::Forward;
/// use warden_core::{BearerToken, TokenContext, TokenSource};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let forward = Forward::to(["orders.internal"]);
/// let ctx = |uri: &str| {
///     TokenContext::with_subject(BearerToken::new("callers-token")).target(uri.parse().unwrap())
/// };
/// let t = forward.token(&ctx("https://orders.internal/orders")).await.unwrap();
/// assert_eq!(t.secret(), "callers-token");
/// assert!(forward.token(&ctx("https://elsewhere.example/")).await.is_err());
/// assert!(forward.token(&ctx("http://orders.internal/")).await.is_err()); // not https
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Forward {
    destinations: Arc<Vec<Destination>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Destination {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

impl Destination {
    fn of_uri(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or_else(|| default_port(&scheme))?;
        Some(Self {
            host: uri.host()?.to_ascii_lowercase(),
            scheme,
            port,
        })
    }

    fn parse(entry: &str) -> Option<Self> {
        let full = if entry.contains("://") {
            entry.to_owned()
        } else {
            format!("https://{entry}")
        };
        Self::of_uri(&full.parse().ok()?)
    }
}

impl Forward {
    /// Forwards to these destinations only (`https://orders.internal`,
    /// `orders.internal:8443`, `http://127.0.0.1:8081`). An entry that does
    /// not parse matches nothing.
    pub fn to<I, S>(destinations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let destinations = destinations
            .into_iter()
            .filter_map(|d| {
                let d = d.into();
                let parsed = Destination::parse(&d);
                if parsed.is_none() {
                    tracing::warn!(entry = %d, "Forward::to: not a destination; ignored");
                }
                parsed
            })
            .collect();
        Self {
            destinations: Arc::new(destinations),
        }
    }
}

impl TokenSource for Forward {
    async fn token(&self, ctx: &TokenContext) -> Result<AccessToken, TokenSourceError> {
        let subject = ctx.require_subject()?;
        let target = ctx.target.as_ref().and_then(Destination::of_uri);
        if !target
            .as_ref()
            .is_some_and(|t| self.destinations.contains(t))
        {
            return Err(TokenSourceError::Refused(Refusal::local(format!(
                "forwarding the caller's token to {} is not allowed",
                target.map_or_else(
                    || "an unknown destination".to_owned(),
                    |t| format!("{}://{}:{}", t.scheme, t.host, t.port)
                )
            ))));
        }
        Ok(AccessToken::new(subject, unverified_exp(subject)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::BearerToken;

    #[tokio::test]
    async fn forward_only_to_listed_hosts() {
        let f = Forward::to(["orders.internal", "http://127.0.0.1:8081"]);
        let ctx = |uri: &str| {
            TokenContext::with_subject(BearerToken::new("abc")).target(uri.parse().unwrap())
        };
        assert_eq!(
            f.token(&ctx("https://orders.internal:443/x"))
                .await
                .unwrap()
                .secret(),
            "abc"
        );
        assert!(f.token(&ctx("http://127.0.0.1:8081/x")).await.is_ok());
        assert!(f.token(&ctx("http://127.0.0.1:9999/x")).await.is_err());
        assert!(f.token(&ctx("https://evil.example/")).await.is_err());
        assert_eq!(
            f.token(&TokenContext::default()).await.unwrap_err(),
            TokenSourceError::NoSubjectToken
        );
    }
}
