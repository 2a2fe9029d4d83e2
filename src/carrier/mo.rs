//! Mobile-originated messages from a carrier: routed to their client's outbox (`[[mo_routes]]`)
//! and, with `[consent]` on, read by the keyword engine (`keywords.rs`): an opt-out or opt-in
//! is recorded with the MO in one commit, an opt-out confirmed to the person once per interval,
//! and HELP / CONTACT answered with the client's texts. With scope `client`, a reply to a
//! `[[consent.short_codes]]` code is attributed to its client, or on a shared code to the
//! client that last sent the number marketing from it, else to every client sharing it.
//!
//! Called by the intake (`intake.rs`) for every deliver_sm or data_sm that is no receipt.
//! Answers the carrier's deliver_sm_resp status: ESME_ROK once the MO is stored.

use super::intake::Intake;
use crate::config::{Config, ConsentScope};
use crate::consent::{self, Attribution, Choice, ConsentEvent, Origin, Scope};
use crate::live::Snapshot;
use crate::message::{
    now_ms, Address, Class, ClassFrom, Event, Labels, Message, OutboxItem, OutboxKind, State,
};
use crate::store::Confirmation;
use crate::sync::lock;
use crate::{keywords, numbering, telemetry};
use smpp_proto::concat::{parse_udh, ConcatInfo};
use smpp_proto::pdu::{esm_class, SubmitSm};
use smpp_proto::{coding, CommandStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

impl Intake {
    /// Routes an MO to its client's outbox.
    pub(super) async fn mo(&self, sm: &SubmitSm) -> CommandStatus {
        // A new message, like a submit: refused while the disk is nearly full, with a status
        // the carrier retries later. Receipts are not: they update messages already accepted.
        if self.carriers.store.refuses_new() {
            tracing::debug!(carrier = %self.link.name(), "MO refused: low disk space");
            return CommandStatus::ESME_RX_T_APPN;
        }
        let destination = sm.destination.addr.to_string_lossy();
        let live = self.carriers.snapshot();
        let Some(client) = live.routes.mo_client(&destination) else {
            tracing::warn!(carrier = %self.link.name(), %destination, "MO with no mo_route");
            return CommandStatus::ESME_RX_P_APPN;
        };
        let Some(receiver) = live.config.client(client) else {
            // Config validation names only known clients in mo_routes.
            tracing::warn!(carrier = %self.link.name(), %client, "MO for an unknown client");
            return CommandStatus::ESME_RX_P_APPN;
        };
        if self.carriers.outboxes.is_full(receiver) {
            // Transient: the carrier keeps it and resends once the client reads again.
            tracing::warn!(carrier = %self.link.name(), %client, "MO refused: client's outbox full");
            telemetry::refused_full(telemetry::Bound::ClientOutbox, client);
            return CommandStatus::ESME_RX_T_APPN;
        }
        let item = OutboxItem {
            kind: OutboxKind::Mo,
            source: Address::from(&sm.source),
            destination: Address::from(&sm.destination),
            esm_class: sm.esm_class,
            data_coding: sm.data_coding,
            short_message: sm.short_message.as_bytes().to_vec(),
            tlvs: sm
                .tlvs
                .iter()
                .map(|t| (t.tag().0, t.value_bytes().to_vec()))
                .collect(),
            created_at: now_ms(),
        };
        let text = reply_text(&live.config, sm, &self.carriers.mo_parts);
        let matched = text
            .as_deref()
            .and_then(|text| keywords::matched(&live.config.consent.keywords, text));
        if matched.is_none() && text.as_deref().is_some_and(keywords::suspect) {
            telemetry::mo_optout_suspect(client);
        }
        let action = matched.as_ref().map(|m| m.action);
        let consent = matched.and_then(|m| self.consent_change(&live.config, client, &item, m));
        let stored = match consent {
            Some(Change {
                events,
                action,
                confirming,
            }) => {
                let mut item = item;
                // The client sees what its customer's reply did.
                let mut value = action.name().as_bytes().to_vec();
                value.push(0);
                item.tlvs.push((consent::TLV_CONSENT_ACTION, value));
                let confirmation = match action {
                    keywords::Action::OptOut => self.confirmation(&live, &confirming, &item),
                    _ => None,
                };
                let pushed =
                    self.carriers
                        .outboxes
                        .push_with_consent(receiver, item, events, confirmation);
                pushed.await.map(|(events, confirmed)| {
                    for event in &events {
                        tracing::info!(
                            %client,
                            number = %event.number,
                            scope = %event.scope,
                            choice = event.choice.name(),
                            confirmation = ?confirmed,
                            "consent changed by a reply"
                        );
                    }
                    if confirmed.is_some() {
                        self.carriers.notify_queued();
                    }
                })
            }
            None => {
                let answer = match action {
                    Some(action @ (keywords::Action::Help | keywords::Action::Contact)) => {
                        self.answer(&live, client, &item, action)
                    }
                    _ => None,
                };
                let pushed = self
                    .carriers
                    .outboxes
                    .push(receiver, item)
                    .await
                    .map(|_| ());
                if let (Ok(()), Some(answer)) = (&pushed, answer) {
                    // After the MO is stored: a crash between the two loses the answer only,
                    // and the person can ask again.
                    let queued = match self.carriers.handoff() {
                        Some(handoff) => handoff
                            .accept(vec![answer])
                            .await
                            .map_err(|e| e.to_string()),
                        None => self
                            .carriers
                            .store
                            .accept(vec![answer])
                            .await
                            .map_err(|e| e.to_string()),
                    };
                    match queued {
                        Ok(()) => self.carriers.notify_queued(),
                        Err(e) => tracing::warn!(error = %e, "cannot queue a HELP/CONTACT answer"),
                    }
                }
                pushed
            }
        };
        match stored {
            Ok(()) => CommandStatus::ESME_ROK,
            Err(e) => {
                tracing::error!(error = %e, "cannot store an MO");
                CommandStatus::ESME_RX_T_APPN
            }
        }
    }

    /// The confirmation of an opt-out by reply: the client's `confirmation_text`. The store
    /// queues it only if the number got none within `confirmation_interval`.
    fn confirmation(&self, live: &Snapshot, client: &str, mo: &OutboxItem) -> Option<Confirmation> {
        let text = live.config.client(client)?.confirmation_text.as_ref()?;
        let message = self.reply(
            live,
            client,
            mo,
            text,
            "smppd:opt-out-confirmation",
            "confirmation of an opt-out by reply, sent by smppd",
        )?;
        Some(Confirmation {
            message,
            interval: millis(live.config.consent.confirmation_interval),
        })
    }

    /// The answer to HELP or CONTACT: the client's `help_text` or `contact_text`, at most once
    /// per number, client and keyword per `confirmation_interval` (kept in memory: after a
    /// restart one more may go).
    fn answer(
        &self,
        live: &Snapshot,
        client: &str,
        mo: &OutboxItem,
        action: keywords::Action,
    ) -> Option<Message> {
        let config = &live.config;
        let client_config = config.client(client)?;
        let (text, what) = match action {
            keywords::Action::Help => (client_config.help_text.as_ref()?, "help"),
            keywords::Action::Contact => (client_config.contact_text.as_ref()?, "contact"),
            _ => return None,
        };
        let number = numbering::e164(&config.numbering, &mo.source)?;
        let interval = millis(config.consent.confirmation_interval);
        if !self
            .carriers
            .answer_due(client, &number, what, mo.created_at, interval)
        {
            tracing::debug!(%client, %number, what, "answered within the interval; not again");
            return None;
        }
        self.reply(
            live,
            client,
            mo,
            text,
            &format!("smppd:{what}-answer"),
            &format!("answer to {} by reply, sent by smppd", what.to_uppercase()),
        )
    }

    /// smppd's own message answering an MO: `text` from the number the person wrote to, back
    /// to them, on the route such a message of `client` takes; transactional, no receipt for
    /// the client (it did not send it).
    fn reply(
        &self,
        live: &Snapshot,
        client: &str,
        mo: &OutboxItem,
        text: &str,
        tag: &str,
        detail: &str,
    ) -> Option<Message> {
        let (source, destination) = (mo.destination.clone(), mo.source.clone());
        let Some(route) = live.routes.route(client, &source.addr, &destination.addr) else {
            tracing::warn!(%client, to = %destination.addr, tag, "no route for smppd's reply");
            return None;
        };
        let encoding = coding::choose_encoding(text);
        // Config checked that the text fits one SMS in its encoding.
        let short_message = encoding.encode(text).ok()?;
        let now = now_ms();
        Some(Message {
            id: match self.carriers.handoff() {
                Some(handoff) => handoff.allocate_ids(1)?,
                None => self.carriers.store.allocate_id(),
            },
            client: client.to_owned(),
            route: route.name().to_owned(),
            service_type: String::new(),
            source,
            destination,
            esm_class: 0,
            protocol_id: 0,
            priority_flag: 0,
            registered_delivery: 0,
            data_coding: encoding.data_coding(),
            replace_if_present_flag: 0,
            sm_default_msg_id: 0,
            short_message,
            tlvs: Vec::new(),
            schedule_at: None,
            expire_at: None,
            received_at: now,
            state: State::Queued,
            attempts: 0,
            carrier: None,
            history: vec![Event {
                at: now,
                state: State::Queued,
                detail: detail.to_owned(),
            }],
            class: Class::Transactional,
            class_from: ClassFrom::Default,
            labels: Labels {
                tags: vec![tag.to_owned()],
                ..Labels::default()
            },
        })
    }

    /// The consent change an MO's keyword asks for (STOP, START): its sender's choice in the
    /// lists [`Intake::lists`] names.
    fn consent_change(
        &self,
        config: &Config,
        client: &str,
        item: &OutboxItem,
        matched: keywords::Matched,
    ) -> Option<Change> {
        let choice = match matched.action {
            keywords::Action::OptOut => Choice::OptedOut,
            keywords::Action::OptIn => Choice::OptedIn,
            keywords::Action::Help | keywords::Action::Contact => return None,
        };
        let Some(number) = numbering::e164(&config.numbering, &item.source) else {
            tracing::warn!(
                source = %item.source.addr,
                keyword = %matched.keyword,
                "a consent keyword from a sender that is no phone number; ignored"
            );
            return None;
        };
        let number = consent::stored_number(&config.consent, &number);
        let mut evidence = format!(
            "reply to {} through {}",
            item.destination.addr,
            self.link.name()
        );
        if !matched.rest.is_empty() {
            evidence.push_str(&format!(": {} {}", matched.keyword, matched.rest));
        }
        let (scopes, confirming) = self.lists(config, client, item, &number);
        let events = scopes
            .into_iter()
            .map(|scope| ConsentEvent {
                at: item.created_at,
                scope,
                number: number.clone(),
                choice,
                origin: Origin::Mo,
                evidence: evidence.clone(),
                keyword: Some(matched.keyword.clone()),
                previous: None,
                confirmed_at: None,
            })
            .collect();
        Some(Change {
            events,
            action: matched.action,
            confirming: confirming.to_owned(),
        })
    }

    /// The lists a reply from `number` (as the lists keep it) changes, and the client whose
    /// `confirmation_text` confirms it: the scope of the client the MO is routed to, or of the
    /// short code it was sent to; with scope `client` and a `[[consent.short_codes]]` code, the
    /// attributed client's list, or every sharing client's when nobody is found.
    fn lists<'c>(
        &self,
        config: &'c Config,
        client: &'c str,
        item: &OutboxItem,
        number: &str,
    ) -> (Vec<Scope>, &'c str) {
        let sent_to = &item.destination.addr;
        let code = match config.consent.scope {
            ConsentScope::Client => config.consent.short_code(sent_to),
            // The list is the sender's or the gateway's whoever sent the marketing.
            ConsentScope::Sender | ConsentScope::Gateway => None,
        };
        let Some(code) = code else {
            return (vec![Scope::of(&config.consent, client, sent_to)], client);
        };
        let last = if code.is_shared() {
            // Not knowing who sent it is no reason to lose the opt-out: every sharer then.
            self.carriers
                .store
                .last_marketing(&code.number, number)
                .unwrap_or_else(|e| {
                    tracing::warn!(code = %code.number, error = %e, "cannot read who last sent marketing");
                    None
                })
        } else {
            None
        };
        let window = config.consent.attribution_window;
        match consent::attribute(code, last.as_ref(), item.created_at, window) {
            Attribution::Client(attributed) => {
                (vec![Scope::Client(attributed.clone())], attributed)
            }
            Attribution::Unattributed(clients) => {
                tracing::info!(
                    code = %code.number,
                    %number,
                    clients = %clients.join(","),
                    "consent.unattributed: nobody sent the number marketing from this shared \
                     code within attribution_window; every client sharing it"
                );
                telemetry::consent_unattributed(&code.number);
                let scopes = clients.iter().cloned().map(Scope::Client).collect();
                (scopes, client)
            }
        }
    }
}

/// What an MO's keyword changes.
struct Change {
    /// One per list.
    events: Vec<ConsentEvent>,
    /// What it asked for.
    action: keywords::Action,
    /// The client whose `confirmation_text` confirms an opt-out: the attributed one, else the
    /// one the MO is routed to.
    confirming: String,
}

/// The text of a reply for the keyword engine, with `[consent]` on: a whole message, or a
/// long one once its last part is in.
fn reply_text(config: &Config, sm: &SubmitSm, parts: &Mutex<Reassembly>) -> Option<String> {
    if !config.consent.enabled {
        return None;
    }
    let text = match sm.part() {
        // A keyword split over the parts of a long reply is read once the last one is in.
        Ok(Some((info, payload))) => {
            let text = coding::decode_text(sm.data_coding, &payload);
            let source = sm.source.addr.to_string_lossy();
            let destination = sm.destination.addr.to_string_lossy();
            lock(parts).add(&source, &destination, info, text, Instant::now())?
        }
        // Per 3GPP 23.040 a bad concatenation IE is ignored: the text as it is.
        Ok(None) | Err(_) => mo_text(sm)?,
    };
    Some(text)
}

/// How long the parts of a long reply wait for the rest.
const PARTS_WAIT: Duration = Duration::from_secs(600);
/// Most long replies waiting for parts; beyond it the oldest are forgotten.
const PARTS_GROUPS_MAX: usize = 10_000;

/// Parts of long replies waiting for the rest, by sender, recipient, reference and count.
#[derive(Default)]
pub(crate) struct Reassembly {
    groups: HashMap<(String, String, u16, u8), Parts>,
}

struct Parts {
    first_at: Instant,
    texts: BTreeMap<u8, String>,
}

impl Reassembly {
    /// Adds one part's text; the whole text once every part is in.
    fn add(
        &mut self,
        source: &str,
        destination: &str,
        info: ConcatInfo,
        text: String,
        now: Instant,
    ) -> Option<String> {
        self.groups
            .retain(|_, parts| now.duration_since(parts.first_at) < PARTS_WAIT);
        if self.groups.len() >= PARTS_GROUPS_MAX {
            let oldest = self
                .groups
                .iter()
                .min_by_key(|(_, parts)| parts.first_at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.groups.remove(&oldest);
            }
        }
        let key = (
            source.to_owned(),
            destination.to_owned(),
            info.reference(),
            info.total(),
        );
        let parts = self.groups.entry(key.clone()).or_insert_with(|| Parts {
            first_at: now,
            texts: BTreeMap::new(),
        });
        parts.texts.insert(info.seqnum(), text);
        if parts.texts.len() < usize::from(info.total()) {
            return None;
        }
        let whole = self.groups.remove(&key)?.texts.into_values().collect();
        Some(whole)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// An MO's text for the keyword engine: a whole message only (a part of a long one is
/// not a reply keyword), decoded by its data_coding, without a user data header.
fn mo_text(sm: &SubmitSm) -> Option<String> {
    if !matches!(sm.part(), Ok(None)) {
        return None;
    }
    let data = sm.user_data();
    let text = if sm.esm_class & esm_class::UDHI != 0 {
        parse_udh(&data).ok()?.1
    } else {
        &data[..]
    };
    Some(coding::decode_text(sm.data_coding, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(reference: u16, total: u8, seqnum: u8) -> ConcatInfo {
        ConcatInfo::try_new(reference, total, seqnum).unwrap()
    }

    #[test]
    fn parts_join_in_order_once_all_are_in() {
        let mut parts = Reassembly::default();
        let now = Instant::now();
        let add = |r: &mut Reassembly, from: &str, info, text: &str| {
            r.add(from, "36123", info, text.to_owned(), now)
        };
        assert_eq!(add(&mut parts, "336", part(7, 3, 3), " merci"), None);
        // Another sender's part with the same reference is another message.
        assert_eq!(add(&mut parts, "337", part(7, 2, 1), "x"), None);
        assert_eq!(add(&mut parts, "336", part(7, 3, 1), "ST"), None);
        assert_eq!(
            add(&mut parts, "336", part(7, 3, 2), "OP"),
            Some("STOP merci".to_owned())
        );
        // Done with: the same reference starts afresh.
        assert_eq!(add(&mut parts, "336", part(7, 3, 2), "OP"), None);
    }

    #[test]
    fn parts_that_never_complete_are_forgotten() {
        let mut parts = Reassembly::default();
        let start = Instant::now();
        assert_eq!(
            parts.add("336", "36123", part(1, 2, 1), "ST".into(), start),
            None
        );
        let later = start + PARTS_WAIT + Duration::from_secs(1);
        // The first part expired: the second alone completes nothing.
        assert_eq!(
            parts.add("336", "36123", part(1, 2, 2), "OP".into(), later),
            None
        );
        assert_eq!(parts.groups.len(), 1);
    }
}
