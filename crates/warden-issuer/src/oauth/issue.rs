//! Issuing tokens: target resolution (RFC 8707,
//! <https://www.rfc-editor.org/rfc/rfc8707#section-2>), RFC 9068 JWT or opaque
//! access tokens, refresh tokens, and the RFC 6749 §5.1 response.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{OAuthError, err, no_store};
use crate::config::{ClientConfig, Grant, IssuerConfig, TokenFormat};
use crate::mint::{b64, sign_jwt};
use crate::state::{Consent, OpaqueEntry, RefreshEntry, Shared, lock, random_id};

pub(super) const REFRESH_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The audience and scopes of a token request (RFC 8707 target resolution).
pub(super) fn resolve_target(
    cfg: &IssuerConfig,
    client: &ClientConfig,
    resource: Option<&str>,
    requested: Option<&[String]>,
    fixed_audience: Option<&str>,
) -> Result<(String, Vec<String>), OAuthError> {
    let audience = match (resource.or(fixed_audience), requested) {
        (Some(r), _) => {
            cfg.resource(r)
                .ok_or_else(|| err("invalid_target", format!("unknown resource {r}")))?;
            r.to_owned()
        }
        (None, Some(scopes)) if !scopes.is_empty() => {
            let mut owners: Vec<&str> = cfg
                .resources
                .iter()
                .filter(|r| scopes.iter().all(|s| r.scopes.contains(s)))
                .map(|r| r.audience.as_str())
                .collect();
            owners.dedup();
            match owners.as_slice() {
                [one] => (*one).to_owned(),
                [] => {
                    return Err(err(
                        "invalid_scope",
                        "no single resource knows all requested scopes",
                    ));
                }
                _ => {
                    return Err(err(
                        "invalid_target",
                        "the requested scopes belong to several resources; name one with resource",
                    ));
                }
            }
        }
        (None, _) => {
            let owners: Vec<&str> = cfg
                .resources
                .iter()
                .filter(|r| client.scopes.iter().any(|s| r.scopes.contains(s)))
                .map(|r| r.audience.as_str())
                .collect();
            match owners.as_slice() {
                [one] => (*one).to_owned(),
                _ => {
                    return Err(err(
                        "invalid_target",
                        "name the target with the resource parameter",
                    ));
                }
            }
        }
    };
    let res = cfg
        .resource(&audience)
        .ok_or_else(|| err("invalid_target", "unknown resource"))?;
    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| res.scopes.contains(s))
        .cloned()
        .collect();
    let id = &client.id;
    let scopes = narrow(
        requested,
        allowed,
        |bad| format!("scope {bad} is not available to {id} for {audience}"),
        || {
            err(
                "invalid_target",
                format!("{id} has no scope for {audience}"),
            )
        },
    )?;
    Ok((audience, scopes))
}

/// The scopes a grant gets (RFC 6749 §3.3): the requested ones when every
/// one is in `grantable`, else `invalid_scope` with `refusal` of the first
/// that is not; every grantable scope when none is requested, and `none()`
/// when that is no scope at all.
pub(super) fn narrow(
    requested: Option<&[String]>,
    grantable: Vec<String>,
    refusal: impl FnOnce(&str) -> String,
    none: impl FnOnce() -> OAuthError,
) -> Result<Vec<String>, OAuthError> {
    match requested {
        Some(req) if !req.is_empty() => match req.iter().find(|s| !grantable.contains(s)) {
            Some(bad) => Err(err("invalid_scope", refusal(bad))),
            None => Ok(req.to_vec()),
        },
        _ if grantable.is_empty() => Err(none()),
        _ => Ok(grantable),
    }
}

pub(super) struct Issued {
    pub(super) access_token: String,
    pub(super) expires_in: u64,
    pub(super) jti: String,
    pub(super) exp: SystemTime,
    /// `DPoP` for a token bound to a key, else `Bearer` (RFC 9449 §5).
    pub(super) token_type: &'static str,
}

/// What an access token is issued for: each field is one claim.
pub(super) struct AccessGrant<'a> {
    /// `sub`: the user, or the client itself for client credentials.
    pub(super) subject: &'a str,
    /// `client_id`.
    pub(super) client_id: &'a str,
    /// `aud`: one resource of the configuration.
    pub(super) audience: &'a str,
    /// `scope`.
    pub(super) scopes: &'a [String],
    /// `act` (RFC 8693 §4.1), for exchanged tokens.
    pub(super) act: Option<Value>,
    /// The token never outlives this (an exchanged token, its subject's).
    pub(super) not_after: Option<SystemTime>,
    /// `cnf.jkt`: the DPoP key the token is bound to (RFC 9449 §6.1).
    pub(super) jkt: Option<&'a str>,
}

impl<'a> AccessGrant<'a> {
    /// A grant without `act` or an outer bound.
    pub(super) fn new(
        subject: &'a str,
        client_id: &'a str,
        audience: &'a str,
        scopes: &'a [String],
    ) -> Self {
        Self {
            subject,
            client_id,
            audience,
            scopes,
            act: None,
            not_after: None,
            jkt: None,
        }
    }

    /// Bound to the DPoP key `jkt`, if any.
    pub(super) fn bound(mut self, jkt: Option<&'a str>) -> Self {
        self.jkt = jkt;
        self
    }
}

/// Issues an access token (RFC 9068 JWT, or opaque by the resource's format).
pub(super) fn issue_access_token(
    shared: &Shared,
    cfg: &IssuerConfig,
    grant: AccessGrant<'_>,
) -> Result<Issued, OAuthError> {
    let AccessGrant {
        subject: sub,
        client_id,
        audience,
        scopes,
        act,
        not_after,
        jkt,
    } = grant;
    let res = cfg
        .resource(audience)
        .ok_or_else(|| err("invalid_target", "unknown resource"))?;
    let now = shared.now_secs();
    let mut exp = now + res.lifetime_secs;
    if let Some(limit) = not_after {
        let limit = limit
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        exp = exp.min(limit);
    }
    if exp <= now {
        return Err(err("invalid_grant", "the subject token has expired"));
    }
    let jti = random_id(12)?;
    let mut claims = json!({
        "iss": shared.issuer,
        "sub": sub,
        "aud": audience,
        "exp": exp,
        "iat": now,
        "jti": jti,
        "client_id": client_id,
        "scope": scopes.join(" "),
    });
    if let Some(act) = act {
        claims["act"] = act;
    }
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({"jkt": jkt});
    }
    let exp_time = UNIX_EPOCH + Duration::from_secs(exp);
    let access_token = match res.format {
        TokenFormat::Jwt => {
            let key = shared
                .signing_key()
                .ok_or_else(|| err("server_error", "no signing key"))?;
            let header = json!({"alg": key.alg().as_str(), "kid": key.kid(), "typ": "at+jwt"});
            sign_jwt(&header, &claims, &key).map_err(|_| err("server_error", "signing failed"))?
        }
        TokenFormat::Opaque => {
            let mut raw = [0u8; 32];
            aws_lc_rs::rand::fill(&mut raw).map_err(|_| err("server_error", "no randomness"))?;
            let token = b64(&raw);
            lock(&shared.opaque).insert(
                token.clone(),
                OpaqueEntry {
                    claims,
                    expires_at: exp_time,
                },
            );
            token
        }
    };
    Ok(Issued {
        access_token,
        expires_in: exp - now,
        jti,
        exp: exp_time,
        token_type: if jkt.is_some() { "DPoP" } else { "Bearer" },
    })
}

pub(super) fn token_response(issued: &Issued, scopes: &[String], extra: Value) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": scopes.join(" "),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    no_store(axum::Json(body).into_response())
}

pub(super) fn require_grant(client: &ClientConfig, grant: Grant) -> Result<(), OAuthError> {
    if client.grants.contains(&grant) {
        Ok(())
    } else {
        Err(err(
            "unauthorized_client",
            format!("{} may not use this grant", client.id),
        ))
    }
}

/// A refresh token of `family`, living `REFRESH_LIFETIME` but never past
/// the family's absolute end.
pub(super) fn new_refresh_token(
    shared: &Shared,
    family: String,
    family_ends: SystemTime,
    consent: Consent,
    jkt: Option<String>,
) -> Result<String, OAuthError> {
    let token = random_id(32)?;
    lock(&shared.refresh).insert(
        token.clone(),
        RefreshEntry {
            family,
            consent,
            expires_at: (shared.now() + REFRESH_LIFETIME).min(family_ends),
            used: false,
            jkt,
        },
    );
    Ok(token)
}
