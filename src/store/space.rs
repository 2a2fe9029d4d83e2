//! The free-space guard: new messages are refused before the store's filesystem is full, so that
//! the messages already accepted can still be dispatched, get their receipts and reach their
//! clients in the space kept free.
//!
//! A full disk is worse than a refused submit. sled 0.34 keeps the first I/O error of its log
//! writer as a global error and fails every later write and flush with it until the database is
//! reopened, even once space is back (checked by hand on a small tmpfs: after one ENOSPC, inserts
//! and flushes keep failing when the space is freed; reads work; a reopen recovers). So the store
//! must never get there: below `[store] min_free_space` the guard refuses new messages with a
//! status clients retry (ESME_RMSGQFUL), and everything else keeps writing into the reserve.
//!
//! What the reserve must hold: the updates of messages already accepted (dispatch, carrier id,
//! receipt, outbox entry and its ack: each rewrites the record in sled's log), the checkpoint's
//! second copy of the last seconds of writes (journal, then trees), sled's 512 KiB log segments
//! and snapshot files, and whatever is written between two checks. Measured on a tmpfs with the
//! harness of `tests/disk_full.rs` (20,000 160-character submits, 2026-11): accepting a message
//! takes about 360 bytes, its whole life with dispatch, receipt and outbox about 2 KB, so the
//! updates of a queued message need about 1.7 KB. The default, 1 GiB, is the updates of some
//! 600,000 queued messages (a long carrier outage at a busy gateway) plus the ~40 MB a second of
//! full load writes between two checks, and little against the disk a production store lives
//! on; a smaller disk sets less, knowing the backlog it can carry through.
//!
//! Free space is read with `statvfs` on the store's directory every [`CHECK_EVERY`] on a thread
//! of its own (a network filesystem may block in it), and estimated between two reads from the
//! bytes the commit thread journaled since: intake costs two atomic loads.
//!
//! Started by `Store::open` ([`watch`]); asked by intake (`Store::refuses_new`, `Store::accept`)
//! and the admin API (`Store::space`); told of journaled bytes by the commit thread. A reading
//! that fails leaves the state as it was (logged once until a good one): an unreadable disk is
//! no reason to refuse or accept.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often free space is read.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Free space not measured yet, or not measurable.
const UNKNOWN: u64 = u64::MAX;

/// The guard's state, shared by intake, the commit thread and the checking thread.
pub(super) struct SpaceGuard {
    /// Refuse below this many free bytes; 0: never.
    min_free: u64,
    /// Once refusing, take new messages again at this many free bytes (a little above
    /// `min_free`, so that a disk at the edge does not flap between the two every second).
    resume_at: u64,
    /// Refusing new messages now.
    low: AtomicBool,
    /// Free bytes at the last read ([`UNKNOWN`] before the first).
    free: AtomicU64,
    /// Bytes the store wrote since that read, about: the estimate lowers `free` by them.
    written: AtomicU64,
    /// A failed read was logged; logged again only after a good one.
    read_failed: AtomicBool,
}

/// What a reading of free space changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Below the limit: new messages are refused from now on.
    Entered,
    /// Back above it: new messages are taken again.
    Left,
    /// Same state as before.
    Same,
}

/// The guard as the admin API and `/metrics` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceStatus {
    /// Free bytes on the store's filesystem at the last check (for the store's user: without
    /// the blocks reserved to root); `None` before the first or if it cannot be read.
    pub free_bytes: Option<u64>,
    /// `[store] min_free_space`; 0 when off.
    pub min_free_bytes: u64,
    /// New messages are refused now.
    pub low: bool,
}

impl SpaceGuard {
    pub(super) fn new(min_free: u64) -> Self {
        Self {
            min_free,
            resume_at: min_free.saturating_add(min_free / 16),
            low: AtomicBool::new(false),
            free: AtomicU64::new(UNKNOWN),
            written: AtomicU64::new(0),
            read_failed: AtomicBool::new(false),
        }
    }

    /// Whether a new message must be refused now: the last check said so, or the estimate since
    /// (the check would, and is up to a second away). Cheap: for every submit.
    pub(super) fn refuses(&self) -> bool {
        if self.min_free == 0 {
            return false;
        }
        if self.low.load(Ordering::Relaxed) {
            return true;
        }
        let free = self.free.load(Ordering::Relaxed);
        free != UNKNOWN && free.saturating_sub(self.written.load(Ordering::Relaxed)) < self.min_free
    }

    /// The commit thread wrote about `bytes` to the disk.
    pub(super) fn wrote(&self, bytes: u64) {
        self.written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Takes a reading of free bytes; says what changed. Logs the changes: a WARN on entering
    /// the refusing state, an INFO on leaving it.
    pub(super) fn observe(&self, free: u64) -> Change {
        self.free.store(free, Ordering::Relaxed);
        if self.min_free == 0 {
            return Change::Same;
        }
        let was = self.low.load(Ordering::Relaxed);
        let now = if was {
            free < self.resume_at
        } else {
            free < self.min_free
        };
        self.low.store(now, Ordering::Relaxed);
        match (was, now) {
            (false, true) => {
                tracing::warn!(
                    free_bytes = free,
                    min_free_space = self.min_free,
                    "store: free disk space below [store] min_free_space; refusing new messages \
                     with ESME_RMSGQFUL until space is freed (dispatch and receipts go on)"
                );
                Change::Entered
            }
            (true, false) => {
                tracing::info!(
                    free_bytes = free,
                    min_free_space = self.min_free,
                    "store: free disk space back above [store] min_free_space; taking new \
                     messages again"
                );
                Change::Left
            }
            _ => Change::Same,
        }
    }

    /// Reads free space on the filesystem of `dir` and takes it.
    fn check(&self, dir: &Path) {
        // Counted from before the read: bytes written during it lower the next estimate.
        self.written.store(0, Ordering::Relaxed);
        match free_bytes(dir) {
            Ok(free) => {
                if self.read_failed.swap(false, Ordering::Relaxed) {
                    tracing::info!(dir = %dir.display(), "store: free disk space readable again");
                }
                self.observe(free);
            }
            Err(e) => {
                // The state stays as it was: an unreadable disk is no reason to refuse or accept.
                if !self.read_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        dir = %dir.display(), error = %e,
                        "store: cannot read free disk space; the free-space guard keeps its \
                         last state"
                    );
                }
            }
        }
    }

    pub(super) fn status(&self) -> SpaceStatus {
        let free = self.free.load(Ordering::Relaxed);
        SpaceStatus {
            free_bytes: (free != UNKNOWN).then_some(free),
            min_free_bytes: self.min_free,
            low: self.min_free != 0 && self.low.load(Ordering::Relaxed),
        }
    }
}

/// Bytes free on the filesystem of `dir` for an unprivileged user (`f_bavail`: smppd runs as
/// its own user; the blocks reserved to root are not its to fill).
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Checks once now (a gateway started on a full disk refuses from its first submit), then every
/// [`CHECK_EVERY`] on a thread of its own until the guard is dropped with the store.
pub(super) fn watch(guard: &Arc<SpaceGuard>, dir: PathBuf) -> std::io::Result<()> {
    guard.check(&dir);
    let weak: Weak<SpaceGuard> = Arc::downgrade(guard);
    std::thread::Builder::new()
        .name("smppd-store-space".to_owned())
        .spawn(move || loop {
            std::thread::sleep(CHECK_EVERY);
            let Some(guard) = weak.upgrade() else {
                return;
            };
            guard.check(&dir);
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn refuses_below_the_limit_and_resumes_above_it_with_a_margin() {
        let guard = SpaceGuard::new(256 * MIB);
        assert!(!guard.refuses(), "nothing measured yet");
        assert_eq!(guard.observe(300 * MIB), Change::Same);
        assert!(!guard.refuses());
        assert_eq!(guard.observe(255 * MIB), Change::Entered);
        assert!(guard.refuses());
        assert!(guard.status().low);
        // Space freed, but not past the margin (1/16 of the limit): still refusing.
        assert_eq!(guard.observe(260 * MIB), Change::Same);
        assert!(guard.refuses());
        assert_eq!(guard.observe(272 * MIB), Change::Left);
        assert!(!guard.refuses());
        assert_eq!(guard.observe(260 * MIB), Change::Same, "above the limit");
        assert_eq!(
            guard.status(),
            SpaceStatus {
                free_bytes: Some(260 * MIB),
                min_free_bytes: 256 * MIB,
                low: false
            }
        );
    }

    #[test]
    fn writes_since_the_last_check_count_against_free_space() {
        let guard = SpaceGuard::new(256 * MIB);
        guard.observe(300 * MIB);
        guard.wrote(40 * MIB);
        assert!(!guard.refuses());
        guard.wrote(5 * MIB);
        // 255 MiB by the estimate: refused before the next check says so.
        assert!(guard.refuses());
        assert!(!guard.status().low, "the state itself changes at a check");
    }

    #[test]
    fn off_never_refuses_and_still_reports_free_space() {
        let guard = SpaceGuard::new(0);
        assert_eq!(guard.observe(0), Change::Same);
        guard.wrote(u64::MAX);
        assert!(!guard.refuses());
        assert_eq!(
            guard.status(),
            SpaceStatus {
                free_bytes: Some(0),
                min_free_bytes: 0,
                low: false
            }
        );
    }

    #[test]
    fn reads_the_filesystem_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).is_ok());
        assert!(free_bytes(&dir.path().join("missing")).is_err());
        let guard = Arc::new(SpaceGuard::new(u64::MAX / 2));
        watch(&guard, dir.path().to_owned()).unwrap();
        // No disk has 4 EiB free.
        assert!(guard.refuses());
        assert!(guard.status().free_bytes.is_some());
    }
}
