//! `#[serde(with = "memocache::python::time")]`: a time of day as
//! Python's `str(time)`, `HH:MM:SS[.ffffff]` (features `chrono` and/or
//! `time`).
//!
//! | Rust type | feature |
//! |---|---|
//! | `chrono::NaiveTime` | `chrono` |
//! | `time::Time` | `time` |
//!
//! and [`option`] for `Option`s of them (`None` is `null`). (The module
//! is named after Python's `datetime.time`; it serves the `time` crate's
//! `Time` and chrono's `NaiveTime` alike.)
//!
//! Writing gives exactly Python's `str(time)` of a naive time: `HH:MM:SS`,
//! then `.ffffff` unless the microseconds are zero; nanoseconds below the
//! microsecond are dropped, as in [`datetime`](super::datetime), and a
//! chrono leap second is an encode error. Reading takes `HH:MM:SS` with
//! an optional fraction of any length (past the ninth digit dropped);
//! a time with a UTC offset (Python's `str()` of an aware `time`) is
//! refused, as are `24:00:00` and leap seconds. A refused text is a
//! decode error naming the type and the text.
//!
//! As for [`datetime`](super::datetime): an entry memocache cannot decode
//! is a miss and is overwritten; with this adapter a Rust service reads
//! the times a Python service stored as hits and writes them in the same
//! form, so a key shared with Python keeps Python's format.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Opening {
//!     #[serde(with = "memocache::python::time")]
//!     opens: time::Time,
//!     #[serde(default, with = "memocache::python::time::option")]
//!     closes: Option<time::Time>,
//! }
//!
//! let stored = r#"{"opens": "08:30:00", "closes": "17:45:30.500000"}"#;
//! let opening: Opening = serde_json::from_str(stored).unwrap();
//! assert_eq!(opening.closes.unwrap().millisecond(), 500);
//! assert_eq!(memocache::python::to_string(&opening).unwrap(), stored);
//! ```

use serde::{Deserializer, Serializer};

use super::Error;
use super::adapt::{self, PyStr};

/// The time-of-day types this adapter covers (see the [module](self)
/// docs); implemented by memocache only.
pub trait PyTime: PyStr {}

/// Serializes `value` as Python's `str(time)`.
///
/// # Errors
///
/// For a chrono leap second, which Python does not have.
pub fn serialize<T: PyTime, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    adapt::serialize(value, serializer)
}

/// Deserializes Python's `str(time)` of a naive time (or ISO 8601's
/// `HH:MM:SS.fffffffff`).
///
/// # Errors
///
/// When the value is not such a string, or names no time of day.
pub fn deserialize<'de, T: PyTime, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    adapt::deserialize(deserializer)
}

/// Python's `str()` of `value`.
///
/// ```
/// let at = chrono::NaiveTime::from_hms_nano_opt(10, 30, 5, 123_456_789).unwrap();
/// // Python has microseconds only: the rest is dropped.
/// assert_eq!(memocache::python::time::to_str(&at).unwrap(), "10:30:05.123456");
/// ```
///
/// # Errors
///
/// As [`serialize`].
pub fn to_str<T: PyTime>(value: &T) -> Result<String, Error> {
    adapt::to_str(value)
}

/// Reads Python's `str(time)`.
///
/// ```
/// use chrono::{NaiveTime, Timelike};
///
/// let at: NaiveTime = memocache::python::time::parse("23:59:59.999999").unwrap();
/// assert_eq!(at.nanosecond(), 999_999_000);
/// assert!(memocache::python::time::parse::<NaiveTime>("10:30:00+02:00").is_err());
/// ```
///
/// # Errors
///
/// As [`deserialize`].
pub fn parse<T: PyTime>(text: &str) -> Result<T, Error> {
    adapt::parse(text)
}

/// `#[serde(with = "memocache::python::time::option")]`: an `Option` of a
/// time of day, `None` as `null`. Add `#[serde(default)]` for a field that
/// may be missing. See the [module](super) example.
pub mod option {
    use serde::{Deserializer, Serializer};

    use super::PyTime;
    use crate::python::adapt;

    /// Serializes `Some` as Python's `str(time)`, `None` as `null`.
    ///
    /// # Errors
    ///
    /// As [`super::serialize`].
    pub fn serialize<T: PyTime, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        adapt::serialize_option(value, serializer)
    }

    /// Deserializes `null` as `None`, a time string as
    /// [`super::deserialize`] does.
    ///
    /// # Errors
    ///
    /// As [`super::deserialize`].
    pub fn deserialize<'de, T: PyTime, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        adapt::deserialize_option(deserializer)
    }
}
