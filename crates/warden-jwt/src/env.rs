//! Validator settings from the environment, the way warden's examples and
//! many deployments configure them:
//!
//! | variable | | meaning |
//! | --- | --- | --- |
//! | `WARDEN_ISSUER` | required | expected `iss`, comma-separated for several issuers; each is its discovery base unless `WARDEN_JWKS_URL` is set |
//! | `WARDEN_AUDIENCE` | required | expected `aud` (comma-separated for several), for every issuer |
//! | `WARDEN_JWKS_URL` | optional | JWKS location (skips discovery); with several issuers, one URL per issuer in the same order |
//! | `WARDEN_ALLOW_HTTP` | optional | `1` allows http:// URLs (loopback development) |
//!
//! Several issuers make a multi-issuer validator
//! ([`JwtValidator::multi_issuer`]): each issuer has its own key set, and a
//! token's `iss` chooses which one verifies it.

use crate::builder::JwtValidatorBuilder;
use crate::error::JwtError;
use crate::validator::JwtValidator;
use warden_core::NoCustomClaims;

/// A variable is missing, empty, or does not fit the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is missing or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// `WARDEN_JWKS_URL` does not hold one URL per issuer.
    #[error(
        "WARDEN_JWKS_URL has {urls} URL(s) for {issuers} issuer(s) in WARDEN_ISSUER: give one per issuer, in the same order"
    )]
    JwksUrlCount {
        /// Issuers in `WARDEN_ISSUER`.
        issuers: usize,
        /// URLs in `WARDEN_JWKS_URL`.
        urls: usize,
    },
}

/// A comma-separated list, trimmed, empty items dropped.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The `WARDEN_*` validator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `WARDEN_ISSUER`, split on commas (at least one).
    pub issuers: Vec<String>,
    /// `WARDEN_AUDIENCE`, split on commas.
    pub audiences: Vec<String>,
    /// `WARDEN_JWKS_URL`, split on commas: empty, or one per issuer.
    pub jwks_urls: Vec<String>,
    /// `WARDEN_ALLOW_HTTP=1`.
    pub allow_http: bool,
}

impl EnvConfig {
    /// Reads the settings through `get` (for tests, or another source).
    ///
    /// # Errors
    /// A message naming the missing variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let need = |k: &'static str| {
            let v = list(&get(k).unwrap_or_default());
            if v.is_empty() {
                Err(EnvError::Missing(k))
            } else {
                Ok(v)
            }
        };
        let issuers = need("WARDEN_ISSUER")?;
        let audiences = need("WARDEN_AUDIENCE")?;
        let jwks_urls = list(&get("WARDEN_JWKS_URL").unwrap_or_default());
        if !jwks_urls.is_empty() && jwks_urls.len() != issuers.len() {
            return Err(EnvError::JwksUrlCount {
                issuers: issuers.len(),
                urls: jwks_urls.len(),
            });
        }
        Ok(Self {
            issuers,
            audiences,
            jwks_urls,
            allow_http: get("WARDEN_ALLOW_HTTP").as_deref() == Some("1"),
        })
    }

    /// The first issuer (the only one, in most deployments); empty when
    /// `issuers` was emptied after reading.
    pub fn issuer(&self) -> &str {
        self.issuers.first().map_or("", String::as_str)
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A message naming the missing variable.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// One builder per issuer, in `WARDEN_ISSUER`'s order, for further
    /// tuning (each with every audience).
    pub fn builders(&self) -> Vec<JwtValidatorBuilder<NoCustomClaims>> {
        self.issuers
            .iter()
            .enumerate()
            .map(|(i, issuer)| {
                let mut b = JwtValidator::builder()
                    .issuer(issuer)
                    .audiences(self.audiences.iter().cloned());
                if let Some(url) = self.jwks_urls.get(i) {
                    b = b.jwks_url(url);
                }
                if self.allow_http {
                    b = b.dangerous().allow_http();
                }
                b
            })
            .collect()
    }

    /// The validator these settings describe: single-issuer for one issuer,
    /// multi-issuer for several.
    ///
    /// # Errors
    /// The builder's error (for example an http:// URL without
    /// `WARDEN_ALLOW_HTTP=1`).
    pub fn validator(&self) -> Result<JwtValidator, JwtError> {
        let mut builders = self.builders();
        if builders.len() == 1 {
            return builders.remove(0).build();
        }
        builders
            .into_iter()
            .fold(JwtValidator::multi_issuer(), |m, b| m.trust(b))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_missing_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = EnvConfig::from_lookup(env(&[
            ("WARDEN_ISSUER", "https://id.example"),
            ("WARDEN_AUDIENCE", "api://a, api://b"),
            ("WARDEN_ALLOW_HTTP", "1"),
        ]))
        .unwrap();
        assert_eq!(c.audiences, ["api://a", "api://b"]);
        assert!(c.allow_http && c.jwks_urls.is_empty());
        assert_eq!(c.issuer(), "https://id.example");
        let two = EnvConfig::from_lookup(env(&[
            ("WARDEN_ISSUER", "https://a.example, https://b.example"),
            ("WARDEN_AUDIENCE", "api://a"),
            (
                "WARDEN_JWKS_URL",
                "https://a.example/keys,https://b.example/keys",
            ),
        ]))
        .unwrap();
        assert_eq!(two.issuers, ["https://a.example", "https://b.example"]);
        assert_eq!(two.jwks_urls.len(), 2);
        assert_eq!(
            EnvConfig::from_lookup(env(&[
                ("WARDEN_ISSUER", "https://a.example,https://b.example"),
                ("WARDEN_AUDIENCE", "api://a"),
                ("WARDEN_JWKS_URL", "https://a.example/keys"),
            ]))
            .unwrap_err(),
            EnvError::JwksUrlCount {
                issuers: 2,
                urls: 1
            }
        );
        assert_eq!(
            EnvConfig::from_lookup(env(&[("WARDEN_ISSUER", " , "), ("WARDEN_AUDIENCE", "a")]))
                .unwrap_err(),
            EnvError::Missing("WARDEN_ISSUER")
        );
        assert_eq!(
            EnvConfig::from_lookup(env(&[("WARDEN_AUDIENCE", "a")]))
                .unwrap_err()
                .to_string(),
            "WARDEN_ISSUER is required"
        );
        assert_eq!(
            EnvConfig::from_lookup(env(&[("WARDEN_ISSUER", "x")]))
                .unwrap_err()
                .to_string(),
            "WARDEN_AUDIENCE is required"
        );
    }
}
