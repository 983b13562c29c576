//! The `warden` command end to end against warden-issuer on loopback.

use std::process::{Command, Output};

use warden_issuer::Issuer;

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_end_to_end() {
    let issuer = Issuer::start_dev().await.unwrap();
    let iss = issuer.issuer().to_owned();
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            warden(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // A command as a development client: the issuer, `id` with its
    // `<id>-secret`, plain http allowed, then `rest`.
    let cmd = |head: &[&str], id: &str, rest: &[&str]| {
        let login = [
            "--issuer",
            &iss,
            "--client-id",
            id,
            "--client-secret",
            &format!("{id}-secret"),
            "--allow-http",
        ];
        [s(head), s(&login), s(rest)].concat()
    };

    // token: the bare access token on stdout.
    let o = run(cmd(
        &["token"],
        "svc-gateway",
        &["--resource", "api://gateway"],
    ))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o);
    assert_eq!(token.split('.').count(), 3, "{token}");

    // --json and client_secret_post.
    let o = run(cmd(
        &["token"],
        "svc-batch",
        &["--scope", "ledger:read", "--auth", "post", "--json"],
    ))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    let opaque = json["access_token"].as_str().unwrap().to_owned();

    // decode: header, claims and expiry in words.
    let o = run(s(&["decode", &token])).await.unwrap();
    let out = stdout(&o);
    assert!(
        out.contains("\"at+jwt\"")
            && out.contains("\"svc-gateway\"")
            && out.contains("expires in "),
        "{out}"
    );
    let o = run(s(&["decode", "not-a-jwt"])).await.unwrap();
    assert_eq!(o.status.code(), Some(1));

    // verify against the issuer's keys.
    let o = run(s(&[
        "verify",
        &token,
        "--issuer",
        &iss,
        "--audience",
        "api://gateway",
        "--allow-http",
    ]))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("valid: sub=svc-gateway"),
        "{}",
        stdout(&o)
    );
    let o = run(s(&[
        "verify",
        &token,
        "--issuer",
        &iss,
        "--audience",
        "api://orders",
        "--allow-http",
    ]))
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid_token"), "{}", stderr(&o));

    // exchange: a user token for api://orders.
    let mut c = issuer.claims("api://gateway");
    c["scope"] = serde_json::json!("orders:read");
    let alice = issuer.mint(&c).unwrap();
    let o = run(cmd(
        &["exchange"],
        "svc-gateway",
        &["--subject-token", &alice, "--audience", "api://orders"],
    ))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let exchanged = stdout(&o);
    let o = run(s(&["decode", &exchanged])).await.unwrap();
    assert!(stdout(&o).contains("\"act\""), "{}", stdout(&o));

    // introspect, revoke, introspect again.
    let o = run(cmd(&["introspect", &opaque], "svc-batch", &[]))
        .await
        .unwrap();
    assert!(
        stdout(&o).contains("\"active\": true"),
        "{} {}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(cmd(&["revoke", &opaque], "svc-batch", &[]))
        .await
        .unwrap();
    assert!(
        o.status.success() && stdout(&o) == "revoked",
        "{}",
        stderr(&o)
    );
    let o = run(cmd(&["introspect", &opaque], "svc-batch", &[]))
        .await
        .unwrap();
    assert!(stdout(&o).contains("\"active\": false"), "{}", stdout(&o));

    // Errors: the issuer's code on stderr, non-zero exit; usage errors exit 2.
    let o = run(s(&[
        "token",
        "--issuer",
        &iss,
        "--client-id",
        "svc-batch",
        "--client-secret",
        "wrong",
        "--allow-http",
    ]))
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid_client"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let o = run(s(&["token", "--issuer", &iss])).await.unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = run(s(&[
        "token",
        "--issuer",
        &iss,
        "--client-id",
        "a",
        "--client-secret",
        "b",
    ]))
    .await
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "http:// refused without --allow-http"
    );
    assert!(
        stderr(&o).contains("allow_http") || stderr(&o).contains("plain-http"),
        "{}",
        stderr(&o)
    );
}

/// Runs `warden` with `env` set (and the secret variables otherwise unset)
/// and `stdin` piped in.
fn warden_with(args: &[String], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
    cmd.args(args)
        .env_remove("WARDEN_CLIENT_SECRET")
        .env_remove("WARDEN_SUBJECT_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// #11 item 11: secrets come from argv, a file (`-` = stdin) or the
/// environment, in that order of precedence, never only from argv (where
/// every user of the machine can read them).
#[tokio::test(flavor = "multi_thread")]
async fn secrets_from_env_file_or_stdin_with_documented_precedence() {
    let issuer = Issuer::start_dev().await.unwrap();
    let iss = issuer.issuer().to_owned();
    let dir = std::env::temp_dir().join(format!("warden-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good");
    let bad = dir.join("bad");
    std::fs::write(&good, "svc-gateway-secret\n").unwrap();
    std::fs::write(&bad, "wrong\n").unwrap();
    let good = good.to_str().unwrap().to_owned();
    let bad = bad.to_str().unwrap().to_owned();
    let base = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "token",
            "--issuer",
            &iss,
            "--client-id",
            "svc-gateway",
            "--resource",
            "api://gateway",
            "--allow-http",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let run = |args: Vec<String>, env: Vec<(&'static str, String)>, stdin: Option<String>| {
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            warden_with(&args, &env, stdin.as_deref())
        })
    };
    let ok = |o: &Output| o.status.success() && stdout(o).split('.').count() == 3;
    // (case, argv, environment, stdin, accepted)
    type Case<'a> = (
        &'a str,
        Vec<String>,
        Vec<(&'static str, String)>,
        Option<String>,
        bool,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "environment",
            base(&[]),
            vec![("WARDEN_CLIENT_SECRET", "svc-gateway-secret".into())],
            None,
            true,
        ),
        (
            "file",
            base(&["--client-secret-file", &good]),
            vec![],
            None,
            true,
        ),
        (
            "stdin",
            base(&["--client-secret-file", "-"]),
            vec![],
            Some("svc-gateway-secret\n".into()),
            true,
        ),
        (
            "argv beats file",
            base(&[
                "--client-secret",
                "svc-gateway-secret",
                "--client-secret-file",
                &bad,
            ]),
            vec![],
            None,
            true,
        ),
        (
            "file beats environment",
            base(&["--client-secret-file", &good]),
            vec![("WARDEN_CLIENT_SECRET", "wrong".into())],
            None,
            true,
        ),
        (
            "argv wins even when wrong",
            base(&["--client-secret", "wrong", "--client-secret-file", &good]),
            vec![],
            None,
            false,
        ),
        ("none at all", base(&[]), vec![], None, false),
    ];
    for (name, args, env, stdin, expect) in cases {
        let o = run(args, env, stdin).await.unwrap();
        assert_eq!(ok(&o), expect, "{name}: {}", stderr(&o));
    }
    let o = run(base(&[]), vec![], None).await.unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "a missing secret is a usage error"
    );
    assert!(
        stderr(&o).contains("WARDEN_CLIENT_SECRET"),
        "{}",
        stderr(&o)
    );

    // The subject token of an exchange: from stdin or the environment.
    let alice = issuer.mint(&issuer.claims("api://gateway")).unwrap();
    let exchange = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "exchange",
            "--issuer",
            &iss,
            "--client-id",
            "svc-gateway",
            "--client-secret",
            "svc-gateway-secret",
            "--audience",
            "api://orders",
            "--allow-http",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let o = run(
        exchange(&["--subject-token-file", "-"]),
        vec![],
        Some(format!("{alice}\n")),
    )
    .await
    .unwrap();
    assert!(ok(&o), "subject token from stdin: {}", stderr(&o));
    let o = run(
        exchange(&[]),
        vec![("WARDEN_SUBJECT_TOKEN", alice.clone())],
        None,
    )
    .await
    .unwrap();
    assert!(ok(&o), "subject token from the environment: {}", stderr(&o));

    // --help says where secrets come from and in which order.
    let o = run(vec!["--help".into()], vec![], None).await.unwrap();
    let help = stdout(&o);
    for needle in [
        "--client-secret-file",
        "WARDEN_CLIENT_SECRET",
        "--subject-token-file",
        "WARDEN_SUBJECT_TOKEN",
        "precedence",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every command has its own `--help`, which names its options (#13).
#[test]
fn each_command_has_its_own_help() {
    for (cmd, needle) in [
        ("token", "--resource"),
        ("exchange", "--subject-token-file"),
        ("decode", "no verification"),
        ("verify", "--jwks-url"),
        ("introspect", "--client-secret-file"),
        ("revoke", "--client-id"),
    ] {
        let o = warden(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help: {}", stderr(&o));
        assert!(stdout(&o).contains(needle), "{cmd} --help lacks {needle}");
    }
    let o = warden(&["frobnicate"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown command is a usage error"
    );
}
