//! Types the reference turns into strings: `datetime`, `date`, `time`,
//! `UUID`, `Decimal`. Rust passes their `str()` form.

use memocache::codec::{Codec, JsonZlib};
use memocache::python;
use memocache::{Args, Memoizer, RedisBlockingStore};
use serde::{Deserialize, Serialize};

use super::{Rng, config, key_of, python, raw_get};

/// `str()` of Python's date and time types, from chrono values: what the
/// reference puts in keys (`json.dumps(default=str)`) and in values
/// (`jsonable_encoder`, which round-trips through the same `json.dumps`)
/// for them. Not ISO 8601: a space between date and time, microseconds
/// only when there are some.
mod python_str {
    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

    /// `HH:MM:SS`, then `.ffffff` unless the microseconds are zero.
    fn clock(t: &impl Timelike) -> String {
        let micros = t.nanosecond() / 1000;
        let seconds = format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
        if micros == 0 {
            seconds
        } else {
            format!("{seconds}.{micros:06}")
        }
    }

    /// `str(datetime)` of a naive datetime: `2025-10-24 10:30:00`.
    pub fn datetime(dt: &NaiveDateTime) -> String {
        format!("{} {}", date(&dt.date()), clock(dt))
    }

    /// `str(datetime)` of an aware datetime: `2025-10-24 10:30:00+02:00`.
    pub fn datetime_tz(dt: &DateTime<FixedOffset>) -> String {
        format!("{}{}", datetime(&dt.naive_local()), dt.format("%:z"))
    }

    /// `str(date)`: `2025-10-24`.
    pub fn date(d: &NaiveDate) -> String {
        d.format("%Y-%m-%d").to_string()
    }

    /// `str(time)`: `10:30:00`.
    pub fn time(t: &NaiveTime) -> String {
        clock(t)
    }
}

/// Rebuilds each call's datetime, aware datetime, date, UUID, time and
/// Decimal in Python; prints the reference's key and the `str()` forms.
const PYTHON_STR_KEYS: &str = r#"
out = []
for c in json.load(sys.stdin):
    dt = datetime.datetime(*c["datetime"])
    aware = datetime.datetime(*c["aware"][:7], tzinfo=datetime.timezone(datetime.timedelta(minutes=c["aware"][7])))
    day = datetime.date(*c["date"])
    at = datetime.time(*c["time"])
    uid = uuid.UUID(c["uuid"])
    price = decimal.Decimal(c["decimal"])
    args = (dt, aware, day, uid)
    kwargs = {"at": at, "price": price}
    out.append({
        "key": _cache_key_generator("interop:str", args, kwargs, set()),
        "str": [str(dt), str(aware), str(day), str(uid), str(at), str(price)],
    })
print(json.dumps(out))
"#;

#[derive(Deserialize)]
struct StrKey {
    key: String,
    str: Vec<String>,
}

#[test]
fn str_forms_of_dates_uuids_and_decimals_give_the_reference_key() {
    use chrono::{Datelike, FixedOffset, NaiveDate, Timelike};

    let (mut rng, seed) = Rng::seeded();
    let mut input = Vec::new();
    let mut calls = Vec::new();
    for _ in 0..400 {
        let date = NaiveDate::from_ymd_opt(
            1 + rng.below(9999) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .unwrap();
        let micros = if rng.chance(2) {
            0
        } else {
            rng.below(1_000_000) as u32
        };
        let dt = date
            .and_hms_micro_opt(
                rng.below(24) as u32,
                rng.below(60) as u32,
                rng.below(60) as u32,
                micros,
            )
            .unwrap();
        let offset_minutes = rng.below(2 * 1439 + 1) as i32 - 1439;
        let aware = dt
            .and_local_timezone(FixedOffset::east_opt(offset_minutes * 60).unwrap())
            .unwrap();
        let time = dt.time();
        let id = uuid::Uuid::from_u64_pair(rng.next(), rng.next());
        // Decimals as str() writes them: the digits as given, no exponent.
        let decimal = format!(
            "{}{}.{:0width$}",
            if rng.chance(3) { "-" } else { "" },
            rng.below(1_000_000),
            rng.below(10_000),
            width = 1 + rng.below(4) as usize
        );
        let parts = |d: &chrono::NaiveDateTime| {
            vec![
                d.year(),
                d.month() as i32,
                d.day() as i32,
                d.hour() as i32,
                d.minute() as i32,
                d.second() as i32,
                (d.nanosecond() / 1000) as i32,
            ]
        };
        let mut aware_parts = parts(&dt);
        aware_parts.push(offset_minutes);
        input.push(serde_json::json!({
            "datetime": parts(&dt),
            "aware": aware_parts,
            "date": [date.year(), date.month(), date.day()],
            "time": [time.hour(), time.minute(), time.second(), time.nanosecond() / 1000],
            "uuid": id.simple().to_string(),
            "decimal": decimal,
        }));
        let forms = vec![
            python_str::datetime(&dt),
            python_str::datetime_tz(&aware),
            python_str::date(&date),
            id.to_string(),
            python_str::time(&time),
            decimal.clone(),
        ];
        // The UUID goes in typed: its serde form is str(uuid) already.
        let args = Args::new()
            .arg(&forms[0])
            .arg(&forms[1])
            .arg(&forms[2])
            .arg(&id)
            .kwarg("at", &forms[4])
            .kwarg("price", &forms[5]);
        calls.push((forms, args));
    }
    let answers: Vec<StrKey> = serde_json::from_str(&python(PYTHON_STR_KEYS, &input)).unwrap();
    assert_eq!(answers.len(), calls.len());
    for ((forms, args), answer) in calls.iter().zip(&answers) {
        assert_eq!(forms, &answer.str, "seed {seed}: str() forms differ");
        assert_eq!(
            key_of("interop:str", args, &[]),
            answer.key,
            "seed {seed}: {forms:?}"
        );
    }
}

/// The forms a Rust caller must not pass as they are: exponent Decimals,
/// and chrono's own serde form of a datetime (ISO 8601, with a `T`).
const PYTHON_STR_DIFFERENCES: &str = r#"
dt = datetime.datetime(2025, 10, 24, 10, 30)
print(json.dumps({
    "datetime": _cache_key_generator("interop:str", (dt,), {}, set()),
    "small_decimal": _cache_key_generator("interop:str", (decimal.Decimal("0.0000001"),), {}, set()),
    "small_decimal_str": str(decimal.Decimal("0.0000001")),
    "big_decimal": _cache_key_generator("interop:str", (decimal.Decimal("1E+3"),), {}, set()),
    "big_decimal_str": str(decimal.Decimal("1E+3")),
}))
"#;

#[test]
fn str_forms_that_differ_from_the_obvious_rust_value() {
    #[derive(Deserialize)]
    struct Keys {
        datetime: String,
        small_decimal: String,
        small_decimal_str: String,
        big_decimal: String,
        big_decimal_str: String,
    }
    let keys: Keys = serde_json::from_str(&python(PYTHON_STR_DIFFERENCES, &())).unwrap();
    let one = |value: &dyn erased::Value| key_of("interop:str", &erased::args(value), &[]);

    let dt = chrono::NaiveDate::from_ymd_opt(2025, 10, 24)
        .unwrap()
        .and_hms_opt(10, 30, 0)
        .unwrap();
    // chrono's serde form is ISO 8601 ("2025-10-24T10:30:00"): another key.
    assert_eq!(python::to_string(&dt).unwrap(), r#""2025-10-24T10:30:00""#);
    assert_ne!(one(&dt), keys.datetime);
    // str(datetime) is the one.
    assert_eq!(one(&"2025-10-24 10:30:00"), keys.datetime);
    assert_eq!(one(&python_str::datetime(&dt)), keys.datetime);

    // Decimal's str() switches to an exponent for small and large exponents.
    assert_eq!(keys.small_decimal_str, "1E-7");
    assert_ne!(one(&"0.0000001"), keys.small_decimal);
    assert_eq!(one(&"1E-7"), keys.small_decimal);
    assert_eq!(keys.big_decimal_str, "1E+3");
    assert_ne!(one(&"1000"), keys.big_decimal);
    assert_eq!(one(&"1E+3"), keys.big_decimal);
    // A float is not a Decimal: 0.0000001 is the float 1e-07.
    assert_ne!(one(&1e-7), keys.small_decimal);
}

/// Builds single-argument `Args` from values of different types.
mod erased {
    use memocache::Args;

    /// A value that can be a positional argument.
    pub trait Value {
        fn push(&self, args: &mut Args);
    }

    impl<T: serde::Serialize> Value for T {
        fn push(&self, args: &mut Args) {
            args.push_arg(None::<String>, self);
        }
    }

    /// The call `f(value)`.
    pub fn args(value: &dyn Value) -> Args {
        let mut args = Args::new();
        value.push(&mut args);
        args
    }
}

/// What a Python function returning dates, a UUID, a Decimal and a
/// timedelta stores, and what the reference answers from a cache Rust
/// wrote.
const PYTHON_STR_VALUES: &str = r#"
def stamped(**kwargs):
    return {
        "at": datetime.datetime(2025, 10, 24, 10, 30),
        "at_tz": datetime.datetime(2025, 10, 24, 10, 30, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        "day": datetime.date(2025, 10, 24),
        "when": datetime.time(10, 30, 5),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "price": decimal.Decimal("19.90"),
        "took": datetime.timedelta(seconds=90),
    }
runs = []
def must_not_run():
    runs.append(1)
    raise AssertionError("a hit was expected")
cache_function(stamped, REDIS, "interop:str-values:python", None, None, None, order_id=1)
got = cache_function(must_not_run, REDIS, "interop:str-values:rust", None, None, None, order_id=1)
print(json.dumps({"runs": len(runs), "got": json.dumps(got), "want": json.dumps(jsonable_encoder(stamped()))}))
"#;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Stamped {
    at: String,
    at_tz: String,
    day: String,
    when: String,
    id: uuid::Uuid,
    price: String,
    took: String,
}

#[test]
fn dates_uuids_and_decimals_in_values_are_their_str_forms() {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

    let at = NaiveDate::from_ymd_opt(2025, 10, 24)
        .unwrap()
        .and_hms_opt(10, 30, 0)
        .unwrap();
    let at_tz = DateTime::parse_from_rfc3339("2025-10-24T10:30:00.123456+02:00").unwrap();
    let ours = Stamped {
        at: python_str::datetime(&at),
        at_tz: python_str::datetime_tz(&at_tz),
        day: python_str::date(&at.date()),
        when: python_str::time(&NaiveTime::from_hms_opt(10, 30, 5).unwrap()),
        id: "12345678-1234-5678-1234-567812345678".parse().unwrap(),
        price: "19.90".into(),
        took: "0:01:30".into(),
    };
    // Rust writes first, under the namespace the script then reads.
    let store = RedisBlockingStore::connect(&config()).unwrap();
    let memo = Memoizer::builder(store)
        .namespace("interop:str-values:rust")
        .build();
    let args = Args::new().kwarg("order_id", &1);
    let _: Stamped = memo.call_blocking(&args, || ours.clone());

    #[derive(Deserialize)]
    struct Out {
        runs: usize,
        got: String,
        want: String,
    }
    let out: Out = serde_json::from_str(&python(PYTHON_STR_VALUES, &())).unwrap();
    assert_eq!(out.runs, 0, "the reference ran its function: a miss");
    assert_eq!(
        out.got, out.want,
        "Python got what its own cache would give"
    );
    assert_eq!(out.want, python::to_string(&ours).unwrap());

    // What Python stored decodes into the Rust struct, and parses back.
    let key = key_of("interop:str-values:python", &args, &[]);
    let theirs: Stamped = JsonZlib::default().decode(&raw_get(&key).unwrap()).unwrap();
    assert_eq!(theirs, ours);
    assert_eq!(theirs.at, "2025-10-24 10:30:00");
    assert_eq!(
        NaiveDateTime::parse_from_str(&theirs.at, "%Y-%m-%d %H:%M:%S%.f").unwrap(),
        at
    );
    assert_eq!(
        DateTime::parse_from_str(&theirs.at_tz, "%Y-%m-%d %H:%M:%S%.f%:z").unwrap(),
        at_tz
    );
    assert_eq!(
        NaiveDate::parse_from_str(&theirs.day, "%Y-%m-%d").unwrap(),
        at.date()
    );
}
