//! `POST /introspect` (RFC 7662 §2,
//! <https://www.rfc-editor.org/rfc/rfc7662#section-2>), and the one reading of
//! this issuer's own tokens that exchange and revocation share.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_core::{ClaimRules, RevocationStore, StandardClaims, token_hash_id};

use super::client_auth::authenticate_client;
use super::error::{err, no_store};
use super::params::Params;
use super::refresh::family_revoked;
use crate::config::ClientConfig;
use crate::state::{Shared, lock};

/// A token this issuer issued and still honours: its registered claims as
/// every validator reads them (`warden_core::claims`), and the whole claim
/// set for what only the issuer reads (`act`, `may_act`) and echoes.
pub(crate) struct Active {
    /// The registered claims.
    pub(crate) claims: StandardClaims,
    /// Every claim, as issued.
    pub(crate) raw: Value,
}

/// The token, if it is active: a JWT signed by one of this issuer's keys
/// and unexpired, or a live opaque token; never revoked.
pub(crate) async fn active_claims(shared: &Shared, token: &str) -> Option<Active> {
    let now = shared.now();
    if let Some(e) = lock(&shared.opaque).get(token) {
        if e.expires_at <= now
            || shared
                .revocations
                .is_revoked(&token_hash_id(token))
                .unwrap_or(true)
        {
            return None;
        }
        let claims = ClaimRules::new()
            .issuer(shared.issuer.clone())
            .leeway(Duration::ZERO)
            .dangerous()
            .skip_audience_check()
            .check_value(&e.claims, now)
            .ok()?;
        return Some(Active {
            claims,
            raw: e.claims.clone(),
        });
    }
    let header = warden_jwt::peek::header(token).ok()?;
    let key = shared.key(header["kid"].as_str()?)?;
    let jwk = key.public_jwk()?;
    let keys = warden_jwt::KeySet::from_jwks_value(&json!({"keys": [jwk]})).ok()?;
    let validator = warden_jwt::JwtValidator::builder()
        .clock(shared.clock.clone())
        .issuer(&shared.issuer)
        .keys(keys)
        .leeway(Duration::ZERO)
        .claims::<Value>()
        .dangerous()
        .skip_audience_check()
        .build()
        .ok()?;
    let p = validator.validate_token(token).await.ok()?;
    let jti = p.claims().jwt_id.as_deref()?;
    if shared.revocations.is_revoked(jti).unwrap_or(true) {
        return None;
    }
    Some(Active {
        raw: p.custom::<Value>()?.clone(),
        claims: p.claims().clone(),
    })
}

/// `POST /introspect` (RFC 7662 §2): callers must authenticate.
pub(crate) async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(res) = crate::state::fault(&shared).await {
        return res;
    }
    shared.introspection_hits.fetch_add(1, Ordering::SeqCst);
    shared.prune();
    let params = Params(form);
    let cfg = shared.config();
    let result = async {
        let caller = authenticate_client(&shared, &cfg, &headers, &params).await?;
        if caller.public {
            return Err(err("invalid_client", "public clients may not introspect"));
        }
        let token = params.require("token")?;
        // A token's state is told only to a resource it is for, or to the
        // client it was issued to (RFC 7662 §4: "the authorization server
        // MUST determine whether or not the protected resource is allowed to
        // know about the token"); anyone else hears `active: false`.
        let body = match active_claims(&shared, token).await {
            Some(active) if may_know(&caller, &active.claims) => {
                let mut c = active.raw;
                c["active"] = json!(true);
                c["token_type"] = json!("Bearer");
                c
            }
            Some(_) => json!({"active": false}),
            None => match refresh_info(&shared, token) {
                Some(v) if v["client_id"].as_str() == Some(caller.id.as_str()) => v,
                _ => json!({"active": false}),
            },
        };
        Ok(no_store(axum::Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Whether `caller` may learn about a token with these claims: it is the
/// client the token was issued to, or a resource in its audience.
pub(super) fn may_know(caller: &ClientConfig, claims: &StandardClaims) -> bool {
    claims.client_id.as_deref() == Some(caller.id.as_str())
        || caller
            .audience
            .as_deref()
            .is_some_and(|a| claims.audiences.iter().any(|x| x == a))
}

pub(super) fn refresh_info(shared: &Shared, token: &str) -> Option<Value> {
    let refresh = lock(&shared.refresh);
    let e = refresh.get(token)?;
    if e.used || e.expires_at <= shared.now() || family_revoked(shared, &e.family) {
        return None;
    }
    Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": e.consent.client_id,
        "sub": e.consent.user,
        "scope": e.consent.scopes.join(" "),
        "exp": e.expires_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    }))
}
