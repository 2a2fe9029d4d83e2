//! `smpp-proto`: the SMPP 3.4 wire format, and nothing else.
//!
//! Bytes in, typed PDUs out, and back. No I/O, no async runtime: the gateway drives this crate.
//!
//! - [`frame`] finds PDU boundaries in a byte stream ([`frame::split_frame`]).
//! - [`Pdu::decode`] turns one frame into a typed [`Pdu`]; [`Pdu::encode`] writes it back.
//! - [`coding`], [`concat`], [`receipt`] and [`time`] handle text, long messages, delivery
//!   receipts and SMPP time strings.
//!
//! ```
//! use bytes::BytesMut;
//! use smpp_proto::{frame, Body, CommandStatus, Pdu};
//!
//! // Bytes arrive from a socket; cut one PDU off the front and decode it.
//! let mut buf = BytesMut::from(&[0u8, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7][..]);
//! let frame = frame::split_frame(&mut buf, frame::DEFAULT_MAX_PDU_LEN)?.expect("a whole PDU");
//! let pdu = Pdu::decode(&frame)?;
//! assert_eq!(pdu.body, Body::EnquireLink);
//!
//! // Answer it.
//! let resp = pdu.response_with_status(CommandStatus::ESME_ROK).expect("has a response");
//! assert_eq!(resp.body, Body::EnquireLinkResp);
//! assert_eq!(resp.to_bytes().len(), 16);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
