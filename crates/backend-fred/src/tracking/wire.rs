//! What change tracking sends and reads on the wire: the commands
//! (`CLIENT TRACKING ON REDIRECT <id> NOLOOP`, `CLIENT ID`), and the
//! replies and messages it reads: a server's refusal, a connection error,
//! the `PING` reply of a subscribed connection, a tracked read's `CLUSTER
//! MYID`, an invalidation message's payload.

use fred::error::{Error as FredError, ErrorKind};
use fred::types::{ClusterHash, CustomCommand, Value};
use memocache_core::{FlushCause, Invalidations, TrackedTiers};
use memocache_redis_plumbing::refusal;

/// Whether `error` is the server's refusal of a command tracking needs
/// ([`refusal::is_refusal`]), rather than a failure to reach it or one
/// that passes.
pub(crate) fn is_refusal(error: &FredError) -> bool {
    let reply = error.details();
    let (code, detail) = reply.split_once(' ').unwrap_or((reply, ""));
    refusal::is_refusal(code, detail)
}

/// `CLIENT`, for `CLIENT ID` and `CLIENT TRACKING`.
pub(super) fn client_command() -> CustomCommand {
    CustomCommand::new_static("CLIENT", ClusterHash::FirstKey, false)
}

/// `CLIENT TRACKING ON REDIRECT <id> NOLOOP`, as a command and its
/// arguments: the connection's reads are tracked, their invalidations go
/// to the listener `id`, and its own writes are not reported (the store
/// reports them to its tiers itself).
pub(crate) fn redirect_to(id: i64) -> (CustomCommand, Vec<Value>) {
    let args = vec![
        Value::from("TRACKING"),
        Value::from("ON"),
        Value::from("REDIRECT"),
        Value::Integer(id),
        Value::from("NOLOOP"),
    ];
    (client_command(), args)
}

/// What a tracked read's `CLUSTER MYID` reply says about the node that
/// served the pipeline.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ServedBy {
    /// The listener's node.
    Listener,
    /// Another node, by its id.
    Other(String),
    /// Not known: the pipeline failed before that reply was read.
    Unknown,
}

/// What the `CLUSTER MYID` reply `myid` of a tracked read says, for a
/// listener on `node`: only a reply naming `node`, with every other reply
/// of the pipeline read, says the listener's node served it.
pub(super) fn served_by(
    node: &str,
    myid: Option<&std::result::Result<Value, FredError>>,
    complete: bool,
) -> ServedBy {
    match myid.map(|reply| reply.as_ref().map(Value::as_str)) {
        Some(Ok(Some(id))) if id == node && complete => ServedBy::Listener,
        Some(Ok(Some(id))) if id != node => ServedBy::Other(id.into_owned()),
        _ => ServedBy::Unknown,
    }
}

/// Whether `pong` is the reply to `PING` of a subscribed RESP2 connection.
pub(crate) fn is_subscribed_pong(pong: &Value) -> bool {
    match pong {
        Value::Array(parts) => parts
            .first()
            .and_then(Value::as_str)
            .is_some_and(|first| first.eq_ignore_ascii_case("pong")),
        _ => false,
    }
}

/// Whether `error` says the server was not reached or did not answer,
/// rather than refused.
pub(super) fn is_connection_error(error: &FredError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::IO | ErrorKind::Canceled | ErrorKind::Timeout
    )
}

/// Reports an invalidation message's payload to `tiers`: the keys changed;
/// null means `FLUSHDB` or `FLUSHALL`; anything else is a report that
/// cannot be read, so all may have changed.
pub(super) fn report(tiers: &TrackedTiers, payload: &Value) {
    match payload {
        Value::Array(keys) if keys.iter().all(|key| key_bytes(key).is_some()) => {
            for key in keys.iter().filter_map(key_bytes) {
                tiers.changed(&String::from_utf8_lossy(key));
            }
        }
        Value::Null => tiers.flushed(FlushCause::StoreFlushed),
        _ => tiers.flushed(FlushCause::ReportsLost),
    }
}

/// A key of an invalidation message, as bytes.
fn key_bytes(key: &Value) -> Option<&[u8]> {
    match key {
        Value::String(key) => Some(key.as_bytes()),
        Value::Bytes(key) => Some(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use memocache_core::testing::RecordedReports;

    use super::*;

    #[test]
    fn payloads_map_to_changes_and_flushes() {
        let recorder = Arc::new(RecordedReports::default());
        let tiers = TrackedTiers::new();
        let weak: std::sync::Weak<dyn Invalidations> = Arc::downgrade(&recorder) as _;
        tiers.add(weak);
        report(
            &tiers,
            &Value::Array(vec![
                Value::from("a"),
                Value::Bytes(memocache_core::Bytes::from_static(b"b")),
            ]),
        );
        report(&tiers, &Value::Null);
        report(&tiers, &Value::Integer(1));
        report(&tiers, &Value::Array(vec![Value::Integer(1)]));
        assert_eq!(
            recorder.reports(),
            [
                "a",
                "b",
                "flushed: store flushed",
                "flushed: change reports lost",
                "flushed: change reports lost"
            ]
        );
    }

    #[test]
    fn only_the_listener_s_node_named_by_a_complete_pipeline_serves_a_read() {
        let node = "07c37dfeb235213a872192d90877d0cd55635b91";
        let reply = |id: &str| Ok(Value::from(id));
        assert_eq!(
            served_by(node, Some(&reply(node)), true),
            ServedBy::Listener
        );
        assert_eq!(
            served_by(
                node,
                Some(&Ok(Value::Bytes(node.as_bytes().to_vec().into()))),
                true
            ),
            ServedBy::Listener
        );
        assert_eq!(
            served_by(
                node,
                Some(&reply("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")),
                true
            ),
            ServedBy::Other("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca".into())
        );
        // The pipeline failed: its one reply is fred's error.
        let failed = Err(FredError::new(ErrorKind::Routing, "Too many redirections."));
        assert_eq!(served_by(node, Some(&failed), false), ServedBy::Unknown);
        assert_eq!(
            served_by(node, Some(&reply(node)), false),
            ServedBy::Unknown
        );
        assert_eq!(served_by(node, None, false), ServedBy::Unknown);
        assert_eq!(
            served_by(node, Some(&Ok(Value::Null)), true),
            ServedBy::Unknown
        );
    }
}
