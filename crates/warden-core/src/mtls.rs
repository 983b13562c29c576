//! Certificate-bound access tokens, RFC 8705 §3
//! (<https://www.rfc-editor.org/rfc/rfc8705#section-3>): a token whose
//! `cnf` holds `x5t#S256` is accepted only from a client presenting that
//! certificate.
//!
//! The certificate reaches the authenticate layer as a [`ClientCertificate`]
//! in the request's extensions, put there by whoever saw it:
//!
//! - the TLS server itself (warden-axum's `mtls` feature serves an axum app
//!   over rustls and inserts it), or
//! - behind a proxy that terminated TLS, and **only** behind one the
//!   service trusts to set it, [`ClientCertHeaderLayer`] reading RFC 9440's
//!   `Client-Cert` header or Envoy's `x-forwarded-client-cert`. A service
//!   reachable without that proxy must not use it: anyone could send the
//!   header.
//!
//! A bound token without a matching certificate is `invalid_token`; an
//! unbound token is unaffected by a certificate.

use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderName, Request};
use sha2::{Digest, Sha256};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{AuthError, InvalidToken};
use crate::principal::Principal;

/// The client certificate a request came with: its SHA-256 thumbprint,
/// base64url as `x5t#S256` has it (RFC 8705 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    thumbprint: String,
}

impl ClientCertificate {
    /// The certificate of DER bytes `der`.
    pub fn from_der(der: &[u8]) -> Self {
        Self {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(der)),
        }
    }

    /// A certificate known by its SHA-256 digest (32 bytes).
    pub fn from_sha256(digest: [u8; 32]) -> Self {
        Self {
            thumbprint: URL_SAFE_NO_PAD.encode(digest),
        }
    }

    /// The `x5t#S256` thumbprint.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// The certificate binding of an authenticated request: a token bound to a
/// certificate needs that certificate on the request.
pub(crate) fn certificate_binding(
    principal: &Principal,
    extensions: &http::Extensions,
) -> Result<(), AuthError> {
    let Some(bound) = principal.claims().cnf.x5t_s256.as_deref() else {
        return Ok(());
    };
    match extensions.get::<ClientCertificate>() {
        Some(cert) if cert.thumbprint == bound => Ok(()),
        _ => Err(InvalidToken::CertificateMismatch.into()),
    }
}

/// Which header a trusted proxy puts the client certificate in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertHeader {
    /// RFC 9440 `Client-Cert`: the DER certificate as a structured-field
    /// byte sequence (`:base64:`).
    Rfc9440,
    /// Envoy's `x-forwarded-client-cert`: one element whose `Hash` is the
    /// hex SHA-256 of the DER certificate (several elements, a chain of
    /// proxies, are not read).
    EnvoyXfcc,
}

impl CertHeader {
    fn name(self) -> HeaderName {
        match self {
            CertHeader::Rfc9440 => HeaderName::from_static("client-cert"),
            CertHeader::EnvoyXfcc => HeaderName::from_static("x-forwarded-client-cert"),
        }
    }

    /// The certificate one header value names, if it is well formed.
    pub fn parse(self, value: &str) -> Option<ClientCertificate> {
        match self {
            CertHeader::Rfc9440 => {
                let b64 = value.trim().strip_prefix(':')?.strip_suffix(':')?;
                let der = STANDARD.decode(b64).ok()?;
                (!der.is_empty()).then(|| ClientCertificate::from_der(&der))
            }
            CertHeader::EnvoyXfcc => {
                if value.contains(',') {
                    return None;
                }
                let hash = value
                    .split(';')
                    .find_map(|kv| kv.trim().strip_prefix("Hash="))?
                    .trim_matches('"');
                let mut digest = [0u8; 32];
                if hash.len() != 64 {
                    return None;
                }
                for (i, byte) in digest.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(hash.get(2 * i..2 * i + 2)?, 16).ok()?;
                }
                Some(ClientCertificate::from_sha256(digest))
            }
        }
    }
}

/// Reads the client certificate a trusted TLS-terminating proxy forwards
/// (see the [module docs](self)) into a [`ClientCertificate`] extension.
/// One header value, well formed, or no certificate at all; a certificate
/// already in the extensions (from the TLS server) wins.
#[derive(Debug, Clone, Copy)]
pub struct ClientCertHeaderLayer {
    header: CertHeader,
}

impl ClientCertHeaderLayer {
    /// Trusts the proxy in front to set `header`.
    pub fn trusting(header: CertHeader) -> Self {
        Self { header }
    }
}

impl<S> Layer<S> for ClientCertHeaderLayer {
    type Service = ClientCertHeader<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientCertHeader {
            inner,
            header: self.header,
        }
    }
}

/// The service made by [`ClientCertHeaderLayer`].
#[derive(Debug, Clone)]
pub struct ClientCertHeader<S> {
    inner: S,
    header: CertHeader,
}

impl<S, B> Service<Request<B>> for ClientCertHeader<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if req.extensions().get::<ClientCertificate>().is_none() {
            let mut values = req.headers().get_all(self.header.name()).iter();
            let cert = match (values.next(), values.next()) {
                (Some(v), None) => v.to_str().ok().and_then(|v| self.header.parse(v)),
                _ => None,
            };
            if let Some(cert) = cert {
                req.extensions_mut().insert(cert);
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_to_the_same_thumbprint() {
        let der = b"not really a certificate, but bytes";
        let want = ClientCertificate::from_der(der);
        let rfc = format!(":{}:", STANDARD.encode(der));
        assert_eq!(CertHeader::Rfc9440.parse(&rfc), Some(want.clone()));
        let hex: String = Sha256::digest(der)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let xfcc = format!("By=spiffe://a/b;Hash={hex};Subject=\"CN=client\"");
        assert_eq!(CertHeader::EnvoyXfcc.parse(&xfcc), Some(want));
        for bad in ["", "::", "abc", ":!!:"] {
            assert_eq!(CertHeader::Rfc9440.parse(bad), None, "{bad}");
        }
        for bad in ["Hash=zz", "By=x", &format!("Hash={hex},Hash={hex}")] {
            assert_eq!(CertHeader::EnvoyXfcc.parse(bad), None, "{bad}");
        }
    }
}
