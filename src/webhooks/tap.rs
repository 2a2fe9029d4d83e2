//! Which changes make which events, for which endpoints: the store's [`Tap`], run on its commit
//! thread so that each event is written in the commit of the change it tells about.
//!
//! A message's event waits for all its parts: a long message sent over HTTP (parts with
//! consecutive ids and one concatenation reference) gets one `message.delivered` when its
//! last part is delivered, or one `message.failed` when its last part ends and some part was
//! not delivered. A part whose siblings cannot be found that way (a client that split the
//! message itself and submitted the parts one by one) is told about alone.

use crate::config::Config;
use crate::consent::{ConsentEvent, Scope};
use crate::hook_event::{HookEvent, HookKind, MessageOutcome};
use crate::live::Live;
use crate::message::{Message, MessageId, OutboxItem, OutboxKind, State};
use crate::sending_hours;
use crate::store::{Tap, Tapped};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The webhooks' [`Tap`]: follows config reloads.
pub struct HookTap {
    live: Live,
    /// The endpoints by client, for the config they were built from (only the commit thread
    /// locks it).
    table: Mutex<(Option<Arc<Config>>, Arc<Table>)>,
}

/// Each client's endpoints: (name, kinds taken).
#[derive(Default)]
struct Table(HashMap<String, Vec<(String, Vec<HookKind>)>>);

impl Table {
    fn new(config: &Config) -> Self {
        let endpoints = config
            .clients
            .iter()
            .filter(|client| !client.webhooks.is_empty())
            .map(|client| {
                let hooks = client
                    .webhooks
                    .iter()
                    .map(|hook| (hook.name.clone(), hook.events.clone()))
                    .collect();
                (client.system_id.clone(), hooks)
            })
            .collect();
        Self(endpoints)
    }

    /// An event for each of `client`'s endpoints that takes `kind`.
    fn route(&self, client: &str, order: Option<u64>, event: &HookEvent, out: &mut Vec<Tapped>) {
        let kind = event.kind();
        for (name, kinds) in self.0.get(client).into_iter().flatten() {
            if kinds.contains(&kind) {
                out.push(Tapped {
                    client: client.to_owned(),
                    endpoint: name.clone(),
                    order,
                    event: event.clone(),
                });
            }
        }
    }

    fn wants(&self, client: &str) -> bool {
        self.0.contains_key(client)
    }
}

impl HookTap {
    /// A tap reading its endpoints from `live`.
    pub fn new(live: Live) -> Self {
        Self {
            live,
            table: Mutex::new((None, Arc::default())),
        }
    }

    fn table(&self) -> Arc<Table> {
        let config = self.live.config();
        let mut cached = crate::sync::lock(&self.table);
        if !cached.0.as_ref().is_some_and(|c| Arc::ptr_eq(c, &config)) {
            *cached = (Some(Arc::clone(&config)), Arc::new(Table::new(&config)));
        }
        Arc::clone(&cached.1)
    }
}

impl Tap for HookTap {
    fn message(
        &self,
        before: Option<State>,
        after: &Message,
        stored: &dyn Fn(MessageId) -> Option<Message>,
        out: &mut Vec<Tapped>,
    ) {
        let table = self.table();
        if !table.wants(&after.client) {
            return;
        }
        if let Some(outcome) = outcome(before, after, stored) {
            let order = Some(outcome.id.as_u64());
            let event = HookEvent::Message(Box::new(outcome));
            table.route(&after.client, order, &event, out);
        }
    }

    fn pushed(&self, client: &str, item: &OutboxItem, out: &mut Vec<Tapped>) {
        if item.kind != OutboxKind::Mo {
            return;
        }
        let table = self.table();
        if table.wants(client) {
            table.route(client, None, &HookEvent::Mo(Box::new(item.clone())), out);
        }
    }

    fn consent(&self, events: &[ConsentEvent], out: &mut Vec<Tapped>) {
        let table = self.table();
        if table.0.is_empty() {
            return;
        }
        for change in events {
            let event = HookEvent::Consent(Box::new(change.clone()));
            match &change.scope {
                Scope::Client(client) => table.route(client, None, &event, out),
                // A shared list: every client it holds back hears of it.
                Scope::Gateway | Scope::Sender(_) => {
                    for client in table.0.keys() {
                        table.route(client, None, &event, out);
                    }
                }
            }
        }
    }
}

/// The event a change of `after` (from `before`; `None` for a new message) calls for, if any.
fn outcome(
    before: Option<State>,
    after: &Message,
    stored: &dyn Fn(MessageId) -> Option<Message>,
) -> Option<MessageOutcome> {
    // The parts of a new message are accepted in order, in one commit: it is told about with
    // its last part, when the others can be read.
    if before.is_none() && after.part().is_some_and(|p| p.seqnum() != p.total()) {
        return None;
    }
    if after.state.is_final() {
        if before.is_some_and(State::is_final) {
            return None;
        }
        let parts = siblings(after, stored);
        if parts.iter().any(|part| !part.state.is_final()) {
            return None;
        }
        return Some(describe(after, &parts, ended_kind(&parts)));
    }
    // A new message held for a sending window.
    if before.is_none() && sending_hours::held_until(after).is_some() {
        let parts = siblings(after, stored);
        return Some(describe(after, &parts, HookKind::MessageDeferred));
    }
    None
}

/// Every part of the message `message` is a part of, in order (itself alone if it is whole,
/// or if its siblings are not where an HTTP-split message has them).
fn siblings(message: &Message, stored: &dyn Fn(MessageId) -> Option<Message>) -> Vec<Message> {
    let Some(part) = message.part() else {
        return vec![message.clone()];
    };
    let own = message.id.as_u64();
    let Some(first) = own.checked_sub(u64::from(part.seqnum()).saturating_sub(1)) else {
        return vec![message.clone()];
    };
    let mut parts = Vec::with_capacity(usize::from(part.total()));
    for n in 0..u64::from(part.total()) {
        let id = first + n;
        let sibling = if id == own {
            Some(message.clone())
        } else {
            stored(MessageId::new(id))
        };
        let same = sibling.filter(|s| {
            s.client == message.client
                && s.part().is_some_and(|p| {
                    p.reference() == part.reference()
                        && p.total() == part.total()
                        && u64::from(p.seqnum()) == n + 1
                })
        });
        match same {
            Some(sibling) => parts.push(sibling),
            None => return vec![message.clone()],
        }
    }
    parts
}

/// Delivered if every part was; failed if any part failed; sent otherwise.
fn ended_kind(parts: &[Message]) -> HookKind {
    if parts.iter().all(|p| p.state == State::Delivered) {
        HookKind::MessageDelivered
    } else if parts.iter().any(|p| failed(p.state)) {
        HookKind::MessageFailed
    } else {
        HookKind::MessageSent
    }
}

fn failed(state: State) -> bool {
    matches!(
        state,
        State::Expired | State::Deleted | State::Undeliverable | State::Unknown | State::Rejected
    )
}

fn describe(ended: &Message, parts: &[Message], kind: HookKind) -> MessageOutcome {
    let first = parts.first().unwrap_or(ended);
    let count = |f: &dyn Fn(State) -> bool| {
        u32::try_from(parts.iter().filter(|p| f(p.state)).count()).unwrap_or(u32::MAX)
    };
    let charged = |p: &&Message| kind == HookKind::MessageDeferred || p.carrier.is_some();
    // What the message's state, link and err say: a failed part's, for a failed message.
    let decider = match kind {
        HookKind::MessageFailed => parts.iter().find(|p| failed(p.state)).unwrap_or(ended),
        _ => ended,
    };
    let done = ended.history.last();
    let decided = decider.history.last();
    MessageOutcome {
        kind,
        id: first.id,
        parts: parts.iter().map(|p| p.id).collect(),
        delivered: count(&|s| s == State::Delivered),
        failed: count(&failed),
        state: decider.state,
        client_ref: first.labels.client_ref.clone(),
        campaign: first.labels.campaign.clone(),
        tags: first.labels.tags.clone(),
        class: first.class,
        to: first.destination.clone(),
        from: first.source.clone(),
        segments: parts.iter().map(Message::segments).sum(),
        data_coding: first.data_coding,
        link: decider.carrier.as_ref().map(|c| c.link.clone()),
        err: decided.and_then(|event| carrier_err(&event.detail)),
        submitted_at: first.received_at,
        done_at: done.map_or(first.received_at, |event| event.at),
        send_at: (kind == HookKind::MessageDeferred)
            .then_some(first.schedule_at)
            .flatten(),
        charged_segments: parts.iter().filter(charged).map(Message::segments).sum(),
    }
}

/// The carrier's `err` from a receipt's history detail (`carrier/intake.rs` writes
/// "receipt from LINK: STATE err:ERR", ERR a number), three digits as receipts show it.
fn carrier_err(detail: &str) -> Option<String> {
    let (_, err) = detail.rsplit_once(" err:")?;
    let err: u32 = err.trim().parse().ok()?;
    Some(format!("{err:03}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{CarrierRef, Event};

    fn part(id: u64, seqnum: u8, total: u8, state: State) -> Message {
        let mut short_message = vec![5, 0, 3, 42, total, seqnum];
        short_message.extend_from_slice(b"part");
        Message {
            esm_class: smpp_proto::pdu::esm_class::UDHI,
            short_message,
            state,
            carrier: Some(CarrierRef {
                link: "orange".into(),
                carrier_id: format!("c{id}"),
            }),
            history: vec![Event {
                at: 1_700_000_001_000,
                state,
                detail: "receipt from orange: DELIVRD err:0".into(),
            }],
            ..Message::example(MessageId::new(id))
        }
    }

    fn store(parts: &[Message]) -> impl Fn(MessageId) -> Option<Message> + '_ {
        move |id| parts.iter().find(|p| p.id == id).cloned()
    }

    #[test]
    fn a_long_message_is_told_about_once_its_last_part_ends() {
        let stored = [
            part(10, 1, 2, State::Delivered),
            part(11, 2, 2, State::Enroute),
        ];
        let first_done = outcome(Some(State::Enroute), &stored[0], &store(&stored));
        assert_eq!(first_done, None, "part 2 still travels");

        let both = [stored[0].clone(), part(11, 2, 2, State::Delivered)];
        let done = outcome(Some(State::Enroute), &both[1], &store(&both)).unwrap();
        assert_eq!(done.kind, HookKind::MessageDelivered);
        assert_eq!(done.id, MessageId::new(10));
        assert_eq!(done.parts, [MessageId::new(10), MessageId::new(11)]);
        assert_eq!((done.delivered, done.failed), (2, 0));
        assert_eq!(done.err.as_deref(), Some("000"));
        assert_eq!(done.charged_segments, 2);
    }

    #[test]
    fn one_failed_part_fails_the_message() {
        let parts = [
            part(20, 1, 2, State::Undeliverable),
            part(21, 2, 2, State::Delivered),
        ];
        let done = outcome(Some(State::Enroute), &parts[1], &store(&parts)).unwrap();
        assert_eq!(done.kind, HookKind::MessageFailed);
        assert_eq!((done.delivered, done.failed), (1, 1));
    }

    #[test]
    fn parts_that_are_not_siblings_are_told_about_alone() {
        // Id 30 is another message (another reference): part 31 stands alone.
        let mut other = part(30, 1, 2, State::Queued);
        other.short_message[3] = 7;
        let parts = [other, part(31, 2, 2, State::Delivered)];
        let done = outcome(Some(State::Enroute), &parts[1], &store(&parts)).unwrap();
        assert_eq!(done.parts, [MessageId::new(31)]);
    }

    #[test]
    fn changes_that_end_nothing_make_no_event() {
        let m = part(40, 1, 1, State::Enroute);
        assert_eq!(outcome(Some(State::Queued), &m, &store(&[])), None);
        let accepted = Message::example(MessageId::new(41));
        assert_eq!(outcome(None, &accepted, &store(&[])), None);
    }

    #[test]
    fn a_message_held_for_a_window_is_deferred() {
        let held = Message {
            schedule_at: Some(1_700_000_100_000),
            history: vec![Event {
                at: 1_700_000_000_000,
                state: State::Queued,
                detail: "held by sending window evenings until 2023-11-14T22:15:00Z".into(),
            }],
            ..Message::example(MessageId::new(50))
        };
        let deferred = outcome(None, &held, &store(&[])).unwrap();
        assert_eq!(deferred.kind, HookKind::MessageDeferred);
        assert_eq!(deferred.send_at, Some(1_700_000_100_000));
    }

    #[test]
    fn err_is_read_from_the_receipt_detail() {
        assert_eq!(
            carrier_err("receipt from orange: UNDELIV err:34").as_deref(),
            Some("034")
        );
        assert_eq!(carrier_err("cancelled by client"), None);
    }
}
