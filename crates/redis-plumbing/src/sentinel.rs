//! Asking Redis Sentinel for the primary, the same way on both clients:
//! each sentinel in turn for the master's address (`SENTINEL
//! get-master-addr-by-name`), the first named node that checks out as a
//! primary wins, and when none does the error says what each sentinel
//! answered. Also the watch of `+switch-master` announcements on each
//! sentinel ([`watch`]), which both clients run over their own
//! subscription ([`SwitchFeed`]).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use memocache_core::Error;

/// What one sentinel answered when asked for the master's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The master is at this address.
    At {
        /// Its host, as the sentinel names it.
        host: String,
        /// Its port.
        port: u16,
    },
    /// The sentinel knows no master of this name.
    Unknown,
    /// No answer: why (the sentinel cannot be reached, refused the
    /// credentials, answered something else).
    Failed(String),
}

/// Why no primary was found.
#[derive(Debug)]
pub enum Missing {
    /// Every sentinel that answered knows no master of this name: an
    /// [`Error::Config`] that says so.
    UnknownMaster(Error),
    /// No sentinel named a primary that checked out: what each answered,
    /// for the store to wrap in an error naming the primary.
    NoPrimary(NoPrimary),
}

/// What each sentinel answered, when none named a primary that checked
/// out.
#[derive(Debug)]
pub struct NoPrimary(Vec<String>);

impl fmt::Display for NoPrimary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no sentinel named a primary: {}", self.0.join("; "))
    }
}

impl std::error::Error for NoPrimary {}

/// Asks the sentinels `names` in turn (`ask(i)` asks the `i`-th) where
/// `master` is, and checks each node named with `check` (`Ok` when it is
/// a primary, else why not); answers the index of the first sentinel
/// whose node passed, and what `check` gave for it.
///
/// # Errors
///
/// [`Missing::UnknownMaster`] when every sentinel that answered knows no
/// master of this name; else [`Missing::NoPrimary`].
pub async fn find_primary<T, Ask, Asked, Check, Checked>(
    master: &str,
    names: &[String],
    mut ask: Ask,
    mut check: Check,
) -> Result<(usize, T), Missing>
where
    Ask: FnMut(usize) -> Asked,
    Asked: Future<Output = Answer>,
    Check: FnMut(String, u16) -> Checked,
    Checked: Future<Output = Result<T, String>>,
{
    let mut answers = Vec::with_capacity(names.len());
    let (mut answered, mut unknown) = (0, 0);
    for (i, name) in names.iter().enumerate() {
        let (host, port) = match ask(i).await {
            Answer::At { host, port } => (host, port),
            Answer::Unknown => {
                answered += 1;
                unknown += 1;
                answers.push(format!("{name} knows no master `{master}`"));
                continue;
            }
            Answer::Failed(why) => {
                answers.push(format!("{name}: {why}"));
                continue;
            }
        };
        answered += 1;
        match check(host.clone(), port).await {
            Ok(primary) => return Ok((i, primary)),
            Err(why) => answers.push(format!("{name} named {host}:{port}, {why}")),
        }
    }
    if unknown > 0 && unknown == answered {
        return Err(Missing::UnknownMaster(Error::config(format!(
            "the sentinels know no master named `{master}`: give the name of their \
             `sentinel monitor <name> ...` line (`SENTINEL masters` lists them)"
        ))));
    }
    Err(Missing::NoPrimary(NoPrimary(answers)))
}

/// The master a `+switch-master` announcement (`name old-host old-port
/// new-host new-port`) is about, and its new primary's address; `None` for
/// a payload of another form.
pub fn switched_master(payload: &str) -> Option<(&str, &str, u16)> {
    // From the right: a name is what is left.
    let fields: Vec<&str> = payload.rsplitn(5, ' ').collect();
    match fields[..] {
        [port, host, _, _, name] => Some((name, host, port.parse().ok()?)),
        _ => None,
    }
}

/// The `+switch-master` channel every sentinel announces a failover on.
pub const SWITCH_MASTER: &str = "+switch-master";

/// The first wait before subscribing to a sentinel again after a failed
/// subscription; each failure in a row doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two subscriptions to a sentinel that keeps
/// failing (a sentinel that is down): it is tried again at this pace for as
/// long as the store lives.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a subscription to [`SWITCH_MASTER`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    /// It took: announcements come through [`SwitchFeed::next`].
    Yes,
    /// It failed (the sentinel is unreachable, or refused): try again
    /// later.
    No,
    /// The client is gone: the watch ends.
    Closed,
}

/// What a subscription heard next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A message on [`SWITCH_MASTER`]: its payload.
    Announcement(String),
    /// Messages were dropped: an announcement may have been missed.
    Missed,
    /// The connection was lost: subscribe again.
    Lost,
    /// The client is gone: the watch ends.
    Closed,
}

/// One sentinel's [`SWITCH_MASTER`] channel, as a client subscribes to it.
pub trait SwitchFeed: Send {
    /// Subscribes (connecting first if the client needs to).
    fn subscribe(&mut self) -> impl Future<Output = Subscribed> + Send;

    /// Waits for what the subscription hears next.
    fn next(&mut self) -> impl Future<Output = Heard> + Send;
}

/// Where a watched master's primary went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch<'a> {
    /// A sentinel announced the master's new primary.
    To {
        /// Its host, as the sentinel names it.
        host: &'a str,
        /// Its port.
        port: u16,
    },
    /// Announcements may have been missed: the primary may have moved.
    Unknown,
}

/// Watches one sentinel for failovers of `master`: calls `switched` with
/// the new primary on each announcement of this master (every sentinel
/// announces it), and with [`Switch::Unknown`] when announcements may have
/// been missed. A lost subscription is made again at once; a failed one
/// after a backoff from [`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`],
/// back to the start once one takes. Runs until the client is gone (or the
/// task is aborted).
pub async fn watch<F: SwitchFeed>(mut feed: F, master: &str, switched: impl Fn(Switch<'_>)) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match feed.subscribe().await {
            Subscribed::Yes => backoff = FIRST_BACKOFF,
            Subscribed::No => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Subscribed::Closed => return,
        }
        loop {
            match feed.next().await {
                Heard::Announcement(payload) => {
                    if let Some((name, host, port)) = switched_master(&payload)
                        && name == master
                    {
                        switched(Switch::To { host, port });
                    }
                }
                Heard::Missed => switched(Switch::Unknown),
                Heard::Lost => break,
                Heard::Closed => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["s1:26379", "s2:26379", "s3:26379"]
            .map(str::to_owned)
            .to_vec()
    }

    /// Runs [`find_primary`] with canned answers, and a check that passes
    /// for port 1 only.
    fn find(answers: &[Answer]) -> Result<(usize, u16), Missing> {
        let ask = |i: usize| std::future::ready(answers[i].clone());
        let check = |_host: String, port: u16| {
            std::future::ready(if port == 1 {
                Ok(port)
            } else {
                Err("which is not a primary".to_owned())
            })
        };
        memocache_core::block_on(find_primary("cache", &names(), ask, check))
    }

    fn at(port: u16) -> Answer {
        Answer::At {
            host: "10.0.0.9".to_owned(),
            port,
        }
    }

    #[test]
    fn the_first_sentinel_whose_primary_checks_out_wins() {
        let failed = Answer::Failed("connection refused".to_owned());
        assert_eq!(find(&[failed, at(2), at(1)]).unwrap(), (2, 1));
        assert_eq!(find(&[at(1), at(2), at(2)]).unwrap(), (0, 1));
    }

    #[test]
    fn a_name_no_answering_sentinel_knows_is_a_config_error() {
        let failed = Answer::Failed("connection refused".to_owned());
        let Err(Missing::UnknownMaster(error)) = find(&[failed, Answer::Unknown, Answer::Unknown])
        else {
            panic!("not an unknown master")
        };
        assert!(matches!(error, Error::Config(_)), "{error:?}");
        assert!(
            error.to_string().contains("no master named `cache`"),
            "{error}"
        );
    }

    #[test]
    fn otherwise_the_error_says_what_each_sentinel_answered() {
        let failed = Answer::Failed("connection refused".to_owned());
        let Err(Missing::NoPrimary(answers)) = find(&[failed, Answer::Unknown, at(2)]) else {
            panic!("a primary was found")
        };
        assert_eq!(
            answers.to_string(),
            "no sentinel named a primary: s1:26379: connection refused; s2:26379 knows no \
             master `cache`; s3:26379 named 10.0.0.9:2, which is not a primary"
        );
    }

    #[test]
    fn a_switch_master_announcement_is_read() {
        assert_eq!(
            switched_master("cache 10.0.0.1 6379 10.0.0.2 6380"),
            Some(("cache", "10.0.0.2", 6380))
        );
        assert_eq!(switched_master("cache 10.0.0.1 6379"), None);
        assert_eq!(switched_master("cache 10.0.0.1 6379 10.0.0.2 x"), None);
    }

    /// A feed that plays a script: what each subscription answers, then
    /// what it hears until it is lost.
    struct Scripted {
        script: std::collections::VecDeque<(Subscribed, Vec<Heard>)>,
        heard: std::collections::VecDeque<Heard>,
        /// When each subscription was asked for, on tokio's clock.
        asked: std::sync::Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
    }

    impl SwitchFeed for Scripted {
        async fn subscribe(&mut self) -> Subscribed {
            self.asked.lock().unwrap().push(tokio::time::Instant::now());
            let (answer, heard) = self
                .script
                .pop_front()
                .unwrap_or((Subscribed::Closed, vec![]));
            self.heard = heard.into();
            answer
        }

        async fn next(&mut self) -> Heard {
            self.heard.pop_front().unwrap_or(Heard::Lost)
        }
    }

    // On paused time: the backoff is measured on tokio's clock, exactly.
    #[tokio::test(start_paused = true)]
    async fn the_watch_acts_on_its_master_and_backs_off_a_failing_sentinel() {
        let announce = |payload: &str| Heard::Announcement(payload.to_owned());
        let asked = std::sync::Arc::default();
        let feed = Scripted {
            script: [
                (Subscribed::No, vec![]),
                (Subscribed::No, vec![]),
                (Subscribed::No, vec![]),
                (
                    Subscribed::Yes,
                    vec![
                        announce("other 10.0.0.1 6379 10.0.0.2 6380"),
                        announce("cache 10.0.0.1 6379 10.0.0.2 6380"),
                        Heard::Missed,
                        announce("not an announcement"),
                        Heard::Lost,
                    ],
                ),
                (Subscribed::No, vec![]),
                (
                    Subscribed::Yes,
                    vec![announce("cache 10.0.0.2 6380 10.0.0.3 6381")],
                ),
            ]
            .into(),
            heard: std::collections::VecDeque::new(),
            asked: std::sync::Arc::clone(&asked),
        };
        let switches = std::sync::Mutex::new(Vec::new());
        watch(feed, "cache", |switch| {
            switches.lock().unwrap().push(match switch {
                Switch::To { host, port } => format!("{host}:{port}"),
                Switch::Unknown => "unknown".to_owned(),
            });
        })
        .await;
        assert_eq!(
            *switches.lock().unwrap(),
            ["10.0.0.2:6380", "unknown", "10.0.0.3:6381"]
        );
        let asked = asked.lock().unwrap();
        let waits: Vec<Duration> = asked.windows(2).map(|w| w[1] - w[0]).collect();
        let ms = Duration::from_millis;
        // Failures back off 100, 200, 400 ms; a lost subscription is made
        // again at once; a failure after a success starts from 100 ms.
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(0), ms(100), ms(0)],
            "{asked:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_backoff_stops_growing_at_its_maximum() {
        let asked = std::sync::Arc::default();
        let feed = Scripted {
            script: std::iter::repeat_n((Subscribed::No, vec![]), 10).collect(),
            heard: std::collections::VecDeque::new(),
            asked: std::sync::Arc::clone(&asked),
        };
        watch(feed, "cache", |_| {}).await;
        let asked = asked.lock().unwrap();
        let last = asked[asked.len() - 1] - asked[asked.len() - 2];
        assert_eq!(last, MAX_BACKOFF);
    }
}
