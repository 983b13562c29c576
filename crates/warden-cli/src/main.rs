//! `warden`: get, exchange, decode, verify, introspect and revoke OAuth 2.0
//! tokens from the command line (RFC 6749 §4.4, RFC 8693 §2, RFC 7662 §2,
//! RFC 7009 §2; <https://www.rfc-editor.org/rfc/rfc6749#section-4.4>).
//!
//! `token` and `exchange` print the bare access token on stdout, so that it
//! can be used in `$(...)`; `--json` prints the whole response. Errors go to
//! stderr with the issuer's error code, and the exit status is non-zero
//! (1 for a refused or failed operation, 2 for a usage error). A TOKEN
//! argument of `-` is read from standard input. `warden help COMMAND` (or
//! `warden COMMAND --help`) describes each command.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use warden_client::{ClientAuth, OAuthClient};
use warden_core::TokenSourceError;
use warden_core::urn::{GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN};

const SECRETS: &str =
    "secrets: argv is readable by every user of the machine, so secrets can also come from
  --client-secret-file PATH   (PATH `-` reads standard input)   or WARDEN_CLIENT_SECRET
  --subject-token-file PATH   (PATH `-` reads standard input)   or WARDEN_SUBJECT_TOKEN
  precedence: --client-secret / --subject-token, then the file, then the environment;
  a file's or stdin's trailing newline is dropped";

/// Get, exchange, decode, verify, introspect and revoke OAuth 2.0 tokens.
#[derive(Debug, Parser)]
#[command(name = "warden", version, after_help = SECRETS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A client-credentials token (RFC 6749 §4.4); prints the access token.
    #[command(after_help = SECRETS)]
    Token {
        #[command(flatten)]
        client: ClientArgs,
        /// The scopes to ask for (space-separated).
        #[arg(long)]
        scope: Option<String>,
        /// The target resource (RFC 8707).
        #[arg(long)]
        resource: Option<String>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exchange a token for one meant for another audience (RFC 8693).
    #[command(after_help = SECRETS)]
    Exchange {
        #[command(flatten)]
        client: ClientArgs,
        /// The token to exchange (or --subject-token-file, or WARDEN_SUBJECT_TOKEN).
        #[arg(long)]
        subject_token: Option<String>,
        /// Read the subject token from PATH (`-`: standard input).
        #[arg(long, value_name = "PATH")]
        subject_token_file: Option<String>,
        /// The target audience.
        #[arg(long, conflicts_with = "resource")]
        audience: Option<String>,
        /// The target resource.
        #[arg(long)]
        resource: Option<String>,
        /// The scopes to ask for (space-separated).
        #[arg(long)]
        scope: Option<String>,
        /// Print the whole token response as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a JWT's header and claims and its expiry in words (no verification).
    Decode {
        /// The token (`-`: standard input).
        token: String,
    },
    /// Verify a JWT against the issuer's keys (discovery, or --jwks-url).
    Verify {
        /// The token (`-`: standard input).
        token: String,
        /// The issuer.
        #[arg(long)]
        issuer: String,
        /// The audience this token must be for.
        #[arg(long)]
        audience: String,
        /// The JWKS URL, instead of discovery.
        #[arg(long)]
        jwks_url: Option<String>,
        /// Allow http:// URLs (loopback development).
        #[arg(long)]
        allow_http: bool,
    },
    /// Ask the issuer about a token (RFC 7662); prints the answer.
    #[command(after_help = SECRETS)]
    Introspect {
        /// The token (`-`: standard input).
        token: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke a token at the issuer (RFC 7009).
    #[command(after_help = SECRETS)]
    Revoke {
        /// The token (`-`: standard input).
        token: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// How the client authenticates.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AuthMethod {
    /// client_secret_basic.
    Basic,
    /// client_secret_post.
    Post,
}

/// The issuer and the client's credentials.
#[derive(Debug, Args)]
struct ClientArgs {
    /// The issuer (endpoints are discovered).
    #[arg(long)]
    issuer: String,
    /// The client id.
    #[arg(long)]
    client_id: String,
    /// The client secret (or --client-secret-file, or WARDEN_CLIENT_SECRET).
    #[arg(long)]
    client_secret: Option<String>,
    /// Read the client secret from PATH (`-`: standard input).
    #[arg(long, value_name = "PATH")]
    client_secret_file: Option<String>,
    /// Client authentication.
    #[arg(long, value_enum, default_value = "basic")]
    auth: AuthMethod,
    /// Allow http:// URLs (loopback development).
    #[arg(long)]
    allow_http: bool,
}

/// A failed command: the message and the exit status.
struct Failure(String, u8);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(format!("warden: {}", msg.into()), 2)
}

fn refused(e: TokenSourceError) -> Failure {
    Failure(format!("warden: {e}"), 1)
}

fn read_stdin(what: &str) -> Result<String, Failure> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Failure(format!("warden: cannot read {what} from stdin: {e}"), 1))?;
    Ok(s)
}

/// A TOKEN argument: `-` reads standard input.
fn token_arg(token: &str) -> Result<String, Failure> {
    if token == "-" {
        Ok(read_stdin("the token")?.trim().to_owned())
    } else {
        Ok(token.to_owned())
    }
}

/// A secret: the value, else the file (`-` = stdin), else the environment
/// variable `env`. Precedence argv > file > environment.
fn secret(
    name: &str,
    value: Option<&str>,
    file: Option<&str>,
    env: &str,
) -> Result<String, Failure> {
    if let Some(v) = value {
        return Ok(v.to_owned());
    }
    if let Some(path) = file {
        let text = if path == "-" {
            read_stdin(&format!("--{name}-file"))?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("warden: cannot read --{name}-file {path}: {e}"), 1))?
        };
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(usage(format!(
            "--{name} is required (or --{name}-file PATH, or {env})"
        ))),
    }
}

impl ClientArgs {
    fn client(&self) -> Result<OAuthClient, Failure> {
        let secret = secret(
            "client-secret",
            self.client_secret.as_deref(),
            self.client_secret_file.as_deref(),
            "WARDEN_CLIENT_SECRET",
        )?;
        let auth = match self.auth {
            AuthMethod::Basic => ClientAuth::basic(&self.client_id, secret),
            AuthMethod::Post => ClientAuth::post(&self.client_id, secret),
        };
        let mut b = OAuthClient::builder(auth).issuer(&self.issuer);
        if self.allow_http {
            b = b.dangerous().allow_http();
        }
        b.build().map_err(|e| Failure(format!("warden: {e}"), 2))
    }
}

/// At most one value may come from standard input.
fn one_stdin(command: &Command) -> Result<(), Failure> {
    let dash = |v: Option<&str>| usize::from(v == Some("-"));
    let n = match command {
        Command::Token { client, .. } => dash(client.client_secret_file.as_deref()),
        Command::Exchange {
            client,
            subject_token_file,
            ..
        } => dash(client.client_secret_file.as_deref()) + dash(subject_token_file.as_deref()),
        Command::Decode { token } | Command::Verify { token, .. } => dash(Some(token)),
        Command::Introspect { token, client } | Command::Revoke { token, client } => {
            dash(Some(token)) + dash(client.client_secret_file.as_deref())
        }
    };
    if n > 1 {
        return Err(usage("only one value can come from standard input (`-`)"));
    }
    Ok(())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
    let expiry = match claims["exp"].as_i64() {
        Some(exp) => in_words(exp - now_secs()),
        None => "no exp claim".into(),
    };
    Ok(format!(
        "header: {}\nclaims: {}\n{expiry} (signature NOT verified: use `warden verify`)",
        serde_json::to_string_pretty(&header).unwrap_or_default(),
        serde_json::to_string_pretty(&claims).unwrap_or_default(),
    ))
}

async fn verify(
    token: &str,
    issuer: &str,
    audience: &str,
    jwks_url: Option<&str>,
    allow_http: bool,
) -> Result<String, Failure> {
    let mut b = warden_jwt::JwtValidator::builder()
        .issuer(issuer)
        .audience(audience);
    if let Some(url) = jwks_url {
        b = b.jwks_url(url);
    }
    if allow_http {
        b = b.dangerous().allow_http();
    }
    let v = b.build().map_err(|e| Failure(format!("warden: {e}"), 2))?;
    v.wait_until_ready(Duration::from_secs(10))
        .await
        .map_err(|e| Failure(format!("warden: cannot load the issuer's keys: {e}"), 1))?;
    match v.validate_token(token).await {
        Ok(p) => Ok(format!(
            "valid: sub={} client_id={} scope=\"{}\" ({})",
            p.subject().unwrap_or("-"),
            p.client_id().unwrap_or("-"),
            p.scopes(),
            p.expires_at()
                .and_then(|e| e.duration_since(UNIX_EPOCH).ok())
                .map(|e| in_words(i64::try_from(e.as_secs()).unwrap_or(i64::MAX) - now_secs()))
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

async fn run(command: Command) -> Result<String, Failure> {
    one_stdin(&command)?;
    match command {
        Command::Token {
            client,
            scope,
            resource,
            json,
        } => {
            let c = client.client()?;
            let mut form = vec![("grant_type", "client_credentials".to_owned())];
            form.extend(scope.map(|v| ("scope", v)));
            form.extend(resource.map(|v| ("resource", v)));
            let r = c.token_request(form).await.map_err(refused)?;
            Ok(token_output(r, json))
        }
        Command::Exchange {
            client,
            subject_token,
            subject_token_file,
            audience,
            resource,
            scope,
            json,
        } => {
            let c = client.client()?;
            let subject = secret(
                "subject-token",
                subject_token.as_deref(),
                subject_token_file.as_deref(),
                "WARDEN_SUBJECT_TOKEN",
            )?;
            let mut form = vec![
                ("grant_type", GRANT_TOKEN_EXCHANGE.to_owned()),
                ("subject_token", subject),
                ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN.to_owned()),
            ];
            form.extend(audience.map(|v| ("audience", v)));
            form.extend(resource.map(|v| ("resource", v)));
            form.extend(scope.map(|v| ("scope", v)));
            let r = c.token_request(form).await.map_err(refused)?;
            Ok(token_output(r, json))
        }
        Command::Decode { token } => decode(&token_arg(&token)?),
        Command::Verify {
            token,
            issuer,
            audience,
            jwks_url,
            allow_http,
        } => {
            let token = token_arg(&token)?;
            verify(&token, &issuer, &audience, jwks_url.as_deref(), allow_http).await
        }
        Command::Introspect { token, client } => {
            let token = token_arg(&token)?;
            let r = client
                .client()?
                .introspect(&token, None)
                .await
                .map_err(refused)?;
            Ok(serde_json::to_string_pretty(r.as_json()).unwrap_or_default())
        }
        Command::Revoke { token, client } => {
            let token = token_arg(&token)?;
            client
                .client()?
                .revoke(&token, None)
                .await
                .map_err(refused)?;
            Ok("revoked".into())
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit 2, `--help` and `--version` 0 (clap's own codes).
    let cli = Cli::parse();
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
    match rt.block_on(run(cli.command)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn each_subcommand_has_help() {
        for sub in Cli::command().get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
        }
    }
}
