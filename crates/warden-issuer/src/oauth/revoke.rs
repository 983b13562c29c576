//! `POST /revoke` (RFC 7009 §2,
//! <https://www.rfc-editor.org/rfc/rfc7009#section-2>) and the cascade that
//! every revocation goes through.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use warden_core::{RevocationStore, token_hash_id};

use super::client_auth::authenticate_client;
use super::error::{OAuthError, err, no_store};
use super::introspect::{active_claims, may_know};
use super::params::Params;
use crate::state::{Shared, lock};

/// The one way anything is revoked (RFC 7009 §2.1; RFC 8693 chains; refresh
/// families; code reuse): `ids` (token identifiers until their expiry),
/// every access token the `families` issued, and every token exchanged from
/// any of those, transitively. Families are refused at once; every
/// identifier is written to the revocation store, and the first write that
/// fails is a 503 `temporarily_unavailable`, never a silent success. What
/// was gathered is forgotten only once every write succeeded, so a retry
/// completes the job.
pub(super) async fn revoke_cascade(
    shared: &Shared,
    mut ids: Vec<(String, SystemTime)>,
    families: &[String],
) -> Result<(), OAuthError> {
    {
        let mut fams = lock(&shared.families);
        for name in families {
            if let Some(f) = fams.get_mut(name) {
                f.revoked = true;
                ids.extend(f.issued.iter().cloned());
            }
        }
    }
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    {
        let derived = lock(&shared.derived);
        while let Some((id, exp)) = ids.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(children) = derived.get(&id) {
                ids.extend(children.iter().cloned());
            }
            all.push((id, exp));
        }
    }
    for (id, exp) in &all {
        shared.revocations.revoke(id, *exp).await.map_err(|e| {
            tracing::warn!(error = %e, "revocation store write failed");
            err(
                "temporarily_unavailable",
                "the revocation could not be recorded; try again",
            )
        })?;
    }
    let mut derived = lock(&shared.derived);
    for id in &seen {
        derived.remove(id);
    }
    drop(derived);
    let mut fams = lock(&shared.families);
    for name in families {
        if let Some(f) = fams.get_mut(name) {
            f.issued.clear();
        }
    }
    Ok(())
}

/// `POST /revoke` (RFC 7009 §2): 200 for unknown tokens too.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.revocation_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = crate::state::fault(&shared).await {
        return res;
    }
    shared.prune();
    let params = Params(form);
    let cfg = shared.config();
    let result = async {
        let caller = authenticate_client(&shared, &cfg, &headers, &params).await?;
        let token = params.require("token")?;
        // Refresh tokens: the whole family.
        let family = lock(&shared.refresh)
            .get(token)
            .map(|e| (e.family.clone(), e.consent.client_id.clone()));
        if let Some((family, owner)) = family {
            if owner != caller.id {
                return Err(err(
                    "unauthorized_client",
                    "the token was issued to another client",
                ));
            }
            revoke_cascade(&shared, Vec::new(), &[family]).await?;
            return Ok(StatusCode::OK.into_response());
        }
        if let Some(claims) = active_claims(&shared, token).await {
            if !may_know(&caller, &claims.claims) {
                return Err(err(
                    "unauthorized_client",
                    "the token was issued to another client",
                ));
            }
            let exp = claims.claims.expires_at.unwrap_or(UNIX_EPOCH);
            // The token by its identifier (the hash for an opaque token), and
            // by its jti: exchanged tokens hang off the jti, and an opaque
            // token must also stop introspecting as active.
            let mut ids = Vec::new();
            if lock(&shared.opaque).contains_key(token) {
                ids.push((token_hash_id(token), exp));
            }
            if let Some(jti) = claims.claims.jwt_id.as_deref() {
                ids.push((jti.to_owned(), exp));
            }
            revoke_cascade(&shared, ids, &[]).await?;
        }
        Ok(StatusCode::OK.into_response())
    }
    .await;
    no_store(result.unwrap_or_else(IntoResponse::into_response))
}
