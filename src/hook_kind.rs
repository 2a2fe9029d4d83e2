//! The kinds of webhook event, as config names them (`[[clients.webhooks]] events`) and
//! payloads say them (`type`). Part of the stored events (`hook_event.rs`): variants may only
//! be appended.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of event an endpoint can ask for (`[[clients.webhooks]] events`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookKind {
    /// Every part of a message was delivered.
    MessageDelivered,
    /// A message ended, and some part of it was not delivered (expired, undeliverable,
    /// rejected, suppressed, cancelled, unknown).
    MessageFailed,
    /// A message is held for a sending window.
    MessageDeferred,
    /// A message ended at the carrier with no receipt to come (none asked for, or `ACCEPTD`).
    MessageSent,
    /// A reply or other MO came in for the client.
    MoReceived,
    /// A number opted out of (or back into) the client's messages.
    ConsentChanged,
}

impl HookKind {
    /// Every kind: what an endpoint gets when it names none.
    pub const ALL: [Self; 6] = [
        Self::MessageDelivered,
        Self::MessageFailed,
        Self::MessageDeferred,
        Self::MessageSent,
        Self::MoReceived,
        Self::ConsentChanged,
    ];

    /// As written in config and in the payload's `type`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::MessageDelivered => "message.delivered",
            Self::MessageFailed => "message.failed",
            Self::MessageDeferred => "message.deferred",
            Self::MessageSent => "message.sent",
            Self::MoReceived => "mo.received",
            Self::ConsentChanged => "consent.changed",
        }
    }
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HookKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!("`{s}` is not an event (one of {})", names.join(", "))
            })
    }
}
