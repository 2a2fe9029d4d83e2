//! Campaign statistics: what became of a client's messages, per campaign, class and UTC day,
//! and what they cost. The counters live in the tree `campaign_stats` and change in the same
//! group commit as the messages they count, so that after a crash they still say what the
//! messages' states say. A message without a campaign counts under campaign `""`: the rows of
//! every campaign of a client together are all its traffic.
//!
//! This file owns the counting rules (which counters a change of a message bumps), the reads
//! (`Store::campaign_stats`, `Store::client_stats`) and the price handle the commit thread
//! reads costs with. The commit thread (`commit.rs`) tallies every new message (`accept`) and
//! every change (`plan_update`) with [`Tally`], and writes each row it touched once per batch,
//! read-modify-write, the batch's earlier requests included. The keys and values are
//! `layout.rs`'s. A row that cannot be read when it is updated is logged and counted afresh
//! from zero (the messages matter more than the counters); a failed read answers its error.
//!
//! The rules, each counted on the row of the day the change happened (UTC):
//!
//! | change of a message (a part of a long one counts alone) | counters                        |
//! |----------------------------------------------------------|---------------------------------|
//! | accepted (stored, its id given)                          | `accepted` +1, `segments` + its SMS, `cost_micro` + its estimate |
//! | first held by a sending window (at accept or dispatch)   | `deferred` +1                   |
//! | accepted by a carrier (its first carrier id)             | `sent` +1                       |
//! | ends DELIVERED                                           | `delivered` +1                  |
//! | ends UNDELIVERABLE                                       | `undelivered` +1                |
//! | ends EXPIRED (at the gateway or the carrier)             | `expired` +1                    |
//! | ends REJECTED because its number opted out               | `suppressed` +1                 |
//! | ends REJECTED otherwise (carrier or gateway)             | `rejected` +1                   |
//! | ends DELETED, ACCEPTED, UNKNOWN or SENT                  | none besides the above          |
//!
//! Cost: a message's estimate is its segments times its destination's price
//! ([`crate::price::PriceTable::cost`]; no price, no cost) when it is accepted. A message
//! costs only if a carrier accepted it: one that ends without a carrier id (suppressed,
//! refused by the carrier, expired or cancelled before it left, out of attempts) takes its
//! estimate back, at the price in force then. Both go on the row of the day the message was
//! accepted, so a campaign's cost is final once its last part has ended. A price changed by a
//! reload in between makes the correction at the new price (never below zero). Costs are in
//! the currency of `[[prices]]` as it is when read.

use super::counters::{Counters, Day, Row};
use super::engine::{Engine, Tree, CAMPAIGN_STATS};
use super::{layout, Error, Store};
use crate::config::Config;
use crate::message::{Class, Message, State};
use crate::{consent, numbering, sending_hours};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the commit thread finds the config in force for costs (`[[prices]]`, and
/// `[numbering]`, by which national numbers are priced), once per message counted: a reload's
/// new prices count from its next commit.
pub type PriceSource = Arc<dyn Fn() -> Arc<Config> + Send + Sync>;

/// What a change adds to a row: counters up, and cost taken back (a message that ended
/// without a carrier's acceptance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Delta {
    pub(super) added: Counters,
    pub(super) unsent_micro: u64,
}

impl Delta {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn absorb(&mut self, later: &Self) {
        self.added.add(&later.added);
        self.unsent_micro = self.unsent_micro.saturating_add(later.unsent_micro);
    }

    /// `row` with this change applied.
    pub(super) fn applied_to(&self, mut row: Counters) -> Counters {
        row.add(&self.added);
        row.cost_micro = row.cost_micro.saturating_sub(self.unsent_micro);
        row
    }
}

/// What the counting rules need to know of a message before a change: taken before the
/// update runs, compared with the message after.
#[derive(Clone, Copy, Debug)]
pub(super) struct Before {
    state: State,
    /// It had a carrier id.
    carried: bool,
    /// A window had held it.
    held: bool,
    history_len: usize,
}

impl Before {
    pub(super) fn of(message: &Message) -> Self {
        Self {
            state: message.state,
            carried: message.carrier.is_some(),
            held: message
                .history
                .iter()
                .any(|e| sending_hours::is_hold(&e.detail)),
            history_len: message.history.len(),
        }
    }
}

/// The rows a change of `message` bumps, by day, and by how much: the counting rules of the
/// module's table. `before` is `None` for a new message. `cost` prices a message (micro-units)
/// and is asked only when a cost is counted.
pub(super) fn bumps(
    before: Option<&Before>,
    message: &Message,
    cost: impl Fn(&Message) -> u64,
) -> SmallVec<[(Day, Delta); 2]> {
    let accepted_on = Day::of_ms(message.received_at);
    let new_events = message
        .history
        .get(before.map_or(0, |b| b.history_len)..)
        .unwrap_or_default();
    let happened_on = match before {
        None => accepted_on,
        // A state change always has its event (`plan_update` adds one if the update did not).
        Some(_) => new_events
            .last()
            .map_or_else(Day::today, |e| Day::of_ms(e.at)),
    };
    let mut event = Delta::default();
    let mut unsent_micro = 0;
    let counts = &mut event.added;
    if before.is_none() {
        counts.accepted = 1;
        counts.segments = u64::from(message.segments());
        counts.cost_micro = cost(message);
    }
    let was_held = before.is_some_and(|b| b.held);
    if !was_held && new_events.iter().any(|e| sending_hours::is_hold(&e.detail)) {
        counts.deferred = 1;
    }
    if message.carrier.is_some() && !before.is_some_and(|b| b.carried) {
        counts.sent = 1;
    }
    let ended = message.state.is_final() && before.is_none_or(|b| !b.state.is_final());
    if ended {
        let opted_out = || {
            message
                .history
                .last()
                .is_some_and(|e| consent::is_refusal(&e.detail))
        };
        match message.state {
            State::Delivered => counts.delivered = 1,
            State::Undeliverable => counts.undelivered = 1,
            State::Expired => counts.expired = 1,
            State::Rejected if message.carrier.is_none() && opted_out() => counts.suppressed = 1,
            State::Rejected => counts.rejected = 1,
            State::Deleted | State::Accepted | State::Unknown | State::Sent => {}
            State::Queued | State::Dispatched | State::Enroute => {}
        }
        if message.carrier.is_none() {
            unsent_micro = cost(message);
        }
    }
    let mut rows = SmallVec::new();
    if accepted_on == happened_on {
        event.unsent_micro = unsent_micro;
    } else if unsent_micro > 0 {
        let back = Delta {
            unsent_micro,
            ..Delta::default()
        };
        rows.push((accepted_on, back));
    }
    if !event.is_empty() {
        rows.push((happened_on, event));
    }
    rows
}

/// What a batch's requests add to the rows, by row key (`layout::stats_key`), until the
/// commit thread writes them.
#[derive(Default)]
pub(super) struct Tally(HashMap<Vec<u8>, Delta>);

impl Tally {
    /// Counts a new message.
    pub(super) fn accepted(
        &mut self,
        message: &Message,
        cost: impl Fn(&Message) -> u64,
    ) -> Result<(), Error> {
        self.count(None, message, cost)
    }

    /// Counts a change of a message; `before` was taken before the change.
    pub(super) fn updated(
        &mut self,
        before: &Before,
        message: &Message,
        cost: impl Fn(&Message) -> u64,
    ) -> Result<(), Error> {
        self.count(Some(before), message, cost)
    }

    fn count(
        &mut self,
        before: Option<&Before>,
        message: &Message,
        cost: impl Fn(&Message) -> u64,
    ) -> Result<(), Error> {
        for (day, delta) in bumps(before, message, cost) {
            let campaign = message.labels.campaign.as_deref().unwrap_or_default();
            let key = layout::stats_key(&message.client, campaign, message.class, day)?;
            self.0.entry(key).or_default().absorb(&delta);
        }
        Ok(())
    }

    /// Takes a later request's counts on top of these.
    pub(super) fn absorb(&mut self, later: Self) {
        for (key, delta) in later.0 {
            self.0.entry(key).or_default().absorb(&delta);
        }
    }

    /// The rows touched and what to add to each.
    pub(super) fn into_rows(self) -> impl Iterator<Item = (Vec<u8>, Delta)> {
        self.0.into_iter()
    }
}

/// The estimate of `message` under `config`: its segments times its destination's price
/// (read in E.164 as the HTTP API prices it), 0 when it has none.
pub(super) fn cost_micro(config: &Config, message: &Message) -> u64 {
    if config.prices.is_empty() {
        return 0;
    }
    let number = numbering::e164(&config.numbering, &message.destination);
    let destination = number.as_deref().unwrap_or(&message.destination.addr);
    config
        .prices
        .cost(destination, message.segments())
        .map_or(0, |money| money.amount.micros())
}

/// A row's counters as the commit thread updates them: zero when it has none yet, or when it
/// cannot be read (logged: see the module).
pub(super) fn row_for_update(engine: &Engine, key: &[u8]) -> Counters {
    let read = engine
        .get(Tree::CampaignStats, key)
        .map_err(Error::from)
        .and_then(|value| match value {
            Some(value) => layout::decode_stats(key, &value).map(|row| row.counters),
            None => Ok(Counters::default()),
        });
    read.unwrap_or_else(|e| {
        tracing::error!(
            tree = CAMPAIGN_STATS,
            error = %e,
            "store: a campaign stats row cannot be read; counting it afresh"
        );
        Counters::default()
    })
}

/// Rows read per scan of the tree: reads walk it a page at a time.
const PAGE: usize = 4096;

impl Store {
    /// The rows of `client`'s `campaign` (`""`: messages without one) from `since` to `until`
    /// (both included), by class then day. Empty if it has none.
    pub fn campaign_stats(
        &self,
        client: &str,
        campaign: &str,
        since: Day,
        until: Day,
    ) -> Result<Vec<Row>, Error> {
        let prefix = layout::stats_prefix(Some((client, Some(campaign))))?;
        self.stats_rows(&prefix, since, until)
    }

    /// Per client, class and day from `since` to `until`, summed over the client's campaigns
    /// (and messages without one): each row's `campaign` is `""`. `client` `None`: every
    /// client's, by client.
    pub fn client_stats(
        &self,
        client: Option<&str>,
        since: Day,
        until: Day,
    ) -> Result<Vec<Row>, Error> {
        let prefix = layout::stats_prefix(client.map(|c| (c, None)))?;
        let mut sums: std::collections::BTreeMap<(String, u8, Day), Counters> =
            std::collections::BTreeMap::new();
        for row in self.stats_rows(&prefix, since, until)? {
            let key = (row.client, row.class as u8, row.day);
            sums.entry(key).or_default().add(&row.counters);
        }
        Ok(sums
            .into_iter()
            .map(|((client, class, day), counters)| Row {
                client,
                campaign: String::new(),
                class: if class == Class::Marketing as u8 {
                    Class::Marketing
                } else {
                    Class::Transactional
                },
                day,
                counters,
            })
            .collect())
    }

    /// Every row under `prefix` with a day in `since..=until`, in key order.
    fn stats_rows(&self, prefix: &[u8], since: Day, until: Day) -> Result<Vec<Row>, Error> {
        let mut end = prefix.to_vec();
        // Past every key under the prefix: a key's next byte is at most 0xff, and no key is
        // this long (two names of at most 255 bytes, a class, a day).
        end.resize(prefix.len() + 2 * 256 + 8, 0xff);
        let mut from = prefix.to_vec();
        let mut rows = Vec::new();
        loop {
            let page = self
                .shared
                .engine
                .scan(Tree::CampaignStats, &from, &end, PAGE)?;
            let full = page.len() == PAGE;
            for (key, value) in &page {
                let row = layout::decode_stats(key, value)?;
                if (since..=until).contains(&row.day) {
                    rows.push(row);
                }
            }
            match page.last() {
                // The next key after the last one read.
                Some((last, _)) if full => {
                    from.clone_from(last);
                    from.push(0);
                }
                _ => return Ok(rows),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::now_ms;
    use crate::message::{CarrierRef, Event, Labels, MessageId};
    use crate::store::counters::DAY_MS;

    const PRICE: u64 = 45_000;

    fn cost(_: &Message) -> u64 {
        PRICE
    }

    /// A queued message accepted on day 20_000 at noon.
    fn message() -> Message {
        Message {
            received_at: 20_000 * DAY_MS + DAY_MS / 2,
            labels: Labels {
                campaign: Some("promo".into()),
                ..Labels::default()
            },
            ..Message::example(MessageId::new(1))
        }
    }

    fn day(n: u32) -> Day {
        Day::from_number(n)
    }

    /// `message` moved to `state` at `at` with `detail`, as the gateway's updates do.
    fn moved(message: &Message, state: State, at: i64, detail: &str) -> Message {
        let mut m = message.clone();
        m.transition(state, at, detail).unwrap();
        m
    }

    fn carried(message: &Message, at: i64) -> Message {
        let mut m = moved(message, State::Enroute, at, "accepted by sim as 1");
        m.carrier = Some(CarrierRef {
            link: "sim".into(),
            carrier_id: "1".into(),
        });
        m
    }

    fn only(rows: SmallVec<[(Day, Delta); 2]>) -> (Day, Delta) {
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows[0]
    }

    #[test]
    fn a_new_message_counts_accepted_segments_and_its_estimate() {
        let m = message();
        let (on, delta) = only(bumps(None, &m, cost));
        assert_eq!(on, day(20_000));
        let want = Counters {
            accepted: 1,
            segments: 1,
            cost_micro: PRICE,
            ..Counters::default()
        };
        assert_eq!(delta.added, want);
        assert_eq!(delta.unsent_micro, 0);
        // A long message_payload counts its SMS.
        let long = Message {
            short_message: vec![],
            tlvs: vec![(smpp_proto::Tag::MESSAGE_PAYLOAD.0, vec![b'a'; 307])],
            ..message()
        };
        assert_eq!(only(bumps(None, &long, cost)).1.added.segments, 3);
    }

    #[test]
    fn a_delivered_message_costs_its_estimate() {
        let m = message();
        let next_day = 20_001 * DAY_MS + 5;
        let sent = carried(&m, m.received_at + 1000);
        let (on, delta) = only(bumps(Some(&Before::of(&m)), &sent, cost));
        assert_eq!((on, delta.added.sent), (day(20_000), 1));
        let done = moved(&sent, State::Delivered, next_day, "DELIVRD");
        let (on, delta) = only(bumps(Some(&Before::of(&sent)), &done, cost));
        // Counted on the day of the receipt; the cost stays.
        assert_eq!(on, day(20_001));
        let want = Counters {
            delivered: 1,
            ..Counters::default()
        };
        assert_eq!((delta.added, delta.unsent_micro), (want, 0));
    }

    #[test]
    fn a_message_that_ends_without_a_carrier_takes_its_cost_back_on_its_accept_day() {
        let m = message();
        let later = 20_003 * DAY_MS;
        let refused = moved(&m, State::Rejected, later, "ESME_RSUBMITFAIL from sim");
        let rows = bumps(Some(&Before::of(&m)), &refused, cost);
        let back = Delta {
            unsent_micro: PRICE,
            ..Delta::default()
        };
        let rejected = Delta {
            added: Counters {
                rejected: 1,
                ..Counters::default()
            },
            ..Delta::default()
        };
        assert_eq!(
            rows.as_slice(),
            [(day(20_000), back), (day(20_003), rejected)]
        );
        // The same day: one row.
        let expired = moved(&m, State::Expired, m.received_at + 1, "validity passed");
        let (on, delta) = only(bumps(Some(&Before::of(&m)), &expired, cost));
        assert_eq!(
            (on, delta.added.expired, delta.unsent_micro),
            (day(20_000), 1, PRICE)
        );
        // Cancelled and out of attempts: no outcome counter of their own, cost back all the same.
        for (state, counted) in [(State::Deleted, 0), (State::Undeliverable, 1)] {
            let ended = moved(&m, state, m.received_at + 1, "x");
            let (_, delta) = only(bumps(Some(&Before::of(&m)), &ended, cost));
            assert_eq!(delta.added.undelivered, counted, "{state:?}");
            assert_eq!(delta.unsent_micro, PRICE, "{state:?}");
        }
    }

    #[test]
    fn an_opt_out_is_suppressed_not_rejected() {
        let m = message();
        let detail = "+447700900123 opted out of marketing messages (client:shop, operator)";
        let ended = moved(&m, State::Rejected, m.received_at + 1, detail);
        let (_, delta) = only(bumps(Some(&Before::of(&m)), &ended, cost));
        let want = Counters {
            suppressed: 1,
            ..Counters::default()
        };
        assert_eq!((delta.added, delta.unsent_micro), (want, PRICE));
        // Accepted and suppressed in one request: the estimate and its correction cancel.
        let (_, delta) = only(bumps(None, &ended, cost));
        assert_eq!(delta.applied_to(Counters::default()).cost_micro, 0);
        assert_eq!(delta.added.suppressed, 1);
    }

    #[test]
    fn a_hold_counts_once_and_changes_without_news_count_nothing() {
        let m = message();
        let hold = "held by sending window fr until 2026-12-07T08:00:00Z";
        let mut held = m.clone();
        held.history.push(Event {
            at: m.received_at,
            state: State::Queued,
            detail: hold.into(),
        });
        // Held at accept.
        assert_eq!(only(bumps(None, &held, cost)).1.added.deferred, 1);
        // Held again at dispatch: not again.
        let mut again = held.clone();
        again.history.push(Event {
            at: m.received_at + 5,
            state: State::Queued,
            detail: hold.into(),
        });
        assert!(bumps(Some(&Before::of(&held)), &again, cost).is_empty());
        // Held first at dispatch.
        let mut first = m.clone();
        first.history.push(again.history[1].clone());
        assert_eq!(
            only(bumps(Some(&Before::of(&m)), &first, cost))
                .1
                .added
                .deferred,
            1
        );
        // A retry scheduled, a dispatch: nothing to count.
        let mut retried = m.clone();
        retried.attempts = 1;
        retried.schedule_at = Some(m.received_at + 100);
        assert!(bumps(Some(&Before::of(&m)), &retried, cost).is_empty());
        let dispatched = moved(&m, State::Dispatched, m.received_at + 1, "");
        assert!(bumps(Some(&Before::of(&m)), &dispatched, cost).is_empty());
    }

    #[test]
    fn a_message_sent_without_receipt_counts_sent_and_keeps_its_cost() {
        let m = message();
        let mut sent = moved(&m, State::Sent, m.received_at + 1, "no receipt asked");
        sent.carrier = Some(CarrierRef {
            link: "sim".into(),
            carrier_id: "7".into(),
        });
        let (_, delta) = only(bumps(Some(&Before::of(&m)), &sent, cost));
        let want = Counters {
            sent: 1,
            ..Counters::default()
        };
        assert_eq!((delta.added, delta.unsent_micro), (want, 0));
    }

    #[test]
    fn deltas_apply_and_never_go_below_zero() {
        let row = Counters {
            accepted: 2,
            cost_micro: 10,
            ..Counters::default()
        };
        let delta = Delta {
            added: Counters {
                accepted: 1,
                delivered: 1,
                ..Counters::default()
            },
            unsent_micro: 50,
        };
        let after = delta.applied_to(row);
        assert_eq!(
            (after.accepted, after.delivered, after.cost_micro),
            (3, 1, 0)
        );
        assert_eq!(Counters::from_slice(&after.to_array()), after);
        assert_eq!(Counters::from_slice(&[7]).accepted, 7);
    }

    #[test]
    fn delivery_rate_leaves_suppressions_out() {
        let mut c = Counters {
            delivered: 3,
            undelivered: 1,
            suppressed: 10,
            ..Counters::default()
        };
        assert_eq!(c.delivery_rate(), Some(0.75));
        c.expired = 1;
        c.rejected = 1;
        assert_eq!(c.delivery_rate(), Some(0.5));
        assert_eq!(Counters::default().delivery_rate(), None);
    }

    /// Through the store: every accept and update counted in its own commit, earlier requests
    /// of a batch seen by later ones, rows read back by campaign and by client, and the same
    /// after a crash (the journal replayed).
    #[tokio::test]
    async fn the_store_counts_in_the_commit_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::tests::open(&dir);
        let now = now_ms();
        let labelled = |campaign: Option<&str>, class| Message {
            received_at: now,
            class,
            labels: Labels {
                campaign: campaign.map(str::to_owned),
                ..Labels::default()
            },
            ..Message::example(store.allocate_id())
        };
        let promo: Vec<Message> = (0..3)
            .map(|_| labelled(Some("promo"), Class::Marketing))
            .collect();
        let plain = labelled(None, Class::Transactional);
        // Two accepts racing into one batch: both counted.
        let (a, b) = tokio::join!(
            store.accept(promo[..2].to_vec()),
            store.accept(vec![promo[2].clone(), plain.clone()])
        );
        a.unwrap();
        b.unwrap();
        let carrier = |id: &str| CarrierRef {
            link: "sim".into(),
            carrier_id: id.into(),
        };
        for (n, m) in promo.iter().enumerate() {
            let ref_ = carrier(&n.to_string());
            store
                .update(m.id, move |m| {
                    m.carrier = Some(ref_);
                    m.transition(State::Enroute, now_ms(), "accepted")
                })
                .await
                .unwrap();
        }
        let end = |id, state| store.update(id, move |m| m.transition(state, now_ms(), "r"));
        end(promo[0].id, State::Delivered).await.unwrap();
        end(promo[1].id, State::Undeliverable).await.unwrap();
        end(plain.id, State::Rejected).await.unwrap();
        // Refused updates count nothing.
        assert!(end(plain.id, State::Delivered).await.is_err());

        let today = Day::today();
        let check = |store: &Store| {
            let rows = store
                .campaign_stats("shop", "promo", today.saturating_sub(1), today)
                .unwrap();
            assert_eq!(rows.len(), 1, "{rows:?}");
            let want = Counters {
                accepted: 3,
                segments: 3,
                sent: 3,
                delivered: 1,
                undelivered: 1,
                ..Counters::default()
            };
            assert_eq!(rows[0].counters, want);
            assert_eq!(rows[0].class, Class::Marketing);
            let none = store.campaign_stats("shop", "", today, today).unwrap();
            assert_eq!(
                (none[0].counters.accepted, none[0].counters.rejected),
                (1, 1)
            );
            // Per client: each class on its own, the campaigns summed.
            let summary = store.client_stats(Some("shop"), today, today).unwrap();
            let accepted: Vec<(Class, u64)> = summary
                .iter()
                .map(|r| (r.class, r.counters.accepted))
                .collect();
            assert_eq!(accepted, [(Class::Transactional, 1), (Class::Marketing, 3)]);
            assert_eq!(store.client_stats(None, today, today).unwrap(), summary);
            assert!(store
                .client_stats(Some("other"), today, today)
                .unwrap()
                .is_empty());
            assert!(store
                .campaign_stats("shop", "promo", Day::MIN, today.saturating_sub(1))
                .unwrap()
                .is_empty());
        };
        check(&store);
        store.close_as_crashed().await.unwrap();
        drop(store);
        let store = crate::store::tests::open(&dir);
        check(&store);
    }

    /// The commit thread costs at the prices in force: a new table counts from then on, and a
    /// message that ends unsent takes back what it costs then.
    #[tokio::test]
    async fn costs_follow_the_prices_in_force() {
        let table = |price: &str| {
            let text = format!(
                "[[prices]]\nprefix = \"44\"\nper_segment = \"{price}\"\ncurrency = \"EUR\"\n"
            );
            Arc::new(Config::parse(&text).unwrap())
        };
        let live = Arc::new(arc_swap::ArcSwap::from(table("0.03")));
        let prices: PriceSource = {
            let live = Arc::clone(&live);
            Arc::new(move || live.load_full())
        };
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::tests::open_priced(&dir, prices);
        let new = |store: &Store| Message {
            received_at: now_ms(),
            ..Message::example(store.allocate_id())
        };
        let (first, second) = (new(&store), new(&store));
        store.accept(vec![first.clone()]).await.unwrap();
        live.store(table("0.05"));
        store.accept(vec![second]).await.unwrap();
        let cost = |store: &Store| {
            let today = Day::today();
            let rows = store.campaign_stats("shop", "", today, today).unwrap();
            rows.iter().map(|r| r.counters.cost_micro).sum::<u64>()
        };
        assert_eq!(cost(&store), 30_000 + 50_000);
        // Cancelled before it left, the first takes back its cost at the price now: the
        // documented shift when prices change between a message's accept and its end.
        store.cancel(first.id).await.unwrap();
        assert_eq!(cost(&store), 30_000 + 50_000 - 50_000);
    }

    #[test]
    fn days_read_and_show_as_dates() {
        assert_eq!(Day::of_ms(0).to_string(), "1970-01-01");
        assert_eq!(Day::of_ms(DAY_MS - 1), Day::from_number(0));
        assert_eq!(Day::of_ms(-1), Day::MIN);
        let day: Day = "2026-12-06".parse().unwrap();
        assert_eq!(day.to_string(), "2026-12-06");
        assert_eq!(Day::of_ms(1_796_515_200_000), day);
        assert!("2026-13-01".parse::<Day>().is_err());
        assert!("1969-12-31".parse::<Day>().is_err());
        assert!("7d".parse::<Day>().is_err());
        assert_eq!(day.saturating_sub(1).to_string(), "2026-12-05");
    }
}
