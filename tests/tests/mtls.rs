//! Certificate-bound tokens (#16 item 2, RFC 8705 §3) over a real rustls
//! connection: a token bound to a client certificate works with that
//! certificate only; and behind a trusted proxy, from the RFC 9440 and
//! Envoy headers.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use tokio_rustls::rustls;
use warden::RequireBearerLayer;
use warden::inbound::mtls::{CertHeader, ClientCertHeaderLayer, ClientCertificate};
use warden_issuer::TestIssuer;

const AUD: &str = "api://orders";

/// A CA, a server certificate for 127.0.0.1 and two client certificates.
struct Pki {
    ca_pem: String,
    server: (String, String),
    alice: (String, String, Vec<u8>),
    mallory: (String, String),
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    };
    let server = leaf(vec!["127.0.0.1".into()]);
    let alice = leaf(vec!["alice.clients.example".into()]);
    let mallory = leaf(vec!["mallory.clients.example".into()]);
    Pki {
        ca_pem: ca.pem(),
        server: (server.0, server.1),
        alice,
        mallory: (mallory.0, mallory.1),
    }
}

fn server_config(pki: &Pki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    // Client certificates are asked for, verified against the CA, optional.
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let cert = CertificateDer::from_pem_slice(pki.server.0.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server.1.as_bytes()).unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

fn client(pki: &Pki, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        let pem = format!("{cert}{key}");
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn thumbprint(der: &[u8]) -> String {
    ClientCertificate::from_der(der).thumbprint().to_owned()
}

#[tokio::test]
async fn a_certificate_bound_token_works_with_its_certificate_only() {
    let pki = pki();
    let issuer = TestIssuer::start().await.unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(RequireBearerLayer::new(validator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}/orders",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(warden::inbound::mtls::serve(
        listener,
        server_config(&pki),
        app,
    ));

    let mut claims = issuer.claims(AUD);
    claims["cnf"] = json!({"x5t#S256": thumbprint(&pki.alice.2)});
    let bound = issuer.mint(&claims).unwrap();
    let plain = issuer.mint(&issuer.claims(AUD)).unwrap();
    let alice = client(&pki, Some((&pki.alice.0, &pki.alice.1)));
    let mallory = client(&pki, Some((&pki.mallory.0, &pki.mallory.1)));
    let anonymous = client(&pki, None);
    let status = |c: &reqwest::Client, token: &str| {
        let req = c.get(&url).bearer_auth(token);
        async move {
            let res = req.send().await.unwrap();
            let www = res
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), www)
        }
    };
    assert_eq!(status(&alice, &bound).await.0, 200, "with its certificate");
    for (who, c) in [
        ("another certificate", &mallory),
        ("no certificate", &anonymous),
    ] {
        let (code, www) = status(c, &bound).await;
        assert_eq!(code, 401, "{who}");
        assert!(
            www.unwrap().contains("bound to a client certificate"),
            "{who}"
        );
    }
    // An unbound token does not care which certificate comes with it.
    for c in [&alice, &mallory, &anonymous] {
        assert_eq!(status(c, &plain).await.0, 200);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_headers_carry_the_certificate() {
    let pki = pki();
    let issuer = TestIssuer::start().await.unwrap();
    let mut claims = issuer.claims(AUD);
    claims["cnf"] = json!({"x5t#S256": thumbprint(&pki.alice.2)});
    let bound = issuer.mint(&claims).unwrap();
    for header in [CertHeader::Rfc9440, CertHeader::EnvoyXfcc] {
        let validator = warden_tests::jwt_validator(issuer.issuer(), AUD);
        let app = Router::new()
            .route("/orders", get(|| async { "orders" }))
            .layer(RequireBearerLayer::new(validator))
            .layer(ClientCertHeaderLayer::trusting(header));
        let url = format!("http://{}/orders", warden_tests::serve(app).await);
        let value = |der: &[u8]| match header {
            CertHeader::Rfc9440 => {
                use base64::Engine;
                format!(
                    ":{}:",
                    base64::engine::general_purpose::STANDARD.encode(der)
                )
            }
            _ => {
                format!("By=spiffe://orders;Hash={};Subject=\"CN=x\"", hex(der))
            }
        };
        let name = match header {
            CertHeader::Rfc9440 => "client-cert",
            _ => "x-forwarded-client-cert",
        };
        let auth = format!("Bearer {bound}");
        let good = value(&pki.alice.2);
        let r = warden_tests::get(&url, &[("authorization", &auth), (name, &good)]).await;
        assert_eq!(r.status, 200, "{header:?}");
        let other = value(b"another certificate");
        let r = warden_tests::get(&url, &[("authorization", &auth), (name, &other)]).await;
        assert_eq!(r.status, 401, "{header:?}");
        let r = warden_tests::get(&url, &[("authorization", &auth)]).await;
        assert_eq!(r.status, 401, "{header:?}: no header");
        // Two values: not trusted.
        let r = warden_tests::get(
            &url,
            &[("authorization", &auth), (name, &good), (name, &good)],
        )
        .await;
        assert_eq!(r.status, 401, "{header:?}: two headers");
    }
}

/// Hex SHA-256, as Envoy writes `Hash`.
fn hex(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
