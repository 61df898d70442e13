//! The matrix of calls, written in both languages: Python writes and Rust
//! reads, Rust writes (blocking and async memoizers, `#[cache_wrapper]`)
//! and Python hits.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use memocache::codec::{Codec, JsonZlib};
use memocache::python::{self as python, PyValue};
use memocache::{Args, Memoizer, RedisBlockingStore, RedisStore, cache_wrapper};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{config, inflate, key_of, python, raw_get, wait_for_key};

/// A value a case expects to find in the cache, typed in Rust.
trait Expected: Send + Sync {
    /// The reference's JSON text for the value (`json.dumps`).
    fn python_json(&self) -> String;

    /// Decodes stored bytes into the Rust type and checks the value
    /// exactly, and that memocache would store the same JSON text.
    fn check(&self, stored: &[u8]) -> Result<(), String>;

    /// Caches the value under `args` through a blocking memoizer, checking
    /// that the computation ran (a miss) and its value came back.
    fn write_blocking(
        &self,
        memo: &Memoizer<RedisBlockingStore>,
        args: &Args,
    ) -> Result<(), String>;

    /// Reads the value under `args` through a blocking memoizer: it must
    /// be a hit (the computation does not run) with the expected value.
    fn read_blocking(&self, memo: &Memoizer<RedisBlockingStore>, args: &Args)
    -> Result<(), String>;

    /// As [`write_blocking`](Self::write_blocking), through the async path.
    fn write_async<'a>(
        &'a self,
        memo: &'a Memoizer<RedisStore>,
        args: &'a Args,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// An expected value: how stored bytes decode into its type, and how a
/// value got back compares with it.
struct Value<T> {
    value: T,
    decode: fn(&[u8]) -> Result<T, String>,
    compare: fn(&T, &T) -> Result<(), String>,
}

/// An expected value of a serde type, compared through its `Debug` text
/// (which tells every float apart but NaN's payload) and its Python JSON.
fn typed<T: Serialize + DeserializeOwned + Debug>(value: T) -> Value<T> {
    Value {
        value,
        decode,
        compare: same,
    }
}

/// An expected `f64`, compared bit for bit.
fn bits(value: f64) -> Value<f64> {
    Value {
        value,
        decode,
        compare: same_bits,
    }
}

/// An expected [`PyValue`], read back from the stored bytes with
/// memocache's exact Python-JSON reader ([`python::parse`]) and through a
/// memoizer with the codec: either way integers beyond 64 bits stay exact
/// integers.
fn exact(value: PyValue) -> Value<PyValue> {
    Value {
        value,
        decode: decode_exact,
        compare: same,
    }
}

fn same<T: Serialize + Debug>(got: &T, want: &T) -> Result<(), String> {
    let (got_json, want_json) = (python::to_string(got), python::to_string(want));
    if format!("{got:?}") != format!("{want:?}") || got_json != want_json {
        return Err(format!("got {got:?}, expected {want:?}"));
    }
    Ok(())
}

/// Decodes stored bytes with the reference's codec.
fn decode<T: DeserializeOwned>(stored: &[u8]) -> Result<T, String> {
    JsonZlib::default()
        .decode(stored)
        .map_err(|e| format!("does not decode: {e}"))
}

/// Decodes stored bytes exactly, with memocache's Python-JSON reader.
fn decode_exact(stored: &[u8]) -> Result<PyValue, String> {
    python::parse(&inflate(stored)).map_err(|e| format!("does not parse: {e}"))
}

/// The checks every expected value shares: decode, compare, and compare
/// the stored JSON text with what memocache writes.
fn check_stored<T: Serialize + Debug>(
    stored: &[u8],
    want: &T,
    decode: impl Fn(&[u8]) -> Result<T, String>,
    compare: impl Fn(&T, &T) -> Result<(), String>,
) -> Result<(), String> {
    let got = decode(stored)?;
    compare(&got, want)?;
    let text = inflate(stored);
    let ours = python::to_vec(want).map_err(|e| e.to_string())?;
    if text != ours {
        return Err(format!(
            "the stored JSON text {:?} is not what memocache writes: {:?}",
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&ours)
        ));
    }
    Ok(())
}

fn write_blocking_value<T>(
    memo: &Memoizer<RedisBlockingStore>,
    args: &Args,
    value: &T,
    compare: impl Fn(&T, &T) -> Result<(), String>,
) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let ran = AtomicBool::new(false);
    let got = memo.call_blocking(args, || {
        ran.store(true, Ordering::SeqCst);
        value.clone()
    });
    if !ran.load(Ordering::SeqCst) {
        return Err("the computation did not run: the key was taken".into());
    }
    compare(&got, value)
}

fn read_blocking_value<T>(
    memo: &Memoizer<RedisBlockingStore>,
    args: &Args,
    value: &T,
    compare: impl Fn(&T, &T) -> Result<(), String>,
) -> Result<T, String>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let ran = AtomicBool::new(false);
    let got = memo.call_blocking(args, || {
        ran.store(true, Ordering::SeqCst);
        value.clone()
    });
    if ran.load(Ordering::SeqCst) {
        return Err("memocache ran the computation: not a hit".into());
    }
    compare(&got, value)?;
    Ok(got)
}

async fn write_async_value<T>(
    memo: &Memoizer<RedisStore>,
    args: &Args,
    value: &T,
    compare: impl Fn(&T, &T) -> Result<(), String>,
) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let ran = AtomicBool::new(false);
    let got = memo
        .call(args, || async {
            ran.store(true, Ordering::SeqCst);
            value.clone()
        })
        .await;
    if !ran.load(Ordering::SeqCst) {
        return Err("the computation did not run: the key was taken".into());
    }
    compare(&got, value)
}

impl<T> Expected for Value<T>
where
    T: Serialize + DeserializeOwned + Debug + Clone + Send + Sync + 'static,
{
    fn python_json(&self) -> String {
        python::to_string(&self.value).unwrap()
    }

    fn check(&self, stored: &[u8]) -> Result<(), String> {
        check_stored(stored, &self.value, self.decode, self.compare)
    }

    fn write_blocking(
        &self,
        memo: &Memoizer<RedisBlockingStore>,
        args: &Args,
    ) -> Result<(), String> {
        write_blocking_value(memo, args, &self.value, self.compare)
    }

    fn read_blocking(
        &self,
        memo: &Memoizer<RedisBlockingStore>,
        args: &Args,
    ) -> Result<(), String> {
        read_blocking_value(memo, args, &self.value, self.compare).map(drop)
    }

    fn write_async<'a>(
        &'a self,
        memo: &'a Memoizer<RedisStore>,
        args: &'a Args,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(write_async_value(memo, args, &self.value, self.compare))
    }
}

fn same_bits(got: &f64, want: &f64) -> Result<(), String> {
    if got.to_bits() == want.to_bits() {
        Ok(())
    } else {
        Err(format!(
            "got {got:?} ({:#018x}), expected {want:?} ({:#018x})",
            got.to_bits(),
            want.to_bits()
        ))
    }
}

/// One call, written in both languages.
struct Case {
    name: &'static str,
    /// Python expressions: the positional arguments (a tuple), the keyword
    /// arguments (a dict, in call order) and the function's result.
    py_args: &'static str,
    py_kwargs: &'static str,
    py_result: &'static str,
    /// Keyword arguments left out of the key.
    skip: &'static [&'static str],
    /// Call through a `cache_wrapper`-decorated Python function (keyword
    /// arguments only) instead of `cache_function`.
    wrapper: bool,
    /// The same call in Rust.
    args: Args,
    /// The same result in Rust.
    result: Box<dyn Expected>,
}

/// What the Python scripts get for one case.
#[derive(Serialize)]
struct PyCase<'a> {
    namespace: String,
    args: &'a str,
    kwargs: &'a str,
    result: &'a str,
    skip: &'a [&'a str],
    wrapper: bool,
}

impl Case {
    fn python(&self, namespace: String) -> PyCase<'_> {
        PyCase {
            namespace,
            args: self.py_args,
            kwargs: self.py_kwargs,
            result: self.py_result,
            skip: self.skip,
            wrapper: self.wrapper,
        }
    }

    /// Whether the result is `None`, which the reference never serves from
    /// its cache.
    fn returns_none(&self) -> bool {
        self.result.python_json() == "null"
    }
}

fn case<E: Expected + 'static>(
    name: &'static str,
    (py_args, py_kwargs): (&'static str, &'static str),
    args: Args,
    py_result: &'static str,
    result: E,
) -> Case {
    Case {
        name,
        py_args,
        py_kwargs,
        py_result,
        skip: &[],
        wrapper: false,
        args,
        result: Box::new(result),
    }
}

impl Case {
    fn skip(mut self, names: &'static [&'static str]) -> Self {
        self.skip = names;
        self
    }

    fn through_wrapper(mut self) -> Self {
        assert_eq!(
            self.py_args, "()",
            "{}: cache_wrapper takes keywords",
            self.name
        );
        self.wrapper = true;
        self
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct User {
    user_id: u64,
    name: String,
    email: Option<String>,
    tags: Vec<String>,
    score: f64,
    active: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Inner {
    b: Option<i32>,
    c: Vec<bool>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Outer {
    a: Inner,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Empties {
    list: Vec<i32>,
    dict: BTreeMap<String, i32>,
    str: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Row {
    id: u32,
    name: String,
    score: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Shipped,
}

fn big(digits: &str) -> PyValue {
    PyValue::BigInt(digits.to_owned())
}

fn john() -> User {
    User {
        user_id: 123,
        name: "John Doe".into(),
        email: None,
        tags: vec!["a".into(), "b".into()],
        score: 4.5,
        active: true,
    }
}

const JOHN: &str = r#"{"user_id": 123, "name": "John Doe", "email": None, "tags": ["a", "b"], "score": 4.5, "active": True}"#;

/// The matrix: argument and result types, edge values, keyword order,
/// skipped keywords, `cache_function` and `cache_wrapper`.
fn cases() -> Vec<Case> {
    let floats = [1e16, 1e-5, -0.0, 5e-324, f64::MAX, 0.1 + 0.2];
    let empty_map = BTreeMap::<String, i32>::new();
    vec![
        case(
            "int argument, dict result",
            ("(123,)", "{}"),
            Args::new().arg(&123),
            JOHN,
            typed(john()),
        ),
        case(
            "positional and keyword",
            ("(123,)", r#"{"status": "active"}"#),
            Args::new().arg(&123u16).kwarg("status", &"active"),
            r#"["o-1", "o-2"]"#,
            typed(vec!["o-1".to_owned(), "o-2".to_owned()]),
        ),
        case(
            "integers beyond i64",
            ("(2**64, -(2**63) - 1)", r#"{"big": 2**100}"#),
            Args::new()
                .arg(&(1u128 << 64))
                .arg(&(i128::from(i64::MIN) - 1))
                .kwarg("big", &(1u128 << 100)),
            "2**64 + 1",
            typed((1u128 << 64) + 1),
        ),
        case(
            "integers beyond i128",
            ("(10**40,)", r#"{"neg": -(10**45)}"#),
            Args::new()
                .arg(&big(&format!("1{}", "0".repeat(40))))
                .kwarg("neg", &big(&format!("-1{}", "0".repeat(45)))),
            "[10**40, -(10**45), 2**127 - 1]",
            exact(PyValue::List(vec![
                big(&format!("1{}", "0".repeat(40))),
                big(&format!("-1{}", "0".repeat(45))),
                PyValue::Int(i128::MAX),
            ])),
        ),
        case(
            "integers beyond 64 bits in a dynamic value",
            ("()", r#"{"id": 2**65}"#),
            Args::new().kwarg("id", &(1u128 << 65)),
            r#"{"big": 2**70, "neg": -(2**64) - 1, "nested": [2**100, -(2**127), 1]}"#,
            exact(PyValue::Dict(vec![
                ("big".to_owned(), PyValue::Int(1 << 70)),
                ("neg".to_owned(), PyValue::Int(-(1i128 << 64) - 1)),
                (
                    "nested".to_owned(),
                    PyValue::List(vec![
                        PyValue::Int(1 << 100),
                        PyValue::Int(i128::MIN),
                        PyValue::Int(1),
                    ]),
                ),
            ])),
        ),
        case(
            "i64 and u64 extremes",
            ("(2**63 - 1, -(2**63))", "{}"),
            Args::new().arg(&i64::MAX).arg(&i64::MIN),
            "2**64 - 1",
            typed(u64::MAX),
        ),
        case(
            "float edge cases",
            (
                "(1e16, 1e-05, -0.0, 5e-324, 1.7976931348623157e308)",
                r#"{"f": 0.1}"#,
            ),
            Args::new()
                .arg(&1e16)
                .arg(&1e-5)
                .arg(&-0.0)
                .arg(&5e-324)
                .arg(&f64::MAX)
                .kwarg("f", &0.1),
            "[1e16, 1e-05, -0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]",
            typed(floats.to_vec()),
        ),
        case(
            "NaN result",
            ("()", r#"{"x": 1}"#),
            Args::new().kwarg("x", &1),
            r#"float("nan")"#,
            bits(f64::NAN),
        ),
        case(
            "infinity result",
            ("(1,)", "{}"),
            Args::new().arg(&1),
            r#"float("inf")"#,
            bits(f64::INFINITY),
        ),
        case(
            "-infinity result",
            ("(2,)", "{}"),
            Args::new().arg(&2),
            r#"float("-inf")"#,
            bits(f64::NEG_INFINITY),
        ),
        case(
            "-0.0 result",
            ("(3,)", "{}"),
            Args::new().arg(&3),
            "-0.0",
            bits(-0.0),
        ),
        case(
            "5e-324 result",
            ("(4,)", "{}"),
            Args::new().arg(&4),
            "5e-324",
            bits(5e-324),
        ),
        case(
            "largest float result",
            ("(5,)", "{}"),
            Args::new().arg(&5),
            "1.7976931348623157e308",
            bits(f64::MAX),
        ),
        case(
            "1e16 result",
            ("(6,)", "{}"),
            Args::new().arg(&6),
            "1e16",
            bits(1e16),
        ),
        case(
            "1e-05 result",
            ("(7,)", "{}"),
            Args::new().arg(&7),
            "1e-05",
            bits(1e-5),
        ),
        case(
            "0.1 + 0.2 result",
            ("(8,)", "{}"),
            Args::new().arg(&8),
            "0.1 + 0.2",
            bits(0.1 + 0.2),
        ),
        case(
            "NaN and infinities as arguments and in a list",
            (
                r#"(float("nan"), float("inf"))"#,
                r#"{"low": float("-inf")}"#,
            ),
            Args::new()
                .arg(&f64::NAN)
                .arg(&f64::INFINITY)
                .kwarg("low", &f64::NEG_INFINITY),
            r#"[float("nan"), float("inf"), float("-inf"), 1.5]"#,
            typed(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5]),
        ),
        case(
            "unicode: astral, controls, U+007F, separators",
            (
                r#"("😀 astral 𝄞", "\x00\x1f\x7f", "é ñ 日本語", "\u2028\u2029")"#,
                r#"{"q": "quote\" backslash\\ slash/"}"#,
            ),
            Args::new()
                .arg(&"😀 astral 𝄞")
                .arg(&"\u{0}\u{1f}\u{7f}")
                .arg(&"é ñ 日本語")
                .arg(&"\u{2028}\u{2029}")
                .kwarg("q", &"quote\" backslash\\ slash/"),
            r#"{"text": "😀\x7f\x00\n\t", "名前": "値"}"#,
            typed(BTreeMap::from([
                ("text".to_owned(), "😀\u{7f}\u{0}\n\t".to_owned()),
                ("名前".to_owned(), "値".to_owned()),
            ])),
        ),
        case(
            "unicode keyword names",
            ("()", r#"{"名前": "値", "😀": 1}"#),
            Args::new().kwarg("名前", &"値").kwarg("😀", &1),
            r#""\x00\x01\x1f\x7f\x80\x9f\ud7ff\ue000\U0010ffff""#,
            typed("\u{0}\u{1}\u{1f}\u{7f}\u{80}\u{9f}\u{d7ff}\u{e000}\u{10ffff}".to_owned()),
        ),
        case(
            "nested lists and dicts",
            (
                r#"([1, [2, [3, []]]], {"a": {"b": None, "c": [True, False]}})"#,
                "{}",
            ),
            Args::new()
                .arg(&(1, (2, (3, Vec::<i32>::new()))))
                .arg(&Outer {
                    a: Inner {
                        b: None,
                        c: vec![true, false],
                    },
                }),
            r#"{"level1": {"level2": [1, {"deep": [True, None, 2.5]}]}}"#,
            exact(PyValue::Dict(vec![(
                "level1".into(),
                PyValue::Dict(vec![(
                    "level2".into(),
                    PyValue::List(vec![
                        PyValue::Int(1),
                        PyValue::Dict(vec![(
                            "deep".into(),
                            PyValue::List(vec![
                                PyValue::Bool(true),
                                PyValue::None,
                                PyValue::Float(2.5),
                            ]),
                        )]),
                    ]),
                )]),
            )])),
        ),
        case(
            "booleans",
            ("(True, False)", r#"{"flag": True}"#),
            Args::new().arg(&true).arg(&false).kwarg("flag", &true),
            "[True, False]",
            typed(vec![true, false]),
        ),
        case(
            "False result",
            ("(9,)", "{}"),
            Args::new().arg(&9),
            "False",
            typed(false),
        ),
        case(
            "zero result",
            ("(10,)", "{}"),
            Args::new().arg(&10),
            "0",
            typed(0),
        ),
        case(
            "None as an argument",
            ("(None,)", r#"{"maybe": None}"#),
            Args::new().arg(&None::<i32>).kwarg("maybe", &()),
            r#""ok""#,
            typed("ok".to_owned()),
        ),
        case(
            "None result",
            ("(404,)", "{}"),
            Args::new().arg(&404),
            "None",
            typed(None::<String>),
        ),
        case(
            "empty collections",
            (r#"([], {}, "")"#, r#"{"l": [], "d": {}}"#),
            Args::new()
                .arg(&Vec::<i32>::new())
                .arg(&empty_map)
                .arg(&"")
                .kwarg("l", &[0u8; 0])
                .kwarg("d", &HashMap::<String, i32>::new()),
            r#"{"list": [], "dict": {}, "str": ""}"#,
            typed(Empties {
                list: vec![],
                dict: BTreeMap::new(),
                str: String::new(),
            }),
        ),
        case(
            "empty list result",
            ("(11,)", "{}"),
            Args::new().arg(&11),
            "[]",
            typed(Vec::<String>::new()),
        ),
        case(
            "empty dict result",
            ("(12,)", "{}"),
            Args::new().arg(&12),
            "{}",
            typed(empty_map.clone()),
        ),
        case(
            "empty string result",
            ("(13,)", "{}"),
            Args::new().arg(&13),
            r#""""#,
            typed(String::new()),
        ),
        case(
            "keyword order a, b",
            ("()", r#"{"a": 1, "b": 2}"#),
            Args::new().kwarg("a", &1).kwarg("b", &2),
            r#""a then b""#,
            typed("a then b".to_owned()),
        ),
        case(
            "keyword order b, a",
            ("()", r#"{"b": 2, "a": 1}"#),
            Args::new().kwarg("b", &2).kwarg("a", &1),
            r#""b then a""#,
            typed("b then a".to_owned()),
        ),
        case(
            "a skipped keyword",
            ("()", r#"{"user_id": 789, "request_id": "abc-123"}"#),
            Args::new()
                .kwarg("user_id", &789)
                .kwarg("request_id", &"abc-123"),
            r#"{"id": 789}"#,
            typed(BTreeMap::from([("id".to_owned(), 789)])),
        )
        .skip(&["request_id"]),
        case(
            "every keyword skipped",
            ("(5,)", r#"{"request_id": "r", "trace": "t"}"#),
            Args::new()
                .arg(&5)
                .kwarg("request_id", &"r")
                .kwarg("trace", &"t"),
            "5",
            typed(5),
        )
        .skip(&["request_id", "trace"]),
        case(
            "skip leaves positional arguments alone",
            (r#"("request_id",)"#, "{}"),
            Args::new().arg(&"request_id"),
            r#""positional""#,
            typed("positional".to_owned()),
        )
        .skip(&["request_id"]),
        case(
            "tuple result",
            ("(14,)", "{}"),
            Args::new().arg(&14),
            r#"(1, "two", 3.0)"#,
            typed((1, "two".to_owned(), 3.0)),
        ),
        case(
            "integer dict keys",
            ("(15,)", "{}"),
            Args::new().arg(&15),
            r#"{1: "one", 2: "two"}"#,
            typed(BTreeMap::from([
                (1u32, "one".to_owned()),
                (2, "two".to_owned()),
            ])),
        ),
        case(
            "enum result",
            ("(16,)", "{}"),
            Args::new().arg(&16),
            r#""shipped""#,
            typed(Status::Shipped),
        ),
        case(
            "a large result",
            ("(17,)", "{}"),
            Args::new().arg(&17),
            r#"[{"id": i, "name": f"row {i}", "score": i * 1.25} for i in range(2000)]"#,
            typed(
                (0..2000)
                    .map(|i| Row {
                        id: i,
                        name: format!("row {i}"),
                        score: f64::from(i) * 1.25,
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        case(
            "cache_wrapper: keyword call",
            ("()", r#"{"user_id": 123, "status": "active"}"#),
            Args::new()
                .kwarg("user_id", &123)
                .kwarg("status", &"active"),
            JOHN,
            typed(john()),
        )
        .through_wrapper(),
        case(
            "cache_wrapper: a skipped keyword",
            ("()", r#"{"user_id": 7, "request_id": "r-1"}"#),
            Args::new().kwarg("user_id", &7).kwarg("request_id", &"r-1"),
            "[7, 2**70]",
            typed((7, 1u128 << 70)),
        )
        .skip(&["request_id"])
        .through_wrapper(),
        case(
            "cache_wrapper: floats and unicode",
            ("()", r#"{"ratio": 1e-05, "label": "😀\x7f", "none": None}"#),
            Args::new()
                .kwarg("ratio", &1e-5)
                .kwarg("label", &"😀\u{7f}")
                .kwarg("none", &()),
            r#"float("nan")"#,
            bits(f64::NAN),
        )
        .through_wrapper(),
    ]
}

// ---------------------------------------------------------------------------
// Python writes, Rust reads

/// For each case: call it twice through the reference, and report its key,
/// how often the function ran, and both answers.
const PYTHON_WRITES: &str = r#"
out = []
for c in json.load(sys.stdin):
    args, kwargs, result = eval(c["args"]), eval(c["kwargs"]), eval(c["result"])
    skip = set(c["skip"])
    runs = []
    def func(*a, **kw):
        runs.append(1)
        return result
    if c["wrapper"]:
        wrapped = cache_wrapper(redis=REDIS, namespace=c["namespace"], skip_cache_keys=skip)(func)
        call = lambda: wrapped(**kwargs)
    else:
        call = lambda: cache_function(func, REDIS, c["namespace"], None, None, skip, *args, **kwargs)
    first, second = call(), call()
    out.append({
        "key": _cache_key_generator(c["namespace"], args, kwargs, skip),
        "runs": len(runs),
        "result": json.dumps(jsonable_encoder(result)),
        "first": json.dumps(first),
        "second": json.dumps(second),
    })
print(json.dumps(out))
"#;

#[derive(Deserialize, Debug)]
struct Written {
    key: String,
    runs: usize,
    result: String,
    first: String,
    second: String,
}

#[test]
fn python_writes_and_rust_reads_the_same_key_and_value() {
    let cases = cases();
    let namespace = |i: usize| format!("interop:py-writes:{i}");
    let input: Vec<PyCase> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| c.python(namespace(i)))
        .collect();
    let written: Vec<Written> = serde_json::from_str(&python(PYTHON_WRITES, &input)).unwrap();
    assert_eq!(written.len(), cases.len());

    // Memoizers that must answer every call from what Python stored.
    let store = RedisBlockingStore::connect(&config()).unwrap();
    let mut failures = Vec::new();
    for (i, (case, py)) in cases.iter().zip(&written).enumerate() {
        let mut fail = |what: String| failures.push(format!("{}: {what}", case.name));
        // The case says the same thing in both languages.
        if py.result != case.result.python_json() {
            fail(format!(
                "the Python result {} is not the Rust one {}",
                py.result,
                case.result.python_json()
            ));
        }
        // The reference served its second call from the cache (a None result
        // never is: the reference reads a cached null as a miss).
        let runs = if case.returns_none() { 2 } else { 1 };
        if py.runs != runs || py.first != py.second || py.first != py.result {
            fail(format!(
                "the reference ran {} times, answered {py:?}",
                py.runs
            ));
        }
        let key = key_of(&namespace(i), &case.args, case.skip);
        if key != py.key {
            fail(format!("key {key}, the reference's {}", py.key));
            continue;
        }
        match raw_get(&key) {
            None => fail(format!("nothing stored at {key}")),
            Some(stored) => {
                if let Err(e) = case.result.check(&stored) {
                    fail(e);
                }
            }
        }
        // A memoizer on the same namespace hits (a None the reference
        // stored too: memocache reads a cached null as a value).
        let memo = Memoizer::builder(store.clone())
            .namespace(namespace(i))
            .skip_cache_keys(case.skip.iter().copied())
            .build();
        if let Err(e) = case.result.read_blocking(&memo, &case.args) {
            fail(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // Keyword order is part of the key, on both sides.
    let order: Vec<&Written> = cases
        .iter()
        .zip(&written)
        .filter(|(c, _)| c.name.starts_with("keyword order"))
        .map(|(_, w)| w)
        .collect();
    assert_eq!(order.len(), 2);
    assert_ne!(
        order[0].key.rsplit(':').next(),
        order[1].key.rsplit(':').next()
    );
}

// ---------------------------------------------------------------------------
// Rust writes, Python hits

/// For each case: call it once through the reference with a function that
/// counts its runs, and report the key, the runs and the answer.
const PYTHON_HITS: &str = r#"
out = []
for c in json.load(sys.stdin):
    args, kwargs, result = eval(c["args"]), eval(c["kwargs"]), eval(c["result"])
    skip = set(c["skip"])
    runs = []
    def func(*a, **kw):
        runs.append(1)
        return result
    if c["wrapper"]:
        got = cache_wrapper(redis=REDIS, namespace=c["namespace"], skip_cache_keys=skip)(func)(**kwargs)
    else:
        got = cache_function(func, REDIS, c["namespace"], None, None, skip, *args, **kwargs)
    out.append({
        "key": _cache_key_generator(c["namespace"], args, kwargs, skip),
        "runs": len(runs),
        "got": json.dumps(got),
        "want": json.dumps(jsonable_encoder(result)),
    })
print(json.dumps(out))
"#;

#[derive(Deserialize, Debug)]
struct Hit {
    key: String,
    runs: usize,
    got: String,
    want: String,
}

/// Asks the reference for every case written under `namespace(i)`, and
/// checks each is a hit with the same value.
fn python_hits_every_case(
    cases: &[Case],
    namespace: impl Fn(usize) -> String,
    keys: &[String],
) -> usize {
    let input: Vec<PyCase> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| c.python(namespace(i)))
        .collect();
    let hits: Vec<Hit> = serde_json::from_str(&python(PYTHON_HITS, &input)).unwrap();
    assert_eq!(hits.len(), cases.len());
    let mut failures = Vec::new();
    for ((case, hit), key) in cases.iter().zip(&hits).zip(keys) {
        if &hit.key != key {
            failures.push(format!(
                "{}: key {key}, the reference's {}",
                case.name, hit.key
            ));
        }
        // A None memocache cached is still a miss for the reference.
        let runs = usize::from(case.returns_none());
        if hit.runs != runs || hit.got != hit.want || hit.want != case.result.python_json() {
            failures.push(format!(
                "{}: the reference ran {} times: {hit:?}",
                case.name, hit.runs
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    hits.iter().filter(|h| h.runs == 0).count()
}

#[test]
fn rust_writes_through_the_blocking_store_and_python_hits() {
    let cases = cases();
    let store = RedisBlockingStore::connect(&config()).unwrap();
    let namespace = |i: usize| format!("interop:rust-blocking:{i}");
    let mut keys = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let memo = Memoizer::builder(store.clone())
            .namespace(namespace(i))
            .skip_cache_keys(case.skip.iter().copied())
            .build();
        case.result
            .write_blocking(&memo, &case.args)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let key = memo.key(&case.args).unwrap();
        case.result
            .check(&raw_get(&key).expect("stored"))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        keys.push(key);
    }
    let hits = python_hits_every_case(&cases, namespace, &keys);
    assert_eq!(
        hits,
        cases.len() - 1,
        "every case but the None one is a hit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_writes_through_the_async_store_and_python_hits() {
    let cases = cases();
    let store = RedisStore::connect(&config()).await.unwrap();
    let namespace = |i: usize| format!("interop:rust-async:{i}");
    let mut keys = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let memo = Memoizer::builder(store.clone())
            .namespace(namespace(i))
            .skip_cache_keys(case.skip.iter().copied())
            .build();
        case.result
            .write_async(&memo, &case.args)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        // Writes happen in the background: wait for them.
        memo.flush().await;
        keys.push(memo.key(&case.args).unwrap());
    }
    let hits = tokio::task::spawn_blocking(move || {
        let hits = python_hits_every_case(&cases, namespace, &keys);
        (hits, cases.len())
    })
    .await
    .unwrap();
    assert_eq!(hits.0, hits.1 - 1, "every case but the None one is a hit");
}

// ---------------------------------------------------------------------------
// #[cache_wrapper] functions, and Python calls with keyword arguments

static PROFILE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(
    store = RedisBlockingStore::connect(&config()).expect("connect"),
    namespace = "interop:macro:profile",
    expire = 600,
    skip_cache_keys = ["request_id"]
)]
fn profile(user_id: u64, name: &str, tags: Vec<String>, ratio: f64, request_id: &str) -> User {
    PROFILE_RUNS.fetch_add(1, Ordering::SeqCst);
    assert!(request_id.starts_with("r-"));
    User {
        user_id,
        name: name.to_owned(),
        email: Some(format!("{name}@example.com")),
        tags,
        score: ratio,
        active: true,
    }
}

static TOTAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cache_wrapper(
    store = RedisStore::connect_lazy(&config()).expect("config"),
    namespace = "interop:macro:total",
    positional = 1
)]
async fn total(customer: u128, currency: &str) -> (u128, String, f64) {
    TOTAL_RUNS.fetch_add(1, Ordering::SeqCst);
    (customer * 2, currency.to_owned(), -0.0)
}

/// The reference's decorator on functions that must not run: a hit answers
/// them from the cache; the script prints the answers and the runs.
const PYTHON_MACRO_HITS: &str = r#"
runs = []

@cache_wrapper(redis=REDIS, namespace="interop:macro:profile", expire=600, skip_cache_keys={"request_id"})
def profile(user_id, name, tags, ratio, request_id):
    runs.append("profile")
    raise AssertionError("profile ran: not a hit")

def total(customer, currency):
    runs.append("total")
    raise AssertionError("total ran: not a hit")

first = profile(user_id=7, name="Ada é😀", tags=["x", "y"], ratio=1e-05, request_id="r-python")
second = cache_function(total, REDIS, "interop:macro:total", None, None, None, 2**70, currency="EUR")
print(json.dumps({"runs": runs, "profile": first, "total": second}))
"#;

#[test]
fn cache_wrapper_functions_write_what_python_decorated_functions_hit() {
    let tags = vec!["x".to_owned(), "y".to_owned()];
    let written = profile(7, "Ada é😀", tags.clone(), 1e-5, "r-rust");
    assert_eq!(PROFILE_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(profile(7, "Ada é😀", tags, 1e-5, "r-again"), written);
    assert_eq!(PROFILE_RUNS.load(Ordering::SeqCst), 1, "a hit in Rust too");

    // Worker threads carry the background write while this thread waits.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sum = runtime.block_on(total(1 << 70, "EUR"));
    assert_eq!(TOTAL_RUNS.load(Ordering::SeqCst), 1);
    // The async path writes in the background: wait until the entry lands.
    let key = total_cache_key(1 << 70, "EUR").unwrap();
    assert_eq!(
        key,
        key_of(
            "interop:macro:total",
            &Args::new().arg(&(1u128 << 70)).kwarg("currency", &"EUR"),
            &[]
        )
    );
    wait_for_key(&key);

    #[derive(Deserialize)]
    struct Answers {
        runs: Vec<String>,
        profile: User,
        total: (u128, String, f64),
    }
    let out: Answers = serde_json::from_str(&python(PYTHON_MACRO_HITS, &())).unwrap();
    assert!(out.runs.is_empty(), "Python functions ran: {:?}", out.runs);
    assert_eq!(out.profile, written);
    assert_eq!(out.total.0, sum.0);
    assert_eq!(out.total.1, sum.1);
    assert_eq!(out.total.2.to_bits(), (-0.0f64).to_bits());
}
