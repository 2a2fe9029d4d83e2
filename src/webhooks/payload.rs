//! The JSON body of each event, made when it is sent. No text of the client's messages
//! (privacy): ids, labels, how the parts fared, the carrier's status, the cost. An MO's text is
//! the person's reply, which is what the client waits for.

use crate::config::Config;
use crate::consent;
use crate::hook_event::{HookEntry, HookEvent, MessageOutcome};
use crate::message::{rfc3339, Address, OutboxItem};
use crate::numbering;
use serde_json::{json, Value};
use smpp_proto::coding;

/// `webhook-id` of an event: the same on every attempt and after a replay.
pub fn event_id(entry: &HookEntry) -> String {
    format!("evt_{}", entry.id)
}

/// The body POSTed for `entry`, priced and numbered by `config`.
pub fn body(entry: &HookEntry, config: &Config) -> Vec<u8> {
    let mut value = match &entry.event {
        HookEvent::Message(outcome) => message(outcome, config),
        HookEvent::Mo(item) => mo(item, config),
        HookEvent::Consent(change) => json!({
            "number": change.number,
            "choice": change.choice.name(),
            "previous": change.previous.map(|c| c.name()),
            "scope": scope(&change.scope),
            "origin": change.origin.name(),
            "keyword": change.keyword,
            "at": rfc3339(change.at),
        }),
    };
    if let Value::Object(fields) = &mut value {
        fields.insert("type".into(), entry.event.kind().name().into());
        fields.insert("event_id".into(), event_id(entry).into());
    }
    // A `Value` always serialises.
    serde_json::to_vec(&value).unwrap_or_default()
}

fn message(m: &MessageOutcome, config: &Config) -> Value {
    let to = number(&m.to, config);
    let cost = config
        .prices
        .cost(&to, m.charged_segments)
        .and_then(|money| serde_json::to_value(money).ok());
    json!({
        "id": m.id.to_string(),
        "state": m.state.name(),
        "parts": {
            "total": m.parts.len(),
            "delivered": m.delivered,
            "failed": m.failed,
            "ids": m.parts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "client_ref": m.client_ref,
        "campaign": m.campaign,
        "tags": m.tags,
        "class": m.class.name(),
        "to": to,
        "from": m.from.addr,
        "segments": m.segments,
        "encoding": encoding(m.data_coding),
        "cost": cost,
        "carrier": m.link.as_ref().map(|link| json!({"link": link, "err": m.err})),
        "submitted_at": rfc3339(m.submitted_at),
        "done_at": rfc3339(m.done_at),
        "send_at": m.send_at.map(rfc3339),
    })
}

fn mo(item: &OutboxItem, config: &Config) -> Value {
    let text = coding::decode_text(item.data_coding, &item.short_message);
    let action = item
        .tlvs
        .iter()
        .find(|(tag, _)| *tag == consent::TLV_CONSENT_ACTION)
        .map(|(_, value)| {
            String::from_utf8_lossy(value.strip_suffix(&[0]).unwrap_or(value)).into_owned()
        });
    json!({
        "from": number(&item.source, config),
        "to": item.destination.addr,
        "text": text,
        "consent_action": action,
        "received_at": rfc3339(item.created_at),
    })
}

/// A number in E.164 when it reads as one, else as received.
fn number(address: &Address, config: &Config) -> String {
    numbering::e164(&config.numbering, address).unwrap_or_else(|| address.addr.clone())
}

fn encoding(data_coding: u8) -> &'static str {
    match data_coding {
        0x08 => "ucs2",
        0x03 => "latin1",
        0x04 | 0x02 => "binary",
        _ => "gsm7",
    }
}

fn scope(scope: &consent::Scope) -> Value {
    match scope {
        consent::Scope::Gateway => json!({"kind": "gateway"}),
        consent::Scope::Client(client) => json!({"kind": "client", "name": client}),
        consent::Scope::Sender(sender) => json!({"kind": "sender", "name": sender}),
    }
}
