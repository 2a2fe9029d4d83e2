//! The journal: segment files under `<store>/journal/`, each written front to back, one per
//! memory layer.
//!
//! A group commit appends its batch as one entry (a few for a large batch), and the sync thread
//! fdatasyncs the segment before the batch is answered: one `write` and one `fdatasync` per
//! commit. (Journaling into a sled tree cost a tree insert, sled's flush, blob files and their
//! fsyncs: most of the commit thread.) The trees get the writes later from the checkpoint thread,
//! which then retires the layer's segment.
//!
//! An entry is: payload length (u32 LE), CRC-32 of number and payload (u32 LE), number (u64 LE),
//! payload (`format.rs`: `encode_journal`). Numbers run on across segments; a segment's file name
//! is its first number. A crash can leave the last entries torn or half written. They were never
//! acknowledged, since a sync covers every earlier entry too, so replay takes the longest run of
//! whole, consecutive entries and drops the rest.
//!
//! A checkpointed segment is kept as a spare and reused, written over from its start, for a
//! later segment: an `fdatasync` of blocks that are already allocated and written flushes data
//! only, where one that grows a file also waits for a filesystem journal commit (measured on the
//! CI machine's disk: p99 0.3–0.5 ms against 0.7–2 ms, and spikes to 10 ms under other writes).
//! What is left of the old content after the new entries can never pass for an entry: its
//! numbers are older. Spares are made and used within one run only (opening deletes them), so
//! that holds even when numbering restarts.
//!
//! Owned by the engine: the commit thread appends through `writer.rs` (which also rotates at
//! each frozen layer and hands segments to the sync thread), the checkpoint retires segments, and
//! the open replays and clears them (`checkpoint.rs`). A failed write, sync, rename or removal is
//! an `io::Error` for the caller, which stops taking writes; replay never fails on a torn or
//! damaged tail (it ends the run there), only on I/O.

use super::error::Error;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Length, CRC, number.
const HEADER: usize = 4 + 4 + 8;
/// `encode_journal` splits a batch at 64 KiB, and one write is at most a record of a few hundred
/// KiB: a length beyond this is damage, not an entry.
const ENTRY_MAX: usize = 16 * 1024 * 1024;
const EXTENSION: &str = "wal";
/// Checkpointed segments waiting to be reused; not read by replay.
const SPARE_EXTENSION: &str = "spare";
/// Spares kept: one is enough while each layer's segment is about as big as the one before.
const SPARES: usize = 2;

/// The journal's directory inside the store's.
pub(in crate::store) fn dir(store: &Path) -> PathBuf {
    store.join("journal")
}

/// A journal segment written to, shared with the sync thread: synced before the batches in it
/// are answered.
#[derive(Clone)]
pub(in crate::store) struct Segment(Arc<File>);

impl Segment {
    /// `fdatasync`: the entries written to it so far are durable.
    pub(super) fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    /// Whether both are the same segment file.
    pub(super) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The writer, owned by the commit thread (through `writer.rs`).
pub(in crate::store) struct Wal {
    dir: PathBuf,
    /// The segment being written, and where its next entry goes; `None` until the first append
    /// after a rotation.
    current: Option<(Segment, u64)>,
    next_entry: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Appends after entry `next_entry - 1`; `dir` exists and holds no segment from then on.
    pub(super) fn new(dir: PathBuf, next_entry: u64) -> Self {
        Self {
            dir,
            current: None,
            next_entry,
            buf: Vec::new(),
        }
    }

    /// Appends one entry per payload. Returns their numbers, first and last, and the segment
    /// they went to: the sync thread fdatasyncs it before the batch is answered.
    pub(super) fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<(u64, u64, Segment)> {
        let (file, offset) = match &self.current {
            Some((file, offset)) => (file.clone(), *offset),
            None => (Segment(Arc::new(self.start_segment()?)), 0),
        };
        let first = self.next_entry;
        self.buf.clear();
        for payload in payloads {
            encode_entry(&mut self.buf, self.next_entry, payload);
            self.next_entry += 1;
        }
        write_at(&file.0, &self.buf, offset)?;
        let end = offset + self.buf.len() as u64;
        self.current = Some((file.clone(), end));
        // A batch bigger than usual should not pin its buffer for good.
        if self.buf.capacity() > 4 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        Ok((first, self.next_entry.saturating_sub(1).max(first), file))
    }

    /// The next append starts a new segment: the entries so far belong to a frozen layer, and
    /// their segment is retired once that layer is in the trees.
    pub(super) fn rotate(&mut self) {
        self.current = None;
    }

    /// The segment for the next entry: a spare renamed, or a new file. Its name is made durable
    /// before any entry in it is acknowledged (once a layer, so the directory fsync costs nothing
    /// that matters).
    fn start_segment(&self) -> io::Result<File> {
        let path = self.dir.join(segment_name(self.next_entry));
        let mut reused = false;
        for spare in spares(&self.dir)? {
            match fs::rename(&spare, &path) {
                Ok(()) => {
                    reused = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(!reused)
            .open(path)?;
        sync_dir(&self.dir)?;
        Ok(file)
    }
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)
}

/// The spare segments in `dir`.
fn spares(dir: &Path) -> io::Result<Vec<PathBuf>> {
    files_with_extension(dir, SPARE_EXTENSION)
}

/// The files of `dir` named `*.{extension}`; none if `dir` does not exist.
fn files_with_extension(dir: &Path, extension: &str) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(extension) {
            files.push(path);
        }
    }
    Ok(files)
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.{EXTENSION}")
}

fn encode_entry(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    // A payload is below ENTRY_MAX (see there), far below 4 GiB.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(number, payload).to_le_bytes());
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(payload);
}

fn checksum(number: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&number.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The segments in `dir`, oldest first, with their first entry numbers. Other files are left
/// alone.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments: Vec<(u64, PathBuf)> = files_with_extension(dir, EXTENSION)?
        .into_iter()
        .filter_map(|path| {
            let first = path.file_stem()?.to_str()?.parse::<u64>().ok()?;
            Some((first, path))
        })
        .collect();
    segments.sort_unstable_by_key(|(first, _)| *first);
    Ok(segments)
}

/// What [`replay`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Replayed {
    /// Entries handed to `apply`.
    pub(super) entries: u64,
    /// The number after the last entry seen, whole or not: new entries start there.
    pub(super) next_entry: u64,
    /// Bytes after the last whole entry, all segments: a torn write (never acknowledged) or
    /// the old content of a reused segment.
    pub(super) dropped_bytes: u64,
    /// Whole segments after the break, dropped: only damage or a lost write leaves these.
    pub(super) dropped_segments: u64,
}

/// Hands every whole entry of the journal's unbroken run to `apply`, oldest first.
pub(super) fn replay(
    dir: &Path,
    mut apply: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<Replayed, Error> {
    let mut replayed = Replayed {
        next_entry: 1,
        ..Replayed::default()
    };
    let mut expected: Option<u64> = None;
    let mut broken = false;
    for (first, path) in segments(dir).map_err(Error::Io)? {
        replayed.next_entry = replayed.next_entry.max(first.saturating_add(1));
        let file = File::open(&path).map_err(Error::Io)?;
        let size = file.metadata().map_err(Error::Io)?.len();
        if broken || expected.is_some_and(|n| n != first) {
            broken = true;
            replayed.dropped_bytes += size;
            replayed.dropped_segments += 1;
            continue;
        }
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut at = 0u64;
        let mut next = first;
        let mut payload = Vec::new();
        while let Some(number) = read_entry(&mut reader, &mut payload).map_err(Error::Io)? {
            if number != next {
                break;
            }
            apply(number, &payload)?;
            replayed.entries += 1;
            at += (HEADER + payload.len()) as u64;
            next += 1;
        }
        replayed.next_entry = replayed.next_entry.max(next);
        expected = Some(next);
        // Bytes after the last whole entry: a torn write, or the old content of a reused
        // segment. The run goes on only if the next segment starts right after: a reused
        // segment that was not the last must not take its successors with it (they hold
        // acknowledged writes), while a segment cut short leaves a gap that ends the run.
        replayed.dropped_bytes += size - at.min(size);
    }
    Ok(replayed)
}

/// The next whole entry's number (payload into `payload`); `None` at the end or at the first
/// torn, damaged or impossible entry.
fn read_entry(reader: &mut impl Read, payload: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let mut header = [0u8; HEADER];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3, n @ ..] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let number = u64::from_le_bytes(n);
    if len > ENTRY_MAX {
        return Ok(None);
    }
    payload.clear();
    payload.resize(len, 0);
    if !read_full(reader, payload)? || checksum(number, payload) != crc {
        return Ok(None);
    }
    Ok(Some(number))
}

/// Fills `buf`; false if the file ends first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Retires the segments of entries up to `last`, whose layer is in the trees (kept as spares, at
/// most [`SPARES`], or deleted), each durably before the next: a crash must never leave an older
/// segment behind a retired newer one, whose replay would undo newer writes.
///
/// The commit thread rotates whenever it freezes a layer, so a segment starting at or before
/// `last` holds nothing after it.
pub(super) fn retire_through(dir: &Path, last: u64) -> io::Result<usize> {
    let mut removed = 0;
    let mut spare_count = spares(dir)?.len();
    for (first, path) in segments(dir)? {
        if first > last {
            break;
        }
        if spare_count < SPARES {
            // Named after the segment it was: unique, since numbers never repeat within a run.
            fs::rename(&path, path.with_extension(SPARE_EXTENSION))?;
            spare_count += 1;
        } else {
            fs::remove_file(path)?;
        }
        // Each one durable before the next (usually there is just one per checkpoint): the
        // filesystem need not keep the order of unsynced renames across a crash.
        sync_dir(dir)?;
        removed += 1;
    }
    Ok(removed)
}

/// Bytes the segments and spares take.
pub(super) fn size(dir: &Path) -> io::Result<u64> {
    let mut total = 0u64;
    let paths = segments(dir)?.into_iter().map(|(_, path)| path);
    for path in paths.chain(spares(dir)?) {
        match fs::metadata(path) {
            Ok(meta) => total = total.saturating_add(meta.len()),
            // Deleted by the checkpoint meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Deletes every segment (after a replay made them redundant) and every spare, durably.
pub(super) fn clear(dir: &Path) -> io::Result<()> {
    let segments = segments(dir)?.into_iter().map(|(_, path)| path);
    let all: Vec<PathBuf> = segments.chain(spares(dir)?).collect();
    for path in &all {
        fs::remove_file(path)?;
    }
    if !all.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates the journal directory if missing, durably (its name in the store directory too).
pub(super) fn create_dir(store: &Path) -> io::Result<PathBuf> {
    let dir = dir(store);
    if !dir.is_dir() {
        fs::create_dir_all(&dir)?;
        sync_dir(store)?;
    }
    Ok(dir)
}

/// fsync of a directory, which makes the names in it durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir; // Directories cannot be opened as files there; their entries sync with them.
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn entries(dir: &Path) -> (Vec<(u64, Vec<u8>)>, Replayed) {
        let mut seen = Vec::new();
        let replayed = replay(dir, |n, p| {
            seen.push((n, p.to_vec()));
            Ok(())
        })
        .unwrap();
        (seen, replayed)
    }

    #[test]
    fn entries_come_back_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        assert_eq!(wal.append(&[b"a".to_vec(), b"bb".to_vec()]).unwrap().0, 1);
        wal.rotate();
        let (first, last, _) = wal.append(&[b"c".to_vec()]).unwrap();
        assert_eq!((first, last), (3, 3));
        let (seen, replayed) = entries(dir.path());
        assert_eq!(
            seen,
            vec![(1, b"a".to_vec()), (2, b"bb".to_vec()), (3, b"c".to_vec())]
        );
        assert_eq!(
            replayed,
            Replayed {
                entries: 3,
                next_entry: 4,
                dropped_bytes: 0,
                dropped_segments: 0,
            }
        );
    }

    #[test]
    fn a_torn_tail_is_dropped_and_so_is_everything_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 7);
        wal.append(&[b"kept".to_vec(), b"torn".to_vec()]).unwrap();
        wal.rotate();
        wal.append(&[b"after".to_vec()]).unwrap();
        let first = dir.path().join(segment_name(7));
        let len = fs::metadata(&first).unwrap().len();
        let file = fs::OpenOptions::new().write(true).open(&first).unwrap();
        file.set_len(len - 2).unwrap();
        let (seen, replayed) = entries(dir.path());
        assert_eq!(seen, vec![(7, b"kept".to_vec())]);
        assert_eq!(replayed.entries, 1);
        // New entries never reuse a number a file on disk may still hold.
        assert_eq!(replayed.next_entry, 10);
        assert_eq!(replayed.dropped_bytes, (HEADER + 4 - 2 + HEADER + 5) as u64);
    }

    #[test]
    fn a_damaged_entry_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        wal.append(&[b"one".to_vec(), b"two".to_vec(), b"six".to_vec()])
            .unwrap();
        let path = dir.path().join(segment_name(1));
        let mut bytes = fs::read(&path).unwrap();
        let second_payload = HEADER + 3 + HEADER;
        bytes[second_payload] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (seen, _) = entries(dir.path());
        assert_eq!(seen, vec![(1, b"one".to_vec())]);
    }

    #[test]
    fn a_gap_between_segments_ends_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        wal.append(&[b"one".to_vec()]).unwrap();
        let mut later = Wal::new(dir.path().to_owned(), 5);
        later.append(&[b"five".to_vec()]).unwrap();
        let (seen, replayed) = entries(dir.path());
        assert_eq!(seen, vec![(1, b"one".to_vec())]);
        assert_eq!(replayed.next_entry, 6);
    }

    #[test]
    fn removal_stops_at_the_first_newer_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        wal.append(&[b"1".to_vec(), b"2".to_vec()]).unwrap();
        wal.rotate();
        wal.append(&[b"3".to_vec()]).unwrap();
        wal.rotate();
        wal.append(&[b"4".to_vec()]).unwrap();
        assert_eq!(retire_through(dir.path(), 2).unwrap(), 1);
        assert_eq!(entries(dir.path()).0.first().map(|e| e.0), Some(3));
        assert_eq!(retire_through(dir.path(), 3).unwrap(), 1);
        assert_eq!(retire_through(dir.path(), 3).unwrap(), 0);
        assert_eq!(retire_through(dir.path(), 4).unwrap(), 1);
        assert!(segments(dir.path()).unwrap().is_empty());
        clear(dir.path()).unwrap();
    }

    #[test]
    fn a_checkpointed_segment_is_reused_and_its_old_content_never_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        let big = vec![7u8; 4096];
        wal.append(&[big.clone(), big.clone(), big]).unwrap();
        wal.rotate();
        let (_, _, second) = wal.append(&[b"2".to_vec()]).unwrap();
        assert_eq!(retire_through(dir.path(), 3).unwrap(), 1);
        assert_eq!(spares(dir.path()).unwrap().len(), 1);
        let size_with_spare = size(dir.path()).unwrap();

        wal.rotate();
        let (first, _, third) = wal.append(&[b"three".to_vec()]).unwrap();
        assert_eq!(first, 5);
        assert!(
            spares(dir.path()).unwrap().is_empty(),
            "the spare was taken"
        );
        assert!(!second.same(&third));
        // Written over from its start: the file kept its size, the old entries are still there.
        assert_eq!(size(dir.path()).unwrap(), size_with_spare);
        let (seen, replayed) = entries(dir.path());
        assert_eq!(seen, vec![(4, b"2".to_vec()), (5, b"three".to_vec())]);
        assert_eq!(replayed.dropped_segments, 0);
        assert!(
            replayed.dropped_bytes > 0,
            "the old content is left over, ignored"
        );
    }

    #[test]
    fn a_reused_segment_followed_by_a_newer_one_replays_both() {
        // A crash while the layer of a reused segment is checkpointed: its old tail must not
        // end the run before the active layer's segment (this lost 32,043 acknowledged
        // messages in the backlog bench's kill -9).
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        let big = vec![7u8; 4096];
        wal.append(&[big.clone(), big]).unwrap();
        wal.rotate();
        wal.append(&[b"3".to_vec()]).unwrap();
        assert_eq!(retire_through(dir.path(), 2).unwrap(), 1);
        wal.rotate();
        wal.append(&[b"4".to_vec()]).unwrap(); // Into the spare, over its old entries.
        wal.rotate();
        wal.append(&[b"5".to_vec(), b"6".to_vec()]).unwrap();
        let (seen, replayed) = entries(dir.path());
        let numbers: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, vec![3, 4, 5, 6]);
        assert_eq!(replayed.dropped_segments, 0);
        assert!(replayed.dropped_bytes > 0);
        assert_eq!(replayed.next_entry, 7);
    }

    #[test]
    fn spares_are_capped_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        for n in 0..4u8 {
            wal.append(&[vec![n]]).unwrap();
            wal.rotate();
        }
        assert_eq!(retire_through(dir.path(), 4).unwrap(), 4);
        assert_eq!(spares(dir.path()).unwrap().len(), SPARES);
        assert!(segments(dir.path()).unwrap().is_empty());
        clear(dir.path()).unwrap();
        assert!(spares(dir.path()).unwrap().is_empty());
        assert_eq!(size(dir.path()).unwrap(), 0);
    }

    #[test]
    fn other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        fs::write(dir.path().join("junk.wal"), b"x").unwrap();
        let mut wal = Wal::new(dir.path().to_owned(), 1);
        wal.append(&[b"1".to_vec()]).unwrap();
        assert_eq!(entries(dir.path()).0.len(), 1);
        clear(dir.path()).unwrap();
        assert!(dir.path().join("notes.txt").exists());
        assert!(dir.path().join("junk.wal").exists());
    }
}
