//! The date, time and decimal adapters read values that come from Redis
//! (what a Python service or another process wrote): whatever the text, a
//! read is a value or an error, never a panic. Near-valid text is where a
//! parser's checks and a type's range could disagree: month 13, day 31 of
//! February, hour 24, second 60, offsets of ±24 h and beyond, ten and
//! more fraction digits, years far outside any type's range.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use memocache::python::{date, datetime, decimal, time as py_time};
use proptest::prelude::*;

/// Reads `text` with every adapter; a panic fails the property.
fn read_with_every_adapter(text: &str) {
    let _ = datetime::parse::<NaiveDateTime>(text);
    let _ = datetime::parse::<DateTime<FixedOffset>>(text);
    let _ = datetime::parse::<DateTime<Utc>>(text);
    let _ = datetime::parse::<time::PrimitiveDateTime>(text);
    let _ = datetime::parse::<time::OffsetDateTime>(text);
    let _ = datetime::parse::<time::UtcDateTime>(text);
    let _ = date::parse::<NaiveDate>(text);
    let _ = date::parse::<time::Date>(text);
    let _ = py_time::parse::<NaiveTime>(text);
    let _ = py_time::parse::<time::Time>(text);
    let _ = decimal::parse(text);
    // As JSON strings too, the way stored values reach the adapters.
    let json = serde_json::to_string(text).expect("a string serializes");
    let _ = serde_json::from_str::<Stamps>(&format!("{{\"at\": {json}}}"));
}

/// A stored value holding each adapter's type.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Stamps {
    #[serde(with = "memocache::python::datetime")]
    at: DateTime<Utc>,
}

/// A year: near the types' bounds and far beyond them.
fn year() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..=9999).prop_map(|y| format!("{y:04}")),
        (-1_000_000i64..=1_000_000).prop_map(|y| y.to_string()),
        "[0-9]{5,12}",
    ]
}

/// Two digits, valid or just past the field's range.
fn field(max: u32) -> impl Strategy<Value = String> {
    (0..=max).prop_map(|n| format!("{n:02}"))
}

/// A fraction: none, or 1 to 15 digits.
fn fraction() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\.[0-9]{1,15}"]
}

/// A UTC offset: none, `Z`, or `±HH:MM[:SS[.f]]` up to and past 24 h.
fn offset() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("Z".to_owned()),
        (
            prop_oneof![Just('+'), Just('-')],
            field(30),
            field(61),
            prop_oneof![Just(String::new()), field(61).prop_map(|s| format!(":{s}"))],
            fraction(),
        )
            .prop_map(|(sign, h, m, s, f)| format!("{sign}{h}:{m}{s}{f}")),
    ]
}

/// A date, each field valid or a little out of range.
fn date_text() -> impl Strategy<Value = String> {
    (year(), field(13), field(32)).prop_map(|(y, m, d)| format!("{y}-{m}-{d}"))
}

/// A time of day, each field valid or a little out of range.
fn time_text() -> impl Strategy<Value = String> {
    (field(25), field(61), field(61), fraction()).prop_map(|(h, m, s, f)| format!("{h}:{m}:{s}{f}"))
}

/// A datetime, date or time in Python's and ISO 8601's forms.
fn near_valid() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            date_text(),
            prop_oneof![Just(' '), Just('T'), Just('t')],
            time_text(),
            offset()
        )
            .prop_map(|(d, sep, t, o)| format!("{d}{sep}{t}{o}")),
        date_text(),
        (time_text(), offset()).prop_map(|(t, o)| format!("{t}{o}")),
    ]
}

/// Decimal text: digits, signs, exponents, special values, near their
/// bounds.
fn near_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9]{0,40}(\\.[0-9]{0,40})?([eE][+-]?[0-9]{1,6})?",
        "[+-]?(NaN|sNaN|Infinity|inf|nan)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn near_valid_dates_and_times_are_a_value_or_an_error(text in near_valid()) {
        read_with_every_adapter(&text);
    }

    #[test]
    fn near_valid_decimals_are_a_value_or_an_error(text in near_decimal()) {
        read_with_every_adapter(&text);
    }

    #[test]
    fn any_text_is_a_value_or_an_error(text in "\\PC{0,48}") {
        read_with_every_adapter(&text);
    }
}

#[test]
fn the_edges_named_are_errors_that_say_what_is_wrong() {
    for text in [
        "2025-13-01",
        "2025-02-31",
        "2025-10-24 24:00:00",
        "2025-10-24 10:30:60",
        "2025-10-24 10:30:00+24:00",
        "2025-10-24 10:30:00-25:00",
        "99999999-01-01",
    ] {
        let error = datetime::parse::<DateTime<Utc>>(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} was read"));
        assert!(error.to_string().contains(text), "{error}");
    }
    assert!(date::parse::<time::Date>("2025-02-29").is_err());
    assert!(py_time::parse::<time::Time>("23:59:60").is_err());
}
