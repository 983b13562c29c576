//! Validator settings from the environment, the way warden's examples and
//! many deployments configure them:
//!
//! | variable | | meaning |
//! | --- | --- | --- |
//! | `WARDEN_ISSUER` | required | expected `iss`; discovery base unless `WARDEN_JWKS_URL` is set |
//! | `WARDEN_AUDIENCE` | required | expected `aud` (comma-separated for several) |
//! | `WARDEN_JWKS_URL` | optional | JWKS location (skips discovery) |
//! | `WARDEN_ALLOW_HTTP` | optional | `1` allows http:// URLs (loopback development) |

use crate::builder::JwtValidatorBuilder;
use crate::error::JwtError;
use crate::validator::JwtValidator;
use warden_core::NoCustomClaims;

/// A required variable is missing or empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is required")]
pub struct EnvError(pub &'static str);

/// The `WARDEN_*` validator settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvConfig {
    /// `WARDEN_ISSUER`.
    pub issuer: String,
    /// `WARDEN_AUDIENCE`, split on commas.
    pub audiences: Vec<String>,
    /// `WARDEN_JWKS_URL`.
    pub jwks_url: Option<String>,
    /// `WARDEN_ALLOW_HTTP=1`.
    pub allow_http: bool,
}

impl EnvConfig {
    /// Reads the settings through `get` (for tests, or another source).
    ///
    /// # Errors
    /// A message naming the missing variable.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let need = |k: &'static str| get(k).filter(|v| !v.trim().is_empty()).ok_or(EnvError(k));
        let issuer = need("WARDEN_ISSUER")?;
        let audiences: Vec<String> = need("WARDEN_AUDIENCE")?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        Ok(Self {
            issuer,
            audiences,
            jwks_url: get("WARDEN_JWKS_URL").filter(|v| !v.trim().is_empty()),
            allow_http: get("WARDEN_ALLOW_HTTP").as_deref() == Some("1"),
        })
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// A message naming the missing variable.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// A builder with these settings, for further tuning.
    pub fn builder(&self) -> JwtValidatorBuilder<NoCustomClaims> {
        let mut b = JwtValidator::builder()
            .issuer(&self.issuer)
            .audiences(self.audiences.iter().cloned());
        if let Some(url) = &self.jwks_url {
            b = b.jwks_url(url);
        }
        if self.allow_http {
            b = b.dangerous().allow_http();
        }
        b
    }

    /// The validator these settings describe.
    ///
    /// # Errors
    /// The builder's error (for example an http:// URL without
    /// `WARDEN_ALLOW_HTTP=1`).
    pub fn validator(&self) -> Result<JwtValidator, JwtError> {
        self.builder().build()
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
        assert!(c.allow_http && c.jwks_url.is_none());
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
