//! The store's format at open: a new store is stamped, an older one upgraded in place, a newer
//! one refused (its layout is not this build's to guess).
//!
//! Called by the engine's open (`mod.rs`) before the journal is replayed. Every step is durable
//! before the stamp says it is done, so an upgrade cut short is done again at the next open. A
//! newer format fails the open with [`Error::Corrupt`] naming `meta`; a failed write fails it
//! too, and nothing in the old trees is lost.

use super::error::{corrupt, Error};
use super::format::{self, META};
use super::packed;
use super::state::Trees;
use super::trees::{Db, Value};

/// The first format with packed records (see `format.rs`).
const PACKED_SINCE: u8 = 4;

/// Stamps a new store; upgrades an older one (see `format.rs` for what each format changed);
/// refuses a newer one. Runs before the journal is replayed: that writes in today's format.
pub(super) fn check_format(db: &Db, trees: &Trees) -> Result<(), Error> {
    let key = format::META_FORMAT_VERSION;
    let stamped = trees.meta.get(key)?;
    match stamped.as_deref() {
        Some([version]) if *version == format::FORMAT_VERSION => {
            // An upgrade stopped between its stamp and the emptying of the old tree.
            if trees.unpacked.iter().any(|(_, old)| !old.is_empty()) {
                clear_unpacked(db, trees)?;
            }
            Ok(())
        }
        Some([old]) if format::FORMAT_VERSIONS_OLDER.contains(old) => {
            // The journal needs nothing: a format 2 journal tree is replayed all the same. The
            // records move to packs, durably, before the stamp says they did; stopped before it,
            // the next open does it again (writing the same packs). From format 4 on, records
            // are already packed and every later change reads the older records as they are.
            let moved = if *old < PACKED_SINCE {
                tracing::info!(
                    "store: upgrading from format {old} to {}: rewriting the store, which takes \
                     a while for a large one",
                    format::FORMAT_VERSION
                );
                let moved = pack(trees)?;
                db.flush()?;
                moved
            } else {
                0
            };
            trees.meta.insert(key, stamp())?;
            db.flush()?;
            clear_unpacked(db, trees)?;
            tracing::info!(
                entries = moved,
                "store: upgraded from format {old} to {}",
                format::FORMAT_VERSION
            );
            Ok(())
        }
        Some(v) => Err(corrupt(
            META,
            key,
            &format!(
                "store format {v:?}; this smppd reads format {}",
                format::FORMAT_VERSION
            ),
        )),
        None => {
            // A new store (or one that crashed before its first sync: then it holds nothing).
            trees.meta.insert(key, stamp())?;
            Ok(())
        }
    }
}

/// Copies every entry of the trees now packed (`messages`, `carrier_ids`) into packs.
/// Returns how many.
fn pack(trees: &Trees) -> Result<u64, Error> {
    let mut moved = 0;
    for (tree, old) in &trees.unpacked {
        let Some(packed) = trees.packed(*tree) else {
            continue;
        };
        let mut packs = packed::Writer::new(packed);
        for entry in old.iter() {
            let (key, value) = entry?;
            packs.put(&key, Some(value))?;
            moved += 1;
        }
        packs.finish()?;
    }
    Ok(moved)
}

fn clear_unpacked(db: &Db, trees: &Trees) -> Result<(), Error> {
    for (_, old) in &trees.unpacked {
        old.clear()?;
    }
    Ok(db.flush()?)
}

/// The value of `meta/format_version`.
fn stamp() -> Value {
    Value::from(&[format::FORMAT_VERSION][..])
}
