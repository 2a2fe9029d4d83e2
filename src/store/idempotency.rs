//! The `idempotency` tree's upkeep: entries past `[http_api] idempotency_window` are removed, so
//! that the tree holds about one window of HTTP answers instead of every answer ever given.
//!
//! [`run`], started by the gateway (`app.rs`), walks the tree every `window / 10` (1 s to
//! 10 min) in steps of [`STEP`] keys ([`Store::expire_idempotency`]): a step reads entries, then
//! asks the commit thread to remove the old ones (`Op::ExpireIdempotency`, which calls
//! `commit/expiry.rs`). The commit thread looks at each entry again before removing it, so an entry a
//! retry or a new use of the key wrote since the read (its `at` is recent) is kept. Reads
//! already ignore entries past the window (`http_api`), so a sweep that is late or fails costs
//! disk, never a wrong answer. A step that fails is logged and the round ends there; the next
//! round starts over.

use super::commit::{Op, Reply};
use super::engine::Tree;
use super::{layout, unexpected, Error, Store};
use crate::live::Live;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Keys looked at, and at most removed, per step (one commit).
const STEP: usize = 1000;
/// Pause between steps: the commit thread serves traffic in between.
const BREATHER: Duration = Duration::from_millis(20);

/// What one step of [`Store::expire_idempotency`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expiry {
    /// Entries removed.
    pub removed: usize,
    /// The last key looked at, where the next step starts after; `None` at the end of the tree.
    pub next: Option<Vec<u8>>,
}

impl Store {
    /// One step of the sweep: reads up to `limit` entries after key `after` (from the first
    /// without one) and removes those whose answer was given before `before` (unix ms).
    pub async fn expire_idempotency(
        &self,
        after: Option<&[u8]>,
        before: i64,
        limit: usize,
    ) -> Result<Expiry, Error> {
        // The key right after `after`; every key sorts below the end: its first byte is a
        // name's length and the next one starts a UTF-8 name, never 0xFF.
        let start = after.map_or_else(Vec::new, |key| [key, &[0]].concat());
        let entries = self
            .shared
            .engine
            .scan(Tree::Idempotency, &start, &[0xFF, 0xFF], limit)?;
        let mut keys = Vec::new();
        for (key, value) in &entries {
            match layout::decode_idempotency(key, value) {
                Ok(answer) if answer.at < before => keys.push(key.clone()),
                Ok(_) => {}
                // Kept: reading it again gives the same error, and no answer is replayed.
                Err(e) => tracing::warn!(error = %e, "idempotency: an entry does not decode"),
            }
        }
        let next = if entries.len() < limit {
            None
        } else {
            entries.last().map(|(key, _)| key.clone())
        };
        let removed = if keys.is_empty() {
            0
        } else {
            match self.write(Op::ExpireIdempotency { keys, before }).await? {
                Reply::Count(n) => n,
                other => return Err(unexpected(other)),
            }
        };
        Ok(Expiry { removed, next })
    }
}

/// Runs until `shutdown`: every `window / 10` (1 s to 10 min, the window as configured at the
/// time) removes the entries older than the window.
pub async fn run(store: Store, live: Live, shutdown: CancellationToken) {
    loop {
        let window = live.config().http_api.idempotency_window;
        let every = (window / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let before = crate::message::now_ms().saturating_sub(window_ms);
        let mut after = None;
        let mut removed = 0;
        loop {
            match store
                .expire_idempotency(after.as_deref(), before, STEP)
                .await
            {
                Ok(step) => {
                    removed += step.removed;
                    match step.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "idempotency: cannot remove expired keys");
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(BREATHER) => {}
                () = shutdown.cancelled() => return,
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                window = %humantime::format_duration(window),
                "idempotency: removed keys past their window"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::Recorded;
    use crate::message::now_ms;
    use crate::store::commit::expiry::expired;
    use crate::store::engine::Write;
    use crate::store::tests::open;

    fn answer(at: i64) -> Recorded {
        Recorded {
            request: vec![1; 32],
            status: 202,
            body: b"{}".to_vec(),
            at,
        }
    }

    #[tokio::test]
    async fn the_sweep_removes_old_answers_step_by_step_and_keeps_young_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let now = now_ms();
        let hour = 3_600_000;
        for (client, key, at) in [
            ("shop", "old-1", now - 2 * hour),
            ("shop", "old-2", now - 2 * hour),
            ("shop", "young", now),
            ("other", "old-1", now - 2 * hour),
            ("other", "batch#7", now - 2 * hour),
        ] {
            let answer = answer(at);
            let accepted = store.accept_idempotent(Vec::new(), client, key, &answer);
            accepted.await.unwrap();
        }
        let before = now - hour;
        // Two keys a step: three steps, the last at the end of the tree.
        let mut after = None;
        let mut removed = 0;
        let mut steps = 0;
        loop {
            let step = store.expire_idempotency(after.as_deref(), before, 2).await;
            let step = step.unwrap();
            removed += step.removed;
            steps += 1;
            match step.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!((removed, steps), (4, 3));
        for (client, key) in [("shop", "old-1"), ("shop", "old-2"), ("other", "batch#7")] {
            assert_eq!(
                store.idempotent(client, key).unwrap(),
                None,
                "{client} {key}"
            );
        }
        assert_eq!(
            store.idempotent("shop", "young").unwrap(),
            Some(answer(now))
        );
        // Nothing more to remove; durable across a restart.
        let again = store.expire_idempotency(None, before, 10).await.unwrap();
        assert_eq!(again, Expiry::default());
        store.close().await.unwrap();
        drop(store);
        let store = open(&dir);
        assert_eq!(store.idempotent("shop", "old-1").unwrap(), None);
        assert_eq!(
            store.idempotent("shop", "young").unwrap(),
            Some(answer(now))
        );
    }

    #[tokio::test]
    async fn an_entry_written_again_since_it_was_read_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let old = answer(1_000);
        let accepted = store.accept_idempotent(Vec::new(), "shop", "k", &old);
        accepted.await.unwrap();
        let key = layout::idempotency_key("shop", "k").unwrap();
        let engine = &store.shared.engine;
        let write = |value: Option<Vec<u8>>| Write {
            tree: Tree::Idempotency,
            key: key.clone(),
            value,
            fresh: false,
        };
        let encoded = |at| layout::encode_idempotency(&key, &answer(at)).unwrap();
        assert!(expired(engine, [].iter(), &key, 2_000).unwrap());
        assert!(
            !expired(engine, [].iter(), &key, 1_000).unwrap(),
            "not older"
        );
        // A retry's answer planned earlier in the same batch.
        let rewritten = write(Some(encoded(5_000)));
        assert!(!expired(engine, [rewritten.clone()].iter(), &key, 2_000).unwrap());
        let back = write(Some(encoded(1_500)));
        assert!(
            expired(engine, [rewritten, back].iter(), &key, 2_000).unwrap(),
            "the latest planned write counts"
        );
        assert!(!expired(engine, [write(None)].iter(), &key, 2_000).unwrap());
        let other = layout::idempotency_key("shop", "none").unwrap();
        assert!(!expired(engine, [].iter(), &other, 2_000).unwrap());

        // Through the commit thread: the sweep read the old answer, then the key was used
        // again before its removal arrived.
        let fresh = answer(now_ms());
        let rewrite = store.accept_idempotent(Vec::new(), "shop", "k", &fresh);
        rewrite.await.unwrap();
        let removal = Op::ExpireIdempotency {
            keys: vec![key.clone()],
            before: 2_000,
        };
        assert!(matches!(store.write(removal).await, Ok(Reply::Count(0))));
        assert_eq!(store.idempotent("shop", "k").unwrap(), Some(fresh));
    }
}
