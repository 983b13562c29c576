//! One reading of the registered claims, whatever carries them: a JWT access
//! token's payload (RFC 7519 §4.1, <https://www.rfc-editor.org/rfc/rfc7519#section-4.1>;
//! RFC 9068 §2.2, <https://www.rfc-editor.org/rfc/rfc9068#section-2.2>) or
//! an introspection answer (RFC 7662 §2.2,
//! <https://www.rfc-editor.org/rfc/rfc7662#section-2.2>).
//!
//! The JWT validator, the introspection validator and warden-issuer all read
//! claims here, so one token gets one verdict whichever way it is checked.
//!
//! | claim | accepted form | otherwise |
//! | --- | --- | --- |
//! | `exp`, `nbf`, `iat` | a JSON number from 0 to 10¹¹ (RFC 7519 §2 NumericDate) | `InvalidClaim` (a string or `null` is never "absent") |
//! | `exp` | required (optional for introspection: `active` is the verdict) | `MissingClaim("exp")` |
//! | time | `exp` + leeway > now, `nbf` and `iat` ≤ now + leeway (default 60 s) | `Expired`, `NotYetValid`, `IssuedInFuture` |
//! | `iss` | a string, equal to a configured issuer or matching an [`IssuerTemplate`] | `MissingClaim("iss")`, `WrongIssuer` |
//! | `tid` | with a template: a string equal to the issuer's tenant, which is in the allow-list if one is set | `MissingClaim("tid")`, `WrongTenant` |
//! | `aud` | a string or an array of strings, one of them configured | `InvalidClaim("aud")`, `WrongAudience` |
//! | clients | only with [`ClientRule`]: `client_id` (Cognito, with `token_use` = `access`) or `azp` (Keycloak) in the list | `WrongClient` |
//! | `scope`, `scp` | a space-separated string or an array of strings; both are read and merged | `InvalidClaim` |
//! | client | `client_id`, else `azp`, else `cid` (Okta), else `appid` (Entra v1) | `InvalidClaim` |
//! | `sub`, `jti` | strings | `InvalidClaim` |
//! | `cnf` | an object; `jkt` and `x5t#S256` strings when present | `InvalidClaim("cnf")` |

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

use crate::error::InvalidToken;
use crate::principal::{Confirmation, Scopes, StandardClaims};

/// The default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The largest NumericDate accepted: 10¹¹ seconds (year 5138).
const MAX_NUMERIC_DATE: f64 = 1e11;

/// Whether a value must match a configured list, or is waived.
#[derive(Clone, PartialEq, Eq)]
enum Expect {
    OneOf(Vec<String>),
    Waived,
}

/// An issuer with the tenant in it, such as Entra ID's
/// `https://login.microsoftonline.com/{tenantid}/v2.0`: one placeholder
/// `{tenantid}`, matched by 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
///
/// A token accepted through a template must carry a `tid` claim equal to
/// the tenant its `iss` names (Microsoft's rule for multi-tenant apps). The
/// template only ever matches `iss`: keys come from a URL configured with
/// it, never from the unverified token.
///
/// ```
/// use warden_core::claims::IssuerTemplate;
/// let t = IssuerTemplate::parse("https://login.microsoftonline.com/{tenantid}/v2.0").unwrap();
/// assert_eq!(t.tenant("https://login.microsoftonline.com/abc-123/v2.0"), Some("abc-123"));
/// assert_eq!(t.tenant("https://login.microsoftonline.com/a/b/v2.0"), None);
/// assert!(IssuerTemplate::parse("https://login.microsoftonline.com/common/v2.0").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerTemplate {
    prefix: String,
    suffix: String,
}

impl IssuerTemplate {
    /// The placeholder a template holds exactly once.
    pub const PLACEHOLDER: &'static str = "{tenantid}";

    /// Entra ID v2.0 tokens: `https://login.microsoftonline.com/{tenantid}/v2.0`.
    pub const ENTRA_V2: &'static str = "https://login.microsoftonline.com/{tenantid}/v2.0";

    /// Entra ID v1.0 tokens: `https://sts.windows.net/{tenantid}/`.
    pub const ENTRA_V1: &'static str = "https://sts.windows.net/{tenantid}/";

    /// Reads a template; `None` unless it holds [`PLACEHOLDER`](Self::PLACEHOLDER)
    /// exactly once, after a non-empty prefix.
    pub fn parse(template: &str) -> Option<Self> {
        let (prefix, suffix) = template.split_once(Self::PLACEHOLDER)?;
        if prefix.is_empty() || suffix.contains(Self::PLACEHOLDER) {
            return None;
        }
        Some(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The tenant `iss` names, if it matches the template.
    pub fn tenant<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let t = iss.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        let ok = (1..=64).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then_some(t)
    }
}

impl fmt::Display for IssuerTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.prefix, Self::PLACEHOLDER, self.suffix)
    }
}

impl fmt::Debug for IssuerTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Who the token was issued to, checked when the issuer's `aud` cannot
/// name this resource; each rule is an explicit choice, never a default.
///
/// With a rule set and no audience configured, the rule replaces the
/// audience check; with audiences configured too, both must pass.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ClientRule {
    /// AWS Cognito access tokens carry no `aud`: `token_use` must be
    /// `access` (an ID token, whose `aud` is the client, is refused) and
    /// `client_id` one of these app clients.
    Cognito(Vec<String>),
    /// Keycloak without an audience mapper (`aud` is `account` or absent):
    /// the authorized party `azp` must be one of these clients.
    AuthorizedParty(Vec<String>),
}

/// The checks one validator applies to the registered claims. Issuer and
/// audience are required unless waived through [`dangerous`](Self::dangerous):
/// a new `ClaimRules` accepts no token until they are set.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use warden_core::claims::ClaimRules;
///
/// let rules = ClaimRules::new().issuer("https://id.example").audience("api://orders");
/// let now = UNIX_EPOCH + Duration::from_secs(1_000);
/// let claims = rules
///     .check_json(
///         r#"{"iss":"https://id.example","aud":["api://orders"],"exp":2000,"scp":["a","b"]}"#,
///         now,
///     )
///     .unwrap();
/// assert!(claims.scopes.contains_all(["a", "b"]));
/// assert!(rules.check_json(r#"{"iss":"https://id.example","aud":"api://x","exp":2000}"#, now).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct ClaimRules {
    issuer: Expect,
    templates: Vec<IssuerTemplate>,
    tenants: Option<Vec<String>>,
    audience: Expect,
    client: Option<ClientRule>,
    leeway: Duration,
    exp_required: bool,
}

impl fmt::Debug for ClaimRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |e: &Expect| match e {
            Expect::OneOf(v) => format!("{v:?}"),
            Expect::Waived => "any (waived)".to_owned(),
        };
        f.debug_struct("ClaimRules")
            .field("issuer", &show(&self.issuer))
            .field("templates", &self.templates)
            .field("tenants", &self.tenants)
            .field("audience", &show(&self.audience))
            .field("client", &self.client)
            .field("leeway", &self.leeway)
            .field("exp_required", &self.exp_required)
            .finish()
    }
}

impl Default for ClaimRules {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaimRules {
    /// Rules that expect an issuer and an audience not yet named, `exp`
    /// required, 60 s leeway.
    pub fn new() -> Self {
        Self {
            issuer: Expect::OneOf(Vec::new()),
            templates: Vec::new(),
            tenants: None,
            audience: Expect::OneOf(Vec::new()),
            client: None,
            leeway: DEFAULT_LEEWAY,
            exp_required: true,
        }
    }

    /// An accepted `iss`; call again for several.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        if let Expect::OneOf(v) = &mut self.issuer {
            v.push(issuer.into());
        }
        self
    }

    /// Accepts every `iss` matching `template` (call again for several),
    /// with the `tid` rule of [`IssuerTemplate`].
    pub fn issuer_template(mut self, template: IssuerTemplate) -> Self {
        self.templates.push(template);
        self
    }

    /// Only these tenants, for issuers accepted through a template (default:
    /// any tenant the template matches).
    pub fn tenants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.tenants
            .get_or_insert_with(Vec::new)
            .extend(tenants.into_iter().map(Into::into));
        self
    }

    /// Checks the client the token was issued to (see [`ClientRule`]).
    pub fn client_rule(mut self, rule: ClientRule) -> Self {
        self.client = Some(rule);
        self
    }

    /// An accepted `aud`; call again for several.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        if let Expect::OneOf(v) = &mut self.audience {
            v.push(audience.into());
        }
        self
    }

    /// The clock-skew allowance (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// `exp` may be absent (an introspection answer: RFC 7662 §2.2 makes it
    /// optional, and `active` is the server's verdict). Present, it is
    /// checked as always.
    pub fn exp_optional(mut self) -> Self {
        self.exp_required = false;
        self
    }

    /// The door to the waivers that weaken the checks.
    pub fn dangerous(self) -> DangerousClaimRules {
        DangerousClaimRules(self)
    }

    /// The configured issuers (empty when waived).
    pub fn issuers(&self) -> &[String] {
        match &self.issuer {
            Expect::OneOf(v) => v,
            Expect::Waived => &[],
        }
    }

    /// The configured issuer templates.
    pub fn issuer_templates(&self) -> &[IssuerTemplate] {
        &self.templates
    }

    /// The client rule, if one is set.
    pub fn client(&self) -> Option<&ClientRule> {
        self.client.as_ref()
    }

    /// Whether a token claiming `iss` (not yet verified) belongs to these
    /// rules: the choice of issuer before any key is looked up. Never an
    /// acceptance: [`check_json`](Self::check_json) checks `iss` (and the
    /// tenant) again on the verified claims.
    pub fn accepts_issuer(&self, iss: Option<&str>) -> bool {
        let Expect::OneOf(exact) = &self.issuer else {
            return true;
        };
        let Some(iss) = iss else { return false };
        exact.iter().any(|w| w == iss)
            || self
                .templates
                .iter()
                .filter_map(|t| t.tenant(iss))
                .any(|tenant| self.tenant_allowed(tenant))
    }

    fn tenant_allowed(&self, tenant: &str) -> bool {
        self.tenants
            .as_ref()
            .is_none_or(|list| list.iter().any(|t| t == tenant))
    }

    /// The configured audiences (empty when waived).
    pub fn audiences(&self) -> &[String] {
        match &self.audience {
            Expect::OneOf(v) => v,
            Expect::Waived => &[],
        }
    }

    /// Whether the issuer check is waived.
    pub fn issuer_waived(&self) -> bool {
        self.issuer == Expect::Waived
    }

    /// Whether the audience check is waived.
    pub fn audience_waived(&self) -> bool {
        self.audience == Expect::Waived
    }

    /// Reads and checks the claims of a JSON object's text (a JWT payload).
    ///
    /// # Errors
    /// [`InvalidToken::Malformed`] when `json` is not an object; otherwise as
    /// the table in the [module docs](self).
    pub fn check_json(&self, json: &str, now: SystemTime) -> Result<StandardClaims, InvalidToken> {
        if !json.trim_start().starts_with('{') {
            return Err(InvalidToken::Malformed);
        }
        let raw: RawClaims = serde_json::from_str(json).map_err(|_| InvalidToken::Malformed)?;
        self.check(raw, now)
    }

    /// Reads and checks the claims of a parsed JSON object (an
    /// introspection answer).
    ///
    /// # Errors
    /// As [`check_json`](Self::check_json).
    pub fn check_value(
        &self,
        doc: &Value,
        now: SystemTime,
    ) -> Result<StandardClaims, InvalidToken> {
        if !doc.is_object() {
            return Err(InvalidToken::Malformed);
        }
        let raw = RawClaims::deserialize(doc).map_err(|_| InvalidToken::Malformed)?;
        self.check(raw, now)
    }

    fn check(&self, raw: RawClaims, now: SystemTime) -> Result<StandardClaims, InvalidToken> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let leeway = self.leeway.as_secs_f64();
        let exp = numeric_date(raw.exp.as_ref(), "exp")?;
        if self.exp_required && exp.is_none() {
            return Err(InvalidToken::MissingClaim("exp"));
        }
        let nbf = numeric_date(raw.nbf.as_ref(), "nbf")?;
        let iat = numeric_date(raw.iat.as_ref(), "iat")?;
        if exp.is_some_and(|exp| now >= exp + leeway) {
            return Err(InvalidToken::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(InvalidToken::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now + leeway) {
            return Err(InvalidToken::IssuedInFuture);
        }

        let issuer = string(raw.iss, "iss")?;
        let mut tenant = None;
        if let Expect::OneOf(want) = &self.issuer {
            match &issuer {
                None => return Err(InvalidToken::MissingClaim("iss")),
                Some(got) if want.iter().any(|w| w == got) => {}
                Some(got) => {
                    let Some(t) = self.templates.iter().find_map(|t| t.tenant(got)) else {
                        return Err(InvalidToken::WrongIssuer);
                    };
                    match &string(raw.tid, "tid")? {
                        None => return Err(InvalidToken::MissingClaim("tid")),
                        Some(tid) if tid == t && self.tenant_allowed(t) => {}
                        Some(_) => return Err(InvalidToken::WrongTenant),
                    }
                    tenant = Some(t.to_owned());
                }
            }
        }
        let audiences = audiences(raw.aud)?;
        if let Expect::OneOf(want) = &self.audience
            && (!want.is_empty() || self.client.is_none())
            && !audiences.iter().any(|a| want.iter().any(|w| w == a))
        {
            return Err(InvalidToken::WrongAudience);
        }
        let mut scope_set = scopes(raw.scope, "scope")?;
        scope_set.extend(scopes(raw.scp, "scp")?);
        let client_id = string(raw.client_id, "client_id")?;
        let azp = string(raw.azp, "azp")?;
        match &self.client {
            None => {}
            Some(ClientRule::Cognito(ids)) => {
                let ok = raw.token_use.as_ref().and_then(Value::as_str) == Some("access")
                    && client_id.as_ref().is_some_and(|c| ids.contains(c));
                if !ok {
                    return Err(InvalidToken::WrongClient);
                }
            }
            Some(ClientRule::AuthorizedParty(ids))
                if !azp.as_ref().is_some_and(|c| ids.contains(c)) =>
            {
                return Err(InvalidToken::WrongClient);
            }
            Some(ClientRule::AuthorizedParty(_)) => {}
        }
        let client_id = match (client_id, azp) {
            (Some(c), _) | (None, Some(c)) => Some(c),
            (None, None) => match string(raw.cid, "cid")? {
                Some(c) => Some(c),
                None => string(raw.appid, "appid")?,
            },
        };
        let mut claims = StandardClaims::new();
        claims.issuer = issuer;
        claims.tenant = tenant;
        claims.subject = string(raw.sub, "sub")?;
        claims.audiences = audiences;
        claims.expires_at = exp.map(to_time);
        claims.not_before = nbf.map(to_time);
        claims.issued_at = iat.map(to_time);
        claims.jwt_id = string(raw.jti, "jti")?;
        claims.client_id = client_id;
        claims.scopes = scope_set;
        claims.cnf = confirmation(raw.cnf)?;
        Ok(claims)
    }
}

/// The waivers of [`ClaimRules`]: each weakens a check RFC 8725 asks for.
#[derive(Debug)]
#[must_use]
pub struct DangerousClaimRules(ClaimRules);

impl DangerousClaimRules {
    /// Accepts any `iss`, or none.
    ///
    /// # Security
    /// A token from any issuer whose keys (or introspection endpoint) this
    /// validator trusts is accepted.
    pub fn skip_issuer_check(mut self) -> ClaimRules {
        self.0.issuer = Expect::Waived;
        self.0
    }

    /// Accepts any `aud`, or none.
    ///
    /// # Security
    /// A token minted for another resource of the same issuer is accepted.
    pub fn skip_audience_check(mut self) -> ClaimRules {
        self.0.audience = Expect::Waived;
        self.0
    }
}

/// The registered claims as they came: `Some` for present members, `null`
/// included, so that a `null` is a wrong type and never "absent".
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default, deserialize_with = "present")]
    iss: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    sub: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    aud: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    exp: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    iat: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    jti: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    client_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    azp: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    cid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    appid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    tid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    token_use: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    cnf: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    scope: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    scp: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn string(v: Option<Value>, name: &'static str) -> Result<Option<String>, InvalidToken> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number, never a string or null.
fn numeric_date(v: Option<&Value>, name: &'static str) -> Result<Option<f64>, InvalidToken> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() && (0.0..MAX_NUMERIC_DATE).contains(&f) => Ok(Some(f)),
            _ => Err(InvalidToken::InvalidClaim(name)),
        },
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

/// A NumericDate as a time.
fn to_time(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs.clamp(0.0, MAX_NUMERIC_DATE))
}

/// `scope` / `scp`: a space-separated string or an array of strings (each
/// of which may itself hold several, space-separated).
fn scopes(v: Option<Value>, name: &'static str) -> Result<Scopes, InvalidToken> {
    match v {
        None => Ok(Scopes::new()),
        Some(Value::String(s)) => Ok(Scopes::from_space_separated(&s)),
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for item in &a {
                let s = item.as_str().ok_or(InvalidToken::InvalidClaim(name))?;
                out.extend(s.split(' ').filter(|t| !t.is_empty()));
            }
            Ok(out.into_iter().collect())
        }
        Some(_) => Err(InvalidToken::InvalidClaim(name)),
    }
}

/// `cnf`: an object whose `jkt` and `x5t#S256`, when present, are strings
/// (RFC 7800 §3.1, RFC 9449 §6.1, RFC 8705 §3.1).
fn confirmation(v: Option<Value>) -> Result<Confirmation, InvalidToken> {
    let mut out = Confirmation::default();
    match v {
        None => {}
        Some(Value::Object(mut m)) => {
            out.jkt = string(m.remove("jkt"), "cnf")?;
            out.x5t_s256 = string(m.remove("x5t#S256"), "cnf")?;
        }
        Some(_) => return Err(InvalidToken::InvalidClaim("cnf")),
    }
    Ok(out)
}

/// `aud`: a string or an array of strings (RFC 7519 §4.1.3).
fn audiences(v: Option<Value>) -> Result<Vec<String>, InvalidToken> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::String(s) => Ok(s),
                _ => Err(InvalidToken::InvalidClaim("aud")),
            })
            .collect(),
        Some(_) => Err(InvalidToken::InvalidClaim("aud")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn rules() -> ClaimRules {
        ClaimRules::new().issuer("i").audience("a")
    }

    #[test]
    fn forms() {
        let r = rules();
        let c = r
            .check_json(
                r#"{"iss":"i","aud":["x","a"],"exp":100,"scope":"s1 s2","scp":["s3 s4"],"azp":"c"}"#,
                at(50),
            )
            .unwrap();
        assert_eq!(c.scopes.len(), 4);
        assert_eq!(c.client_id.as_deref(), Some("c"));
        assert_eq!(c.audiences, ["x", "a"]);
        let bad = |json: &str| r.check_json(json, at(50)).unwrap_err();
        assert_eq!(
            bad(r#"{"iss":"i","aud":"a","exp":null}"#),
            InvalidToken::InvalidClaim("exp")
        );
        assert_eq!(
            bad(r#"{"iss":"i","aud":"a"}"#),
            InvalidToken::MissingClaim("exp")
        );
        assert_eq!(
            bad(r#"{"iss":"i","aud":["a",1],"exp":100}"#),
            InvalidToken::InvalidClaim("aud")
        );
        assert_eq!(
            bad(r#"{"aud":"a","exp":100}"#),
            InvalidToken::MissingClaim("iss")
        );
        assert_eq!(bad("[]"), InvalidToken::Malformed);
        assert!(
            r.clone()
                .exp_optional()
                .check_json(r#"{"iss":"i","aud":"a"}"#, at(50))
                .is_ok()
        );
    }

    /// Moved from warden-jwt's validator (#13): the helpers' exact readings.
    #[test]
    fn claim_helpers() {
        use serde_json::json;
        assert_eq!(numeric_date(Some(&json!(5)), "exp"), Ok(Some(5.0)));
        assert_eq!(numeric_date(Some(&json!(5.5)), "exp"), Ok(Some(5.5)));
        assert_eq!(
            numeric_date(Some(&json!("5")), "exp"),
            Err(InvalidToken::InvalidClaim("exp"))
        );
        assert_eq!(
            numeric_date(Some(&Value::Null), "exp"),
            Err(InvalidToken::InvalidClaim("exp"))
        );
        assert_eq!(
            numeric_date(Some(&json!(-1)), "exp"),
            Err(InvalidToken::InvalidClaim("exp"))
        );
        assert_eq!(numeric_date(None, "exp"), Ok(None));
        let s = scopes(Some(json!(["a b", "c"])), "scp").unwrap();
        assert_eq!(s.to_string(), "a b c");
        assert_eq!(audiences(Some(json!("x"))), Ok(vec!["x".to_string()]));
        assert_eq!(
            audiences(Some(json!([1]))),
            Err(InvalidToken::InvalidClaim("aud"))
        );
    }

    #[test]
    fn time_and_leeway() {
        let r = rules();
        let tok = |exp: u64| format!(r#"{{"iss":"i","aud":"a","exp":{exp}}}"#);
        assert!(r.check_json(&tok(100), at(159)).is_ok());
        assert_eq!(r.check_json(&tok(100), at(160)), Err(InvalidToken::Expired));
        let strict = rules().leeway(Duration::ZERO);
        assert_eq!(
            strict.check_json(&tok(100), at(100)),
            Err(InvalidToken::Expired)
        );
    }

    #[test]
    fn waivers_and_unset() {
        let json = r#"{"iss":"other","aud":"b","exp":100}"#;
        assert_eq!(
            ClaimRules::new().check_json(json, at(1)),
            Err(InvalidToken::WrongIssuer)
        );
        let waived = ClaimRules::new()
            .dangerous()
            .skip_issuer_check()
            .dangerous()
            .skip_audience_check();
        assert!(waived.check_json(json, at(1)).is_ok());
        assert!(waived.issuer_waived() && waived.audience_waived());
    }
}
