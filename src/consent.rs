//! Consent: who opted out of (or back into) which messages. A suppression is kept per scope
//! and number (E.164): by default a client's own list, so a customer who texts STOP to one shop
//! still hears from another; or per sender, or one list for the whole gateway (`[consent]
//! scope`). Every change is also appended to the consent log, the proof of when and how a
//! person opted out or in (GDPR art. 7(1)).
//!
//! The store keeps both (`store/consent.rs`), written in one group commit with the event that
//! caused them. Submits are checked at accept and again at dispatch (`esme/`, `carrier/`).
//!
//! The serde derives are the on-disk format (postcard): fields and variants may only be
//! appended.

use crate::config::{ConsentConfig, ConsentScope, StoredNumbers};
use crate::message::{Class, Message};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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

/// The reason a message to a suppressed number ends, for its history and receipt.
pub fn refusal_detail(message: &Message, event: &ConsentEvent) -> String {
    format!(
        "{} opted out of {} messages ({}, {})",
        event.number,
        message.class,
        event.scope,
        event.origin.name()
    )
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
}
