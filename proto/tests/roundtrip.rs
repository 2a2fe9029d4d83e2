//! Property tests for the codec: every valid PDU survives encode → decode unchanged, every
//! known TLV round trips and is checked for length, and the decoder never panics, whatever the
//! bytes; whatever it accepts, it encodes back to something it decodes the same way.

// Strategy helpers are plain fns, which clippy does not count as tests (rust-clippy #11119):
// their `unwrap`s wrap values the strategies already bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{BufMut, Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::pdu::{
    Address, AlertNotification, Bind, BindResp, CancelSm, DataSm, DestAddress, MessageIdResp,
    Outbind, QuerySm, QuerySmResp, ReplaceSm, ShortMessage, SubmitMulti, SubmitMultiResp, SubmitSm,
    UnsuccessSme,
};
use smpp_proto::tlv::Kind;
use smpp_proto::{
    Body, COctetString, CommandId, CommandStatus, DecodeError, Header, MessageState, Pdu, Tag, Tlv,
    TlvValue, Tlvs, HEADER_LEN,
};

/// The largest `message_payload` the mixed-TLV strategies make; the 65535-octet maximum has
/// its own test.
const PAYLOAD_CAP: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Strategies: values.

/// A length in `min..=max`, with both ends drawn often.
fn length(min: usize, max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(min), 1 => Just(max), 4 => min..=max]
}

/// `min..=max` arbitrary octets.
fn octets(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    length(min, max).prop_flat_map(|len| vec(any::<u8>(), len))
}

/// `min..=max` octets, none of them NUL.
fn non_nul(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    length(min, max).prop_flat_map(|len| vec(1u8..=255, len))
}

/// A C-Octet String of every length its field allows (0 to `MAX - 1` octets before the NUL).
fn cstring<const MAX: usize>() -> impl Strategy<Value = COctetString<MAX>> {
    non_nul(0, MAX - 1).prop_map(|v| COctetString::new(v).unwrap())
}

/// An address of any TON and NPI, its digits of every length the field allows.
fn address<const MAX: usize>() -> impl Strategy<Value = Address<MAX>> {
    (any::<u8>(), any::<u8>(), cstring()).prop_map(|(ton, npi, addr)| Address::new(ton, npi, addr))
}

/// An SMPP time field: NULL or 16 characters (their meaning is not the codec's business).
fn time() -> impl Strategy<Value = COctetString<17>> {
    prop_oneof![
        Just(COctetString::empty()),
        vec(1u8..=255, 16).prop_map(|v| COctetString::new(v).unwrap()),
        "[0-9]{12}[0-4][0-9]{2}[-+R]".prop_map(|s| COctetString::try_from(s).unwrap()),
    ]
}

fn short_message() -> impl Strategy<Value = ShortMessage> {
    octets(0, ShortMessage::MAX).prop_map(|v| ShortMessage::new(v).unwrap())
}

fn status() -> impl Strategy<Value = CommandStatus> {
    prop_oneof![
        3 => Just(CommandStatus::ESME_ROK),
        1 => select(vec![
            CommandStatus::ESME_RINVMSGLEN,
            CommandStatus::ESME_RSYSERR,
            CommandStatus::ESME_RTHROTTLED,
            CommandStatus::ESME_RINVDSTADR,
            CommandStatus::ESME_RINVOPTPARSTREAM,
        ]),
        1 => any::<u32>().prop_map(CommandStatus),
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies: TLVs.

/// A valid value for a known tag, shaped by its [`Kind`]; octet strings of `min..=max` octets
/// (the ends drawn often: callback_num 4 and 19, subaddresses 2 and 23, …), capped at `cap`.
fn known_value(tag: Tag, cap: usize) -> BoxedStrategy<TlvValue> {
    match tag.kind().expect("a known tag") {
        Kind::U8 => any::<u8>().prop_map(TlvValue::U8).boxed(),
        Kind::U16 => any::<u16>().prop_map(TlvValue::U16).boxed(),
        Kind::U32 => any::<u32>().prop_map(TlvValue::U32).boxed(),
        Kind::CString { max } => non_nul(0, max - 1)
            .prop_map(|v| TlvValue::CString(v.into()))
            .boxed(),
        Kind::Octets { min, max } => octets(min, max.min(cap))
            .prop_map(|v| TlvValue::Octets(v.into()))
            .boxed(),
    }
}

fn known_tlv_of(tag: Tag, cap: usize) -> impl Strategy<Value = Tlv> {
    known_value(tag, cap).prop_map(move |value| Tlv::new(tag, value).unwrap())
}

fn known_tlv() -> impl Strategy<Value = Tlv> {
    select(Tag::all().collect::<Vec<_>>()).prop_flat_map(|tag| known_tlv_of(tag, PAYLOAD_CAP))
}

/// A tag SMPP 3.4 does not define: vendor-specific, SMPP 5.0, or reserved.
fn unknown_tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        0x1400u16..=0x3FFF,
        0x0600u16..=0x0613,
        Just(0x0428u16),
        Just(0x0000u16),
        Just(0xFFFFu16),
        any::<u16>(),
    ]
    .prop_map(Tag)
    .prop_filter("a tag SMPP 3.4 defines", |tag| tag.kind().is_none())
}

fn unknown_tlv() -> impl Strategy<Value = Tlv> {
    (unknown_tag(), octets(0, 300))
        .prop_map(|(tag, v)| Tlv::new(tag, TlvValue::Octets(v.into())).unwrap())
}

fn tlvs() -> impl Strategy<Value = Tlvs> {
    vec(prop_oneof![3 => known_tlv(), 1 => unknown_tlv()], 0..=6)
        .prop_map(|v| v.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// Strategies: bodies.

prop_compose! {
    fn bind()(
        system_id in cstring(),
        password in cstring(),
        system_type in cstring(),
        interface_version in any::<u8>(),
        address_range in address(),
    ) -> Bind {
        Bind { system_id, password, system_type, interface_version, address_range }
    }
}

/// Bodies a header-only error response decodes to are drawn often.
fn bind_resp() -> impl Strategy<Value = BindResp> {
    prop_oneof![
        1 => Just(BindResp::default()),
        3 => (cstring(), tlvs()).prop_map(|(system_id, tlvs)| BindResp { system_id, tlvs }),
    ]
}

prop_compose! {
    fn outbind()(system_id in cstring(), password in cstring()) -> Outbind {
        Outbind { system_id, password }
    }
}

prop_compose! {
    fn submit_sm()(
        (service_type, source, destination) in (cstring(), address(), address()),
        (esm_class, protocol_id, priority_flag) in any::<(u8, u8, u8)>(),
        (schedule_delivery_time, validity_period) in (time(), time()),
        (registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id) in
            any::<(u8, u8, u8, u8)>(),
        short_message in short_message(),
        tlvs in tlvs(),
    ) -> SubmitSm {
        SubmitSm {
            service_type, source, destination, esm_class, protocol_id, priority_flag,
            schedule_delivery_time, validity_period, registered_delivery,
            replace_if_present_flag, data_coding, sm_default_msg_id, short_message, tlvs,
        }
    }
}

fn message_id_resp() -> impl Strategy<Value = MessageIdResp> {
    prop_oneof![
        1 => Just(MessageIdResp::default()),
        3 => (cstring(), tlvs())
            .prop_map(|(message_id, tlvs)| MessageIdResp { message_id, tlvs }),
    ]
}

fn dest_address() -> impl Strategy<Value = DestAddress> {
    prop_oneof![
        address().prop_map(DestAddress::Sme),
        cstring().prop_map(|dl_name| DestAddress::DistributionList { dl_name }),
    ]
}

prop_compose! {
    fn submit_multi()(
        (service_type, source) in (cstring(), address()),
        // number_of_dests is 1 to 254 (SMPP 3.4 §4.5.1).
        dest_address in length(1, 254).prop_flat_map(|n| vec(dest_address(), n)),
        (esm_class, protocol_id, priority_flag) in any::<(u8, u8, u8)>(),
        (schedule_delivery_time, validity_period) in (time(), time()),
        (registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id) in
            any::<(u8, u8, u8, u8)>(),
        short_message in short_message(),
        tlvs in tlvs(),
    ) -> SubmitMulti {
        SubmitMulti {
            service_type, source,
            dest_address: dest_address.try_into().unwrap(),
            esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period,
            registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id,
            short_message, tlvs,
        }
    }
}

prop_compose! {
    fn unsuccess_sme()(
        destination in address(),
        error_status_code in any::<u32>(),
    ) -> UnsuccessSme {
        UnsuccessSme { destination, error_status_code: CommandStatus(error_status_code) }
    }
}

fn submit_multi_resp() -> impl Strategy<Value = SubmitMultiResp> {
    let full = (
        cstring(),
        length(0, 255).prop_flat_map(|n| vec(unsuccess_sme(), n)),
        tlvs(),
    )
        .prop_map(|(message_id, unsuccess, tlvs)| SubmitMultiResp {
            message_id,
            unsuccess_sme: unsuccess.try_into().unwrap(),
            tlvs,
        });
    prop_oneof![1 => Just(SubmitMultiResp::default()), 3 => full]
}

prop_compose! {
    fn data_sm()(
        (service_type, source, destination) in (cstring(), address(), address()),
        (esm_class, registered_delivery, data_coding) in any::<(u8, u8, u8)>(),
        tlvs in tlvs(),
    ) -> DataSm {
        DataSm {
            service_type, source, destination, esm_class, registered_delivery, data_coding, tlvs,
        }
    }
}

prop_compose! {
    fn query_sm()(
        message_id in cstring(),
        source in address(),
        tlvs in tlvs(),
    ) -> QuerySm {
        QuerySm { message_id, source, tlvs }
    }
}

fn query_sm_resp() -> impl Strategy<Value = QuerySmResp> {
    let full = (cstring(), time(), any::<u8>(), any::<u8>(), tlvs()).prop_map(
        |(message_id, final_date, state, error_code, tlvs)| QuerySmResp {
            message_id,
            final_date,
            message_state: MessageState(state),
            error_code,
            tlvs,
        },
    );
    prop_oneof![1 => Just(QuerySmResp::default()), 3 => full]
}

prop_compose! {
    fn cancel_sm()(
        (service_type, message_id) in (cstring(), cstring()),
        (source, destination) in (address(), address()),
        tlvs in tlvs(),
    ) -> CancelSm {
        CancelSm { service_type, message_id, source, destination, tlvs }
    }
}

prop_compose! {
    fn replace_sm()(
        (message_id, source) in (cstring(), address()),
        (schedule_delivery_time, validity_period) in (time(), time()),
        (registered_delivery, sm_default_msg_id) in any::<(u8, u8)>(),
        short_message in short_message(),
        tlvs in tlvs(),
    ) -> ReplaceSm {
        ReplaceSm {
            message_id, source, schedule_delivery_time, validity_period, registered_delivery,
            sm_default_msg_id, short_message, tlvs,
        }
    }
}

prop_compose! {
    fn alert_notification()(
        (source, esme) in (address(), address()),
        tlvs in tlvs(),
    ) -> AlertNotification {
        AlertNotification { source, esme, tlvs }
    }
}

/// Every [`Body`] variant, header-only ones included.
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::GenericNack),
        bind().prop_map(Body::BindReceiver),
        bind_resp().prop_map(Body::BindReceiverResp),
        bind().prop_map(Body::BindTransmitter),
        bind_resp().prop_map(Body::BindTransmitterResp),
        query_sm().prop_map(Body::QuerySm),
        query_sm_resp().prop_map(Body::QuerySmResp),
        submit_sm().prop_map(Body::SubmitSm),
        message_id_resp().prop_map(Body::SubmitSmResp),
        submit_sm().prop_map(Body::DeliverSm),
        message_id_resp().prop_map(Body::DeliverSmResp),
        Just(Body::Unbind),
        Just(Body::UnbindResp),
        replace_sm().prop_map(Body::ReplaceSm),
        Just(Body::ReplaceSmResp),
        cancel_sm().prop_map(Body::CancelSm),
        Just(Body::CancelSmResp),
        bind().prop_map(Body::BindTransceiver),
        bind_resp().prop_map(Body::BindTransceiverResp),
        outbind().prop_map(Body::Outbind),
        Just(Body::EnquireLink),
        Just(Body::EnquireLinkResp),
        submit_multi().prop_map(Body::SubmitMulti),
        submit_multi_resp().prop_map(Body::SubmitMultiResp),
        alert_notification().prop_map(Body::AlertNotification),
        data_sm().prop_map(Body::DataSm),
        message_id_resp().prop_map(Body::DataSmResp),
    ]
}

prop_compose! {
    fn pdu()(command_status in status(), sequence_number in any::<u32>(), body in body())
        -> Pdu {
        Pdu::with_status(sequence_number, command_status, body)
    }
}

/// The response bodies that may travel header-only, each in its "absent" form.
fn absent_bodies() -> Vec<Body> {
    vec![
        Body::GenericNack,
        Body::BindReceiverResp(BindResp::default()),
        Body::BindTransmitterResp(BindResp::default()),
        Body::BindTransceiverResp(BindResp::default()),
        Body::QuerySmResp(QuerySmResp::default()),
        Body::SubmitSmResp(MessageIdResp::default()),
        Body::DeliverSmResp(MessageIdResp::default()),
        Body::DataSmResp(MessageIdResp::default()),
        Body::SubmitMultiResp(SubmitMultiResp::default()),
        Body::UnbindResp,
        Body::ReplaceSmResp,
        Body::CancelSmResp,
        Body::EnquireLinkResp,
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The full round-trip property: length bookkeeping, header fields, and decode(encode(p)) == p.
fn assert_round_trip(pdu: &Pdu) -> Result<Bytes, TestCaseError> {
    let bytes = pdu.to_bytes();
    prop_assert_eq!(pdu.encoded_len(), bytes.len());
    let header = Header::peek(&bytes).expect("at least a header");
    prop_assert_eq!(header.command_length as usize, bytes.len());
    prop_assert_eq!(header.command_id, pdu.command_id().as_u32());
    prop_assert_eq!(header.command_status, pdu.command_status);
    prop_assert_eq!(header.sequence_number, pdu.sequence_number);
    prop_assert_eq!(Pdu::decode(&bytes), Ok(pdu.clone()));
    // Encoding appends: what was in the buffer stays.
    let mut out = BytesMut::from(&b"xy"[..]);
    pdu.encode(&mut out);
    prop_assert_eq!(&out[..2], b"xy");
    prop_assert_eq!(&out[2..], &bytes[..]);
    Ok(bytes)
}

/// What must hold for any decode result: errors describe themselves and map to a status;
/// an accepted PDU encodes to octets that decode to the same PDU.
fn assert_stable(result: &Result<Pdu, DecodeError>) -> Result<(), TestCaseError> {
    match result {
        Ok(pdu) => {
            let again = pdu.to_bytes();
            prop_assert_eq!(pdu.encoded_len(), again.len());
            prop_assert_eq!(&Pdu::decode(&again), result);
        }
        Err(err) => {
            let status = err.status();
            prop_assert!(!status.is_ok(), "{err} maps to ESME_ROK");
            prop_assert!(!err.to_string().is_empty());
            let _ = err.wants_generic_nack();
            let _ = format!("{err:?} {}", err.kind);
        }
    }
    Ok(())
}

/// A frame with a correct `command_length` around `body`.
fn frame(command_id: u32, command_status: u32, sequence_number: u32, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    out.put_u32(u32::try_from(HEADER_LEN + body.len()).unwrap());
    out.put_u32(command_id);
    out.put_u32(command_status);
    out.put_u32(sequence_number);
    out.put_slice(body);
    out.freeze()
}

/// Rewrites `command_length` to the buffer's length.
fn fix_length(bytes: &mut [u8]) {
    let len = u32::try_from(bytes.len()).unwrap();
    if let Some(head) = bytes.get_mut(..4) {
        head.copy_from_slice(&len.to_be_bytes());
    }
}

/// A data_sm with NULL mandatory fields, as the host for single-TLV tests.
fn data_sm_with(tlvs: Tlvs) -> Pdu {
    Pdu::new(
        7,
        Body::DataSm(DataSm {
            tlvs,
            ..DataSm::default()
        }),
    )
}

/// A TLV as it is on the wire.
fn tlv_octets(tlv: &Tlv) -> Vec<u8> {
    let base = data_sm_with(Tlvs::new()).encoded_len();
    data_sm_with(std::iter::once(tlv.clone()).collect()).to_bytes()[base..].to_vec()
}

/// The PDU bodies that carry TLVs, each holding exactly `tlv`.
fn hosts(tlv: &Tlv) -> Vec<Pdu> {
    let tlvs: Tlvs = std::iter::once(tlv.clone()).collect();
    vec![
        data_sm_with(tlvs.clone()),
        Pdu::new(
            1,
            Body::DeliverSm(SubmitSm {
                tlvs: tlvs.clone(),
                ..SubmitSm::default()
            }),
        ),
        Pdu::new(
            2,
            Body::BindTransceiverResp(BindResp {
                system_id: COctetString::empty(),
                tlvs: tlvs.clone(),
            }),
        ),
        Pdu::with_status(
            3,
            CommandStatus::ESME_RDELIVERYFAILURE,
            Body::DataSmResp(MessageIdResp {
                message_id: COctetString::empty(),
                tlvs: tlvs.clone(),
            }),
        ),
        Pdu::new(
            4,
            Body::AlertNotification(AlertNotification {
                tlvs,
                ..AlertNotification::default()
            }),
        ),
    ]
}

/// The lengths a known tag never has on the wire (a sample of them, near the valid ones).
fn invalid_lengths(kind: Kind) -> Vec<usize> {
    let (min, max) = match kind {
        Kind::U8 => (1, 1),
        Kind::U16 => (2, 2),
        Kind::U32 => (4, 4),
        // The fill is never NUL: decode tolerates a missing NUL, but not where the value
        // would be too long to encode with it.
        Kind::CString { max } => (0, max - 1),
        Kind::Octets { min, max } => (min, max),
    };
    (0..min)
        .chain((max + 1..=max + 8).filter(|&n| n <= usize::from(u16::MAX)))
        .collect()
}

fn tags_with_invalid_lengths() -> Vec<(Tag, usize)> {
    Tag::all()
        .flat_map(|tag| {
            let kind = tag.kind().expect("a known tag");
            invalid_lengths(kind).into_iter().map(move |len| (tag, len))
        })
        .collect()
}

/// One way to damage an encoded PDU.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        2 => (any::<Index>(), prop_oneof![Just(0u8), Just(0xFF), any::<u8>()])
            .prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Flip(i, x) => {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        Mutation::Set(i, b) => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
        Mutation::Insert(i, b) => {
            let i = i.index(bytes.len() + 1);
            bytes.splice(i..i, b.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = i.index(bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
    }
}

/// A `command_id`: one SMPP 3.4 defines, most of the time.
fn command_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => select(CommandId::ALL.to_vec()).prop_map(CommandId::as_u32),
        1 => any::<u32>(),
        1 => select(vec![0x111u32, 0x8000_0111, 0x0000_000A, 0x8000_000B, 0x8000_0102]),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// decode(encode(p)) == p for every PDU, every status and sequence number.
    #[test]
    fn every_pdu_round_trips(pdu in pdu()) {
        assert_round_trip(&pdu)?;
    }

    /// PDUs back to back in one stream come out one by one, however the stream is chunked.
    #[test]
    fn streams_of_pdus_split_and_decode(
        pdus in vec(pdu(), 1..5),
        chunks in vec(1usize..600, 1..40),
    ) {
        let stream: Vec<u8> = pdus.iter().flat_map(|p| p.to_bytes().to_vec()).collect();
        let max = pdus.iter().map(Pdu::encoded_len).max().unwrap_or(HEADER_LEN);
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut decoded = Vec::new();
        let mut chunk = chunks.iter().cycle();
        while decoded.len() < pdus.len() {
            match split_frame(&mut buf, max) {
                Ok(Some(frame)) => decoded.push(Pdu::decode(&frame)),
                Ok(None) => {
                    prop_assert!(fed < stream.len(), "needs more than the whole stream");
                    let end = (fed + chunk.next().copied().unwrap_or(1)).min(stream.len());
                    buf.extend_from_slice(&stream[fed..end]);
                    fed = end;
                }
                Err(err) => prop_assert!(false, "{err}"),
            }
        }
        prop_assert!(buf.is_empty());
        let expected: Vec<_> = pdus.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// An error response with an absent body is sent header-only (SMPP 3.4 §4.4.2) and decodes
    /// back to the same PDU; with status 0 the same body is sent in full.
    #[test]
    fn absent_error_responses_are_header_only(
        body in select(absent_bodies()),
        command_status in any::<u32>().prop_filter("an error", |s| *s != 0),
        sequence_number in any::<u32>(),
    ) {
        let pdu = Pdu::with_status(sequence_number, CommandStatus(command_status), body.clone());
        let bytes = assert_round_trip(&pdu)?;
        prop_assert_eq!(bytes.len(), HEADER_LEN);
        assert_round_trip(&Pdu::new(sequence_number, body))?;
    }

    /// Every known tag, with a valid value, round trips in each PDU that carries TLVs.
    #[test]
    fn every_known_tlv_round_trips(
        tlvs in Tag::all().map(|tag| known_tlv_of(tag, usize::MAX)).collect::<Vec<_>>(),
    ) {
        for tlv in &tlvs {
            prop_assert_eq!(tlv.encoded_len(), 4 + match tlv.value() {
                TlvValue::U8(_) => 1,
                TlvValue::U16(_) => 2,
                TlvValue::U32(_) => 4,
                TlvValue::CString(s) => s.len() + 1,
                TlvValue::Octets(o) => o.len(),
            });
            for pdu in hosts(tlv) {
                assert_round_trip(&pdu)?;
            }
        }
        // And all of them at once, in one PDU.
        assert_round_trip(&data_sm_with(tlvs.into_iter().collect()))?;
    }

    /// A known tag whose length its kind does not allow is ESME_RINVPARLEN, naming the tag:
    /// every known tag, with the lengths just outside what it allows.
    #[test]
    fn wrong_tlv_length_is_rinvparlen(
        fill in any::<u8>(),
        before in vec(unknown_tlv(), 0..2),
        after in vec(unknown_tlv(), 0..2),
    ) {
        let head = data_sm_with(before.into_iter().collect()).to_bytes().slice(HEADER_LEN..);
        for (tag, len) in tags_with_invalid_lengths() {
            let mut body = head.to_vec();
            body.put_u16(tag.0);
            body.put_u16(u16::try_from(len).unwrap());
            // Non-NUL, so a C-Octet String too long for its tag is not cut short by its NUL.
            body.resize(body.len() + len, fill.max(1));
            for tlv in &after {
                body.extend_from_slice(&tlv_octets(tlv));
            }
            let err = Pdu::decode(&frame(0x103, 0, 9, &body)).unwrap_err();
            prop_assert_eq!(err.status(), CommandStatus::ESME_RINVPARLEN, "{}", err);
            prop_assert_eq!(err.field, tag.name().unwrap());
            prop_assert_eq!(err.header.map(|h| h.sequence_number), Some(9));
        }
    }

    /// A TLV section cut anywhere but between two TLVs is ESME_RINVOPTPARSTREAM (with
    /// `command_length` fixed up; without, the length disagreement is ESME_RINVCMDLEN).
    #[test]
    fn truncated_tlv_stream_is_rinvoptparstream(
        pdu in (data_sm(), 1..=6usize).prop_filter("has TLVs", |(d, _)| !d.tlvs.is_empty())
            .prop_map(|(d, seq)| Pdu::new(u32::try_from(seq).unwrap(), Body::DataSm(d))),
        at in any::<Index>(),
    ) {
        let Body::DataSm(data_sm) = &pdu.body else { unreachable!() };
        let bytes = pdu.to_bytes();
        let tlv_start = bytes.len() - data_sm.tlvs.encoded_len();
        let mut boundaries = vec![tlv_start];
        for tlv in &data_sm.tlvs {
            boundaries.push(boundaries.last().unwrap() + tlv.encoded_len());
        }
        let cuts: Vec<usize> =
            (tlv_start..bytes.len()).filter(|c| !boundaries.contains(c)).collect();
        let cut = *at.get(&cuts);

        let mut short = bytes[..cut].to_vec();
        let err = Pdu::decode(&Bytes::from(short.clone())).unwrap_err();
        prop_assert_eq!(err.status(), CommandStatus::ESME_RINVCMDLEN, "{}", err);
        fix_length(&mut short);
        let err = Pdu::decode(&Bytes::from(short)).unwrap_err();
        prop_assert_eq!(err.status(), CommandStatus::ESME_RINVOPTPARSTREAM, "{}", err);

        // Cut between two TLVs, the PDU is whole: it decodes to its first TLVs.
        let boundary = *at.get(&boundaries);
        let mut whole = bytes[..boundary].to_vec();
        fix_length(&mut whole);
        let decoded = Pdu::decode(&Bytes::from(whole)).unwrap();
        let Body::DataSm(decoded) = decoded.body else { unreachable!() };
        let kept = boundaries.iter().position(|b| *b == boundary).unwrap();
        prop_assert!(decoded.tlvs.iter().eq(data_sm.tlvs.iter().take(kept)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Any octets after any header: no panic; whatever decodes is stable.
    #[test]
    fn arbitrary_bodies_never_panic(
        command_id in command_id(),
        command_status in any::<u32>(),
        sequence_number in any::<u32>(),
        body in prop_oneof![
            vec(any::<u8>(), 0..64),
            vec(any::<u8>(), 0..1024),
            // Mostly non-NUL with a few NULs: gets past the C-Octet Strings more often.
            vec(prop_oneof![8 => 1u8..=255, 1 => Just(0u8)], 0..300),
        ],
    ) {
        let frame = frame(command_id, command_status, sequence_number, &body);
        assert_stable(&Pdu::decode(&frame))?;
    }

    /// Any octets at all, `command_length` unchecked: no panic.
    #[test]
    fn arbitrary_frames_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        assert_stable(&Pdu::decode(&Bytes::from(bytes)))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1536))]

    /// Valid PDUs with flipped, overwritten, inserted or removed octets, or cut short, with or
    /// without `command_length` fixed up: no panic; whatever decodes is stable.
    #[test]
    fn mutated_pdus_never_panic(
        pdu in pdu(),
        mutations in vec(mutation(), 1..4),
        fix in any::<bool>(),
    ) {
        let mut bytes = pdu.to_bytes().to_vec();
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        if fix {
            fix_length(&mut bytes);
        }
        assert_stable(&Pdu::decode(&Bytes::from(bytes)))?;
    }

    /// split_frame on any stream: no panic, every frame within 16..=max and exactly as long as
    /// its `command_length`, and no octet lost or reordered.
    #[test]
    fn split_frame_on_any_stream(
        max in prop_oneof![Just(HEADER_LEN), 16usize..600, Just(70 * 1024)],
        pieces in vec(
            prop_oneof![
                // A plausible command_length (sometimes just out of bounds) and a body.
                (0u32..700, vec(any::<u8>(), 0..80)).prop_map(|(len, body)| {
                    let mut piece = len.to_be_bytes().to_vec();
                    piece.extend(body);
                    piece
                }),
                vec(any::<u8>(), 0..40),
            ],
            0..12,
        ),
        chunks in vec(1usize..200, 1..30),
    ) {
        let stream: Vec<u8> = pieces.concat();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut out = Vec::new();
        let mut chunk = chunks.iter().cycle();
        loop {
            match split_frame(&mut buf, max) {
                Ok(Some(frame)) => {
                    prop_assert!((HEADER_LEN..=max).contains(&frame.len()));
                    let declared = u32::from_be_bytes(frame[..4].try_into().unwrap());
                    prop_assert_eq!(declared as usize, frame.len());
                    out.extend_from_slice(&frame);
                    assert_stable(&Pdu::decode(&frame))?;
                }
                Ok(None) if fed < stream.len() => {
                    let end = (fed + chunk.next().copied().unwrap_or(1)).min(stream.len());
                    buf.extend_from_slice(&stream[fed..end]);
                    fed = end;
                }
                Ok(None) => break,
                Err(err) => {
                    prop_assert_eq!(err.status(), CommandStatus::ESME_RINVCMDLEN);
                    prop_assert!(!(HEADER_LEN..=max).contains(&(err.length as usize)));
                    prop_assert!(!err.to_string().is_empty());
                    break;
                }
            }
        }
        out.extend_from_slice(&buf);
        prop_assert_eq!(&out[..], &stream[..fed]);
    }
}

// ---------------------------------------------------------------------------------------------
// Edges worth a fixed case.

#[test]
fn message_payload_of_65535_octets_round_trips() {
    let payload = Bytes::from(vec![0xA5; 65535]);
    let tlvs = std::iter::once(Tlv::message_payload(payload).unwrap()).collect();
    let pdu = data_sm_with(tlvs);
    let bytes = pdu.to_bytes();
    assert_eq!(bytes.len(), pdu.encoded_len());
    assert_eq!(Pdu::decode(&bytes), Ok(pdu));
    assert!(Tlv::message_payload(Bytes::from(vec![0; 65536])).is_err());
}

#[test]
fn callback_num_edges() {
    for len in [4, 19] {
        let tlv = Tlv::new(
            Tag::CALLBACK_NUM,
            TlvValue::Octets(Bytes::from(vec![b'1'; len])),
        )
        .unwrap();
        let pdu = data_sm_with(std::iter::once(tlv).collect());
        assert_eq!(Pdu::decode(&pdu.to_bytes()), Ok(pdu));
    }
    for len in [3, 20] {
        assert!(Tlv::new(
            Tag::CALLBACK_NUM,
            TlvValue::Octets(Bytes::from(vec![b'1'; len]))
        )
        .is_err());
    }
}

/// A C-Octet String TLV sent without its NUL (tolerated) must still fit its tag once the NUL
/// is added back: a 65-octet receipted_message_id would re-encode as 66 octets, which the
/// decoder itself rejects.
#[test]
fn receipted_message_id_without_nul_must_leave_room_for_it() {
    let base = data_sm_with(Tlvs::new())
        .to_bytes()
        .slice(HEADER_LEN..)
        .to_vec();
    let with_value = |value: &[u8]| {
        let mut body = base.clone();
        body.put_u16(Tag::RECEIPTED_MESSAGE_ID.0);
        body.put_u16(u16::try_from(value.len()).unwrap());
        body.extend_from_slice(value);
        Pdu::decode(&frame(0x103, 0, 1, &body))
    };
    let err = with_value(&[b'7'; 65]).unwrap_err();
    assert_eq!(err.status(), CommandStatus::ESME_RINVPARLEN);
    let pdu = with_value(&[b'7'; 64]).unwrap();
    assert_eq!(Pdu::decode(&pdu.to_bytes()), Ok(pdu));
    let pdu = with_value(&[]).unwrap();
    assert_eq!(Pdu::decode(&pdu.to_bytes()), Ok(pdu));
}

/// The fuzzer's seeds (and any crash input saved beside them) stay regression cases: every
/// frame in each file decodes, and re-encodes to the same octets.
#[test]
fn fuzz_seeds_decode_and_round_trip() {
    let dir = format!("{}/fuzz/seeds/decode", env!("CARGO_MANIFEST_DIR"));
    let mut frames = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut buf = BytesMut::from(&std::fs::read(&path).unwrap()[..]);
        while let Some(frame) = split_frame(&mut buf, DEFAULT_MAX_PDU_LEN).unwrap() {
            let pdu = Pdu::decode(&frame).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(pdu.to_bytes(), frame, "{}", path.display());
            frames += 1;
        }
        assert!(buf.is_empty(), "{}: trailing octets", path.display());
    }
    assert!(frames >= 11, "only {frames} seed frames");
}
