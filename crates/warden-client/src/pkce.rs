//! PKCE for the authorization code flow, RFC 7636 §4.1–4.2
//! (<https://www.rfc-editor.org/rfc/rfc7636#section-4.1>): a fresh
//! high-entropy `code_verifier` per authorization request and its S256
//! `code_challenge`. The verifier stays with the client (a web app keeps
//! it server-side); only the challenge goes into the browser's redirect.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::ClientError;

/// A `code_verifier` (32 random bytes, 43 base64url characters) and its
/// S256 `code_challenge`. `Debug` shows the challenge only.
///
/// ```
/// let pkce = warden_client::Pkce::generate().unwrap();
/// assert_eq!(pkce.verifier().len(), 43);
/// assert_eq!(pkce.challenge().len(), 43);
/// assert_eq!(warden_client::Pkce::METHOD, "S256");
/// ```
#[derive(Clone)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// The `code_challenge_method`.
    pub const METHOD: &'static str = "S256";

    /// A fresh verifier from the operating system's randomness.
    ///
    /// # Errors
    /// [`ClientError::Config`] when the system has no randomness to give.
    pub fn generate() -> Result<Self, ClientError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| ClientError::Config(format!("no randomness for PKCE: {e}")))?;
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        Ok(Self {
            challenge: Self::challenge_of(&verifier),
            verifier,
        })
    }

    /// The S256 challenge of `verifier`: base64url(SHA-256(verifier)).
    pub fn challenge_of(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    /// The `code_verifier` (a secret until the code is redeemed).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The `code_challenge`.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}
