//! The sans-IO admit table (`session::machine::admit`) against SMPP 3.4 as smpp34.md §4.2 writes
//! it: random sequences of requests from the peer, binds and unbinds, on either side of the
//! gateway. Every request gets the verdict the spec's table gives in the state the sequence has
//! reached, never a panic and never a status the table does not name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use smpp_proto::{CommandId, CommandStatus};
use smppd::session::machine::{admit, Admit, BindKind, BindState, Role};

/// Who sends a request toward whom (smpp34.md §3 "Sent by", §4.2 "Direction").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// ESME → SMSC ("→S").
    ToSmsc,
    /// SMSC → ESME ("→E").
    ToEsme,
}

/// smpp34.md §4.2, one row per (request, direction): valid in OPEN, BOUND_TX, BOUND_RX,
/// BOUND_TRX. Binds, enquire_link and generic_nack have their own rules (see `expected`).
const TABLE: [(CommandId, Direction, [bool; 4]); 12] = {
    use CommandId as C;
    use Direction::{ToEsme, ToSmsc};
    [
        (C::Outbind, ToEsme, [true, false, false, false]),
        (C::Unbind, ToSmsc, [false, true, true, true]),
        (C::Unbind, ToEsme, [false, true, true, true]),
        (C::SubmitSm, ToSmsc, [false, true, false, true]),
        (C::SubmitMulti, ToSmsc, [false, true, false, true]),
        (C::QuerySm, ToSmsc, [false, true, false, true]),
        (C::CancelSm, ToSmsc, [false, true, false, true]),
        (C::ReplaceSm, ToSmsc, [false, true, false, true]),
        (C::DataSm, ToSmsc, [false, true, false, true]),
        (C::DataSm, ToEsme, [false, false, true, true]),
        (C::DeliverSm, ToEsme, [false, false, true, true]),
        (C::AlertNotification, ToEsme, [false, false, true, true]),
    ]
};

const BINDS: [CommandId; 3] = [
    CommandId::BindTransmitter,
    CommandId::BindReceiver,
    CommandId::BindTransceiver,
];

/// The verdict SMPP 3.4 gives a request arriving from the peer of `role` in `state`.
fn expected(role: Role, state: BindState, command: CommandId) -> Admit {
    let refuse = Admit::Refuse(CommandStatus::ESME_RINVBNDSTS);
    // The peer sends toward us.
    let direction = match role {
        Role::Smsc => Direction::ToSmsc,
        Role::Esme => Direction::ToEsme,
    };
    // enquire_link is answered in any state (§4.2, §13.2); generic_nack is valid in all.
    if matches!(command, CommandId::EnquireLink | CommandId::GenericNack) {
        return Admit::Accept;
    }
    let column = match state {
        BindState::Open => 0,
        BindState::Bound(BindKind::Transmitter) => 1,
        BindState::Bound(BindKind::Receiver) => 2,
        BindState::Bound(BindKind::Transceiver) => 3,
        // §14: once an unbind is under way, only unbind itself is still taken.
        BindState::Unbinding => {
            return if command == CommandId::Unbind {
                Admit::Accept
            } else {
                refuse
            };
        }
    };
    if BINDS.contains(&command) {
        // §4.2: a bind on a bound session is RALYBND; binds go to the SMSC only.
        return match (column, direction) {
            (0, Direction::ToSmsc) => Admit::Accept,
            (0, Direction::ToEsme) => refuse,
            _ => Admit::Refuse(CommandStatus::ESME_RALYBND),
        };
    }
    let valid = TABLE
        .iter()
        .any(|&(c, d, states)| c == command && d == direction && states[column]);
    if valid {
        Admit::Accept
    } else {
        refuse
    }
}

/// Requests a peer can send: every 3.4 command without bit 31, and generic_nack.
fn request() -> impl Strategy<Value = CommandId> {
    let requests: Vec<CommandId> = CommandId::ALL
        .into_iter()
        .filter(|c| !c.is_response() || *c == CommandId::GenericNack)
        .collect();
    proptest::sample::select(requests)
}

fn bind_kind() -> impl Strategy<Value = BindKind> {
    prop_oneof![
        Just(BindKind::Transmitter),
        Just(BindKind::Receiver),
        Just(BindKind::Transceiver),
    ]
}

/// One thing that happens on a session.
#[derive(Clone, Debug)]
enum Step {
    /// The peer sends a request; if it is an admitted bind, the account check gives `ok`.
    Peer(CommandId, bool),
    /// We bind (as an ESME) and the SMSC answers `ok` or not.
    OurBind(BindKind, bool),
    /// We send unbind.
    OurUnbind,
    /// The unbind exchange ends or the connection drops: a new session starts.
    Reconnect,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (request(), any::<bool>()).prop_map(|(c, ok)| Step::Peer(c, ok)),
        2 => (bind_kind(), any::<bool>()).prop_map(|(k, ok)| Step::OurBind(k, ok)),
        1 => Just(Step::OurUnbind),
        1 => Just(Step::Reconnect),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Smsc), Just(Role::Esme)]
}

/// Runs `steps` on a session of `role`, checking every verdict; returns the states visited.
fn run(role: Role, steps: &[Step]) -> Vec<BindState> {
    let mut state = BindState::Open;
    let mut visited = vec![state];
    for step in steps {
        match *step {
            Step::Peer(command, ok) => {
                let verdict = admit(role, state, command);
                assert_eq!(
                    verdict,
                    expected(role, state, command),
                    "{role:?} in {state:?} given {command}"
                );
                if verdict == Admit::Accept {
                    match command {
                        CommandId::Unbind => state = BindState::Unbinding,
                        c if BINDS.contains(&c) && ok => {
                            state = BindState::Bound(BindKind::of(c).unwrap());
                        }
                        // A refused bind is answered and the connection closed.
                        c if BINDS.contains(&c) => state = BindState::Open,
                        _ => {}
                    }
                }
            }
            Step::OurBind(kind, ok) => {
                // Only an ESME binds, and only on an open session.
                if role == Role::Esme && state == BindState::Open && ok {
                    state = BindState::Bound(kind);
                }
            }
            Step::OurUnbind => {
                if matches!(state, BindState::Bound(_)) {
                    state = BindState::Unbinding;
                }
            }
            Step::Reconnect => state = BindState::Open,
        }
        visited.push(state);
    }
    visited
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_sessions_follow_the_spec_table(
        role in role(),
        steps in proptest::collection::vec(step(), 0..64),
    ) {
        run(role, &steps);
    }
}

/// Every (role, state, command), requests and responses alike: never a panic, and a refusal
/// is one of the two statuses the table names, never ESME_ROK.
#[test]
fn every_combination_has_a_defined_verdict() {
    let states = [
        BindState::Open,
        BindState::Bound(BindKind::Transmitter),
        BindState::Bound(BindKind::Receiver),
        BindState::Bound(BindKind::Transceiver),
        BindState::Unbinding,
    ];
    for role in [Role::Smsc, Role::Esme] {
        for state in states {
            for command in CommandId::ALL {
                match admit(role, state, command) {
                    Admit::Accept => {}
                    Admit::Refuse(status) => assert!(
                        [CommandStatus::ESME_RINVBNDSTS, CommandStatus::ESME_RALYBND]
                            .contains(&status),
                        "{role:?} {state:?} {command}: {status}"
                    ),
                }
                if !command.is_response() || command == CommandId::GenericNack {
                    assert_eq!(admit(role, state, command), expected(role, state, command));
                }
            }
        }
    }
}

/// The sequences reach every state on both sides, so the table is checked in each of them.
#[test]
fn sequences_reach_every_state() {
    use BindKind::{Receiver, Transceiver, Transmitter};
    let smsc = run(
        Role::Smsc,
        &[
            Step::Peer(CommandId::BindReceiver, true),
            Step::Peer(CommandId::Unbind, true),
            Step::Reconnect,
            Step::Peer(CommandId::BindTransmitter, true),
            Step::Reconnect,
            Step::Peer(CommandId::BindTransceiver, true),
        ],
    );
    let esme = run(
        Role::Esme,
        &[
            Step::OurBind(Transceiver, true),
            Step::OurUnbind,
            Step::Reconnect,
            Step::OurBind(Receiver, true),
            Step::Reconnect,
            Step::OurBind(Transmitter, true),
        ],
    );
    for visited in [smsc, esme] {
        for state in [
            BindState::Open,
            BindState::Bound(Transmitter),
            BindState::Bound(Receiver),
            BindState::Bound(Transceiver),
            BindState::Unbinding,
        ] {
            assert!(
                visited.contains(&state),
                "{state:?} not reached: {visited:?}"
            );
        }
    }
}

/// Bind kinds agree with their commands and with what each side may send on them.
#[test]
fn bind_kinds_match_their_commands() {
    for kind in [
        BindKind::Transmitter,
        BindKind::Receiver,
        BindKind::Transceiver,
    ] {
        assert_eq!(BindKind::of(kind.command()), Some(kind));
        assert_eq!(BindKind::of(kind.command().response().unwrap()), Some(kind));
        let column = match kind {
            BindKind::Transmitter => 1,
            BindKind::Receiver => 2,
            BindKind::Transceiver => 3,
        };
        let submit_row = TABLE
            .iter()
            .find(|(c, d, _)| *c == CommandId::SubmitSm && *d == Direction::ToSmsc)
            .unwrap();
        let deliver_row = TABLE
            .iter()
            .find(|(c, _, _)| *c == CommandId::DeliverSm)
            .unwrap();
        assert_eq!(kind.can_submit(), submit_row.2[column]);
        assert_eq!(kind.can_receive(), deliver_row.2[column]);
    }
}
