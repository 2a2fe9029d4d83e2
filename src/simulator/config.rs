//! What the simulator can be told: [`SimulatorConfig`] with the defaults of `smppd simulate`,
//! and the words its options take (id formats, receipt forms). `smppd simulate`'s flags, the
//! gateway's `[simulator]` section, tests and benches build one; [`Simulator`] reads it.

use super::Simulator;
use crate::config::SessionConfig;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// How the simulator writes a message id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Lower-case hex without prefix (`10000000`).
    Hex,
    /// Decimal (`268435456`).
    Decimal,
}

/// How the id in a receipt (text `id:` and `receipted_message_id`) is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptIdFormat {
    /// As in the submit_sm_resp.
    Same,
    /// Lower-case hex.
    Hex,
    /// Decimal.
    Decimal,
    /// Decimal zero-padded to 10 digits, as cloudhopper's `%010d`.
    DecimalPadded,
}

/// Which parts of a receipt carry its outcome (smpp34.md §10.1: some carriers send one only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptForm {
    /// The text in short_message and the receipted_message_id / message_state TLVs.
    Both,
    /// The text only.
    Text,
    /// The TLVs only; short_message empty.
    Tlv,
}

/// An option value that is not one of the allowed words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not one of: {allowed}")]
pub struct ParseChoiceError {
    given: String,
    allowed: &'static str,
}

fn choice<T: Copy>(
    given: &str,
    table: &[(&str, T)],
    allowed: &'static str,
) -> Result<T, ParseChoiceError> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(given))
        .map(|&(_, value)| value)
        .ok_or_else(|| ParseChoiceError {
            given: given.to_owned(),
            allowed,
        })
}

impl FromStr for IdFormat {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[("hex", Self::Hex), ("decimal", Self::Decimal)],
            "hex, decimal",
        )
    }
}

impl FromStr for ReceiptIdFormat {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[
                ("same", Self::Same),
                ("hex", Self::Hex),
                ("decimal", Self::Decimal),
                ("decimal-padded", Self::DecimalPadded),
            ],
            "same, hex, decimal, decimal-padded",
        )
    }
}

impl FromStr for ReceiptForm {
    type Err = ParseChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        choice(
            s,
            &[
                ("both", Self::Both),
                ("text", Self::Text),
                ("tlv", Self::Tlv),
            ],
            "both, text, tlv",
        )
    }
}

/// Everything the simulator does, with the defaults of `smppd simulate`.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Where to listen; port 0 picks a free port (see
    /// [`SimulatorHandle::addr`](super::SimulatorHandle::addr)).
    pub listen: SocketAddr,
    /// The only system_id accepted in binds; `None` accepts any.
    pub system_id: Option<String>,
    /// The only password accepted in binds; `None` accepts any.
    pub password: Option<String>,
    /// Requests of the peer processed at once per session, and our receipts in flight.
    pub window: usize,
    /// How the submit_sm_resp writes the message id.
    pub id_format: IdFormat,
    /// How receipts write the message id.
    pub receipt_id_format: ReceiptIdFormat,
    /// The first message id; the default makes hex and decimal visibly different.
    pub id_start: u64,
    /// Time from the submit to its receipt.
    pub receipt_delay: Duration,
    /// Up to this much added to `receipt_delay`, per message (derived from its id).
    pub receipt_jitter: Duration,
    /// Text, TLVs or both in receipts.
    pub receipt_form: ReceiptForm,
    /// Percentage of messages DELIVRD; the rest are UNDELIV with err 001.
    pub delivered_percent: u8,
    /// Send the receipt before the submit_sm_resp (a carrier quirk; ignores `receipt_delay`).
    pub receipt_before_response: bool,
    /// Submits per second per bind; excess ones get ESME_RTHROTTLED. `None`: no limit.
    pub throttle: Option<NonZeroU32>,
    /// Percentage of submits answered ESME_RSUBMITFAIL, evenly spread.
    pub reject_percent: u8,
    /// Percentage of submits never answered (nor receipted), evenly spread over the submits
    /// that pass the throttle: the peer's response timeout has to deal with them.
    pub withhold_percent: u8,
    /// Close a session abruptly (no unbind) at every N-th submit it receives, leaving that
    /// submit and those after it unanswered (see `DROP_LINGER` in `faults.rs`). `None`: never.
    pub drop_every: Option<NonZeroU64>,
    /// Answer every N-th submit_sm received (counted over all sessions) with garbage instead
    /// of its response, the kinds of [`Garbage`](super::Garbage) in turn; such a submit gets
    /// no id and no receipt. `None`: never.
    pub garbage_every: Option<NonZeroU64>,
    /// Sessions one system_id may have bound at once; a bind beyond gets ESME_RALYBND and
    /// the connection is closed, as carriers do. `None`: no limit.
    pub max_binds: Option<NonZeroUsize>,
    /// Append a line per submit received to this file: `UNIX_MS SESSION OUTCOME HEX`, the
    /// outcome `id=ID`, `status=NAME`, `withheld`, `dropped` (the submit that closed the
    /// session), `held` (one after it) or `garbage=KIND`
    /// ([`Garbage::name`](super::Garbage::name)), and the PDU re-encoded in hex. Binds and
    /// their ends have lines of their own, `UNIX_MS SESSION EVENT key=value…` (see
    /// `log.rs`). SESSION is unique per simulator process. `None`: no log.
    pub log_submits: Option<PathBuf>,
    /// Time before each submit response.
    pub response_delay: Duration,
    /// Send an MO "ping N" to every receiver bind this often; `None`: never.
    pub mo_every: Option<Duration>,
    /// source_addr of the periodic MO (the subscriber).
    pub mo_from: String,
    /// destination_addr of the periodic MO (the service's number).
    pub mo_to: String,
    /// Receipts waiting (delayed, or for a receiver bind) at most; beyond, the oldest is
    /// dropped and counted.
    pub max_pending_receipts: usize,
    /// Connections at once, at most.
    pub max_connections: usize,
    /// Largest `command_length` accepted.
    pub max_pdu_bytes: usize,
    /// SMPP timers of every session.
    pub timers: SessionConfig,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 2776)),
            system_id: None,
            password: None,
            window: 10,
            id_format: IdFormat::Hex,
            receipt_id_format: ReceiptIdFormat::Same,
            id_start: 0x1000_0000,
            receipt_delay: Duration::from_millis(100),
            receipt_jitter: Duration::ZERO,
            receipt_form: ReceiptForm::Both,
            delivered_percent: 100,
            receipt_before_response: false,
            throttle: None,
            reject_percent: 0,
            withhold_percent: 0,
            drop_every: None,
            garbage_every: None,
            max_binds: None,
            log_submits: None,
            response_delay: Duration::ZERO,
            mo_every: None,
            mo_from: "15550000001".to_owned(),
            mo_to: "12345".to_owned(),
            max_pending_receipts: 1_000_000,
            max_connections: 1024,
            max_pdu_bytes: 4096,
            timers: SessionConfig {
                session_init_timeout: Duration::from_secs(30),
                enquire_link_interval: Duration::from_secs(30),
                inactivity_timeout: Duration::from_secs(300),
                response_timeout: Duration::from_secs(30),
                bind_failure_delay: Duration::from_millis(100),
                unbind_timeout: Duration::from_secs(2),
            },
        }
    }
}

impl Simulator {
    /// A message id as the submit responses write it.
    pub(super) fn format_id(&self, id: u64) -> String {
        match self.config.id_format {
            IdFormat::Hex => format!("{id:x}"),
            IdFormat::Decimal => id.to_string(),
        }
    }

    /// A message id as the receipts write it.
    pub(super) fn format_receipt_id(&self, id: u64) -> String {
        match self.config.receipt_id_format {
            ReceiptIdFormat::Same => self.format_id(id),
            ReceiptIdFormat::Hex => format!("{id:x}"),
            ReceiptIdFormat::Decimal => id.to_string(),
            ReceiptIdFormat::DecimalPadded => format!("{id:010}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_ids_in_each_format() {
        let with = |receipt_id_format| {
            let config = SimulatorConfig {
                receipt_id_format,
                ..SimulatorConfig::default()
            };
            Simulator::new(config).map(|s| s.format_receipt_id(0x1000_0000))
        };
        assert_eq!(
            with(ReceiptIdFormat::Same).ok().as_deref(),
            Some("10000000")
        );
        assert_eq!(with(ReceiptIdFormat::Hex).ok().as_deref(), Some("10000000"));
        assert_eq!(
            with(ReceiptIdFormat::Decimal).ok().as_deref(),
            Some("268435456")
        );
        assert_eq!(
            with(ReceiptIdFormat::DecimalPadded).ok().as_deref(),
            Some("0268435456")
        );
    }

    #[test]
    fn choices_parse() {
        assert_eq!("decimal-padded".parse(), Ok(ReceiptIdFormat::DecimalPadded));
        assert_eq!("HEX".parse(), Ok(IdFormat::Hex));
        assert_eq!("tlv".parse(), Ok(ReceiptForm::Tlv));
        assert!("octal".parse::<IdFormat>().is_err());
    }
}
