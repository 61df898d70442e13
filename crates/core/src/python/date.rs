//! `#[serde(with = "memocache::python::date")]`: a calendar date as
//! Python's `str(date)`, `YYYY-MM-DD` (features `chrono` and/or `time`).
//!
//! | Rust type | feature |
//! |---|---|
//! | `chrono::NaiveDate` | `chrono` |
//! | `time::Date` | `time` |
//!
//! and [`option`] for `Option`s of them (`None` is `null`).
//!
//! Writing gives `YYYY-MM-DD`, exactly Python's `str(date)`; a year
//! outside Python's 1 to 9999 is an encode error (memocache logs it and
//! does not cache the result). Reading takes `YYYY-MM-DD` only (Python's
//! form, which is ISO 8601's too); anything else, or a date that does not
//! exist, is a decode error naming the type and the text.
//!
//! As for [`datetime`](super::datetime): an entry memocache cannot decode
//! is a miss and is overwritten; with this adapter a Rust service reads
//! the dates a Python service stored as hits and writes them in the same
//! form, so a key shared with Python keeps Python's format.
//!
//! ```
//! use chrono::NaiveDate;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Invoice {
//!     #[serde(with = "memocache::python::date")]
//!     issued: NaiveDate,
//!     #[serde(default, with = "memocache::python::date::option")]
//!     paid: Option<NaiveDate>,
//! }
//!
//! let stored = r#"{"issued": "2025-10-24", "paid": null}"#;
//! let invoice: Invoice = serde_json::from_str(stored).unwrap();
//! assert_eq!(invoice.issued, NaiveDate::from_ymd_opt(2025, 10, 24).unwrap());
//! assert_eq!(memocache::python::to_string(&invoice).unwrap(), stored);
//!
//! let error = serde_json::from_str::<Invoice>(r#"{"issued": "2025-02-30"}"#).unwrap_err();
//! assert!(error.to_string().starts_with(
//!     "invalid chrono::NaiveDate `2025-02-30`: day 30 is out of range for 2025-02"
//! ));
//! ```

use serde::{Deserializer, Serializer};

use super::Error;
use super::adapt::{self, PyStr};

/// The date types this adapter covers (see the [module](self) docs);
/// implemented by memocache only.
pub trait PyDate: PyStr {}

/// Serializes `value` as Python's `str(date)`.
///
/// # Errors
///
/// When the year is outside Python's 1 to 9999.
pub fn serialize<T: PyDate, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    adapt::serialize(value, serializer)
}

/// Deserializes Python's `str(date)`, `YYYY-MM-DD`.
///
/// # Errors
///
/// When the value is not such a string, or names no date.
pub fn deserialize<'de, T: PyDate, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    adapt::deserialize(deserializer)
}

/// Python's `str()` of `value`.
///
/// ```
/// let day = time::Date::from_calendar_date(812, time::Month::May, 3).unwrap();
/// assert_eq!(memocache::python::date::to_str(&day).unwrap(), "0812-05-03");
/// ```
///
/// # Errors
///
/// As [`serialize`].
pub fn to_str<T: PyDate>(value: &T) -> Result<String, Error> {
    adapt::to_str(value)
}

/// Reads Python's `str(date)`.
///
/// ```
/// let day: time::Date = memocache::python::date::parse("2024-02-29").unwrap();
/// assert_eq!(day.ordinal(), 60);
/// ```
///
/// # Errors
///
/// As [`deserialize`].
pub fn parse<T: PyDate>(text: &str) -> Result<T, Error> {
    adapt::parse(text)
}

/// `#[serde(with = "memocache::python::date::option")]`: an `Option` of a
/// date, `None` as `null`. Add `#[serde(default)]` for a field that may
/// be missing. See the [module](super) example.
pub mod option {
    use serde::{Deserializer, Serializer};

    use super::PyDate;
    use crate::python::adapt;

    /// Serializes `Some` as Python's `str(date)`, `None` as `null`.
    ///
    /// # Errors
    ///
    /// As [`super::serialize`].
    pub fn serialize<T: PyDate, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        adapt::serialize_option(value, serializer)
    }

    /// Deserializes `null` as `None`, a date string as
    /// [`super::deserialize`] does.
    ///
    /// # Errors
    ///
    /// As [`super::deserialize`].
    pub fn deserialize<'de, T: PyDate, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        adapt::deserialize_option(deserializer)
    }
}
