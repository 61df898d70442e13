//! `--codec`: how values are stored, and reading them back with a reason
//! when they do not decode.

use std::borrow::Cow;

use clap::ValueEnum;
use memocache_core::pyjson::{self, PyValue};
use memocache_core::{
    Compression, DEFAULT_MAX_DECODED_SIZE, Format, MsgPack, Uncompressed, Zlib, Zstd,
};

/// A stored value's format and compression.
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
    fn is_json(self) -> bool {
        matches!(self, Self::JsonZlib | Self::JsonZstd | Self::Json)
    }

    fn compression(self) -> &'static dyn Compression {
        // The levels are the codecs' defaults: zlib's is Python's.
        static ZLIB: Zlib = Zlib::with_level(6);
        static ZSTD: Zstd = Zstd::with_level(3);
        match self {
            Self::JsonZlib => &ZLIB,
            Self::JsonZstd | Self::MsgpackZstd => &ZSTD,
            Self::Json | Self::Msgpack => &Uncompressed,
        }
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
        let raw = if self.is_json() {
            pyjson::to_vec(value).map_err(|e| e.to_string())?
        } else {
            fits_msgpack(value)?;
            MsgPack.serialize(value).map_err(|e| e.to_string())?
        };
        self.compression()
            .compress(raw)
            .map_err(|e| format!("cannot compress the value: {e}"))
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
        let compression = self.compression();
        let raw: Cow<'_, [u8]> = compression
            .decompress(stored, DEFAULT_MAX_DECODED_SIZE)
            .map_err(|e| {
                format!(
                    "the value at {key} is not a {} stream ({e}){}",
                    compression.name(),
                    self.hint(stored)
                )
            })?;
        let decoded = if self.is_json() {
            pyjson::parse(&raw).map_err(|e| e.to_string())
        } else {
            MsgPack
                .deserialize::<PyValue>(&raw)
                .map_err(|e| e.to_string())
        };
        decoded.map_err(|e| {
            let what = match compression.name() {
                "none" => String::new(),
                name => format!("{name}-compressed but "),
            };
            format!(
                "the value at {key} is {what}not {} ({e}){}",
                self.format_name(),
                self.hint(stored)
            )
        })
    }

    /// Which other codec the stored bytes look like, as advice.
    fn hint(self, stored: &[u8]) -> String {
        let looks_like = if stored.starts_with(&ZSTD_MAGIC) {
            Some(("a zstd stream", &[Self::JsonZstd, Self::MsgpackZstd][..]))
        } else if is_zlib_header(stored) {
            Some(("a zlib stream", &[Self::JsonZlib][..]))
        } else if pyjson::parse(stored).is_ok() {
            Some(("plain JSON", &[Self::Json][..]))
        } else {
            None
        };
        match looks_like {
            Some((what, codecs)) if !codecs.contains(&self) => {
                let names: Vec<String> = codecs
                    .iter()
                    .map(|c| {
                        format!(
                            "--codec {}",
                            c.to_possible_value().expect("named").get_name()
                        )
                    })
                    .collect();
                format!("; it looks like {what}: try {}", names.join(" or "))
            }
            _ => String::new(),
        }
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
    use super::*;

    #[test]
    fn every_codec_round_trips_a_value() {
        let value =
            pyjson::parse(br#"{"a": [1, -2, 1.5, "\u00e9", null, true], "b": {}}"#).unwrap();
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
