//! warden-http: how every warden component talks HTTP to an authorization
//! server, in one place.
//!
//! - [`client`]: the one way to build a `reqwest::Client` (no redirects, a
//!   timeout, a user agent); a failure to build is an error, never a
//!   fallback to a default client that follows redirects.
//! - [`fetch`]: a GET with a capped body ([`Fetch`]) and the one capped read
//!   ([`read_capped`]) every response goes through.
//! - [`url`]: the URL policy ([`UrlPolicy`]): https, a host, and plain
//!   http only through a component's `dangerous()` door.
//! - [`metadata`]: typed authorization-server metadata ([`ServerMetadata`])
//!   and its discovery, by RFC 8414 §3.1
//!   (<https://www.rfc-editor.org/rfc/rfc8414#section-3.1>, the well-known
//!   segment inserted between host and path) and OpenID Connect Discovery
//!   §4 (appended), with the issuer compared exactly.
//!
//! An implementation crate: warden-jwt, warden-client and warden-introspect
//! use it, and re-export the types of it that appear in their own public
//! signatures.
#![forbid(unsafe_code)]

pub mod client;
pub mod fetch;
pub mod metadata;
pub mod url;

pub use client::{ClientBuildError, build_client};
pub use fetch::{DEFAULT_MAX_BODY, Fetch, FetchError, FetchFuture, FetchResponse, read_capped};
pub use metadata::{DiscoveryError, ServerMetadata, discover, discovery_urls};
pub use url::{UrlError, UrlPolicy};
