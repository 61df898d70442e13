//! Python's JSON, byte for byte.
//!
//! The reference builds its cache keys from `json.dumps(x, default=str)` and
//! stores `json.dumps(result)`. This module writes any
//! [`Serialize`](serde::Serialize) value exactly as CPython's `json.dumps`
//! with default settings writes the equivalent Python value (`", "` and
//! `": "` separators, `ensure_ascii` escapes with lower-case hex and
//! surrogate pairs, floats in `repr` form, `NaN`/`Infinity`), and reads
//! what `json.loads` reads into a [`PyValue`], keeping integers exact,
//! object keys in order and the non-standard float tokens.
//!
//! Rust values map to Python values as serde's data model suggests:
//! `()`/`None` is `None`, sequences and tuples are lists, maps and structs
//! are dicts in their iteration/declaration order, unit enum variants are
//! their name, other variants a one-entry dict `{"Variant": ...}` (as
//! serde_json), and byte strings (`serialize_bytes`) are the `str()` of a
//! Python `bytes` object, which is what `default=str` makes of them.
//!
//! Python types that `default=str` turns into strings have serde adapters
//! here that read and write exactly Python's `str()` text, for
//! `#[serde(with = "...")]` on a field: `datetime`, `date` and `time`
//! for chrono's (feature `chrono`) and the time crate's (feature `time`)
//! types, and `decimal` for `rust_decimal::Decimal` (feature
//! `rust_decimal`). UUIDs need no adapter: the `uuid` crate's serde form
//! (its `serde` feature) is the lowercase hyphenated text that is
//! Python's `str(uuid.UUID)`, and it reads that text back.

mod de;
mod ser;
mod value;

#[cfg(any(feature = "chrono", feature = "time", feature = "rust_decimal"))]
mod adapt;
#[cfg(any(feature = "chrono", feature = "time"))]
mod civil;
#[cfg(any(feature = "chrono", feature = "time"))]
pub mod date;
#[cfg(any(feature = "chrono", feature = "time"))]
pub mod datetime;
#[cfg(feature = "rust_decimal")]
pub mod decimal;
#[cfg(any(feature = "chrono", feature = "time"))]
pub mod time;
#[cfg(feature = "chrono")]
mod with_chrono;
#[cfg(feature = "time")]
mod with_time;

use std::fmt;

pub use ser::{to_string, to_vec, write_float, write_str, write_value};
pub(crate) use value::take_maybe_lost_int;
pub use value::{PyValue, parse};

/// An error writing or reading Python JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub(crate) fn new(message: impl fmt::Display) -> Self {
        Error(message.to_string())
    }

    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }
}

/// Writing Python JSON failed: an [`Encode`](crate::Error::Encode) error
/// caused by `e`.
impl From<Error> for crate::Error {
    fn from(e: Error) -> Self {
        crate::Error::Encode(Box::new(e))
    }
}

/// The newtype-struct name under which [`PyValue::Int`] values too large for
/// `i128` travel through serde; the writer emits their digits verbatim.
pub(crate) const BIG_INT_TOKEN: &str = "$memocache::python::BigInt";
