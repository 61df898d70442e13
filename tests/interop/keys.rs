//! Keys: random calls, made in Python and in Rust, get the same key on both
//! sides.

use std::collections::BTreeMap;

use memocache::Args;
use memocache::key::{Sha256, cache_key};
use serde::Serialize;

use super::support::vectors::KeyCase;
use super::{Rng, python};

/// Random calls made in Python: namespaces, positional and keyword
/// arguments of every JSON type (integers of any size, floats from random
/// bits, strings from every Unicode plane, nesting), skipped keywords; the
/// reference's key for each.
const PYTHON_RANDOM_KEYS: &str = r#"
import random, struct
rnd = random.Random(int(sys.stdin.read()))
EDGES = [1e16, 1e15, 1e-05, 0.0001, -0.0, 0.0, 5e-324, 1.7976931348623157e308,
         2.2250738585072014e-308, 0.1, 9007199254740993.0, 1e22, float("nan"),
         float("inf"), float("-inf")]

def rstr():
    out = []
    for _ in range(rnd.randrange(8)):
        r = rnd.randrange(5)
        if r == 0: c = rnd.randrange(0x80)
        elif r == 1: c = rnd.randrange(0x80, 0x800)
        elif r == 2: c = rnd.randrange(0x800, 0xd800)
        elif r == 3: c = rnd.randrange(0xe000, 0x10000)
        else: c = rnd.randrange(0x10000, 0x110000)
        out.append(chr(c))
    return "".join(out)

def rint():
    r = rnd.randrange(4)
    if r == 0: return rnd.randrange(-1000, 1000)
    if r == 1: return rnd.randrange(-2**63, 2**64)
    if r == 2: return rnd.choice([-1, 1]) * (2 ** rnd.randrange(200) + rnd.randrange(-1, 2))
    return rnd.randrange(-10**60, 10**60)

def rfloat():
    r = rnd.randrange(3)
    if r == 0: return rnd.choice(EDGES)
    if r == 1: return struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
    return rnd.uniform(-1, 1) * 10 ** rnd.randrange(-30, 30)

def rvalue(depth):
    r = rnd.randrange(9 if depth < 3 else 6)
    if r == 0: return None
    if r == 1: return rnd.choice([True, False])
    if r == 2: return rint()
    if r == 3: return rfloat()
    if r in (4, 5): return rstr()
    if r == 6: return [rvalue(depth + 1) for _ in range(rnd.randrange(4))]
    if r == 7: return tuple(rvalue(depth + 1) for _ in range(rnd.randrange(4)))
    return {rstr(): rvalue(depth + 1) for _ in range(rnd.randrange(4))}

NAMES = ["user_id", "status", "request_id", "a", "b", "page", "limit", "名前", "😀"]
cases = []
for i in range(3000):
    namespace = rnd.choice(["", "ns", "a:b", "ns:", ":::", "名前:空間", "user:profile", rstr()])
    args = tuple(rvalue(0) for _ in range(rnd.randrange(4)))
    kwargs = {}
    for _ in range(rnd.randrange(5)):
        kwargs[rnd.choice(NAMES) if rnd.randrange(2) else rstr()] = rvalue(0)
    skip = [k for k in kwargs if rnd.randrange(3) == 0]
    if rnd.randrange(4) == 0:
        skip.append(rnd.choice(NAMES))
    cases.append({
        "name": f"random call {i}",
        "namespace": namespace,
        "args": json.dumps(args),
        "kwargs": json.dumps(kwargs),
        "skip": skip,
        "key": _cache_key_generator(namespace, args, kwargs, set(skip)),
    })
print(json.dumps(cases))
"#;

#[test]
fn random_python_calls_get_the_reference_key() {
    let (_, seed) = Rng::seeded();
    let cases: Vec<KeyCase> = serde_json::from_str(&python(PYTHON_RANDOM_KEYS, &seed)).unwrap();
    assert_eq!(cases.len(), 3000);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let key = cache_key(&case.namespace, &case.call_args(), &case.skip, &Sha256).unwrap();
            (key != case.key).then(|| format!("{case:?}: memocache's key {key}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} keys differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} random calls, all with the reference's key", cases.len());
}

/// A parameter of a typed Rust call.
#[derive(Clone, Debug)]
enum Param {
    Int(i64),
    Unsigned(u64),
    Wide(i128),
    Float(f64),
    Text(String),
    Ints(Vec<i32>),
    Flag(Option<bool>),
    Scores(BTreeMap<String, f64>),
    Pair((u8, String)),
}

impl Param {
    fn random(rng: &mut Rng) -> Self {
        match rng.below(9) {
            0 => Param::Int(rng.next() as i64),
            1 => Param::Unsigned(rng.next()),
            2 => Param::Wide(((rng.next() as i128) << 64) | i128::from(rng.next())),
            3 => Param::Float(rng.float()),
            4 => Param::Text(rng.string()),
            5 => Param::Ints((0..rng.below(5)).map(|_| rng.next() as i32).collect()),
            6 => Param::Flag([None, Some(true), Some(false)][rng.below(3) as usize]),
            7 => Param::Scores(
                (0..rng.below(4))
                    .map(|_| (rng.string(), rng.float()))
                    .collect(),
            ),
            _ => Param::Pair((rng.next() as u8, rng.string())),
        }
    }

    /// Adds the typed value to `args`, positionally or as keyword `name`.
    fn push(&self, args: &mut Args, keyword: Option<&str>) {
        fn add<T: Serialize>(args: &mut Args, keyword: Option<&str>, value: &T) {
            match keyword {
                Some(name) => args.push_kwarg(name.to_owned(), value),
                None => args.push_arg(None::<String>, value),
            }
        }
        match self {
            Param::Int(v) => add(args, keyword, v),
            Param::Unsigned(v) => add(args, keyword, v),
            Param::Wide(v) => add(args, keyword, v),
            Param::Float(v) => add(args, keyword, v),
            Param::Text(v) => add(args, keyword, v),
            Param::Ints(v) => add(args, keyword, v),
            Param::Flag(v) => add(args, keyword, v),
            Param::Scores(v) => add(args, keyword, v),
            Param::Pair(v) => add(args, keyword, v),
        }
    }

    /// The value for Python, through serde_json (not memocache's writer),
    /// floats as their bits: Python rebuilds exactly the same value.
    fn transfer(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Param::Int(v) => json!({"t": "int", "v": v}),
            Param::Unsigned(v) => json!({"t": "int", "v": v}),
            Param::Wide(v) => json!({"t": "wide", "v": v.to_string()}),
            Param::Float(v) => json!({"t": "float", "v": v.to_bits()}),
            Param::Text(v) => json!({"t": "str", "v": v}),
            Param::Ints(v) => json!({"t": "list", "v": v}),
            Param::Flag(v) => json!({"t": "opt", "v": v}),
            Param::Scores(v) => json!({
                "t": "scores",
                "v": v.iter().map(|(k, f)| json!([k, f.to_bits()])).collect::<Vec<_>>()
            }),
            Param::Pair((n, s)) => json!({"t": "pair", "v": [n, s]}),
        }
    }
}

/// Rebuilds each typed Rust call in Python and prints the reference's key.
const PYTHON_TYPED_KEYS: &str = r#"
import struct
def f64(bits):
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]
def value(p):
    t, v = p["t"], p["v"]
    if t == "wide": return int(v)
    if t == "float": return f64(v)
    if t == "scores": return {k: f64(b) for k, b in v}
    if t == "pair": return (v[0], v[1])
    return v
out = []
for c in json.load(sys.stdin):
    args = tuple(value(p) for p in c["positional"])
    kwargs = {name: value(p) for name, p in c["keyword"]}
    out.append(_cache_key_generator(c["namespace"], args, kwargs, set(c["skip"])))
print(json.dumps(out))
"#;

#[test]
fn random_typed_rust_calls_get_the_reference_key() {
    const NAMES: [&str; 10] = [
        "user_id",
        "status",
        "request_id",
        "a",
        "b",
        "page",
        "limit",
        "名前",
        "😀",
        "q",
    ];
    let (mut rng, seed) = Rng::seeded();
    let mut calls = Vec::new();
    let mut input = Vec::new();
    for _ in 0..1500 {
        let namespace = ["", "ns", "a:b", "ns:", "orders:user", "名前"][rng.below(6) as usize];
        let count = rng.below(8) as usize;
        let params: Vec<Param> = (0..count).map(|_| Param::random(&mut rng)).collect();
        let positional = rng.below(count as u64 + 1) as usize;
        // Keyword names: distinct, in a random order.
        let mut names: Vec<&str> = NAMES.to_vec();
        for i in (1..names.len()).rev() {
            names.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut args = Args::new();
        for (i, param) in params.iter().enumerate() {
            param.push(&mut args, (i >= positional).then(|| names[i]));
        }
        let skip: Vec<String> = names[..count]
            .iter()
            .filter(|_| rng.chance(3))
            .map(|s| (*s).to_owned())
            .collect();
        input.push(serde_json::json!({
            "namespace": namespace,
            "positional": params[..positional].iter().map(Param::transfer).collect::<Vec<_>>(),
            "keyword": params[positional..]
                .iter()
                .zip(&names[positional..])
                .map(|(p, name)| serde_json::json!([name, p.transfer()]))
                .collect::<Vec<_>>(),
            "skip": skip,
        }));
        calls.push((namespace, args, skip, params, positional));
    }
    let keys: Vec<String> = serde_json::from_str(&python(PYTHON_TYPED_KEYS, &input)).unwrap();
    assert_eq!(keys.len(), calls.len());
    let failures: Vec<String> = calls
        .iter()
        .zip(&keys)
        .filter_map(|((namespace, args, skip, params, positional), reference)| {
            let key = cache_key(namespace, args, skip, &Sha256).unwrap();
            (&key != reference).then(|| {
                format!(
                    "{namespace:?} {params:?} ({positional} positional, skip {skip:?}): \
                     memocache {key}, reference {reference}"
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} keys differ:\n{}",
        failures.len(),
        calls.len(),
        failures.join("\n")
    );
}
