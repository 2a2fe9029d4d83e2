//! Properties of the receipt parser and formatter (`smpp_proto::receipt`), checked on any
//! bytes: by the `receipt` fuzz target and, over its seeds, by `proto/tests/fuzz_seeds.rs`.

use smpp_proto::receipt::{self, Receipt, ReceiptDate, TEXT_CHARS};
use smpp_proto::MessageState;

/// What a formatted receipt's date fields hold when there is no valid date.
const NO_DATE: &str = "0000000000";

pub(crate) fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    parsed(&text);
    date(text.trim());
    gateway_receipt(data);
}

/// A carrier's receipt text: whatever parses, formats to the strict form, which parses back
/// to the same normalised fields and formats to the same text again.
fn parsed(text: &str) {
    let Ok(r) = receipt::parse(text) else {
        return;
    };
    assert_eq!(receipt::parse_bytes(text.as_bytes()).as_ref(), Ok(&r));
    // Values are taken from the text, trimmed.
    assert!(!r.id.is_empty());
    for value in [Some(&r.id), r.stat.as_ref(), r.err.as_ref()]
        .into_iter()
        .flatten()
    {
        assert!(text.contains(value.as_str()), "{value:?} not in {text:?}");
        assert_eq!(value.trim(), value, "{value:?} is not trimmed");
    }
    for d in [&r.submit_date, &r.done_date].into_iter().flatten() {
        assert!(text.contains(&d.raw), "{:?} not in {text:?}", d.raw);
        assert_eq!(&ReceiptDate::parse(&d.raw), d);
    }
    assert_eq!(
        r.state(),
        r.stat.as_deref().and_then(receipt::stat_to_state)
    );

    let formatted = r.format();
    let again = receipt::parse(&formatted)
        .unwrap_or_else(|e| panic!("{formatted:?} from {text:?} does not parse: {e}"));
    assert_eq!(again.format(), formatted, "format is not a normal form");
    // The id is written as is; a reader gets it back unless it holds spaces (documented).
    if !r.id.contains(char::is_whitespace) {
        assert_eq!(again.id, r.id, "{formatted:?}");
    }
    let state = r.state().unwrap_or(MessageState::UNKNOWN);
    assert_eq!(again.sub, Some(r.sub.unwrap_or(1)));
    assert_eq!(
        again.dlvrd,
        Some(
            r.dlvrd
                .unwrap_or(u32::from(state == MessageState::DELIVERED))
        )
    );
    assert_eq!(again.stat.as_deref(), Some(receipt::state_to_stat(state)));
    assert_eq!(again.err_code(), Some(r.err_code().unwrap_or(0)));
    for (before, after) in [
        (&r.submit_date, &again.submit_date),
        (&r.done_date, &again.done_date),
    ] {
        let after = after.as_ref().expect("formatted receipts carry both dates");
        let minute = before
            .as_ref()
            .and_then(|d| d.epoch_secs)
            .map(|secs| secs - secs.rem_euclid(60));
        if after.raw == NO_DATE {
            assert_eq!(after.epoch_secs, None);
        } else {
            assert_eq!(after.epoch_secs, minute, "{formatted:?}");
        }
    }
    let kept = again
        .text
        .as_deref()
        .expect("formatted receipts carry text:");
    assert!(kept.chars().count() <= TEXT_CHARS, "{kept:?}");
    assert!(!kept.contains(char::is_control), "{kept:?}");
}

/// A receipt date: valid only as 10, 12 or 14 digits, and then written back to the minute.
fn date(raw: &str) {
    let d = ReceiptDate::parse(raw);
    assert_eq!(d.raw, raw);
    let Some(secs) = d.epoch_secs else {
        return;
    };
    assert!(
        matches!(raw.len(), 10 | 12 | 14) && raw.bytes().all(|b| b.is_ascii_digit()),
        "{raw:?} read as {secs}"
    );
    let written = ReceiptDate::from_epoch(secs);
    // YYYY in 14 digits may lie outside the 2000–2099 that YYMMDDhhmm can carry.
    let yymmddhhmm = if raw.len() == 14 {
        raw.strip_prefix("20").map(|r| &r[..10])
    } else {
        Some(&raw[..10])
    };
    match yymmddhhmm {
        Some(expected) => {
            assert_eq!(written.raw, expected, "{raw:?}");
            assert_eq!(
                written.epoch_secs,
                Some(secs - secs.rem_euclid(60)),
                "{raw:?}"
            );
        }
        None => assert_eq!(written.raw, NO_DATE, "{raw:?}"),
    }
}

/// The receipts smppd sends: `Receipt::new` holds exactly what `format` writes, so they parse
/// back equal, for any instants, error code, state and text.
fn gateway_receipt(data: &[u8]) {
    let (head, text) = data.split_at(data.len().min(21));
    let mut fields = [0u8; 21];
    fields[..head.len()].copy_from_slice(head);
    let word = |at: usize| i64::from_be_bytes(fields[at..at + 8].try_into().unwrap_or_default());
    let (submit, done) = (word(0), word(8));
    let err = u32::from_be_bytes(fields[16..20].try_into().unwrap_or_default());
    let state = MessageState(fields[20]);
    let text = String::from_utf8_lossy(text);
    // An id as the gateway writes them: decimal digits.
    let id = submit.unsigned_abs().to_string();
    let r = Receipt::new(id, state, err, submit, done, &text);
    let formatted = r.format();
    assert_eq!(receipt::parse(&formatted), Ok(r.clone()), "{formatted:?}");
    assert_eq!(r.err_code(), Some(err));
    assert_eq!(
        r.state(),
        receipt::stat_to_state(receipt::state_to_stat(state))
    );
    let expected: String = text
        .chars()
        .take(TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    assert_eq!(r.text.as_deref(), Some(expected.as_str()));
}
