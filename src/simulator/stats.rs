//! The simulator's counters: what the submit path, the faults, receipt deliveries and MO bump,
//! and what [`SimulatorHandle`] reads back — one by one for tests, in one line
//! ([`SimulatorHandle::stats`]) for `smppd simulate`'s stats output.

use super::SimulatorHandle;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything counted since start; relaxed atomics, read for reports only.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) submits_received: AtomicU64,
    pub(super) submits_throttled: AtomicU64,
    pub(super) submits_withheld: AtomicU64,
    pub(super) connections_dropped: AtomicU64,
    pub(super) garbage_sent: AtomicU64,
    pub(super) receipts_sent: AtomicU64,
    pub(super) receipts_dropped: AtomicU64,
    pub(super) mo_sent: AtomicU64,
    /// The most sessions one system_id had bound at once.
    pub(super) binds_peak: AtomicU64,
    /// Binds refused with ESME_RALYBND by `max_binds`.
    pub(super) binds_refused: AtomicU64,
}

impl SimulatorHandle {
    /// submit_sm, data_sm and submit_multi requests received, whatever their answer.
    pub fn submits_received(&self) -> u64 {
        self.counter(|c| &c.submits_received)
    }

    /// Submits answered ESME_RTHROTTLED (`throttle`).
    pub fn submits_throttled(&self) -> u64 {
        self.counter(|c| &c.submits_throttled)
    }

    /// Submits never answered (`withhold_percent`).
    pub fn submits_withheld(&self) -> u64 {
        self.counter(|c| &c.submits_withheld)
    }

    /// Sessions closed abruptly (`drop_every`).
    pub fn connections_dropped(&self) -> u64 {
        self.counter(|c| &c.connections_dropped)
    }

    /// Submits answered with garbage (`garbage_every`).
    pub fn garbage_sent(&self) -> u64 {
        self.counter(|c| &c.garbage_sent)
    }

    /// The most sessions one system_id had bound at once since start (what `max_binds` caps).
    pub fn binds_peak(&self) -> u64 {
        self.counter(|c| &c.binds_peak)
    }

    /// Binds refused with ESME_RALYBND because `max_binds` sessions were bound.
    pub fn binds_refused(&self) -> u64 {
        self.counter(|c| &c.binds_refused)
    }

    /// Sessions bound now, all system_ids together.
    pub fn binds(&self) -> usize {
        self.simulator.binds().len()
    }

    /// The counters in one line, `name=value` separated by spaces (for `smppd simulate`'s
    /// exit, where a test in another process can read them).
    pub fn stats(&self) -> String {
        format!(
            "submits_received={} submits_throttled={} submits_withheld={} \
             connections_dropped={} garbage_sent={} receipts_sent={} receipts_dropped={} \
             receipts_pending={} mo_sent={} binds={} binds_peak={} binds_refused={}",
            self.submits_received(),
            self.submits_throttled(),
            self.submits_withheld(),
            self.connections_dropped(),
            self.garbage_sent(),
            self.receipts_sent(),
            self.receipts_dropped(),
            self.receipts_pending(),
            self.mo_sent(),
            self.binds(),
            self.binds_peak(),
            self.binds_refused(),
        )
    }

    /// Receipts the peer acknowledged with deliver_sm_resp status 0.
    pub fn receipts_sent(&self) -> u64 {
        self.counter(|c| &c.receipts_sent)
    }

    /// Receipts dropped: the pending queue was full, or the peer kept refusing them.
    pub fn receipts_dropped(&self) -> u64 {
        self.counter(|c| &c.receipts_dropped)
    }

    /// MO messages the peer acknowledged.
    pub fn mo_sent(&self) -> u64 {
        self.counter(|c| &c.mo_sent)
    }

    /// Receipts waiting for their time or for a receiver bind (not those in flight).
    pub fn receipts_pending(&self) -> usize {
        self.simulator.shared.queue().len()
    }

    fn counter(&self, which: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        which(&self.simulator.shared.counters).load(Ordering::Relaxed)
    }
}
