//! The latest writes, in memory in front of the trees.
//!
//! A group commit writes its batch to the journal (durable) and here; the trees get the writes
//! later, a layer at a time (`checkpoint.rs`). Most entries die young: a queue entry lives until
//! the carrier accepts the message, an outbox entry until the client answers its receipt. Written
//! and removed within one layer, they never reach a tree at all, which is most of the sled work a
//! message used to cost.
//!
//! Two layers: `active` takes new writes; `frozen`, if any, is being written to the trees. A read
//! asks active, then frozen, then the tree; the first that knows the key answers.
//!
//! Engine-internal: the commit thread applies batches and freezes layers through `writer.rs`,
//! the checkpoint thread writes and drops the frozen one (`checkpoint.rs`), and reads come
//! through `state.rs`. Nothing here does I/O or fails; a scan passes on the error of the tree
//! iterator it merges.

use super::error::Error;
use super::format::{Tree, Write};
use super::trees::Value;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A key's latest write in a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Put {
        value: Value,
        /// No older layer or tree has the key: removing it needs no tombstone.
        fresh: bool,
    },
    Del,
}

/// The writes of a stretch of batches, merged per key.
#[derive(Default)]
pub(super) struct Layer {
    trees: [BTreeMap<Vec<u8>, Slot>; Tree::SLOTS],
    /// The journal entries whose writes this layer holds, first and last.
    journal: Option<(u64, u64)>,
    /// When the first write came in.
    started: Option<Instant>,
}

impl Layer {
    /// Takes one batch's writes, journaled as entries `journal.0..=journal.1`.
    pub(super) fn apply(&mut self, writes: Vec<Write>, journal: (u64, u64)) {
        // One descent per write (entries): this runs under the layers' write lock.
        for w in writes {
            let slot = self.trees[w.tree as usize].entry(w.key);
            match (w.value, slot) {
                (Some(value), Entry::Occupied(mut e)) => {
                    let fresh = matches!(e.get(), Slot::Put { fresh: true, .. });
                    let value = Value::from(value);
                    e.insert(Slot::Put { value, fresh });
                }
                (Some(value), Entry::Vacant(e)) => {
                    let value = Value::from(value);
                    e.insert(Slot::Put {
                        value,
                        fresh: w.fresh,
                    });
                }
                (None, Entry::Occupied(e)) if matches!(e.get(), Slot::Put { fresh: true, .. }) => {
                    e.remove();
                }
                (None, Entry::Occupied(mut e)) => {
                    e.insert(Slot::Del);
                }
                (None, Entry::Vacant(e)) => {
                    e.insert(Slot::Del);
                }
            }
        }
        self.journal = Some(match self.journal {
            Some((first, _)) => (first, journal.1),
            None => journal,
        });
        self.started.get_or_insert_with(Instant::now);
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Option<&Slot> {
        self.trees[tree as usize].get(key)
    }

    /// Keys held, all trees together.
    pub(super) fn len(&self) -> usize {
        self.trees.iter().map(BTreeMap::len).sum()
    }

    /// Journal entries covered, first and last; `None` if no batch came in.
    pub(super) fn journal(&self) -> Option<(u64, u64)> {
        self.journal
    }

    /// When its first batch came in.
    pub(super) fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Every slot, tree by tree, keys in order.
    pub(super) fn slots(&self) -> impl Iterator<Item = (Tree, &[u8], &Slot)> {
        Tree::ALL.into_iter().flat_map(move |tree| {
            self.trees[tree as usize]
                .iter()
                .map(move |(key, slot)| (tree, key.as_slice(), slot))
        })
    }
}

/// A layer goes to the trees when it holds this many keys (about 100 MiB of typical writes)...
const LAYER_KEYS: usize = 256 * 1024;
/// ... or is `[store]`'s `layer_age` old (see [`crate::config::StoreConfig::layer_age`]).
/// While the previous layer is still being written, the active one may grow to this; then writes
/// wait for the trees (backpressure rather than unbounded memory).
pub(super) const LAYER_KEYS_MAX: usize = 2 * LAYER_KEYS;

/// Whether `active` is big or old enough to go to the trees.
pub(super) fn layer_due(active: &Layer, age: Duration) -> bool {
    active.len() >= LAYER_KEYS || active.started().is_some_and(|t| t.elapsed() >= age)
}

/// The active layer and the one being checkpointed.
#[derive(Default)]
pub(super) struct MemTables {
    pub(super) active: Layer,
    pub(super) frozen: Option<Arc<Layer>>,
}

/// What the layers know about a key.
pub(super) enum Known {
    Value(Value),
    Removed,
    /// Ask the tree.
    Unknown,
}

impl MemTables {
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Known {
        let slot = self
            .active
            .get(tree, key)
            .or_else(|| self.frozen.as_ref().and_then(|f| f.get(tree, key)));
        match slot {
            Some(Slot::Put { value, .. }) => Known::Value(value.clone()),
            Some(Slot::Del) => Known::Removed,
            None => Known::Unknown,
        }
    }

    /// Moves the active layer to frozen and returns it; the caller writes it to the trees.
    /// Only when nothing is frozen (`None` otherwise, and nothing changes).
    pub(super) fn freeze(&mut self) -> Option<Arc<Layer>> {
        if self.frozen.is_some() {
            return None;
        }
        let layer = Arc::new(std::mem::take(&mut self.active));
        self.frozen = Some(Arc::clone(&layer));
        Some(layer)
    }

    /// Up to `limit` live entries of `tree` within the range of `disk` (the tree's entries in
    /// `[from, to]`), in key order: the layers merged over the tree, removals hiding what is
    /// below them.
    pub(super) fn scan(
        &self,
        tree: Tree,
        disk: impl Iterator<Item = Result<(Value, Value), Error>>,
        (from, to): (&[u8], &[u8]),
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, Error> {
        let range = (Bound::Included(from.to_vec()), Bound::Included(to.to_vec()));
        let mut active = self.active.trees[tree as usize]
            .range(range.clone())
            .peekable();
        let frozen_range = range.clone();
        let mut frozen = self
            .frozen
            .iter()
            .flat_map(move |f| f.trees[tree as usize].range(frozen_range.clone()))
            .peekable();
        let mut disk = disk.peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            if let Some(Err(_)) = disk.peek() {
                if let Some(Err(e)) = disk.next() {
                    return Err(e);
                }
            }
            let heads = [
                active.peek().map(|(k, _)| k.as_slice()),
                frozen.peek().map(|(k, _)| k.as_slice()),
                match disk.peek() {
                    Some(Ok((k, _))) => Some(k.as_ref()),
                    _ => None,
                },
            ];
            let Some(key) = heads.iter().flatten().min().map(|k| k.to_vec()) else {
                break;
            };
            // The newest source that has the key decides; every source moves past it.
            let mut decided: Option<Option<Value>> = None;
            if active.peek().is_some_and(|(k, _)| **k == key) {
                if let Some((_, slot)) = active.next() {
                    decided = Some(live(slot));
                }
            }
            if frozen.peek().is_some_and(|(k, _)| **k == key) {
                if let Some((_, slot)) = frozen.next() {
                    decided.get_or_insert_with(|| live(slot));
                }
            }
            if matches!(disk.peek(), Some(Ok((k, _))) if k.as_ref() == key.as_slice()) {
                if let Some(Ok((_, value))) = disk.next() {
                    decided.get_or_insert(Some(value));
                }
            }
            if let Some(Some(value)) = decided {
                out.push((key, value));
            }
        }
        Ok(out)
    }
}

fn live(slot: &Slot) -> Option<Value> {
    match slot {
        Slot::Put { value, .. } => Some(value.clone()),
        Slot::Del => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::engine::trees::Db;

    fn put(tree: Tree, key: &[u8], value: &[u8], fresh: bool) -> Write {
        Write {
            tree,
            key: key.to_vec(),
            value: Some(value.to_vec()),
            fresh,
        }
    }

    fn del(tree: Tree, key: &[u8]) -> Write {
        Write {
            tree,
            key: key.to_vec(),
            value: None,
            fresh: false,
        }
    }

    #[test]
    fn a_fresh_key_removed_in_its_layer_leaves_nothing() {
        let mut layer = Layer::default();
        layer.apply(
            vec![
                put(Tree::Queue, b"q1", b"1", true),
                put(Tree::Queue, b"q1", b"2", false),
                del(Tree::Queue, b"q1"),
                // Not fresh: the tree may have it, so its removal must reach the tree.
                put(Tree::Messages, b"m1", b"x", false),
                del(Tree::Messages, b"m1"),
            ],
            (1, 1),
        );
        assert_eq!(layer.get(Tree::Queue, b"q1"), None);
        assert_eq!(layer.get(Tree::Messages, b"m1"), Some(&Slot::Del));
        assert_eq!(layer.len(), 1);
        layer.apply(vec![], (2, 3));
        assert_eq!(layer.journal(), Some((1, 3)));
    }

    #[test]
    fn reads_see_active_then_frozen_then_the_tree() {
        let db = Db::temporary().unwrap();
        let t = db.open_tree("q").unwrap();
        for k in [b"a1", b"a2", b"a3", b"a5"] {
            t.insert(k, &b"disk"[..]).unwrap();
        }
        let mut mem = MemTables::default();
        mem.active.apply(
            vec![
                del(Tree::Queue, b"a2"),
                put(Tree::Queue, b"a4", b"frozen", true),
            ],
            (1, 1),
        );
        assert!(mem.freeze().is_some());
        assert!(mem.freeze().is_none(), "one frozen layer at a time");
        mem.active.apply(
            vec![
                put(Tree::Queue, b"a2", b"active", false),
                del(Tree::Queue, b"a3"),
                del(Tree::Queue, b"a4"),
            ],
            (2, 2),
        );
        let disk = || t.range(b"a0", b"a9").map(|e| e.map_err(Error::from));
        let got = mem.scan(Tree::Queue, disk(), (b"a0", b"a9"), 10).unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_ref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"a1"[..], &b"disk"[..]),
                (b"a2", b"active"),
                (b"a5", b"disk")
            ]
        );
        let two = mem.scan(Tree::Queue, disk(), (b"a0", b"a9"), 2).unwrap();
        assert_eq!(two.len(), 2);
        assert!(matches!(mem.get(Tree::Queue, b"a3"), Known::Removed));
        assert!(matches!(mem.get(Tree::Queue, b"a1"), Known::Unknown));
        assert!(matches!(mem.get(Tree::Queue, b"a2"), Known::Value(v) if v == b"active"));
    }
}
