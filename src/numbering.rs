//! Phone numbers in E.164 (`+33612345678`), the one form suppression lists are kept in, so that
//! a STOP from `33612345678` (TON 1) holds back a submit to `0612345678` (TON 2). International
//! forms are read directly; national forms through the `phonenumber` crate (Google's
//! libphonenumber metadata) with `[numbering] default_country`.
//!
//! Used by consent (`consent.rs`, at accept, at dispatch, on an MO). Never fails: a form that
//! is no person's number (an alphanumeric sender, a short code) is `None`.

use crate::config::NumberingConfig;
use crate::message::Address;
use phonenumber::Mode;

/// Most digits of an E.164 number.
const E164_DIGITS_MAX: usize = 15;

/// `address` as E.164, if it is a person's number.
pub fn e164(config: &NumberingConfig, address: &Address) -> Option<String> {
    let addr = address.addr.trim();
    if let Some(digits) = addr.strip_prefix('+') {
        return international(digits);
    }
    match address.ton {
        // International.
        1 => international(addr),
        // National.
        2 => national(config, addr),
        // Unknown: an international access code, a national trunk prefix, or (as most ESMEs
        // send them) international digits.
        0 => match addr.strip_prefix("00") {
            Some(digits) => international(digits),
            None if addr.starts_with('0') => national(config, addr),
            None => international(addr),
        },
        // Network-specific, subscriber, alphanumeric, abbreviated: not a person's number.
        _ => None,
    }
}

fn international(digits: &str) -> Option<String> {
    let plausible = (2..=E164_DIGITS_MAX).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    plausible.then(|| format!("+{digits}"))
}

fn national(config: &NumberingConfig, number: &str) -> Option<String> {
    let country = config.default_country?;
    let parsed = phonenumber::parse(Some(country), number).ok()?;
    // Only a number the country's numbering plan has.
    if !phonenumber::is_valid(&parsed) {
        return None;
    }
    let e164 = parsed.format().mode(Mode::E164).to_string();
    international(e164.strip_prefix('+')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(ton: u8, addr: &str, country: Option<&str>) -> Option<String> {
        let config = NumberingConfig {
            default_country: country.map(|c| c.parse().unwrap()),
        };
        e164(
            &config,
            &Address {
                ton,
                npi: 1,
                addr: addr.into(),
            },
        )
    }

    #[test]
    fn every_form_of_one_french_mobile_is_one_number() {
        let want = Some("+33612345678".to_owned());
        for (ton, addr) in [
            (1, "33612345678"),
            (1, "+33612345678"),
            (0, "33612345678"),
            (0, "0033612345678"),
            (0, "+33612345678"),
            (0, "0612345678"),
            (2, "0612345678"),
            (2, "612345678"),
        ] {
            assert_eq!(number(ton, addr, Some("FR")), want, "ton {ton} {addr}");
        }
    }

    #[test]
    fn overseas_departments_and_other_countries() {
        // Réunion mobiles are +262 692…, dialled 0692… there.
        assert_eq!(
            number(2, "0692123456", Some("RE")),
            Some("+262692123456".into())
        );
        assert_eq!(
            number(2, "07400123456", Some("GB")),
            Some("+447400123456".into())
        );
        assert_eq!(
            number(1, "447700900123", None),
            Some("+447700900123".into())
        );
    }

    #[test]
    fn what_is_no_persons_number_is_none() {
        // National without a default country: nobody knows which country.
        assert_eq!(number(2, "0612345678", None), None);
        // Alphanumeric senders, short codes, junk.
        assert_eq!(number(5, "MaBoutique", Some("FR")), None);
        assert_eq!(number(3, "36123", Some("FR")), None);
        assert_eq!(
            number(1, "0612345678", Some("FR")),
            None,
            "no country starts with 0"
        );
        assert_eq!(number(1, "1234567890123456", Some("FR")), None, "16 digits");
        assert_eq!(number(1, "33 6 12", Some("FR")), None);
        assert_eq!(number(2, "12", Some("FR")), None);
    }
}
