//! The on-disk layout: tree names, key encodings and value formats. Nothing else in the gateway
//! knows how a record looks in sled.
//!
//! Keys are big-endian integers behind length-prefixed names, so that sled's ordered scans walk a
//! route queue or an outbox oldest first and a name never runs into the next one (`"a" + seq` vs
//! `"ab"`). Every value starts with a version byte, so a later format can read old records.
//!
//! | tree               | key                                   | value                                  |
//! |--------------------|---------------------------------------|----------------------------------------|
//! | `message_packs`    | id / 16 (u64 BE)                      | up to 16 records (see `packed.rs`)     |
//! |                    |                                       | by id % 16, each: v1, queue seq        |
//! |                    |                                       | (u64 BE, 0 = none), postcard `Message` |
//! | `queue_packs`      | route (u8 len + bytes), seq / 16      | entries by seq % 16, each: v1, id      |
//! |                    | (u64 BE)                              | (u64 BE)                               |
//! | `carrier_id_packs` | link (u8 len + bytes), carrier id     | entries by the carrier id's last       |
//! |                    | but its last byte                     | byte, each: v1, id (u64 BE)            |
//! | `outbox_packs`     | client (u8 len + bytes), seq / 16     | entries by seq % 16, each: v1,         |
//! |                    | (u64 BE)                              | postcard `OutboxItem`                  |
//! | `meta`             | `next_id`, `next_seq`                 | v1, u64 BE                             |
//! | `meta`             | `format_version`                      | the format number (one byte)           |
//! | `journal`          | batch number (u64 BE)                 | v1, the batch's writes (format 2)      |
//!
//! The queue seq in a message record points at its queue entry, so cancel and dispatch remove the
//! entry without scanning the route queue.
//!
//! Format 2 added the journal: a group commit writes its batch there as one entry (a few for a
//! large batch), and the writes reach the other trees later, in the background, already merged
//! (see `checkpoint.rs`). A journal entry is the writes in order, each: tree (u8, [`Tree`]),
//! key length (u32 BE), key, then 0 for a removal or 1, value length (u32 BE), value.
//!
//! Format 3 moved the journal out of sled into segment files under `journal/` (`wal.rs`), with
//! the same entries. Older stores are upgraded by stamping 3: the `journal` tree of a format 2
//! store is replayed at open like the files, and then stays empty. An older smppd refuses a newer
//! store, whose journal it would ignore.
//!
//! Format 4 packs message records, queue and outbox entries 16 numbers to a key, and carrier ids
//! by all but their last byte, in the `*_packs` trees (see `packed.rs`; sled's cost and memory
//! go with its number of keys). The journal still names each entry by its own key. The upgrade
//! moves the entries of `messages`, `queue`, `carrier_ids` and `outbox` into packs before the
//! journal is replayed, then stamps 4 and empties the old trees.

use super::Error;
use crate::message::{Message, MessageId, OutboxItem};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a tree's keys map to packs and slots (`packed.rs` reads and writes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Packing {
    /// Prefix + u64 BE; 16 numbers to a pack.
    Numbered,
    /// The last byte is the slot.
    LastByte,
}

/// The layout this build reads and writes; `meta/format_version`.
pub(super) const FORMAT_VERSION: u8 = 4;
/// Older layouts this build upgrades in place: without a journal (1), with the journal in a
/// tree (2), with message records one to a key (1 to 3).
pub(super) const FORMAT_VERSIONS_OLDER: [u8; 3] = [1, 2, 3];
/// First octet of every value written by this build.
pub(super) const VALUE_V1: u8 = 1;

/// Gateway id → message record; names records in errors. Up to format 3 also the tree, one
/// record per key; emptied into [`MESSAGE_PACKS`] by the upgrade to format 4.
pub(super) const MESSAGES: &str = "messages";
/// Message records, packed 16 ids to a key (`packed.rs`).
pub(super) const MESSAGE_PACKS: &str = "message_packs";
/// Route + enqueue seq → id: one entry per message waiting for a carrier; like [`MESSAGES`],
/// the tree up to format 3.
pub(super) const QUEUE: &str = "queue";
/// The same, packed 16 seqs to a key.
pub(super) const QUEUE_PACKS: &str = "queue_packs";
/// Link + carrier id → gateway id, for receipts; like [`MESSAGES`], the tree up to format 3.
pub(super) const CARRIER_IDS: &str = "carrier_ids";
/// The same, packed by all but the last byte of the key (`packed.rs`).
pub(super) const CARRIER_ID_PACKS: &str = "carrier_id_packs";
/// Client + seq → receipt or MO waiting for `deliver_sm_resp`; like [`MESSAGES`], the tree up
/// to format 3.
pub(super) const OUTBOX: &str = "outbox";
/// The same, packed 16 seqs to a key.
pub(super) const OUTBOX_PACKS: &str = "outbox_packs";
/// Counters and the format version.
pub(super) const META: &str = "meta";
/// Batch number → the batch's writes, until they are in the other trees (format 2; now read at
/// open only, to upgrade).
pub(super) const JOURNAL: &str = "journal";

/// The trees a journal entry writes to; the discriminant is the tree's number in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tree {
    Messages = 0,
    Queue = 1,
    CarrierIds = 2,
    Outbox = 3,
    Meta = 4,
}

impl Tree {
    /// Every tree, in number order.
    pub(super) const ALL: [Self; 5] = [
        Self::Messages,
        Self::Queue,
        Self::CarrierIds,
        Self::Outbox,
        Self::Meta,
    ];

    /// Its name in errors.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Messages => MESSAGES,
            Self::Queue => QUEUE,
            Self::CarrierIds => CARRIER_IDS,
            Self::Outbox => OUTBOX,
            Self::Meta => META,
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
        }
    }

    /// How its entries are kept in packs (`packed.rs`), if they are.
    pub(super) fn packing(self) -> Option<Packing> {
        match self {
            Self::Messages | Self::Queue | Self::Outbox => Some(Packing::Numbered),
            Self::CarrierIds => Some(Packing::LastByte),
            Self::Meta => None,
        }
    }

    fn from_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n)).copied()
    }
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Write {
    pub(super) tree: Tree,
    pub(super) key: Vec<u8>,
    /// `None` removes the key.
    pub(super) value: Option<Vec<u8>>,
    /// The key is new: no tree or earlier write has it (a new message, queue or outbox entry).
    /// Removed again before it reaches its tree, it never needs to.
    pub(super) fresh: bool,
}

/// A journal entry stays well below sled's blob threshold (a quarter of its 512 KiB segment):
/// a blob is a file of its own, written without a sync.
const JOURNAL_ENTRY_MAX: usize = 64 * 1024;

/// Journal entry values for `writes`, in order, each at most about [`JOURNAL_ENTRY_MAX`] (a
/// single larger write gets an entry of its own). Sized up front: growing a 64 KiB buffer by
/// doubling cost the commit thread more in copies and fresh pages than the encoding itself.
pub(super) fn encode_journal(writes: &[Write]) -> Vec<Vec<u8>> {
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

/// `meta` key: no id below this was ever acknowledged; the allocator restarts here or above.
pub(super) const META_NEXT_ID: &[u8] = b"next_id";
/// `meta` key: the same for queue and outbox sequence numbers (one shared counter).
pub(super) const META_NEXT_SEQ: &[u8] = b"next_seq";
/// `meta` key: [`FORMAT_VERSION`] of the store.
pub(super) const META_FORMAT_VERSION: &[u8] = b"format_version";

/// Key of a message record.
pub(super) fn id_key(id: MessageId) -> [u8; 8] {
    id.as_u64().to_be_bytes()
}

/// The id in a `messages` key.
pub(super) fn id_from_key(key: &[u8]) -> Result<MessageId, Error> {
    let bytes =
        <[u8; 8]>::try_from(key).map_err(|_| corrupt(MESSAGES, key, "key is not 8 bytes"))?;
    Ok(MessageId::new(u64::from_be_bytes(bytes)))
}

/// `len + name`: the prefix that selects one route, link or client in a tree.
pub(super) fn name_prefix(name: &str) -> Result<Vec<u8>, Error> {
    let len = u8::try_from(name.len()).map_err(|_| Error::NameTooLong(name.to_owned()))?;
    let mut key = Vec::with_capacity(1 + name.len() + 8);
    key.push(len);
    key.extend_from_slice(name.as_bytes());
    Ok(key)
}

/// Key of a queue or outbox entry: the name's prefix, then the sequence number.
pub(super) fn seq_key(name: &str, seq: u64) -> Result<Vec<u8>, Error> {
    let mut key = name_prefix(name)?;
    key.extend_from_slice(&seq.to_be_bytes());
    Ok(key)
}

/// Key of a carrier id mapping.
pub(super) fn carrier_key(link: &str, carrier_id: &str) -> Result<Vec<u8>, Error> {
    let mut key = name_prefix(link)?;
    key.extend_from_slice(carrier_id.as_bytes());
    Ok(key)
}

/// Splits a queue or outbox key into its name and sequence number.
pub(super) fn split_seq_key<'k>(
    tree: &'static str,
    key: &'k [u8],
) -> Result<(&'k str, u64), Error> {
    let (len, rest) = key
        .split_first()
        .ok_or_else(|| corrupt(tree, key, "empty key"))?;
    let (name, seq) = rest
        .split_at_checked(usize::from(*len))
        .ok_or_else(|| corrupt(tree, key, "name runs past the key"))?;
    let name = std::str::from_utf8(name).map_err(|_| corrupt(tree, key, "name is not UTF-8"))?;
    let seq = <[u8; 8]>::try_from(seq).map_err(|_| corrupt(tree, key, "seq is not 8 bytes"))?;
    Ok((name, u64::from_be_bytes(seq)))
}

/// The sequence number of a key under a known prefix (a scan of one name).
pub(super) fn seq_after_prefix(
    tree: &'static str,
    prefix_len: usize,
    key: &[u8],
) -> Result<u64, Error> {
    let seq = key
        .get(prefix_len..)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .ok_or_else(|| corrupt(tree, key, "seq is not 8 bytes"))?;
    Ok(u64::from_be_bytes(seq))
}

/// A message record: the message and where its queue entry is, if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    /// Sequence number of its entry in the `queue` tree under `message.route`.
    pub(super) queue_seq: Option<u64>,
    /// The message itself.
    pub(super) message: Message,
}

/// Value of a `messages` entry.
pub(super) fn encode_record(record: &Record) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128 + record.message.short_message.len());
    out.push(VALUE_V1);
    out.extend_from_slice(&record.queue_seq.unwrap_or(0).to_be_bytes());
    encode_into(MESSAGES, &id_key(record.message.id), &record.message, out)
}

/// Reads a `messages` entry; `key` names it in errors.
pub(super) fn decode_record(key: &[u8], value: &[u8]) -> Result<Record, Error> {
    let body = versioned(MESSAGES, key, value)?;
    let (seq, body) = body
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt(MESSAGES, key, "record shorter than its header"))?;
    let queue_seq = match u64::from_be_bytes(*seq) {
        0 => None,
        seq => Some(seq),
    };
    let message: Message = decode_all(MESSAGES, key, body)?;
    if id_key(message.id) != key {
        return Err(corrupt(MESSAGES, key, "record holds another id"));
    }
    Ok(Record { queue_seq, message })
}

/// Value of a `queue` or `carrier_ids` entry.
pub(super) fn encode_id(id: MessageId) -> Vec<u8> {
    encode_u64(id.as_u64())
}

/// Reads a `queue` or `carrier_ids` entry.
pub(super) fn decode_id(tree: &'static str, key: &[u8], value: &[u8]) -> Result<MessageId, Error> {
    decode_u64(tree, key, value).map(MessageId::new)
}

/// Value of a `meta` counter (and of id entries).
pub(super) fn encode_u64(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(VALUE_V1);
    out.extend_from_slice(&n.to_be_bytes());
    out
}

/// Reads a versioned u64 value.
pub(super) fn decode_u64(tree: &'static str, key: &[u8], value: &[u8]) -> Result<u64, Error> {
    let body = versioned(tree, key, value)?;
    let n = <[u8; 8]>::try_from(body).map_err(|_| corrupt(tree, key, "value is not 8 bytes"))?;
    Ok(u64::from_be_bytes(n))
}

/// Value of an `outbox` entry.
pub(super) fn encode_outbox(key: &[u8], item: &OutboxItem) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 + item.short_message.len());
    out.push(VALUE_V1);
    encode_into(OUTBOX, key, item, out)
}

/// Reads an `outbox` entry.
pub(super) fn decode_outbox(key: &[u8], value: &[u8]) -> Result<OutboxItem, Error> {
    decode_all(OUTBOX, key, versioned(OUTBOX, key, value)?)
}

/// The bytes after the version byte, if this build knows the version.
fn versioned<'v>(tree: &'static str, key: &[u8], value: &'v [u8]) -> Result<&'v [u8], Error> {
    match value.split_first() {
        Some((&VALUE_V1, body)) => Ok(body),
        Some((v, _)) => Err(corrupt(tree, key, &format!("unknown value version {v}"))),
        None => Err(corrupt(tree, key, "empty value")),
    }
}

fn encode_into<T: Serialize>(
    tree: &'static str,
    key: &[u8],
    value: &T,
    out: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    // postcard fails only on types it cannot express (maps of unknown length); ours have none, but
    // the error still goes to the caller rather than a panic.
    postcard::to_extend(value, out).map_err(|e| corrupt(tree, key, &format!("encode: {e}")))
}

fn decode_all<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    body: &[u8],
) -> Result<T, Error> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| corrupt(tree, key, &format!("decode: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(
            tree,
            key,
            &format!("{} trailing bytes", rest.len()),
        ));
    }
    Ok(value)
}

/// A [`Error::Corrupt`] naming the tree and the key (hex: keys are binary).
pub(super) fn corrupt(tree: &'static str, key: &[u8], reason: &str) -> Error {
    Error::Corrupt {
        tree,
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::message::{Address, OutboxKind};

    /// A message with every field set.
    pub(in crate::store) fn message(id: u64) -> Message {
        Message {
            esm_class: 0x40,
            data_coding: 8,
            short_message: vec![5, 0, 3, 1, 2, 1, 0, 0x48],
            tlvs: vec![(0x0424, vec![1, 2, 3])],
            schedule_at: Some(1_700_000_000_000),
            received_at: 1_699_999_999_999,
            ..Message::example(MessageId::new(id))
        }
    }

    #[test]
    fn journal_entries_round_trip_and_split() {
        let write = |tree, n: u8, value: Option<Vec<u8>>| Write {
            tree,
            key: vec![n; 9],
            value,
            fresh: false,
        };
        let writes = vec![
            write(Tree::Messages, 1, Some(vec![7; 300])),
            write(Tree::Queue, 2, None),
            write(Tree::Meta, 3, Some(vec![])),
        ];
        let entries = encode_journal(&writes);
        assert_eq!(entries.len(), 1);
        assert_eq!(decode_journal(b"k", &entries[0]).unwrap(), writes);

        // Large batches are cut into entries below the blob threshold, in order.
        let many: Vec<_> = (0..1000)
            .map(|n| write(Tree::Outbox, (n % 250) as u8, Some(vec![1; 200])))
            .collect();
        let entries = encode_journal(&many);
        assert!(entries.len() > 1);
        assert!(entries.iter().all(|e| e.len() <= JOURNAL_ENTRY_MAX));
        let decoded: Vec<_> = entries
            .iter()
            .flat_map(|e| decode_journal(b"k", e).unwrap())
            .collect();
        assert_eq!(decoded, many);
        assert!(encode_journal(&[]).is_empty());
    }

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
        bad_tree[1] = 9;
        assert!(decode_journal(b"k", &bad_tree).is_err());
    }

    #[test]
    fn keys_sort_by_name_then_seq() {
        let a1 = seq_key("a", 1).unwrap();
        let a256 = seq_key("a", 256).unwrap();
        let ab0 = seq_key("ab", 0).unwrap();
        assert!(a1 < a256);
        // The length prefix keeps "a" entries apart from "ab" entries whatever the seq.
        assert!(!ab0.starts_with(&name_prefix("a").unwrap()));
        assert_eq!(split_seq_key(QUEUE, &a256).unwrap(), ("a", 256));
        assert!(matches!(
            name_prefix(&"x".repeat(256)),
            Err(Error::NameTooLong(_))
        ));
    }

    #[test]
    fn records_round_trip() {
        let record = Record {
            queue_seq: Some(7),
            message: message(42),
        };
        let bytes = encode_record(&record).unwrap();
        assert_eq!(bytes[0], VALUE_V1);
        assert_eq!(
            decode_record(&id_key(MessageId::new(42)), &bytes).unwrap(),
            record
        );

        let item = OutboxItem {
            kind: OutboxKind::Receipt {
                message_id: MessageId::new(42),
                state: 2,
                err: 0,
            },
            source: Address::default(),
            destination: Address::default(),
            esm_class: 4,
            data_coding: 0,
            short_message: b"id:42 stat:DELIVRD".to_vec(),
            tlvs: vec![],
            created_at: 1,
        };
        let key = seq_key("shop", 3).unwrap();
        let bytes = encode_outbox(&key, &item).unwrap();
        assert_eq!(decode_outbox(&key, &bytes).unwrap(), item);
    }

    #[test]
    fn damage_is_reported_not_panicked() {
        let key = id_key(MessageId::new(42));
        let bytes = encode_record(&Record {
            queue_seq: None,
            message: message(42),
        })
        .unwrap();
        for cut in 0..bytes.len() {
            assert!(matches!(
                decode_record(&key, &bytes[..cut]),
                Err(Error::Corrupt { tree: MESSAGES, .. })
            ));
        }
        let mut future = bytes.clone();
        future[0] = 9;
        let err = decode_record(&key, &future).unwrap_err();
        assert!(err.to_string().contains("messages"), "{err}");
        // Stored under another key: refused rather than returned as the wrong message.
        assert!(decode_record(&id_key(MessageId::new(43)), &bytes).is_err());
        assert!(decode_u64(META, META_NEXT_ID, &[VALUE_V1, 1, 2]).is_err());
        assert!(split_seq_key(QUEUE, &[5, b'a']).is_err());
    }
}
