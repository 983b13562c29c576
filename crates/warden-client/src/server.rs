//! One client of an authorization server: where its endpoints are
//! (explicit, or discovered by RFC 8414 §3,
//! <https://www.rfc-editor.org/rfc/rfc8414#section-3>, through warden-http),
//! how the client authenticates, and the requests: token (RFC 6749 §3.2),
//! revocation (RFC 7009 §2) and introspection (RFC 7662 §2). Every source in
//! this crate and warden-introspect's validator send their requests here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use warden_core::dpop::ProofSigner;
use warden_core::{Refusal, TokenSourceError};
use warden_http::{DiscoveryError, ServerMetadata, UrlPolicy};
use warden_jwt::DpopKey;

use crate::auth::ClientAuth;
use crate::error::ClientError;
use crate::response::{
    IntrospectionResponse, TokenResponse, error_of, introspection_result, token_result,
};

/// How long [`OAuthClient::revoke`] keeps asking a server that cannot
/// record a revocation now.
pub const REVOKE_RETRY_FOR: Duration = Duration::from_secs(10);

/// The default bound on one request to the authorization server.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An authorization server as one client sees it. Cheap to clone.
///
/// ```
/// use warden_client::{ClientAuth, OAuthClient};
///
/// let client = OAuthClient::builder(ClientAuth::basic("svc", "secret"))
///     .issuer("https://id.example")
///     .build()
///     .unwrap();
/// assert_eq!(client.client_id(), "svc");
/// // Plain http only through the door:
/// let refused = OAuthClient::builder(ClientAuth::basic("svc", "secret"))
///     .issuer("http://127.0.0.1:8080")
///     .build();
/// assert!(refused.is_err());
/// ```
#[derive(Debug, Clone)]
pub struct OAuthClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    http: reqwest::Client,
    issuer: Option<String>,
    token: Option<String>,
    introspection: Option<String>,
    revocation: Option<String>,
    assertion_audience: Option<String>,
    discovered: OnceCell<ServerMetadata>,
    auth: ClientAuth,
    policy: UrlPolicy,
    max_body: usize,
    timeout: Duration,
    dpop: Option<DpopKey>,
}

/// Builds an [`OAuthClient`]: an issuer to discover endpoints from, or the
/// endpoints themselves (an explicit endpoint wins over a discovered one).
#[derive(Debug)]
#[must_use]
pub struct OAuthClientBuilder {
    auth: ClientAuth,
    issuer: Option<String>,
    token_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    assertion_audience: Option<String>,
    policy: UrlPolicy,
    timeout: Duration,
    dpop: Option<DpopKey>,
}

warden_core::string_setters! { OAuthClientBuilder {
    /// The issuer: endpoints not given explicitly are discovered from it, on
    /// first use.
    issuer,
    /// The token endpoint.
    token_endpoint,
    /// The introspection endpoint.
    introspection_endpoint,
    /// The revocation endpoint.
    revocation_endpoint,
    /// The `aud` of `private_key_jwt` assertions (default: the issuer when
    /// given, else the token endpoint, else the endpoint called). A client
    /// that knows its server's issuer identifier without discovering from
    /// it (an introspecting resource server) names it here.
    assertion_audience,
} }

impl OAuthClientBuilder {
    /// The bound on one request, discovery included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Proves possession of `key` on every token request (RFC 9449 §5):
    /// the server binds the tokens to it, and the sources send them as
    /// `DPoP` with a proof per call. A `use_dpop_nonce` answer is retried
    /// once with the server's nonce.
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// The door to settings that weaken security.
    pub fn dangerous(self) -> DangerousOAuthClient {
        DangerousOAuthClient(self)
    }

    /// Builds the client.
    ///
    /// # Errors
    /// No issuer and no endpoint, a URL that breaks the policy (https unless
    /// the door is open), or an HTTP client that cannot be built.
    pub fn build(self) -> Result<OAuthClient, ClientError> {
        if self.issuer.is_none()
            && self.token_endpoint.is_none()
            && self.introspection_endpoint.is_none()
            && self.revocation_endpoint.is_none()
        {
            return Err(ClientError::Config(
                "set .issuer(..) or .token_endpoint(..)".into(),
            ));
        }
        for url in [
            &self.issuer,
            &self.token_endpoint,
            &self.introspection_endpoint,
            &self.revocation_endpoint,
        ]
        .into_iter()
        .flatten()
        {
            self.policy.check(url)?;
        }
        let http = warden_http::build_client(
            concat!("warden-client/", env!("CARGO_PKG_VERSION")),
            self.timeout,
        )?;
        Ok(OAuthClient {
            inner: Arc::new(ClientInner {
                http,
                issuer: self.issuer,
                token: self.token_endpoint,
                introspection: self.introspection_endpoint,
                revocation: self.revocation_endpoint,
                assertion_audience: self.assertion_audience,
                discovered: OnceCell::new(),
                auth: self.auth,
                policy: self.policy,
                max_body: warden_http::DEFAULT_MAX_BODY,
                timeout: self.timeout,
                dpop: self.dpop,
            }),
        })
    }
}

/// Settings that weaken security, reached through
/// [`OAuthClientBuilder::dangerous`].
#[derive(Debug)]
#[must_use]
pub struct DangerousOAuthClient(OAuthClientBuilder);

impl DangerousOAuthClient {
    /// Allows `http://` URLs, discovered ones included (loopback
    /// development).
    ///
    /// # Security
    /// Credentials and tokens cross the network in clear.
    pub fn allow_http(mut self) -> OAuthClientBuilder {
        self.0.policy = UrlPolicy::AllowHttp;
        self.0
    }
}

/// Which endpoint a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Authorization,
    Token,
    Introspection,
    Revocation,
}

impl OAuthClient {
    /// Starts a builder for a client authenticating with `auth`.
    pub fn builder(auth: ClientAuth) -> OAuthClientBuilder {
        OAuthClientBuilder {
            auth,
            issuer: None,
            token_endpoint: None,
            introspection_endpoint: None,
            revocation_endpoint: None,
            assertion_audience: None,
            policy: UrlPolicy::HttpsOnly,
            timeout: DEFAULT_TIMEOUT,
            dpop: None,
        }
    }

    /// The DPoP key token requests prove, if any.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.dpop.as_ref()
    }

    /// The client's id.
    pub fn client_id(&self) -> &str {
        self.inner.auth.client_id()
    }

    /// The server's metadata, discovered once (RFC 8414, OpenID Connect).
    async fn metadata(&self, issuer: &str) -> Result<&ServerMetadata, TokenSourceError> {
        let inner = &self.inner;
        inner
            .discovered
            .get_or_try_init(|| async {
                warden_http::discover(
                    &inner.http,
                    issuer,
                    inner.policy,
                    inner.max_body,
                    inner.timeout,
                )
                .await
                .map_err(|e| match e {
                    DiscoveryError::IssuerMismatch { .. } | DiscoveryError::Url(_) => {
                        TokenSourceError::Refused(Refusal::local(e.to_string()).with_source(e))
                    }
                    other => TokenSourceError::Unavailable(format!("discovery failed: {other}")),
                })
            })
            .await
    }

    async fn endpoint(&self, which: Endpoint) -> Result<String, TokenSourceError> {
        let inner = &self.inner;
        let explicit = match which {
            Endpoint::Authorization => &None,
            Endpoint::Token => &inner.token,
            Endpoint::Introspection => &inner.introspection,
            Endpoint::Revocation => &inner.revocation,
        };
        if let Some(url) = explicit {
            return Ok(url.clone());
        }
        let missing = |what: &str| {
            TokenSourceError::Refused(Refusal::local(format!("the server has no {what}")))
        };
        let Some(issuer) = &inner.issuer else {
            return Err(missing(match which {
                Endpoint::Authorization => "authorization endpoint",
                Endpoint::Token => "token endpoint",
                Endpoint::Introspection => "introspection endpoint",
                Endpoint::Revocation => "revocation endpoint",
            }));
        };
        let md = self.metadata(issuer).await?;
        let url = match which {
            Endpoint::Authorization => md
                .authorization_endpoint
                .clone()
                .ok_or_else(|| missing("authorization endpoint")),
            Endpoint::Token => md.token_endpoint.clone().ok_or_else(|| {
                TokenSourceError::Unavailable("discovery failed: no token_endpoint".into())
            }),
            Endpoint::Introspection => md
                .introspection_endpoint
                .clone()
                .ok_or_else(|| missing("introspection endpoint")),
            Endpoint::Revocation => md
                .revocation_endpoint
                .clone()
                .ok_or_else(|| missing("revocation endpoint")),
        }?;
        // A discovered endpoint obeys the same policy as a configured one.
        inner
            .policy
            .check(&url)
            .map_err(|e| TokenSourceError::Refused(Refusal::local(e.to_string()).with_source(e)))?;
        Ok(url)
    }

    /// The `aud` of client assertions: the configured one, else the issuer
    /// identifier when it is known (one assertion form serves every endpoint), else the token
    /// endpoint, else the endpoint called (RFC 7523 §3).
    fn assertion_audience<'a>(&'a self, url: &'a str) -> &'a str {
        let inner = &self.inner;
        inner
            .assertion_audience
            .as_deref()
            .or(inner.issuer.as_deref())
            .or(inner.token.as_deref())
            .unwrap_or(url)
    }

    /// POSTs `form` to the endpoint with client authentication; the status
    /// and the capped body.
    async fn post(
        &self,
        which: Endpoint,
        form: Vec<(&'static str, String)>,
    ) -> Result<(reqwest::StatusCode, warden_http::fetch::Bytes), TokenSourceError> {
        let url = self.endpoint(which).await?;
        let dpop = self
            .inner
            .dpop
            .as_ref()
            .filter(|_| which == Endpoint::Token);
        let (status, body, nonce) = self.post_once(&url, form.clone(), dpop).await?;
        // RFC 9449 §8: the server wants its nonce in the proof; once more.
        match (dpop, nonce) {
            (Some(key), Some(nonce)) => {
                key.remember_nonce(&url, &nonce);
                let (status, body, _) = self.post_once(&url, form, dpop).await?;
                Ok((status, body))
            }
            _ => Ok((status, body)),
        }
    }

    /// One POST; with a DPoP key, its proof, and the nonce a
    /// `use_dpop_nonce` answer asks for.
    async fn post_once(
        &self,
        url: &str,
        mut form: Vec<(&'static str, String)>,
        dpop: Option<&DpopKey>,
    ) -> Result<
        (
            reqwest::StatusCode,
            warden_http::fetch::Bytes,
            Option<String>,
        ),
        TokenSourceError,
    > {
        let mut req = self.inner.http.post(url);
        if let Some(key) = dpop {
            let proof = key
                .sign_proof("POST", url, None)
                .map_err(|e| TokenSourceError::Unavailable(format!("DPoP proof: {e}")))?;
            req = req.header("dpop", proof);
        }
        let req = self
            .inner
            .auth
            .apply(req, &mut form, self.assertion_audience(url))?;
        let unavailable = |e: warden_http::FetchError| TokenSourceError::Unavailable(e.to_string());
        let res = req
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(warden_http::FetchError::of(&e)))?;
        let status = res.status();
        let nonce = res
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = warden_http::read_capped(res, self.inner.max_body)
            .await
            .map_err(unavailable)?;
        let asks_nonce = dpop.is_some()
            && status == reqwest::StatusCode::BAD_REQUEST
            && serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v["error"] == "use_dpop_nonce");
        Ok((status, body, nonce.filter(|_| asks_nonce)))
    }

    /// A token request (RFC 6749 §4.4.2, §6; RFC 8693 §2.1).
    ///
    /// # Errors
    /// [`TokenSourceError::Refused`] with the server's error code for 4xx,
    /// [`TokenSourceError::Unavailable`] for connection failures and 5xx.
    pub async fn token_request(
        &self,
        form: Vec<(&'static str, String)>,
    ) -> Result<TokenResponse, TokenSourceError> {
        let grant = grant_label(&form);
        let result = match self.post(Endpoint::Token, form).await {
            Ok((status, body)) => token_result(status, &body),
            Err(e) => Err(e),
        };
        warden_core::metrics::outbound_token_request(grant, result.is_ok());
        result
    }

    /// The authorization endpoint (RFC 6749 §3.1), from discovery: where
    /// a web app sends the browser to sign in.
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request); a server without one is
    /// `Refused`.
    pub async fn authorization_endpoint(&self) -> Result<String, TokenSourceError> {
        self.endpoint(Endpoint::Authorization).await
    }

    /// Redeems an authorization code (RFC 6749 §4.1.3) with its PKCE
    /// verifier (RFC 7636 §4.5), at the redirect URI the code was sent to.
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request).
    pub async fn redeem_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<TokenResponse, TokenSourceError> {
        self.token_request(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.into()),
            ("redirect_uri", redirect_uri.into()),
            ("code_verifier", verifier.into()),
        ])
        .await
    }

    /// Revokes a token (RFC 7009 §2.1). A server that cannot record it now
    /// (503, as warden-issuer answers while its Redis has no master, during
    /// a failover; any 5xx or a failed connection) is asked again with
    /// backoff, 100 ms doubling to 2 s, for up to [`REVOKE_RETRY_FOR`]: a
    /// revocation is worth waiting for.
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request), once the retries are
    /// spent; a server without a revocation endpoint is `Refused` at once.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Result<(), TokenSourceError> {
        let deadline = tokio::time::Instant::now() + REVOKE_RETRY_FOR;
        let mut delay = Duration::from_millis(100);
        loop {
            match self.revoke_once(token, hint).await {
                Err(TokenSourceError::Unavailable(why))
                    if tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::info!(error = %why, retry_in_ms = delay.as_millis() as u64, "revocation not recorded; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    async fn revoke_once(&self, token: &str, hint: Option<&str>) -> Result<(), TokenSourceError> {
        let mut form = vec![("token", token.to_owned())];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.to_owned()));
        }
        let (status, body) = self.post(Endpoint::Revocation, form).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(error_of(status, &body))
        }
    }

    /// Introspects a token (RFC 7662 §2.1), with an optional
    /// `token_type_hint`.
    ///
    /// # Errors
    /// As [`token_request`](Self::token_request); an answer that is not a
    /// JSON object is `Unavailable`.
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<&str>,
    ) -> Result<IntrospectionResponse, TokenSourceError> {
        let mut form = vec![("token", token.to_owned())];
        if let Some(h) = hint {
            form.push(("token_type_hint", h.to_owned()));
        }
        let (status, body) = self.post(Endpoint::Introspection, form).await?;
        if !status.is_success() {
            return Err(error_of(status, &body));
        }
        introspection_result(&body)
    }
}

/// The `grant` label of a token request (a fixed set: never a value sent
/// by a caller unmapped).
fn grant_label(form: &[(&'static str, String)]) -> &'static str {
    let grant = form
        .iter()
        .find(|(k, _)| *k == "grant_type")
        .map(|(_, v)| v.as_str());
    match grant {
        Some("client_credentials") => "client_credentials",
        Some(warden_core::urn::GRANT_TOKEN_EXCHANGE) => "token_exchange",
        Some("refresh_token") => "refresh_token",
        Some("authorization_code") => "authorization_code",
        _ => "other",
    }
}
