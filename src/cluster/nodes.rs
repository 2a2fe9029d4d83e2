//! Node identity (cluster.md §3.5): each node claims an id slot, `01` to `99`, in the
//! `SMPPD_NODES` bucket, so that the message ids it issues (`slot × 10¹⁴ + counter`) never
//! collide with another node's. Not yet used by the message path.
//!
//! A slot is claimed with a create of `slot.<nn>` (which fails when the key exists), and bound
//! to the node's store: `{node, store_uuid, claimed_at}`. A node that restarts with the same
//! store finds its slot again; a node that lost its store (a new UUID) claims a new slot, since
//! its old counter is unknown; the old slot stays retired. Two nodes claiming at once get
//! different slots: the create is a compare-and-set.

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

/// The highest slot.
pub const SLOTS: u8 = 99;

/// What can go wrong when claiming a slot.
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
    /// A slot could not be written.
    #[error("SMPPD_NODES: cannot claim {key}: {source}")]
    Write {
        /// `slot.<nn>`.
        key: String,
        /// The client's error.
        #[source]
        source: kv::CreateError,
    },
    /// All 99 are taken (retired slots stay taken until every message of theirs is past
    /// retention).
    #[error(
        "SMPPD_NODES: all {SLOTS} id slots are taken; delete the keys `slot.<nn>` of retired \
         stores whose messages are all past retention"
    )]
    Full,
}

/// What a slot's record holds (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The node's `[cluster] node`.
    pub node: String,
    /// Its store's UUID.
    pub store_uuid: String,
    /// When it was claimed, Unix seconds (for people).
    pub claimed_at: u64,
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

/// The slot bound to `store_uuid`, claiming the lowest free one for it if there is none.
/// Returns the slot and whether it was claimed now.
pub async fn claim_slot(
    kv: &kv::Store,
    node: &str,
    store_uuid: &str,
) -> Result<(u8, bool), NodesError> {
    let read = |what: &str, reason: String| NodesError::Read {
        what: what.to_owned(),
        reason,
    };
    let keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|e| read("the keys", e.to_string()))?
        .try_collect()
        .await
        .map_err(|e| read("the keys", e.to_string()))?;
    let mut taken = [false; SLOTS as usize + 1];
    for slot in keys.iter().filter_map(|k| slot_of(k)) {
        taken[usize::from(slot)] = true;
        let key = slot_key(slot);
        let entry = kv
            .get(key.clone())
            .await
            .map_err(|e| read(&key, e.to_string()))?;
        let record: Option<SlotRecord> = entry.and_then(|v| serde_json::from_slice(&v).ok());
        if record.is_some_and(|r| r.store_uuid == store_uuid) {
            return Ok((slot, false));
        }
    }
    let record = SlotRecord {
        node: node.to_owned(),
        store_uuid: store_uuid.to_owned(),
        claimed_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let value = Bytes::from(serde_json::to_vec(&record).unwrap_or_default());
    for slot in 1..=SLOTS {
        if taken[usize::from(slot)] {
            continue;
        }
        let key = slot_key(slot);
        match kv.create(&key, value.clone()).await {
            Ok(_) => return Ok((slot, true)),
            // Another node took it since the listing: the next one.
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) if super::lease::cas_failed(&e) => {}
            Err(source) => return Err(NodesError::Write { key, source }),
        }
    }
    Err(NodesError::Full)
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
}
