//! Validation of submitted messages (submit_sm, data_sm, submit_multi): every field checked,
//! every refusal the precise SMPP status. What passes becomes a [`Message`] ready to store.

use crate::config::ClientConfig;
use crate::message::{Address, Class, ClassFrom, Message, State};
use crate::{class, sender, telemetry};
use smpp_proto::coding;
use smpp_proto::concat::parse_udh;
use smpp_proto::pdu::esm_class;
use smpp_proto::{time, CommandStatus, Tag, Tlvs};

/// A bad data_coding. SMPP 3.4 has no status for it; smppd answers with the SMPP 5.0 value
/// 0x104 ESME_RINVDCS, which 3.4 clients show as an unknown error but log by number.
pub(crate) const ESME_RINVDCS: CommandStatus = CommandStatus::ESME_RINVDCS;

/// The fields of a submission, whatever PDU carried them.
pub(crate) struct Submission<'a> {
    pub(crate) service_type: String,
    pub(crate) source: Address,
    pub(crate) destination: Address,
    pub(crate) esm_class: u8,
    pub(crate) protocol_id: u8,
    pub(crate) priority_flag: u8,
    pub(crate) schedule_delivery_time: &'a [u8],
    pub(crate) validity_period: &'a [u8],
    pub(crate) registered_delivery: u8,
    pub(crate) replace_if_present_flag: u8,
    pub(crate) data_coding: u8,
    pub(crate) sm_default_msg_id: u8,
    pub(crate) short_message: &'a [u8],
    pub(crate) tlvs: &'a Tlvs,
}

/// Valid NPI values (SMPP 3.4 §5.2.6).
const NPIS: [u8; 10] = [0, 1, 3, 4, 6, 8, 9, 10, 14, 18];

/// Checks a submission from `client` and builds the message to store (its id and route are
/// filled in by the caller).
pub(crate) fn validate(
    client: &ClientConfig,
    senders: sender::Rules<'_>,
    s: &Submission<'_>,
    now_ms: i64,
) -> Result<Message, CommandStatus> {
    check_address(&s.source, true)?;
    if !client.allowed_sources.is_empty()
        && !client
            .allowed_sources
            .iter()
            .any(|p| p.matches(&s.source.addr))
    {
        return Err(CommandStatus::ESME_RINVSRCADR);
    }
    check_address(&s.destination, false)?;
    // Only normal messages may be submitted; receipts and acknowledgements come from SMSCs.
    if s.esm_class & esm_class::TYPE_MASK != 0 {
        return Err(CommandStatus::ESME_RINVESMCLASS);
    }
    if s.priority_flag > 3 {
        return Err(CommandStatus::ESME_RINVPRTFLG);
    }
    // Bits 1-0 = 3 and bits 7-5 are reserved (0x20 is tolerated: cloudhopper's intermediate flag).
    if s.registered_delivery & 0x03 == 0x03 || s.registered_delivery & 0xC0 != 0 {
        return Err(CommandStatus::ESME_RINVREGDLVFLG);
    }
    if s.replace_if_present_flag > 1 {
        return Err(CommandStatus::ESME_RINVREPFLAG);
    }
    if s.sm_default_msg_id != 0 {
        // smppd keeps no canned messages.
        return Err(CommandStatus::ESME_RINVDFTMSGID);
    }
    if !data_coding_supported(s.data_coding) {
        return Err(ESME_RINVDCS);
    }
    let payload = s.tlvs.message_payload();
    let user_data: &[u8] = match payload {
        Some(_) if !s.short_message.is_empty() => return Err(CommandStatus::ESME_RINVMSGLEN),
        Some(payload) => payload,
        None => s.short_message,
    };
    if user_data.is_empty() {
        return Err(CommandStatus::ESME_RINVMSGLEN);
    }
    let text = if s.esm_class & esm_class::UDHI != 0 {
        let (_, text) = parse_udh(user_data).map_err(|_| CommandStatus::ESME_RINVMSGLEN)?;
        text
    } else {
        user_data
    };
    if s.data_coding == coding::Encoding::Ucs2.data_coding() && text.len() % 2 != 0 {
        return Err(CommandStatus::ESME_RINVMSGLEN);
    }
    if let (Some(total), Some(seqnum)) = (
        s.tlvs.get_int(Tag::SAR_TOTAL_SEGMENTS),
        s.tlvs.get_int(Tag::SAR_SEGMENT_SEQNUM),
    ) {
        if total == 0 || seqnum == 0 || seqnum > total {
            return Err(CommandStatus::ESME_RINVOPTPARAMVAL);
        }
    }
    let now_secs = now_ms.div_euclid(1000);
    let schedule_at = time::parse(s.schedule_delivery_time)
        .map_err(|_| CommandStatus::ESME_RINVSCHED)?
        .map(|t| t.resolve(now_secs) * 1000);
    let expire_at = time::parse(s.validity_period)
        .map_err(|_| CommandStatus::ESME_RINVEXPIRY)?
        .map(|t| t.resolve(now_secs) * 1000);
    if let Some(expire_at) = expire_at {
        if expire_at <= now_ms || schedule_at.is_some_and(|at| at >= expire_at) {
            return Err(CommandStatus::ESME_RINVEXPIRY);
        }
    }
    let mut decided = class::decide(&client.classes, s.tlvs, &s.service_type, &s.source.addr)?;
    if decided.class == Class::Transactional
        && class::may_mention_opt_out(s.data_coding, text)
        && class::mentions_opt_out(&coding::decode_text(s.data_coding, text))
    {
        telemetry::class_suspect(&client.system_id);
        if client.classes.reclassify_on_mention {
            decided.class = Class::Marketing;
            decided.from = ClassFrom::Mention;
        }
    }
    sender::check(senders, decided.class, &s.source, &s.destination)?;
    Ok(Message {
        id: crate::message::MessageId(0),
        client: client.system_id.clone(),
        route: String::new(),
        service_type: s.service_type.clone(),
        source: s.source.clone(),
        destination: s.destination.clone(),
        esm_class: s.esm_class,
        protocol_id: s.protocol_id,
        priority_flag: s.priority_flag,
        registered_delivery: s.registered_delivery,
        data_coding: s.data_coding,
        replace_if_present_flag: s.replace_if_present_flag,
        sm_default_msg_id: s.sm_default_msg_id,
        short_message: s.short_message.to_vec(),
        tlvs: s
            .tlvs
            .iter()
            .filter(|t| !class::is_ours(t.tag().0))
            .map(|t| (t.tag().0, t.value_bytes().to_vec()))
            .collect(),
        schedule_at,
        expire_at,
        received_at: now_ms,
        state: State::Queued,
        attempts: 0,
        carrier: None,
        history: Vec::new(),
        class: decided.class,
        class_from: decided.from,
        labels: decided.labels,
    })
}

fn check_address(address: &Address, source: bool) -> Result<(), CommandStatus> {
    let (bad_ton, bad_npi, bad_addr) = if source {
        (
            CommandStatus::ESME_RINVSRCTON,
            CommandStatus::ESME_RINVSRCNPI,
            CommandStatus::ESME_RINVSRCADR,
        )
    } else {
        (
            CommandStatus::ESME_RINVDSTTON,
            CommandStatus::ESME_RINVDSTNPI,
            CommandStatus::ESME_RINVDSTADR,
        )
    };
    if address.ton > 6 {
        return Err(bad_ton);
    }
    if !NPIS.contains(&address.npi) {
        return Err(bad_npi);
    }
    let addr = address.addr.as_str();
    // Messages go upstream as submit_sm, whose addresses hold 20 characters: a longer one
    // (data_sm allows 64) could not be relayed intact.
    if addr.is_empty()
        || addr.len() > 20
        || !addr.is_ascii()
        || addr.chars().any(|c| c.is_ascii_control())
    {
        return Err(bad_addr);
    }
    match address.ton {
        // International and national numbers are digits (E.164 allows at most 15).
        1 | 2 => {
            let digits = addr.strip_prefix('+').unwrap_or(addr);
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad_addr);
            }
        }
        // Alphanumeric sender ids show at most 11 characters on handsets.
        5 if addr.len() > 11 => return Err(bad_addr),
        // A destination must be something a carrier can route: digits.
        _ if !source && !addr.bytes().all(|b| b.is_ascii_digit() || b == b'+') => {
            return Err(bad_addr)
        }
        _ => {}
    }
    Ok(())
}

/// data_coding values smppd can carry: the SMPP 3.4 table minus reserved ranges.
fn data_coding_supported(dcs: u8) -> bool {
    !matches!(dcs, 0x0B | 0x0C | 0x0F..=0xBF | 0xE0..=0xEF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BindTypes, Password};
    use std::num::{NonZeroU32, NonZeroUsize};

    fn client() -> ClientConfig {
        ClientConfig {
            system_id: "shop".into(),
            password: Password::Plain("pw".into()),
            bind_types: BindTypes {
                transmitter: true,
                receiver: true,
                transceiver: true,
            },
            max_binds: NonZeroU32::MIN,
            window: NonZeroUsize::MIN,
            throughput: None,
            campaign_throughput: None,
            api_keys: vec![],
            allowed_sources: vec![crate::config::AddressPattern::Exact("Shop".into())],
            allowed_ips: vec![],
            max_outbox: NonZeroUsize::MIN,
            classes: crate::config::ClassRules::default(),
            confirmation_text: None,
            help_text: None,
            contact_text: None,
            transliterate: false,
            webhooks: Vec::new(),
        }
    }

    fn no_rules() -> sender::Rules<'static> {
        static NUMBERING: crate::config::NumberingConfig = crate::config::NumberingConfig {
            default_country: None,
        };
        sender::Rules {
            rules: &[],
            numbering: &NUMBERING,
        }
    }

    fn submission<'a>(tlvs: &'a Tlvs) -> Submission<'a> {
        Submission {
            service_type: String::new(),
            source: Address {
                ton: 5,
                npi: 0,
                addr: "Shop".into(),
            },
            destination: Address {
                ton: 1,
                npi: 1,
                addr: "447700900123".into(),
            },
            esm_class: 0,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: b"",
            validity_period: b"",
            registered_delivery: 1,
            replace_if_present_flag: 0,
            data_coding: 0,
            sm_default_msg_id: 0,
            short_message: b"hello",
            tlvs,
        }
    }

    fn status_of(f: impl FnOnce(&mut Submission<'_>)) -> Result<(), CommandStatus> {
        let tlvs = Tlvs::new();
        let mut s = submission(&tlvs);
        f(&mut s);
        validate(&client(), no_rules(), &s, 1_700_000_000_000).map(|_| ())
    }

    #[test]
    fn each_bad_field_gets_its_status() {
        use CommandStatus as S;
        assert_eq!(status_of(|_| {}), Ok(()));
        assert_eq!(
            status_of(|s| s.source.addr = "Other".into()),
            Err(S::ESME_RINVSRCADR)
        );
        assert_eq!(status_of(|s| s.source.ton = 9), Err(S::ESME_RINVSRCTON));
        assert_eq!(status_of(|s| s.source.npi = 2), Err(S::ESME_RINVSRCNPI));
        assert_eq!(
            status_of(|s| s.destination.addr = "44770A".into()),
            Err(S::ESME_RINVDSTADR)
        );
        assert_eq!(
            status_of(|s| s.destination.addr = String::new()),
            Err(S::ESME_RINVDSTADR)
        );
        assert_eq!(
            status_of(|s| s.destination.ton = 7),
            Err(S::ESME_RINVDSTTON)
        );
        assert_eq!(
            status_of(|s| s.destination.npi = 5),
            Err(S::ESME_RINVDSTNPI)
        );
        assert_eq!(status_of(|s| s.esm_class = 0x04), Err(S::ESME_RINVESMCLASS));
        assert_eq!(status_of(|s| s.priority_flag = 4), Err(S::ESME_RINVPRTFLG));
        assert_eq!(
            status_of(|s| s.registered_delivery = 3),
            Err(S::ESME_RINVREGDLVFLG)
        );
        assert_eq!(
            status_of(|s| s.replace_if_present_flag = 2),
            Err(S::ESME_RINVREPFLAG)
        );
        assert_eq!(
            status_of(|s| s.sm_default_msg_id = 1),
            Err(S::ESME_RINVDFTMSGID)
        );
        assert_eq!(status_of(|s| s.data_coding = 0x20), Err(ESME_RINVDCS));
        assert_eq!(
            status_of(|s| s.short_message = b""),
            Err(S::ESME_RINVMSGLEN)
        );
        assert_eq!(
            status_of(|s| {
                s.data_coding = 8;
                s.short_message = b"abc";
            }),
            Err(S::ESME_RINVMSGLEN)
        );
        assert_eq!(
            status_of(|s| {
                s.esm_class = 0x40;
                s.short_message = b"\x05\x00\x03\x01";
            }),
            Err(S::ESME_RINVMSGLEN)
        );
        assert_eq!(
            status_of(|s| s.schedule_delivery_time = b"991399000000000+"),
            Err(S::ESME_RINVSCHED)
        );
        assert_eq!(
            status_of(|s| s.validity_period = b"231301000000000+"),
            Err(S::ESME_RINVEXPIRY)
        );
        // Already expired (2001).
        assert_eq!(
            status_of(|s| s.validity_period = b"010101000000000+"),
            Err(S::ESME_RINVEXPIRY)
        );
        assert_eq!(
            status_of(|s| s.validity_period = b"000001000000000R"),
            Ok(())
        );
    }

    #[test]
    fn an_opt_out_mention_makes_transactional_marketing_when_asked() {
        let tlvs = Tlvs::new();
        let mut s = submission(&tlvs);
        s.short_message = b"-30% ce week-end ! STOP au 36123";
        let plain = validate(&client(), no_rules(), &s, 0).unwrap();
        assert_eq!(
            (plain.class, plain.class_from),
            (Class::Transactional, ClassFrom::Default)
        );
        let mut strict = client();
        strict.classes.reclassify_on_mention = true;
        let moved = validate(&strict, no_rules(), &s, 0).unwrap();
        assert_eq!(
            (moved.class, moved.class_from),
            (Class::Marketing, ClassFrom::Mention)
        );
        // Without the mention nothing moves.
        s.short_message = b"Votre colis est en route";
        let order = validate(&strict, no_rules(), &s, 0).unwrap();
        assert_eq!(order.class, Class::Transactional);
    }

    #[test]
    fn payload_and_short_message_are_exclusive() {
        let mut tlvs = Tlvs::new();
        tlvs.push(
            smpp_proto::Tlv::message_payload(bytes::Bytes::from_static(b"long text")).unwrap(),
        );
        let mut s = submission(&tlvs);
        assert_eq!(
            validate(&client(), no_rules(), &s, 0).map(|_| ()),
            Err(CommandStatus::ESME_RINVMSGLEN)
        );
        s.short_message = b"";
        let message = validate(&client(), no_rules(), &s, 0).unwrap();
        assert_eq!(message.tlvs, vec![(0x0424, b"long text".to_vec())]);
    }
}
