//! Envoy ext_authz v3 over real gRPC (a tonic client speaking the real
//! protos), against warden-issuer started in-process on loopback.

use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{
    CheckResponse, HeaderAppendAction, HeaderValueOption, HttpResponse,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use tonic::transport::Channel;
use warden_gate::Check;
use warden_gate::ext_authz::check_request;
use warden_issuer::{Algorithm, Mode, TestIssuer};

mod common;

use common::{bearer, orders_config};

async fn start(issuer: &TestIssuer, wait: bool) -> (AuthorizationClient<Channel>, Channel) {
    let config = orders_config(issuer, "[identity]\nremove_authorization = true\n");
    let parts = warden_gate::Parts::new(&config).unwrap();
    let routes = parts.ext_authz_routes(&config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    if wait {
        parts
            .jwt
            .wait_until_ready(Duration::from_secs(5))
            .await
            .unwrap();
    }
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (AuthorizationClient::new(channel.clone()), channel)
}

/// Waits (at most 4 s) until `grpc.health.v1` says `want` of `service`;
/// whether it did.
async fn health_of(channel: Channel, service: &str, want: tonic_health::ServingStatus) -> bool {
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..40 {
        let got = h
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if got.as_ref().ok() == Some(&(want as i32)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Asks as Envoy would about `method path`, with this `Authorization`.
async fn check(
    client: &mut AuthorizationClient<Channel>,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> CheckResponse {
    let check = Check {
        method: method.into(),
        host: Some("api.test".into()),
        target: path.into(),
        authorization: authorization
            .map(|a| a.parse().unwrap())
            .into_iter()
            .collect(),
    };
    client
        .check(check_request(&check))
        .await
        .unwrap()
        .into_inner()
}

fn header<'a>(h: &'a [HeaderValueOption], name: &str) -> Option<&'a str> {
    h.iter()
        .filter_map(|o| o.header.as_ref())
        .find(|v| v.key == name)
        .map(|v| v.value.as_str())
}

/// The denial's (grpc code, http status, WWW-Authenticate).
fn denied(r: &CheckResponse) -> (i32, i32, Option<String>) {
    let Some(HttpResponse::DeniedResponse(d)) = &r.http_response else {
        panic!("not a denial: {r:?}")
    };
    (
        r.status.as_ref().unwrap().code,
        d.status.as_ref().unwrap().code,
        header(&d.headers, "www-authenticate").map(str::to_owned),
    )
}

#[tokio::test]
async fn allow_sets_identity_with_overwrite_and_strips_credentials() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (mut client, channel) = start(&issuer, true).await;
    let t = bearer(&issuer, "orders:read", |_| {});
    let r = check(&mut client, "GET", "/orders/1?access_token=x", Some(&t)).await;
    assert_eq!(r.status.as_ref().unwrap().code, 0, "{r:?}");
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("not an allow: {r:?}")
    };
    assert_eq!(header(&ok.headers, "x-auth-subject"), Some("alice"));
    assert_eq!(header(&ok.headers, "x-auth-scopes"), Some("orders:read"));
    for h in &ok.headers {
        assert_eq!(
            h.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
            "{h:?}: Envoy would append next to a spoofed header"
        );
    }
    assert!(ok.headers_to_remove.contains(&"authorization".to_owned()));
    assert_eq!(ok.query_parameters_to_remove, ["access_token"]);
    // Ready: grpc.health.v1 reports SERVING (set within the 500 ms poll).
    assert!(
        health_of(
            channel,
            warden_gate::EXT_AUTHZ_SERVICE,
            tonic_health::ServingStatus::Serving
        )
        .await,
        "never reported SERVING"
    );

    // Anonymous allow: the identity headers are removed, not left to the client.
    let r = check(&mut client, "GET", "/public/x", None).await;
    let Some(HttpResponse::OkResponse(ok)) = &r.http_response else {
        panic!("not an allow: {r:?}")
    };
    assert!(ok.headers.is_empty(), "{ok:?}");
    for h in ["x-auth-subject", "x-auth-client-id", "x-auth-scopes"] {
        assert!(ok.headers_to_remove.contains(&h.to_owned()), "{h}");
    }
}

#[tokio::test]
async fn denials_set_the_http_status_and_challenge() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let (mut client, _) = start(&issuer, true).await;
    let reader = bearer(&issuer, "orders:read", |_| {});

    // Unauthenticated: 401 and the challenge, never Envoy's default 403.
    let r = check(&mut client, "GET", "/orders/1", None).await;
    assert_eq!(denied(&r), (16, 401, Some("Bearer".into())));

    let r = check(&mut client, "POST", "/orders/1", Some(&reader)).await;
    assert_eq!(
        denied(&r),
        (
            7,
            403,
            Some(
                r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:write""#
                    .into()
            )
        )
    );

    let r = check(&mut client, "GET", "/orders/1", Some("Bearer a.b.c")).await;
    let (code, status, www) = denied(&r);
    assert_eq!((code, status), (16, 401));
    assert!(www.unwrap().starts_with(r#"Bearer error="invalid_token""#));

    // Envoy joins repeated headers with a comma: one malformed credential.
    let two = format!("{reader},{reader}");
    let r = check(&mut client, "GET", "/orders/1", Some(&two)).await;
    assert_eq!(denied(&r).0, 3);
    assert_eq!(denied(&r).1, 400);

    let r = check(&mut client, "GET", "/public/%2e%2e/admin%2fx", None).await;
    assert_eq!((denied(&r).0, denied(&r).1), (3, 400));

    let r = check(&mut client, "GET", "/admin", Some(&reader)).await;
    assert_eq!(denied(&r), (7, 403, None), "no route");
}

#[tokio::test]
async fn keys_unavailable_is_unavailable_and_health_says_so() {
    let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    issuer.set_mode(Mode::Down);
    let (mut client, channel) = start(&issuer, false).await;
    let t = bearer(&issuer, "orders:read", |_| {});
    let r = check(&mut client, "GET", "/orders/1", Some(&t)).await;
    assert_eq!(denied(&r).0, 14);
    assert_eq!(denied(&r).1, 503);
    assert!(
        health_of(
            channel.clone(),
            warden_gate::EXT_AUTHZ_SERVICE,
            tonic_health::ServingStatus::NotServing
        )
        .await,
        "never reported NOT_SERVING while the keys are unavailable"
    );
    // The server itself stays SERVING: liveness is not readiness.
    assert!(health_of(channel, "", tonic_health::ServingStatus::Serving).await);
}
