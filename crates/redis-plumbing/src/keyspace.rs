//! Removing the keys of a [`KeyMatch`]: `SCAN` steps on the single node or
//! on every primary of a cluster (never `KEYS`, which blocks the server),
//! each page filtered by [`KeyMatch::matches_bytes`], then `UNLINK` in
//! batches.

use std::future::Future;

use memocache_core::{KeyMatch, Result};

use crate::topology::{self, Node};

/// How many keys one `SCAN` step is asked to look at.
pub const SCAN_COUNT: u32 = 500;

/// The commands a client sends for [`delete_matching`]. A blocking client's
/// futures complete when first polled; drive the sweep with
/// [`memocache_core::block_on`].
pub trait Keyspace: Sync {
    /// Whether the keys are spread over a cluster's primaries.
    fn is_cluster(&self) -> bool;

    /// The cluster's `CLUSTER NODES` reply.
    fn cluster_nodes(&self) -> impl Future<Output = Result<String>> + Send;

    /// One `SCAN cursor MATCH pattern COUNT` [`SCAN_COUNT`] step on `node`
    /// (`None`: the single node); answers the next cursor (0 when done) and
    /// the keys.
    fn scan(
        &self,
        node: Option<&Node>,
        cursor: u64,
        pattern: &str,
    ) -> impl Future<Output = Result<(u64, Vec<Vec<u8>>)>> + Send;

    /// `UNLINK keys...` (split by hash slot on a cluster where the client
    /// does not); answers how many existed.
    fn unlink(&self, keys: Vec<Vec<u8>>) -> impl Future<Output = Result<u64>> + Send;
}

/// Removes every key of `matching` from `keyspace`; answers how many.
pub async fn delete_matching<K: Keyspace>(keyspace: &K, matching: &KeyMatch) -> Result<u64> {
    if !keyspace.is_cluster() {
        return sweep(keyspace, None, matching).await;
    }
    let nodes = keyspace.cluster_nodes().await?;
    let mut removed = 0;
    for primary in topology::primaries(&nodes) {
        removed += sweep(keyspace, Some(&primary), matching).await?;
    }
    Ok(removed)
}

/// The keys of `matching` that one node holds.
async fn sweep<K: Keyspace>(keyspace: &K, node: Option<&Node>, matching: &KeyMatch) -> Result<u64> {
    let pattern = matching.scan_pattern();
    let (mut cursor, mut removed) = (0, 0);
    loop {
        let (next, keys) = keyspace.scan(node, cursor, &pattern).await?;
        let keys: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|key| matching.matches_bytes(key))
            .collect();
        if !keys.is_empty() {
            removed += keyspace.unlink(keys).await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}
