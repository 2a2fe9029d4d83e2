//! Retention: removes finished messages a while after they finished, in the background, in small
//! steps so that traffic never waits behind it.
//!
//! Started by the gateway (`app.rs`) when `[store] retention` is set; each step is one
//! [`Store::purge_finished`] commit. A step that fails is logged and the round ends there; the
//! next round starts over (a failed write has stopped the store anyway, and the gateway
//! restarts).

use super::Store;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Messages looked at per step (one commit).
const STEP: usize = 512;
/// Pause between steps: the commit thread serves traffic in between.
const BREATHER: Duration = Duration::from_millis(20);

/// Runs until `shutdown`: every `keep / 10` (1 s to 1 min) removes the messages whose last change
/// is older than `keep`.
pub async fn run(store: Store, keep: Duration, shutdown: CancellationToken) {
    let every = (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let before = crate::message::now_ms().saturating_sub(keep_ms);
        let mut after = None;
        let mut purged = 0;
        loop {
            match store.purge_finished(after, before, STEP).await {
                Ok(step) => {
                    purged += step.purged;
                    match step.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention: cannot remove finished messages");
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(BREATHER) => {}
                () = shutdown.cancelled() => return,
            }
        }
        if purged > 0 {
            tracing::info!(purged, keep = %humantime::format_duration(keep), "retention: removed finished messages");
        }
    }
}
