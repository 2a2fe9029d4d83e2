//! `command_status` codes (SMPP 3.4 §5.1.3): an open code space, so a newtype with the
//! spec's names as constants; values no spec names are kept as they are.

use std::fmt;

/// A `command_status` value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CommandStatus(pub u32);

impl CommandStatus {
    /// OK (0x00000000).
    pub const ESME_ROK: Self = Self(0x00000000);
    /// Message length invalid (0x00000001).
    pub const ESME_RINVMSGLEN: Self = Self(0x00000001);
    /// Command_length invalid (0x00000002).
    pub const ESME_RINVCMDLEN: Self = Self(0x00000002);
    /// Unknown command_id (0x00000003).
    pub const ESME_RINVCMDID: Self = Self(0x00000003);
    /// PDU not allowed in the current bind state (0x00000004).
    pub const ESME_RINVBNDSTS: Self = Self(0x00000004);
    /// Already bound (0x00000005).
    pub const ESME_RALYBND: Self = Self(0x00000005);
    /// Invalid priority_flag (0x00000006).
    pub const ESME_RINVPRTFLG: Self = Self(0x00000006);
    /// Invalid registered_delivery (0x00000007).
    pub const ESME_RINVREGDLVFLG: Self = Self(0x00000007);
    /// System error (0x00000008).
    pub const ESME_RSYSERR: Self = Self(0x00000008);
    /// Invalid source address (0x0000000A).
    pub const ESME_RINVSRCADR: Self = Self(0x0000000A);
    /// Invalid destination address (0x0000000B).
    pub const ESME_RINVDSTADR: Self = Self(0x0000000B);
    /// Invalid message_id (0x0000000C).
    pub const ESME_RINVMSGID: Self = Self(0x0000000C);
    /// Bind failed (0x0000000D).
    pub const ESME_RBINDFAIL: Self = Self(0x0000000D);
    /// Invalid password (0x0000000E).
    pub const ESME_RINVPASWD: Self = Self(0x0000000E);
    /// Invalid system_id (0x0000000F).
    pub const ESME_RINVSYSID: Self = Self(0x0000000F);
    /// Cancel_sm failed (0x00000011).
    pub const ESME_RCANCELFAIL: Self = Self(0x00000011);
    /// Replace_sm failed (0x00000013).
    pub const ESME_RREPLACEFAIL: Self = Self(0x00000013);
    /// Message queue full (0x00000014).
    pub const ESME_RMSGQFUL: Self = Self(0x00000014);
    /// Invalid service_type (0x00000015).
    pub const ESME_RINVSERTYP: Self = Self(0x00000015);
    /// Invalid number_of_dests (0x00000033).
    pub const ESME_RINVNUMDESTS: Self = Self(0x00000033);
    /// Invalid distribution list name (0x00000034).
    pub const ESME_RINVDLNAME: Self = Self(0x00000034);
    /// Invalid dest_flag (0x00000040).
    pub const ESME_RINVDESTFLAG: Self = Self(0x00000040);
    /// Invalid submit with replace (0x00000042).
    pub const ESME_RINVSUBREP: Self = Self(0x00000042);
    /// Invalid esm_class (0x00000043).
    pub const ESME_RINVESMCLASS: Self = Self(0x00000043);
    /// Cannot submit to distribution list (0x00000044).
    pub const ESME_RCNTSUBDL: Self = Self(0x00000044);
    /// Submit_sm or submit_multi failed (0x00000045).
    pub const ESME_RSUBMITFAIL: Self = Self(0x00000045);
    /// Invalid source address TON (0x00000048).
    pub const ESME_RINVSRCTON: Self = Self(0x00000048);
    /// Invalid source address NPI (0x00000049).
    pub const ESME_RINVSRCNPI: Self = Self(0x00000049);
    /// Invalid destination address TON (0x00000050).
    pub const ESME_RINVDSTTON: Self = Self(0x00000050);
    /// Invalid destination address NPI (0x00000051).
    pub const ESME_RINVDSTNPI: Self = Self(0x00000051);
    /// Invalid system_type (0x00000053).
    pub const ESME_RINVSYSTYP: Self = Self(0x00000053);
    /// Invalid replace_if_present_flag (0x00000054).
    pub const ESME_RINVREPFLAG: Self = Self(0x00000054);
    /// Invalid number of messages (0x00000055).
    pub const ESME_RINVNUMMSGS: Self = Self(0x00000055);
    /// Throttling error: rate exceeded (0x00000058).
    pub const ESME_RTHROTTLED: Self = Self(0x00000058);
    /// Invalid schedule_delivery_time (0x00000061).
    pub const ESME_RINVSCHED: Self = Self(0x00000061);
    /// Invalid validity_period (0x00000062).
    pub const ESME_RINVEXPIRY: Self = Self(0x00000062);
    /// Predefined message invalid or not found (0x00000063).
    pub const ESME_RINVDFTMSGID: Self = Self(0x00000063);
    /// Receiving ESME: temporary application error (0x00000064).
    pub const ESME_RX_T_APPN: Self = Self(0x00000064);
    /// Receiving ESME: permanent application error (0x00000065).
    pub const ESME_RX_P_APPN: Self = Self(0x00000065);
    /// Receiving ESME: message rejected (0x00000066).
    pub const ESME_RX_R_APPN: Self = Self(0x00000066);
    /// Query_sm failed (0x00000067).
    pub const ESME_RQUERYFAIL: Self = Self(0x00000067);
    /// Error in the optional part of the PDU body (0x000000C0).
    pub const ESME_RINVOPTPARSTREAM: Self = Self(0x000000C0);
    /// Optional parameter not allowed (0x000000C1).
    pub const ESME_ROPTPARNOTALLWD: Self = Self(0x000000C1);
    /// Invalid parameter length (0x000000C2).
    pub const ESME_RINVPARLEN: Self = Self(0x000000C2);
    /// Expected optional parameter missing (0x000000C3).
    pub const ESME_RMISSINGOPTPARAM: Self = Self(0x000000C3);
    /// Invalid optional parameter value (0x000000C4).
    pub const ESME_RINVOPTPARAMVAL: Self = Self(0x000000C4);
    /// Delivery failure (0x000000FE).
    pub const ESME_RDELIVERYFAILURE: Self = Self(0x000000FE);
    /// Unknown error (0x000000FF).
    pub const ESME_RUNKNOWNERR: Self = Self(0x000000FF);
    /// SMPP 5.0: not authorised to use service_type (0x00000100).
    pub const ESME_RSERTYPUNAUTH: Self = Self(0x00000100);
    /// SMPP 5.0: prohibited (0x00000101).
    pub const ESME_RPROHIBITED: Self = Self(0x00000101);
    /// SMPP 5.0: service_type unavailable (0x00000102).
    pub const ESME_RSERTYPUNAVAIL: Self = Self(0x00000102);
    /// SMPP 5.0: service_type denied (0x00000103).
    pub const ESME_RSERTYPDENIED: Self = Self(0x00000103);
    /// SMPP 5.0: invalid data_coding (0x00000104).
    pub const ESME_RINVDCS: Self = Self(0x00000104);
    /// SMPP 5.0: invalid source address subunit (0x00000105).
    pub const ESME_RINVSRCADDRSUBUNIT: Self = Self(0x00000105);
    /// SMPP 5.0: invalid destination address subunit (0x00000106).
    pub const ESME_RINVDSTADDRSUBUNIT: Self = Self(0x00000106);
    /// SMPP 5.0: invalid broadcast frequency interval (0x00000107).
    pub const ESME_RINVBCASTFREQINT: Self = Self(0x00000107);
    /// SMPP 5.0: invalid broadcast alias name (0x00000108).
    pub const ESME_RINVBCASTALIAS_NAME: Self = Self(0x00000108);
    /// SMPP 5.0: invalid broadcast area format (0x00000109).
    pub const ESME_RINVBCASTAREAFMT: Self = Self(0x00000109);
    /// SMPP 5.0: invalid number of broadcast areas (0x0000010A).
    pub const ESME_RINVNUMBCAST_AREAS: Self = Self(0x0000010A);
    /// SMPP 5.0: invalid broadcast content type (0x0000010B).
    pub const ESME_RINVBCASTCNTTYPE: Self = Self(0x0000010B);
    /// SMPP 5.0: invalid broadcast message class (0x0000010C).
    pub const ESME_RINVBCASTMSGCLASS: Self = Self(0x0000010C);
    /// SMPP 5.0: broadcast_sm failed (0x0000010D).
    pub const ESME_RBCASTFAIL: Self = Self(0x0000010D);
    /// SMPP 5.0: query_broadcast_sm failed (0x0000010E).
    pub const ESME_RBCASTQUERYFAIL: Self = Self(0x0000010E);
    /// SMPP 5.0: cancel_broadcast_sm failed (0x0000010F).
    pub const ESME_RBCASTCANCELFAIL: Self = Self(0x0000010F);
    /// SMPP 5.0: invalid number of repeated broadcasts (0x00000110).
    pub const ESME_RINVBCAST_REP: Self = Self(0x00000110);
    /// SMPP 5.0: invalid broadcast service group (0x00000111).
    pub const ESME_RINVBCASTSRVGRP: Self = Self(0x00000111);
    /// SMPP 5.0: invalid broadcast channel indicator (0x00000112).
    pub const ESME_RINVBCASTCHANIND: Self = Self(0x00000112);
}

/// Every named code with its name and meaning, in numeric order.
const TABLE: &[(CommandStatus, &str, &str)] = &[
    (CommandStatus::ESME_ROK, "ESME_ROK", "OK"),
    (
        CommandStatus::ESME_RINVMSGLEN,
        "ESME_RINVMSGLEN",
        "message length invalid",
    ),
    (
        CommandStatus::ESME_RINVCMDLEN,
        "ESME_RINVCMDLEN",
        "command_length invalid",
    ),
    (
        CommandStatus::ESME_RINVCMDID,
        "ESME_RINVCMDID",
        "unknown command_id",
    ),
    (
        CommandStatus::ESME_RINVBNDSTS,
        "ESME_RINVBNDSTS",
        "PDU not allowed in the current bind state",
    ),
    (CommandStatus::ESME_RALYBND, "ESME_RALYBND", "already bound"),
    (
        CommandStatus::ESME_RINVPRTFLG,
        "ESME_RINVPRTFLG",
        "invalid priority_flag",
    ),
    (
        CommandStatus::ESME_RINVREGDLVFLG,
        "ESME_RINVREGDLVFLG",
        "invalid registered_delivery",
    ),
    (CommandStatus::ESME_RSYSERR, "ESME_RSYSERR", "system error"),
    (
        CommandStatus::ESME_RINVSRCADR,
        "ESME_RINVSRCADR",
        "invalid source address",
    ),
    (
        CommandStatus::ESME_RINVDSTADR,
        "ESME_RINVDSTADR",
        "invalid destination address",
    ),
    (
        CommandStatus::ESME_RINVMSGID,
        "ESME_RINVMSGID",
        "invalid message_id",
    ),
    (
        CommandStatus::ESME_RBINDFAIL,
        "ESME_RBINDFAIL",
        "bind failed",
    ),
    (
        CommandStatus::ESME_RINVPASWD,
        "ESME_RINVPASWD",
        "invalid password",
    ),
    (
        CommandStatus::ESME_RINVSYSID,
        "ESME_RINVSYSID",
        "invalid system_id",
    ),
    (
        CommandStatus::ESME_RCANCELFAIL,
        "ESME_RCANCELFAIL",
        "cancel_sm failed",
    ),
    (
        CommandStatus::ESME_RREPLACEFAIL,
        "ESME_RREPLACEFAIL",
        "replace_sm failed",
    ),
    (
        CommandStatus::ESME_RMSGQFUL,
        "ESME_RMSGQFUL",
        "message queue full",
    ),
    (
        CommandStatus::ESME_RINVSERTYP,
        "ESME_RINVSERTYP",
        "invalid service_type",
    ),
    (
        CommandStatus::ESME_RINVNUMDESTS,
        "ESME_RINVNUMDESTS",
        "invalid number_of_dests",
    ),
    (
        CommandStatus::ESME_RINVDLNAME,
        "ESME_RINVDLNAME",
        "invalid distribution list name",
    ),
    (
        CommandStatus::ESME_RINVDESTFLAG,
        "ESME_RINVDESTFLAG",
        "invalid dest_flag",
    ),
    (
        CommandStatus::ESME_RINVSUBREP,
        "ESME_RINVSUBREP",
        "invalid submit with replace",
    ),
    (
        CommandStatus::ESME_RINVESMCLASS,
        "ESME_RINVESMCLASS",
        "invalid esm_class",
    ),
    (
        CommandStatus::ESME_RCNTSUBDL,
        "ESME_RCNTSUBDL",
        "cannot submit to distribution list",
    ),
    (
        CommandStatus::ESME_RSUBMITFAIL,
        "ESME_RSUBMITFAIL",
        "submit_sm or submit_multi failed",
    ),
    (
        CommandStatus::ESME_RINVSRCTON,
        "ESME_RINVSRCTON",
        "invalid source address TON",
    ),
    (
        CommandStatus::ESME_RINVSRCNPI,
        "ESME_RINVSRCNPI",
        "invalid source address NPI",
    ),
    (
        CommandStatus::ESME_RINVDSTTON,
        "ESME_RINVDSTTON",
        "invalid destination address TON",
    ),
    (
        CommandStatus::ESME_RINVDSTNPI,
        "ESME_RINVDSTNPI",
        "invalid destination address NPI",
    ),
    (
        CommandStatus::ESME_RINVSYSTYP,
        "ESME_RINVSYSTYP",
        "invalid system_type",
    ),
    (
        CommandStatus::ESME_RINVREPFLAG,
        "ESME_RINVREPFLAG",
        "invalid replace_if_present_flag",
    ),
    (
        CommandStatus::ESME_RINVNUMMSGS,
        "ESME_RINVNUMMSGS",
        "invalid number of messages",
    ),
    (
        CommandStatus::ESME_RTHROTTLED,
        "ESME_RTHROTTLED",
        "throttling error: rate exceeded",
    ),
    (
        CommandStatus::ESME_RINVSCHED,
        "ESME_RINVSCHED",
        "invalid schedule_delivery_time",
    ),
    (
        CommandStatus::ESME_RINVEXPIRY,
        "ESME_RINVEXPIRY",
        "invalid validity_period",
    ),
    (
        CommandStatus::ESME_RINVDFTMSGID,
        "ESME_RINVDFTMSGID",
        "predefined message invalid or not found",
    ),
    (
        CommandStatus::ESME_RX_T_APPN,
        "ESME_RX_T_APPN",
        "receiving ESME: temporary application error",
    ),
    (
        CommandStatus::ESME_RX_P_APPN,
        "ESME_RX_P_APPN",
        "receiving ESME: permanent application error",
    ),
    (
        CommandStatus::ESME_RX_R_APPN,
        "ESME_RX_R_APPN",
        "receiving ESME: message rejected",
    ),
    (
        CommandStatus::ESME_RQUERYFAIL,
        "ESME_RQUERYFAIL",
        "query_sm failed",
    ),
    (
        CommandStatus::ESME_RINVOPTPARSTREAM,
        "ESME_RINVOPTPARSTREAM",
        "error in the optional part of the PDU body",
    ),
    (
        CommandStatus::ESME_ROPTPARNOTALLWD,
        "ESME_ROPTPARNOTALLWD",
        "optional parameter not allowed",
    ),
    (
        CommandStatus::ESME_RINVPARLEN,
        "ESME_RINVPARLEN",
        "invalid parameter length",
    ),
    (
        CommandStatus::ESME_RMISSINGOPTPARAM,
        "ESME_RMISSINGOPTPARAM",
        "expected optional parameter missing",
    ),
    (
        CommandStatus::ESME_RINVOPTPARAMVAL,
        "ESME_RINVOPTPARAMVAL",
        "invalid optional parameter value",
    ),
    (
        CommandStatus::ESME_RDELIVERYFAILURE,
        "ESME_RDELIVERYFAILURE",
        "delivery failure",
    ),
    (
        CommandStatus::ESME_RUNKNOWNERR,
        "ESME_RUNKNOWNERR",
        "unknown error",
    ),
    (
        CommandStatus::ESME_RSERTYPUNAUTH,
        "ESME_RSERTYPUNAUTH",
        "SMPP 5.0: not authorised to use service_type",
    ),
    (
        CommandStatus::ESME_RPROHIBITED,
        "ESME_RPROHIBITED",
        "SMPP 5.0: prohibited",
    ),
    (
        CommandStatus::ESME_RSERTYPUNAVAIL,
        "ESME_RSERTYPUNAVAIL",
        "SMPP 5.0: service_type unavailable",
    ),
    (
        CommandStatus::ESME_RSERTYPDENIED,
        "ESME_RSERTYPDENIED",
        "SMPP 5.0: service_type denied",
    ),
    (
        CommandStatus::ESME_RINVDCS,
        "ESME_RINVDCS",
        "SMPP 5.0: invalid data_coding",
    ),
    (
        CommandStatus::ESME_RINVSRCADDRSUBUNIT,
        "ESME_RINVSRCADDRSUBUNIT",
        "SMPP 5.0: invalid source address subunit",
    ),
    (
        CommandStatus::ESME_RINVDSTADDRSUBUNIT,
        "ESME_RINVDSTADDRSUBUNIT",
        "SMPP 5.0: invalid destination address subunit",
    ),
    (
        CommandStatus::ESME_RINVBCASTFREQINT,
        "ESME_RINVBCASTFREQINT",
        "SMPP 5.0: invalid broadcast frequency interval",
    ),
    (
        CommandStatus::ESME_RINVBCASTALIAS_NAME,
        "ESME_RINVBCASTALIAS_NAME",
        "SMPP 5.0: invalid broadcast alias name",
    ),
    (
        CommandStatus::ESME_RINVBCASTAREAFMT,
        "ESME_RINVBCASTAREAFMT",
        "SMPP 5.0: invalid broadcast area format",
    ),
    (
        CommandStatus::ESME_RINVNUMBCAST_AREAS,
        "ESME_RINVNUMBCAST_AREAS",
        "SMPP 5.0: invalid number of broadcast areas",
    ),
    (
        CommandStatus::ESME_RINVBCASTCNTTYPE,
        "ESME_RINVBCASTCNTTYPE",
        "SMPP 5.0: invalid broadcast content type",
    ),
    (
        CommandStatus::ESME_RINVBCASTMSGCLASS,
        "ESME_RINVBCASTMSGCLASS",
        "SMPP 5.0: invalid broadcast message class",
    ),
    (
        CommandStatus::ESME_RBCASTFAIL,
        "ESME_RBCASTFAIL",
        "SMPP 5.0: broadcast_sm failed",
    ),
    (
        CommandStatus::ESME_RBCASTQUERYFAIL,
        "ESME_RBCASTQUERYFAIL",
        "SMPP 5.0: query_broadcast_sm failed",
    ),
    (
        CommandStatus::ESME_RBCASTCANCELFAIL,
        "ESME_RBCASTCANCELFAIL",
        "SMPP 5.0: cancel_broadcast_sm failed",
    ),
    (
        CommandStatus::ESME_RINVBCAST_REP,
        "ESME_RINVBCAST_REP",
        "SMPP 5.0: invalid number of repeated broadcasts",
    ),
    (
        CommandStatus::ESME_RINVBCASTSRVGRP,
        "ESME_RINVBCASTSRVGRP",
        "SMPP 5.0: invalid broadcast service group",
    ),
    (
        CommandStatus::ESME_RINVBCASTCHANIND,
        "ESME_RINVBCASTCHANIND",
        "SMPP 5.0: invalid broadcast channel indicator",
    ),
];

impl CommandStatus {
    /// The spec's name (`ESME_RINVDSTADR`), or `None` for a value no spec names.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|(_, name, _)| name)
    }

    /// A short description of the code, for logs and people.
    pub fn description(self) -> &'static str {
        match self.entry() {
            Some((_, _, description)) => description,
            None if (0x400..=0x4FF).contains(&self.0) => "SMSC vendor-specific error",
            None => "reserved",
        }
    }

    /// Looks a code up by its spec name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(status, _, _)| *status)
    }

    /// Whether this is `ESME_ROK`.
    pub fn is_ok(self) -> bool {
        self == Self::ESME_ROK
    }

    fn entry(self) -> Option<(Self, &'static str, &'static str)> {
        TABLE
            .binary_search_by_key(&self.0, |(status, _, _)| status.0)
            .ok()
            .and_then(|i| TABLE.get(i).copied())
    }
}

impl fmt::Debug for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for CommandStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 .0 < w[1].0 .0));
    }

    #[test]
    fn names_and_unknowns() {
        assert_eq!(CommandStatus(0x0B).name(), Some("ESME_RINVDSTADR"));
        assert_eq!(CommandStatus::ESME_RTHROTTLED.0, 0x58);
        assert_eq!(CommandStatus(0x09).name(), None);
        assert_eq!(CommandStatus(0x09).to_string(), "0x00000009");
        assert_eq!(
            CommandStatus(0x401).description(),
            "SMSC vendor-specific error"
        );
        assert_eq!(
            CommandStatus::from_name("esme_rmsgqful"),
            Some(CommandStatus::ESME_RMSGQFUL)
        );
    }
}
