//! A message's class and labels, decided once, at accept. An SMPP client says them with smppd's
//! vendor TLVs (SMPP 3.4 §5.3.2 leaves 0x1400–0x3FFF to SMSC vendors); where it does not, the
//! client's rules in config decide the class: `class_by_service_type`, then `class_by_source`,
//! then `default_class`, and transactional when none says.
//!
//! Called by `esme/validate.rs` for each submitted message. A vendor TLV with a bad value fails
//! the submit with ESME_RINVOPTPARAMVAL; nothing else here fails. The vendor TLVs are smppd's:
//! they are not relayed to carriers.

use crate::config::ClassRules;
use crate::keywords;
use crate::message::{Class, ClassFrom, Labels};
use smpp_proto::{CommandStatus, Tlv, Tlvs};

/// `smppd_class`: one octet, 0 transactional, 1 marketing.
pub const TLV_CLASS: u16 = 0x1500;
/// `smppd_campaign`: the campaign's name, at most [`LABEL_MAX`] octets.
pub const TLV_CAMPAIGN: u16 = 0x1501;
/// `smppd_client_ref`: the client's own reference, at most [`LABEL_MAX`] octets.
pub const TLV_CLIENT_REF: u16 = 0x1502;
/// `smppd_tags`: tags separated by commas, at most [`TAGS_MAX`] octets in all.
pub const TLV_TAGS: u16 = 0x1503;

/// Longest campaign name or client reference, in octets (UTF-8).
pub const LABEL_MAX: usize = 64;
/// Longest tag list, commas included, in octets (UTF-8).
pub const TAGS_MAX: usize = 128;

/// Whether `tag` is in smppd's vendor range, 0x1500–0x15FF, whose TLVs stay in the gateway
/// (the class and labels above, `smppd_consent_action` on MO to clients, those to come).
pub fn is_ours(tag: u16) -> bool {
    (0x1500..=0x15FF).contains(&tag)
}

/// A message's class, what decided it, and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The class.
    pub class: Class,
    /// What decided it.
    pub from: ClassFrom,
    /// Campaign, client reference, tags.
    pub labels: Labels,
}

/// Decides the class and reads the labels of a message from `client`'s rules and its fields.
pub fn decide(
    rules: &ClassRules,
    tlvs: &Tlvs,
    service_type: &str,
    source: &str,
) -> Result<Decided, CommandStatus> {
    let mut tlv_class = None;
    let mut labels = Labels::default();
    for tlv in tlvs.iter().filter(|tlv| is_ours(tlv.tag().0)) {
        read_tlv(tlv, &mut tlv_class, &mut labels)?;
    }
    let (class, from) = match tlv_class {
        Some(class) => (class, ClassFrom::Tlv),
        None => by_rules(rules, service_type, source),
    };
    Ok(Decided {
        class,
        from,
        labels,
    })
}

/// Whether `text` carries an opt-out mention, the mark of a marketing message in France
/// ("STOP au 36123", "STOP SMS"): a transactional message that has one is suspect.
pub fn mentions_opt_out(text: &str) -> bool {
    // Most texts have no "stop" at all: no normalising for them.
    if !has_stop(text.as_bytes()) {
        return false;
    }
    let normal = keywords::normalise(text);
    let words: Vec<&str> = normal.split(' ').collect();
    words.windows(2).any(|w| w == ["STOP", "SMS"])
        || words.windows(3).any(|w| {
            w[0] == "STOP"
                && w[1] == "AU"
                && w[2].len() == 5
                && w[2].bytes().all(|b| b.is_ascii_digit())
                && (b'3'..=b'8').contains(&w[2].as_bytes()[0])
        })
}

/// Whether `user_data` in `data_coding` could hold an opt-out mention, read without decoding
/// it (no allocation for the many messages that have none): "stop" in any case, in the GSM
/// default alphabet, ASCII or Latin-1, or in UCS-2. Full-width letters are not seen here.
pub fn may_mention_opt_out(data_coding: u8, user_data: &[u8]) -> bool {
    match data_coding {
        0 | 1 | 3 => has_stop(user_data),
        // UCS-2, big-endian: each ASCII letter is 0x00 then the letter.
        8 => user_data.windows(8).step_by(2).any(|w| {
            w[0] == 0 && w[2] == 0 && w[4] == 0 && w[6] == 0 && has_stop(&[w[1], w[3], w[5], w[7]])
        }),
        _ => false,
    }
}

fn has_stop(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w.eq_ignore_ascii_case(b"STOP"))
}

fn by_rules(rules: &ClassRules, service_type: &str, source: &str) -> (Class, ClassFrom) {
    if let Some((_, class)) = rules
        .by_service_type
        .iter()
        .find(|(wanted, _)| wanted == service_type)
    {
        return (*class, ClassFrom::ServiceType);
    }
    if let Some((_, class)) = rules
        .by_source
        .iter()
        .find(|(pattern, _)| pattern.matches(source))
    {
        return (*class, ClassFrom::Source);
    }
    match rules.default {
        Some(class) => (class, ClassFrom::ClientDefault),
        None => (Class::Transactional, ClassFrom::Default),
    }
}

/// One of our TLVs; a second copy of the same one is refused (which would win is a guess).
fn read_tlv(
    tlv: &Tlv,
    class: &mut Option<Class>,
    labels: &mut Labels,
) -> Result<(), CommandStatus> {
    const BAD: CommandStatus = CommandStatus::ESME_RINVOPTPARAMVAL;
    let value = tlv.value_bytes();
    match tlv.tag().0 {
        TLV_CLASS => {
            let read = match value.as_ref() {
                [0] => Class::Transactional,
                [1] => Class::Marketing,
                _ => return Err(BAD),
            };
            set_once(class, read)
        }
        TLV_CAMPAIGN => set_once(&mut labels.campaign, text(&value, LABEL_MAX)?),
        TLV_CLIENT_REF => set_once(&mut labels.client_ref, text(&value, LABEL_MAX)?),
        TLV_TAGS => {
            if !labels.tags.is_empty() {
                return Err(BAD);
            }
            let list = text(&value, TAGS_MAX)?;
            let tags: Vec<String> = list.split(',').map(|t| t.trim().to_owned()).collect();
            if tags.iter().any(String::is_empty) {
                return Err(BAD);
            }
            labels.tags = tags;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), CommandStatus> {
    match slot.replace(value) {
        Some(_) => Err(CommandStatus::ESME_RINVOPTPARAMVAL),
        None => Ok(()),
    }
}

/// A C-Octet String value (its NUL optional, as clients differ): UTF-8 without control
/// characters, not empty, at most `max` octets.
fn text(value: &[u8], max: usize) -> Result<String, CommandStatus> {
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    let text = std::str::from_utf8(value).map_err(|_| CommandStatus::ESME_RINVOPTPARAMVAL)?;
    if text.trim().is_empty() || text.len() > max || text.chars().any(char::is_control) {
        return Err(CommandStatus::ESME_RINVOPTPARAMVAL);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AddressPattern;
    use bytes::Bytes;
    use smpp_proto::{Tag, TlvValue};

    fn tlvs(items: &[(u16, &[u8])]) -> Tlvs {
        let mut tlvs = Tlvs::new();
        for (tag, value) in items {
            let value = TlvValue::Octets(Bytes::copy_from_slice(value));
            tlvs.push(Tlv::new(Tag(*tag), value).unwrap());
        }
        tlvs
    }

    fn rules() -> ClassRules {
        ClassRules {
            by_service_type: vec![
                ("MKT".into(), Class::Marketing),
                ("TRX".into(), Class::Transactional),
            ],
            // Most specific first, as config builds them.
            by_source: vec![
                (AddressPattern::Exact("36123".into()), Class::Transactional),
                (AddressPattern::Prefix("36".into()), Class::Marketing),
                (AddressPattern::Exact("MABOUTIQUE".into()), Class::Marketing),
            ],
            default: Some(Class::Transactional),
            reclassify_on_mention: false,
        }
    }

    fn class(tlv_items: &[(u16, &[u8])], service_type: &str, source: &str) -> (Class, ClassFrom) {
        let decided = decide(&rules(), &tlvs(tlv_items), service_type, source).unwrap();
        (decided.class, decided.from)
    }

    #[test]
    fn each_source_of_a_class_in_its_order() {
        use Class::{Marketing as M, Transactional as T};
        // The TLV beats every rule, in both directions.
        assert_eq!(
            class(&[(TLV_CLASS, &[1])], "TRX", "38000"),
            (M, ClassFrom::Tlv)
        );
        assert_eq!(
            class(&[(TLV_CLASS, &[0])], "MKT", "36999"),
            (T, ClassFrom::Tlv)
        );
        // service_type beats the source.
        assert_eq!(class(&[], "TRX", "36999"), (T, ClassFrom::ServiceType));
        assert_eq!(class(&[], "MKT", "38000"), (M, ClassFrom::ServiceType));
        // An exact source beats a prefix that also matches.
        assert_eq!(class(&[], "", "36123"), (T, ClassFrom::Source));
        assert_eq!(class(&[], "", "36999"), (M, ClassFrom::Source));
        assert_eq!(class(&[], "", "MABOUTIQUE"), (M, ClassFrom::Source));
        // service_type is matched exactly: case matters, as on the wire.
        assert_eq!(class(&[], "mkt", "38000"), (T, ClassFrom::ClientDefault));
        // No rule and no default: transactional, never marketing by accident.
        let none = ClassRules::default();
        let decided = decide(&none, &Tlvs::new(), "MKT", "36123").unwrap();
        assert_eq!((decided.class, decided.from), (T, ClassFrom::Default));
    }

    #[test]
    fn labels_are_read_from_their_tlvs() {
        let decided = decide(
            &rules(),
            &tlvs(&[
                (TLV_CAMPAIGN, b"black-friday\0"),
                (TLV_CLIENT_REF, "commande-981 é".as_bytes()),
                (TLV_TAGS, b"promo, fr ,vip"),
            ]),
            "",
            "Shop",
        )
        .unwrap();
        assert_eq!(
            decided.labels,
            Labels {
                campaign: Some("black-friday".into()),
                client_ref: Some("commande-981 é".into()),
                tags: vec!["promo".into(), "fr".into(), "vip".into()],
            }
        );
    }

    #[test]
    fn bad_vendor_tlvs_are_refused_with_invalid_optional_parameter_value() {
        let long = [b'a'; LABEL_MAX + 1];
        let long_tags = [b'a'; TAGS_MAX + 1];
        let bad: [&[(u16, &[u8])]; 12] = [
            &[(TLV_CLASS, &[2])],
            &[(TLV_CLASS, &[])],
            &[(TLV_CLASS, &[0, 1])],
            &[(TLV_CLASS, &[0]), (TLV_CLASS, &[1])],
            &[(TLV_CAMPAIGN, b"")],
            &[(TLV_CAMPAIGN, b"\0")],
            &[(TLV_CAMPAIGN, &long)],
            &[(TLV_CLIENT_REF, b"\xff\xfe")],
            &[(TLV_CLIENT_REF, b"line\nbreak")],
            &[(TLV_TAGS, b"a,,b")],
            &[(TLV_TAGS, &long_tags)],
            &[(TLV_CAMPAIGN, b"a"), (TLV_CAMPAIGN, b"b")],
        ];
        for items in bad {
            assert_eq!(
                decide(&rules(), &tlvs(items), "", "Shop"),
                Err(CommandStatus::ESME_RINVOPTPARAMVAL),
                "{items:?}"
            );
        }
        // At the limits: accepted.
        let at_max = [b'a'; LABEL_MAX];
        assert!(decide(&rules(), &tlvs(&[(TLV_CAMPAIGN, &at_max)]), "", "Shop").is_ok());
    }

    #[test]
    fn opt_out_mentions() {
        for text in [
            "-30% ce week-end ! STOP au 36123",
            "Soldes. Stop SMS",
            "Promo… stop au 38000.",
            "Offre: STOP AU 36123",
        ] {
            assert!(mentions_opt_out(text), "{text:?}");
        }
        for text in [
            "Votre colis est en route",
            "Your code is 1234. Do not stop.",
            "STOP au 12345",
            "STOP au 3612",
            "Bus stop au coin",
        ] {
            assert!(!mentions_opt_out(text), "{text:?}");
        }
    }

    #[test]
    fn the_undecoded_scan_finds_stop_in_each_coding() {
        assert!(may_mention_opt_out(0, b"Promo! Stop au 36123"));
        assert!(!may_mention_opt_out(0, b"Votre colis est en route"));
        let ucs2: Vec<u8> = "Soldes ! stop au 36123"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert!(may_mention_opt_out(8, &ucs2));
        // Odd-aligned bytes that happen to spell it are no UCS-2 letters.
        assert!(!may_mention_opt_out(8, b"\x00\x00STOP\x00\x00"));
        assert!(!may_mention_opt_out(4, b"STOP"), "binary");
    }

    #[test]
    fn only_our_range_is_ours() {
        assert!(is_ours(0x1500) && is_ours(0x1503) && is_ours(0x1504) && is_ours(0x15FF));
        assert!(!is_ours(0x14FF) && !is_ours(0x1600) && !is_ours(0x0424));
    }
}
