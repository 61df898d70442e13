//! What the test process logs, captured once for every suite that checks
//! it (a process has one global `tracing` subscriber): each event's level,
//! target and fields as text, `message` included.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One logged event.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Its level.
    pub level: Level,
    /// Its target, e.g. `memocache`.
    pub target: String,
    /// Its fields as text, `message` included.
    pub fields: BTreeMap<String, String>,
}

impl Logged {
    /// The field `name`, as text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Every event, in the order they were logged.
pub type Events = Arc<Mutex<Vec<Logged>>>;

/// Records every event of the test process.
struct Capture(Events);

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Fields(BTreeMap<String, String>);
        impl Visit for Fields {
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.insert(field.name().to_owned(), value.to_owned());
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.insert(field.name().to_owned(), format!("{value:?}"));
            }
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let metadata = event.metadata();
        lock(&self.0).push(Logged {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            fields: fields.0,
        });
    }
}

/// The events of the whole test process, from the first call on (it
/// installs the process' tracing subscriber).
///
/// # Panics
///
/// If the test binary installed another global subscriber.
pub fn captured_events() -> Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Events::default();
            let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&events)));
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other tracing subscriber in this test binary");
            events
        })
        .clone()
}

/// The events, locked (a panicking test does not poison them for the
/// others).
pub fn lock(events: &Events) -> MutexGuard<'_, Vec<Logged>> {
    events.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `text` (`host:port`, or a URL) names `port`, and not a longer
/// port that starts with it.
pub fn names_port(text: &str, port: u16) -> bool {
    text.match_indices(&format!(":{port}"))
        .any(|(at, found)| !text[at + found.len()..].starts_with(|c: char| c.is_ascii_digit()))
}
