//! Values are mutually readable with the Python reference: what it stored
//! decodes here, and what we store, Python's `json.loads(zlib.decompress(v))`
//! reads back to the same data.

mod support;

use memocache::codec::{Codec, JsonZlib};
use memocache::python;
use serde::{Deserialize, Serialize};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn inflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn values_the_reference_stored_decode() {
    let codec = JsonZlib::default();
    for case in support::vectors::value_cases() {
        let stored = case.stored();
        // Exactly, integers of any size included: the Python-JSON reader.
        let exact = python::parse(&inflate(&stored)).unwrap();
        assert_eq!(
            python::to_string(&exact).unwrap(),
            case.json,
            "{}",
            case.name
        );
        // Through the codec: any serde type reads it; serde_json::Value as
        // serde_json holds numbers (integers beyond 64 bits become floats).
        let value: serde_json::Value = codec
            .decode(&stored)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        if !case.json.contains("NaN") && !case.json.contains("Infinity") && case.name != "big ints"
        {
            let expected: serde_json::Value = serde_json::from_str(&case.json).unwrap();
            assert_eq!(value, expected, "{}", case.name);
        }
    }
}

#[test]
fn reference_values_decode_into_typed_rust() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct User {
        user_id: u64,
        name: String,
        email: String,
    }
    #[derive(Deserialize)]
    struct Row {
        id: u32,
        name: String,
        score: f64,
    }
    #[derive(Deserialize)]
    struct Rows {
        rows: Vec<Row>,
    }
    let cases = support::vectors::value_cases();
    let stored = |name: &str| cases.iter().find(|c| c.name == name).unwrap().stored();
    let codec = JsonZlib::default();

    let user: User = codec.decode(&stored("dict")).unwrap();
    assert_eq!(user.user_id, 123);
    assert_eq!(user.name, "John Doe");
    assert_eq!(user.email, "john@example.com");

    let floats: Vec<f64> = codec.decode(&stored("list of floats")).unwrap();
    assert_eq!(
        floats,
        [0.1, 1e16, 1e-05, -0.0, 5e-324, 1.797_693_134_862_315_7e308]
    );
    assert!(floats[3].is_sign_negative());

    let special: Vec<f64> = codec.decode(&stored("nan and infinities")).unwrap();
    assert!(special[0].is_nan());
    assert_eq!(special[1..], [f64::INFINITY, f64::NEG_INFINITY]);

    let big: (u64, u128, i128, u128) = codec.decode(&stored("big ints")).unwrap();
    assert_eq!(big, (1 << 63, 1 << 64, -(1i128 << 63) - 1, 10u128.pow(30)));

    let none: Option<String> = codec.decode(&stored("none")).unwrap();
    assert_eq!(none, None);
    let tuple: (u8, String, f32) = codec.decode(&stored("tuple becomes list")).unwrap();
    assert_eq!(tuple, (1, "two".into(), 3.0));
    let rows: Rows = codec.decode(&stored("large")).unwrap();
    assert_eq!(rows.rows.len(), 2000);
    assert_eq!(rows.rows[1999].id, 1999);
    assert_eq!(rows.rows[1999].name, "row 1999");
    assert_eq!(rows.rows[3].score, 3.75);
}

#[test]
fn what_we_store_is_the_reference_json_text() {
    let codec = JsonZlib::default();
    for case in support::vectors::value_cases() {
        let value = python::parse(case.json.as_bytes()).unwrap();
        let stored = codec.encode(&value).unwrap();
        assert_eq!(
            String::from_utf8(inflate(&stored)).unwrap(),
            case.json,
            "{}",
            case.name
        );
    }
}

/// Python checks each value we stored: `json.loads(zlib.decompress(v))`
/// must equal `json.loads(expected)`.
const PYTHON_CHECK: &str = r#"
import json, math, sys, zlib
bad = 0
lines = sys.stdin.read().splitlines()
for line in lines:
    name, stored, expected = json.loads(line)
    got = json.loads(zlib.decompress(bytes.fromhex(stored)))
    want = json.loads(expected)
    if json.dumps(got) != json.dumps(want) or type(got) is not type(want):
        bad += 1
        print("MISMATCH", name, repr(got), repr(want))
print("checked", len(lines), "bad", bad)
"#;

#[derive(Serialize)]
struct Profile {
    id: u64,
    name: &'static str,
    tags: Vec<&'static str>,
    score: f64,
    manager: Option<u32>,
}

#[derive(Serialize)]
enum Status {
    Active,
    Suspended { until: &'static str },
}

#[test]
fn python_reads_what_we_store() {
    let codec = JsonZlib::default();
    let mut lines = Vec::new();
    let mut push = |name: &str, stored: Vec<u8>, expected: &str| {
        let line = serde_json::to_string(&(name, hex(&stored), expected)).unwrap();
        lines.push(line);
    };
    for case in support::vectors::value_cases() {
        let value = python::parse(case.json.as_bytes()).unwrap();
        push(&case.name, codec.encode(&value).unwrap(), &case.json);
    }
    let profile = Profile {
        id: 7,
        name: "Zoë 😀",
        tags: vec!["a", "b"],
        score: 0.1 + 0.2,
        manager: None,
    };
    push(
        "struct",
        codec.encode(&profile).unwrap(),
        r#"{"id": 7, "name": "Zo\u00eb \ud83d\ude00", "tags": ["a", "b"], "score": 0.30000000000000004, "manager": null}"#,
    );
    push(
        "unit variant",
        codec.encode(&Status::Active).unwrap(),
        r#""Active""#,
    );
    push(
        "struct variant",
        codec
            .encode(&Status::Suspended {
                until: "2026-12-01",
            })
            .unwrap(),
        r#"{"Suspended": {"until": "2026-12-01"}}"#,
    );
    push(
        "floats",
        codec
            .encode(&[f64::NAN, f64::INFINITY, -0.0, 1e22, 5e-324])
            .unwrap(),
        "[NaN, Infinity, -0.0, 1e+22, 5e-324]",
    );
    push("none", codec.encode(&None::<u8>).unwrap(), "null");
    push(
        "u128",
        codec.encode(&u128::MAX).unwrap(),
        "340282366920938463463374607431768211455",
    );
    let count = lines.len();
    let out = support::python::run(PYTHON_CHECK, lines.join("\n").as_bytes());
    assert!(out.ends_with(&format!("checked {count} bad 0\n")), "{out}");
}
