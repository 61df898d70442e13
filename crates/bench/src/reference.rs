//! The reference itself: `dtpyfw.redis.caching` in the virtualenv
//! `memocache_testkit::python` installs (at `target/py-reference`, where
//! `tests/vectors/generate.py` puts it too), timed by a Python script on
//! the same server and values.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// What the script prints before each result line (JSON).
const MARK: &str = "MEMOCACHE-BENCH-RESULT ";

/// The timing script. Modes:
/// - `hits NS SIZE N THREADS VALUE_FILE`: N sequential `cache_function`
///   hits on `f(order_id=0, size=SIZE)` (a key memocache wrote), then N
///   hits spread over THREADS threads (each on its own key);
/// - `codec SECONDS JSON_FILE STORED_FILE ...`: the reference's own
///   `_encode_result` and `_decode_cached_value` on each value, and whether
///   its JSON text and stored bytes equal memocache's;
/// - `stampede NS CALLERS SLEEP`: CALLERS threads released together on a
///   cold key, counting executions of the function;
/// - `version`: the interpreter's version.
const SCRIPT: &str = r#"
import json, math, os, sys, threading, time, zlib
from dtpyfw.core.jsonable_encoder import jsonable_encoder
from dtpyfw.redis.caching import (
    _cache_key_generator, _decode_cached_value, _encode_result, cache_function,
)
from dtpyfw.redis.config import RedisConfig
from dtpyfw.redis.connection import RedisInstance

MARK = "MEMOCACHE-BENCH-RESULT "
REDIS = RedisInstance(RedisConfig().set_redis_url(os.environ["BENCH_REDIS_URL"]))


def emit(obj):
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


def percentile(sorted_ns, p):
    rank = max(1, math.ceil(p / 100 * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1]


def time_boxed(seconds, batch, op):
    calls = 0
    start = time.perf_counter_ns()
    while True:
        for _ in range(batch):
            op()
        calls += batch
        elapsed = time.perf_counter_ns() - start
        if elapsed >= seconds * 1e9:
            return elapsed / calls


def hits(ns, size, n, threads, value_file):
    with open(value_file, "rb") as f:
        value = json.loads(f.read())
    executions = [0]

    def fetch_order(order_id, size):
        executions[0] += 1
        return value

    def hit(order_id):
        return cache_function(fetch_order, REDIS, ns, order_id=order_id, size=size)

    for _ in range(max(100, n // 10)):
        hit(0)
    assert hit(0) == value
    samples = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        hit(0)
        samples.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - start
    samples.sort()

    per_thread = max(1, n // threads)
    barrier = threading.Barrier(threads + 1)

    def worker(i):
        barrier.wait()
        for _ in range(per_thread):
            hit(i)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    threaded = per_thread * threads / (time.perf_counter() - t0)
    emit({
        "key": _cache_key_generator(ns, (), {"order_id": 0, "size": size}, set()),
        "executions": executions[0],
        "ops_per_sec": n / elapsed,
        "p50_us": percentile(samples, 50) / 1e3,
        "p99_us": percentile(samples, 99) / 1e3,
        "mean_us": sum(samples) / len(samples) / 1e3,
        "samples": n,
        "threads": threads,
        "threaded_ops_per_sec": threaded,
        "python": sys.version.split()[0],
    })


def codec(seconds, files):
    rows = []
    for json_file, stored_file in zip(files[0::2], files[1::2]):
        with open(json_file, "rb") as f:
            rust_json = f.read()
        with open(stored_file, "rb") as f:
            rust_stored = f.read()
        value = json.loads(rust_json)
        text = json.dumps(jsonable_encoder(value)).encode("utf-8")
        stored = _encode_result(value)
        batch = 50 if len(text) < 8192 else 2
        encode_ns = time_boxed(seconds, batch, lambda: _encode_result(value))
        decode_ns = time_boxed(seconds, batch, lambda: _decode_cached_value(stored, "bench"))
        rows.append({
            "json_bytes": len(text),
            "stored_bytes": len(stored),
            "encode_mb_per_sec": len(text) / encode_ns * 1e3,
            "decode_mb_per_sec": len(text) / decode_ns * 1e3,
            "json_identical": text == rust_json,
            "stored_identical": stored == rust_stored,
            "reads_memocache_bytes": _decode_cached_value(rust_stored, "bench") == value,
        })
    emit(rows)


def stampede(ns, callers, sleep):
    key = _cache_key_generator(ns, (), {"report": "daily"}, set())
    with REDIS.get_redis() as client:
        client.delete(key)
    lock = threading.Lock()
    executions = [0]
    value = {"report": "daily", "rows": list(range(100))}

    def build_report(report):
        with lock:
            executions[0] += 1
        time.sleep(sleep)
        return value

    barrier = threading.Barrier(callers)
    results = [None] * callers

    def caller(i):
        barrier.wait()
        results[i] = cache_function(build_report, REDIS, ns, report="daily")

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emit({
        "executions": executions[0],
        "callers": callers,
        "correct": sum(1 for r in results if r == value),
    })


mode = sys.argv[1]
if mode == "hits":
    hits(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
elif mode == "codec":
    codec(float(sys.argv[2]), sys.argv[3:])
elif mode == "stampede":
    stampede(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif mode == "version":
    emit(sys.version.split()[0])
else:
    sys.exit("unknown mode " + mode)
"#;

/// The reference's interpreter, ready to run the script.
pub struct Reference {
    python: PathBuf,
    redis_url: String,
}

impl Reference {
    /// The virtualenv at `$MEMOCACHE_PY_REFERENCE`, else the target
    /// directory's `py-reference`, installed there first when missing;
    /// `Err` says why it cannot be used.
    pub fn find_or_install(redis_url: &str) -> Result<Reference, String> {
        let installed = memocache_testkit::python::Reference::install()?;
        Ok(Reference {
            python: installed.python().to_owned(),
            redis_url: redis_url.to_owned(),
        })
    }

    /// Runs the script in `mode` with `args`; answers its result line.
    pub fn run(&self, mode: &str, args: &[String]) -> Result<Value, String> {
        let output = Command::new(&self.python)
            .arg("-c")
            .arg(SCRIPT)
            .arg(mode)
            .args(args)
            .env("BENCH_REDIS_URL", &self.redis_url)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.python.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "the reference script ({mode}) failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let line = stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(MARK))
            .ok_or_else(|| format!("the reference script ({mode}) printed no result"))?;
        serde_json::from_str(line).map_err(|e| format!("unreadable result ({e}): {line}"))
    }
}
