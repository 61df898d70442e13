//! memocache and the real Python reference (`dtpyfw.redis.caching`,
//! installed by `memocache_testkit::python` into a virtualenv) share one Redis
//! cache: what either side writes, the other reads under the same key as
//! the same value.
//!
//! - Python writes, Rust reads: the reference's `cache_function` and a
//!   `cache_wrapper`-decorated function cache a matrix of calls; memocache
//!   computes the key of each call from typed Rust arguments, finds the
//!   entry there and decodes the same value.
//! - Rust writes, Python hits: a `Memoizer` over `RedisBlockingStore` and
//!   over `RedisStore`, and `#[cache_wrapper]` functions, cache the same
//!   matrix; the reference then answers each call from the cache without
//!   running its function.
//! - Keys: random calls, generated in Python and in Rust, get the same key
//!   on both sides.
//! - Types the reference turns into strings (`datetime`, `date`, `time`,
//!   `UUID`, `Decimal`): Rust passes their `str()` form.
//! - Floats: written as CPython's `repr`, exact ties between two shortest
//!   decimal forms included.

mod support;

// The parts, in tests/interop/ (not test targets of their own).
#[path = "interop/floats.rs"]
mod floats;
#[path = "interop/keys.rs"]
mod keys;
#[path = "interop/matrix.rs"]
mod matrix;
#[path = "interop/str_forms.rs"]
mod str_forms;

use std::io::Read as _;

use memocache::key::{Sha256, cache_key};
use memocache::{Args, RedisConfig};
use memocache_testkit::RedisServer;
use memocache_testkit::python::Reference;
use serde::Serialize;
use support::rng::Rng;

// The plumbing every part shares.

fn server() -> &'static RedisServer {
    RedisServer::shared()
}

fn config() -> RedisConfig {
    RedisConfig::new().url(server().url())
}

/// Runs a reference script against the shared server.
fn python(script: &str, input: &impl Serialize) -> String {
    Reference::get().run(
        &server().url(),
        script,
        &serde_json::to_string(input).unwrap(),
    )
}

/// The raw bytes at `key`, read with redis-rs.
fn raw_get(key: &str) -> Option<Vec<u8>> {
    let client = memocache::redis::redis_rs::Client::open(server().url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    memocache::redis::redis_rs::cmd("GET")
        .arg(key)
        .query(&mut connection)
        .unwrap()
}

/// Waits (up to 30 s) for a background write to land at `key`.
fn wait_for_key(key: &str) {
    for _ in 0..1200 {
        if raw_get(key).is_some() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing was written at {key}");
}

/// An independent inflater (flate2), to look at the JSON text inside.
fn inflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a zlib stream");
    out
}

/// The reference's key for a call (SHA-256, the default).
fn key_of(namespace: &str, args: &Args, skip: &[&str]) -> String {
    let skip: Vec<String> = skip.iter().map(|s| (*s).to_owned()).collect();
    cache_key(namespace, args, &skip, &Sha256).unwrap()
}
