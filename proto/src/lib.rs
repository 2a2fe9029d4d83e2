//! `smpp-proto`: the SMPP 3.4 wire format, and nothing else.
//!
//! Bytes in, typed PDUs out, and back. No I/O, no async runtime: the gateway drives this crate.
//!
//! - [`frame`] finds PDU boundaries in a byte stream ([`frame::split_frame`]).
//! - [`Pdu::decode`] turns one frame into a typed [`Pdu`]; [`Pdu::encode`] writes it back.
//! - [`coding`], [`concat`], [`receipt`] and [`time`] handle text, long messages, delivery
//!   receipts and SMPP time strings.

pub mod coding;
pub mod concat;
pub mod error;
pub mod frame;
pub mod header;
mod parse;
pub mod pdu;
pub mod receipt;
pub mod status;
pub mod time;
pub mod tlv;
pub mod types;

pub use error::{DecodeError, ErrorKind};
pub use frame::{split_frame, FrameError};
pub use header::{CommandId, Header, HEADER_LEN};
pub use pdu::{Body, Pdu};
pub use status::CommandStatus;
pub use tlv::{Tag, Tlv, TlvValue, Tlvs};
pub use types::{COctetString, MessageState};
