//! Change tracking a server may refuse ([`RedisConfig::client_tracking`]
//! against a server with `CLIENT` renamed away, or an ACL user without
//! the commands tracking needs): the store then caches on Redis without
//! it, its local tiers go off (told [`Invalidations::untracked`], which
//! withdraws the reads under way), and the refusal is logged once, with
//! the fix. A refusal is no store failure: the circuit breaker never
//! hears of it, and nothing is asked again.
//!
//! [`RedisConfig::client_tracking`]: crate::config::RedisConfig::client_tracking

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};

use memocache_core::{Error, Invalidations, Result, TrackedTiers};
use tokio::sync::watch;

/// The error of a Redis store built without
/// [`RedisConfig::client_tracking`](crate::config::RedisConfig::client_tracking)
/// asked to report changes: `store` is its type's name (`"RedisStore"`).
pub fn not_tracking(store: &str) -> Error {
    memocache_core::untracked(
        &format!("this {store}"),
        "build it with RedisConfig::client_tracking(true)",
    )
}

/// Whether a server's error reply, its `code` (the first word: `ERR`,
/// `NOPERM`) and the rest, refuses a command that tracking needs: `NOPERM`
/// (an ACL user without it), `ERR unknown command` (`CLIENT` renamed
/// away) or `ERR unknown subcommand` (`CLIENT TRACKING` before Redis 6);
/// rather than a failure that passes (`LOADING`, `TRYAGAIN`, ...).
pub fn is_refusal(code: &str, detail: &str) -> bool {
    let unknown = detail
        .get(.."unknown".len())
        .is_some_and(|word| word.eq_ignore_ascii_case("unknown"));
    code == "NOPERM" || (code == "ERR" && unknown)
}

/// The change tracking of one store built with
/// [`RedisConfig::client_tracking`](crate::config::RedisConfig::client_tracking):
/// the tiers it reports to, and whether the server refused to track.
#[derive(Debug)]
pub struct Tracked {
    tiers: TrackedTiers,
    /// What the server must allow, as the fix names it (e.g. "the
    /// client|tracking command").
    needs: &'static str,
    /// Who refused, once one did.
    refused: watch::Sender<Option<Arc<Refused>>>,
}

/// Who refused tracking, and how.
#[derive(Debug)]
struct Refused {
    server: String,
    error: String,
}

impl Tracked {
    /// Tracking not refused yet, with no tier; `needs` says what the
    /// server must allow (for an ACL user), as the fix names it: "the
    /// client|tracking command", say.
    pub fn new(needs: &'static str) -> Self {
        Tracked {
            tiers: TrackedTiers::new(),
            needs,
            refused: watch::Sender::new(None),
        }
    }

    /// The tiers the store reports changes to: reports to them reach no
    /// tier once tracking was refused.
    pub fn tiers(&self) -> &TrackedTiers {
        &self.tiers
    }

    /// Whether the server refused tracking: the store then reads without
    /// it.
    pub fn is_refused(&self) -> bool {
        self.refused.borrow().is_some()
    }

    /// Completes once the server refused tracking (at once if it did
    /// already), for the tasks that listen for changes to stop.
    pub fn refused(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut refused = self.refused.subscribe();
        async move {
            if refused.wait_for(Option::is_some).await.is_err() {
                // Dropped unrefused: never refused.
                std::future::pending::<()>().await;
            }
        }
    }

    /// `server` refused tracking with `error` (a reply such as `NOPERM`
    /// or `unknown command`, not a lost connection). The first time:
    /// turns the tiers off and logs it with the fix; after that, nothing.
    /// When it returns, and before [`is_refused`](Self::is_refused) says
    /// so, the tiers are off: a read that went untracked because of the
    /// refusal returns after they withdrew every read under way.
    pub fn refuse(&self, server: &str, error: &dyn fmt::Display) {
        let first = self.refused.send_if_modified(|refused| {
            if refused.is_some() {
                return false;
            }
            self.tiers.untracked();
            *refused = Some(Arc::new(Refused {
                server: server.to_owned(),
                error: error.to_string(),
            }));
            true
        });
        if first {
            tracing::error!(
                server,
                error = %error,
                "memocache: the server refused client tracking (CLIENT TRACKING ON): the store \
                 caches on Redis without it and its local tiers stay off; {}",
                self.fix()
            );
        }
    }

    /// Adds `tier` to the tiers reported to
    /// ([`Backend::track_changes`](memocache_core::Backend::track_changes)).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying why, once the server refused tracking.
    pub fn track(&self, tier: Weak<dyn Invalidations>) -> Result<()> {
        let refused = self.refused.borrow().clone();
        match refused.as_deref() {
            None => {
                self.tiers.add(tier);
                Ok(())
            }
            Some(Refused { server, error }) => Err(Error::config(format!(
                "{server} refused client tracking ({error}), so this store caches on Redis \
                 without it and cannot keep a local tier true; {}, or use \
                 LocalTier::best_effort(true)",
                self.fix()
            ))),
        }
    }

    /// What to do about a refusal.
    fn fix(&self) -> String {
        format!(
            "it needs Redis 6 or later and, for an ACL user, {}; or turn \
             RedisConfig::client_tracking off",
            self.needs
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use memocache_core::testing::RecordedReports;

    use super::*;

    #[test]
    fn refusals_are_told_from_failures_that_pass() {
        assert!(is_refusal("NOPERM", "this user has no permissions"));
        assert!(is_refusal("ERR", "unknown command 'CLIENT'"));
        assert!(is_refusal(
            "ERR",
            "Unknown subcommand or wrong number of arguments"
        ));
        assert!(!is_refusal(
            "LOADING",
            "Redis is loading the dataset in memory"
        ));
        assert!(!is_refusal("ERR", "max number of clients reached"));
        assert!(!is_refusal("ERR", ""));
    }

    #[test]
    fn a_refusal_turns_the_tiers_off_once_and_later_tiers_are_refused_saying_why() {
        let tracked = Tracked::new("the client|tracking command");
        let tier = Arc::new(RecordedReports::default());
        tracked
            .track(Arc::downgrade(&tier) as Weak<dyn Invalidations>)
            .unwrap();
        assert!(!tracked.is_refused());
        tracked.refuse("127.0.0.1:7000", &"NOPERM no client|tracking");
        tracked.refuse("127.0.0.1:7000", &"NOPERM again");
        tracked.tiers().changed("k");
        assert!(tracked.is_refused());
        assert_eq!(tier.reports(), ["untracked"]);

        let later = Arc::new(RecordedReports::default());
        let error = tracked
            .track(Arc::downgrade(&later) as Weak<dyn Invalidations>)
            .unwrap_err();
        let report = error.report().to_string();
        assert!(matches!(error, Error::Config(_)), "{report}");
        assert!(
            report.contains("127.0.0.1:7000 refused client tracking (NOPERM no client|tracking)"),
            "{report}"
        );
        assert!(report.contains("the client|tracking command"), "{report}");
        assert!(later.reports().is_empty());
    }
}
