//! The Redis commands behind a store, shared by the async and the blocking
//! client: each client only sends them.

use std::time::Duration;

use redis::{Cmd, RedisError, cmd};

/// How many keys one `SCAN` step is asked to look at.
const SCAN_COUNT: usize = 500;

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

/// `DEL key`; answers how many keys were removed.
pub(crate) fn delete(key: &str) -> Cmd {
    let mut del = cmd("DEL");
    del.arg(key);
    del
}

/// `PTTL key`; read the answer with [`KeyTtl::from_pttl`](memocache_core::KeyTtl::from_pttl).
pub(crate) fn pttl(key: &str) -> Cmd {
    let mut pttl = cmd("PTTL");
    pttl.arg(key);
    pttl
}

/// Whether a failed command may be sent once more: only after a timeout,
/// and only when retries are on.
pub(crate) fn is_retryable(error: &RedisError, retry_on_timeout: bool) -> bool {
    retry_on_timeout && error.is_timeout()
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
/// answers how many existed.
pub(crate) fn unlink(keys: &[Vec<u8>]) -> Cmd {
    let mut unlink = cmd("UNLINK");
    unlink.arg(keys);
    unlink
}

/// `CLUSTER NODES`: the cluster's topology as text; read the primaries with
/// [`primaries`].
pub(crate) fn cluster_nodes() -> Cmd {
    let mut nodes = cmd("CLUSTER");
    nodes.arg("NODES");
    nodes
}

/// The addresses of the cluster's healthy primaries, from a
/// `CLUSTER NODES` reply (`id host:port@bus flags master ...` per line).
pub fn primaries(cluster_nodes: &str) -> Vec<(String, u16)> {
    healthy_nodes(cluster_nodes)
        .filter(|(_, primary)| *primary)
        .map(|(address, _)| address)
        .collect()
}

/// The addresses of every healthy node of the cluster, primaries and
/// replicas, from a `CLUSTER NODES` reply.
pub(crate) fn nodes(cluster_nodes: &str) -> Vec<(String, u16)> {
    healthy_nodes(cluster_nodes)
        .map(|(address, _)| address)
        .collect()
}

/// Each node not flagged failing or without an address: its address, and
/// whether it is a primary.
fn healthy_nodes(cluster_nodes: &str) -> impl Iterator<Item = ((String, u16), bool)> + '_ {
    cluster_nodes.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let address = fields.nth(1)?;
        let flags: Vec<&str> = fields.next()?.split(',').collect();
        if flags
            .iter()
            .any(|f| f.starts_with("fail") || *f == "noaddr")
        {
            return None;
        }
        let address = address.split(['@', ',']).next()?;
        let (host, port) = address.rsplit_once(':')?;
        Some((
            (host.to_owned(), port.parse().ok()?),
            flags.contains(&"master"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_are_read_from_cluster_nodes() {
        let reply = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:30002@40002,host-b master - 0 1 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master,fail - 0 1 3 disconnected 10923-16383
6ec2 127.0.0.1:30005@40005 master - 0 1 7 connected 10923-16383
";
        assert_eq!(
            primaries(reply),
            [
                ("127.0.0.1".to_owned(), 30001),
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30005)
            ]
        );
    }

    #[test]
    fn every_healthy_node_is_read_from_cluster_nodes() {
        let reply = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1 4 connected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
292f 127.0.0.1:30003@40003 master,fail - 0 1 3 disconnected 10923-16383
a1b2 :0@0 slave,noaddr e7d1 0 1 4 disconnected
6ec2 127.0.0.1:30005@40005 slave,fail? 292f 0 1 7 connected
";
        assert_eq!(
            nodes(reply),
            [
                ("127.0.0.1".to_owned(), 30004),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
    }

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
