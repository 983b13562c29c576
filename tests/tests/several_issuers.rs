//! One validator, several issuers (#15): two in-process issuers with
//! distinct keys and a third the validator does not know, over real HTTP
//! through `RequireBearerLayer`; the tenant template (Entra ID's shape) and
//! the issuers that bend the rules (Cognito, Keycloak `azp`, custom
//! domains), each refused by the default and accepted by its option.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use warden::inbound::InvalidToken;
use warden::{AuthError, JwtValidator, Principal, RequireBearerLayer};
use warden_issuer::{Algorithm, TestIssuer, fresh_id};
use warden_tests::{get_bearer, invalid_token};

const AUD: &str = "api://orders";

fn trusting(a: &TestIssuer, b: &TestIssuer) -> JwtValidator {
    JwtValidator::multi_issuer()
        .trust(
            JwtValidator::builder()
                .issuer(a.issuer())
                .audience(AUD)
                .dangerous()
                .allow_http(),
        )
        .trust(
            // B names its JWKS directly: each issuer has its own key source.
            JwtValidator::builder()
                .issuer(b.issuer())
                .audience(AUD)
                .jwks_url(b.jwks_url())
                .dangerous()
                .allow_http(),
        )
        .build()
        .unwrap()
}

/// A resource on loopback that answers with the issuer that accepted the
/// caller.
async fn resource(v: JwtValidator) -> String {
    let app = Router::new()
        .route(
            "/whoami",
            get(
                |p: axum::Extension<Principal>| async move { p.issuer().unwrap_or("-").to_owned() },
            ),
        )
        .layer(RequireBearerLayer::new(v));
    format!("http://{}/whoami", warden_tests::serve(app).await)
}

fn hits(i: &TestIssuer) -> usize {
    i.discovery_hits() + i.jwks_hits()
}

#[tokio::test]
async fn each_issuer_with_its_own_keys_and_nothing_fetched_for_strangers() {
    let a = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    let b = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
    let stranger = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    // The same kid at both issuers, with different key material.
    let a_shared = a.add_key(Algorithm::RS256, "shared").unwrap();
    let b_shared = b.add_key(Algorithm::RS256, "shared").unwrap();
    let v = trusting(&a, &b);
    let url = resource(v.clone()).await;

    // Tokens of each issuer are accepted, and the principal says by whom.
    for (issuer, key) in [(&a, a.active_key()), (&b, b.active_key())] {
        let token = issuer.mint_with(&key, &issuer.claims(AUD)).unwrap();
        let r = get_bearer(&url, &token).await;
        assert_eq!((r.status, r.body.as_str()), (200, issuer.issuer()));
    }
    // A kid present at both resolves per issuer.
    for (issuer, key) in [(&a, &a_shared), (&b, &b_shared)] {
        let token = issuer.mint_with(key, &issuer.claims(AUD)).unwrap();
        let r = get_bearer(&url, &token).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, issuer.issuer()),
            "shared kid"
        );
    }
    // A's key signing a token that claims B: B's keys decide, and refuse it,
    // under B's own kid and under the shared one.
    for key in [a.active_key(), a_shared.clone()] {
        let mut claims = b.claims(AUD);
        claims["iss"] = json!(b.issuer());
        let forged = a.mint_with(&key, &claims).unwrap();
        assert!(v.validate_token(&forged).await.is_err(), "{}", key.kid());
        let r = get_bearer(&url, &forged).await;
        assert_eq!(r.status, 401, "A's key claiming B");
    }
    let (a_hits, b_hits) = (hits(&a), hits(&b));

    // The third issuer's tokens: refused at once, nothing fetched anywhere.
    let token = stranger.mint(&stranger.claims(AUD)).unwrap();
    let r = get_bearer(&url, &token).await;
    r.assert_challenge(
        401,
        &invalid_token("the token issuer is not accepted"),
        "stranger",
    );
    assert_eq!(
        v.validate_token(&token).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongIssuer)
    );
    assert_eq!(hits(&stranger), 0, "the stranger's keys are never fetched");
    // No `iss` at all: refused before any key lookup.
    let mut no_iss = a.claims(AUD);
    no_iss.as_object_mut().unwrap().remove("iss");
    let token = a.mint(&no_iss).unwrap();
    assert_eq!(
        v.validate_token(&token).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::MissingClaim("iss"))
    );

    // A storm of 10,000 tokens claiming random issuers with random kids
    // (unsigned garbage: what an unauthenticated peer can send for free).
    let mut refused = 0;
    for n in 0..10_000 {
        let mut claims = a.claims(AUD);
        claims["iss"] = json!(format!("https://issuer-{n}-{}.example", fresh_id()));
        let header = json!({"alg": "RS256", "kid": format!("kid-{n}")});
        let token = warden_issuer::assemble(&header, &claims, b"sig");
        if v.validate_token(&token).await.err()
            == Some(AuthError::InvalidToken(InvalidToken::WrongIssuer))
        {
            refused += 1;
        }
    }
    assert_eq!(refused, 10_000);
    assert_eq!(
        (hits(&a), hits(&b)),
        (a_hits, b_hits),
        "no fetch in the storm"
    );
    assert_eq!(hits(&stranger), 0);

    // Both issuers are listed, each with its own key set.
    assert_eq!(v.issuers(), [a.issuer(), b.issuer()]);
    let status = v.issuer_status();
    assert!(
        status.iter().all(|(_, s)| s.ready && s.keys >= 2),
        "{status:?}"
    );
    assert!(v.is_ready());
}

#[tokio::test]
async fn building_several_issuers_refuses_contradictions() {
    let a = JwtValidator::builder()
        .issuer("https://a.example")
        .audience(AUD);
    let same = JwtValidator::builder()
        .issuer("https://a.example")
        .audience("x");
    let err = JwtValidator::multi_issuer()
        .trust(a)
        .trust(same)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("trusted twice"), "{err}");
    let waived = JwtValidator::builder()
        .audience(AUD)
        .dangerous()
        .skip_issuer_check();
    let other = JwtValidator::builder()
        .issuer("https://b.example")
        .audience(AUD);
    let err = JwtValidator::multi_issuer()
        .trust(other)
        .trust(waived)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("skip_issuer_check"), "{err}");
    assert!(JwtValidator::multi_issuer().build().is_err());
    // A template never discovers its keys from a token.
    let err = JwtValidator::builder()
        .issuer_template("https://login.example/{tenantid}/v2.0")
        .audience(AUD)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("jwks_url"), "{err}");
    let err = JwtValidator::builder()
        .issuer_template("https://login.example/common/v2.0")
        .audience(AUD)
        .jwks_url("https://login.example/keys")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("{tenantid}"), "{err}");
}

/// Entra ID's multi-tenant shape, on loopback: the template is the test
/// issuer's URL with `{tenantid}` in it, and the keys come from its JWKS.
#[tokio::test]
async fn tenant_template_checks_tid_and_the_allow_list() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    let template = format!("{}/{{tenantid}}/v2.0", issuer.issuer());
    let build = |tenants: &[&str]| {
        let mut b = JwtValidator::builder()
            .issuer_template(&template)
            .jwks_url(issuer.jwks_url())
            .audience(AUD);
        if !tenants.is_empty() {
            b = b.tenants(tenants.iter().copied());
        }
        b.dangerous().allow_http().build().unwrap()
    };
    let token = |tenant: &str, tid: Option<&str>| {
        let mut c = issuer.claims(AUD);
        c["iss"] = json!(format!("{}/{tenant}/v2.0", issuer.issuer()));
        if let Some(tid) = tid {
            c["tid"] = json!(tid);
        }
        issuer.mint(&c).unwrap()
    };
    let any = build(&[]);
    let url = resource(any.clone()).await;
    let t1 = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let ok = any.validate_token(&token(t1, Some(t1))).await.unwrap();
    assert_eq!(ok.tenant(), Some(t1));
    assert_eq!(
        ok.issuer(),
        Some(format!("{}/{t1}/v2.0", issuer.issuer()).as_str())
    );
    assert_eq!(get_bearer(&url, &token(t1, Some(t1))).await.status, 200);
    // A `tid` naming another tenant than the issuer does.
    let r = get_bearer(&url, &token(t1, Some("other-tenant"))).await;
    r.assert_challenge(
        401,
        &invalid_token("the token tenant is not accepted"),
        "tid",
    );
    assert_eq!(
        any.validate_token(&token(t1, None)).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::MissingClaim("tid"))
    );
    // Not the template's shape (a path in the tenant), or not the template.
    for iss in [
        format!("{}/a/b/v2.0", issuer.issuer()),
        format!("{}/{t1}/v1.0", issuer.issuer()),
    ] {
        let mut c = issuer.claims(AUD);
        c["iss"] = json!(iss);
        c["tid"] = json!(t1);
        let err = any
            .validate_token(&issuer.mint(&c).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::InvalidToken(InvalidToken::WrongIssuer),
            "{iss}"
        );
    }
    // The allow-list: the listed tenant passes, another is refused before
    // any key lookup.
    let listed = build(&[t1]);
    assert!(listed.validate_token(&token(t1, Some(t1))).await.is_ok());
    let fetched = hits(&issuer);
    assert_eq!(
        listed
            .validate_token(&token("another", Some("another")))
            .await
            .unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongIssuer)
    );
    assert_eq!(hits(&issuer), fetched);
}

/// Entra v1.0 tokens next to v2.0 with one set of keys (the preset's
/// templates, pointed at loopback through `issuer_template`).
#[tokio::test]
async fn entra_v1_next_to_v2_and_the_preset() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let v = JwtValidator::builder()
        .issuer_template(format!("{}/{{tenantid}}/v2.0", issuer.issuer()))
        .issuer_template(format!("{}/sts/{{tenantid}}/", issuer.issuer()))
        .jwks_url(issuer.jwks_url())
        .audiences([AUD, "api://orders-v1"])
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let mut v2 = issuer.claims(AUD);
    v2["iss"] = json!(format!("{}/{tid}/v2.0", issuer.issuer()));
    v2["tid"] = json!(tid);
    v2["ver"] = json!("2.0");
    let mut v1 = issuer.claims("api://orders-v1");
    v1["iss"] = json!(format!("{}/sts/{tid}/", issuer.issuer()));
    v1["tid"] = json!(tid);
    v1["ver"] = json!("1.0");
    v1.as_object_mut().unwrap().remove("client_id");
    v1["appid"] = json!("0f4e-client");
    for c in [&v2, &v1] {
        let p = v.validate_token(&issuer.mint(c).unwrap()).await.unwrap();
        assert_eq!(p.tenant(), Some(tid));
    }
    let p = v.validate_token(&issuer.mint(&v1).unwrap()).await.unwrap();
    assert_eq!(
        p.client_id(),
        Some("0f4e-client"),
        "v1's appid is the client"
    );

    // The preset names Microsoft's issuers and key URL; building it needs
    // no network (keys are fetched in the background).
    let preset = JwtValidator::builder()
        .entra_id()
        .entra_v1()
        .tenants([tid])
        .audience("6e2a-app")
        .build()
        .unwrap();
    assert_eq!(
        preset.issuers(),
        ["https://login.microsoftonline.com/{tenantid}/v2.0"]
    );
}

#[tokio::test]
async fn cognito_access_tokens_only_by_option() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    // Cognito's access token: no `aud`, `client_id`, `token_use: access`.
    let mut access = issuer.claims(AUD);
    access.as_object_mut().unwrap().remove("aud");
    access["client_id"] = json!("5r2q-app");
    access["token_use"] = json!("access");
    let access = issuer.mint(&access).unwrap();
    // The ID token of the same client: `aud` is the client id.
    let mut id = issuer.claims("5r2q-app");
    id["token_use"] = json!("id");
    let id = issuer.mint(&id).unwrap();

    // The default refuses the access token: it has no audience.
    let plain = warden_tests::jwt_validator(issuer.issuer(), AUD);
    assert_eq!(
        plain.validate_token(&access).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongAudience)
    );
    // The option accepts it for the listed client, and never an ID token.
    let cognito = |ids: &[&str]| {
        JwtValidator::builder()
            .issuer(issuer.issuer())
            .cognito_client_ids(ids.iter().copied())
            .dangerous()
            .allow_http()
            .build()
            .unwrap()
    };
    let v = cognito(&["5r2q-app"]);
    let url = resource(v.clone()).await;
    assert_eq!(get_bearer(&url, &access).await.status, 200);
    let r = get_bearer(&url, &id).await;
    r.assert_challenge(
        401,
        &invalid_token("the token client is not accepted"),
        "id token",
    );
    let other = cognito(&["another-app"]);
    assert_eq!(
        other.validate_token(&access).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongClient)
    );
}

#[tokio::test]
async fn keycloak_azp_and_custom_domains_only_by_option() {
    let issuer = TestIssuer::start_with(&[Algorithm::RS256]).await.unwrap();
    // Keycloak without an Audience mapper: `aud` is "account", `azp` the client.
    let mut kc: Value = issuer.claims("account");
    kc.as_object_mut().unwrap().remove("client_id");
    kc["azp"] = json!("orders-web");
    let kc = issuer.mint(&kc).unwrap();
    let plain = warden_tests::jwt_validator(issuer.issuer(), AUD);
    assert_eq!(
        plain.validate_token(&kc).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongAudience)
    );
    let by_azp = |clients: &[&str], aud: Option<&str>| {
        let mut b = JwtValidator::builder()
            .issuer(issuer.issuer())
            .authorized_parties(clients.iter().copied());
        if let Some(aud) = aud {
            b = b.audience(aud);
        }
        b.dangerous().allow_http().build().unwrap()
    };
    let p = by_azp(&["orders-web"], None)
        .validate_token(&kc)
        .await
        .unwrap();
    assert_eq!(p.client_id(), Some("orders-web"));
    assert_eq!(
        by_azp(&["other"], None)
            .validate_token(&kc)
            .await
            .unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongClient)
    );
    // With an audience configured too, both must hold.
    assert_eq!(
        by_azp(&["orders-web"], Some(AUD))
            .validate_token(&kc)
            .await
            .unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongAudience)
    );

    // An Auth0/Okta custom domain: tokens asked for at the tenant's own
    // domain say so in `iss`, and are signed with the same keys.
    let canonical = "https://shop.eu.auth0.com/";
    let mut c = issuer.claims(AUD);
    c["iss"] = json!(canonical);
    let token = issuer.mint(&c).unwrap();
    assert_eq!(
        plain.validate_token(&token).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::WrongIssuer)
    );
    let aliased = JwtValidator::builder()
        .issuer(issuer.issuer())
        .issuer_alias(canonical)
        .audience(AUD)
        .dangerous()
        .allow_http()
        .build()
        .unwrap();
    let p = aliased.validate_token(&token).await.unwrap();
    assert_eq!(p.issuer(), Some(canonical));
    let own = issuer.mint(&issuer.claims(AUD)).unwrap();
    assert!(aliased.validate_token(&own).await.is_ok());
}

/// Several authorization servers behind one validator, for the tokens that
/// are not verified locally: an issuer whose JWTs must be asked about
/// (revocation at once) goes to its own endpoint, opaque tokens go by their
/// prefix, the rest to the default endpoint.
#[tokio::test]
async fn introspection_by_issuer_and_by_prefix() {
    use std::time::Duration;
    use warden::inbound::TokenValidator;
    use warden::inbound::introspect::JwtOrIntrospect;

    let a = TestIssuer::start_dev().await.unwrap();
    let b = TestIssuer::start_dev().await.unwrap();
    // Each resource server introspects as the client whose audience it is
    // (the issuer tells a token's state only to the resource it is for).
    let ask = |url: &str, issuer: &str, aud: &str| {
        let client = match aud {
            AUD => ("svc-orders", "svc-orders-secret"),
            _ => warden_tests::RS_LEDGER,
        };
        warden_tests::introspection(url, client, issuer, aud)
            .cache_max_age(Duration::ZERO)
            .build()
            .unwrap()
    };
    // A foreign server whose opaque tokens carry a prefix.
    let exp = warden_issuer::now_secs() + 300;
    let ory = warden_tests::answering(
        "/introspect",
        json!({"active": true, "iss": "https://ory.example", "aud": AUD, "exp": exp,
               "sub": "bob", "scope": "orders:read"})
        .to_string(),
    )
    .await;
    let v = JwtOrIntrospect::new(
        trusting(&a, &b),
        ask(&a.introspection_url(), a.issuer(), "api://ledger"),
    )
    .introspect_issuer(b.issuer(), ask(&b.introspection_url(), b.issuer(), AUD))
    .introspect_prefix("ory_at_", ask(&ory, "https://ory.example", AUD));

    // A's JWT: verified locally, nobody asked.
    let token = a.mint(&a.claims(AUD)).unwrap();
    assert_eq!(v.validate(&token).await.unwrap().issuer(), Some(a.issuer()));
    assert_eq!((a.introspection_hits(), b.introspection_hits()), (0, 0));
    // B's JWT: asked at B, so B's revocation takes effect at once.
    let form = [("resource", AUD), ("scope", "orders:read")];
    let token = warden_tests::batch_token(&b.token_url(), &form).await;
    assert_eq!(v.validate(&token).await.unwrap().issuer(), Some(b.issuer()));
    assert_eq!(b.introspection_hits(), 1);
    let status = warden_tests::revoke(&b.revocation_url(), warden_tests::BATCH, &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        v.validate(&token).await.unwrap_err(),
        AuthError::InvalidToken(InvalidToken::Inactive)
    );
    assert_eq!((a.introspection_hits(), b.introspection_hits()), (0, 2));
    // A's opaque token: the default endpoint.
    let opaque = warden_tests::batch_token(&a.token_url(), &[("scope", "ledger:read")]).await;
    let p = v.validate(&opaque).await.unwrap();
    assert_eq!((p.issuer(), a.introspection_hits()), (Some(a.issuer()), 1));
    // A prefixed opaque token: the foreign server.
    let p = v.validate("ory_at_Zm9vYmFy").await.unwrap();
    assert_eq!(
        (p.issuer(), p.subject()),
        (Some("https://ory.example"), Some("bob"))
    );
    assert_eq!((a.introspection_hits(), b.introspection_hits()), (1, 2));
}
