//! The authenticated caller: standard claims (RFC 7519 §4.1,
//! <https://www.rfc-editor.org/rfc/rfc7519#section-4.1>; RFC 9068 §2.2),
//! scopes (RFC 6749 §3.3) and the user's own claims type.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// A non-reversible token fingerprint: the token's SHA-256. Shown (in logs,
/// `Display`, `Debug`) as its first 8 bytes, 16 hex digits; the whole digest
/// is the revocation identifier of a token without `jti`
/// ([`hash_id`](Self::hash_id)).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `token`.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// `sha256:<64 hex digits>`: the revocation identifier of a token
    /// without `jti` (see [`token_hash_id`](crate::token_hash_id)).
    pub fn hash_id(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(7 + 64);
        s.push_str("sha256:");
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A set of scopes (RFC 6749 §3.3): sorted, without duplicates.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<Box<str>>);

impl Scopes {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-separated `scope` string (empty tokens ignored).
    pub fn from_space_separated(s: &str) -> Self {
        s.split(' ').filter(|t| !t.is_empty()).collect()
    }

    /// Whether `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// Whether every scope in `required` is in the set.
    pub fn contains_all<'a>(&self, required: impl IntoIterator<Item = &'a str>) -> bool {
        required.into_iter().all(|s| self.contains(s))
    }

    /// Whether at least one scope in `any` is in the set.
    pub fn contains_any<'a>(&self, any: impl IntoIterator<Item = &'a str>) -> bool {
        any.into_iter().any(|s| self.contains(s))
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// The number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the scopes of `other`.
    pub fn extend(&mut self, other: Scopes) {
        self.0.extend(other.0);
        self.0.sort_unstable();
        self.0.dedup();
    }
}

impl<S: AsRef<str>> FromIterator<S> for Scopes {
    fn from_iter<T: IntoIterator<Item = S>>(iter: T) -> Self {
        let mut v: Vec<Box<str>> = iter.into_iter().map(|s| s.as_ref().into()).collect();
        v.sort_unstable();
        v.dedup();
        Self(v)
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, as in a `scope` claim or challenge attribute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The registered claims every validator fills in, whatever the token format.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct StandardClaims {
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud`, a string or an array in the token, always a list here.
    pub audiences: Vec<String>,
    /// `exp`.
    pub expires_at: Option<SystemTime>,
    /// `nbf`.
    pub not_before: Option<SystemTime>,
    /// `iat`.
    pub issued_at: Option<SystemTime>,
    /// `jti`.
    pub jwt_id: Option<String>,
    /// `client_id` (RFC 9068 §2.2, RFC 8693 §4.3), else `azp`, else Okta's
    /// `cid`, else Entra v1's `appid`.
    pub client_id: Option<String>,
    /// The tenant named by the issuer, when the issuer was accepted through
    /// a template such as `https://login.microsoftonline.com/{tenantid}/v2.0`
    /// (and the token's `tid` matched it).
    pub tenant: Option<String>,
    /// The union of `scope` and `scp`, whether space-separated strings or arrays.
    pub scopes: Scopes,
    /// `cnf` (RFC 7800): the key or certificate the token is bound to.
    pub cnf: Confirmation,
}

/// The confirmation claim `cnf` (RFC 7800 §3.1): what a sender-constrained
/// token is bound to. Empty for a plain bearer token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Confirmation {
    /// `jkt`: the RFC 7638 thumbprint of the client's DPoP key (RFC 9449 §6.1).
    pub jkt: Option<String>,
    /// `x5t#S256`: the SHA-256 thumbprint of the client's certificate
    /// (RFC 8705 §3.1).
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// Whether the token is bound to anything.
    pub fn is_bound(&self) -> bool {
        self.jkt.is_some() || self.x5t_s256.is_some()
    }
}

impl StandardClaims {
    /// Empty claims, to fill in field by field (the struct is non-exhaustive).
    pub fn new() -> Self {
        Self::default()
    }
}

/// The claims type used when the user asks for none: deserializes from
/// anything and keeps nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCustomClaims;

impl<'de> serde::Deserialize<'de> for NoCustomClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| NoCustomClaims)
    }
}

/// Put into request extensions by an optional
/// [`RequireBearerLayer`](crate::RequireBearerLayer) when the request carried
/// no token: the layer ran, and the caller is anonymous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anonymous;

/// The authenticated caller, put into request extensions by
/// [`RequireBearer`](crate::RequireBearer).
///
/// Cheap to clone (one `Arc`). The user's own claims type is reachable through
/// [`custom`](Self::custom); it is whatever type the validator was built with.
#[derive(Clone)]
pub struct Principal {
    inner: Arc<Inner>,
}

struct Inner {
    claims: StandardClaims,
    custom: Arc<dyn Any + Send + Sync>,
    fingerprint: Fingerprint,
    cache_until: Option<SystemTime>,
}

impl Principal {
    /// A principal with standard claims and a custom claims value.
    pub fn new<C: Any + Send + Sync>(
        claims: StandardClaims,
        custom: C,
        fingerprint: Fingerprint,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                claims,
                custom: Arc::new(custom),
                fingerprint,
                cache_until: None,
            }),
        }
    }

    /// Bounds how long this verdict may be reused from a validated-token
    /// cache: never past `until` (and never past `exp` anyway). A validator
    /// whose answers age (introspection, RFC 7662 §4) sets it; `until` at or
    /// before now means "never cache".
    #[must_use]
    pub fn with_cache_until(mut self, until: SystemTime) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.cache_until = Some(until),
            None => {
                self.inner = Arc::new(Inner {
                    claims: self.inner.claims.clone(),
                    custom: self.inner.custom.clone(),
                    fingerprint: self.inner.fingerprint,
                    cache_until: Some(until),
                });
            }
        }
        self
    }

    /// The latest time this verdict may be answered from a cache, if its
    /// validator bounded it (`None`: until `exp`).
    pub fn cache_until(&self) -> Option<SystemTime> {
        self.inner.cache_until
    }

    /// The standard claims.
    pub fn claims(&self) -> &StandardClaims {
        &self.inner.claims
    }

    /// The issuer that accepted the token: its `iss`, checked against the
    /// validator's allow-list after the signature (with several issuers, the
    /// one whose keys verified it). `None` only when the issuer check was
    /// waived and the token has no `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.claims.issuer.as_deref()
    }

    /// The tenant, when the issuer was accepted through a tenant template
    /// (see [`StandardClaims::tenant`]).
    pub fn tenant(&self) -> Option<&str> {
        self.inner.claims.tenant.as_deref()
    }

    /// `sub`, if the token has one.
    pub fn subject(&self) -> Option<&str> {
        self.inner.claims.subject.as_deref()
    }

    /// The client the token was issued to (`client_id`, `azp`, `cid` or `appid`).
    pub fn client_id(&self) -> Option<&str> {
        self.inner.claims.client_id.as_deref()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.inner.claims.scopes
    }

    /// `exp`.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.claims.expires_at
    }

    /// The fingerprint of the token this principal came from (for logs).
    pub fn token_fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint
    }

    /// The user's claims, if the validator was built with type `C`.
    pub fn custom<C: Any>(&self) -> Option<&C> {
        self.inner.custom.downcast_ref()
    }

    /// The user's claims as a shared pointer, if the validator was built with
    /// type `C`.
    pub fn custom_arc<C: Any + Send + Sync>(&self) -> Option<Arc<C>> {
        self.inner.custom.clone().downcast().ok()
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("claims", &self.inner.claims)
            .field("token", &self.inner.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_query() {
        let s = Scopes::from_space_separated("b a  c a");
        assert_eq!(s.to_string(), "a b c");
        assert!(s.contains("a") && !s.contains("d"));
        assert!(s.contains_all(["a", "c"]));
        assert!(!s.contains_all(["a", "d"]));
        assert!(s.contains_any(["d", "c"]));
        assert!(Scopes::from_space_separated("  ").is_empty());
    }

    #[test]
    fn principal_downcasts() {
        #[derive(Debug, PartialEq)]
        struct Mine(u8);
        let p = Principal::new(StandardClaims::new(), Mine(3), Fingerprint::of("t"));
        assert_eq!(p.custom::<Mine>(), Some(&Mine(3)));
        assert_eq!(p.custom::<u8>(), None);
        assert_eq!(Fingerprint::of("t").to_string().len(), 16);
    }
}
