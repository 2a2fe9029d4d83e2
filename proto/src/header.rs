//! The 16-octet PDU header and the closed set of SMPP 3.4 command ids.

use crate::status::CommandStatus;
use bytes::{BufMut, BytesMut};
use std::fmt;

/// Octets in every PDU header.
pub const HEADER_LEN: usize = 16;

/// Bit 31 of `command_id` marks a response.
const RESPONSE_BIT: u32 = 0x8000_0000;

/// The SMPP 3.4 commands. Closed: any other `command_id` is `ESME_RINVCMDID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum CommandId {
    GenericNack,
    BindReceiver,
    BindReceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    Unbind,
    UnbindResp,
    ReplaceSm,
    ReplaceSmResp,
    CancelSm,
    CancelSmResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    EnquireLink,
    EnquireLinkResp,
    SubmitMulti,
    SubmitMultiResp,
    AlertNotification,
    DataSm,
    DataSmResp,
}

/// (command, wire value, spec name), one row per command.
const COMMANDS: [(CommandId, u32, &str); 27] = [
    (CommandId::GenericNack, 0x8000_0000, "generic_nack"),
    (CommandId::BindReceiver, 0x0000_0001, "bind_receiver"),
    (
        CommandId::BindReceiverResp,
        0x8000_0001,
        "bind_receiver_resp",
    ),
    (CommandId::BindTransmitter, 0x0000_0002, "bind_transmitter"),
    (
        CommandId::BindTransmitterResp,
        0x8000_0002,
        "bind_transmitter_resp",
    ),
    (CommandId::QuerySm, 0x0000_0003, "query_sm"),
    (CommandId::QuerySmResp, 0x8000_0003, "query_sm_resp"),
    (CommandId::SubmitSm, 0x0000_0004, "submit_sm"),
    (CommandId::SubmitSmResp, 0x8000_0004, "submit_sm_resp"),
    (CommandId::DeliverSm, 0x0000_0005, "deliver_sm"),
    (CommandId::DeliverSmResp, 0x8000_0005, "deliver_sm_resp"),
    (CommandId::Unbind, 0x0000_0006, "unbind"),
    (CommandId::UnbindResp, 0x8000_0006, "unbind_resp"),
    (CommandId::ReplaceSm, 0x0000_0007, "replace_sm"),
    (CommandId::ReplaceSmResp, 0x8000_0007, "replace_sm_resp"),
    (CommandId::CancelSm, 0x0000_0008, "cancel_sm"),
    (CommandId::CancelSmResp, 0x8000_0008, "cancel_sm_resp"),
    (CommandId::BindTransceiver, 0x0000_0009, "bind_transceiver"),
    (
        CommandId::BindTransceiverResp,
        0x8000_0009,
        "bind_transceiver_resp",
    ),
    (CommandId::Outbind, 0x0000_000B, "outbind"),
    (CommandId::EnquireLink, 0x0000_0015, "enquire_link"),
    (CommandId::EnquireLinkResp, 0x8000_0015, "enquire_link_resp"),
    (CommandId::SubmitMulti, 0x0000_0021, "submit_multi"),
    (CommandId::SubmitMultiResp, 0x8000_0021, "submit_multi_resp"),
    (
        CommandId::AlertNotification,
        0x0000_0102,
        "alert_notification",
    ),
    (CommandId::DataSm, 0x0000_0103, "data_sm"),
    (CommandId::DataSmResp, 0x8000_0103, "data_sm_resp"),
];

impl CommandId {
    /// Every command, in the order of the table above.
    pub const ALL: [Self; 27] = {
        let mut all = [Self::GenericNack; 27];
        let mut i = 0;
        while i < COMMANDS.len() {
            all[i] = COMMANDS[i].0;
            i += 1;
        }
        all
    };

    /// The command for a wire value; `None` means `ESME_RINVCMDID`.
    pub fn from_u32(value: u32) -> Option<Self> {
        COMMANDS
            .iter()
            .find(|(_, v, _)| *v == value)
            .map(|(id, _, _)| *id)
    }

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        self.row().1
    }

    /// The spec's name, e.g. `submit_sm`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// Whether this is a response (bit 31 set), generic_nack included.
    pub fn is_response(self) -> bool {
        self.as_u32() & RESPONSE_BIT != 0
    }

    /// The response that answers this request; `None` for responses and for the requests
    /// SMPP 3.4 gives no response (outbind, alert_notification).
    pub fn response(self) -> Option<Self> {
        if self.is_response() {
            return None;
        }
        Self::from_u32(self.as_u32() | RESPONSE_BIT)
    }

    fn row(self) -> (Self, u32, &'static str) {
        // Each variant has exactly one row; the table test checks it.
        COMMANDS[self as usize]
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A PDU header as read off the wire: `command_id` is kept raw because an unknown one must
/// still be answered (generic_nack with the same sequence number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Total PDU length, header included.
    pub command_length: u32,
    /// Raw `command_id`.
    pub command_id: u32,
    /// `command_status`; meaningful in responses only.
    pub command_status: CommandStatus,
    /// Request/response correlation.
    pub sequence_number: u32,
}

impl Header {
    /// Reads a header from the first 16 octets of `buf`, or `None` if it is shorter.
    pub fn peek(buf: &[u8]) -> Option<Self> {
        let field = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(bytes))
        };
        Some(Self {
            command_length: field(0)?,
            command_id: field(4)?,
            command_status: CommandStatus(field(8)?),
            sequence_number: field(12)?,
        })
    }

    /// The command, if `command_id` is one SMPP 3.4 defines.
    pub fn command(&self) -> Option<CommandId> {
        CommandId::from_u32(self.command_id)
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.command_length);
        out.put_u32(self.command_id);
        out.put_u32(self.command_status.0);
        out.put_u32(self.sequence_number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_variants() {
        for (i, (id, value, name)) in COMMANDS.iter().enumerate() {
            assert_eq!(*id as usize, i, "{name} is out of order");
            assert_eq!(CommandId::from_u32(*value), Some(*id));
            assert_eq!(id.name(), *name);
        }
        assert_eq!(CommandId::ALL.len(), COMMANDS.len());
    }

    #[test]
    fn responses() {
        assert_eq!(
            CommandId::SubmitSm.response(),
            Some(CommandId::SubmitSmResp)
        );
        assert_eq!(CommandId::Outbind.response(), None);
        assert_eq!(CommandId::AlertNotification.response(), None);
        assert_eq!(CommandId::SubmitSmResp.response(), None);
        assert!(CommandId::GenericNack.is_response());
        // SMPP 5.0 broadcast_sm is not 3.4.
        assert_eq!(CommandId::from_u32(0x111), None);
    }

    #[test]
    fn header_peek() {
        let bytes = [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1];
        let header = Header::peek(&bytes).unwrap();
        assert_eq!(header.command(), Some(CommandId::EnquireLink));
        assert_eq!(header.sequence_number, 1);
        assert_eq!(Header::peek(&bytes[..15]), None);
    }
}
