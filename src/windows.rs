//! Sending windows: when marketing may reach a person, in the person's own time zone. A window
//! is the days of the week and the hours it is open, closed on the public holidays of a
//! calendar; the French operators' charters are presets. Outside a window a message is not
//! dropped: it is held until the next opening, plus a spread that is the same for a message
//! every time it is computed, so that a campaign deferred overnight does not leave at 08:00:00
//! in one burst.
//!
//! Pure: times in, times out; the clock is the caller's. Opening times that fall in a DST gap
//! move to the first instant after it; in a fold, to the earlier one.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::time::Duration;

/// How far ahead [`Window::next_open`] looks: two weeks hold an opening of any window with a
/// day open, whatever the holidays.
const LOOKAHEAD_DAYS: i32 = 14;

/// A sending window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Open days, Monday first.
    pub days: [bool; 7],
    /// Opening time, local.
    pub from: Time,
    /// Closing time, local: after `from`, the same day.
    pub until: Time,
    /// The public holidays it is closed on.
    pub holidays: Holidays,
    /// Messages deferred to an opening leave within this much after it.
    pub spread: Duration,
}

/// A calendar of public holidays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holidays {
    /// None: open days are open.
    None,
    /// Metropolitan France.
    France,
    /// Alsace-Moselle (57, 67, 68): France, Good Friday and 26 December.
    AlsaceMoselle,
    /// France and the abolition of slavery: Guadeloupe (27 May).
    Guadeloupe,
    /// Martinique (22 May).
    Martinique,
    /// Guyane (10 June).
    Guyane,
    /// La Réunion (20 December).
    Reunion,
    /// Mayotte (27 April).
    Mayotte,
}

/// The French operators' (af2m) rules for promotional SMS, dated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Charter of 2026: 08:00–21:30; Sundays and holidays "tolerated, not recommended", so
    /// closed here (aggregators still refuse them).
    FrAf2m2026,
    /// Charter of September 2024: working days (Monday to Saturday, not holidays) 08:00–22:00.
    FrAf2m2024,
    /// The practice before 2024: Monday to Saturday, 08:00–20:00, not holidays.
    FrLegacy,
}

impl Preset {
    /// The preset's name in config.
    pub const fn name(self) -> &'static str {
        match self {
            Self::FrAf2m2026 => "fr-af2m-2026",
            Self::FrAf2m2024 => "fr-af2m-2024",
            Self::FrLegacy => "fr-legacy",
        }
    }

    /// The preset's window, with `spread`.
    pub fn window(self, spread: Duration) -> Window {
        let (from, until) = match self {
            Self::FrAf2m2026 => (Time::constant(8, 0, 0, 0), Time::constant(21, 30, 0, 0)),
            Self::FrAf2m2024 => (Time::constant(8, 0, 0, 0), Time::constant(22, 0, 0, 0)),
            Self::FrLegacy => (Time::constant(8, 0, 0, 0), Time::constant(20, 0, 0, 0)),
        };
        Window {
            days: [true, true, true, true, true, true, false],
            from,
            until,
            holidays: Holidays::France,
            spread,
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::FrAf2m2026, Self::FrAf2m2024, Self::FrLegacy]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a preset: fr-af2m-2026, fr-af2m-2024 or fr-legacy")
            })
    }
}

impl Window {
    /// Whether the window is open at `at` in `zone`.
    pub fn is_open(&self, at: Timestamp, zone: &TimeZone) -> bool {
        let local = at.to_zoned_datetime(zone.clone()).datetime();
        self.open_day(local.date()) && local.time() >= self.from && local.time() < self.until
    }

    /// `at` if the window is open then, else its next opening in `zone` (`None` if it opens
    /// on no day of the next two weeks: a window with no open day).
    pub fn next_open(&self, at: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        if self.is_open(at, zone) {
            return Some(at);
        }
        let local = at.to_zoned_datetime(zone.clone()).datetime();
        let today = local.date();
        for offset in 0..=LOOKAHEAD_DAYS {
            let day = today.checked_add(offset.days()).ok()?;
            if !self.open_day(day) {
                continue;
            }
            let opening = self.opening(day, zone)?;
            if opening > at {
                return Some(opening);
            }
        }
        None
    }

    /// When a message deferred to the opening at `open` leaves: `open` plus its spread, at
    /// most [`Window::spread`], fixed by its `id` (the same after a restart).
    pub fn release_at(&self, open: Timestamp, id: u64) -> Timestamp {
        let spread = spread_of(id, self.spread);
        let spread = jiff::SignedDuration::try_from(spread).unwrap_or_default();
        open.checked_add(spread).unwrap_or(open)
    }

    fn open_day(&self, day: Date) -> bool {
        self.days[weekday_index(day.weekday())] && !is_holiday(day, self.holidays)
    }

    /// The opening of `day` in `zone`: in a DST gap, the first instant after it; in a fold,
    /// the earlier instant.
    fn opening(&self, day: Date, zone: &TimeZone) -> Option<Timestamp> {
        let local = DateTime::from_parts(day, self.from);
        zone.to_ambiguous_zoned_datetime(local)
            .compatible()
            .ok()
            .map(|z| z.timestamp())
    }
}

/// The extra delay of message `id` after an opening: 0..`spread`, spread evenly over ids.
pub fn spread_of(id: u64, spread: Duration) -> Duration {
    let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    // splitmix64's finaliser: neighbouring ids land far apart.
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Duration::from_nanos((z ^ (z >> 31)) % nanos)
}

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

/// Whether `day` is a public holiday of `calendar`.
pub fn is_holiday(day: Date, calendar: Holidays) -> bool {
    if calendar == Holidays::None {
        return false;
    }
    let (month, dom) = (day.month(), day.day());
    // Fixed dates of France.
    let fixed = [
        (1, 1),
        (5, 1),
        (5, 8),
        (7, 14),
        (8, 15),
        (11, 1),
        (11, 11),
        (12, 25),
    ];
    if fixed.contains(&(month, dom)) {
        return true;
    }
    let Some(easter) = easter(day.year()) else {
        return false;
    };
    let from_easter = |days: i32| easter.checked_add(days.days()).ok() == Some(day);
    // Easter Monday, Ascension, Whit Monday.
    if from_easter(1) || from_easter(39) || from_easter(50) {
        return true;
    }
    match calendar {
        Holidays::AlsaceMoselle => from_easter(-2) || (month, dom) == (12, 26),
        Holidays::Guadeloupe => (month, dom) == (5, 27),
        Holidays::Martinique => (month, dom) == (5, 22),
        Holidays::Guyane => (month, dom) == (6, 10),
        Holidays::Reunion => (month, dom) == (12, 20),
        Holidays::Mayotte => (month, dom) == (4, 27),
        Holidays::None | Holidays::France => false,
    }
}

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of Meeus).
pub fn easter(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let dom = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(dom).ok()?).ok()
}

/// The IANA zone of an E.164 number by its longest known prefix: France, its overseas
/// departments and territories (whose numbers are dialled nationally with a 0 too, but live
/// under their own codes and clocks), and a few neighbours. `None`: not known here.
pub fn zone_of(e164: &str) -> Option<&'static str> {
    const ZONES: [(&str, &str); 18] = [
        ("+262262", "Indian/Reunion"),
        ("+262692", "Indian/Reunion"),
        ("+262693", "Indian/Reunion"),
        ("+262269", "Indian/Mayotte"),
        ("+262639", "Indian/Mayotte"),
        ("+590", "America/Guadeloupe"),
        ("+594", "America/Cayenne"),
        ("+596", "America/Martinique"),
        ("+508", "America/Miquelon"),
        ("+687", "Pacific/Noumea"),
        ("+689", "Pacific/Tahiti"),
        ("+221", "Africa/Dakar"),
        ("+32", "Europe/Brussels"),
        ("+33", "Europe/Paris"),
        ("+41", "Europe/Zurich"),
        ("+44", "Europe/London"),
        ("+49", "Europe/Berlin"),
        ("+352", "Europe/Luxembourg"),
    ];
    ZONES
        .iter()
        .filter(|(prefix, _)| e164.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, zone)| *zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    /// `y-m-d h:mi` in Paris as a timestamp.
    fn at(y: i16, m: i8, d: i8, h: i8, mi: i8) -> Timestamp {
        date(y, m, d)
            .at(h, mi, 0, 0)
            .to_zoned_datetime(paris())
            .unwrap()
            .timestamp()
    }

    fn next(window: &Window, from: Timestamp) -> Timestamp {
        window.next_open(from, &paris()).unwrap()
    }

    fn af2m_2026() -> Window {
        Preset::FrAf2m2026.window(Duration::ZERO)
    }

    #[test]
    fn late_marketing_waits_for_the_next_opening_and_skips_sundays_and_holidays() {
        let w = af2m_2026();
        // Monday 7 December 2026, 21:31: Tuesday 08:00.
        assert_eq!(next(&w, at(2026, 12, 7, 21, 31)), at(2026, 12, 8, 8, 0));
        // Early morning: the same day's opening.
        assert_eq!(next(&w, at(2026, 12, 8, 6, 15)), at(2026, 12, 8, 8, 0));
        // Open: at once.
        assert_eq!(next(&w, at(2026, 12, 8, 12, 0)), at(2026, 12, 8, 12, 0));
        // 21:30 is closed already.
        assert_eq!(next(&w, at(2026, 12, 8, 21, 30)), at(2026, 12, 9, 8, 0));
        // Saturday 12 December, 21:31: not Sunday, Monday.
        assert_eq!(next(&w, at(2026, 12, 12, 21, 31)), at(2026, 12, 14, 8, 0));
        // Thursday 24 December, 21:31: not Christmas Day, Saturday the 26th.
        assert_eq!(next(&w, at(2026, 12, 24, 21, 31)), at(2026, 12, 26, 8, 0));
        // Saturday 27 March 2027, 22:00: Sunday the 28th is Easter, Monday Easter Monday.
        assert_eq!(next(&w, at(2027, 3, 27, 22, 0)), at(2027, 3, 30, 8, 0));
    }

    #[test]
    fn presets_have_their_hours() {
        let at_2145 = at(2026, 12, 8, 21, 45);
        assert!(!Preset::FrAf2m2026
            .window(Duration::ZERO)
            .is_open(at_2145, &paris()));
        assert!(Preset::FrAf2m2024
            .window(Duration::ZERO)
            .is_open(at_2145, &paris()));
        assert!(!Preset::FrLegacy
            .window(Duration::ZERO)
            .is_open(at(2026, 12, 8, 20, 0), &paris()));
        assert_eq!("fr-af2m-2024".parse(), Ok(Preset::FrAf2m2024));
        assert!("fr-2025".parse::<Preset>().is_err());
    }

    #[test]
    fn easter_and_the_days_that_follow_it() {
        for (year, month, day) in [(2024, 3, 31), (2025, 4, 20), (2026, 4, 5), (2027, 3, 28)] {
            assert_eq!(easter(year), Some(date(year, month, day)), "{year}");
        }
        // 2026: Easter Monday 6 April, Ascension 14 May, Whit Monday 25 May.
        for (m, d) in [(4, 6), (5, 14), (5, 25), (1, 1), (7, 14), (11, 11)] {
            assert!(is_holiday(date(2026, m, d), Holidays::France), "{m}-{d}");
        }
        assert!(
            !is_holiday(date(2026, 4, 3), Holidays::France),
            "Good Friday"
        );
        assert!(is_holiday(date(2026, 4, 3), Holidays::AlsaceMoselle));
        assert!(is_holiday(date(2026, 12, 26), Holidays::AlsaceMoselle));
        assert!(is_holiday(date(2026, 12, 20), Holidays::Reunion));
        assert!(!is_holiday(date(2026, 12, 20), Holidays::France));
        assert!(!is_holiday(date(2026, 7, 14), Holidays::None));
    }

    #[test]
    fn openings_in_a_dst_gap_or_fold() {
        // A window opening at 02:30 every day. 29 March 2026, Paris: 02:00 → 03:00 (a gap);
        // 25 October 2026: 03:00 → 02:00 (02:30 happens twice).
        let w = Window {
            days: [true; 7],
            from: Time::constant(2, 30, 0, 0),
            until: Time::constant(5, 0, 0, 0),
            holidays: Holidays::None,
            spread: Duration::ZERO,
        };
        let gap = next(&w, at(2026, 3, 29, 1, 0));
        assert_eq!(
            gap.to_string(),
            "2026-03-29T01:30:00Z",
            "03:30 CEST, after the gap"
        );
        let fold = next(&w, at(2026, 10, 24, 23, 0));
        assert_eq!(
            fold.to_string(),
            "2026-10-25T00:30:00Z",
            "the first 02:30, CEST"
        );
    }

    #[test]
    fn a_window_in_the_persons_zone() {
        // 10:00 in Paris is 22:00 the evening before in Tahiti (UTC-10, no DST): closed there.
        let tahiti = TimeZone::get(zone_of("+68987123456").unwrap()).unwrap();
        let ten_in_paris = at(2026, 12, 8, 10, 0);
        assert!(af2m_2026().is_open(ten_in_paris, &paris()));
        assert!(!af2m_2026().is_open(ten_in_paris, &tahiti));
        // Réunion (UTC+4): 06:00 in Paris is 09:00 there.
        let reunion = TimeZone::get(zone_of("+262692123456").unwrap()).unwrap();
        assert!(af2m_2026().is_open(at(2026, 12, 8, 6, 0), &reunion));
        assert_eq!(zone_of("+262269123456"), Some("Indian/Mayotte"));
        assert_eq!(zone_of("+33612345678"), Some("Europe/Paris"));
        assert_eq!(zone_of("+15551234567"), None);
    }

    #[test]
    fn the_spread_is_fixed_by_the_id_and_bounded() {
        let w = Preset::FrAf2m2026.window(Duration::from_secs(20 * 60));
        let open = at(2026, 12, 8, 8, 0);
        let releases: Vec<Timestamp> = (1..=1000).map(|id| w.release_at(open, id)).collect();
        assert!(releases.iter().all(|r| *r >= open));
        let last = open
            .checked_add(jiff::SignedDuration::from_secs(20 * 60))
            .unwrap();
        assert!(releases.iter().all(|r| *r < last));
        // Spread over the 20 minutes, not bunched: each 5-minute quarter gets some.
        for quarter in 0..4 {
            let start = open
                .checked_add(jiff::SignedDuration::from_mins(5 * quarter))
                .unwrap();
            let end = start
                .checked_add(jiff::SignedDuration::from_mins(5))
                .unwrap();
            let n = releases
                .iter()
                .filter(|r| **r >= start && **r < end)
                .count();
            assert!((150..=350).contains(&n), "quarter {quarter}: {n}");
        }
        assert_eq!(w.release_at(open, 42), w.release_at(open, 42));
    }
}
