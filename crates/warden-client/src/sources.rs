//! The token sources of the grants: [`ClientCredentials`] (RFC 6749 §4.4,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-4.4>), [`TokenExchange`]
//! (RFC 8693 §2, <https://www.rfc-editor.org/rfc/rfc8693#section-2>) and
//! [`RefreshToken`] (RFC 6749 §6). Each is a grant behind the one cached
//! source of [`crate::source`].

use std::sync::{Arc, Mutex};

use warden_core::urn::{GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN};
use warden_core::{TokenContext, TokenSource, TokenSourceError};

use crate::error::ClientError;
use crate::response::TokenResponse;
use crate::server::OAuthClient;
use crate::source::{Cached, Grant, Server, cached_source, server_setters};

/// The service's own token (client credentials grant), for calls it makes on
/// its own behalf. Cheap to clone; clones share the cache.
///
/// ```
/// use warden_client::ClientCredentials;
///
/// let orders = ClientCredentials::builder()
///     .issuer("https://id.example.com")
///     .client_secret_basic("svc-batch", "svc-batch-secret")
///     .resource("api://orders")
///     .build()
///     .unwrap();
/// assert_eq!(orders.oauth_client().client_id(), "svc-batch");
/// assert_eq!(orders.stats().fetches, 0); // nothing is asked before a call needs it
/// // Plain http only through the door (loopback development):
/// let dev = ClientCredentials::builder()
///     .issuer("http://127.0.0.1:9000")
///     .client_secret_basic("svc-batch", "svc-batch-secret");
/// assert!(ClientCredentials::builder()
///     .issuer("http://127.0.0.1:9000")
///     .client_secret_basic("svc-batch", "svc-batch-secret")
///     .build()
///     .is_err());
/// assert!(dev.dangerous().allow_http().build().is_ok());
/// ```
#[derive(Clone)]
pub struct ClientCredentials {
    inner: Arc<Cached<CcGrant>>,
}

pub(crate) struct CcGrant {
    form: Vec<(&'static str, String)>,
}

impl Grant for CcGrant {
    async fn request(
        &self,
        client: &OAuthClient,
        _subject: Option<&str>,
    ) -> Result<TokenResponse, TokenSourceError> {
        client.token_request(self.form.clone()).await
    }
}

/// Builds [`ClientCredentials`].
#[derive(Debug, Default)]
#[must_use]
pub struct ClientCredentialsBuilder {
    server: Server,
    scope: Option<String>,
    resource: Option<String>,
}

server_setters!(ClientCredentialsBuilder);

warden_core::string_setters! { ClientCredentialsBuilder {
    /// The scopes to ask for (space-separated).
    scope,
    /// The target resource (RFC 8707).
    resource,
} }

impl ClientCredentialsBuilder {
    /// Builds the source.
    ///
    /// # Errors
    /// A missing server or authentication setting, or a plain-http URL.
    pub fn build(self) -> Result<ClientCredentials, ClientError> {
        let client = self.server.client()?;
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        form.extend(self.scope.map(|s| ("scope", s)));
        form.extend(self.resource.map(|r| ("resource", r)));
        Ok(ClientCredentials {
            inner: Arc::new(Cached::new(client, CcGrant { form }, &self.server)),
        })
    }
}

impl ClientCredentials {
    /// Starts a builder.
    pub fn builder() -> ClientCredentialsBuilder {
        ClientCredentialsBuilder::default()
    }
}

cached_source!(ClientCredentials);

/// A token for the next audience on behalf of the current caller (RFC 8693
/// token exchange). Cached per subject token; an exchanged token never
/// outlives its subject token.
///
/// ```
/// use warden_client::TokenExchange;
/// use warden_core::{TokenContext, TokenSource, TokenSourceError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let to_orders = TokenExchange::builder()
///     .issuer("https://id.example.com")
///     .client_secret_basic("svc-gateway", "svc-gateway-secret")
///     .audience("api://orders")
///     .build()
///     .unwrap();
/// // Acting for a caller needs the caller's token: none, no request.
/// let none = to_orders.token(&TokenContext::default()).await;
/// assert_eq!(none.unwrap_err(), TokenSourceError::NoSubjectToken);
/// assert_eq!(to_orders.stats().fetches, 0);
/// # }
/// ```
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<Cached<TxGrant>>,
}

pub(crate) struct TxGrant {
    form: Vec<(&'static str, String)>,
    actor: Option<ClientCredentials>,
}

impl Grant for TxGrant {
    const ON_BEHALF: bool = true;

    async fn request(
        &self,
        client: &OAuthClient,
        subject: Option<&str>,
    ) -> Result<TokenResponse, TokenSourceError> {
        let subject = subject.ok_or(TokenSourceError::NoSubjectToken)?;
        let mut form = self.form.clone();
        form.push(("subject_token", subject.to_owned()));
        if let Some(actor) = &self.actor {
            let t = actor.token(&TokenContext::default()).await?;
            form.push(("actor_token", t.secret().to_owned()));
            form.push(("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()));
        }
        client.token_request(form).await
    }
}

/// Builds [`TokenExchange`].
#[derive(Debug, Default)]
#[must_use]
pub struct TokenExchangeBuilder {
    server: Server,
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    actor: Option<ClientCredentials>,
}

server_setters!(TokenExchangeBuilder);

warden_core::string_setters! { TokenExchangeBuilder {
    /// The target audience (RFC 8693 `audience`).
    audience,
    /// The target resource (RFC 8693 / RFC 8707 `resource`).
    resource,
    /// The scopes to ask for (space-separated), narrowing the result.
    scope,
} }

impl TokenExchangeBuilder {
    /// Sends the service's own token as `actor_token` (RFC 8693 §2.1).
    pub fn actor(mut self, actor: ClientCredentials) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Builds the source.
    ///
    /// # Errors
    /// A missing server or authentication setting, or a plain-http URL.
    pub fn build(self) -> Result<TokenExchange, ClientError> {
        let client = self.server.client()?;
        let mut form = vec![
            ("grant_type", GRANT_TOKEN_EXCHANGE.to_owned()),
            ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
            ("requested_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
        ];
        form.extend(self.audience.map(|v| ("audience", v)));
        form.extend(self.resource.map(|v| ("resource", v)));
        form.extend(self.scope.map(|v| ("scope", v)));
        let grant = TxGrant {
            form,
            actor: self.actor,
        };
        Ok(TokenExchange {
            inner: Arc::new(Cached::new(client, grant, &self.server)),
        })
    }
}

impl TokenExchange {
    /// Starts a builder.
    pub fn builder() -> TokenExchangeBuilder {
        TokenExchangeBuilder::default()
    }
}

cached_source!(TokenExchange);

/// A delegated client's access token from its refresh token (RFC 6749 §6);
/// the rotated refresh token is kept for the next refresh.
///
/// ```
/// use warden_client::{ClientAuth, RefreshToken};
///
/// let source = RefreshToken::builder()
///     .issuer("https://id.example.com")
///     .auth(ClientAuth::public("web-app"))
///     .refresh_token("rt-1")
///     .build()
///     .unwrap();
/// assert_eq!(source.current_refresh_token(), "rt-1");
/// assert!(RefreshToken::builder()
///     .issuer("https://id.example.com")
///     .auth(ClientAuth::public("web-app"))
///     .build()
///     .is_err()); // no refresh token
/// ```
#[derive(Clone)]
pub struct RefreshToken {
    inner: Arc<Cached<RtGrant>>,
}

pub(crate) struct RtGrant {
    refresh_token: Mutex<String>,
    scope: Option<String>,
}

impl RtGrant {
    fn current(&self) -> String {
        warden_core::sync::lock(&self.refresh_token).clone()
    }
}

impl Grant for RtGrant {
    async fn request(
        &self,
        client: &OAuthClient,
        _subject: Option<&str>,
    ) -> Result<TokenResponse, TokenSourceError> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", self.current()),
        ];
        form.extend(self.scope.clone().map(|s| ("scope", s)));
        let r = client.token_request(form).await?;
        if let Some(next) = &r.refresh_token {
            *warden_core::sync::lock(&self.refresh_token) = next.clone();
        }
        Ok(r)
    }
}

/// Builds [`RefreshToken`].
#[derive(Debug, Default)]
#[must_use]
pub struct RefreshTokenBuilder {
    server: Server,
    refresh_token: Option<String>,
    scope: Option<String>,
}

server_setters!(RefreshTokenBuilder);

warden_core::string_setters! { RefreshTokenBuilder {
    /// The refresh token to start from.
    refresh_token,
    /// Narrower scopes to ask for.
    scope,
} }

impl RefreshTokenBuilder {
    /// Builds the source.
    ///
    /// # Errors
    /// A missing setting, or a plain-http URL.
    pub fn build(self) -> Result<RefreshToken, ClientError> {
        let client = self.server.client()?;
        let rt = self
            .refresh_token
            .ok_or_else(|| ClientError::Config("a refresh token is required".into()))?;
        let grant = RtGrant {
            refresh_token: Mutex::new(rt),
            scope: self.scope,
        };
        Ok(RefreshToken {
            inner: Arc::new(Cached::new(client, grant, &self.server)),
        })
    }
}

impl RefreshToken {
    /// Starts a builder.
    pub fn builder() -> RefreshTokenBuilder {
        RefreshTokenBuilder::default()
    }

    /// The current (latest rotated) refresh token. A secret.
    pub fn current_refresh_token(&self) -> String {
        self.inner.grant.current()
    }
}

cached_source!(RefreshToken);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientAuth;

    #[test]
    fn builders_say_what_is_missing() {
        let e = ClientCredentials::builder()
            .issuer("https://id.example")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(".auth("), "{e}");
        let e = ClientCredentials::builder()
            .client_secret_basic("a", "b")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(".issuer("), "{e}");
        let e = ClientCredentials::builder()
            .issuer("http://127.0.0.1:1")
            .client_secret_basic("a", "b")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("allow_http"), "{e}");
        assert!(!format!("{:?}", ClientAuth::basic("id", "hunter2")).contains("hunter2"));
    }
}
