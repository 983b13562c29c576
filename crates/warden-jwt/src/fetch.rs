//! The HTTP GET that discovery and JWKS fetches use, replaceable so that one
//! client can be shared (or swapped for another stack).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use bytes::Bytes;

/// What a fetch returns: the status, the `Cache-Control` header if any, and
/// a body no larger than the cap.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Cache-Control` response header.
    pub cache_control: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// The default cap on a response body from an authorization server: JWKS,
/// discovery, token, introspection and revocation responses.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// Reads `res`'s body, failing as soon as it exceeds `max_body` bytes (a
/// declared `Content-Length` is checked before anything is read). The one
/// capped read every warden HTTP exchange goes through.
///
/// # Errors
/// A short description: the body is too large, or the read failed.
pub async fn read_capped(mut res: reqwest::Response, max_body: usize) -> Result<Bytes, String> {
    if res.content_length().is_some_and(|l| l > max_body as u64) {
        return Err(format!("body larger than {max_body} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max_body {
            return Err(format!("body larger than {max_body} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// A boxed fetch future.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<FetchResponse, String>> + Send + 'a>>;

/// Fetches a URL with a body cap. Implemented for `reqwest::Client`; the
/// error string says what went wrong (it never contains credentials).
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
                    .map_err(|e| describe(&e))?;
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
                .map_err(|_| format!("timed out after {timeout:?}"))?
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_redirect() {
        "redirects are not followed".into()
    } else {
        "request failed".into()
    }
}

/// The default client: no redirects (a redirect could leave https), 5 s
/// connect timeout.
pub(crate) fn default_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("warden-jwt/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
