//! The sans-IO part of a session: which side we are, the bind state, and which PDUs each state
//! admits (SMPP 3.4 §2.3, the table in smpp34.md §4.2).

use smpp_proto::{CommandId, CommandStatus};

/// Which side of the SMPP relationship this end of the session plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We are the SMSC: ESMEs bind to us (the client-facing server).
    Smsc,
    /// We are the ESME: we bind to a carrier's SMSC (carrier links).
    Esme,
}

/// How a session is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BindKind {
    /// bind_transmitter: the ESME submits.
    Transmitter,
    /// bind_receiver: the SMSC delivers.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

impl BindKind {
    /// The bind request's command.
    pub fn command(self) -> CommandId {
        match self {
            Self::Transmitter => CommandId::BindTransmitter,
            Self::Receiver => CommandId::BindReceiver,
            Self::Transceiver => CommandId::BindTransceiver,
        }
    }

    /// The bind kind of a bind request or response command.
    pub fn of(command: CommandId) -> Option<Self> {
        match command {
            CommandId::BindTransmitter | CommandId::BindTransmitterResp => Some(Self::Transmitter),
            CommandId::BindReceiver | CommandId::BindReceiverResp => Some(Self::Receiver),
            CommandId::BindTransceiver | CommandId::BindTransceiverResp => Some(Self::Transceiver),
            _ => None,
        }
    }

    /// Whether the ESME side may submit on this bind.
    pub fn can_submit(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }

    /// Whether the SMSC side may deliver on this bind.
    pub fn can_receive(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }

    /// Lower-case name, as in the config (`transmitter`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Transmitter => "transmitter",
            Self::Receiver => "receiver",
            Self::Transceiver => "transceiver",
        }
    }
}

/// The session's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindState {
    /// Connected, not bound.
    Open,
    /// Bound.
    Bound(BindKind),
    /// An unbind was sent or received; only unbind_resp and generic_nack are expected.
    Unbinding,
}

/// What to do with a request that arrived in the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Hand it to the service.
    Accept,
    /// Answer with this status without looking at it (its `_resp`, or generic_nack for
    /// commands that have no response).
    Refuse(CommandStatus),
}

/// SMPP 3.4 §2.3: whether a request arriving from the peer is valid in `state` for `role`.
/// enquire_link is answered in every state (as most SMSCs do, and SMPP 5.0 allows).
pub fn admit(role: Role, state: BindState, command: CommandId) -> Admit {
    use CommandId as C;
    let refuse = Admit::Refuse(CommandStatus::ESME_RINVBNDSTS);
    match (command, state) {
        (C::EnquireLink | C::GenericNack, _) => Admit::Accept,
        (_, BindState::Unbinding) if command != C::Unbind => refuse,
        (C::BindTransmitter | C::BindReceiver | C::BindTransceiver, BindState::Open) => {
            if role == Role::Smsc {
                Admit::Accept
            } else {
                refuse
            }
        }
        (C::BindTransmitter | C::BindReceiver | C::BindTransceiver, _) => {
            Admit::Refuse(CommandStatus::ESME_RALYBND)
        }
        (C::Unbind, BindState::Open) => refuse,
        (C::Unbind, _) => Admit::Accept,
        (C::Outbind, BindState::Open) if role == Role::Esme => Admit::Accept,
        (
            C::SubmitSm | C::SubmitMulti | C::QuerySm | C::CancelSm | C::ReplaceSm,
            BindState::Bound(kind),
        ) if role == Role::Smsc && kind.can_submit() => Admit::Accept,
        (C::DataSm, BindState::Bound(kind)) => {
            let allowed = match role {
                Role::Smsc => kind.can_submit(),
                Role::Esme => kind.can_receive(),
            };
            if allowed {
                Admit::Accept
            } else {
                refuse
            }
        }
        (C::DeliverSm | C::AlertNotification, BindState::Bound(kind))
            if role == Role::Esme && kind.can_receive() =>
        {
            Admit::Accept
        }
        _ => refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BindKind::*;
    use CommandId as C;

    #[test]
    fn smsc_admit_table() {
        let smsc = |state, command| admit(Role::Smsc, state, command);
        let rinvbndsts = Admit::Refuse(CommandStatus::ESME_RINVBNDSTS);
        assert_eq!(smsc(BindState::Open, C::BindTransceiver), Admit::Accept);
        assert_eq!(smsc(BindState::Open, C::SubmitSm), rinvbndsts);
        assert_eq!(smsc(BindState::Open, C::Unbind), rinvbndsts);
        assert_eq!(smsc(BindState::Open, C::EnquireLink), Admit::Accept);
        assert_eq!(
            smsc(BindState::Bound(Transmitter), C::BindTransmitter),
            Admit::Refuse(CommandStatus::ESME_RALYBND)
        );
        assert_eq!(
            smsc(BindState::Bound(Transmitter), C::SubmitSm),
            Admit::Accept
        );
        assert_eq!(
            smsc(BindState::Bound(Transceiver), C::SubmitMulti),
            Admit::Accept
        );
        assert_eq!(smsc(BindState::Bound(Receiver), C::SubmitSm), rinvbndsts);
        assert_eq!(smsc(BindState::Bound(Receiver), C::DataSm), rinvbndsts);
        assert_eq!(smsc(BindState::Bound(Receiver), C::QuerySm), rinvbndsts);
        assert_eq!(
            smsc(BindState::Bound(Transceiver), C::DeliverSm),
            rinvbndsts
        );
        assert_eq!(smsc(BindState::Bound(Receiver), C::Unbind), Admit::Accept);
        assert_eq!(smsc(BindState::Unbinding, C::SubmitSm), rinvbndsts);
        assert_eq!(smsc(BindState::Unbinding, C::EnquireLink), Admit::Accept);
    }

    #[test]
    fn esme_admit_table() {
        let esme = |state, command| admit(Role::Esme, state, command);
        let rinvbndsts = Admit::Refuse(CommandStatus::ESME_RINVBNDSTS);
        assert_eq!(
            esme(BindState::Bound(Receiver), C::DeliverSm),
            Admit::Accept
        );
        assert_eq!(
            esme(BindState::Bound(Transmitter), C::DeliverSm),
            rinvbndsts
        );
        assert_eq!(
            esme(BindState::Bound(Transceiver), C::DataSm),
            Admit::Accept
        );
        assert_eq!(esme(BindState::Bound(Transceiver), C::SubmitSm), rinvbndsts);
        assert_eq!(esme(BindState::Open, C::BindTransmitter), rinvbndsts);
        assert_eq!(esme(BindState::Open, C::Outbind), Admit::Accept);
    }
}
