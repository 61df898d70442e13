//! Metrics (feature `metrics`): what a memoizer reports, read back from a
//! recorder of the test's own, and the Prometheus example scraped over
//! HTTP as an operator's Prometheus would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use memocache::health::BreakerPolicy;
use memocache::metric_names as names;
use memocache::store::{LockAction, LockRequest, Store};
use memocache::testing::FailingStore;
use memocache::{Args, LocalTier, Memoizer, MemoryStore};
use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// What a recorder held at a snapshot (which drains it).
struct Readings(Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>);

impl Readings {
    fn of(snapshotter: &Snapshotter) -> Self {
        Readings(snapshotter.snapshot().into_vec())
    }

    /// The value of the metric `name` with (at least) the labels `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0
            .iter()
            .find(|(key, _, _, _)| {
                let key = key.key();
                key.name() == name
                    && labels.iter().all(|(label, want)| {
                        key.labels()
                            .any(|l| l.key() == *label && l.value() == *want)
                    })
            })
            .map(|(_, _, _, value)| value)
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.value(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }

    fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        match self.value(name, labels) {
            Some(DebugValue::Histogram(samples)) => samples.len(),
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn calls_operations_and_the_tier_are_counted_by_namespace() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = MemoryStore::new();
    let (plain, tiered, quiet) = metrics::with_local_recorder(&recorder, || {
        let plain = Memoizer::builder(store.clone())
            .namespace("metrics:plain")
            .build();
        let tiered = Memoizer::builder(store.clone())
            .namespace("metrics:tiered")
            .local_tier(LocalTier::bytes(1 << 20))
            .build();
        let quiet = Memoizer::builder(store.clone())
            .namespace("metrics:quiet")
            .metrics(false)
            .build();
        (plain, tiered, quiet)
    });
    for n in [1u32, 2, 1, 1] {
        let _: u32 = plain.call(&Args::new().arg(&n), || async move { n }).await;
        let _: u32 = tiered.call(&Args::new().arg(&n), || async move { n }).await;
        let _: u32 = quiet.call(&Args::new().arg(&n), || async move { n }).await;
    }
    // Stats apply the tier's pending inserts, and report its size.
    assert_eq!(tiered.stats().tier.unwrap().entries, 1);
    let readings = Readings::of(&snapshotter);
    let calls =
        |ns, outcome| readings.counter(names::CALLS, &[("namespace", ns), ("outcome", outcome)]);
    assert_eq!(calls("metrics:plain", "miss"), 2);
    assert_eq!(calls("metrics:plain", "hit"), 2);
    // The tier's first read of 1 fills it; the next is a local hit.
    assert_eq!(calls("metrics:tiered", "miss"), 2);
    assert_eq!(calls("metrics:tiered", "hit"), 1);
    assert_eq!(calls("metrics:tiered", "local_hit"), 1);

    let operations = |op| {
        readings.samples(
            names::OPERATION_DURATION,
            &[
                ("namespace", "metrics:plain"),
                ("db.system.name", "memory"),
                ("db.operation.name", op),
            ],
        )
    };
    // Over the memory store a call reads it before joining the key's
    // flight: a miss reads twice (before and in the flight), the first
    // hit once, and the next hit is served the copy the first one was
    // (no read).
    assert_eq!((operations("GET"), operations("SET")), (5, 2));

    let tier = |name| readings.gauge(name, &[("namespace", "metrics:tiered")]);
    assert_eq!(tier(names::TIER_ENTRIES), 1.0);
    assert!(tier(names::TIER_BYTES) > 0.0);
    // A memoizer with metrics off registers nothing.
    let quiet_series = readings
        .0
        .iter()
        .filter(|(key, _, _, _)| key.key().labels().any(|l| l.value() == "metrics:quiet"))
        .count();
    assert_eq!(quiet_series, 0);

    tiered.invalidate(&Args::new().arg(&1u32)).await.unwrap();
    let readings = Readings::of(&snapshotter);
    let invalidations = readings.counter(
        names::TIER_INVALIDATIONS,
        &[("namespace", "metrics:tiered")],
    );
    assert!(invalidations >= 1, "{invalidations}");
}

#[tokio::test]
async fn store_errors_and_the_breaker_are_reported() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let memo = metrics::with_local_recorder(&recorder, || {
        Memoizer::builder(FailingStore::default())
            .namespace("metrics:failing")
            .circuit_breaker(Some(
                BreakerPolicy::new()
                    .failure_threshold(1)
                    .cool_down(Duration::from_secs(3600)),
            ))
            .build()
    });
    for n in 0..3u32 {
        let _: u32 = memo.call(&Args::new().arg(&n), || async move { n }).await;
    }
    let readings = Readings::of(&snapshotter);
    let labels = |kind| [("namespace", "metrics:failing"), ("kind", kind)];
    assert_eq!(readings.counter(names::STORE_ERRORS, &labels("error")), 1);
    assert_eq!(
        readings.counter(names::STORE_ERRORS, &labels("breaker_open")),
        2
    );
    let ns = [("namespace", "metrics:failing")];
    assert_eq!(readings.gauge(names::BREAKER_STATE, &ns), 2.0, "open");
    let to_open = [("namespace", "metrics:failing"), ("to", "open")];
    assert_eq!(readings.counter(names::BREAKER_TRANSITIONS, &to_open), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_waits_are_counted_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = MemoryStore::new();
    let memo = metrics::with_local_recorder(&recorder, || {
        Memoizer::builder(store.clone())
            .namespace("metrics:lock")
            .distributed_lock(Duration::from_secs(600))
            .build()
    });
    let args = Args::new().arg(&1u32);
    let key = memo.key(&args).unwrap();
    // Held by a process that died: the call waits out the lease.
    let dead = LockRequest::new("dead", LockAction::Acquire(Duration::from_millis(100)));
    assert!(Store::lock(&store, &key, &dead).await.unwrap());
    let _: u32 = memo.call(&args, || async { 1 }).await;
    let readings = Readings::of(&snapshotter);
    let ns = [("namespace", "metrics:lock")];
    assert_eq!(readings.counter(names::LOCK_WAITS, &ns), 1);
    assert_eq!(readings.samples(names::LOCK_WAIT_DURATION, &ns), 1);
    let lock_ops = [("namespace", "metrics:lock"), ("db.operation.name", "EVAL")];
    assert!(readings.samples(names::OPERATION_DURATION, &lock_ops) >= 2);
}

/// The example, built by `cargo test` beside this test.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let example = profile.join("examples").join("metrics");
    assert!(
        example.exists(),
        "{} is missing: the whole suite (`cargo test --workspace --all-features`) builds it, \
         or `cargo build --example metrics --features metrics`",
        example.display()
    );
    example
}

#[test]
fn the_prometheus_example_serves_the_calls() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(example())
        .env("METRICS_PORT", port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().map(Result::unwrap);
    let scraped = (ready.as_deref() == Some("ready")).then(|| scrape(port));
    child.kill().unwrap();
    child.wait().unwrap();
    let text = scraped.unwrap_or_else(|| panic!("the example said {ready:?}"));

    let sample = |name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .find(|line| {
                line.starts_with(&format!("{name}{{"))
                    && labels.iter().all(|label| line.contains(label))
            })
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    let ns = "namespace=\"metrics:square\"";
    assert_eq!(
        sample("memocache_calls_total", &[ns, "outcome=\"miss\""]),
        3.0
    );
    assert_eq!(
        sample("memocache_calls_total", &[ns, "outcome=\"hit\""]),
        7.0
    );
    let reads = ["db_operation_name=\"GET\"", "db_system_name=\"memory\"", ns];
    // Each miss reads twice, each first hit of a key once, and later hits
    // are served the copy the first one was.
    assert_eq!(sample("db_client_operation_duration_count", &reads), 9.0);
    let writes = ["db_operation_name=\"SET\"", ns];
    assert_eq!(sample("db_client_operation_duration_count", &writes), 3.0);
}

/// `GET /metrics` on `port`, in HTTP/1.0 (so the body comes whole, not
/// in chunks): the body.
fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the example listens");
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.contains(" 200 "), "{head}");
    body.to_owned()
}
