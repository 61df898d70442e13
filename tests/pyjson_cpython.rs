//! Our Python-JSON writer against CPython's `json.dumps`, on thousands of
//! random values: Python reads each text we wrote and writes it again; the
//! two texts must be identical. Random f64 bit patterns cover every
//! magnitude, subnormals included; random strings cover every plane.

mod support;

use memocache::python::{self as python, PyValue};
use support::rng::Rng;

/// A random Python value, nested at most a few levels.
fn random_value(rng: &mut Rng, depth: u32) -> PyValue {
    match rng.below(if depth > 3 { 6 } else { 8 }) {
        0 => PyValue::None,
        1 => PyValue::Bool(rng.below(2) == 0),
        2 => PyValue::Int(i128::from(rng.next() as i64) * i128::from(rng.below(1 << 20))),
        3 | 4 => PyValue::Float(rng.float()),
        5 => PyValue::Str(rng.string()),
        6 => PyValue::List(
            (0..rng.below(5))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            // A Python dict has each key once.
            let mut entries: Vec<(String, PyValue)> = Vec::new();
            for _ in 0..rng.below(5) {
                let key = rng.string();
                let value = random_value(rng, depth + 1);
                if entries.iter().all(|(k, _)| *k != key) {
                    entries.push((key, value));
                }
            }
            PyValue::Dict(entries)
        }
    }
}

#[test]
fn cpython_writes_what_we_write() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut input = String::new();
    for _ in 0..5000 {
        let value = random_value(&mut rng, 0);
        input.push_str(&python::to_string(&value).unwrap());
        input.push('\n');
    }
    let script = r#"
import json, sys
bad = 0
lines = sys.stdin.read().splitlines()
for line in lines:
    again = json.dumps(json.loads(line))
    if again != line:
        bad += 1
        if bad < 10:
            print("DIFF", repr(line), repr(again))
print("checked", len(lines), "bad", bad)
"#;
    let out = support::python::run(script, input.as_bytes());
    assert!(out.ends_with("checked 5000 bad 0\n"), "{out}");
}

#[test]
fn we_read_what_cpython_writes() {
    let mut rng = Rng::new(42);
    let values: Vec<PyValue> = (0..2000).map(|_| random_value(&mut rng, 0)).collect();
    let input: String = values
        .iter()
        .map(|v| python::to_string(v).unwrap() + "\n")
        .collect();
    // Python re-writes each value with indentation and other separators;
    // we must read that back to the same value.
    let script = r#"
import json, sys
for line in sys.stdin.read().splitlines():
    print(json.dumps(json.loads(line), indent=None, separators=(",", ":")))
"#;
    let out = support::python::run(script, input.as_bytes());
    let mut count = 0;
    for (line, original) in out.lines().zip(&values) {
        let back = python::parse(line.as_bytes()).unwrap();
        assert_eq!(
            python::to_string(&back).unwrap(),
            python::to_string(original).unwrap()
        );
        count += 1;
    }
    assert_eq!(count, values.len());
}
