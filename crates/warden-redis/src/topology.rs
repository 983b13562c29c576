//! Where the store's Redis is: one node (`redis://`, `rediss://`), the
//! master of a Sentinel-managed group, found through the sentinels
//! (`redis+sentinel://`; the Sentinel client protocol,
//! <https://redis.io/docs/latest/develop/reference/sentinel-clients/>, as the
//! `redis` crate implements it: ask the sentinels, then check `ROLE` on the
//! node), or a Redis Cluster (`redis+cluster://`; the cluster specification,
//! <https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/>):
//! keys and commands routed by slot through the `redis` crate's cluster
//! client, the subscriber on any one node (a `PUBLISH` in a cluster reaches
//! every node's subscribers), and a resync that reads every master.

use std::fmt;

use redis::IntoConnectionInfo;
use redis::io::tcp::TcpSettings;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};

use crate::RedisStoreError;

/// The default port of a sentinel.
const SENTINEL_PORT: u16 = 26379;

pub(crate) enum Topology {
    Single(redis::Client),
    Sentinel {
        /// The sentinels' addresses and the master's name, for `Debug`.
        describe: String,
        client: tokio::sync::Mutex<SentinelClient>,
    },
    Cluster {
        /// The seed nodes, for `Debug` and for the subscriber.
        seeds: Vec<redis::ConnectionInfo>,
        cluster: redis::cluster::ClusterClient,
        /// Where the subscriber tries first (rotating, so that a dead seed
        /// is left behind).
        next: std::sync::atomic::AtomicUsize,
    },
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Single(c) => write!(f, "{:?}", c.get_connection_info().addr()),
            Topology::Sentinel { describe, .. } => f.write_str(describe),
            Topology::Cluster { seeds, .. } => {
                let seeds: Vec<String> = seeds.iter().map(|s| s.addr().to_string()).collect();
                write!(f, "cluster {}", seeds.join(","))
            }
        }
    }
}

impl Topology {
    /// The topology a URL names, with `tcp` for every connection.
    pub(crate) fn parse(
        url: &str,
        tcp: TcpSettings,
        timeout: std::time::Duration,
    ) -> Result<Self, RedisStoreError> {
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            return sentinel(rest, tcp);
        }
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            return cluster(rest, tcp, timeout);
        }
        if url.starts_with("rediss+sentinel://") {
            return Err(RedisStoreError::Url(
                "TLS to the sentinels (rediss+sentinel://) is not supported".into(),
            ));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| RedisStoreError::Url(e.to_string()))?
            .set_tcp_settings(tcp);
        redis::Client::open(info)
            .map(Topology::Single)
            .map_err(|e| RedisStoreError::Url(e.to_string()))
    }

    /// Under Sentinel, the sentinels' `+switch-master` announcements (one
    /// message per failover they carry out); `None` for one node.
    pub(crate) async fn switches(&self) -> redis::RedisResult<Option<redis::aio::PubSubStream>> {
        let Topology::Sentinel { client, .. } = self else {
            return Ok(None);
        };
        let sentinel = client.lock().await.async_get_sentinel_client().await?;
        let mut pubsub = sentinel.get_async_pubsub().await?;
        pubsub.subscribe("+switch-master").await?;
        Ok(Some(pubsub.into_on_message()))
    }

    /// A client for the node to talk to now: the one node, or the master
    /// the sentinels name (checked with `ROLE`).
    pub(crate) async fn client(&self) -> redis::RedisResult<redis::Client> {
        match self {
            Topology::Single(c) => Ok(c.clone()),
            Topology::Sentinel { client, .. } => client.lock().await.async_get_client().await,
            Topology::Cluster { seeds, next, .. } => {
                // Any node that answers: a PUBLISH reaches them all.
                let start = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut last = None;
                for i in 0..seeds.len() {
                    let info = seeds[(start + i) % seeds.len()].clone();
                    let client = redis::Client::open(info)?;
                    match client.get_multiplexed_async_connection().await {
                        Ok(mut c) => match redis::cmd("PING").query_async::<()>(&mut c).await {
                            Ok(()) => return Ok(client),
                            Err(e) => last = Some(e),
                        },
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    redis::RedisError::from((redis::ErrorKind::Io, "no cluster node answered"))
                }))
            }
        }
    }

    /// The cluster client, for commands routed by slot; `None` unless a
    /// cluster.
    pub(crate) fn cluster(&self) -> Option<&redis::cluster::ClusterClient> {
        match self {
            Topology::Cluster { cluster, .. } => Some(cluster),
            _ => None,
        }
    }

    /// The masters to read in a resync, as seen from `client`'s node: the
    /// node itself, or every master of a cluster (`CLUSTER SHARDS` would
    /// do too; `CLUSTER NODES` answers on Redis 6 as well).
    pub(crate) async fn masters(
        &self,
        client: &redis::Client,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<Vec<redis::Client>> {
        let Topology::Cluster { seeds, .. } = self else {
            return Ok(vec![client.clone()]);
        };
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await?;
        let redis_settings = seeds
            .first()
            .map(|s| s.redis_settings().clone())
            .unwrap_or_default();
        let tcp = seeds
            .first()
            .map(|s| s.tcp_settings().clone())
            .unwrap_or_default();
        let mut masters = Vec::new();
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
                continue;
            };
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.contains(&"fail") || flags.contains(&"noaddr") {
                continue;
            }
            // `ip:port@cport[,hostname]`.
            let hostport = addr.split(['@', ',']).next().unwrap_or_default();
            let Some((host, port)) = hostport.rsplit_once(':') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let info = redis::ConnectionAddr::Tcp(host.to_owned(), port)
                .into_connection_info()?
                .set_redis_settings(redis_settings.clone())
                .set_tcp_settings(tcp.clone());
            masters.push(redis::Client::open(info)?);
        }
        if masters.is_empty() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "CLUSTER NODES named no master",
            )));
        }
        Ok(masters)
    }
}

/// `redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]`: seed
/// nodes (a cluster has db 0 only).
fn cluster(
    rest: &str,
    tcp: TcpSettings,
    timeout: std::time::Duration,
) -> Result<Topology, RedisStoreError> {
    let bad = |m: &str| RedisStoreError::Url(format!("redis+cluster://: {m}"));
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(bad("a cluster has no db and no path"));
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut seeds = Vec::new();
    for h in hosts.split(',') {
        if !h
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(bad(&format!("{h:?} is not HOST:PORT")));
        }
        let info = format!(
            "redis://{}{h}",
            userinfo.map(|u| format!("{u}@")).unwrap_or_default()
        )
        .into_connection_info()
        .map_err(|e| bad(&e.to_string()))?
        .set_tcp_settings(tcp.clone());
        seeds.push(info);
    }
    let cluster = redis::cluster::ClusterClientBuilder::new(seeds.clone())
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .build()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Topology::Cluster {
        seeds,
        cluster,
        next: std::sync::atomic::AtomicUsize::new(0),
    })
}

/// `redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]`:
/// the user, password and db are the master's (and its replicas'), read
/// as in a `redis://` URL (percent-encoded); sentinels listen on 26379
/// unless a port is given.
fn sentinel(rest: &str, tcp: TcpSettings) -> Result<Topology, RedisStoreError> {
    let bad = |m: &str| RedisStoreError::Url(format!("redis+sentinel://: {m}"));
    let (authority, path) = rest
        .split_once('/')
        .ok_or_else(|| bad("the master's name is missing (…/MASTER)"))?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (master, db) = match path.split_once('/') {
        Some((m, db)) => (m, Some(db)),
        None => (path, None),
    };
    if master.is_empty() {
        return Err(bad("the master's name is missing (…/MASTER)"));
    }
    let mut sentinels = Vec::new();
    for h in hosts.split(',') {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| bad(&format!("{h:?} is not HOST:PORT")))?,
            ),
            None => (h, SENTINEL_PORT),
        };
        if host.is_empty() {
            return Err(bad("a sentinel's host is empty"));
        }
        sentinels.push(
            format!("redis://{host}:{port}")
                .into_connection_info()
                .map_err(|e| bad(&e.to_string()))?
                .set_tcp_settings(tcp.clone()),
        );
    }
    // The master's credentials and db, read by the redis crate's own URL
    // parser so that they follow its conventions exactly.
    let node = format!(
        "redis://{}{}/{}",
        userinfo.map(|u| format!("{u}@")).unwrap_or_default(),
        "localhost",
        db.unwrap_or("0")
    )
    .into_connection_info()
    .map_err(|e| bad(&e.to_string()))?;
    let node_info = SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(node.redis_settings().clone())
        .set_tcp_settings(tcp);
    let describe = format!("sentinels {hosts}, master {master}");
    let client = SentinelClient::build(
        sentinels,
        master.to_owned(),
        Some(node_info),
        SentinelServerType::Master,
    )
    .map_err(|e| bad(&e.to_string()))?;
    Ok(Topology::Sentinel {
        describe,
        client: tokio::sync::Mutex::new(client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Topology, RedisStoreError> {
        Topology::parse(
            url,
            TcpSettings::default(),
            std::time::Duration::from_secs(1),
        )
    }

    #[test]
    fn single_nodes_and_sentinel_groups_parse() {
        assert!(matches!(
            parse("redis://127.0.0.1:6379"),
            Ok(Topology::Single(_))
        ));
        assert!(matches!(
            parse("redis://:secret@127.0.0.1:6379/2"),
            Ok(Topology::Single(_))
        ));
        for ok in [
            "redis+sentinel://127.0.0.1:26379/mymaster",
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381/mymaster",
            "redis+sentinel://:p%40ss@127.0.0.1/mymaster/3",
            "redis+sentinel://user:pass@h1:1,h2:2/m",
        ] {
            let t = parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(matches!(t, Topology::Sentinel { .. }), "{ok}");
        }
        for ok in [
            "redis+cluster://127.0.0.1:7000",
            "redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002/",
        ] {
            let t = parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(matches!(t, Topology::Cluster { .. }), "{ok}");
        }
        let t = parse("redis+sentinel://a:1,b/m").unwrap();
        assert_eq!(format!("{t:?}"), "sentinels a:1,b, master m");
    }

    #[test]
    fn malformed_sentinel_urls_are_refused() {
        for bad in [
            "redis+sentinel://127.0.0.1:26379",
            "redis+sentinel://127.0.0.1:26379/",
            "redis+sentinel://127.0.0.1:notaport/m",
            "redis+sentinel://,127.0.0.1/m",
            "rediss+sentinel://127.0.0.1/m",
            "redis+sentinel://127.0.0.1/m/notadb",
            "redis+cluster://127.0.0.1",
            "redis+cluster://127.0.0.1:7000/0",
            "redis+cluster://127.0.0.1:7000,:7001",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
