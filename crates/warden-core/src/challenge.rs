//! Rendering rejections: the RFC 6750 §3 `WWW-Authenticate` challenge
//! (<https://www.rfc-editor.org/rfc/rfc6750#section-3>) with the RFC 9728 §5.1
//! `resource_metadata` parameter, and the gRPC trailers-only form
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>).

use std::sync::Arc;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode, Version};

use crate::bearer::Scheme;
use crate::dpop::DpopPolicy;
use crate::error::AuthError;

/// Which wire format a rejection takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// gRPC when the request came over HTTP/2 and its `content-type` starts
    /// with `application/grpc` (gRPC runs only on HTTP/2: an HTTP/1.1 client
    /// would read a 200 with `grpc-status` as a success), HTTP otherwise.
    /// The default.
    #[default]
    Auto,
    /// Always an HTTP status with a `WWW-Authenticate` challenge.
    Http,
    /// Always a gRPC trailers-only response: HTTP 200 with `grpc-status`.
    Grpc,
}

impl Protocol {
    /// Whether a request with these headers, over this HTTP version, gets a
    /// gRPC rejection.
    pub fn is_grpc(self, headers: &http::HeaderMap, version: Version) -> bool {
        match self {
            Protocol::Http => false,
            Protocol::Grpc => true,
            Protocol::Auto => {
                version == Version::HTTP_2
                    && headers
                        .get(CONTENT_TYPE)
                        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
            }
        }
    }
}

/// The parameters of the `Bearer` challenge that do not depend on the error.
///
/// By default there are none, so a request without credentials gets exactly
/// `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    realm: Option<Arc<str>>,
    resource_metadata: Option<Arc<str>>,
    protocol: Protocol,
    dpop: Option<Arc<DpopChallenge>>,
}

/// The `DPoP` challenge's fixed part.
#[derive(Debug)]
struct DpopChallenge {
    algs: String,
    require: bool,
}

impl Challenge {
    /// A challenge with no realm, no resource metadata, protocol [`Protocol::Auto`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `realm` attribute (RFC 6750 §3).
    #[must_use]
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into().into());
        self
    }

    /// Sets the `resource_metadata` attribute: the URL of this resource's
    /// RFC 9728 metadata document.
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into().into());
        self
    }

    /// Chooses the wire format of rejections.
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The configured protocol.
    pub fn get_protocol(&self) -> Protocol {
        self.protocol
    }

    /// Adds the `DPoP` challenge (RFC 9449 §7.1) with the accepted proof
    /// algorithms: next to `Bearer` under [`DpopPolicy::Allow`], alone under
    /// [`DpopPolicy::Require`]; [`DpopPolicy::Off`] removes it.
    #[must_use]
    pub fn dpop(mut self, algs: &[&str], policy: DpopPolicy) -> Self {
        self.dpop = match policy {
            DpopPolicy::Off => None,
            _ => Some(Arc::new(DpopChallenge {
                algs: algs.join(" "),
                require: policy == DpopPolicy::Require,
            })),
        };
        self
    }

    /// The `WWW-Authenticate` value for `error` (the first challenge, for a
    /// request that came without DPoP), or `None` for errors that carry no
    /// challenge (503).
    pub fn www_authenticate(&self, error: &AuthError) -> Option<HeaderValue> {
        self.challenges(error, None).into_iter().next()
    }

    /// Every `WWW-Authenticate` value for `error` on a request whose token
    /// came with `scheme`: `Bearer`, and `DPoP` when configured. The error
    /// parameters go to the challenge of the scheme the request used (a
    /// proof error always to `DPoP`, and everything to `DPoP` when it is
    /// required); none for 503.
    pub fn challenges(&self, error: &AuthError, scheme: Option<Scheme>) -> Vec<HeaderValue> {
        if matches!(error, AuthError::Unavailable(_)) {
            return Vec::new();
        }
        let Some(dpop) = &self.dpop else {
            // Only a DPoP-configured layer upstream accepts DPoP: this
            // layer answers such a request in its scheme, without `algs`.
            let name = if scheme == Some(Scheme::Dpop) {
                "DPoP"
            } else {
                "Bearer"
            };
            return self.render(name, None, Some(error)).into_iter().collect();
        };
        let on_dpop = dpop.require
            || scheme == Some(Scheme::Dpop)
            || matches!(error, AuthError::InvalidDpopProof(_));
        let mut out = Vec::with_capacity(2);
        if !dpop.require {
            out.extend(self.render("Bearer", None, (!on_dpop).then_some(error)));
        }
        out.extend(self.render("DPoP", Some(&dpop.algs), on_dpop.then_some(error)));
        out
    }

    /// One challenge: `scheme`, `realm`, DPoP's `algs`, the error's
    /// parameters, `resource_metadata`.
    fn render(
        &self,
        scheme: &str,
        algs: Option<&str>,
        error: Option<&AuthError>,
    ) -> Option<HeaderValue> {
        let mut out = String::with_capacity(128);
        out.push_str(scheme);
        let mut first = true;
        let mut param = |out: &mut String, name: &str, value: &str| {
            out.push_str(if first { " " } else { ", " });
            first = false;
            out.push_str(name);
            out.push_str("=\"");
            push_quoted(out, value);
            out.push('"');
        };
        if let Some(realm) = &self.realm {
            param(&mut out, "realm", realm);
        }
        if let Some(algs) = algs {
            param(&mut out, "algs", algs);
        }
        if let Some(error) = error {
            if let Some(code) = error.error_code() {
                param(&mut out, "error", code);
                param(&mut out, "error_description", error.description());
            }
            if let AuthError::InsufficientScope { required } = error {
                param(&mut out, "scope", required);
            }
        }
        if let Some(url) = &self.resource_metadata {
            param(&mut out, "resource_metadata", url);
        }
        // Every byte pushed is visible ASCII or SP (push_quoted drops the rest).
        HeaderValue::from_str(&out).ok()
    }

    /// Renders `error` as a response in the wire format chosen for
    /// `request`.
    pub fn response<B: Default, R>(&self, error: &AuthError, request: &Request<R>) -> Response<B> {
        self.response_for(error, request, None)
    }

    /// Like [`response`](Self::response), for a request whose token came
    /// with `scheme` (see [`challenges`](Self::challenges)).
    pub fn response_for<B: Default, R>(
        &self,
        error: &AuthError,
        request: &Request<R>,
        scheme: Option<Scheme>,
    ) -> Response<B> {
        if self.protocol.is_grpc(request.headers(), request.version()) {
            self.grpc_with(error, scheme)
        } else {
            self.http_with(error, scheme)
        }
    }

    /// Renders `error` as an HTTP response: the status, the challenge,
    /// `Cache-Control: no-store` (a rejection is never reused by a cache),
    /// an empty body; 503 adds `Retry-After`.
    pub fn http_response<B: Default>(&self, error: &AuthError) -> Response<B> {
        self.http_with(error, None)
    }

    fn http_with<B: Default>(&self, error: &AuthError, scheme: Option<Scheme>) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = error.status();
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for v in self.challenges(error, scheme) {
            res.headers_mut().append(WWW_AUTHENTICATE, v);
        }
        if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        mark(&mut res, error);
        res
    }

    /// Renders `error` as a gRPC trailers-only response: HTTP 200,
    /// `content-type: application/grpc`, `grpc-status`, `grpc-message`, and
    /// the RFC 6750 challenge in `www-authenticate` metadata.
    pub fn grpc_response<B: Default>(&self, error: &AuthError) -> Response<B> {
        self.grpc_with(error, None)
    }

    fn grpc_with<B: Default>(&self, error: &AuthError, scheme: Option<Scheme>) -> Response<B> {
        let mut res = Response::new(B::default());
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert("grpc-status", HeaderValue::from(error.grpc_code().as_u16()));
        // Descriptions are fixed ASCII without '%': no percent-encoding needed.
        headers.insert(
            "grpc-message",
            HeaderValue::from_static(error.description()),
        );
        for v in self.challenges(error, scheme) {
            headers.append(WWW_AUTHENTICATE, v);
        }
        mark(&mut res, error);
        res
    }
}

/// With metrics on, a refusal carries its [`Outcome`](crate::metrics::Outcome)
/// in its extensions, so that an outer authenticate layer counts a scope
/// refusal made inside it as `forbidden`, not `allowed`.
#[inline]
fn mark<B>(res: &mut Response<B>, error: &AuthError) {
    #[cfg(feature = "metrics")]
    res.extensions_mut()
        .insert(crate::metrics::Outcome::of(error));
    #[cfg(not(feature = "metrics"))]
    let _ = (res, error);
}

/// Appends `value` as the content of an RFC 9110 quoted-string: `"` and `\`
/// are backslash-escaped, control characters and non-ASCII are dropped.
fn push_quoted(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' | '\t' => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{InvalidRequest, InvalidToken, Unavailable};

    fn www(c: &Challenge, e: AuthError) -> Option<String> {
        c.www_authenticate(&e)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn challenges_are_exact() {
        let c = Challenge::new();
        assert_eq!(www(&c, AuthError::MissingToken).as_deref(), Some("Bearer"));
        assert_eq!(
            www(&c, InvalidToken::Expired.into()).as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="the token has expired""#)
        );
        assert_eq!(
            www(&c, InvalidRequest::MultipleCredentials.into()).as_deref(),
            Some(
                r#"Bearer error="invalid_request", error_description="more than one credential was sent""#
            )
        );
        assert_eq!(
            www(
                &c,
                AuthError::InsufficientScope {
                    required: "a b".into()
                }
            )
            .as_deref(),
            Some(
                r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="a b""#
            )
        );
        assert_eq!(www(&c, Unavailable::NoKeys.into()), None);
    }

    #[test]
    fn realm_and_metadata_are_quoted_and_escaped() {
        let c = Challenge::new()
            .realm(r#"my "api" \ zone"#)
            .resource_metadata("https://api.example/.well-known/oauth-protected-resource");
        assert_eq!(
            www(&c, AuthError::MissingToken).as_deref(),
            Some(
                r#"Bearer realm="my \"api\" \\ zone", resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
            )
        );
        let c = Challenge::new().realm("a\r\nb\u{e9}");
        assert_eq!(
            www(&c, AuthError::MissingToken).as_deref(),
            Some(r#"Bearer realm="ab""#)
        );
    }

    #[test]
    fn grpc_rendering() {
        let c = Challenge::new();
        let res: Response<()> = c.grpc_response(&InvalidToken::Expired.into());
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["grpc-status"], "16");
        assert_eq!(res.headers()["content-type"], "application/grpc");
        let res: Response<()> = c.grpc_response(&AuthError::InsufficientScope {
            required: "x".into(),
        });
        assert_eq!(res.headers()["grpc-status"], "7");
        let res: Response<()> = c.grpc_response(&Unavailable::NoKeys.into());
        assert_eq!(res.headers()["grpc-status"], "14");
        assert!(res.headers().get("www-authenticate").is_none());
    }

    #[test]
    fn auto_detects_grpc() {
        let mut h = http::HeaderMap::new();
        assert!(!Protocol::Auto.is_grpc(&h, Version::HTTP_2));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(Protocol::Auto.is_grpc(&h, Version::HTTP_2));
        // gRPC needs HTTP/2: over HTTP/1.1 the rejection is plain HTTP.
        assert!(!Protocol::Auto.is_grpc(&h, Version::HTTP_11));
        assert!(Protocol::Grpc.is_grpc(&h, Version::HTTP_11));
        assert!(!Protocol::Http.is_grpc(&h, Version::HTTP_2));
    }
}
