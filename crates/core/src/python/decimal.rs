//! `#[serde(with = "memocache::python::decimal")]`: a
//! `rust_decimal::Decimal` as Python's `str(Decimal)`, the text a Python
//! service's cache holds for it (feature `rust_decimal`).
//!
//! dtpyfw stores a `decimal.Decimal` as `str(d)`: its digits as given
//! (`"19.90"`, `"-0.00"`), switching to an exponent for small numbers
//! (`Decimal("0.0000001")` is `"1E-7"`) and for positive exponents
//! (`"1E+2"`). Python keeps a coefficient and an exponent; a `Decimal`
//! keeps a 96-bit coefficient and a scale of 0 to 28 (an exponent of 0
//! to -28), and a sign, also for zero.
//!
//! **Writing** gives exactly `str()` of the Python `Decimal` with the same
//! sign, coefficient and exponent: `1.10` for 1.10 (scale 2), `-0.00`,
//! `1E-7` for 0.0000001 (scale 7), `1.23E-8`, `0E-7`, `0.000001`. Every
//! `Decimal` has such a Python twin, so writing never fails.
//!
//! **Reading** takes the strings Python's `Decimal()` reads (an optional
//! sign, digits with an optional point, an optional exponent `E`/`e`),
//! and JSON numbers (as a service that stores decimals as floats writes
//! them: `1.1` is read as `Decimal(repr(1.1))`, i.e. 1.1; integers
//! exactly). A text whose exponent a `Decimal` cannot hold but whose
//! *value* it can is read as that value, at the exponent nearest the
//! text's: `1E+2` (Python's exponent 2) reads as 100 (scale 0, which
//! writes back as `100`, a Python `Decimal` equal to `1E+2`), and
//! `1.000…0` with more than 28 decimal places drops the excess zeros.
//! A value it cannot hold exactly (more than 28 significant decimal
//! places, a coefficient beyond 96 bits, `NaN`, `Infinity`) is a decode
//! error naming the type and the text: never a silently rounded amount.
//! Every string Python writes for a `Decimal` with an exponent of 0 to
//! -28 and a coefficient below 2^96 reads back to a value that writes the
//! same string.
//!
//! **Sharing a key with a Python service.** memocache treats a stored
//! entry that does not decode as a miss: it logs the decode error,
//! computes the value and overwrites the entry. rust_decimal's own serde
//! reads Python's texts but writes its `Display` form, `"0.0000001"`
//! where Python writes `"1E-7"`; its `serde-float` and
//! `serde-arbitrary-precision` forms write JSON numbers. So a Rust
//! service that misses (or writes first) stores a text the Python service
//! would not have. With this adapter the Rust side decodes Python's
//! entries as hits and writes the very `str()` text Python writes, so
//! whichever side writes a shared key, the entry keeps Python's format.
//! An entry the adapter still refuses (`NaN`, more than 28 places) is
//! still a miss, and is overwritten with the Rust value in Python's form.
//!
//! ```
//! use rust_decimal::Decimal;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Price {
//!     #[serde(with = "memocache::python::decimal")]
//!     amount: Decimal,
//!     #[serde(default, with = "memocache::python::decimal::option")]
//!     discount: Option<Decimal>,
//! }
//!
//! let stored = r#"{"amount": "19.90", "discount": "1E-7"}"#;
//! let price: Price = serde_json::from_str(stored).unwrap();
//! assert_eq!(price.amount, Decimal::new(1990, 2));
//! assert_eq!(memocache::python::to_string(&price).unwrap(), stored);
//!
//! // A JSON number reads too; the write is Python's str().
//! let float: Price = serde_json::from_str(r#"{"amount": 2.5}"#).unwrap();
//! assert_eq!(memocache::python::to_string(&float).unwrap(), r#"{"amount": "2.5", "discount": null}"#);
//! ```

use rust_decimal::Decimal;
use serde::{Deserializer, Serializer};

use super::Error;
use super::adapt::{self, Invalid, Number, PyStr};

/// A `Decimal`'s largest coefficient, 2^96 - 1.
const MAX_COEFFICIENT: u128 = (1 << 96) - 1;
/// A `Decimal`'s largest scale.
const MAX_SCALE: i64 = 28;

impl PyStr for Decimal {
    const RUST_TYPE: &'static str = "rust_decimal::Decimal";
    const PY_FORM: &'static str = "str(Decimal)";
    const EXPECTED: &'static str = "Python str(Decimal) (`1.10`, `-0.00`, `1E-7`, ...) or a JSON \
                                    number, with at most 28 decimal places and a 96-bit coefficient";
    const NUMBERS: bool = true;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        write_decimal(out, self);
        Ok(())
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        read_decimal(text)
    }

    fn read_number(number: Number) -> Result<Self, Invalid> {
        let too_large = || Invalid::Because("it is beyond a 96-bit coefficient".into());
        match number {
            Number::Int(i) if i.unsigned_abs() <= MAX_COEFFICIENT => {
                Ok(Decimal::from_i128_with_scale(i, 0))
            }
            Number::UInt(u) if u <= MAX_COEFFICIENT => {
                Ok(Decimal::from_i128_with_scale(u as i128, 0))
            }
            Number::Int(_) | Number::UInt(_) => Err(too_large()),
            Number::Float(f) if !f.is_finite() => Err(Invalid::Because(
                "it is not a finite number, which a Decimal has no form for".into(),
            )),
            Number::Float(f) => {
                let mut repr = Vec::with_capacity(32);
                super::write_float(&mut repr, f);
                read_decimal(std::str::from_utf8(&repr).expect("a float's repr is ASCII"))
            }
        }
    }
}

/// Appends Python's `str()` of the `Decimal` with `value`'s sign,
/// coefficient and exponent (`-scale`); `_pydecimal.Decimal.__str__`.
fn write_decimal(out: &mut String, value: &Decimal) {
    if value.is_sign_negative() {
        out.push('-');
    }
    let coefficient = value.mantissa().unsigned_abs().to_string();
    let len = coefficient.len() as i64;
    let exponent = -i64::from(value.scale());
    let left_digits = exponent + len;
    let dot = if exponent <= 0 && left_digits > -6 {
        left_digits
    } else {
        1
    };
    if dot <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-dot) as usize));
        out.push_str(&coefficient);
    } else if dot >= len {
        out.push_str(&coefficient);
        out.extend(std::iter::repeat_n('0', (dot - len) as usize));
    } else {
        out.push_str(&coefficient[..dot as usize]);
        out.push('.');
        out.push_str(&coefficient[dot as usize..]);
    }
    if left_digits != dot {
        use std::fmt::Write as _;
        write!(out, "E{:+}", left_digits - dot).expect("write to String");
    }
}

/// Reads a Python `Decimal()` string that names a `Decimal` exactly.
fn read_decimal(text: &str) -> Result<Decimal, Invalid> {
    let bytes = text.as_bytes();
    let (negative, mut pos) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let rest = text[pos..].to_ascii_lowercase();
    if ["nan", "snan", "inf", "infinity"]
        .iter()
        .any(|special| rest == *special || (special.ends_with("nan") && rest.starts_with(special)))
    {
        return Err(Invalid::Because(
            "it is not a finite number, which a Decimal has no form for".into(),
        ));
    }

    // The digits, and the exponent of the last one.
    let mut digits: Vec<u8> = Vec::new();
    let mut fraction_digits: i64 = 0;
    let mut any_digit = false;
    while let Some(d) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
        digits.push(d - b'0');
        any_digit = true;
        pos += 1;
    }
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        while let Some(d) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            digits.push(d - b'0');
            fraction_digits += 1;
            any_digit = true;
            pos += 1;
        }
    }
    if !any_digit {
        return Err(Invalid::Form);
    }
    let mut exponent: i64 = 0;
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        let exponent_negative = match bytes.get(pos) {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let start = pos;
        while let Some(d) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(i64::from(d - b'0'));
            pos += 1;
        }
        if pos == start {
            return Err(Invalid::Form);
        }
        if exponent_negative {
            exponent = -exponent;
        }
    }
    if pos != bytes.len() {
        return Err(Invalid::Form);
    }
    let mut exponent = exponent.saturating_sub(fraction_digits);

    // Leading zeros say nothing.
    let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len());
    digits.drain(..first);
    if digits.is_empty() {
        // Zero: at the nearest scale a Decimal has.
        let scale = exponent.saturating_neg().clamp(0, MAX_SCALE) as u32;
        let mut zero = Decimal::new(0, scale);
        zero.set_sign_negative(negative);
        return Ok(zero);
    }
    // A positive exponent: the same value at exponent 0, when it fits.
    if exponent > 0 {
        if (digits.len() as i64).saturating_add(exponent) > 29 {
            return Err(Invalid::Because("it is beyond a 96-bit coefficient".into()));
        }
        digits.extend(std::iter::repeat_n(0, exponent as usize));
        exponent = 0;
    }
    // Too many places, or too many digits: trailing zeros may go.
    let coefficient = |digits: &[u8]| -> Option<u128> {
        if digits.len() > 29 {
            return None;
        }
        let value = digits.iter().fold(0u128, |n, d| n * 10 + u128::from(*d));
        (value <= MAX_COEFFICIENT).then_some(value)
    };
    while (exponent < -MAX_SCALE || coefficient(&digits).is_none())
        && exponent < 0
        && digits.last() == Some(&0)
    {
        digits.pop();
        exponent += 1;
    }
    if exponent < -MAX_SCALE {
        return Err(Invalid::Because(
            "it has more than 28 decimal places, which a Decimal cannot hold".into(),
        ));
    }
    let Some(coefficient) = coefficient(&digits) else {
        return Err(Invalid::Because("it is beyond a 96-bit coefficient".into()));
    };
    let mut value = Decimal::from_i128_with_scale(coefficient as i128, (-exponent) as u32);
    value.set_sign_negative(negative);
    Ok(value)
}

/// Serializes `value` as Python's `str(Decimal)` (for
/// `#[serde(with = "memocache::python::decimal")]`).
///
/// # Errors
///
/// Only the serializer's own.
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    adapt::serialize(value, serializer)
}

/// Deserializes Python's `str(Decimal)` or a JSON number (for
/// `#[serde(with = "memocache::python::decimal")]`).
///
/// # Errors
///
/// When the value is neither, or a `Decimal` cannot hold it exactly (see
/// the [module](self) docs); the message names the type and the text.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    adapt::deserialize(deserializer)
}

/// Python's `str()` of `value`: what to pass as a call's argument so the
/// key is the one Python computes for the same `Decimal`.
///
/// ```
/// use rust_decimal::Decimal;
///
/// assert_eq!(memocache::python::decimal::to_str(&Decimal::new(110, 2)), "1.10");
/// assert_eq!(memocache::python::decimal::to_str(&Decimal::new(1, 7)), "1E-7");
/// assert_eq!(memocache::python::decimal::to_str(&Decimal::new(-12345, 10)), "-0.0000012345");
/// ```
pub fn to_str(value: &Decimal) -> String {
    let mut out = String::with_capacity(32);
    write_decimal(&mut out, value);
    out
}

/// Reads Python's `str(Decimal)` (or any string Python's `Decimal()`
/// reads whose value a `Decimal` holds exactly).
///
/// ```
/// use memocache::python::decimal;
/// use rust_decimal::Decimal;
///
/// assert_eq!(decimal::to_str(&decimal::parse("-0.00").unwrap()), "-0.00");
/// assert_eq!(decimal::parse("1.5E+3").unwrap(), Decimal::new(1500, 0));
/// let error = decimal::parse("1E-29").unwrap_err();
/// assert_eq!(
///     error.to_string().split(';').next().unwrap(),
///     "invalid rust_decimal::Decimal `1E-29`: it has more than 28 decimal places, which a Decimal cannot hold"
/// );
/// ```
///
/// # Errors
///
/// As [`deserialize`].
pub fn parse(text: &str) -> Result<Decimal, Error> {
    adapt::parse(text)
}

/// `#[serde(with = "memocache::python::decimal::option")]`: an
/// `Option<Decimal>`, `None` as `null`. Add `#[serde(default)]` for a
/// field that may be missing. See the [module](super) example.
pub mod option {
    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer};

    use crate::python::adapt;

    /// Serializes `Some` as Python's `str(Decimal)`, `None` as `null`.
    ///
    /// # Errors
    ///
    /// Only the serializer's own.
    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        adapt::serialize_option(value, serializer)
    }

    /// Deserializes `null` as `None`, anything else as
    /// [`super::deserialize`] does.
    ///
    /// # Errors
    ///
    /// As [`super::deserialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        adapt::deserialize_option(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        to_str(&read_decimal(text).unwrap_or_else(|e| panic!("{text}: {e:?}")))
    }

    #[test]
    fn python_str_forms_round_trip() {
        for text in [
            "0",
            "-0",
            "1.10",
            "-0.00",
            "1E-7",
            "0E-7",
            "0.000000",
            "0.000001",
            "1.23E-8",
            "0.00000123",
            "100",
            "19.90",
            "-1234.5678",
            "79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "1E-28",
            "0E-28",
            "-1E-28",
        ] {
            assert_eq!(round(text), text);
        }
    }

    #[test]
    fn other_spellings_read_as_the_same_value() {
        assert_eq!(round("1E+2"), "100");
        assert_eq!(round("-0.0000000000000000000000000001"), "-1E-28");
        assert_eq!(round("1.5e3"), "1500");
        assert_eq!(round("+.5"), "0.5");
        assert_eq!(round("5."), "5");
        assert_eq!(round("0E+5"), "0");
        assert_eq!(round("0E-40"), "0E-28");
        assert_eq!(
            round("1.000000000000000000000000000000"),
            "1.0000000000000000000000000000"
        );
        assert_eq!(round("000123.4500"), "123.4500");
        assert_eq!(
            round("79228162514264337593543950335.0"),
            "79228162514264337593543950335"
        );
    }

    #[test]
    fn values_a_decimal_cannot_hold_are_refused() {
        for text in [
            "79228162514264337593543950336",
            "1E+29",
            "1E-29",
            "0.12345678901234567890123456789",
            "NaN",
            "-Infinity",
            "inf",
            "sNaN12",
            "1E+99999999999999999999999",
        ] {
            assert!(
                matches!(read_decimal(text), Err(Invalid::Because(_))),
                "{text}"
            );
        }
        for text in [
            "", "-", ".", "1e", "1.2.3", " 1", "1 ", "1_000", "0x10", "e5",
        ] {
            assert!(matches!(read_decimal(text), Err(Invalid::Form)), "{text}");
        }
    }

    #[test]
    fn numbers_read_as_their_repr() {
        let number = |n| to_str(&Decimal::read_number(n).unwrap());
        assert_eq!(number(Number::Float(1.1)), "1.1");
        assert_eq!(number(Number::Float(100.0)), "100.0");
        assert_eq!(number(Number::Float(1e22)), "10000000000000000000000");
        assert_eq!(number(Number::Float(-0.0)), "-0.0");
        assert_eq!(number(Number::Float(1e-7)), "1E-7");
        assert_eq!(number(Number::Int(-42)), "-42");
        assert_eq!(
            number(Number::UInt(u128::from(u64::MAX))),
            u64::MAX.to_string()
        );
        assert!(Decimal::read_number(Number::Float(f64::NAN)).is_err());
        assert!(Decimal::read_number(Number::Float(1e300)).is_err());
        assert!(Decimal::read_number(Number::Float(5e-324)).is_err());
        assert!(Decimal::read_number(Number::UInt(u128::MAX)).is_err());
    }
}
