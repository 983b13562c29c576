//! The configuration file: defaults, overrides, and errors with their line.

use super::*;

const BASE: &str = r#"
[[issuer]]
issuer = "https://issuer.test"
audience = "api://orders"

[[route]]
path = "/orders/"
methods = ["GET"]
scopes = ["orders:read"]

[[route]]
path = "/public/"
anonymous = true
"#;

fn parse(text: &str) -> Result<GateConfig, ConfigError> {
    GateConfig::parse(text, |_| None)
}

#[test]
fn defaults() {
    let c = parse(BASE).unwrap();
    assert_eq!(c.http_bind.to_string(), DEFAULT_HTTP_BIND);
    assert_eq!(c.grpc_bind.to_string(), DEFAULT_GRPC_BIND);
    assert_eq!(c.identity, Identity::default());
    assert_eq!(c.cache_size, DEFAULT_CACHE_CAPACITY);
    assert_eq!(c.issuers[0].audiences, ["api://orders"]);
    assert!(c.routes.find("GET", None, "/orders/1").is_some());
    assert!(c.routes.find("POST", None, "/orders/1").is_none());
}

#[test]
fn several_issuers_and_their_introspection() {
    let intro = |prefix: &str| {
        format!(
            "[issuer.introspection]\nendpoint = \"https://i/introspect\"\nclient_id = \"g\"\nclient_secret = \"s\"\n{prefix}"
        )
    };
    let two = format!(
        "{BASE}\n[[issuer]]\nissuer = \"https://b.test\"\naudience = [\"api://orders\", \"b\"]\n{}",
        intro("token_prefix = \"b_at_\"\n")
    );
    let c = parse(&two).unwrap();
    let names: Vec<_> = c.issuers.iter().map(|i| i.issuer.as_str()).collect();
    assert_eq!(names, ["https://issuer.test", "https://b.test"]);
    assert_eq!(
        c.issuers[1]
            .introspection
            .as_ref()
            .unwrap()
            .token_prefix
            .as_deref(),
        Some("b_at_")
    );
    // Two endpoints that both take every opaque token: ambiguous.
    let text = format!(
        "[[issuer]]\nissuer = \"https://a.test\"\naudience = \"x\"\n{}\n[[issuer]]\nissuer = \"https://b.test\"\naudience = \"x\"\n{}\n[[route]]\npath = \"/\"\nscopes = [\"a\"]\n",
        intro(""),
        intro("")
    );
    let err = parse(&text).unwrap_err();
    assert!(err.reason.contains("token_prefix"), "{err}");
    assert_eq!(err.line, Some(9), "the second [[issuer]]");
}

#[test]
fn environment_overrides_the_binds() {
    let c = GateConfig::parse(BASE, |k| {
        (k == "WARDEN_GATE_HTTP_BIND").then(|| "127.0.0.1:1".into())
    })
    .unwrap();
    assert_eq!(c.http_bind.to_string(), "127.0.0.1:1");
    let e = GateConfig::parse(BASE, |k| {
        (k == "WARDEN_GATE_GRPC_BIND").then(|| "nope".into())
    })
    .unwrap_err();
    assert!(e.reason.starts_with("WARDEN_GATE_GRPC_BIND"), "{e}");
}

#[test]
fn errors_name_their_line() {
    for (text, line, needle) in [
        (
            format!("{BASE}\n[[route]]\npath = \"/x/\"\nanonymous = true\nscopes = [\"a\"]\n"),
            Some(15),
            "anonymous",
        ),
        (
            format!("{BASE}\n[[route]]\npath = \"/x/../y\"\n"),
            Some(15),
            "normal form",
        ),
        (
            format!("{BASE}\n[[route]]\npath = \"/x%2fy\"\n"),
            Some(15),
            "encoded separator",
        ),
        (
            format!("{BASE}\n[[route]]\npath = \"x\"\n"),
            Some(15),
            "not absolute",
        ),
        (
            format!("{BASE}\n[[route]]\npath = \"/x\"\nscope = [\"a\"]\n"),
            Some(17),
            "unknown field",
        ),
        (
            format!("{BASE}\n[[issuer]]\nissuer = \"https://issuer.test\"\naudience = \"x\"\n"),
            Some(15),
            "configured twice",
        ),
        (
            format!("{BASE}\n[http]\nbind = \"localhost\"\n"),
            Some(16),
            "socket address",
        ),
        (
            format!("{BASE}\n[identity]\nsubject = \"authorization\"\n"),
            Some(16),
            "cannot be an identity header",
        ),
        (
            format!("{BASE}\n[identity]\nsubject = \"bad header\"\n"),
            Some(16),
            "not a header name",
        ),
        (
            format!("{BASE}\n[identity]\nscopes = \"x-auth-subject\"\n"),
            None,
            "twice",
        ),
        (
            "[[route]]\npath = \"/\"\nanonymous = true\n".to_owned(),
            None,
            "[[issuer]] is required",
        ),
        (
            "[[issuer]]\nissuer = \"https://i\"\n[[route]]\npath = \"/\"\n".to_owned(),
            Some(1),
            "audience",
        ),
        (
            "[[issuer]]\nissuer = \"https://i\"\naudience = \"a\"\n".to_owned(),
            None,
            "no [[route]]",
        ),
        ("[[issuer]\n".to_owned(), Some(1), ""),
    ] {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, line, "{e} in\n{text}");
        assert!(e.reason.contains(needle), "{e}");
    }
}
