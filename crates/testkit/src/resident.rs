//! Resident memory under a flood of distinct calls, read from the kernel
//! (`VmRSS`): what a byte bound is checked against. A check using it must
//! be alone in its test binary, so that no other test's allocations are
//! counted.

use memocache_core::{Args, BlockingStore, Memoizer};

/// This process's resident memory, in bytes.
///
/// # Panics
///
/// Where `/proc/self/status` cannot be read (not Linux).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// Runs `calls` distinct calls of small values through `memo`, each twice
/// (a miss, then a store hit, which a local tier keeps), checking every
/// answer; answers the most the process grew by while they ran, sampled
/// every thousand calls.
pub fn flood_peak_growth<S: BlockingStore + 'static>(memo: &Memoizer<S>, calls: u64) -> u64 {
    let base = resident_bytes();
    let mut peak = 0;
    for i in 0..calls {
        for _ in 0..2 {
            let value: String =
                memo.call_blocking(&Args::new().arg(&i), || format!("value {i:>40}"));
            assert_eq!(value, format!("value {i:>40}"));
        }
        if i % 1_000 == 0 {
            peak = peak.max(resident_bytes().saturating_sub(base));
        }
    }
    peak.max(resident_bytes().saturating_sub(base))
}

/// Prints the growth against `bound` and fails if it is more than 1.25 ×
/// the bound, or if the flood never filled it (`entries` held at the end,
/// of `calls` distinct ones).
pub fn assert_within_bound(what: &str, peak: u64, bound: u64, entries: u64, calls: u64) {
    let ratio = peak as f64 / bound as f64;
    println!(
        "{what}: {calls} distinct calls under a {} MiB bound grew the process by {:.1} MiB \
         ({ratio:.2} x the bound), {entries} entries held at the end",
        bound >> 20,
        peak as f64 / f64::from(1 << 20),
    );
    assert!(entries > 0, "{what} kept nothing");
    assert!(
        entries < calls,
        "{what} never evicted: the flood did not fill the bound"
    );
    assert!(ratio <= 1.25, "{what} grew to {ratio:.2} x its bound");
}
