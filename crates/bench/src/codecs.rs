//! Codecs: encode and decode speed and stored size of each codec memocache
//! ships, on the benchmark values as Python values (Python's own json+zlib
//! is timed by the reference script on its dicts and joins these rows).

use memocache::codec::{DynCodec, codec_by_name};
use memocache::python::{self as python, PyValue};
use serde::Serialize;

use crate::sampling::{median, nanos_per_op};
use crate::schedule::Schedule;
use crate::value::{Order, Size, json_len};

/// One codec on one value. Speeds are in MB/s of the value's Python JSON
/// text (the same numerator for every codec, so they compare).
#[derive(Debug, Clone, Serialize)]
pub struct CodecFigures {
    /// The codec, e.g. `"json+zlib"`; Python's is `"python json+zlib"`.
    pub codec: String,
    /// Which value: `"1k"` or `"64k"`.
    pub value: &'static str,
    /// The value's Python JSON length.
    pub json_bytes: usize,
    /// The stored length.
    pub stored_bytes: usize,
    /// Encoding speed.
    pub encode_mb_per_sec: f64,
    /// Decoding speed.
    pub decode_mb_per_sec: f64,
}

/// The codecs measured, by memocache's names for them.
const CODECS: [&str; 3] = ["json+zlib", "json+zstd", "msgpack+zstd"];

/// Measures every codec on every value.
pub fn figures(schedule: &Schedule) -> Vec<CodecFigures> {
    let mut figures = Vec::new();
    for size in Size::ALL {
        let order = Order::new(size);
        let json_bytes = json_len(&order);
        let value = python_value(&order);
        for name in CODECS {
            let codec = codec_by_name(name).expect("the bench is built with every codec");
            figures.push(measure(codec, size, &value, json_bytes, schedule));
        }
    }
    figures
}

/// `order` as the Python value a Python service caches.
fn python_value(order: &Order) -> PyValue {
    python::parse(&python::to_vec(order).expect("encodes")).expect("parses")
}

fn measure(
    codec: &dyn DynCodec,
    size: Size,
    value: &PyValue,
    json_bytes: usize,
    schedule: &Schedule,
) -> CodecFigures {
    let stored = codec.encode_value(value).expect("encodes");
    let batch = match size {
        Size::Small => 100,
        Size::Large => 4,
    };
    let rounds = schedule.rounds.min(3);
    let encode: Vec<f64> = (0..rounds)
        .map(|_| {
            nanos_per_op(schedule.local_batch, batch, || {
                std::hint::black_box(codec.encode_value(value).expect("encodes"));
            })
        })
        .collect();
    let decode: Vec<f64> = (0..rounds)
        .map(|_| {
            nanos_per_op(schedule.local_batch, batch, || {
                std::hint::black_box(codec.decode_value(&stored).expect("decodes"));
            })
        })
        .collect();
    CodecFigures {
        codec: codec.name(),
        value: size.label(),
        json_bytes,
        stored_bytes: stored.len(),
        encode_mb_per_sec: mb_per_sec(json_bytes, median(&encode)),
        decode_mb_per_sec: mb_per_sec(json_bytes, median(&decode)),
    }
}

/// `bytes` processed every `nanos` nanoseconds, in MB/s (10^6 bytes).
pub fn mb_per_sec(bytes: usize, nanos: f64) -> f64 {
    bytes as f64 / nanos * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_stores_the_value_as_its_typed_form_does() {
        use memocache::codec::{Codec as _, JsonZlib};

        let order = Order::new(Size::Small);
        let value = python_value(&order);
        for name in CODECS {
            let codec = codec_by_name(name).unwrap();
            let stored = codec.encode_value(&value).unwrap();
            assert_eq!(codec.decode_value(&stored).unwrap(), value, "{name}");
        }
        let typed = JsonZlib::default().encode(&order).unwrap();
        let dynamic = codec_by_name("json+zlib").unwrap();
        assert_eq!(dynamic.encode_value(&value).unwrap(), typed);
    }

    #[test]
    fn mb_per_sec_of_a_kilobyte_per_microsecond_is_a_thousand() {
        assert_eq!(mb_per_sec(1_000, 1_000.0), 1_000.0);
    }
}
