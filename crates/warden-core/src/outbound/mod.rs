//! Outbound: the [`TokenSource`] trait and [`AttachBearerLayer`], which puts
//! `Authorization: Bearer <token>` (RFC 6750 §2.1,
//! <https://www.rfc-editor.org/rfc/rfc6750#section-2.1>) on every request a
//! client sends, over any tower HTTP client: a tonic `Channel`, a hyper-util
//! client.
//!
//! A request that already carries an `Authorization` header is never
//! overwritten. The header is marked sensitive so that tracing layers do not
//! print it.

mod attach;
mod refusal;
mod source;

pub use attach::{
    AttachBearer, AttachBearerLayer, AttachFuture, BoxError, NoRetry, RetryOnce, RetryPolicy,
};
pub use refusal::{ErrorCode, Refusal};
pub use source::{AccessToken, StaticToken, TokenContext, TokenSource, TokenSourceError};
