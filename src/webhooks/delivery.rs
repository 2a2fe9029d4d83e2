//! Sending one endpoint's queue: in queue order, a few requests at a time, a message's events
//! one after the other, each until its endpoint answers 2xx (at least once), retried on a
//! ladder with jitter, buried in the dead letters after `give_up_after`.
//!
//! An endpoint that keeps failing is taken as down: then it gets one request per
//! `probe_interval` (the oldest event), not one per event, and its backlog waits in the store.
//! The first success brings it back, and the events it missed go at once rather than at their
//! next rung.
//!
//! What is only in memory (attempts so far, next rung, the circuit) starts afresh after a
//! restart: the queue and the give-up times (from each event's `created_at`) are in the store.

use super::payload;
use crate::config::WebhookConfig;
use crate::hook_event::{DeadHook, HookEntry};
use crate::hook_sign as sign;
use crate::live::Live;
use crate::message::now_ms;
use crate::store::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Events of an endpoint read ahead of the one being sent.
const READ_AHEAD: usize = 1000;
/// Failed attempts in a row that take an endpoint as down.
const DOWN_AFTER: u32 = 3;

/// What an operator sees of one endpoint (`smppctl hooks`).
#[derive(Clone, Debug, Default)]
pub struct EndpointStatus {
    /// Taken as down: probed, not sent to.
    pub down: bool,
    /// Answered 410 Gone: nothing more is sent until the config is reloaded or smppd restarts.
    pub disabled: bool,
    /// What the last failed attempt got.
    pub last_error: Option<String>,
    /// When it last took an event, unix ms.
    pub last_success_at: Option<i64>,
    /// Events it took, failed attempts, and events buried, since start.
    pub delivered: u64,
    pub failed_attempts: u64,
    pub buried: u64,
}

/// How one attempt ended.
enum Outcome {
    Taken,
    /// 410: the receiver says the endpoint is gone for good.
    Gone,
    Failed(String),
}

struct Pending {
    entry: HookEntry,
    attempts: u32,
    /// Not before this (the ladder's next rung).
    next_at: Instant,
    last_error: String,
}

/// One endpoint's sender.
pub(super) struct Endpoint {
    pub(super) client: String,
    pub(super) name: String,
    pub(super) store: Store,
    pub(super) live: Live,
    pub(super) http: reqwest::Client,
    pub(super) status: Arc<Mutex<EndpointStatus>>,
}

impl Endpoint {
    /// The endpoint's config as in force now; `None` once a reload removed it.
    fn config(&self) -> Option<Arc<WebhookConfig>> {
        let config = self.live.config();
        let hook = config
            .client(&self.client)?
            .webhooks
            .iter()
            .find(|hook| hook.name == self.name)?;
        Some(Arc::new(hook.clone()))
    }

    fn status(&self) -> std::sync::MutexGuard<'_, EndpointStatus> {
        crate::sync::lock(&self.status)
    }

    /// Sends until `stop`, or until the endpoint leaves the config or answers 410.
    pub(super) async fn run(self, stop: CancellationToken) {
        let signal = self.store.hook_signal(&self.client, &self.name);
        let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
        let mut cursor: Option<u64> = None;
        let mut in_flight: JoinSet<(u64, Outcome)> = JoinSet::new();
        let mut sending: HashSet<u64> = HashSet::new();
        let mut failures_in_a_row = 0u32;
        let mut next_probe: Option<Instant> = None;
        let mut taken = Vec::new();
        loop {
            let Some(hook) = self.config() else {
                tracing::info!(client = %self.client, endpoint = %self.name,
                    "webhooks: endpoint no longer configured; its queue stays in the store");
                return;
            };
            if !taken.is_empty() {
                let seqs = std::mem::take(&mut taken);
                if let Err(e) = self.store.ack_hooks(&self.client, &self.name, seqs).await {
                    // Sent again after a restart: at least once.
                    tracing::warn!(error = %e, "webhooks: cannot remove events sent");
                }
            }
            if pending.len() < READ_AHEAD / 2 {
                match self
                    .store
                    .hooks(&self.client, &self.name, cursor, READ_AHEAD - pending.len())
                {
                    Ok(read) => {
                        let now = Instant::now();
                        for (seq, entry) in read {
                            cursor = Some(seq);
                            let fresh = Pending {
                                entry,
                                attempts: 0,
                                next_at: now,
                                last_error: String::new(),
                            };
                            pending.insert(seq, fresh);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "webhooks: cannot read the queue"),
                }
            }
            self.bury_expired(&hook, &mut pending, &sending).await;

            let now = Instant::now();
            let down = next_probe.is_some();
            let probe_due = next_probe.is_some_and(|at| at <= now);
            let room = if down {
                usize::from(probe_due && in_flight.is_empty())
            } else {
                hook.concurrency.get().saturating_sub(in_flight.len())
            };
            // A message's events in order: one that waits holds back the later ones.
            let mut held = HashSet::new();
            let mut started = 0;
            for (&seq, item) in &pending {
                if started >= room {
                    break;
                }
                let order = item.entry.order;
                if order.is_some_and(|o| held.contains(&o)) {
                    continue;
                }
                let ready = !sending.contains(&seq) && (down || item.next_at <= now);
                if let Some(o) = order {
                    held.insert(o);
                }
                if !ready {
                    continue;
                }
                sending.insert(seq);
                started += 1;
                let body = payload::body(&item.entry, &self.live.config());
                let request = attempt(
                    self.http.clone(),
                    Arc::clone(&hook),
                    payload::event_id(&item.entry),
                    body,
                );
                in_flight.spawn(async move { (seq, request.await) });
            }
            if down && started > 0 {
                next_probe = Some(now + hook.probe_interval);
            }

            // Sleep until an answer, new events, the next rung, probe or give-up, or stop.
            let wake = self.next_wake(&hook, &pending, &sending, next_probe);
            tokio::select! {
                () = stop.cancelled() => return,
                () = signal.notified() => {}
                () = tokio::time::sleep_until(wake) => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let Ok((seq, outcome)) = done else { continue };
                    sending.remove(&seq);
                    match outcome {
                        Outcome::Taken => {
                            pending.remove(&seq);
                            taken.push(seq);
                            failures_in_a_row = 0;
                            if next_probe.take().is_some() {
                                tracing::info!(client = %self.client, endpoint = %self.name,
                                    "webhooks: endpoint is back");
                                // Its failures were the endpoint's: the backlog goes now.
                                let now = Instant::now();
                                for item in pending.values_mut() {
                                    item.next_at = now;
                                }
                            }
                            let mut status = self.status();
                            status.down = false;
                            status.delivered += 1;
                            status.last_success_at = Some(now_ms());
                            metrics::counter!(crate::telemetry::name::WEBHOOK_DELIVERED,
                                "client" => self.client.clone(), "endpoint" => self.name.clone())
                                .increment(1);
                        }
                        Outcome::Gone => {
                            tracing::error!(client = %self.client, endpoint = %self.name,
                                url = %hook.url, "webhooks: endpoint answered 410 Gone; \
                                nothing more is sent to it until a reload or restart (its \
                                queue stays in the store)");
                            self.status().disabled = true;
                            in_flight.shutdown().await;
                            return;
                        }
                        Outcome::Failed(why) => {
                            failures_in_a_row += 1;
                            if let Some(item) = pending.get_mut(&seq) {
                                item.attempts += 1;
                                let rung = hook.retry[usize::try_from(item.attempts - 1)
                                    .unwrap_or(usize::MAX)
                                    .min(hook.retry.len() - 1)];
                                item.next_at = Instant::now() + jitter(rung, seq);
                                item.last_error.clone_from(&why);
                            }
                            if failures_in_a_row >= DOWN_AFTER && next_probe.is_none() {
                                tracing::warn!(client = %self.client, endpoint = %self.name,
                                    error = %why, "webhooks: endpoint is down; probing it once \
                                    per probe_interval");
                                next_probe = Some(Instant::now() + hook.probe_interval);
                            }
                            let mut status = self.status();
                            status.down = next_probe.is_some();
                            status.failed_attempts += 1;
                            status.last_error = Some(why);
                            metrics::counter!(crate::telemetry::name::WEBHOOK_FAILED_ATTEMPTS,
                                "client" => self.client.clone(), "endpoint" => self.name.clone())
                                .increment(1);
                        }
                    }
                }
            }
        }
    }

    /// When to look again: the first of the next rung, the next probe, the next give-up.
    fn next_wake(
        &self,
        hook: &WebhookConfig,
        pending: &BTreeMap<u64, Pending>,
        sending: &HashSet<u64>,
        next_probe: Option<Instant>,
    ) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(60);
        if let Some(probe) = next_probe {
            wake = wake.min(probe);
        }
        let now_ms = now_ms();
        for (seq, item) in pending.iter().filter(|(seq, _)| !sending.contains(seq)) {
            let _ = seq;
            if next_probe.is_none() {
                wake = wake.min(item.next_at);
            }
            let give_up = give_up_at(hook, &item.entry);
            let left = u64::try_from(give_up.saturating_sub(now_ms)).unwrap_or(0);
            wake = wake.min(now + Duration::from_millis(left));
        }
        wake.max(now + Duration::from_millis(5))
    }

    /// Moves events past their give-up time (and not in flight) to the dead letters.
    async fn bury_expired(
        &self,
        hook: &WebhookConfig,
        pending: &mut BTreeMap<u64, Pending>,
        sending: &HashSet<u64>,
    ) {
        let now = now_ms();
        let expired: Vec<u64> = pending
            .iter()
            .filter(|(seq, item)| !sending.contains(seq) && give_up_at(hook, &item.entry) <= now)
            .map(|(&seq, _)| seq)
            .collect();
        if expired.is_empty() {
            return;
        }
        let dead: Vec<(u64, DeadHook)> = expired
            .iter()
            .filter_map(|seq| {
                let item = pending.get(seq)?;
                let last_error = if item.last_error.is_empty() {
                    "never attempted (the endpoint was down)".to_owned()
                } else {
                    item.last_error.clone()
                };
                Some((
                    *seq,
                    DeadHook {
                        entry: item.entry.clone(),
                        died_at: now,
                        attempts: item.attempts,
                        last_error,
                    },
                ))
            })
            .collect();
        match self.store.bury_hooks(&self.client, &self.name, dead).await {
            Ok(moved) => {
                for seq in &expired {
                    pending.remove(seq);
                }
                tracing::warn!(client = %self.client, endpoint = %self.name, events = moved,
                    "webhooks: events not taken within give_up_after moved to the dead letters");
                self.status().buried += moved as u64;
                metrics::counter!(crate::telemetry::name::WEBHOOK_DEAD,
                    "client" => self.client.clone(), "endpoint" => self.name.clone())
                .increment(moved as u64);
            }
            Err(e) => tracing::error!(error = %e, "webhooks: cannot bury events"),
        }
    }
}

fn give_up_at(hook: &WebhookConfig, entry: &HookEntry) -> i64 {
    let after = i64::try_from(hook.give_up_after.as_millis()).unwrap_or(i64::MAX);
    entry.created_at.saturating_add(after)
}

/// `rung` ± 20 %, spread by the event's seq so that a backlog does not come back all at once.
fn jitter(rung: Duration, seq: u64) -> Duration {
    // A cheap spread (splitmix64 of seq and the clock): fairness, not secrecy.
    let mut x = seq ^ u64::try_from(now_ms()).unwrap_or(0);
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let permille = 800 + (x % 401); // 0.8 to 1.2
    rung.mul_f64(permille as f64 / 1000.0)
}

/// One POST of one event, signed with every current secret.
async fn attempt(
    http: reqwest::Client,
    hook: Arc<WebhookConfig>,
    id: String,
    body: Vec<u8>,
) -> Outcome {
    let headers = sign::Headers::sign(
        hook.secrets.secrets.as_slice(),
        &id,
        sign::unix_now(),
        &body,
    );
    let mut request = http
        .post(&hook.url)
        .timeout(hook.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    match request.body(body).send().await {
        Ok(response) if response.status().is_success() => Outcome::Taken,
        Ok(response) if response.status() == reqwest::StatusCode::GONE => Outcome::Gone,
        Ok(response) => Outcome::Failed(format!("HTTP {}", response.status().as_u16())),
        Err(e) if e.is_timeout() => Outcome::Failed(format!("no answer within {:?}", hook.timeout)),
        Err(e) => Outcome::Failed(error_chain(&e)),
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_fifth() {
        let rung = Duration::from_secs(100);
        for seq in 0..1000 {
            let d = jitter(rung, seq);
            assert!(
                d >= Duration::from_secs(80) && d <= Duration::from_secs(120),
                "{d:?}"
            );
        }
    }
}
