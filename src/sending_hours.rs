//! Sending hours: `[[window_policies]]` applied to messages. A message whose class and
//! destination a policy names waits for its window, in the destination's time zone (by its
//! number) or the window's own: at accept its `schedule_at` moves to the next opening plus its
//! spread, and at dispatch it is held again if the window closed while it waited. It is never
//! dropped; one whose validity ends before the opening ends EXPIRED instead.
//!
//! Called by `esme/submit.rs` (accept) and `carrier/dispatch.rs`. The clock is the caller's
//! (`now_ms`), so that tests choose the hour.

use crate::config::{Config, SendingWindow};
use crate::message::Message;
use crate::numbering;
use crate::sync::lock;
use crate::windows;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The receipt `err` of a message ended EXPIRED because its validity ends before its window
/// opens.
pub const ERR_TOO_LATE: u32 = 902;

/// When `message` leaves, if the last line of its history is a hold by a window.
pub fn held_until(message: &Message) -> Option<i64> {
    let last = message.history.last()?;
    is_hold(&last.detail).then_some(message.schedule_at)?
}

/// A message held by a window: until when, and by which window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// When it may leave, unix ms (the opening plus its spread).
    pub until: i64,
    /// The window's name, for its history.
    pub window: String,
}

/// How the history line of a hold starts ([`Hold::detail`], [`is_hold`]).
const HOLD_DETAIL: &str = "held by sending window ";

impl Hold {
    /// The history line of a message held.
    pub fn detail(&self) -> String {
        format!(
            "{HOLD_DETAIL}{} until {}",
            self.window,
            Timestamp::from_millisecond(self.until)
                .map_or_else(|_| self.until.to_string(), |t| t.to_string())
        )
    }
}

/// Whether a history line says a window held the message ([`Hold::detail`]): the campaign
/// counters count a message deferred by it.
pub fn is_hold(detail: &str) -> bool {
    detail.starts_with(HOLD_DETAIL)
}

/// Whether `message` must wait at `now_ms` (or at its own `schedule_at`, if later), and until
/// when. `None`: it may leave then, as far as sending hours go.
pub fn hold(config: &Config, message: &Message, now_ms: i64) -> Option<Hold> {
    let (window, zone) = window_for(config, message)?;
    let start = message.schedule_at.map_or(now_ms, |at| at.max(now_ms));
    let start = Timestamp::from_millisecond(start).ok()?;
    let opening = window.window.next_open(start, &zone)?;
    if opening <= start {
        return None;
    }
    let release = window.window.release_at(opening, spread_key(message));
    Some(Hold {
        until: release.as_millisecond(),
        window: window.name.clone(),
    })
}

/// The window of the first policy naming the message's class and destination, with the zone
/// it is read in. `None` without one, or when the destination's zone is not known.
fn window_for<'c>(config: &'c Config, message: &Message) -> Option<(&'c SendingWindow, TimeZone)> {
    // Policies name international prefixes: a national form is read into E.164 first.
    let e164 = numbering::e164(&config.numbering, &message.destination);
    let destination = e164
        .as_deref()
        .unwrap_or(&message.destination.addr)
        .trim_start_matches('+');
    let policy = config.window_policies.iter().find(|p| {
        p.class == message.class
            && (p.destinations.is_empty()
                || p.destinations
                    .iter()
                    .any(|d| destination.starts_with(d.as_str())))
    })?;
    let window = config.sending_windows.get(policy.window)?;
    let zone = match &window.zone {
        Some(zone) => zone.clone(),
        None => windows::zone_of(e164.as_deref()?)?.to_owned(),
    };
    Some((window, TimeZone::get(&zone).ok()?))
}

/// What fixes a message's spread: its id, or for a part of a long message the whole message
/// (destination and reference), so that its parts leave together.
fn spread_key(message: &Message) -> u64 {
    match concat_reference(message) {
        Some(reference) => {
            let mut key = u64::from(reference);
            for b in message.destination.addr.bytes() {
                key = key.wrapping_mul(31).wrapping_add(u64::from(b));
            }
            key
        }
        None => message.id.as_u64(),
    }
}

/// The reference of a long message's part: its UDH concatenation IE, or its `sar_msg_ref_num`.
fn concat_reference(message: &Message) -> Option<u16> {
    message.part().map(|part| part.reference())
}

/// How long the decision on one part of a long message holds for its other parts: they come
/// (and are dispatched) within moments of each other.
const GROUP_DECISION_MS: i64 = 10 * 60 * 1000;
/// Most long messages remembered; beyond it the memory starts afresh.
const GROUPS_MAX: usize = 100_000;

/// The decisions on the long messages seen lately, so that all parts of one are decided
/// together (never part 1 at 21:29 and part 2 the next morning). Process-wide: accept and
/// dispatch share it. In memory only: after a restart, parts are decided afresh (and, since
/// they share their spread, still leave together unless the window closes between them).
static GROUPS: LazyLock<Mutex<HashMap<GroupKey, Decision>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A long message: client, source, destination, concatenation reference.
type GroupKey = (String, String, String, u16);

#[derive(Clone)]
struct Decision {
    at: i64,
    hold: Option<Hold>,
}

/// [`hold`], with the parts of a long message decided together: the first part's decision
/// (made within [`GROUP_DECISION_MS`]) stands for the others.
pub fn hold_together(config: &Config, message: &Message, now_ms: i64) -> Option<Hold> {
    // Every message passes here at accept and at dispatch: most are named by no policy.
    if !config
        .window_policies
        .iter()
        .any(|p| p.class == message.class)
    {
        return None;
    }
    let Some(reference) = concat_reference(message) else {
        return hold(config, message, now_ms);
    };
    let key = (
        message.client.clone(),
        message.source.addr.clone(),
        message.destination.addr.clone(),
        reference,
    );
    let mut groups = lock(&GROUPS);
    if let Some(decision) = groups.get(&key) {
        if now_ms.saturating_sub(decision.at) < GROUP_DECISION_MS {
            return decision.hold.clone();
        }
    }
    if groups.len() >= GROUPS_MAX {
        groups.clear();
    }
    let decided = hold(config, message, now_ms);
    groups.insert(
        key,
        Decision {
            at: now_ms,
            hold: decided.clone(),
        },
    );
    decided
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Address, Class, MessageId};
    use jiff::civil::date;

    fn config() -> Config {
        let text = "[numbering]\ndefault_country = \"FR\"\n\
                    [[sending_windows]]\nname = \"fr\"\npreset = \"fr-af2m-2026\"\nspread = \"0s\"\n\
                    [[window_policies]]\nclass = \"marketing\"\ndestinations = [\"+33\", \"262\"]\n\
                    window = \"fr\"\n";
        Config::parse(text).unwrap()
    }

    /// Unix ms of `y-m-d h:mi` in `zone`.
    fn ms(zone: &str, y: i16, m: i8, d: i8, h: i8, mi: i8) -> i64 {
        date(y, m, d)
            .at(h, mi, 0, 0)
            .in_tz(zone)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    fn promo(to: &str, ton: u8) -> Message {
        Message {
            class: Class::Marketing,
            destination: Address {
                ton,
                npi: 1,
                addr: to.into(),
            },
            ..Message::example(MessageId::new(7))
        }
    }

    #[test]
    fn marketing_at_21_31_in_paris_waits_for_08_00() {
        let config = config();
        let monday_2131 = ms("Europe/Paris", 2026, 12, 7, 21, 31);
        let held = hold(&config, &promo("33612345678", 1), monday_2131).unwrap();
        assert_eq!(held.until, ms("Europe/Paris", 2026, 12, 8, 8, 0));
        assert_eq!(held.window, "fr");
        assert!(
            held.detail().contains("2026-12-08T07:00:00Z"),
            "{}",
            held.detail()
        );
        // A national form of the same number is the same person, in the same zone.
        assert_eq!(
            hold(&config, &promo("0612345678", 2), monday_2131).map(|h| h.until),
            Some(held.until)
        );
        // Transactional is never held; open hours do not hold.
        let order = Message {
            class: Class::Transactional,
            ..promo("33612345678", 1)
        };
        assert_eq!(hold(&config, &order, monday_2131), None);
        let noon = ms("Europe/Paris", 2026, 12, 8, 12, 0);
        assert_eq!(hold(&config, &promo("33612345678", 1), noon), None);
        // No policy names the UK.
        assert_eq!(hold(&config, &promo("447700900123", 1), monday_2131), None);
    }

    #[test]
    fn the_window_is_read_in_the_persons_zone_and_after_the_clients_schedule() {
        let config = config();
        // 06:00 in Paris is 09:00 in Réunion: open there, not in Paris.
        let six_in_paris = ms("Europe/Paris", 2026, 12, 8, 6, 0);
        assert_eq!(hold(&config, &promo("262692123456", 1), six_in_paris), None);
        assert!(hold(&config, &promo("33612345678", 1), six_in_paris).is_some());
        // A client's schedule_at inside the window, later than now: not held.
        let scheduled = Message {
            schedule_at: Some(ms("Europe/Paris", 2026, 12, 8, 10, 0)),
            ..promo("33612345678", 1)
        };
        assert_eq!(hold(&config, &scheduled, six_in_paris), None);
        // One scheduled at 23:00: held to the next morning.
        let late = Message {
            schedule_at: Some(ms("Europe/Paris", 2026, 12, 8, 23, 0)),
            ..promo("33612345678", 1)
        };
        let held = hold(&config, &late, six_in_paris).unwrap();
        assert_eq!(held.until, ms("Europe/Paris", 2026, 12, 9, 8, 0));
    }

    #[test]
    fn the_parts_of_a_long_message_are_decided_together() {
        let config = config();
        let part = |id, seq: u8| Message {
            id: MessageId::new(id),
            client: "together".into(),
            esm_class: 0x40,
            short_message: [&[5, 0, 3, 0x77, 2, seq][..], b"text"].concat(),
            ..promo("33612345678", 1)
        };
        // Part 1 a second before 21:30 goes; part 2 a second after goes too.
        let before = ms("Europe/Paris", 2026, 12, 8, 21, 29) + 59_000;
        assert_eq!(hold_together(&config, &part(20, 1), before), None);
        assert_eq!(hold_together(&config, &part(21, 2), before + 2_000), None);
        // Alone, the second part would have been held to the morning.
        assert!(hold(&config, &part(21, 2), before + 2_000).is_some());
        // Another long message after the close is held, all of it.
        let after = ms("Europe/Paris", 2026, 12, 8, 21, 45);
        let other = |id, seq: u8| Message {
            short_message: [&[5, 0, 3, 0x78, 2, seq][..], b"text"].concat(),
            ..part(id, seq)
        };
        let first = hold_together(&config, &other(30, 1), after).unwrap();
        assert_eq!(
            hold_together(&config, &other(31, 2), after + 1_000),
            Some(first)
        );
    }

    #[test]
    fn the_parts_of_a_long_message_share_their_spread() {
        let text = "[[sending_windows]]\nname = \"w\"\npreset = \"fr-legacy\"\nspread = \"20m\"\n\
                    [[window_policies]]\nclass = \"marketing\"\nwindow = \"w\"\n";
        let config = Config::parse(text).unwrap();
        let night = ms("Europe/Paris", 2026, 12, 7, 23, 0);
        let part = |id, seq: u8| Message {
            id: MessageId::new(id),
            esm_class: 0x40,
            short_message: [&[5, 0, 3, 0x42, 2, seq][..], b"text"].concat(),
            ..promo("33612345678", 1)
        };
        let first = hold(&config, &part(10, 1), night).unwrap();
        let second = hold(&config, &part(11, 2), night).unwrap();
        assert_eq!(first.until, second.until);
        // Whole messages spread by id.
        let spreads: std::collections::HashSet<i64> = (1..50)
            .map(|id| {
                let m = Message {
                    id: MessageId::new(id),
                    ..promo("33612345678", 1)
                };
                hold(&config, &m, night).unwrap().until
            })
            .collect();
        assert!(spreads.len() > 40);
    }
}
