//! The end of a fault run, counted from both sides: what the paced load saw ([`LoadRecord`])
//! and what the carrier simulator logged (its submits and binds, [`LogLine`]). A =
//! acknowledged seqs, C = seqs the carrier accepted: lost = A \ C, duplicates at the carrier =
//! accepted submits − |C|, receipts missing = acknowledged ids without a receipt at the client,
//! the peak of binds at the carrier, and stale submits: submits on a bind that began before a
//! newer bind of another node (two owners at once), and for a paused owner, submits on the
//! binds it held when paused once another bind began.

use super::paced_load::{seq_of, LoadRecord};
use super::simulator::{LogLine, SessionEventKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A node paused (SIGSTOP) and resumed (SIGCONT), wall-clock ms.
#[derive(Clone, Debug)]
pub struct Pause {
    pub node: String,
    pub stopped_ms: i64,
    pub resumed_ms: i64,
}

/// What the simulator counted itself (its stats line).
#[derive(Clone, Copy, Debug, Default)]
pub struct CarrierCounts {
    pub binds_peak: u64,
    pub binds_refused: u64,
}

/// One run's figures.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub acked: usize,
    /// |C|: distinct seqs the carrier accepted.
    pub at_carrier: usize,
    /// Acknowledged seqs the carrier never accepted (A \ C).
    pub lost: Vec<u64>,
    /// Accepted submits beyond the first of each seq.
    pub carrier_duplicates: usize,
    /// Seqs the carrier accepted whose submit the load never saw acknowledged.
    pub carrier_unacked: usize,
    /// Acknowledged gateway ids without a receipt at the client, with their seq.
    pub receipts_missing: Vec<(u64, String)>,
    /// Acknowledged ids whose receipt came more than once.
    pub receipts_twice: usize,
    /// Receipts for ids never acknowledged (the response was lost on the way).
    pub receipts_unacked: usize,
    /// Gateway ids given out for two seqs.
    pub reissued: usize,
    /// The most binds the carrier had at once (its own count, and its log's).
    pub peak_binds: u64,
    /// Binds the carrier refused for its cap.
    pub binds_refused: u64,
    /// Bound sessions at the carrier, and those not attributed to a node.
    pub carrier_sessions: usize,
    pub unattributed_sessions: usize,
    /// Submits on a bind that began before the newest bind of another node, as then known.
    pub stale_submits: Vec<String>,
    /// With a pause: submits on the binds the paused node held when it stopped, logged after
    /// the first bind that began after the stop …
    pub paused_after_new_bind: Vec<String>,
    /// … and logged after it resumed (whether or not another had bound).
    pub paused_after_resume: usize,
    /// When the first bind after the stop began (ms after the stop).
    pub new_bind_after_stop_ms: Option<i64>,
    /// The paused node, with a pause.
    pub paused: Option<String>,
    /// What the carrier did with the submits it got, by outcome (`id=` as "accepted").
    pub carrier_outcomes: BTreeMap<String, usize>,
    /// Acknowledged submits by node.
    pub acked_by_node: BTreeMap<String, usize>,
    /// The load's side: refused by status, unanswered, unplaced, timeouts, breaks.
    pub refused: BTreeMap<String, u64>,
    pub unanswered: u64,
    pub unplaced: u64,
    pub timeouts: u64,
    pub broken: u64,
}

impl Tally {
    /// Counts a run: the load's `record`, the carrier's `log`, which node each carrier
    /// session belongs to (`nodes`; sessions missing from it are unattributed), the carrier's
    /// own counts, and the pause of the SIGSTOP run.
    pub fn of(
        record: &LoadRecord,
        log: &[LogLine],
        nodes: &HashMap<u64, String>,
        counts: CarrierCounts,
        pause: Option<&Pause>,
    ) -> Self {
        let mut tally = Self {
            acked: record.acked.len(),
            receipts_twice: record
                .acked
                .values()
                .filter(|a| record.receipts.get(&a.id).is_some_and(|(n, _)| *n > 1))
                .count(),
            receipts_unacked: record
                .receipts
                .keys()
                .filter(|id| !record.ids.contains(*id))
                .count(),
            reissued: record.reissued.len(),
            receipts_missing: record
                .missing_receipts()
                .into_iter()
                .map(|(seq, a)| (seq, a.id.clone()))
                .collect(),
            peak_binds: counts.binds_peak,
            binds_refused: counts.binds_refused,
            acked_by_node: record.acked_by_node(),
            refused: record.refused.clone(),
            unanswered: record.unanswered,
            unplaced: record.unplaced,
            timeouts: record.timeouts,
            broken: record.broken,
            ..Self::default()
        };
        let mut accepted: HashMap<u64, usize> = HashMap::new();
        for line in log {
            let LogLine::Submit(s) = line else { continue };
            let outcome = if s.id().is_some() {
                if let Some(seq) = submit_seq(s) {
                    *accepted.entry(seq).or_default() += 1;
                }
                "accepted"
            } else {
                &s.outcome
            };
            *tally
                .carrier_outcomes
                .entry(outcome.to_owned())
                .or_default() += 1;
        }
        tally.at_carrier = accepted.len();
        tally.carrier_duplicates = accepted.values().map(|n| n - 1).sum();
        tally.carrier_unacked = accepted
            .keys()
            .filter(|seq| !record.acked.contains_key(seq))
            .count();
        tally.lost = record
            .acked
            .keys()
            .filter(|seq| !accepted.contains_key(seq))
            .copied()
            .collect();
        tally.binds(log, nodes);
        if let Some(pause) = pause {
            tally.pause(log, pause);
        }
        tally
    }

    /// Binds from the log: their peak, their nodes, and stale submits.
    fn binds(&mut self, log: &[LogLine], nodes: &HashMap<u64, String>) {
        // Where (line index) each session's bind is, and the newest bind of each node so far.
        let mut bound_at: HashMap<u64, usize> = HashMap::new();
        let mut newest: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
        let mut sessions = BTreeSet::new();
        for (at, line) in log.iter().enumerate() {
            match line {
                LogLine::Session(e) => {
                    if let SessionEventKind::Bound(_) = e.kind {
                        self.peak_binds = self.peak_binds.max(e.binds.unwrap_or(0) as u64);
                        sessions.insert(e.session);
                        bound_at.insert(e.session, at);
                        if let Some(node) = nodes.get(&e.session) {
                            newest.insert(node, (at, e.session));
                        }
                    }
                }
                LogLine::Submit(s) => {
                    let (Some(node), Some(&began)) =
                        (nodes.get(&s.session), bound_at.get(&s.session))
                    else {
                        continue;
                    };
                    let newer = newest
                        .iter()
                        .find(|(other, (at, _))| **other != node.as_str() && *at > began);
                    if let Some((other, (_, session))) = newer {
                        self.stale_submits.push(format!(
                            "{} on session {} of {node}, after session {session} of {other} bound",
                            submit_seq(s).map_or_else(|| s.outcome.clone(), |q| format!("seq {q}")),
                            s.session
                        ));
                    }
                }
            }
        }
        self.carrier_sessions = sessions.len();
        self.unattributed_sessions = sessions.iter().filter(|s| !nodes.contains_key(s)).count();
    }

    /// The paused node's binds: those bound when it stopped (only the owner binds, so all of
    /// them were its own), and what came on them after another bind began, or after it
    /// resumed.
    fn pause(&mut self, log: &[LogLine], pause: &Pause) {
        let mut open = BTreeSet::new();
        let mut held = None;
        let mut new_bind = None;
        for line in log {
            match line {
                LogLine::Session(e) => match e.kind {
                    SessionEventKind::Bound(_) if e.at_ms < pause.stopped_ms => {
                        open.insert(e.session);
                    }
                    SessionEventKind::Closed if e.at_ms < pause.stopped_ms => {
                        open.remove(&e.session);
                    }
                    SessionEventKind::Bound(_) => {
                        let held = held.get_or_insert_with(|| open.clone());
                        if !held.contains(&e.session) && new_bind.is_none() {
                            new_bind = Some(e.at_ms);
                        }
                    }
                    _ => {}
                },
                LogLine::Submit(s) => {
                    if s.at_ms < pause.stopped_ms {
                        continue;
                    }
                    let held = held.get_or_insert_with(|| open.clone());
                    if !held.contains(&s.session) {
                        continue;
                    }
                    if s.at_ms >= pause.resumed_ms {
                        self.paused_after_resume += 1;
                    }
                    if new_bind.is_some_and(|b| s.at_ms >= b) {
                        self.paused_after_new_bind.push(format!(
                            "{} on session {} at +{} ms after the stop",
                            submit_seq(s).map_or_else(|| s.outcome.clone(), |q| format!("seq {q}")),
                            s.session,
                            s.at_ms - pause.stopped_ms
                        ));
                    }
                }
            }
        }
        self.new_bind_after_stop_ms = new_bind.map(|b| b - pause.stopped_ms);
        self.paused = Some(pause.node.clone());
    }

    /// The run in one line.
    pub fn summary(&self, run: &str) -> String {
        let paused = match &self.paused {
            Some(node) => format!(
                " paused={node} new_bind_after_stop_ms={} paused_submits_after_new_bind={} \
                 paused_submits_after_resume={}",
                self.new_bind_after_stop_ms
                    .map_or_else(|| "none".to_owned(), |ms| ms.to_string()),
                self.paused_after_new_bind.len(),
                self.paused_after_resume
            ),
            None => String::new(),
        };
        format!(
            "cluster-fault run={run} acked={} at_carrier={} lost={} carrier_duplicates={} \
             receipts_missing={} receipts_twice={} peak_binds={} binds_refused={} \
             stale_submits={}{paused} carrier_unacked={} receipts_unacked={} reissued={} \
             sessions={} unattributed={} acked_by_node={:?} refused={:?} unanswered={} \
             unplaced={} timeouts={} broken={} carrier_outcomes={:?}",
            self.acked,
            self.at_carrier,
            self.lost.len(),
            self.carrier_duplicates,
            self.receipts_missing.len(),
            self.receipts_twice,
            self.peak_binds,
            self.binds_refused,
            self.stale_submits.len(),
            self.carrier_unacked,
            self.receipts_unacked,
            self.reissued,
            self.carrier_sessions,
            self.unattributed_sessions,
            self.acked_by_node,
            self.refused,
            self.unanswered,
            self.unplaced,
            self.timeouts,
            self.broken,
            self.carrier_outcomes,
        )
    }

    /// Nothing lost, every receipt, at most `max_binds` at the carrier, no stale submit, no
    /// id given twice; says which and shows a few otherwise.
    pub fn assert_sound(&self, run: &str, max_binds: u64) {
        let few = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>();
        assert!(self.acked > 0, "{run}: nothing acknowledged");
        assert!(
            self.lost.is_empty(),
            "{run}: {} acknowledged never reached the carrier, e.g. seqs {:?}",
            self.lost.len(),
            &self.lost[..self.lost.len().min(10)]
        );
        assert!(
            self.receipts_missing.is_empty(),
            "{run}: {} acknowledged without a receipt at the client, e.g. {:?}",
            self.receipts_missing.len(),
            &self.receipts_missing[..self.receipts_missing.len().min(10)]
        );
        assert!(
            self.peak_binds <= max_binds,
            "{run}: the carrier saw {} binds at once (at most {max_binds})",
            self.peak_binds
        );
        assert_eq!(self.reissued, 0, "{run}: gateway ids given out twice");
        assert!(
            self.stale_submits.is_empty(),
            "{run}: {} submits on a bind older than another node's newer bind: {:?}",
            self.stale_submits.len(),
            few(&self.stale_submits)
        );
        assert!(
            self.paused_after_new_bind.is_empty(),
            "{run}: {} submits on the paused owner's old binds after another bind began: {:?}",
            self.paused_after_new_bind.len(),
            few(&self.paused_after_new_bind)
        );
    }
}

/// The load seq of a logged submit_sm, if its text is one.
fn submit_seq(s: &super::simulator::LoggedSubmit) -> Option<u64> {
    match &s.pdu.body {
        smpp_proto::Body::SubmitSm(sm) => seq_of(sm.short_message.as_bytes()),
        _ => None,
    }
}
