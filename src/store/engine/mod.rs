//! The storage engine under the gateway's store: a journal in segment files, in-memory layers in
//! front of sled trees, a checkpoint thread that moves the layers into the trees, packs of
//! entries under one sled key, and the store's formats. It knows trees, keys and bytes; what a
//! message, a queue or an outbox is, it leaves to the gateway store above (`store/mod.rs`,
//! `store/commit.rs`, `store/layout.rs`), its only caller.
//!
//! The interface, in one sentence: [`Engine::open`] opens (upgrading and replaying as needed)
//! and returns the [`Engine`] for reads (`get`, `scan`, and the trees alone at open) and the
//! journal for a [`Writer`], through which the commit thread appends each batch to the journal
//! and applies it to the active layer and hands layers to the checkpoint thread, while the sync
//! thread makes the journal durable with [`JournalSync`] before it answers; everything fails
//! with [`Error`], which the gateway store converts into its own.
//!
//! | File            | What it owns                                                            |
//! |-----------------|-------------------------------------------------------------------------|
//! | `mod.rs`        | [`Engine`]: open, reads, size; the interface the gateway store uses     |
//! | `writer.rs`     | The write path: journal append, layer apply, checkpoint hand-off, sync  |
//! | `wal.rs`        | The journal: segment files of CRC-checked entries, spares, replay       |
//! | `memtable.rs`   | The two in-memory layers (active, frozen) that reads see first          |
//! | `checkpoint.rs` | The checkpoint thread, the replay at open, the fsyncs sled leaves out   |
//! | `state.rs`      | What the threads share: the trees as opened, the layers, the read path  |
//! | `packed.rs`     | Packs: 16 entries under one sled key                                    |
//! | `upgrade.rs`    | Store formats: stamp a new store, upgrade an older one, refuse a newer  |
//! | `format.rs`     | Trees, journal entry format, version byte, format history               |
//! | `trees.rs`      | The sled boundary: the only file that names sled                        |
//! | `error.rs`      | [`Error`]                                                               |
//!
//! No file here imports from the gateway store above, nor from this file. The files import each
//! other in one direction only, each from files earlier in this order: `trees.rs`, `error.rs`,
//! `format.rs`, then `wal.rs`, `memtable.rs`, `packed.rs`, then `state.rs`, then
//! `checkpoint.rs`, `upgrade.rs`, then `writer.rs`, and last `mod.rs`.
//!
//! Failures: an open that fails leaves the disk as it found it, or with work the next open
//! redoes (an upgrade, a replay); a read that fails fails alone; a write, sync or checkpoint that
//! fails is fatal to the store (see `writer.rs`), and the journal keeps every answered write for
//! the next open.

mod checkpoint;
mod error;
mod format;
mod memtable;
mod packed;
mod state;
mod trees;
mod upgrade;
mod wal;
mod writer;

pub use trees::DbError;

pub(in crate::store) use error::{corrupt, Error};
pub(in crate::store) use format::{
    versioned, Tree, Write, CAMPAIGN_STATS, CARRIER_IDS, CLIENT_REFS, CONSENT_LOG, IDEMPOTENCY,
    LAST_MARKETING, MESSAGES, META, OUTBOX, QUEUE, SUPPRESSIONS, VALUE_V1, WEBHOOKS, WEBHOOKS_DEAD,
};
pub(in crate::store) use trees::Value;
pub(in crate::store) use wal::{Segment, Wal};
pub(in crate::store) use writer::{JournalSync, Writer};

/// For tests that write what an older or newer smppd left on disk, and look under the layers.
#[cfg(test)]
pub(in crate::store) use {
    format::{
        encode_journal, FORMAT_VERSION, FORMAT_VERSIONS_OLDER, JOURNAL, MESSAGE_PACKS,
        META_FORMAT_VERSION,
    },
    trees::RawDb,
    wal::dir as journal_dir,
};

use crate::config::Durability;
use checkpoint::OnFailure;
use state::{State, Trees};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use trees::Db;

/// The engine, opened: reads from any thread, and the start of the write path.
pub(in crate::store) struct Engine {
    state: Arc<State>,
}

/// What [`Engine::open`] gives.
pub(in crate::store) struct Opened {
    pub(in crate::store) engine: Engine,
    /// The journal, empty, for the [`Writer`].
    pub(in crate::store) journal: Wal,
    /// Journal entries the open replayed into the trees (0 after a clean stop).
    pub(in crate::store) replayed: u64,
}

impl Engine {
    /// Opens (or creates) the store in `dir`: sled's database with a page cache of up to
    /// `cache_bytes`, its format checked (an older one upgraded, a newer one refused), and the
    /// journal replayed into the trees and emptied. Layers go to the trees when `layer_age` old.
    /// Blocking.
    pub(in crate::store) fn open(
        dir: &Path,
        cache_bytes: usize,
        layer_age: Duration,
    ) -> Result<Opened, Error> {
        // sled's log: there before, the store was opened before.
        let existed = Db::exists(dir);
        std::fs::create_dir_all(dir).map_err(Error::Io)?;
        let cache = u64::try_from(cache_bytes).unwrap_or(u64::MAX);
        let db = Db::open(dir, cache)?;
        let trees = Trees::open(&db)?;
        upgrade::check_format(&db, &trees)?;
        let (replayed, next_entry) = checkpoint::replay(&db, &trees, dir)?;
        if replayed > 0 {
            // A clean stop moves the journal into the trees (`writer.rs`): this one did not.
            tracing::warn!(
                entries = replayed,
                "store: journal replayed into the trees: the last stop was not clean (a crash, \
                 kill -9 or power loss); every acknowledged write is kept"
            );
        } else if existed {
            tracing::info!("store: the last stop was clean: nothing to replay");
        }
        let journal = wal::create_dir(dir).map_err(Error::Io)?;
        let state = State::new(dir.to_owned(), db, trees, layer_age);
        Ok(Opened {
            engine: Self {
                state: Arc::new(state),
            },
            journal: Wal::new(journal, next_entry),
            replayed,
        })
    }

    /// Starts the write path: makes the whole store durable, starts the checkpoint thread, and
    /// returns the commit thread's [`Writer`] over `journal` (from [`Engine::open`]). `failed`
    /// is shared with the sync thread: whoever sees a sync or checkpoint fail sets it, and
    /// nothing more is applied; `on_failure` hears of a failed checkpoint.
    pub(in crate::store) fn start_writer(
        &self,
        journal: Wal,
        durability: Durability,
        failed: Arc<AtomicBool>,
        on_failure: impl Fn(&Error) + Send + 'static,
    ) -> Result<Writer, Error> {
        let on_failure: OnFailure = Box::new(on_failure);
        Writer::start(
            Arc::clone(&self.state),
            journal,
            durability,
            failed,
            on_failure,
        )
    }

    /// A key's value: the in-memory layers, else the tree.
    pub(in crate::store) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Value>, Error> {
        self.state.get(tree, key)
    }

    /// Live entries of `tree` in `[from, to]` (keys as given, unpacked), at most `limit`, in key
    /// order: the layers merged over the tree.
    pub(in crate::store) fn scan(
        &self,
        tree: Tree,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, Error> {
        self.state.scan(tree, from, to, limit)
    }

    /// Every entry of `tree` in the trees alone, in key order: for the scan at open, before any
    /// write (the layers are empty then).
    pub(in crate::store) fn entries_on_disk(
        &self,
        tree: Tree,
    ) -> impl Iterator<Item = Result<(Value, Value), Error>> {
        self.state.trees.all(tree)
    }

    /// The entry of `tree` with the greatest key, in the trees alone (see
    /// [`Engine::entries_on_disk`]).
    pub(in crate::store) fn last_on_disk(
        &self,
        tree: Tree,
    ) -> Result<Option<(Vec<u8>, Value)>, Error> {
        self.state.trees.last(tree)
    }

    /// Bytes the store's files take, journal included (a part that cannot be measured counts
    /// 0, with a warning).
    pub(in crate::store) fn size_on_disk(&self) -> u64 {
        let trees = self.state.db.size_on_disk().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "store: cannot measure the trees' size on disk");
            0
        });
        let journal = wal::size(&wal::dir(&self.state.path)).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "store: cannot measure the journal's size on disk");
            0
        });
        trees.saturating_add(journal)
    }

    /// Whether a frozen layer waits for (or is being written by) the checkpoint thread.
    #[cfg(test)]
    pub(in crate::store) fn has_frozen_layer(&self) -> bool {
        self.state.mem_read().frozen.is_some()
    }

    /// Entries of `tree` in the trees (not the layers in front of them), packs walked.
    #[cfg(test)]
    pub(in crate::store) fn entries_in_trees(&self, tree: Tree) -> usize {
        let entries: Result<Vec<_>, _> = self.state.trees.all(tree).collect();
        entries.unwrap().len()
    }

    /// Keys in the sled tree named `name`, one of the store's (a pack counts one).
    #[cfg(test)]
    pub(in crate::store) fn sled_keys(&self, name: &str) -> usize {
        let set = &self.state.trees;
        let mut all: Vec<(&str, &trees::RawTree)> = Tree::ALL
            .into_iter()
            .map(|tree| (tree.sled_name(), set.raw(tree)))
            .collect();
        all.extend(set.unpacked.iter().map(|(tree, raw)| (tree.name(), raw)));
        all.push((JOURNAL, &set.journal));
        let (_, raw) = all.into_iter().find(|(n, _)| *n == name).unwrap();
        raw.len()
    }
}
