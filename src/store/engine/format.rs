//! The engine's side of the store format: the trees (their numbers in the journal, their sled
//! trees, how they pack), the journal entry format, the version byte, and the format history.
//! What the gateway puts in the trees (keys and values of messages, queues, outboxes, carrier
//! ids, counters) is `store/layout.rs`.
//!
//! Used by every engine file and by the gateway store, which names trees and writes with it.
//! Decoding fails with [`Error::Corrupt`] naming the tree and key; nothing here panics on disk
//! data.
//!
//! | [`Tree`]     | number | sled tree          | packing ([`Packing`], `packed.rs`)           |
//! |--------------|--------|--------------------|----------------------------------------------|
//! | `Messages`   | 0      | `message_packs`    | numbered: 16 ids to a key                    |
//! | `Queue`      | 1      | `queue_packs`      | numbered: 16 seqs to a key                   |
//! | `CarrierIds` | 2      | `carrier_id_packs` | last byte: all but the key's last byte       |
//! | `Outbox`     | 3      | `outbox_packs`     | numbered: 16 seqs to a key                   |
//! | `Meta`       | 4      | `meta`             | none                                         |
//! | `Suppressions` | 5    | `suppressions`     | none (format 5)                              |
//! | `ConsentLog` | 6      | `consent_log`      | none (format 5)                              |
//! | `LastMarketing` | 7   | `last_marketing`   | none (format 6)                              |
//! | `Idempotency` | 8     | `idempotency`      | none (format 7)                              |
//! | `ClientRefs` | 9      | `client_refs`      | none (format 8)                              |
//! | `CampaignStats` | 10  | `campaign_stats`   | none (format 8)                              |
//! | `Webhooks`   | 11     | `webhooks`         | none (format 8)                              |
//! | `WebhooksDead` | 12   | `webhooks_dead`    | none (format 8)                              |
//! |              |        | `journal`          | (format 2) batch number (u64 BE) → v1, entry |
//!
//! Formats. Format 2 added the journal: a group commit writes its batch there as one entry (a few
//! for a large batch), and the writes reach the other trees later, in the background, already
//! merged (see `checkpoint.rs`). A journal entry is the writes in order, each: tree (u8,
//! [`Tree`]), key length (u32 BE), key, then 0 for a removal or 1, value length (u32 BE), value.
//!
//! Format 3 moved the journal out of sled into segment files under `journal/` (`wal.rs`), with
//! the same entries. Older stores are upgraded by stamping 3: the `journal` tree of a format 2
//! store is replayed at open like the files, and then stays empty. An older smppd refuses a newer
//! store, whose journal it would ignore.
//!
//! Format 4 packs message records, queue and outbox entries 16 numbers to a key, and carrier ids
//! by all but their last byte, in the `*_packs` trees (see `packed.rs`; sled's cost and memory
//! go with its number of keys). The journal still names each entry by its own key. The upgrade
//! (`upgrade.rs`) moves the entries of `messages`, `queue`, `carrier_ids` and `outbox` into packs
//! before the journal is replayed, then stamps 4 and empties the old trees.
//!
//! Format 5 writes message records in their version 2, which adds the message's class and
//! labels (`store/layout.rs`), and adds the trees `suppressions` (5) and `consent_log` (6),
//! unpacked. Version 1 records still read, as transactional with no labels,
//! so the upgrade from 4 only stamps 5; the stamp is there so that an older smppd refuses the
//! store at open rather than failing on the first new record.
//!
//! Format 6 adds the tree `last_marketing` (7), unpacked: who last sent marketing to a number
//! from a shared short code. The upgrade from 5 only stamps 6, for the same reason: a format 5
//! smppd would fail on a journal entry naming tree 7.
//!
//! Format 7 adds the tree `idempotency` (8), unpacked: the HTTP API's answers by client and
//! `Idempotency-Key`, replayed to a retry. The upgrade from 6 only stamps 7.
//!
//! Format 8 adds, unpacked, the trees `client_refs` (9): a client's reference (`client_ref`)
//! → the message it names, written in the messages' own commit; `campaign_stats` (10):
//! counters per client, campaign, class and day, written in the same commit as the messages
//! they count (`store/stats.rs`); and `webhooks` (11) and `webhooks_dead` (12): each webhook
//! endpoint's queue of events and its dead letters. The upgrade from 7 only stamps 8. Tree
//! numbers need not be contiguous: [`Tree::ALL`] lists those there are, and the layers size
//! by [`Tree::SLOTS`].

use super::error::{corrupt, Error};

/// How a tree's keys map to packs and slots (`packed.rs` reads and writes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Packing {
    /// Prefix + u64 BE; 16 numbers to a pack.
    Numbered,
    /// The last byte is the slot.
    LastByte,
}

/// The layout this build reads and writes; `meta/format_version`.
pub(in crate::store) const FORMAT_VERSION: u8 = 8;
/// Older layouts this build upgrades in place: without a journal (1), with the journal in a
/// tree (2), with message records one to a key (1 to 3), without message classes (1 to 4),
/// without the `last_marketing` index (1 to 5), without the `idempotency` tree (1 to 6),
/// without the webhook trees (1 to 7).
pub(in crate::store) const FORMAT_VERSIONS_OLDER: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];
/// First octet of every value written by this build: packs, journal entries, and the gateway's
/// values in them.
pub(in crate::store) const VALUE_V1: u8 = 1;

/// Gateway id → message record; names records in errors. Up to format 3 also the tree, one
/// record per key; emptied into [`MESSAGE_PACKS`] by the upgrade to format 4.
pub(in crate::store) const MESSAGES: &str = "messages";
/// Message records, packed 16 ids to a key (`packed.rs`).
pub(in crate::store) const MESSAGE_PACKS: &str = "message_packs";
/// Route + enqueue seq → id: one entry per message waiting for a carrier; like [`MESSAGES`],
/// the tree up to format 3.
pub(in crate::store) const QUEUE: &str = "queue";
/// The same, packed 16 seqs to a key.
pub(super) const QUEUE_PACKS: &str = "queue_packs";
/// Link + carrier id → gateway id, for receipts; like [`MESSAGES`], the tree up to format 3.
pub(in crate::store) const CARRIER_IDS: &str = "carrier_ids";
/// The same, packed by all but the last byte of the key (`packed.rs`).
pub(super) const CARRIER_ID_PACKS: &str = "carrier_id_packs";
/// Client + seq → receipt or MO waiting for `deliver_sm_resp`; like [`MESSAGES`], the tree up
/// to format 3.
pub(in crate::store) const OUTBOX: &str = "outbox";
/// The same, packed 16 seqs to a key.
pub(super) const OUTBOX_PACKS: &str = "outbox_packs";
/// Counters and the format version.
pub(in crate::store) const META: &str = "meta";
/// (format 5) Scope and number → whether the number opted out of (or back into) messages.
pub(in crate::store) const SUPPRESSIONS: &str = "suppressions";
/// (format 5) Every consent change, in order, kept as proof.
pub(in crate::store) const CONSENT_LOG: &str = "consent_log";
/// (format 6) Short code and number → the client that last sent the number marketing from it.
pub(in crate::store) const LAST_MARKETING: &str = "last_marketing";
/// (format 7) Client and `Idempotency-Key` → the HTTP answer given, for a retry.
pub(in crate::store) const IDEMPOTENCY: &str = "idempotency";
/// (format 8) Client, endpoint and seq → a webhook event waiting for its endpoint's 2xx.
pub(in crate::store) const WEBHOOKS: &str = "webhooks";
/// (format 8) The same for events their endpoint never took before `give_up_after`.
pub(in crate::store) const WEBHOOKS_DEAD: &str = "webhooks_dead";
/// (format 8) Client, campaign, class and day → that day's message counters and cost.
pub(in crate::store) const CAMPAIGN_STATS: &str = "campaign_stats";
/// (format 8) Client and its `client_ref` → the message it names and when it was accepted.
pub(in crate::store) const CLIENT_REFS: &str = "client_refs";
/// Batch number → the batch's writes, until they are in the other trees (format 2; now read at
/// open only, to upgrade).
pub(in crate::store) const JOURNAL: &str = "journal";

/// `meta` key: [`FORMAT_VERSION`] of the store.
pub(in crate::store) const META_FORMAT_VERSION: &[u8] = b"format_version";

/// The trees a journal entry writes to; the discriminant is the tree's number in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::store) enum Tree {
    Messages = 0,
    Queue = 1,
    CarrierIds = 2,
    Outbox = 3,
    Meta = 4,
    Suppressions = 5,
    ConsentLog = 6,
    LastMarketing = 7,
    Idempotency = 8,
    ClientRefs = 9,
    CampaignStats = 10,
    Webhooks = 11,
    WebhooksDead = 12,
}

impl Tree {
    /// Every tree, in number order (numbers may skip).
    pub(super) const ALL: [Self; 13] = [
        Self::Messages,
        Self::Queue,
        Self::CarrierIds,
        Self::Outbox,
        Self::Meta,
        Self::Suppressions,
        Self::ConsentLog,
        Self::LastMarketing,
        Self::Idempotency,
        Self::ClientRefs,
        Self::CampaignStats,
        Self::Webhooks,
        Self::WebhooksDead,
    ];

    /// One more than the highest tree number: a table indexed by number has this many slots.
    pub(super) const SLOTS: usize = Self::ALL[Self::ALL.len() - 1] as usize + 1;

    /// Its name in errors.
    pub(in crate::store) fn name(self) -> &'static str {
        match self {
            Self::Messages => MESSAGES,
            Self::Queue => QUEUE,
            Self::CarrierIds => CARRIER_IDS,
            Self::Outbox => OUTBOX,
            Self::Meta => META,
            Self::Suppressions => SUPPRESSIONS,
            Self::ConsentLog => CONSENT_LOG,
            Self::LastMarketing => LAST_MARKETING,
            Self::Idempotency => IDEMPOTENCY,
            Self::Webhooks => WEBHOOKS,
            Self::WebhooksDead => WEBHOOKS_DEAD,
            Self::ClientRefs => CLIENT_REFS,
            Self::CampaignStats => CAMPAIGN_STATS,
        }
    }

    /// Its sled tree.
    pub(super) fn sled_name(self) -> &'static str {
        match self {
            Self::Messages => MESSAGE_PACKS,
            Self::Queue => QUEUE_PACKS,
            Self::CarrierIds => CARRIER_ID_PACKS,
            Self::Outbox => OUTBOX_PACKS,
            Self::Meta => META,
            Self::Suppressions => SUPPRESSIONS,
            Self::ConsentLog => CONSENT_LOG,
            Self::LastMarketing => LAST_MARKETING,
            Self::Idempotency => IDEMPOTENCY,
            Self::Webhooks => WEBHOOKS,
            Self::WebhooksDead => WEBHOOKS_DEAD,
            Self::ClientRefs => CLIENT_REFS,
            Self::CampaignStats => CAMPAIGN_STATS,
        }
    }

    /// How its entries are kept in packs (`packed.rs`), if they are.
    pub(super) fn packing(self) -> Option<Packing> {
        match self {
            Self::Messages | Self::Queue | Self::Outbox => Some(Packing::Numbered),
            Self::CarrierIds => Some(Packing::LastByte),
            Self::Meta
            | Self::Suppressions
            | Self::ConsentLog
            | Self::LastMarketing
            | Self::Idempotency
            | Self::ClientRefs
            | Self::CampaignStats
            | Self::Webhooks
            | Self::WebhooksDead => None,
        }
    }

    fn from_number(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|tree| *tree as u8 == n)
    }
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::store) struct Write {
    pub(in crate::store) tree: Tree,
    pub(in crate::store) key: Vec<u8>,
    /// `None` removes the key.
    pub(in crate::store) value: Option<Vec<u8>>,
    /// The key is new: no tree or earlier write has it (a new message, queue or outbox entry).
    /// Removed again before it reaches its tree, it never needs to.
    pub(in crate::store) fresh: bool,
}

/// A journal entry stays well below sled's blob threshold (a quarter of its 512 KiB segment):
/// a blob is a file of its own, written without a sync.
const JOURNAL_ENTRY_MAX: usize = 64 * 1024;

/// Journal entry values for `writes`, in order, each at most about [`JOURNAL_ENTRY_MAX`] (a
/// single larger write gets an entry of its own). Sized up front: growing a 64 KiB buffer by
/// doubling cost the commit thread more in copies and fresh pages than the encoding itself.
pub(in crate::store) fn encode_journal(writes: &[Write]) -> Vec<Vec<u8>> {
    let size = |w: &Write| 1 + 4 + w.key.len() + 1 + w.value.as_ref().map_or(0, |v| 4 + v.len());
    let mut entries = Vec::new();
    let mut rest = writes;
    while !rest.is_empty() {
        let mut len = 1;
        let mut count = 0;
        for w in rest {
            if count > 0 && len + size(w) > JOURNAL_ENTRY_MAX {
                break;
            }
            len += size(w);
            count += 1;
        }
        let (these, after) = rest.split_at(count);
        let mut entry = Vec::with_capacity(len);
        entry.push(VALUE_V1);
        for w in these {
            entry.push(w.tree as u8);
            push_len_prefixed(&mut entry, &w.key);
            match &w.value {
                None => entry.push(0),
                Some(value) => {
                    entry.push(1);
                    push_len_prefixed(&mut entry, value);
                }
            }
        }
        entries.push(entry);
        rest = after;
    }
    entries
}

fn push_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and values are far below 4 GiB: a PDU is at most 70 KiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The writes of a journal entry; `key` names it in errors.
pub(super) fn decode_journal(key: &[u8], value: &[u8]) -> Result<Vec<Write>, Error> {
    let bad = |reason: &str| corrupt(JOURNAL, key, reason);
    let mut rest = versioned(JOURNAL, key, value)?;
    let mut writes = Vec::new();
    while let Some((&tree, after)) = rest.split_first() {
        let tree = Tree::from_number(tree).ok_or_else(|| bad("unknown tree number"))?;
        let (key_bytes, after) = take_len_prefixed(after).ok_or_else(|| bad("key cut short"))?;
        let (&kind, after) = after.split_first().ok_or_else(|| bad("write cut short"))?;
        let (value, after) = match kind {
            0 => (None, after),
            1 => {
                let (v, after) = take_len_prefixed(after).ok_or_else(|| bad("value cut short"))?;
                (Some(v.to_vec()), after)
            }
            _ => return Err(bad("unknown write kind")),
        };
        writes.push(Write {
            tree,
            key: key_bytes.to_vec(),
            value,
            fresh: false,
        });
        rest = after;
    }
    Ok(writes)
}

fn take_len_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    rest.split_at_checked(len)
}

/// The bytes after the version byte, if this build knows the version.
pub(in crate::store) fn versioned<'v>(
    tree: &'static str,
    key: &[u8],
    value: &'v [u8],
) -> Result<&'v [u8], Error> {
    match value.split_first() {
        Some((&VALUE_V1, body)) => Ok(body),
        Some((v, _)) => Err(corrupt(tree, key, &format!("unknown value version {v}"))),
        None => Err(corrupt(tree, key, "empty value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_journal_entries_are_reported() {
        let writes = vec![Write {
            tree: Tree::Outbox,
            key: vec![1, 2, 3],
            value: Some(vec![4, 5]),
            fresh: true,
        }];
        let entry = &encode_journal(&writes)[0];
        for cut in 0..entry.len() {
            let result = decode_journal(b"k", &entry[..cut]);
            // Cut after a whole write, the entry is shorter but still well formed.
            if cut != 1 {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
        let mut bad_tree = entry.clone();
        // A number no tree has, nor is likely to soon (numbers are handed out in order).
        bad_tree[1] = 200;
        assert!(decode_journal(b"k", &bad_tree).is_err());
    }

    #[test]
    fn tree_numbers_may_skip() {
        for tree in Tree::ALL {
            assert_eq!(Tree::from_number(tree as u8), Some(tree));
            assert!((tree as usize) < Tree::SLOTS);
        }
        assert_eq!(Tree::from_number(Tree::SLOTS as u8), None);
    }
}
