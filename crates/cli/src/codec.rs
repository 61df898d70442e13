//! `--codec`: how values are stored, and reading them back with a reason
//! when they do not decode.

use clap::ValueEnum;
use memocache_core::python::{self, PyValue};
use memocache_core::{DynCodec, Error, Report, codec_by_name};

/// A stored value's format and compression: memocache's codec of the same
/// name, with `+` for `-` (`json-zlib` is `json+zlib`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecName {
    /// Python JSON, zlib-compressed: the reference's, read by Python services.
    JsonZlib,
    /// Python JSON, zstd-compressed.
    JsonZstd,
    /// Python JSON, uncompressed.
    Json,
    /// MessagePack, zstd-compressed.
    MsgpackZstd,
    /// MessagePack, uncompressed.
    Msgpack,
}

/// zstd's frame magic number.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl CodecName {
    /// The `--codec` value, e.g. `json-zlib`.
    fn arg(self) -> String {
        self.to_possible_value()
            .expect("every codec has a value")
            .get_name()
            .to_owned()
    }

    /// The codec, as memocache names it.
    fn codec(self) -> &'static dyn DynCodec {
        codec_by_name(&self.arg().replace('-', "+"))
            .expect("the command is built with every codec's feature")
    }

    fn is_json(self) -> bool {
        matches!(self, Self::JsonZlib | Self::JsonZstd | Self::Json)
    }

    fn format_name(self) -> &'static str {
        if self.is_json() {
            "JSON"
        } else {
            "MessagePack"
        }
    }

    /// Encodes `value` as this codec stores it.
    pub fn encode(self, value: &PyValue) -> Result<Vec<u8>, String> {
        if !self.is_json() {
            fits_msgpack(value)?;
        }
        self.codec()
            .encode_value(value)
            .map_err(|e| e.report().to_string())
    }

    /// Decodes the value stored at `key`; the error says which step failed
    /// and, when the bytes look like another codec's, which `--codec` to
    /// try.
    pub fn decode(self, key: &str, stored: &[u8]) -> Result<PyValue, String> {
        if stored.is_empty() {
            return Err(format!(
                "the value at {key} is empty (the reference reads that as a miss)"
            ));
        }
        let codec = self.codec();
        codec.decode_value(stored).map_err(|error| match &error {
            Error::Decompress { compression, .. } => format!(
                "the value at {key} is not a {compression} stream ({}){}",
                cause(&error),
                self.hint(stored)
            ),
            Error::Decode(_) => {
                let what = match codec.name().split_once('+') {
                    Some((_, compression)) => format!("{compression}-compressed but "),
                    None => String::new(),
                };
                format!(
                    "the value at {key} is {what}not {} ({}){}",
                    self.format_name(),
                    cause(&error),
                    self.hint(stored)
                )
            }
            _ => format!("the value at {key} cannot be read: {}", error.report()),
        })
    }

    /// Which other codec the stored bytes look like, as advice.
    fn hint(self, stored: &[u8]) -> String {
        let looks_like = if stored.starts_with(&ZSTD_MAGIC) {
            Some(("a zstd stream", &[Self::JsonZstd, Self::MsgpackZstd][..]))
        } else if is_zlib_header(stored) {
            Some(("a zlib stream", &[Self::JsonZlib][..]))
        } else if python::parse(stored).is_ok() {
            Some(("plain JSON", &[Self::Json][..]))
        } else {
            None
        };
        match looks_like {
            Some((what, codecs)) if !codecs.contains(&self) => {
                let names: Vec<String> = codecs
                    .iter()
                    .map(|c| format!("--codec {}", c.arg()))
                    .collect();
                format!("; it looks like {what}: try {}", names.join(" or "))
            }
            _ => String::new(),
        }
    }
}

/// What made `error` happen: its causes, or the error itself without one.
fn cause(error: &Error) -> String {
    match std::error::Error::source(error) {
        Some(source) => Report::new(source).to_string(),
        None => error.to_string(),
    }
}

/// Whether `bytes` start with a zlib header (RFC 1950: deflate, and a
/// check value making the first two bytes a multiple of 31).
fn is_zlib_header(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// MessagePack holds integers of at most 64 bits: refuse larger ones
/// rather than store them as something else.
fn fits_msgpack(value: &PyValue) -> Result<(), String> {
    match value {
        PyValue::Int(i) if i64::try_from(*i).is_err() && u64::try_from(*i).is_err() => {
            Err(too_big_for_msgpack(&i.to_string()))
        }
        PyValue::BigInt(digits) => Err(too_big_for_msgpack(digits)),
        PyValue::List(items) => items.iter().try_for_each(fits_msgpack),
        PyValue::Dict(entries) => entries.iter().try_for_each(|(_, v)| fits_msgpack(v)),
        _ => Ok(()),
    }
}

fn too_big_for_msgpack(digits: &str) -> String {
    format!("the integer {digits} does not fit MessagePack's 64 bits: store it with a JSON codec")
}

#[cfg(test)]
mod tests {
    use memocache_core::{Compression as _, Zlib};

    use super::*;

    #[test]
    fn every_value_names_one_of_memocaches_codecs() {
        for codec in CodecName::value_variants() {
            assert_eq!(codec.codec().name(), codec.arg().replace('-', "+"));
        }
    }

    #[test]
    fn every_codec_round_trips_a_value() {
        let value =
            python::parse(br#"{"a": [1, -2, 1.5, "\u00e9", null, true], "b": {}}"#).unwrap();
        for codec in CodecName::value_variants() {
            let stored = codec.encode(&value).unwrap();
            assert_eq!(codec.decode("k", &stored).unwrap(), value, "{codec:?}");
        }
    }

    #[test]
    fn failures_say_which_step_failed_and_which_codec_to_try() {
        let json = CodecName::Json.encode(&PyValue::Int(1)).unwrap();
        let err = CodecName::JsonZlib.decode("k", &json).unwrap_err();
        assert!(err.contains("not a zlib stream"), "{err}");
        assert!(err.contains("try --codec json"), "{err}");

        let zstd = CodecName::JsonZstd.encode(&PyValue::Int(1)).unwrap();
        let err = CodecName::JsonZlib.decode("k", &zstd).unwrap_err();
        assert!(
            err.contains("try --codec json-zstd or --codec msgpack-zstd"),
            "{err}"
        );

        let not_json = Zlib::default().compress(b"{oops".to_vec()).unwrap();
        let err = CodecName::JsonZlib.decode("k", &not_json).unwrap_err();
        assert!(err.contains("zlib-compressed but not JSON"), "{err}");
        assert!(!err.contains("try"), "{err}");

        let err = CodecName::Json.decode("k", b"{oops").unwrap_err();
        assert!(err.starts_with("the value at k is not JSON"), "{err}");
    }

    #[test]
    fn msgpack_refuses_integers_beyond_64_bits() {
        let err = CodecName::Msgpack
            .encode(&PyValue::List(vec![PyValue::Int(1 << 70)]))
            .unwrap_err();
        assert!(err.contains("1180591620717411303424"), "{err}");
        assert!(
            CodecName::Msgpack
                .encode(&PyValue::Int(u64::MAX.into()))
                .is_ok()
        );
    }
}
