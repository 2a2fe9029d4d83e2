//! Priority lanes: which lane of a route queue a dispatcher takes its next message from, and
//! the caps on marketing. Transactional goes first; while both lanes wait, marketing still gets
//! `marketing_min_share` of the sends, so an order confirmation never waits behind a campaign
//! and a flood of confirmations cannot starve a campaign. Marketing is capped per route
//! (`marketing_throughput`) and per campaign (the client's `campaign_throughput`), both in
//! segments: a capped campaign waits while others and transactional messages go.

use crate::message::{Class, Message};
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

type NotUntil = governor::NotUntil<<DefaultClock as Clock>::Instant>;

/// Marketing's share of the sends while both lanes wait. Counted in credit: every
/// transactional send that made marketing wait earns it `share` points; a marketing send costs
/// `100 - share`. At 10 %, one marketing message goes after nine transactional ones.
#[derive(Debug)]
pub(super) struct Share {
    credit: u32,
}

impl Share {
    pub(super) fn new() -> Self {
        Self { credit: 0 }
    }

    /// The lane to take the next message from, given which lanes have one ready.
    pub(super) fn pick(&self, share: u8, transactional: bool, marketing: bool) -> Option<Class> {
        match (transactional, marketing) {
            (true, true) if self.credit >= cost(share) => Some(Class::Marketing),
            (true, _) => Some(Class::Transactional),
            (false, true) => Some(Class::Marketing),
            (false, false) => None,
        }
    }

    /// A message of `lane` went; `contended` if the other lane had one ready too.
    pub(super) fn sent(&mut self, share: u8, lane: Class, contended: bool) {
        match lane {
            // At most one marketing send is ever owed: credit does not pile up into a burst.
            Class::Transactional if contended => {
                self.credit = (self.credit + u32::from(share)).min(cost(share));
            }
            Class::Transactional => {}
            Class::Marketing => self.credit = self.credit.saturating_sub(cost(share)),
        }
    }
}

/// What a marketing send costs in credit.
fn cost(share: u8) -> u32 {
    100 - u32::from(share.min(100))
}

/// A route's `marketing_throughput`, rebuilt when a reload changes it.
pub(super) struct MarketingCap {
    rate: Option<NonZeroU32>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl MarketingCap {
    pub(super) fn new() -> Self {
        Self {
            rate: None,
            limiter: None,
        }
    }

    /// Takes `rate` if it changed.
    pub(super) fn set(&mut self, rate: Option<NonZeroU32>) {
        if rate != self.rate {
            self.rate = rate;
            self.limiter = rate.map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        }
    }

    /// Takes `segments` from the cap, or says how long until it has them.
    pub(super) fn take(&self, segments: u32) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => take(segments, limiter.check_n(cells(segments, self.rate))),
        }
    }
}

/// Every client's campaigns' caps (`campaign_throughput`), shared by all routes: a campaign
/// is capped however many routes it takes.
#[derive(Default)]
pub(crate) struct CampaignCaps {
    /// By client: the rate its limiter was built with, and the limiter keyed by campaign.
    clients: DashMap<String, (NonZeroU32, Arc<DefaultKeyedRateLimiter<String>>)>,
}

impl CampaignCaps {
    /// Takes the message's segments from its campaign's cap (`rate`, its client's), or says
    /// how long until the cap has them. A message of no campaign, or of a client without
    /// a cap, is not capped.
    pub(super) fn take(&self, message: &Message, rate: Option<NonZeroU32>) -> Result<(), Duration> {
        let (Some(rate), Some(campaign)) = (rate, &message.labels.campaign) else {
            return Ok(());
        };
        // The client's limiter as it is, without a key copy per message; built anew when its
        // rate changed.
        let current = self
            .clients
            .get(&message.client)
            .filter(|entry| entry.0 == rate)
            .map(|entry| Arc::clone(&entry.1));
        let limiter = current.unwrap_or_else(|| {
            let limiter = Arc::new(RateLimiter::keyed(Quota::per_second(rate)));
            self.clients
                .insert(message.client.clone(), (rate, Arc::clone(&limiter)));
            limiter
        });
        let segments = message.segments();
        let outcome = limiter.check_key_n(campaign, cells(segments, Some(rate)));
        // Campaign names are the clients' and unbounded: the ones whose caps are full again
        // go now and then.
        if limiter.len() > 1024 {
            limiter.retain_recent();
        }
        take(segments, outcome)
    }
}

/// A message's segments as cells of a cap of `rate` per second: never more than the cap holds
/// at once, so a message longer than a second's worth still goes, alone.
fn cells(segments: u32, rate: Option<NonZeroU32>) -> NonZeroU32 {
    let burst = rate.map_or(u32::MAX, NonZeroU32::get);
    NonZeroU32::new(segments.min(burst)).unwrap_or(NonZeroU32::MIN)
}

fn take(
    segments: u32,
    outcome: Result<Result<(), NotUntil>, governor::InsufficientCapacity>,
) -> Result<(), Duration> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        // `cells` keeps within the cap's burst; should it not, the message waits a second.
        Err(_) => {
            tracing::debug!(segments, "more segments than a marketing cap holds");
            Err(Duration::from_secs(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Labels, MessageId};

    /// Of `n` sends with both lanes always ready, how many were marketing.
    fn marketing_of(share: u8, n: usize) -> usize {
        let mut lanes = Share::new();
        let mut marketing = 0;
        for _ in 0..n {
            let lane = lanes.pick(share, true, true).unwrap();
            marketing += usize::from(lane == Class::Marketing);
            lanes.sent(share, lane, true);
        }
        marketing
    }

    #[test]
    fn marketing_gets_its_share_while_both_wait_and_all_when_alone() {
        assert_eq!(marketing_of(10, 1000), 100);
        assert_eq!(marketing_of(25, 1000), 250);
        assert_eq!(marketing_of(50, 1000), 500);
        assert_eq!(marketing_of(0, 1000), 0, "no share: strict priority");
        assert_eq!(marketing_of(100, 1000), 1000);

        let mut lanes = Share::new();
        assert_eq!(lanes.pick(10, false, true), Some(Class::Marketing));
        assert_eq!(lanes.pick(10, true, false), Some(Class::Transactional));
        assert_eq!(lanes.pick(10, false, false), None);
        // Transactional alone for a long time owes marketing nothing afterwards.
        for _ in 0..1000 {
            lanes.sent(10, Class::Transactional, false);
        }
        assert_eq!(lanes.pick(10, true, true), Some(Class::Transactional));
        // Contended for a long time, marketing is owed one send, not a burst.
        for _ in 0..1000 {
            lanes.sent(10, Class::Transactional, true);
        }
        assert_eq!(lanes.pick(10, true, true), Some(Class::Marketing));
        lanes.sent(10, Class::Marketing, true);
        assert_eq!(lanes.pick(10, true, true), Some(Class::Transactional));
    }

    #[test]
    fn marketing_caps_count_segments() {
        let mut cap = MarketingCap::new();
        assert_eq!(cap.take(1000), Ok(()), "no cap");
        cap.set(NonZeroU32::new(10));
        assert_eq!(cap.take(4), Ok(()));
        assert_eq!(cap.take(6), Ok(()));
        let wait = cap.take(3).unwrap_err();
        assert!(wait > Duration::from_millis(200) && wait <= Duration::from_millis(300));
        // Longer than the cap holds at once: goes alone, once the cap is full again.
        cap.set(NonZeroU32::new(2));
        assert_eq!(cap.take(5), Ok(()));
        assert!(cap.take(1).is_err());
    }

    #[test]
    fn campaigns_are_capped_apart() {
        let caps = CampaignCaps::default();
        let rate = NonZeroU32::new(2);
        let of = |campaign: Option<&str>| Message {
            labels: Labels {
                campaign: campaign.map(str::to_owned),
                ..Labels::default()
            },
            ..Message::example(MessageId::new(1))
        };
        let (spring, summer, none) = (of(Some("spring")), of(Some("summer")), of(None));
        assert_eq!(caps.take(&spring, rate), Ok(()));
        assert_eq!(caps.take(&spring, rate), Ok(()));
        assert!(caps.take(&spring, rate).is_err());
        assert_eq!(caps.take(&summer, rate), Ok(()), "another campaign");
        for _ in 0..10 {
            assert_eq!(caps.take(&none, rate), Ok(()), "no campaign");
            assert_eq!(caps.take(&spring, None), Ok(()), "a client without a cap");
        }
        // A reload that raises the cap starts it afresh.
        assert_eq!(caps.take(&spring, NonZeroU32::new(5)), Ok(()));
    }
}
