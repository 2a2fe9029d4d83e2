//! What can go wrong in the storage engine: the trees (sled), the journal and sled's files (I/O),
//! or bytes on disk that do not decode.
//!
//! Every engine function returns these; the gateway store converts them into its own error
//! (`store::Error`, same variants, same messages), so its callers see no difference between a
//! failure in the engine and one above it. A failure while writing is fatal to the store (see
//! `writer.rs`); a failure while reading fails that read.

use super::trees::DbError;

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub(in crate::store) enum Error {
    /// sled failed (I/O underneath, or its own corruption check).
    #[error("store database error: {0}")]
    Db(#[source] DbError),
    /// Opening, writing or syncing the store's files failed.
    #[error("store file I/O failed: {0}")]
    Io(#[source] std::io::Error),
    /// Bytes on disk do not decode: damaged, or written by a newer smppd.
    #[error("corrupt store record in tree {tree}, key {key}: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// The key, hex.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// A [`Error::Corrupt`] naming the tree and the key (hex: keys are binary).
pub(in crate::store) fn corrupt(tree: &'static str, key: &[u8], reason: &str) -> Error {
    Error::Corrupt {
        tree,
        key: smpp_proto::types::hex(key),
        reason: reason.to_owned(),
    }
}
