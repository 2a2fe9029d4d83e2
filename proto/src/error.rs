//! Decode errors: which field, why, and the `command_status` SMPP 3.4 answers them with.

use crate::header::Header;
use crate::status::CommandStatus;
use std::fmt;

/// Why a PDU could not be decoded. Names the field (spec spelling) and the reason; carries
/// the header when it was readable so the caller can answer with the matching `_resp`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct DecodeError {
    /// The header, if the frame held one.
    pub header: Option<Header>,
    /// The field that failed, in the spec's spelling (`destination_addr`, `sm_length`, …).
    pub field: &'static str,
    /// What is wrong with it.
    pub kind: ErrorKind,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The PDU ends inside this field.
    Truncated,
    /// A C-Octet String has no NUL within its maximum size.
    TooLong {
        /// Maximum size, NUL included.
        max: usize,
    },
    /// A value outside what the field allows.
    Invalid {
        /// Why, for people.
        reason: &'static str,
    },
    /// `command_id` is not an SMPP 3.4 command.
    UnknownCommand(u32),
    /// The frame's length disagrees with `command_length`, or the body has octets left over
    /// that cannot belong to it.
    Length {
        /// What the PDU says.
        declared: usize,
        /// What is there.
        actual: usize,
    },
    /// Octets follow the last field of a PDU that has no TLV section.
    TrailingOctets {
        /// How many.
        count: usize,
    },
    /// The TLV section ends inside a TLV header or value.
    TlvStream,
    /// A TLV's length is not one its tag allows.
    TlvLength {
        /// The TLV's tag.
        tag: u16,
        /// The length it carried.
        length: usize,
    },
    /// A TLV's value is not one its tag allows.
    TlvValue {
        /// The TLV's tag.
        tag: u16,
    },
}

impl DecodeError {
    pub(crate) fn new(field: &'static str, kind: ErrorKind) -> Self {
        Self {
            header: None,
            field,
            kind,
        }
    }

    pub(crate) fn with_header(mut self, header: Header) -> Self {
        self.header = Some(header);
        self
    }

    /// The `command_status` SMPP 3.4 answers this error with.
    pub fn status(&self) -> CommandStatus {
        match &self.kind {
            ErrorKind::UnknownCommand(_) => CommandStatus::ESME_RINVCMDID,
            ErrorKind::Length { .. } | ErrorKind::TrailingOctets { .. } => {
                CommandStatus::ESME_RINVCMDLEN
            }
            ErrorKind::TlvStream => CommandStatus::ESME_RINVOPTPARSTREAM,
            ErrorKind::TlvLength { .. } => CommandStatus::ESME_RINVPARLEN,
            ErrorKind::TlvValue { .. } => CommandStatus::ESME_RINVOPTPARAMVAL,
            ErrorKind::Truncated if !is_message_field(self.field) => {
                // A mandatory field missing means command_length is too short for the PDU.
                CommandStatus::ESME_RINVCMDLEN
            }
            ErrorKind::Truncated | ErrorKind::TooLong { .. } | ErrorKind::Invalid { .. } => {
                field_status(self.field)
            }
        }
    }

    /// Whether the reply must be generic_nack rather than the request's own `_resp`: the
    /// command is unknown, or the PDU is itself a response (responses are not answered with
    /// responses).
    pub fn wants_generic_nack(&self) -> bool {
        match self.header.and_then(|h| h.command()) {
            None => true,
            Some(command) => command.response().is_none(),
        }
    }

    fn describe(&self) -> String {
        let what = match &self.kind {
            ErrorKind::Truncated => "the PDU ends inside this field".to_owned(),
            ErrorKind::TooLong { max } => format!("no NUL within its maximum of {max} octets"),
            ErrorKind::Invalid { reason } => (*reason).to_owned(),
            ErrorKind::UnknownCommand(id) => format!("0x{id:08X} is not an SMPP 3.4 command"),
            ErrorKind::Length { declared, actual } => {
                format!("declares {declared} octets but {actual} are there")
            }
            ErrorKind::TrailingOctets { count } => {
                format!("{count} octets follow the last field of a PDU with no TLVs")
            }
            ErrorKind::TlvStream => "the TLV section ends inside a TLV".to_owned(),
            ErrorKind::TlvLength { tag, length } => {
                format!("TLV 0x{tag:04X} cannot have length {length}")
            }
            ErrorKind::TlvValue { tag } => format!("TLV 0x{tag:04X} has an invalid value"),
        };
        format!("{}: {what} ({})", self.field, self.status())
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

fn is_message_field(field: &str) -> bool {
    matches!(field, "sm_length" | "short_message")
}

/// SMPP 3.4 §5: the status that names each field's error.
fn field_status(field: &str) -> CommandStatus {
    match field {
        "sm_length" | "short_message" => CommandStatus::ESME_RINVMSGLEN,
        "system_id" => CommandStatus::ESME_RINVSYSID,
        "password" => CommandStatus::ESME_RINVPASWD,
        "system_type" => CommandStatus::ESME_RINVSYSTYP,
        "service_type" => CommandStatus::ESME_RINVSERTYP,
        "source_addr" => CommandStatus::ESME_RINVSRCADR,
        "destination_addr" | "esme_addr" => CommandStatus::ESME_RINVDSTADR,
        "schedule_delivery_time" => CommandStatus::ESME_RINVSCHED,
        "validity_period" => CommandStatus::ESME_RINVEXPIRY,
        "message_id" => CommandStatus::ESME_RINVMSGID,
        "number_of_dests" => CommandStatus::ESME_RINVNUMDESTS,
        "dest_flag" => CommandStatus::ESME_RINVDESTFLAG,
        "dl_name" => CommandStatus::ESME_RINVDLNAME,
        "esm_class" => CommandStatus::ESME_RINVESMCLASS,
        "priority_flag" => CommandStatus::ESME_RINVPRTFLG,
        "registered_delivery" => CommandStatus::ESME_RINVREGDLVFLG,
        "replace_if_present_flag" => CommandStatus::ESME_RINVREPFLAG,
        "command_length" => CommandStatus::ESME_RINVCMDLEN,
        "command_id" => CommandStatus::ESME_RINVCMDID,
        "address_range" => CommandStatus::ESME_RBINDFAIL,
        _ => CommandStatus::ESME_RSYSERR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_to_their_status() {
        let e = DecodeError::new("destination_addr", ErrorKind::TooLong { max: 21 });
        assert_eq!(e.status(), CommandStatus::ESME_RINVDSTADR);
        assert_eq!(
            e.to_string(),
            "destination_addr: no NUL within its maximum of 21 octets (ESME_RINVDSTADR)"
        );
        let e = DecodeError::new("esm_class", ErrorKind::Truncated);
        assert_eq!(e.status(), CommandStatus::ESME_RINVCMDLEN);
        let e = DecodeError::new("short_message", ErrorKind::Truncated);
        assert_eq!(e.status(), CommandStatus::ESME_RINVMSGLEN);
        let e = DecodeError::new("command_id", ErrorKind::UnknownCommand(0x111));
        assert_eq!(e.status(), CommandStatus::ESME_RINVCMDID);
        assert!(e.wants_generic_nack());
    }
}
