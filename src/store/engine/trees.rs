//! The sled boundary: the only file in the crate that names sled. Everything else in the store
//! reaches the trees through the types here: [`Db`] (the database: open, trees, flush, size),
//! [`RawTree`] (one sled tree, raw keys and values: get, insert, remove, range, iteration, last,
//! len), [`Value`] (a value read, shared rather than copied) and [`DbError`] (what sled reports).
//!
//! Called by the rest of the engine only (`state.rs`, `packed.rs`, `checkpoint.rs`,
//! `upgrade.rs`); the gateway store above sees none of it but [`DbError`] inside its own error.
//! Nothing here retries or interprets a failure: every sled error goes back to the caller as a
//! [`DbError`], and the engine stops taking writes on it (see `checkpoint.rs`).
//!
//! sled 0.34 keeps the first I/O error of its log writer and fails every later write and flush
//! with it until the database is reopened; its flush ends in `sync_file_range`, which is not
//! durability (see `checkpoint.rs`: `DiskSync`). `clippy.toml` allows its flush in one place
//! only, [`Db::flush`].

use std::ops::Deref;
use std::path::Path;

/// sled's log file in the store directory: every write lands there first. Its presence says the
/// store was opened before.
pub(super) const LOG_FILE: &str = "db";

/// An error from sled: I/O underneath, or its own corruption check (`Display` is sled's).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct DbError(#[from] sled::Error);

/// A value (or key) read from a tree: shared with sled's cache and cheap to clone. Compares with
/// anything that is bytes.
#[derive(Clone, Debug)]
pub(in crate::store) struct Value(sled::IVec);

impl Value {
    /// `len` bytes from `at`, sharing the same buffer (no copy).
    pub(super) fn subslice(&self, at: usize, len: usize) -> Self {
        Self(self.0.subslice(at, len))
    }
}

impl Deref for Value {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Self(sled::IVec::from(bytes))
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Self {
        Self(sled::IVec::from(bytes))
    }
}

impl<T: AsRef<[u8]> + ?Sized> PartialEq<T> for Value {
    fn eq(&self, other: &T) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_ref().cmp(other.as_ref())
    }
}

/// The sled database under a store directory.
pub(super) struct Db(sled::Db);

impl Db {
    /// Whether a store was opened in `dir` before (sled's log is there).
    pub(super) fn exists(dir: &Path) -> bool {
        dir.join(LOG_FILE).exists()
    }

    /// Opens (or creates) the database in `dir`, its page cache up to `cache_bytes`.
    pub(super) fn open(dir: &Path, cache_bytes: u64) -> Result<Self, DbError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        Ok(Self(db))
    }

    /// The tree named `name`, created if missing.
    pub(super) fn open_tree(&self, name: &str) -> Result<RawTree, DbError> {
        Ok(RawTree(self.0.open_tree(name)?))
    }

    /// sled's flush, the only call of it in the gateway: it writes the log buffers and ends in
    /// `sync_file_range`, which is not durability on its own (`checkpoint.rs`: `DiskSync` does
    /// the fsyncs). Called by the checkpoint, the replay at open, the format upgrade and the
    /// commit thread's start.
    pub(super) fn flush(&self) -> Result<(), DbError> {
        #[allow(clippy::disallowed_methods)]
        self.0.flush()?;
        Ok(())
    }

    /// Bytes sled's files take.
    pub(super) fn size_on_disk(&self) -> Result<u64, DbError> {
        Ok(self.0.size_on_disk()?)
    }

    /// The database in `dir` with sled's default settings, as an older smppd had it (tests write
    /// older or newer formats with it).
    #[cfg(test)]
    pub(super) fn open_as_is(dir: &Path) -> Result<Self, DbError> {
        Ok(Self(sled::open(dir)?))
    }

    /// A database in a temporary directory, removed when dropped.
    #[cfg(test)]
    pub(super) fn temporary() -> Result<Self, DbError> {
        Ok(Self(sled::Config::new().temporary(true).open()?))
    }
}

/// One sled tree: raw keys and values, in key order.
pub(super) struct RawTree(sled::Tree);

impl RawTree {
    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Value>, DbError> {
        Ok(self.0.get(key)?.map(Value))
    }

    /// Sets `key` (the value it had is dropped).
    pub(super) fn insert(&self, key: &[u8], value: impl Into<Value>) -> Result<(), DbError> {
        drop(self.0.insert(key, value.into().0)?);
        Ok(())
    }

    /// Removes `key`, if there.
    pub(super) fn remove(&self, key: &[u8]) -> Result<(), DbError> {
        drop(self.0.remove(key)?);
        Ok(())
    }

    /// Removes every key of `keys` in one atomic batch.
    pub(super) fn remove_all(&self, keys: &[Value]) -> Result<(), DbError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.0.clone());
        }
        Ok(self.0.apply_batch(batch)?)
    }

    /// Removes every key.
    pub(super) fn clear(&self) -> Result<(), DbError> {
        Ok(self.0.clear()?)
    }

    /// Every entry, in key order.
    pub(super) fn iter(&self) -> RawIter {
        RawIter(self.0.iter())
    }

    /// The entries with keys in `[from, to]`, in key order.
    pub(super) fn range(&self, from: &[u8], to: &[u8]) -> RawIter {
        RawIter(self.0.range(from.to_vec()..=to.to_vec()))
    }

    /// The entry with the greatest key.
    pub(super) fn last(&self) -> Result<Option<(Value, Value)>, DbError> {
        Ok(self.0.last()?.map(|(k, v)| (Value(k), Value(v))))
    }

    /// Keys in the tree (a walk over all of them).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// See [`RawTree::iter`] and [`RawTree::range`].
pub(super) struct RawIter(sled::Iter);

impl Iterator for RawIter {
    type Item = Result<(Value, Value), DbError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.0.next()?;
        Some(entry.map(|(k, v)| (Value(k), Value(v))).map_err(DbError))
    }
}

/// Test-only raw access to the sled database of a closed store: writes what an older or newer
/// smppd would have left there.
#[cfg(test)]
pub(in crate::store) struct RawDb(Db);

#[cfg(test)]
impl RawDb {
    /// The database in `dir` (the store's directory), with sled's default settings.
    pub(in crate::store) fn open(dir: &Path) -> Result<Self, DbError> {
        Db::open_as_is(dir).map(Self)
    }

    /// Sets `key` in the sled tree named `tree` (created if missing).
    pub(in crate::store) fn insert(
        &self,
        tree: &str,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), DbError> {
        self.0
            .open_tree(tree)?
            .insert(key.as_ref(), Value::from(value.as_ref()))
    }

    /// sled's flush ([`Db::flush`]).
    pub(in crate::store) fn flush(&self) -> Result<(), DbError> {
        self.0.flush()
    }
}
