//! `memocache key` prints the reference's key for every vector generated
//! with the real Python package (tests/vectors/keys.json at the root).

use serde::Deserialize;
use support::{fails, ok, run};

mod support;

#[derive(Deserialize)]
struct Case {
    name: String,
    namespace: String,
    args: String,
    kwargs: String,
    skip: Vec<String>,
    key: String,
}

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[test]
fn key_matches_every_reference_vector() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/keys.json");
    let vectors: Vectors = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(vectors.cases.len() > 200);
    let mut failures = Vec::new();
    for case in &vectors.cases {
        let mut argv = vec![
            "key",
            "--namespace",
            &case.namespace,
            "--args",
            &case.args,
            "--kwargs",
            &case.kwargs,
        ];
        for name in &case.skip {
            argv.extend(["--skip", name]);
        }
        let out = run(&argv);
        let printed = String::from_utf8(out.stdout).unwrap();
        if !out.status.success() || printed != format!("{}\n", case.key) {
            failures.push(format!(
                "{}: printed {printed:?}, reference {:?}, stderr {}",
                case.name,
                case.key,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn key_without_arguments_is_the_namespace() {
    assert_eq!(ok(&["key", "--namespace", "reports:"]), "reports\n");
}

#[test]
fn blake3_keys_differ_from_sha256_keys() {
    let sha = ok(&["key", "-n", "ns", "--args", "[1]"]);
    let blake = ok(&["key", "-n", "ns", "--args", "[1]", "--hasher", "blake3"]);
    assert_eq!(sha.len(), blake.len());
    assert_ne!(sha, blake);
    assert!(blake.starts_with("ns:"));
}

#[test]
fn bad_json_is_a_clear_error() {
    let err = fails(&["key", "-n", "ns", "--args", "{\"a\": 1}"]);
    assert!(err.contains("--args must be a JSON array"), "{err}");
    let err = fails(&["key", "-n", "ns", "--kwargs", "{\"a\": }"]);
    assert!(err.contains("--kwargs is not valid JSON"), "{err}");
}
