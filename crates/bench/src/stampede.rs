//! Stampede: many concurrent callers on a cold key, counting how often the
//! function runs (the reference runs it once per caller that missed;
//! memocache's single-flight, once); and many processes of many callers
//! each, with `distributed_lock` and without ([`processes`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use memocache::redis::redis_rs as redis;
use memocache::{Args, LocalTier, Memoizer, RedisBlockingStore, RedisConfig, RedisStore};
use serde::Serialize;

/// How long the stampeding function takes: long enough that every caller
/// arrives while it runs.
pub const FUNCTION_TIME: Duration = Duration::from_millis(100);

/// A stampede's outcome.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stampede {
    /// Concurrent callers released together.
    pub callers: usize,
    /// How many times the function ran.
    pub executions: usize,
    /// Callers that got the right value.
    pub correct: usize,
}

/// The report of a cold key, as every caller gets it.
fn report() -> Vec<u64> {
    (0..100).collect()
}

/// `callers` tokio tasks call `Memoizer::call` over `RedisStore` on one
/// cold key at once.
pub async fn async_callers(url: &str, callers: usize) -> Stampede {
    let store = RedisStore::connect(&RedisConfig::new().url(url))
        .await
        .expect("connect RedisStore");
    let memo = Memoizer::builder(store)
        .namespace("bench:stampede:async")
        .expire_secs(60)
        .build();
    let args = Args::new().kwarg("report", &"daily");
    memo.invalidate(&args).await.expect("clear the key");
    let executions = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (memo, args) = (memo.clone(), args.clone());
            let (executions, start) = (Arc::clone(&executions), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                let rows: Vec<u64> = memo
                    .call(&args, || async {
                        executions.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(FUNCTION_TIME).await;
                        report()
                    })
                    .await;
                rows == report()
            })
        })
        .collect();
    let mut correct = 0;
    for task in tasks {
        correct += usize::from(task.await.expect("a stampede task panicked"));
    }
    memo.flush().await;
    Stampede {
        callers,
        executions: executions.load(Ordering::SeqCst),
        correct,
    }
}

/// `callers` threads call `Memoizer::call_blocking` over
/// `RedisBlockingStore` on one cold key at once, as the reference's
/// threads call `cache_function`.
pub fn blocking_callers(url: &str, callers: usize) -> Stampede {
    let store = RedisBlockingStore::connect(&RedisConfig::new().url(url)).expect("connect");
    let memo = Memoizer::builder(store)
        .namespace("bench:stampede:blocking")
        .expire_secs(60)
        .build();
    let args = Args::new().kwarg("report", &"daily");
    memo.invalidate_blocking(&args).expect("clear the key");
    let executions = AtomicUsize::new(0);
    let start = std::sync::Barrier::new(callers);
    let correct = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let rows: Vec<u64> = memo.call_blocking(&args, || {
                        executions.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(FUNCTION_TIME);
                        report()
                    });
                    rows == report()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| usize::from(t.join().expect("a stampede thread panicked")))
            .sum()
    });
    Stampede {
        callers,
        executions: executions.load(Ordering::SeqCst),
        correct,
    }
}

/// What tells a `memocache-bench` process it is a child of the
/// cross-process stampede ([`processes`]), and which server to use.
pub const CHILD: &str = "MEMOCACHE_BENCH_STAMPEDE_CHILD";

/// The processes of the cross-process stampede.
const PROCESSES: usize = 8;

/// The concurrent callers of each process.
const CALLERS_PER_PROCESS: usize = 16;

/// The cross-process stampede's outcome: [`PROCESSES`] processes of
/// [`CALLERS_PER_PROCESS`] callers each on a cold key per round, the
/// function taking [`FUNCTION_TIME`].
#[derive(Debug, Clone, Serialize)]
pub struct ProcessStampede {
    /// Processes calling at once.
    pub processes: usize,
    /// Callers in each.
    pub callers_per_process: usize,
    /// Rounds, each on a key of its own.
    pub rounds: usize,
    /// Executions per round with `distributed_lock`, the mean.
    pub distributed_executions: f64,
    /// The most executions of one round with it.
    pub distributed_executions_max: usize,
    /// Executions per round without it (single-flight in each process).
    pub executions_without_lock: f64,
    /// What a caller in a process that did not compute waited beyond the
    /// computation, in ms: p50 and p99 over every such caller. These
    /// waiters poll (their stores report no changes).
    pub waiter_added_ms_p50: f64,
    /// See [`waiter_added_ms_p50`](Self::waiter_added_ms_p50).
    pub waiter_added_ms_p99: f64,
    /// Executions per round with `distributed_lock` over stores that
    /// track changes, under a local tier, the mean.
    pub tracked_executions: f64,
    /// The same added wait for those, whose waiters wake at the holder's
    /// write: p50.
    pub tracked_waiter_added_ms_p50: f64,
    /// See [`tracked_waiter_added_ms_p50`](Self::tracked_waiter_added_ms_p50).
    pub tracked_waiter_added_ms_p99: f64,
}

/// How the processes of a round are set up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `distributed_lock`, waiters polling.
    Lock,
    /// `distributed_lock` over stores that track changes, local tiers.
    Tracked,
    /// Single-flight in each process only.
    Unlocked,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Lock, Mode::Tracked, Mode::Unlocked];

    fn name(self) -> &'static str {
        match self {
            Mode::Lock => "lock",
            Mode::Tracked => "tracked",
            Mode::Unlocked => "unlocked",
        }
    }

    fn named(name: &str) -> Mode {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.name() == name)
            .expect("a mode the parent named")
    }
}

/// The counter of a round's executions, on the server.
fn executions_key(mode: Mode, round: usize) -> String {
    format!(
        "bench:stampede:processes:{}:{round}:executions",
        mode.name()
    )
}

/// [`PROCESSES`] copies of this binary, each with [`CALLERS_PER_PROCESS`]
/// callers of one memoized function, call it on a cold key at once,
/// `rounds` times with `distributed_lock` and as many without.
pub fn processes(url: &str, rounds: usize) -> ProcessStampede {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().expect("the bench's own path");
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut child = Command::new(&exe)
                .env(CHILD, url)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a child process");
            let stdin = child.stdin.take().expect("piped");
            let stdout = BufReader::new(child.stdout.take().expect("piped"));
            (child, stdin, stdout.lines())
        })
        .collect();
    let read_line = |lines: &mut std::io::Lines<_>| -> String {
        lines
            .next()
            .expect("a child ended early")
            .expect("a child's line")
    };
    for (_, _, lines) in &mut children {
        assert_eq!(read_line(lines), "ready");
    }
    let client = redis::Client::open(url).expect("the server's url");
    let mut connection = client.get_connection().expect("a connection");
    let mut executions = |mode: Mode, round: usize| -> usize {
        redis::cmd("GET")
            .arg(executions_key(mode, round))
            .query::<Option<usize>>(&mut connection)
            .expect("GET")
            .unwrap_or(0)
    };
    // By mode: each round's executions, and the waiters' added waits.
    let mut ran: [Vec<usize>; 3] = Default::default();
    let mut added_us: [Vec<u64>; 3] = Default::default();
    for mode in Mode::ALL {
        for round in 0..rounds {
            for (_, stdin, _) in &mut children {
                writeln!(stdin, "go {round} {}", mode.name()).expect("a child's stdin");
                stdin.flush().expect("a child's stdin");
            }
            for (_, _, lines) in &mut children {
                let line = read_line(lines);
                let mut words = line.split(' ');
                if words.next() == Some("0") {
                    added_us[mode as usize].extend(words.map(|us| {
                        let us: u64 = us.parse().expect("a latency");
                        us.saturating_sub(FUNCTION_TIME.as_micros() as u64)
                    }));
                }
            }
            ran[mode as usize].push(executions(mode, round));
        }
    }
    for (mut child, stdin, _) in children {
        drop(stdin);
        child.wait().expect("a child process");
    }
    for added in &mut added_us {
        added.sort_unstable();
    }
    let mean = |mode: Mode| {
        let runs = &ran[mode as usize];
        runs.iter().sum::<usize>() as f64 / runs.len().max(1) as f64
    };
    let ms =
        |mode: Mode, p| crate::sampling::percentile(&added_us[mode as usize], p) as f64 / 1000.0;
    ProcessStampede {
        processes: PROCESSES,
        callers_per_process: CALLERS_PER_PROCESS,
        rounds,
        distributed_executions: mean(Mode::Lock),
        distributed_executions_max: [Mode::Lock, Mode::Tracked]
            .iter()
            .flat_map(|&mode| ran[mode as usize].iter().copied())
            .max()
            .unwrap_or(0),
        executions_without_lock: mean(Mode::Unlocked),
        waiter_added_ms_p50: ms(Mode::Lock, 0.50),
        waiter_added_ms_p99: ms(Mode::Lock, 0.99),
        tracked_executions: mean(Mode::Tracked),
        tracked_waiter_added_ms_p50: ms(Mode::Tracked, 0.50),
        tracked_waiter_added_ms_p99: ms(Mode::Tracked, 0.99),
    }
}

/// A child of [`processes`]: says `ready`, then for each `go ROUND MODE`
/// line runs its callers on that round's key and answers whether the
/// function ran here and each caller's latency in µs.
pub fn child(url: &str) {
    use std::io::BufRead;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let connect = |tracking: bool| async move {
            RedisStore::connect(&RedisConfig::new().url(url).client_tracking(tracking))
                .await
                .expect("connect RedisStore")
        };
        let (plain, tracked) = (connect(false).await, connect(true).await);
        let memoizers = Mode::ALL.map(|mode| {
            let store = if mode == Mode::Tracked {
                &tracked
            } else {
                &plain
            };
            let builder = Memoizer::builder(store.clone())
                .namespace(format!("bench:stampede:processes:{}", mode.name()))
                .expire_secs(60);
            match mode {
                Mode::Lock => builder.distributed_lock(Duration::from_secs(30)),
                Mode::Tracked => builder
                    .distributed_lock(Duration::from_secs(30))
                    .local_tier(LocalTier::bytes(16 << 20)),
                Mode::Unlocked => builder,
            }
            .build()
        });
        let counter = redis::Client::open(url)
            .expect("the server's url")
            .get_multiplexed_async_connection()
            .await
            .expect("a connection");
        println!("ready");
        let mut lines = std::io::stdin().lock().lines();
        while let Some(Ok(line)) = lines.next() {
            let mut words = line.split(' ').skip(1);
            let round: usize = words.next().and_then(|w| w.parse().ok()).expect("a round");
            let mode = Mode::named(words.next().expect("a mode"));
            let memo = &memoizers[mode as usize];
            let ran = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(tokio::sync::Barrier::new(CALLERS_PER_PROCESS));
            let callers: Vec<_> = (0..CALLERS_PER_PROCESS)
                .map(|_| {
                    let (memo, ran, start) = (memo.clone(), ran.clone(), start.clone());
                    let mut counter = counter.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        let began = std::time::Instant::now();
                        let rows: Vec<u64> = memo
                            .call(&Args::new().kwarg("round", &round), || async move {
                                ran.fetch_add(1, Ordering::SeqCst);
                                let _: usize = redis::cmd("INCR")
                                    .arg(executions_key(mode, round))
                                    .query_async(&mut counter)
                                    .await
                                    .expect("INCR");
                                tokio::time::sleep(FUNCTION_TIME).await;
                                report()
                            })
                            .await;
                        assert_eq!(rows, report());
                        began.elapsed().as_micros()
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            for caller in callers {
                latencies.push(caller.await.expect("a caller panicked").to_string());
            }
            let ran_here = usize::from(ran.load(Ordering::SeqCst) > 0);
            println!("{ran_here} {}", latencies.join(" "));
        }
    });
}
