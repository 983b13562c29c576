//! The authorization code grant with PKCE (RFC 6749 §4.1.3,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3>; RFC 7636 §4.6,
//! <https://www.rfc-editor.org/rfc/rfc7636#section-4.6>); a reused code revokes
//! what it issued (RFC 6749 §4.1.2).

use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use axum::response::Response;
use serde_json::json;

use super::client_auth::constant_time_eq;
use super::error::{OAuthError, err};
use super::issue::{
    AccessGrant, issue_access_token, new_refresh_token, require_grant, token_response,
};
use super::refresh::{family_end, record_in_family};
use super::revoke::revoke_cascade;
use super::token::TokenRequest;
use crate::config::Grant;
use crate::mint::b64;
use crate::state::{Consent, Family, lock, random_id};

/// Whether a PKCE `code_verifier` matches the S256 `code_challenge`
/// (RFC 7636 §4.1 length, §4.6 comparison).
pub(super) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    (43..=128).contains(&verifier.len()) && constant_time_eq(&pkce_s256(verifier), challenge)
}

/// What a code or refresh grant carries forward to the tokens it issues.
pub(super) struct Granted {
    /// The refresh family the tokens join.
    pub(super) family: String,
    /// What the user consented to.
    pub(super) consent: Consent,
}

pub(super) fn pkce_s256(verifier: &str) -> String {
    b64(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// What a code redemption found.
pub(super) enum Redeemed {
    /// First use.
    Fresh(Granted),
    /// Reuse: what the code issued, and its refresh family.
    Reused(Vec<(String, SystemTime)>, Option<String>),
}

pub(super) async fn authorization_code_grant(
    req: TokenRequest<'_>,
) -> Result<Response, OAuthError> {
    let (shared, cfg, client, params) = (req.shared, req.cfg, req.client, req.params);
    require_grant(client, Grant::AuthorizationCode)?;
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    // Take what is needed under the lock (no await while it is held); reuse
    // revokes what the code issued and the refresh family it started.
    let family_lifetime = Duration::from_secs(cfg.refresh_family_lifetime_secs);
    let taken: Result<Redeemed, OAuthError> = (|| {
        let mut codes = lock(&shared.codes);
        let entry = codes
            .get_mut(code)
            .ok_or_else(|| err("invalid_grant", "unknown or expired code"))?;
        if entry.used {
            entry.reused = true;
            return Ok(Redeemed::Reused(entry.issued.clone(), entry.family.clone()));
        }
        if entry.consent.client_id != client.id {
            return Err(err(
                "invalid_grant",
                "the code was issued to another client",
            ));
        }
        if entry.expires_at <= shared.now() {
            return Err(err("invalid_grant", "the code has expired"));
        }
        if entry.redirect_uri != redirect_uri {
            return Err(err(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier = verifier.ok_or_else(|| {
            err(
                "invalid_request",
                "missing code_verifier (PKCE is required)",
            )
        })?;
        if !pkce_matches(verifier, &entry.challenge) {
            entry.used = true;
            return Err(err(
                "invalid_grant",
                "code_verifier does not match the code_challenge",
            ));
        }
        entry.used = true;
        let family = random_id(12)?;
        // Known to the code before anything is issued: a reuse from here
        // on revokes the family too.
        entry.family = Some(family.clone());
        lock(&shared.families).insert(
            family.clone(),
            Family {
                issued: Vec::new(),
                revoked: false,
                expires_at: shared.now() + family_lifetime,
            },
        );
        Ok(Redeemed::Fresh(Granted {
            family,
            consent: entry.consent.clone(),
        }))
    })();
    let Granted { family, consent } = match taken? {
        Redeemed::Fresh(t) => t,
        Redeemed::Reused(issued, family) => {
            revoke_cascade(shared, issued, family.as_slice()).await?;
            return Err(err(
                "invalid_grant",
                "the code was already used; tokens issued from it are revoked",
            ));
        }
    };
    let issued = issue_access_token(
        shared,
        cfg,
        AccessGrant::new(
            &consent.user,
            &client.id,
            &consent.audience,
            &consent.scopes,
        )
        .bound(req.jkt),
    )?;
    // Recorded, then checked: a reuse that raced this redemption sees the
    // token, or this redemption sees the reuse; either way it is revoked.
    let reused = lock(&shared.codes).get_mut(code).is_some_and(|entry| {
        entry.issued.push((issued.jti.clone(), issued.exp));
        entry.reused
    });
    let family_alive = record_in_family(shared, &family, &issued);
    if reused || !family_alive {
        revoke_cascade(
            shared,
            vec![(issued.jti.clone(), issued.exp)],
            std::slice::from_ref(&family),
        )
        .await?;
        return Err(err(
            "invalid_grant",
            "the code was already used; tokens issued from it are revoked",
        ));
    }
    let scopes = consent.scopes.clone();
    let mut extra = json!({});
    if client.grants.contains(&Grant::RefreshToken) {
        let ends = family_end(shared, &family);
        // RFC 9449 §5: a public client's refresh token is bound to its key.
        let jkt = req.jkt.filter(|_| client.public).map(str::to_owned);
        extra["refresh_token"] = json!(new_refresh_token(shared, family, ends, consent, jkt)?);
    }
    Ok(token_response(&issued, &scopes, extra))
}
