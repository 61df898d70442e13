//! Floats whose shortest round-tripping decimal forms tie: the double
//! 1545560996628996.25 is as close to `1545560996628996.2` as to
//! `...996.3`. Python's `repr` takes the even digit (`...996.2`);
//! memocache's writer, on Rust's shortest formatting, takes the upper one
//! (`...996.3`), so a key holding such a float differs from the reference's
//! (its stored value still reads back as the same float on both sides).
//!
//! The proposed fix of the writer is [`python_repr`]; the test checks it
//! against CPython.

use memocache::pyjson::{self, PyValue};

use super::{Rng, python};

/// Python's `repr` of `v`: Rust's shortest digit count, then the
/// correctly rounded (ties to even) digits of that length, in
/// Python's layout. The fix proposed for memocache's writer.
fn python_repr(v: f64) -> String {
    if !v.is_finite() {
        return ours(v);
    }
    let shortest = format!("{v:e}");
    let mantissa = shortest.split_once('e').expect("an exponent").0;
    let count = mantissa.bytes().filter(u8::is_ascii_digit).count();
    layout(&format!("{v:.*e}", count - 1))
}

/// `d.ddde±x` in Python's layout: fixed notation for exponents in
/// [-4, 16), else `d.ddde±xx`.
fn layout(sci: &str) -> String {
    let (mantissa, exp) = sci.split_once('e').expect("an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let body = if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() > int_len {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            } else {
                format!("{digits}{}.0", "0".repeat(int_len - digits.len()))
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{first}{dot}e{exp_sign}{:02}", exp.unsigned_abs())
    };
    format!("{sign}{body}")
}

/// What memocache writes for `v`.
fn ours(v: f64) -> String {
    let mut out = Vec::new();
    pyjson::write_float(&mut out, v);
    String::from_utf8(out).expect("ASCII")
}

/// Whether memocache writes `v` otherwise than Python's `repr`.
pub(crate) fn is_tie(v: f64) -> bool {
    ours(v) != python_repr(v)
}

/// Whether a value holds such a float anywhere.
pub(crate) fn holds_tie(value: &PyValue) -> bool {
    match value {
        PyValue::Float(v) => is_tie(*v),
        PyValue::List(items) => items.iter().any(holds_tie),
        PyValue::Dict(entries) => entries.iter().any(|(_, v)| holds_tie(v)),
        _ => false,
    }
}

/// Prints Python's `repr` of each float (given as its bits).
const PYTHON_REPRS: &str = r#"
import struct
print(json.dumps([repr(struct.unpack("<d", b.to_bytes(8, "little"))[0]) for b in json.load(sys.stdin)]))
"#;

#[test]
fn floats_are_python_repr_except_exact_ties() {
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
    let mut ties = Vec::new();
    for (v, repr) in floats.iter().zip(&reprs) {
        let repr = python_form(repr);
        // The proposed fix is Python's repr, always.
        assert_eq!(python_repr(*v), repr, "seed {seed}: {v:?}");
        let ours = ours(*v);
        if ours != repr {
            // Only ever an exact tie: both forms as short, both read as v.
            assert_eq!(ours.len(), repr.len(), "seed {seed}: {ours} vs {repr}");
            assert_eq!(ours.parse::<f64>().unwrap().to_bits(), v.to_bits());
            ties.push((ours, repr));
        }
    }
    // The known difference is real, and pinned on its first example.
    assert_eq!(ours(-1545560996628996.2), "-1545560996628996.3");
    assert_eq!(python_repr(-1545560996628996.2), "-1545560996628996.2");
    assert!(
        !ties.is_empty(),
        "seed {seed}: no tie found; the writer may be fixed"
    );
    eprintln!(
        "{} floats, {} exact ties written otherwise than Python's repr, e.g. {:?}",
        floats.len(),
        ties.len(),
        ties.first()
    );
}
