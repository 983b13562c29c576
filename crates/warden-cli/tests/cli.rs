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

    // token: the bare access token on stdout.
    let o = run(s(&[
        "token",
        "--issuer",
        &iss,
        "--client-id",
        "svc-gateway",
        "--client-secret",
        "svc-gateway-secret",
        "--resource",
        "api://gateway",
        "--allow-http",
    ]))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = stdout(&o);
    assert_eq!(token.split('.').count(), 3, "{token}");

    // --json and client_secret_post.
    let o = run(s(&[
        "token",
        "--issuer",
        &iss,
        "--client-id",
        "svc-batch",
        "--client-secret",
        "svc-batch-secret",
        "--scope",
        "ledger:read",
        "--auth",
        "post",
        "--json",
        "--allow-http",
    ]))
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
    let o = run(s(&[
        "exchange",
        "--issuer",
        &iss,
        "--client-id",
        "svc-gateway",
        "--client-secret",
        "svc-gateway-secret",
        "--subject-token",
        &alice,
        "--audience",
        "api://orders",
        "--allow-http",
    ]))
    .await
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let exchanged = stdout(&o);
    let o = run(s(&["decode", &exchanged])).await.unwrap();
    assert!(stdout(&o).contains("\"act\""), "{}", stdout(&o));

    // introspect, revoke, introspect again.
    let creds = [
        "--issuer",
        iss.as_str(),
        "--client-id",
        "svc-batch",
        "--client-secret",
        "svc-batch-secret",
        "--allow-http",
    ];
    let o = run([s(&["introspect", &opaque]), s(&creds)].concat())
        .await
        .unwrap();
    assert!(stdout(&o).contains("\"active\": true"), "{}", stdout(&o));
    let o = run([s(&["revoke", &opaque]), s(&creds)].concat())
        .await
        .unwrap();
    assert!(
        o.status.success() && stdout(&o) == "revoked",
        "{}",
        stderr(&o)
    );
    let o = run([s(&["introspect", &opaque]), s(&creds)].concat())
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
