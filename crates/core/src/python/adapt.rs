//! The plumbing the `#[serde(with = ...)]` adapters share: a value's
//! Python `str()` text, written with `serialize_str` and read back by one
//! visitor, and the error messages that name the Rust type and the text.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::ser::{self, Serialize, Serializer};

use super::Error;

/// The longest stretch of an offending text quoted in an error message.
const QUOTED_CHARS: usize = 80;

/// Why a text is not a value of the type.
#[derive(Debug)]
pub enum Invalid {
    /// It does not have the expected form at all.
    Form,
    /// It has the form, but this part of it is wrong.
    Because(String),
}

/// A JSON number, for the types that read numbers too.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    /// An integer.
    Int(i128),
    /// A large unsigned integer.
    UInt(u128),
    /// A float.
    Float(f64),
}

/// A type with a Python `str()` text. Implemented by memocache for the
/// chrono, time and rust_decimal types the adapters cover; not
/// implementable outside this crate.
pub trait PyStr: Sized {
    /// The Rust type's name in messages, e.g. `chrono::NaiveDateTime`.
    const RUST_TYPE: &'static str;
    /// The Python form, e.g. `str(datetime)`.
    const PY_FORM: &'static str;
    /// What a text must look like, for messages.
    const EXPECTED: &'static str;
    /// Whether JSON numbers are read too.
    const NUMBERS: bool = false;

    /// Appends the Python `str()` text; the reason when there is none.
    fn write_py(&self, out: &mut String) -> Result<(), String>;

    /// Reads a text.
    fn read_py(text: &str) -> Result<Self, Invalid>;

    /// Reads a JSON number (only called when [`NUMBERS`](Self::NUMBERS)).
    fn read_number(number: Number) -> Result<Self, Invalid> {
        let _ = number;
        Err(Invalid::Form)
    }
}

/// The message for a text that is not a `T`.
fn read_message<T: PyStr>(what: &str, text: &str, invalid: Invalid) -> String {
    let mut quoted: String = text.chars().take(QUOTED_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    match invalid {
        Invalid::Form => format!(
            "invalid {} {what}`{quoted}`: expected {}",
            T::RUST_TYPE,
            T::EXPECTED
        ),
        Invalid::Because(reason) => format!(
            "invalid {} {what}`{quoted}`: {reason}; expected {}",
            T::RUST_TYPE,
            T::EXPECTED
        ),
    }
}

/// The message for a `T` without a Python `str()` text.
fn write_message<T: PyStr>(reason: &str) -> String {
    format!(
        "cannot write {} as Python {}: {reason}",
        T::RUST_TYPE,
        T::PY_FORM
    )
}

/// The Python `str()` text of `value`.
#[cfg(any(feature = "chrono", feature = "time"))]
pub fn to_str<T: PyStr>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(32);
    value
        .write_py(&mut out)
        .map_err(|reason| Error::new(write_message::<T>(&reason)))?;
    Ok(out)
}

/// Reads `text` as a `T`.
pub fn parse<T: PyStr>(text: &str) -> Result<T, Error> {
    T::read_py(text).map_err(|invalid| Error::new(read_message::<T>("", text, invalid)))
}

/// Serializes `value` as its Python `str()` text.
pub fn serialize<T: PyStr, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(32);
    value
        .write_py(&mut out)
        .map_err(|reason| <S::Error as ser::Error>::custom(write_message::<T>(&reason)))?;
    serializer.serialize_str(&out)
}

/// Deserializes a `T` from its text (or, for the types that take them, a
/// JSON number).
pub fn deserialize<'de, T: PyStr, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    if T::NUMBERS {
        deserializer.deserialize_any(TextVisitor(PhantomData))
    } else {
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

/// Serializes `Some(value)` as the text, `None` as `null`.
pub fn serialize_option<T: PyStr, S: Serializer>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_some(&Adapted(value)),
        None => serializer.serialize_none(),
    }
}

/// Deserializes `null` as `None`, anything else as [`deserialize`] does.
pub fn deserialize_option<'de, T: PyStr, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_option(OptionVisitor(PhantomData))
}

/// A value serialized through its adapter.
struct Adapted<'a, T>(&'a T);

impl<T: PyStr> Serialize for Adapted<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(self.0, serializer)
    }
}

struct TextVisitor<T>(PhantomData<T>);

impl<T: PyStr> TextVisitor<T> {
    fn number<E: de::Error>(self, number: Number, unexpected: Unexpected<'_>) -> Result<T, E> {
        if !T::NUMBERS {
            return Err(E::invalid_type(unexpected, &self));
        }
        T::read_number(number).map_err(|invalid| {
            let text = match number {
                Number::Int(i) => i.to_string(),
                Number::UInt(u) => u.to_string(),
                Number::Float(f) => {
                    let mut repr = Vec::new();
                    super::write_float(&mut repr, f);
                    String::from_utf8(repr).expect("a float's repr is ASCII")
                }
            };
            E::custom(read_message::<T>("JSON number ", &text, invalid))
        })
    }
}

impl<T: PyStr> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as {}", T::RUST_TYPE, T::EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        T::read_py(text).map_err(|invalid| E::custom(read_message::<T>("", text, invalid)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.number(Number::Int(v.into()), Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.number(Number::Int(v.into()), Unexpected::Unsigned(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        self.number(Number::Int(v), Unexpected::Other("a 128-bit integer"))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        self.number(Number::UInt(v), Unexpected::Other("a 128-bit integer"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.number(Number::Float(v), Unexpected::Float(v))
    }
}

struct OptionVisitor<T>(PhantomData<T>);

impl<'de, T: PyStr> Visitor<'de> for OptionVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "null or a {} as {}", T::RUST_TYPE, T::EXPECTED)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserialize(deserializer).map(Some)
    }
}
