//! `memocache::python`'s serde adapters for dates, times and decimals
//! (features `chrono`, `time`, `rust_decimal`) against CPython and the
//! Python reference:
//!
//! - Rust writes random values, CPython parses each text
//!   (`datetime.fromisoformat`, `Decimal`) and checks it is `str()` of the
//!   value Rust had; CPython writes random values' `str()`, Rust reads
//!   each and writes the very same text again. One CPython run per test.
//! - ISO 8601 texts (chrono's own serde form, `T`, `Z`, compact offsets,
//!   1 to 9 fraction digits) read as Python 3.11's `fromisoformat` reads
//!   them.
//! - The reference's `cache_data` / `cache_function` entries holding a
//!   datetime, a date, a time, Decimals and a UUID are hits for a Rust
//!   `Memoizer` over a real redis-server, and what Rust writes is what
//!   Python would have written.
//! - A text the adapters refuse: the error names the Rust type, the text
//!   and where it is; the entry is a logged miss and is overwritten in
//!   Python's form.

mod support;

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use memocache::codec::{Codec, JsonPlain};
use memocache::python;
use memocache::{Args, Memoizer, RedisBlockingStore, RedisConfig};
use memocache_testkit::RedisServer;
use memocache_testkit::python::Reference;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use support::rng::Rng;

// ---------------------------------------------------------------------
// Random values, in Rust.

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The parts of a datetime: year, month, day, hour, minute, second,
/// nanosecond.
#[derive(Debug, Clone, Copy)]
struct Parts {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nano: u32,
}

impl Parts {
    fn random(rng: &mut Rng) -> Self {
        let year = match rng.below(10) {
            0 => [1, 9999, 1000, 999, 2000, 1900][rng.below(6) as usize],
            _ => 1 + rng.below(9999) as i32,
        };
        let month = 1 + rng.below(12) as u32;
        let day = 1 + rng.below(u64::from(days_in_month(year, month))) as u32;
        let nano = match rng.below(5) {
            0 => 0,
            1 => rng.below(1_000_000) as u32 * 1000,
            2 => rng.below(1000) as u32 * 1000,
            3 => rng.below(1000) as u32,
            _ => rng.below(1_000_000_000) as u32,
        };
        Parts {
            year,
            month,
            day,
            hour: rng.below(24) as u32,
            minute: rng.below(60) as u32,
            second: rng.below(60) as u32,
            nano,
        }
    }

    /// What Python holds of it: microseconds.
    fn python(&self) -> [i64; 7] {
        [
            self.year.into(),
            self.month.into(),
            self.day.into(),
            self.hour.into(),
            self.minute.into(),
            self.second.into(),
            (self.nano / 1000).into(),
        ]
    }

    fn chrono(&self) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day)
            .unwrap()
            .and_hms_nano_opt(self.hour, self.minute, self.second, self.nano)
            .unwrap()
    }

    fn time(&self) -> time::PrimitiveDateTime {
        let date = time::Date::from_calendar_date(
            self.year,
            time::Month::try_from(self.month as u8).unwrap(),
            self.day as u8,
        )
        .unwrap();
        let clock = time::Time::from_hms_nano(
            self.hour as u8,
            self.minute as u8,
            self.second as u8,
            self.nano,
        )
        .unwrap();
        time::PrimitiveDateTime::new(date, clock)
    }
}

/// A UTC offset in seconds: Python's whole minutes mostly (-23:59 to
/// +23:59), sometimes with seconds, sometimes the extremes.
fn random_offset(rng: &mut Rng) -> i32 {
    match rng.below(6) {
        0 => 0,
        1 => rng.below(2 * 86_399 + 1) as i32 - 86_399,
        2 => [86_340, -86_340, 86_399, -86_399, 30, -30][rng.below(6) as usize],
        _ => (rng.below(2 * 1439 + 1) as i32 - 1439) * 60,
    }
}

/// Every adapter at once: each chrono field and its time crate twin hold
/// the same value, so they must write the same text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Sample {
    #[serde(with = "memocache::python::datetime")]
    chrono_naive: NaiveDateTime,
    #[serde(with = "memocache::python::datetime")]
    chrono_fixed: DateTime<FixedOffset>,
    #[serde(with = "memocache::python::datetime")]
    chrono_utc: DateTime<Utc>,
    #[serde(with = "memocache::python::datetime")]
    time_primitive: time::PrimitiveDateTime,
    #[serde(with = "memocache::python::datetime")]
    time_offset: time::OffsetDateTime,
    #[serde(with = "memocache::python::datetime")]
    time_utc: time::UtcDateTime,
    #[serde(with = "memocache::python::date")]
    chrono_date: NaiveDate,
    #[serde(with = "memocache::python::date")]
    time_date: time::Date,
    #[serde(with = "memocache::python::time")]
    chrono_time: NaiveTime,
    #[serde(with = "memocache::python::time")]
    time_time: time::Time,
    #[serde(default, with = "memocache::python::datetime::option")]
    maybe: Option<NaiveDateTime>,
    #[serde(default, with = "memocache::python::date::option")]
    maybe_date: Option<time::Date>,
}

/// A sample's values, and what Python must find in its texts.
#[derive(Serialize)]
struct Expected {
    naive: [i64; 7],
    aware: [i64; 7],
    offset: i32,
    utc: [i64; 7],
    maybe: Option<[i64; 7]>,
    maybe_date: Option<[i64; 3]>,
}

fn random_sample(rng: &mut Rng) -> (Sample, Expected) {
    let naive = Parts::random(rng);
    let aware = Parts::random(rng);
    let utc = Parts::random(rng);
    let offset = random_offset(rng);
    let maybe = rng.chance(3).then(|| Parts::random(rng));
    let maybe_date = rng.chance(2).then(|| Parts::random(rng));
    let fixed = FixedOffset::east_opt(offset).unwrap();
    let sample = Sample {
        chrono_naive: naive.chrono(),
        chrono_fixed: aware.chrono().and_local_timezone(fixed).single().unwrap(),
        chrono_utc: utc.chrono().and_utc(),
        time_primitive: naive.time(),
        time_offset: aware
            .time()
            .assume_offset(time::UtcOffset::from_whole_seconds(offset).unwrap()),
        time_utc: utc.time().as_utc(),
        chrono_date: naive.chrono().date(),
        time_date: naive.time().date(),
        chrono_time: naive.chrono().time(),
        time_time: naive.time().time(),
        maybe: maybe.map(|p| p.chrono()),
        maybe_date: maybe_date.map(|p| p.time().date()),
    };
    let expected = Expected {
        naive: naive.python(),
        aware: aware.python(),
        offset,
        utc: utc.python(),
        maybe: maybe.map(|p| p.python()),
        maybe_date: maybe_date.map(|p| {
            let [y, m, d, ..] = p.python();
            [y, m, d]
        }),
    };
    (sample, expected)
}

/// Runs the machine's CPython (3.11 or later: `fromisoformat` of the
/// space form).
fn cpython(script: &str, input: &str) -> String {
    support::python::run(script, input.as_bytes())
}

// ---------------------------------------------------------------------
// Rust writes, CPython reads.

/// Parses each text Rust wrote, checks it is `str()` of the parsed value
/// and that the value is the one Rust had.
const PYTHON_CHECKS_DATETIMES: &str = r#"
import datetime as D, json, sys
assert sys.version_info >= (3, 11), sys.version
def parts(dt):
    return [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond]
bad, n = [], 0
for line in sys.stdin.read().splitlines():
    v, e = json.loads(line)
    def check(name, ok):
        if not ok:
            bad.append([name, v[name], e])
    for name in ("chrono_naive", "time_primitive"):
        dt = D.datetime.fromisoformat(v[name])
        check(name, str(dt) == v[name] and dt.tzinfo is None and parts(dt) == e["naive"])
    for name in ("chrono_fixed", "time_offset"):
        dt = D.datetime.fromisoformat(v[name])
        check(name, str(dt) == v[name] and parts(dt) == e["aware"]
              and dt.utcoffset() == D.timedelta(seconds=e["offset"]))
    for name in ("chrono_utc", "time_utc"):
        dt = D.datetime.fromisoformat(v[name])
        check(name, str(dt) == v[name] and parts(dt) == e["utc"]
              and dt.utcoffset() == D.timedelta(0))
    for name in ("chrono_date", "time_date"):
        d = D.date.fromisoformat(v[name])
        check(name, str(d) == v[name] and [d.year, d.month, d.day] == e["naive"][:3])
    for name in ("chrono_time", "time_time"):
        t = D.time.fromisoformat(v[name])
        check(name, str(t) == v[name] and [t.hour, t.minute, t.second, t.microsecond] == e["naive"][3:])
    if v["maybe"] is None:
        check("maybe", e["maybe"] is None)
    else:
        dt = D.datetime.fromisoformat(v["maybe"])
        check("maybe", str(dt) == v["maybe"] and parts(dt) == e["maybe"])
    if v["maybe_date"] is None:
        check("maybe_date", e["maybe_date"] is None)
    else:
        d = D.date.fromisoformat(v["maybe_date"])
        check("maybe_date", str(d) == v["maybe_date"] and [d.year, d.month, d.day] == e["maybe_date"])
    n += 1
print(json.dumps({"checked": n, "bad": len(bad), "first": bad[:5]}))
"#;

#[derive(Deserialize, Debug)]
struct Verdict {
    checked: usize,
    bad: usize,
    first: serde_json::Value,
}

#[test]
fn datetimes_rust_writes_are_python_str_forms() {
    const COUNT: usize = 600;
    let mut rng = Rng::new(0x5eed_da7e_0001);
    let mut input = String::new();
    for _ in 0..COUNT {
        let (sample, expected) = random_sample(&mut rng);
        // Each chrono value and its time crate twin write the same text.
        let pairs = [
            (
                python::datetime::to_str(&sample.chrono_naive),
                python::datetime::to_str(&sample.time_primitive),
            ),
            (
                python::datetime::to_str(&sample.chrono_fixed),
                python::datetime::to_str(&sample.time_offset),
            ),
            (
                python::datetime::to_str(&sample.chrono_utc),
                python::datetime::to_str(&sample.time_utc),
            ),
            (
                python::date::to_str(&sample.chrono_date),
                python::date::to_str(&sample.time_date),
            ),
            (
                python::time::to_str(&sample.chrono_time),
                python::time::to_str(&sample.time_time),
            ),
        ];
        for (chrono_text, time_text) in pairs {
            assert_eq!(chrono_text.unwrap(), time_text.unwrap(), "{sample:?}");
        }
        // The serde path, and the value reads back from its own text
        // (to the microsecond).
        let text = python::to_string(&sample).unwrap();
        let back: Sample = serde_json::from_str(&text).unwrap();
        assert_eq!(python::to_string(&back).unwrap(), text);
        assert_eq!(
            back.chrono_naive.nanosecond(),
            sample.chrono_naive.nanosecond() / 1000 * 1000
        );
        writeln!(
            input,
            "[{text}, {}]",
            serde_json::to_string(&expected).unwrap()
        )
        .unwrap();
    }
    let out = cpython(PYTHON_CHECKS_DATETIMES, &input);
    let verdict: Verdict = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(verdict.checked, COUNT, "{out}");
    assert_eq!(verdict.bad, 0, "first mismatches: {}", verdict.first);
}

// ---------------------------------------------------------------------
// CPython writes, Rust reads.

/// Prints random datetimes' `str()` forms under a `Sample`'s field names,
/// and an aware text with its UTC `str()`.
const PYTHON_WRITES_DATETIMES: &str = r#"
import datetime as D, json, random, sys
rng = random.Random(20251024)
def rand_dt():
    while True:
        try:
            day = D.date(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 31))
            break
        except ValueError:
            pass
    us = rng.choice([0, rng.randrange(1000000), rng.randrange(1000), 999999])
    return D.datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), rng.randrange(60), us)
def rand_offset():
    k = rng.randrange(4)
    if k == 0:
        return D.timedelta(0)
    if k == 1:
        return D.timedelta(seconds=rng.randint(-86399, 86399))
    return D.timedelta(minutes=rng.randint(-1439, 1439))
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 600):
    naive = rand_dt()
    aware = rand_dt().replace(tzinfo=D.timezone(rand_offset()))
    utc = rand_dt().replace(tzinfo=D.timezone.utc)
    try:
        converted = [str(aware), str(aware.astimezone(D.timezone.utc))]
    except (OverflowError, ValueError):
        converted = None
    maybe = None if rng.random() < 0.3 else str(rand_dt())
    maybe_date = None if rng.random() < 0.5 else str(rand_dt().date())
    value = {
        "chrono_naive": str(naive), "chrono_fixed": str(aware), "chrono_utc": str(utc),
        "time_primitive": str(naive), "time_offset": str(aware), "time_utc": str(utc),
        "chrono_date": str(naive.date()), "time_date": str(naive.date()),
        "chrono_time": str(naive.time()), "time_time": str(naive.time()),
        "maybe": maybe, "maybe_date": maybe_date,
    }
    print(json.dumps({"value": value, "converted": converted}))
"#;

#[derive(Serialize, Deserialize)]
struct FromPython {
    value: Sample,
    /// An aware `str()` and the `str()` of the same instant in UTC.
    converted: Option<(String, String)>,
}

#[test]
fn datetimes_python_writes_are_read_and_written_back_exactly() {
    let out = cpython(PYTHON_WRITES_DATETIMES, "");
    let mut lines = 0;
    let mut converted = 0;
    for line in out.lines() {
        // Through memocache's codec, as a cache hit decodes it.
        let read: FromPython = JsonPlain::default()
            .decode(line.as_bytes())
            .unwrap_or_else(|e| panic!("{line}: {}", e.report()));
        assert_eq!(python::to_string(&read).unwrap(), line);
        assert_eq!(
            python::datetime::to_str(&read.value.chrono_fixed).unwrap(),
            python::datetime::to_str(&read.value.time_offset).unwrap()
        );
        if let Some((aware, utc)) = &read.converted {
            let chrono_utc: DateTime<Utc> = python::datetime::parse(aware).unwrap();
            let time_utc: time::UtcDateTime = python::datetime::parse(aware).unwrap();
            assert_eq!(&python::datetime::to_str(&chrono_utc).unwrap(), utc);
            assert_eq!(&python::datetime::to_str(&time_utc).unwrap(), utc);
            converted += 1;
        }
        lines += 1;
    }
    assert_eq!(lines, 600);
    assert!(converted > 550, "{converted}");
}

// ---------------------------------------------------------------------
// ISO 8601 texts from other serializers.

/// Prints `str(datetime.fromisoformat(text))` for each text.
const PYTHON_READS_ISO: &str = r#"
import datetime as D, sys
for line in sys.stdin.read().splitlines():
    print(str(D.datetime.fromisoformat(line)))
"#;

/// chrono's own serde text of `value` (its `serde` feature).
fn chrono_serde_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value).unwrap() {
        serde_json::Value::String(text) => text,
        other => panic!("not a string: {other}"),
    }
}

#[test]
fn iso_texts_read_as_python_reads_them() {
    let mut rng = Rng::new(0x150_8601);
    let mut texts = Vec::new();
    for _ in 0..400 {
        let parts = Parts::random(&mut rng);
        let naive = parts.chrono();
        let offset = FixedOffset::east_opt(random_offset(&mut rng) / 60 * 60).unwrap();
        let aware = naive.and_local_timezone(offset).single().unwrap();
        // chrono's own serde forms: `T`, 0/3/6/9 fraction digits, `Z`.
        texts.push(chrono_serde_text(&naive));
        texts.push(chrono_serde_text(&aware));
        let utc = aware.with_timezone(&Utc);
        if (1..=9999).contains(&utc.year()) {
            texts.push(chrono_serde_text(&utc));
        }
        // Hand-made: 1 to 9 fraction digits, `t`, compact offsets.
        let digits = 1 + rng.below(9) as usize;
        let fraction = format!("{:09}", parts.nano);
        let separator = ['T', 't', ' '][rng.below(3) as usize];
        let offset_text = match rng.below(4) {
            0 => String::new(),
            1 => "Z".to_owned(),
            2 => aware.format("%z").to_string(),
            _ => aware.format("%:z").to_string(),
        };
        texts.push(format!(
            "{}{separator}{}.{}{offset_text}",
            naive.format("%Y-%m-%d"),
            naive.format("%H:%M:%S"),
            &fraction[..digits]
        ));
    }
    let input: String = texts.iter().map(|t| format!("{t}\n")).collect();
    let out = cpython(PYTHON_READS_ISO, &input);
    let python: Vec<&str> = out.lines().collect();
    assert_eq!(python.len(), texts.len());
    for (text, python) in texts.iter().zip(python) {
        let aware = python.len() > "YYYY-MM-DD HH:MM:SS".len()
            && matches!(python.as_bytes()[python.len() - 6], b'+' | b'-');
        let ours = if aware {
            let chrono: DateTime<FixedOffset> = python::datetime::parse(text).unwrap();
            let time: time::OffsetDateTime = python::datetime::parse(text).unwrap();
            let ours = python::datetime::to_str(&chrono).unwrap();
            assert_eq!(python::datetime::to_str(&time).unwrap(), ours);
            // A naive type refuses it.
            assert!(
                python::datetime::parse::<NaiveDateTime>(text).is_err(),
                "{text}"
            );
            ours
        } else {
            let chrono: NaiveDateTime = python::datetime::parse(text).unwrap();
            let time: time::PrimitiveDateTime = python::datetime::parse(text).unwrap();
            let ours = python::datetime::to_str(&chrono).unwrap();
            assert_eq!(python::datetime::to_str(&time).unwrap(), ours);
            assert!(
                python::datetime::parse::<DateTime<FixedOffset>>(text).is_err(),
                "{text}"
            );
            ours
        };
        assert_eq!(ours, python, "{text}");
    }
}

// ---------------------------------------------------------------------
// Decimals.

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Amount {
    #[serde(with = "memocache::python::decimal")]
    amount: Decimal,
    #[serde(default, with = "memocache::python::decimal::option")]
    maybe: Option<Decimal>,
}

fn random_decimal(rng: &mut Rng) -> Decimal {
    const MAX: u128 = (1 << 96) - 1;
    let digits = rng.below(30) as u32;
    let coefficient = if rng.chance(8) {
        0
    } else if digits >= 29 {
        (u128::from(rng.next()) << 32 | u128::from(rng.next())) & MAX
    } else {
        (u128::from(rng.next()) << 64 | u128::from(rng.next())) % 10u128.pow(digits)
    };
    let scale = rng.below(29) as u32;
    let mut value = Decimal::from_i128_with_scale(coefficient as i128, scale);
    value.set_sign_negative(rng.chance(2));
    value
}

/// Parses each decimal text Rust wrote; checks it is `str()` of the
/// parsed value and that the value has the sign, coefficient and exponent
/// Rust had.
const PYTHON_CHECKS_DECIMALS: &str = r#"
import decimal, json, sys
bad, n = [], 0
for line in sys.stdin.read().splitlines():
    v, e = json.loads(line)
    for name, want in (("amount", e[0]), ("maybe", e[1])):
        text = v[name]
        if want is None:
            if text is not None:
                bad.append([name, text, want])
            continue
        d = decimal.Decimal(text)
        sign, coefficient, exponent = want
        t = d.as_tuple()
        if not (str(d) == text and t.sign == sign and t.exponent == exponent
                and int("".join(map(str, t.digits))) == int(coefficient)):
            bad.append([name, text, want])
    n += 1
print(json.dumps({"checked": n, "bad": len(bad), "first": bad[:5]}))
"#;

#[test]
fn decimals_rust_writes_are_python_str_forms() {
    const COUNT: usize = 800;
    let mut rng = Rng::new(0xdec1_4a15);
    let parts = |d: &Decimal| {
        serde_json::json!([
            i32::from(d.is_sign_negative()),
            d.mantissa().unsigned_abs().to_string(),
            -i64::from(d.scale())
        ])
    };
    let mut input = String::new();
    for _ in 0..COUNT {
        let amount = Amount {
            amount: random_decimal(&mut rng),
            maybe: rng.chance(2).then(|| random_decimal(&mut rng)),
        };
        let text = python::to_string(&amount).unwrap();
        // It reads back to the same sign, coefficient and scale.
        let back: Amount = serde_json::from_str(&text).unwrap();
        assert_eq!(back, amount);
        assert_eq!(back.amount.scale(), amount.amount.scale());
        assert_eq!(
            back.amount.is_sign_negative(),
            amount.amount.is_sign_negative()
        );
        let expected = serde_json::json!([parts(&amount.amount), amount.maybe.as_ref().map(parts)]);
        writeln!(input, "[{text}, {expected}]").unwrap();
    }
    let out = cpython(PYTHON_CHECKS_DECIMALS, &input);
    let verdict: Verdict = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(verdict.checked, COUNT, "{out}");
    assert_eq!(verdict.bad, 0, "first mismatches: {}", verdict.first);
}

/// Random Decimals as Python writes them: `{"amount": ..., "expect": ...}`
/// where `expect` is the text Rust must write after reading `amount`
/// (`null`: Rust must refuse it). Amounts are `str()` of Decimals a
/// `rust_decimal::Decimal` holds exactly (expect: the same text), of
/// Decimals with a positive exponent (expect: the same value at exponent
/// 0) or too many places (refused), and JSON numbers (expect:
/// `str(Decimal(repr(x)))`).
const PYTHON_WRITES_DECIMALS: &str = r#"
import decimal, json, random
decimal.getcontext().prec = 100
rng = random.Random(1990)
MAX = 2**96 - 1
def at_exponent_zero(d):
    if d.as_tuple().exponent > 0:
        d = d.quantize(decimal.Decimal(1))
    t = d.as_tuple()
    if t.exponent < -28 or int("".join(map(str, t.digits))) > MAX:
        return None
    return str(d)
def coefficient():
    if rng.random() < 0.1:
        return 0
    return rng.randrange(min(10 ** rng.randint(1, 29), MAX + 1))
for _ in range(1000):
    k = rng.randrange(10)
    sign = rng.randrange(2)
    if k < 6:
        d = decimal.Decimal((sign, tuple(map(int, str(coefficient()))), -rng.randint(0, 28)))
        amount, expect = str(d), str(d)
    elif k == 6:
        d = decimal.Decimal((sign, tuple(map(int, str(rng.randrange(1, 10**6)))), rng.randint(1, 30)))
        amount, expect = str(d), at_exponent_zero(d)
    elif k == 7:
        d = decimal.Decimal((sign, tuple(map(int, str(rng.randrange(1, 10**6)))) + (rng.randint(1, 9),), -rng.randint(29, 40)))
        amount, expect = str(d), None
    elif k == 8:
        x = rng.choice([rng.uniform(-1e6, 1e6), rng.randrange(10**7) / 100, rng.random() * 10 ** rng.randint(-30, 30)])
        amount, expect = x, at_exponent_zero(decimal.Decimal(repr(x)))
    else:
        n = rng.choice([rng.randrange(-2**63, 2**63), rng.randrange(2**64)])
        amount, expect = n, str(n)
    print(json.dumps({"amount": amount, "expect": expect}))
"#;

#[test]
fn decimals_python_writes_are_read_and_written_back_exactly() {
    let out = cpython(PYTHON_WRITES_DECIMALS, "");
    let (mut exact, mut refused, mut numbers) = (0, 0, 0);
    for line in out.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let read = python::decimal::deserialize(&value["amount"]);
        match value["expect"].as_str() {
            Some(expect) => {
                let decimal = read.unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(python::decimal::to_str(&decimal), expect, "{line}");
                // Through a struct, as a cache hit reads it.
                let amount: Amount =
                    serde_json::from_str(&format!(r#"{{"amount": {}}}"#, value["amount"])).unwrap();
                assert_eq!(
                    python::to_string(&amount).unwrap(),
                    format!(r#"{{"amount": "{expect}", "maybe": null}}"#)
                );
                if value["amount"].as_str() == Some(expect) {
                    exact += 1;
                }
                if value["amount"].is_number() {
                    numbers += 1;
                }
            }
            None => {
                let error = read.expect_err(line).to_string();
                assert!(
                    error.starts_with("invalid rust_decimal::Decimal "),
                    "{error}"
                );
                if let Some(text) = value["amount"].as_str() {
                    assert!(error.contains(&format!("`{text}`")), "{error}");
                }
                refused += 1;
            }
        }
    }
    assert!(exact > 500, "{exact}");
    assert!(refused > 50, "{refused}");
    assert!(numbers > 100, "{numbers}");
}

// ---------------------------------------------------------------------
// UUIDs: no adapter needed.

#[test]
fn uuid_serde_form_is_python_str() {
    let mut rng = Rng::new(0x1234_5678_9abc);
    let ids: Vec<uuid::Uuid> = (0..300)
        .map(|_| uuid::Uuid::from_u64_pair(rng.next(), rng.next()))
        .collect();
    let input: String = ids
        .iter()
        .map(|id| python::to_string(id).unwrap() + "\n")
        .collect();
    let script = r#"
import json, random, sys, uuid
lines = sys.stdin.read().splitlines()
ours = [json.loads(line) for line in lines]
ok = all(str(uuid.UUID(s)) == s for s in ours)
rng = random.Random(7)
theirs = [json.dumps(str(uuid.UUID(int=rng.getrandbits(128)))) for _ in range(300)]
print(json.dumps({"ok": ok, "n": len(ours), "theirs": theirs}))
"#;
    #[derive(Deserialize)]
    struct Out {
        ok: bool,
        n: usize,
        theirs: Vec<String>,
    }
    let out: Out = serde_json::from_str(cpython(script, &input).trim()).unwrap();
    assert!(out.ok);
    assert_eq!(out.n, ids.len());
    assert_eq!(out.theirs.len(), 300);
    for text in &out.theirs {
        let id: uuid::Uuid = serde_json::from_str(text).unwrap();
        assert_eq!(&python::to_string(&id).unwrap(), text);
    }
}

// ---------------------------------------------------------------------
// Error messages.

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Stamped {
    id: u32,
    #[serde(with = "memocache::python::datetime")]
    at: NaiveDateTime,
    #[serde(with = "memocache::python::date")]
    day: time::Date,
    #[serde(with = "memocache::python::decimal")]
    price: Decimal,
}

#[test]
fn a_bad_text_names_the_type_the_text_and_where_it_is() {
    let good = r#"{"id": 1, "at": "2025-10-24 10:30:00", "day": "2025-10-24", "price": "19.90"}"#;
    let stamped: Stamped = serde_json::from_str(good).unwrap();
    assert_eq!(python::to_string(&stamped).unwrap(), good);

    let bad_month = good.replace("2025-10-24 10:30:00", "2025-13-01 00:00:00");
    let error = serde_json::from_str::<Stamped>(&bad_month)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid chrono::NaiveDateTime `2025-13-01 00:00:00`: month 13 is out of range; \
         expected Python str(datetime) `YYYY-MM-DD HH:MM:SS[.ffffff]` or ISO 8601 \
         `YYYY-MM-DDTHH:MM:SS[.fffffffff]`, without a UTC offset at line 1 column 37"
    );

    // Through memocache's codec: a decode error, the message as its
    // cause, with the position in the stored JSON.
    let cases = [
        (
            good.replace("2025-10-24\"", "2025-02-30\""),
            "invalid time::Date `2025-02-30`: day 30 is out of range for 2025-02; expected Python str(date) `YYYY-MM-DD`",
        ),
        (
            good.replace("2025-10-24 10:30:00", "24/10/2025 10:30"),
            "invalid chrono::NaiveDateTime `24/10/2025 10:30`: expected Python str(datetime)",
        ),
        (
            good.replace("2025-10-24 10:30:00", "2025-10-24 10:30:00+02:00"),
            "invalid chrono::NaiveDateTime `2025-10-24 10:30:00+02:00`: it has a UTC offset, which a naive datetime does not",
        ),
        (
            good.replace("\"19.90\"", "\"19,90\""),
            "invalid rust_decimal::Decimal `19,90`: expected Python str(Decimal)",
        ),
        (
            good.replace("\"19.90\"", "\"1E-29\""),
            "invalid rust_decimal::Decimal `1E-29`: it has more than 28 decimal places",
        ),
        (
            good.replace("\"2025-10-24 10:30:00\"", "1761301800"),
            "invalid type: integer `1761301800`, expected a chrono::NaiveDateTime as Python str(datetime)",
        ),
    ];
    for (json, want) in &cases {
        let error = JsonPlain::default()
            .decode::<Stamped>(json.as_bytes())
            .unwrap_err();
        assert!(matches!(error, memocache::Error::Decode(_)), "{error:?}");
        let report = error.report().to_string();
        assert!(
            report.starts_with(&format!("cannot decode value: {want}")),
            "{report}\nwanted: {want}"
        );
        assert!(report.contains(" at line 1 column "), "{report}");
    }

    // A JSON number the Decimal cannot hold (Python's NaN token, read by
    // memocache's own Python-JSON reader).
    let error = python::decimal::deserialize(python::PyValue::Float(f64::NAN))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "invalid rust_decimal::Decimal JSON number `NaN`: it is not a finite number"
        ),
        "{error}"
    );

    // A value Python has no form for is an encode error naming the type.
    let year_zero = Stamped {
        at: NaiveDate::from_ymd_opt(0, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        ..stamped.clone()
    };
    let error = python::to_string(&year_zero).unwrap_err().to_string();
    assert_eq!(
        error,
        "cannot write chrono::NaiveDateTime as Python str(datetime): year 0 is outside Python's range 1 to 9999"
    );
    let leap = NaiveTime::from_hms_nano_opt(23, 59, 59, 1_000_000_000).unwrap();
    assert!(
        python::time::to_str(&leap)
            .unwrap_err()
            .to_string()
            .contains("leap second")
    );
    let far = time::OffsetDateTime::UNIX_EPOCH
        .replace_offset(time::UtcOffset::from_hms(25, 0, 0).unwrap());
    assert!(
        python::datetime::to_str(&far)
            .unwrap_err()
            .to_string()
            .starts_with("cannot write time::OffsetDateTime as Python str(datetime): a UTC offset")
    );
}

// ---------------------------------------------------------------------
// The Python reference and a Rust Memoizer sharing a real Redis.

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct OrderChrono {
    id: u32,
    #[serde(with = "memocache::python::datetime")]
    created: NaiveDateTime,
    #[serde(with = "memocache::python::datetime")]
    shipped: DateTime<FixedOffset>,
    #[serde(with = "memocache::python::datetime")]
    shipped_utc: DateTime<Utc>,
    #[serde(with = "memocache::python::date")]
    day: NaiveDate,
    #[serde(with = "memocache::python::time")]
    at: NaiveTime,
    #[serde(with = "memocache::python::decimal")]
    price: Decimal,
    #[serde(with = "memocache::python::decimal")]
    tiny: Decimal,
    #[serde(with = "memocache::python::decimal")]
    refund: Decimal,
    uuid: uuid::Uuid,
    #[serde(default, with = "memocache::python::datetime::option")]
    cancelled: Option<NaiveDateTime>,
    #[serde(default, with = "memocache::python::decimal::option")]
    discount: Option<Decimal>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct OrderTime {
    id: u32,
    #[serde(with = "memocache::python::datetime")]
    created: time::PrimitiveDateTime,
    #[serde(with = "memocache::python::datetime")]
    shipped: time::OffsetDateTime,
    #[serde(with = "memocache::python::datetime")]
    shipped_utc: time::UtcDateTime,
    #[serde(with = "memocache::python::date")]
    day: time::Date,
    #[serde(with = "memocache::python::time")]
    at: time::Time,
    #[serde(with = "memocache::python::decimal")]
    price: Decimal,
    #[serde(with = "memocache::python::decimal")]
    tiny: Decimal,
    #[serde(with = "memocache::python::decimal")]
    refund: Decimal,
    uuid: uuid::Uuid,
    #[serde(default, with = "memocache::python::datetime::option")]
    cancelled: Option<time::PrimitiveDateTime>,
    #[serde(default, with = "memocache::python::decimal::option")]
    discount: Option<Decimal>,
}

/// The order a Python service caches: `ORDER`, and `order(**kwargs)`
/// returning it.
const PYTHON_ORDER: &str = r#"
ORDER = {
    "id": 7,
    "created": datetime.datetime(2025, 10, 24, 10, 30),
    "shipped": datetime.datetime(2025, 10, 25, 8, 0, 0, 250000,
                                 tzinfo=datetime.timezone(-datetime.timedelta(hours=3, minutes=30))),
    "shipped_utc": datetime.datetime(2025, 10, 25, 11, 30, 0, 250000, tzinfo=datetime.timezone.utc),
    "day": datetime.date(812, 5, 3),
    "at": datetime.time(23, 59, 59, 999999),
    "price": decimal.Decimal("19.90"),
    "tiny": decimal.Decimal("0.0000001"),
    "refund": decimal.Decimal("-0.00"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "cancelled": None,
    "discount": decimal.Decimal("0.5"),
}
def order(**kwargs):
    return ORDER
CLIENT = REDIS.get_redis_client()
def stored(key):
    raw = CLIENT.get(key)
    return None if raw is None else json.loads(zlib.decompress(raw).decode("utf-8"))
"#;

fn order_chrono() -> OrderChrono {
    let shipped = DateTime::parse_from_rfc3339("2025-10-25T08:00:00.25-03:30").unwrap();
    OrderChrono {
        id: 7,
        created: NaiveDate::from_ymd_opt(2025, 10, 24)
            .unwrap()
            .and_hms_opt(10, 30, 0)
            .unwrap(),
        shipped,
        shipped_utc: shipped.with_timezone(&Utc),
        day: NaiveDate::from_ymd_opt(812, 5, 3).unwrap(),
        at: NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        price: Decimal::new(1990, 2),
        tiny: Decimal::new(1, 7),
        refund: {
            let mut zero = Decimal::new(0, 2);
            zero.set_sign_negative(true);
            zero
        },
        uuid: "12345678-1234-5678-1234-567812345678".parse().unwrap(),
        cancelled: None,
        discount: Some(Decimal::new(5, 1)),
    }
}

fn order_time() -> OrderTime {
    let c = order_chrono();
    let date = |d: NaiveDate| {
        time::Date::from_calendar_date(
            d.year(),
            time::Month::try_from(d.month() as u8).unwrap(),
            d.day() as u8,
        )
        .unwrap()
    };
    let clock = |t: NaiveTime| {
        time::Time::from_hms_nano(
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond(),
        )
        .unwrap()
    };
    let primitive =
        |dt: NaiveDateTime| time::PrimitiveDateTime::new(date(dt.date()), clock(dt.time()));
    let offset = time::UtcOffset::from_whole_seconds(c.shipped.offset().local_minus_utc()).unwrap();
    OrderTime {
        id: c.id,
        created: primitive(c.created),
        shipped: primitive(c.shipped.naive_local()).assume_offset(offset),
        shipped_utc: primitive(c.shipped_utc.naive_utc()).as_utc(),
        day: date(c.day),
        at: clock(c.at),
        price: c.price,
        tiny: c.tiny,
        refund: c.refund,
        uuid: c.uuid,
        cancelled: None,
        discount: c.discount,
    }
}

fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    let client = memocache::redis::redis_rs::Client::open(server.url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    memocache::redis::redis_rs::cmd("GET")
        .arg(key)
        .query(&mut connection)
        .unwrap()
}

fn memoizer(server: &RedisServer, namespace: &str) -> Memoizer<RedisBlockingStore> {
    let store = RedisBlockingStore::connect(&RedisConfig::new().url(server.url())).unwrap();
    Memoizer::builder(store).namespace(namespace).build()
}

#[test]
fn python_entries_are_rust_hits_and_rust_entries_are_what_python_writes() {
    let server = RedisServer::start();
    let reference = Reference::get();
    let (chrono_order, time_order) = (order_chrono(), order_time());
    let args = Args::new().kwarg("order_id", &7);

    // Python writes: cache_data at a key, cache_function under a namespace.
    let script = [
        PYTHON_ORDER,
        r#"
cache_data(ORDER, "pytypes:data:python", CLIENT)
cache_function(order, REDIS, "pytypes:fn:python", None, None, None, order_id=7)
print(json.dumps(jsonable_encoder(ORDER)))
"#,
    ]
    .concat();
    let want = reference.run(&server.url(), &script, "");
    let want = want.trim_end();
    assert_eq!(
        want,
        r#"{"id": 7, "created": "2025-10-24 10:30:00", "shipped": "2025-10-25 08:00:00.250000-03:30", "shipped_utc": "2025-10-25 11:30:00.250000+00:00", "day": "0812-05-03", "at": "23:59:59.999999", "price": "19.90", "tiny": "1E-7", "refund": "-0.00", "uuid": "12345678-1234-5678-1234-567812345678", "cancelled": null, "discount": "0.5"}"#
    );
    // Rust writes exactly that text for both flavours of the order.
    assert_eq!(python::to_string(&chrono_order).unwrap(), want);
    assert_eq!(python::to_string(&time_order).unwrap(), want);

    // Rust reads: cache_data's key, through get_data, as both flavours.
    let data_before = raw_get(&server, "pytypes:data:python").expect("cache_data wrote");
    let memo = memoizer(&server, "pytypes:fn:python");
    assert_eq!(
        memo.get_data_blocking::<OrderChrono>("pytypes:data:python"),
        Some(chrono_order.clone())
    );
    assert_eq!(
        memo.get_data_blocking::<OrderTime>("pytypes:data:python"),
        Some(time_order.clone())
    );
    // cache_function's entry: a hit, the computation does not run.
    let fn_key = memo.key(&args).unwrap();
    let fn_before = raw_get(&server, &fn_key).expect("cache_function wrote");
    let mut runs = 0;
    let got: OrderChrono = memo.call_blocking(&args, || {
        runs += 1;
        order_chrono()
    });
    assert_eq!(got, chrono_order);
    let got: OrderTime = memo.call_blocking(&args, || {
        runs += 1;
        order_time()
    });
    assert_eq!(got, time_order);
    assert_eq!(runs, 0, "Python's entry was a miss");
    // Two get_data reads and two calls, all hits.
    let stats = memo.stats();
    assert_eq!((stats.hits, stats.misses, stats.decode_errors), (4, 0, 0));
    // Nothing was overwritten.
    assert_eq!(
        raw_get(&server, "pytypes:data:python").unwrap(),
        data_before
    );
    assert_eq!(raw_get(&server, &fn_key).unwrap(), fn_before);

    // Rust writes: cache_data at keys, and a miss under a namespace.
    let memo = memoizer(&server, "pytypes:fn:rust");
    memo.cache_data_blocking("pytypes:data:rust-chrono", chrono_order.clone());
    memo.cache_data_blocking("pytypes:data:rust-time", time_order.clone());
    let mut runs = 0;
    let _: OrderChrono = memo.call_blocking(&args, || {
        runs += 1;
        order_chrono()
    });
    assert_eq!(runs, 1);

    // Python reads them: the same JSON its own cache holds, the same
    // values parsed back, and cache_function hits.
    let script = [
        PYTHON_ORDER,
        r#"
runs = []
def must_not_run(**kwargs):
    runs.append(1)
    return None
got = cache_function(must_not_run, REDIS, "pytypes:fn:rust", None, None, None, order_id=7)
want = jsonable_encoder(ORDER)
values = [stored("pytypes:data:rust-chrono"), stored("pytypes:data:rust-time"), got]
same = [json.dumps(v) == json.dumps(want) for v in values]
v = values[0]
parsed = [
    datetime.datetime.fromisoformat(v["created"]) == ORDER["created"],
    datetime.datetime.fromisoformat(v["shipped"]) == ORDER["shipped"],
    datetime.datetime.fromisoformat(v["shipped"]).utcoffset() == ORDER["shipped"].utcoffset(),
    datetime.datetime.fromisoformat(v["shipped_utc"]) == ORDER["shipped_utc"],
    datetime.date.fromisoformat(v["day"]) == ORDER["day"],
    datetime.time.fromisoformat(v["at"]) == ORDER["at"],
    decimal.Decimal(v["price"]).as_tuple() == ORDER["price"].as_tuple(),
    decimal.Decimal(v["tiny"]).as_tuple() == ORDER["tiny"].as_tuple(),
    decimal.Decimal(v["refund"]).as_tuple() == ORDER["refund"].as_tuple(),
    uuid.UUID(v["uuid"]) == ORDER["uuid"],
]
print(json.dumps({"runs": len(runs), "same": same, "parsed": parsed}))
"#,
    ]
    .concat();
    #[derive(Deserialize)]
    struct Out {
        runs: usize,
        same: Vec<bool>,
        parsed: Vec<bool>,
    }
    let out: Out = serde_json::from_str(reference.run(&server.url(), &script, "").trim()).unwrap();
    assert_eq!(out.runs, 0, "Python's cache_function missed Rust's entry");
    assert_eq!(out.same, [true; 3]);
    assert_eq!(out.parsed, [true; 10]);
}

#[test]
fn an_entry_the_adapters_refuse_is_a_logged_miss_overwritten_in_python_form() {
    let server = RedisServer::start();
    let reference = Reference::get();
    let args = Args::new().kwarg("order_id", &7);

    // A Python service stored an order whose `created` is a date only.
    let script = [
        PYTHON_ORDER,
        r#"
ORDER["created"] = ORDER["created"].date()
cache_function(order, REDIS, "pytypes:fn:mixed", None, None, None, order_id=7)
"#,
    ]
    .concat();
    reference.run(&server.url(), &script, "");

    let memo = memoizer(&server, "pytypes:fn:mixed");
    let key = memo.key(&args).unwrap();
    assert!(raw_get(&server, &key).is_some());
    let (events, guard) = support::logs::capture();
    let mut runs = 0;
    let got: OrderChrono = memo.call_blocking(&args, || {
        runs += 1;
        order_chrono()
    });
    drop(guard);
    assert_eq!((runs, got), (1, order_chrono()));
    assert_eq!(memo.stats().decode_errors, 1);
    let logged = events
        .all()
        .into_iter()
        .find(|e| e.field("subject") == Some("Error on reading cache"))
        .expect("the decode error was logged");
    let error = logged.field("error").unwrap();
    assert!(
        error.starts_with(
            "cannot decode value: invalid chrono::NaiveDateTime `2025-10-24`: expected Python str(datetime)"
        ),
        "{error}"
    );
    assert!(error.contains(" at line 1 column "), "{error}");

    // The entry now holds the Rust value in Python's str() form, which
    // the reference answers from without running its function.
    let script = [
        PYTHON_ORDER,
        r#"
runs = []
def must_not_run(**kwargs):
    runs.append(1)
got = cache_function(must_not_run, REDIS, "pytypes:fn:mixed", None, None, None, order_id=7)
print(json.dumps({"runs": len(runs), "same": json.dumps(got) == json.dumps(jsonable_encoder(ORDER))}))
"#,
    ]
    .concat();
    let out = reference.run(&server.url(), &script, "");
    assert_eq!(out.trim(), r#"{"runs": 0, "same": true}"#);
}
