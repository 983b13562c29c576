//! DPoP proofs (#16, RFC 9449 §4.3): every check, each with a proof that
//! fails that check only, against the verifier warden's layers use; keys
//! of every asymmetric family from warden-issuer's signing keys.

use std::time::Duration;

use serde_json::{Value, json};
use warden::inbound::dpop::{InvalidProof, ProofRequest, ProofVerifier, VerifiedProof};
use warden::inbound::jwt::dpop::{DpopVerifier, thumbprint, token_hash};
use warden::testing::ManualClock;
use warden_issuer::{Algorithm, SigningKey, b64, now_secs, sign_jwt};

const URI: &str = "https://api.example.com/orders/7";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

struct Client {
    key: SigningKey,
}

impl Client {
    fn new(alg: Algorithm) -> Self {
        Self {
            key: SigningKey::generate(alg, "dpop").unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk().unwrap();
        let o = jwk.as_object_mut().unwrap();
        for m in ["kid", "alg", "use"] {
            o.remove(m);
        }
        jwk
    }

    fn jkt(&self) -> String {
        thumbprint(&self.jwk()).unwrap()
    }

    /// A proof for GET URI with TOKEN, edited.
    fn proof(&self, header: impl FnOnce(&mut Value), claims: impl FnOnce(&mut Value)) -> String {
        let mut h = json!({"typ": "dpop+jwt", "alg": self.key.alg().as_str(), "jwk": self.jwk()});
        header(&mut h);
        let mut c = json!({
            "jti": format!("jti-{}", warden_issuer::fresh_id()),
            "htm": "GET",
            "htu": URI,
            "iat": now_secs(),
            "ath": token_hash(TOKEN),
        });
        claims(&mut c);
        sign_jwt(&h, &c, &self.key).unwrap()
    }

    fn good(&self) -> String {
        self.proof(|_| {}, |_| {})
    }
}

fn request<'a>(jkt: &'a str) -> ProofRequest<'a> {
    ProofRequest {
        method: "GET",
        uri: URI,
        access_token: Some(TOKEN),
        jkt: Some(jkt),
    }
}

fn verify(proof: &str, jkt: &str) -> Result<VerifiedProof, InvalidProof> {
    DpopVerifier::new().verify(proof, &request(jkt))
}

#[test]
fn a_good_proof_of_every_family_passes() {
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::EdDSA,
    ] {
        let c = Client::new(alg);
        let v = verify(&c.good(), &c.jkt()).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(v.jkt, c.jkt());
        assert!(v.replay_key().ends_with(&v.jti));
    }
}

#[test]
fn each_check_refuses_a_proof_that_fails_it_only() {
    let c = Client::new(Algorithm::ES256);
    let jkt = c.jkt();
    let other = Client::new(Algorithm::ES256);
    let hs = SigningKey::hmac(b"0123456789abcdef0123456789abcdef".to_vec(), "h");
    let stale = now_secs() - 120;
    let future = now_secs() + 120;
    let cases: Vec<(&str, String, InvalidProof)> = vec![
        ("wrong htm", c.proof(|_| {}, |c| c["htm"] = json!("POST")), InvalidProof::WrongMethod),
        ("htm lower-case", c.proof(|_| {}, |c| c["htm"] = json!("get")), InvalidProof::WrongMethod),
        (
            "htu with another path",
            c.proof(|_| {}, |c| c["htu"] = json!("https://api.example.com/orders/8")),
            InvalidProof::WrongUri,
        ),
        (
            "htu on another host",
            c.proof(|_| {}, |c| c["htu"] = json!("https://evil.example.com/orders/7")),
            InvalidProof::WrongUri,
        ),
        ("stale iat", c.proof(|_| {}, |c| c["iat"] = json!(stale)), InvalidProof::Stale),
        ("future iat", c.proof(|_| {}, |c| c["iat"] = json!(future)), InvalidProof::Stale),
        (
            "string iat",
            c.proof(|_| {}, |c| c["iat"] = json!(now_secs().to_string())),
            InvalidProof::MissingClaim("iat"),
        ),
        (
            "wrong ath",
            c.proof(|_| {}, |c| c["ath"] = json!(token_hash("another token"))),
            InvalidProof::WrongTokenHash,
        ),
        (
            "no ath",
            c.proof(|_| {}, |c| drop(c.as_object_mut().unwrap().remove("ath"))),
            InvalidProof::MissingClaim("ath"),
        ),
        (
            "no jti",
            c.proof(|_| {}, |c| drop(c.as_object_mut().unwrap().remove("jti"))),
            InvalidProof::MissingClaim("jti"),
        ),
        ("token bound to another key", other.good(), InvalidProof::WrongKey),
        (
            "private key in the jwk",
            {
                let pem = c.key.private_key_pem().unwrap();
                assert!(pem.contains("PRIVATE"));
                c.proof(|h| h["jwk"]["d"] = json!(b64(b"not really d")), |_| {})
            },
            InvalidProof::BadKey,
        ),
        ("no jwk", c.proof(|h| drop(h.as_object_mut().unwrap().remove("jwk")), |_| {}), InvalidProof::BadKey),
        (
            "alg none",
            {
                let good = c.good();
                let mut parts: Vec<&str> = good.split('.').collect();
                let h = json!({"typ": "dpop+jwt", "alg": "none", "jwk": c.jwk()});
                let h = b64(h.to_string().as_bytes());
                parts[0] = &h;
                parts[2] = "";
                parts.join(".")
            },
            InvalidProof::DisallowedAlgorithm,
        ),
        (
            "HS256",
            sign_jwt(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k")}}),
                &json!({"jti": "j", "htm": "GET", "htu": URI, "iat": now_secs(), "ath": token_hash(TOKEN)}),
                &hs,
            )
            .unwrap(),
            InvalidProof::DisallowedAlgorithm,
        ),
        (
            "alg of another family than the key",
            c.proof(|h| h["alg"] = json!("RS256"), |_| {}),
            InvalidProof::DisallowedAlgorithm,
        ),
        ("typ JWT", c.proof(|h| h["typ"] = json!("JWT"), |_| {}), InvalidProof::WrongType),
        (
            "signed by another key than the jwk",
            other.proof(|h| h["jwk"] = c.jwk(), |_| {}),
            InvalidProof::BadSignature,
        ),
        (
            "two proofs joined by a comma",
            format!("{},{}", c.good(), c.good()),
            InvalidProof::NotOne,
        ),
        ("not a JWS", "not.a.jws".to_owned(), InvalidProof::Malformed),
        (
            "htm given twice",
            {
                // Parsers that keep the first and the last would disagree.
                let h = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": c.jwk()});
                let claims = format!(
                    r#"{{"jti":"j2","htm":"POST","htm":"GET","htu":"{URI}","iat":{},"ath":"{}"}}"#,
                    now_secs(),
                    token_hash(TOKEN)
                );
                let input = format!("{}.{}", b64(h.to_string().as_bytes()), b64(claims.as_bytes()));
                format!("{input}.{}", b64(&c.key.sign(input.as_bytes()).unwrap()))
            },
            InvalidProof::Malformed,
        ),
        ("claims not an object", c.proof(|_| {}, |cl| *cl = json!(["GET"])), InvalidProof::Malformed),
        ("numeric jti", c.proof(|_| {}, |cl| cl["jti"] = json!(7)), InvalidProof::MissingClaim("jti")),
        ("empty htm", c.proof(|_| {}, |cl| cl["htm"] = json!("")), InvalidProof::MissingClaim("htm")),
    ];
    for (name, proof, want) in cases {
        assert_eq!(verify(&proof, &jkt).unwrap_err(), want, "{name}");
    }
}

#[test]
fn uri_comparison_ignores_query_and_normalizes() {
    let c = Client::new(Algorithm::ES256);
    let jkt = c.jkt();
    for (htu, uri) in [
        // A query-only difference is accepted (RFC 9449 §4.3 item 9).
        (URI, "https://api.example.com/orders/7?page=2"),
        ("https://API.example.com:443/orders/./7", URI),
        ("https://api.example.com/orders/%37", URI),
    ] {
        let proof = c.proof(|_| {}, |cl| cl["htu"] = json!(htu));
        let req = ProofRequest {
            uri,
            ..request(&jkt)
        };
        assert!(
            DpopVerifier::new().verify(&proof, &req).is_ok(),
            "{htu} {uri}"
        );
    }
}

#[test]
fn window_algorithms_and_a_proof_without_token() {
    let clock = ManualClock::starting_now();
    let c = Client::new(Algorithm::ES256);
    let proof = c.good();
    let v = DpopVerifier::new()
        .iat_window(Duration::from_secs(5))
        .clock(clock.clone());
    assert!(v.verify(&proof, &request(&c.jkt())).is_ok());
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        v.verify(&proof, &request(&c.jkt())),
        Err(InvalidProof::Stale)
    );
    // An allow-list without ES256 refuses it; HS256 is never admitted.
    let rsa_only = DpopVerifier::new().algorithms([Algorithm::RS256, Algorithm::HS256]);
    assert_eq!(rsa_only.accepted_algorithms(), ["RS256"]);
    assert_eq!(
        rsa_only.verify(&c.good(), &request(&c.jkt())),
        Err(InvalidProof::DisallowedAlgorithm)
    );
    // At the token endpoint there is no token yet: no ath required.
    let token_request = ProofRequest {
        method: "POST",
        uri: "https://as.example.com/token",
        access_token: None,
        jkt: None,
    };
    let proof = c.proof(
        |_| {},
        |cl| {
            cl["htm"] = json!("POST");
            cl["htu"] = json!("https://as.example.com/token");
            cl.as_object_mut().unwrap().remove("ath");
        },
    );
    assert_eq!(
        DpopVerifier::new()
            .verify(&proof, &token_request)
            .unwrap()
            .jkt,
        c.jkt()
    );
}

mod over_http {
    //! The layer with DPoP over real HTTP: a bound token with its proofs,
    //! the stolen-token and replay cases, the policies, the challenges.

    use super::*;
    use axum::Router;
    use axum::routing::get;
    use warden::inbound::dpop::{Dpop, DpopPolicy};
    use warden::{JwtValidator, RequireBearerLayer};
    use warden_issuer::TestIssuer;

    const AUD: &str = "api://orders";

    struct Site {
        issuer: TestIssuer,
        base: String,
        validator: JwtValidator,
    }

    /// A resource at `/orders/{id}` whose public URL is its loopback
    /// address, with DPoP under `policy` (or without DPoP at all).
    async fn site(policy: Option<DpopPolicy>) -> Site {
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
        let validator = warden_tests::jwt_validator(issuer.issuer(), AUD);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let dpop = policy.map(|p| Dpop::new(DpopVerifier::new(), &base).policy(p));
        serve(listener, &validator, dpop);
        Site {
            issuer,
            base,
            validator,
        }
    }

    /// Serves `/orders/{id}` behind a layer with `dpop` on `listener`.
    pub(super) fn serve_on(
        listener: tokio::net::TcpListener,
        validator: &JwtValidator,
        dpop: Dpop,
    ) {
        serve(listener, validator, Some(dpop));
    }

    /// Serves `/orders/{id}` behind the layer on `listener`.
    fn serve(listener: tokio::net::TcpListener, validator: &JwtValidator, dpop: Option<Dpop>) {
        let mut layer = RequireBearerLayer::new(validator.clone());
        if let Some(dpop) = dpop {
            layer = layer.dpop(dpop);
        }
        let app = Router::new()
            .route(
                "/orders/{id}",
                get(|| async { "order" }).post(|| async { "posted" }),
            )
            .route(
                "/admin",
                get(|| async { "admin" })
                    .route_layer(warden::RequireScopeLayer::all(["orders:admin"])),
            )
            .layer(layer);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    impl Site {
        /// A token bound to `client`'s key (or a plain one).
        fn token(&self, client: Option<&Client>) -> String {
            let mut c = self.issuer.claims(AUD);
            if let Some(client) = client {
                c["cnf"] = json!({"jkt": client.jkt()});
            }
            self.issuer.mint(&c).unwrap()
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }
    }

    /// A proof by `client` for `method url` and `token`.
    fn proof_for(client: &Client, method: &str, url: &str, token: &str) -> String {
        client.proof(
            |_| {},
            |c| {
                c["htm"] = json!(method);
                c["htu"] = json!(url);
                c["ath"] = json!(token_hash(token));
            },
        )
    }

    struct Answer {
        status: u16,
        challenges: Vec<String>,
    }

    async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = reqwest::Client::new().request(method.parse().unwrap(), url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        Answer {
            status: res.status().as_u16(),
            challenges: res
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
        }
    }

    /// A GET of `url` with `auth` and one `DPoP` proof.
    async fn send_with(url: &str, auth: &str, proof: &str) -> Answer {
        send("GET", url, &[("authorization", auth), ("dpop", proof)]).await
    }

    fn dpop_error(code: &str, description: &str) -> String {
        format!(
            r#"DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA", error="{code}", error_description="{description}""#
        )
    }

    #[tokio::test]
    async fn a_stolen_token_and_a_replayed_proof_are_useless() {
        let site = site(Some(DpopPolicy::Allow)).await;
        let alice = Client::new(Algorithm::ES256);
        let token = site.token(Some(&alice));
        let url = site.url("/orders/7");
        let auth = format!("DPoP {token}");

        // The holder of the key: accepted, twice with two proofs (the second
        // from the token cache, its proof checked all the same).
        for _ in 0..2 {
            let proof = proof_for(&alice, "GET", &url, &token);
            let a = send("GET", &url, &[("authorization", &auth), ("dpop", &proof)]).await;
            assert_eq!(a.status, 200);
        }
        // A query-only difference: the same htu.
        let proof = proof_for(&alice, "GET", &url, &token);
        let with_query = format!("{url}?page=2");
        let a = send(
            "GET",
            &with_query,
            &[("authorization", &auth), ("dpop", &proof)],
        )
        .await;
        assert_eq!(a.status, 200);

        // A replayed proof.
        let proof = proof_for(&alice, "GET", &url, &token);
        let ok = send("GET", &url, &[("authorization", &auth), ("dpop", &proof)]).await;
        assert_eq!(ok.status, 200);
        let again = send("GET", &url, &[("authorization", &auth), ("dpop", &proof)]).await;
        assert_eq!(again.status, 401);
        assert_eq!(
            again.challenges,
            [
                "Bearer",
                &dpop_error("invalid_dpop_proof", "the DPoP proof was used before")
            ]
        );

        // The stolen token without the key: as Bearer...
        let stolen = format!("Bearer {token}");
        let a = send("GET", &url, &[("authorization", &stolen)]).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.challenges[0],
            r#"Bearer error="invalid_token", error_description="the token is bound to a DPoP key""#
        );
        // ... as DPoP with the thief's own key...
        let mallory = Client::new(Algorithm::ES256);
        let proof = proof_for(&mallory, "GET", &url, &token);
        let a = send("GET", &url, &[("authorization", &auth), ("dpop", &proof)]).await;
        assert_eq!(
            a.challenges[1],
            dpop_error(
                "invalid_dpop_proof",
                "the DPoP proof key is not the one the token is bound to"
            )
        );
        // ... and without a proof.
        let a = send("GET", &url, &[("authorization", &auth)]).await;
        assert_eq!(
            a.challenges[1],
            dpop_error("invalid_dpop_proof", "exactly one DPoP proof is required")
        );

        // A proof for another request.
        for (name, proof) in [
            ("method", proof_for(&alice, "POST", &url, &token)),
            (
                "path",
                proof_for(&alice, "GET", &site.url("/orders/8"), &token),
            ),
        ] {
            let a = send("GET", &url, &[("authorization", &auth), ("dpop", &proof)]).await;
            assert_eq!(a.status, 401, "{name}");
            assert!(a.challenges[1].contains("invalid_dpop_proof"), "{name}");
        }
        // Two DPoP headers, or two proofs in one.
        let (p1, p2) = (
            proof_for(&alice, "GET", &url, &token),
            proof_for(&alice, "GET", &url, &token),
        );
        let joined = format!("{p1}, {p2}");
        for headers in [
            vec![
                ("authorization", auth.as_str()),
                ("dpop", &p1),
                ("dpop", &p2),
            ],
            vec![("authorization", auth.as_str()), ("dpop", &joined)],
        ] {
            let a = send("GET", &url, &headers).await;
            assert_eq!(
                a.challenges[1],
                dpop_error("invalid_dpop_proof", "exactly one DPoP proof is required")
            );
        }
        // A token bound to nothing, with the DPoP scheme.
        let plain = site.token(None);
        let proof = proof_for(&alice, "GET", &url, &plain);
        let a = send_with(&url, &format!("DPoP {plain}"), &proof).await;
        assert_eq!(
            a.challenges[1],
            dpop_error("invalid_token", "the token is not bound to a DPoP key")
        );
        // A scope refusal inside the layer answers in the request's scheme.
        let admin = site.url("/admin");
        let proof = proof_for(&alice, "GET", &admin, &token);
        let a = send_with(&admin, &auth, &proof).await;
        assert_eq!(a.status, 403);
        assert_eq!(
            a.challenges,
            [
                r#"DPoP error="insufficient_scope", error_description="the token lacks the required scope", scope="orders:admin""#
            ]
        );
        // Plain Bearer still works under Allow; the bare 401 names both schemes.
        let a = send(
            "GET",
            &url,
            &[("authorization", &format!("Bearer {plain}"))],
        )
        .await;
        assert_eq!(a.status, 200);
        let a = send("GET", &url, &[]).await;
        assert_eq!(
            a.challenges,
            [
                "Bearer",
                r#"DPoP algs="RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA""#
            ]
        );
        assert!(site.validator.is_ready());
    }

    #[tokio::test]
    async fn require_refuses_bearer_and_without_dpop_a_bound_token_is_still_refused() {
        let site = site(Some(DpopPolicy::Require)).await;
        let alice = Client::new(Algorithm::ES256);
        let url = site.url("/orders/7");
        let plain = site.token(None);
        // A Bearer token, even with a proof beside it.
        let proof = proof_for(&alice, "GET", &url, &plain);
        let a = send_with(&url, &format!("Bearer {plain}"), &proof).await;
        assert_eq!(a.status, 401);
        assert_eq!(
            a.challenges,
            [dpop_error(
                "invalid_token",
                "the token is not bound to a DPoP key"
            )]
        );
        let token = site.token(Some(&alice));
        let proof = proof_for(&alice, "GET", &url, &token);
        let a = send_with(&url, &format!("DPoP {token}"), &proof).await;
        assert_eq!(a.status, 200);

        // A layer without DPoP: the DPoP scheme is not read, and a bound
        // token as Bearer is refused.
        let none = site_without_dpop().await;
        let token = none.token(Some(&alice));
        let url = none.url("/orders/7");
        let a = send(
            "GET",
            &url,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(
            a.challenges,
            [
                r#"Bearer error="invalid_token", error_description="the token is bound to a DPoP key""#
            ]
        );
        let proof = proof_for(&alice, "GET", &url, &token);
        let a = send_with(&url, &format!("DPoP {token}"), &proof).await;
        assert_eq!(
            (a.status, a.challenges.as_slice()),
            (401, ["Bearer".to_owned()].as_slice())
        );
    }

    async fn site_without_dpop() -> Site {
        site(None).await
    }
}

mod fleet {
    //! Two replicas behind one public URL share a Redis replay store: a
    //! proof seen by one is a replay at the other; a Redis that cannot
    //! answer is 503.

    use super::*;
    use std::time::Duration;
    use warden::inbound::dpop::Dpop;
    use warden::revocation::redis::{RedisConfig, RedisRevocationStore};
    use warden_issuer::TestIssuer;

    const PUBLIC: &str = "https://api.example.com";

    async fn replica(validator: &warden::JwtValidator, store: RedisRevocationStore) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dpop = Dpop::new(DpopVerifier::new(), PUBLIC).replay_store(store);
        super::over_http::serve_on(listener, validator, dpop);
        format!("http://{addr}/orders/7")
    }

    #[tokio::test]
    async fn a_proof_is_a_replay_at_every_replica() {
        let Some(url) = warden_tests::redis_url() else {
            return;
        };
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
        let v = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        let connect = || RedisRevocationStore::connect(&url, RedisConfig::default()).unwrap();
        let (a, b) = (replica(&v, connect()).await, replica(&v, connect()).await);
        let alice = Client::new(Algorithm::ES256);
        let mut c = issuer.claims("api://orders");
        c["cnf"] = json!({"jkt": alice.jkt()});
        let token = issuer.mint(&c).unwrap();
        let auth = format!("DPoP {token}");
        let htu = format!("{PUBLIC}/orders/7");
        for _ in 0..3 {
            let proof = alice.proof(
                |_| {},
                |cl| {
                    cl["htu"] = json!(htu);
                    cl["ath"] = json!(token_hash(&token));
                },
            );
            let status = |u: &str| {
                let (auth, proof, u) = (auth.clone(), proof.clone(), u.to_owned());
                async move {
                    reqwest::Client::new()
                        .get(u)
                        .header("authorization", auth)
                        .header("dpop", proof)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                }
            };
            assert_eq!(status(&a).await, 200);
            assert_eq!(status(&b).await, 401, "the replay at the other replica");
            assert_eq!(status(&a).await, 401, "and at the first");
        }

        // Redis unreachable: 503, never a pass.
        let down = RedisRevocationStore::connect(
            "redis://127.0.0.1:1",
            RedisConfig::default().timeout(Duration::from_millis(200)),
        )
        .unwrap();
        let c = replica(&v, down).await;
        let proof = alice.proof(
            |_| {},
            |cl| {
                cl["htu"] = json!(htu);
                cl["ath"] = json!(token_hash(&token));
            },
        );
        let res = reqwest::Client::new()
            .get(&c)
            .header("authorization", &auth)
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
    }
}

mod nonces {
    //! Server nonces (RFC 9449 §8) over HTTP: the round trip, a nonce shared
    //! by replicas with one key, refused by another key and once expired.

    use super::*;
    use std::time::Duration;
    use warden::inbound::dpop::Dpop;
    use warden::inbound::jwt::dpop::NonceKey;
    use warden_issuer::TestIssuer;

    const PUBLIC: &str = "https://api.example.com";

    async fn replica(v: &warden::JwtValidator, verifier: DpopVerifier) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        super::over_http::serve_on(listener, v, Dpop::new(verifier, PUBLIC));
        format!("http://{addr}/orders/7")
    }

    /// Status, `WWW-Authenticate` values and `DPoP-Nonce` of a GET.
    async fn call(url: &str, auth: &str, proof: &str) -> (u16, Vec<String>, Option<String>) {
        let res = reqwest::Client::new()
            .get(url)
            .header("authorization", auth)
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        let www = res
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let nonce = res
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), www, nonce)
    }

    #[tokio::test]
    async fn round_trip_shared_key_other_key_and_expiry() {
        let issuer = TestIssuer::start_with(&[Algorithm::ES256]).await.unwrap();
        let v = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        let clock = ManualClock::starting_now();
        let shared = NonceKey::from_bytes(&[7; 32]).unwrap();
        assert!(NonceKey::from_bytes(&[7; 31]).is_none());
        let with = |key: NonceKey| {
            DpopVerifier::new()
                .nonces(key, Some(Duration::from_secs(60)))
                .clock(clock.clone())
        };
        let a = replica(&v, with(shared.clone())).await;
        let b = replica(&v, with(shared)).await;
        let other = replica(&v, with(NonceKey::random())).await;

        let alice = Client::new(Algorithm::ES256);
        let mut c = issuer.claims("api://orders");
        c["cnf"] = json!({"jkt": alice.jkt()});
        let token = issuer.mint(&c).unwrap();
        let auth = format!("DPoP {token}");
        let proof = |nonce: Option<&str>| {
            alice.proof(
                |_| {},
                |cl| {
                    cl["htu"] = json!(format!("{PUBLIC}/orders/7"));
                    cl["ath"] = json!(token_hash(&token));
                    cl["iat"] = json!(clock_secs(&clock));
                    if let Some(n) = nonce {
                        cl["nonce"] = json!(n);
                    }
                },
            )
        };

        // No nonce: 401 use_dpop_nonce, with one to use.
        let (status, www, nonce) = call(&a, &auth, &proof(None)).await;
        assert_eq!(status, 401);
        assert!(www[1].contains(r#"error="use_dpop_nonce""#), "{www:?}");
        let nonce = nonce.expect("a DPoP-Nonce header");
        // The retry with it passes, at this replica and at the one sharing
        // the key; another key's replica asks for its own.
        assert_eq!(call(&a, &auth, &proof(Some(&nonce))).await.0, 200);
        assert_eq!(call(&b, &auth, &proof(Some(&nonce))).await.0, 200);
        let (status, _, fresh) = call(&other, &auth, &proof(Some(&nonce))).await;
        assert_eq!((status, fresh.is_some()), (401, true));
        // A forged seal.
        let (secs, _) = nonce.split_once('.').unwrap();
        let forged = format!("{secs}.AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(call(&a, &auth, &proof(Some(&forged))).await.0, 401);
        // Expired: past the lifetime, a new one is handed out.
        clock.advance(Duration::from_secs(61));
        let (status, www, fresh) = call(&a, &auth, &proof(Some(&nonce))).await;
        assert_eq!(status, 401);
        assert!(www[1].contains("use_dpop_nonce"));
        assert_ne!(fresh.as_deref(), Some(nonce.as_str()));
        assert_eq!(call(&a, &auth, &proof(fresh.as_deref())).await.0, 200);
    }

    fn clock_secs(clock: &ManualClock) -> u64 {
        use warden::testing::Clock;
        clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }
}

mod issuer {
    //! warden-issuer's token endpoint with DPoP (RFC 9449 §5): bound tokens
    //! that the resource accepts only with their key's proofs.

    use super::*;
    use warden::inbound::dpop::Dpop;
    use warden_issuer::{IssuerConfig, TestIssuer};

    /// A token request by svc-batch with `proof` (if any).
    async fn cc(issuer: &TestIssuer, proof: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(issuer.token_url())
            .basic_auth(warden_tests::BATCH.0, Some(warden_tests::BATCH.1))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", "api://orders"),
                ("scope", "orders:read"),
            ]);
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().await.unwrap()).unwrap(),
        )
    }

    fn token_proof(c: &Client, issuer: &TestIssuer) -> String {
        c.proof(
            |_| {},
            |cl| {
                cl["htm"] = json!("POST");
                cl["htu"] = json!(issuer.token_url());
                cl.as_object_mut().unwrap().remove("ath");
            },
        )
    }

    #[tokio::test]
    async fn the_token_endpoint_binds_tokens_to_the_proven_key() {
        let issuer = TestIssuer::start_dev().await.unwrap();
        let doc: Value = reqwest::get(format!(
            "{}/.well-known/openid-configuration",
            issuer.issuer()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(
            doc["dpop_signing_alg_values_supported"],
            json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"])
        );

        let alice = Client::new(Algorithm::ES256);
        let proof = token_proof(&alice, &issuer);
        let (status, body) = cc(&issuer, Some(&proof)).await;
        assert_eq!(
            (status, body["token_type"].as_str()),
            (200, Some("DPoP")),
            "{body}"
        );
        let token = body["access_token"].as_str().unwrap().to_owned();
        let claims = warden::inbound::jwt::peek::claims(&token).unwrap();
        assert_eq!(claims["cnf"]["jkt"], alice.jkt());
        // The same proof again: a replay.
        let (status, body) = cc(&issuer, Some(&proof)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        // A proof for another endpoint.
        let wrong = alice.proof(
            |_| {},
            |cl| {
                cl["htm"] = json!("POST");
                cl["htu"] = json!(issuer.introspection_url());
                cl.as_object_mut().unwrap().remove("ath");
            },
        );
        let (status, body) = cc(&issuer, Some(&wrong)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        // Without a proof: a Bearer token, as before.
        let (_, body) = cc(&issuer, None).await;
        assert_eq!(body["token_type"], "Bearer");

        // The resource: the bound token works with alice's proofs only.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let v = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        super::over_http::serve_on(listener, &v, Dpop::new(DpopVerifier::new(), &base));
        let url = format!("{base}/orders/1");
        let send = |auth: String, proof: Option<String>| {
            let url = url.clone();
            async move {
                let mut r = reqwest::Client::new()
                    .get(url)
                    .header("authorization", auth);
                if let Some(p) = proof {
                    r = r.header("dpop", p);
                }
                r.send().await.unwrap().status().as_u16()
            }
        };
        let p = alice.proof(
            |_| {},
            |cl| {
                cl["htu"] = json!(url);
                cl["ath"] = json!(token_hash(&token));
            },
        );
        assert_eq!(send(format!("DPoP {token}"), Some(p)).await, 200);
        assert_eq!(send(format!("Bearer {token}"), None).await, 401);

        // Introspection says what the token is bound to.
        let res: Value = reqwest::Client::new()
            .post(issuer.introspection_url())
            .basic_auth("svc-orders", Some("svc-orders-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (res["active"].as_bool(), &res["cnf"]["jkt"]),
            (Some(true), &json!(alice.jkt()))
        );
    }

    /// A public client (web-app, code + PKCE) proves a key at the token
    /// endpoint: its refresh token is bound to the key too.
    #[tokio::test]
    async fn a_public_clients_refresh_token_is_bound_to_its_key() {
        use base64::Engine;
        use sha2::Digest;
        let issuer = TestIssuer::start_dev().await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let verifier: String = (0..4).map(|_| warden_issuer::fresh_id()).collect();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let redirect = "http://127.0.0.1:8080/callback";
        let mut form = vec![
            ("response_type", "code"),
            ("client_id", "web-app"),
            ("redirect_uri", redirect),
            ("scope", "orders:read"),
            ("state", "s"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let page = http
            .get(issuer.authorize_url())
            .query(&form)
            .send()
            .await
            .unwrap();
        let headers = page.headers().clone();
        let signin =
            warden_issuer::SignInForm::read(&headers, &page.text().await.unwrap()).unwrap();
        form.extend([
            ("username", "alice"),
            ("password", "alice-password"),
            ("decision", "allow"),
            ("csrf", signin.csrf.as_str()),
        ]);
        let res = http
            .post(issuer.authorize_url())
            .header("cookie", signin.cookie_header())
            .form(&form)
            .send()
            .await
            .unwrap();
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let code = location
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .unwrap()
            .to_owned();
        let alice = Client::new(Algorithm::ES256);
        let token_request = |form: Vec<(&'static str, String)>, proof: Option<String>| {
            let mut req = http.post(issuer.token_url()).form(&form);
            if let Some(p) = proof {
                req = req.header("dpop", p);
            }
            async move {
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        let (status, body) = token_request(
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", redirect.into()),
                ("client_id", "web-app".into()),
                ("code_verifier", verifier),
            ],
            Some(token_proof(&alice, &issuer)),
        )
        .await;
        assert_eq!(
            (status, body["token_type"].as_str()),
            (200, Some("DPoP")),
            "{body}"
        );
        let refresh = body["refresh_token"].as_str().unwrap().to_owned();
        let form = || {
            vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.clone()),
                ("client_id", "web-app".to_owned()),
            ]
        };
        // Another key, or none: refused, and the refresh token not burnt.
        let mallory = Client::new(Algorithm::ES256);
        for proof in [Some(token_proof(&mallory, &issuer)), None] {
            let (status, body) = token_request(form(), proof).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_dpop_proof"))
            );
        }
        let (status, body) = token_request(form(), Some(token_proof(&alice, &issuer))).await;
        assert_eq!(
            (status, body["token_type"].as_str()),
            (200, Some("DPoP")),
            "{body}"
        );
        let claims =
            warden::inbound::jwt::peek::claims(body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(claims["cnf"]["jkt"], alice.jkt());
    }

    #[tokio::test]
    async fn a_client_registered_for_dpop_must_prove_a_key() {
        let mut cfg = IssuerConfig::dev();
        for c in &mut cfg.clients {
            if c.id == warden_tests::BATCH.0 {
                c.dpop_bound_access_tokens = true;
            }
        }
        let issuer = TestIssuer::builder(cfg).start().await.unwrap();
        let (status, body) = cc(&issuer, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof"))
        );
        let alice = Client::new(Algorithm::EdDSA);
        let (status, body) = cc(&issuer, Some(&token_proof(&alice, &issuer))).await;
        assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")));
    }
}

mod client {
    //! warden-client with a DPoP key (#16 item 3): token requests prove the
    //! key, the bound token goes out as `DPoP` with a proof per call
    //! through `AttachBearerLayer`, a resource requiring nonces gets one
    //! retry; the resource server accepts all of it.

    use super::*;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    use tower::{Service, ServiceBuilder, ServiceExt};
    use warden::inbound::dpop::{Dpop, DpopPolicy};
    use warden::inbound::jwt::dpop::{DpopKey, NonceKey};
    use warden::outbound::{AttachBearerLayer, TokenContext, TokenSource};
    use warden_client::ClientCredentials;
    use warden_issuer::TestIssuer;

    #[tokio::test]
    async fn the_clients_proofs_are_accepted_and_a_nonce_is_retried_once() {
        let issuer = TestIssuer::start_dev().await.unwrap();
        let key = DpopKey::generate().unwrap();
        let source = ClientCredentials::builder()
            .issuer(issuer.issuer())
            .client_secret_basic(warden_tests::BATCH.0, warden_tests::BATCH.1)
            .resource("api://orders")
            .scope("orders:read")
            .dpop(key.clone())
            .dangerous()
            .allow_http()
            .build()
            .unwrap();
        let token = source.token(&TokenContext::default()).await.unwrap();
        let signer = token.proof_signer().expect("a DPoP-bound token");
        assert_eq!(signer.jkt(), key.thumbprint());
        let claims = warden::inbound::jwt::peek::claims(token.secret()).unwrap();
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

        // A resource that requires DPoP and nonces.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let v = warden_tests::jwt_validator(issuer.issuer(), "api://orders");
        let verifier =
            DpopVerifier::new().nonces(NonceKey::random(), Some(Duration::from_secs(300)));
        super::over_http::serve_on(
            listener,
            &v,
            Dpop::new(verifier, &base).policy(DpopPolicy::Require),
        );

        let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut svc = ServiceBuilder::new()
            .layer(AttachBearerLayer::new(source.clone()).retry_once())
            .service(http);
        for n in 0..3 {
            let req = http::Request::get(format!("{base}/orders/{n}?q=1"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let res = svc.ready().await.unwrap().call(req).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                (status.as_u16(), &body[..]),
                (200, &b"order"[..]),
                "call {n}"
            );
        }
        assert_eq!(source.stats().fetches, 1, "one token for every call");
    }
}

/// The DPoP fuzz target's seed is a proof the verifier accepts (so its
/// oracle, "nothing but the seed is accepted", guards something).
#[test]
fn the_fuzz_seed_is_a_valid_proof() {
    use std::time::UNIX_EPOCH;
    let seed = include_str!("../../fuzz/keys/dpop_seeds.txt").trim();
    let header = warden::inbound::jwt::peek::header(seed).unwrap();
    let jkt = thumbprint(&header["jwk"]).unwrap();
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let request = ProofRequest {
        method: "GET",
        uri: "https://fuzz.warden.invalid/orders?page=1",
        access_token: Some("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmdXp6In0.c2ln"),
        jkt: Some(&jkt),
    };
    assert!(
        DpopVerifier::new()
            .clock(clock)
            .verify(seed, &request)
            .is_ok()
    );
}

/// The parsed-header cache never stands in for a check: a cached header
/// with a forged signature is refused, and a verifier whose algorithm list
/// changed judges the header again.
#[test]
fn the_header_cache_answers_only_for_the_header() {
    let c = Client::new(Algorithm::ES256);
    let thief = Client::new(Algorithm::ES256);
    let jkt = c.jkt();
    let v = DpopVerifier::new();
    assert!(v.verify(&c.good(), &request(&jkt)).is_ok());
    // Same header (c's jwk), signed by the thief: the header is cached.
    let forged = thief.proof(|h| h["jwk"] = c.jwk(), |_| {});
    assert_eq!(forged.split('.').next(), c.good().split('.').next());
    assert_eq!(
        v.verify(&forged, &request(&jkt)),
        Err(InvalidProof::BadSignature)
    );
    let rsa_only = v.clone().algorithms([Algorithm::RS256]);
    assert_eq!(
        rsa_only.verify(&c.good(), &request(&jkt)),
        Err(InvalidProof::DisallowedAlgorithm)
    );
    assert!(v.verify(&c.good(), &request(&jkt)).is_ok());
}
