//! warden-redis: revocation that reaches every replica, on Redis.
//!
//! [`RedisRevocationStore`] implements [`RevocationStore`]
//! (RFC 7009 revocation made visible to resource servers,
//! <https://www.rfc-editor.org/rfc/rfc7009#section-2>):
//!
//! - A revoked identifier is the key `warden:revoked:<id>` with a TTL equal
//!   to the token's remaining lifetime, and a message on the
//!   `warden:revocations` channel tells every replica at once.
//! - Each replica keeps a local copy, so the request path never calls Redis;
//!   a message drops the matching validated-cache entries through
//!   [`on_revoke`](RedisRevocationStore::on_revoke) listeners.
//! - After every (re)connection the replica resynchronises fully (a SCAN of
//!   the keys, their TTLs read in one pipeline per SCAN batch: a few round
//!   trips, not one per key; names that are not UTF-8 are skipped), so
//!   revocations made while it was cut off are learned.
//! - The list is trusted only while the replica can prove it is current:
//!   staleness counts from the last message or PONG received on the
//!   subscriber connection, which is PINGed every `max_stale / 3` (TCP
//!   keepalive as a backstop). A flow that goes silent (a NAT or load
//!   balancer that lost it: the socket open, no byte passing) is therefore
//!   caught like a closed one. Past [`RedisConfig::max_stale`] (default 30 s)
//!   of silence [`is_revoked`](RevocationStore::is_revoked) fails closed,
//!   which the authenticate layer turns into 503 (gRPC UNAVAILABLE), and
//!   [`status`](RedisRevocationStore::status) reports not ready; the
//!   subscriber reconnects and resynchronises.
//! - The local copy forgets entries as they expire (on each PING tick).
//!
//! - Where Redis is: one node (`redis://`, `rediss://`), a Sentinel-managed
//!   master (`redis+sentinel://`: found through the sentinels, followed on
//!   `+switch-master` by the writer and the subscriber, which then resync
//!   once), or a Redis Cluster (`redis+cluster://`: keys and commands routed
//!   by slot, the subscriber on any node since a `PUBLISH` reaches every
//!   node's subscribers, the resync across every master). See
//!   [`RedisRevocationStore::connect`].
//! - What happens past `max_stale` is a [`Staleness`] policy: fail closed
//!   (the default) or, through [`RedisConfig::dangerous`], serve the stale
//!   list for a bounded time.
//!
//! The store is also a DPoP replay store shared by the fleet (RFC 9449
//! §11.1, <https://www.rfc-editor.org/rfc/rfc9449#section-11.1>): a proof is
//! `SET NX` under `warden:dpop:<jkt>:<jti>` until it could no longer be
//! accepted; a Redis that cannot answer is a 503, never a pass.
#![forbid(unsafe_code)]

mod topology;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::AsyncCommands;
use warden_core::clock::unix_millis;
use warden_core::dpop::{ReplayError, ReplayStore};
use warden_core::sync::{OnDrop, lock};
use warden_core::{Clock, RevocationError, RevocationStore, StoreFuture, SystemClock};

use topology::Topology;

const PREFIX: &str = "warden:revoked:";
/// The prefix of seen DPoP proofs: `warden:dpop:<jkt>:<jti>`.
const DPOP_PREFIX: &str = "warden:dpop:";
const CHANNEL: &str = "warden:revocations";

/// Settings of the store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// How long the last known list is trusted while Redis is unreachable
    /// (30 s); then lookups fail closed.
    pub max_stale: Duration,
    /// First reconnect delay (100 ms), doubling to 2 s.
    pub reconnect_min: Duration,
    /// The bound on connecting, subscribing and resynchronising, and on
    /// each command (5 s).
    pub timeout: Duration,
    /// What lookups do past `max_stale` (fail closed unless changed through
    /// [`dangerous`](Self::dangerous)).
    staleness: Staleness,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            max_stale: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            staleness: Staleness::FailClosed,
        }
    }
}

/// What a lookup does once Redis has not been heard from for `max_stale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Staleness {
    /// Every lookup is an error (503 at the layer) until Redis is heard
    /// from again. The default: a revocation made meanwhile cannot be
    /// missed, and a Redis outage longer than `max_stale` is an outage.
    FailClosed,
    /// Lookups keep answering from the last known list for up to this long
    /// after Redis was last heard from (at most [`MAX_SERVE_STALE`]), then
    /// fail closed. A token revoked meanwhile is accepted until then.
    ServeStale(Duration),
}

/// The longest a stale list may be served ([`Staleness::ServeStale`]).
pub const MAX_SERVE_STALE: Duration = Duration::from_secs(15 * 60);

/// Settings that weaken revocation, reached through
/// [`RedisConfig::dangerous`].
#[derive(Debug, Clone)]
pub struct DangerousRedisConfig(RedisConfig);

impl DangerousRedisConfig {
    /// Serve the last known list for up to `up_to` (clamped between
    /// `max_stale` and [`MAX_SERVE_STALE`]) after Redis was last heard
    /// from: replicas keep answering through a long Redis outage, and a
    /// revocation made during it is not seen until Redis is back (or the
    /// bound passes, and lookups fail closed).
    pub fn serve_stale(mut self, up_to: Duration) -> RedisConfig {
        let up_to = up_to.clamp(self.0.max_stale, MAX_SERVE_STALE.max(self.0.max_stale));
        self.0.staleness = Staleness::ServeStale(up_to);
        self.0
    }
}

warden_core::field_setters! { RedisConfig {
    /// Sets [`max_stale`](Self::max_stale).
    max_stale: Duration,
    /// Sets [`reconnect_min`](Self::reconnect_min).
    reconnect_min: Duration,
    /// Sets [`timeout`](Self::timeout).
    timeout: Duration,
} }

impl RedisConfig {
    /// The defaults, with `max_stale` from `WARDEN_REDIS_MAX_STALE` (whole
    /// seconds) when it is set: the examples' and warden-issuer's setting.
    ///
    /// # Errors
    /// A message naming the variable when it is not a positive number.
    pub fn from_env() -> Result<Self, String> {
        let cfg = Self::default();
        match std::env::var("WARDEN_REDIS_MAX_STALE") {
            Ok(v) if !v.is_empty() => match v.parse::<u64>() {
                Ok(secs) if secs > 0 => Ok(cfg.max_stale(Duration::from_secs(secs))),
                _ => Err(format!(
                    "WARDEN_REDIS_MAX_STALE is a number of seconds above 0, not {v:?}"
                )),
            },
            _ => Ok(cfg),
        }
    }

    /// The door to settings that weaken revocation.
    pub fn dangerous(self) -> DangerousRedisConfig {
        DangerousRedisConfig(self)
    }

    /// The staleness policy.
    pub fn staleness(&self) -> Staleness {
        self.staleness
    }

    /// How long after Redis was last heard from lookups are answered.
    fn answer_for(&self) -> Duration {
        match self.staleness {
            Staleness::FailClosed => self.max_stale,
            Staleness::ServeStale(up_to) => up_to.max(self.max_stale),
        }
    }

    /// How often the subscriber connection is PINGed: a third of
    /// `max_stale`, so that two lost PONGs still leave time to notice.
    fn ping_every(&self) -> Duration {
        (self.max_stale / 3).max(Duration::from_millis(10))
    }
}

/// The connection state, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStatus {
    /// Subscribed and synchronised.
    pub connected: bool,
    /// When the connection was lost, if it is.
    pub disconnected_since: Option<SystemTime>,
    /// When the subscriber connection last proved alive (a message, a PONG
    /// or a resync).
    pub last_heard: Option<SystemTime>,
    /// Whether lookups are answered: heard from Redis within `max_stale`
    /// (or within the bound of [`Staleness::ServeStale`]).
    pub ready: bool,
    /// Whether the list is older than `max_stale` and served anyway
    /// ([`Staleness::ServeStale`]).
    pub stale: bool,
    /// The Redis node in use (for Sentinel, the master last found).
    pub node: Option<String>,
    /// Identifiers in the local copy.
    pub revoked: usize,
    /// Full resynchronisations done.
    pub resyncs: u64,
}

type Listener = Box<dyn Fn(&str) + Send + Sync>;

/// The subscriber's view of the connection.
#[derive(Debug, Clone, Copy)]
struct State {
    connected: bool,
    disconnected_since: Option<SystemTime>,
    last_heard: Option<SystemTime>,
    resyncs: u64,
}

struct Inner {
    topology: Topology,
    /// The node the subscriber last synchronised with.
    node: Mutex<Option<String>>,
    /// The write connection, and under Sentinel the node it reaches.
    conn: tokio::sync::Mutex<Option<(Conn, Option<String>)>>,
    local: RwLock<HashMap<String, SystemTime>>,
    state: Mutex<State>,
    listeners: RwLock<Vec<Listener>>,
    clock: Arc<dyn Clock>,
    cfg: RedisConfig,
    /// Woken by a `+switch-master` announcement (Sentinel only).
    switched: Arc<tokio::sync::Notify>,
}

/// A Redis-backed [`RevocationStore`]; cheap to clone. The background
/// subscriber stops when the last clone is dropped.
///
/// Until it has heard from Redis, and again once it has not for
/// `max_stale`, it fails closed: a lookup is an error (503 at the layer),
/// never "not revoked".
///
/// ```
/// use std::time::Duration;
/// use warden_core::RevocationStore;
/// use warden_redis::{RedisConfig, RedisRevocationStore};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // Nothing listens on port 1: the store starts, and refuses to answer.
/// let store = RedisRevocationStore::connect(
///     "redis://127.0.0.1:1",
///     RedisConfig::default().timeout(Duration::from_millis(200)),
/// )
/// .unwrap();
/// assert!(!store.wait_until_ready(Duration::from_millis(300)).await);
/// assert!(!store.status().ready);
/// assert!(store.is_revoked("any-jti").is_err());
/// # }
/// ```
#[derive(Clone)]
pub struct RedisRevocationStore {
    inner: Arc<Inner>,
    _task: Arc<OnDrop>,
}

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationStore")
            .field("status", &self.status())
            .finish()
    }
}

/// The store could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL is not a Redis URL.
    #[error("bad Redis URL: {0}")]
    Url(String),
    /// The store needs a tokio runtime for its subscriber.
    #[error("RedisRevocationStore::connect must run inside a tokio runtime")]
    NoRuntime,
}

impl RedisRevocationStore {
    /// Starts a store on `url`: one node (`redis://127.0.0.1:6379`,
    /// `rediss://` for TLS, `redis://:PASSWORD@HOST:PORT/DB`), a
    /// Sentinel-managed master
    /// (`redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]`,
    /// the password and db being the master's), or a cluster
    /// (`redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT...]`, seed nodes). It connects in the
    /// background and keeps reconnecting (through the sentinels, to
    /// whichever node is master now); until the first synchronisation it is
    /// not ready and fails closed.
    ///
    /// # Errors
    /// A malformed URL, or no tokio runtime.
    pub fn connect(url: &str, cfg: RedisConfig) -> Result<Self, RedisStoreError> {
        Self::connect_with_clock(url, cfg, SystemClock)
    }

    /// Like [`connect`](Self::connect), on `clock`.
    ///
    /// # Errors
    /// A malformed URL, or no tokio runtime.
    pub fn connect_with_clock(
        url: &str,
        cfg: RedisConfig,
        clock: impl Clock,
    ) -> Result<Self, RedisStoreError> {
        // A backstop under the PINGs: the kernel probes an idle flow too.
        let keepalive = redis::io::tcp::socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(15))
            .with_interval(Duration::from_secs(5));
        let tcp = redis::io::tcp::TcpSettings::default()
            .set_nodelay(true)
            .set_keepalive(keepalive);
        let topology = Topology::parse(url, tcp, cfg.timeout)?;
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| RedisStoreError::NoRuntime)?;
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let inner = Arc::new(Inner {
            topology,
            node: Mutex::default(),
            conn: tokio::sync::Mutex::new(None),
            local: RwLock::default(),
            // Never heard from yet: not ready.
            state: Mutex::new(State {
                connected: false,
                disconnected_since: Some(UNIX_EPOCH),
                last_heard: None,
                resyncs: 0,
            }),
            listeners: RwLock::default(),
            clock,
            cfg,
            switched: Arc::default(),
        });
        let task = handle.spawn(subscriber(Arc::downgrade(&inner)));
        let watcher = matches!(inner.topology, Topology::Sentinel { .. }).then(|| {
            handle
                .spawn(switch_watcher(Arc::downgrade(&inner)))
                .abort_handle()
        });
        Ok(Self {
            inner,
            _task: Arc::new({
                let task = task.abort_handle();
                OnDrop::new(move || {
                    task.abort();
                    if let Some(w) = &watcher {
                        w.abort();
                    }
                })
            }),
        })
    }

    /// Calls `f(id)` for every revocation this replica learns (to drop
    /// validated-cache entries, for example).
    pub fn on_revoke(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        warden_core::sync::write(&self.inner.listeners).push(Box::new(f));
    }

    /// The connection state.
    pub fn status(&self) -> RedisStatus {
        let st = *lock(&self.inner.state);
        RedisStatus {
            connected: st.connected,
            disconnected_since: st.disconnected_since,
            last_heard: st.last_heard,
            ready: self.inner.answers(),
            stale: self.inner.answers() && !self.fresh(),
            node: lock(&self.inner.node).clone(),
            revoked: warden_core::sync::read(&self.inner.local).len(),
            resyncs: st.resyncs,
        }
    }

    /// Waits until the first synchronisation, at most `timeout`.
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if lock(&self.inner.state).connected && self.fresh() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Whether the local list can be trusted: Redis was heard from within
    /// `max_stale`, connected or not (a silent connection proves nothing).
    fn fresh(&self) -> bool {
        self.inner.fresh()
    }

    /// The connection for writes, and the node it reaches (under
    /// Sentinel). Under Sentinel the cached connection is used only while
    /// the sentinels still name its node: a demoted master may take writes
    /// for seconds, and they would be lost.
    async fn connection(&self) -> Result<(Conn, Option<String>), RevocationError> {
        let unavailable =
            |e: redis::RedisError| RevocationError::Unavailable(format!("redis: {e}"));
        let master_now = self.inner.master_now().await.map_err(unavailable)?;
        let mut guard = self.inner.conn.lock().await;
        if let Some((c, node)) = guard.as_ref()
            && (master_now.is_none() || *node == master_now)
        {
            return Ok((c.clone(), node.clone()));
        }
        let c = self.inner.command_connection().await.map_err(unavailable)?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Under Sentinel, whether `node` is still the master the sentinels
    /// name (after a write: if not, the write may be lost and is made
    /// again). Anything else: true.
    async fn still_master(&self, node: &Option<String>) -> bool {
        match self.inner.master_now().await {
            Ok(None) => true,
            Ok(now) => now == *node,
            Err(_) => false,
        }
    }
}

impl Inner {
    fn learn(&self, id: &str, until: SystemTime) {
        if until <= self.clock.now() {
            return;
        }
        {
            let mut local = warden_core::sync::write(&self.local);
            let e = local.entry(id.to_owned()).or_insert(until);
            if *e < until {
                *e = until;
            }
        }
        for l in warden_core::sync::read(&self.listeners).iter() {
            l(id);
        }
    }

    /// The client of the node to use now (the master, under Sentinel),
    /// found within the configured timeout.
    async fn client(&self) -> redis::RedisResult<redis::Client> {
        match tokio::time::timeout(self.cfg.timeout, self.topology.client()).await {
            Ok(c) => c,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "finding the redis node timed out",
            ))),
        }
    }

    /// Under Sentinel, the master the sentinels name now (`host:port`);
    /// `None` for the other topologies.
    async fn master_now(&self) -> redis::RedisResult<Option<String>> {
        match self.topology {
            Topology::Sentinel { .. } => Ok(Some(node_name(&self.client().await?))),
            _ => Ok(None),
        }
    }

    /// A connection for commands, each bounded by the configured timeout:
    /// to the node (the master; its name under Sentinel), or routed by slot
    /// in a cluster.
    async fn command_connection(&self) -> redis::RedisResult<(Conn, Option<String>)> {
        if let Some(cluster) = self.topology.cluster() {
            let c = tokio::time::timeout(self.cfg.timeout, cluster.get_async_connection())
                .await
                .map_err(|_| {
                    redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "connecting to the cluster timed out",
                    ))
                })??;
            return Ok((Conn::Cluster(c), None));
        }
        let t = self.cfg.timeout;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(t))
            .set_response_timeout(Some(t));
        let client = self.client().await?;
        let node = matches!(self.topology, Topology::Sentinel { .. }).then(|| node_name(&client));
        Ok((
            Conn::Node(
                client
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await?,
            ),
            node,
        ))
    }

    fn set_connected(&self, connected: bool) {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        if connected {
            st.connected = true;
            st.disconnected_since = None;
            st.last_heard = Some(now);
            st.resyncs += 1;
            warden_core::metrics::revocation_store_ready(true);
        } else if st.connected {
            st.connected = false;
            st.disconnected_since = Some(now);
        }
    }

    /// The subscriber connection proved alive.
    fn heard(&self) {
        lock(&self.state).last_heard = Some(self.clock.now());
        warden_core::metrics::revocation_store_ready(true);
    }

    /// Whether the local list can be trusted (see [`RedisRevocationStore::status`]).
    fn fresh(&self) -> bool {
        self.heard_within(self.cfg.max_stale)
    }

    /// Whether lookups are answered: fresh, or stale within the bound of
    /// [`Staleness::ServeStale`].
    fn answers(&self) -> bool {
        self.heard_within(self.cfg.answer_for())
    }

    fn heard_within(&self, bound: Duration) -> bool {
        let heard = lock(&self.state).last_heard;
        let now = self.clock.now();
        heard.is_some_and(|h| now.duration_since(h).unwrap_or_default() <= bound)
    }

    /// Forgets expired entries of the local copy.
    fn prune(&self) {
        let now = self.clock.now();
        warden_core::sync::write(&self.local).retain(|_, t| *t > now);
    }

    /// Reads every revoked key into the local copy: on each master (one,
    /// but for a cluster), SCAN in batches, the TTLs of each batch in one
    /// pipeline.
    async fn resync(
        &self,
        masters: &mut [redis::aio::MultiplexedConnection],
    ) -> redis::RedisResult<()> {
        let now = self.clock.now();
        let mut fresh = HashMap::new();
        for conn in masters {
            self.scan_node(conn, now, &mut fresh).await?;
        }
        self.apply_resync(now, fresh);
        Ok(())
    }

    /// One node's revoked keys and their expiries, into `fresh`.
    async fn scan_node(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        now: SystemTime,
        fresh: &mut HashMap<String, SystemTime>,
    ) -> redis::RedisResult<()> {
        let mut cursor: u64 = 0;
        // Bounded: SCAN ends when the cursor comes back to 0; the count
        // guards against a server that never says so.
        for _ in 0..1_000_000 {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            // Names that are not UTF-8 cannot be a token's identifier: skip.
            let ids: Vec<String> = batch
                .into_iter()
                .filter_map(|k| String::from_utf8(k.get(PREFIX.len()..)?.to_vec()).ok())
                .collect();
            if !ids.is_empty() {
                let mut pipe = redis::pipe();
                for id in &ids {
                    pipe.cmd("PTTL").arg(format!("{PREFIX}{id}"));
                }
                let ttls: Vec<i64> = pipe.query_async(conn).await?;
                for (id, ttl) in ids.into_iter().zip(ttls) {
                    if ttl > 0 {
                        fresh.insert(id, now + Duration::from_millis(ttl as u64));
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Replaces the local copy's live entries with a resync's.
    fn apply_resync(&self, now: SystemTime, fresh: HashMap<String, SystemTime>) {
        let ids: Vec<String> = fresh.keys().cloned().collect();
        {
            let mut local = warden_core::sync::write(&self.local);
            local.retain(|_, t| *t > now);
            for (id, until) in fresh {
                local.insert(id, until);
            }
        }
        for id in ids {
            for l in warden_core::sync::read(&self.listeners).iter() {
                l(&id);
            }
        }
    }
}

/// A connection for commands: to one node, or a cluster connection that
/// routes each command by its key's slot (and follows `MOVED`).
#[derive(Clone)]
enum Conn {
    Node(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Node(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A Redis URL fit to print: any user and password replaced.
///
/// ```
/// assert_eq!(
///     warden_redis::redact_url("redis+sentinel://:s3cret@h1:26379,h2:26379/m"),
///     "redis+sentinel://[redacted]@h1:26379,h2:26379/m"
/// );
/// assert_eq!(warden_redis::redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://[redacted]@{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// `host:port` of a client's node.
fn node_name(client: &redis::Client) -> String {
    match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(h, p)
        | redis::ConnectionAddr::TcpTls {
            host: h, port: p, ..
        } => {
            format!("{h}:{p}")
        }
        other => format!("{other:?}"),
    }
}

/// Under Sentinel, listens for `+switch-master` on a sentinel (any that
/// answers; again after it goes away) and wakes the subscriber on each:
/// connected, it leaves the old master; cut off, it stops waiting.
async fn switch_watcher(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let switches = tokio::time::timeout(inner.cfg.timeout, inner.topology.switches()).await;
        let switched = inner.switched.clone();
        let retry = inner.cfg.reconnect_min.max(Duration::from_millis(500));
        drop(inner);
        match switches {
            Ok(Ok(Some(mut stream))) => {
                while stream.next().await.is_some() {
                    if weak.strong_count() == 0 {
                        return;
                    }
                    switched.notify_one();
                }
                tracing::info!("the sentinel connection for +switch-master ended; reconnecting");
            }
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no +switch-master subscription; retrying");
            }
            Err(_) => tracing::warn!("subscribing to +switch-master timed out; retrying"),
        }
        tokio::time::sleep(retry).await;
    }
}

/// Why the subscriber left its connection.
enum Ended {
    /// The sentinels announced a new master.
    Switched,
    /// The server closed the subscription.
    Closed,
    /// No PONG within the bound: the flow went silent.
    Silent,
}

/// Subscribes, resynchronises, applies messages and PINGs; reconnects with
/// backoff.
async fn subscriber(weak: Weak<Inner>) {
    let mut delay = Duration::ZERO;
    let Some(switched) = weak.upgrade().map(|i| i.switched.clone()) else {
        return;
    };
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let ping_every = inner.cfg.ping_every();
        let setup = async {
            // Under Sentinel: the master now (after a failover, the new one).
            let client = inner.client().await?;
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            sink.subscribe(CHANNEL).await?;
            // Subscribed first, then resync: nothing published in between
            // is lost. The same node for both.
            let t = inner.cfg.timeout;
            let cfg = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(t))
                .set_response_timeout(Some(t));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await?;
            // Every master's keys (one, but in a cluster).
            let mut masters = Vec::new();
            for m in inner.topology.masters(&client, &mut conn).await? {
                masters.push(m.get_multiplexed_async_connection_with_config(&cfg).await?);
            }
            inner.resync(&mut masters).await?;
            *lock(&inner.node) = Some(node_name(&client));
            redis::RedisResult::Ok((sink, stream))
        };
        // A silent flow must not hang the set-up either.
        let setup = match tokio::time::timeout(inner.cfg.timeout, setup).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("connecting to redis timed out".to_owned()),
        };
        let result = match setup {
            Err(e) => Err(e),
            Ok((mut sink, mut stream)) => {
                inner.set_connected(true);
                delay = Duration::ZERO;
                tracing::info!("revocation store synchronised with redis");
                drop(inner);
                let mut tick = tokio::time::interval(ping_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        // Under Sentinel, a failover at once: an old master
                        // may keep answering (and taking writes the new one
                        // never sees) for seconds before it is demoted.
                        () = switched.notified() => break Ok(Ended::Switched),
                        msg = stream.next() => {
                            let Some(msg) = msg else { break Ok(Ended::Closed) };
                            let Some(inner) = weak.upgrade() else { return };
                            inner.heard();
                            let payload: String = msg.get_payload().unwrap_or_default();
                            if let Some((id, until)) = payload.rsplit_once('\t')
                                && let Ok(until) = until.parse::<u64>()
                            {
                                inner.learn(id, UNIX_EPOCH + Duration::from_millis(until));
                            }
                        }
                        _ = tick.tick() => {
                            let Some(inner) = weak.upgrade() else { return };
                            inner.prune();
                            drop(inner);
                            let pong = tokio::time::timeout(ping_every, sink.ping::<redis::Value>()).await;
                            let Some(inner) = weak.upgrade() else { return };
                            match pong {
                                Ok(Ok(_)) => inner.heard(),
                                _ => break Ok(Ended::Silent),
                            }
                        }
                    }
                }
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        inner.set_connected(false);
        *inner.conn.lock().await = None;
        let was_switch = matches!(result, Ok(Ended::Switched));
        match result {
            Ok(Ended::Switched) => {
                tracing::info!("the sentinels switched masters; following the new one");
            }
            Ok(Ended::Closed) => tracing::warn!("redis subscription ended; reconnecting"),
            Ok(Ended::Silent) => tracing::warn!(
                "redis did not answer a PING on the subscriber connection; reconnecting"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "redis unavailable; using the last known revocation list")
            }
        }
        // Reconnecting at least every 2 s: the gauge turns 0 once the list
        // is older than `max_stale`.
        warden_core::metrics::revocation_store_ready(inner.fresh());
        let floor = inner.cfg.reconnect_min;
        drop(inner);
        if was_switch {
            // The new master is known: no backoff.
            continue;
        }
        delay = delay.max(floor);
        tokio::select! {
            () = tokio::time::sleep(delay) => {
                delay = (delay * 2).min(Duration::from_secs(2).max(floor));
            }
            // A failover while cut off (the old master died): the new
            // master is named, go now.
            () = switched.notified() => delay = Duration::ZERO,
        }
    }
}

impl RevocationStore for RedisRevocationStore {
    fn revoke<'a>(
        &'a self,
        id: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<(), RevocationError>> {
        Box::pin(async move {
            let now = self.inner.clock.now();
            let ttl = until.duration_since(now).unwrap_or_default();
            if ttl.is_zero() {
                return Ok(());
            }
            let key = format!("{PREFIX}{id}");
            let payload = format!("{id}\t{}", unix_millis(until));
            self.inner.prune();
            // Under Sentinel a write is confirmed against the sentinels
            // afterwards: one that raced a failover onto the old master is
            // made again on the new one (the same SET, the same message).
            for attempt in 0..3 {
                let (mut conn, node) = self.connection().await?;
                let res: redis::RedisResult<()> = async {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg("1")
                        .arg("PX")
                        .arg(ttl.as_millis().max(1) as u64)
                        .query_async(&mut conn)
                        .await?;
                    let _: i64 = conn.publish(CHANNEL, &payload).await?;
                    Ok(())
                }
                .await;
                if let Err(e) = res {
                    *self.inner.conn.lock().await = None;
                    return Err(RevocationError::Unavailable(format!("redis: {e}")));
                }
                if self.still_master(&node).await {
                    self.inner.learn(id, until);
                    return Ok(());
                }
                tracing::info!(
                    attempt,
                    "the master changed during a revocation; writing it again"
                );
                *self.inner.conn.lock().await = None;
            }
            Err(RevocationError::Unavailable(
                "redis: the master kept changing during the revocation".into(),
            ))
        })
    }

    fn is_revoked(&self, id: &str) -> Result<bool, RevocationError> {
        let now = self.inner.clock.now();
        let hit = warden_core::sync::read(&self.inner.local)
            .get(id)
            .is_some_and(|t| *t > now);
        if hit {
            return Ok(true);
        }
        if !self.fresh() {
            if self.inner.answers() {
                // Staleness::ServeStale, within its bound.
                return Ok(false);
            }
            return Err(RevocationError::Unavailable(
                "redis unreachable for longer than max_stale; failing closed".into(),
            ));
        }
        Ok(false)
    }
}

/// The store is also a DPoP replay store for a fleet (RFC 9449 §11.1): a
/// proof is recorded with `SET NX` and a lifetime until it could no longer
/// be accepted, so a proof seen by one replica is a replay at every other.
/// A Redis that cannot answer (within the store's timeout) is
/// [`ReplayError::Unavailable`], which the layer answers 503: never a pass.
impl ReplayStore for RedisRevocationStore {
    fn first_use<'a>(
        &'a self,
        key: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, Result<bool, ReplayError>> {
        Box::pin(async move {
            let ttl = until
                .duration_since(self.inner.clock.now())
                .unwrap_or_default()
                .max(Duration::from_millis(1));
            let (mut conn, _) = self
                .connection()
                .await
                .map_err(|e| ReplayError::Unavailable(e.to_string()))?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(format!("{DPOP_PREFIX}{key}"))
                .arg("1")
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64);
            let set = cmd.query_async::<Option<String>>(&mut conn);
            match tokio::time::timeout(self.inner.cfg.timeout, set).await {
                Ok(Ok(set)) => Ok(set.is_some()),
                Ok(Err(e)) => {
                    *self.inner.conn.lock().await = None;
                    Err(ReplayError::Unavailable(format!("redis: {e}")))
                }
                Err(_) => {
                    *self.inner.conn.lock().await = None;
                    Err(ReplayError::Unavailable("redis: timed out".into()))
                }
            }
        })
    }
}
