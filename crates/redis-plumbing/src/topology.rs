//! A Redis Cluster's topology, read from a `CLUSTER NODES` reply.

/// A node's address: host and port.
pub type Node = (String, u16);

/// The addresses of the cluster's healthy primaries that serve slots, from
/// a `CLUSTER NODES` reply (`id host:port@bus flags master ...` per line).
/// A primary without slots is left out: right after a cluster forms, a
/// node may still list a replica that way.
pub fn primaries(cluster_nodes: &str) -> Vec<Node> {
    healthy_nodes(cluster_nodes)
        .filter(|(_, primary)| *primary)
        .map(|(address, _)| address)
        .collect()
}

/// The addresses of every healthy node of the cluster, primaries and
/// replicas, from a `CLUSTER NODES` reply.
pub fn nodes(cluster_nodes: &str) -> Vec<Node> {
    healthy_nodes(cluster_nodes)
        .map(|(address, _)| address)
        .collect()
}

/// Each node not flagged failing or without an address: its address, and
/// whether it is a primary serving slots.
fn healthy_nodes(cluster_nodes: &str) -> impl Iterator<Item = (Node, bool)> + '_ {
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
        // After the flags: master id, ping, pong, epoch, link state, slots.
        let serves_slots = fields.nth(5).is_some();
        let address = address.split(['@', ',']).next()?;
        let (host, port) = address.rsplit_once(':')?;
        Some((
            (host.to_owned(), port.parse().ok()?),
            flags.contains(&"master") && serves_slots,
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
a1b2 127.0.0.1:30006@40006 master - 0 1 0 connected
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
}
