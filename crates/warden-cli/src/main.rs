//! `warden`: get, exchange, decode, verify, introspect and revoke OAuth 2.0
//! tokens from the command line (RFC 6749, RFC 8693, RFC 7662, RFC 7009).
//!
//! `token` and `exchange` print the bare access token on stdout, so that it
//! can be used in `$(...)`; `--json` prints the whole response. Errors go to
//! stderr with the issuer's error code, and the exit status is non-zero
//! (1 for a refused or failed operation, 2 for a usage error). A TOKEN
//! argument of `-` is read from standard input.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use warden_client::{ClientAuth, OAuthClient};

const USAGE: &str = "usage:
  warden token      --issuer URL --client-id ID --client-secret S [--scope S] [--resource R] [--auth basic|post]
  warden exchange   --issuer URL --client-id ID --client-secret S --subject-token T [--audience A|--resource R] [--scope S]
  warden decode     TOKEN                       (header and claims, expiry in words; no verification)
  warden verify     TOKEN --issuer URL --audience A [--jwks-url URL]
  warden introspect TOKEN --issuer URL --client-id ID --client-secret S
  warden revoke     TOKEN --issuer URL --client-id ID --client-secret S
options: --allow-http (http:// on loopback), --json (token, exchange: the whole response)
secrets: argv is readable by every user of the machine, so secrets can also come from
  --client-secret-file PATH   (PATH `-` reads standard input)   or WARDEN_CLIENT_SECRET
  --subject-token-file PATH   (PATH `-` reads standard input)   or WARDEN_SUBJECT_TOKEN
  precedence: --client-secret / --subject-token, then the file, then the environment;
  a file's or stdin's trailing newline is dropped";

/// A failed command: the message and the exit status.
struct Failure(String, u8);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(format!("{}\n{USAGE}", msg.into()), 2)
}

struct Args {
    positional: Vec<String>,
    options: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Self, Failure> {
        let mut a = Args {
            positional: Vec::new(),
            options: HashMap::new(),
            flags: Vec::new(),
        };
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--json" | "--allow-http" => a.flags.push(arg.clone()),
                s if s.starts_with("--") => {
                    let v = it
                        .next()
                        .ok_or_else(|| usage(format!("{s} needs a value")))?;
                    if a.options.insert(s[2..].to_owned(), v.clone()).is_some() {
                        return Err(usage(format!("{s} given twice")));
                    }
                }
                _ => a.positional.push(arg.clone()),
            }
        }
        let from_stdin = a.positional.iter().filter(|p| *p == "-").count()
            + ["client-secret-file", "subject-token-file"]
                .iter()
                .filter(|k| a.get(k) == Some("-"))
                .count();
        if from_stdin > 1 {
            return Err(usage("only one value can come from standard input (`-`)"));
        }
        Ok(a)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    fn need(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| usage(format!("--{name} is required")))
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn token(&self) -> Result<String, Failure> {
        match self.positional.as_slice() {
            [t] if t == "-" => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| Failure(format!("cannot read the token from stdin: {e}"), 1))?;
                Ok(s.trim().to_owned())
            }
            [t] => Ok(t.clone()),
            [] => Err(usage("a TOKEN argument is required")),
            _ => Err(usage("exactly one TOKEN argument")),
        }
    }

    /// A secret: `--NAME`, else `--NAME-file PATH` (`-` = stdin), else the
    /// environment variable `env`. Precedence argv > file > environment.
    fn secret(&self, name: &str, env: &str) -> Result<String, Failure> {
        if let Some(v) = self.get(name) {
            return Ok(v.to_owned());
        }
        if let Some(path) = self.get(&format!("{name}-file")) {
            let mut s = String::new();
            let read = if path == "-" {
                std::io::stdin().read_to_string(&mut s).map(|_| ())
            } else {
                std::fs::read_to_string(path).map(|t| s = t)
            };
            read.map_err(|e| Failure(format!("warden: cannot read --{name}-file {path}: {e}"), 1))?;
            return Ok(s.trim_end_matches(['\r', '\n']).to_owned());
        }
        match std::env::var(env) {
            Ok(v) if !v.is_empty() => Ok(v),
            _ => Err(usage(format!(
                "--{name} is required (or --{name}-file PATH, or {env})"
            ))),
        }
    }

    fn client(&self) -> Result<OAuthClient, Failure> {
        let id = self.need("client-id")?;
        let secret = &self.secret("client-secret", "WARDEN_CLIENT_SECRET")?;
        let auth = match self.get("auth").unwrap_or("basic") {
            "basic" => ClientAuth::basic(id, secret),
            "post" => ClientAuth::post(id, secret),
            other => return Err(usage(format!("--auth must be basic or post, not {other}"))),
        };
        let mut b = OAuthClient::builder(auth).issuer(self.need("issuer")?);
        if self.flag("--allow-http") {
            b = b.dangerous().allow_http();
        }
        b.build().map_err(|e| Failure(e.to_string(), 2))
    }
}

fn refused(e: warden_core::TokenSourceError) -> Failure {
    Failure(format!("warden: {e}"), 1)
}

fn in_words(secs: i64) -> String {
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    let span = match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    };
    if secs >= 0 {
        format!("expires in {span}")
    } else {
        format!("expired {span} ago")
    }
}

/// The bare access token (for `$(...)`), or the whole response with `--json`.
fn token_output(r: warden_client::TokenResponse, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(&r).unwrap_or_default()
    } else {
        r.access_token
    }
}

fn decode(token: &str) -> Result<String, Failure> {
    let warden_jwt::peek::Unverified { header, claims, .. } = warden_jwt::peek::unverified(token)
        .map_err(|e| match e {
        warden_jwt::peek::PeekError::NotJwt => Failure(
            format!("warden: {e}; opaque tokens need `warden introspect`"),
            1,
        ),
        e => Failure(format!("warden: {e}"), 1),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let expiry = match claims["exp"].as_i64() {
        Some(exp) => in_words(exp - now),
        None => "no exp claim".into(),
    };
    Ok(format!(
        "header: {}\nclaims: {}\n{expiry} (signature NOT verified: use `warden verify`)",
        serde_json::to_string_pretty(&header).unwrap_or_default(),
        serde_json::to_string_pretty(&claims).unwrap_or_default(),
    ))
}

async fn run(raw: Vec<String>) -> Result<String, Failure> {
    let Some((cmd, rest)) = raw.split_first() else {
        return Err(usage("no command"));
    };
    let args = Args::parse(rest)?;
    match cmd.as_str() {
        "token" => {
            let client = args.client()?;
            let mut form = vec![("grant_type", "client_credentials".to_owned())];
            for k in ["scope", "resource"] {
                if let Some(v) = args.get(k) {
                    form.push((k, v.to_owned()));
                }
            }
            let r = client.token_request(form).await.map_err(refused)?;
            Ok(token_output(r, args.flag("--json")))
        }
        "exchange" => {
            let client = args.client()?;
            let mut form = vec![
                (
                    "grant_type",
                    warden_core::urn::GRANT_TOKEN_EXCHANGE.to_owned(),
                ),
                (
                    "subject_token",
                    args.secret("subject-token", "WARDEN_SUBJECT_TOKEN")?,
                ),
                (
                    "subject_token_type",
                    warden_core::urn::TOKEN_TYPE_ACCESS_TOKEN.to_owned(),
                ),
            ];
            if args.get("audience").is_some() && args.get("resource").is_some() {
                return Err(usage("give --audience or --resource, not both"));
            }
            for k in ["audience", "resource", "scope"] {
                if let Some(v) = args.get(k) {
                    form.push((k, v.to_owned()));
                }
            }
            let r = client.token_request(form).await.map_err(refused)?;
            Ok(token_output(r, args.flag("--json")))
        }
        "decode" => decode(&args.token()?),
        "verify" => {
            let token = args.token()?;
            let mut b = warden_jwt::JwtValidator::builder()
                .issuer(args.need("issuer")?)
                .audience(args.need("audience")?);
            if let Some(url) = args.get("jwks-url") {
                b = b.jwks_url(url);
            }
            if args.flag("--allow-http") {
                b = b.dangerous().allow_http();
            }
            let v = b.build().map_err(|e| Failure(format!("warden: {e}"), 2))?;
            v.wait_until_ready(Duration::from_secs(10))
                .await
                .map_err(|e| Failure(format!("warden: cannot load the issuer's keys: {e}"), 1))?;
            match v.validate_token(&token).await {
                Ok(p) => Ok(format!(
                    "valid: sub={} client_id={} scope=\"{}\" ({})",
                    p.subject().unwrap_or("-"),
                    p.client_id().unwrap_or("-"),
                    p.scopes(),
                    p.expires_at()
                        .and_then(|e| e.duration_since(UNIX_EPOCH).ok())
                        .map(|e| in_words(
                            e.as_secs() as i64
                                - SystemTime::now()
                                    .duration_since(UNIX_EPOCH)
                                    .map(|d| d.as_secs() as i64)
                                    .unwrap_or(0)
                        ))
                        .unwrap_or_default()
                )),
                Err(e) => Err(Failure(
                    format!(
                        "warden: invalid: {} ({})",
                        e.description(),
                        e.error_code().unwrap_or("unavailable")
                    ),
                    1,
                )),
            }
        }
        "introspect" => {
            let token = args.token()?;
            let r = args
                .client()?
                .introspect(&token, None)
                .await
                .map_err(refused)?;
            Ok(serde_json::to_string_pretty(r.as_json()).unwrap_or_default())
        }
        "revoke" => {
            let token = args.token()?;
            args.client()?.revoke(&token, None).await.map_err(refused)?;
            Ok("revoked".into())
        }
        "help" | "--help" | "-h" => Ok(USAGE.to_owned()),
        other => Err(usage(format!("unknown command {other}"))),
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warden: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(raw)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure(msg, code)) => {
            eprintln!("{msg}");
            ExitCode::from(code)
        }
    }
}
