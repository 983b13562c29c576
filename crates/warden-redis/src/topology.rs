//! Where the store's Redis is: one node (`redis://`, `rediss://`), or the
//! master of a Sentinel-managed group, found through the sentinels
//! (`redis+sentinel://`; the Sentinel client protocol,
//! <https://redis.io/docs/latest/develop/reference/sentinel-clients/>, as the
//! `redis` crate implements it: ask the sentinels, then check `ROLE` on the
//! node). After a failover the sentinels kill the clients of the demoted
//! master, and the next connection asks them again.

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
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Single(c) => write!(f, "{:?}", c.get_connection_info().addr()),
            Topology::Sentinel { describe, .. } => f.write_str(describe),
        }
    }
}

impl Topology {
    /// The topology a URL names, with `tcp` for every connection.
    pub(crate) fn parse(url: &str, tcp: TcpSettings) -> Result<Self, RedisStoreError> {
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            return sentinel(rest, tcp);
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
        }
    }
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
        Topology::parse(url, TcpSettings::default())
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
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
