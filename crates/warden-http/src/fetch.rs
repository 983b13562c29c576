//! The HTTP GET that discovery and JWKS fetches use, replaceable so that one
//! client can be shared (or swapped for another stack), and the one capped
//! read of a response body that every warden exchange goes through.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use bytes::Bytes;

/// The default cap on a response body from an authorization server: JWKS,
/// discovery, token, introspection and revocation responses.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// What a fetch returns: the status, the `Cache-Control` header if any, and
/// a body no larger than the cap.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Cache-Control` response header.
    pub cache_control: Option<String>,
    /// The body.
    pub body: Bytes,
}

impl FetchResponse {
    /// A response (for [`Fetch`] implementations outside this crate).
    pub fn new(status: u16, cache_control: Option<String>, body: Bytes) -> Self {
        Self {
            status,
            cache_control,
            body,
        }
    }
}

/// Why an exchange failed. The texts never hold a URL's credentials or a
/// body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The whole exchange took longer than its bound.
    #[error("timed out")]
    Timeout,
    /// No connection could be made.
    #[error("connection failed")]
    Connect,
    /// The server answered with a redirect, which is never followed.
    #[error("redirects are not followed")]
    Redirect,
    /// The body is larger than the cap.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// Any other failure of the request or of reading the body.
    #[error("request failed")]
    Request,
}

impl FetchError {
    /// The error a reqwest failure stands for.
    pub fn of(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            FetchError::Timeout
        } else if e.is_connect() {
            FetchError::Connect
        } else if e.is_redirect() {
            FetchError::Redirect
        } else {
            FetchError::Request
        }
    }
}

/// Reads `res`'s body, failing as soon as it exceeds `max_body` bytes (a
/// declared `Content-Length` is checked before anything is read).
///
/// # Errors
/// [`FetchError::TooLarge`], or the read's own failure.
pub async fn read_capped(mut res: reqwest::Response, max_body: usize) -> Result<Bytes, FetchError> {
    if res.content_length().is_some_and(|l| l > max_body as u64) {
        return Err(FetchError::TooLarge(max_body));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| FetchError::of(&e))? {
        if body.len() + chunk.len() > max_body {
            return Err(FetchError::TooLarge(max_body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// A boxed fetch future.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchResponse, FetchError>> + Send + 'a>>;

/// Fetches a URL with a body cap. Implemented for `reqwest::Client`.
pub trait Fetch: Send + Sync + 'static {
    /// GETs `url`, failing when the body exceeds `max_body` bytes or the
    /// whole exchange exceeds `timeout`.
    fn get<'a>(&'a self, url: &'a str, max_body: usize, timeout: Duration) -> FetchFuture<'a>;
}

impl Fetch for reqwest::Client {
    fn get<'a>(&'a self, url: &'a str, max_body: usize, timeout: Duration) -> FetchFuture<'a> {
        Box::pin(async move {
            let work = async {
                let res = self
                    .get(url)
                    .header(http::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|e| FetchError::of(&e))?;
                let status = res.status().as_u16();
                let cache_control = res
                    .headers()
                    .get(http::header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = read_capped(res, max_body).await?;
                Ok(FetchResponse {
                    status,
                    cache_control,
                    body,
                })
            };
            tokio::time::timeout(timeout, work)
                .await
                .map_err(|_| FetchError::Timeout)?
        })
    }
}
