//! DPoP at the token endpoint, RFC 9449 §5
//! (<https://www.rfc-editor.org/rfc/rfc9449#section-5>): a token request
//! with a valid `DPoP` proof gets access tokens bound to the proof's key
//! (`cnf.jkt`, `token_type: DPoP`), and a public client's refresh token is
//! bound to it too.

use axum::http::HeaderMap;
use warden_core::dpop::{ProofRequest, ProofVerifier, ReplayStore};
use warden_jwt::{Algorithm, DpopVerifier};

use super::error::{OAuthError, err};
use crate::config::ClientConfig;
use crate::state::Shared;

/// The algorithms a proof may use (published as
/// `dpop_signing_alg_values_supported`).
pub(crate) const ALGS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/// The token endpoint's verifier, made once per issuer (it keeps proof
/// headers parsed).
pub(crate) fn verifier(clock: std::sync::Arc<dyn warden_core::Clock>) -> DpopVerifier {
    DpopVerifier::new()
        .algorithms(ALGS.iter().filter_map(|a| a.parse::<Algorithm>().ok()))
        .clock(clock)
}

/// The thumbprint of the key a token request proved, if it carried a
/// proof: exactly one `DPoP` header, every check of §4.3 for `POST` at the
/// token endpoint, and a `jti` not seen before. A client registered with
/// `dpop_bound_access_tokens` must send one.
pub(crate) async fn proved_key(
    shared: &Shared,
    client: &ClientConfig,
    headers: &HeaderMap,
) -> Result<Option<String>, OAuthError> {
    let bad = |d: &str| err("invalid_dpop_proof", d.to_owned());
    let mut values = headers.get_all("dpop").iter();
    let proof = match (values.next(), values.next()) {
        (None, _) if client.dpop_bound_access_tokens => {
            return Err(bad("this client must send a DPoP proof"));
        }
        (None, _) => return Ok(None),
        (Some(v), None) => v.to_str().map_err(|_| bad("the DPoP proof is malformed"))?,
        (Some(_), Some(_)) => return Err(bad("exactly one DPoP proof is required")),
    };
    let uri = shared.endpoint("/token");
    let request = ProofRequest {
        method: "POST",
        uri: &uri,
        access_token: None,
        jkt: None,
    };
    let v = &shared.dpop;
    let proved = v
        .verify(proof, &request)
        .map_err(|e| bad(e.description()))?;
    let until = proved.issued_at + v.replay_window() + std::time::Duration::from_secs(1);
    match shared
        .dpop_jtis
        .first_use(&proved.replay_key(), until)
        .await
    {
        Ok(true) => Ok(Some(proved.jkt)),
        Ok(false) => Err(bad("the DPoP proof was used before")),
        Err(_) => Err(err(
            "temporarily_unavailable",
            "too many DPoP proofs at once",
        )),
    }
}
