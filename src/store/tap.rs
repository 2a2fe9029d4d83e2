//! What the commit thread shows the webhooks of each change: the [`Tap`] it calls, and the
//! events a tap names. The queues themselves are `hooks.rs`'s; the writes `commit/taps.rs`'s.

use crate::consent::ConsentEvent;
use crate::hook_event::HookEvent;
use crate::message::{Message, MessageId, OutboxItem, State};

/// Shown every change the commit thread writes; names the webhook events each calls for. Runs
/// on the commit thread, which every writer waits for: it must be quick, and return nothing
/// for clients without webhooks.
pub trait Tap: Send + Sync {
    /// A new message (`before` is `None`) or a change of its state. `stored` reads another
    /// message as this commit leaves it (the other parts of a long message).
    fn message(
        &self,
        before: Option<State>,
        after: &Message,
        stored: &dyn Fn(MessageId) -> Option<Message>,
        out: &mut Vec<Tapped>,
    );

    /// An entry added to `client`'s outbox (an MO, a receipt).
    fn pushed(&self, client: &str, item: &OutboxItem, out: &mut Vec<Tapped>);

    /// Consent changes, as written.
    fn consent(&self, events: &[ConsentEvent], out: &mut Vec<Tapped>);
}

/// An event for one endpoint, as a [`Tap`] names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tapped {
    /// The endpoint's client.
    pub client: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// See [`HookEntry::order`].
    pub order: Option<u64>,
    /// What happened.
    pub event: HookEvent,
}

/// An endpoint: its client and name.
pub type Endpoint = (String, String);
