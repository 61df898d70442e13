//! [`Keyspace`] for both stores: what the plumbing's keyspace sweep
//! behind [`delete_matching`](memocache_core::Store::delete_matching)
//! sends (`CLUSTER NODES`; `SCAN`, on a cluster pinned to each primary;
//! `UNLINK`), through the async [`RedisStore`] or the blocking store's
//! pool.

use memocache_core::Result;
use memocache_redis_plumbing::keyspace::Keyspace;
use memocache_redis_plumbing::topology::Node;
use redis::FromRedisValue;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use crate::blocking::Pooled;
use crate::command;
use crate::connect::command_error;
use crate::store::RedisStore;

impl Keyspace for RedisStore {
    fn is_cluster(&self) -> bool {
        self.cluster().is_some()
    }

    async fn cluster_nodes(&self) -> Result<String> {
        self.query(&command::cluster_nodes()).await
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let scan = command::scan(cursor, pattern);
        let (Some((host, port)), Some(connection)) = (node, self.cluster()) else {
            return self.query(&scan).await;
        };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: host.clone(),
            port: *port,
        });
        let reply = connection.clone().route_command(scan, routing).await;
        reply
            .and_then(|value| Ok(FromRedisValue::from_redis_value(value)?))
            .map_err(|e| self.error(e))
    }

    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        let removed = self.query(&command::unlink(&keys)).await;
        for key in &keys {
            self.changed(&String::from_utf8_lossy(key));
        }
        removed
    }
}

impl Keyspace for Pooled {
    fn is_cluster(&self) -> bool {
        self.pool.is_cluster()
    }

    async fn cluster_nodes(&self) -> Result<String> {
        self.query(&command::cluster_nodes(), None).await
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let scan = command::scan(cursor, pattern);
        match node {
            Some(node) => self
                .pool
                .get(None)?
                .query_node(&scan, node)
                .map_err(|e| command_error(e, self.timeout)),
            None => self.query(&scan, None).await,
        }
    }

    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        self.query(&command::unlink(&keys), None).await
    }
}
