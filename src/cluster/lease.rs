//! Dispatch-group leases (cluster.md §3.6): one node at a time owns a group, by a record
//! `group.<group>` in the `SMPPD_LEASE` bucket, and acts for it only while its [`Fence`] holds.
//! Not yet wired into dispatch.
//!
//! - Acquiring: [`Candidate::try_acquire`] creates the record when it is absent (never
//!   written, released, or removed by the bucket's `max_age`), or replaces one that it has seen
//!   unchanged (same revision) for a whole TTL by its own clock; both writes are
//!   compare-and-set on the revision, so of two contenders one wins. [`Lease::acquire`] tries
//!   until it wins.
//! - Renewing: [`Lease::renew`] rewrites the record by compare-and-set on the revision it holds;
//!   a failed compare-and-set means someone else holds the lease, and the owner stops at once.
//! - Fencing: the owner checks [`Fence::is_valid`] before every action. It holds while
//!   `now < start of the last successful write + ttl − margin` (margin = ttl / 3), `now` by the
//!   owner's own clock. [`Owner`] renews every ttl / 3 in the background and announces
//!   [`Ownership`] changes on a watch channel.
//!
//! Why no two owners act at once, with no clock compared between machines: the owner's last
//! successful write started at `s`, so its fence ends at `s + ttl − margin`. A contender takes
//! over a record only when it is gone or when the contender has seen that same revision for
//! a TTL, counting from when its read *returned* (`t0`), which is after the write (`t0 ≥ s`);
//! its takeover therefore starts at `t0 + ttl ≥ s + ttl`, `margin` after the old owner's fence
//! ended. When the bucket's `max_age` removes the record instead, the server removes it
//! `max_age` (the TTL) after it stored the write, by the server's own clock — also after `s +
//! ttl`, as long as the servers' clocks agree within `margin` (the stream leader judges the
//! compare-and-set; only a change of leader between the write and the expiry compares two
//! servers' clocks). The margin also covers clocks that run at slightly different rates.
//!
//! The clock is `CLOCK_BOOTTIME` on Linux: monotonic, and unlike `CLOCK_MONOTONIC` it keeps
//! counting while the machine is suspended, so an owner whose machine sleeps past its fence
//! finds it expired on waking. A process that is stopped (SIGSTOP, a long GC pause, a slow
//! disk) likewise wakes with an expired fence, before it could act.

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What can go wrong with a lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A group name that cannot be part of a key.
    #[error("lease: group `{0}` is not a valid name (letters, digits, `-` and `_`)")]
    Group(String),
    /// The record could not be read.
    #[error("lease {key}: cannot read: {source}")]
    Read {
        /// `group.<group>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::EntryError,
    },
    /// The record could not be written (not a lost compare-and-set: the engine did not answer,
    /// or refused).
    #[error("lease {key}: cannot write: {source}")]
    Write {
        /// `group.<group>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::UpdateError,
    },
    /// The record could not be created (not a lost race: the engine did not answer, or
    /// refused).
    #[error("lease {key}: cannot create: {source}")]
    Create {
        /// `group.<group>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::CreateError,
    },
    /// Someone else holds the lease now (a compare-and-set failed); the fence is down.
    #[error("lease {key}: lost (another node holds it)")]
    Lost {
        /// `group.<group>`.
        key: String,
    },
    /// The fence expired before a renewal succeeded; the owner must not act, and does not
    /// renew any more.
    #[error("lease {key}: expired before it could be renewed")]
    Expired {
        /// `group.<group>`.
        key: String,
    },
}

/// A point in time by this machine's clock (`CLOCK_BOOTTIME` on Linux), as time since boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moment(Duration);

impl Moment {
    /// Now.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn now() -> Self {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        Self(Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_nsec).unwrap_or(0),
        ))
    }

    /// Now (`Instant`, counted from the first call).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn now() -> Self {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Self(START.get_or_init(std::time::Instant::now).elapsed())
    }

    /// The time from `earlier` to this moment (zero if `earlier` is later).
    pub fn since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// `d` later.
    pub fn after(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    fn nanos(self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The owner's permission to act for its group: valid until the start of its last successful
/// write plus `ttl − margin`, by its own clock; down for good once released or lost. Cheap to
/// clone and to check (one atomic load and a clock read).
#[derive(Clone, Debug)]
pub struct Fence {
    /// The [`Moment`] in nanoseconds until which it is valid, with [`DOWN`] set once it is
    /// down: one word, so that a renewal cannot extend a fence taken down meanwhile.
    until: Arc<AtomicU64>,
}

/// The bit of [`Fence::until`] that says it is down for good (a `Moment` in nanoseconds stays
/// below 2⁶³ for 292 years of uptime).
const DOWN: u64 = 1 << 63;

impl Fence {
    fn new(until: Moment) -> Self {
        Self {
            until: Arc::new(AtomicU64::new(until.nanos() & !DOWN)),
        }
    }

    /// Whether the owner may act now. Check it before every action.
    pub fn is_valid(&self) -> bool {
        let until = self.until.load(Ordering::Acquire);
        until & DOWN == 0 && Moment::now().nanos() < until
    }

    /// When it stops (or stopped) being valid: a lease taken down ends at that moment.
    pub fn valid_until(&self) -> Moment {
        Moment(Duration::from_nanos(
            self.until.load(Ordering::Acquire) & !DOWN,
        ))
    }

    /// Moves the end to `until` if that is later and the fence is not down.
    fn extend(&self, until: Moment) {
        let until = until.nanos() & !DOWN;
        let _ = self
            .until
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now & DOWN == 0 && now < until).then_some(until)
            });
    }

    /// Down for good, ending now if it had not ended yet.
    fn revoke(&self) {
        let now = Moment::now().nanos() & !DOWN;
        let _ = self
            .until
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |until| {
                Some(DOWN | (until & !DOWN).min(now))
            });
    }
}

/// What a lease record holds (JSON): who holds it and for how long a silence means it is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The owner's `[cluster] node`.
    pub node: String,
    /// The owner's TTL, in milliseconds: a contender waits the longer of it and its own.
    pub ttl_ms: u64,
}

/// The margin between the owner's fence and the earliest takeover: a third of the TTL.
pub fn margin(ttl: Duration) -> Duration {
    ttl / 3
}

fn key(group: &str) -> Result<String, LeaseError> {
    let valid = !group.is_empty()
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(format!("group.{group}"))
    } else {
        Err(LeaseError::Group(group.to_owned()))
    }
}

/// Whether a write failed its compare-and-set: the client maps the server's code 10071 to
/// `WrongLastRevision`, but not 10164, the same refusal as newer servers (2.11+) word it.
pub(crate) fn cas_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(js) = e.downcast_ref::<jetstream::Error>() {
            let code = js.error_code();
            if code == ErrorCode::STREAM_WRONG_LAST_SEQUENCE
                || code == ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
            {
                return true;
            }
        }
        next = e.source();
    }
    false
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A held lease on one group.
#[derive(Debug)]
pub struct Lease {
    kv: kv::Store,
    key: String,
    value: Bytes,
    ttl: Duration,
    revision: u64,
    epoch: u64,
    acquired_at: Moment,
    renewed_at: Moment,
    fence: Fence,
}

impl Lease {
    /// Tries to acquire `group` for `node` until it wins: every `ttl / 5` (at most 2 s), as
    /// [`Candidate::try_acquire`]. The engine's failures are logged and retried; only a bad
    /// group name is returned. Cancel it by dropping the future.
    pub async fn acquire(
        kv: kv::Store,
        group: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<Self, LeaseError> {
        let mut candidate = Candidate::new(kv, group, node, ttl)?;
        let poll = (ttl / 5).min(Duration::from_secs(2));
        loop {
            match candidate.try_acquire().await {
                Ok(Attempt::Acquired(lease)) => return Ok(*lease),
                Ok(Attempt::Held { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "lease: cannot acquire; trying again"),
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The fence to check before every action.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// The revision of the write that acquired it: increases with every acquisition of any
    /// lease of the bucket, so it can serve as a fencing token.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The revision of the record as last written.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// When the write that acquired it started.
    pub fn acquired_at(&self) -> Moment {
        self.acquired_at
    }

    /// When the last successful write (acquiring or renewing) started.
    pub fn renewed_at(&self) -> Moment {
        self.renewed_at
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// `group.<group>`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Rewrites the record by compare-and-set on the revision held, and on success moves the
    /// fence to the start of this write + `ttl − margin`. Refuses once the fence has expired
    /// ([`LeaseError::Expired`]); a failed compare-and-set takes the fence down
    /// ([`LeaseError::Lost`]); any other failure leaves the fence as it was.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        if !self.fence.is_valid() {
            self.fence.revoke();
            return Err(LeaseError::Expired {
                key: self.key.clone(),
            });
        }
        let start = Moment::now();
        match self
            .kv
            .update(&self.key, self.value.clone(), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                self.renewed_at = start;
                self.fence
                    .extend(start.after(self.ttl.saturating_sub(margin(self.ttl))));
                Ok(())
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision || cas_failed(&e) => {
                self.fence.revoke();
                Err(LeaseError::Lost {
                    key: self.key.clone(),
                })
            }
            Err(source) => Err(LeaseError::Write {
                key: self.key.clone(),
                source,
            }),
        }
    }

    /// Gives the lease up: the fence goes down first, then the record is deleted if it is still
    /// ours, so that a contender can take over at once. Already lost: nothing to do.
    pub async fn release(self) -> Result<(), LeaseError> {
        self.fence.revoke();
        match self
            .kv
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision || cas_failed(&e) => Ok(()),
            Err(source) => Err(LeaseError::Write {
                key: self.key.clone(),
                source,
            }),
        }
    }

    /// Renews in the background; see [`Owner`].
    pub fn keep(self) -> Owner {
        Owner::start(self)
    }
}

/// The outcome of one attempt to acquire.
#[derive(Debug)]
pub enum Attempt {
    /// Won (boxed: a lease carries the bucket's client handle, over a kilobyte).
    Acquired(Box<Lease>),
    /// Someone holds it (`node`, if its record says so).
    Held {
        /// The holder's node name, when the record was read.
        node: Option<String>,
    },
}

/// A node that wants a group's lease: remembers which revision of the record it saw first and
/// when, by its own clock, so that it takes over only a record silent for a whole TTL.
#[derive(Debug)]
pub struct Candidate {
    kv: kv::Store,
    key: String,
    node: String,
    ttl: Duration,
    /// The revision seen, and when the read that first returned it completed.
    seen: Option<(u64, Moment)>,
}

impl Candidate {
    /// A candidate for `group`'s lease, as `node`, with `ttl`.
    pub fn new(kv: kv::Store, group: &str, node: &str, ttl: Duration) -> Result<Self, LeaseError> {
        Ok(Self {
            kv,
            key: key(group)?,
            node: node.to_owned(),
            ttl,
            seen: None,
        })
    }

    /// One attempt: reads the record; creates it if absent; replaces it by compare-and-set if
    /// this candidate has seen the same revision for at least the longer of the two TTLs;
    /// otherwise reports who holds it.
    pub async fn try_acquire(&mut self) -> Result<Attempt, LeaseError> {
        let record = Record {
            node: self.node.clone(),
            ttl_ms: millis(self.ttl),
        };
        let value = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
        let entry = self
            .kv
            .entry(self.key.clone())
            .await
            .map_err(|source| LeaseError::Read {
                key: self.key.clone(),
                source,
            })?;
        // After the read returned: the revision read was written before this moment.
        let read_at = Moment::now();
        let held = match entry {
            None => None,
            Some(e) if matches!(e.operation, Operation::Delete | Operation::Purge) => None,
            Some(e) => Some(e),
        };
        let Some(entry) = held else {
            self.seen = None;
            let start = Moment::now();
            return match self.kv.create(&self.key, value.clone()).await {
                Ok(revision) => Ok(Attempt::Acquired(self.won(value, revision, start))),
                // The loser of a race may read the winner's record from a replica that does
                // not have it yet: the client then reports the failed compare-and-set itself.
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists || cas_failed(&e) => {
                    Ok(Attempt::Held { node: None })
                }
                Err(source) => Err(LeaseError::Create {
                    key: self.key.clone(),
                    source,
                }),
            };
        };
        let holder: Option<Record> = serde_json::from_slice(&entry.value).ok();
        let wait = holder
            .as_ref()
            .map_or(self.ttl, |r| self.ttl.max(Duration::from_millis(r.ttl_ms)));
        let node = holder.map(|r| r.node);
        let since = match self.seen {
            Some((revision, at)) if revision == entry.revision => at,
            _ => {
                self.seen = Some((entry.revision, read_at));
                return Ok(Attempt::Held { node });
            }
        };
        if Moment::now().since(since) < wait {
            return Ok(Attempt::Held { node });
        }
        let start = Moment::now();
        match self
            .kv
            .update(&self.key, value.clone(), entry.revision)
            .await
        {
            Ok(revision) => {
                self.seen = None;
                Ok(Attempt::Acquired(self.won(value, revision, start)))
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision || cas_failed(&e) => {
                self.seen = None;
                Ok(Attempt::Held { node: None })
            }
            Err(source) => Err(LeaseError::Write {
                key: self.key.clone(),
                source,
            }),
        }
    }

    fn won(&self, value: Bytes, revision: u64, start: Moment) -> Box<Lease> {
        Box::new(Lease {
            kv: self.kv.clone(),
            key: self.key.clone(),
            value,
            ttl: self.ttl,
            revision,
            epoch: revision,
            acquired_at: start,
            renewed_at: start,
            fence: Fence::new(start.after(self.ttl.saturating_sub(margin(self.ttl)))),
        })
    }
}

/// Whether this node owns the group, as the renewal task last knew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// It holds the lease; `epoch` is [`Lease::epoch`].
    Owner {
        /// The acquiring revision.
        epoch: u64,
    },
    /// It does not (lost, expired or released); it does not renew any more.
    NotOwner,
}

/// A lease renewed in the background every `ttl / 3` (sooner after a failure), announcing
/// [`Ownership`] changes. The task ends, announcing `NotOwner`, when a renewal loses the
/// compare-and-set or the fence expires before a renewal succeeds. Dropping it stops renewing
/// and takes the fence down without deleting the record (it expires by itself).
#[derive(Debug)]
pub struct Owner {
    fence: Fence,
    state: watch::Receiver<Ownership>,
    stop: CancellationToken,
    task: Option<JoinHandle<Option<Lease>>>,
}

impl Owner {
    /// Starts renewing `lease`.
    pub fn start(lease: Lease) -> Self {
        let fence = lease.fence();
        let (tx, state) = watch::channel(Ownership::Owner {
            epoch: lease.epoch(),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(renew_loop(lease, tx, stop.clone()));
        Self {
            fence,
            state,
            stop,
            task: Some(task),
        }
    }

    /// The fence to check before every action.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// Ownership changes.
    pub fn watch(&self) -> watch::Receiver<Ownership> {
        self.state.clone()
    }

    /// Whether the renewal task still counts this node as the owner.
    pub fn is_owner(&self) -> bool {
        matches!(*self.state.borrow(), Ownership::Owner { .. })
    }

    /// Stops renewing and releases the lease (a clean stop: a contender takes over at once).
    pub async fn release(mut self) -> Result<(), LeaseError> {
        self.fence.revoke();
        self.stop.cancel();
        let lease = match self.task.take() {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        match lease {
            Some(lease) => lease.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.fence.revoke();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Renews every `ttl / 3` from the start of the last successful write; after a failure, tries
/// again every `ttl / 12` until the fence expires. Returns the lease when stopped, `None` once
/// lost.
async fn renew_loop(
    mut lease: Lease,
    tx: watch::Sender<Ownership>,
    stop: CancellationToken,
) -> Option<Lease> {
    let period = lease.ttl() / 3;
    let retry = lease.ttl() / 12;
    let mut next = period;
    loop {
        tokio::select! {
            () = stop.cancelled() => return stopped(lease, &tx),
            () = tokio::time::sleep(next) => {}
        }
        let left = lease.fence().valid_until().since(Moment::now());
        let outcome = tokio::select! {
            () = stop.cancelled() => return stopped(lease, &tx),
            outcome = tokio::time::timeout(left, lease.renew()) => outcome,
        };
        match outcome {
            Ok(Ok(())) => {
                next = period.saturating_sub(Moment::now().since(lease.renewed_at()));
            }
            Ok(Err(e @ (LeaseError::Lost { .. } | LeaseError::Expired { .. }))) => {
                tracing::warn!(lease = lease.key(), error = %e, "lease: no longer the owner");
                return lost(&lease, &tx);
            }
            Ok(Err(e)) if lease.fence().is_valid() => {
                tracing::warn!(lease = lease.key(), error = %e, "lease: renewal failed; retrying");
                next = retry;
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    lease = lease.key(),
                    "lease: fence expired before a renewal succeeded; no longer the owner"
                );
                return lost(&lease, &tx);
            }
        }
    }
}

fn stopped(lease: Lease, tx: &watch::Sender<Ownership>) -> Option<Lease> {
    lease.fence.revoke();
    let _ = tx.send(Ownership::NotOwner);
    Some(lease)
}

fn lost(lease: &Lease, tx: &watch::Sender<Ownership>) -> Option<Lease> {
    lease.fence.revoke();
    let _ = tx.send(Ownership::NotOwner);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_plain_group_names_only() {
        assert_eq!(key("g1a2-b_c").unwrap(), "group.g1a2-b_c");
        for bad in ["", "a.b", "a b", "a*", "a>", "é"] {
            assert!(matches!(key(bad), Err(LeaseError::Group(_))), "{bad}");
        }
    }

    #[test]
    fn a_fence_holds_until_its_moment_and_never_comes_back_once_down() {
        let now = Moment::now();
        let fence = Fence::new(now.after(Duration::from_secs(60)));
        assert!(fence.is_valid());
        fence.extend(now.after(Duration::from_secs(30)));
        assert_eq!(fence.valid_until(), now.after(Duration::from_secs(60)));
        fence.extend(now.after(Duration::from_secs(90)));
        assert_eq!(fence.valid_until(), now.after(Duration::from_secs(90)));
        fence.revoke();
        assert!(!fence.is_valid());
        let ended = fence.valid_until();
        assert!(now <= ended && ended <= Moment::now());
        fence.extend(now.after(Duration::from_secs(120)));
        assert_eq!(fence.valid_until(), ended);
        assert!(!fence.is_valid());
        // Taken down after it expired: it keeps the moment it expired.
        let past = Fence::new(now);
        assert!(!past.is_valid());
        past.revoke();
        assert_eq!(past.valid_until(), now);
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = Moment::now();
        std::thread::sleep(Duration::from_millis(5));
        let b = Moment::now();
        assert!(b.since(a) >= Duration::from_millis(5));
        assert_eq!(a.since(b), Duration::ZERO);
    }

    #[test]
    fn the_margin_is_a_third() {
        assert_eq!(margin(Duration::from_secs(9)), Duration::from_secs(3));
    }
}
