//! Token exchange (RFC 8693 §2,
//! <https://www.rfc-editor.org/rfc/rfc8693#section-2>): delegation never
//! exceeds consent.

use axum::response::Response;
use serde_json::{Value, json};

use super::error::{OAuthError, err};
use super::introspect::{Active, active_claims};
use super::issue::{AccessGrant, issue_access_token, narrow, require_grant, token_response};
use super::token::TokenRequest;
use super::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT};
use crate::config::{ClientConfig, Grant, IssuerConfig};
use crate::state::lock;

pub(super) async fn exchange_grant(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let (shared, cfg, client, params) = (req.shared, req.cfg, req.client, req.params);
    require_grant(client, Grant::TokenExchange)?;
    let subject_token = params.require("subject_token")?;
    let subject_type = params.require("subject_token_type")?;
    if subject_type != TOKEN_TYPE_ACCESS_TOKEN && subject_type != TOKEN_TYPE_JWT {
        return Err(err(
            "invalid_request",
            "subject_token_type must be access_token or jwt",
        ));
    }
    if let Some(rt) = params.get("requested_token_type")?
        && rt != TOKEN_TYPE_ACCESS_TOKEN
        && rt != TOKEN_TYPE_JWT
    {
        return Err(err(
            "invalid_request",
            "only access tokens can be requested",
        ));
    }
    let audience_param = params.get("audience")?;
    let resource_param = params.get("resource")?;
    let target = match (audience_param, resource_param) {
        (Some(a), Some(r)) if a != r => {
            return Err(err("invalid_target", "audience and resource disagree"));
        }
        (a, r) => a.or(r),
    };
    let subject = active_claims(shared, subject_token)
        .await
        .ok_or_else(|| err("invalid_grant", "the subject token is not active"))?;
    let own = client.audience.as_deref().ok_or_else(|| {
        err(
            "unauthorized_client",
            "the client has no audience of its own",
        )
    })?;
    if !subject.claims.audiences.iter().any(|a| a == own) {
        return Err(err(
            "invalid_grant",
            format!("the subject token is not for {own}"),
        ));
    }
    let target = match target {
        Some(t) => t.to_owned(),
        None => match client.exchange_to.as_slice() {
            [one] => one.clone(),
            _ => return Err(err("invalid_target", "name the target audience")),
        },
    };
    if !client.exchange_to.contains(&target) {
        return Err(err(
            "invalid_target",
            format!("{} may not exchange toward {target}", client.id),
        ));
    }
    may_act(&subject, client)?;
    let requested = params.scopes()?;
    let aud = target;
    let scopes = exchange_scopes(cfg, client, &aud, &subject, requested.as_deref())?;
    let sub = subject
        .claims
        .subject
        .as_deref()
        .ok_or_else(|| err("invalid_grant", "the subject token has no sub"))?;
    // RFC 8693 §4.1: the current actor, nesting the previous chain.
    let mut act = json!({"sub": client.id});
    if let Some(prev) = subject.raw.get("act").filter(|v| v.is_object()) {
        act["act"] = prev.clone();
    }
    let subject_exp = subject.claims.expires_at;
    let subject_jti = subject.claims.jwt_id.clone();
    let issued = issue_access_token(
        shared,
        cfg,
        AccessGrant {
            act: Some(act),
            not_after: subject_exp,
            ..AccessGrant::new(sub, &client.id, &aud, &scopes).bound(req.jkt)
        },
    )?;
    if let Some(parent) = subject_jti {
        lock(&shared.derived)
            .entry(parent)
            .or_default()
            .push((issued.jti.clone(), issued.exp));
    }
    Ok(token_response(
        &issued,
        &scopes,
        json!({"issued_token_type": TOKEN_TYPE_ACCESS_TOKEN}),
    ))
}

/// RFC 8693 §4.4: a subject token that names who may act for it admits
/// only that actor.
pub(super) fn may_act(subject: &Active, client: &ClientConfig) -> Result<(), OAuthError> {
    match subject.raw.get("may_act") {
        None | Some(Value::Null) => Ok(()),
        Some(m) if m["sub"].as_str() == Some(client.id.as_str()) => Ok(()),
        Some(_) => Err(err(
            "invalid_grant",
            format!(
                "the subject token does not allow {} to act for it",
                client.id
            ),
        )),
    }
}

/// The scopes of an exchanged token (RFC 8693 §2.1, DESIGN "delegation
/// never exceeds consent"): a scope of the target resource is granted only
/// when the actor client may hold it, the request allows it (or names
/// none), and the subject token justifies it: the subject holds the same
/// scope, or the actor's `exchange_scopes` mapping toward the target leads
/// to it from a scope the subject holds. Deny by default; nothing left, or
/// a requested scope that is not justified, is `invalid_scope`.
pub(super) fn exchange_scopes(
    cfg: &IssuerConfig,
    client: &ClientConfig,
    target: &str,
    subject: &Active,
    requested: Option<&[String]>,
) -> Result<Vec<String>, OAuthError> {
    let res = cfg
        .resource(target)
        .ok_or_else(|| err("invalid_target", format!("unknown resource {target}")))?;
    // The subject is one of this issuer's own tokens: `scope` is a string.
    let held = &subject.claims.scopes;
    let mapping = client.exchange_scopes.get(target);
    let justified = |s: &str| {
        held.contains(s)
            || mapping.is_some_and(|m| {
                held.iter()
                    .any(|h| m.get(h).is_some_and(|to| to.iter().any(|t| t == s)))
            })
    };
    let grantable: Vec<String> = res
        .scopes
        .iter()
        .filter(|s| client.scopes.contains(s) && justified(s))
        .cloned()
        .collect();
    narrow(
        requested,
        grantable,
        |bad| {
            format!(
                "scope {bad} toward {target} is not justified by the subject token for {}",
                client.id
            )
        },
        || {
            let why = format!("the subject token justifies no scope toward {target}");
            err("invalid_scope", why)
        },
    )
}
