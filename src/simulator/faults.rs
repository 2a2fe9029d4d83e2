//! Fault injection: `drop_every` (close a session abruptly), `throttle` (ESME_RTHROTTLED over a
//! rate), `withhold_percent` (never answer) and `garbage_every` (bytes no SMPP peer should send
//! in place of a response). The submit path in `service` asks [`Simulator::faults`] and
//! [`Simulator::garbage`] before it accepts a submit; `reject_percent` sits in its accept step.

use super::{mix, spread_hit, BindEntry, Simulator};
use crate::session::SessionInfo;
use smpp_proto::{CommandStatus, Pdu};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `drop_every`: how long a session holds its last submits unanswered before it closes, so
/// the peer's window fills up and the responses already made are written out first.
const DROP_LINGER: Duration = Duration::from_millis(50);

/// `garbage_every`: the command_id of the unknown request sent (not in SMPP 3.4's table).
const UNKNOWN_COMMAND_ID: u32 = 0x0000_0111;

/// What `garbage_every` sends in place of a submit_sm_resp, in this order, round and round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// A header-only request with an unknown command_id and the submit's sequence number
    /// (the peer answers generic_nack ESME_RINVCMDID); the submit stays unanswered.
    UnknownCommand,
    /// A submit_sm_resp (status OK, an id) with a sequence number the peer never sent; the
    /// submit stays unanswered.
    WrongSequence,
    /// A submit_sm_resp with the submit's sequence number whose message_id has no NUL: the
    /// header reads, the body does not.
    MalformedResp,
    /// A header whose command_length (8) is below the 16-octet minimum: framing is lost, the
    /// peer answers generic_nack ESME_RINVCMDLEN and closes.
    BadLength,
    /// 64 pseudo-random octets, the first 0xFF so that the command_length they start with is
    /// far beyond any limit (a plausible one would swallow what follows): framing is lost.
    RandomBytes,
}

impl Garbage {
    /// Every kind, in the order they are sent.
    pub const ALL: [Self; 5] = [
        Self::UnknownCommand,
        Self::WrongSequence,
        Self::MalformedResp,
        Self::BadLength,
        Self::RandomBytes,
    ];

    /// Its name in the submit log (`garbage=NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Self::UnknownCommand => "unknown-command",
            Self::WrongSequence => "wrong-sequence",
            Self::MalformedResp => "malformed-resp",
            Self::BadLength => "bad-length",
            Self::RandomBytes => "random-bytes",
        }
    }

    /// The octets sent in place of the response to request `seq`; `seed` feeds the random
    /// ones.
    pub fn bytes(self, seq: u32, seed: u64) -> bytes::Bytes {
        let header = |length: u32, command_id: u32, seq: u32| {
            let mut out = Vec::with_capacity(16);
            for word in [length, command_id, 0, seq] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            out
        };
        let submit_sm_resp = smpp_proto::CommandId::SubmitSmResp.as_u32();
        let out = match self {
            Self::UnknownCommand => header(16, UNKNOWN_COMMAND_ID, seq),
            Self::WrongSequence => {
                // Our own ids are below 2^31: flipping bit 30 of a sequence number gives one
                // the peer is not waiting for (it counts up from 1).
                let mut out = header(16 + 9, submit_sm_resp, seq ^ 0x4000_0000);
                out.extend_from_slice(b"deadbeef\0");
                out
            }
            Self::MalformedResp => {
                let mut out = header(16 + 8, submit_sm_resp, seq);
                out.extend_from_slice(b"deadbeef");
                out
            }
            Self::BadLength => header(8, submit_sm_resp, seq),
            Self::RandomBytes => {
                let mut out: Vec<u8> = (0..8u64)
                    .flat_map(|i| mix(seed.wrapping_add(i)).to_be_bytes())
                    .collect();
                if let Some(first) = out.first_mut() {
                    *first = 0xFF;
                }
                out
            }
        };
        bytes::Bytes::from(out)
    }
}

/// What the faults make of a submit on a bound session.
pub(super) enum Verdict {
    /// No fault struck: the submit goes on to be accepted.
    Pass,
    /// Answered at once with this status, no id nor receipt.
    Refuse(CommandStatus),
    /// Never answered (withheld, or its session is being dropped).
    Unanswered,
}

impl Simulator {
    /// `drop_every`, then `throttle`, then `withhold_percent` on a submit of a bound session;
    /// each fault counts and logs the submit it strikes.
    pub(super) async fn faults(&self, session: &SessionInfo, pdu: &Pdu) -> Verdict {
        let entry = self.binds().get(&session.id).cloned();
        if let Some(entry) = &entry {
            if entry.dropping.load(Ordering::Relaxed) {
                // Read, never answered: the session closes within DROP_LINGER and drops this.
                self.log_submit(session, pdu, &"held");
                return std::future::pending().await;
            }
            let n = entry.submits.fetch_add(1, Ordering::Relaxed) + 1;
            if self
                .config
                .drop_every
                .is_some_and(|every| n % every.get() == 0)
            {
                self.drop_session(session, entry, pdu).await;
                return Verdict::Unanswered;
            }
        }
        let throttled = entry
            .as_ref()
            .and_then(|e| e.limiter.as_ref())
            .is_some_and(|limiter| limiter.check().is_err());
        if throttled {
            // Answered at once, and no id nor receipt: a throttled submit costs the carrier
            // nothing.
            self.shared
                .counters
                .submits_throttled
                .fetch_add(1, Ordering::Relaxed);
            self.log_submit(session, pdu, &"status=ESME_RTHROTTLED");
            return Verdict::Refuse(CommandStatus::ESME_RTHROTTLED);
        }
        if self.config.withhold_percent > 0 {
            let n = self.withhold_counter.fetch_add(1, Ordering::Relaxed);
            if spread_hit(n, self.config.withhold_percent) {
                self.shared
                    .counters
                    .submits_withheld
                    .fetch_add(1, Ordering::Relaxed);
                self.log_submit(session, pdu, &"withheld");
                return Verdict::Unanswered;
            }
        }
        Verdict::Pass
    }

    /// `drop_every` struck on `pdu`: holds it and the session's later submits unanswered for
    /// [`DROP_LINGER`], then closes the connection without unbind.
    async fn drop_session(&self, session: &SessionInfo, entry: &BindEntry, pdu: &Pdu) {
        entry.dropping.store(true, Ordering::Relaxed);
        self.shared
            .counters
            .connections_dropped
            .fetch_add(1, Ordering::Relaxed);
        self.log_submit(session, pdu, &"dropped");
        tokio::time::sleep(DROP_LINGER).await;
        tracing::info!(
            client = %entry.system_id, peer = %session.peer,
            submits = entry.submits.load(Ordering::Relaxed),
            "dropping the connection (drop_every)"
        );
        session.handle.close();
    }

    /// `garbage_every` struck on this submit_sm: the garbage to write in place of its
    /// response (counted and logged as a submit); `None` for every other submit.
    pub(super) fn garbage(&self, session: &SessionInfo, pdu: &Pdu) -> Option<bytes::Bytes> {
        let every = self.config.garbage_every?;
        session.bound.as_ref()?;
        let n = self.garbage_counter.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(every.get()) {
            return None;
        }
        let hit = n / every.get() - 1;
        let kind = Garbage::ALL[usize::try_from(hit % 5).unwrap_or(0)];
        let counters = &self.shared.counters;
        counters.submits_received.fetch_add(1, Ordering::Relaxed);
        counters.garbage_sent.fetch_add(1, Ordering::Relaxed);
        self.log_submit(session, pdu, &format_args!("garbage={}", kind.name()));
        tracing::info!(peer = %session.peer, kind = kind.name(), "garbage instead of a response");
        Some(kind.bytes(pdu.sequence_number, mix(hit)))
    }
}
