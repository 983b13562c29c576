//! Helpers for warden's end-to-end tests: serving a router on loopback and
//! calling it over real HTTP.

use std::net::SocketAddr;

/// Serves `app` on `127.0.0.1:0` in the background and returns its address.
///
/// # Panics
/// When the loopback listener cannot be bound (a broken test machine).
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// What a test call got back.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `WWW-Authenticate` header, if any.
    pub www: Option<String>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
    /// The `grpc-status` header, if any.
    pub grpc_status: Option<String>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// Asserts the status and the exact `WWW-Authenticate` challenge;
    /// `context` names the case in the failure message.
    ///
    /// # Panics
    /// When either differs.
    #[track_caller]
    pub fn assert_challenge(&self, status: u16, challenge: &str, context: &str) {
        assert_eq!(
            (self.status, self.www.as_deref()),
            (status, Some(challenge)),
            "{context}: {self:?}"
        );
    }
}

/// GETs `url` with the given extra headers (appended, so repeats are kept).
///
/// # Panics
/// When the request cannot be sent at all.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request sent");
    let h = |n: &str| {
        res.headers()
            .get(n)
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned())
    };
    let status = res.status().as_u16();
    let www = h("www-authenticate");
    let retry_after = h("retry-after");
    let cache_control = h("cache-control");
    let grpc_status = h("grpc-status");
    let body = res.text().await.unwrap_or_default();
    Reply {
        status,
        www,
        retry_after,
        cache_control,
        grpc_status,
        body,
    }
}

/// GETs `url` with `Authorization: Bearer <token>`.
pub async fn get_bearer(url: &str, token: &str) -> Reply {
    get(url, &[("authorization", &format!("Bearer {token}"))]).await
}

/// The exact challenge for an `invalid_token` error with `description`.
pub fn invalid_token(description: &str) -> String {
    format!(r#"Bearer error="invalid_token", error_description="{description}""#)
}

/// The exact challenge for an `invalid_request` error with `description`.
pub fn invalid_request(description: &str) -> String {
    format!(r#"Bearer error="invalid_request", error_description="{description}""#)
}

/// This process's resident memory in bytes (`/proc/self/statm`; 0 where
/// that is not available), for the memory-bound tests.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Serves, on loopback, a foreign server whose `path` answers every POST
/// with `body` as JSON (a token or introspection endpoint that says what a
/// test wants, hostile answers included). Returns the endpoint's URL.
pub async fn answering(path: &'static str, body: String) -> String {
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    format!("http://{}{path}", serve(app).await)
}

/// Serves, on loopback, a document at `path` (GET, JSON) that may name the
/// server's own address: `doc` gets the base URL (`http://127.0.0.1:PORT`).
/// Returns the base URL. For metadata documents, whose `issuer` must be
/// the server's own.
pub async fn publishing(path: &'static str, doc: impl FnOnce(&str) -> serde_json::Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let doc = doc(&base);
    let app = axum::Router::new().route(
        path,
        axum::routing::get(move || async move { axum::Json(doc) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The development issuer's batch client (`IssuerConfig::dev()`).
pub const BATCH: (&str, &str) = ("svc-batch", "svc-batch-secret");

/// An access token for svc-batch ([`BATCH`], `client_secret_basic`) from
/// the token endpoint at `token_url`, with the extra form fields `form`
/// (`resource`, `scope`).
///
/// # Panics
/// When the issuer does not answer with a token (a broken test set-up).
pub async fn batch_token(token_url: &str, form: &[(&str, &str)]) -> String {
    let mut f = vec![("grant_type", "client_credentials")];
    f.extend_from_slice(form);
    let res = reqwest::Client::new()
        .post(token_url)
        .basic_auth(BATCH.0, Some(BATCH.1))
        .form(&f)
        .send()
        .await
        .expect("token request sent");
    let body: serde_json::Value = res.json().await.expect("a JSON token response");
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A JWT validator for `issuer` (keys by discovery, plain http allowed, as
/// every loopback test needs) accepting `audience`.
///
/// # Panics
/// When the validator cannot be built (a broken test set-up).
pub fn jwt_validator(issuer: &str, audience: &str) -> warden::JwtValidator {
    warden::JwtValidator::builder()
        .issuer(issuer)
        .audience(audience)
        .dangerous()
        .allow_http()
        .build()
        .expect("a loopback JWT validator")
}

/// Revokes `token` at the revocation endpoint `url` as `client`
/// (`client_secret_basic`, RFC 7009); the status.
///
/// # Panics
/// When the request cannot be sent.
pub async fn revoke(url: &str, client: (&str, &str), token: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .basic_auth(client.0, Some(client.1))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revocation request sent")
        .status()
        .as_u16()
}

/// A client-credentials source at `issuer` (plain http allowed) for
/// `resource`, authenticating as `client` with `client_secret_basic`.
///
/// # Panics
/// When the source cannot be built (a broken test set-up).
pub fn cc_source(
    issuer: &str,
    client: (&str, &str),
    resource: &str,
) -> warden::outbound::client::ClientCredentials {
    warden::outbound::client::ClientCredentials::builder()
        .issuer(issuer)
        .client_secret_basic(client.0, client.1)
        .resource(resource)
        .dangerous()
        .allow_http()
        .build()
        .expect("a loopback client-credentials source")
}

/// A token-exchange source at `issuer` (plain http allowed) toward
/// `audience`, authenticating as `client` with `client_secret_basic`.
///
/// # Panics
/// When the source cannot be built (a broken test set-up).
pub fn exchange_source(
    issuer: &str,
    client: (&str, &str),
    audience: &str,
) -> warden::outbound::client::TokenExchange {
    warden::outbound::client::TokenExchange::builder()
        .issuer(issuer)
        .client_secret_basic(client.0, client.1)
        .audience(audience)
        .dangerous()
        .allow_http()
        .build()
        .expect("a loopback token-exchange source")
}

/// The development issuer's ledger resource server (`IssuerConfig::dev()`),
/// which may introspect `api://ledger` tokens.
pub const RS_LEDGER: (&str, &str) = ("rs-ledger", "rs-ledger-secret");

/// An introspection validator builder for the endpoint `url` (plain http
/// allowed), authenticating as `client`, expecting `issuer` and `audience`;
/// the caller adds its own settings and builds.
pub fn introspection(
    url: &str,
    client: (&str, &str),
    issuer: &str,
    audience: &str,
) -> warden::inbound::introspect::IntrospectionValidatorBuilder {
    warden::inbound::introspect::IntrospectionValidator::builder()
        .endpoint(url)
        .client(client.0, client.1)
        .issuer(issuer)
        .audience(audience)
        .dangerous()
        .allow_http()
}

/// The Redis the Redis tests use (`WARDEN_TEST_REDIS_URL`), or `None` with a
/// note that they were skipped. Under CI (`CI` set) a missing URL fails the
/// test instead: there the Redis tests must run, never pass silently.
///
/// # Panics
/// Under CI without `WARDEN_TEST_REDIS_URL`.
pub fn redis_url() -> Option<String> {
    match std::env::var("WARDEN_TEST_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but WARDEN_TEST_REDIS_URL is not: the Redis tests must run in CI"
            );
            eprintln!(
                "redis tests skipped: set WARDEN_TEST_REDIS_URL=redis://127.0.0.1:6379 to run them"
            );
            None
        }
    }
}

/// Where `bin` is installed, in the usual system directories.
pub fn on_path(bin: &str) -> Option<std::path::PathBuf> {
    [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(|d| std::path::Path::new(d).join(bin))
    .find(|p| p.exists())
}

/// A program the tests need from the distribution's packages (a proxy, a
/// browser), installed with apt-get when missing (refreshing the package
/// lists once if the first try fails). `None`, with a note that the test is
/// skipped, only when not `required`; a required one that cannot be had
/// fails the test, naming `required_by` (the variable that asked for it).
///
/// # Panics
/// When `required` and the program cannot be installed.
pub fn ensure_installed(
    bin: &str,
    packages: &[&str],
    required: bool,
    required_by: &str,
) -> Option<std::path::PathBuf> {
    use std::process::{Command, Stdio};
    // One apt-get at a time: two tests installing at once would meet
    // dpkg's lock, and one of them would fail.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = on_path(bin) {
        return Some(p);
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "-q"];
    install.extend_from_slice(packages);
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    let found = on_path(bin);
    assert!(
        found.is_some() || !required,
        "{bin} is required ({required_by}) but could not be installed (apt-get ok: {installed})"
    );
    if found.is_none() {
        println!("skipped: {bin} is not installed (set {required_by} to require it)");
    }
    found
}

/// A loopback port free at the time of asking (for servers the tests start
/// as processes).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Polls `cond` every 50 ms until it holds, at most `limit`.
///
/// # Panics
/// When `limit` passes first, naming `what`.
pub async fn eventually<F, Fut>(what: &str, limit: std::time::Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !cond().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Redis servers the tests start as processes (`redis-server` from the
/// distribution's packages), on loopback ports they pick.
pub mod redis_servers {
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    /// A `redis-server` process, killed when dropped.
    #[derive(Debug)]
    pub struct RedisProcess(Option<Child>);

    impl RedisProcess {
        /// Starts `redis-server` with `args`.
        ///
        /// # Panics
        /// When `redis-server` is not installed.
        pub fn start(args: &[String]) -> Self {
            let child = Command::new("redis-server")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed for this test");
            Self(Some(child))
        }

        /// Kills the process now.
        pub fn kill(&mut self) {
            if let Some(mut c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    impl Drop for RedisProcess {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// The arguments of a test node on `port`: loopback only, nothing
    /// saved, and any file it writes (a replica's RDB, a cluster's node
    /// table) in `dir`.
    pub fn node_args(port: u16, dir: &Path) -> Vec<String> {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// Sends `cmd` to the node on `port`.
    ///
    /// # Errors
    /// The node's error, or a failed connection.
    pub async fn ask<T: redis::FromRedisValue>(
        port: u16,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut conn).await
    }
}
