//! RFC 9728 over real HTTP: the metadata document at its path-inserted
//! well-known URL, and `resource_metadata` in the 401 and 403 challenges
//! (403 naming every scope the route needs, as MCP requires).

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use warden::inbound::resource::ProtectedResource;
use warden::{RequireBearerLayer, RequireScopeLayer};
use warden_issuer::{Algorithm, TestIssuer};

#[tokio::test]
async fn the_document_and_the_challenges_point_at_each_other() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    // The resource's public URL is only known once bound: bind, then build.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let pr = ProtectedResource::new(format!("{base}/orders"))
        .unwrap()
        .authorization_server(issuer.issuer())
        .scopes(["orders:read", "orders:write", "offline_access"]);
    let validator = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
    let app = Router::new()
        .route(
            "/orders/write",
            get(|| async { "written" }).route_layer(
                RequireScopeLayer::all(["orders:read", "orders:write"]).challenge(pr.challenge()),
            ),
        )
        .route_layer(RequireBearerLayer::new(validator).challenge(pr.challenge()))
        .route_service(&pr.well_known_path(), pr.service());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/orders");
    assert_eq!(pr.metadata_url(), metadata_url);

    let res = reqwest::get(&metadata_url).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["authorization_servers"], json!([issuer.issuer()]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["orders:read", "orders:write"])
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["resource"], format!("{base}/orders"));

    // 401: the challenge names the document.
    let r = warden_tests::get(&format!("{base}/orders/write"), &[]).await;
    assert_eq!(r.status, 401);
    let www = r.www.unwrap();
    assert!(www.starts_with("Bearer resource_metadata=\""), "{www}");
    // A client follows the pointer and finds the document.
    let pointed = www.split('"').nth(1).unwrap();
    let followed: Value = reqwest::get(pointed).await.unwrap().json().await.unwrap();
    assert_eq!(followed, doc);

    // 403: every scope the route needs, and the document.
    let mut c = issuer.claims("api://orders");
    c["scope"] = json!("orders:read");
    let token = issuer.mint(&c).unwrap();
    let r = warden_tests::get_bearer(&format!("{base}/orders/write"), &token).await;
    assert_eq!(r.status, 403);
    let www = r.www.unwrap();
    assert!(
        www.contains(r#"error="insufficient_scope""#)
            && www.contains(r#"scope="orders:read orders:write""#)
            && www.contains("resource_metadata=\""),
        "{www}"
    );
}
