//! The write side of the engine, as the gateway's commit and sync threads drive it
//! (`store/commit.rs`): [`Writer`] appends a batch to the journal, applies it to the active
//! layer, and hands layers to the checkpoint thread (which it starts and stops); [`JournalSync`]
//! makes the journal segments durable before a batch is answered.
//!
//! A batch goes through it in this order, the order every durability promise rests on:
//! 1. [`Writer::journal`]: the batch's writes are encoded as journal entries and written to the
//!    current segment (one `write`);
//! 2. [`Writer::apply`]: they go into the active layer, and reads see them from then on;
//! 3. [`Writer::maybe_checkpoint`]: a layer big or old enough is frozen, the journal rotates to a
//!    new segment, and the checkpoint thread gets the layer (the commit thread waits only when
//!    the trees fall far behind);
//! 4. on the sync thread, [`JournalSync::sync`]: `fdatasync` of the segments the batches went
//!    to (per `[store] durability`), after which the gateway answers them.
//!
//! Any failure here is fatal to the store and the gateway's to handle: a failed journal write or
//! sync is returned (the commit thread answers its batch with it and stops); a failed
//! checkpoint sets the shared `failed` flag and calls the callback given at
//! [`Writer::start`]. Nothing answered is ever lost: the journal keeps every write the trees
//! may lack until they have it, and the next open replays it.

use super::checkpoint::{Checkpointer, DiskSync, OnFailure};
use super::error::Error;
use super::format::{self, Write};
use super::memtable::{layer_due, Layer, LAYER_KEYS_MAX};
use super::state::State;
use super::wal::{Segment, Wal};
use crate::config::Durability;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// The commit thread's handle on the engine: the journal, the active layer, the checkpoint
/// thread.
pub(in crate::store) struct Writer {
    state: Arc<State>,
    /// The journal: every batch goes there before it is answered.
    wal: Wal,
    /// Set by the sync or checkpoint thread when a sync or checkpoint failed: nothing more may
    /// be applied.
    failed: Arc<AtomicBool>,
    /// Frozen layers go here to be written to the trees.
    to_checkpoint: Option<mpsc::SyncSender<Arc<Layer>>>,
    /// A message each time a checkpoint is done.
    checkpointed: mpsc::Receiver<()>,
    checkpoint_thread: Option<JoinHandle<()>>,
    /// Set at close: the layer being written goes at full speed.
    hurry: Arc<AtomicBool>,
}

/// A batch written to the journal, not applied yet: see [`Writer::apply`].
#[must_use = "a journaled batch goes into the active layer next"]
pub(in crate::store) struct Journaled {
    /// The journal entries it took, first and last.
    entries: (u64, u64),
    segment: Segment,
    bytes: usize,
}

impl Journaled {
    /// Bytes written to the journal.
    pub(in crate::store) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Writer {
    /// Makes everything in the freshly opened store durable before the first write (its
    /// directory may have just been created), then starts the checkpoint thread. `failed` is
    /// shared with the sync thread; `on_failure` hears of a failed checkpoint.
    pub(super) fn start(
        state: Arc<State>,
        wal: Wal,
        durability: Durability,
        failed: Arc<AtomicBool>,
        on_failure: OnFailure,
    ) -> Result<Self, Error> {
        state.db.flush()?;
        let disk = DiskSync::open(&state.path).map_err(Error::Io)?;
        let hurry = Arc::new(AtomicBool::new(false));
        let checkpointer = Checkpointer {
            state: Arc::clone(&state),
            durability,
            disk,
            failed: Arc::clone(&failed),
            hurry: Arc::clone(&hurry),
            on_failure,
        };
        let (to_checkpoint, layers) = mpsc::sync_channel(1);
        let (done, checkpointed) = mpsc::sync_channel(1);
        let checkpoint_thread = std::thread::Builder::new()
            .name("smppd-store-checkpoint".to_owned())
            .spawn(move || checkpointer.run(&layers, &done))
            .map_err(Error::Io)?;
        Ok(Self {
            state,
            wal,
            failed,
            to_checkpoint: Some(to_checkpoint),
            checkpointed,
            checkpoint_thread: Some(checkpoint_thread),
            hurry,
        })
    }

    /// Appends a batch's writes to the journal as one entry (a few for a large batch), so that
    /// a crash leaves either the whole batch or none of it. Not durable yet: see
    /// [`JournalSync`].
    pub(in crate::store) fn journal(&mut self, writes: &[Write]) -> Result<Journaled, Error> {
        let entries = format::encode_journal(writes);
        let bytes: usize = entries.iter().map(Vec::len).sum();
        let (first, last, segment) = self.wal.append(&entries).map_err(Error::Io)?;
        Ok(Journaled {
            entries: (first, last),
            segment,
            bytes,
        })
    }

    /// Puts a journaled batch into the active layer: reads see it from now on. Returns the
    /// journal segment to sync before the batch is answered.
    pub(in crate::store) fn apply(&mut self, writes: Vec<Write>, journaled: Journaled) -> Segment {
        self.state
            .mem_write()
            .active
            .apply(writes, journaled.entries);
        journaled.segment
    }

    /// Hands the active layer to the checkpoint thread when it is big or old enough. Waits for
    /// the trees only when they fall far behind. False if the checkpoint thread has stopped.
    pub(in crate::store) fn maybe_checkpoint(&mut self) -> bool {
        loop {
            let mut mem = self.state.mem_write();
            if !layer_due(&mem.active, self.state.layer_age) {
                return true;
            }
            let keys = mem.active.len();
            if let Some(layer) = mem.freeze() {
                drop(mem);
                // The layer's segment is retired once it is in the trees: nothing newer may be in
                // it.
                self.wal.rotate();
                let Some(to_checkpoint) = &self.to_checkpoint else {
                    return false;
                };
                return to_checkpoint.send(layer).is_ok();
            }
            if keys < LAYER_KEYS_MAX {
                return true; // The previous layer is still being written; the next one waits.
            }
            drop(mem);
            if self.failed.load(Ordering::Acquire) || self.checkpointed.recv().is_err() {
                return false;
            }
        }
    }

    /// At a clean close, after the last sync: hands the active layer to the checkpoint thread
    /// (once the layer it is writing is done), so that the trees hold everything and the
    /// journal nothing. Nothing is lost if that fails or is cut short: the journal keeps what
    /// the trees lack until they have it.
    pub(in crate::store) fn checkpoint_rest(&mut self) {
        if self.failed.load(Ordering::Acquire) {
            return;
        }
        self.hurry.store(true, Ordering::Relaxed);
        loop {
            let mut mem = self.state.mem_write();
            let keys = mem.active.len();
            if mem.active.journal().is_none() {
                return; // Nothing written since the last checkpoint.
            }
            if let Some(layer) = mem.freeze() {
                drop(mem);
                self.wal.rotate();
                // Its writer finishes it before it stops (`stop_checkpointer`).
                if let Some(to) = &self.to_checkpoint {
                    if to.send(layer).is_ok() {
                        tracing::info!(keys, "store: moving the journal into the trees");
                    }
                }
                return;
            }
            drop(mem);
            // The previous layer is still being written: the next one waits for it.
            if self.failed.load(Ordering::Acquire) || self.checkpointed.recv().is_err() {
                return;
            }
        }
    }

    /// Lets the checkpoint thread finish the layer it has, if any, and stop.
    pub(in crate::store) fn stop_checkpointer(&mut self) {
        self.hurry.store(true, Ordering::Relaxed);
        self.to_checkpoint = None;
        if let Some(thread) = self.checkpoint_thread.take() {
            if thread.join().is_err() {
                tracing::error!("store: the checkpoint thread panicked");
            }
        }
    }

    /// Whether the trees hold every journaled write (no layer waits for them): then the next
    /// open replays nothing.
    pub(in crate::store) fn nothing_to_replay(&self) -> bool {
        let mem = self.state.mem_read();
        mem.frozen.is_none() && mem.active.journal().is_none()
    }
}

/// The sync thread's side of the journal: makes the segments that batches went to durable.
#[derive(Default)]
pub(in crate::store) struct JournalSync {
    /// The segment of the newest batch, for the final sync at a close.
    last_segment: Option<Segment>,
}

impl JournalSync {
    /// Syncs `segments` (those of the batches about to be answered, in order; the newest one
    /// synced before when there are none) per `durability`: `Durable` = `fdatasync` of each;
    /// `Flush` and `Relaxed` = nothing more (the `write` reached the OS in
    /// [`Writer::journal`]).
    pub(in crate::store) fn sync<'s>(
        &mut self,
        segments: impl IntoIterator<Item = &'s Segment>,
        durability: Durability,
    ) -> Result<(), Error> {
        let mut unique: Vec<&Segment> = Vec::with_capacity(2);
        for segment in segments {
            if !unique.iter().any(|s| s.same(segment)) {
                unique.push(segment);
            }
        }
        if let Some(newest) = unique.last() {
            self.last_segment = Some(Segment::clone(newest));
        } else if let Some(last) = &self.last_segment {
            unique.push(last);
        }
        match durability {
            // The write reached the OS on the commit thread already.
            Durability::Relaxed | Durability::Flush => Ok(()),
            Durability::Durable => unique
                .into_iter()
                .try_for_each(Segment::sync_data)
                .map_err(Error::Io),
        }
    }
}
