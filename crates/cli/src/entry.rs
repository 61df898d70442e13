//! Single entries: `get`, `put`, `del` and `ttl`.

use std::time::Duration;

use memocache_core::python;
use memocache_core::{BlockingStore, Bytes, KeyTtl};

use crate::codec::CodecName;
use crate::connection::Redis;

/// The value at `key`, decoded, as Python-style JSON.
pub fn get(redis: &Redis, codec: CodecName, key: &str) -> Result<String, String> {
    let stored = redis
        .store
        .get(key)
        .map_err(|e| format!("cannot read {key}: {}", e.report()))?
        .ok_or_else(|| format!("no such key: {key}"))?;
    let value = codec.decode(key, &stored)?;
    python::to_string(&value).map_err(|e| e.to_string())
}

/// Stores the JSON text `json` at `key`, expiring after `expire` seconds
/// (`0` or none: never, as in the reference).
pub fn put(
    redis: &Redis,
    codec: CodecName,
    key: &str,
    json: &str,
    expire: Option<u64>,
) -> Result<(), String> {
    let value = python::parse(json.as_bytes()).map_err(|e| format!("JSON is not valid: {e}"))?;
    let stored = codec.encode(&value)?;
    let expire = expire.filter(|s| *s > 0).map(Duration::from_secs);
    redis
        .store
        .set(key, Bytes::from(stored), expire)
        .map_err(|e| format!("cannot write {key}: {}", e.report()))
}

/// Removes `keys`; answers how many existed.
pub fn del(redis: &Redis, keys: &[String]) -> Result<u64, String> {
    let mut removed = 0;
    for key in keys {
        if redis
            .store
            .delete(key)
            .map_err(|e| format!("cannot delete {key}: {}", e.report()))?
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// How long `key` has left: whole seconds (rounded as Redis' `TTL`
/// rounds), or `no expiry`.
pub fn ttl(redis: &Redis, key: &str) -> Result<String, String> {
    match redis
        .store
        .ttl(key)
        .map_err(|e| format!("cannot read the TTL of {key}: {}", e.report()))?
    {
        KeyTtl::Missing => Err(format!("no such key: {key}")),
        KeyTtl::Persistent => Ok("no expiry".into()),
        KeyTtl::Expires(left) => Ok(seconds(left).to_string()),
        other => Err(format!("unexpected TTL for {key}: {other:?}")),
    }
}

/// Whole seconds, rounded to the nearest as Redis' `TTL` does.
pub fn seconds(duration: Duration) -> u64 {
    (duration + Duration::from_millis(500)).as_secs()
}
