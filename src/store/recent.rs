//! What the commit thread wrote last, kept in memory for the reads that follow soon after: a
//! message is dispatched and receipted seconds after it is accepted, and its receipt looks it up
//! by carrier id. Served from here, those reads skip a sled lookup (which walks a leaf's
//! unmerged deltas under heavy writes) and a decode. Only the commit thread writes, after it
//! applied the batch, so an entry here is the value in sled.

use super::layout::Record;
use crate::message::MessageId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// The recent records and carrier ids, shared by the commit thread and the readers.
#[derive(Default)]
pub(super) struct Recent {
    /// Shared pointers: the map's inserts, evictions and rehashes move 8 bytes per record
    /// rather than the record (a rehash of 32k records inline stalled the commit thread for
    /// tens of ms while it held this cache's lock).
    records: Bounded<MessageId, Arc<Record>>,
    carrier_ids: Bounded<Vec<u8>, MessageId>,
}

impl Recent {
    /// About 20 MiB of typical records: covers an update or read that comes seconds after the
    /// write before it at tens of thousands of messages per second.
    const RECORDS: usize = 32 * 1024;
    /// Carrier ids are small; receipts may come minutes after the dispatch.
    const CARRIER_IDS: usize = 256 * 1024;

    /// The record, shared: callers copy what they need after letting go of the lock.
    pub(super) fn record(&self, id: MessageId) -> Option<Arc<Record>> {
        self.records.map.get(&id).cloned()
    }

    pub(super) fn carrier_id(&self, key: &[u8]) -> Option<MessageId> {
        self.carrier_ids.map.get(key).copied()
    }

    /// Takes a committed batch's records and carrier id mappings.
    pub(super) fn extend(
        &mut self,
        records: HashMap<MessageId, Arc<Record>>,
        carrier_ids: Vec<(Vec<u8>, MessageId)>,
    ) {
        self.records.extend(records, Self::RECORDS);
        self.carrier_ids.extend(carrier_ids, Self::CARRIER_IDS);
    }

    /// Drops purged messages and their carrier ids (their places in line stay until they come
    /// up; the map is a cache, so a key re-added meanwhile may just be dropped early).
    pub(super) fn forget(&mut self, ids: &HashSet<MessageId>, carrier_keys: &[Vec<u8>]) {
        for id in ids {
            self.records.map.remove(id);
        }
        for key in carrier_keys {
            self.carrier_ids.map.remove(key);
        }
    }

    /// After a failed commit nothing here can be trusted to match the disk.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// A map of at most `capacity` entries; the oldest inserted goes first.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn extend(&mut self, entries: impl IntoIterator<Item = (K, V)>, capacity: usize) {
        for (key, value) in entries {
            if self.map.insert(key.clone(), value).is_none() {
                self.order.push_back(key);
            }
        }
        while self.order.len() > capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_entries_go_first() {
        let mut b = Bounded::default();
        b.extend([(1, 'a'), (2, 'b'), (3, 'c')], 2);
        assert_eq!(b.map.get(&1), None);
        assert_eq!(b.map.get(&3), Some(&'c'));
        // Overwriting keeps the entry's place in line: 2 is still the oldest.
        b.extend([(2, 'B'), (4, 'd')], 2);
        assert_eq!(b.map.get(&2), None);
        assert_eq!(b.map.get(&3), Some(&'c'));
        assert_eq!(b.map.get(&4), Some(&'d'));
        assert_eq!(b.order.len(), 2);
    }
}
