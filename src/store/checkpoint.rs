//! Moving journaled writes into the trees: a frozen layer at a time in the background, and at
//! open whatever the journal still holds (after a crash, or a stop that left layers unwritten).
//!
//! Order is what keeps this safe. A layer's writes go into the trees first, are made as durable
//! as the store's durability setting promises, and only then are its journal entries removed, in
//! one atomic sled batch: a crash at any point leaves the journal holding every write the trees
//! may lack. Replaying the journal in order is idempotent (puts and removals of whole values), so
//! writes that did reach the trees are harmlessly written again.

use super::commit::flush_db;
use super::layout;
use super::memtable::{Layer, Slot};
use super::{Error, Shared, Trees};
use crate::config::Durability;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

/// The background writer of frozen layers.
pub(super) struct Checkpointer {
    pub(super) shared: Arc<Shared>,
    pub(super) durability: Durability,
    /// sled's log file, for the fdatasync that sled's own flush does not do.
    pub(super) log: File,
    /// Shared with the commit and sync threads: set here when a checkpoint failed.
    pub(super) failed: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Writes each layer it gets, then clears it from memory and says so on `done`. Stops when
    /// the commit thread hangs up, or after a failure (the store then refuses writes; the journal
    /// still has everything for the next open).
    pub(super) fn run(self, layers: &mpsc::Receiver<Arc<Layer>>, done: &mpsc::SyncSender<()>) {
        for layer in layers {
            let started = std::time::Instant::now();
            if let Err(e) = self.write(&layer) {
                self.failed.store(true, Ordering::Release);
                self.shared.fail("checkpoint failed", &e);
                return;
            }
            self.shared.mem_write().frozen = None;
            tracing::debug!(
                keys = layer.len(),
                ms = started.elapsed().as_millis(),
                "store: checkpoint"
            );
            // Full: the commit thread has a wake-up waiting already.
            let _ = done.try_send(());
        }
    }

    fn write(&self, layer: &Layer) -> Result<(), Error> {
        for (tree, key, slot) in layer.slots() {
            let tree = self.shared.trees.get(tree);
            match slot {
                Slot::Put { value, .. } => drop(tree.insert(key, value.clone())?),
                Slot::Del => drop(tree.remove(key)?),
            }
        }
        match self.durability {
            Durability::Durable => {
                flush_db(&self.shared.db)?;
                self.log.sync_data().map_err(Error::Io)?;
            }
            Durability::Flush => flush_db(&self.shared.db)?,
            Durability::Relaxed => {}
        }
        if let Some((first, last)) = layer.journal() {
            let mut batch = sled::Batch::default();
            for n in first..=last {
                batch.remove(&n.to_be_bytes());
            }
            self.shared.trees.journal.apply_batch(batch)?;
        }
        Ok(())
    }
}

/// At open: applies every journal entry to the trees in order, makes that durable, then empties
/// the journal in one batch. Returns how many entries there were.
pub(super) fn replay(db: &sled::Db, trees: &Trees, dir: &Path) -> Result<usize, Error> {
    let mut keys = Vec::new();
    for entry in trees.journal.iter() {
        let (key, value) = entry?;
        for w in layout::decode_journal(&key, &value)? {
            let tree = trees.get(w.tree);
            match w.value {
                Some(value) => drop(tree.insert(&w.key, value)?),
                None => drop(tree.remove(&w.key)?),
            }
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Ok(0);
    }
    flush_db(db)?;
    sync_log(dir)?;
    let mut batch = sled::Batch::default();
    for key in &keys {
        batch.remove(key);
    }
    trees.journal.apply_batch(batch)?;
    flush_db(db)?;
    sync_log(dir)?;
    Ok(keys.len())
}

/// Opens sled's log file for fdatasync (write access: some platforms refuse to sync otherwise).
pub(super) fn open_log(dir: &Path) -> Result<File, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("db"))
        .map_err(Error::Io)
}

fn sync_log(dir: &Path) -> Result<(), Error> {
    open_log(dir)?.sync_data().map_err(Error::Io)
}
