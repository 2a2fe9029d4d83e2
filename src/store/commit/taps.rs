//! The commit thread's side of the webhook queues: the events the [`Tap`] names for each
//! change, written in the change's own commit, and the queue writes of the delivery and the
//! operator ([`HookWrite`]).

use super::{Changes, Committer, HookWrite, Plan, Purpose, Reply};
use crate::consent::ConsentEvent;
use crate::hook_event::HookEntry;
use crate::message::{now_ms, Message, MessageId, OutboxItem, State};
use crate::store::engine::Tree;
use crate::store::tap::{Endpoint, Tap, Tapped};
use crate::store::{layout, Error};
use std::sync::Arc;

impl Committer {
    fn tap(&self) -> Option<Arc<dyn Tap>> {
        self.shared.tap.get().cloned()
    }

    /// The events of a new message (`before` is `None`) or of a change of its state.
    pub(super) fn tap_message(
        &mut self,
        batch: &Plan,
        changes: &mut Changes,
        before: Option<State>,
        message: &Message,
    ) -> Result<(), Error> {
        let Some(tap) = self.tap() else {
            return Ok(());
        };
        let mut out = Vec::new();
        {
            let changes = &*changes;
            let stored = |id: MessageId| {
                self.record(batch, changes, id, Purpose::Read)
                    .ok()
                    .flatten()
                    .map(|record| record.message)
            };
            tap.message(before, message, &stored, &mut out);
        }
        self.write_tapped(changes, out)
    }

    /// The events of an outbox entry (an MO).
    pub(super) fn tap_pushed(
        &mut self,
        changes: &mut Changes,
        client: &str,
        item: &OutboxItem,
    ) -> Result<(), Error> {
        let Some(tap) = self.tap() else {
            return Ok(());
        };
        let mut out = Vec::new();
        tap.pushed(client, item, &mut out);
        self.write_tapped(changes, out)
    }

    /// The events of consent changes.
    pub(super) fn tap_consent(
        &mut self,
        changes: &mut Changes,
        events: &[ConsentEvent],
    ) -> Result<(), Error> {
        let Some(tap) = self.tap() else {
            return Ok(());
        };
        let mut out = Vec::new();
        tap.consent(events, &mut out);
        self.write_tapped(changes, out)
    }

    fn write_tapped(&mut self, changes: &mut Changes, tapped: Vec<Tapped>) -> Result<(), Error> {
        if tapped.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        for Tapped {
            client,
            endpoint,
            order,
            event,
        } in tapped
        {
            let seq = self.allocate_seq();
            let entry = HookEntry {
                id: seq,
                order,
                created_at: now,
                event,
            };
            self.queue_hook(changes, (client, endpoint), seq, &entry)?;
        }
        Ok(())
    }

    fn queue_hook(
        &self,
        changes: &mut Changes,
        endpoint: Endpoint,
        seq: u64,
        entry: &HookEntry,
    ) -> Result<(), Error> {
        let key = layout::hook_key(&endpoint.0, &endpoint.1, seq)?;
        let value = layout::encode_hook(&key, entry)?;
        changes.hook_present.insert(key.clone(), true);
        changes.write_new(Tree::Webhooks, key, value);
        *changes.hook_delta.entry(endpoint).or_default() += 1;
        Ok(())
    }

    /// Whether a webhook entry is queued, as the batch leaves it.
    fn hook_queued(&self, batch: &Plan, changes: &Changes, key: &[u8]) -> Result<bool, Error> {
        match changes
            .hook_present
            .get(key)
            .or_else(|| batch.effects.hook_present.get(key))
        {
            Some(&present) => Ok(present),
            None => Ok(self.shared.engine.get(Tree::Webhooks, key)?.is_some()),
        }
    }

    /// Takes a webhook entry out of its queue, if it is there.
    fn unqueue_hook(
        &self,
        batch: &Plan,
        changes: &mut Changes,
        endpoint: &Endpoint,
        seq: u64,
    ) -> Result<bool, Error> {
        let key = layout::hook_key(&endpoint.0, &endpoint.1, seq)?;
        if !self.hook_queued(batch, changes, &key)? {
            return Ok(false);
        }
        changes.hook_present.insert(key.clone(), false);
        changes.write(Tree::Webhooks, key, None);
        *changes.hook_delta.entry(endpoint.clone()).or_default() -= 1;
        Ok(true)
    }

    pub(super) fn plan_hooks(
        &mut self,
        batch: &Plan,
        changes: &mut Changes,
        write: HookWrite,
    ) -> Result<Reply, Error> {
        match write {
            HookWrite::Ack { endpoint, seqs } => {
                for seq in seqs {
                    self.unqueue_hook(batch, changes, &endpoint, seq)?;
                }
                Ok(Reply::Done)
            }
            HookWrite::Bury { endpoint, dead } => {
                let mut moved = 0;
                for (seq, letter) in dead {
                    if !self.unqueue_hook(batch, changes, &endpoint, seq)? {
                        continue;
                    }
                    let key = layout::hook_key(&endpoint.0, &endpoint.1, seq)?;
                    let value = layout::encode_dead_hook(&key, &letter)?;
                    changes.write(Tree::WebhooksDead, key, Some(value));
                    moved += 1;
                }
                Ok(Reply::Count(moved))
            }
            HookWrite::Replay { endpoint, seqs } => {
                let mut moved = 0;
                for seq in seqs {
                    let key = layout::hook_key(&endpoint.0, &endpoint.1, seq)?;
                    if changes.dead_taken.contains(&key) || batch.effects.dead_taken.contains(&key)
                    {
                        continue;
                    }
                    // Buried in this very batch: not on the engine yet; replayed next time.
                    let Some(value) = self.shared.engine.get(Tree::WebhooksDead, &key)? else {
                        continue;
                    };
                    let mut entry = layout::decode_dead_hook(&key, &value)?.entry;
                    // Its give-up time starts again, or it would be buried at once.
                    entry.created_at = now_ms();
                    changes.dead_taken.insert(key.clone());
                    changes.write(Tree::WebhooksDead, key, None);
                    let new_seq = self.allocate_seq();
                    self.queue_hook(changes, endpoint.clone(), new_seq, &entry)?;
                    moved += 1;
                }
                Ok(Reply::Count(moved))
            }
        }
    }
}
