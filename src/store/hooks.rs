//! Webhook queues: one per client endpoint, in the `webhooks` tree, and the dead letters of
//! each in `webhooks_dead`. Events are added by the commit thread itself, in the commit of the
//! change they tell about: a [`Tap`] (the webhooks module's) is shown every change and names
//! the events it calls for, so no way a message ends, no MO and no consent change can commit
//! without its events. The delivery (`webhooks/delivery.rs`) reads an endpoint's queue in
//! order and takes entries out once their endpoint answered 2xx, or buries them.

use super::commit::{HookWrite, Op, Urgency};
use super::engine::{Engine, Tree, WEBHOOKS, WEBHOOKS_DEAD};
use super::tap::{Endpoint, Tap};
use super::{layout, Error, Store};
use crate::hook_event::{DeadHook, HookEntry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Entries per endpoint, and the wake-up of each endpoint's delivery.
#[derive(Default)]
pub(super) struct HookQueues {
    depths: Mutex<HashMap<Endpoint, usize>>,
    signals: Mutex<HashMap<Endpoint, Arc<Notify>>>,
}

impl HookQueues {
    /// Counts every endpoint's entries (at open).
    pub(super) fn scan(engine: &Engine) -> Result<Self, Error> {
        let mut depths: HashMap<Endpoint, usize> = HashMap::new();
        for entry in engine.entries_on_disk(Tree::Webhooks) {
            let (key, _) = entry?;
            let (client, endpoint, _) = layout::split_hook_key(WEBHOOKS, &key)?;
            *depths
                .entry((client.to_owned(), endpoint.to_owned()))
                .or_default() += 1;
        }
        Ok(Self {
            depths: Mutex::new(depths),
            signals: Mutex::default(),
        })
    }

    /// Applies a committed batch's entry counts and wakes the endpoints it added to.
    pub(super) fn committed(&self, delta: &HashMap<Endpoint, i64>) {
        if delta.is_empty() {
            return;
        }
        let mut depths = crate::sync::lock(&self.depths);
        for (endpoint, &d) in delta {
            let n = depths.entry(endpoint.clone()).or_default();
            *n = n.saturating_add_signed(isize::try_from(d).unwrap_or(isize::MAX));
        }
        drop(depths);
        let signals = crate::sync::lock(&self.signals);
        for (endpoint, _) in delta.iter().filter(|(_, &d)| d > 0) {
            if let Some(signal) = signals.get(endpoint) {
                signal.notify_one();
            }
        }
    }
}

impl Store {
    /// Has `tap` shown every change from now on. Set once, before anything is accepted; a
    /// second tap is ignored.
    pub fn set_tap(&self, tap: Arc<dyn Tap>) {
        if self.shared.tap.set(tap).is_err() {
            tracing::warn!("store: a webhook tap was set twice; the first stays");
        }
    }

    /// Up to `limit` entries of an endpoint's queue after seq `after` (from the start if
    /// `None`), oldest first.
    pub fn hooks(
        &self,
        client: &str,
        endpoint: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, HookEntry)>, Error> {
        self.hook_range(
            Tree::Webhooks,
            client,
            endpoint,
            after,
            limit,
            layout::decode_hook,
        )
    }

    /// Up to `limit` of an endpoint's dead letters after seq `after`, oldest first.
    pub fn dead_hooks(
        &self,
        client: &str,
        endpoint: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, DeadHook)>, Error> {
        self.hook_range(
            Tree::WebhooksDead,
            client,
            endpoint,
            after,
            limit,
            layout::decode_dead_hook,
        )
    }

    fn hook_range<T>(
        &self,
        tree: Tree,
        client: &str,
        endpoint: &str,
        after: Option<u64>,
        limit: usize,
        decode: impl Fn(&[u8], &[u8]) -> Result<T, Error>,
    ) -> Result<Vec<(u64, T)>, Error> {
        let first = match after {
            None => 0,
            Some(seq) => match seq.checked_add(1) {
                Some(first) => first,
                None => return Ok(Vec::new()),
            },
        };
        let start = layout::hook_key(client, endpoint, first)?;
        let end = layout::hook_key(client, endpoint, u64::MAX)?;
        let name = if tree == Tree::Webhooks {
            WEBHOOKS
        } else {
            WEBHOOKS_DEAD
        };
        self.shared
            .engine
            .scan(tree, &start, &end, limit)?
            .into_iter()
            .map(|(key, value)| {
                let (_, _, seq) = layout::split_hook_key(name, &key)?;
                Ok((seq, decode(&key, &value)?))
            })
            .collect()
    }

    /// Entries waiting per endpoint (endpoints with none may be left out).
    pub fn hook_depths(&self) -> HashMap<Endpoint, usize> {
        crate::sync::lock(&self.shared.hooks.depths).clone()
    }

    /// Woken each time a commit that added to the endpoint's queue is durable.
    pub fn hook_signal(&self, client: &str, endpoint: &str) -> Arc<Notify> {
        let mut signals = crate::sync::lock(&self.shared.hooks.signals);
        let key = (client.to_owned(), endpoint.to_owned());
        signals.entry(key).or_default().clone()
    }

    /// Removes entries their endpoint took (idempotent). May wait a moment to share a commit:
    /// a crash before it sends them again, which at-least-once allows.
    pub async fn ack_hooks(
        &self,
        client: &str,
        endpoint: &str,
        seqs: Vec<u64>,
    ) -> Result<(), Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let write = HookWrite::Ack {
            endpoint: (client.to_owned(), endpoint.to_owned()),
            seqs,
        };
        self.write_when(Op::Hooks(write), Urgency::Deferrable)
            .await
            .map(drop)
    }

    /// Moves entries from the queue to the dead letters (an entry no longer queued is left
    /// alone). Returns how many moved.
    pub async fn bury_hooks(
        &self,
        client: &str,
        endpoint: &str,
        dead: Vec<(u64, DeadHook)>,
    ) -> Result<usize, Error> {
        let write = HookWrite::Bury {
            endpoint: (client.to_owned(), endpoint.to_owned()),
            dead,
        };
        self.count(Op::Hooks(write)).await
    }

    /// Moves dead letters back to the end of their endpoint's queue, with their event ids
    /// (a letter no longer dead is left alone). Returns how many moved.
    pub async fn replay_hooks(
        &self,
        client: &str,
        endpoint: &str,
        seqs: Vec<u64>,
    ) -> Result<usize, Error> {
        let write = HookWrite::Replay {
            endpoint: (client.to_owned(), endpoint.to_owned()),
            seqs,
        };
        self.count(Op::Hooks(write)).await
    }
}
