//! Reading a [`PyValue`] into any `Deserialize` type.
//!
//! This is the slow path of JSON decoding, taken only when serde_json
//! refuses a document, e.g. because Python wrote `NaN` or `Infinity`.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, Unexpected, VariantAccess,
    Visitor,
};

use super::{Error, PyValue};

impl<'de> IntoDeserializer<'de, Error> for PyValue {
    type Deserializer = PyValue;

    fn into_deserializer(self) -> PyValue {
        self
    }
}

impl PyValue {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            PyValue::None => Unexpected::Unit,
            PyValue::Bool(b) => Unexpected::Bool(*b),
            PyValue::Int(_) | PyValue::BigInt(_) => Unexpected::Other("integer"),
            PyValue::Float(f) => Unexpected::Float(*f),
            PyValue::Str(s) => Unexpected::Str(s),
            PyValue::List(_) => Unexpected::Seq,
            PyValue::Dict(_) => Unexpected::Map,
        }
    }
}

impl<'de> Deserializer<'de> for PyValue {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            PyValue::None => visitor.visit_unit(),
            PyValue::Bool(b) => visitor.visit_bool(b),
            PyValue::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(i) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(i)
                }
            }
            PyValue::BigInt(digits) => match digits.parse::<u128>() {
                Ok(v) => visitor.visit_u128(v),
                // Beyond every Rust integer: the nearest float, as
                // serde_json does with large numbers (a `PyValue` keeps
                // the digits).
                Err(_) => super::value::visit_big_int(digits, visitor),
            },
            PyValue::Float(f) => visitor.visit_f64(f),
            PyValue::Str(s) => visitor.visit_string(s),
            PyValue::List(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            PyValue::Dict(entries) => {
                let mut map = MapDeserializer::new(entries.into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            PyValue::None => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            PyValue::Str(variant) => visitor.visit_enum(Variant {
                name: variant,
                value: None,
            }),
            PyValue::Dict(mut entries) if entries.len() == 1 => {
                let (name, value) = entries.pop().expect("one entry");
                visitor.visit_enum(Variant {
                    name,
                    value: Some(value),
                })
            }
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"a string or a one-entry dict",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// An enum variant: its name and, unless it is a unit variant, its content.
struct Variant {
    name: String,
    value: Option<PyValue>,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = VariantContent;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantContent), Error> {
        let name = seed.deserialize(PyValue::Str(self.name))?;
        Ok((name, VariantContent(self.value)))
    }
}

struct VariantContent(Option<PyValue>);

impl<'de> VariantAccess<'de> for VariantContent {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None | Some(PyValue::None) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(other.unexpected(), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(value @ PyValue::List(_)) => value.deserialize_any(visitor),
            Some(other) => Err(de::Error::invalid_type(
                other.unexpected(),
                &"tuple variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(value @ PyValue::Dict(_)) => value.deserialize_any(visitor),
            Some(other) => Err(de::Error::invalid_type(
                other.unexpected(),
                &"struct variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}
