//! What several of fred's test files call the same way (each uses what it
//! needs of this).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use memocache_core::{Args, Memoizer};
use memocache_fred::FredStore;
use memocache_fred::fred::clients::Pool;
use memocache_fred::fred::interfaces::ClientLike;
use memocache_fred::fred::types::config::Config;
use memocache_fred::fred::types::{Builder, ClusterHash, CustomCommand, Value};
use memocache_testkit::callers::Runs;

/// Another process: a store over a fred pool the test keeps, on which it
/// also sends commands no store sends (INFO, CLIENT, ACL, CLUSTER,
/// SENTINEL, FLUSHALL). A store hands out no connection of its own, so the
/// test makes its own and gives it to the store with `from_pool`.
pub struct Peer {
    pool: Pool,
    store: FredStore,
}

impl Peer {
    /// Connects one connection to the server at `url` (a single node, a
    /// cluster's node on its own, or a sentinel).
    pub async fn connect(url: &str) -> Peer {
        let config = Config::from_url(url).expect("a fred url");
        let pool = Builder::from_config(config)
            .build_pool(1)
            .expect("a fred pool");
        pool.init().await.expect("a connection of the test's own");
        let store = FredStore::from_pool(pool.clone());
        Peer { pool, store }
    }

    /// Sends `command args..`, routed by the first argument's slot on a
    /// cluster; panics naming the command when it fails.
    pub async fn command(&self, command: &'static str, args: Vec<Value>) -> Value {
        self.pool
            .custom(
                CustomCommand::new_static(command, ClusterHash::FirstKey, false),
                args,
            )
            .await
            .unwrap_or_else(|e| panic!("{command}: {e}"))
    }
}

impl std::ops::Deref for Peer {
    type Target = FredStore;

    fn deref(&self) -> &FredStore {
        &self.store
    }
}

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
