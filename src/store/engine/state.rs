//! What the engine's threads share: the store's trees as opened ([`Trees`]: each [`Tree`] on its
//! sled tree, read and written through packs where it has them, and the trees of older formats)
//! and the in-memory layers in front of them ([`State`]), with the read path over both.
//!
//! Built at open (`mod.rs`), then shared by the readers (any thread, through `Engine`), the
//! commit thread (`writer.rs`) and the checkpoint thread (`checkpoint.rs`). A read that fails
//! (sled, or a pack or value that does not decode) fails alone; nothing here writes.

use super::error::Error;
use super::format::{Packing, Tree, CARRIER_IDS, JOURNAL, MESSAGES, META, OUTBOX, QUEUE};
use super::memtable::{Known, MemTables};
use super::packed::Packed;
use super::trees::{Db, DbError, RawTree, Value};
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// An iterator over a tree's entries, in key order.
pub(super) type Entries = Box<dyn Iterator<Item = Result<(Value, Value), Error>>>;

/// The store's sled trees.
pub(super) struct Trees {
    pub(super) messages: RawTree,
    /// The trees of format 3 and older whose entries are in packs now (`packed.rs`), one entry
    /// to a key: emptied by the upgrade.
    pub(super) unpacked: [(Tree, RawTree); 4],
    pub(super) queue: RawTree,
    pub(super) carrier_ids: RawTree,
    pub(super) outbox: RawTree,
    pub(super) meta: RawTree,
    pub(super) suppressions: RawTree,
    pub(super) consent_log: RawTree,
    pub(super) last_marketing: RawTree,
    pub(super) idempotency: RawTree,
    pub(super) webhooks: RawTree,
    pub(super) webhooks_dead: RawTree,
    pub(super) client_refs: RawTree,
    pub(super) campaign_stats: RawTree,
    /// The journal of format 2, read at open only (`checkpoint.rs`: `replay`).
    pub(super) journal: RawTree,
}

impl Trees {
    /// Opens every tree of the store (creating those missing), always in this order.
    pub(super) fn open(db: &Db) -> Result<Self, DbError> {
        Ok(Self {
            messages: db.open_tree(Tree::Messages.sled_name())?,
            unpacked: [
                (Tree::Messages, db.open_tree(MESSAGES)?),
                (Tree::Queue, db.open_tree(QUEUE)?),
                (Tree::CarrierIds, db.open_tree(CARRIER_IDS)?),
                (Tree::Outbox, db.open_tree(OUTBOX)?),
            ],
            queue: db.open_tree(Tree::Queue.sled_name())?,
            carrier_ids: db.open_tree(Tree::CarrierIds.sled_name())?,
            outbox: db.open_tree(Tree::Outbox.sled_name())?,
            meta: db.open_tree(META)?,
            suppressions: db.open_tree(Tree::Suppressions.sled_name())?,
            consent_log: db.open_tree(Tree::ConsentLog.sled_name())?,
            last_marketing: db.open_tree(Tree::LastMarketing.sled_name())?,
            idempotency: db.open_tree(Tree::Idempotency.sled_name())?,
            webhooks: db.open_tree(Tree::Webhooks.sled_name())?,
            webhooks_dead: db.open_tree(Tree::WebhooksDead.sled_name())?,
            client_refs: db.open_tree(Tree::ClientRefs.sled_name())?,
            campaign_stats: db.open_tree(Tree::CampaignStats.sled_name())?,
            journal: db.open_tree(JOURNAL)?,
        })
    }

    /// The sled tree of `tree`.
    pub(super) fn raw(&self, tree: Tree) -> &RawTree {
        match tree {
            Tree::Messages => &self.messages,
            Tree::Queue => &self.queue,
            Tree::CarrierIds => &self.carrier_ids,
            Tree::Outbox => &self.outbox,
            Tree::Meta => &self.meta,
            Tree::Suppressions => &self.suppressions,
            Tree::ConsentLog => &self.consent_log,
            Tree::LastMarketing => &self.last_marketing,
            Tree::Idempotency => &self.idempotency,
            Tree::Webhooks => &self.webhooks,
            Tree::WebhooksDead => &self.webhooks_dead,
            Tree::ClientRefs => &self.client_refs,
            Tree::CampaignStats => &self.campaign_stats,
        }
    }

    /// The tree if its entries are in packs.
    pub(super) fn packed(&self, tree: Tree) -> Option<Packed<'_>> {
        tree.packing().map(|packing| Packed {
            tree: self.raw(tree),
            name: tree.name(),
            packing,
        })
    }

    /// An entry's value.
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Value>, Error> {
        match self.packed(tree) {
            Some(packed) => packed.get(key),
            None => Ok(self.raw(tree).get(key)?),
        }
    }

    /// Every entry, in key order.
    pub(super) fn all(&self, tree: Tree) -> Entries {
        match self.packed(tree) {
            Some(packed) => Box::new(packed.all()),
            None => Box::new(
                self.raw(tree)
                    .iter()
                    .map(|entry| entry.map_err(Error::from)),
            ),
        }
    }

    /// The entries with keys in `[from, to]`, in key order.
    pub(super) fn range(&self, tree: Tree, from: &[u8], to: &[u8]) -> Entries {
        match self.packed(tree) {
            Some(packed) => Box::new(packed.range(from, to)),
            None => {
                let range = self.raw(tree).range(from, to);
                Box::new(range.map(|entry| entry.map_err(Error::from)))
            }
        }
    }

    /// The entry with the greatest key.
    pub(super) fn last(&self, tree: Tree) -> Result<Option<(Vec<u8>, Value)>, Error> {
        match self.packed(tree) {
            Some(packed) if packed.packing == Packing::Numbered => packed.last(),
            // Packs by last byte are not in their entries' order: the walk sorts them.
            Some(packed) => match packed.all().last().transpose()? {
                Some((key, value)) => Ok(Some((key.to_vec(), value))),
                None => Ok(None),
            },
            None => Ok(self.raw(tree).last()?.map(|(k, v)| (k.to_vec(), v))),
        }
    }
}

/// The trees and the layers in front of them.
pub(super) struct State {
    /// The store's directory.
    pub(super) path: PathBuf,
    pub(super) db: Db,
    pub(super) trees: Trees,
    /// Journaled writes not yet in the trees; reads look here first.
    mem: RwLock<MemTables>,
    /// How long the active layer takes writes before it goes to the trees.
    pub(super) layer_age: Duration,
}

impl State {
    pub(super) fn new(path: PathBuf, db: Db, trees: Trees, layer_age: Duration) -> Self {
        Self {
            path,
            db,
            trees,
            mem: RwLock::default(),
            layer_age,
        }
    }

    pub(super) fn mem_read(&self) -> RwLockReadGuard<'_, MemTables> {
        crate::sync::read(&self.mem)
    }

    pub(super) fn mem_write(&self) -> RwLockWriteGuard<'_, MemTables> {
        crate::sync::write(&self.mem)
    }

    /// A key's value: the in-memory layers, else the tree.
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Value>, Error> {
        let known = self.mem_read().get(tree, key);
        match known {
            Known::Value(value) => Ok(Some(value)),
            Known::Removed => Ok(None),
            Known::Unknown => self.trees.get(tree, key),
        }
    }

    /// Live entries of `tree` in `[from, to]`, at most `limit`, layers merged over the tree.
    pub(super) fn scan(
        &self,
        tree: Tree,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, Error> {
        let mem = self.mem_read();
        mem.scan(tree, self.trees.range(tree, from, to), (from, to), limit)
    }
}
