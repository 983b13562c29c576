//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3, <https://www.rfc-editor.org/rfc/rfc6749#section-2.3>; RFC
//! 7523 §2.2 `private_key_jwt`,
//! <https://www.rfc-editor.org/rfc/rfc7523#section-2.2>).

use std::time::Duration;

use aws_lc_rs::digest;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::CLIENT_ASSERTION_JWT_BEARER;
use super::error::{OAuthError, err};
use super::params::Params;
use crate::config::{ClientConfig, IssuerConfig};
use crate::state::{Shared, lock};

/// The longest a client assertion may live (RFC 7523 §3: short-lived).
pub(super) const ASSERTION_MAX_LIFETIME: u64 = 300;

/// The leeway the assertion validator allows past `exp`: a used `jti` is
/// remembered at least this much longer.
pub(super) const ASSERTION_LEEWAY: Duration = Duration::from_secs(60);

pub(super) fn constant_time_eq(a: &str, b: &str) -> bool {
    // Hash first so the comparison is over equal lengths.
    let da = digest::digest(&digest::SHA256, a.as_bytes());
    let db = digest::digest(&digest::SHA256, b.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(da.as_ref(), db.as_ref()).is_ok()
}

/// One form-urlencoded value as text (warden-core's strict decoder).
pub(super) fn form_decode(s: &str) -> Option<String> {
    String::from_utf8(warden_core::form_urldecode(s)?).ok()
}

/// The client id and secret of a `client_secret_basic` credential (the part
/// after `Basic `): base64, then `id:secret`, each form-urlencoded (RFC 6749
/// §2.3.1).
pub(super) fn parse_basic(b64: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Authenticates the client of a token, introspection or revocation request
/// (RFC 6749 §2.3; RFC 7523 §2.2 for private_key_jwt).
pub(super) async fn authenticate_client(
    shared: &Shared,
    cfg: &IssuerConfig,
    headers: &HeaderMap,
    params: &Params,
) -> Result<ClientConfig, OAuthError> {
    let fail = |why: &str| {
        err(
            "invalid_client",
            format!("client authentication failed: {why}"),
        )
    };
    // An unknown client and a wrong secret read the same (and take as long:
    // the comparison runs either way), so ids cannot be probed.
    let check_secret = |id: &str, given: &str| {
        let client = cfg.client(id);
        let expected = client.and_then(|c| c.secret.as_deref());
        let equal = constant_time_eq(expected.unwrap_or("\u{0}no-secret"), given);
        match client {
            Some(c) if expected.is_some() && equal => Ok(c.clone()),
            _ => Err(fail("invalid client or credentials")),
        }
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
    let secret_param = params.get("client_secret")?;
    let assertion = params.get("client_assertion")?;
    let methods = [basic.is_some(), secret_param.is_some(), assertion.is_some()];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(err(
            "invalid_request",
            "more than one client authentication method",
        ));
    }
    if let Some(b) = basic {
        let (id, secret) = parse_basic(b).ok_or_else(|| fail("malformed Basic credentials"))?;
        if let Some(p) = params.get("client_id")?
            && p != id
        {
            return Err(err(
                "invalid_request",
                "client_id does not match the credentials",
            ));
        }
        return check_secret(&id, &secret);
    }
    if let Some(a) = assertion {
        if params.get("client_assertion_type")? != Some(CLIENT_ASSERTION_JWT_BEARER) {
            return Err(err(
                "invalid_request",
                "client_assertion_type must be jwt-bearer",
            ));
        }
        return verify_assertion(shared, cfg, a, params.get("client_id")?).await;
    }
    let id = params
        .get("client_id")?
        .ok_or_else(|| fail("no client credentials"))?;
    match secret_param {
        Some(given) => check_secret(id, given),
        None => match cfg.client(id) {
            Some(c) if c.public => Ok(c.clone()),
            _ => Err(fail("invalid client or credentials")),
        },
    }
}

/// RFC 7523 client assertion: iss = sub = client_id, aud = the token
/// endpoint or the issuer, a single-use jti, signed by a key of the client's
/// JWK Set.
pub(super) async fn verify_assertion(
    shared: &Shared,
    cfg: &IssuerConfig,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<ClientConfig, OAuthError> {
    let fail = |why: &str| err("invalid_client", format!("client assertion refused: {why}"));
    // Read unverified only to find the client whose keys then decide.
    let claims = warden_jwt::peek::claims(assertion).map_err(|_| fail("malformed"))?;
    let iss = claims["iss"].as_str().ok_or_else(|| fail("no iss"))?;
    if client_id.is_some_and(|c| c != iss) {
        return Err(fail("client_id does not match iss"));
    }
    let client = cfg.client(iss).ok_or_else(|| fail("unknown client"))?;
    let jwks = client
        .jwks
        .as_deref()
        .ok_or_else(|| fail("client has no registered keys"))?;
    let keys =
        warden_jwt::KeySet::from_jwks(jwks.as_bytes()).map_err(|_| fail("client keys unusable"))?;
    let validator = warden_jwt::JwtValidator::builder()
        .clock(shared.clock.clone())
        .issuer(iss)
        .audiences([shared.endpoint("/token"), shared.issuer.clone()])
        .keys(keys)
        .leeway(ASSERTION_LEEWAY)
        .build()
        .map_err(|_| fail("client keys unusable"))?;
    let p = validator
        .validate_token(assertion)
        .await
        .map_err(|e| fail(&e.to_string()))?;
    if p.subject() != Some(iss) {
        return Err(fail("sub must equal iss"));
    }
    // One audience: this server (RFC 7523 §3 and its successors).
    match &claims["aud"] {
        Value::String(_) => {}
        Value::Array(a) if a.len() == 1 => {}
        _ => return Err(fail("aud must name this server alone")),
    }
    let now = shared.now();
    let exp = p.expires_at().ok_or_else(|| fail("no exp"))?;
    // Short-lived: a long-lived assertion is a reusable password.
    if exp > now + Duration::from_secs(ASSERTION_MAX_LIFETIME) {
        return Err(fail("the assertion lives longer than 5 minutes"));
    }
    let jti = p.claims().jwt_id.clone().ok_or_else(|| fail("no jti"))?;
    let mut used = lock(&shared.assertion_jtis);
    used.retain(|_, t| *t > now);
    // Remembered for as long as the validator would accept the assertion.
    if used
        .insert(format!("{iss}/{jti}"), exp + ASSERTION_LEEWAY)
        .is_some()
    {
        return Err(fail("jti already used"));
    }
    Ok(client.clone())
}
