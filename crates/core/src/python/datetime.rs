//! `#[serde(with = "memocache::python::datetime")]`: a datetime as
//! Python's `str(datetime)`, the text a Python service's cache holds for
//! it (features `chrono` and/or `time`).
//!
//! dtpyfw stores a `datetime` as `str(dt)`: `2025-10-24 10:30:00`,
//! `2025-10-24 10:30:00.123456`, `2025-10-24 10:30:00+02:00`. Neither
//! chrono's nor time's own serde form reads that, and neither writes it.
//! This adapter does both, for
//!
//! | Rust type | feature | Python value |
//! |---|---|---|
//! | `chrono::NaiveDateTime` | `chrono` | naive `datetime` |
//! | `chrono::DateTime<FixedOffset>` | `chrono` | aware `datetime`, its offset kept |
//! | `chrono::DateTime<Utc>` | `chrono` | aware `datetime`, read at any offset and converted to UTC |
//! | `time::PrimitiveDateTime` | `time` | naive `datetime` |
//! | `time::OffsetDateTime` | `time` | aware `datetime`, its offset kept |
//! | `time::UtcDateTime` | `time` | aware `datetime`, read at any offset and converted to UTC |
//!
//! and [`option`] for `Option`s of them (`None` is `null`).
//!
//! **Writing** gives exactly `str()` of the equal Python value:
//! `YYYY-MM-DD HH:MM:SS`, then `.ffffff` (six digits) unless the
//! microseconds are zero, then for aware values the offset `±HH:MM`, with
//! `:SS` when it has seconds (`+00:00` for UTC). Python has microseconds
//! only: nanoseconds below the microsecond are *dropped* (truncated), as
//! Python 3.11's `datetime.fromisoformat` drops the digits past the sixth
//! of the same value's ISO text. A value Python wrote has whole
//! microseconds, so it is written back exactly as Python wrote it; a Rust
//! value with finer precision comes back from the cache truncated. A
//! value Python cannot hold is an encode error (memocache logs it and
//! does not cache the result): a year outside 1 to 9999, a chrono leap
//! second, a time crate offset of 24 hours or more.
//!
//! **Reading** takes what Python writes and the ISO 8601 / RFC 3339 forms
//! other serializers write: a date `YYYY-MM-DD`, then ` `, `T` or `t`, a
//! time `HH:MM:SS` with an optional fraction of any length (digits past
//! the ninth are dropped), then an optional offset `Z`, `±HH:MM`,
//! `±HH:MM:SS` or `±HHMM[SS]`. A naive type refuses a text with an
//! offset and an aware type one without (a wrong guess would silently
//! shift the time); a leap second (`:60`) and an offset with a fraction of
//! a second (which Python can write but no Rust type holds) are refused.
//! A refused text is a decode error naming the type and the text, e.g.
//! ``invalid chrono::NaiveDateTime `2025-13-01 00:00:00`: month 13 is out
//! of range; expected Python str(datetime) ...``, followed, from the JSON
//! reader, by the line and column of the value in the stored JSON.
//!
//! **Sharing a key with a Python service.** memocache treats a stored
//! entry that does not decode as a miss: it logs the decode error,
//! computes the value and overwrites the entry. Without an adapter, a Rust
//! field of a date type cannot decode the `"2025-10-24 10:30:00"` a Python
//! service stored, so every Rust call misses and replaces Python's entry
//! with chrono's `"2025-10-24T10:30:00"` (or time's own form), and the
//! Python service then reads that string instead of the one it would
//! have written. With this adapter the Rust side decodes Python's entries
//! as hits and writes the very `str()` text Python writes, so whichever
//! side writes a shared key, the entry keeps Python's format. An entry
//! the adapter still refuses (a naive text for an aware field, say) is
//! still a miss, and is overwritten with the Rust value in Python's form.
//!
//! ```
//! use chrono::{DateTime, FixedOffset, NaiveDateTime};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Order {
//!     #[serde(with = "memocache::python::datetime")]
//!     created: NaiveDateTime,
//!     #[serde(with = "memocache::python::datetime")]
//!     shipped: DateTime<FixedOffset>,
//!     #[serde(default, with = "memocache::python::datetime::option")]
//!     cancelled: Option<NaiveDateTime>,
//! }
//!
//! // What a Python service stored (dtpyfw's jsonable_encoder: str()).
//! let stored = r#"{"created": "2025-10-24 10:30:00", "shipped": "2025-10-25 08:00:00.250000+02:00", "cancelled": null}"#;
//! let order: Order = serde_json::from_str(stored).unwrap();
//! assert_eq!(order.shipped.offset().local_minus_utc(), 2 * 3600);
//! // Written back exactly as Python wrote it.
//! assert_eq!(memocache::python::to_string(&order).unwrap(), stored);
//!
//! // ISO 8601 from other serializers reads too.
//! let iso: Order = serde_json::from_str(
//!     r#"{"created": "2025-10-24T10:30:00.5", "shipped": "2025-10-25T06:00:00Z"}"#,
//! )
//! .unwrap();
//! assert_eq!(
//!     memocache::python::to_string(&iso).unwrap(),
//!     r#"{"created": "2025-10-24 10:30:00.500000", "shipped": "2025-10-25 06:00:00+00:00", "cancelled": null}"#
//! );
//! ```

use serde::{Deserializer, Serializer};

use super::Error;
use super::adapt::{self, PyStr};

/// The datetime types this adapter covers (see the [module](self) docs);
/// implemented by memocache only.
pub trait PyDateTime: PyStr {}

/// Serializes `value` as Python's `str(datetime)` (for
/// `#[serde(with = "memocache::python::datetime")]`).
///
/// # Errors
///
/// When Python has no such datetime: a year outside 1 to 9999, a leap
/// second, an offset of 24 hours or more.
pub fn serialize<T: PyDateTime, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    adapt::serialize(value, serializer)
}

/// Deserializes Python's `str(datetime)` or an ISO 8601 datetime (for
/// `#[serde(with = "memocache::python::datetime")]`).
///
/// # Errors
///
/// When the value is not such a string, or names no `T` (see the
/// [module](self) docs); the message names the type and the text.
pub fn deserialize<'de, T: PyDateTime, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    adapt::deserialize(deserializer)
}

/// Python's `str()` of `value`: what to pass as a call's argument so the
/// key is the one Python computes for the same `datetime`.
///
/// ```
/// use chrono::NaiveDate;
///
/// let dt = NaiveDate::from_ymd_opt(2025, 10, 24).unwrap().and_hms_micro_opt(10, 30, 0, 5).unwrap();
/// assert_eq!(memocache::python::datetime::to_str(&dt).unwrap(), "2025-10-24 10:30:00.000005");
/// ```
///
/// # Errors
///
/// As [`serialize`].
pub fn to_str<T: PyDateTime>(value: &T) -> Result<String, Error> {
    adapt::to_str(value)
}

/// Reads Python's `str(datetime)` or an ISO 8601 datetime.
///
/// ```
/// use chrono::{DateTime, NaiveDate, Utc};
///
/// let dt: DateTime<Utc> = memocache::python::datetime::parse("2025-10-24 12:30:00+02:00").unwrap();
/// let utc = NaiveDate::from_ymd_opt(2025, 10, 24).unwrap().and_hms_opt(10, 30, 0).unwrap();
/// assert_eq!(dt.naive_utc(), utc);
/// assert_eq!(memocache::python::datetime::to_str(&dt).unwrap(), "2025-10-24 10:30:00+00:00");
/// let error = memocache::python::datetime::parse::<DateTime<Utc>>("2025-10-24 12:30:00").unwrap_err();
/// assert!(error.to_string().starts_with("invalid chrono::DateTime<Utc> `2025-10-24 12:30:00`: it has no UTC offset"));
/// ```
///
/// # Errors
///
/// As [`deserialize`].
pub fn parse<T: PyDateTime>(text: &str) -> Result<T, Error> {
    adapt::parse(text)
}

/// `#[serde(with = "memocache::python::datetime::option")]`: an
/// `Option` of a datetime, `None` as `null`. Add `#[serde(default)]` for
/// a field that may be missing.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Seen {
///     #[serde(default, with = "memocache::python::datetime::option")]
///     at: Option<time::OffsetDateTime>,
/// }
///
/// let seen: Seen = serde_json::from_str(r#"{"at": "2025-10-24 10:30:00-05:00"}"#).unwrap();
/// assert_eq!(seen.at.unwrap().offset().whole_hours(), -5);
/// let never: Seen = serde_json::from_str("{}").unwrap();
/// assert_eq!(memocache::python::to_string(&never).unwrap(), r#"{"at": null}"#);
/// ```
pub mod option {
    use serde::{Deserializer, Serializer};

    use super::PyDateTime;
    use crate::python::adapt;

    /// Serializes `Some` as Python's `str(datetime)`, `None` as `null`.
    ///
    /// # Errors
    ///
    /// As [`super::serialize`].
    pub fn serialize<T: PyDateTime, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        adapt::serialize_option(value, serializer)
    }

    /// Deserializes `null` as `None`, a datetime string as
    /// [`super::deserialize`] does.
    ///
    /// # Errors
    ///
    /// As [`super::deserialize`].
    pub fn deserialize<'de, T: PyDateTime, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        adapt::deserialize_option(deserializer)
    }
}
