//! Floats as CPython's `repr` writes them, including exact ties between
//! two shortest decimal forms: the double 1545560996628996.25 is as close
//! to `1545560996628996.2` as to `...996.3`, and Python takes the even
//! digit. Tens of thousands of floats, many of them such ties, checked
//! against CPython itself.

use memocache::python;

use super::{Rng, python};

/// What memocache writes for `v`.
fn ours(v: f64) -> String {
    let mut out = Vec::new();
    python::write_float(&mut out, v);
    String::from_utf8(out).expect("ASCII")
}

/// Prints Python's `repr` of each float (given as its bits).
const PYTHON_REPRS: &str = r#"
import struct
print(json.dumps([repr(struct.unpack("<d", b.to_bytes(8, "little"))[0]) for b in json.load(sys.stdin)]))
"#;

#[test]
fn floats_are_written_as_python_repr_ties_included() {
    let (mut rng, seed) = Rng::seeded();
    let mut floats: Vec<f64> = (0..20_000).map(|_| rng.float()).collect();
    // Where ties live: 16 integer digits and a quarter (ULP 0.25), 17
    // digits and a half, big integers.
    for _ in 0..20_000 {
        let quarter = (1u64 << 50) + rng.below(1 << 50);
        floats.push(quarter as f64 + [0.25, 0.5, 0.75][rng.below(3) as usize]);
        floats.push(((1u64 << 53) + rng.below(1 << 53)) as f64);
        floats.push((rng.below(2_000_000) as f64 - 1e6) * 10f64.powi(rng.below(40) as i32 - 20));
    }
    let bits: Vec<u64> = floats.iter().map(|f| f.to_bits()).collect();
    let reprs: Vec<String> = serde_json::from_str(&python(PYTHON_REPRS, &bits)).unwrap();
    assert_eq!(reprs.len(), floats.len());
    let python_form = |r: &str| match r {
        "nan" => "NaN".to_owned(),
        "inf" => "Infinity".to_owned(),
        "-inf" => "-Infinity".to_owned(),
        other => other.to_owned(),
    };
    for (v, repr) in floats.iter().zip(&reprs) {
        assert_eq!(ours(*v), python_form(repr), "seed {seed}: {v:?}");
    }
    assert_eq!(ours(-1545560996628996.2), "-1545560996628996.2");
    eprintln!("{} floats written as CPython's repr", floats.len());
}
