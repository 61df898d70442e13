//! Codecs: values to stored bytes and back.
//!
//! A [`Codec`] is a serialization [`Format`] layered with a [`Compression`].
//! The default, [`JsonZlib`], is the reference's: Python's `json.dumps`
//! text, zlib-compressed. It writes exactly the JSON text Python writes for
//! the same data, and reads everything Python writes, `NaN` and
//! `Infinity` included.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result, python};

/// Turns values into bytes and back.
pub trait Codec: Send + Sync + 'static {
    /// A short name for logs and the CLI, e.g. `"json+zlib"`.
    fn name(&self) -> String;

    /// Encodes `value` into the bytes to store.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>>;

    /// Decodes stored bytes; any failure (corrupt, truncated, oversized,
    /// wrong shape) is an error, never a panic.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T>;

    /// [`decode`](Self::decode), also answering the size of the serialized
    /// form it read (after decompression): an estimate of the memory the
    /// value takes, for a store that keeps decoded values. The default
    /// answers the stored size.
    fn decode_sized<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<(T, usize)> {
        Ok((self.decode(bytes)?, bytes.len()))
    }
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
    /// `format+compression`, e.g. `"json+zlib"`; the format's name alone
    /// when uncompressed, e.g. `"json"`.
    fn name(&self) -> String {
        match self.compression.name() {
            "none" => self.format.name().to_owned(),
            compression => format!("{}+{compression}", self.format.name()),
        }
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        self.compression.compress(self.format.serialize(value)?)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        Ok(self.decode_sized(bytes)?.0)
    }

    fn decode_sized<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<(T, usize)> {
        let raw = self.compression.decompress(bytes, self.max_decoded_size)?;
        Ok((self.format.deserialize(&raw)?, raw.len()))
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
        Ok(python::to_vec(value)?)
    }

    fn deserialize<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        python::take_maybe_lost_int();
        match serde_json::from_slice(bytes) {
            // serde_json reads an integer beyond 64 bits as a float; a
            // `PyValue` (alone or inside `T`) that got one reads the text
            // again, exactly.
            Ok(v) if python::take_maybe_lost_int() => {
                let exact = python::parse(bytes).and_then(T::deserialize);
                python::take_maybe_lost_int();
                Ok(exact.unwrap_or(v))
            }
            Ok(v) => Ok(v),
            // serde_json refuses Python's NaN/Infinity tokens and very deep
            // nesting; Python's own reader takes them.
            Err(first) => match python::parse(bytes) {
                Ok(value) => T::deserialize(value).map_err(|second| {
                    // serde_json's syntax error was only about those
                    // tokens: the value's own error says what is wrong.
                    if first.is_syntax() {
                        Error::Decode(Box::new(second))
                    } else {
                        Error::Decode(Box::new(first))
                    }
                }),
                Err(_) => Err(Error::Decode(Box::new(first))),
            },
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
        rmp_serde::to_vec_named(value).map_err(|e| Error::Encode(Box::new(e)))
    }

    fn deserialize<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::Decode(Box::new(e)))
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

    /// Level 6, Python's.
    pub(crate) const DEFAULT: Zlib = Zlib::with_level(6);
}

impl Default for Zlib {
    fn default() -> Self {
        Zlib::DEFAULT
    }
}

impl Compression for Zlib {
    fn name(&self) -> &'static str {
        "zlib"
    }

    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>> {
        deflate(&data, self.level)
    }

    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>> {
        inflate(data, limit).map(Cow::Owned)
    }
}

/// A compression state kept per thread: setting one up (windows, hash
/// tables, a few hundred KiB for deflate) costs more than compressing or
/// decompressing a small value with it. The state is tagged with what it
/// was made for (a level), and made again when another comes by.
type ThreadState<K, T> = std::cell::RefCell<Option<(K, T)>>;

/// Runs `work` on this thread's state in `slot`: the one there, `reset`,
/// if it was made for `config`, else a new one from `make`.
fn with_thread_state<K: PartialEq, T, R>(
    slot: &'static std::thread::LocalKey<ThreadState<K, T>>,
    config: K,
    make: impl FnOnce() -> Result<T>,
    reset: impl FnOnce(&mut T),
    work: impl FnOnce(&mut T) -> Result<R>,
) -> Result<R> {
    slot.with(|slot| {
        let mut slot = slot.borrow_mut();
        let state = match &mut *slot {
            Some((made_for, state)) if *made_for == config => {
                reset(state);
                state
            }
            empty_or_other => &mut empty_or_other.insert((config, make()?)).1,
        };
        work(state)
    })
}

/// Compresses `data` into one complete zlib stream at `level`.
fn deflate(data: &[u8], level: u32) -> Result<Vec<u8>> {
    thread_local! {
        static DEFLATER: ThreadState<u32, flate2::Compress> = const { std::cell::RefCell::new(None) };
    }
    with_thread_state(
        &DEFLATER,
        level,
        || Ok(flate2::Compress::new(flate2::Compression::new(level), true)),
        flate2::Compress::reset,
        |deflater| deflate_with(deflater, data),
    )
}

fn deflate_with(compress: &mut flate2::Compress, data: &[u8]) -> Result<Vec<u8>> {
    use flate2::{FlushCompress, Status};
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    loop {
        let consumed = usize::try_from(compress.total_in()).expect("fits usize");
        let status = compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Finish)
            .map_err(|e| Error::Compress {
                compression: "zlib",
                source: Box::new(e),
            })?;
        match status {
            Status::StreamEnd => return Ok(out),
            // Out of room: grow and go on.
            Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
        }
    }
}

/// Inflates a complete zlib stream into at most `limit` bytes.
fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    thread_local! {
        static INFLATER: ThreadState<(), flate2::Decompress> = const { std::cell::RefCell::new(None) };
    }
    with_thread_state(
        &INFLATER,
        (),
        || Ok(flate2::Decompress::new(true)),
        |inflater| inflater.reset(true),
        |inflater| inflate_with(inflater, data, limit),
    )
}

fn inflate_with(inflater: &mut flate2::Decompress, data: &[u8], limit: usize) -> Result<Vec<u8>> {
    use flate2::{FlushDecompress, Status};
    let fail = |source: crate::BoxError| Error::Decompress {
        compression: "zlib",
        source,
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
            .map_err(|e| fail(Box::new(e)))?;
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
                    return Err(fail(Box::new(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "truncated stream",
                    ))));
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

    /// Level 3, zstd's own default.
    pub(crate) const DEFAULT: Zstd = Zstd::with_level(3);
}

#[cfg(feature = "zstd")]
impl Default for Zstd {
    fn default() -> Self {
        Zstd::DEFAULT
    }
}

#[cfg(feature = "zstd")]
impl Compression for Zstd {
    fn name(&self) -> &'static str {
        "zstd"
    }

    fn compress(&self, data: Vec<u8>) -> Result<Vec<u8>> {
        thread_local! {
            static COMPRESSOR: ThreadState<i32, zstd::bulk::Compressor<'static>> =
                const { std::cell::RefCell::new(None) };
        }
        let fail = |e: std::io::Error| Error::Compress {
            compression: "zstd",
            source: Box::new(e),
        };
        with_thread_state(
            &COMPRESSOR,
            self.level,
            || zstd::bulk::Compressor::new(self.level).map_err(fail),
            // Each compression is a whole frame of its own.
            |_| {},
            |compressor| compressor.compress(&data).map_err(fail),
        )
    }

    fn decompress<'a>(&self, data: &'a [u8], limit: usize) -> Result<Cow<'a, [u8]>> {
        let fail = |e: std::io::Error| Error::Decompress {
            compression: "zstd",
            source: Box::new(e),
        };
        // A frame that records its size (as every value memocache writes
        // does) decompresses in one call into a buffer of exactly that
        // size, with this thread's context.
        if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data) {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size > limit {
                return Err(Error::TooLarge { limit });
            }
            thread_local! {
                static DECOMPRESSOR: ThreadState<(), zstd::bulk::Decompressor<'static>> =
                    const { std::cell::RefCell::new(None) };
            }
            let mut out = Vec::with_capacity(size);
            let whole = with_thread_state(
                &DECOMPRESSOR,
                (),
                || zstd::bulk::Decompressor::new().map_err(fail),
                |_| {},
                |decompressor| {
                    decompressor
                        .decompress_to_buffer(data, &mut out)
                        .map_err(fail)
                },
            );
            // Anything else (several frames, a size that lies, damage)
            // goes the streaming way below, which has the last word.
            if whole.is_ok_and(|written| written == size) {
                return Ok(Cow::Owned(out));
            }
        }
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
    fn reused_deflate_state_writes_complete_independent_streams() {
        // Incompressible bytes outgrow the first output buffer.
        let mut state = 7_u64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        let inputs: [&[u8]; 4] = [b"", b"abcabcabc", &noise, b"after the noise"];
        for level in [6, 0, 9, 6] {
            for input in inputs {
                let stored = Zlib::with_level(level).compress(input.to_vec()).unwrap();
                // A fresh decoder, not ours: each value is a whole stream.
                let mut text = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::ZlibDecoder::new(&stored[..]),
                    &mut text,
                )
                .unwrap();
                assert_eq!(text, input, "level {level}, {} bytes", input.len());
            }
        }
        let small = Zlib::with_level(9).compress(b"a".repeat(4096)).unwrap();
        let none = Zlib::with_level(0).compress(b"a".repeat(4096)).unwrap();
        assert!(
            small.len() < 100 && none.len() > 4096,
            "levels were applied"
        );
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
    fn a_value_with_python_float_tokens_reports_its_own_error() {
        let codec = JsonZlib::default();
        // serde_json stops at NaN; the value's real problem is the string.
        let stored = zlib(br#"[NaN, "not a number"]"#);
        let error = codec.decode::<Vec<f64>>(&stored).unwrap_err();
        let report = error.report().to_string();
        assert!(!report.contains("expected value"), "{report}");
        assert!(
            report.contains("not a number") || report.contains("string"),
            "{report}"
        );
    }

    #[test]
    fn integers_beyond_64_bits_stay_exact_in_py_values() {
        use crate::python::PyValue;

        // What Python stores for {"id": 2**70, "neg": -2**200, "f": 1e20,
        // "n": 2**63}.
        let text = br#"{"id": 1180591620717411303424, "neg": -1606938044258990275541962092341162602522202993782792835301376, "f": 1e+20, "n": 9223372036854775808}"#;
        let stored = zlib(text);
        let expected = PyValue::Dict(vec![
            ("id".to_owned(), PyValue::Int(1 << 70)),
            (
                "neg".to_owned(),
                PyValue::BigInt(
                    "-1606938044258990275541962092341162602522202993782792835301376".to_owned(),
                ),
            ),
            ("f".to_owned(), PyValue::Float(1e20)),
            ("n".to_owned(), PyValue::Int(1 << 63)),
        ]);
        let codec = JsonZlib::default();
        assert_eq!(codec.decode::<PyValue>(&stored).unwrap(), expected);

        // Inside a struct of the caller's.
        #[derive(Debug, serde::Deserialize, PartialEq)]
        struct Row {
            name: String,
            data: PyValue,
        }
        let row = zlib(br#"{"name": "a", "data": [1180591620717411303424, 2.5]}"#);
        assert_eq!(
            codec.decode::<Row>(&row).unwrap(),
            Row {
                name: "a".to_owned(),
                data: PyValue::List(vec![PyValue::Int(1 << 70), PyValue::Float(2.5)]),
            }
        );

        // A float that looks like a rounded integer stays a float, and a
        // value read after it is not read twice.
        let floats = zlib(b"[1e+20, -3e+30]");
        assert_eq!(
            codec.decode::<PyValue>(&floats).unwrap(),
            PyValue::List(vec![PyValue::Float(1e20), PyValue::Float(-3e30)])
        );
        assert!(!crate::python::take_maybe_lost_int());
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

    /// `error`'s source is an `E`, and its message does not repeat it.
    fn assert_caused_by<E: std::error::Error + 'static>(error: &Error) {
        use std::error::Error as _;
        let source = error.source().expect("a source");
        assert!(source.is::<E>(), "{error:?}");
        assert!(!error.to_string().contains(&source.to_string()), "{error}");
        assert!(error.report().to_string().ends_with(&source.to_string()));
    }

    /// Refuses to be serialized.
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }

    #[test]
    fn failures_keep_the_underlying_error_as_source() {
        let error = JsonZlib::default().encode(&Unserializable).unwrap_err();
        assert!(matches!(error, Error::Encode(_)), "{error:?}");
        assert_caused_by::<python::Error>(&error);

        let error = JsonPlain::default().decode::<u32>(b"\"text\"").unwrap_err();
        assert!(matches!(error, Error::Decode(_)), "{error:?}");
        assert_caused_by::<serde_json::Error>(&error);

        let error = JsonZlib::default().decode::<u32>(b"not zlib").unwrap_err();
        assert!(
            matches!(
                error,
                Error::Decompress {
                    compression: "zlib",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_caused_by::<flate2::DecompressError>(&error);

        let stored = zlib(b"[1, 2, 3]");
        let error = JsonZlib::default()
            .decode::<Vec<u8>>(&stored[..stored.len() - 1])
            .unwrap_err();
        assert_caused_by::<std::io::Error>(&error);
        assert!(error.report().to_string().contains("truncated stream"));
    }

    #[cfg(all(feature = "msgpack", feature = "zstd"))]
    #[test]
    fn msgpack_and_zstd_failures_keep_their_errors_as_source() {
        let codec = MsgpackPlain::default();
        let error = codec.encode(&Unserializable).unwrap_err();
        assert!(matches!(error, Error::Encode(_)), "{error:?}");
        assert_caused_by::<rmp_serde::encode::Error>(&error);
        let error = codec.decode::<u32>(&[0xc1]).unwrap_err();
        assert!(matches!(error, Error::Decode(_)), "{error:?}");
        assert_caused_by::<rmp_serde::decode::Error>(&error);

        let stored = Zstd::default().compress(b"[1, 2, 3]".repeat(20)).unwrap();
        let error = MsgpackZstd::default()
            .decode::<u32>(&stored[..stored.len() - 4])
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Decompress {
                    compression: "zstd",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_caused_by::<std::io::Error>(&error);
    }

    #[test]
    fn names_are_format_and_compression_or_the_format_alone() {
        assert_eq!(JsonZlib::default().name(), "json+zlib");
        assert_eq!(JsonPlain::default().name(), "json");
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

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_reads_frames_without_a_recorded_size_and_several_frames() {
        let text = b"[1, 2, 3]".repeat(50);
        // A streaming compressor does not record the content size.
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut encoder, &text).unwrap();
        let streamed = encoder.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).unwrap(),
            None
        );
        let bulk = Zstd::default().compress(text.clone()).unwrap();
        let two_frames = [bulk.clone(), bulk.clone()].concat();
        for (stored, expected) in [
            (&streamed, text.clone()),
            (&bulk, text.clone()),
            (&two_frames, text.repeat(2)),
        ] {
            let out = Zstd::default().decompress(stored, 1 << 20).unwrap();
            assert_eq!(out.as_ref(), expected.as_slice());
            assert!(matches!(
                Zstd::default().decompress(stored, expected.len() - 1),
                Err(Error::TooLarge { .. })
            ));
        }
        // Damage after the header is an error, not a panic or a short value.
        let mut damaged = bulk.clone();
        let last = damaged.len() - 4;
        damaged.truncate(last);
        assert!(Zstd::default().decompress(&damaged, 1 << 20).is_err());
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
