//! Codecs: values to stored bytes and back.
//!
//! A [`Codec`] is a serialization [`Format`] layered with a [`Compression`].
//! The default, [`JsonZlib`], is the reference's: Python's `json.dumps`
//! text, zlib-compressed. It writes exactly the JSON text Python writes for
//! the same data, and reads everything Python writes, `NaN` and
//! `Infinity` included.

use std::borrow::Cow;
use std::io::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result, pyjson};

/// Turns values into bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// A short name for logs and the CLI, e.g. `"json+zlib"`.
    fn name(&self) -> String;

    /// Encodes `value` into the bytes to store.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>>;

    /// Decodes stored bytes; any failure (corrupt, truncated, oversized,
    /// wrong shape) is an error, never a panic.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T>;
}

/// A serialization format.
pub trait Format: Send + Sync + 'static {
    /// A short name, e.g. `"json"`.
    fn name(&self) -> &'static str;

    /// Serializes `value`.
    fn serialize<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>>;

    /// Deserializes `bytes`.
    fn deserialize<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T>;
}

/// A compression of serialized bytes.
pub trait Compression: Send + Sync + 'static {
    /// A short name, e.g. `"zlib"`.
    fn name(&self) -> &'static str;

    /// Compresses `data`.
    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>>;

    /// Decompresses `data`, failing with [`Error::TooLarge`] rather than
    /// producing more than `limit` bytes.
    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>>;
}

/// The default bound on a decoded value's size: 64 MiB.
pub const DEFAULT_MAX_DECODED_SIZE: usize = 64 << 20;

/// A [`Format`] layered with a [`Compression`]: the shape of every codec
/// memocache ships.
#[derive(Debug, Clone, Copy)]
pub struct Layered<F, Z> {
    format: F,
    compression: Z,
    max_decoded_size: usize,
}

impl<F: Format, Z: Compression> Layered<F, Z> {
    /// `format`, then `compression`, with the default decoded-size bound.
    pub const fn new(format: F, compression: Z) -> Self {
        Layered {
            format,
            compression,
            max_decoded_size: DEFAULT_MAX_DECODED_SIZE,
        }
    }

    /// Sets the bound on the decompressed size of a value read back: a
    /// value that inflates beyond it (a zlib bomb, say) is an error, and so
    /// a cache miss, not an out-of-memory.
    #[must_use]
    pub const fn with_max_decoded_size(mut self, bytes: usize) -> Self {
        self.max_decoded_size = bytes;
        self
    }
}

impl<F: Format + Default, Z: Compression + Default> Default for Layered<F, Z> {
    fn default() -> Self {
        Self::new(F::default(), Z::default())
    }
}

impl<F: Format, Z: Compression> Codec for Layered<F, Z> {
    fn name(&self) -> String {
        format!("{}+{}", self.format.name(), self.compression.name())
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        self.compression.compress(self.format.serialize(value)?)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let raw = self.compression.decompress(bytes, self.max_decoded_size)?;
        self.format.deserialize(&raw)
    }
}

/// The reference's codec: Python JSON, zlib-compressed.
pub type JsonZlib = Layered<Json, Zlib>;
/// Python JSON, uncompressed.
pub type JsonPlain = Layered<Json, Uncompressed>;
/// Python JSON, zstd-compressed: smaller and faster than zlib, for caches
/// no Python service reads.
#[cfg(feature = "zstd")]
pub type JsonZstd = Layered<Json, Zstd>;
/// MessagePack, zstd-compressed.
#[cfg(all(feature = "msgpack", feature = "zstd"))]
pub type MsgpackZstd = Layered<MsgPack, Zstd>;
/// MessagePack, uncompressed.
#[cfg(feature = "msgpack")]
pub type MsgpackPlain = Layered<MsgPack, Uncompressed>;

/// JSON exactly as Python's `json.dumps` writes it; reads any JSON plus
/// Python's `NaN`, `Infinity` and `-Infinity`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Format for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn serialize<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        Ok(pyjson::to_vec(value)?)
    }

    fn deserialize<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        match serde_json::from_slice(bytes) {
            Ok(v) => Ok(v),
            // serde_json refuses Python's NaN/Infinity tokens and very deep
            // nesting; Python's own reader takes them.
            Err(first) => pyjson::parse(bytes)
                .and_then(T::deserialize)
                .map_err(|_| Error::Decode(first.to_string())),
        }
    }
}

/// MessagePack (rmp-serde), structs as maps.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPack;

#[cfg(feature = "msgpack")]
impl Format for MsgPack {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn serialize<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(value).map_err(|e| Error::Encode(e.to_string()))
    }

    fn deserialize<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// No compression.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uncompressed;

impl Compression for Uncompressed {
    fn name(&self) -> &'static str {
        "none"
    }

    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>> {
        Ok(data)
    }

    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>> {
        if data.len() > limit {
            return Err(Error::TooLarge { limit });
        }
        Ok(Cow::Borrowed(data))
    }
}

/// zlib (RFC 1950), as the reference stores values.
#[derive(Debug, Clone, Copy)]
pub struct Zlib {
    level: u32,
}

impl Zlib {
    /// zlib at `level` (0 to 9); the default is 6, Python's.
    ///
    /// # Panics
    ///
    /// If `level` is above 9.
    pub const fn with_level(level: u32) -> Self {
        assert!(level <= 9, "zlib levels go from 0 to 9");
        Zlib { level }
    }
}

impl Default for Zlib {
    fn default() -> Self {
        Zlib::with_level(6)
    }
}

impl Compression for Zlib {
    fn name(&self) -> &'static str {
        "zlib"
    }

    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>> {
        let mut encoder = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(data.len() / 2 + 64),
            flate2::Compression::new(self.level),
        );
        encoder
            .write_all(&data)
            .and_then(|()| encoder.finish())
            .map_err(|e| Error::Encode(format!("zlib: {e}")))
    }

    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>> {
        inflate(data, limit).map(Cow::Owned)
    }
}

/// Inflates a complete zlib stream into at most `limit` bytes.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    thread_local! {
        // An inflate state (with its 32 KiB window) is costly to set up for
        // every value: one per thread, reset between values.
        static INFLATER: std::cell::RefCell<flate2::Decompress> =
            std::cell::RefCell::new(flate2::Decompress::new(true));
    }
    INFLATER.with(|inflater| {
        let mut inflater = inflater.borrow_mut();
        inflater.reset(true);
        inflate_with(&mut inflater, data, limit)
    })
}

fn inflate_with(inflater: &mut flate2::Decompress, data: &[u8], limit: usize) -> Result<Vec<u8>> {
    use flate2::{FlushDecompress, Status};
    let fail = |message: String| Error::Decompress {
        compression: "zlib",
        message,
    };
    let mut out = Vec::with_capacity(
        data.len()
            .saturating_mul(4)
            .clamp(64, limit.saturating_add(1)),
    );
    loop {
        let consumed = usize::try_from(inflater.total_in()).expect("fits usize");
        let produced_before = out.len();
        let status = inflater
            .decompress_vec(&data[consumed..], &mut out, FlushDecompress::Finish)
            .map_err(|e| fail(e.to_string()))?;
        if out.len() > limit {
            return Err(Error::TooLarge { limit });
        }
        match status {
            Status::StreamEnd => return Ok(out),
            Status::Ok | Status::BufError => {
                if out.len() == out.capacity() {
                    let room = out.capacity().max(64).min(limit + 1 - out.len());
                    out.reserve_exact(room);
                } else if out.len() == produced_before
                    && usize::try_from(inflater.total_in()).expect("fits usize") == consumed
                {
                    return Err(fail("truncated stream".into()));
                }
            }
        }
    }
}

/// zstd (the `zstd` crate).
#[cfg(feature = "zstd")]
#[derive(Debug, Clone, Copy)]
pub struct Zstd {
    level: i32,
}

#[cfg(feature = "zstd")]
impl Zstd {
    /// zstd at `level` (1 to 22, or negative for faster); the default is 3.
    pub const fn with_level(level: i32) -> Self {
        Zstd { level }
    }
}

#[cfg(feature = "zstd")]
impl Default for Zstd {
    fn default() -> Self {
        Zstd::with_level(3)
    }
}

#[cfg(feature = "zstd")]
impl Compression for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>> {
        zstd::bulk::compress(&data, self.level).map_err(|e| Error::Encode(format!("zstd: {e}")))
    }

    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>> {
        let fail = |e: std::io::Error| Error::Decompress {
            compression: "zstd",
            message: e.to_string(),
        };
        use std::io::Read as _;
        let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(fail)?;
        let mut out = Vec::new();
        decoder
            .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
            .read_to_end(&mut out)
            .map_err(fail)?;
        if out.len() > limit {
            return Err(Error::TooLarge { limit });
        }
        Ok(Cow::Owned(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        Zlib::default().compress(data.to_vec()).unwrap()
    }

    #[test]
    fn json_zlib_round_trips_and_writes_python_text() {
        let codec = JsonZlib::default();
        let value = serde_json::json!({"a": [1, 2.5, "é"], "b": null});
        let stored = codec.encode(&value).unwrap();
        let text = inflate(&stored, 1 << 20).unwrap();
        assert_eq!(text, br#"{"a": [1, 2.5, "\u00e9"], "b": null}"#);
        let back: serde_json::Value = codec.decode(&stored).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn python_float_tokens_decode() {
        let codec = JsonZlib::default();
        let stored = zlib(b"[NaN, Infinity, -Infinity, 1.5]");
        let v: Vec<f64> = codec.decode(&stored).unwrap();
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[f64::INFINITY, f64::NEG_INFINITY, 1.5]);
    }

    #[test]
    fn truncated_and_garbage_streams_are_errors() {
        let codec = JsonZlib::default();
        let stored = codec.encode(&vec![7u8; 1000]).unwrap();
        for cut in [0, 1, 2, stored.len() / 2, stored.len() - 1] {
            assert!(
                codec.decode::<Vec<u8>>(&stored[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(codec.decode::<Vec<u8>>(b"not zlib at all").is_err());
    }

    #[test]
    fn a_bomb_is_refused_at_the_bound() {
        let stored = zlib(&vec![b' '; 10 << 20]);
        let codec = JsonZlib::default().with_max_decoded_size(1 << 20);
        assert!(matches!(
            codec.decode::<serde_json::Value>(&stored),
            Err(Error::TooLarge { limit }) if limit == 1 << 20
        ));
        // Exactly at the bound is fine.
        let exact = zlib(&[b'1'; 1024]);
        let codec = JsonZlib::default().with_max_decoded_size(1024);
        assert!(codec.decode::<serde_json::Value>(&exact).is_ok());
    }

    #[test]
    fn wrong_shape_is_a_decode_error() {
        let codec = JsonZlib::default();
        let stored = codec.encode(&"text").unwrap();
        assert!(matches!(
            codec.decode::<u32>(&stored),
            Err(Error::Decode(_))
        ));
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_round_trips_and_bounds() {
        let codec = JsonZstd::default();
        let stored = codec.encode(&vec!["x"; 1000]).unwrap();
        assert_eq!(codec.decode::<Vec<String>>(&stored).unwrap().len(), 1000);
        let small = JsonZstd::default().with_max_decoded_size(100);
        assert!(matches!(
            small.decode::<Vec<String>>(&stored),
            Err(Error::TooLarge { .. })
        ));
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_round_trips() {
        let codec = Layered::new(MsgPack, Uncompressed);
        let stored = codec.encode(&(1u8, "two", [3.0f64])).unwrap();
        let back: (u8, String, [f64; 1]) = codec.decode(&stored).unwrap();
        assert_eq!(back, (1, "two".into(), [3.0]));
    }
}
