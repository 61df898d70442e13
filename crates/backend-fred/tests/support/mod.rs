//! What several of fred's test files call the same way (each uses what it
//! needs of this).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use memocache_core::{Args, Memoizer};
use memocache_fred::FredStore;
use memocache_testkit::callers::Runs;

/// How long a change report may take to arrive before a check fails.
pub const WINDOW: Duration = Duration::from_secs(5);

/// Two calls with the same arguments, each checked to answer the computed
/// value; answers how often it was computed.
pub async fn runs_of_two_calls(memo: &Memoizer<FredStore>, label: &str) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: String = memo
            .call(&Args::new().arg(&label), || async move {
                r.run(format!("computed {label}"))
            })
            .await;
        assert_eq!(
            value,
            format!("computed {label}"),
            "the computed value was not returned"
        );
    }
    runs.count()
}

/// Calls until the answer is `want` (a call that computes answers
/// "computed"), within [`WINDOW`].
pub async fn served_within(memo: &Memoizer<FredStore>, args: &Args, want: &str) {
    let start = Instant::now();
    loop {
        let got: String = memo.call(args, || async { "computed".to_owned() }).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < WINDOW,
            "still served {got:?} {WINDOW:?} after the change, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
