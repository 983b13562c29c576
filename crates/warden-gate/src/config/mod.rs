//! The gate's TOML configuration, checked whole at start: an error names
//! the line and the reason, and the binary exits with code 2. The format
//! is TOML 1.0 (<https://toml.io/en/v1.0.0>).
//!
//! ```toml
//! [http]                      # forward-auth; default 127.0.0.1:8181
//! bind = "127.0.0.1:8181"
//! [grpc]                      # Envoy ext_authz v3; default 127.0.0.1:9191
//! bind = "127.0.0.1:9191"
//! [[issuer]]                 # one or more; a token's `iss` picks one
//! issuer = "https://issuer.example"
//! audience = "api://orders"   # or a list
//! [[route]]                   # first match wins; no match is 403
//! path = "/orders/"
//! methods = ["GET"]
//! scopes = ["orders:read"]
//! [identity]                  # headers set upstream on allow
//! subject = "x-auth-subject"
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;
use toml::Spanned;
use warden::inbound::jwt::Algorithm;
use warden::inbound::{DEFAULT_CACHE_CAPACITY, ScopeRequirement};

use crate::path::normalize;
use crate::route::{Access, Route, Routes};

/// The forward-auth listener's default address.
pub const DEFAULT_HTTP_BIND: &str = "127.0.0.1:8181";
/// The ext_authz listener's default address.
pub const DEFAULT_GRPC_BIND: &str = "127.0.0.1:9191";

/// A configuration the gate cannot start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The 1-based line the problem is on, when it has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listen {
    bind: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerSection {
    issuer: String,
    audience: Option<OneOrMany>,
    jwks_url: Option<String>,
    #[serde(default)]
    allow_http: bool,
    algorithms: Option<Vec<String>>,
    introspection: Option<IntrospectionSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntrospectionSection {
    endpoint: String,
    client_id: String,
    client_secret: String,
    cache_max_age_secs: Option<u64>,
    token_prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSection {
    path: String,
    host: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    any_scopes: Vec<String>,
    #[serde(default)]
    anonymous: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySection {
    subject: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    scopes: Option<Spanned<String>>,
    claims: Option<Spanned<String>>,
    #[serde(default)]
    remove_authorization: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    size: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisSection {
    url: String,
    max_stale_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    http: Listen,
    #[serde(default)]
    grpc: Listen,
    #[serde(default)]
    issuer: Vec<Spanned<IssuerSection>>,
    #[serde(default)]
    route: Vec<Spanned<RouteSection>>,
    #[serde(default)]
    identity: IdentitySection,
    #[serde(default)]
    cache: CacheSection,
    redis: Option<Spanned<RedisSection>>,
}

/// Introspection for opaque tokens (RFC 7662), next to local JWT checks.
#[derive(Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The introspection endpoint.
    pub endpoint: String,
    /// The gate's client id at the endpoint.
    pub client_id: String,
    /// Its secret (never printed).
    pub client_secret: String,
    /// How long an active answer is cached at most.
    pub cache_max_age: Option<Duration>,
    /// Only opaque tokens starting with this prefix go to this endpoint
    /// (with several issuers); without one, it takes every opaque token no
    /// prefix claimed.
    pub token_prefix: Option<String>,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("cache_max_age", &self.cache_max_age)
            .field("token_prefix", &self.token_prefix)
            .finish()
    }
}

/// An issuer whose tokens the gate accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// The expected `iss`; the discovery base unless `jwks_url` is given.
    pub issuer: String,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
    /// The JWKS URL, when discovery is not used.
    pub jwks_url: Option<String>,
    /// Plain-http issuer URLs (development only).
    pub allow_http: bool,
    /// Accepted signature algorithms; the validator's default when empty.
    pub algorithms: Vec<Algorithm>,
    /// Opaque tokens by introspection.
    pub introspection: Option<Introspection>,
}

/// The headers the gate sets for the upstream on an allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`.
    pub subject: HeaderName,
    /// The token's client id.
    pub client_id: HeaderName,
    /// The granted scopes, space-separated.
    pub scopes: HeaderName,
    /// The standard claims as base64url JSON, when named.
    pub claims: Option<HeaderName>,
    /// Whether the `Authorization` header is removed before the upstream
    /// (ext_authz; a forward-auth proxy decides that in its own config).
    pub remove_authorization: bool,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            subject: HeaderName::from_static("x-auth-subject"),
            client_id: HeaderName::from_static("x-auth-client-id"),
            scopes: HeaderName::from_static("x-auth-scopes"),
            claims: None,
            remove_authorization: false,
        }
    }
}

impl Identity {
    /// Every identity header name, the claims one included when set.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [&self.subject, &self.client_id, &self.scopes]
            .into_iter()
            .chain(self.claims.as_ref())
    }
}

/// Redis for revocation shared with the issuer and other replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redis {
    /// The Redis URL.
    pub url: String,
    /// How long a list nobody updates is trusted (fail closed after).
    pub max_stale: Option<Duration>,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// The forward-auth listener.
    pub http_bind: SocketAddr,
    /// The ext_authz listener.
    pub grpc_bind: SocketAddr,
    /// The issuers, in the file's order (at least one).
    pub issuers: Vec<Issuer>,
    /// The route rules.
    pub routes: Routes,
    /// The identity headers.
    pub identity: Identity,
    /// The validated-token cache's capacity (`[cache] size`; 0 turns the
    /// cache off).
    pub cache_size: usize,
    /// Revocation through Redis, when configured.
    pub redis: Option<Redis>,
}

/// Where in the text a problem is.
struct Source<'a>(&'a str);

impl Source<'_> {
    fn error(&self, span: Option<Range<usize>>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            line: span.map(|s| self.0[..s.start.min(self.0.len())].matches('\n').count() + 1),
            reason: reason.into(),
        }
    }
}

fn header_name(
    src: &Source<'_>,
    v: Option<Spanned<String>>,
    default: HeaderName,
) -> Result<HeaderName, ConfigError> {
    let Some(v) = v else {
        return Ok(default);
    };
    let name = HeaderName::from_bytes(v.get_ref().as_bytes()).map_err(|_| {
        src.error(
            Some(v.span()),
            format!("`{}` is not a header name", v.get_ref()),
        )
    })?;
    if name == http::header::AUTHORIZATION
        || name == http::header::HOST
        || name == http::header::COOKIE
    {
        return Err(src.error(
            Some(v.span()),
            format!("`{name}` cannot be an identity header"),
        ));
    }
    Ok(name)
}

fn bind(
    src: &Source<'_>,
    v: Option<Spanned<String>>,
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    if let Some(value) = env(var) {
        return value
            .parse()
            .map_err(|_| src.error(None, format!("{var}: `{value}` is not a socket address")));
    }
    match v {
        Some(v) => v.get_ref().parse().map_err(|_| {
            src.error(
                Some(v.span()),
                format!("`{}` is not a socket address", v.get_ref()),
            )
        }),
        None => Ok(default.parse().expect("a valid default address")),
    }
}

fn issuers(
    src: &Source<'_>,
    sections: Vec<Spanned<IssuerSection>>,
) -> Result<Vec<Issuer>, ConfigError> {
    if sections.is_empty() {
        return Err(src.error(None, "an [[issuer]] is required"));
    }
    let mut out: Vec<Issuer> = Vec::with_capacity(sections.len());
    for section in sections {
        let span = section.span();
        let i = issuer(src, section)?;
        if out.iter().any(|o| o.issuer == i.issuer) {
            return Err(src.error(
                Some(span),
                format!("issuer {:?} is configured twice", i.issuer),
            ));
        }
        let unprefixed = |x: &Issuer| {
            x.introspection
                .as_ref()
                .is_some_and(|x| x.token_prefix.is_none())
        };
        if unprefixed(&i) && out.iter().any(unprefixed) {
            return Err(src.error(
                Some(span),
                "two [issuer.introspection] sections take every opaque token: give each a `token_prefix`",
            ));
        }
        out.push(i);
    }
    Ok(out)
}

fn issuer(src: &Source<'_>, section: Spanned<IssuerSection>) -> Result<Issuer, ConfigError> {
    let span = section.span();
    let i = section.into_inner();
    let audiences = match i.audience {
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(a)) => a,
        None => Vec::new(),
    };
    if i.issuer.is_empty() {
        return Err(src.error(Some(span), "`issuer` is empty"));
    }
    if audiences.is_empty() || audiences.iter().any(String::is_empty) {
        return Err(src.error(
            Some(span),
            "`audience` is required: a gate that accepts any audience accepts tokens meant for other services",
        ));
    }
    let algorithms = i
        .algorithms
        .unwrap_or_default()
        .iter()
        .map(|a| {
            a.parse::<Algorithm>().map_err(|_| {
                src.error(
                    Some(span.clone()),
                    format!("`{a}` is not a supported algorithm"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Issuer {
        issuer: i.issuer,
        audiences,
        jwks_url: i.jwks_url,
        allow_http: i.allow_http,
        algorithms,
        introspection: i.introspection.map(|x| Introspection {
            endpoint: x.endpoint,
            client_id: x.client_id,
            client_secret: x.client_secret,
            cache_max_age: x.cache_max_age_secs.map(Duration::from_secs),
            token_prefix: x.token_prefix.filter(|p| !p.is_empty()),
        }),
    })
}

fn route(src: &Source<'_>, r: Spanned<RouteSection>) -> Result<Route, ConfigError> {
    let span = r.span();
    let r = r.into_inner();
    let err = |reason: String| src.error(Some(span.clone()), reason);
    let prefix = normalize(&r.path).map_err(|e| err(format!("route path `{}`: {e}", r.path)))?;
    if prefix != r.path && format!("{prefix}/") != r.path {
        return Err(err(format!(
            "route path `{}` is not in normal form (`{prefix}`): requests are matched on their normalized path",
            r.path
        )));
    }
    let access = match (r.anonymous, r.scopes.is_empty(), r.any_scopes.is_empty()) {
        (true, true, true) => Access::Anonymous,
        (true, _, _) => return Err(err("an anonymous route cannot require scopes".into())),
        (false, false, false) => {
            return Err(err(
                "a route takes `scopes` or `any_scopes`, not both".into()
            ));
        }
        (false, _, true) => Access::Token(ScopeRequirement::All(r.scopes.iter().collect())),
        (false, true, false) => Access::Token(ScopeRequirement::Any(r.any_scopes.iter().collect())),
    };
    for m in &r.methods {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(err(format!("`{m}` is not an HTTP method")));
        }
    }
    let mut route = Route::new(prefix, access).methods(&r.methods);
    if let Some(host) = r.host {
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(err(format!("`{host}` is not a host")));
        }
        route = route.host(host);
    }
    Ok(route)
}

impl GateConfig {
    /// Parses and checks `text`; `env` looks up the environment
    /// (`WARDEN_GATE_HTTP_BIND`, `WARDEN_GATE_GRPC_BIND` override the binds).
    ///
    /// # Errors
    /// The first problem, with its line when it has one.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let src = Source(text);
        let file: File =
            toml::from_str(text).map_err(|e| src.error(e.span(), e.message().to_owned()))?;
        let http_bind = bind(
            &src,
            file.http.bind,
            &env,
            "WARDEN_GATE_HTTP_BIND",
            DEFAULT_HTTP_BIND,
        )?;
        let grpc_bind = bind(
            &src,
            file.grpc.bind,
            &env,
            "WARDEN_GATE_GRPC_BIND",
            DEFAULT_GRPC_BIND,
        )?;
        let issuers = issuers(&src, file.issuer)?;
        if file.route.is_empty() {
            return Err(src.error(None, "no [[route]]: every request would be denied"));
        }
        let routes = file
            .route
            .into_iter()
            .map(|r| route(&src, r))
            .collect::<Result<Vec<_>, _>>()?;
        let d = Identity::default();
        let id = file.identity;
        let identity = Identity {
            subject: header_name(&src, id.subject, d.subject)?,
            client_id: header_name(&src, id.client_id, d.client_id)?,
            scopes: header_name(&src, id.scopes, d.scopes)?,
            claims: match id.claims {
                Some(c) => Some(header_name(
                    &src,
                    Some(c),
                    HeaderName::from_static("x-auth-claims"),
                )?),
                None => None,
            },
            remove_authorization: id.remove_authorization,
        };
        let names: Vec<_> = identity.names().collect();
        if names
            .iter()
            .enumerate()
            .any(|(i, n)| names[..i].contains(n))
        {
            return Err(src.error(None, "[identity] names one header twice"));
        }
        let cache_size = file.cache.size.unwrap_or(DEFAULT_CACHE_CAPACITY);
        let redis = file.redis.map(|r| {
            let r = r.into_inner();
            Redis {
                url: r.url,
                max_stale: r.max_stale_secs.map(Duration::from_secs),
            }
        });
        Ok(GateConfig {
            http_bind,
            grpc_bind,
            issuers,
            routes: Routes::new(routes),
            identity,
            cache_size,
            redis,
        })
    }
}

#[cfg(test)]
mod tests;
