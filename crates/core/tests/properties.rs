//! Property tests: decoders never panic on arbitrary bytes, the Python
//! JSON writer and reader agree with each other on arbitrary values, and
//! integers of any size survive the codec.

use memocache_core::python::{self, PyValue};
use memocache_core::{Codec, JsonPlain, JsonZlib, Zlib};
use proptest::prelude::*;

fn py_value() -> impl Strategy<Value = PyValue> {
    let leaf = prop_oneof![
        Just(PyValue::None),
        any::<bool>().prop_map(PyValue::Bool),
        any::<i128>().prop_map(PyValue::Int),
        "-?[1-9][0-9]{39,60}".prop_map(PyValue::BigInt),
        any::<f64>().prop_map(PyValue::Float),
        any::<String>().prop_map(PyValue::Str),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(PyValue::List),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| PyValue::Dict(m.into_iter().collect())),
        ]
    })
}

/// A fixed-size sample of each codec's decoder on the same bytes.
fn decode_all(bytes: &[u8]) {
    let _ = JsonZlib::default().decode::<serde_json::Value>(bytes);
    let _ = JsonZlib::default().decode::<PyValue>(bytes);
    let _ = JsonZlib::default().decode::<(u8, String, Vec<f64>)>(bytes);
    let _ = JsonPlain::default().decode::<serde_json::Value>(bytes);
    let _ = JsonPlain::default().decode::<Option<Vec<String>>>(bytes);
    let _ = python::parse(bytes);
    #[cfg(feature = "zstd")]
    let _ = memocache_core::JsonZstd::default().decode::<serde_json::Value>(bytes);
    #[cfg(feature = "msgpack")]
    {
        let codec = memocache_core::MsgpackPlain::default();
        let _ = codec.decode::<serde_json::Value>(bytes);
        let _ = codec.decode::<(u8, String, Vec<f64>)>(bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_compressed_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        use memocache_core::Compression as _;
        let compressed = Zlib::default().compress(bytes.clone()).unwrap();
        decode_all(&compressed);
        #[cfg(feature = "zstd")]
        decode_all(&memocache_core::Zstd::default().compress(bytes).unwrap());
    }

    #[test]
    fn decoders_never_panic_on_mangled_json(value in py_value(), cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
        let mut text = python::to_vec(&value).unwrap();
        let i = cut.index(text.len());
        text[i] ^= flip;
        decode_all(&text);
        text.truncate(i);
        decode_all(&text);
    }

    #[test]
    fn the_reader_reads_back_what_the_writer_wrote(value in py_value()) {
        let text = python::to_string(&value).unwrap();
        let back = python::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(python::to_string(&back).unwrap(), text);
    }

    #[test]
    fn the_codec_round_trips_every_value(value in py_value()) {
        let codec = JsonZlib::default();
        let stored = codec.encode(&value).unwrap();
        // Integers of any size stay exact (compared as text: NaN != NaN).
        let back: PyValue = codec.decode(&stored).unwrap();
        prop_assert_eq!(python::to_string(&back).unwrap(), python::to_string(&value).unwrap());
    }

    #[test]
    fn a_py_value_deserializes_from_itself_unchanged(value in py_value()) {
        use serde::Deserialize as _;
        let text = python::to_string(&value).unwrap();
        let back = PyValue::deserialize(value).unwrap();
        prop_assert_eq!(python::to_string(&back).unwrap(), text);
    }
}
