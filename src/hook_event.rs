//! What a webhook tells a shop: the events waiting in an endpoint's queue until the endpoint
//! takes them. The model only: the store keeps them (`store/layout.rs`), `webhooks/` decides
//! which changes make which events and sends them.
//!
//! The serde derives are the on-disk format (postcard, behind the store's version byte): fields
//! and variants may only be appended.

use crate::consent::ConsentEvent;
use crate::message::{Address, Class, MessageId, OutboxItem, State};
use serde::{Deserialize, Serialize};

pub use crate::hook_kind::HookKind;

/// One event in an endpoint's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEntry {
    /// The event's number: `webhook-id` is `evt_` and this, the same on every attempt and
    /// after a replay, so receivers can drop duplicates.
    pub id: u64,
    /// Events with the same key go out in queue order, one at a time (a message's events);
    /// `None` = no order to keep.
    pub order: Option<u64>,
    /// When it was queued (or replayed), unix ms: the give-up time counts from it.
    pub created_at: i64,
    /// What happened.
    pub event: HookEvent,
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookEvent {
    /// A message's outcome (all its parts together), or its deferral.
    Message(Box<MessageOutcome>),
    /// An MO for the client, as its outbox got it.
    Mo(Box<OutboxItem>),
    /// A change of a number's consent.
    Consent(Box<ConsentEvent>),
}

impl HookEvent {
    /// Its kind, for endpoint filters.
    pub fn kind(&self) -> HookKind {
        match self {
            Self::Message(outcome) => outcome.kind,
            Self::Mo(_) => HookKind::MoReceived,
            Self::Consent(_) => HookKind::ConsentChanged,
        }
    }
}

/// A message as an event tells it: no text (privacy), its ids and labels, and how its parts
/// fared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOutcome {
    /// Delivered, failed, sent or deferred.
    pub kind: HookKind,
    /// The id the client knows it by (its first part's).
    pub id: MessageId,
    /// Its parts' ids, in order.
    pub parts: Vec<MessageId>,
    /// Parts delivered and parts that failed, so far.
    pub delivered: u32,
    pub failed: u32,
    /// The state of the part that decided it: a failed part's for a failed message, else the
    /// last part's to end (`Queued` for a deferral). Its link and err likewise.
    pub state: State,
    /// The client's labels.
    pub client_ref: Option<String>,
    pub campaign: Option<String>,
    pub tags: Vec<String>,
    pub class: Class,
    /// Destination and source addresses, as stored.
    pub to: Address,
    pub from: Address,
    /// SMS on the air, all parts.
    pub segments: u32,
    /// `data_coding` of the first part.
    pub data_coding: u8,
    /// The carrier link, and its receipt's `err` as it wrote it, if it sent one.
    pub link: Option<String>,
    pub err: Option<String>,
    /// Accepted, and ended (or deferred), unix ms.
    pub submitted_at: i64,
    pub done_at: i64,
    /// When it will leave, for a deferral, unix ms.
    pub send_at: Option<i64>,
    /// The segments of the parts a carrier took (all of them, for a deferral): what the cost
    /// is reckoned on when the event is sent, by the price table then in force.
    pub charged_segments: u32,
}

/// An event its endpoint never took before its give-up time, kept until an operator replays
/// it (`smppctl hooks replay`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadHook {
    /// The event as it was queued.
    pub entry: HookEntry,
    /// When it was given up, unix ms.
    pub died_at: i64,
    /// Attempts made since the gateway last started.
    pub attempts: u32,
    /// What the last attempt got.
    pub last_error: String,
}
