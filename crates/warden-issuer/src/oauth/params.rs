//! Form parameters of OAuth requests: a parameter sent twice is
//! `invalid_request` (RFC 6749 §3.1,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-3.1>).

use super::error::{OAuthError, err};

/// Form parameters; a parameter sent twice is `invalid_request` (RFC 6749 §3.1).
pub(super) struct Params(pub(super) Vec<(String, String)>);

impl Params {
    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
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

    pub(super) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| err("invalid_request", format!("missing parameter {name}")))
    }

    pub(super) fn scopes(&self) -> Result<Option<Vec<String>>, OAuthError> {
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
