//! Hostile and broken tokens against the example resource server, over real
//! loopback HTTP, with keys from a real warden-issuer. Every rejection is a
//! 401 with the exact RFC 6750 challenge: never a 500, never a panic.

use serde_json::{Value, json};
use warden::JwtValidator;
use warden_issuer::{Algorithm, SigningKey, TestIssuer, assemble, b64, now_secs, sign_jwt};
use warden_tests::{Reply, get, get_bearer, invalid_token, serve};

const AUD: &str = "api://orders";

struct Env {
    issuer: TestIssuer,
    base: String,
}

async fn env() -> Env {
    let issuer = TestIssuer::start_with(&warden_issuer::EVERY_FAMILY)
        .await
        .unwrap();
    let validator = warden_tests::jwt_validator(issuer.issuer(), AUD);
    let addr = serve(example_resource_server::app(validator, "orders:read")).await;
    Env {
        issuer,
        base: format!("http://{addr}"),
    }
}

impl Env {
    async fn protected(&self, token: &str) -> Reply {
        get_bearer(&format!("{}/protected", self.base), token).await
    }

    fn claims(&self) -> Value {
        self.issuer.claims(AUD)
    }

    fn header(&self, kid: &str) -> Value {
        let key = self.issuer.key(kid).unwrap();
        json!({"alg": key.alg().as_str(), "kid": kid, "typ": "at+jwt"})
    }

    fn sign(&self, header: &Value, claims: &Value, kid: &str) -> String {
        sign_jwt(header, claims, &self.issuer.key(kid).unwrap()).unwrap()
    }
}

async fn assert_rejected(env: &Env, name: &str, token: &str, description: &str) {
    let r = env.protected(token).await;
    r.assert_challenge(401, &invalid_token(description), name);
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_are_accepted() {
    let env = env().await;
    for kid in ["RS256-1", "PS256-1", "ES256-1", "EdDSA-1"] {
        let token = env.sign(&env.header(kid), &env.claims(), kid);
        let r = env.protected(&token).await;
        assert_eq!(r.status, 200, "{kid}: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"iss": env.issuer.issuer(), "sub": "alice", "client_id": "web-app", "scopes": ["orders:read"]})
        );
    }
}

#[tokio::test]
async fn alg_none_in_every_casing() {
    let env = env().await;
    for none in ["none", "None", "NONE", "nOnE", "NoNe"] {
        let header = json!({"alg": none, "typ": "at+jwt"});
        // With a signature segment, and with the empty one `none` uses.
        let with_sig = assemble(&header, &env.claims(), b"sig");
        assert_rejected(&env, none, &with_sig, "the token algorithm is not allowed").await;
        let unsigned = format!("{}.", &with_sig[..with_sig.rfind('.').unwrap()]);
        assert_rejected(&env, none, &unsigned, "the token is malformed").await;
        let header_kid = json!({"alg": none, "kid": "RS256-1"});
        let t = assemble(&header_kid, &env.claims(), b"x");
        assert_rejected(&env, none, &t, "the token algorithm is not allowed").await;
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key() {
    let env = env().await;
    let rsa = env.issuer.key("RS256-1").unwrap();
    let jwk = rsa.public_jwk().unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        rsa.public_key_bytes(),
        rsa.public_pem().unwrap().into_bytes(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ];
    for secret in secrets {
        let forged = SigningKey::hmac(secret, "RS256-1");
        for header in [
            json!({"alg": "HS256", "kid": "RS256-1", "typ": "at+jwt"}),
            json!({"alg": "HS256", "typ": "at+jwt"}),
        ] {
            let t = sign_jwt(&header, &env.claims(), &forged).unwrap();
            assert_rejected(
                &env,
                "hs256 confusion",
                &t,
                "the token algorithm is not allowed",
            )
            .await;
        }
    }
    // A token claiming another algorithm of a different family than its key.
    let es = env.issuer.key("ES256-1").unwrap();
    let t = sign_jwt(
        &json!({"alg": "RS256", "kid": "ES256-1"}),
        &env.claims(),
        &es,
    )
    .unwrap();
    assert_rejected(
        &env,
        "alg/key family mismatch",
        &t,
        "the token algorithm is not allowed",
    )
    .await;
    let t = sign_jwt(
        &json!({"alg": "ES384", "kid": "ES256-1"}),
        &env.claims(),
        &es,
    )
    .unwrap();
    assert_rejected(
        &env,
        "curve mismatch",
        &t,
        "the token algorithm is not allowed",
    )
    .await;
}

#[tokio::test]
async fn embedded_and_remote_key_hints_are_ignored() {
    let env = env().await;
    // The attacker runs an issuer of their own and signs with its key.
    let evil = TestIssuer::start().await.unwrap();
    let evil_key = evil.active_key();
    let evil_jwk = evil_key.public_jwk().unwrap();
    let headers = [
        json!({"alg": "RS256", "kid": "RS256-1", "jwk": evil_jwk}),
        json!({"alg": "RS256", "jwk": evil_jwk}),
        json!({"alg": "RS256", "kid": "RS256-1", "jku": evil.jwks_url()}),
        json!({"alg": "RS256", "kid": "RS256-1", "x5u": evil.jwks_url()}),
        json!({"alg": "RS256", "kid": "RS256-1", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for h in headers {
        let t = sign_jwt(&h, &env.claims(), &evil_key).unwrap();
        assert_rejected(&env, &h.to_string(), &t, "the token signature is invalid").await;
    }
    // With the attacker's own kid and a jku pointing at the attacker's JWKS.
    let h =
        json!({"alg": "RS256", "kid": evil_key.kid().to_owned() + "-evil", "jku": evil.jwks_url()});
    let t = sign_jwt(&h, &env.claims(), &evil_key).unwrap();
    assert_rejected(&env, "jku", &t, "the token signing key is unknown").await;
    assert_eq!(evil.jwks_hits(), 0, "a jku/x5u URL must never be fetched");
    assert_eq!(evil.discovery_hits(), 0);
}

#[tokio::test]
async fn unknown_crit_is_rejected() {
    let env = env().await;
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!(["urn:example:ext"]),
        json!([]),
        json!("exp"),
    ] {
        let mut h = env.header("RS256-1");
        h["crit"] = crit.clone();
        h["urn:example:ext"] = json!(true);
        let t = env.sign(&h, &env.claims(), "RS256-1");
        assert_rejected(
            &env,
            &crit.to_string(),
            &t,
            "the token has an unsupported critical header",
        )
        .await;
    }
}

#[tokio::test]
async fn psychic_ecdsa_signature() {
    let env = env().await;
    let h = env.header("ES256-1");
    for sig in [vec![0u8; 64], vec![], vec![0u8; 1], vec![0xffu8; 64]] {
        let t = assemble(&h, &env.claims(), &sig);
        let want = if sig.is_empty() {
            "the token is malformed"
        } else {
            "the token signature is invalid"
        };
        assert_rejected(&env, "psychic", &t, want).await;
    }
    // r = s = 0 in DER form too.
    let t = assemble(
        &h,
        &env.claims(),
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    );
    assert_rejected(&env, "psychic der", &t, "the token signature is invalid").await;
}

#[tokio::test]
async fn wrong_key_with_a_legit_kid() {
    let env = env().await;
    for (alg, kid) in [
        (Algorithm::RS256, "RS256-1"),
        (Algorithm::PS256, "PS256-1"),
        (Algorithm::ES256, "ES256-1"),
        (Algorithm::EdDSA, "EdDSA-1"),
    ] {
        let other = SigningKey::generate(alg, kid).unwrap();
        let t = sign_jwt(&env.header(kid), &env.claims(), &other).unwrap();
        assert_rejected(&env, kid, &t, "the token signature is invalid").await;
    }
    // Tampered payload, original signature.
    let t = env.sign(&env.header("RS256-1"), &env.claims(), "RS256-1");
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let mut c = env.claims();
    c["scope"] = json!("orders:read orders:admin");
    parts[1] = b64(c.to_string().as_bytes());
    assert_rejected(
        &env,
        "tampered",
        &parts.join("."),
        "the token signature is invalid",
    )
    .await;
}

#[tokio::test]
async fn malformed_tokens() {
    let env = env().await;
    let good = env.sign(&env.header("RS256-1"), &env.claims(), "RS256-1");
    let parts: Vec<&str> = good.split('.').collect();
    let header_only = parts[0].to_string();
    let cases: Vec<(String, &str)> = vec![
        ("abc".into(), "the token is malformed"),
        (
            format!("{}.{}", parts[0], parts[1]),
            "the token is malformed",
        ),
        (format!("{good}.extra"), "the token is malformed"),
        (
            format!(
                "{}.{}.{}.{}.{}",
                parts[0], parts[1], parts[2], parts[2], parts[2]
            ),
            "the token is malformed",
        ),
        (format!("..{}", parts[2]), "the token is malformed"),
        (
            format!("{header_only}~.{}.{}", parts[1], parts[2]),
            "the token is malformed",
        ),
        (
            format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
            "the token is malformed",
        ),
        (
            format!("{}.{}.{}", b64(b"[1,2]"), parts[1], parts[2]),
            "the token is malformed",
        ),
        (
            format!(
                "{}.{}.{}",
                b64(b"{\"kid\":\"RS256-1\"}"),
                parts[1],
                parts[2]
            ),
            "the token is malformed",
        ),
        (
            format!("{}.{}.{}", b64(b"{\"alg\":7}"), parts[1], parts[2]),
            "the token is malformed",
        ),
        (
            format!(
                "{}.{}.{}",
                b64(b"{\"alg\":\"RS256\",\"alg\":\"none\"}"),
                parts[1],
                parts[2]
            ),
            "the token is malformed",
        ),
        (
            format!("{}.{}.{}", b64(b"{\"alg\":\"XS999\"}"), parts[1], parts[2]),
            "the token algorithm is not allowed",
        ),
    ];
    for (t, want) in cases {
        assert_rejected(&env, &t, &t, want).await;
    }
    // Padding inside the token breaks the b64token grammar: the request itself is malformed.
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    let r = env.protected(&padded).await;
    r.assert_challenge(
        400,
        &warden_tests::invalid_request("the bearer credential is malformed"),
        "",
    );
    // Correctly signed, but the payload is not base64url / not JSON / duplicated claims.
    let key = env.issuer.key("RS256-1").unwrap();
    let h64 = b64(env.header("RS256-1").to_string().as_bytes());
    let now = now_secs();
    let payloads = [
        "ab+/cd".to_string(),
        b64(b"not json"),
        b64(b"[]"),
        b64(format!(
            r#"{{"iss":"{}","aud":"{AUD}","exp":{},"exp":{}}}"#,
            env.issuer.issuer(),
            now + 60,
            now + 99
        )
        .as_bytes()),
    ];
    for p in payloads {
        let input = format!("{h64}.{p}");
        let sig = key.sign(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", b64(&sig));
        assert_rejected(&env, &p, &t, "the token is malformed").await;
    }
}

#[tokio::test]
async fn claim_types_and_values() {
    let env = env().await;
    let now = now_secs() as i64;
    let iss = env.issuer.issuer().to_owned();
    let wrong_type = "the token has a claim of the wrong type";
    type Edit = Box<dyn Fn(&mut Value)>;
    let mut cases: Vec<(&str, Edit, Option<&str>)> = vec![
        (
            "exp string",
            Box::new(move |c| c["exp"] = json!((now + 300).to_string())),
            Some(wrong_type),
        ),
        (
            "exp null",
            Box::new(|c| c["exp"] = Value::Null),
            Some(wrong_type),
        ),
        (
            "exp bool",
            Box::new(|c| c["exp"] = json!(true)),
            Some(wrong_type),
        ),
        (
            "exp huge",
            Box::new(|c| c["exp"] = json!(1e300)),
            Some(wrong_type),
        ),
        (
            "exp missing",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Some("the token lacks a required claim"),
        ),
        (
            "nbf string",
            Box::new(move |c| c["nbf"] = json!(now.to_string())),
            Some(wrong_type),
        ),
        (
            "nbf null",
            Box::new(|c| c["nbf"] = Value::Null),
            Some(wrong_type),
        ),
        (
            "iat string",
            Box::new(move |c| c["iat"] = json!(now.to_string())),
            Some(wrong_type),
        ),
        (
            "expired",
            Box::new(move |c| c["exp"] = json!(now - 120)),
            Some("the token has expired"),
        ),
        (
            "expired within leeway",
            Box::new(move |c| c["exp"] = json!(now - 30)),
            None,
        ),
        (
            "fractional exp",
            Box::new(move |c| c["exp"] = json!(now as f64 + 100.5)),
            None,
        ),
        (
            "not yet valid",
            Box::new(move |c| c["nbf"] = json!(now + 600)),
            Some("the token is not yet valid"),
        ),
        (
            "nbf within leeway",
            Box::new(move |c| c["nbf"] = json!(now + 30)),
            None,
        ),
        (
            "issued in the future",
            Box::new(move |c| c["iat"] = json!(now + 600)),
            Some("the token was issued in the future"),
        ),
        (
            "wrong iss",
            Box::new(|c| c["iss"] = json!("https://evil.example")),
            Some("the token issuer is not accepted"),
        ),
        (
            "iss trailing slash",
            Box::new(move |c| c["iss"] = json!(format!("{iss}/"))),
            Some("the token issuer is not accepted"),
        ),
        (
            "iss missing",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            Some("the token lacks a required claim"),
        ),
        (
            "iss number",
            Box::new(|c| c["iss"] = json!(5)),
            Some(wrong_type),
        ),
        (
            "wrong aud",
            Box::new(|c| c["aud"] = json!("api://billing")),
            Some("the token audience is not accepted"),
        ),
        (
            "aud missing",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            Some("the token audience is not accepted"),
        ),
        (
            "aud empty array",
            Box::new(|c| c["aud"] = json!([])),
            Some("the token audience is not accepted"),
        ),
        (
            "aud array without ours",
            Box::new(|c| c["aud"] = json!(["a", "b"])),
            Some("the token audience is not accepted"),
        ),
        (
            "aud array with ours",
            Box::new(|c| c["aud"] = json!(["account", AUD])),
            None,
        ),
        (
            "aud object",
            Box::new(|c| c["aud"] = json!({"x": AUD})),
            Some(wrong_type),
        ),
        (
            "scope number",
            Box::new(|c| c["scope"] = json!(3)),
            Some(wrong_type),
        ),
        (
            "sub number",
            Box::new(|c| c["sub"] = json!(3)),
            Some(wrong_type),
        ),
    ];
    for (name, edit, want) in cases.drain(..) {
        let mut c = env.claims();
        edit(&mut c);
        let t = env.sign(&env.header("ES256-1"), &c, "ES256-1");
        match want {
            Some(d) => assert_rejected(&env, name, &t, d).await,
            None => assert_eq!(env.protected(&t).await.status, 200, "{name}"),
        }
    }
}

#[tokio::test]
async fn typ_header() {
    let env = env().await;
    for (typ, ok) in [
        (Some("at+jwt"), true),
        (Some("application/at+jwt"), true),
        (Some("AT+JWT"), true),
        (Some("JWT"), true),
        (None, true),
        (Some("id_token+jwt"), false),
        (Some("id+jwt"), false),
        (Some("logout+jwt"), false),
        (Some("secevent+jwt"), false),
        (Some("dpop+jwt"), false),
    ] {
        let mut h = json!({"alg": "EdDSA", "kid": "EdDSA-1"});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        let t = env.sign(&h, &env.claims(), "EdDSA-1");
        if ok {
            assert_eq!(env.protected(&t).await.status, 200, "{typ:?}");
        } else {
            assert_rejected(
                &env,
                typ.unwrap_or("-"),
                &t,
                "the token type is not an access token",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn strict_rfc9068_typ() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = JwtValidator::builder()
        .issuer(issuer.issuer())
        .audience(AUD)
        .strict_typ()
        .jwks_url(issuer.jwks_url())
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let key = issuer.active_key();
    for (typ, ok) in [
        (Some("at+jwt"), true),
        (Some("application/at+jwt"), true),
        (Some("JWT"), false),
        (None, false),
    ] {
        let mut h = json!({"alg": "RS256", "kid": key.kid()});
        if let Some(t) = typ {
            h["typ"] = json!(t);
        }
        let t = sign_jwt(&h, &issuer.claims(AUD), &key).unwrap();
        assert_eq!(v.validate_token(&t).await.is_ok(), ok, "{typ:?}");
    }
}

#[tokio::test]
async fn oversized_token_is_refused_before_parsing() {
    let env = env().await;
    let t = "a".repeat(17 * 1024);
    assert_rejected(&env, "oversized", &t, "the token is too large").await;
}

#[tokio::test]
async fn scope_shapes_from_real_issuers() {
    let env = env().await;
    let shapes = [
        json!({"scope": "orders:read profile"}),
        json!({"scope": ["orders:read", "profile"]}),
        json!({"scp": "orders:read profile"}),
        json!({"scp": ["orders:read", "profile"]}),
        json!({"scope": "profile", "scp": ["orders:read"]}),
    ];
    for s in shapes {
        let mut c = env.claims();
        c.as_object_mut().unwrap().remove("scope");
        for (k, v) in s.as_object().unwrap() {
            c[k] = v.clone();
        }
        let t = env.sign(&env.header("PS256-1"), &c, "PS256-1");
        let r = get_bearer(&format!("{}/scoped", env.base), &t).await;
        assert_eq!(r.status, 200, "{s}: {r:?}");
    }
    // Without the scope: 403 with the scope in the challenge.
    let mut c = env.claims();
    c["scope"] = json!("profile");
    let t = env.sign(&env.header("PS256-1"), &c, "PS256-1");
    let r = get_bearer(&format!("{}/scoped", env.base), &t).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.www.as_deref(),
        Some(
            r#"Bearer error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:read""#
        )
    );
    // /public needs nothing.
    assert_eq!(get(&format!("{}/public", env.base), &[]).await.status, 200);
}

#[tokio::test]
async fn shared_secret_is_the_only_way_to_hmac() {
    let secret = [7u8; 32];
    let v = JwtValidator::builder()
        .issuer("https://id.example")
        .audience(AUD)
        .keys(
            warden::inbound::jwt::KeySet::from_shared_secret(
                warden::inbound::jwt::Algorithm::HS256,
                &secret,
                None,
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let now = now_secs();
    let claims = json!({"iss": "https://id.example", "aud": AUD, "exp": now + 60, "sub": "svc"});
    let t = sign_jwt(
        &json!({"alg": "HS256"}),
        &claims,
        &SigningKey::hmac(secret.to_vec(), "k"),
    )
    .unwrap();
    let p = v.validate_token(&t).await.unwrap();
    assert_eq!(p.subject(), Some("svc"));
    let t = sign_jwt(
        &json!({"alg": "HS256"}),
        &claims,
        &SigningKey::hmac(vec![8u8; 32], "k"),
    )
    .unwrap();
    assert!(v.validate_token(&t).await.is_err());
    // HS384 was not configured.
    let t = sign_jwt(
        &json!({"alg": "HS384"}),
        &claims,
        &SigningKey::hmac(secret.to_vec(), "k"),
    )
    .unwrap();
    assert_eq!(
        v.validate_token(&t).await.unwrap_err(),
        warden::AuthError::InvalidToken(warden::inbound::InvalidToken::DisallowedAlgorithm)
    );
}
