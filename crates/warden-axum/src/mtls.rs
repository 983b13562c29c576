//! Serving an axum app over TLS with client certificates (feature `mtls`):
//! the peer's certificate becomes a
//! [`ClientCertificate`](warden_core::mtls::ClientCertificate) in every
//! request's extensions, where the authenticate layer checks
//! certificate-bound tokens against it (RFC 8705 §3,
//! <https://www.rfc-editor.org/rfc/rfc8705#section-3>).
//!
//! The rustls configuration decides which certificates are asked for and
//! trusted (a `WebPkiClientVerifier` with the clients' CA); a connection
//! without one carries no certificate, and a bound token on it is refused.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt;
use warden_core::mtls::ClientCertificate;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` over TLS with `config` (HTTP/1.1), each
/// request carrying the peer's leaf certificate, if it sent one. Runs
/// until the listener fails; a connection that fails its handshake, or
/// takes longer than 10 s, is dropped alone.
///
/// # Errors
/// The listener's error.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: Router,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of descriptors and the like: back off, keep serving.
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|c| ClientCertificate::from_der(c.as_ref()));
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let mut req = req.map(Body::new);
                    if let Some(cert) = &cert {
                        req.extensions_mut().insert(cert.clone());
                    }
                    app.clone().oneshot(req)
                });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24)
}
