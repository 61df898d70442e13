//! Test suites every Redis client backend runs the same way: the store
//! conformance suite of `memocache_core::testing` and the Memoizer
//! behaviour suite of [`behaviour`](crate::behaviour) on a real server,
//! [`faults`] (Redis down, killed, paused, holding garbage; stampedes),
//! [`removals`] in an outage, [`fail_safe`], refresh-ahead and the
//! computation timeouts ([`detached`]), TLS with a custom CA, and ACL
//! users. A backend's test file implements
//! [`Client`] for its stores and expands
//! [`client_suite_tests!`](crate::client_suite_tests) with it, which makes
//! one test of each check. [`fail_over_under_load`] is the cluster
//! failover check both backends run.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memocache_core::testing::BlockingAsAsync;
use memocache_core::{Args, BlockingStore, Error, Memoizer, Result, Store};
use memocache_redis_plumbing::config::RedisConfig;

use crate::callers::{Policy, Runs, Stores};
use crate::load::Load;
use crate::{RedisCluster, RedisServer};

pub mod acl;
pub mod announce;
pub mod detached;
pub mod fail_safe;
pub mod faults;
pub mod health;
pub mod one_store;
pub mod refused;
pub mod removals;
pub mod sentinel;
pub mod tier;
pub mod tls;

/// How a Redis client backend makes its stores from a [`RedisConfig`].
pub trait Client {
    /// The backend's name in [`Error::Backend`], e.g. `"redis"`.
    const BACKEND: &'static str;
    /// Its async store.
    type Async: Store + Clone + Debug + 'static;
    /// Its blocking store.
    type Blocking: BlockingStore + Clone + Debug + Send + 'static;
    /// Whether the client closes a connection that leaves a command
    /// unanswered for the socket timeout (with health checks on, as by
    /// default) and fails the commands on it: a hung server then shows as
    /// store errors as well as timeouts.
    const REPLACES_UNRESPONSIVE_CONNECTIONS: bool;
    /// Whether its stores track changes for a local tier on a cluster too
    /// (else [`RedisConfig::client_tracking`] on a cluster is refused at
    /// connect).
    const TRACKS_CLUSTERS: bool;
    /// Whether its stores were built with TLS (the backend's `tls`
    /// feature); without it, the [`tls`] suite checks that `rediss://` is
    /// refused with the error that names the feature.
    const TLS: bool;
    /// Whether its stores reach the sentinels with TLS settings of their
    /// own (else the data nodes', and other settings are refused at
    /// connect).
    const SENTINEL_TLS_OF_ITS_OWN: bool;

    /// Connects the async store.
    fn connect(config: &RedisConfig) -> impl Future<Output = Result<Self::Async>> + Send;

    /// Builds the async store without connecting.
    fn connect_lazy(config: &RedisConfig) -> Result<Self::Async>;

    /// Connects the blocking store; tests call it outside any runtime.
    fn connect_blocking(config: &RedisConfig) -> Result<Self::Blocking>;

    /// Builds the blocking store without connecting.
    fn connect_blocking_lazy(config: &RedisConfig) -> Result<Self::Blocking>;

    /// The blocking view of an async store: the same connections and
    /// breaker.
    fn blocking(store: &Self::Async) -> Result<Self::Blocking>;
}

/// The arguments of the suites' calls.
fn call_args() -> Args {
    Args::new().arg(&3)
}

/// Two calls with [`call_args`], each checked to return the computed
/// value; answers how often it was computed.
async fn runs_of_two_calls<S: Store + 'static>(memo: &Memoizer<S>) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: Vec<u32> = memo
            .call(&call_args(), || async move { r.run(vec![9, 2]) })
            .await;
        assert_eq!(value, vec![9, 2], "the computed value was not returned");
    }
    runs.count()
}

/// The same as [`runs_of_two_calls`] through the blocking path.
fn runs_of_two_blocking_calls<S: BlockingStore + 'static>(memo: &Memoizer<S>) -> usize {
    let runs = Runs::default();
    for _ in 0..2 {
        let r = runs.clone();
        let value: Vec<u32> = memo.call_blocking(&call_args(), move || r.run(vec![9, 2]));
        assert_eq!(value, vec![9, 2], "the computed value was not returned");
    }
    runs.count()
}

/// Connects `C`'s blocking store from an async test, on a blocking thread.
pub(crate) async fn connect_blocking<C: Client>(config: &RedisConfig) -> Result<C::Blocking> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || C::connect_blocking(&config))
        .await
        .expect("connecting the blocking store panicked")
}

/// A config for the test binary's shared server.
fn shared_config() -> RedisConfig {
    RedisConfig::new().url(RedisServer::shared().url())
}

/// `C`'s async store on the test binary's shared server.
pub async fn shared_store<C: Client>() -> Arc<dyn Store> {
    Arc::new(
        C::connect(&shared_config())
            .await
            .expect("connect the async store"),
    )
}

/// `C`'s blocking store on the test binary's shared server.
pub async fn shared_blocking_store<C: Client>() -> Arc<dyn BlockingStore> {
    Arc::new(
        connect_blocking::<C>(&shared_config())
            .await
            .expect("connect the blocking store"),
    )
}

/// Both of `C`'s stores on the shared server, for the behaviour suite.
pub async fn shared_stores<C: Client>() -> Stores {
    Stores {
        async_store: shared_store::<C>().await,
        blocking_store: Some(shared_blocking_store::<C>().await),
    }
}

/// `C`'s blocking store on the shared server, seen as an async store by
/// the conformance suite.
pub async fn shared_blocking_store_as_async<C: Client>() -> Arc<dyn Store> {
    Arc::new(BlockingAsAsync(shared_blocking_store::<C>().await))
}

/// Asserts that `error` is `backend`'s error (`"redis"`, `"fred"`).
pub fn assert_backend_error(error: &Error, backend: &str) {
    assert!(
        matches!(error, Error::Backend { backend: b, .. } if *b == backend),
        "not a {backend} error: {error:?}"
    );
}

/// Asserts that `error` is `backend`'s error saying it cannot connect to
/// the server on `127.0.0.1:port`.
pub fn assert_cannot_connect(error: &Error, backend: &str, port: u16) {
    assert_backend_error(error, backend);
    let message = error.report().to_string();
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{message}"
    );
}

/// Expands to the tests of every suite (modules `conformance`, `faults`,
/// `removals`, `fail_safe`, `detached`, `health`, `tier`, `one_store`,
/// `announce`, `refused`, `sentinel`, `tls` and `acl`) for a [`Client`]
/// implementation in scope. Needs `memocache-core`,
/// `memocache-redis-plumbing` and `tokio` (with `macros` and
/// `rt-multi-thread`) among the caller's dependencies or
/// dev-dependencies, and installs the test binary's tracing subscriber.
#[macro_export]
macro_rules! client_suite_tests {
    ($client:ty) => {
        mod conformance {
            use super::*;

            mod async_store {
                use super::*;
                memocache_core::store_conformance_tests!(
                    $crate::suites::shared_store::<$client>().await
                );
            }

            mod blocking_store {
                use super::*;
                memocache_core::store_conformance_tests!(
                    $crate::suites::shared_blocking_store_as_async::<$client>().await
                );
            }

            $crate::memoizer_behaviour_tests!(
                $crate::suites::shared_stores::<$client>().await,
                blocking
            );
        }

        mod faults {
            use super::*;
            use $crate::suites::faults as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis_not_running_at_start_costs_function_time_only() {
                suite::redis_not_running_at_start_costs_function_time_only::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis_killed_under_load_then_restarted() {
                suite::redis_killed_under_load_then_restarted::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis_paused_under_load_then_resumed() {
                suite::redis_paused_under_load_then_resumed::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn corrupt_values_in_redis_are_misses_and_get_overwritten() {
                suite::corrupt_values_in_redis_are_misses_and_get_overwritten::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_thousand_callers_on_a_cold_key_run_the_function_once() {
                suite::a_thousand_callers_on_a_cold_key_run_the_function_once::<$client>().await;
            }

            #[test]
            fn the_blocking_path_merges_concurrent_threads_too() {
                suite::the_blocking_path_merges_concurrent_threads_too::<$client>();
            }
        }

        mod removals {
            use super::*;
            use $crate::suites::removals as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_invalidation_in_an_outage_is_made_once_the_server_is_back() {
                suite::an_invalidation_in_an_outage_is_made_once_the_server_is_back::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_blocking_invalidation_in_an_outage_is_made_once_the_server_is_back() {
                suite::a_blocking_invalidation_in_an_outage_is_made_once_the_server_is_back::<
                    $client,
                >()
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_clear_in_an_outage_is_made_once_the_server_is_back() {
                suite::a_clear_in_an_outage_is_made_once_the_server_is_back::<$client>().await;
            }
        }

        mod fail_safe {
            use super::*;
            use $crate::suites::fail_safe as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_source_failing_under_load_serves_the_last_good_values() {
                suite::a_source_failing_under_load_serves_the_last_good_values::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_source_failing_under_blocking_load_serves_the_last_good_values() {
                suite::a_source_failing_under_blocking_load_serves_the_last_good_values::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_process_started_during_the_outage_serves_the_stale_copies() {
                suite::a_process_started_during_the_outage_serves_the_stale_copies::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_blocking_process_started_during_the_outage_serves_the_stale_copies() {
                suite::a_blocking_process_started_during_the_outage_serves_the_stale_copies::<
                    $client,
                >()
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn entries_keep_their_life_and_removals_take_the_stale_copies() {
                suite::entries_keep_their_life_and_removals_take_the_stale_copies::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn blocking_entries_keep_their_life_and_removals_take_the_stale_copies() {
                suite::blocking_entries_keep_their_life_and_removals_take_the_stale_copies::<
                    $client,
                >()
                .await;
            }
        }

        mod detached {
            use super::*;
            use $crate::suites::detached as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn refresh_ahead_under_load_with_a_tier() {
                suite::refresh_ahead_under_load_with_a_tier::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn refresh_ahead_under_load() {
                suite::refresh_ahead_under_load::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refresh_ahead_under_blocking_load_with_a_tier() {
                suite::refresh_ahead_under_blocking_load_with_a_tier::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refresh_ahead_under_blocking_load() {
                suite::refresh_ahead_under_blocking_load::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_invalidation_during_a_refresh_wins() {
                suite::an_invalidation_during_a_refresh_wins::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_blocking_invalidation_during_a_refresh_wins() {
                suite::a_blocking_invalidation_during_a_refresh_wins::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn at_the_soft_timeout_the_stale_copy_in_redis_is_served() {
                suite::at_the_soft_timeout_the_stale_copy_in_redis_is_served::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn at_the_blocking_soft_timeout_the_stale_copy_in_redis_is_served() {
                suite::at_the_blocking_soft_timeout_the_stale_copy_in_redis_is_served::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn at_the_hard_timeout_the_caller_and_its_waiters_are_released() {
                suite::at_the_hard_timeout_the_caller_and_its_waiters_are_released::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn at_the_blocking_hard_timeout_the_caller_and_its_waiters_are_released() {
                suite::at_the_blocking_hard_timeout_the_caller_and_its_waiters_are_released::<
                    $client,
                >()
                .await;
            }
        }

        mod health {
            use super::*;
            use $crate::suites::health as suite;

            #[test]
            fn async_memoizers_share_the_store_health() {
                suite::async_memoizers_share_the_store_health::<$client>();
            }

            #[test]
            fn blocking_memoizers_share_the_store_health() {
                suite::blocking_memoizers_share_the_store_health::<$client>();
            }

            #[test]
            fn a_hung_server_is_a_timeout() {
                suite::a_hung_server_is_a_timeout::<$client>();
            }
        }

        mod tier {
            use super::*;
            use $crate::suites::tier as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn changes_from_elsewhere_drop_the_copy() {
                let server = $crate::RedisServer::start();
                let config = memocache_redis_plumbing::config::RedisConfig::new().url(server.url());
                suite::changes_from_elsewhere_drop_the_copy::<$client>(&config).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_cluster_changes_from_elsewhere_drop_the_copy() {
                suite::on_a_cluster_changes_from_elsewhere_drop_the_copy::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_python_reference_s_write_drops_the_copy() {
                suite::the_python_reference_s_write_drops_the_copy::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn flushall_and_expiry_drop_copies() {
                suite::flushall_and_expiry_drop_copies::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_lost_connection_flushes_and_tracking_comes_back() {
                suite::a_lost_connection_flushes_and_tracking_comes_back::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_connection_the_server_closes_flushes_the_tier() {
                suite::a_connection_the_server_closes_flushes_the_tier::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_blocking_store_tracks_changes() {
                let server = $crate::RedisServer::start();
                let config = memocache_redis_plumbing::config::RedisConfig::new().url(server.url());
                suite::the_blocking_store_tracks_changes::<$client>(&config).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_cluster_the_blocking_store_tracks_changes() {
                suite::on_a_cluster_the_blocking_store_tracks_changes::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_cluster_flushes_moved_slots_and_failovers_drop_copies() {
                suite::on_a_cluster_flushes_moved_slots_and_failovers_drop_copies::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_soak_of_rewrites_never_serves_a_value_older_than_the_window() {
                suite::a_soak_of_rewrites_never_serves_a_value_older_than_the_window::<$client>()
                    .await;
            }
        }

        mod one_store {
            use super::*;
            use $crate::suites::one_store as suite;

            #[test]
            fn a_lazy_store_made_outside_a_runtime_serves_sync_and_async_callers_on_one_breaker() {
                suite::a_lazy_store_made_outside_a_runtime_serves_sync_and_async_callers::<$client>();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_stores_blocking_view_shares_its_entries_and_breaker() {
                suite::a_stores_blocking_view_shares_its_entries_and_breaker::<$client>().await;
            }
        }

        mod announce {
            use super::*;
            use $crate::suites::announce as suite;

            #[tokio::test]
            async fn the_async_store_logs_its_server_once() {
                suite::the_async_store_logs_its_server_once::<$client>().await;
            }

            #[test]
            fn the_blocking_store_logs_its_server_once() {
                suite::the_blocking_store_logs_its_server_once::<$client>();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_tracked_store_says_so() {
                suite::a_tracked_store_says_so::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_cluster_store_logs_its_seeds_once() {
                suite::a_cluster_store_logs_its_seeds_once::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_sentinel_store_logs_the_master_and_its_sentinels_once() {
                suite::a_sentinel_store_logs_the_master_and_its_sentinels_once::<$client>().await;
            }
        }

        mod refused {
            use super::*;
            use $crate::callers::Path;
            use $crate::suites::refused::{self as suite, Build, Refusal};

            async fn check(refusal: Refusal, path: Path, build: Build) {
                suite::a_refused_server_is_cached_on_with_the_tier_off::<$client>(
                    refusal, path, build,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_renamed_async_connect() {
                check(Refusal::ClientRenamed, Path::Async, Build::Connect).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_renamed_async_connect_lazy() {
                check(Refusal::ClientRenamed, Path::Async, Build::ConnectLazy).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_renamed_blocking_connect() {
                check(Refusal::ClientRenamed, Path::Blocking, Build::Connect).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn client_renamed_blocking_connect_lazy() {
                check(Refusal::ClientRenamed, Path::Blocking, Build::ConnectLazy).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn acl_without_tracking_async_connect() {
                check(Refusal::AclWithoutTracking, Path::Async, Build::Connect).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn acl_without_tracking_async_connect_lazy() {
                check(Refusal::AclWithoutTracking, Path::Async, Build::ConnectLazy).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn acl_without_tracking_blocking_connect() {
                check(Refusal::AclWithoutTracking, Path::Blocking, Build::Connect).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn acl_without_tracking_blocking_connect_lazy() {
                check(Refusal::AclWithoutTracking, Path::Blocking, Build::ConnectLazy).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_a_cluster_acl_without_tracking_connect() {
                suite::on_a_cluster_a_refused_server_is_cached_on_with_the_tier_off::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sentinel_acl_without_tracking() {
                suite::on_sentinel_a_refused_server_is_cached_on_with_the_tier_off::<$client>()
                    .await;
            }
        }

        mod sentinel {
            use super::*;
            use $crate::suites::sentinel as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_stores_find_the_primary_and_cache_there() {
                suite::the_stores_find_the_primary_and_cache_there::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn a_killed_primary_under_load_fails_over_to_the_promoted_replica() {
                suite::a_killed_primary_under_load_fails_over_to_the_promoted_replica::<$client>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_sentinels_switch_master_alone_moves_the_stores() {
                suite::the_sentinels_switch_master_alone_moves_the_stores::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn each_side_is_reached_with_its_own_credentials() {
                suite::each_side_is_reached_with_its_own_credentials::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_sentinels_over_tls_the_data_nodes_without() {
                suite::the_sentinels_over_tls_the_data_nodes_without::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_wrong_master_name_is_a_config_error_at_connect() {
                suite::a_wrong_master_name_is_a_config_error_at_connect::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_sentinel_down_is_a_clear_error_at_connect() {
                suite::every_sentinel_down_is_a_clear_error_at_connect::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_a_tier_a_failover_flushes_and_tracking_resumes() {
                $crate::suites::tier::on_sentinel_a_failover_flushes_and_tracking_resumes::<$client>()
                    .await;
            }
        }

        mod tls {
            use super::*;
            use $crate::suites::tls as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_the_right_ca_the_memoizer_caches() {
                suite::with_the_right_ca_the_memoizer_caches::<$client>().await;
            }

            #[test]
            fn with_the_right_ca_file_the_blocking_store_caches() {
                suite::with_the_right_ca_file_the_blocking_store_caches::<$client>();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn with_a_wrong_ca_connecting_fails_with_a_certificate_error() {
                suite::with_a_wrong_ca_connecting_fails_with_a_certificate_error::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn without_a_ca_the_system_roots_do_not_trust_a_private_ca() {
                suite::without_a_ca_the_system_roots_do_not_trust_a_private_ca::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_lazy_store_that_cannot_connect_still_serves_computed_values() {
                suite::a_lazy_store_that_cannot_connect_still_serves_computed_values::<$client>()
                    .await;
            }
        }

        mod acl {
            use super::*;
            use $crate::suites::acl as suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn inside_its_key_pattern_the_memoizer_caches() {
                suite::inside_its_key_pattern_the_memoizer_caches::<$client>().await;
            }

            #[test]
            fn inside_its_key_pattern_the_blocking_store_caches() {
                suite::inside_its_key_pattern_the_blocking_store_caches::<$client>();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outside_its_key_pattern_operations_fail_with_an_error() {
                suite::outside_its_key_pattern_operations_fail_with_an_error::<$client>().await;
            }

            #[test]
            fn outside_its_key_pattern_blocking_operations_fail_with_an_error() {
                suite::outside_its_key_pattern_blocking_operations_fail_with_an_error::<$client>();
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn outside_its_key_pattern_a_memoizer_logs_and_computes() {
                suite::outside_its_key_pattern_a_memoizer_logs_and_computes::<$client>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_wrong_password_fails_without_showing_it() {
                suite::a_wrong_password_fails_without_showing_it::<$client>().await;
            }
        }
    };
}

/// Starts a cluster of its own, puts the stores `connect` makes from a
/// config whose only seed is one primary under load (32 callers, async and
/// blocking), kills that primary, and waits for caching to resume on the
/// promoted replica; every caller checks every value it gets. Prints what
/// it measured, under `label`.
///
/// # Panics
///
/// If caching does not resume within 30 s of the promotion, or a caller
/// got a wrong value.
pub async fn fail_over_under_load<F, Fut>(label: &str, connect: F)
where
    F: FnOnce(RedisConfig) -> Fut,
    Fut: Future<Output = Stores>,
{
    let cluster = Arc::new(RedisCluster::start());
    let victim = cluster.primaries()[0];
    let stores = connect(RedisConfig::new().cluster([cluster.node(victim).url()])).await;
    let policy = Policy {
        namespace: format!("{label}:failover"),
        ..Policy::default()
    };
    let load = Load::start(&stores, &policy);
    load.wait_for_caching(Duration::from_secs(20)).await;
    assert!(load.served() > 0, "caching works before the failover");

    let killed = Instant::now();
    let failing_over = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || failing_over.kill_primary(victim))
        .await
        .expect("killing the primary panicked");
    let promoted = killed.elapsed();
    let resumed = load.wait_for_caching(Duration::from_secs(30)).await;
    let stats = load.stats();
    let calls = load.finish().await;
    println!(
        "{label} failover: {calls} calls, all correct; replica promoted {promoted:?} after \
         the kill; caching resumed {resumed:?} after the promotion; {stats:?}"
    );
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3, "{primaries:?}");
    assert!(!primaries.contains(&victim), "{primaries:?}");
}
