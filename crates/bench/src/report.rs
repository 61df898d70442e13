//! What a run found, and its outputs: `results.json`, `results.md`,
//! `bench.svg`, and (with `--publish`) `BENCHMARKS.md` and `docs/bench.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::attribute::AttributeHits;
use crate::chart::{BarGroup, RatioRow, thousands};
use crate::codecs::CodecFigures;
use crate::coherence::{Coherence, WINDOW_GOAL};
use crate::keys::KeyCost;
use crate::memory::{MemoryHits, variant};
use crate::metrics_cost::{MetricsCost, MetricsCosts};
use crate::outage::Outage;
use crate::remote::{CONCURRENCIES, HitResults, subject};
use crate::sampling::{Latency, Throughput};
use crate::server::ServerLimit;
use crate::stampede::{ProcessStampede, Stampede};
use crate::value::Size;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// memocache over each baseline (see [`Ratios`]).
    pub ratios: Ratios,
    /// Executions of the function under a stampede.
    pub stampede: StampedeResults,
    /// The smallest and largest per-round value of the headline ratios
    /// (how much the interleaved rounds disagree on this noisy machine).
    pub ratio_ranges: BTreeMap<String, [f64; 2]>,
    /// Each goal, its ratio and whether it is met.
    pub targets: Vec<TargetCheck>,
    /// Where and how the run ran.
    pub run: RunInfo,
    /// The benchmark values.
    pub values: Vec<ValueInfo>,
    /// `redis-benchmark`'s GET figure (the server's own limit).
    pub redis_benchmark: Option<ServerLimit>,
    /// Async hit scenarios by value (`"1k"`, `"64k"`).
    pub hits: BTreeMap<String, HitResults>,
    /// Blocking hits by value, then subject.
    pub blocking: BTreeMap<String, BTreeMap<String, Latency>>,
    /// Miss path by value, then subject.
    pub miss: BTreeMap<String, BTreeMap<String, Latency>>,
    /// The Python reference's hits; `None` when it could not run.
    pub python: Option<PythonResults>,
    /// Memory-store hits by value.
    pub memory: BTreeMap<String, MemoryHits>,
    /// In-process hits through the attribute, against `#[cached]` and moka.
    pub attribute: AttributeHits,
    /// What the `metrics` feature costs a hit.
    pub metrics: MetricsCosts,
    /// The mixed workload under rewrites, with and without a local tier.
    pub coherence: Coherence,
    /// A source that fails for part of the run, with fail-safe and without.
    pub fail_safe: Outage,
    /// Codec figures (memocache's, then Python's).
    pub codecs: Vec<CodecFigures>,
    /// Key-building costs.
    pub keys: Vec<KeyCost>,
    /// Sanity counters: memocache's misses during the hit scenarios (should
    /// be 0), failed raw/peer operations (should be 0).
    pub checks: Checks,
    /// Anything the reader should know (what was not measured, and why).
    pub notes: Vec<String>,
}

/// The headline ratios: memocache over the other, all from this run.
/// Latencies and times are lower-is-better; throughputs higher-is-better.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// Hit p50 latency over a raw GET's, concurrency 1, 1 KiB (goal ≤ 1.10).
    pub hit_latency_vs_raw_c1: f64,
    /// The same at p99.
    pub hit_latency_p99_vs_raw_c1: f64,
    /// Hit throughput over a raw GET's, concurrency 1, 1 KiB.
    pub hit_throughput_vs_raw_c1: f64,
    /// The same at concurrency 16.
    pub hit_throughput_vs_raw_c16: f64,
    /// The same at concurrency 64 (goal ≥ 0.90).
    pub hit_throughput_vs_raw_c64: f64,
    /// The smaller of the two below (goal ≥ 1.0).
    pub throughput_vs_cached_crate: f64,
    /// Over the `cached` crate, concurrency 1, 1 KiB.
    pub throughput_vs_cached_crate_c1: f64,
    /// Over the `cached` crate, concurrency 64, 1 KiB.
    pub throughput_vs_cached_crate_c64: f64,
    /// memocache with a MessagePack codec over the `cached` crate (which
    /// stores MessagePack), concurrency 1, 1 KiB: the codec held equal.
    pub same_codec_throughput_vs_cached_crate_c1: f64,
    /// The same at concurrency 64.
    pub same_codec_throughput_vs_cached_crate_c64: f64,
    /// Sequential async hits over the reference's sequential hits, 1 KiB
    /// (goal ≥ 10).
    pub throughput_vs_python_reference: Option<f64>,
    /// Sequential blocking hits over the reference's sequential hits.
    pub throughput_vs_python_reference_blocking: Option<f64>,
    /// memocache's best (concurrency 64) over the reference's best
    /// (sequential or threaded).
    pub throughput_vs_python_reference_best: Option<f64>,
    /// Memory-store hit time over a bare moka get + decode, 1 KiB (goal
    /// ≤ 2).
    pub memory_hit_vs_moka: f64,
    /// Memory-store hit with a local tier over a typed moka get (clone),
    /// 1 KiB (goal ≤ 2).
    pub memory_hit_vs_moka_typed: f64,
    /// Memory-store hit with a local tier over the `cached` crate's
    /// `LruCache` get (clone), 1 KiB (goal ≤ 1.5).
    pub memory_hit_vs_cached_lru: f64,
    /// Blocking hit p50 over a raw blocking GET's, 1 KiB.
    pub blocking_hit_latency_vs_raw_c1: f64,
    /// Hit p50 latency over a raw GET + decode's, concurrency 1, 1 KiB:
    /// memocache's own overhead beyond reading and decoding the bytes.
    pub hit_latency_vs_raw_decode_c1: f64,
    /// Hit throughput over a raw GET + decode's, concurrency 64, 1 KiB.
    pub hit_throughput_vs_raw_decode_c64: f64,
    /// memocache over fred: hit p50 latency over a raw redis-rs GET's, c1.
    pub fred_hit_latency_vs_raw_c1: Option<f64>,
    /// memocache over fred: hit throughput over a raw GET's, concurrency 1.
    pub fred_hit_throughput_vs_raw_c1: Option<f64>,
    /// memocache over fred: hit throughput over a raw GET's, concurrency 64.
    pub fred_hit_throughput_vs_raw_c64: Option<f64>,
    /// A hit on the local tier (tracked `RedisStore`): p50 latency over a
    /// raw GET's, concurrency 1, 1 KiB (goal ≤ 0.05).
    pub tier_hit_latency_vs_raw_c1: f64,
    /// A hit on the local tier: throughput over a raw GET's, concurrency
    /// 64, 1 KiB (goal ≥ 10).
    pub tier_hit_throughput_vs_raw_c64: f64,
    /// A store hit with fail-safe and refresh-ahead on (`call_owned`) over
    /// a plain one: p50 latency, concurrency 1, 1 KiB (goal ≤ 1.05).
    pub hit_with_fail_safe_vs_plain: f64,
    /// The same for a local-tier hit (goal ≤ 1.05).
    pub tier_hit_with_fail_safe_vs_plain: f64,
    /// Local-tier hit throughput over the `cached` crate's with its
    /// client-side caching on, the lower of concurrency 1 and 64, 1 KiB
    /// (goal ≥ 1).
    pub tier_throughput_vs_cached_client_side: f64,
}

/// Stampede outcomes.
#[derive(Debug, Clone, Serialize)]
pub struct StampedeResults {
    /// Executions with memocache's async path (goal 1).
    pub memocache_executions: usize,
    /// Executions with memocache's blocking path.
    pub memocache_blocking_executions: usize,
    /// Executions with the reference (`None` when it could not run).
    pub reference_executions: Option<usize>,
    /// The async stampede in full.
    pub memocache: Stampede,
    /// The blocking stampede in full.
    pub memocache_blocking: Stampede,
    /// The reference's stampede in full.
    pub reference: Option<Stampede>,
    /// Many processes on a cold key, with `distributed_lock` and without.
    pub processes: ProcessStampede,
}

/// One goal of the brief.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is measured.
    pub name: String,
    /// The measured figure.
    pub measured: Option<f64>,
    /// The smallest and largest per-round figure, where there are rounds.
    pub range: Option<[f64; 2]>,
    /// The goal, e.g. `"<= 1.10"`.
    pub goal: String,
    /// Whether it is met (`None`: not measured).
    pub met: Option<bool>,
}

/// Where and how the run ran.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// `--quick` or full.
    pub quick: bool,
    /// Interleaved rounds per comparison.
    pub rounds: usize,
    /// Seconds per throughput batch.
    pub batch_seconds: f64,
    /// When it started (UTC).
    pub started: String,
    /// How long it took.
    pub seconds: f64,
    /// Whether the server was started by the run (else `REDIS_URL`'s).
    pub own_server: bool,
    /// Logical CPUs.
    pub nproc: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The server's `redis_version`.
    pub redis: String,
    /// The reference's Python.
    pub python: Option<String>,
}

/// One benchmark value.
#[derive(Debug, Clone, Serialize)]
pub struct ValueInfo {
    /// `"1k"` or `"64k"`.
    pub value: String,
    /// Its Python JSON length.
    pub json_bytes: usize,
    /// Its stored length (JSON + zlib).
    pub stored_bytes: usize,
}

/// The reference's hits against memocache's, round by round.
#[derive(Debug, Clone, Serialize)]
pub struct PythonResults {
    /// The reference's sequential hits (all rounds' samples pooled, one
    /// process per round).
    pub sequential: Latency,
    /// The reference's sequential ops/s per round.
    pub sequential_rounds: Vec<f64>,
    /// The reference's hits from several threads, ops/s (median of rounds).
    pub threaded_ops_per_sec: f64,
    /// How many threads.
    pub threads: usize,
    /// memocache's sequential async hits in the same rounds.
    pub memocache_async_rounds: Vec<f64>,
    /// memocache's sequential blocking hits in the same rounds.
    pub memocache_blocking_rounds: Vec<f64>,
    /// Whether the reference computed memocache's key.
    pub same_key: bool,
    /// Times the reference ran the function (0: it read memocache's
    /// entries).
    pub executions: u64,
}

/// Sanity counters.
#[derive(Debug, Clone, Serialize)]
pub struct Checks {
    /// memocache misses during the async hit scenarios.
    pub memocache_misses_during_hits: u64,
    /// memocache blocking misses during the blocking hit scenarios.
    pub memocache_blocking_misses_during_hits: u64,
    /// memocache store errors and timeouts over the run.
    pub memocache_store_errors: u64,
    /// Failed raw or peer operations.
    pub raw_and_peer_errors: u64,
    /// Whether the reference writes memocache's JSON text and reads its
    /// stored bytes, for every value.
    pub python_reads_memocache_bytes: Option<bool>,
}

/// The goal for a hit's cost with metrics: at most 1.02× without a
/// recorder, 1.10× with Prometheus's.
fn metrics_check(name: &str, cost: &MetricsCost, prometheus: bool) -> TargetCheck {
    let (measured, range, goal) = if prometheus {
        (cost.prometheus_vs_off, cost.prometheus_vs_off_range, 1.10)
    } else {
        (cost.noop_vs_off, cost.noop_vs_off_range, 1.02)
    };
    TargetCheck {
        name: name.to_owned(),
        measured: Some(measured),
        range,
        goal: format!("<= {goal}"),
        met: Some(measured <= goal),
    }
}

impl Results {
    /// The goals of the brief against this run.
    pub fn target_checks(
        ratios: &Ratios,
        ranges: &BTreeMap<String, [f64; 2]>,
        stampede: &StampedeResults,
        coherence: &Coherence,
        outage: &Outage,
        metrics: &MetricsCosts,
        attribute: &AttributeHits,
    ) -> Vec<TargetCheck> {
        let check =
            |name: &str, key: &str, measured: Option<f64>, goal: f64, lower: bool| TargetCheck {
                name: name.to_owned(),
                measured,
                range: ranges.get(key).copied(),
                goal: format!("{} {goal}", if lower { "<=" } else { ">=" }),
                met: measured.map(|m| if lower { m <= goal } else { m >= goal }),
            };
        vec![
            check(
                "hit latency vs raw GET, c1, 1 KiB (p50)",
                "hit_latency_vs_raw_c1",
                Some(ratios.hit_latency_vs_raw_c1),
                1.10,
                true,
            ),
            check(
                "hit throughput vs raw GET, c64, 1 KiB",
                "hit_throughput_vs_raw_c64",
                Some(ratios.hit_throughput_vs_raw_c64),
                0.90,
                false,
            ),
            check(
                "throughput vs cached crate (min of c1, c64)",
                "throughput_vs_cached_crate",
                Some(ratios.throughput_vs_cached_crate),
                1.0,
                false,
            ),
            check(
                "throughput vs Python reference (sequential)",
                "throughput_vs_python_reference",
                ratios.throughput_vs_python_reference,
                10.0,
                false,
            ),
            check(
                "local tier hit latency vs raw GET, c1, 1 KiB (p50)",
                "tier_hit_latency_vs_raw_c1",
                Some(ratios.tier_hit_latency_vs_raw_c1),
                0.05,
                true,
            ),
            check(
                "local tier hit throughput vs raw GET, c64, 1 KiB",
                "tier_hit_throughput_vs_raw_c64",
                Some(ratios.tier_hit_throughput_vs_raw_c64),
                10.0,
                false,
            ),
            check(
                "local tier vs cached crate with client-side caching (min of c1, c64)",
                "tier_throughput_vs_cached_client_side",
                Some(ratios.tier_throughput_vs_cached_client_side),
                1.0,
                false,
            ),
            check(
                "memory-store hit vs moka get + decode",
                "memory_hit_vs_moka",
                Some(ratios.memory_hit_vs_moka),
                2.0,
                true,
            ),
            check(
                "memory-store hit, local tier, vs typed moka get",
                "memory_hit_vs_moka_typed",
                Some(ratios.memory_hit_vs_moka_typed),
                2.0,
                true,
            ),
            check(
                "memory-store hit, local tier, vs cached's LruCache",
                "memory_hit_vs_cached_lru",
                Some(ratios.memory_hit_vs_cached_lru),
                1.5,
                true,
            ),
            check(
                "#[cache_wrapper] on MemoryStore::new() vs #[cached], 9-byte String",
                "attribute_hit_vs_cached_macro_small",
                Some(attribute.attribute_hit_vs_cached_macro_small),
                3.0,
                true,
            ),
            check(
                "#[cache_wrapper] on MemoryStore::new() vs #[cached], 1 KiB",
                "attribute_hit_vs_cached_macro_1k",
                Some(attribute.attribute_hit_vs_cached_macro_1k),
                1.5,
                true,
            ),
            check(
                "tier hit of an Arc<T> (attribute) vs typed moka get of the Arc<T>",
                "tier_hit_arc_vs_moka_typed_arc",
                Some(attribute.tier_hit_arc_vs_moka_typed_arc),
                1.5,
                true,
            ),
            check(
                "invalidation window p99 (ms)",
                "coherence.window_ms_p99",
                Some(coherence.window_ms_p99),
                5.0,
                true,
            ),
            check(
                "invalidation window max (ms)",
                "coherence.window_ms_max",
                Some(coherence.window_ms_max),
                50.0,
                true,
            ),
            check(
                "store hit with fail-safe + refresh-ahead vs plain (p50, c1)",
                "hit_with_fail_safe_vs_plain",
                Some(ratios.hit_with_fail_safe_vs_plain),
                1.05,
                true,
            ),
            check(
                "tier hit with fail-safe + refresh-ahead vs plain (p50, c1)",
                "tier_hit_with_fail_safe_vs_plain",
                Some(ratios.tier_hit_with_fail_safe_vs_plain),
                1.05,
                true,
            ),
            TargetCheck {
                name: format!("stale reads after {WINDOW_GOAL:?}"),
                measured: Some(coherence.stale_after_window as f64),
                range: None,
                goal: "== 0".to_owned(),
                met: Some(coherence.stale_after_window == 0),
            },
            TargetCheck {
                name: "errors reaching callers in a source outage, fail-safe on".to_owned(),
                measured: Some(outage.fail_safe.errors as f64),
                range: None,
                goal: "== 0".to_owned(),
                met: Some(outage.fail_safe.errors == 0),
            },
            TargetCheck {
                name: "stampede executions, 1,000 callers".to_owned(),
                measured: Some(stampede.memocache_executions as f64),
                range: None,
                goal: "== 1".to_owned(),
                met: Some(stampede.memocache_executions == 1),
            },
            metrics_check(
                "tier hit, metrics on without a recorder / off",
                &metrics.tier,
                false,
            ),
            metrics_check(
                "tier hit, metrics with a Prometheus recorder / off",
                &metrics.tier,
                true,
            ),
            metrics_check(
                "memory-store hit, metrics on without a recorder / off",
                &metrics.memory_store,
                false,
            ),
            metrics_check(
                "memory-store hit, metrics with a Prometheus recorder / off",
                &metrics.memory_store,
                true,
            ),
            TargetCheck {
                name: format!(
                    "stampede executions per cold key, {} processes × {} callers, distributed_lock",
                    stampede.processes.processes, stampede.processes.callers_per_process
                ),
                measured: Some(stampede.processes.distributed_executions),
                range: None,
                goal: "== 1 in every round".to_owned(),
                met: Some(stampede.processes.distributed_executions_max == 1),
            },
        ]
    }

    /// The chart's ratio rows.
    pub fn ratio_rows(&self) -> Vec<RatioRow> {
        let r = &self.ratios;
        let mut rows = vec![
            row(
                "hit latency vs raw GET (c1)",
                r.hit_latency_vs_raw_c1,
                1.10,
                true,
            ),
            row(
                "hit throughput vs raw GET (c64)",
                r.hit_throughput_vs_raw_c64,
                0.90,
                false,
            ),
            row(
                "overhead: latency vs GET+decode (c1)",
                r.hit_latency_vs_raw_decode_c1,
                1.10,
                true,
            ),
            row(
                "overhead: tput vs GET+decode (c64)",
                r.hit_throughput_vs_raw_decode_c64,
                0.90,
                false,
            ),
            row(
                "vs cached crate (c1)",
                r.throughput_vs_cached_crate_c1,
                1.0,
                false,
            ),
            row(
                "vs cached crate (c64)",
                r.throughput_vs_cached_crate_c64,
                1.0,
                false,
            ),
        ];
        if let Some(python) = r.throughput_vs_python_reference {
            rows.push(row("vs Python reference (sequential)", python, 10.0, false));
        }
        if let Some(best) = r.throughput_vs_python_reference_best {
            rows.push(row("vs Python reference (best of each)", best, 10.0, false));
        }
        rows.push(row(
            "memory hit vs moka get + decode",
            r.memory_hit_vs_moka,
            2.0,
            true,
        ));
        rows.push(row(
            "tier hit vs typed moka get",
            r.memory_hit_vs_moka_typed,
            2.0,
            true,
        ));
        rows.push(row(
            "tier hit vs cached LruCache",
            r.memory_hit_vs_cached_lru,
            1.5,
            true,
        ));
        rows
    }

    /// The chart's throughput groups (1 KiB).
    pub fn throughput_groups(&self) -> Vec<BarGroup> {
        let Some(hits) = self.hits.get("1k") else {
            return Vec::new();
        };
        let mut groups: Vec<BarGroup> = CONCURRENCIES
            .iter()
            .map(|c| {
                let label = format!("c{c}");
                let bars = hits
                    .throughput
                    .get(&label)
                    .map(|by_subject| {
                        ordered(by_subject)
                            .into_iter()
                            .filter(|(name, _)| *name != subject::HOT_KEY)
                            .map(|(name, t)| (name.to_owned(), t.ops_per_sec))
                            .collect()
                    })
                    .unwrap_or_default();
                BarGroup {
                    label: format!("concurrency {c}"),
                    bars,
                }
            })
            .collect();
        if let Some(python) = &self.python {
            groups.push(BarGroup {
                label: "Python reference".to_owned(),
                bars: vec![
                    (
                        "dtpyfw sequential".to_owned(),
                        python.sequential.ops_per_sec,
                    ),
                    (
                        format!("dtpyfw {} threads", python.threads),
                        python.threaded_ops_per_sec,
                    ),
                ],
            });
        }
        groups
    }

    /// Where the Redis targets' gaps come from, in this run's figures: what
    /// decoding the value costs any reader of these bytes, what memocache
    /// adds on top of a raw GET and decode, and the same comparisons
    /// against the peers with the codec held equal or each at its best.
    fn explain_gaps(&self, md: &mut String) {
        let Some(hits) = self.hits.get(Size::Small.label()) else {
            return;
        };
        let p50 = |name: &str| hits.latency_c1.get(name).map(|l| l.p50_us);
        md.push_str("\n### Where the gaps come from (1 KiB value)\n\n");
        if let (Some(raw), Some(decoded), Some(memo)) = (
            p50(subject::RAW),
            p50(subject::RAW_DECODE),
            p50(subject::MEMOCACHE),
        ) {
            let share = (decoded - raw) / raw;
            let _ = writeln!(
                md,
                "- **Decoding** the reference's format (zlib, then JSON into the struct) takes \
                 {:.1} µs of a hit at concurrency 1, {:.0}% of a raw GET's {:.1} µs{}. memocache \
                 adds {:.1} µs to a raw GET and decode (key building, single-flight, breaker, \
                 timeout), {:.2}× its latency.",
                decoded - raw,
                share * 100.0,
                raw,
                if share > 0.10 {
                    ": by itself more than the 10% the latency target allows over a GET that \
                     does not decode"
                } else {
                    ""
                },
                memo - decoded,
                memo / decoded
            );
        }
        if let Some(over_raw) = throughput_ratio(hits, subject::RAW_DECODE, subject::RAW, 64) {
            let _ = writeln!(
                md,
                "- **At concurrency 64** the client's CPU is the limit, and decoding alone holds \
                 a raw GET to {over_raw:.2}× its throughput; memocache reaches {:.2}× a raw GET \
                 and decode.",
                self.ratios.hit_throughput_vs_raw_decode_c64
            );
        }
        let _ = writeln!(
            md,
            "- **The `cached` crate** stores uncompressed MessagePack and builds its key with \
             `format!`, with no hashing; memocache's default stores what Python reads. With a \
             MessagePack codec memocache's throughput over `cached`'s is {:.2} at c1 and {:.2} \
             at c64.",
            self.ratios.same_codec_throughput_vs_cached_crate_c1,
            self.ratios.same_codec_throughput_vs_cached_crate_c64
        );
        if let (Some(python), Some(best)) = (
            &self.python,
            self.ratios.throughput_vs_python_reference_best,
        ) {
            let sequential = python.sequential.p50_us;
            let _ = writeln!(
                md,
                "- **The Python reference** spends {sequential:.0} µs on a sequential hit, so \
                 10× its sequential throughput asks for a hit in {:.1} µs; a raw GET and decode \
                 alone take {}. Each at its best concurrency (memocache at c64, dtpyfw \
                 sequential or with {} threads, whichever is faster) memocache does {best:.1}× \
                 its throughput.",
                sequential / 10.0,
                p50(subject::RAW_DECODE).map_or("n/a".to_owned(), |l| format!("{l:.1} µs")),
                python.threads,
            );
        }
    }

    /// The Markdown tables.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let run = &self.run;
        let _ = writeln!(
            md,
            "Run {} ({}, {} interleaved rounds, {:.1} s batches, {:.0} s in all) on {} × {}, {}, Redis {}{}.\n",
            run.started,
            if run.quick { "`--quick`" } else { "full" },
            run.rounds,
            run.batch_seconds,
            run.seconds,
            run.nproc,
            run.cpu,
            run.rustc,
            run.redis,
            if run.own_server {
                " (its own server)"
            } else {
                " (REDIS_URL)"
            }
        );

        md.push_str("### Targets\n\n| goal | measured | rounds' range | target | met |\n|---|---:|---:|---:|:---:|\n");
        for t in &self.targets {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                t.name,
                t.measured.map_or("n/a".to_owned(), |m| format!("{m:.2}")),
                t.range
                    .map_or(String::new(), |[lo, hi]| format!("{lo:.2} – {hi:.2}")),
                t.goal,
                match t.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "n/a",
                }
            );
        }

        self.explain_gaps(&mut md);

        for value in &self.values {
            let Some(hits) = self.hits.get(&value.value) else {
                continue;
            };
            let _ = writeln!(
                md,
                "\n### Redis hits, {} value ({} B JSON, {} B stored)\n",
                value.value, value.json_bytes, value.stored_bytes
            );
            md.push_str("| subject | p50 µs (c1) | p99 µs (c1) |");
            for c in CONCURRENCIES {
                let _ = write!(md, " ops/s c{c} |");
            }
            md.push_str(" vs raw c1 | vs raw c64 | vs raw + decode c64 |\n|---|---:|---:|");
            for _ in CONCURRENCIES {
                md.push_str("---:|");
            }
            md.push_str("---:|---:|---:|\n");
            let mut names: Vec<&str> = ordered(&hits.latency_c1)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            names.push(subject::HOT_KEY);
            for name in names {
                let latency = hits.latency_c1.get(name);
                let _ = write!(
                    md,
                    "| {name} | {} | {} |",
                    latency.map_or("".into(), |l| format!("{:.1}", l.p50_us)),
                    latency.map_or("".into(), |l| format!("{:.1}", l.p99_us))
                );
                for c in CONCURRENCIES {
                    let t = hits
                        .throughput
                        .get(&format!("c{c}"))
                        .and_then(|t| t.get(name));
                    let _ = write!(
                        md,
                        " {} |",
                        t.map_or("".into(), |t| thousands(t.ops_per_sec))
                    );
                }
                for (c, over) in [
                    (1, subject::RAW),
                    (64, subject::RAW),
                    (64, subject::RAW_DECODE),
                ] {
                    let ratio = throughput_ratio(hits, name, over, c)
                        .map_or(String::new(), |r| format!("{r:.2}"));
                    let _ = write!(md, " {ratio} |");
                }
                md.push('\n');
            }
        }
        if let Some(server) = &self.redis_benchmark {
            let _ = writeln!(
                md,
                "\nServer limit: `{}`: {} GET/s (50 connections, one request in flight each); \
                 with `-P 64` (pipelined, as a multiplexed connection sends): {} GET/s.",
                server.command,
                thousands(server.get_ops_per_sec),
                server
                    .pipelined_get_ops_per_sec
                    .map_or("n/a".to_owned(), thousands)
            );
        }

        md.push_str("\n### Blocking hits and the miss path (concurrency 1)\n\n| value | subject | p50 µs | p99 µs | ops/s |\n|---|---|---:|---:|---:|\n");
        for (value, table) in self.blocking.iter().chain(&self.miss) {
            for (name, l) in table {
                let _ = writeln!(
                    md,
                    "| {value} | {name} | {:.1} | {:.1} | {} |",
                    l.p50_us,
                    l.p99_us,
                    thousands(l.ops_per_sec)
                );
            }
        }

        if let Some(py) = &self.python {
            let _ = writeln!(
                md,
                "\n### The Python reference (dtpyfw `cache_function`, 1 KiB, same server and key)\n\n\
                 | subject | ops/s | p50 µs | p99 µs |\n|---|---:|---:|---:|\n\
                 | dtpyfw, sequential | {} | {:.1} | {:.1} |\n\
                 | dtpyfw, {} threads | {} | | |\n\
                 | memocache async, sequential (same rounds) | {} | | |\n\
                 | memocache blocking, sequential (same rounds) | {} | | |\n\n\
                 The reference computed memocache's key: {}; it ran the function {} times (0: every hit read the entry memocache wrote).",
                thousands(py.sequential.ops_per_sec),
                py.sequential.p50_us,
                py.sequential.p99_us,
                py.threads,
                thousands(py.threaded_ops_per_sec),
                thousands(crate::sampling::median(&py.memocache_async_rounds)),
                thousands(crate::sampling::median(&py.memocache_blocking_rounds)),
                if py.same_key { "yes" } else { "**no**" },
                py.executions
            );
        }

        md.push_str("\n### In-memory store hits (ns per hit, `call_blocking` over `MemoryStore`)\n\n| value | memocache | moka get + decode | ratio | decode alone | args + key |");
        for name in [
            variant::NO_SINGLE_FLIGHT,
            variant::NO_BREAKER,
            variant::NEITHER,
        ] {
            let _ = write!(md, " memocache {name} |");
        }
        md.push_str("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (value, m) in &self.memory {
            let _ = write!(
                md,
                "| {value} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} |",
                m.memocache_ns, m.moka_get_decode_ns, m.ratio, m.decode_only_ns, m.args_and_key_ns
            );
            for name in [
                variant::NO_SINGLE_FLIGHT,
                variant::NO_BREAKER,
                variant::NEITHER,
            ] {
                let _ = write!(
                    md,
                    " {} |",
                    m.variants
                        .get(name)
                        .map_or(String::new(), |v| format!("{v:.0}"))
                );
            }
            md.push('\n');
        }
        md.push_str(
            "\n### In-memory hits with a local tier (ns per hit; each clones the decoded value)\n\n\
             | value | memocache, local tier | moka typed get | vs moka | cached `LruCache` | vs `LruCache` |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
        for (value, m) in &self.memory {
            let _ = writeln!(
                md,
                "| {value} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
                m.tier_ns,
                m.moka_typed_ns,
                m.tier_vs_moka_typed,
                m.cached_lru_ns,
                m.tier_vs_cached_lru
            );
        }

        let c = &self.coherence;
        let _ = write!(
            md,
            "\n### Mixed workload: Zipf(1.0) over {} keys, {} callers, 1 % of the keys rewritten per second\n\n\
             | | ops/s |\n|---|---:|\n| without a local tier | {} |\n| with a local tier (tracked) | {} |\n\n\
             {} writes; invalidation window (writer's reply to a call served the new value): p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms; {} of {} reads older than a write settled for {WINDOW_GOAL:?}.\n",
            c.keys,
            c.callers,
            thousands(c.ops_per_sec_without_tier),
            thousands(c.ops_per_sec_with_tier),
            c.writes,
            c.window_ms_p50,
            c.window_ms_p99,
            c.window_ms_max,
            c.stale_after_window,
            c.reads_checked
        );

        let o = &self.fail_safe;
        let _ = write!(
            md,
            "\n### A source that fails for {:.0} s of {:.0} s: 32 callers over 100 keys, entries living 1 s\n\n\
             | | calls | errors | source calls | while failing | stale served |\n|---|---:|---:|---:|---:|---:|\n\
             | fail-safe (60 s, throttle 30 s) | {} | {} | {} | {} | {} |\n\
             | without fail-safe | {} | {} | {} | {} | {} |\n",
            o.failing_seconds,
            o.seconds,
            thousands(o.fail_safe.calls as f64),
            o.fail_safe.errors,
            o.fail_safe.source_calls,
            o.fail_safe.source_calls_failing,
            o.fail_safe.stale_served,
            thousands(o.without_fail_safe.calls as f64),
            o.without_fail_safe.errors,
            o.without_fail_safe.source_calls,
            o.without_fail_safe.source_calls_failing,
            o.without_fail_safe.stale_served,
        );

        md.push_str("\n### Codecs (MB/s of JSON text)\n\n| value | codec | stored B | encode MB/s | decode MB/s |\n|---|---|---:|---:|---:|\n");
        for c in &self.codecs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.0} |",
                c.value, c.codec, c.stored_bytes, c.encode_mb_per_sec, c.decode_mb_per_sec
            );
        }

        md.push_str("\n### Key building (ns per key)\n\n| call | hasher | args + key | key from ready args |\n|---|---|---:|---:|\n");
        for k in &self.keys {
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.0} |",
                k.call, k.hasher, k.args_and_key_ns, k.key_only_ns
            );
        }

        let s = &self.stampede;
        let _ = writeln!(
            md,
            "\n### Stampede: {} concurrent callers on a cold key\n\n| who | executions of the function |\n|---|---:|\n\
             | memocache async (`call`) | {} |\n| memocache blocking (`call_blocking`, threads) | {} |\n| dtpyfw `cache_function` (threads) | {} |",
            s.memocache.callers,
            s.memocache_executions,
            s.memocache_blocking_executions,
            s.reference_executions
                .map_or("n/a".to_owned(), |e| e.to_string())
        );

        let p = &s.processes;
        let _ = writeln!(
            md,
            "\n### Stampede across processes: {} processes × {} callers on a cold key, {} rounds\n\n             | | executions per key (mean, max) | a waiting process's callers: added over the computation, p50 / p99 |\n|---|---:|---:|\n             | `distributed_lock(30 s)` | {:.2}, {} | {:.1} / {:.1} ms |\n\
             | the same, stores tracking changes under a local tier | {:.2} | {:.1} / {:.1} ms |\n\
             | without (single-flight per process) | {:.2} | |",
            p.processes,
            p.callers_per_process,
            p.rounds,
            p.distributed_executions,
            p.distributed_executions_max,
            p.waiter_added_ms_p50,
            p.waiter_added_ms_p99,
            p.tracked_executions,
            p.tracked_waiter_added_ms_p50,
            p.tracked_waiter_added_ms_p99,
            p.executions_without_lock
        );

        if !self.notes.is_empty() {
            md.push_str("\nNotes:\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }
}

fn row(label: &str, ratio: f64, goal: f64, lower_is_better: bool) -> RatioRow {
    RatioRow {
        label: label.to_owned(),
        ratio,
        goal,
        lower_is_better,
    }
}

/// The subjects of a table in reading order: the baseline, memocache,
/// then the peers.
fn ordered<T>(by_subject: &BTreeMap<String, T>) -> Vec<(&str, &T)> {
    const ORDER: [&str; 7] = [
        subject::RAW,
        subject::RAW_DECODE,
        subject::MEMOCACHE,
        subject::FRED,
        subject::MSGPACK,
        subject::CACHED,
        subject::HOT_KEY,
    ];
    let mut rows: Vec<(&str, &T)> = by_subject.iter().map(|(k, v)| (k.as_str(), v)).collect();
    rows.sort_by_key(|(name, _)| ORDER.iter().position(|o| o == name).unwrap_or(ORDER.len()));
    rows
}

/// The paired ratio of `name` over the raw GET at concurrency `c`.
pub fn throughput_ratio(hits: &HitResults, name: &str, over: &str, c: usize) -> Option<f64> {
    let table = hits.throughput.get(&format!("c{c}"))?;
    let (subject, baseline): (&Throughput, &Throughput) = (table.get(name)?, table.get(over)?);
    Some(crate::sampling::paired_ratio(
        &subject.rounds,
        &baseline.rounds,
    ))
}

/// The page `BENCHMARKS.md`: the machine, how to run, the tables.
pub fn benchmarks_page(results: &Results, tables: &str) -> String {
    let run = &results.run;
    format!(
        "# Benchmarks\n\n\
         Produced by `crates/bench` (`cargo run --release -p memocache-bench -- [--quick] [--out DIR] [--publish]`);\n\
         the figures below are its latest `--publish` run. Every comparison is measured in one run,\n\
         on one server, with the same value bytes, the baseline and the subjects interleaved round by\n\
         round; ratios are memocache over the other (times: lower is better; throughputs: higher).\n\n\
         ![hit throughput and ratios](docs/bench.svg)\n\n\
         ## Machine\n\n\
         | | |\n|---|---|\n\
         | CPUs (nproc) | {} |\n| CPU | {} |\n| rustc | {} |\n| Redis | {} ({}) |\n| Python | {} |\n\n\
         The machine is shared and noisy: read the ratios, not the absolute figures.\n\n\
         ## How it measures\n\n\
         - **Floor**: a raw redis-rs `GET` of the very key and bytes memocache hits, over a\n  \
           `ConnectionManager` with `RedisStore`'s settings; memocache's hit adds building the\n  \
           arguments and key (SHA-256), the store call, and decoding (zlib + JSON).\n\
         - **Floor with decoding** (`raw GET + decode`): the same GET followed by the same\n  \
           codec's decode, which any reader of these bytes must do; memocache over it is\n  \
           memocache's own overhead (key, single-flight, breaker, timeout, counters).\n\
         - **Codec control** (`memocache, MessagePack codec`): memocache with uncompressed\n  \
           MessagePack (rmp-serde, named fields), the kind of format the `cached` crate stores.\n\
         - **fred**: memocache over `FredStore` with its defaults (one multiplexed connection,\n  \
           as `RedisStore` has).\n\
         - **Concurrency N**: N tokio tasks (2 worker threads) share one multiplexed connection,\n  \
           each on a key of its own (so single-flight cannot merge reads; the \"one hot key\" row\n  \
           shows what merging does).\n\
         - **Peer**: the `cached` crate's `AsyncRedisCache` behind `#[concurrent_cached]` (its\n  \
           current name for `#[io_cached]`), on a `ConnectionManager`, same function and value\n  \
           (it stores MessagePack, its own format).\n\
         - **Reference**: dtpyfw's `cache_function` in CPython, reading the entries memocache\n  \
           wrote (same key, same bytes), sequential and threaded; one process per round,\n  \
           interleaved with memocache's sequential hits.\n\
         - **Latency**: per-call samples of all rounds pooled; **throughput**: the median of the\n  \
           rounds; throughput ratios: the median of per-round ratios.\n\n\
         ## Results\n\n{tables}",
        run.nproc,
        run.cpu,
        run.rustc,
        run.redis,
        if run.own_server {
            "a redis-server the run starts on a free port"
        } else {
            "REDIS_URL"
        },
        run.python.as_deref().unwrap_or("not run"),
    )
}
