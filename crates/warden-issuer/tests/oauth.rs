//! The authorization server over real loopback HTTP: every grant's success
//! and error codes, PKCE, code reuse, refresh rotation and reuse detection,
//! token exchange, introspection and revocation.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use warden_issuer::{Algorithm, Issuer, IssuerConfig, SigningKey, now_secs, sign_jwt};

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn post(url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Reply {
    let mut req = reqwest::Client::new().post(url).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn claims_of(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (status, Some(code)),
        "{:?}",
        r.body
    );
    assert_eq!(r.headers["cache-control"], "no-store");
}

async fn cc(issuer: &Issuer, client: &str, form: &[(&str, &str)]) -> Reply {
    let mut f = vec![("grant_type", "client_credentials")];
    f.extend_from_slice(form);
    let secret = format!("{client}-secret");
    post(&issuer.token_url(), &f, Some((client, &secret))).await
}

#[tokio::test]
async fn discovery_describes_the_endpoints() {
    let issuer = Issuer::start_dev().await.unwrap();
    let doc: Value = reqwest::get(format!(
        "{}/.well-known/openid-configuration",
        issuer.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(doc["issuer"], issuer.issuer());
    assert_eq!(doc["token_endpoint"], issuer.token_url());
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    let rfc8414: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        issuer.issuer()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(rfc8414, doc);
}

#[tokio::test]
async fn client_credentials_success_and_errors() {
    let issuer = Issuer::start_dev().await.unwrap();
    // Basic auth, explicit resource: a JWT per RFC 9068.
    let r = cc(&issuer, "svc-batch", &[("resource", "api://orders")]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "orders:read");
    let at = r.body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(at.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    let c = claims_of(at);
    for k in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(c.get(k).is_some(), "missing {k}: {c}");
    }
    assert_eq!(
        (c["sub"].as_str(), c["aud"].as_str()),
        (Some("svc-batch"), Some("api://orders"))
    );

    // client_secret_post; the scope alone names its single resource.
    let r = post(
        &issuer.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc-batch"),
            ("client_secret", "svc-batch-secret"),
            ("scope", "ledger:read"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let opaque = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        opaque.split('.').count(),
        1,
        "api://ledger issues opaque tokens"
    );

    // Each refusal: the form, the Basic credentials, the status and the code.
    const BATCH: Option<(&str, &str)> = Some(("svc-batch", "svc-batch-secret"));
    const CC: (&str, &str) = ("grant_type", "client_credentials");
    const EXCHANGE: (&str, &str) = (
        "grant_type",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    );
    const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
    type Refusal<'a> = (
        &'a [(&'a str, &'a str)],
        Option<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let refusals: &[Refusal<'_>] = &[
        (&[CC], Some(("svc-batch", "wrong")), 401, "invalid_client"),
        (&[CC], Some(("nobody", "x")), 401, "invalid_client"),
        (
            &[CC, ("resource", "api://orders"), ("scope", "orders:write")],
            BATCH,
            400,
            "invalid_scope",
        ),
        (&[CC], BATCH, 400, "invalid_target"),
        (
            &[CC, ("scope", "orders:read")],
            BATCH,
            400,
            "invalid_target",
        ),
        (
            &[CC, ("resource", "api://nowhere")],
            BATCH,
            400,
            "invalid_target",
        ),
        (
            &[CC, ("resource", "api://inventory")],
            BATCH,
            400,
            "invalid_target",
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
            ],
            BATCH,
            400,
            "unsupported_grant_type",
        ),
        (&[("client_id", "svc-batch")], BATCH, 400, "invalid_request"),
        (&[CC, CC], BATCH, 400, "invalid_request"),
        (
            &[CC, ("client_secret", "svc-batch-secret")],
            BATCH,
            400,
            "invalid_request",
        ),
        (
            &[CC, ("client_id", "web-app")],
            None,
            400,
            "unauthorized_client",
        ),
        (
            &[
                EXCHANGE,
                ("subject_token", "x"),
                ("subject_token_type", ACCESS),
            ],
            BATCH,
            400,
            "unauthorized_client",
        ),
    ];
    for (form, basic, status, code) in refusals {
        let e = post(&issuer.token_url(), form, *basic).await;
        assert_error(&e, *status, code);
        if *status == 401 && basic.is_some() {
            assert_eq!(
                e.headers["www-authenticate"],
                "Basic realm=\"warden-issuer\""
            );
        }
    }
}

#[tokio::test]
async fn private_key_jwt_client_authentication() {
    let key = SigningKey::generate(Algorithm::ES256, "svc-signer-key").unwrap();
    let mut cfg = IssuerConfig::dev();
    cfg.add_key_client("svc-signer", "svc-batch", &key).unwrap();
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let assertion = |aud: &str, jti: &str| {
        let now = now_secs();
        let c = json!({"iss": "svc-signer", "sub": "svc-signer", "aud": aud, "exp": now + 60, "iat": now, "jti": jti});
        sign_jwt(&json!({"alg": "ES256", "kid": "svc-signer-key"}), &c, &key).unwrap()
    };
    let form = |a: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("resource".to_string(), "api://ledger".to_string()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion".to_string(), a.to_string()),
        ]
    };
    let send = |f: Vec<(String, String)>| {
        let url = issuer.token_url();
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            post(&url, &f, None).await
        }
    };
    let a = assertion(&issuer.token_url(), "one");
    let r = send(form(&a)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_error(&send(form(&a)).await, 401, "invalid_client");
    assert_error(
        &send(form(&assertion("https://elsewhere/token", "two"))).await,
        401,
        "invalid_client",
    );
    let other = SigningKey::generate(Algorithm::ES256, "svc-signer-key").unwrap();
    let now = now_secs();
    let forged = sign_jwt(
        &json!({"alg": "ES256", "kid": "svc-signer-key"}),
        &json!({"iss": "svc-signer", "sub": "svc-signer", "aud": issuer.issuer(), "exp": now + 60, "jti": "three"}),
        &other,
    )
    .unwrap();
    assert_error(&send(form(&forged)).await, 401, "invalid_client");
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 40]);
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    (verifier, challenge)
}

const REDIRECT: &str = "http://127.0.0.1:8080/callback";

/// Drives the login page: GET the form, POST alice's credentials, read the
/// redirect. Returns the Location header.
async fn login(issuer: &Issuer, query: &[(&str, &str)], password: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(issuer.authorize_url())
        .query(query)
        .send()
        .await
        .unwrap();
    let status = page.status().as_u16();
    let location = page
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    if status != 200 {
        return (status, location);
    }
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
    let signin = warden_issuer::SignInForm::read(&headers, &html).expect("a CSRF token and cookie");
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.extend([
        ("username", "alice"),
        ("password", password),
        ("decision", "allow"),
        ("csrf", &signin.csrf),
    ]);
    let res = client
        .post(issuer.authorize_url())
        .header("cookie", signin.cookie_header())
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (
        status,
        res.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned()),
    )
}

fn query_param(location: &str, name: &str) -> Option<String> {
    let q = location.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    })
}

async fn redeem(issuer: &Issuer, code: &str, verifier: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", "web-app"),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    post(&issuer.token_url(), &form, None).await
}

/// Introspects `token` as the confidential client `caller` (secret
/// `<caller>-secret`): only a resource the token is for, or the client it
/// was issued to, is told it is active.
async fn introspect(issuer: &Issuer, caller: &str, token: &str) -> Value {
    let secret = format!("{caller}-secret");
    post(
        &issuer.introspection_url(),
        &[("token", token)],
        Some((caller, secret.as_str())),
    )
    .await
    .body
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let issuer = Issuer::start_dev().await.unwrap();
    let (verifier, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("scope", "orders:read orders:write"),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // Wrong password: the page again, 401.
    assert_eq!(login(&issuer, &q, "nope").await.0, 401);

    let (status, location) = login(&issuer, &q, "alice-password").await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    let code = query_param(&location, "code").unwrap();

    // PKCE failures at the token endpoint.
    assert_error(&redeem(&issuer, &code, None).await, 400, "invalid_request");
    let r = redeem(&issuer, &code, Some(&verifier)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let at = r.body["access_token"].as_str().unwrap().to_owned();
    let c = claims_of(&at);
    assert_eq!(
        (
            c["sub"].as_str(),
            c["aud"].as_str(),
            c["client_id"].as_str()
        ),
        (Some("alice"), Some("api://gateway"), Some("web-app"))
    );
    assert_eq!(c["scope"], "orders:read orders:write");
    assert!(r.body["refresh_token"].is_string());

    // Code reuse: refused, and the token issued from the code is revoked.
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at).await["active"],
        true
    );
    assert_error(
        &redeem(&issuer, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at).await["active"],
        false
    );

    // A wrong verifier burns the code.
    let (_, location) = login(&issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let wrong = URL_SAFE_NO_PAD.encode([9u8; 40]);
    assert_error(
        &redeem(&issuer, &code, Some(&wrong)).await,
        400,
        "invalid_grant",
    );
    assert_error(
        &redeem(&issuer, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );

    // Authorization request errors: redirected with the error, or an error page.
    let mut no_pkce: Vec<(&str, &str)> = q
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let (status, location) = login(&issuer, &no_pkce, "alice-password").await;
    assert_eq!(status, 303);
    assert_eq!(
        query_param(&location.unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
    no_pkce.extend([
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "plain"),
    ]);
    let (_, location) = login(&issuer, &no_pkce, "alice-password").await;
    assert_eq!(
        query_param(&location.unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
    let evil: Vec<(&str, &str)> = q
        .iter()
        .map(|(k, v)| {
            if *k == "redirect_uri" {
                (*k, "http://127.0.0.1:6666/steal")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let (status, location) = login(&issuer, &evil, "alice-password").await;
    assert_eq!(
        (status, location),
        (400, None),
        "never redirect to an unregistered URI"
    );
    let bad_scope: Vec<(&str, &str)> = q
        .iter()
        .map(|(k, v)| {
            if *k == "scope" {
                (*k, "inventory:read")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let (_, location) = login(&issuer, &bad_scope, "alice-password").await;
    assert_eq!(
        query_param(&location.unwrap(), "error").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn refresh_rotation_and_reuse_detection() {
    let issuer = Issuer::start_dev().await.unwrap();
    let (verifier, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (_, location) = login(&issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let first = redeem(&issuer, &code, Some(&verifier)).await;
    let rt1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String, scope: Option<&'static str>| {
        let url = issuer.token_url();
        async move {
            let mut f = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_id", "web-app"),
            ];
            if let Some(s) = scope {
                f.push(("scope", s));
            }
            post(&url, &f, None).await
        }
    };
    let second = refresh(rt1.clone(), Some("orders:read")).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.body["scope"], "orders:read", "narrowing is allowed");
    let rt2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    let at2 = second.body["access_token"].as_str().unwrap().to_owned();
    // A refused request does not burn the token.
    assert_error(
        &refresh(rt2.clone(), Some("orders:admin")).await,
        400,
        "invalid_scope",
    );
    let third = refresh(rt2.clone(), None).await;
    assert_eq!(third.status, 200, "{:?}", third.body);
    assert_eq!(
        third.body["scope"], "orders:read orders:write",
        "the original grant, not the narrowed one"
    );
    let at3 = third.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at3).await["active"],
        true
    );
    // Reuse of an already rotated token: refused, and the whole family is revoked,
    // with every access token it issued (the first one, from the code, included).
    assert_error(&refresh(rt2.clone(), None).await, 400, "invalid_grant");
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at3).await["active"],
        false
    );
    let at1 = first.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at1).await["active"],
        false
    );
    let rt3 = third.body["refresh_token"].as_str().unwrap().to_owned();
    assert_error(&refresh(rt3, None).await, 400, "invalid_grant");

    // Reuse of rt1 (rt2 above was a reuse too, and already revoked the family).
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at2).await["active"],
        false
    );
    assert_error(&refresh(rt1.clone(), None).await, 400, "invalid_grant");
    assert_eq!(
        introspect(&issuer, "svc-gateway", &at2).await["active"],
        false
    );
}

async fn user_token(issuer: &Issuer) -> String {
    let (verifier, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (_, location) = login(issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    redeem(issuer, &code, Some(&verifier)).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn exchange(issuer: &Issuer, client: &str, subject: &str, extra: &[(&str, &str)]) -> Reply {
    let mut f = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    f.extend_from_slice(extra);
    let secret = format!("{client}-secret");
    post(&issuer.token_url(), &f, Some((client, &secret))).await
}

#[tokio::test]
async fn token_exchange_nests_act_and_narrows() {
    let issuer = Issuer::start_dev().await.unwrap();
    let alice = user_token(&issuer).await;
    let r = exchange(
        &issuer,
        "svc-gateway",
        &alice,
        &[("audience", "api://orders")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let orders_token = r.body["access_token"].as_str().unwrap().to_owned();
    let c = claims_of(&orders_token);
    assert_eq!(
        (c["sub"].as_str(), c["aud"].as_str()),
        (Some("alice"), Some("api://orders"))
    );
    assert_eq!(c["act"], json!({"sub": "svc-gateway"}));
    assert_eq!(c["scope"], "orders:read orders:write");
    assert!(
        c["exp"].as_u64() <= claims_of(&alice)["exp"].as_u64(),
        "never outlives the subject"
    );

    let r = exchange(
        &issuer,
        "svc-orders",
        &orders_token,
        &[("resource", "api://inventory"), ("scope", "inventory:read")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = claims_of(r.body["access_token"].as_str().unwrap());
    assert_eq!(
        c["act"],
        json!({"sub": "svc-orders", "act": {"sub": "svc-gateway"}})
    );
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str()),
        (Some("alice"), Some("inventory:read"))
    );

    // Revoking alice's token revokes the whole delegation chain made from it.
    let inventory_token = r.body["access_token"].as_str().unwrap().to_owned();
    let revoked = post(
        &issuer.revocation_url(),
        &[("token", alice.as_str()), ("client_id", "web-app")],
        None,
    )
    .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(
        introspect(&issuer, "svc-orders", &orders_token).await["active"],
        false
    );
    assert_eq!(
        introspect(&issuer, "svc-orders", &inventory_token).await["active"],
        false
    );
    let alice = user_token(&issuer).await;

    // Refusals.
    assert_error(
        &exchange(
            &issuer,
            "svc-gateway",
            &alice,
            &[("audience", "api://inventory")],
        )
        .await,
        400,
        "invalid_target",
    );
    assert_error(
        &exchange(
            &issuer,
            "svc-orders",
            &alice,
            &[("audience", "api://inventory")],
        )
        .await,
        400,
        "invalid_grant",
    );
    assert_error(
        &exchange(
            &issuer,
            "svc-gateway",
            &alice,
            &[("audience", "api://orders"), ("scope", "inventory:read")],
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_error(
        &exchange(&issuer, "svc-gateway", "not-a-token", &[]).await,
        400,
        "invalid_grant",
    );
    assert_error(
        &exchange(
            &issuer,
            "svc-gateway",
            &alice,
            &[("audience", "api://orders"), ("resource", "api://gateway")],
        )
        .await,
        400,
        "invalid_target",
    );
    let mut expired = issuer.claims("api://gateway");
    expired["exp"] = json!(now_secs() - 10);
    let expired = issuer.mint(&expired).unwrap();
    assert_error(
        &exchange(&issuer, "svc-gateway", &expired, &[]).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn introspection_and_revocation_of_both_formats() {
    let issuer = Issuer::start_dev().await.unwrap();
    let jwt = cc(&issuer, "svc-batch", &[("resource", "api://orders")])
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let opaque = cc(&issuer, "svc-batch", &[("resource", "api://ledger")])
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (caller, t) in [("svc-orders", &jwt), ("rs-ledger", &opaque)] {
        let i = introspect(&issuer, caller, t).await;
        assert_eq!(i["active"], true, "{i}");
        assert_eq!(i["client_id"], "svc-batch");
        assert!(i["exp"].is_u64() && i["scope"].is_string() && i["sub"] == "svc-batch");
    }
    let mut old = issuer.claims("api://orders");
    old["exp"] = json!(now_secs() - 1);
    let expired = issuer.mint(&old).unwrap();
    assert_eq!(
        introspect(&issuer, "svc-orders", &expired).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&issuer, "svc-orders", "garbage").await,
        json!({"active": false})
    );
    // Authenticated callers only.
    let r = post(
        &issuer.introspection_url(),
        &[("token", jwt.as_str())],
        None,
    )
    .await;
    assert_error(&r, 401, "invalid_client");
    let r = post(
        &issuer.introspection_url(),
        &[("token", jwt.as_str()), ("client_id", "web-app")],
        None,
    )
    .await;
    assert_error(&r, 401, "invalid_client");

    // Revocation: idempotent, 200 for unknown tokens; only the owner (or the audience) may revoke.
    let revoke = |t: String, who: &'static str| {
        let url = issuer.revocation_url();
        async move {
            let secret = format!("{who}-secret");
            post(&url, &[("token", t.as_str())], Some((who, secret.as_str()))).await
        }
    };
    assert_eq!(
        revoke("unknown-token".into(), "svc-batch").await.status,
        200
    );
    assert_error(
        &revoke(jwt.clone(), "svc-gateway").await,
        400,
        "unauthorized_client",
    );
    for _ in 0..2 {
        assert_eq!(revoke(jwt.clone(), "svc-batch").await.status, 200);
        assert_eq!(revoke(opaque.clone(), "svc-batch").await.status, 200);
    }
    assert_eq!(
        introspect(&issuer, "svc-orders", &jwt).await["active"],
        false
    );
    assert_eq!(
        introspect(&issuer, "rs-ledger", &opaque).await["active"],
        false
    );
    let jti = claims_of(&jwt)["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        issuer.revocation_store().is_revoked(&jti),
        Ok(true),
        "resource servers can learn of it"
    );
}

#[tokio::test]
async fn rotation_is_seen_by_a_validator_without_a_failed_request() {
    let issuer = Issuer::builder(IssuerConfig::dev())
        .keys(&[Algorithm::ES256])
        .start()
        .await
        .unwrap();
    issuer.set_cache_control(Some("max-age=0".into()));
    let v = warden_jwt::JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience("api://orders")
        .jwks_cache(
            warden_jwt::JwksCacheConfig::default()
                .min_ttl(Duration::from_millis(50))
                .default_ttl(Duration::from_millis(50)),
        )
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let mut kids: HashMap<String, usize> = HashMap::new();
    let mut failures = 0;
    for i in 0..100 {
        if i == 10 {
            // Published now, signing in 1 s: caches (refreshing every 50 ms) learn it first.
            issuer
                .rotate_after(Algorithm::ES256, "ES256-2", Duration::from_millis(1000))
                .unwrap();
        }
        let t = cc(&issuer, "svc-batch", &[("resource", "api://orders")])
            .await
            .body["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        *kids
            .entry(header["kid"].as_str().unwrap().to_owned())
            .or_default() += 1;
        if v.validate_token(&t).await.is_err() {
            failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(failures, 0, "kids seen: {kids:?}");
    assert!(
        kids.contains_key("ES256-1") && kids.contains_key("ES256-2"),
        "{kids:?}"
    );
}

async fn user_token_with_scope(issuer: &Issuer, scope: &str) -> String {
    let (verifier, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("scope", scope),
    ];
    let (_, location) = login(issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let r = redeem(issuer, &code, Some(&verifier)).await;
    assert_eq!(r.body["scope"], scope, "{:?}", r.body);
    r.body["access_token"].as_str().unwrap().to_owned()
}

/// #11 item 1: token exchange never grants more than the subject token was
/// given. A scope reaches the new token only when the request allows it, the
/// actor may ask for it at the target, and the subject justifies it (the same
/// scope, or the actor's configured mapping toward that target).
#[tokio::test]
async fn exchange_never_exceeds_consent() {
    let issuer = Issuer::start_dev().await.unwrap();

    // svc-batch's orders:read token, exchanged by svc-orders toward inventory:
    // orders:read maps to inventory:read and to nothing else.
    let batch = cc(
        &issuer,
        "svc-batch",
        &[("resource", "api://orders"), ("scope", "orders:read")],
    )
    .await;
    let batch = batch.body["access_token"].as_str().unwrap().to_owned();
    let r = exchange(
        &issuer,
        "svc-orders",
        &batch,
        &[("resource", "api://inventory")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = claims_of(r.body["access_token"].as_str().unwrap());
    assert_eq!(
        (c["sub"].as_str(), c["scope"].as_str()),
        (Some("svc-batch"), Some("inventory:read")),
        "orders:read must not become inventory:write"
    );
    assert_eq!(r.body["scope"], "inventory:read");
    assert_error(
        &exchange(
            &issuer,
            "svc-orders",
            &batch,
            &[
                ("resource", "api://inventory"),
                ("scope", "inventory:write"),
            ],
        )
        .await,
        400,
        "invalid_scope",
    );

    // alice consented to orders:read only: neither hop may add orders:write
    // or inventory:write.
    let alice = user_token_with_scope(&issuer, "orders:read").await;
    let r = exchange(
        &issuer,
        "svc-gateway",
        &alice,
        &[("audience", "api://orders")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let orders_token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&orders_token)["scope"], "orders:read");
    assert_error(
        &exchange(
            &issuer,
            "svc-gateway",
            &alice,
            &[("audience", "api://orders"), ("scope", "orders:write")],
        )
        .await,
        400,
        "invalid_scope",
    );
    let r = exchange(
        &issuer,
        "svc-orders",
        &orders_token,
        &[("resource", "api://inventory")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        claims_of(r.body["access_token"].as_str().unwrap())["scope"],
        "inventory:read"
    );

    // A subject whose scopes justify nothing at the target: invalid_scope.
    let mut none = issuer.claims("api://orders");
    none["scope"] = json!("orders:write");
    let none = issuer.mint(&none).unwrap();
    assert_error(
        &exchange(
            &issuer,
            "svc-orders",
            &none,
            &[("resource", "api://inventory")],
        )
        .await,
        400,
        "invalid_scope",
    );

    // may_act (RFC 8693 §4.4): only the named actor may exchange the token.
    let mut limited = issuer.claims("api://orders");
    limited["may_act"] = json!({"sub": "svc-someone-else"});
    let limited = issuer.mint(&limited).unwrap();
    assert_error(
        &exchange(
            &issuer,
            "svc-orders",
            &limited,
            &[("resource", "api://inventory")],
        )
        .await,
        400,
        "invalid_grant",
    );
    let mut allowed = issuer.claims("api://orders");
    allowed["may_act"] = json!({"sub": "svc-orders"});
    let allowed = issuer.mint(&allowed).unwrap();
    let r = exchange(
        &issuer,
        "svc-orders",
        &allowed,
        &[("resource", "api://inventory")],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// Redeems a refresh token as web-app (a public client).
async fn refresh_as_web_app(issuer: &Issuer, rt: String) -> Reply {
    post(
        &issuer.token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "web-app"),
        ],
        None,
    )
    .await
}

/// The query of web-app's authorization request to `redirect`, with PKCE.
fn code_request<'a>(redirect: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", redirect),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// A dev issuer with an extra confidential client `svc-signer` that
/// authenticates with private_key_jwt.
async fn with_signer() -> (Issuer, SigningKey) {
    let (cfg, key) = config_with_signer();
    (Issuer::builder(cfg).start().await.unwrap(), key)
}

/// The dev configuration plus `svc-signer` (private_key_jwt) and its key.
fn config_with_signer() -> (IssuerConfig, SigningKey) {
    let key = SigningKey::generate(Algorithm::ES256, "signer-key").unwrap();
    let mut cfg = IssuerConfig::dev();
    cfg.add_key_client("svc-signer", "svc-batch", &key).unwrap();
    (cfg, key)
}

async fn with_assertion(issuer: &Issuer, key: &SigningKey, claims: &Value) -> Reply {
    let header = json!({"alg": "ES256", "kid": key.kid(), "typ": "JWT"});
    let assertion = sign_jwt(&header, claims, key).unwrap();
    post(
        &issuer.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "api://orders"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ],
        None,
    )
    .await
}

/// #11 item 6: a private_key_jwt assertion is single use for as long as it
/// could be accepted (exp plus the leeway), lives at most five minutes, and
/// names one audience.
#[tokio::test]
async fn client_assertions_cannot_be_replayed_inside_the_leeway() {
    let (issuer, key) = with_signer().await;
    let now = now_secs();
    let claims = |exp: u64, aud: Value| {
        json!({"iss": "svc-signer", "sub": "svc-signer", "aud": aud, "iat": now - 20,
               "exp": exp, "jti": warden_issuer::fresh_id()})
    };
    // Expired ten seconds ago: inside the 60 s leeway, so accepted once...
    let late = claims(now - 10, json!(issuer.token_url()));
    assert_eq!(with_assertion(&issuer, &key, &late).await.status, 200);
    // ...and never again.
    assert_error(
        &with_assertion(&issuer, &key, &late).await,
        401,
        "invalid_client",
    );
    // A fresh one works; an hour-long one does not; nor one for two audiences.
    let fresh = claims(now + 60, json!(issuer.issuer()));
    assert_eq!(with_assertion(&issuer, &key, &fresh).await.status, 200);
    let long = claims(now + 3600, json!(issuer.token_url()));
    assert_error(
        &with_assertion(&issuer, &key, &long).await,
        401,
        "invalid_client",
    );
    let two = claims(
        now + 60,
        json!([issuer.token_url(), "https://elsewhere.example"]),
    );
    assert_error(
        &with_assertion(&issuer, &key, &two).await,
        401,
        "invalid_client",
    );
}

/// #11 item 6: introspection tells a token's state only to a resource the
/// token is for, or to the client it was issued to; any other caller hears
/// `active: false`.
#[tokio::test]
async fn introspection_answers_only_the_tokens_audience_or_owner() {
    let issuer = Issuer::start_dev().await.unwrap();
    let token = |r: Reply| r.body["access_token"].as_str().unwrap().to_owned();
    let ledger = token(cc(&issuer, "svc-batch", &[("resource", "api://ledger")]).await);
    let orders = token(cc(&issuer, "svc-batch", &[("resource", "api://orders")]).await);
    for (caller, t, active) in [
        ("rs-ledger", &ledger, true),
        ("svc-batch", &ledger, true),
        ("svc-orders", &ledger, false),
        ("svc-gateway", &ledger, false),
        ("svc-orders", &orders, true),
        ("svc-batch", &orders, true),
        ("rs-ledger", &orders, false),
        ("svc-gateway", &orders, false),
    ] {
        let doc = introspect(&issuer, caller, t).await;
        assert_eq!(doc["active"], active, "{caller}: {doc}");
        if !active {
            assert_eq!(doc, json!({"active": false}), "nothing else leaks");
        }
    }
    let r = post(
        &issuer.revocation_url(),
        &[("token", ledger.as_str())],
        Some(("svc-batch", "svc-batch-secret")),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        introspect(&issuer, "rs-ledger", &ledger).await["active"],
        false
    );
}

/// #11 item 6: reusing a code revokes the refresh-token family issued from
/// it, not only the access token; and two redemptions racing each other
/// never leave a live token behind.
#[tokio::test]
async fn code_reuse_revokes_the_refresh_family_and_races_leave_nothing_live() {
    let issuer = Issuer::start_dev().await.unwrap();
    let (verifier, challenge) = pkce();
    let q = code_request(REDIRECT, &challenge);
    let (_, location) = login(&issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let first = redeem(&issuer, &code, Some(&verifier)).await;
    assert_eq!(first.status, 200);
    let rt = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_error(
        &redeem(&issuer, &code, Some(&verifier)).await,
        400,
        "invalid_grant",
    );
    assert_error(&refresh_as_web_app(&issuer, rt).await, 400, "invalid_grant");

    for round in 0..25 {
        let (_, location) = login(&issuer, &q, "alice-password").await;
        let code = query_param(&location.unwrap(), "code").unwrap();
        let (a, b) = tokio::join!(
            redeem(&issuer, &code, Some(&verifier)),
            redeem(&issuer, &code, Some(&verifier))
        );
        let replies = [a, b];
        let reused = replies.iter().any(|r| r.status == 400);
        for r in replies.iter().filter(|r| r.status == 200) {
            let at = r.body["access_token"].as_str().unwrap();
            let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
            if reused {
                assert_eq!(
                    introspect(&issuer, "svc-gateway", at).await["active"],
                    false,
                    "round {round}: a token outlived the code's reuse"
                );
                assert_eq!(
                    refresh_as_web_app(&issuer, rt).await.status,
                    400,
                    "round {round}"
                );
            }
        }
    }
}

/// #11 item 6: a revocation the store cannot record is 503
/// `temporarily_unavailable`, never a silent 200; `server_error` is 500.
#[tokio::test]
async fn error_codes_carry_their_statuses() {
    let issuer = Issuer::start_dev().await.unwrap();
    // No key to sign with: the server's fault.
    let kid = issuer.active_key().kid().to_owned();
    issuer.remove_key(&kid);
    let r = cc(&issuer, "svc-batch", &[("resource", "api://orders")]).await;
    assert_error(&r, 500, "server_error");
}

/// #11 item 6: a client's `token_audience` restricts where its tokens go:
/// `resource=` cannot move them elsewhere.
#[tokio::test]
async fn token_audience_is_a_restriction() {
    let issuer = Issuer::start_dev().await.unwrap();
    let (_, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", "api://orders"),
    ];
    let (status, location) = login(&issuer, &q, "alice-password").await;
    let location = location.unwrap_or_default();
    assert_eq!(status, 303, "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_target"),
        "web-app's tokens are for api://gateway only: {location}"
    );
}

/// #11 item 6: a public client holds no secret and no keys, and may not use
/// client credentials or token exchange.
#[tokio::test]
async fn public_clients_cannot_hold_credentials_or_act_alone() {
    use warden_issuer::Grant;
    type Change = fn(&mut warden_issuer::ClientConfig);
    let cases: Vec<(&str, Change)> = vec![
        ("secret", |c| c.secret = Some("s".into())),
        ("keys", |c| c.jwks = Some("{\"keys\":[]}".into())),
        ("client_credentials", |c| {
            c.grants.push(Grant::ClientCredentials)
        }),
        ("token exchange", |c| c.grants.push(Grant::TokenExchange)),
    ];
    for (name, change) in cases {
        let mut cfg = IssuerConfig::dev();
        let web = cfg.clients.iter_mut().find(|c| c.id == "web-app").unwrap();
        change(web);
        assert!(
            cfg.check().is_err(),
            "a public client with {name} was accepted"
        );
        assert!(Issuer::builder(cfg).start().await.is_err(), "{name}");
    }
}

/// #11 item 6: a refresh-token family ends at an absolute lifetime, however
/// often it is rotated.
#[tokio::test]
async fn refresh_families_have_an_absolute_lifetime() {
    let mut cfg = IssuerConfig::dev();
    cfg.refresh_family_lifetime_secs = 2;
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let (verifier, challenge) = pkce();
    let q = code_request(REDIRECT, &challenge);
    let (_, location) = login(&issuer, &q, "alice-password").await;
    let code = query_param(&location.unwrap(), "code").unwrap();
    let mut rt = redeem(&issuer, &code, Some(&verifier)).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = refresh_as_web_app(&issuer, rt.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_error(&refresh_as_web_app(&issuer, rt).await, 400, "invalid_grant");
}

/// #11 item 6: a redirect keeps the query of the registered redirect URI
/// and carries `iss` (RFC 9207), on success and on error.
#[tokio::test]
async fn redirects_keep_the_registered_query_and_carry_iss() {
    let mut cfg = IssuerConfig::dev();
    let with_query = "http://127.0.0.1:8080/callback?tenant=a";
    cfg.clients
        .iter_mut()
        .find(|c| c.id == "web-app")
        .unwrap()
        .redirect_uris
        .push(with_query.into());
    let issuer = Issuer::builder(cfg).start().await.unwrap();
    let (verifier, challenge) = pkce();
    let q = [
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", with_query),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ];
    let (_, location) = login(&issuer, &q, "alice-password").await;
    let location = location.unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:8080/callback?tenant=a&"),
        "{location}"
    );
    assert_eq!(location.matches('?').count(), 1, "{location}");
    let iss: String = url_decode(&query_param(&location, "iss").unwrap());
    assert_eq!(iss, issuer.issuer());
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    let code = query_param(&location, "code").unwrap();
    let r = post(
        &issuer.token_url(),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", with_query),
            ("client_id", "web-app"),
            ("code_verifier", verifier.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // An error redirect too.
    let mut denied = q.to_vec();
    denied.retain(|(k, _)| *k != "code_challenge_method");
    let (_, location) = login(&issuer, &denied, "alice-password").await;
    let location = location.unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:8080/callback?tenant=a&"),
        "{location}"
    );
    assert!(query_param(&location, "error").is_some(), "{location}");
    assert!(query_param(&location, "iss").is_some(), "{location}");
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// #11 item 6: an unknown client and a wrong secret get the same answer.
#[tokio::test]
async fn unknown_client_and_bad_secret_read_the_same() {
    let issuer = Issuer::start_dev().await.unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "api://orders"),
    ];
    let unknown = post(&issuer.token_url(), &form, Some(("no-such-client", "x"))).await;
    let wrong = post(&issuer.token_url(), &form, Some(("svc-batch", "x"))).await;
    assert_error(&unknown, 401, "invalid_client");
    assert_eq!(unknown.body, wrong.body);
    let unknown = post(
        &issuer.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    let wrong = post(
        &issuer.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "svc-batch"),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(unknown.body, wrong.body);
}

/// #12 item 3: nothing a client makes the issuer remember outlives its
/// use: expired codes, used and expired refresh tokens, opaque tokens past
/// `exp`, dead families, old assertion jtis and exchange links are pruned,
/// counted on a manual clock.
#[tokio::test]
async fn expired_state_is_pruned() {
    let clock = warden_core::ManualClock::starting_now();
    let (cfg, key) = config_with_signer();
    let issuer = Issuer::builder(cfg)
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let token = |r: Reply| r.body["access_token"].as_str().unwrap().to_owned();
    let rounds = 40;
    let (verifier, challenge) = pkce();
    let q = code_request(REDIRECT, &challenge);
    for i in 0..rounds {
        // Opaque tokens, and JWTs exchanged onward (exchange links).
        token(cc(&issuer, "svc-batch", &[("resource", "api://ledger")]).await);
        let (_, location) = login(&issuer, &q, "alice-password").await;
        let code = query_param(&location.unwrap(), "code").unwrap();
        let r = redeem(&issuer, &code, Some(&verifier)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
        let alice = token(r);
        assert_eq!(refresh_as_web_app(&issuer, rt).await.status, 200);
        let r = exchange(
            &issuer,
            "svc-gateway",
            &alice,
            &[("audience", "api://orders")],
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        // A client assertion (its jti is remembered against replay).
        let now = warden_core::Clock::now(&clock)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({"iss": "svc-signer", "sub": "svc-signer", "aud": issuer.issuer(),
                            "iat": now, "exp": now + 60, "jti": format!("a-{i}")});
        assert_eq!(with_assertion(&issuer, &key, &claims).await.status, 200);
    }
    let full = issuer.state_counts();
    println!("issuer state after {rounds} rounds: {full:?}");
    assert!(full.codes >= rounds && full.refresh_tokens >= 2 * rounds);
    assert!(full.families >= rounds && full.opaque_tokens >= rounds);
    assert!(full.assertion_jtis >= rounds && full.derived >= rounds);

    // Past every lifetime (the 7-day family lifetime plus a token's life).
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    token(cc(&issuer, "svc-batch", &[("resource", "api://ledger")]).await);
    let pruned = issuer.state_counts();
    println!("after the clock passed every lifetime and one request: {pruned:?}");
    assert_eq!(pruned.codes, 0);
    assert_eq!(pruned.refresh_tokens, 0);
    assert_eq!(pruned.families, 0);
    assert_eq!(pruned.opaque_tokens, 1, "only the one just issued");
    assert_eq!(pruned.assertion_jtis, 0);
    assert_eq!(pruned.derived, 0);
}
