//! What a node hands to the shared engine in cluster mode (docs/cluster.md): the seam between
//! the single-node parts (client side, carrier side, outboxes) and `cluster/`, which
//! implements it. A single node has no handoff and none of this runs.
//!
//! In cluster mode the engine holds the truth: accepted messages wait in its queue until the
//! owner of their dispatch group has them accepted by a carrier; each node's local store is
//! the working copy of what that node is doing now.

use crate::message::{Message, MessageId};
use std::future::Future;
use std::pin::Pin;

/// A future that a trait object can return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the engine did not take something.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Its queue is full (the route's `max_queue`, or the stream's limit): refuse, retry later.
    #[error("the engine's queue is full")]
    Full,
    /// No acknowledgement (the engine is unreachable, or timed out).
    #[error("the engine did not acknowledge: {0}")]
    Failed(String),
}

/// The calls the gateway makes toward the engine in cluster mode.
pub trait Handoff: Send + Sync {
    /// The first of `n` consecutive new message ids (the parts of one message), from this
    /// node's id slot; `None` when none are reserved (the engine was unreachable too long).
    fn allocate_ids(&self, n: usize) -> Option<MessageId>;

    /// Puts new messages in their dispatch group's queue; returns once the engine acknowledged
    /// every one (durable per `[cluster] durability`): only then may their ids be answered.
    fn accept(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<(), HandoffError>>;

    /// Whether this node may submit to `link` now: it owns the link's group and its fence
    /// holds. Asked before every submit, and by the link's sessions before every write.
    fn may_submit(&self, link: &str) -> bool;

    /// The carrier took `message` (its carrier id is recorded in it): index the carrier id for
    /// receipts on any node, then take the message out of the engine's queue.
    fn dispatched(&self, message: &Message) -> BoxFuture<'_, ()>;

    /// `message` reached a final state here: by its receipt, or without a carrier taking it
    /// (refused, expired, cancelled). It is out of the engine's queue.
    fn ended(&self, message: &Message) -> BoxFuture<'_, ()>;

    /// Entry `seq` was just added to `client`'s outbox in this node's store: unless the
    /// client has a receiving bind here, it is moved to the client's outbox in the engine
    /// before this returns, so that a bind on any node gets it even if this node dies next.
    /// Should that fail, the relay's own pass moves it later.
    fn relay(&self, client: &str, seq: u64) -> BoxFuture<'_, ()>;

    /// Consent changes this node recorded (an opt-out by reply, an operator's change): told
    /// to every other node, which records them too, so that any owner holds the same
    /// messages back. Should that fail, the change is kept here and logged.
    fn consent_changed(&self, events: &[crate::consent::ConsentEvent]) -> BoxFuture<'_, ()>;

    /// A message this node's store does not hold, as the live node whose store holds it (the
    /// owner that sent or ended it) answers; `None` when no live node does.
    fn message(&self, id: MessageId) -> BoxFuture<'_, Result<Option<Message>, HandoffError>>;

    /// The message a carrier id of `link` names, when this node's store does not know it (it
    /// was sent by an earlier owner of the group).
    fn carrier_id(
        &self,
        link: &str,
        carrier_id: &str,
    ) -> BoxFuture<'_, Result<Option<Message>, HandoffError>>;
}
