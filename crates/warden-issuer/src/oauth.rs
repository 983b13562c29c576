//! The OAuth 2.0 endpoints: token (RFC 6749 §3.2, §4.1, §4.4, §6; RFC 8693
//! token exchange; RFC 7636 PKCE; RFC 8707 resource indicators), authorize
//! with a minimal login and consent page, introspection (RFC 7662) and
//! revocation (RFC 7009). Errors follow RFC 6749 §5.2
//! (<https://www.rfc-editor.org/rfc/rfc6749#section-5.2>).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use warden_core::{RevocationStore, token_hash_id};

use crate::config::{ClientConfig, Grant, IssuerConfig, TokenFormat};
use crate::mint::{b64, sign_jwt};
use crate::server::{Code, Family, OpaqueEntry, RefreshEntry, RngFailed, Shared, lock, random_id};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TT_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const TT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const CODE_LIFETIME: Duration = Duration::from_secs(60);
const REFRESH_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The longest a client assertion may live (RFC 7523 §3: short-lived).
const ASSERTION_MAX_LIFETIME: u64 = 300;
/// The leeway the assertion validator allows past `exp`: a used `jti` is
/// remembered at least this much longer.
const ASSERTION_LEEWAY: Duration = Duration::from_secs(60);

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        let status = match code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        Self {
            status,
            code,
            description: description.into(),
        }
    }
}

fn err(code: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, description)
}

impl From<RngFailed> for OAuthError {
    fn from(_: RngFailed) -> Self {
        err("server_error", "the random generator failed")
    }
}

fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.code == "invalid_client" {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"warden-issuer\""),
            );
        }
        no_store(res)
    }
}

/// Form parameters; a parameter sent twice is `invalid_request` (RFC 6749 §3.1).
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut it = self.0.iter().filter(|(k, _)| k == name);
        let first = it.next().map(|(_, v)| v.as_str());
        if it.next().is_some() {
            return Err(err(
                "invalid_request",
                format!("parameter {name} given more than once"),
            ));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| err("invalid_request", format!("missing parameter {name}")))
    }

    fn scopes(&self) -> Result<Option<Vec<String>>, OAuthError> {
        Ok(self.get("scope")?.map(|s| {
            let mut v: Vec<String> = s
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            v.sort();
            v.dedup();
            v
        }))
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    // Hash first so the comparison is over equal lengths.
    let da = digest::digest(&digest::SHA256, a.as_bytes());
    let db = digest::digest(&digest::SHA256, b.as_bytes());
    aws_lc_rs::constant_time::verify_slices_are_equal(da.as_ref(), db.as_ref()).is_ok()
}

/// One form-urlencoded value as text (warden-core's strict decoder).
fn form_decode(s: &str) -> Option<String> {
    String::from_utf8(warden_core::form_urldecode(s)?).ok()
}

/// The client id and secret of a `client_secret_basic` credential (the part
/// after `Basic `): base64, then `id:secret`, each form-urlencoded (RFC 6749
/// §2.3.1).
fn parse_basic(b64: &str) -> Option<(String, String)> {
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Whether a PKCE `code_verifier` matches the S256 `code_challenge`
/// (RFC 7636 §4.1 length, §4.6 comparison).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    (43..=128).contains(&verifier.len()) && constant_time_eq(&pkce_s256(verifier), challenge)
}

/// Entry points for the fuzz targets (`fuzz/`): the issuer's own parsers of
/// request bytes. **Unstable**: only with the `fuzzing` feature, not part of
/// the API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// [`super::parse_basic`].
    pub fn basic(b64: &str) -> Option<(String, String)> {
        super::parse_basic(b64)
    }

    /// `application/x-www-form-urlencoded` decoding of one value.
    pub fn form_decode(s: &str) -> Option<String> {
        super::form_decode(s)
    }

    /// [`super::pkce_matches`].
    pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
        super::pkce_matches(verifier, challenge)
    }

    /// The `scope` of a request's parameters (`Err` for a repeated one).
    ///
    /// # Errors
    /// The RFC 6749 §5.2 error code.
    pub fn scopes(params: Vec<(String, String)>) -> Result<Option<Vec<String>>, &'static str> {
        super::Params(params).scopes().map_err(|e| e.code)
    }
}

/// Authenticates the client of a token, introspection or revocation request
/// (RFC 6749 §2.3; RFC 7523 §2.2 for private_key_jwt).
async fn authenticate_client(
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
        if params.get("client_assertion_type")? != Some(JWT_BEARER_ASSERTION) {
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
async fn verify_assertion(
    shared: &Shared,
    cfg: &IssuerConfig,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<ClientConfig, OAuthError> {
    let fail = |why: &str| err("invalid_client", format!("client assertion refused: {why}"));
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or_else(|| fail("malformed"))?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("malformed"))?;
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

/// The audience and scopes of a token request (RFC 8707 target resolution).
fn resolve_target(
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
    let scopes = match requested {
        Some(req) if !req.is_empty() => {
            if let Some(bad) = req.iter().find(|s| !allowed.contains(s)) {
                return Err(err(
                    "invalid_scope",
                    format!(
                        "scope {bad} is not available to {} for {audience}",
                        client.id
                    ),
                ));
            }
            req.to_vec()
        }
        _ => allowed,
    };
    if scopes.is_empty() {
        return Err(err(
            "invalid_target",
            format!("{} has no scope for {audience}", client.id),
        ));
    }
    Ok((audience, scopes))
}

struct Issued {
    access_token: String,
    expires_in: u64,
    jti: String,
    exp: SystemTime,
}

/// Issues an access token (RFC 9068 JWT, or opaque by the resource's format).
// Every argument is a distinct claim of the token; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn issue_access_token(
    shared: &Shared,
    cfg: &IssuerConfig,
    sub: &str,
    client_id: &str,
    audience: &str,
    scopes: &[String],
    act: Option<Value>,
    not_after: Option<u64>,
) -> Result<Issued, OAuthError> {
    let res = cfg
        .resource(audience)
        .ok_or_else(|| err("invalid_target", "unknown resource"))?;
    let now = shared.now_secs();
    let mut exp = now + res.lifetime_secs;
    if let Some(limit) = not_after {
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
    })
}

fn token_response(issued: &Issued, scopes: &[String], extra: Value) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
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

fn require_grant(client: &ClientConfig, grant: Grant) -> Result<(), OAuthError> {
    if client.grants.contains(&grant) {
        Ok(())
    } else {
        Err(err(
            "unauthorized_client",
            format!("{} may not use this grant", client.id),
        ))
    }
}

/// `POST /token`.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.token_hits.fetch_add(1, Ordering::SeqCst);
    if let Some(res) = crate::server::fault(&shared).await {
        return res;
    }
    shared.prune();
    match token_inner(&shared, &headers, &Params(form)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = e.code, description = %e.description, "token request refused");
            e.into_response()
        }
    }
}

async fn token_inner(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, OAuthError> {
    let cfg = shared.config();
    let grant = params.require("grant_type")?;
    let client = authenticate_client(shared, &cfg, headers, params).await?;
    match grant {
        "client_credentials" => {
            require_grant(&client, Grant::ClientCredentials)?;
            if client.public {
                return Err(err(
                    "unauthorized_client",
                    "public clients cannot use client_credentials",
                ));
            }
            let requested = params.scopes()?;
            let (aud, scopes) = resolve_target(
                &cfg,
                &client,
                params.get("resource")?,
                requested.as_deref(),
                None,
            )?;
            let issued = issue_access_token(
                shared, &cfg, &client.id, &client.id, &aud, &scopes, None, None,
            )?;
            Ok(token_response(&issued, &scopes, json!({})))
        }
        "authorization_code" => authorization_code_grant(shared, &cfg, &client, params).await,
        "refresh_token" => refresh_grant(shared, &cfg, &client, params).await,
        TOKEN_EXCHANGE => exchange_grant(shared, &cfg, &client, params).await,
        other => Err(err(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported"),
        )),
    }
}

/// What a code or refresh grant carries forward (four strings and scopes).
type Granted = (String, String, Vec<String>, String);

fn pkce_s256(verifier: &str) -> String {
    b64(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// A refresh token of `family`, living `REFRESH_LIFETIME` but never past
/// the family's absolute end.
fn new_refresh_token(
    shared: &Shared,
    family: String,
    family_ends: SystemTime,
    client: &str,
    user: &str,
    scopes: &[String],
    audience: &str,
) -> Result<String, OAuthError> {
    let token = random_id(32)?;
    lock(&shared.refresh).insert(
        token.clone(),
        RefreshEntry {
            family,
            client_id: client.to_owned(),
            user: user.to_owned(),
            scopes: scopes.to_vec(),
            audience: audience.to_owned(),
            expires_at: (shared.now() + REFRESH_LIFETIME).min(family_ends),
            used: false,
        },
    );
    Ok(token)
}

/// What a code redemption found.
enum Redeemed {
    /// First use: user, family, scopes, audience.
    Fresh(Granted),
    /// Reuse: what the code issued, and its refresh family.
    Reused(Vec<(String, SystemTime)>, Option<String>),
}

async fn authorization_code_grant(
    shared: &Shared,
    cfg: &IssuerConfig,
    client: &ClientConfig,
    params: &Params,
) -> Result<Response, OAuthError> {
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
        if entry.client_id != client.id {
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
        Ok(Redeemed::Fresh((
            entry.user.clone(),
            family,
            entry.scopes.clone(),
            entry.audience.clone(),
        )))
    })();
    let (user, family, scopes, audience) = match taken? {
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
        shared, cfg, &user, &client.id, &audience, &scopes, None, None,
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
    let mut extra = json!({});
    if client.grants.contains(&Grant::RefreshToken) {
        let ends = family_end(shared, &family);
        extra["refresh_token"] = json!(new_refresh_token(
            shared, family, ends, &client.id, &user, &scopes, &audience
        )?);
    }
    Ok(token_response(&issued, &scopes, extra))
}

async fn refresh_grant(
    shared: &Shared,
    cfg: &IssuerConfig,
    client: &ClientConfig,
    params: &Params,
) -> Result<Response, OAuthError> {
    require_grant(client, Grant::RefreshToken)?;
    let presented = params.require("refresh_token")?;
    let requested = params.scopes()?;
    let taken: Result<Result<Granted, String>, OAuthError> = (|| {
        let mut refresh = lock(&shared.refresh);
        let entry = refresh
            .get_mut(presented)
            .ok_or_else(|| err("invalid_grant", "unknown refresh token"))?;
        if entry.client_id != client.id {
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
        // A bad request does not burn the token: check the scope first.
        if let Some(bad) = requested
            .iter()
            .flatten()
            .find(|s| !entry.scopes.contains(s))
        {
            return Err(err(
                "invalid_scope",
                format!("scope {bad} was not granted originally"),
            ));
        }
        entry.used = true;
        Ok(Ok((
            entry.family.clone(),
            entry.user.clone(),
            entry.scopes.clone(),
            entry.audience.clone(),
        )))
    })();
    let (family, user, scopes, audience) = match taken? {
        Ok(t) => t,
        Err(family) => {
            revoke_cascade(shared, Vec::new(), &[family]).await?;
            return Err(err(
                "invalid_grant",
                "refresh token reuse detected; the token family is revoked",
            ));
        }
    };
    let granted = match requested {
        Some(req) if !req.is_empty() => {
            if let Some(bad) = req.iter().find(|s| !scopes.contains(s)) {
                return Err(err(
                    "invalid_scope",
                    format!("scope {bad} was not granted originally"),
                ));
            }
            req
        }
        _ => scopes.clone(),
    };
    let issued = issue_access_token(
        shared, cfg, &user, &client.id, &audience, &granted, None, None,
    )?;
    if !record_in_family(shared, &family, &issued) {
        // Revoked while this request ran: the new token goes with it.
        revoke_cascade(shared, vec![(issued.jti.clone(), issued.exp)], &[]).await?;
        return Err(err("invalid_grant", "the refresh token was revoked"));
    }
    let ends = family_end(shared, &family);
    let rt = new_refresh_token(shared, family, ends, &client.id, &user, &scopes, &audience)?;
    Ok(token_response(
        &issued,
        &granted,
        json!({"refresh_token": rt}),
    ))
}

/// Records an access token in its family; `false` when the family is
/// revoked (or unknown), in which case the caller revokes the token.
fn record_in_family(shared: &Shared, family: &str, issued: &Issued) -> bool {
    match lock(&shared.families).get_mut(family) {
        Some(f) if !f.revoked => {
            f.issued.push((issued.jti.clone(), issued.exp));
            true
        }
        _ => false,
    }
}

fn family_revoked(shared: &Shared, family: &str) -> bool {
    lock(&shared.families).get(family).is_none_or(|f| f.revoked)
}

/// The absolute end of a family (the epoch for an unknown one).
fn family_end(shared: &Shared, family: &str) -> SystemTime {
    lock(&shared.families)
        .get(family)
        .map_or(UNIX_EPOCH, |f| f.expires_at)
}

/// The one way anything is revoked (RFC 7009 §2.1; RFC 8693 chains; refresh
/// families; code reuse): `ids` (token identifiers until their expiry),
/// every access token the `families` issued, and every token exchanged from
/// any of those, transitively. Families are refused at once; every
/// identifier is written to the revocation store, and the first write that
/// fails is a 503 `temporarily_unavailable`, never a silent success. What
/// was gathered is forgotten only once every write succeeded, so a retry
/// completes the job.
async fn revoke_cascade(
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

/// The claims of a token this issuer issued, if it is active: a JWT signed
/// by one of its keys and unexpired, or a live opaque token; never revoked.
pub(crate) async fn active_claims(shared: &Shared, token: &str) -> Option<Value> {
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
        return Some(e.claims.clone());
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(token.split('.').next()?)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())?;
    let key = shared.key(header["kid"].as_str()?)?;
    let jwk = key.public_jwk()?;
    let keys = warden_jwt::KeySet::from_jwks_value(&json!({"keys": [jwk]})).ok()?;
    let validator = warden_jwt::JwtValidator::builder()
        .clock(shared.clock.clone())
        .issuer(&shared.issuer)
        .keys(keys)
        .leeway(Duration::ZERO)
        .dangerous()
        .skip_audience_check()
        .build()
        .ok()?;
    let p = validator.validate_token(token).await.ok()?;
    let jti = p.claims().jwt_id.clone()?;
    if shared.revocations.is_revoked(&jti).unwrap_or(true) {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}

fn audiences_of(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

async fn exchange_grant(
    shared: &Shared,
    cfg: &IssuerConfig,
    client: &ClientConfig,
    params: &Params,
) -> Result<Response, OAuthError> {
    require_grant(client, Grant::TokenExchange)?;
    let subject_token = params.require("subject_token")?;
    let subject_type = params.require("subject_token_type")?;
    if subject_type != TT_ACCESS_TOKEN && subject_type != TT_JWT {
        return Err(err(
            "invalid_request",
            "subject_token_type must be access_token or jwt",
        ));
    }
    if let Some(rt) = params.get("requested_token_type")?
        && rt != TT_ACCESS_TOKEN
        && rt != TT_JWT
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
    if !audiences_of(&subject).iter().any(|a| a == own) {
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
    let sub = subject["sub"]
        .as_str()
        .ok_or_else(|| err("invalid_grant", "the subject token has no sub"))?;
    // RFC 8693 §4.1: the current actor, nesting the previous chain.
    let mut act = json!({"sub": client.id});
    if let Some(prev) = subject.get("act").filter(|v| v.is_object()) {
        act["act"] = prev.clone();
    }
    let subject_exp = subject["exp"].as_u64();
    let subject_jti = subject["jti"].as_str().map(str::to_owned);
    let issued = issue_access_token(
        shared,
        cfg,
        sub,
        &client.id,
        &aud,
        &scopes,
        Some(act),
        subject_exp,
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
        json!({"issued_token_type": TT_ACCESS_TOKEN}),
    ))
}

/// RFC 8693 §4.4: a subject token that names who may act for it admits
/// only that actor.
fn may_act(subject: &Value, client: &ClientConfig) -> Result<(), OAuthError> {
    match subject.get("may_act") {
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
fn exchange_scopes(
    cfg: &IssuerConfig,
    client: &ClientConfig,
    target: &str,
    subject: &Value,
    requested: Option<&[String]>,
) -> Result<Vec<String>, OAuthError> {
    let res = cfg
        .resource(target)
        .ok_or_else(|| err("invalid_target", format!("unknown resource {target}")))?;
    // The subject is one of this issuer's own tokens: `scope` is a string.
    let held = warden_core::Scopes::from_space_separated(subject["scope"].as_str().unwrap_or(""));
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
    match requested {
        Some(req) if !req.is_empty() => {
            if let Some(bad) = req.iter().find(|s| !grantable.contains(s)) {
                return Err(err(
                    "invalid_scope",
                    format!(
                        "scope {bad} toward {target} is not justified by the subject token for {}",
                        client.id
                    ),
                ));
            }
            Ok(req.to_vec())
        }
        _ if grantable.is_empty() => Err(err(
            "invalid_scope",
            format!("the subject token justifies no scope toward {target}"),
        )),
        _ => Ok(grantable),
    }
}

/// `POST /introspect` (RFC 7662 §2): callers must authenticate.
pub(crate) async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(res) = crate::server::fault(&shared).await {
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
            Some(mut c) if may_know(&caller, &c) => {
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
fn may_know(caller: &ClientConfig, claims: &Value) -> bool {
    claims["client_id"].as_str() == Some(caller.id.as_str())
        || caller
            .audience
            .as_deref()
            .is_some_and(|a| audiences_of(claims).iter().any(|x| x == a))
}

fn refresh_info(shared: &Shared, token: &str) -> Option<Value> {
    let refresh = lock(&shared.refresh);
    let e = refresh.get(token)?;
    if e.used || e.expires_at <= shared.now() || family_revoked(shared, &e.family) {
        return None;
    }
    Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": e.client_id,
        "sub": e.user,
        "scope": e.scopes.join(" "),
        "exp": e.expires_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    }))
}

/// `POST /revoke` (RFC 7009 §2): 200 for unknown tokens too.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    shared.prune();
    let params = Params(form);
    let cfg = shared.config();
    let result = async {
        let caller = authenticate_client(&shared, &cfg, &headers, &params).await?;
        let token = params.require("token")?;
        // Refresh tokens: the whole family.
        let family = lock(&shared.refresh)
            .get(token)
            .map(|e| (e.family.clone(), e.client_id.clone()));
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
            if !may_know(&caller, &claims) {
                return Err(err(
                    "unauthorized_client",
                    "the token was issued to another client",
                ));
            }
            let exp = UNIX_EPOCH + Duration::from_secs(claims["exp"].as_u64().unwrap_or(0));
            // The token by its identifier (the hash for an opaque token), and
            // by its jti: exchanged tokens hang off the jti, and an opaque
            // token must also stop introspecting as active.
            let mut ids = Vec::new();
            if lock(&shared.opaque).contains_key(token) {
                ids.push((token_hash_id(token), exp));
            }
            if let Some(jti) = claims["jti"].as_str() {
                ids.push((jti.to_owned(), exp));
            }
            revoke_cascade(&shared, ids, &[]).await?;
        }
        Ok(StatusCode::OK.into_response())
    }
    .await;
    no_store(result.unwrap_or_else(IntoResponse::into_response))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
struct AuthzRequest {
    client: ClientConfig,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    audience: String,
    challenge: String,
}

/// A redirect to the client (RFC 6749 §4.1.2): the registered URI with its
/// own query kept (§3.1.2), `params`, `state` when the request had one, and
/// `iss` (RFC 9207 §2) so the client can tell which server answered.
fn redirect_to_client(
    redirect_uri: &str,
    issuer: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let mut url = redirect_uri.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    let state = state.map(|s| ("state", s));
    for (k, v) in params.iter().copied().chain(state).chain([("iss", issuer)]) {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&urlencode(v));
        sep = '&';
    }
    Redirect::to(&url).into_response()
}

fn redirect_error(
    redirect_uri: &str,
    issuer: &str,
    code: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    redirect_to_client(
        redirect_uri,
        issuer,
        &[("error", code), ("error_description", description)],
        state,
    )
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Checks an authorization request. `Err(response)` is either an error page
/// (bad client or redirect URI: never redirect there) or a redirect carrying
/// the error.
fn check_authz(
    cfg: &IssuerConfig,
    issuer: &str,
    params: &Params,
) -> Result<AuthzRequest, Box<Response>> {
    let page = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            Html(format!("<h1>Bad request</h1><p>{}</p>", html_escape(msg))),
        )
            .into_response()
            .into()
    };
    let client_id = params
        .get("client_id")
        .ok()
        .flatten()
        .ok_or_else(|| page("missing client_id"))?;
    let client = cfg
        .client(client_id)
        .ok_or_else(|| page("unknown client"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok()
        .flatten()
        .ok_or_else(|| page("missing redirect_uri"))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page("redirect_uri is not registered for this client"));
    }
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let fail = |code: &str, msg: &str| {
        Box::new(redirect_error(
            redirect_uri,
            issuer,
            code,
            msg,
            state.as_deref(),
        ))
    };
    if params.get("response_type").ok().flatten() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if !client.grants.contains(&Grant::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "the client may not use the code flow",
        ));
    }
    let challenge = params
        .get("code_challenge")
        .ok()
        .flatten()
        .ok_or_else(|| fail("invalid_request", "PKCE is required: send code_challenge"))?;
    if params.get("code_challenge_method").ok().flatten() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43 {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256",
        ));
    }
    let requested = params
        .scopes()
        .map_err(|_| fail("invalid_request", "scope given twice"))?;
    let resource = params.get("resource").ok().flatten();
    // A client's token audience is a restriction, not a default.
    if let (Some(fixed), Some(r)) = (client.token_audience.as_deref(), resource)
        && fixed != r
    {
        return Err(fail(
            "invalid_target",
            &format!("the tokens of {} are for {fixed} only", client.id),
        ));
    }
    let (audience, scopes) = resolve_target(
        cfg,
        client,
        resource,
        requested.as_deref(),
        client.token_audience.as_deref(),
    )
    .map_err(|e| fail(e.code, &e.description))?;
    Ok(AuthzRequest {
        client: client.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scopes,
        audience,
        challenge: challenge.to_owned(),
    })
}

fn login_page(params: &Params, req: &AuthzRequest, error: Option<&str>) -> Response {
    let hidden: String = params
        .0
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "username" | "password" | "decision"))
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let error = error
        .map(|e| format!(r#"<p class="error">{}</p>"#, html_escape(e)))
        .unwrap_or_default();
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    let body = format!(
        r#"<!doctype html><html><head><title>warden-issuer: sign in</title></head><body>
<h1>Sign in to {client}</h1>
<p>{client} asks for <b>{scopes}</b> on <b>{aud}</b>.</p>{error}
<form method="post" action="">{hidden}
<label>User <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button name="decision" value="allow">Allow</button>
<button name="decision" value="deny">Deny</button>
</form></body></html>"#,
        client = html_escape(&req.client.id),
        scopes = html_escape(&req.scopes.join(" ")),
        aud = html_escape(&req.audience),
    );
    let mut res = (status, Html(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /authorize`: the login and consent page.
pub(crate) async fn authorize_page(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(query);
    match check_authz(&shared.config(), &shared.issuer, &params) {
        Ok(req) => login_page(&params, &req, None),
        Err(res) => *res,
    }
}

/// `POST /authorize`: checks the user and consent, then redirects with a code.
pub(crate) async fn authorize_submit(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<Vec<(String, String)>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    // The form carries the request parameters (hidden fields); the query may too.
    let mut all = form;
    let seen: HashSet<String> = all.iter().map(|(k, _)| k.clone()).collect();
    all.extend(query.into_iter().filter(|(k, _)| !seen.contains(k)));
    shared.prune();
    let params = Params(all);
    let cfg = shared.config();
    let req = match check_authz(&cfg, &shared.issuer, &params) {
        Ok(r) => r,
        Err(res) => return *res,
    };
    if params.get("decision").ok().flatten() == Some("deny") {
        return redirect_error(
            &req.redirect_uri,
            &shared.issuer,
            "access_denied",
            "the user denied the request",
            req.state.as_deref(),
        );
    }
    let username = params.get("username").ok().flatten().unwrap_or_default();
    let password = params.get("password").ok().flatten().unwrap_or_default();
    let ok = cfg
        .users
        .iter()
        .any(|u| u.username == username && constant_time_eq(&u.password, password));
    if !ok {
        return login_page(&params, &req, Some("unknown user or wrong password"));
    }
    let code = match random_id(24) {
        Ok(c) => c,
        Err(_) => {
            return redirect_error(
                &req.redirect_uri,
                &shared.issuer,
                "server_error",
                "the random generator failed",
                req.state.as_deref(),
            );
        }
    };
    lock(&shared.codes).insert(
        code.clone(),
        Code {
            client_id: req.client.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            user: username.to_owned(),
            scopes: req.scopes.clone(),
            audience: req.audience.clone(),
            challenge: req.challenge.clone(),
            expires_at: shared.now() + CODE_LIFETIME,
            used: false,
            reused: false,
            issued: Vec::new(),
            family: None,
        },
    );
    redirect_to_client(
        &req.redirect_uri,
        &shared.issuer,
        &[("code", &code)],
        req.state.as_deref(),
    )
}
