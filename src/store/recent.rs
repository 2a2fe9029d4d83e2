//! What the commit thread wrote last, kept in memory for the reads that follow soon after: a
//! message is dispatched and receipted seconds after it is accepted, and its receipt looks it up
//! by carrier id. Served from here, those reads skip a sled lookup (which walks a leaf's
//! unmerged deltas under heavy writes) and a decode. The commit thread writes every record it
//! commits, after it applied the batch, so an entry here is the value in sled.
//!
//! A reader that missed may add the record it then read from the layers or sled (a message
//! waiting in a long queue is read at dispatch, then updated by the commit thread twice): only
//! if it is still absent and nothing was dropped from here since the miss. Then every version
//! committed after the miss is still here, so the id being absent means the reader's copy is
//! the latest; and a version committed before the miss was applied before the read saw it.
//!
//! Filled and emptied by the commit thread (`commit.rs`: after each applied batch, and cleared
//! when a commit fails); read by the store's readers (`mod.rs`). Memory only: nothing here fails,
//! and a miss costs a read through the engine.

use super::layout::Record;
use crate::message::MessageId;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// A carrier id mapping's key (`layout::carrier_key`), inline up to 48 bytes: a link name and
/// a UUID fit. Tens of thousands of these live for seconds; as two small allocations each (the
/// map's key and a copy in an eviction queue) they kept the allocator's pages fragmented, and
/// smppd's RSS climbed for minutes at 10,000 messages/s (measured in the e2e bench).
pub(super) type CarrierKey = SmallVec<[u8; 48]>;

/// The recent records and carrier ids, shared by the commit thread and the readers.
#[derive(Default)]
pub(super) struct Recent {
    /// Shared pointers: the map's inserts, evictions and rehashes move 8 bytes per record
    /// rather than the record (a rehash of 32k records inline stalled the commit thread for
    /// tens of ms while it held this cache's lock).
    /// Empty while the commit thread has taken the record to change it (see [`Recent::take`]).
    records: Bounded<MessageId, Option<Arc<Record>>>,
    carrier_ids: Generations<CarrierKey, MessageId>,
    /// Counts the commit thread's changes (batches taken, forgets, clears).
    changes: u64,
    /// `changes` when a record was last dropped (evicted, forgotten or cleared).
    dropped_at: u64,
}

/// A reader's ticket from [`Recent::record_or_miss`] to [`Recent::fill`]: how far the
/// commit thread's changes had got when the reader missed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Miss(u64);

impl Recent {
    /// About 20 MiB of typical records: covers an update or read that comes seconds after the
    /// write before it at tens of thousands of messages per second.
    const RECORDS: usize = 32 * 1024;
    /// Carrier ids: a few seconds of dispatches, when most receipts come. Later ones find the
    /// mapping in the layers or in a sled pack (a few µs). 64k entries take some 9 MiB.
    const CARRIER_IDS: usize = 64 * 1024;

    /// The record, shared: callers copy what they need after letting go of the lock.
    pub(super) fn record(&self, id: MessageId) -> Option<Arc<Record>> {
        self.records.map.get(&id).cloned().flatten()
    }

    /// The record, or the reader's ticket to add what it reads elsewhere instead.
    pub(super) fn record_or_miss(&self, id: MessageId) -> Result<Arc<Record>, Miss> {
        self.record(id).ok_or(Miss(self.changes))
    }

    /// Adds a record a reader read after `miss`, unless that could put back an older version
    /// (see the module docs).
    pub(super) fn fill(&mut self, miss: Miss, id: MessageId, record: Arc<Record>) {
        if self.dropped_at > miss.0 || self.records.map.contains_key(&id) {
            return;
        }
        if self.records.extend([(id, Some(record))], Self::RECORDS) {
            self.changes += 1;
            self.dropped_at = self.changes;
        }
    }

    /// Takes the record out for the commit thread to change in place: its new version comes
    /// back with the batch ([`Recent::extend`]). The id stays meanwhile, empty, so that no
    /// reader fills in the version it read elsewhere, which may be older than the one taken.
    pub(super) fn take(&mut self, id: MessageId) -> Option<Arc<Record>> {
        self.records.map.get_mut(&id).and_then(Option::take)
    }

    pub(super) fn carrier_id(&self, key: &[u8]) -> Option<MessageId> {
        self.carrier_ids.get(key).copied()
    }

    /// Takes a committed batch's records and carrier id mappings.
    pub(super) fn extend(
        &mut self,
        records: HashMap<MessageId, Arc<Record>>,
        carrier_ids: Vec<(CarrierKey, MessageId)>,
    ) {
        self.changes += 1;
        let records = records.into_iter().map(|(id, record)| (id, Some(record)));
        if self.records.extend(records, Self::RECORDS) {
            self.dropped_at = self.changes;
        }
        self.carrier_ids.extend(carrier_ids, Self::CARRIER_IDS);
    }

    /// Drops purged messages and their carrier ids (their places in line stay until they come
    /// up; the map is a cache, so a key re-added meanwhile may just be dropped early).
    pub(super) fn forget(&mut self, ids: &HashSet<MessageId>, carrier_keys: &[Vec<u8>]) {
        if !ids.is_empty() {
            self.changes += 1;
            self.dropped_at = self.changes;
        }
        for id in ids {
            self.records.map.remove(id);
        }
        for key in carrier_keys {
            self.carrier_ids.remove(key.as_slice());
        }
    }

    /// After a failed commit nothing here can be trusted to match the disk.
    pub(super) fn clear(&mut self) {
        let changes = self.changes + 1;
        *self = Self {
            changes,
            dropped_at: changes,
            ..Self::default()
        };
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
    /// Inserts `entries`; says whether older ones were dropped to make room.
    fn extend(&mut self, entries: impl IntoIterator<Item = (K, V)>, capacity: usize) -> bool {
        for (key, value) in entries {
            if self.map.insert(key.clone(), value).is_none() {
                self.order.push_back(key);
            }
        }
        let mut dropped = false;
        while self.order.len() > capacity {
            if let Some(old) = self.order.pop_front() {
                dropped |= self.map.remove(&old).is_some();
            }
        }
        dropped
    }
}

/// A map of at most `capacity` entries in two generations: inserts go to the young one; when it
/// holds half the capacity, the old one is emptied and the two swap. No order is kept per entry,
/// and the tables' memory is reused rather than freed and allocated again.
struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Self {
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, V> Generations<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    fn extend(&mut self, entries: impl IntoIterator<Item = (K, V)>, capacity: usize) {
        for (key, value) in entries {
            if self.young.len() >= capacity / 2 {
                std::mem::swap(&mut self.young, &mut self.old);
                self.young.clear();
            }
            self.young.insert(key, value);
        }
    }

    fn remove<Q>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.young.remove(key);
        self.old.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::tests::message;

    /// A record of message 1 whose version is `queue_seq`.
    fn version(v: u64) -> Arc<Record> {
        Arc::new(Record {
            queue_seq: Some(v),
            message: message(1),
        })
    }

    fn seen(recent: &Recent) -> Option<u64> {
        recent.record(MessageId::new(1)).and_then(|r| r.queue_seq)
    }

    fn committed(recent: &mut Recent, id: u64, v: u64) {
        let mut record = Record::clone(&version(v));
        record.message.id = MessageId::new(id);
        recent.extend(
            HashMap::from([(MessageId::new(id), Arc::new(record))]),
            vec![],
        );
    }

    #[test]
    fn a_reader_fills_a_miss_only_with_what_cannot_be_older() {
        let id = MessageId::new(1);
        // Nothing changed since the miss: filled.
        let mut recent = Recent::default();
        let miss = recent.record_or_miss(id).unwrap_err();
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), Some(1));

        // The commit thread wrote a newer version meanwhile: it stays.
        let mut recent = Recent::default();
        let miss = recent.record_or_miss(id).unwrap_err();
        committed(&mut recent, 1, 2);
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), Some(2));

        // A newer version came and was evicted meanwhile: not filled.
        let mut recent = Recent::default();
        let miss = recent.record_or_miss(id).unwrap_err();
        committed(&mut recent, 1, 2);
        for other in 2..=u64::try_from(Recent::RECORDS).unwrap() + 1 {
            committed(&mut recent, other, 0);
        }
        assert_eq!(seen(&recent), None);
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), None);

        // Purged or cleared meanwhile: not filled.
        let mut recent = Recent::default();
        let miss = recent.record_or_miss(id).unwrap_err();
        recent.forget(&HashSet::from([id]), &[]);
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), None);
        let miss = recent.record_or_miss(id).unwrap_err();
        recent.clear();
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), None);

        // A later miss, after the drops, fills again.
        let miss = recent.record_or_miss(id).unwrap_err();
        recent.fill(miss, id, version(3));
        assert_eq!(seen(&recent), Some(3));
    }

    #[test]
    fn a_record_taken_for_an_update_is_not_filled_in_behind_it() {
        let id = MessageId::new(1);
        let mut recent = Recent::default();
        let miss = recent.record_or_miss(id).unwrap_err();
        committed(&mut recent, 1, 2);
        // Moved out, not copied: the cache held the only pointer.
        let taken = recent.take(id).unwrap();
        assert_eq!(Arc::strong_count(&taken), 1);
        assert_eq!(seen(&recent), None);
        assert!(recent.take(id).is_none());
        // The reader read version 1 before 2 came: it must not put it back.
        recent.fill(miss, id, version(1));
        assert_eq!(seen(&recent), None);
        // A later miss neither: version 3 may be on its way from the commit thread.
        let later = recent.record_or_miss(id).unwrap_err();
        recent.fill(later, id, version(2));
        assert_eq!(seen(&recent), None);
        // The update's batch brings the new version, in the old one's place in line.
        committed(&mut recent, 1, 3);
        assert_eq!(seen(&recent), Some(3));
        assert_eq!(recent.records.order.len(), 1);
    }

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

    #[test]
    fn generations_keep_between_half_and_all_of_the_capacity() {
        let mut g = Generations::default();
        g.extend((1..=4).map(|k| (k, k * 10)), 4);
        // 1 and 2 are the old generation now, still found.
        assert_eq!(g.get(&1), Some(&10));
        assert_eq!(g.get(&4), Some(&40));
        g.extend([(5, 50)], 4);
        // The young generation was full: 1 and 2 went, 3 and 4 are the old one.
        assert_eq!(g.get(&1), None);
        assert_eq!(g.get(&2), None);
        assert_eq!(g.get(&3), Some(&30));
        assert_eq!(g.get(&5), Some(&50));
        // A newer value for a key in the old generation wins.
        g.extend([(3, 31)], 4);
        assert_eq!(g.get(&3), Some(&31));
        g.remove(&3);
        assert_eq!(g.get(&3), None);
        assert_eq!(g.young.len() + g.old.len(), 2);
    }

    #[test]
    fn carrier_ids_are_found_by_their_bytes() {
        let mut recent = Recent::default();
        let key = b"\x03sim0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9-long-enough-to-spill".as_slice();
        let short = b"\x03sim17".as_slice();
        recent.extend(
            HashMap::new(),
            vec![
                (CarrierKey::from_slice(key), MessageId::new(7)),
                (CarrierKey::from_slice(short), MessageId::new(8)),
            ],
        );
        assert_eq!(recent.carrier_id(key), Some(MessageId::new(7)));
        assert_eq!(recent.carrier_id(short), Some(MessageId::new(8)));
        assert_eq!(recent.carrier_id(b"\x03sim1"), None);
        recent.forget(&HashSet::new(), &[short.to_vec()]);
        assert_eq!(recent.carrier_id(short), None);
    }
}
