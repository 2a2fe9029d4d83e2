//! SMPP time strings (`schedule_delivery_time`, `validity_period`, `final_date`; smpp34.md §9)
//! and the compact dates of delivery receipts (§10).
//!
//! No date crate: all SMPP needs is proleptic-Gregorian arithmetic in UTC, done here with Howard
//! Hinnant's `days_from_civil` / `civil_from_days`. Instants are seconds since the Unix epoch
//! (`i64`), the unit the gateway stores and compares.

use std::fmt;
use std::time::Duration;

/// Octets in a non-NULL SMPP time string, the NUL terminator not counted.
pub const TIME_LEN: usize = 16;

const SECS_PER_MINUTE: i64 = 60;
const SECS_PER_HOUR: i64 = 3_600;
const SECS_PER_DAY: i64 = 86_400;
const SECS_PER_QUARTER_HOUR: i32 = 900;
/// smpp34.md §9: the offset from UTC is 00–48 quarter hours (at most 12 hours either way).
const MAX_OFFSET_QUARTERS: u8 = 48;
/// Two-digit years mean 2000–2099: SMPP 3.4 dates from 1999, nothing sends 19YY any more.
const CENTURY: i64 = 2000;
/// Every field of a relative time is two digits, so 99 is its largest value.
const MAX_RELATIVE_FIELD: u8 = 99;

/// Why a time string or receipt date is not valid; names the part that is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not one of the accepted lengths (an SMPP time is empty or 16 characters).
    #[error("{len} characters, expected {expected}")]
    Length {
        /// Octets received.
        len: usize,
        /// The accepted lengths, for the message.
        expected: &'static str,
    },
    /// A field that must be decimal digits is not.
    #[error("{field} is not decimal digits")]
    NotDigits {
        /// The field: `year`, `month`, `day`, `hour`, `minute`, `second`, `tenths`,
        /// `utc_offset`.
        field: &'static str,
    },
    /// A field is outside its range (a day also must exist in its month and year).
    #[error("{field} {value} is out of range")]
    OutOfRange {
        /// The field, named as in [`TimeError::NotDigits`].
        field: &'static str,
        /// The value read.
        value: u16,
    },
    /// The 16th character is none of `+`, `-` (absolute) or `R` (relative).
    #[error("time kind {0:#04x} is none of '+', '-', 'R'")]
    Kind(u8),
}

/// A parsed SMPP time string: an absolute instant or a duration relative to "now" at the SMSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SmppTime {
    /// `YYMMDDhhmmsstnn+` or `…-`: a local time with its offset from UTC.
    Absolute(AbsoluteTime),
    /// `YYMMDDhhmmsstnnR`: years, months, days, hours, minutes and seconds from now.
    Relative(RelativeTime),
}

/// An absolute SMPP time. Always valid: built only by [`parse`] or from an epoch instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AbsoluteTime {
    /// Two-digit year, 0–99 meaning 2000–2099.
    year: u8,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    tenths: u8,
    offset: UtcOffset,
}

/// The local time's offset from UTC, in quarter hours (00–48) with its direction.
///
/// The sign is kept separately from the magnitude so that `00-` and `00+` both round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    quarter_hours: u8,
    behind: bool,
}

/// A relative SMPP time. Each field is 0–99; the tenths and offset digits should be 0 but are
/// kept as received so the string round-trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelativeTime {
    years: u8,
    months: u8,
    days: u8,
    hours: u8,
    minutes: u8,
    seconds: u8,
    tenths: u8,
    offset_digits: u8,
}

/// The digit layouts receipts use for `submit date:` and `done date:` (smpp34.md §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateLayout {
    /// `YYMMDDhhmm`, the 3.4 appendix form (10 digits).
    Yymmddhhmm,
    /// `YYMMDDhhmmss`, with seconds, as OpenMarket sends (12 digits).
    Yymmddhhmmss,
    /// `YYYYMMDDhhmmss`, with a four-digit year (14 digits).
    Yyyymmddhhmmss,
}

/// Parses an SMPP time field (without its NUL). Empty is the NULL time: `Ok(None)`.
///
/// Absolute times are checked strictly (the day must exist, the offset is 00–48); relative
/// times accept any digits, and any digits in their tenths and offset places, since those
/// should be zero but are harmless.
pub fn parse(s: &[u8]) -> Result<Option<SmppTime>, TimeError> {
    if s.is_empty() {
        return Ok(None);
    }
    let Ok(&[y1, y2, mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2, t, n1, n2, kind]) =
        <&[u8; TIME_LEN]>::try_from(s)
    else {
        return Err(TimeError::Length {
            len: s.len(),
            expected: "0 or 16",
        });
    };
    let year = two_digits("year", y1, y2)?;
    let month = two_digits("month", mo1, mo2)?;
    let day = two_digits("day", d1, d2)?;
    let hour = two_digits("hour", h1, h2)?;
    let minute = two_digits("minute", mi1, mi2)?;
    let second = two_digits("second", s1, s2)?;
    let tenths = digit("tenths", t)?;
    let nn = two_digits("utc_offset", n1, n2)?;
    let behind = match kind {
        b'R' => {
            return Ok(Some(SmppTime::Relative(RelativeTime {
                years: year,
                months: month,
                days: day,
                hours: hour,
                minutes: minute,
                seconds: second,
                tenths,
                offset_digits: nn,
            })));
        }
        b'+' => false,
        b'-' => true,
        other => return Err(TimeError::Kind(other)),
    };
    check_date(CENTURY + i64::from(year), month, day)?;
    check_time_of_day(hour, minute, second)?;
    if nn > MAX_OFFSET_QUARTERS {
        return Err(out_of_range("utc_offset", nn));
    }
    Ok(Some(SmppTime::Absolute(AbsoluteTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        tenths,
        offset: UtcOffset {
            quarter_hours: nn,
            behind,
        },
    })))
}

/// Parses a receipt date of 10, 12 or 14 digits (see [`DateLayout`]) as UTC epoch seconds.
///
/// Two-digit years are 2000–2099; the 10-digit form has no seconds, so they are 0.
pub fn parse_compact_date(s: &[u8]) -> Result<i64, TimeError> {
    let mut rest = s;
    let year = match s.len() {
        10 | 12 => CENTURY + i64::from(take_digits(&mut rest, 2, "year")?),
        14 => i64::from(take_digits(&mut rest, 4, "year")?),
        len => {
            return Err(TimeError::Length {
                len,
                expected: "10, 12 or 14",
            })
        }
    };
    let month = take_two(&mut rest, "month")?;
    let day = take_two(&mut rest, "day")?;
    let hour = take_two(&mut rest, "hour")?;
    let minute = take_two(&mut rest, "minute")?;
    let second = if rest.is_empty() {
        0
    } else {
        take_two(&mut rest, "second")?
    };
    check_date(year, month, day)?;
    check_time_of_day(hour, minute, second)?;
    Ok(days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * SECS_PER_HOUR
        + i64::from(minute) * SECS_PER_MINUTE
        + i64::from(second))
}

/// Writes UTC epoch seconds as a receipt date in `layout`, dropping what the layout cannot show
/// (seconds in the 10-digit form). `None` if the year does not fit: two-digit layouts cover
/// 2000–2099, the four-digit one 0000–9999.
pub fn format_compact_date(secs: i64, layout: DateLayout) -> Option<String> {
    let civil = Civil::from_epoch(secs);
    let (y, mo, d, h, mi, s) = (
        civil.year,
        civil.month,
        civil.day,
        civil.hour,
        civil.minute,
        civil.second,
    );
    // Pushed digit by digit: a receipt is formatted for every message relayed.
    let mut out = String::with_capacity(14);
    match layout {
        DateLayout::Yymmddhhmm | DateLayout::Yymmddhhmmss => push_2(&mut out, two_digit_year(y)?),
        DateLayout::Yyyymmddhhmmss => {
            let y = u16::try_from(y).ok().filter(|&y| y <= 9999)?;
            // Both halves are below 100.
            push_2(&mut out, u8::try_from(y / 100).ok()?);
            push_2(&mut out, u8::try_from(y % 100).ok()?);
        }
    }
    for field in [mo, d, h, mi] {
        push_2(&mut out, field);
    }
    if layout != DateLayout::Yymmddhhmm {
        push_2(&mut out, s);
    }
    Some(out)
}

/// Appends `n` (below 100) as two digits.
fn push_2(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

impl SmppTime {
    /// The absolute time for a UTC instant, written with offset `00+`; `None` outside
    /// 2000–2099, which two-digit years cannot express.
    pub fn from_utc_epoch(secs: i64) -> Option<Self> {
        AbsoluteTime::from_epoch(secs, 0, UtcOffset::UTC).map(Self::Absolute)
    }

    /// The UTC instant this time designates, in epoch seconds (tenths dropped). A relative time
    /// counts from `now_epoch_secs` (see [`RelativeTime::resolve`]); an absolute one ignores it.
    pub fn resolve(self, now_epoch_secs: i64) -> i64 {
        match self {
            Self::Absolute(t) => t.to_epoch_secs(),
            Self::Relative(t) => t.resolve(now_epoch_secs),
        }
    }

    /// The 16-character wire form, without the NUL.
    pub fn to_bytes(self) -> [u8; TIME_LEN] {
        match self {
            Self::Absolute(t) => t.to_bytes(),
            Self::Relative(t) => t.to_bytes(),
        }
    }
}

impl From<AbsoluteTime> for SmppTime {
    fn from(t: AbsoluteTime) -> Self {
        Self::Absolute(t)
    }
}

impl From<RelativeTime> for SmppTime {
    fn from(t: RelativeTime) -> Self {
        Self::Relative(t)
    }
}

impl fmt::Display for SmppTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ascii(f, &self.to_bytes())
    }
}

impl AbsoluteTime {
    /// The local time `offset` away from UTC at the UTC instant `secs`, with `tenths` (0–9).
    /// `None` if `tenths` is over 9 or the local year is outside 2000–2099.
    pub fn from_epoch(secs: i64, tenths: u8, offset: UtcOffset) -> Option<Self> {
        if tenths > 9 {
            return None;
        }
        let local = secs.checked_add(i64::from(offset.seconds()))?;
        let civil = Civil::from_epoch(local);
        Some(Self {
            year: two_digit_year(civil.year)?,
            month: civil.month,
            day: civil.day,
            hour: civil.hour,
            minute: civil.minute,
            second: civil.second,
            tenths,
            offset,
        })
    }

    /// The UTC instant in epoch seconds (tenths in [`AbsoluteTime::tenths`]).
    ///
    /// smpp34.md §9: UTC = local − nn×15 min for `+`, local + nn×15 min for `-`.
    pub fn to_epoch_secs(self) -> i64 {
        let days = days_from_civil(CENTURY + i64::from(self.year), self.month, self.day);
        let local = days * SECS_PER_DAY
            + i64::from(self.hour) * SECS_PER_HOUR
            + i64::from(self.minute) * SECS_PER_MINUTE
            + i64::from(self.second);
        local - i64::from(self.offset.seconds())
    }

    /// The full local year, 2000–2099.
    pub fn year(self) -> u16 {
        2000 + u16::from(self.year)
    }

    /// Local month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Local day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Local hour, 0–23.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// Minute, 0–59.
    pub fn minute(self) -> u8 {
        self.minute
    }

    /// Second, 0–59.
    pub fn second(self) -> u8 {
        self.second
    }

    /// Tenths of a second, 0–9.
    pub fn tenths(self) -> u8 {
        self.tenths
    }

    /// The local time's offset from UTC.
    pub fn offset(self) -> UtcOffset {
        self.offset
    }

    /// The 16-character wire form, without the NUL.
    pub fn to_bytes(self) -> [u8; TIME_LEN] {
        let kind = if self.offset.behind { b'-' } else { b'+' };
        let fields = [
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
        ];
        wire(fields, self.tenths, self.offset.quarter_hours, kind)
    }
}

impl fmt::Display for AbsoluteTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ascii(f, &self.to_bytes())
    }
}

impl UtcOffset {
    /// UTC itself, written `00+`.
    pub const UTC: Self = Self {
        quarter_hours: 0,
        behind: false,
    };

    /// Local time ahead of UTC (`+`) by `quarter_hours` × 15 min; `None` above 48.
    pub fn ahead(quarter_hours: u8) -> Option<Self> {
        (quarter_hours <= MAX_OFFSET_QUARTERS).then_some(Self {
            quarter_hours,
            behind: false,
        })
    }

    /// Local time behind UTC (`-`) by `quarter_hours` × 15 min; `None` above 48.
    pub fn behind(quarter_hours: u8) -> Option<Self> {
        (quarter_hours <= MAX_OFFSET_QUARTERS).then_some(Self {
            quarter_hours,
            behind: true,
        })
    }

    /// The magnitude in quarter hours, 0–48.
    pub fn quarter_hours(self) -> u8 {
        self.quarter_hours
    }

    /// Whether local time is behind UTC (written `-`).
    pub fn is_behind(self) -> bool {
        self.behind
    }

    /// Seconds to add to UTC to get local time (negative when behind).
    pub fn seconds(self) -> i32 {
        let magnitude = i32::from(self.quarter_hours) * SECS_PER_QUARTER_HOUR;
        if self.behind {
            -magnitude
        } else {
            magnitude
        }
    }
}

impl RelativeTime {
    /// A relative time from its six fields; `None` if any is over 99 (two digits each).
    pub fn new(
        years: u8,
        months: u8,
        days: u8,
        hours: u8,
        minutes: u8,
        seconds: u8,
    ) -> Option<Self> {
        [years, months, days, hours, minutes, seconds]
            .iter()
            .all(|&v| v <= MAX_RELATIVE_FIELD)
            .then_some(Self {
                years,
                months,
                days,
                hours,
                minutes,
                seconds,
                tenths: 0,
                offset_digits: 0,
            })
    }

    /// The relative time for `duration`, as days, hours, minutes and seconds (sub-second part
    /// dropped); `None` from 100 days on, which the days field cannot hold.
    pub fn from_duration(duration: Duration) -> Option<Self> {
        let secs = duration.as_secs();
        let days = u8::try_from(secs / 86_400).ok()?;
        let rest = secs % 86_400;
        // Each of these is below 60 (or 24), so the conversions cannot fail.
        let hours = u8::try_from(rest / 3_600).ok()?;
        let minutes = u8::try_from(rest % 3_600 / 60).ok()?;
        let seconds = u8::try_from(rest % 60).ok()?;
        Self::new(0, 0, days, hours, minutes, seconds)
    }

    /// Years, 0–99.
    pub fn years(self) -> u8 {
        self.years
    }

    /// Months, 0–99.
    pub fn months(self) -> u8 {
        self.months
    }

    /// Days, 0–99.
    pub fn days(self) -> u8 {
        self.days
    }

    /// Hours, 0–99.
    pub fn hours(self) -> u8 {
        self.hours
    }

    /// Minutes, 0–99.
    pub fn minutes(self) -> u8 {
        self.minutes
    }

    /// Seconds, 0–99.
    pub fn seconds(self) -> u8 {
        self.seconds
    }

    /// Tenths of a second as received (should be 0).
    pub fn tenths(self) -> u8 {
        self.tenths
    }

    /// A fixed-length approximation for when no calendar is at hand: a year is 365 days and a
    /// month 30 days. Prefer [`RelativeTime::resolve`], which uses the calendar.
    pub fn to_duration(self) -> Duration {
        let days = u64::from(self.years) * 365 + u64::from(self.months) * 30 + u64::from(self.days);
        let secs = days * 86_400
            + u64::from(self.hours) * 3_600
            + u64::from(self.minutes) * 60
            + u64::from(self.seconds);
        Duration::from_secs(secs) + Duration::from_millis(u64::from(self.tenths) * 100)
    }

    /// The UTC instant `self` after `now_epoch_secs`, tenths dropped.
    ///
    /// Years and months move the calendar date in UTC, clamping the day to the end of the month
    /// (Jan 31 + 1 month = Feb 28 or 29); days, hours, minutes and seconds then add as fixed
    /// lengths. Saturates at the ends of `i64` rather than overflow.
    pub fn resolve(self, now_epoch_secs: i64) -> i64 {
        let civil = Civil::from_epoch(now_epoch_secs);
        // |year| stays below 3e11 for any i64 input, so none of this can overflow an i64.
        let month_index = civil.year * 12
            + i64::from(civil.month - 1)
            + i64::from(self.years) * 12
            + i64::from(self.months);
        let year = month_index.div_euclid(12);
        let month = month_of(month_index.rem_euclid(12) + 1);
        let day = civil.day.min(days_in_month(year, month));
        let date_secs = i128::from(days_from_civil(year, month, day)) * i128::from(SECS_PER_DAY);
        let time_of_day = i128::from(civil.seconds_of_day());
        let fixed = i128::from(self.days) * i128::from(SECS_PER_DAY)
            + i128::from(self.hours) * i128::from(SECS_PER_HOUR)
            + i128::from(self.minutes) * i128::from(SECS_PER_MINUTE)
            + i128::from(self.seconds);
        let total = date_secs + time_of_day + fixed;
        i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
    }

    /// The 16-character wire form, without the NUL.
    pub fn to_bytes(self) -> [u8; TIME_LEN] {
        let fields = [
            self.years,
            self.months,
            self.days,
            self.hours,
            self.minutes,
            self.seconds,
        ];
        wire(fields, self.tenths, self.offset_digits, b'R')
    }
}

impl fmt::Display for RelativeTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ascii(f, &self.to_bytes())
    }
}

impl DateLayout {
    /// How many digits the layout has.
    pub fn digits(self) -> usize {
        match self {
            Self::Yymmddhhmm => 10,
            Self::Yymmddhhmmss => 12,
            Self::Yyyymmddhhmmss => 14,
        }
    }

    /// The layout with `digits` digits, if any.
    pub fn from_digits(digits: usize) -> Option<Self> {
        match digits {
            10 => Some(Self::Yymmddhhmm),
            12 => Some(Self::Yymmddhhmmss),
            14 => Some(Self::Yyyymmddhhmmss),
            _ => None,
        }
    }
}

/// A UTC calendar date and time of day, the broken-down form of an epoch instant.
struct Civil {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Civil {
    fn from_epoch(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let sod = secs.rem_euclid(SECS_PER_DAY);
        Self {
            year,
            month,
            day,
            // sod is in 0..86_400, so each part is below 24 or 60 and fits a u8.
            hour: (sod / SECS_PER_HOUR) as u8,
            minute: (sod % SECS_PER_HOUR / SECS_PER_MINUTE) as u8,
            second: (sod % SECS_PER_MINUTE) as u8,
        }
    }

    fn seconds_of_day(&self) -> i64 {
        i64::from(self.hour) * SECS_PER_HOUR
            + i64::from(self.minute) * SECS_PER_MINUTE
            + i64::from(self.second)
    }
}

/// Days from 1970-01-01 to the given proleptic-Gregorian date (Hinnant's `days_from_civil`).
/// Exact for |year| up to about 2.5e13; callers stay far below.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    // Count years from March so the leap day is the last day of the (shifted) year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11], March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146_096]
    era * 146_097 + doe - 719_468
}

/// The proleptic-Gregorian date `days` after 1970-01-01 (Hinnant's `civil_from_days`).
/// `days` comes from an `i64` of seconds divided by 86 400, so the shift below cannot overflow.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146_096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are within u8 by the ranges noted above.
    (year, month as u8, day as u8)
}

/// A month number already known to be 1–12, as `u8`.
fn month_of(m: i64) -> u8 {
    // Callers pass rem_euclid(12) + 1, so this never truncates.
    m as u8
}

fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn check_date(year: i64, month: u8, day: u8) -> Result<(), TimeError> {
    if !(1..=12).contains(&month) {
        return Err(out_of_range("month", month));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(out_of_range("day", day));
    }
    Ok(())
}

fn check_time_of_day(hour: u8, minute: u8, second: u8) -> Result<(), TimeError> {
    if hour > 23 {
        return Err(out_of_range("hour", hour));
    }
    if minute > 59 {
        return Err(out_of_range("minute", minute));
    }
    if second > 59 {
        return Err(out_of_range("second", second));
    }
    Ok(())
}

fn out_of_range(field: &'static str, value: u8) -> TimeError {
    TimeError::OutOfRange {
        field,
        value: u16::from(value),
    }
}

fn two_digit_year(year: i64) -> Option<u8> {
    u8::try_from(year - CENTURY).ok().filter(|&yy| yy <= 99)
}

fn digit(field: &'static str, b: u8) -> Result<u8, TimeError> {
    if b.is_ascii_digit() {
        Ok(b - b'0')
    } else {
        Err(TimeError::NotDigits { field })
    }
}

fn two_digits(field: &'static str, hi: u8, lo: u8) -> Result<u8, TimeError> {
    Ok(digit(field, hi)? * 10 + digit(field, lo)?)
}

/// Takes two digits from the front of `rest`.
fn take_two(rest: &mut &[u8], field: &'static str) -> Result<u8, TimeError> {
    let Some((&[hi, lo], tail)) = rest.split_first_chunk::<2>() else {
        return Err(TimeError::NotDigits { field });
    };
    *rest = tail;
    two_digits(field, hi, lo)
}

/// Takes `n` (at most 4) digits from the front of `rest` as one number.
fn take_digits(rest: &mut &[u8], n: usize, field: &'static str) -> Result<u16, TimeError> {
    let mut value = 0u16;
    for _ in 0..n {
        let Some((&b, tail)) = rest.split_first() else {
            return Err(TimeError::NotDigits { field });
        };
        *rest = tail;
        value = value * 10 + u16::from(digit(field, b)?);
    }
    Ok(value)
}

/// Two ASCII digits of `v` (callers keep `v` below 100; `% 10` keeps any value in range).
/// The 16-character form: six two-digit fields, tenths, two offset digits, the kind.
fn wire(fields: [u8; 6], tenths: u8, offset: u8, kind: u8) -> [u8; TIME_LEN] {
    let mut out = [0u8; TIME_LEN];
    for (slot, value) in out.chunks_exact_mut(2).zip(fields) {
        slot.copy_from_slice(&ascii2(value));
    }
    out[12] = ascii2(tenths)[1];
    out[13..15].copy_from_slice(&ascii2(offset));
    out[15] = kind;
    out
}

fn ascii2(v: u8) -> [u8; 2] {
    [b'0' + v / 10 % 10, b'0' + v % 10]
}

fn write_ascii(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes
        .iter()
        .try_for_each(|&b| fmt::Write::write_char(f, char::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn abs(s: &str) -> AbsoluteTime {
        match parse(s.as_bytes()) {
            Ok(Some(SmppTime::Absolute(t))) => t,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn rel(s: &str) -> RelativeTime {
        match parse(s.as_bytes()) {
            Ok(Some(SmppTime::Relative(t))) => t,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn epoch(y: i64, mo: u8, d: u8, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + s
    }

    #[test]
    fn null_time_is_none() {
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn spec_absolute_example() {
        // smpp34.md §9: 2025-01-31 23:59:59.0 local at UTC+2 is 21:59:59Z.
        let t = abs("250131235959008+");
        assert_eq!(
            (
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
            (2025, 1, 31, 23, 59, 59)
        );
        assert_eq!(t.tenths(), 0);
        assert_eq!(t.offset(), UtcOffset::ahead(8).unwrap());
        assert_eq!(t.to_epoch_secs(), 1_738_360_799);
        assert_eq!(t.to_epoch_secs(), epoch(2025, 1, 31, 21, 59, 59));
        assert_eq!(t.to_string(), "250131235959008+");
    }

    #[test]
    fn minus_offset_adds_to_local() {
        // Local is behind UTC, so UTC is later: 23:59:59 at UTC−2 is 01:59:59Z the next day.
        let t = abs("250131235959008-");
        assert_eq!(t.to_epoch_secs(), epoch(2025, 2, 1, 1, 59, 59));
        assert!(t.offset().is_behind());
        assert_eq!(t.to_string(), "250131235959008-");
    }

    #[test]
    fn tenths_and_max_offset() {
        let t = abs("991231235959748+");
        assert_eq!(t.tenths(), 7);
        assert_eq!(t.year(), 2099);
        assert_eq!(t.offset().seconds(), 12 * 3600);
        assert_eq!(t.to_epoch_secs(), epoch(2099, 12, 31, 11, 59, 59));
    }

    #[test]
    fn zero_offset_keeps_its_sign() {
        assert_eq!(abs("250101000000000-").to_string(), "250101000000000-");
        assert_eq!(abs("250101000000000+").to_string(), "250101000000000+");
        assert_eq!(
            abs("250101000000000-").to_epoch_secs(),
            abs("250101000000000+").to_epoch_secs()
        );
    }

    #[test]
    fn spec_relative_examples() {
        let day = rel("000001000000000R");
        assert_eq!(day.days(), 1);
        assert_eq!(day.to_duration(), Duration::from_secs(86_400));
        assert_eq!(day.resolve(1_000), 1_000 + 86_400);
        assert_eq!(day.to_string(), "000001000000000R");

        let two_hours = rel("000000020000000R");
        assert_eq!(two_hours.hours(), 2);
        assert_eq!(two_hours.to_duration(), Duration::from_secs(7_200));
        assert_eq!(SmppTime::Relative(two_hours).resolve(1_000), 8_200);
    }

    #[test]
    fn relative_tolerates_odd_digits() {
        // Month/day 00 and any digits, even in the tenths and offset places.
        let t = rel("999999999999512R");
        assert_eq!((t.years(), t.months(), t.days()), (99, 99, 99));
        assert_eq!(t.tenths(), 5);
        assert_eq!(t.to_string(), "999999999999512R");
    }

    #[test]
    fn relative_months_use_the_calendar() {
        let jan31 = epoch(2024, 1, 31, 10, 0, 0);
        let one_month = RelativeTime::new(0, 1, 0, 0, 0, 0).unwrap();
        assert_eq!(one_month.resolve(jan31), epoch(2024, 2, 29, 10, 0, 0));
        let one_year = RelativeTime::new(1, 0, 0, 0, 0, 0).unwrap();
        let feb29 = epoch(2024, 2, 29, 0, 0, 0);
        assert_eq!(one_year.resolve(feb29), epoch(2025, 2, 28, 0, 0, 0));
        let mixed = RelativeTime::new(0, 13, 2, 3, 4, 5).unwrap();
        assert_eq!(
            mixed.resolve(epoch(2023, 12, 15, 0, 0, 0)),
            epoch(2025, 1, 17, 3, 4, 5)
        );
        // Before the epoch too.
        assert_eq!(
            one_month.resolve(epoch(1969, 12, 31, 23, 0, 0)),
            epoch(1970, 1, 31, 23, 0, 0)
        );
    }

    #[test]
    fn relative_resolve_saturates() {
        let max = rel("999999999999000R");
        assert_eq!(max.resolve(i64::MAX), i64::MAX);
        assert!(max.resolve(i64::MIN) > i64::MIN);
        assert_eq!(SmppTime::Relative(max).resolve(i64::MAX - 5), i64::MAX);
    }

    #[test]
    fn relative_from_duration() {
        let t = RelativeTime::from_duration(Duration::from_secs(2 * 86_400 + 3_723)).unwrap();
        assert_eq!(t.to_string(), "000002010203000R");
        assert!(RelativeTime::from_duration(Duration::from_secs(100 * 86_400)).is_none());
        assert!(RelativeTime::new(100, 0, 0, 0, 0, 0).is_none());
    }

    #[test]
    fn leap_years() {
        assert_eq!(abs("240229120000000+").day(), 29);
        assert_eq!(abs("000229000000000+").year(), 2000);
        assert_eq!(
            parse(b"230229120000000+"),
            Err(TimeError::OutOfRange {
                field: "day",
                value: 29
            })
        );
        assert_eq!(
            parse_compact_date(b"21000229000000").map(|_| ()),
            Err(out_of_range("day", 29))
        );
        assert!(parse_compact_date(b"20000229000000").is_ok());
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases: &[(&str, TimeError)] = &[
            ("250001000000000+", out_of_range("month", 0)),
            ("251301000000000+", out_of_range("month", 13)),
            ("250100000000000+", out_of_range("day", 0)),
            ("250132000000000+", out_of_range("day", 32)),
            ("250431000000000+", out_of_range("day", 31)),
            ("250101240000000+", out_of_range("hour", 24)),
            ("250101006000000+", out_of_range("minute", 60)),
            ("250101000060000+", out_of_range("second", 60)),
            ("250101000000049+", out_of_range("utc_offset", 49)),
            ("250101000000099-", out_of_range("utc_offset", 99)),
            (
                "2501010000000 0+",
                TimeError::NotDigits {
                    field: "utc_offset",
                },
            ),
            ("250101000000x00+", TimeError::NotDigits { field: "tenths" }),
            ("25o101000000000+", TimeError::NotDigits { field: "month" }),
            ("-50101000000000R", TimeError::NotDigits { field: "year" }),
            ("250101000000000r", TimeError::Kind(b'r')),
            ("250101000000000 ", TimeError::Kind(b' ')),
            (
                "250101000000000",
                TimeError::Length {
                    len: 15,
                    expected: "0 or 16",
                },
            ),
            (
                "250101000000000+\0",
                TimeError::Length {
                    len: 17,
                    expected: "0 or 16",
                },
            ),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s.as_bytes()), Err(*want), "{s}");
        }
    }

    #[test]
    fn from_utc_epoch_writes_utc() {
        let t = SmppTime::from_utc_epoch(1_738_360_799).unwrap();
        assert_eq!(t.to_string(), "250131215959000+");
        assert_eq!(&t.to_bytes(), b"250131215959000+");
        assert!(SmppTime::from_utc_epoch(epoch(1999, 12, 31, 23, 59, 59)).is_none());
        assert!(SmppTime::from_utc_epoch(epoch(2100, 1, 1, 0, 0, 0)).is_none());
        let local = AbsoluteTime::from_epoch(1_738_360_799, 3, UtcOffset::ahead(8).unwrap());
        assert_eq!(local.unwrap().to_string(), "250131235959308+");
        assert!(AbsoluteTime::from_epoch(0, 10, UtcOffset::UTC).is_none());
        assert!(AbsoluteTime::from_epoch(i64::MAX, 0, UtcOffset::ahead(1).unwrap()).is_none());
    }

    #[test]
    fn civil_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn compact_dates() {
        let noon = epoch(2025, 1, 31, 12, 0, 0);
        assert_eq!(parse_compact_date(b"2501311200"), Ok(noon));
        assert_eq!(parse_compact_date(b"250131120005"), Ok(noon + 5));
        assert_eq!(parse_compact_date(b"20250131120005"), Ok(noon + 5));
        assert_eq!(
            format_compact_date(noon + 59, DateLayout::Yymmddhhmm).as_deref(),
            Some("2501311200")
        );
        assert_eq!(
            format_compact_date(noon + 5, DateLayout::Yymmddhhmmss).as_deref(),
            Some("250131120005")
        );
        assert_eq!(
            format_compact_date(noon + 5, DateLayout::Yyyymmddhhmmss).as_deref(),
            Some("20250131120005")
        );
        assert_eq!(format_compact_date(0, DateLayout::Yymmddhhmm), None);
        assert_eq!(
            format_compact_date(0, DateLayout::Yyyymmddhhmmss).as_deref(),
            Some("19700101000000")
        );
        assert_eq!(
            format_compact_date(i64::MIN, DateLayout::Yyyymmddhhmmss),
            None
        );
        assert_eq!(
            parse_compact_date(b"25013112000"),
            Err(TimeError::Length {
                len: 11,
                expected: "10, 12 or 14"
            })
        );
        assert_eq!(
            parse_compact_date(b"2513311200"),
            Err(out_of_range("month", 13))
        );
        assert_eq!(
            parse_compact_date(b"250131126000"),
            Err(out_of_range("minute", 60))
        );
        assert_eq!(
            parse_compact_date(b"25013112000x"),
            Err(TimeError::NotDigits { field: "second" })
        );
        for layout in [
            DateLayout::Yymmddhhmm,
            DateLayout::Yymmddhhmmss,
            DateLayout::Yyyymmddhhmmss,
        ] {
            assert_eq!(DateLayout::from_digits(layout.digits()), Some(layout));
        }
    }

    fn valid_absolute() -> impl Strategy<Value = String> {
        (
            0u8..=99,
            1u8..=12,
            1u8..=31,
            0u8..=23,
            0u8..=59,
            0u8..=59,
            0u8..=9,
        )
            .prop_flat_map(|fields| (Just(fields), 0u8..=48, prop::bool::ANY))
            .prop_filter_map("day exists", |((y, mo, d, h, mi, s, t), nn, behind)| {
                (d <= days_in_month(CENTURY + i64::from(y), mo)).then(|| {
                    let sign = if behind { '-' } else { '+' };
                    format!("{y:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}{t}{nn:02}{sign}")
                })
            })
    }

    proptest! {
        #[test]
        fn absolute_round_trip(s in valid_absolute()) {
            let t = parse(s.as_bytes()).unwrap().unwrap();
            prop_assert_eq!(t.to_string(), s.clone());
            prop_assert_eq!(&t.to_bytes()[..], s.as_bytes());
            let SmppTime::Absolute(a) = t else { panic!("{s} is absolute") };
            let back = AbsoluteTime::from_epoch(a.to_epoch_secs(), a.tenths(), a.offset());
            prop_assert_eq!(back, Some(a));
        }

        #[test]
        fn relative_round_trip(digits in "[0-9]{15}") {
            let s = format!("{digits}R");
            let t = parse(s.as_bytes()).unwrap().unwrap();
            prop_assert!(matches!(t, SmppTime::Relative(_)));
            prop_assert_eq!(t.to_string(), s);
        }

        #[test]
        fn epoch_round_trip(
            secs in 946_684_800i64..4_102_444_800,
            nn in 0u8..=48,
            behind in prop::bool::ANY,
            tenths in 0u8..=9,
        ) {
            let offset = if behind { UtcOffset::behind(nn) } else { UtcOffset::ahead(nn) };
            let offset = offset.unwrap();
            if let Some(t) = AbsoluteTime::from_epoch(secs, tenths, offset) {
                prop_assert_eq!(t.to_epoch_secs(), secs);
                prop_assert_eq!(parse(&t.to_bytes()), Ok(Some(SmppTime::Absolute(t))));
            }
            let utc = SmppTime::from_utc_epoch(secs).unwrap();
            prop_assert_eq!(utc.resolve(0), secs);
        }

        #[test]
        fn civil_round_trip(days in -1_000_000_000i64..1_000_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn compact_round_trip(secs in -62_167_219_200i64..253_402_300_800) {
            for layout in [DateLayout::Yymmddhhmmss, DateLayout::Yyyymmddhhmmss] {
                if let Some(s) = format_compact_date(secs, layout) {
                    prop_assert_eq!(s.len(), layout.digits());
                    prop_assert_eq!(parse_compact_date(s.as_bytes()), Ok(secs));
                }
            }
            if let Some(s) = format_compact_date(secs, DateLayout::Yymmddhhmm) {
                prop_assert_eq!(parse_compact_date(s.as_bytes()), Ok(secs - secs.rem_euclid(60)));
            }
        }

        #[test]
        fn relative_resolve_never_panics(digits in "[0-9]{12}", now in any::<i64>()) {
            let s = format!("{digits}000R");
            let t = parse(s.as_bytes()).unwrap().unwrap();
            let _ = t.resolve(now);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..20)) {
            let _ = parse(&bytes);
            let _ = parse_compact_date(&bytes);
        }

        #[test]
        fn near_valid_bytes_never_panic(s in "[0-9+R-]{16}|[0-9]{10,14}") {
            if let Ok(Some(t)) = parse(s.as_bytes()) {
                prop_assert_eq!(t.to_string(), s.clone());
            }
            let _ = parse_compact_date(s.as_bytes());
        }

        #[test]
        fn arbitrary_epoch_never_panics(secs in any::<i64>(), nn in 0u8..=48) {
            let _ = SmppTime::from_utc_epoch(secs);
            let _ = AbsoluteTime::from_epoch(secs, 0, UtcOffset::behind(nn).unwrap());
            for layout in [DateLayout::Yymmddhhmm, DateLayout::Yyyymmddhhmmss] {
                let _ = format_compact_date(secs, layout);
            }
        }
    }
}
