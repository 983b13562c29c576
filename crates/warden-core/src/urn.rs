//! The registered OAuth URNs warden sends and reads, defined once: RFC 8693
//! §3 token types and the token-exchange grant
//! (<https://www.rfc-editor.org/rfc/rfc8693#section-3>), and RFC 7523 §2.2's
//! client-assertion type (<https://www.rfc-editor.org/rfc/rfc7523#section-2.2>).

/// The token-exchange `grant_type` (RFC 8693 §2.1).
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The access-token token type (RFC 8693 §3).
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The JWT token type (RFC 8693 §3).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
