//! The issuer's configuration (TOML): clients, resources and their scopes,
//! development users, signing keys. RFC 6749 §2 (client registration,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-2>), RFC 8707 (resources).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::keys::Algorithm;

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML does not parse, or does not match the schema.
    #[error("{0}")]
    Toml(String),
    /// The configuration is inconsistent (the message names where).
    #[error("{0}")]
    Invalid(String),
}

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.1 with PKCE (RFC 7636) required.
    AuthorizationCode,
    /// RFC 6749 §6, with rotation and reuse detection.
    RefreshToken,
    /// RFC 8693.
    #[serde(rename = "token-exchange")]
    TokenExchange,
}

/// The token format of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenFormat {
    /// RFC 9068 JWT access tokens.
    #[default]
    Jwt,
    /// Random reference tokens, validated by introspection (RFC 7662).
    Opaque,
}

/// A registered client. `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `client_id`.
    pub id: String,
    /// The secret of a confidential client (client_secret_basic / _post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A public client (no secret; PKCE required).
    #[serde(default)]
    pub public: bool,
    /// The client's public keys for private_key_jwt (RFC 7523), a JWK Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Allowed grants.
    pub grants: Vec<Grant>,
    /// Scopes the client may have.
    pub scopes: Vec<String>,
    /// The audience of tokens sent *to* this client (the audience a subject
    /// token must carry for this client to exchange it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Audiences this client may exchange tokens toward (RFC 8693).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_to: Vec<String>,
    /// How a subject token's scopes carry across to a target resource when
    /// this client exchanges it: target audience → subject scope → target
    /// scopes. A scope reaches the exchanged token only when the subject
    /// holds it and the target knows it, or a mapping here leads to it from
    /// a scope the subject holds; nothing else does (deny by default).
    ///
    /// ```toml
    /// [clients.exchange_scopes."api://inventory"]
    /// "orders:read" = ["inventory:read"]
    /// ```
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exchange_scopes: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Exact redirect URIs (authorization code).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// The audience of tokens issued to this client through the
    /// authorization code flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_audience: Option<String>,
    /// Token requests must carry a DPoP proof, and every access token is
    /// DPoP-bound (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// The name people see on the sign-in and consent page (default: the
    /// client id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A protected resource (an audience) and its scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceConfig {
    /// The audience, such as `api://orders`.
    pub audience: String,
    /// JWT or opaque tokens.
    #[serde(default)]
    pub format: TokenFormat,
    /// Access token lifetime in seconds.
    pub lifetime_secs: u64,
    /// The scopes this resource knows.
    pub scopes: Vec<String>,
    /// What each scope lets a client do, in words for the consent page
    /// (`"orders:read" = "See your orders"`); a scope without one is shown
    /// by its name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope_descriptions: BTreeMap<String, String>,
}

/// A development user for the login page. `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserConfig {
    /// The user name (the tokens' `sub`).
    pub username: String,
    /// The password (development only).
    pub password: String,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("public", &self.public)
            .field("jwks", &self.jwks.is_some())
            .field("grants", &self.grants)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .field("exchange_to", &self.exchange_to)
            .field("exchange_scopes", &self.exchange_scopes)
            .field("redirect_uris", &self.redirect_uris)
            .field("token_audience", &self.token_audience)
            .field("dpop_bound_access_tokens", &self.dpop_bound_access_tokens)
            .field("name", &self.name)
            .finish()
    }
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Signing keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeysConfig {
    /// The algorithm of generated keys (RS256, ES256 or EdDSA).
    pub algorithm: String,
    /// How long a new key is published before it signs (seconds), so that
    /// resource servers' key caches learn it first.
    #[serde(default)]
    pub publish_lead_secs: u64,
}

impl KeysConfig {
    /// The algorithm as an enum.
    ///
    /// # Errors
    /// For an algorithm the issuer does not generate keys for.
    pub fn alg(&self) -> Result<Algorithm, ConfigError> {
        self.alg_inner().map_err(ConfigError::Invalid)
    }

    fn alg_inner(&self) -> Result<Algorithm, String> {
        match self.algorithm.as_str() {
            "RS256" => Ok(Algorithm::RS256),
            "PS256" => Ok(Algorithm::PS256),
            "ES256" => Ok(Algorithm::ES256),
            "ES384" => Ok(Algorithm::ES384),
            "EdDSA" => Ok(Algorithm::EdDSA),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (RS256, PS256, ES256, ES384, EdDSA)"
            )),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The issuer URL; defaults to `http://<bind address>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Registered clients.
    pub clients: Vec<ClientConfig>,
    /// Protected resources.
    pub resources: Vec<ResourceConfig>,
    /// Development users.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// The absolute lifetime of a refresh-token family in seconds (default
    /// 7 days): rotation renews each refresh token, never the family.
    #[serde(default = "default_family_lifetime")]
    pub refresh_family_lifetime_secs: u64,
}

fn default_family_lifetime() -> u64 {
    7 * 24 * 3600
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn client(id: &str, grants: &[Grant], scopes: &[&str]) -> ClientConfig {
    ClientConfig {
        id: id.into(),
        secret: Some(format!("{id}-secret")),
        public: false,
        jwks: None,
        grants: grants.to_vec(),
        scopes: strings(scopes),
        audience: None,
        exchange_to: Vec::new(),
        exchange_scopes: BTreeMap::new(),
        redirect_uris: Vec::new(),
        token_audience: None,
        dpop_bound_access_tokens: false,
        name: None,
    }
}

fn resource(aud: &str, format: TokenFormat, scopes: &[&str]) -> ResourceConfig {
    ResourceConfig {
        audience: aud.into(),
        format,
        lifetime_secs: 600,
        scopes: strings(scopes),
        scope_descriptions: scopes
            .iter()
            .filter_map(|s| {
                let words = match *s {
                    "orders:read" => "See your orders",
                    "orders:write" => "Place and change orders for you",
                    "inventory:read" => "See stock levels",
                    "inventory:write" => "Change stock levels",
                    "ledger:read" => "Read the ledger",
                    _ => return None,
                };
                Some(((*s).to_owned(), words.to_owned()))
            })
            .collect(),
    }
}

impl IssuerConfig {
    /// The development configuration the demo and examples rely on.
    pub fn dev() -> Self {
        use Grant::*;
        let mut gateway = client(
            "svc-gateway",
            &[ClientCredentials, TokenExchange],
            &["orders:read", "orders:write"],
        );
        gateway.audience = Some("api://gateway".into());
        gateway.exchange_to = strings(&["api://orders"]);
        let mut orders = client(
            "svc-orders",
            &[ClientCredentials, TokenExchange],
            &["orders:read", "inventory:read", "inventory:write"],
        );
        orders.audience = Some("api://orders".into());
        orders.exchange_to = strings(&["api://inventory"]);
        // What the demo needs and no more: reading orders lets orders read
        // inventory on the caller's behalf; nothing maps to inventory:write.
        orders.exchange_scopes = BTreeMap::from([(
            "api://inventory".to_owned(),
            BTreeMap::from([("orders:read".to_owned(), strings(&["inventory:read"]))]),
        )]);
        // The ledger's resource server: it introspects the ledger's opaque
        // tokens and holds no grant of its own.
        let mut ledger = client("rs-ledger", &[], &[]);
        ledger.audience = Some("api://ledger".into());
        let mut web = client(
            "web-app",
            &[AuthorizationCode, RefreshToken],
            &["orders:read", "orders:write"],
        );
        web.secret = None;
        web.public = true;
        web.redirect_uris = strings(&["http://127.0.0.1:8080/callback"]);
        web.token_audience = Some("api://gateway".into());
        web.name = Some("Orders web app".into());
        Self {
            issuer: None,
            keys: KeysConfig {
                algorithm: "RS256".into(),
                publish_lead_secs: 0,
            },
            clients: vec![
                client(
                    "svc-batch",
                    &[ClientCredentials],
                    &["orders:read", "ledger:read"],
                ),
                ledger,
                gateway,
                orders,
                web,
            ],
            resources: vec![
                resource(
                    "api://gateway",
                    TokenFormat::Jwt,
                    &["orders:read", "orders:write"],
                ),
                resource(
                    "api://orders",
                    TokenFormat::Jwt,
                    &["orders:read", "orders:write"],
                ),
                resource(
                    "api://inventory",
                    TokenFormat::Jwt,
                    &["inventory:read", "inventory:write"],
                ),
                resource("api://ledger", TokenFormat::Opaque, &["ledger:read"]),
            ],
            users: vec![UserConfig {
                username: "alice".into(),
                password: "alice-password".into(),
            }],
            refresh_family_lifetime_secs: default_family_lifetime(),
        }
    }

    /// Parses a TOML configuration and checks it.
    ///
    /// # Errors
    /// A message for a syntax error or an inconsistent configuration.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let cfg: Self = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        cfg.check()?;
        Ok(cfg)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks references between clients and resources.
    ///
    /// # Errors
    /// A message naming the inconsistency.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_inner().map_err(ConfigError::Invalid)
    }

    fn check_inner(&self) -> Result<(), String> {
        self.keys.alg_inner()?;
        let known = |aud: &str| self.resources.iter().any(|r| r.audience == aud);
        for r in &self.resources {
            if let Some(s) = r.scope_descriptions.keys().find(|s| !r.scopes.contains(s)) {
                return Err(format!(
                    "resource {}: a description for {s}, which is not one of its scopes",
                    r.audience
                ));
            }
        }
        for c in &self.clients {
            if c.public {
                if c.secret.is_some() || c.jwks.is_some() {
                    return Err(format!(
                        "client {}: a public client holds no secret and no keys",
                        c.id
                    ));
                }
                if let Some(g) = c
                    .grants
                    .iter()
                    .find(|g| matches!(g, Grant::ClientCredentials | Grant::TokenExchange))
                {
                    return Err(format!(
                        "client {}: a public client may not use {g:?} (it cannot prove who it is)",
                        c.id
                    ));
                }
            } else if c.secret.is_none() && c.jwks.is_none() {
                return Err(format!(
                    "client {}: a confidential client needs a secret or jwks (or public = true)",
                    c.id
                ));
            }
            for aud in c.exchange_to.iter().chain(c.token_audience.iter()) {
                if !known(aud) {
                    return Err(format!("client {}: unknown resource {aud}", c.id));
                }
            }
            for (target, mapping) in &c.exchange_scopes {
                if !c.exchange_to.contains(target) {
                    return Err(format!(
                        "client {}: exchange_scopes names {target}, which is not in exchange_to",
                        c.id
                    ));
                }
                let res = self.resource(target);
                for to in mapping.values().flatten() {
                    if !res.is_some_and(|r| r.scopes.contains(to)) {
                        return Err(format!(
                            "client {}: exchange_scopes maps to {to}, which {target} does not know",
                            c.id
                        ));
                    }
                }
            }
            if c.grants.contains(&Grant::AuthorizationCode) && c.redirect_uris.is_empty() {
                return Err(format!(
                    "client {}: authorization_code needs redirect_uris",
                    c.id
                ));
            }
        }
        Ok(())
    }

    /// The client with this id.
    pub fn client(&self, id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// Registers `id` as a `private_key_jwt` client (RFC 7523) whose key
    /// set holds `key`'s public JWK, granted what client `like` is granted.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when `like` is not a client, or `key` has no
    /// public JWK (an HMAC key).
    pub fn add_key_client(
        &mut self,
        id: &str,
        like: &str,
        key: &crate::keys::SigningKey,
    ) -> Result<(), ConfigError> {
        let mut client = self
            .client(like)
            .ok_or_else(|| ConfigError::Invalid(format!("no client {like}")))?
            .clone();
        let jwk = key
            .public_jwk()
            .ok_or_else(|| ConfigError::Invalid(format!("key {} has no public JWK", key.kid())))?;
        client.id = id.to_owned();
        client.secret = None;
        client.public = false;
        client.jwks = Some(serde_json::json!({ "keys": [jwk] }).to_string());
        self.clients.push(client);
        Ok(())
    }

    /// The resource with this audience.
    pub fn resource(&self, audience: &str) -> Option<&ResourceConfig> {
        self.resources.iter().find(|r| r.audience == audience)
    }

    /// The longest access-token lifetime (how long a retired key stays published).
    pub fn max_lifetime_secs(&self) -> u64 {
        self.resources
            .iter()
            .map(|r| r.lifetime_secs)
            .max()
            .unwrap_or(600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_config_round_trips_through_toml() {
        let dev = IssuerConfig::dev();
        dev.check().unwrap();
        let text = dev.to_toml();
        assert!(text.contains("svc-gateway-secret"), "{text}");
        assert_eq!(IssuerConfig::from_toml(&text).unwrap(), dev);
        assert_eq!(
            dev.client("web-app").unwrap().token_audience.as_deref(),
            Some("api://gateway")
        );
    }

    fn client_mut<'a>(c: &'a mut IssuerConfig, id: &str) -> &'a mut ClientConfig {
        c.clients.iter_mut().find(|c| c.id == id).unwrap()
    }

    #[test]
    fn inconsistent_configs_are_refused() {
        let mut c = IssuerConfig::dev();
        client_mut(&mut c, "svc-gateway")
            .exchange_to
            .push("api://nowhere".into());
        assert!(c.check().unwrap_err().to_string().contains("api://nowhere"));
        let mut c = IssuerConfig::dev();
        c.keys.algorithm = "HS256".into();
        assert!(c.check().is_err());
        let mut c = IssuerConfig::dev();
        client_mut(&mut c, "svc-orders")
            .exchange_scopes
            .get_mut("api://inventory")
            .unwrap()
            .insert("orders:read".into(), vec!["inventory:admin".into()]);
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("inventory:admin")
        );
        assert!(IssuerConfig::from_toml("not = [toml").is_err());
    }
}
