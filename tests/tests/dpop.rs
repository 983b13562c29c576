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
