//! The object-safe form of [`Codec`], and memocache's codecs by name.
//!
//! [`Codec`] is generic over the value's type, so there is no `dyn Codec`.
//! A [`DynCodec`] reads and writes Python values ([`PyValue`]) instead,
//! which is what a tool choosing its codec at run time needs (the
//! `memocache` command line, the benchmark). Every [`Codec`] is one, and
//! [`codec_by_name`] finds memocache's own by the name [`Codec::name`]
//! gives them.

use crate::python::PyValue;
use crate::{Codec, Error, Json, JsonPlain, JsonZlib, Layered, Result, Uncompressed, Zlib};

/// A [`Codec`] behind a pointer: Python values to stored bytes and back.
///
/// Implemented for every [`Codec`]; the bytes are the codec's own, so a
/// value written here reads back with the typed codec, and the other way
/// round. (With both traits in scope, a concrete codec's name is
/// `Codec::name(&codec)`: the two `name` methods say the same.)
///
/// ```
/// use memocache::python::{self, PyValue};
/// use memocache::codec::{Codec, JsonZlib, codec_by_name};
///
/// let codec = codec_by_name("json+zlib").unwrap();
/// let stored = codec.encode_value(&PyValue::Int(1 << 70)).unwrap();
/// assert_eq!(codec.decode_value(&stored).unwrap(), PyValue::Int(1 << 70));
/// let typed: Vec<u8> = JsonZlib::default().encode(&[1u8, 2]).unwrap();
/// let back = codec.decode_value(&typed).unwrap();
/// assert_eq!(python::to_string(&back).unwrap(), "[1, 2]");
/// ```
pub trait DynCodec: Send + Sync {
    /// The codec's name, as [`Codec::name`] gives it, e.g. `"json+zlib"`.
    fn name(&self) -> String;

    /// Encodes `value` into the bytes to store.
    fn encode_value(&self, value: &PyValue) -> Result<Vec<u8>>;

    /// Decodes stored bytes into a Python value; as [`Codec::decode`], any
    /// failure is an error, never a panic.
    fn decode_value(&self, bytes: &[u8]) -> Result<PyValue>;
}

impl<C: Codec> DynCodec for C {
    fn name(&self) -> String {
        Codec::name(self)
    }

    fn encode_value(&self, value: &PyValue) -> Result<Vec<u8>> {
        self.encode(value)
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<PyValue> {
        self.decode(bytes)
    }
}

/// One of memocache's codecs: the codec, or when this build lacks it the
/// cargo features it needs.
type Found = std::result::Result<&'static dyn DynCodec, &'static str>;

/// `Ok(&codec)` in a build with `cfg`, else `Err(needs)`.
macro_rules! when_built {
    ($cfg:meta, $needs:literal, $codec:ident) => {{
        #[cfg($cfg)]
        let found: Found = Ok(&$codec);
        #[cfg(not($cfg))]
        let found: Found = Err($needs);
        found
    }};
}

static JSON_ZLIB: JsonZlib = Layered::new(Json, Zlib::DEFAULT);
static JSON: JsonPlain = Layered::new(Json, Uncompressed);
#[cfg(feature = "zstd")]
static JSON_ZSTD: crate::JsonZstd = Layered::new(Json, crate::Zstd::DEFAULT);
#[cfg(all(feature = "msgpack", feature = "zstd"))]
static MSGPACK_ZSTD: crate::MsgpackZstd = Layered::new(crate::MsgPack, crate::Zstd::DEFAULT);
#[cfg(feature = "msgpack")]
static MSGPACK: crate::MsgpackPlain = Layered::new(crate::MsgPack, Uncompressed);

/// memocache's codecs, by the name each one's [`Codec::name`] gives, with
/// their default levels.
static CODECS: [(&str, Found); 5] = [
    ("json+zlib", Ok(&JSON_ZLIB)),
    (
        "json+zstd",
        when_built!(feature = "zstd", "`zstd`", JSON_ZSTD),
    ),
    ("json", Ok(&JSON)),
    (
        "msgpack+zstd",
        when_built!(
            all(feature = "msgpack", feature = "zstd"),
            "`msgpack` and `zstd`",
            MSGPACK_ZSTD
        ),
    ),
    (
        "msgpack",
        when_built!(feature = "msgpack", "`msgpack`", MSGPACK),
    ),
];

/// The names [`codec_by_name`] takes in this build: `"json+zlib"`,
/// `"json"` and, with the cargo features they need, `"json+zstd"`,
/// `"msgpack+zstd"` and `"msgpack"`.
pub fn codec_names() -> impl Iterator<Item = &'static str> {
    CODECS
        .iter()
        .filter(|(_, found)| found.is_ok())
        .map(|(name, _)| *name)
}

/// memocache's codec called `name` (as [`Codec::name`] gives it: `"json+zlib"`,
/// `"json+zstd"`, `"json"`, `"msgpack+zstd"` or `"msgpack"`), with its
/// default compression level.
///
/// # Errors
///
/// [`Error::Config`] naming the valid names for an unknown one, or the
/// cargo feature to enable for a codec this build does not have.
pub fn codec_by_name(name: &str) -> Result<&'static dyn DynCodec> {
    let valid = || codec_names().collect::<Vec<_>>().join(", ");
    match CODECS.iter().find(|(known, _)| *known == name) {
        Some((_, Ok(codec))) => Ok(*codec),
        Some((_, Err(needs))) => Err(Error::config(format!(
            "the codec `{name}` is not in this build: enable memocache's cargo features {needs}, \
             or use one of {}",
            valid()
        ))),
        None => Err(Error::config(format!(
            "unknown codec `{name}`: use one of {}",
            valid()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_is_found_by_its_own_name_and_round_trips() {
        let value =
            crate::python::parse(br#"{"a": [1, -2, 1.5, "\u00e9", null, true], "b": {}}"#).unwrap();
        let mut names = 0;
        for name in codec_names() {
            let codec = codec_by_name(name).unwrap();
            assert_eq!(codec.name(), name);
            let stored = codec.encode_value(&value).unwrap();
            assert_eq!(codec.decode_value(&stored).unwrap(), value, "{name}");
            names += 1;
        }
        assert!(names >= 2);
    }

    #[test]
    fn the_bytes_are_the_typed_codecs() {
        let codec = codec_by_name("json+zlib").unwrap();
        let stored = JsonZlib::default().encode(&("a", 1)).unwrap();
        let back = codec.decode_value(&stored).unwrap();
        assert_eq!(codec.encode_value(&back).unwrap(), stored);
        let typed: (String, u8) = JsonZlib::default().decode(&stored).unwrap();
        assert_eq!(typed, ("a".to_owned(), 1));
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let Err(error) = codec_by_name("json-zlib") else {
            panic!("found a codec for a wrong name")
        };
        assert!(matches!(error, Error::Config(_)));
        let message = error.report().to_string();
        assert!(message.contains("unknown codec `json-zlib`"), "{message}");
        assert!(message.contains("json+zlib, "), "{message}");
    }

    #[cfg(not(feature = "zstd"))]
    #[test]
    fn a_codec_this_build_lacks_names_its_feature() {
        let Err(error) = codec_by_name("json+zstd") else {
            panic!("found zstd without its feature")
        };
        let message = error.report().to_string();
        assert!(
            message.contains("enable memocache's cargo features `zstd`"),
            "{message}"
        );
    }

    #[test]
    fn a_decode_failure_is_an_error_with_its_cause() {
        let codec = codec_by_name("json").unwrap();
        let error = codec.decode_value(b"{oops").unwrap_err();
        assert!(matches!(error, Error::Decode(_)), "{error:?}");
        assert!(
            error
                .report()
                .to_string()
                .starts_with("cannot decode value: ")
        );
    }
}
