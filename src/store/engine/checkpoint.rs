//! Moving journaled writes into the trees: a frozen layer at a time in the background, and at
//! open whatever the journal still holds (after a crash, or a stop that left layers unwritten).
//!
//! Order is what keeps this safe. A layer's writes go into the trees first, are made durable
//! (sled's flush, then the fsyncs sled leaves out; see [`DiskSync`]), and only then is the
//! layer's journal segment retired (kept for reuse or deleted): a crash at any point leaves the
//! journal holding every write the trees may lack. Replaying the journal in order is idempotent
//! (puts and removals of whole values), so writes that did reach the trees are harmlessly written
//! again.
//!
//! The checkpoint thread ([`Checkpointer`]) is started and fed by the commit thread's writer
//! (`writer.rs`); [`replay`] runs at open (`mod.rs`). A failed checkpoint sets the shared failure
//! flag and reports through the callback it was given (the gateway store then refuses every
//! write and the gateway restarts); the journal still holds everything for the next open. A
//! failed replay fails the open.

use super::error::Error;
use super::format::{self, Tree};
use super::memtable::{layer_due, Layer, Slot};
use super::packed;
use super::state::{State, Trees};
use super::trees::{Db, LOG_FILE};
use super::wal::{self, sync_dir};
use crate::config::Durability;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Told of a failed checkpoint, once, before the thread stops.
pub(super) type OnFailure = Box<dyn Fn(&Error) + Send>;

/// The background writer of frozen layers.
pub(super) struct Checkpointer {
    pub(super) state: Arc<State>,
    pub(super) durability: Durability,
    /// sled's files, for the fsyncs its own flush leaves out.
    pub(super) disk: DiskSync,
    /// Shared with the commit and sync threads: set here when a checkpoint failed.
    pub(super) failed: Arc<AtomicBool>,
    /// Set by the commit thread when the store closes: no more pacing.
    pub(super) hurry: Arc<AtomicBool>,
    /// Told when a checkpoint failed (after `failed` is set).
    pub(super) on_failure: OnFailure,
}

/// A layer's writes are spread over 3/5 of the time until the next layer is due...
fn spread(layer_age: Duration) -> Duration {
    layer_age.saturating_mul(3) / 5
}
/// ... in steps of this many keys (a few milliseconds of sled inserts), so that the sessions
/// never wait long behind the checkpoint thread for a core...
const STEP: usize = 256;
/// ... with pauses of at most this: a closing store waits no longer (and a small layer, whose
/// steps are far apart in time, is simply written sooner).
const MAX_PAUSE: Duration = Duration::from_millis(20);

impl Checkpointer {
    /// Writes each layer it gets, then clears it from memory and says so on `done`. Stops when
    /// the commit thread hangs up, or after a failure (the store then refuses writes; the journal
    /// still has everything for the next open).
    pub(super) fn run(mut self, layers: &mpsc::Receiver<Arc<Layer>>, done: &mpsc::SyncSender<()>) {
        for layer in layers {
            let started = Instant::now();
            if let Err(e) = self.write(&layer) {
                self.failed.store(true, Ordering::Release);
                (self.on_failure)(&e);
                return;
            }
            self.state.mem_write().frozen = None;
            tracing::debug!(
                keys = layer.len(),
                ms = started.elapsed().as_millis(),
                "store: checkpoint"
            );
            // Full: the commit thread has a wake-up waiting already.
            let _ = done.try_send(());
        }
    }

    fn write(&mut self, layer: &Layer) -> Result<(), Error> {
        let (started, total) = (Instant::now(), layer.len());
        write_layer(&self.state.trees, layer, |done| {
            self.pace(done, total, started);
        })?;
        // Whatever the durability: the journal segment goes next, so the trees must at least
        // have reached the OS.
        self.state.db.flush()?;
        if self.durability == Durability::Durable {
            self.disk.sync().map_err(Error::Io)?;
        }
        if let Some((_, last)) = layer.journal() {
            wal::retire_through(&wal::dir(&self.state.path), last).map_err(Error::Io)?;
        }
        Ok(())
    }

    /// Sleeps while the writes are ahead of an even spread over [`spread`]. Written at full
    /// speed, a layer took a core for a second or two, and submit_sm_resp p99 in those seconds
    /// went from ~5 ms to 20–110 ms (e2e bench at 10,000/s). When the trees are behind (the next
    /// layer is due already) or the store closes, there is no pause.
    fn pace(&self, done: usize, total: usize, started: Instant) {
        let due = spread(self.state.layer_age).mul_f64(done as f64 / total.max(1) as f64);
        let Some(ahead) = due.checked_sub(started.elapsed()) else {
            return;
        };
        let behind = layer_due(&self.state.mem_read().active, self.state.layer_age);
        if self.hurry.load(Ordering::Relaxed) || behind {
            return;
        }
        std::thread::sleep(ahead.min(MAX_PAUSE));
    }
}

/// Writes a layer's slots into the trees, those of a packed tree a pack at a time; calls
/// `step` with the number of slots written every [`STEP`] or so.
fn write_layer(trees: &Trees, layer: &Layer, mut step: impl FnMut(usize)) -> Result<(), Error> {
    // Slots come tree by tree: one pack writer at a time.
    let mut packs: Option<(Tree, packed::Writer<'_>)> = None;
    for (n, (tree, key, slot)) in layer.slots().enumerate() {
        let value = match slot {
            Slot::Put { value, .. } => Some(value.clone()),
            Slot::Del => None,
        };
        if packs.as_ref().is_some_and(|(t, _)| *t != tree) {
            if let Some((_, writer)) = packs.take() {
                writer.finish()?;
            }
        }
        if let Some(packed) = trees.packed(tree) {
            let (_, writer) = packs.get_or_insert_with(|| (tree, packed::Writer::new(packed)));
            writer.put(key, value)?;
        } else {
            let raw = trees.raw(tree);
            match value {
                Some(value) => raw.insert(key, value)?,
                None => raw.remove(key)?,
            }
        }
        if (n + 1) % STEP == 0 {
            step(n + 1);
        }
    }
    match packs {
        Some((_, writer)) => writer.finish(),
        None => Ok(()),
    }
}

/// At open: applies the journal to the trees in order, makes that durable, then empties the
/// journal. Returns how many entries there were and the number the next one gets.
///
/// A store written before the journal moved to files may still have entries in its `journal`
/// tree; they are older than any segment and go first.
pub(super) fn replay(db: &Db, trees: &Trees, dir: &Path) -> Result<(u64, u64), Error> {
    // The entries merge into one layer, written like a checkpoint's: a pack is read and
    // written once, not once per entry.
    let mut layer = Layer::default();
    let mut legacy = Vec::new();
    for entry in trees.journal.iter() {
        let (key, value) = entry?;
        layer.apply(format::decode_journal(&key, &value)?, (0, 0));
        legacy.push(key);
    }
    let journal = wal::dir(dir);
    let replayed = wal::replay(&journal, |number, payload| {
        layer.apply(
            format::decode_journal(&number.to_be_bytes(), payload)?,
            (number, number),
        );
        Ok(())
    })?;
    if replayed.dropped_segments > 0 {
        tracing::warn!(
            segments = replayed.dropped_segments,
            bytes = replayed.dropped_bytes,
            "store: the journal breaks off before its last segments (damage, or a write lost \
             with a crash); what follows the break was dropped"
        );
    } else if replayed.dropped_bytes > 0 {
        tracing::info!(
            bytes = replayed.dropped_bytes,
            "store: the journal ends before its last segment does (a torn write from a crash, or \
             the old content of a reused segment): the rest was never acknowledged, ignored"
        );
    }
    let entries = replayed.entries + legacy.len() as u64;
    if entries == 0 {
        // Nothing reached the trees; spares and torn leftovers go all the same.
        wal::clear(&journal).map_err(Error::Io)?;
        return Ok((0, replayed.next_entry));
    }
    write_layer(trees, &layer, |_| {})?;
    db.flush()?;
    DiskSync::open(dir).map_err(Error::Io)?;
    if !legacy.is_empty() {
        trees.journal.remove_all(&legacy)?;
        db.flush()?;
        DiskSync::open(dir).map_err(Error::Io)?;
    }
    wal::clear(&journal).map_err(Error::Io)?;
    Ok((entries, replayed.next_entry))
}

/// The real fsyncs behind a durable checkpoint, and behind the flushes at open.
///
/// sled 0.34 keeps, under its directory: `conf` (written once at creation), `db` (the log, where
/// every write lands), `snap.<lsn>` snapshots (written, synced and renamed in by sled's
/// background flusher) and `blobs/<lsn>` (values too large for a log segment, written WITHOUT
/// any sync). So each durable checkpoint `fdatasync`s `db`, syncs every blob that appeared since
/// the last one, and syncs a directory whose entries changed, so that new names survive a power
/// loss too. A listing per checkpoint costs microseconds against the milliseconds of the fsync.
pub(super) struct DiskSync {
    dir: PathBuf,
    log: File,
    dir_names: HashSet<OsString>,
    blob_names: HashSet<OsString>,
}

impl DiskSync {
    /// Syncs everything once: the store may have just been created, and with it its directory.
    pub(super) fn open(dir: &Path) -> io::Result<Self> {
        // Write access: some platforms refuse to sync a read-only handle.
        let log = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(LOG_FILE))?;
        let mut disk = Self {
            dir: dir.to_owned(),
            log,
            dir_names: HashSet::new(),
            blob_names: HashSet::new(),
        };
        disk.sync()?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(disk)
    }

    pub(super) fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        let blobs = self.dir.join("blobs");
        if sync_new_files(&blobs, &mut self.blob_names)? {
            sync_dir(&blobs)?;
        }
        if sync_new_files(&self.dir, &mut self.dir_names)? {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// Syncs the regular files of `dir` not in `known`; true if the set of names changed.
fn sync_new_files(dir: &Path, known: &mut HashSet<OsString>) -> io::Result<bool> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut names = HashSet::with_capacity(known.len());
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !known.contains(&name) && entry.file_type()?.is_file() {
            match File::open(entry.path()) {
                Ok(file) => file.sync_all()?,
                // sled renamed or collected it meanwhile (snapshot, blob GC): nothing to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        names.insert(name);
    }
    let changed = names != *known;
    *known = names;
    Ok(changed)
}
