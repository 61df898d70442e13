//! [`Keyspace`] for [`FredStore`]: what the plumbing's keyspace sweep
//! behind [`delete_matching`](memocache_core::Store::delete_matching)
//! sends through the store (`CLUSTER NODES`; `SCAN`, on a cluster pinned
//! to each primary; `UNLINK`, on a cluster slot by slot).

use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::config::Options;
use fred::types::{ClusterHash, CustomCommand};
use memocache_core::{Bytes, Error, Result};
use memocache_redis_plumbing::keyspace::{Keyspace, SCAN_COUNT};
use memocache_redis_plumbing::topology::Node;

use crate::connect::{BACKEND, backend_error};
use crate::store::FredStore;

impl Keyspace for FredStore {
    fn is_cluster(&self) -> bool {
        self.pool.is_clustered()
    }

    async fn cluster_nodes(&self) -> Result<String> {
        self.run(|client| async move {
            let command = CustomCommand::new_static("CLUSTER", ClusterHash::Random, false);
            client.custom(command, vec!["NODES"]).await
        })
        .await
    }

    async fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let options = Options {
            cluster_node: node.map(|(host, port)| (host.as_str(), *port).into()),
            ..self.options.clone()
        };
        let (next, keys): (String, Vec<Bytes>) = self
            .run_with(&options, |client| async move {
                let cursor = cursor.to_string();
                client
                    .scan_page(cursor, pattern, Some(SCAN_COUNT), None)
                    .await
            })
            .await?;
        let next = next
            .parse()
            .map_err(|e| Error::backend(BACKEND, format!("SCAN answered a bad cursor: {e}")))?;
        Ok((next, keys.into_iter().map(Vec::from).collect()))
    }

    /// A multi-key command must stay within one slot on a cluster: the
    /// keys are unlinked slot by slot.
    async fn unlink(&self, keys: Vec<Vec<u8>>) -> Result<u64> {
        let _changed = self.changing(keys.iter().map(|key| String::from_utf8_lossy(key)));
        let keys: Vec<fred::types::Key> = keys
            .into_iter()
            .map(|key| Bytes::from(key).into())
            .collect();
        let batches: Vec<Vec<fred::types::Key>> = if self.pool.is_clustered() {
            let by_slot = fred::util::group_by_hash_slot(keys).map_err(backend_error)?;
            by_slot.into_values().map(Vec::from).collect()
        } else {
            vec![keys]
        };
        let mut removed = 0;
        for batch in batches {
            let unlinked: u64 = self
                .run(|client| {
                    let batch = batch.clone();
                    async move { client.unlink(batch).await }
                })
                .await?;
            removed += unlinked;
        }
        Ok(removed)
    }
}
