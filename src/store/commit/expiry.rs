//! The commit thread's check before it removes an `idempotency` entry (`Op::ExpireIdempotency`;
//! the sweep that asks for it is `store/idempotency.rs`).

use crate::store::engine::{Engine, Tree, Write, IDEMPOTENCY};
use crate::store::{layout, Error};

/// Whether the `idempotency` entry under `key` is to be removed: it exists and its answer was
/// given before `before`. `pending` are the writes planned before it in the same batch, oldest
/// first (a retry's new answer may be among them).
pub(in crate::store) fn expired<'w>(
    engine: &Engine,
    pending: impl DoubleEndedIterator<Item = &'w Write>,
    key: &[u8],
    before: i64,
) -> Result<bool, Error> {
    let planned = pending
        .rev()
        .find(|w| w.tree == Tree::Idempotency && w.key == key);
    let value = match planned {
        Some(write) => write.value.clone(),
        None => engine.get(Tree::Idempotency, key)?.map(|v| v.to_vec()),
    };
    let Some(value) = value else {
        return Ok(false);
    };
    match layout::decode_idempotency(key, &value) {
        Ok(answer) => Ok(answer.at < before),
        Err(e) => {
            tracing::warn!(
                tree = IDEMPOTENCY,
                error = %e,
                "idempotency: kept an entry that does not decode"
            );
            Ok(false)
        }
    }
}
