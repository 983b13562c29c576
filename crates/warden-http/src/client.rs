//! The one way warden builds an HTTP client for an authorization server:
//! redirects are never followed (a redirect could leave https or send a
//! credential elsewhere, RFC 9700 §4.11), every request is bounded in time,
//! and the user agent names the component.

use std::time::Duration;

/// The HTTP client could not be built (no TLS backend could start, for
/// example). Components fail to build with it rather than fall back to a
/// default client that follows redirects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// A client that follows no redirect, connects within 5 s, finishes each
/// request within `timeout`, and sends `User-Agent: user_agent`.
///
/// ```
/// let client = warden_http::build_client("warden-doc/0", std::time::Duration::from_secs(5));
/// assert!(client.is_ok());
/// ```
///
/// # Errors
/// [`ClientBuildError`] when reqwest cannot build the client.
pub fn build_client(
    user_agent: &str,
    timeout: Duration,
) -> Result<reqwest::Client, ClientBuildError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(user_agent)
        .build()
        .map_err(|e| ClientBuildError(e.to_string()))
}
