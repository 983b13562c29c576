//! The Inventory service over real loopback gRPC: a tonic client against the
//! tonic server, keys from a real warden-issuer.

use std::time::Duration;

use example_grpc_inventory::pb::inventory_client::InventoryClient;
use example_grpc_inventory::pb::{GetItemRequest, ReserveItemRequest, WatchItemsRequest};
use serde_json::json;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use warden::JwtValidator;
use warden::inbound::jwt::JwksCacheConfig;
use warden::outbound::{AttachBearerLayer, StaticToken};
use warden_issuer::{Algorithm, Mode, TestIssuer};

const AUD: &str = "api://inventory";

async fn start_server(validator: JwtValidator) -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_grpc_inventory::serve(
        listener,
        validator,
        std::future::pending(),
    ));
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).unwrap();
    for _ in 0..100 {
        if let Ok(ch) = endpoint.connect().await {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server did not come up");
}

fn validator(issuer: &TestIssuer) -> JwtValidator {
    JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .jwks_cache(JwksCacheConfig::default().retry_min(Duration::from_secs(3600)))
        .dangerous()
        .allow_http()
        .build()
        .unwrap()
}

fn token(issuer: &TestIssuer, scope: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut c = issuer.claims(AUD);
    c["scope"] = json!(scope);
    edit(&mut c);
    issuer.mint(&c).unwrap()
}

fn with_auth<T>(msg: T, auth: Option<&str>) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(a) = auth {
        req.metadata_mut()
            .insert("authorization", a.parse().unwrap());
    }
    req
}

fn challenge(status: &Status) -> Option<String> {
    status
        .metadata()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn unary_calls_are_authenticated_and_scoped() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let mut client = InventoryClient::new(start_server(validator(&issuer)).await);
    let get = |auth: Option<&str>| {
        with_auth(
            GetItemRequest {
                sku: "apple".into(),
            },
            auth,
        )
    };
    let bearer = |token: &str| get(Some(&format!("Bearer {token}")));

    // Missing token: UNAUTHENTICATED with a bare challenge.
    let s = client.get_item(get(None)).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(challenge(&s).as_deref(), Some("Bearer"));

    // Malformed credential.
    let s = client.get_item(get(Some("Bearer a b"))).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        challenge(&s).as_deref(),
        Some(
            r#"Bearer error="invalid_request", error_description="the bearer credential is malformed""#
        )
    );
    let s = client
        .get_item(get(Some("Bearer not.a.jwt")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(
        challenge(&s).as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the token is malformed""#)
    );

    // Expired, wrong audience.
    let expired = token(&issuer, "inventory:read", |c| {
        c["exp"] = json!(warden_issuer::now_secs() - 3600)
    });
    let s = client.get_item(bearer(&expired)).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(s.message(), "the token has expired");
    assert_eq!(
        challenge(&s).as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the token has expired""#)
    );
    let foreign = token(&issuer, "inventory:read", |c| {
        c["aud"] = json!("api://orders")
    });
    let s = client.get_item(bearer(&foreign)).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(s.message(), "the token audience is not accepted");

    // Valid, with and without the method's scope.
    let reader = token(&issuer, "inventory:read", |_| {});
    let item = client.get_item(bearer(&reader)).await.unwrap().into_inner();
    assert_eq!(
        (item.sku.as_str(), item.available, item.caller.as_str()),
        ("apple", 10, "alice")
    );

    let reserve = |auth: &str| {
        with_auth(
            ReserveItemRequest {
                sku: "apple".into(),
                quantity: 3,
            },
            Some(auth),
        )
    };
    let s = client
        .reserve_item(reserve(&format!("Bearer {reader}")))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    assert_eq!(
        challenge(&s).as_deref(),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="inventory:write""#
        )
    );
    let writer = token(&issuer, "inventory:write", |c| {
        c["sub"] = json!("svc-orders")
    });
    let item = client
        .reserve_item(reserve(&format!("Bearer {writer}")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((item.available, item.caller.as_str()), (7, "svc-orders"));
}

#[tokio::test]
async fn streaming_calls_are_authorized_and_denied() {
    let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await.unwrap();
    let mut client = InventoryClient::new(start_server(validator(&issuer)).await);
    let reader = token(&issuer, "inventory:read", |_| {});
    let items = watch(&mut client, Some(&reader)).await.unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i.caller == "alice"));

    let writer_only = token(&issuer, "inventory:write", |_| {});
    let s = watch(&mut client, Some(&writer_only)).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = watch(&mut client, None).await.unwrap_err();
    assert_eq!(s.code(), Code::Unauthenticated);
}

/// Every item `WatchItems` streams, the call carrying `token` as Bearer.
async fn watch(
    client: &mut InventoryClient<Channel>,
    token: Option<&str>,
) -> Result<Vec<example_grpc_inventory::pb::Item>, Status> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let stream = client
        .watch_items(with_auth(WatchItemsRequest {}, auth.as_deref()))
        .await?
        .into_inner();
    stream.collect().await
}

#[tokio::test]
async fn keys_unavailable_is_unavailable() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_mode(Mode::Down);
    let mut client = InventoryClient::new(start_server(validator(&issuer)).await);
    let t = token(&issuer, "inventory:read", |_| {});
    let s = client
        .get_item(with_auth(
            GetItemRequest {
                sku: "apple".into(),
            },
            Some(&format!("Bearer {t}")),
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::Unavailable);
    assert!(challenge(&s).is_none());
}

#[tokio::test]
async fn the_attach_layer_puts_the_token_on_a_channel() {
    let issuer = TestIssuer::start().await.unwrap();
    let channel = start_server(validator(&issuer)).await;
    let t = token(&issuer, "inventory:read inventory:write", |c| {
        c["sub"] = json!("svc-batch")
    });
    let svc = tower::ServiceBuilder::new()
        .layer(AttachBearerLayer::new(StaticToken::new(t)))
        .service(channel);
    let mut client = InventoryClient::new(svc);
    let item = client
        .get_item(GetItemRequest { sku: "pear".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((item.available, item.caller.as_str()), (5, "svc-batch"));
    let s = client
        .get_item(GetItemRequest { sku: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(
        s.code(),
        Code::NotFound,
        "application errors pass through untouched"
    );
}

#[tokio::test]
async fn one_validator_serves_axum_and_tonic() {
    use axum::routing::get;
    use warden::{Auth, RequireBearerLayer};

    let issuer = TestIssuer::start().await.unwrap();
    let v = validator(&issuer);
    let mut client = InventoryClient::new(start_server(v.clone()).await);
    let app = axum::Router::new()
        .route(
            "/me",
            get(|Auth(p): Auth| async move { p.subject().unwrap_or("-").to_owned() }),
        )
        .layer(RequireBearerLayer::new(v));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let t = token(&issuer, "inventory:read", |_| {});
    let item = client
        .get_item(with_auth(
            GetItemRequest { sku: "plum".into() },
            Some(&format!("Bearer {t}")),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(item.caller, "alice");
    let body = reqwest::Client::new()
        .get(format!("http://{addr}/me"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "alice");
    assert_eq!(issuer.jwks_hits(), 1, "one key cache behind both servers");
}

/// DPoP over gRPC (#16): the same verdicts as over HTTP, as gRPC statuses;
/// the proof is made for `POST <public URL>/<service>/<method>`.
#[tokio::test]
async fn dpop_bound_tokens_over_grpc() {
    use example_grpc_inventory::InventoryService;
    use example_grpc_inventory::pb::inventory_server::InventoryServer;
    use tonic::server::NamedService;
    use warden::inbound::dpop::{Dpop, DpopPolicy};
    use warden::inbound::jwt::dpop::{DpopKey, DpopVerifier};

    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let layer = warden::grpc::authenticate(validator(&issuer))
        .dpop(Dpop::new(DpopVerifier::new(), &base).policy(DpopPolicy::Allow));
    let rules = example_grpc_inventory::scope_rules().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .layer(warden::grpc::RequireMethodScopeLayer::new(rules))
            .add_service(InventoryServer::new(InventoryService::default()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = Endpoint::from_shared(base.clone()).unwrap().connect_lazy();
    let mut client = InventoryClient::new(channel);

    let key = DpopKey::generate().unwrap();
    let bound = token(&issuer, "inventory:read", |c| {
        c["cnf"] = json!({"jkt": key.thumbprint()})
    });
    let htu = format!(
        "{base}/{}/GetItem",
        <InventoryServer<InventoryService> as NamedService>::NAME
    );
    let call = |auth: String, proof: Option<String>| {
        let mut req = with_auth(
            GetItemRequest {
                sku: "apple".into(),
            },
            Some(&auth),
        );
        if let Some(p) = proof {
            req.metadata_mut().insert("dpop", p.parse().unwrap());
        }
        req
    };
    let proof = key.sign_proof("POST", &htu, Some(&bound)).unwrap();
    client
        .get_item(call(format!("DPoP {bound}"), Some(proof.clone())))
        .await
        .expect("the key's proof");
    // The same proof again, the stolen token as Bearer, a thief's key.
    let thief = DpopKey::generate().unwrap();
    for (name, auth, proof, want) in [
        (
            "replay",
            format!("DPoP {bound}"),
            Some(proof),
            "invalid_dpop_proof",
        ),
        (
            "as bearer",
            format!("Bearer {bound}"),
            None,
            "bound to a DPoP key",
        ),
        (
            "thief",
            format!("DPoP {bound}"),
            Some(thief.sign_proof("POST", &htu, Some(&bound)).unwrap()),
            "invalid_dpop_proof",
        ),
    ] {
        let status = client.get_item(call(auth, proof)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{name}");
        let www: Vec<String> = status
            .metadata()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        assert!(www.iter().any(|w| w.contains(want)), "{name}: {www:?}");
    }
}
