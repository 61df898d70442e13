//! The adapters' impls for the time crate's types (feature `time`).

use ::time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcDateTime, UtcOffset};

use super::adapt::{Invalid, PyStr};
use super::civil::{
    self, Clock, DATE, DATETIME_AWARE, DATETIME_NAIVE, HAS_OFFSET, NO_OFFSET, Stamp, TIME, Ymd,
};
use super::date::PyDate;
use super::datetime::PyDateTime;
use super::time::PyTime;

fn ymd(date: Date) -> Ymd {
    Ymd {
        year: date.year(),
        month: date.month() as u8,
        day: date.day(),
    }
}

fn clock(time: Time) -> Clock {
    Clock {
        hour: time.hour(),
        minute: time.minute(),
        second: time.second(),
        nano: time.nanosecond(),
    }
}

fn to_date(date: Ymd) -> Result<Date, Invalid> {
    let month = Month::try_from(date.month).map_err(|_| civil::month_out_of_range(date.month))?;
    Date::from_calendar_date(date.year, month, date.day).map_err(|_| civil::out_of_range(date.year))
}

fn to_time(clock: Clock) -> Result<Time, Invalid> {
    Time::from_hms_nano(clock.hour, clock.minute, clock.second, clock.nano)
        .map_err(|_| civil::clock_out_of_range(clock))
}

fn primitive(stamp: Stamp) -> Result<PrimitiveDateTime, Invalid> {
    Ok(PrimitiveDateTime::new(
        to_date(stamp.date)?,
        to_time(stamp.clock)?,
    ))
}

fn stamp(date: Date, time: Time, offset: Option<i32>) -> Stamp {
    Stamp {
        date: ymd(date),
        clock: clock(time),
        offset,
    }
}

fn offset_date_time(stamp: Stamp) -> Result<OffsetDateTime, Invalid> {
    let seconds = stamp
        .offset
        .ok_or_else(|| Invalid::Because(NO_OFFSET.into()))?;
    let offset =
        UtcOffset::from_whole_seconds(seconds).map_err(|_| civil::offset_out_of_range(seconds))?;
    Ok(primitive(stamp)?.assume_offset(offset))
}

impl PyStr for PrimitiveDateTime {
    const RUST_TYPE: &'static str = "time::PrimitiveDateTime";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_NAIVE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_stamp(out, stamp(self.date(), self.time(), None))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        let stamp = civil::parse_datetime(text)?;
        if stamp.offset.is_some() {
            return Err(Invalid::Because(HAS_OFFSET.into()));
        }
        primitive(stamp)
    }
}

impl PyDateTime for PrimitiveDateTime {}

impl PyStr for OffsetDateTime {
    const RUST_TYPE: &'static str = "time::OffsetDateTime";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_AWARE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        let offset = self.offset().whole_seconds();
        civil::write_stamp(out, stamp(self.date(), self.time(), Some(offset)))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        offset_date_time(civil::parse_datetime(text)?)
    }
}

impl PyDateTime for OffsetDateTime {}

impl PyStr for UtcDateTime {
    const RUST_TYPE: &'static str = "time::UtcDateTime";
    const PY_FORM: &'static str = "str(datetime)";
    const EXPECTED: &'static str = DATETIME_AWARE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_stamp(out, stamp(self.date(), self.time(), Some(0)))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        let stamp = civil::parse_datetime(text)?;
        offset_date_time(stamp)?
            .checked_to_utc()
            .ok_or_else(|| civil::out_of_range(stamp.date.year))
    }
}

impl PyDateTime for UtcDateTime {}

impl PyStr for Date {
    const RUST_TYPE: &'static str = "time::Date";
    const PY_FORM: &'static str = "str(date)";
    const EXPECTED: &'static str = DATE;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_date(out, ymd(*self))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        to_date(civil::parse_date(text)?)
    }
}

impl PyDate for Date {}

impl PyStr for Time {
    const RUST_TYPE: &'static str = "time::Time";
    const PY_FORM: &'static str = "str(time)";
    const EXPECTED: &'static str = TIME;

    fn write_py(&self, out: &mut String) -> Result<(), String> {
        civil::write_clock(out, clock(*self))
    }

    fn read_py(text: &str) -> Result<Self, Invalid> {
        to_time(civil::parse_time(text)?)
    }
}

impl PyTime for Time {}
