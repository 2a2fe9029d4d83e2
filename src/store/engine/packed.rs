//! Packs: several entries of a tree under one sled key.
//!
//! sled 0.34 splits a leaf at 16 keys, and a tree whose new keys come at its end (ids and
//! sequence numbers only grow, and so do most carriers' message ids) splits one every few
//! inserts: an insert cost 7–9 µs, and sled kept some 20–30 bytes of memory per key for its
//! pages, however small its cache. Packed, a message's record costs about 1.2 µs of sled work and
//! sled's pages stay few.
//!
//! An entry's key is its pack's key and a slot, in one of two ways ([`Packing`]):
//! - [`Packing::Numbered`]: keys that are a prefix (maybe empty) and a u64 BE number, like
//!   `messages` (the id). The entry `prefix + n` is slot `n % 16` of the pack `prefix + n / 16`.
//! - [`Packing::LastByte`]: any key, like `carrier_ids` (link and the carrier's id). The last
//!   byte is the slot, the rest the pack's key: a carrier counting its ids in decimal or hex puts
//!   10 or 16 consecutive ones in a pack; random ids get a pack each, as they had a key each.
//!
//! A pack's value: v1, then each entry in slot order: slot (u8), length (u32 BE), bytes. An
//! empty pack is removed.
//!
//! Engine-internal: reads come through `state.rs` (which routes a packed [`Tree`]'s reads here),
//! writes from the checkpoint and the format upgrade. A pack that does not decode is an
//! [`Error::Corrupt`] naming the tree and the pack's key, for that read or write alone; a scan
//! ends at its first error.
//!
//! [`Tree`]: super::format::Tree

use super::error::{corrupt, Error};
use super::format::{Packing, VALUE_V1};
use super::trees::{RawIter, RawTree, Value};

/// Numbers per pack in a [`Packing::Numbered`] tree.
const NUMBERS: u64 = 16;

impl Packing {
    /// Where an entry lives: its pack's key and its slot. `None` if the key cannot be packed
    /// this way (shorter than a u64; empty).
    pub(super) fn locate(self, key: &[u8]) -> Option<(Vec<u8>, u8)> {
        match self {
            Self::Numbered => {
                let (prefix, n) = key.split_last_chunk::<8>()?;
                let n = u64::from_be_bytes(*n);
                let mut pack = Vec::with_capacity(key.len());
                pack.extend_from_slice(prefix);
                pack.extend_from_slice(&(n / NUMBERS).to_be_bytes());
                Some((pack, u8::try_from(n % NUMBERS).ok()?))
            }
            Self::LastByte => {
                let (slot, pack) = key.split_last()?;
                Some((pack.to_vec(), *slot))
            }
        }
    }

    /// The key of the entry in `slot` of the pack `pack_key`.
    fn entry_key(self, pack_key: &[u8], slot: u8) -> Option<Vec<u8>> {
        let mut key = Vec::with_capacity(pack_key.len() + 1);
        match self {
            Self::Numbered => {
                let (prefix, n) = pack_key.split_last_chunk::<8>()?;
                let n = u64::from_be_bytes(*n)
                    .checked_mul(NUMBERS)?
                    .checked_add(u64::from(slot))?;
                key.extend_from_slice(prefix);
                key.extend_from_slice(&n.to_be_bytes());
            }
            Self::LastByte => {
                key.extend_from_slice(pack_key);
                key.push(slot);
            }
        }
        Some(key)
    }

    /// Slots a pack can have.
    fn slots(self) -> usize {
        match self {
            Self::Numbered => NUMBERS as usize,
            Self::LastByte => 256,
        }
    }
}

/// A pack's entries by slot, each a view into the value read from sled (no copies).
#[derive(Default)]
struct Pack {
    entries: Vec<(u8, Value)>,
}

impl Pack {
    fn decode(tree: &'static str, key: &[u8], value: &Value) -> Result<Self, Error> {
        let mut entries = Vec::new();
        walk(tree, key, value, |slot, at, len| {
            entries.push((slot, value.subslice(at, len)));
        })?;
        Ok(Self { entries })
    }

    /// The entry in `slot` of a pack's value, checked like [`Pack::decode`] but without
    /// taking the others apart: the read path wants one record.
    fn find(
        tree: &'static str,
        key: &[u8],
        value: &Value,
        slot: u8,
    ) -> Result<Option<Value>, Error> {
        let mut found = None;
        walk(tree, key, value, |s, at, len| {
            if s == slot {
                found = Some(value.subslice(at, len));
            }
        })?;
        Ok(found)
    }

    /// The value to store; `None` when no entry is left.
    fn encode(&self) -> Option<Vec<u8>> {
        if self.entries.is_empty() {
            return None;
        }
        let size: usize = self.entries.iter().map(|(_, v)| 5 + v.len()).sum();
        let mut out = Vec::with_capacity(1 + size);
        out.push(VALUE_V1);
        for (slot, value) in &self.entries {
            // Entries are far below 4 GiB: a PDU is at most 70 KiB.
            let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
            out.push(*slot);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(value);
        }
        Some(out)
    }

    fn set(&mut self, slot: u8, value: Option<Value>) {
        match (self.entries.binary_search_by_key(&slot, |(s, _)| *s), value) {
            (Ok(at), Some(value)) => {
                if let Some(entry) = self.entries.get_mut(at) {
                    entry.1 = value;
                }
            }
            (Ok(at), None) => drop(self.entries.remove(at)),
            (Err(at), Some(value)) => self.entries.insert(at, (slot, value)),
            (Err(_), None) => {}
        }
    }
}

/// Checks a pack's value (version, entries whole and in slot order, not empty) and hands each
/// entry's slot, offset and length to `each`.
fn walk(
    tree: &'static str,
    key: &[u8],
    value: &[u8],
    mut each: impl FnMut(u8, usize, usize),
) -> Result<(), Error> {
    let bad = |reason: &str| corrupt(tree, key, reason);
    let (&version, _) = value.split_first().ok_or_else(|| bad("empty pack"))?;
    if version != VALUE_V1 {
        return Err(bad("unknown pack version"));
    }
    let mut last: Option<u8> = None;
    let mut at = 1;
    while at < value.len() {
        let header = value
            .get(at..at + 5)
            .ok_or_else(|| bad("pack entry cut short"))?;
        let (&slot, len) = header
            .split_first()
            .ok_or_else(|| bad("pack entry cut short"))?;
        let len = <[u8; 4]>::try_from(len).map_err(|_| bad("pack entry cut short"))?;
        let len = usize::try_from(u32::from_be_bytes(len)).map_err(|_| bad("huge entry"))?;
        at += 5;
        if value.len() < at + len {
            return Err(bad("pack entry cut short"));
        }
        if last.is_some_and(|last| last >= slot) {
            return Err(bad("pack entries out of order"));
        }
        each(slot, at, len);
        last = Some(slot);
        at += len;
    }
    if last.is_none() {
        return Err(bad("empty pack"));
    }
    Ok(())
}

/// A packed tree: its sled tree, its name in errors, and how it packs.
#[derive(Clone, Copy)]
pub(super) struct Packed<'t> {
    pub(super) tree: &'t RawTree,
    pub(super) name: &'static str,
    pub(super) packing: Packing,
}

impl<'t> Packed<'t> {
    fn locate(&self, key: &[u8]) -> Result<(Vec<u8>, u8), Error> {
        self.packing
            .locate(key)
            .ok_or_else(|| corrupt(self.name, key, "key cannot be packed"))
    }

    fn read(&self, pack_key: &[u8]) -> Result<Pack, Error> {
        match self.tree.get(pack_key)? {
            Some(value) => Pack::decode(self.name, pack_key, &value),
            None => Ok(Pack::default()),
        }
    }

    /// An entry's value.
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Value>, Error> {
        let (pack_key, slot) = self.locate(key)?;
        match self.tree.get(&pack_key)? {
            Some(value) => Pack::find(self.name, &pack_key, &value, slot),
            None => Ok(None),
        }
    }

    /// The entries with keys in `[from, to]`, in key order. A [`Packing::LastByte`] tree's packs
    /// are not in their entries' order (`"ab"` + `'z'` sorts after `"abc"` + `'d'`): such a scan
    /// reads the whole tree.
    pub(super) fn range(&self, from: &[u8], to: &[u8]) -> Range {
        self.scan(Some((from, to)))
    }

    /// Every entry, in key order.
    pub(super) fn all(&self) -> Range {
        self.scan(None)
    }

    fn scan(&self, bounds: Option<(&[u8], &[u8])>) -> Range {
        let mut range = Range {
            name: self.name,
            packing: self.packing,
            packs: None,
            pending: Vec::new().into_iter(),
            bounds: bounds.map(|(from, to)| (from.to_vec(), to.to_vec())),
        };
        match (self.packing, bounds) {
            (Packing::Numbered, None) => range.packs = Some(self.tree.iter()),
            (Packing::Numbered, Some((from, to))) => {
                range.packs = self
                    .packing
                    .locate(from)
                    .zip(self.packing.locate(to))
                    .map(|((first, _), (last, _))| self.tree.range(&first, &last));
            }
            (Packing::LastByte, _) => {
                range.pending = match self.sorted(bounds) {
                    Ok(entries) => entries.into_iter().map(Ok).collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                }
                .into_iter();
            }
        }
        range
    }

    /// Every entry within `bounds`, sorted: all packs read.
    fn sorted(&self, bounds: Option<(&[u8], &[u8])>) -> Result<Vec<(Value, Value)>, Error> {
        let mut all = Vec::new();
        for pack in self.tree.iter() {
            let (pack_key, value) = pack?;
            all.extend(entries(self.name, self.packing, &pack_key, &value, bounds)?);
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    /// The entry with the greatest key of a [`Packing::Numbered`] tree.
    pub(super) fn last(&self) -> Result<Option<(Vec<u8>, Value)>, Error> {
        let Some((pack_key, value)) = self.tree.last()? else {
            return Ok(None);
        };
        let pack = Pack::decode(self.name, &pack_key, &value)?;
        let Some((slot, value)) = pack.entries.into_iter().next_back() else {
            return Ok(None);
        };
        let key = self
            .packing
            .entry_key(&pack_key, slot)
            .ok_or_else(|| not_a_pack_key(self.name, &pack_key))?;
        Ok(Some((key, value)))
    }

    /// Entries in the tree (a walk over every pack).
    #[cfg(test)]
    pub(super) fn len(&self) -> Result<usize, Error> {
        let mut n = 0;
        for pack in self.tree.iter() {
            let (key, value) = pack?;
            n += Pack::decode(self.name, &key, &value)?.entries.len();
        }
        Ok(n)
    }
}

/// A pack's entries with their keys, those in `[from, to]` if given.
fn entries(
    name: &'static str,
    packing: Packing,
    pack_key: &[u8],
    value: &Value,
    bounds: Option<(&[u8], &[u8])>,
) -> Result<Vec<(Value, Value)>, Error> {
    let pack = Pack::decode(name, pack_key, value)?;
    let mut out = Vec::with_capacity(pack.entries.len());
    for (slot, value) in pack.entries {
        let key = packing
            .entry_key(pack_key, slot)
            .ok_or_else(|| not_a_pack_key(name, pack_key))?;
        if bounds.is_none_or(|(from, to)| from <= key.as_slice() && key.as_slice() <= to) {
            out.push((Value::from(key), value));
        }
    }
    Ok(out)
}

fn not_a_pack_key(tree: &'static str, key: &[u8]) -> Error {
    corrupt(tree, key, "not a pack's key")
}

/// See [`Packed::range`].
pub(super) struct Range {
    name: &'static str,
    packing: Packing,
    /// `None` once done, after an error, or when everything is in `pending`.
    packs: Option<RawIter>,
    /// The rest of the current pack's entries (or all of them).
    pending: std::vec::IntoIter<Result<(Value, Value), Error>>,
    /// `None`: no bounds.
    bounds: Option<(Vec<u8>, Vec<u8>)>,
}

impl Iterator for Range {
    type Item = Result<(Value, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.pending.next() {
                return Some(entry);
            }
            let Some(read) = self.packs.as_mut()?.next() else {
                self.packs = None;
                return None;
            };
            let bounds = self
                .bounds
                .as_ref()
                .map(|(from, to)| (from.as_slice(), to.as_slice()));
            let found = read.map_err(Error::from).and_then(|(pack_key, value)| {
                entries(self.name, self.packing, &pack_key, &value, bounds)
            });
            match found {
                Ok(found) => {
                    self.pending = found.into_iter().map(Ok).collect::<Vec<_>>().into_iter()
                }
                Err(e) => {
                    self.packs = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A pack being gathered: its key and its slots' new values (`None` empties a slot).
type Gathered = (Vec<u8>, Vec<(u8, Option<Value>)>);

/// Writes entries given in key order, a pack at a time: each pack is read (unless every slot
/// is written) and written once. Keys of one pack that come apart (another pack's key sorts
/// between them) cost a second read and write of the pack, nothing more.
pub(super) struct Writer<'t> {
    packed: Packed<'t>,
    pending: Option<Gathered>,
}

impl<'t> Writer<'t> {
    pub(super) fn new(packed: Packed<'t>) -> Self {
        Self {
            packed,
            pending: None,
        }
    }

    /// Sets (`Some`) or removes (`None`) an entry; its pack is written once the entries move
    /// past it, or at [`Writer::finish`].
    pub(super) fn put(&mut self, key: &[u8], value: Option<Value>) -> Result<(), Error> {
        let (pack_key, slot) = self.packed.locate(key)?;
        match &mut self.pending {
            Some((k, writes)) if *k == pack_key => writes.push((slot, value)),
            _ => {
                if let Some((k, writes)) = self.pending.replace((pack_key, vec![(slot, value)])) {
                    self.write(&k, writes)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the last pack.
    pub(super) fn finish(mut self) -> Result<(), Error> {
        match self.pending.take() {
            Some((k, writes)) => self.write(&k, writes),
            None => Ok(()),
        }
    }

    fn write(&self, pack_key: &[u8], writes: Vec<(u8, Option<Value>)>) -> Result<(), Error> {
        // Slots come in key order, so each once: all of them written means nothing to read.
        let mut pack = if writes.len() == self.packed.packing.slots() {
            Pack::default()
        } else {
            self.packed.read(pack_key)?
        };
        for (slot, value) in writes {
            pack.set(slot, value);
        }
        match pack.encode() {
            Some(value) => self.packed.tree.insert(pack_key, value)?,
            None => self.packed.tree.remove(pack_key)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::engine::trees::Db;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn key(prefix: &[u8], n: u64) -> Vec<u8> {
        let mut key = prefix.to_vec();
        key.extend_from_slice(&n.to_be_bytes());
        key
    }

    fn tree() -> (tempfile::TempDir, RawTree) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_as_is(dir.path()).unwrap();
        let tree = db.open_tree("t").unwrap();
        (dir, tree)
    }

    fn packed(tree: &RawTree, packing: Packing) -> Packed<'_> {
        Packed {
            tree,
            name: "queue",
            packing,
        }
    }

    #[test]
    fn an_entry_lives_in_the_pack_its_key_says() {
        let numbered = Packing::Numbered;
        assert_eq!(
            numbered.locate(&key(b"\x01r", 35)),
            Some((key(b"\x01r", 2), 3))
        );
        assert_eq!(
            numbered.entry_key(&key(b"\x01r", 2), 3),
            Some(key(b"\x01r", 35))
        );
        assert_eq!(numbered.locate(b"short"), None);
        let last_byte = Packing::LastByte;
        assert_eq!(
            last_byte.locate(b"\x01c1a2f"),
            Some((b"\x01c1a2".to_vec(), b'f'))
        );
        assert_eq!(
            last_byte.entry_key(b"\x01c1a2", b'f'),
            Some(b"\x01c1a2f".to_vec())
        );
        assert_eq!(last_byte.locate(b""), None);
    }

    #[test]
    fn writes_merge_with_the_pack_on_disk_and_an_emptied_pack_goes() {
        let (_dir, tree) = tree();
        let p = packed(&tree, Packing::Numbered);
        let mut w = Writer::new(p);
        for n in [1, 2, 17] {
            let value = Value::from(format!("v{n}").as_bytes());
            w.put(&key(b"", n), Some(value)).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(tree.len(), 2);

        let mut w = Writer::new(p);
        w.put(&key(b"", 2), None).unwrap();
        w.put(&key(b"", 3), Some(Value::from(&b"v3"[..]))).unwrap();
        w.put(&key(b"", 17), None).unwrap();
        w.finish().unwrap();
        assert_eq!(tree.len(), 1, "the pack of 16..32 emptied");
        assert_eq!(p.get(&key(b"", 1)).unwrap().unwrap(), b"v1");
        assert_eq!(p.get(&key(b"", 2)).unwrap(), None);
        assert_eq!(p.get(&key(b"", 3)).unwrap().unwrap(), b"v3");
        assert_eq!(p.get(&key(b"", 17)).unwrap(), None);
        let (last_key, last_value) = p.last().unwrap().unwrap();
        assert_eq!((last_key, last_value.as_ref()), (key(b"", 3), &b"v3"[..]));
    }

    #[test]
    fn a_damaged_pack_is_an_error_naming_the_tree() {
        let (_dir, tree) = tree();
        let p = packed(&tree, Packing::Numbered);
        for damaged in [
            &[VALUE_V1, 0, 0, 0, 0, 9, b'x'][..],
            &[VALUE_V1, 0, 0, 0][..],
            &[VALUE_V1][..],
            &[VALUE_V1, 3, 0, 0, 0, 0, 2, 0, 0, 0, 0][..],
            &[9, 0, 0, 0, 0, 0][..],
        ] {
            tree.insert(&key(b"", 0), damaged).unwrap();
            let err = p.get(&key(b"", 0)).unwrap_err();
            assert!(err.to_string().contains("queue"), "{err}");
            let mut scan = p.range(&key(b"", 0), &key(b"", 99));
            assert!(scan.next().unwrap().is_err());
            assert!(scan.next().is_none(), "a scan ends at its error");
        }
    }

    proptest! {
        /// Whatever the writes, a packed tree reads like a plain map: entry by entry, in ranges
        /// (also across prefixes), and at its end.
        #[test]
        fn a_packed_tree_reads_like_a_map(
            last_byte in any::<bool>(),
            batches in prop::collection::vec(
                prop::collection::vec((0u8..3, 0u64..80, prop::option::of(0u8..255)), 0..40),
                1..6,
            ),
            (lo, hi) in (0u64..80, 0u64..80),
        ) {
            let (_dir, tree) = tree();
            let packing = if last_byte { Packing::LastByte } else { Packing::Numbered };
            let p = packed(&tree, packing);
            // Last-byte keys of varied lengths: "ab", "ab0", "ab00" and so on.
            let make = |prefix: u8, n: u64| {
                if last_byte {
                    let mut k = vec![prefix];
                    k.extend(std::iter::repeat_n(b'0', (n % 3) as usize));
                    k.extend(format!("{:x}", n / 3).bytes());
                    k
                } else {
                    key(&[prefix], n)
                }
            };
            let mut model = BTreeMap::new();
            for batch in batches {
                // A layer gives each key once, in key order.
                let mut writes = BTreeMap::new();
                for (prefix, n, value) in batch {
                    writes.insert(make(prefix, n), value.map(|v| vec![v; usize::from(v % 5)]));
                }
                let mut w = Writer::new(p);
                for (k, v) in writes {
                    w.put(&k, v.clone().map(Value::from)).unwrap();
                    match v {
                        Some(v) => model.insert(k, v),
                        None => model.remove(&k),
                    };
                }
                w.finish().unwrap();
            }
            for prefix in 0u8..3 {
                for n in 0..80 {
                    let k = make(prefix, n);
                    let got = p.get(&k).unwrap().map(|v| v.to_vec());
                    prop_assert_eq!(got.as_ref(), model.get(&k));
                }
            }
            let (from, to) = (make(0, lo.min(hi)), make(2, lo.max(hi)));
            let got: Vec<(Vec<u8>, Vec<u8>)> = p
                .range(&from, &to)
                .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            let want: Vec<(Vec<u8>, Vec<u8>)> = model
                .range(from..=to)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            prop_assert_eq!(got, want);
            let every: Vec<Vec<u8>> = p.all().map(|e| e.unwrap().0.to_vec()).collect();
            prop_assert_eq!(every, model.keys().cloned().collect::<Vec<_>>());
            if !last_byte {
                let got_last = p.last().unwrap().map(|(k, v)| (k, v.to_vec()));
                let want_last = model.iter().next_back().map(|(k, v)| (k.clone(), v.clone()));
                prop_assert_eq!(got_last, want_last);
            }
            prop_assert_eq!(p.len().unwrap(), model.len());
        }
    }
}
