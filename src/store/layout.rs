//! The gateway's layout in the engine's trees: key encodings and value formats of messages,
//! queues, outboxes, carrier ids and counters. Nothing else in the gateway knows how a record
//! looks on disk; the trees themselves, how they pack, the journal entry format and the format
//! history are the engine's (`engine/format.rs`).
//!
//! Keys are big-endian integers behind length-prefixed names, so that ordered scans walk a route
//! queue or an outbox oldest first and a name never runs into the next one (`"a" + seq` vs
//! `"ab"`). Every value starts with a version byte, so a later format can read old records.
//!
//! | tree          | key                                     | value                             |
//! |---------------|-----------------------------------------|-----------------------------------|
//! | `messages`    | id (u64 BE)                             | v2, queue seq (u64 BE, 0 = none), |
//! |               |                                         | postcard `Message`                |
//! | `queue`       | route (u8 len + bytes), position: seq   | v1, id (u64 BE)                   |
//! |               | (u64 BE), top bit set for marketing     |                                   |
//! | `carrier_ids` | link (u8 len + bytes), carrier id       | v1, id (u64 BE)                   |
//! | `outbox`      | client (u8 len + bytes), seq (u64 BE)   | v1, postcard `OutboxItem`         |
//! | `meta`        | `next_id`, `next_seq`                   | v1, u64 BE                        |
//! | `suppressions`| scope (0 gateway, 1 client, 2 sender;   | v1, postcard `ConsentEvent` (the  |
//! |               | then name len + bytes), E.164 number    | latest change)                    |
//! | `consent_log` | seq (u64 BE)                            | v1, postcard `ConsentEvent`       |
//! | `last_marketing` | short code (u8 len + digits), number | v1, postcard `LastMarketing`      |
//! |               | (E.164, or `hmac:` hex as the lists)    | (client, when; the latest only)   |
//! | `idempotency` | client (u8 len + bytes), the key        | v1, postcard `idempotency::Recorded` |
//! | `client_refs` | client (u8 len + bytes), its client_ref | v1, id (u64 BE), accepted (i64 BE) |
//! | `campaign_stats` | client (u8 len + bytes), campaign (u8 | v1, counters (u64 BE each, in the |
//! |               | len + bytes; empty: none), class (u8:   | order of `stats::Counters`; a     |
//! |               | 0 transactional, 1 marketing), UTC day  | shorter value reads the missing   |
//! |               | (u32 BE, days since 1970-01-01)         | ones as 0)                        |
//! | `webhooks`    | client, endpoint (u8 len + bytes each), | v1, postcard `HookEntry`          |
//! |               | seq (u64 BE)                            |                                   |
//! | `webhooks_dead` | the same                              | v1, postcard `DeadHook`           |
//! | `meta`        | `format_version` (the engine's)         | the format number (one byte)      |
//!
//! The engine keeps `messages`, `queue` and `outbox` in packs of 16 numbers (ids, seqs) under one
//! sled key, and `carrier_ids` packed by all but the key's last byte; the sled trees, the packing
//! and the journal entry format are in `engine/format.rs`.
//!
//! Message records are version 2 since store format 5: the `Message` ends with its class, what
//! decided it, and its labels. A version 1 record is the same without them and reads as transactional, unlabelled.
//!
//! `last_marketing` (store format 6) is the index of shared short codes: written with a
//! carrier's acceptance of a marketing message from such a code, read when a reply to the code
//! is attributed. Each number has one entry per code, overwritten; an entry older than
//! `attribution_window` is ignored when read.
//!
//! `idempotency` (store format 7) keeps an HTTP answer for a retry: written with the messages
//! it announces, in their commit; past `[http_api] idempotency_window` ignored when read and
//! removed by the sweep (`idempotency.rs`).
//!
//! `client_refs` (store format 8) finds a message by its client's reference: written
//! with the messages in their accept's commit, for the first part of a message whose labels
//! carry a `client_ref` (the latest message with that reference wins), and removed with that
//! message when retention purges it.
//!
//! `campaign_stats` (store format 8) holds one row per client, campaign, class and day, its
//! counters changed in the commit of the message change they count (`stats.rs`). Rows are
//! never removed: they are small, and outlive the messages' retention.
//!
//! The queue seq in a message record points at its queue entry, so cancel and dispatch remove the
//! entry without scanning the route queue.
//!
//! Called by the gateway store (`mod.rs`, `commit.rs`); uses the engine's names and version byte
//! only. A value that does not decode is an [`Error::Corrupt`] naming the tree and key, for that
//! read alone; nothing here panics on disk data.

use super::counters::{Counters, Day, Row};
use super::engine::{
    self, CAMPAIGN_STATS, CLIENT_REFS, IDEMPOTENCY, LAST_MARKETING, MESSAGES, OUTBOX, VALUE_V1,
    WEBHOOKS, WEBHOOKS_DEAD,
};
use super::Error;
use crate::consent::{ConsentEvent, LastMarketing, Scope};
use crate::hook_event::{DeadHook, HookEntry};
use crate::idempotency::Recorded;
use crate::message::{Class, ClassFrom, Labels, Message, MessageId, OutboxItem};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `meta` key: no id below this was ever acknowledged; the allocator restarts here or above.
pub(super) const META_NEXT_ID: &[u8] = b"next_id";
/// `meta` key: the same for queue and outbox sequence numbers (one shared counter).
pub(super) const META_NEXT_SEQ: &[u8] = b"next_seq";

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

/// Key of a suppression: the scope (a tag byte, then the client or sender's name prefix),
/// then the number. The scope first, so that one list scans in number order.
pub(super) fn suppression_key(scope: &Scope, number: &str) -> Result<Vec<u8>, Error> {
    let mut key = scope_prefix(scope)?;
    key.extend_from_slice(number.as_bytes());
    Ok(key)
}

/// The prefix of one scope's suppressions.
pub(super) fn scope_prefix(scope: &Scope) -> Result<Vec<u8>, Error> {
    Ok(match scope {
        Scope::Gateway => vec![0],
        Scope::Client(client) => [&[1][..], &name_prefix(client)?].concat(),
        Scope::Sender(sender) => [&[2][..], &name_prefix(sender)?].concat(),
    })
}

/// Key of a `last_marketing` entry: the code's name prefix, then the number as the lists keep
/// it.
pub(super) fn last_marketing_key(code: &str, number: &str) -> Result<Vec<u8>, Error> {
    let mut key = name_prefix(code)?;
    key.extend_from_slice(number.as_bytes());
    Ok(key)
}

/// Key of an `idempotency` entry: the client's name prefix, then the key.
pub(super) fn idempotency_key(client: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut out = name_prefix(client)?;
    out.extend_from_slice(key.as_bytes());
    Ok(out)
}

/// Key of a `campaign_stats` row.
pub(super) fn stats_key(
    client: &str,
    campaign: &str,
    class: Class,
    day: Day,
) -> Result<Vec<u8>, Error> {
    let mut key = name_prefix(client)?;
    key.extend_from_slice(&name_prefix(campaign)?);
    key.push(class as u8);
    key.extend_from_slice(&day.number().to_be_bytes());
    Ok(key)
}

/// The prefix of a client's rows (`Some((client, None))`), of one of its campaigns
/// (`Some((client, Some(campaign)))`), or of every row (`None`).
pub(super) fn stats_prefix(of: Option<(&str, Option<&str>)>) -> Result<Vec<u8>, Error> {
    let Some((client, campaign)) = of else {
        return Ok(Vec::new());
    };
    let mut prefix = name_prefix(client)?;
    if let Some(campaign) = campaign {
        prefix.extend_from_slice(&name_prefix(campaign)?);
    }
    Ok(prefix)
}

/// Value of a `campaign_stats` row.
pub(super) fn encode_stats(counters: &Counters) -> Vec<u8> {
    let values = counters.to_array();
    let mut out = Vec::with_capacity(1 + 8 * values.len());
    out.push(VALUE_V1);
    for n in values {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out
}

/// Reads a `campaign_stats` row, its key included.
pub(super) fn decode_stats(key: &[u8], value: &[u8]) -> Result<Row, Error> {
    let bad = |reason: &str| corrupt(CAMPAIGN_STATS, key, reason);
    let (client, rest) = stats_name(key, key)?;
    let (campaign, rest) = stats_name(key, rest)?;
    let (class, day) = match rest {
        [0, day @ ..] => (Class::Transactional, day),
        [1, day @ ..] => (Class::Marketing, day),
        _ => return Err(bad("unknown class")),
    };
    let day = <[u8; 4]>::try_from(day).map_err(|_| bad("day is not 4 bytes"))?;
    let body = versioned(CAMPAIGN_STATS, key, value)?;
    let max = Counters::default().to_array().len();
    if body.len() % 8 != 0 || body.len() / 8 > max {
        return Err(bad("not whole u64 counters, or more than this build knows"));
    }
    let values: Vec<u64> = body
        .chunks_exact(8)
        .map(|chunk| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_be_bytes))
        .collect();
    Ok(Row {
        client,
        campaign,
        class,
        day: Day::from_number(u32::from_be_bytes(day)),
        counters: Counters::from_slice(&values),
    })
}

/// The length-prefixed name at the start of `bytes`, a part of `key`, and what follows it.
fn stats_name<'k>(key: &[u8], bytes: &'k [u8]) -> Result<(String, &'k [u8]), Error> {
    let bad = |reason: &str| corrupt(CAMPAIGN_STATS, key, reason);
    let (&len, rest) = bytes.split_first().ok_or_else(|| bad("key cut short"))?;
    let (name, rest) = rest
        .split_at_checked(usize::from(len))
        .ok_or_else(|| bad("name runs past the key"))?;
    let name = std::str::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
    Ok((name.to_owned(), rest))
}

/// Value of an `idempotency` entry.
pub(super) fn encode_idempotency(key: &[u8], answer: &Recorded) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 + answer.body.len());
    out.push(VALUE_V1);
    encode_into(IDEMPOTENCY, key, answer, out)
}

/// Reads an `idempotency` entry.
pub(super) fn decode_idempotency(key: &[u8], value: &[u8]) -> Result<Recorded, Error> {
    decode_all(IDEMPOTENCY, key, versioned(IDEMPOTENCY, key, value)?)
}

/// The prefix of one webhook endpoint's entries (`webhooks`, `webhooks_dead`): the client's
/// name prefix, then the endpoint's.
pub(super) fn hook_prefix(client: &str, endpoint: &str) -> Result<Vec<u8>, Error> {
    let mut key = name_prefix(client)?;
    key.extend_from_slice(&name_prefix(endpoint)?);
    Ok(key)
}

/// Key of a webhook entry: the endpoint's prefix, then the seq (u64 BE), so an endpoint's
/// entries are one range, in queue order.
pub(super) fn hook_key(client: &str, endpoint: &str, seq: u64) -> Result<Vec<u8>, Error> {
    let mut key = hook_prefix(client, endpoint)?;
    key.extend_from_slice(&seq.to_be_bytes());
    Ok(key)
}

/// The client, endpoint and seq of a webhook entry's key.
pub(super) fn split_hook_key<'k>(
    tree: &'static str,
    key: &'k [u8],
) -> Result<(&'k str, &'k str, u64), Error> {
    let (client, rest) = split_seq_key_name(tree, key, key)?;
    let (endpoint, seq) = split_seq_key_name(tree, key, rest)?;
    let seq = <[u8; 8]>::try_from(seq).map_err(|_| corrupt(tree, key, "seq is not 8 bytes"))?;
    Ok((client, endpoint, u64::from_be_bytes(seq)))
}

/// A length-prefixed name at the start of `part` of `key`, and what follows it.
fn split_seq_key_name<'k>(
    tree: &'static str,
    key: &[u8],
    part: &'k [u8],
) -> Result<(&'k str, &'k [u8]), Error> {
    let (&len, rest) = part
        .split_first()
        .ok_or_else(|| corrupt(tree, key, "key ends before a name"))?;
    let (name, rest) = rest
        .split_at_checked(usize::from(len))
        .ok_or_else(|| corrupt(tree, key, "name runs past the key"))?;
    let name = std::str::from_utf8(name).map_err(|_| corrupt(tree, key, "name is not UTF-8"))?;
    Ok((name, rest))
}

/// Value of a `webhooks` entry.
pub(super) fn encode_hook(key: &[u8], entry: &HookEntry) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(160);
    out.push(VALUE_V1);
    encode_into(WEBHOOKS, key, entry, out)
}

/// Reads a `webhooks` entry.
pub(super) fn decode_hook(key: &[u8], value: &[u8]) -> Result<HookEntry, Error> {
    decode_all(WEBHOOKS, key, versioned(WEBHOOKS, key, value)?)
}

/// Value of a `webhooks_dead` entry.
pub(super) fn encode_dead_hook(key: &[u8], dead: &DeadHook) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(200);
    out.push(VALUE_V1);
    encode_into(WEBHOOKS_DEAD, key, dead, out)
}

/// Reads a `webhooks_dead` entry.
pub(super) fn decode_dead_hook(key: &[u8], value: &[u8]) -> Result<DeadHook, Error> {
    decode_all(WEBHOOKS_DEAD, key, versioned(WEBHOOKS_DEAD, key, value)?)
}

/// Key of a `client_refs` entry: the client's name prefix, then its reference.
pub(super) fn client_ref_key(client: &str, client_ref: &str) -> Result<Vec<u8>, Error> {
    let mut out = name_prefix(client)?;
    out.extend_from_slice(client_ref.as_bytes());
    Ok(out)
}

/// Value of a `client_refs` entry: the message's id and when it was accepted (unix ms).
pub(super) fn encode_client_ref(id: MessageId, accepted_at: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(17);
    out.push(VALUE_V1);
    out.extend_from_slice(&id.as_u64().to_be_bytes());
    out.extend_from_slice(&accepted_at.to_be_bytes());
    out
}

/// Reads a `client_refs` entry: the id and the accept time.
pub(super) fn decode_client_ref(key: &[u8], value: &[u8]) -> Result<(MessageId, i64), Error> {
    let body = versioned(CLIENT_REFS, key, value)?;
    let (id, at) = body
        .split_first_chunk::<8>()
        .and_then(|(id, rest)| Some((id, <&[u8; 8]>::try_from(rest).ok()?)))
        .ok_or_else(|| corrupt(CLIENT_REFS, key, "value is not an id and a time"))?;
    Ok((
        MessageId::new(u64::from_be_bytes(*id)),
        i64::from_be_bytes(*at),
    ))
}

/// Value of a `last_marketing` entry.
pub(super) fn encode_last_marketing(key: &[u8], last: &LastMarketing) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(32);
    out.push(VALUE_V1);
    encode_into(LAST_MARKETING, key, last, out)
}

/// Reads a `last_marketing` entry.
pub(super) fn decode_last_marketing(key: &[u8], value: &[u8]) -> Result<LastMarketing, Error> {
    decode_all(LAST_MARKETING, key, versioned(LAST_MARKETING, key, value)?)
}

/// Value of a `suppressions` or `consent_log` entry.
pub(super) fn encode_consent(
    tree: &'static str,
    key: &[u8],
    event: &ConsentEvent,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(96);
    out.push(VALUE_V1);
    encode_into(tree, key, event, out)
}

/// Reads a `suppressions` or `consent_log` entry.
pub(super) fn decode_consent(
    tree: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<ConsentEvent, Error> {
    decode_all(tree, key, versioned(tree, key, value)?)
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

/// Version of the message records this build writes: a `Message` with its class and labels.
const RECORD_V2: u8 = 2;

/// Value of a `messages` entry.
pub(super) fn encode_record(record: &Record) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(128 + record.message.short_message.len());
    out.push(RECORD_V2);
    out.extend_from_slice(&record.queue_seq.unwrap_or(0).to_be_bytes());
    encode_into(MESSAGES, &id_key(record.message.id), &record.message, out)
}

/// Reads a `messages` entry; `key` names it in errors.
pub(super) fn decode_record(key: &[u8], value: &[u8]) -> Result<Record, Error> {
    let (version, body) = match value.split_first() {
        Some((&RECORD_V2, body)) => (RECORD_V2, body),
        _ => (VALUE_V1, versioned(MESSAGES, key, value)?),
    };
    let (seq, body) = body
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt(MESSAGES, key, "record shorter than its header"))?;
    let queue_seq = match u64::from_be_bytes(*seq) {
        0 => None,
        seq => Some(seq),
    };
    let message: Message = if version == VALUE_V1 {
        // The fields version 2 appended, at their defaults: postcard reads structs as tuples,
        // so the missing tail is supplied rather than skipped.
        decode_all(MESSAGES, key, &with_v1_tail(key, body)?)?
    } else {
        decode_all(MESSAGES, key, body)?
    };
    if id_key(message.id) != key {
        return Err(corrupt(MESSAGES, key, "record holds another id"));
    }
    Ok(Record { queue_seq, message })
}

/// A version 1 record's message with what it lacks appended: the default class, no labels.
fn with_v1_tail(key: &[u8], body: &[u8]) -> Result<Vec<u8>, Error> {
    let tail = (Class::default(), ClassFrom::default(), Labels::default());
    encode_into(MESSAGES, key, &tail, body.to_vec())
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
    Ok(engine::versioned(tree, key, value)?)
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
    engine::corrupt(tree, key, reason).into()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::message::{Address, OutboxKind};
    use crate::store::engine::{META, QUEUE};

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
            message: Message {
                class: Class::Marketing,
                class_from: ClassFrom::ServiceType,
                labels: Labels {
                    campaign: Some("black-friday".into()),
                    client_ref: Some("cart-981".into()),
                    tags: vec!["promo".into(), "fr".into()],
                },
                ..message(42)
            },
        };
        let bytes = encode_record(&record).unwrap();
        assert_eq!(bytes[0], RECORD_V2);
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
    fn version_1_records_read_as_transactional_without_labels() {
        let key = id_key(MessageId::new(42));
        let record = Record {
            queue_seq: Some(7),
            message: message(42),
        };
        let v2 = encode_record(&record).unwrap();
        // Version 1 wrote the same bytes without the tail that version 2 appended.
        let tail =
            postcard::to_allocvec(&(Class::default(), ClassFrom::default(), Labels::default()))
                .unwrap();
        assert!(v2.ends_with(&tail));
        let mut v1 = v2[..v2.len() - tail.len()].to_vec();
        v1[0] = VALUE_V1;
        let read = decode_record(&key, &v1).unwrap();
        assert_eq!(read, record);
        assert_eq!(read.message.class, Class::Transactional);
        // Cut short, a version 1 record is still refused, not padded into a message.
        assert!(decode_record(&key, &v1[..v1.len() - 1]).is_err());
    }

    #[test]
    fn stats_rows_round_trip_and_sort_by_client_campaign_class_day() {
        let day = Day::from_number(20_000);
        let key = stats_key("shop", "promo", Class::Marketing, day).unwrap();
        let counters = Counters {
            accepted: 3,
            segments: 5,
            delivered: 2,
            cost_micro: 135_000,
            ..Counters::default()
        };
        let value = encode_stats(&counters);
        let row = decode_stats(&key, &value).unwrap();
        assert_eq!(
            (
                row.client.as_str(),
                row.campaign.as_str(),
                row.class,
                row.day
            ),
            ("shop", "promo", Class::Marketing, day)
        );
        assert_eq!(row.counters, counters);
        // Under its prefixes, in day order; "" (no campaign) is a campaign of its own.
        let prefix = stats_prefix(Some(("shop", Some("promo")))).unwrap();
        assert!(key.starts_with(&prefix));
        assert!(key.starts_with(&stats_prefix(Some(("shop", None))).unwrap()));
        let next = stats_key("shop", "promo", Class::Marketing, Day::from_number(20_001));
        assert!(key < next.unwrap());
        let none = stats_key("shop", "", Class::Transactional, day).unwrap();
        assert!(!none.starts_with(&prefix));
        // An older, shorter row reads its missing counters as 0; damage is refused.
        let short = decode_stats(&key, &value[..9]).unwrap();
        assert_eq!(short.counters.accepted, 3);
        assert_eq!(short.counters.cost_micro, 0);
        assert!(decode_stats(&key, &value[..10]).is_err());
        assert!(decode_stats(&key[..key.len() - 1], &value).is_err());
        assert!(decode_stats(&[9, b'a'], &value).is_err());
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
