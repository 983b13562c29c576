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
//!   the keys), so revocations made while it was cut off are learned.
//! - When Redis is unreachable the replica keeps using its last known list
//!   for a bounded, configurable time ([`RedisConfig::max_stale`], default
//!   30 s); after that [`is_revoked`](RevocationStore::is_revoked) fails
//!   closed, which the authenticate layer turns into 503 (gRPC UNAVAILABLE).
//!   [`status`](RedisRevocationStore::status) tells a readiness probe.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::AsyncCommands;
use warden_core::{Clock, RevocationError, RevocationStore, StoreFuture, SystemClock};

const PREFIX: &str = "warden:revoked:";
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
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            max_stale: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
        }
    }
}

impl RedisConfig {
    /// Sets [`max_stale`](Self::max_stale).
    #[must_use]
    pub fn max_stale(mut self, d: Duration) -> Self {
        self.max_stale = d;
        self
    }

    /// Sets [`reconnect_min`](Self::reconnect_min).
    #[must_use]
    pub fn reconnect_min(mut self, d: Duration) -> Self {
        self.reconnect_min = d;
        self
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
    /// Whether lookups are still answered (connected, or within `max_stale`).
    pub ready: bool,
    /// Identifiers in the local copy.
    pub revoked: usize,
    /// Full resynchronisations done.
    pub resyncs: u64,
}

type Listener = Box<dyn Fn(&str) + Send + Sync>;

struct Inner {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    local: RwLock<HashMap<String, SystemTime>>,
    state: Mutex<(bool, Option<SystemTime>, u64)>,
    listeners: RwLock<Vec<Listener>>,
    clock: Arc<dyn Clock>,
    cfg: RedisConfig,
}

/// A Redis-backed [`RevocationStore`]; cheap to clone. The background
/// subscriber stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisRevocationStore {
    inner: Arc<Inner>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisRevocationStore {
    /// Starts a store on `url` (`redis://127.0.0.1:6379`). It connects in
    /// the background and keeps reconnecting; until the first
    /// synchronisation it is not ready and fails closed.
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
        let client = redis::Client::open(url).map_err(|e| RedisStoreError::Url(e.to_string()))?;
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| RedisStoreError::NoRuntime)?;
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let inner = Arc::new(Inner {
            client,
            conn: tokio::sync::Mutex::new(None),
            local: RwLock::default(),
            // Never connected yet: "disconnected since" the epoch, so not ready.
            state: Mutex::new((false, Some(UNIX_EPOCH), 0)),
            listeners: RwLock::default(),
            clock,
            cfg,
        });
        let task = handle.spawn(subscriber(Arc::downgrade(&inner)));
        Ok(Self {
            inner,
            _task: Arc::new(AbortOnDrop(task.abort_handle())),
        })
    }

    /// Calls `f(id)` for every revocation this replica learns (to drop
    /// validated-cache entries, for example).
    pub fn on_revoke(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// The connection state.
    pub fn status(&self) -> RedisStatus {
        let (connected, since, resyncs) = *lock(&self.inner.state);
        RedisStatus {
            connected,
            disconnected_since: since,
            ready: self.fresh(),
            revoked: self
                .inner
                .local
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
            resyncs,
        }
    }

    /// Waits until the first synchronisation, at most `timeout`.
    pub async fn wait_until_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if lock(&self.inner.state).0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    fn fresh(&self) -> bool {
        let (connected, since, _) = *lock(&self.inner.state);
        if connected {
            return true;
        }
        let now = self.inner.clock.now();
        since.is_some_and(|s| now.duration_since(s).unwrap_or_default() <= self.inner.cfg.max_stale)
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, RevocationError> {
        let mut guard = self.inner.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(
            Duration::from_secs(2),
            self.inner.client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| RevocationError::Unavailable("redis connect timed out".into()))?
        .map_err(|e| RevocationError::Unavailable(format!("redis: {e}")))?;
        *guard = Some(c.clone());
        Ok(c)
    }
}

impl Inner {
    fn learn(&self, id: &str, until: SystemTime) {
        if until <= self.clock.now() {
            return;
        }
        {
            let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
            let e = local.entry(id.to_owned()).or_insert(until);
            if *e < until {
                *e = until;
            }
        }
        for l in self
            .listeners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            l(id);
        }
    }

    fn set_connected(&self, connected: bool) {
        let mut st = lock(&self.state);
        if connected {
            st.0 = true;
            st.1 = None;
            st.2 += 1;
        } else if st.0 {
            st.0 = false;
            st.1 = Some(self.clock.now());
        }
    }

    /// Reads every revoked key (SCAN + PTTL) into the local copy.
    async fn resync(&self, conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
        let mut keys: Vec<String> = Vec::new();
        {
            let mut iter: redis::AsyncIter<'_, String> =
                conn.scan_match(format!("{PREFIX}*")).await?;
            while let Some(k) = iter.next_item().await {
                keys.push(k?);
            }
        }
        let now = self.clock.now();
        let mut fresh = HashMap::with_capacity(keys.len());
        for k in keys {
            let ttl: i64 = conn.pttl(&k).await?;
            if ttl > 0 {
                fresh.insert(
                    k[PREFIX.len()..].to_owned(),
                    now + Duration::from_millis(ttl as u64),
                );
            }
        }
        let ids: Vec<String> = fresh.keys().cloned().collect();
        {
            let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
            local.retain(|_, t| *t > now);
            for (id, until) in fresh {
                local.insert(id, until);
            }
        }
        for id in ids {
            for l in self
                .listeners
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                l(&id);
            }
        }
        Ok(())
    }
}

/// Subscribes, resynchronises, applies messages; reconnects with backoff.
async fn subscriber(weak: Weak<Inner>) {
    let mut delay = Duration::ZERO;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let result: redis::RedisResult<()> = async {
            let mut pubsub = inner.client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            // Subscribed first, then resync: nothing published in between is lost.
            let mut conn = inner.client.get_multiplexed_async_connection().await?;
            inner.resync(&mut conn).await?;
            inner.set_connected(true);
            tracing::info!("revocation store synchronised with redis");
            let mut stream = pubsub.into_on_message();
            drop(inner);
            while let Some(msg) = stream.next().await {
                let Some(inner) = weak.upgrade() else {
                    return Ok(());
                };
                let payload: String = msg.get_payload().unwrap_or_default();
                if let Some((id, until)) = payload.rsplit_once('\t')
                    && let Ok(until) = until.parse::<u64>()
                {
                    inner.learn(id, UNIX_EPOCH + Duration::from_millis(until));
                }
            }
            Ok(())
        }
        .await;
        let Some(inner) = weak.upgrade() else { return };
        inner.set_connected(false);
        *inner.conn.lock().await = None;
        match result {
            Ok(()) => tracing::warn!("redis subscription ended; reconnecting"),
            Err(e) => {
                tracing::warn!(error = %e, "redis unavailable; using the last known revocation list")
            }
        }
        let floor = inner.cfg.reconnect_min;
        drop(inner);
        delay = delay.max(floor);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2).max(floor));
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
            let mut conn = self.connection().await?;
            let key = format!("{PREFIX}{id}");
            let payload = format!("{id}\t{}", ms(until));
            let res: redis::RedisResult<()> = async {
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg("1")
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async(&mut conn)
                    .await?;
                let _: i64 = conn.publish(CHANNEL, payload).await?;
                Ok(())
            }
            .await;
            if let Err(e) = res {
                *self.inner.conn.lock().await = None;
                return Err(RevocationError::Unavailable(format!("redis: {e}")));
            }
            self.inner.learn(id, until);
            Ok(())
        })
    }

    fn is_revoked(&self, id: &str) -> Result<bool, RevocationError> {
        let now = self.inner.clock.now();
        let hit = self
            .inner
            .local
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .is_some_and(|t| *t > now);
        if hit {
            return Ok(true);
        }
        if !self.fresh() {
            return Err(RevocationError::Unavailable(
                "redis unreachable for longer than max_stale; failing closed".into(),
            ));
        }
        Ok(false)
    }
}
