//! Consent: who opted out of (or back into) which messages. A suppression is kept per scope
//! and number (E.164): by default a client's own list, so a customer who texts STOP to one shop
//! still hears from another; or per sender, or one list for the whole gateway (`[consent]
//! scope`). Every change is also appended to the consent log, the proof of when and how a
//! person opted out or in (GDPR art. 7(1)).
//!
//! The store keeps both (`store/consent.rs`), written in one group commit with the event that
//! caused them. Submits are checked at accept and again at dispatch (`esme/`, `carrier/`).
//!
//! A reply to a short code several clients share (`[[consent.short_codes]]`) is attributed to
//! the client that last sent the number marketing from it within `attribution_window`: the
//! store keeps that in its `last_marketing` index, written when a carrier accepts such a
//! message ([`marketed`]). With no such client, every client sharing the code
//! ([`attribute`]).
//!
//! The serde derives are the on-disk format (postcard): fields and variants may only be
//! appended.

use crate::config::{
    Config, ConsentConfig, ConsentScope, RequireMention, ShortCode, StoredNumbers,
};
use crate::message::{Class, Message};
use crate::{class, numbering, telemetry};
use serde::{Deserialize, Serialize};
use smpp_proto::{coding, CommandStatus};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What a suppression list is for: one client, one sender address, or every message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// The gateway's one list.
    Gateway,
    /// A client's list (its `system_id`).
    Client(String),
    /// A sender's list (the source address, a short code or a name).
    Sender(String),
}

impl Scope {
    /// The scope `config` gives a message from `client` sent from `sender`.
    pub fn of(config: &ConsentConfig, client: &str, sender: &str) -> Self {
        match config.scope {
            ConsentScope::Gateway => Self::Gateway,
            ConsentScope::Client => Self::Client(client.to_owned()),
            ConsentScope::Sender => Self::Sender(sender.to_owned()),
        }
    }
}

/// `gateway`, `client:NAME`, `sender:ADDRESS`: as the admin API and smppctl write a scope.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gateway => f.write_str("gateway"),
            Self::Client(client) => write!(f, "client:{client}"),
            Self::Sender(sender) => write!(f, "sender:{sender}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = |name: &str| (!name.is_empty()).then(|| name.to_owned());
        let scope = match s.split_once(':') {
            None if s == "gateway" => Some(Self::Gateway),
            Some(("client", name)) => named(name).map(Self::Client),
            Some(("sender", name)) => named(name).map(Self::Sender),
            _ => None,
        };
        scope.ok_or_else(|| {
            format!("`{s}` is not a scope: gateway, client:SYSTEM_ID or sender:ADDRESS")
        })
    }
}

/// A person's choice about a scope's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Choice {
    /// Wants none (STOP): suppressed.
    OptedOut,
    /// Wants them again (START), after an opt-out.
    OptedIn,
}

impl Choice {
    /// As the admin API writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OptedOut => "opted_out",
            Self::OptedIn => "opted_in",
        }
    }
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::OptedOut, Self::OptedIn]
            .into_iter()
            .find(|choice| choice.name() == s)
            .ok_or_else(|| format!("`{s}` is not a choice: opted_out or opted_in"))
    }
}

/// How a change came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Origin {
    /// A reply from the person's phone (an MO keyword).
    Mo,
    /// A client's call to the API (an unsubscribe form, a preference centre).
    Api,
    /// A list imported in bulk.
    Import,
    /// An operator, with `smppctl suppress`.
    Operator,
}

impl Origin {
    /// As the admin API writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Mo => "mo",
            Self::Api => "api",
            Self::Import => "import",
            Self::Operator => "operator",
        }
    }
}

/// One consent change: the value of its suppression entry and of its consent log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    /// When, unix ms.
    pub at: i64,
    /// Whose list.
    pub scope: Scope,
    /// The person's number, E.164 (`+33612345678`).
    pub number: String,
    /// The choice made.
    pub choice: Choice,
    /// How it came in.
    pub origin: Origin,
    /// What proves it: the MO's gateway id, the form, the operator's note.
    pub evidence: String,
    /// The keyword of an MO (`STOP`), as normalised.
    pub keyword: Option<String>,
    /// The choice before this one, if there was one; set by the store.
    pub previous: Option<Choice>,
    /// When the number was last sent a confirmation of an opt-out in this scope, unix ms;
    /// set by the store, which sends at most one per `confirmation_interval`.
    pub confirmed_at: Option<i64>,
}

/// `smppd_consent_action`: on an MO relayed to its client, what the reply did to consent
/// (`opted_out`, `opted_in`; a C-Octet String).
pub const TLV_CONSENT_ACTION: u16 = 0x1504;

/// The receipt `err` of a message ended because its number opted out (`stat:REJECTD`).
pub const ERR_OPTED_OUT: u32 = 901;

/// An E.164 number as suppression lists and the consent log keep it: as it is, or its
/// HMAC-SHA256 under the configured key (`store_numbers = "hmac"`), `hmac:` and 64 hex digits.
pub fn stored_number(config: &ConsentConfig, e164: &str) -> String {
    match &config.store_numbers {
        StoredNumbers::Plain => e164.to_owned(),
        StoredNumbers::Hmac(key) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose().as_bytes());
            let tag = ring::hmac::sign(&key, e164.as_bytes());
            format!("hmac:{}", smpp_proto::types::hex(tag.as_ref()))
        }
    }
}

/// Whether consent rules `config` apply to messages of `class`.
pub fn applies(config: &ConsentConfig, class: Class) -> bool {
    config.enabled && config.applies_to.contains(&class)
}

/// What every [`refusal_detail`] has between the number and the class.
const REFUSAL_DETAIL: &str = " opted out of ";

/// The reason a message to a suppressed number ends, for its history and receipt.
pub fn refusal_detail(message: &Message, event: &ConsentEvent) -> String {
    format!(
        "{}{REFUSAL_DETAIL}{} messages ({}, {})",
        event.number,
        message.class,
        event.scope,
        event.origin.name()
    )
}

/// Whether a history line is a [`refusal_detail`]: the campaign counters count the message
/// suppressed rather than rejected.
pub fn is_refusal(detail: &str) -> bool {
    detail.contains(REFUSAL_DETAIL)
}

/// Whether `message` is marketing without the opt-out mention French rules want in every
/// marketing SMS ("STOP au 36123", "STOP SMS"; `class::mentions_opt_out`). Of a long message
/// only the last part is read, where the mention goes; binary messages are not read.
pub fn lacks_mention(message: &Message) -> bool {
    if message.class != Class::Marketing || !readable(message) {
        return false;
    }
    if message
        .part()
        .is_some_and(|part| part.seqnum() != part.total())
    {
        return false;
    }
    !mentions(message)
}

/// Whether `message`'s text carries an opt-out mention, whatever its class (the HTTP API's
/// preview says so). Binary messages are not read.
pub fn has_mention(message: &Message) -> bool {
    readable(message) && mentions(message)
}

/// Text codings whose text is read for a mention.
fn readable(message: &Message) -> bool {
    matches!(message.data_coding, 0 | 1 | 3 | 8)
}

fn mentions(message: &Message) -> bool {
    let text = message.user_data();
    class::may_mention_opt_out(message.data_coding, text)
        && class::mentions_opt_out(&coding::decode_text(message.data_coding, text))
}

/// Whether `require_mention`, with consent on, has a word to say about `message`: marketing
/// without an opt-out mention (counted and refused, or counted only, by [`check_mention`]).
pub fn misses_mention(config: &ConsentConfig, message: &Message) -> bool {
    config.enabled && config.require_mention != RequireMention::Off && lacks_mention(message)
}

/// `require_mention`, with consent on: marketing without an opt-out mention is counted in
/// `smppd_mention_missing_total{client}`, and refused with `mention_status` if so configured.
pub fn check_mention(config: &ConsentConfig, message: &Message) -> Result<(), CommandStatus> {
    if !misses_mention(config, message) {
        return Ok(());
    }
    telemetry::mention_missing(&message.client);
    match config.require_mention {
        RequireMention::Refuse(status) => Err(status),
        RequireMention::Off | RequireMention::Warn => Ok(()),
    }
}

/// Who last sent marketing to a number from a shared short code, and when: the value of the
/// store's `last_marketing` index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMarketing {
    /// The client (`system_id`).
    pub client: String,
    /// When a carrier accepted the message, unix ms.
    pub at: i64,
}

/// A marketing message from a shared short code, as the `last_marketing` index records it
/// once a carrier accepts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marketed {
    /// The short code (digits).
    pub code: String,
    /// The destination, as suppression lists keep it ([`stored_number`]).
    pub number: String,
    /// The message's client.
    pub client: String,
}

/// What the index records for `message` when a carrier accepts it: `Some` for marketing from
/// a short code its client shares with others, while consent is on.
pub fn marketed(config: &Config, message: &Message) -> Option<Marketed> {
    let consent = &config.consent;
    // Every dispatch passes here: most messages are not marketing from a shared code.
    if message.class != Class::Marketing || !consent.enabled || consent.short_codes.is_empty() {
        return None;
    }
    let code = consent
        .short_code(&message.source.addr)
        .filter(|code| code.is_shared() && code.clients.contains(&message.client))?;
    let number = numbering::e164(&config.numbering, &message.destination)?;
    Some(Marketed {
        code: code.number.clone(),
        number: stored_number(consent, &number),
        client: message.client.clone(),
    })
}

/// Whose lists a reply to a short code changes, with scope `client`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution<'c> {
    /// The code's only client, or the sharing client that sent the number marketing last.
    Client(&'c String),
    /// Nobody sent the number marketing from the shared code within the window: every
    /// client sharing it.
    Unattributed(&'c [String]),
}

impl<'c> Attribution<'c> {
    /// The clients whose lists change.
    pub fn clients(self) -> &'c [String] {
        match self {
            Self::Client(client) => std::slice::from_ref(client),
            Self::Unattributed(clients) => clients,
        }
    }
}

/// The attribution of a reply at `now` (unix ms) to `code`, given the number's `last` entry in
/// the index: a client no longer sharing the code, or an entry older than `window`, counts
/// for nothing.
pub fn attribute<'c>(
    code: &'c ShortCode,
    last: Option<&LastMarketing>,
    now: i64,
    window: Duration,
) -> Attribution<'c> {
    if let [only] = code.clients.as_slice() {
        return Attribution::Client(only);
    }
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let last = last.filter(|last| now.saturating_sub(last.at) <= window);
    match last.and_then(|last| code.clients.iter().find(|c| **c == last.client)) {
        Some(client) => Attribution::Client(client),
        None => Attribution::Unattributed(&code.clients),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn numbers_are_kept_plain_or_as_keyed_hashes() {
        let plain = ConsentConfig::default();
        assert_eq!(stored_number(&plain, "+33612345678"), "+33612345678");
        let keyed = |key: &str| ConsentConfig {
            store_numbers: StoredNumbers::Hmac(Secret::new(key)),
            ..ConsentConfig::default()
        };
        let a = stored_number(&keyed("k1"), "+33612345678");
        assert!(a.starts_with("hmac:") && a.len() == 5 + 64, "{a}");
        assert!(!a.contains("33612345678"));
        // The same number, the same key: the same entry. Another key: another entry.
        assert_eq!(a, stored_number(&keyed("k1"), "+33612345678"));
        assert_ne!(a, stored_number(&keyed("k2"), "+33612345678"));
        assert_ne!(a, stored_number(&keyed("k1"), "+33612345679"));
    }

    #[test]
    fn scopes_read_back_as_written() {
        for text in [
            "gateway",
            "client:shop",
            "sender:36123",
            "sender:Ma:Boutique",
        ] {
            assert_eq!(text.parse::<Scope>().unwrap().to_string(), text);
        }
        for bad in ["", "client:", "shop", "route:x", "gateway:x"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
        assert_eq!("opted_in".parse::<Choice>(), Ok(Choice::OptedIn));
        assert!("out".parse::<Choice>().is_err());
    }

    #[test]
    fn the_opt_out_mention_is_looked_for_in_marketing_and_the_last_part_only() {
        use crate::message::MessageId;
        use smpp_proto::pdu::esm_class::UDHI;
        use smpp_proto::Tag;
        let message = |class, data_coding, esm_class, short_message: Vec<u8>| Message {
            class,
            data_coding,
            esm_class,
            short_message,
            ..Message::example(MessageId::new(1))
        };
        let text = |t: &str| t.as_bytes().to_vec();
        let ucs2 = |t: &str| {
            t.encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<u8>>()
        };
        let udh = |seq: u8, t: &str| [&[5, 0, 3, 9, 2, seq][..], t.as_bytes()].concat();
        let marketing = Class::Marketing;
        let cases = [
            (
                message(marketing, 0, 0, text("Soldes! STOP au 36123")),
                false,
            ),
            (message(marketing, 0, 0, text("Soldes ! stop sms")), false),
            (
                message(marketing, 8, 0, ucs2("Soldes été ! STOP SMS")),
                false,
            ),
            (message(marketing, 0, 0, text("Soldes -50%")), true),
            (message(marketing, 8, 0, ucs2("Soldes été")), true),
            (message(marketing, 0, 0, text("STOP")), true),
            (
                message(Class::Transactional, 0, 0, text("Colis en route")),
                false,
            ),
            // Binary content is not read.
            (message(marketing, 4, 0, vec![1, 2, 3]), false),
            // The mention goes in the last part.
            (message(marketing, 0, UDHI, udh(1, "Soldes d'hiver")), false),
            (
                message(marketing, 0, UDHI, udh(2, "jusqu'a dimanche")),
                true,
            ),
            (message(marketing, 0, UDHI, udh(2, "STOP au 36123")), false),
        ];
        for (i, (m, lacks)) in cases.iter().enumerate() {
            assert_eq!(lacks_mention(m), *lacks, "case {i}");
        }
        // Parts by sar_* TLVs.
        let mut part = message(marketing, 0, 0, text("Soldes d'hiver"));
        part.tlvs = vec![
            (Tag::SAR_MSG_REF_NUM.0, vec![0, 7]),
            (Tag::SAR_TOTAL_SEGMENTS.0, vec![2]),
            (Tag::SAR_SEGMENT_SEQNUM.0, vec![1]),
        ];
        assert!(!lacks_mention(&part));
        part.tlvs[2].1 = vec![2];
        assert!(lacks_mention(&part));

        let bare = message(marketing, 0, 0, text("Soldes -50%"));
        let config = |enabled, require_mention| ConsentConfig {
            enabled,
            require_mention,
            ..ConsentConfig::default()
        };
        let refuse = RequireMention::Refuse(CommandStatus(0x402));
        assert_eq!(
            check_mention(&config(true, RequireMention::Warn), &bare),
            Ok(())
        );
        assert_eq!(
            check_mention(&config(true, RequireMention::Off), &bare),
            Ok(())
        );
        assert_eq!(check_mention(&config(false, refuse), &bare), Ok(()));
        assert_eq!(
            check_mention(&config(true, refuse), &bare),
            Err(CommandStatus(0x402))
        );
    }

    fn code(clients: &[&str]) -> ShortCode {
        ShortCode {
            number: "36123".into(),
            clients: clients.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn a_reply_goes_to_who_sent_marketing_last_within_the_window_else_to_every_sharer() {
        const DAY: i64 = 86_400_000;
        let window = Duration::from_secs(30 * 86_400);
        let now = 100 * DAY;
        let last = |client: &str, at: i64| LastMarketing {
            client: client.into(),
            at,
        };
        let shared = code(&["shop-a", "shop-b"]);
        let sharers = Attribution::Unattributed(&shared.clients);
        let attribute = |entry: Option<&LastMarketing>| attribute(&shared, entry, now, window);
        let b = last("shop-b", now - DAY);
        assert_eq!(attribute(Some(&b)), Attribution::Client(&shared.clients[1]));
        assert_eq!(attribute(Some(&b)).clients(), ["shop-b"]);
        // On the last day of the window still; a moment past it, nobody.
        let edge = last("shop-a", now - 30 * DAY);
        assert_eq!(attribute(Some(&edge)).clients(), ["shop-a"]);
        let old = last("shop-a", now - 30 * DAY - 1);
        assert_eq!(attribute(Some(&old)), sharers);
        assert_eq!(attribute(None), sharers);
        assert_eq!(attribute(None).clients(), ["shop-a", "shop-b"]);
        // A client that no longer shares the code (the config changed) counts for nothing.
        assert_eq!(attribute(Some(&last("gone", now))), sharers);
        // A dedicated code is its client's, whatever the index says.
        let dedicated = code(&["shop-a"]);
        let other = last("shop-b", now);
        let attributed = super::attribute(&dedicated, Some(&other), now, window);
        assert_eq!(attributed.clients(), ["shop-a"]);
    }

    #[test]
    fn only_marketing_from_a_shared_code_of_its_client_is_indexed() {
        let mut config = Config::parse("").unwrap();
        config.consent.enabled = true;
        config.consent.store_numbers = StoredNumbers::Hmac(Secret::new("k1"));
        config.consent.short_codes = vec![
            code(&["shop-a", "shop-b"]),
            ShortCode {
                number: "38100".into(),
                ..code(&["shop-a"])
            },
        ];
        let message = |client: &str, from: &str, class: Class| Message {
            client: client.into(),
            source: crate::message::Address {
                ton: 3,
                npi: 0,
                addr: from.into(),
            },
            destination: crate::message::Address {
                ton: 1,
                npi: 1,
                addr: "33612345678".into(),
            },
            class,
            ..Message::example(crate::message::MessageId::new(7))
        };
        let indexed = marketed(&config, &message("shop-a", "36123", Class::Marketing)).unwrap();
        assert_eq!(indexed.code, "36123");
        assert_eq!(indexed.client, "shop-a");
        // Kept as the lists keep it: hashed here.
        assert_eq!(
            indexed.number,
            stored_number(&config.consent, "+33612345678")
        );
        for (client, from, class) in [
            ("shop-a", "36123", Class::Transactional),
            ("shop-a", "38100", Class::Marketing),
            ("shop-a", "36124", Class::Marketing),
            ("shop-c", "36123", Class::Marketing),
        ] {
            assert_eq!(
                marketed(&config, &message(client, from, class)),
                None,
                "{client} {from}"
            );
        }
        config.consent.enabled = false;
        assert_eq!(
            marketed(&config, &message("shop-a", "36123", Class::Marketing)),
            None
        );
    }
}
