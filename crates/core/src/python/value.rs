//! [`PyValue`]: what Python's `json.loads` returns, and the reader.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{BIG_INT_TOKEN, Error};

/// How deep lists and dicts may nest before the reader gives up.
const MAX_DEPTH: usize = 512;

// serde's data model has no integers beyond 128 bits. Two side channels,
// on the thread that deserializes, keep them exact for `PyValue`s.
thread_local! {
    /// Set when this thread made a [`PyValue::Float`] of an integral value
    /// beyond `i64`: a reader without big integers (serde_json) may have
    /// turned an `int` literal into it. See [`take_maybe_lost_int`].
    static MAYBE_LOST_INT: Cell<bool> = const { Cell::new(false) };
    /// The digits of the `int` that [`visit_big_int`] is handing over as a
    /// float, for a `PyValue` visitor to take instead.
    static OFFERED_BIG_INT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Hands an `int` beyond `u128` (its decimal `digits`) to `visitor`: as the
/// nearest float, what serde_json gives any other type, while a `PyValue`
/// takes the exact digits.
pub(super) fn visit_big_int<'de, V, E>(digits: String, visitor: V) -> Result<V::Value, E>
where
    V: Visitor<'de>,
    E: de::Error,
{
    /// Withdraws the offer when the visit ends, even by a panic.
    struct Withdraw;
    impl Drop for Withdraw {
        fn drop(&mut self) {
            OFFERED_BIG_INT.set(None);
        }
    }

    let nearest = digits.parse().unwrap_or(f64::NAN);
    OFFERED_BIG_INT.set(Some(digits));
    let _withdraw = Withdraw;
    visitor.visit_f64(nearest)
}

/// Whether a [`PyValue`] read on this thread since the last call may hold
/// an integer a reader rounded to a float; clears the mark. The JSON
/// format then reads the text again with [`parse`], which keeps every
/// integer exact.
pub(crate) fn take_maybe_lost_int() -> bool {
    MAYBE_LOST_INT.replace(false)
}

/// A value as Python's `json.loads` returns it.
///
/// Integers stay exact at any size, dicts keep their keys in document
/// order, and floats include `NaN` and the infinities. Serializing a
/// `PyValue` with [`to_vec`](super::to_vec) writes exactly what `json.dumps`
/// writes for the Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    /// `None` (JSON `null`).
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An `int` that fits `i128`.
    Int(i128),
    /// An `int` beyond `i128`, as its decimal digits (with a leading `-` if
    /// negative).
    BigInt(String),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `dict`, in key order.
    Dict(Vec<(String, PyValue)>),
}

/// Reads JSON text as Python's `json.loads` does (including `NaN`,
/// `Infinity` and `-Infinity`; a duplicate key keeps its first position and
/// its last value).
pub fn parse(text: &[u8]) -> Result<PyValue, Error> {
    let mut reader = Reader { text, pos: 0 };
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos != text.len() {
        return Err(reader.error("extra data after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> Error {
        Error::new(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, literal: &[u8]) -> bool {
        if self.text[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyValue, Error> {
        match self.peek() {
            None => Err(self.error("expected a value")),
            Some(b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'[') => self.list(depth + 1),
            Some(b'{') => self.dict(depth + 1),
            Some(b'-' | b'0'..=b'9') => {
                if self.eat(b"-Infinity") {
                    Ok(PyValue::Float(f64::NEG_INFINITY))
                } else {
                    self.number()
                }
            }
            Some(_) => {
                for (literal, value) in [
                    (&b"null"[..], PyValue::None),
                    (b"true", PyValue::Bool(true)),
                    (b"false", PyValue::Bool(false)),
                    (b"NaN", PyValue::Float(f64::NAN)),
                    (b"Infinity", PyValue::Float(f64::INFINITY)),
                ] {
                    if self.eat(literal) {
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value"))
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<PyValue, Error> {
        let start = self.pos;
        self.eat(b"-");
        if self.eat(b"0") {
            // No leading zeros: "01" is "0" followed by extra data.
        } else if self.digits() == 0 {
            return Err(self.error("expected a digit"));
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            let dot = self.pos;
            self.pos += 1;
            if self.digits() == 0 {
                // Python's scanner does not take "1." as a number.
                self.pos = dot;
            } else {
                is_float = true;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let e = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                self.pos = e;
            } else {
                is_float = true;
            }
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).expect("ASCII number");
        if is_float {
            let v: f64 = text.parse().map_err(|_| self.error("invalid float"))?;
            return Ok(PyValue::Float(v));
        }
        Ok(match text.parse::<i128>() {
            Ok(v) => PyValue::Int(v),
            // Python ints have no bound; "-0" never reaches here (it fits).
            Err(_) => PyValue::BigInt(text.to_owned()),
        })
    }

    fn hex4(&mut self) -> Result<u16, Error> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("truncated \\u escape"))?;
        let hex = std::str::from_utf8(hex).map_err(|_| self.error("invalid \\u escape"))?;
        let unit = u16::from_str_radix(hex, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(unit)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.error("invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.pos += 1;
                    let ch = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        if (0xd800..0xdc00).contains(&first) && self.text[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xdc00..0xe000).contains(&second) {
                let c =
                    0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(second) - 0xdc00);
                return Ok(char::from_u32(c).expect("valid surrogate pair"));
            }
            self.pos = save;
        }
        char::from_u32(u32::from(first))
            .ok_or_else(|| self.error("lone surrogate (not representable in a Rust string)"))
    }

    fn list(&mut self, depth: usize) -> Result<PyValue, Error> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b"]") {
            return Ok(PyValue::List(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            if self.eat(b"]") {
                return Ok(PyValue::List(items));
            }
            if !self.eat(b",") {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<PyValue, Error> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.pos += 1;
        let mut dict = DictBuilder::default();
        self.skip_whitespace();
        if self.eat(b"}") {
            return Ok(dict.finish());
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if !self.eat(b":") {
                return Err(self.error("expected ':'"));
            }
            self.skip_whitespace();
            let value = self.value(depth)?;
            dict.insert(key, value);
            self.skip_whitespace();
            if self.eat(b"}") {
                return Ok(dict.finish());
            }
            if !self.eat(b",") {
                return Err(self.error("expected ',' or '}'"));
            }
        }
    }
}

/// Collects dict entries as Python does: a repeated key keeps its first
/// position and takes the last value.
#[derive(Default)]
struct DictBuilder {
    entries: Vec<(String, PyValue)>,
    index: HashMap<String, usize>,
}

impl DictBuilder {
    fn insert(&mut self, key: String, value: PyValue) {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    fn finish(self) -> PyValue {
        PyValue::Dict(self.entries)
    }
}

impl Serialize for PyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PyValue::None => serializer.serialize_none(),
            PyValue::Bool(b) => serializer.serialize_bool(*b),
            PyValue::Int(i) => match i64::try_from(*i) {
                Ok(small) => serializer.serialize_i64(small),
                Err(_) => match u64::try_from(*i) {
                    Ok(u) => serializer.serialize_u64(u),
                    Err(_) => serializer.serialize_i128(*i),
                },
            },
            PyValue::BigInt(digits) => serializer.serialize_newtype_struct(BIG_INT_TOKEN, digits),
            PyValue::Float(f) => serializer.serialize_f64(*f),
            PyValue::Str(s) => serializer.serialize_str(s),
            PyValue::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            PyValue::Dict(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PyValueVisitor)
    }
}

struct PyValueVisitor;

impl<'de> Visitor<'de> for PyValueVisitor {
    type Value = PyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-like value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<PyValue, E> {
        Ok(PyValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<PyValue, E> {
        Ok(PyValue::Int(i128::from(v)))
    }

    fn visit_i128<E>(self, v: i128) -> Result<PyValue, E> {
        Ok(PyValue::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<PyValue, E> {
        Ok(PyValue::Int(i128::from(v)))
    }

    fn visit_u128<E>(self, v: u128) -> Result<PyValue, E> {
        Ok(i128::try_from(v).map_or_else(|_| PyValue::BigInt(v.to_string()), PyValue::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<PyValue, E> {
        if let Some(digits) = OFFERED_BIG_INT.take() {
            return Ok(PyValue::BigInt(digits));
        }
        // 2^63: below it, serde_json hands integers over as integers.
        if v.fract() == 0.0 && v.abs() >= 9_223_372_036_854_775_808.0 {
            MAYBE_LOST_INT.set(true);
        }
        Ok(PyValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<PyValue, E> {
        Ok(PyValue::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<PyValue, E> {
        Ok(PyValue::Str(v))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<PyValue, E> {
        Ok(PyValue::List(
            v.iter().map(|b| PyValue::Int(i128::from(*b))).collect(),
        ))
    }

    fn visit_none<E>(self) -> Result<PyValue, E> {
        Ok(PyValue::None)
    }

    fn visit_unit<E>(self) -> Result<PyValue, E> {
        Ok(PyValue::None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<PyValue, D::Error> {
        PyValue::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<PyValue, D::Error> {
        PyValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PyValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(PyValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PyValue, A::Error> {
        let mut dict = DictBuilder::default();
        while let Some(key) = map.next_key::<PyValue>()? {
            let key = match key {
                PyValue::Str(s) => s,
                other => super::to_string(&other).map_err(de::Error::custom)?,
            };
            dict.insert(key, map.next_value()?);
        }
        Ok(dict.finish())
    }
}
