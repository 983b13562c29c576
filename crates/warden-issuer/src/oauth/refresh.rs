//! The refresh token grant with rotation and family revocation on reuse (RFC
//! 6749 §6, <https://www.rfc-editor.org/rfc/rfc6749#section-6>; RFC 9700
//! §4.14.2).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::Response;
use serde_json::json;

use super::code::Granted;
use super::error::{OAuthError, err};
use super::issue::{
    AccessGrant, Issued, issue_access_token, narrow, new_refresh_token, require_grant,
    token_response,
};
use super::revoke::revoke_cascade;
use super::token::TokenRequest;
use crate::config::Grant;
use crate::state::{Shared, lock};

pub(super) async fn refresh_grant(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let (shared, cfg, client, params) = (req.shared, req.cfg, req.client, req.params);
    require_grant(client, Grant::RefreshToken)?;
    let presented = params.require("refresh_token")?;
    let requested = params.scopes()?;
    let taken: Result<Result<Granted, String>, OAuthError> = (|| {
        let mut refresh = lock(&shared.refresh);
        let entry = refresh
            .get_mut(presented)
            .ok_or_else(|| err("invalid_grant", "unknown refresh token"))?;
        if entry.consent.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the refresh token was issued to another client",
            ));
        }
        if family_revoked(shared, &entry.family) {
            return Err(err("invalid_grant", "the refresh token was revoked"));
        }
        if family_end(shared, &entry.family) <= shared.now() {
            return Err(err(
                "invalid_grant",
                "the refresh token family has reached its lifetime",
            ));
        }
        if entry.used {
            // Reuse: someone holds a stolen copy.
            return Ok(Err(entry.family.clone()));
        }
        if entry.expires_at <= shared.now() {
            return Err(err("invalid_grant", "the refresh token has expired"));
        }
        // RFC 9449 §5: a bound refresh token needs a proof by its key.
        if entry.jkt.is_some() && entry.jkt.as_deref() != req.jkt {
            return Err(err(
                "invalid_dpop_proof",
                "the refresh token is bound to another DPoP key",
            ));
        }
        // A bad request does not burn the token: check the scope first.
        if let Some(bad) = requested
            .iter()
            .flatten()
            .find(|s| !entry.consent.scopes.contains(s))
        {
            return Err(err(
                "invalid_scope",
                format!("scope {bad} was not granted originally"),
            ));
        }
        entry.used = true;
        Ok(Ok(Granted {
            family: entry.family.clone(),
            consent: entry.consent.clone(),
        }))
    })();
    let Granted { family, consent } = match taken? {
        Ok(t) => t,
        Err(family) => {
            revoke_cascade(shared, Vec::new(), &[family]).await?;
            return Err(err(
                "invalid_grant",
                "refresh token reuse detected; the token family is revoked",
            ));
        }
    };
    let granted = narrow(
        requested.as_deref(),
        consent.scopes.clone(),
        |bad| format!("scope {bad} was not granted originally"),
        || err("invalid_grant", "the refresh token carries no scope"),
    )?;
    let issued = issue_access_token(
        shared,
        cfg,
        AccessGrant::new(&consent.user, &client.id, &consent.audience, &granted).bound(req.jkt),
    )?;
    if !record_in_family(shared, &family, &issued) {
        // Revoked while this request ran: the new token goes with it.
        revoke_cascade(shared, vec![(issued.jti.clone(), issued.exp)], &[]).await?;
        return Err(err("invalid_grant", "the refresh token was revoked"));
    }
    let ends = family_end(shared, &family);
    let jkt = req.jkt.filter(|_| client.public).map(str::to_owned);
    let rt = new_refresh_token(shared, family, ends, consent, jkt)?;
    Ok(token_response(
        &issued,
        &granted,
        json!({"refresh_token": rt}),
    ))
}

/// Records an access token in its family; `false` when the family is
/// revoked (or unknown), in which case the caller revokes the token.
pub(super) fn record_in_family(shared: &Shared, family: &str, issued: &Issued) -> bool {
    match lock(&shared.families).get_mut(family) {
        Some(f) if !f.revoked => {
            f.issued.push((issued.jti.clone(), issued.exp));
            true
        }
        _ => false,
    }
}

pub(super) fn family_revoked(shared: &Shared, family: &str) -> bool {
    lock(&shared.families).get(family).is_none_or(|f| f.revoked)
}

/// The absolute end of a family (the epoch for an unknown one).
pub(super) fn family_end(shared: &Shared, family: &str) -> SystemTime {
    lock(&shared.families)
        .get(family)
        .map_or(UNIX_EPOCH, |f| f.expires_at)
}
