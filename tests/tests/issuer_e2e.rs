//! warden's resource-server layers accepting what warden-issuer issues, and
//! revocation at the issuer reaching the resource server.

use axum::Router;
use axum::routing::get;
use warden::revocation::StoreCheck;
use warden::{Auth, RequireBearerLayer, RequireScopeLayer};
use warden_issuer::Issuer;
use warden_tests::{get_bearer, invalid_token, serve};

async fn client_token(issuer: &Issuer, client: &str, resource: &str) -> String {
    let res = reqwest::Client::new()
        .post(issuer.token_url())
        .basic_auth(client, Some(format!("{client}-secret")))
        .form(&[("grant_type", "client_credentials"), ("resource", resource)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn resource_server_accepts_issued_tokens_and_learns_revocations() {
    let issuer = Issuer::start_dev().await.unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
    let app = Router::new()
        .route(
            "/orders",
            get(|Auth(p): Auth| async move { p.client_id().unwrap_or("-").to_owned() }),
        )
        .route_layer(RequireScopeLayer::all(["orders:read"]))
        .layer(
            RequireBearerLayer::new(validator)
                .revocation(StoreCheck::new(issuer.revocation_store())),
        );
    let base = format!("http://{}", serve(app).await);

    let token = client_token(&issuer, "svc-batch", "api://orders").await;
    let r = get_bearer(&format!("{base}/orders"), &token).await;
    assert_eq!((r.status, r.body.as_str()), (200, "svc-batch"));

    // A token for another audience is refused.
    let other = client_token(&issuer, "svc-gateway", "api://gateway").await;
    assert_eq!(
        get_bearer(&format!("{base}/orders"), &other).await.status,
        401
    );

    // Revoked at the issuer: the next call is refused, cached or not.
    let status = warden_tests::revoke(&issuer.revocation_url(), warden_tests::BATCH, &token).await;
    assert_eq!(status, 200);
    let r = get_bearer(&format!("{base}/orders"), &token).await;
    r.assert_challenge(401, &invalid_token("the token has been revoked"), "");
}
