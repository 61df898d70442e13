//! Our keys equal the Python reference's, byte for byte (vectors generated
//! by tests/vectors/generate.py with the real dtpyfw package).

mod support;

use memocache::Args;
use memocache::key::{Sha256, cache_key};
use serde::Serialize;
use support::vectors::KeyCase;

#[test]
fn every_reference_key_vector_matches() {
    let cases = support::vectors::key_cases();
    let mut failures = Vec::new();
    for case in &cases {
        let key = cache_key(&case.namespace, &case.call_args(), &case.skip, &Sha256).unwrap();
        if key != case.key {
            failures.push(format!(
                "{}: got {key:?}, reference {:?}",
                case.name, case.key
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} keys differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() > 200);
}

fn key(namespace: &str, args: &Args) -> String {
    cache_key(namespace, args, &[], &Sha256).unwrap()
}

#[test]
fn typed_rust_values_give_the_reference_keys() {
    let cases = support::vectors::key_cases();
    let expect = |name: &str| KeyCase::named(&cases, name).key.clone();

    assert_eq!(
        key("user", &Args::new().arg(&123u16)),
        expect("one positional int")
    );
    assert_eq!(
        key("user", &Args::new().arg(&123i64).kwarg("status", &"active")),
        expect("keyword status")
    );
    assert_eq!(
        key(
            "user",
            &Args::new()
                .arg(&123)
                .kwarg("status", &String::from("active"))
        ),
        expect("keyword status")
    );
    assert_eq!(
        key("ns", &Args::new().kwarg("b", &2u8).kwarg("a", &1i8)),
        expect("keyword order b,a")
    );
    for (i, v) in [u64::MAX, 1 << 63].into_iter().enumerate() {
        let name = format!("int {}: {v}", [8, 7][i]);
        assert_eq!(
            key("ints", &Args::new().arg(&v).kwarg("v", &v)),
            expect(&name)
        );
    }
    let v = i128::MIN;
    assert_eq!(
        key("ints", &Args::new().arg(&v).kwarg("v", &v)),
        expect(&format!("int 12: {v}"))
    );
    let v = i64::MIN;
    assert_eq!(
        key("ints", &Args::new().arg(&v).kwarg("v", &v)),
        expect(&format!("int 6: {v}"))
    );
    for (i, v) in [1e16, 1e15, 1e-05, 0.0001].into_iter().enumerate() {
        let case = cases
            .iter()
            .find(|c| c.name.starts_with(&format!("float {i}: ")))
            .unwrap();
        assert_eq!(
            key("floats", &Args::new().arg(&v).kwarg("v", &v)),
            case.key,
            "{v}"
        );
    }
    let nan = cases.iter().find(|c| c.name.ends_with(": nan")).unwrap();
    assert_eq!(
        key("floats", &Args::new().arg(&f64::NAN).kwarg("v", &f64::NAN)),
        nan.key
    );
    let neg_zero = cases.iter().find(|c| c.name.ends_with(": -0.0")).unwrap();
    assert_eq!(
        key("floats", &Args::new().arg(&-0.0f64).kwarg("v", &-0.0f64)),
        neg_zero.key
    );
}

#[test]
fn structs_options_and_sequences_give_the_reference_keys() {
    #[derive(Serialize)]
    struct User<'a> {
        id: u32,
        tags: [&'a str; 2],
        score: f64,
    }
    #[derive(Serialize)]
    struct Page<'a> {
        users: Vec<User<'a>>,
    }
    let cases = support::vectors::key_cases();
    let page = Page {
        users: (0..5)
            .map(|i| User {
                id: i,
                tags: ["a", "b"],
                score: f64::from(i) / 7.0,
            })
            .collect(),
    };
    assert_eq!(
        key("mixed", &Args::new().arg(&page)),
        KeyCase::named(&cases, "nested mixed").key
    );

    let empty: [u8; 0] = [];
    let args = Args::new()
        .arg(&None::<u8>)
        .arg(&true)
        .arg(&false)
        .arg(&0)
        .arg(&-7)
        .arg(&1.5)
        .arg(&"s")
        .arg(&empty)
        .arg(&std::collections::BTreeMap::<String, u8>::new())
        .kwarg("n", &())
        .kwarg("t", &true)
        .kwarg("f", &false)
        .kwarg("list", &serde_json::json!([1, [2, [3]]]))
        .kwarg("dict", &serde_json::json!({"x": {"y": null}}));
    assert_eq!(
        key("types", &args),
        KeyCase::named(&cases, "json types").key
    );
}
