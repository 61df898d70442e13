//! The adapters' impls for chrono's types (feature `chrono`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use super::adapt::{Invalid, PyStr};
use super::civil::{
    self, Clock, DATE, DATETIME_AWARE, DATETIME_NAIVE, HAS_OFFSET, NO_OFFSET, Stamp, TIME, Ymd,
};
use super::date::PyDate;
use super::datetime::PyDateTime;
use super::time::PyTime;

fn ymd(date: NaiveDate) -> Ymd {
    Ymd {
        year: date.year(),
        month: date.month() as u8,
        day: date.day() as u8,
    }
}

fn clock(time: NaiveTime) -> Clock {
    Clock {
        hour: time.hour() as u8,
        minute: time.minute() as u8,
        second: time.second() as u8,
        nano: time.nanosecond(),
    }
}

fn naive_date(date: Ymd) -> Result<NaiveDate, Invalid> {
    NaiveDate::from_ymd_opt(date.year, date.month.into(), date.day.into())
        .ok_or_else(|| civil::out_of_range(date.year))
}

fn naive_time(clock: Clock) -> Result<NaiveTime, Invalid> {
    NaiveTime::from_hms_nano_opt(
        clock.hour.into(),
        clock.minute.into(),
        clock.second.into(),
        clock.nano,
    )
    .ok_or_else(|| civil::clock_out_of_range(clock))
}

fn naive(stamp: Stamp) -> Result<NaiveDateTime, Invalid> {
    Ok(naive_date(stamp.date)?.and_time(naive_time(stamp.clock)?))
}

fn stamp(local: NaiveDateTime, offset: Option<i32>) -> Stamp {
    Stamp {
        date: ymd(local.date()),
        clock: clock(local.time()),
        offset,
    }
}

/// The aware datetime a stamp with an offset names.
fn aware(stamp: Stamp) -> Result<DateTime<FixedOffset>, Invalid> {
    let seconds = stamp
        .offset
        .ok_or_else(|| Invalid::Because(NO_OFFSET.into()))?;
    let offset =
        FixedOffset::east_opt(seconds).ok_or_else(|| civil::offset_out_of_range(seconds))?;
    naive(stamp)?
        .and_local_timezone(offset)
        .single()
        .ok_or_else(|| civil::out_of_range(stamp.date.year))
}

impl PyStr for NaiveDateTime {
    const RUST_TYPE: &'static str = "chrono::NaiveDateTime";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_NAIVE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_stamp(out, stamp(*self, None))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        let stamp = civil::parse_datetime(text)?;
        if stamp.offset.is_some() {
            return Err(Invalid::Because(HAS_OFFSET.into()));
        }
        naive(stamp)
    }
}

impl PyDateTime for NaiveDateTime {}

impl PyStr for DateTime<FixedOffset> {
    const RUST_TYPE: &'static str = "chrono::DateTime<FixedOffset>";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_AWARE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        let offset = self.offset().local_minus_utc();
        civil::write_stamp(out, stamp(self.naive_local(), Some(offset)))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        aware(civil::parse_datetime(text)?)
    }
}

impl PyDateTime for DateTime<FixedOffset> {}

impl PyStr for DateTime<Utc> {
    const RUST_TYPE: &'static str = "chrono::DateTime<Utc>";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_AWARE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_stamp(out, stamp(self.naive_utc(), Some(0)))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        aware(civil::parse_datetime(text)?).map(|dt| dt.with_timezone(&Utc))
    }
}

impl PyDateTime for DateTime<Utc> {}

impl PyStr for NaiveDate {
    const RUST_TYPE: &'static str = "chrono::NaiveDate";
    const PY_FORM: &'static str = "str(date)";
    const EXPECTED: &'static str = DATE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_date(out, ymd(*self))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        naive_date(civil::parse_date(text)?)
    }
}

impl PyDate for NaiveDate {}

impl PyStr for NaiveTime {
    const RUST_TYPE: &'static str = "chrono::NaiveTime";
    const PY_FORM: &'static str = "str(time)";
    const EXPECTED: &'static str = TIME;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_clock(out, clock(*self))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        naive_time(civil::parse_time(text)?)
    }
}

impl PyTime for NaiveTime {}
