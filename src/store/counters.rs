//! The campaign counters as values: a UTC day, the counters of one row, a row. The counting
//! rules and the reads are `stats.rs`; the keys and values on disk are `layout.rs`'s.

use crate::message::{now_ms, Class};
use std::fmt;
use std::str::FromStr;

/// A UTC day: days since 1970-01-01. Shown and read as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(u32);

/// Milliseconds in a day.
pub(super) const DAY_MS: i64 = 86_400_000;

impl Day {
    /// The first day a key can name: 1970-01-01.
    pub const MIN: Self = Self(0);
    /// The last day a key can name.
    pub const MAX: Self = Self(u32::MAX);

    /// The day of `ms` (unix ms); before 1970 is day 0.
    pub fn of_ms(ms: i64) -> Self {
        Self(u32::try_from(ms.div_euclid(DAY_MS).max(0)).unwrap_or(u32::MAX))
    }

    /// Today, by the system clock.
    pub fn today() -> Self {
        Self::of_ms(now_ms())
    }

    /// Days since 1970-01-01.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// The day `number` days after 1970-01-01.
    pub const fn from_number(number: u32) -> Self {
        Self(number)
    }

    /// `days` days before, at most back to day 0.
    pub fn saturating_sub(self, days: u32) -> Self {
        Self(self.0.saturating_sub(days))
    }

    fn date(self) -> Option<jiff::civil::Date> {
        let ts = jiff::Timestamp::from_second(i64::from(self.0) * (DAY_MS / 1000)).ok()?;
        Some(jiff::tz::TimeZone::UTC.to_datetime(ts).date())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.date() {
            Some(date) => write!(f, "{date}"),
            // Past jiff's calendar (year 9999): no date to show, the number says it.
            None => write!(f, "day {}", self.0),
        }
    }
}

impl FromStr for Day {
    type Err = String;

    /// `2026-12-06`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a date like 2026-12-06");
        let date: jiff::civil::Date = text.parse().map_err(|_| bad())?;
        let days = date
            .duration_since(jiff::civil::date(1970, 1, 1))
            .as_secs()
            .div_euclid(DAY_MS / 1000);
        u32::try_from(days).map(Self).map_err(|_| bad())
    }
}

/// The counters of one row (or of a sum of rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages accepted (each part of a long message is one).
    pub accepted: u64,
    /// The SMS they take on the air ([`Message::segments`]).
    pub segments: u64,
    /// Ended because their number opted out.
    pub suppressed: u64,
    /// Held by a sending window (counted once per message).
    pub deferred: u64,
    /// Accepted by a carrier.
    pub sent: u64,
    /// Ended delivered.
    pub delivered: u64,
    /// Ended undeliverable.
    pub undelivered: u64,
    /// Ended expired.
    pub expired: u64,
    /// Ended rejected (not for an opt-out).
    pub rejected: u64,
    /// Cost in micro-units of the price table's currency (see the module's cost rule).
    pub cost_micro: u64,
}

impl Counters {
    /// Every counter in the order the store writes them (`layout.rs`).
    pub(super) fn to_array(self) -> [u64; 10] {
        [
            self.accepted,
            self.segments,
            self.suppressed,
            self.deferred,
            self.sent,
            self.delivered,
            self.undelivered,
            self.expired,
            self.rejected,
            self.cost_micro,
        ]
    }

    /// The counters written in that order; missing ones (a shorter, older row) are 0.
    pub(super) fn from_slice(values: &[u64]) -> Self {
        let at = |i: usize| values.get(i).copied().unwrap_or(0);
        Self {
            accepted: at(0),
            segments: at(1),
            suppressed: at(2),
            deferred: at(3),
            sent: at(4),
            delivered: at(5),
            undelivered: at(6),
            expired: at(7),
            rejected: at(8),
            cost_micro: at(9),
        }
    }

    /// Adds `other`, counter by counter (saturating).
    pub fn add(&mut self, other: &Self) {
        let mut sum = self.to_array();
        for (total, n) in sum.iter_mut().zip(other.to_array()) {
            *total = total.saturating_add(n);
        }
        *self = Self::from_slice(&sum);
    }

    /// The messages that ended for good or bad, suppressions left out: what the delivery
    /// rate is a share of.
    pub fn ended(&self) -> u64 {
        [
            self.delivered,
            self.undelivered,
            self.expired,
            self.rejected,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }

    /// delivered / (delivered + undelivered + expired + rejected); `None` before any ended.
    pub fn delivery_rate(&self) -> Option<f64> {
        let ended = self.ended();
        // Counts of messages: far below 2^53, exact as floats.
        (ended > 0).then(|| self.delivered as f64 / ended as f64)
    }
}

/// One row: a client's campaign (`""`: none), class and day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The client's `system_id`.
    pub client: String,
    /// The campaign; `""` for messages of none (and in the sums of `Store::client_stats`).
    pub campaign: String,
    /// The messages' class.
    pub class: Class,
    /// The UTC day the counted changes happened on (for the cost, the day accepted).
    pub day: Day,
    /// What was counted.
    pub counters: Counters,
}
