//! Node identity and message ids (cluster.md §3.5). Not yet used by the message path.
//!
//! Ids are `slot × 10¹⁴ + counter`, at most 16 decimal digits. A node claims a slot, `01` to
//! `99`, by creating `slot.<nn>` in the `SMPPD_NODES` bucket (a create fails when the key
//! exists, so nodes claiming at once get different slots), bound to its `[cluster] node` name:
//! `{node, claimed_at, next}`. `next` is the counter's high-water mark: ids of the slot below
//! `slot × 10¹⁴ + next` may have been handed out.
//!
//! A node reserves ids in blocks by a compare-and-set of its record on the revision it holds,
//! raising `next`; it hands ids out of the block with no write per message ([`IdBlocks`]). A
//! restart under the same name finds the slot and reserves from `next` on: what was left of
//! the blocks before is skipped, never reused. Two processes under one name (a
//! misconfiguration) still never get the same id, since every block is a compare-and-set:
//! the loser reads the record again and reserves above the winner's block.

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::message::MessageId;
use crate::sync::lock;

/// The highest slot.
pub const SLOTS: u8 = 99;

/// Ids per slot: the counter stays below 10¹⁴, so `99 × 10¹⁴ + counter` has 16 digits.
pub const SLOT_IDS: u64 = 100_000_000_000_000;

/// Ids reserved by one write of a slot record: at 20,000 messages a second, one write every
/// 5 s; a restart skips at most two blocks.
pub const BLOCK: u64 = 100_000;

/// Compare-and-sets lost in a row before a reservation gives up (and is tried again later):
/// a stale read after a lost one loses again until the replica catches up.
const CAS_TRIES: u32 = 50;

/// What can go wrong with a slot.
#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    /// The bucket could not be read.
    #[error("SMPPD_NODES: cannot read {what}: {reason}")]
    Read {
        /// The key or listing.
        what: String,
        /// The client's error.
        reason: String,
    },
    /// A slot could not be created.
    #[error("SMPPD_NODES: cannot claim {key}: {source}")]
    Write {
        /// `slot.<nn>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::CreateError,
    },
    /// A block could not be reserved (not a lost compare-and-set: the engine did not answer,
    /// or refused).
    #[error("SMPPD_NODES: cannot reserve ids in {key}: {source}")]
    Reserve {
        /// `slot.<nn>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::UpdateError,
    },
    /// Every compare-and-set of a reservation failed, [`CAS_TRIES`] in a row.
    #[error(
        "SMPPD_NODES: cannot reserve ids in {key}: {CAS_TRIES} compare-and-sets lost in a row"
    )]
    Contended {
        /// `slot.<nn>`.
        key: String,
    },
    /// The slot's record was deleted, or names another node now: its ids are no longer ours.
    #[error("SMPPD_NODES: {key} is no longer bound to node `{node}` (deleted or claimed again)")]
    Lost {
        /// `slot.<nn>`.
        key: String,
        /// Our `[cluster] node`.
        node: String,
    },
    /// The slot's counter reached 10¹⁴.
    #[error("SMPPD_NODES: {key} has no ids left; delete it once its messages are past retention")]
    Exhausted {
        /// `slot.<nn>`.
        key: String,
    },
    /// All 99 are taken (retired slots stay taken until every message of theirs is past
    /// retention).
    #[error(
        "SMPPD_NODES: all {SLOTS} id slots are taken; delete the keys `slot.<nn>` of retired \
         nodes whose messages are all past retention"
    )]
    Full,
}

/// What a slot's record holds (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The node's `[cluster] node`.
    pub node: String,
    /// When it was claimed, Unix seconds (for people).
    pub claimed_at: u64,
    /// The counter's high-water mark: ids of the slot below `slot × 10¹⁴ + next` may have
    /// been handed out, none above.
    #[serde(default)]
    pub next: u64,
}

/// A slot found or claimed: its record as read or written, and that write's revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotClaim {
    /// `1..=99`.
    pub slot: u8,
    /// The record.
    pub record: SlotRecord,
    /// Its revision, for the next compare-and-set.
    pub revision: u64,
    /// Whether the slot was claimed now (rather than found).
    pub claimed_now: bool,
}

/// `slot.<nn>`, two digits.
pub fn slot_key(slot: u8) -> String {
    format!("slot.{slot:02}")
}

/// The slot of `key`, if it is one.
fn slot_of(key: &str) -> Option<u8> {
    let n = key.strip_prefix("slot.")?;
    let slot: u8 = n.parse().ok()?;
    (n.len() == 2 && (1..=SLOTS).contains(&slot)).then_some(slot)
}

/// The first id of `slot`.
fn slot_base(slot: u8) -> u64 {
    u64::from(slot) * SLOT_IDS
}

fn read_error(what: &str, reason: impl ToString) -> NodesError {
    NodesError::Read {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// The record of `key` and its revision; `None` if the key is absent or deleted, or holds no
/// record.
async fn read_slot(kv: &kv::Store, key: &str) -> Result<Option<(SlotRecord, u64)>, NodesError> {
    let entry = kv.entry(key).await.map_err(|e| read_error(key, e))?;
    Ok(entry
        .filter(|e| !matches!(e.operation, Operation::Delete | Operation::Purge))
        .and_then(|e| {
            serde_json::from_slice::<SlotRecord>(&e.value)
                .ok()
                .map(|r| (r, e.revision))
        }))
}

/// The record of `key` just created by someone else. A read may come from a replica that
/// lags and miss it for a moment: tried for up to 0.5 s. `None` if it was deleted meanwhile.
async fn read_created(kv: &kv::Store, key: &str) -> Result<Option<(SlotRecord, u64)>, NodesError> {
    for _ in 0..25 {
        if let Some(found) = read_slot(kv, key).await? {
            return Ok(Some(found));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

/// The slot bound to `node` (the lowest, should there be several), claiming the lowest free
/// one for it if there is none.
pub async fn claim_slot(kv: &kv::Store, node: &str) -> Result<SlotClaim, NodesError> {
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| read_error("the keys", e))?
        .try_collect()
        .await
        .map_err(|e| read_error("the keys", e))?;
    let mut slots: Vec<u8> = keys.iter().filter_map(|k| slot_of(k)).collect();
    slots.sort_unstable();
    let mut taken = [false; SLOTS as usize + 1];
    for &slot in &slots {
        taken[usize::from(slot)] = true;
        if let Some((record, revision)) = read_slot(kv, &slot_key(slot)).await? {
            if record.node == node {
                return Ok(SlotClaim {
                    slot,
                    record,
                    revision,
                    claimed_now: false,
                });
            }
        }
    }
    let record = SlotRecord {
        node: node.to_owned(),
        claimed_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        next: 0,
    };
    let value = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
    for slot in 1..=SLOTS {
        if taken[usize::from(slot)] {
            continue;
        }
        let key = slot_key(slot);
        match kv.create(&key, value.clone()).await {
            Ok(revision) => {
                return Ok(SlotClaim {
                    slot,
                    record,
                    revision,
                    claimed_now: true,
                })
            }
            // Taken since the listing: by a process of the same name (then it is ours too),
            // or by another node (then the next one).
            Err(e)
                if e.kind() == kv::CreateErrorKind::AlreadyExists
                    || super::lease::cas_failed(&e) =>
            {
                if let Some((found, revision)) = read_created(kv, &key).await? {
                    if found.node == node {
                        return Ok(SlotClaim {
                            slot,
                            record: found,
                            revision,
                            claimed_now: false,
                        });
                    }
                }
            }
            Err(source) => return Err(NodesError::Write { key, source }),
        }
    }
    Err(NodesError::Full)
}

/// A slot's record as this node last wrote or read it: reserves blocks of counters.
#[derive(Debug)]
struct Reserver {
    kv: kv::Store,
    key: String,
    record: SlotRecord,
    revision: u64,
}

impl Reserver {
    /// Reserves up to `len` counters by a compare-and-set of the record raising `next`; on a
    /// lost one, reads the record again and reserves above what it says.
    async fn reserve(&mut self, len: u64) -> Result<Range<u64>, NodesError> {
        for attempt in 0..CAS_TRIES {
            let from = self.record.next;
            if from >= SLOT_IDS {
                return Err(NodesError::Exhausted {
                    key: self.key.clone(),
                });
            }
            let to = from.saturating_add(len).min(SLOT_IDS);
            let record = SlotRecord {
                next: to,
                ..self.record.clone()
            };
            let value = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
            match self.kv.update(&self.key, value, self.revision).await {
                Ok(revision) => {
                    self.record = record;
                    self.revision = revision;
                    return Ok(from..to);
                }
                // nats-server 2.15 answers a lost compare-and-set with code 10071 or 10164
                // (by the path it took); the client maps only 10071 to WrongLastRevision.
                Err(e)
                    if e.kind() == UpdateErrorKind::WrongLastRevision
                        || super::lease::cas_failed(&e) =>
                {
                    if attempt > 0 {
                        // Reads may come from a replica that lags: give it a moment.
                        let wait = Duration::from_millis(5 * u64::from(attempt.min(20)));
                        tokio::time::sleep(wait).await;
                    }
                    self.reread().await?;
                }
                // A write that timed out may still have been stored: the next compare-and-set
                // then fails and the re-read skips that block.
                Err(source) => {
                    return Err(NodesError::Reserve {
                        key: self.key.clone(),
                        source,
                    })
                }
            }
        }
        Err(NodesError::Contended {
            key: self.key.clone(),
        })
    }

    /// Takes the record's revision, and its `next` unless lower than the one known here (a
    /// stale read, or a record lowered by hand: ids below ours were handed out).
    async fn reread(&mut self) -> Result<(), NodesError> {
        let lost = || NodesError::Lost {
            key: self.key.clone(),
            node: self.record.node.clone(),
        };
        let (record, revision) = read_slot(&self.kv, &self.key).await?.ok_or_else(lost)?;
        if record.node != self.record.node {
            return Err(lost());
        }
        self.revision = revision;
        self.record.next = self.record.next.max(record.next);
        Ok(())
    }
}

/// No id could be handed out: the current block is used up and the next is not reserved yet
/// (the engine is unreachable, or the slot is lost or full). The caller answers
/// ESME_RSYSERR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no message ids in hand: the next block of this node's id slot is not reserved yet")]
pub struct IdsExhausted;

/// The blocks in hand: counters of the slot, `current` first.
#[derive(Debug)]
struct Blocks {
    current: Range<u64>,
    spare: Option<Range<u64>>,
    block: u64,
}

impl Blocks {
    /// The first of `n` consecutive counters: from the current block, or from the spare one
    /// when the current has fewer than `n` left (the rest of it is skipped).
    fn take(&mut self, n: u64) -> Option<u64> {
        if self.current.end - self.current.start < n {
            let spare = self.spare.as_ref()?;
            if spare.end - spare.start < n {
                return None;
            }
            self.current = self.spare.take()?;
        }
        let first = self.current.start;
        self.current.start += n;
        Some(first)
    }

    /// Whether the refill should reserve a spare block now: none in hand, and less than half
    /// of the current one left.
    fn wants_spare(&self) -> bool {
        self.spare.is_none() && self.current.end - self.current.start < self.block / 2
    }
}

#[derive(Debug)]
struct Shared {
    blocks: Mutex<Blocks>,
    /// Wakes the refill.
    refill: Notify,
}

/// Message ids of this node: handed out of a reserved block with no wait on the network,
/// while a background task reserves the next block ahead. See the module docs.
#[derive(Debug)]
pub struct IdBlocks {
    slot: u8,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl IdBlocks {
    /// Finds or claims `node`'s slot and reserves two blocks of [`BLOCK`] ids before
    /// returning; then keeps one spare block reserved ahead in the background (a tokio task,
    /// stopped when this drops).
    pub async fn start(kv: kv::Store, node: &str) -> Result<Arc<Self>, NodesError> {
        Self::start_with_block(kv, node, BLOCK).await
    }

    /// [`Self::start`] with blocks of `block` ids (at least 1).
    pub async fn start_with_block(
        kv: kv::Store,
        node: &str,
        block: u64,
    ) -> Result<Arc<Self>, NodesError> {
        let block = block.max(1);
        let claim = claim_slot(&kv, node).await?;
        let mut reserver = Reserver {
            kv,
            key: slot_key(claim.slot),
            record: claim.record,
            revision: claim.revision,
        };
        let current = reserver.reserve(block).await?;
        let spare = reserver.reserve(block).await?;
        let shared = Arc::new(Shared {
            blocks: Mutex::new(Blocks {
                current,
                spare: Some(spare),
                block,
            }),
            refill: Notify::new(),
        });
        let task = tokio::spawn(refill(shared.clone(), reserver));
        Ok(Arc::new(Self {
            slot: claim.slot,
            shared,
            task,
        }))
    }

    /// The slot, `1..=99`.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// The first of `n` consecutive new ids (the parts of one long message; `n` = 0 counts as
    /// 1). Never waits on the network: fails only when both blocks in hand are used up, or `n`
    /// is larger than a block.
    pub fn allocate(&self, n: usize) -> Result<MessageId, IdsExhausted> {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        let (first, wake) = {
            let mut blocks = lock(&self.shared.blocks);
            let first = blocks.take(n);
            (first, blocks.wants_spare())
        };
        if wake {
            self.shared.refill.notify_one();
        }
        first
            .map(|counter| MessageId::new(slot_base(self.slot) + counter))
            .ok_or(IdsExhausted)
    }
}

impl Drop for IdBlocks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reserves a spare block whenever [`Blocks::wants_spare`]; retries failures with a growing
/// pause (up to 5 s), and stops once the slot is lost or used up.
async fn refill(shared: Arc<Shared>, mut reserver: Reserver) {
    const FIRST_PAUSE: Duration = Duration::from_millis(100);
    let mut pause = FIRST_PAUSE;
    loop {
        let (wanted, block) = {
            let blocks = lock(&shared.blocks);
            (blocks.wants_spare(), blocks.block)
        };
        if !wanted {
            // A notify_one() between the check and here leaves a permit: no wake-up is lost.
            shared.refill.notified().await;
            continue;
        }
        match reserver.reserve(block).await {
            Ok(spare) => {
                lock(&shared.blocks).spare = Some(spare);
                pause = FIRST_PAUSE;
            }
            // For good: what is left in hand is handed out, then no more.
            Err(e @ (NodesError::Lost { .. } | NodesError::Exhausted { .. })) => {
                tracing::error!(error = %e, "message ids: no more blocks");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "message ids: cannot reserve the next block; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keys_have_two_digits() {
        assert_eq!(slot_key(3), "slot.03");
        assert_eq!(slot_key(99), "slot.99");
        assert_eq!(slot_of("slot.03"), Some(3));
        for other in ["slot.3", "slot.00", "slot.100", "config.a", "slot.x1"] {
            assert_eq!(slot_of(other), None, "{other}");
        }
    }

    #[test]
    fn ids_have_at_most_16_digits() {
        let last = slot_base(SLOTS) + SLOT_IDS - 1;
        assert_eq!(last, 9_999_999_999_999_999);
        assert_eq!(last.to_string().len(), MessageId::MAX_DIGITS);
        assert_eq!(slot_base(1), 100_000_000_000_000);
    }

    #[test]
    fn records_without_a_high_water_mark_start_at_zero() {
        let old: SlotRecord =
            serde_json::from_str(r#"{"node":"a","store_uuid":"u","claimed_at":1}"#).unwrap();
        assert_eq!(old.next, 0);
        assert_eq!(old.node, "a");
    }

    #[test]
    fn blocks_hand_out_consecutive_ids_and_skip_a_short_rest() {
        let mut blocks = Blocks {
            current: 0..10,
            spare: Some(100..110),
            block: 10,
        };
        assert_eq!(blocks.take(3), Some(0));
        assert_eq!(blocks.take(2), Some(3));
        assert!(!blocks.wants_spare(), "a spare is in hand");
        // 5 left, 6 asked: the rest of the current block is skipped.
        assert_eq!(blocks.take(6), Some(100));
        assert_eq!(blocks.current, 106..110);
        assert!(blocks.wants_spare(), "4 of 10 left, no spare");
        assert_eq!(blocks.take(4), Some(106));
        assert_eq!(blocks.take(1), None);
        blocks.spare = Some(200..210);
        assert_eq!(blocks.take(11), None, "more than a block");
        assert_eq!(blocks.take(10), Some(200));
        assert_eq!(blocks.take(1), None);
    }

    #[test]
    fn the_spare_is_wanted_once_half_the_block_is_used() {
        let mut blocks = Blocks {
            current: 0..10,
            spare: None,
            block: 10,
        };
        assert_eq!(blocks.take(5), Some(0));
        assert!(!blocks.wants_spare(), "half left");
        assert_eq!(blocks.take(1), Some(5));
        assert!(blocks.wants_spare());
    }
}
