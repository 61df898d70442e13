//! Dates and times as text, independent of any date crate: Python's
//! `str()` forms written exactly, and those plus ISO 8601 read. The chrono
//! and time impls convert their types to and from these parts.
//!
//! Python writes `str(datetime)` as `YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM[:SS[.ffffff]]]`
//! (six fraction digits exactly when the microseconds are not zero; the
//! offset's seconds when they are not zero), `str(date)` as `YYYY-MM-DD`
//! and `str(time)` as `HH:MM:SS[.ffffff]`.

use std::fmt::Write as _;

use super::adapt::Invalid;

/// A valid proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ymd {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A time of day. `nano` may be a chrono leap second (`>= 1_000_000_000`)
/// on the way out, never on the way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nano: u32,
}

/// A date and time, with the UTC offset in seconds if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub date: Ymd,
    pub clock: Clock,
    pub offset: Option<i32>,
}

/// The reasons shared by the datetime impls.
pub const HAS_OFFSET: &str = "it has a UTC offset, which a naive datetime does not";
/// See [`HAS_OFFSET`].
pub const NO_OFFSET: &str = "it has no UTC offset, which an aware datetime needs";
/// A date the Rust type cannot hold.
pub fn out_of_range(year: i32) -> Invalid {
    Invalid::Because(format!("year {year} is out of the type's range"))
}

/// A time the parser accepted that the type cannot hold.
pub fn clock_out_of_range(clock: Clock) -> Invalid {
    Invalid::Because(format!(
        "time {:02}:{:02}:{:02}.{:09} is out of the type's range",
        clock.hour, clock.minute, clock.second, clock.nano
    ))
}

/// A date whose month the type cannot hold.
pub fn month_out_of_range(month: u8) -> Invalid {
    Invalid::Because(format!("month {month} is out of the type's range"))
}

/// A UTC offset the parser accepted that the type cannot hold.
pub fn offset_out_of_range(seconds: i32) -> Invalid {
    Invalid::Because(format!(
        "a UTC offset of {seconds} s is out of the type's range"
    ))
}

/// What a naive datetime's text looks like, for errors.
pub const DATETIME_NAIVE: &str = "Python str(datetime) `YYYY-MM-DD HH:MM:SS[.ffffff]` or ISO \
                                  8601 `YYYY-MM-DDTHH:MM:SS[.fffffffff]`, without a UTC offset";
/// What an aware datetime's text looks like, for errors.
pub const DATETIME_AWARE: &str = "Python str(datetime) `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM[:SS]` \
                                  or ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fffffffff]` with `Z` or \
                                  `+HH:MM`";
/// What a date's text looks like, for errors.
pub const DATE: &str = "Python str(date) `YYYY-MM-DD`";
/// What a time's text looks like, for errors.
pub const TIME: &str = "Python str(time) `HH:MM:SS[.ffffff]`, without a UTC offset";

const NANOS_PER_SECOND: u32 = 1_000_000_000;
const SECONDS_PER_DAY: i32 = 86_400;

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A cursor over a text's bytes.
struct Text<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Text<'a> {
    fn new(text: &'a str) -> Self {
        Text {
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Invalid> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(Invalid::Form)
        }
    }

    /// Exactly `n` ASCII digits, as a number.
    fn digits(&mut self, n: usize) -> Result<u32, Invalid> {
        let end = self.pos + n;
        let digits = self.bytes.get(self.pos..end).ok_or(Invalid::Form)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(Invalid::Form);
        }
        self.pos = end;
        Ok(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    }

    /// One or more digits after a decimal point, as nanoseconds (digits
    /// past the ninth dropped, as Python drops those past the sixth), and
    /// whether any digit past the ninth was not zero.
    fn fraction(&mut self) -> Result<(u32, bool), Invalid> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.bytes[start..self.pos];
        if digits.is_empty() {
            return Err(Invalid::Form);
        }
        let mut nanos = 0;
        for i in 0..9 {
            nanos = nanos * 10 + digits.get(i).map_or(0, |d| u32::from(d - b'0'));
        }
        let dropped = digits.iter().skip(9).any(|d| *d != b'0');
        Ok((nanos, dropped))
    }

    fn done(&self) -> Result<(), Invalid> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(Invalid::Form)
        }
    }

    /// `YYYY-MM-DD`.
    fn date(&mut self) -> Result<Ymd, Invalid> {
        let year = self.digits(4)? as i32;
        self.expect(b'-')?;
        let month = self.digits(2)? as u8;
        self.expect(b'-')?;
        let day = self.digits(2)? as u8;
        if !(1..=12).contains(&month) {
            return Err(Invalid::Because(format!("month {month} is out of range")));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(Invalid::Because(format!(
                "day {day} is out of range for {year:04}-{month:02}"
            )));
        }
        Ok(Ymd { year, month, day })
    }

    /// `HH:MM:SS[.f...]`.
    fn clock(&mut self) -> Result<Clock, Invalid> {
        let hour = self.digits(2)? as u8;
        self.expect(b':')?;
        let minute = self.digits(2)? as u8;
        self.expect(b':')?;
        let second = self.digits(2)? as u8;
        let nano = if self.eat(b'.') {
            self.fraction()?.0
        } else {
            0
        };
        if hour > 23 {
            return Err(Invalid::Because(format!("hour {hour} is out of range")));
        }
        if minute > 59 {
            return Err(Invalid::Because(format!("minute {minute} is out of range")));
        }
        if second == 60 {
            return Err(Invalid::Because(
                "second 60 (a leap second) is not supported".into(),
            ));
        }
        if second > 59 {
            return Err(Invalid::Because(format!("second {second} is out of range")));
        }
        Ok(Clock {
            hour,
            minute,
            second,
            nano,
        })
    }

    /// Nothing, `Z`, or `±HH:MM[:SS[.ffffff]]` / `±HHMM[SS]`: seconds east
    /// of UTC.
    fn offset(&mut self) -> Result<Option<i32>, Invalid> {
        let negative = match self.peek() {
            None => return Ok(None),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Ok(Some(0));
            }
            Some(b'+') => false,
            Some(b'-') => true,
            Some(_) => return Err(Invalid::Form),
        };
        self.pos += 1;
        let start = self.pos;
        let hours = self.digits(2)?;
        let (minutes, seconds) = if self.eat(b':') {
            let minutes = self.digits(2)?;
            let seconds = if self.eat(b':') { self.digits(2)? } else { 0 };
            (minutes, seconds)
        } else {
            let minutes = self.digits(2)?;
            let seconds = if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.digits(2)?
            } else {
                0
            };
            (minutes, seconds)
        };
        let fraction = if self.eat(b'.') {
            let (nanos, dropped) = self.fraction()?;
            nanos != 0 || dropped
        } else {
            false
        };
        let shown = String::from_utf8_lossy(&self.bytes[start - 1..self.pos]).into_owned();
        if fraction {
            return Err(Invalid::Because(format!(
                "UTC offset {shown} has a fraction of a second, which the type cannot hold"
            )));
        }
        if hours > 23 || minutes > 59 || seconds > 59 {
            return Err(Invalid::Because(format!(
                "UTC offset {shown} is out of range (-23:59:59 to +23:59:59)"
            )));
        }
        let total = (hours * 3600 + minutes * 60 + seconds) as i32;
        Ok(Some(if negative { -total } else { total }))
    }
}

/// Reads `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Ymd, Invalid> {
    let mut text = Text::new(text);
    let date = text.date()?;
    text.done()?;
    Ok(date)
}

/// Reads `HH:MM:SS[.f...]` (an offset after it is refused: the time types
/// are naive).
pub fn parse_time(text: &str) -> Result<Clock, Invalid> {
    let mut text = Text::new(text);
    let clock = text.clock()?;
    if text.offset()?.is_some() {
        return Err(Invalid::Because(
            "it has a UTC offset, which a naive time does not".into(),
        ));
    }
    text.done()?;
    Ok(clock)
}

/// Reads a date, ` `/`T`/`t`, a time, and an optional offset.
pub fn parse_datetime(text: &str) -> Result<Stamp, Invalid> {
    let mut text = Text::new(text);
    let date = text.date()?;
    if !(text.eat(b' ') || text.eat(b'T') || text.eat(b't')) {
        return Err(Invalid::Form);
    }
    let clock = text.clock()?;
    let offset = text.offset()?;
    text.done()?;
    Ok(Stamp {
        date,
        clock,
        offset,
    })
}

/// Appends `str(date)`: `YYYY-MM-DD`, for years 1 to 9999 (Python's).
pub fn write_date(out: &mut String, date: Ymd) -> Result<(), String> {
    if !(1..=9999).contains(&date.year) {
        return Err(format!(
            "year {} is outside Python's range 1 to 9999",
            date.year
        ));
    }
    write!(out, "{:04}-{:02}-{:02}", date.year, date.month, date.day).expect("write to String");
    Ok(())
}

/// Appends `str(time)`: `HH:MM:SS`, then `.ffffff` unless the
/// microseconds are zero. Nanoseconds below the microsecond are dropped.
pub fn write_clock(out: &mut String, clock: Clock) -> Result<(), String> {
    if clock.nano >= NANOS_PER_SECOND {
        return Err(format!(
            "{:02}:{:02}:60 is a leap second, which Python does not have",
            clock.hour, clock.minute
        ));
    }
    write!(
        out,
        "{:02}:{:02}:{:02}",
        clock.hour, clock.minute, clock.second
    )
    .expect("write to String");
    let micros = clock.nano / 1000;
    if micros != 0 {
        write!(out, ".{micros:06}").expect("write to String");
    }
    Ok(())
}

/// Appends a UTC offset as Python does: `±HH:MM`, then `:SS` unless the
/// seconds are zero; `+00:00` for UTC.
pub fn write_offset(out: &mut String, seconds: i32) -> Result<(), String> {
    if seconds.abs() >= SECONDS_PER_DAY {
        return Err(format!(
            "a UTC offset of {seconds} s is outside Python's range (strictly within 24 hours)"
        ));
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    write!(out, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60).expect("write to String");
    if !abs.is_multiple_of(60) {
        write!(out, ":{:02}", abs % 60).expect("write to String");
    }
    Ok(())
}

/// Appends `str(datetime)`: the date, a space, the time, and the offset if
/// there is one.
pub fn write_stamp(out: &mut String, stamp: Stamp) -> Result<(), String> {
    write_date(out, stamp.date)?;
    out.push(' ');
    write_clock(out, stamp.clock)?;
    if let Some(offset) = stamp.offset {
        write_offset(out, offset)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(text: &str) -> Stamp {
        parse_datetime(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn written(s: Stamp) -> String {
        let mut out = String::new();
        write_stamp(&mut out, s).unwrap();
        out
    }

    #[test]
    fn python_forms_round_trip() {
        for text in [
            "2025-10-24 10:30:00",
            "2025-10-24 10:30:00.000001",
            "0001-01-01 00:00:00-23:59:59",
            "9999-12-31 23:59:59.999999+23:59",
            "2024-02-29 00:00:00+00:00",
            "2025-10-24 10:30:00+05:30:15",
            "2025-10-24 10:30:00-00:30",
        ] {
            assert_eq!(written(stamp(text)), text);
        }
    }

    #[test]
    fn iso_forms_read() {
        let utc = stamp("2025-10-24T10:30:00Z");
        assert_eq!(utc.offset, Some(0));
        assert_eq!(written(utc), "2025-10-24 10:30:00+00:00");
        assert_eq!(
            written(stamp("2025-10-24t10:30:00.123456789+0530")),
            "2025-10-24 10:30:00.123456+05:30"
        );
        assert_eq!(stamp("2025-10-24T10:30:00.1").clock.nano, 100_000_000);
        assert_eq!(
            stamp("2025-10-24T10:30:00.1234567891").clock.nano,
            123_456_789
        );
        assert_eq!(stamp("2025-10-24T10:30:00-083015").offset, Some(-30615));
        assert_eq!(stamp("2025-10-24T10:30:00+00:00:00.000000").offset, Some(0));
    }

    #[test]
    fn bad_texts_are_refused() {
        for text in [
            "",
            "2025-10-24",
            "2025-10-24 10:30",
            "2025-10-24 10:30:00.",
            "2025-10-24 10:30:00 ",
            "2025-10-24_10:30:00",
            "25-10-24 10:30:00",
            "2025-10-24 10:30:00+5",
            "2025-10-24 10:30:00+05:3",
            "+2025-10-24 10:30:00",
        ] {
            assert!(matches!(parse_datetime(text), Err(Invalid::Form)), "{text}");
        }
        for (text, reason) in [
            ("2025-13-01 00:00:00", "month 13"),
            ("2025-02-29 00:00:00", "day 29 is out of range for 2025-02"),
            ("2025-10-24 24:00:00", "hour 24"),
            ("2025-10-24 10:60:00", "minute 60"),
            ("2025-10-24 23:59:60", "leap second"),
            (
                "2025-10-24 10:30:00+24:00",
                "UTC offset +24:00 is out of range",
            ),
            (
                "2025-10-24 10:30:00-00:00:00.000001",
                "fraction of a second",
            ),
        ] {
            match parse_datetime(text) {
                Err(Invalid::Because(why)) => assert!(why.contains(reason), "{text}: {why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn writes_refuse_what_python_cannot_hold() {
        let date = |year| Ymd {
            year,
            month: 1,
            day: 1,
        };
        let mut out = String::new();
        assert!(write_date(&mut out, date(0)).is_err());
        assert!(write_date(&mut out, date(10_000)).is_err());
        let leap = Clock {
            hour: 23,
            minute: 59,
            second: 59,
            nano: 1_500_000_000,
        };
        assert!(write_clock(&mut out, leap).is_err());
        assert!(write_offset(&mut out, 86_400).is_err());
        assert!(write_offset(&mut out, -86_400).is_err());
        assert_eq!(out, "");
        write_offset(&mut out, -86_399).unwrap();
        assert_eq!(out, "-23:59:59");
    }

    #[test]
    fn nanoseconds_are_truncated_to_microseconds() {
        let mut out = String::new();
        let clock = Clock {
            hour: 1,
            minute: 2,
            second: 3,
            nano: 999,
        };
        write_clock(&mut out, clock).unwrap();
        assert_eq!(out, "01:02:03");
        out.clear();
        write_clock(
            &mut out,
            Clock {
                nano: 123_456_999,
                ..clock
            },
        )
        .unwrap();
        assert_eq!(out, "01:02:03.123456");
    }

    #[test]
    fn times_and_dates() {
        assert_eq!(
            parse_time("10:30:05.5").unwrap(),
            Clock {
                hour: 10,
                minute: 30,
                second: 5,
                nano: 500_000_000
            }
        );
        assert!(matches!(
            parse_time("10:30:05+00:00"),
            Err(Invalid::Because(_))
        ));
        assert!(matches!(parse_time("10:30"), Err(Invalid::Form)));
        assert_eq!(
            parse_date("2000-02-29").unwrap(),
            Ymd {
                year: 2000,
                month: 2,
                day: 29
            }
        );
        assert!(matches!(parse_date("1900-02-29"), Err(Invalid::Because(_))));
        assert!(matches!(parse_date("2000-02-29 "), Err(Invalid::Form)));
    }
}
