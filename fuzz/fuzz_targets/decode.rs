//! Fuzzes every decoder a stored value can reach: whatever bytes a store
//! hands back, decoding is an error or a value, never a panic or an
//! unbounded allocation.
//!
//! cargo fuzz run decode          (from the repository root)

#![no_main]

use libfuzzer_sys::fuzz_target;
use memocache_core::python::{self, PyValue};
use memocache_core::{Codec, JsonPlain, JsonZlib, JsonZstd, MsgpackPlain};

fuzz_target!(|bytes: &[u8]| {
    let bounded = JsonZlib::default().with_max_decoded_size(1 << 20);
    let _ = bounded.decode::<serde_json::Value>(bytes);
    let _ = bounded.decode::<PyValue>(bytes);
    let _ = bounded.decode::<(u64, String, Vec<f64>, Option<bool>)>(bytes);
    let _ = JsonPlain::default().decode::<serde_json::Value>(bytes);
    let _ = JsonZstd::default()
        .with_max_decoded_size(1 << 20)
        .decode::<serde_json::Value>(bytes);
    let _ = MsgpackPlain::default().decode::<serde_json::Value>(bytes);
    if let Ok(value) = python::parse(bytes) {
        // What the reader accepts, the writer writes and the reader reads
        // back identically.
        let text = python::to_string(&value).expect("a parsed value writes");
        let again = python::parse(text.as_bytes()).expect("written text parses");
        assert_eq!(python::to_string(&again).unwrap(), text);
    }
});
