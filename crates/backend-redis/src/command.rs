//! The Redis commands behind a store, shared by the async and the blocking
//! client: each client only sends them.

use std::time::Duration;

use memocache_redis_plumbing::keyspace::SCAN_COUNT;
use redis::cluster::{ClusterConnection, cluster_pipe};
use redis::{Cmd, ConnectionLike, FromRedisValue, Pipeline, RedisResult, Value, cmd, pipe};

/// What one round trip sends: a command, or several pipelined.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipeline(&'a [Cmd]),
}

impl Request<'_> {
    /// Sends the request on an async connection, single node or cluster.
    pub(crate) async fn send_async<T: FromRedisValue>(
        self,
        connection: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> RedisResult<T> {
        match self {
            Request::Cmd(cmd) => cmd.query_async(connection).await,
            Request::Pipeline(cmds) => pipeline(cmds).query_async(connection).await,
        }
    }

    /// Sends the request on a blocking connection to a single node.
    pub(crate) fn send(self, connection: &mut dyn ConnectionLike) -> RedisResult<Value> {
        match self {
            Request::Cmd(cmd) => cmd.query(connection),
            Request::Pipeline(cmds) => pipeline(cmds).query(connection),
        }
    }

    /// Sends the request on a blocking cluster connection, which pipelines
    /// only through a cluster pipeline.
    pub(crate) fn send_to_cluster(self, connection: &mut ClusterConnection) -> RedisResult<Value> {
        match self {
            Request::Cmd(cmd) => cmd.query(connection),
            Request::Pipeline(cmds) => {
                let mut pipeline = cluster_pipe();
                for cmd in cmds {
                    pipeline.add_command(cmd.clone());
                }
                pipeline.query(connection)
            }
        }
    }
}

fn pipeline(cmds: &[Cmd]) -> Pipeline {
    let mut pipeline = pipe();
    for cmd in cmds {
        pipeline.add_command(cmd.clone());
    }
    pipeline
}

impl<'a> From<&'a Cmd> for Request<'a> {
    fn from(cmd: &'a Cmd) -> Self {
        Request::Cmd(cmd)
    }
}

impl<'a, const N: usize> From<&'a [Cmd; N]> for Request<'a> {
    fn from(cmds: &'a [Cmd; N]) -> Self {
        Request::Pipeline(cmds)
    }
}

/// `GET key`.
pub(crate) fn get(key: &str) -> Cmd {
    let mut get = cmd("GET");
    get.arg(key);
    get
}

/// One `SET key value [PX ms]`: the value and its expiry are replaced in a
/// single step (never DEL then SET).
pub(crate) fn set(key: &str, value: &[u8], expire: Option<Duration>) -> Cmd {
    let mut set = cmd("SET");
    set.arg(key).arg(value);
    if let Some(expire) = expire {
        // Rounded up, so a sub-millisecond expiry still expires rather than
        // being rejected by Redis as zero.
        set.arg("PX").arg(memocache_core::expire_millis(expire));
    }
    set
}

/// `GET key` and `PTTL key` in one round trip; answers the value and
/// the `PTTL` reply.
pub(crate) fn get_with_pttl(key: &str) -> [Cmd; 2] {
    [get(key), pttl(key)]
}

/// `DEL key`; answers how many keys were removed.
pub(crate) fn delete(key: &str) -> Cmd {
    let mut del = cmd("DEL");
    del.arg(key);
    del
}

/// `EVAL` of a lock's script; answers its integer reply, read with
/// [`lock::held`](memocache_redis_plumbing::lock::held).
pub(crate) fn lock(script: &memocache_redis_plumbing::lock::Script) -> Cmd {
    let mut eval = cmd("EVAL");
    eval.arg(script.body)
        .arg(1)
        .arg(&script.key)
        .arg(&script.args);
    eval
}

/// `PTTL key`; read the answer with [`KeyTtl::from_pttl`](memocache_core::KeyTtl::from_pttl).
pub(crate) fn pttl(key: &str) -> Cmd {
    let mut pttl = cmd("PTTL");
    pttl.arg(key);
    pttl
}

/// One `SCAN cursor MATCH pattern COUNT 500` step; answers
/// `(next cursor, keys)`, the cursor 0 when the scan is done.
pub(crate) fn scan(cursor: u64, pattern: &str) -> Cmd {
    let mut scan = cmd("SCAN");
    scan.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(SCAN_COUNT);
    scan
}

/// `UNLINK keys...`: removes them, reclaiming memory in the background;
/// answers how many existed. A cluster connection splits it by slot.
pub(crate) fn unlink(keys: &[Vec<u8>]) -> Cmd {
    let mut unlink = cmd("UNLINK");
    unlink.arg(keys);
    unlink
}

/// `CLUSTER NODES`: the cluster's topology as text, read by
/// [`memocache_redis_plumbing::topology`].
pub(crate) fn cluster_nodes() -> Cmd {
    let mut nodes = cmd("CLUSTER");
    nodes.arg("NODES");
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_is_one_command_with_a_rounded_up_expiry() {
        let packed = |c: Cmd| String::from_utf8(c.get_packed_command()).unwrap();
        assert_eq!(
            packed(set("k", b"v", Some(Duration::from_micros(1500)))),
            "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nPX\r\n$1\r\n2\r\n"
        );
        assert_eq!(
            packed(set("k", b"v", None)),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }
}
