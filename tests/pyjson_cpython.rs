//! Our Python-JSON writer against CPython's `json.dumps`, on thousands of
//! random values: Python reads each text we wrote and writes it again; the
//! two texts must be identical. Random f64 bit patterns cover every
//! magnitude, subnormals included; random strings cover every plane.

mod support;

use memocache::pyjson::{self, PyValue};

/// xorshift64*: a seeded generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        let len = self.below(12);
        (0..len)
            .map(|_| {
                let limit = [0x80, 0x800, 0x1_0000, 0x11_0000][self.below(4) as usize];
                loop {
                    if let Some(c) = char::from_u32(self.below(limit) as u32) {
                        break c;
                    }
                }
            })
            .collect()
    }

    fn float(&mut self) -> f64 {
        match self.below(4) {
            0 => f64::from_bits(self.next()),
            1 => (self.next() as f64) / (self.next() as f64 + 1.0),
            2 => self.below(1_000_000) as f64 / [1.0, 10.0, 100.0, 1e6][self.below(4) as usize],
            _ => f64::from(self.below(1 << 20) as u32) * 10f64.powi(self.below(40) as i32 - 20),
        }
    }

    fn value(&mut self, depth: u32) -> PyValue {
        match self.below(if depth > 3 { 6 } else { 8 }) {
            0 => PyValue::None,
            1 => PyValue::Bool(self.below(2) == 0),
            2 => PyValue::Int(i128::from(self.next() as i64) * i128::from(self.below(1 << 20))),
            3 | 4 => PyValue::Float(self.float()),
            5 => PyValue::Str(self.string()),
            6 => PyValue::List((0..self.below(5)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                // A Python dict has each key once.
                let mut entries: Vec<(String, PyValue)> = Vec::new();
                for _ in 0..self.below(5) {
                    let key = self.string();
                    let value = self.value(depth + 1);
                    if entries.iter().all(|(k, _)| *k != key) {
                        entries.push((key, value));
                    }
                }
                PyValue::Dict(entries)
            }
        }
    }
}

#[test]
fn cpython_writes_what_we_write() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut input = String::new();
    for _ in 0..5000 {
        let value = rng.value(0);
        input.push_str(&pyjson::to_string(&value).unwrap());
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
    let mut rng = Rng(42);
    let values: Vec<PyValue> = (0..2000).map(|_| rng.value(0)).collect();
    let input: String = values
        .iter()
        .map(|v| pyjson::to_string(v).unwrap() + "\n")
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
        let back = pyjson::parse(line.as_bytes()).unwrap();
        assert_eq!(
            pyjson::to_string(&back).unwrap(),
            pyjson::to_string(original).unwrap()
        );
        count += 1;
    }
    assert_eq!(count, values.len());
}
