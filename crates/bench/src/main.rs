//! memocache's benchmark harness: one command that measures, in one run on
//! one Redis server with the same values, memocache's hit and miss paths
//! against a raw redis-rs GET, the `cached` crate, and the Python reference
//! it is byte-compatible with, plus the in-memory store, codecs, key
//! building and stampede protection; and writes `results.json`,
//! `results.md` and `bench.svg`.
//!
//! ```text
//! cargo run --release -p memocache-bench -- [--quick] [--out DIR] [--publish]
//! ```
//!
//! It starts its own `redis-server` on a free port unless `REDIS_URL` is
//! set. `--publish` also writes `BENCHMARKS.md` and `docs/bench.svg` at the
//! workspace root.

mod attribute;
mod chart;
mod codecs;
mod coherence;
mod keys;
mod memory;
mod metrics_cost;
mod outage;
mod peer;
mod reference;
mod remote;
mod report;
mod sampling;
mod schedule;
mod server;
mod stampede;
mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use memocache::codec::Codec as _;

use crate::reference::Reference;
use crate::remote::{Remote, subject};
use crate::report::{
    Checks, PythonResults, Ratios, Results, RunInfo, StampedeResults, ValueInfo, throughput_ratio,
};
use crate::sampling::{
    Latency, async_throughput, blocking_latency, median, paired_ratio, ratio_range,
};
use crate::schedule::Schedule;
use crate::server::Target;
use crate::stampede::Stampede;
use crate::value::{Order, Size, python_json};

/// Threads of the reference's threaded hits (its pool holds 10
/// connections).
const PYTHON_THREADS: usize = 8;

/// The command line.
struct Options {
    quick: bool,
    out: PathBuf,
    publish: bool,
    in_process: bool,
}

fn options() -> Options {
    let mut options = Options {
        quick: false,
        out: PathBuf::from("bench-results"),
        publish: false,
        in_process: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--publish" => options.publish = true,
            "--in-process" => options.in_process = true,
            "--out" => {
                options.out =
                    PathBuf::from(args.next().unwrap_or_else(|| usage("--out needs a DIR")))
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    options
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    eprintln!(
        "usage: memocache-bench [--quick] [--out DIR] [--publish] [--in-process]\n\
         \x20 --quick    a short run (a few minutes on 2 cores)\n\
         \x20 --in-process  only the in-process hits (memory store, attribute), printed; writes nothing\n\
         \x20 --out DIR  where to write results.json, results.md, bench.svg (default bench-results)\n\
         \x20 --publish  also write BENCHMARKS.md and docs/bench.svg at the workspace root\n\
         Uses its own redis-server on a free port unless REDIS_URL is set."
    );
    std::process::exit(if problem.is_empty() { 0 } else { 2 })
}

/// The workspace root (this crate lives in `crates/bench`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/bench sits two levels below the workspace root")
        .to_path_buf()
}

fn main() {
    // Hits alone, for an instruction count (see `metrics_cost::hits_only`).
    if let Ok(spec) = std::env::var("MEMOCACHE_BENCH_METRICS_HITS") {
        metrics_cost::hits_only(&spec);
        return;
    }
    // Attribute hits alone, for a profile (see `attribute::hits_only`).
    if let Ok(spec) = std::env::var("MEMOCACHE_BENCH_ATTRIBUTE_HITS") {
        attribute::hits_only(&spec);
        return;
    }
    // A process of the cross-process stampede, started by the bench itself.
    if let Ok(url) = std::env::var(stampede::CHILD) {
        stampede::child(&url);
        return;
    }
    let options = options();
    let schedule = Schedule::new(options.quick);
    if options.in_process {
        for size in Size::ALL {
            eprintln!("{size:?}: {:#?}", memory::hits(size, &schedule));
        }
        eprintln!("{:#?}", attribute::hits(&schedule));
        return;
    }
    let started_at = Instant::now();
    let started = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    std::fs::create_dir_all(&options.out).expect("cannot create the output directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let target = Target::start();
    let url = target.url().to_owned();
    eprintln!(
        "memocache-bench ({}) on {}",
        if options.quick { "quick" } else { "full" },
        if target.is_own() {
            format!("its own redis-server at {url}")
        } else {
            "REDIS_URL".to_owned()
        }
    );
    let remote = runtime.block_on(Remote::connect(&url));
    // One remote subject's hits alone, for a profile: `SUBJECT:SECONDS`.
    if let Ok(spec) = std::env::var("MEMOCACHE_BENCH_REMOTE_HITS") {
        let (subject, seconds) = spec.split_once(':').expect("SUBJECT:SECONDS");
        runtime.block_on(remote.seed(Size::Small));
        let seconds = seconds.parse().expect("SECONDS, a count");
        let rate = runtime.block_on(remote.profile(subject, seconds));
        eprintln!("{subject}: {rate:.0} hits/s at 64 callers");
        return;
    }
    let mut notes = Vec::new();
    if let Some(why) = remote.fred_missing() {
        notes.push(format!("memocache over fred: not measured ({why})."));
    }

    // The values, stored under every caller's key.
    let mut values = Vec::new();
    for size in Size::ALL {
        let stored_bytes = runtime.block_on(remote.seed(size));
        values.push(ValueInfo {
            value: size.label().to_owned(),
            json_bytes: python_json(&Order::new(size)).len(),
            stored_bytes,
        });
    }
    eprintln!("values: {values:?}");

    eprintln!("redis-benchmark ...");
    let redis_benchmark =
        target.redis_benchmark(values[0].stored_bytes, schedule.redis_benchmark_requests);

    let mut hits = BTreeMap::new();
    let misses_before = remote.memocache_stats().misses;
    for size in Size::ALL {
        eprintln!("async hits, {} ...", size.label());
        let result = runtime.block_on(remote.hits(size, &schedule));
        print_hits(size, &result);
        hits.insert(size.label().to_owned(), result);
    }
    let memocache_misses_during_hits = remote.memocache_stats().misses - misses_before;

    let mut blocking = BTreeMap::new();
    let blocking_misses_before = remote.blocking_stats().misses;
    for size in Size::ALL {
        eprintln!("blocking hits, {} ...", size.label());
        let result = remote.blocking_hits(size, &schedule);
        print_latencies(&result);
        blocking.insert(size.label().to_owned(), result);
    }
    let blocking_misses = remote.blocking_stats().misses - blocking_misses_before;

    let mut miss = BTreeMap::new();
    for size in Size::ALL {
        eprintln!("miss path, {} ...", size.label());
        let result = runtime.block_on(remote.misses(size, &schedule));
        print_latencies(&result);
        miss.insert(size.label().to_owned(), result);
    }

    eprintln!("the Python reference ...");
    let reference = Reference::find_or_install(&url);
    let python = match &reference {
        Ok(reference) => match python_hits(reference, &remote, &runtime, &schedule) {
            Ok(python) => Some(python),
            Err(e) => {
                notes.push(format!("Python reference hits: not measured ({e})."));
                None
            }
        },
        Err(e) => {
            notes.push(format!("Python reference: not measured ({e})."));
            None
        }
    };

    eprintln!("in-memory store ...");
    let memory: BTreeMap<String, memory::MemoryHits> = Size::ALL
        .iter()
        .map(|&size| (size.label().to_owned(), memory::hits(size, &schedule)))
        .collect();
    eprintln!("{memory:#?}");

    eprintln!("hits through the attribute ...");
    let attribute = attribute::hits(&schedule);
    eprintln!("{attribute:#?}");

    eprintln!("what the metrics feature costs a hit ...");
    let metrics = metrics_cost::measure(&schedule);
    eprintln!("{metrics:#?}");

    eprintln!("codecs ...");
    let mut codec_rows = codecs::figures(&schedule);
    let mut python_reads_memocache_bytes = None;
    if let Ok(reference) = &reference {
        match python_codecs(reference, &schedule) {
            Ok((rows, compatible)) => {
                codec_rows.extend(rows);
                python_reads_memocache_bytes = Some(compatible);
            }
            Err(e) => notes.push(format!("Python codec timings: not measured ({e}).")),
        }
    }

    eprintln!("key building ...");
    let key_costs = keys::costs(&schedule);

    eprintln!("stampedes ...");
    let memocache_stampede =
        runtime.block_on(stampede::async_callers(&url, schedule.stampede_callers));
    let blocking_stampede = stampede::blocking_callers(&url, schedule.stampede_callers);
    let reference_stampede = match &reference {
        Ok(reference) => match python_stampede(reference, schedule.stampede_callers) {
            Ok(s) => Some(s),
            Err(e) => {
                notes.push(format!("Python stampede: not measured ({e})."));
                None
            }
        },
        Err(_) => None,
    };
    eprintln!(
        "stampede executions: memocache {}, memocache blocking {}, reference {:?}",
        memocache_stampede.executions,
        blocking_stampede.executions,
        reference_stampede.map(|s| s.executions)
    );
    eprintln!("a stampede across processes ...");
    let across_processes = stampede::processes(&url, schedule.stampede_rounds);
    eprintln!("{across_processes:#?}");

    eprintln!("mixed workload under rewrites ...");
    let coherence = runtime.block_on(coherence::measure(&url, schedule.coherence_phase));
    eprintln!("{coherence:#?}");

    eprintln!("a source outage, with fail-safe and without ...");
    let fail_safe = runtime.block_on(outage::measure(&url, schedule.outage_phase));
    eprintln!("{fail_safe:#?}");

    let (ratios, mut ratio_ranges) = ratios(&hits, &blocking, python.as_ref(), &memory);
    ratio_ranges.extend(attribute.ranges.clone());
    let stampede = StampedeResults {
        memocache_executions: memocache_stampede.executions,
        memocache_blocking_executions: blocking_stampede.executions,
        reference_executions: reference_stampede.map(|s| s.executions),
        memocache: memocache_stampede,
        memocache_blocking: blocking_stampede,
        reference: reference_stampede,
        processes: across_processes,
    };
    let stats = remote.memocache_stats();
    let checks = Checks {
        memocache_misses_during_hits,
        memocache_blocking_misses_during_hits: blocking_misses,
        memocache_store_errors: stats.store_errors + stats.timeouts,
        raw_and_peer_errors: remote.errors(),
        python_reads_memocache_bytes,
    };
    let results = Results {
        targets: Results::target_checks(
            &ratios,
            &ratio_ranges,
            &stampede,
            &coherence,
            &fail_safe,
            &metrics,
            &attribute,
        ),
        ratios,
        ratio_ranges,
        stampede,
        run: RunInfo {
            quick: options.quick,
            rounds: schedule.rounds,
            batch_seconds: schedule.batch.as_secs_f64(),
            started,
            seconds: started_at.elapsed().as_secs_f64(),
            own_server: target.is_own(),
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu: cpu_model(),
            rustc: command_output("rustc", &["--version"]),
            redis: runtime.block_on(redis_version(&url)),
            python: python_version(reference.as_ref().ok()),
        },
        values,
        redis_benchmark,
        hits,
        blocking,
        miss,
        python,
        memory,
        attribute,
        metrics,
        coherence,
        fail_safe,
        codecs: codec_rows,
        keys: key_costs,
        checks,
        notes,
    };
    write_outputs(&results, &options);
}

/// Sequential reference hits against memocache's, round by round.
fn python_hits(
    reference: &Reference,
    remote: &Remote,
    runtime: &tokio::runtime::Runtime,
    schedule: &Schedule,
) -> Result<PythonResults, String> {
    let size = Size::Small;
    let value_file =
        std::env::temp_dir().join(format!("memocache-bench-{}.json", std::process::id()));
    std::fs::write(&value_file, python_json(&Order::new(size))).map_err(|e| e.to_string())?;
    let memo_key = remote.memocache_key(size);
    let async_op = remote.memocache_hit_op(size);
    let mut blocking_op = remote.memocache_blocking_op(size);
    let mut samples = Vec::new();
    let (mut py_rounds, mut threaded, mut async_rounds, mut blocking_rounds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut same_key, mut executions, mut p99s) = (true, 0, Vec::new());
    for round in 0..schedule.python_rounds {
        let python_first = round % 2 == 0;
        let mut run_memocache = |async_rounds: &mut Vec<f64>, blocking_rounds: &mut Vec<f64>| {
            async_rounds.push(runtime.block_on(async_throughput(&async_op, 1, schedule.batch)));
            let latency = Latency::from_nanos(blocking_latency(
                &mut blocking_op,
                schedule.latency_samples(size),
            ));
            blocking_rounds.push(latency.ops_per_sec);
        };
        if !python_first {
            run_memocache(&mut async_rounds, &mut blocking_rounds);
        }
        let out = reference.run(
            "hits",
            &[
                remote::NAMESPACE.to_owned(),
                size.label().to_owned(),
                schedule.python_hits.to_string(),
                PYTHON_THREADS.to_string(),
                value_file.display().to_string(),
            ],
        )?;
        if python_first {
            run_memocache(&mut async_rounds, &mut blocking_rounds);
        }
        let number = |field: &str| out[field].as_f64().unwrap_or(f64::NAN);
        py_rounds.push(number("ops_per_sec"));
        threaded.push(number("threaded_ops_per_sec"));
        p99s.push(number("p99_us"));
        samples.push((number("p50_us"), number("mean_us"), number("samples")));
        same_key &= out["key"].as_str() == Some(memo_key.as_str());
        executions += out["executions"].as_u64().unwrap_or(0);
    }
    let _ = std::fs::remove_file(&value_file);
    let total: f64 = samples.iter().map(|s| s.2).sum();
    let mean_us = samples.iter().map(|s| s.1 * s.2).sum::<f64>() / total;
    Ok(PythonResults {
        sequential: Latency {
            p50_us: median(&samples.iter().map(|s| s.0).collect::<Vec<_>>()),
            p99_us: median(&p99s),
            mean_us,
            ops_per_sec: median(&py_rounds),
            samples: total as usize,
            round_p50_us: samples.iter().map(|s| s.0).collect(),
        },
        sequential_rounds: py_rounds,
        threaded_ops_per_sec: median(&threaded),
        threads: PYTHON_THREADS,
        memocache_async_rounds: async_rounds,
        memocache_blocking_rounds: blocking_rounds,
        same_key,
        executions,
    })
}

/// The reference's codec on the same values; answers its rows and whether
/// it writes memocache's JSON text and reads memocache's bytes.
fn python_codecs(
    reference: &Reference,
    schedule: &Schedule,
) -> Result<(Vec<codecs::CodecFigures>, bool), String> {
    let dir = std::env::temp_dir();
    let mut files = Vec::new();
    for size in Size::ALL {
        let order = Order::new(size);
        let base = dir.join(format!(
            "memocache-bench-{}-{}",
            std::process::id(),
            size.label()
        ));
        let (json, stored) = (base.with_extension("json"), base.with_extension("zlib"));
        std::fs::write(&json, python_json(&order)).map_err(|e| e.to_string())?;
        let bytes = memocache::codec::JsonZlib::default()
            .encode(&order)
            .map_err(|e| e.to_string())?;
        std::fs::write(&stored, bytes).map_err(|e| e.to_string())?;
        files.push(json.display().to_string());
        files.push(stored.display().to_string());
    }
    let mut args = vec![schedule.local_batch.as_secs_f64().to_string()];
    args.extend(files.iter().cloned());
    let out = reference.run("codec", &args);
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
    let out = out?;
    let rows = out.as_array().ok_or("the codec result is not a list")?;
    let mut figures = Vec::new();
    let mut compatible = true;
    for (row, size) in rows.iter().zip(Size::ALL) {
        let number = |field: &str| row[field].as_f64().unwrap_or(f64::NAN);
        compatible &= row["json_identical"].as_bool() == Some(true)
            && row["reads_memocache_bytes"].as_bool() == Some(true);
        figures.push(codecs::CodecFigures {
            codec: "python json+zlib (dtpyfw)".to_owned(),
            value: size.label(),
            json_bytes: number("json_bytes") as usize,
            stored_bytes: number("stored_bytes") as usize,
            encode_mb_per_sec: number("encode_mb_per_sec"),
            decode_mb_per_sec: number("decode_mb_per_sec"),
        });
    }
    Ok((figures, compatible))
}

/// The reference's threads on a cold key.
fn python_stampede(reference: &Reference, callers: usize) -> Result<Stampede, String> {
    let out = reference.run(
        "stampede",
        &[
            "bench:stampede:python".to_owned(),
            callers.to_string(),
            stampede::FUNCTION_TIME.as_secs_f64().to_string(),
        ],
    )?;
    let count = |field: &str| out[field].as_u64().unwrap_or(0) as usize;
    Ok(Stampede {
        callers: count("callers"),
        executions: count("executions"),
        correct: count("correct"),
    })
}

/// The headline ratios from the measured figures, and the per-round
/// ranges of those with rounds.
fn ratios(
    hits: &BTreeMap<String, remote::HitResults>,
    blocking: &BTreeMap<String, BTreeMap<String, Latency>>,
    python: Option<&PythonResults>,
    memory: &BTreeMap<String, memory::MemoryHits>,
) -> (Ratios, BTreeMap<String, [f64; 2]>) {
    let small = &hits["1k"];
    let latency = |name: &str| small.latency_c1.get(name).cloned();
    let (memo, raw) = (
        latency(subject::MEMOCACHE).expect("memocache latency"),
        latency(subject::RAW).expect("raw latency"),
    );
    let vs = |name: &str, over: &str, c: usize| throughput_ratio(small, name, over, c);
    let vs_cached_c1 = vs(subject::MEMOCACHE, subject::CACHED, 1).unwrap_or(f64::NAN);
    let vs_cached_c64 = vs(subject::MEMOCACHE, subject::CACHED, 64).unwrap_or(f64::NAN);
    let small_blocking = &blocking["1k"];
    let best_memocache = small
        .throughput
        .get("c64")
        .and_then(|t| t.get(subject::MEMOCACHE))
        .map_or(f64::NAN, |t| t.ops_per_sec);
    let rounds = |name: &str, c: usize| {
        small
            .throughput
            .get(&format!("c{c}"))
            .and_then(|t| t.get(name))
            .map_or_else(Vec::new, |t| t.rounds.clone())
    };
    let per_round =
        |s: &[f64], b: &[f64]| -> Vec<f64> { s.iter().zip(b).map(|(s, b)| s / b).collect() };
    let vs_cached_min: Vec<f64> =
        per_round(&rounds(subject::MEMOCACHE, 1), &rounds(subject::CACHED, 1))
            .into_iter()
            .zip(per_round(
                &rounds(subject::MEMOCACHE, 64),
                &rounds(subject::CACHED, 64),
            ))
            .map(|(a, b)| a.min(b))
            .collect();
    let mut ranges = BTreeMap::new();
    let mut range = |name: &str, range: Option<[f64; 2]>| {
        if let Some(range) = range {
            ranges.insert(name.to_owned(), range);
        }
    };
    range(
        "hit_latency_vs_raw_c1",
        ratio_range(&memo.round_p50_us, &raw.round_p50_us),
    );
    range(
        "hit_throughput_vs_raw_c64",
        ratio_range(&rounds(subject::MEMOCACHE, 64), &rounds(subject::RAW, 64)),
    );
    range(
        "throughput_vs_cached_crate",
        ratio_range(&vs_cached_min, &vec![1.0; vs_cached_min.len()]),
    );
    if let Some(p) = python {
        range(
            "throughput_vs_python_reference",
            ratio_range(&p.memocache_async_rounds, &p.sequential_rounds),
        );
    }
    let p50_rounds = |name: &str| latency(name).map_or_else(Vec::new, |l| l.round_p50_us);
    range(
        "hit_with_fail_safe_vs_plain",
        ratio_range(
            &p50_rounds(subject::FAIL_SAFE),
            &p50_rounds(subject::MEMOCACHE),
        ),
    );
    range(
        "tier_hit_with_fail_safe_vs_plain",
        ratio_range(
            &p50_rounds(subject::TIER_FAIL_SAFE),
            &p50_rounds(subject::TIER),
        ),
    );
    range(
        "memory_hit_vs_moka",
        ratio_range(&memory["1k"].memocache_rounds, &memory["1k"].moka_rounds),
    );
    range(
        "memory_hit_vs_moka_typed",
        ratio_range(&memory["1k"].tier_rounds, &memory["1k"].moka_typed_rounds),
    );
    range(
        "memory_hit_vs_cached_lru",
        ratio_range(&memory["1k"].tier_rounds, &memory["1k"].cached_lru_rounds),
    );
    let ratios = Ratios {
        hit_latency_vs_raw_c1: memo.p50_us / raw.p50_us,
        hit_latency_p99_vs_raw_c1: memo.p99_us / raw.p99_us,
        hit_throughput_vs_raw_c1: vs(subject::MEMOCACHE, subject::RAW, 1).unwrap_or(f64::NAN),
        hit_throughput_vs_raw_c16: vs(subject::MEMOCACHE, subject::RAW, 16).unwrap_or(f64::NAN),
        hit_throughput_vs_raw_c64: vs(subject::MEMOCACHE, subject::RAW, 64).unwrap_or(f64::NAN),
        throughput_vs_cached_crate: vs_cached_c1.min(vs_cached_c64),
        throughput_vs_cached_crate_c1: vs_cached_c1,
        throughput_vs_cached_crate_c64: vs_cached_c64,
        same_codec_throughput_vs_cached_crate_c1: vs(subject::MSGPACK, subject::CACHED, 1)
            .unwrap_or(f64::NAN),
        same_codec_throughput_vs_cached_crate_c64: vs(subject::MSGPACK, subject::CACHED, 64)
            .unwrap_or(f64::NAN),
        throughput_vs_python_reference: python
            .map(|p| paired_ratio(&p.memocache_async_rounds, &p.sequential_rounds)),
        throughput_vs_python_reference_blocking: python
            .map(|p| paired_ratio(&p.memocache_blocking_rounds, &p.sequential_rounds)),
        throughput_vs_python_reference_best: python
            .map(|p| best_memocache / p.sequential.ops_per_sec.max(p.threaded_ops_per_sec)),
        memory_hit_vs_moka: memory["1k"].ratio,
        memory_hit_vs_moka_typed: memory["1k"].tier_vs_moka_typed,
        memory_hit_vs_cached_lru: memory["1k"].tier_vs_cached_lru,
        blocking_hit_latency_vs_raw_c1: small_blocking[subject::MEMOCACHE_BLOCKING].p50_us
            / small_blocking[subject::RAW_SYNC].p50_us,
        hit_latency_vs_raw_decode_c1: memo.p50_us
            / latency(subject::RAW_DECODE).map_or(f64::NAN, |l| l.p50_us),
        hit_throughput_vs_raw_decode_c64: vs(subject::MEMOCACHE, subject::RAW_DECODE, 64)
            .unwrap_or(f64::NAN),
        fred_hit_latency_vs_raw_c1: latency(subject::FRED).map(|l| l.p50_us / raw.p50_us),
        fred_hit_throughput_vs_raw_c1: vs(subject::FRED, subject::RAW, 1),
        fred_hit_throughput_vs_raw_c64: vs(subject::FRED, subject::RAW, 64),
        tier_hit_latency_vs_raw_c1: latency(subject::TIER).map_or(f64::NAN, |l| l.p50_us)
            / raw.p50_us,
        tier_hit_throughput_vs_raw_c64: vs(subject::TIER, subject::RAW, 64).unwrap_or(f64::NAN),
        hit_with_fail_safe_vs_plain: latency(subject::FAIL_SAFE).map_or(f64::NAN, |l| l.p50_us)
            / memo.p50_us,
        tier_hit_with_fail_safe_vs_plain: latency(subject::TIER_FAIL_SAFE)
            .map_or(f64::NAN, |l| l.p50_us)
            / latency(subject::TIER).map_or(f64::NAN, |l| l.p50_us),
        tier_throughput_vs_cached_client_side: [1, 64]
            .into_iter()
            .map(|c| vs(subject::TIER, subject::CACHED_CLIENT_SIDE, c).unwrap_or(f64::NAN))
            .fold(f64::INFINITY, f64::min),
    };
    (ratios, ranges)
}

fn write_outputs(results: &Results, options: &Options) {
    let json = serde_json::to_string_pretty(results).expect("results serialize");
    let tables = results.markdown();
    let subtitle = format!(
        "{} × {}, {}, Redis {}; {} run, ratios from interleaved rounds",
        results.run.nproc,
        results.run.cpu,
        results.run.rustc,
        results.run.redis,
        if results.run.quick { "--quick" } else { "full" }
    );
    let svg = chart::render(
        "memocache: hits over Redis",
        &subtitle,
        &results.throughput_groups(),
        &results.ratio_rows(),
    );
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
    };
    write(&options.out.join("results.json"), &json);
    write(
        &options.out.join("results.md"),
        &format!("# memocache benchmark results\n\n{tables}"),
    );
    write(&options.out.join("bench.svg"), &svg);
    if options.publish {
        let root = workspace_root();
        std::fs::create_dir_all(root.join("docs")).expect("cannot create docs/");
        write(&root.join("docs").join("bench.svg"), &svg);
        write(
            &root.join("BENCHMARKS.md"),
            &report::benchmarks_page(results, &tables),
        );
    }
    println!("{tables}");
}

fn print_hits(size: Size, hits: &remote::HitResults) {
    for (name, l) in &hits.latency_c1 {
        eprintln!(
            "  {} {name}: p50 {:.1} µs, p99 {:.1} µs",
            size.label(),
            l.p50_us,
            l.p99_us
        );
    }
    for (c, by_subject) in &hits.throughput {
        for (name, t) in by_subject {
            eprintln!("  {} {c} {name}: {:.0} ops/s", size.label(), t.ops_per_sec);
        }
    }
}

fn print_latencies(table: &BTreeMap<String, Latency>) {
    for (name, l) in table {
        eprintln!(
            "  {name}: p50 {:.1} µs, p99 {:.1} µs, {:.0} ops/s",
            l.p50_us, l.p99_us, l.ops_per_sec
        );
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |out| String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

async fn redis_version(url: &str) -> String {
    let client = memocache::redis::redis_rs::Client::open(url).expect("a valid url");
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return "unknown".to_owned();
    };
    let info: String = memocache::redis::redis_rs::cmd("INFO")
        .arg("server")
        .query_async(&mut connection)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned())
}

fn python_version(reference: Option<&Reference>) -> Option<String> {
    reference?
        .run("version", &[])
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}
