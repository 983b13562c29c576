//! The inbound tower layers: [`RequireBearerLayer`] authenticates,
//! [`RequireScopeLayer`] authorizes by scope (RFC 6750 §3.1
//! `insufficient_scope`, <https://www.rfc-editor.org/rfc/rfc6750#section-3.1>).

mod require_bearer;
mod require_scope;

pub use require_bearer::{RequireBearer, RequireBearerLayer, ResponseFuture};
pub use require_scope::{RequireScope, RequireScopeLayer, ScopeFuture, ScopeRequirement};
