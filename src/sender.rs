//! Sender rules (`[[sender_rules]]`): what a sender may be toward a country's numbers. In
//! France, say, an alphanumeric sender has at most 11 letters and digits and not only digits,
//! marketing leaves from 36xxx short codes and transactional from 38xxx. Of the rules whose
//! prefix the destination has, the longest applies; with none, any sender passes.
//!
//! Called at accept (`esme/validate.rs`) once the message's class is known. A sender that
//! breaks the rule gets ESME_RINVSRCADR: the client's source address is what is wrong.

use crate::config::{Config, NumberingConfig, SenderRule};
use crate::message::{Address, Class};
use crate::numbering;
use smpp_proto::CommandStatus;

/// The sender rules in force and how numbers are read, for [`check`].
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// `[[sender_rules]]`, longest prefix first.
    pub rules: &'a [SenderRule],
    /// `[numbering]`.
    pub numbering: &'a NumberingConfig,
}

impl<'a> Rules<'a> {
    /// The rules of `config`.
    pub fn of(config: &'a Config) -> Self {
        Self {
            rules: &config.sender_rules,
            numbering: &config.numbering,
        }
    }
}

/// TON of an alphanumeric address (SMPP 3.4 §5.2.5).
const TON_ALPHANUMERIC: u8 = 5;

/// Checks the sender of a message of `class` from `source` to `destination`.
pub fn check(
    rules: Rules<'_>,
    class: Class,
    source: &Address,
    destination: &Address,
) -> Result<(), CommandStatus> {
    // Rules name international prefixes: a national form is read into E.164 first, so that
    // "0612345678" meets the rule for +33.
    let e164 = numbering::e164(rules.numbering, destination);
    let destination = e164
        .as_deref()
        .unwrap_or(&destination.addr)
        .trim_start_matches('+');
    // Config sorts the rules longest prefix first.
    let Some(rule) = rules
        .rules
        .iter()
        .find(|r| destination.starts_with(&r.prefix))
    else {
        return Ok(());
    };
    let bad = CommandStatus::ESME_RINVSRCADR;
    let sender = source.addr.as_str();
    if is_alphanumeric(source) {
        if sender.chars().count() > rule.alnum_max {
            return Err(bad);
        }
        if let Some(pattern) = &rule.alnum_pattern {
            if !pattern.0.is_match(sender) {
                return Err(bad);
            }
        }
    }
    let allowed = match class {
        Class::Marketing => &rule.marketing_sources,
        Class::Transactional => &rule.transactional_sources,
    };
    if !allowed.is_empty() && !allowed.iter().any(|p| p.matches(sender)) {
        return Err(bad);
    }
    Ok(())
}

/// A sender id rather than a number: TON 5, or letters in it whatever the TON says.
fn is_alphanumeric(source: &Address) -> bool {
    source.ton == TON_ALPHANUMERIC || source.addr.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// France as the research describes it, and a narrower rule for one overseas prefix.
    fn rules() -> Vec<SenderRule> {
        let text = r#"
            [[sender_rules]]
            prefix = "+33"
            alnum_pattern = "[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*"
            marketing_sources = ["36*", "MABOUTIQUE"]
            transactional_sources = ["38*", "MABOUTIQTX"]

            [[sender_rules]]
            prefix = "262"
            alnum_max = 6
        "#;
        Config::parse(text).unwrap().sender_rules
    }

    fn address(ton: u8, addr: &str) -> Address {
        Address {
            ton,
            npi: 0,
            addr: addr.into(),
        }
    }

    fn verdict(class: Class, ton: u8, sender: &str, to: &str) -> Result<(), CommandStatus> {
        let numbering = NumberingConfig {
            default_country: Some(phonenumber::country::Id::FR),
        };
        let rules = rules();
        let rules = Rules {
            rules: &rules,
            numbering: &numbering,
        };
        check(rules, class, &address(ton, sender), &address(1, to))
    }

    #[test]
    fn french_senders() {
        use Class::{Marketing as M, Transactional as T};
        let bad = Err(CommandStatus::ESME_RINVSRCADR);
        // Marketing from a 36xxx code or the shop's marketing name; not from 38xxx.
        assert_eq!(verdict(M, 3, "36123", "33612345678"), Ok(()));
        assert_eq!(verdict(M, 5, "MABOUTIQUE", "+33612345678"), Ok(()));
        assert_eq!(verdict(M, 3, "38123", "33612345678"), bad);
        assert_eq!(verdict(M, 1, "33612345678", "33699999999"), bad);
        // A national form of a French number meets the French rule too.
        let numbering = NumberingConfig {
            default_country: Some(phonenumber::country::Id::FR),
        };
        let french = rules();
        let rules = Rules {
            rules: &french,
            numbering: &numbering,
        };
        assert_eq!(
            check(rules, M, &address(3, "38123"), &address(2, "0612345678")),
            bad
        );
        // Transactional the other way round.
        assert_eq!(verdict(T, 3, "38123", "33612345678"), Ok(()));
        assert_eq!(verdict(T, 5, "MABOUTIQTX", "33612345678"), Ok(()));
        assert_eq!(verdict(T, 3, "36123", "33612345678"), bad);
    }

    #[test]
    fn alphanumeric_senders_have_their_length_and_pattern() {
        let text = "[[sender_rules]]\nprefix = \"33\"\n\
                    alnum_pattern = \"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*\"\n";
        let rules = Config::parse(text).unwrap().sender_rules;
        let numbering = NumberingConfig::default();
        let rules = Rules {
            rules: &rules,
            numbering: &numbering,
        };
        let sender = |ton, addr: &str| {
            check(
                rules,
                Class::Transactional,
                &address(ton, addr),
                &address(1, "33612345678"),
            )
        };
        let bad = Err(CommandStatus::ESME_RINVSRCADR);
        assert_eq!(sender(5, "MaBoutique"), Ok(()));
        assert_eq!(
            sender(5, "MaBoutique1"),
            Ok(()),
            "11 characters, the default"
        );
        assert_eq!(sender(5, "MaBoutique12"), bad, "12 characters");
        assert_eq!(sender(5, "Ma Boutique"), bad, "a space");
        assert_eq!(sender(5, "Ma-Boutique"), bad, "punctuation");
        assert_eq!(sender(5, "12345"), bad, "digits only, as an alphanumeric");
        // The pattern must match the whole sender, not a part of it.
        assert_eq!(sender(5, "Shop!"), bad);
        // Letters under another TON are still a sender id.
        assert_eq!(sender(0, "Shop!"), bad);
        // A number is not held to the alphanumeric rules.
        assert_eq!(sender(1, "33612345678"), Ok(()));
    }

    #[test]
    fn the_longest_prefix_applies_and_other_countries_pass() {
        // +262 has its own rule (6 characters at most), not France's.
        assert_eq!(verdict(Class::Marketing, 5, "Shop", "262692000000"), Ok(()));
        assert_eq!(
            verdict(Class::Marketing, 5, "Boutique", "262692000000"),
            Err(CommandStatus::ESME_RINVSRCADR)
        );
        // No rule for the UK: anything valid passes.
        assert_eq!(
            verdict(Class::Marketing, 1, "38123", "447700900123"),
            Ok(())
        );
        assert_eq!(
            verdict(Class::Marketing, 5, "AnyName", "447700900123"),
            Ok(())
        );
    }
}
