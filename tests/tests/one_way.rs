//! #13: the bugs that copies of one idea hid, over real loopback HTTP.
//!
//! - RFC 8414 §3.1 discovery for an issuer with a path: the well-known
//!   segment goes between host and path, in the outbound client as in the
//!   JWT validator.
//! - One token, one verdict: the same claims read by the JWT validator and
//!   by the introspection validator give the same principal, or the same
//!   refusal.
//!
//! (Form-encoded Basic credentials for introspection: `outbound.rs`,
//! `basic_credentials_are_form_encoded_for_introspection_too`.)

use serde_json::{Value, json};
use warden::outbound::{TokenContext, TokenSource};
use warden::{AuthError, JwtValidator, Principal};
use warden_client::ClientCredentials;
use warden_issuer::{TestIssuer, now_secs};
use warden_tests::{answering, publishing};

const AUD: &str = "api://orders";

/// An authorization server that publishes only RFC 8414 metadata, at the
/// path-inserted URL `/.well-known/oauth-authorization-server/tenant-a`
/// (no OpenID Connect document, nothing at the appended form).
#[tokio::test]
async fn client_discovery_inserts_the_issuer_path() {
    let token_url = answering(
        "/tenant-a/token",
        r#"{"access_token":"from-tenant-a","token_type":"Bearer","expires_in":300}"#.into(),
    )
    .await;
    let base = publishing(
        "/.well-known/oauth-authorization-server/tenant-a",
        |base| json!({"issuer": format!("{base}/tenant-a"), "token_endpoint": token_url}),
    )
    .await;
    let issuer = format!("{base}/tenant-a");

    let source = ClientCredentials::builder()
        .issuer(issuer.as_str())
        .client_secret_basic("svc", "secret")
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let token = source.token(&TokenContext::default()).await;
    assert_eq!(
        token.map(|t| t.secret().to_owned()).as_deref(),
        Ok("from-tenant-a")
    );
}

/// The verdict of the JWT validator on `claims` signed by `issuer`, and of
/// the introspection validator on an active answer holding the same claims.
async fn both(
    issuer: &TestIssuer,
    claims: &Value,
) -> (Result<Principal, AuthError>, Result<Principal, AuthError>) {
    let jwt = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .jwks_url(issuer.jwks_url())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let token = issuer.mint(claims).unwrap();
    let by_jwt = jwt.validate_token(&token).await;

    let mut answer = claims.clone();
    answer["active"] = json!(true);
    let url = answering("/introspect", answer.to_string()).await;
    let introspection =
        warden_tests::introspection(&url, ("rs", "rs-secret"), issuer.issuer(), AUD)
            .build()
            .unwrap();
    let by_introspection = introspection.validate_token("opaque-token").await;
    (by_jwt, by_introspection)
}

#[tokio::test]
async fn one_token_one_verdict_from_both_validators() {
    let issuer = TestIssuer::start().await.unwrap();
    let now = now_secs();
    let base = issuer.claims(AUD);
    let with = |changes: Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases = [
        ("as issued", with(json!({}))),
        (
            "scp array, no scope",
            with(json!({"scope": null, "scp": ["orders:read", "orders:write"]})),
        ),
        ("scope as an array", with(json!({"scope": ["orders:read"]}))),
        (
            "azp, no client_id",
            with(json!({"client_id": null, "azp": "web-app"})),
        ),
        ("expired within the leeway", with(json!({"exp": now - 30}))),
        ("expired beyond the leeway", with(json!({"exp": now - 120}))),
        ("nbf within the leeway", with(json!({"nbf": now + 30}))),
        ("nbf beyond the leeway", with(json!({"nbf": now + 120}))),
        ("issued in the future", with(json!({"iat": now + 120}))),
        ("aud with a number", with(json!({"aud": [AUD, 5]}))),
        ("scope a number", with(json!({"scope": 5}))),
        ("sub a number", with(json!({"sub": 5}))),
        ("client_id a number", with(json!({"client_id": 5}))),
        ("exp a string", with(json!({"exp": "1999999999"}))),
        ("iss a number", with(json!({"iss": 5}))),
    ];
    for (name, claims) in cases {
        let (by_jwt, by_introspection) = both(&issuer, &claims).await;
        match (&by_jwt, &by_introspection) {
            (Ok(a), Ok(b)) => assert_eq!(a.claims(), b.claims(), "{name}"),
            (Err(a), Err(b)) => assert_eq!(a, b, "{name}"),
            _ => panic!("{name}: JWT {by_jwt:?}, introspection {by_introspection:?}"),
        }
    }
}
