//! Delivery receipt text, the de-facto `id:… stat:…` form in a receipt's `short_message`
//! (smpp34.md §10): a tolerant parser for what carriers send and a strict formatter for the
//! receipts smppd sends its own ESMEs.
//!
//! The format comes from an informative appendix of SMPP 3.4, so carriers vary (§10.3). The
//! parser finds fields by their labels, in any order, case- and space-insensitively, and keeps
//! raw strings wherever carriers disagree on the content (`id`, `stat`, `err`, dates).

use std::fmt::{self, Write as _};

use crate::time::{format_compact_date, parse_compact_date, DateLayout};
use crate::types::MessageState;

/// Characters of the original message a formatted receipt carries in `text:` (smpp34.md §10.2).
pub const TEXT_CHARS: usize = 20;

/// What the date fields hold when the instant cannot be written as `YYMMDDhhmm`.
const NO_DATE: &str = "0000000000";

/// A delivery receipt's text fields. Everything but `id` may be absent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Receipt {
    /// `id:`, the SMSC message id of the original submit, whole and as written: carriers pad,
    /// exceed 10 characters or use UUID-like ids, and may write it in another base than the
    /// `submit_sm_resp` did (smpp34.md §10.3), so matching is the caller's job.
    pub id: String,
    /// `sub:`, messages originally submitted (usually 1); `None` if absent or not a number.
    pub sub: Option<u32>,
    /// `dlvrd:`, messages delivered (0 or 1); `None` if absent or not a number.
    pub dlvrd: Option<u32>,
    /// `submit date:`, when the message was submitted.
    pub submit_date: Option<ReceiptDate>,
    /// `done date:`, when the message reached its final state.
    pub done_date: Option<ReceiptDate>,
    /// `stat:` as written; [`Receipt::state`] maps it to a [`MessageState`].
    pub stat: Option<String>,
    /// `err:` as written, since carriers use decimal, hex and widths other than 3;
    /// [`Receipt::err_code`] reads it as a number.
    pub err: Option<String>,
    /// `text:` verbatim: everything after the label to the end of the receipt.
    pub text: Option<String>,
}

/// A receipt date: the raw digits and, if they are a valid 10-, 12- or 14-digit date, the UTC
/// instant they name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReceiptDate {
    /// The field as written (trimmed).
    pub raw: String,
    /// Seconds since the Unix epoch, read as UTC; `None` if `raw` is not a valid date.
    pub epoch_secs: Option<i64>,
}

/// Why a text is not a delivery receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// No `id:` field, or an empty one: without it the receipt cannot be matched.
    #[error("no id: field")]
    MissingId,
}

/// The receipt fields, in the order of the 3.4 appendix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Each label as its words, lower case. Between words any run of spaces, `_` or `-` (or none:
/// OpenMarket's `submitdate:`) is accepted (smpp34.md §10.3).
const LABELS: [(Field, &[&str]); 8] = [
    (Field::Id, &["id"]),
    (Field::Sub, &["sub"]),
    (Field::Dlvrd, &["dlvrd"]),
    (Field::SubmitDate, &["submit", "date"]),
    (Field::DoneDate, &["done", "date"]),
    (Field::Stat, &["stat"]),
    (Field::Err, &["err"]),
    (Field::Text, &["text"]),
];

/// `stat:` words and their states: the 3.4 appendix words first (smpp34.md §8.7), then the long
/// forms some carriers write.
const STAT_WORDS: [(&str, MessageState); 13] = [
    ("ENROUTE", MessageState::ENROUTE),
    ("DELIVRD", MessageState::DELIVERED),
    ("EXPIRED", MessageState::EXPIRED),
    ("DELETED", MessageState::DELETED),
    ("UNDELIV", MessageState::UNDELIVERABLE),
    ("ACCEPTD", MessageState::ACCEPTED),
    ("UNKNOWN", MessageState::UNKNOWN),
    ("REJECTD", MessageState::REJECTED),
    ("DELIVERED", MessageState::DELIVERED),
    ("UNDELIVERABLE", MessageState::UNDELIVERABLE),
    ("UNDELIVERED", MessageState::UNDELIVERABLE),
    ("ACCEPTED", MessageState::ACCEPTED),
    ("REJECTED", MessageState::REJECTED),
];

/// Parses receipt text. Only `id:` is required; see [`Receipt`] for what each field keeps.
///
/// Labels are found wherever a known label (any case, optional separators between its words)
/// directly precedes a `:` and follows the start or a non-alphanumeric character; a field's value
/// runs to the next label and is trimmed. `text:` takes the rest of the input verbatim, even
/// spaces and things that look like labels. A repeated field keeps its first usable value.
/// Trailing NULs and line ends (from C strings and some carriers) are ignored.
pub fn parse(text: &str) -> Result<Receipt, ReceiptError> {
    let input = text.trim_end_matches(['\0', '\r', '\n']);
    let labels = find_labels(input.as_bytes());
    let mut receipt = Receipt {
        id: String::new(),
        sub: None,
        dlvrd: None,
        submit_date: None,
        done_date: None,
        stat: None,
        err: None,
        text: None,
    };
    for (n, label) in labels.iter().enumerate() {
        let end = labels.get(n + 1).map_or(input.len(), |next| next.start);
        // Both ends sit on ASCII bytes (a ':' or a label's first letter), so `get` always
        // succeeds; it is used so that a mistake here cannot panic.
        let raw = input.get(label.value..end).unwrap_or_default();
        if label.field == Field::Text {
            receipt.text.get_or_insert_with(|| raw.to_owned());
            continue;
        }
        let value = raw.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\0' | ',' | ';'));
        if value.is_empty() {
            continue;
        }
        match label.field {
            Field::Id => {
                if receipt.id.is_empty() {
                    receipt.id = value.to_owned();
                }
            }
            Field::Sub => {
                receipt.sub = receipt.sub.or_else(|| parse_count(value));
            }
            Field::Dlvrd => {
                receipt.dlvrd = receipt.dlvrd.or_else(|| parse_count(value));
            }
            Field::SubmitDate => {
                receipt
                    .submit_date
                    .get_or_insert_with(|| ReceiptDate::parse(value));
            }
            Field::DoneDate => {
                receipt
                    .done_date
                    .get_or_insert_with(|| ReceiptDate::parse(value));
            }
            Field::Stat => {
                receipt.stat.get_or_insert_with(|| value.to_owned());
            }
            Field::Err => {
                receipt.err.get_or_insert_with(|| value.to_owned());
            }
            Field::Text => {}
        }
    }
    if receipt.id.is_empty() {
        return Err(ReceiptError::MissingId);
    }
    Ok(receipt)
}

/// Parses receipt text from `short_message` octets already in an ASCII-compatible coding,
/// replacing invalid UTF-8 (it can only be in the free-form fields).
pub fn parse_bytes(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
    parse(&String::from_utf8_lossy(bytes))
}

/// The state a `stat:` word names, in any case and surrounding spaces: the 3.4 words
/// (`DELIVRD`, `UNDELIV`, …) and the long forms (`DELIVERED`, `UNDELIVERABLE`, …). `None` for
/// any other word; the caller then reports `UNKNOWN` and keeps the raw word.
pub fn stat_to_state(word: &str) -> Option<MessageState> {
    let word = word.trim();
    STAT_WORDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, state)| state)
}

/// The 7-character 3.4 `stat:` word for a state (smpp34.md §8.7). States without one: 5.0's
/// SCHEDULED is written `ENROUTE` (not final, still in the SMSC's hands); SKIPPED and values no
/// spec defines are `UNKNOWN`.
pub fn state_to_stat(state: MessageState) -> &'static str {
    match state {
        MessageState::SCHEDULED | MessageState::ENROUTE => "ENROUTE",
        MessageState::DELIVERED => "DELIVRD",
        MessageState::EXPIRED => "EXPIRED",
        MessageState::DELETED => "DELETED",
        MessageState::UNDELIVERABLE => "UNDELIV",
        MessageState::ACCEPTED => "ACCEPTD",
        MessageState::REJECTED => "REJECTD",
        _ => "UNKNOWN",
    }
}

impl Receipt {
    /// The receipt smppd sends its ESMEs for a message (smpp34.md §10.3, last paragraph):
    /// `sub:001`, `dlvrd:001` only for DELIVERED, dates as UTC `YYMMDDhhmm` (so to the minute),
    /// `err:` as 3 digits and the first 20 characters of the original text, control characters
    /// replaced by spaces so the receipt stays one line. `id` should be the gateway's id.
    ///
    /// Fields hold exactly what [`Receipt::format`] writes, so parsing the formatted text gives
    /// back an equal value.
    pub fn new(
        id: impl Into<String>,
        state: MessageState,
        err: u32,
        submit_epoch_secs: i64,
        done_epoch_secs: i64,
        text: &str,
    ) -> Self {
        Self {
            id: id.into(),
            sub: Some(1),
            dlvrd: Some(u32::from(state == MessageState::DELIVERED)),
            submit_date: Some(ReceiptDate::from_epoch(submit_epoch_secs)),
            done_date: Some(ReceiptDate::from_epoch(done_epoch_secs)),
            stat: Some(state_to_stat(state).to_owned()),
            err: Some(format!("{err:03}")),
            text: Some(receipt_text(text)),
        }
    }

    /// The state `stat:` names, if it is a known word (see [`stat_to_state`]).
    pub fn state(&self) -> Option<MessageState> {
        self.stat.as_deref().and_then(stat_to_state)
    }

    /// `err:` as a number, best effort: all decimal digits are read as decimal (so `010` is
    /// 10), otherwise hex digits with an optional `0x` as hex; `None` for anything else or an
    /// overflow. A carrier whose digits-only codes are hex needs the raw [`Receipt::err`].
    pub fn err_code(&self) -> Option<u32> {
        let raw = self.err.as_deref()?.trim();
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return raw.parse().ok();
        }
        let hex = raw
            .strip_prefix("0x")
            .or_else(|| raw.strip_prefix("0X"))
            .unwrap_or(raw);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(hex, 16).ok()
    }

    /// The strict 3.4 appendix text:
    /// `id:{id} sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:WORD
    /// err:EEE text:{first 20 chars}`.
    ///
    /// Normalises what was parsed: a missing `sub` is 1, a missing `dlvrd` is 1 for DELIVERED
    /// else 0, dates are rewritten as UTC `YYMMDDhhmm` (`0000000000` if absent, invalid or
    /// outside 2000–2099), `stat` is the 7-character word of [`Receipt::state`] (`UNKNOWN` if
    /// none), `err` is [`Receipt::err_code`] in decimal (0 if none). Numbers are zero-padded to 3
    /// digits and only exceed 3 when the value does (never truncated to a wrong number). The id
    /// is written as is: it must not contain spaces for a reader to get it back.
    pub fn format(&self) -> String {
        let state = self.state().unwrap_or(MessageState::UNKNOWN);
        let sub = self.sub.unwrap_or(1);
        let dlvrd = self
            .dlvrd
            .unwrap_or(u32::from(state == MessageState::DELIVERED));
        let err = self.err_code().unwrap_or(0);
        // Built by hand: a gateway formats one per message, and `write!` cost a third more.
        let mut out = String::with_capacity(120 + self.id.len());
        out.push_str("id:");
        out.push_str(&self.id);
        out.push_str(" sub:");
        push_3_digits(&mut out, sub);
        out.push_str(" dlvrd:");
        push_3_digits(&mut out, dlvrd);
        out.push_str(" submit date:");
        push_date_10(&mut out, self.submit_date.as_ref());
        out.push_str(" done date:");
        push_date_10(&mut out, self.done_date.as_ref());
        out.push_str(" stat:");
        out.push_str(state_to_stat(state));
        out.push_str(" err:");
        push_3_digits(&mut out, err);
        out.push_str(" text:");
        out.extend(receipt_chars(self.text.as_deref().unwrap_or_default()));
        out
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format())
    }
}

/// `n` in decimal, zero-padded to 3 digits (more only if it needs them).
fn push_3_digits(out: &mut String, n: u32) {
    if n < 1000 {
        for digit in [n / 100, n / 10 % 10, n % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
    } else {
        let _ = write!(out, "{n}");
    }
}

impl ReceiptDate {
    /// Reads a receipt date of 10, 12 or 14 digits (smpp34.md §10.3), keeping the raw text.
    pub fn parse(raw: &str) -> Self {
        Self {
            raw: raw.to_owned(),
            epoch_secs: parse_compact_date(raw.as_bytes()).ok(),
        }
    }

    /// The date a formatted receipt carries for a UTC instant: `YYMMDDhhmm`, so `epoch_secs` is
    /// the instant truncated to the minute; `0000000000` and `None` outside 2000–2099.
    pub fn from_epoch(epoch_secs: i64) -> Self {
        match format_compact_date(epoch_secs, DateLayout::Yymmddhhmm) {
            // What parsing `raw` back gives, without the parse.
            Some(raw) => Self {
                raw,
                epoch_secs: Some(epoch_secs - epoch_secs.rem_euclid(60)),
            },
            None => Self::parse(NO_DATE),
        }
    }
}

impl fmt::Display for ReceiptDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Where a label was found: its field, the byte offset where the label starts (ending the
/// previous value) and the offset just after its `:` (starting its value).
struct Label {
    field: Field,
    start: usize,
    value: usize,
}

/// Finds the labels in order, stopping after `text:` since the rest is its value.
fn find_labels(input: &[u8]) -> Vec<Label> {
    let mut labels = Vec::new();
    for (colon, _) in input.iter().enumerate().filter(|&(_, &b)| b == b':') {
        let found = LABELS
            .iter()
            .find_map(|&(field, words)| label_start(input, colon, words).map(|s| (field, s)));
        let Some((field, start)) = found else {
            continue;
        };
        labels.push(Label {
            field,
            start,
            value: colon + 1,
        });
        if field == Field::Text {
            break;
        }
    }
    labels
}

/// Matches `words` backwards from the `:` at `colon` and returns where the label starts.
/// Spaces before the `:` are allowed; the label must begin the input or follow a character
/// that cannot be part of a word, so `xid:` is not `id:`.
fn label_start(input: &[u8], colon: usize, words: &[&str]) -> Option<usize> {
    let mut at = skip_back(input, colon, |b| b == b' ' || b == b'\t');
    for (n, word) in words.iter().rev().enumerate() {
        if n > 0 {
            at = skip_back(input, at, |b| matches!(b, b' ' | b'\t' | b'_' | b'-'));
        }
        let start = at.checked_sub(word.len())?;
        if !input.get(start..at)?.eq_ignore_ascii_case(word.as_bytes()) {
            return None;
        }
        at = start;
    }
    match before(input, at) {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => None,
        _ => Some(at),
    }
}

/// Moves `at` back over bytes matching `skip`.
fn skip_back(input: &[u8], mut at: usize, skip: impl Fn(u8) -> bool) -> usize {
    while let Some(b) = before(input, at) {
        if !skip(b) {
            break;
        }
        at -= 1;
    }
    at
}

/// The byte just before offset `at`, if any.
fn before(input: &[u8], at: usize) -> Option<u8> {
    input.get(at.checked_sub(1)?).copied()
}

/// `sub:` and `dlvrd:` are decimal counts; anything else is treated as absent.
fn parse_count(value: &str) -> Option<u32> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// A date field of a formatted receipt: always 10 digits.
fn push_date_10(out: &mut String, date: Option<&ReceiptDate>) {
    match date {
        // Already in that form (a date made by `from_epoch`, or read as 10 valid digits).
        Some(d) if d.epoch_secs.is_some() && d.raw.len() == 10 => out.push_str(&d.raw),
        _ => out.push_str(
            &date
                .and_then(|d| d.epoch_secs)
                .and_then(|secs| format_compact_date(secs, DateLayout::Yymmddhhmm))
                .unwrap_or_else(|| NO_DATE.to_owned()),
        ),
    }
}

/// The first 20 characters (not bytes) of `text`, control characters replaced by spaces: a
/// receipt is one line, and ESME parsers read it as one.
fn receipt_text(text: &str) -> String {
    receipt_chars(text).collect()
}

/// [`receipt_text`] a character at a time.
fn receipt_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .take(TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(digits: &str) -> Option<i64> {
        Some(parse_compact_date(digits.as_bytes()).unwrap())
    }

    fn date(raw: &str) -> Option<ReceiptDate> {
        Some(ReceiptDate {
            raw: raw.to_owned(),
            epoch_secs: parse_compact_date(raw.as_bytes()).ok(),
        })
    }

    #[test]
    fn spec_example() {
        let text = "id:0123456789 sub:001 dlvrd:001 submit date:2501311200 \
                    done date:2501311201 stat:DELIVRD err:000 text:Your code is 4821";
        let r = parse(text).unwrap();
        assert_eq!(
            r,
            Receipt {
                id: "0123456789".into(),
                sub: Some(1),
                dlvrd: Some(1),
                submit_date: date("2501311200"),
                done_date: date("2501311201"),
                stat: Some("DELIVRD".into()),
                err: Some("000".into()),
                text: Some("Your code is 4821".into()),
            }
        );
        assert_eq!(r.state(), Some(MessageState::DELIVERED));
        assert_eq!(r.err_code(), Some(0));
        assert_eq!(r.submit_date.unwrap().epoch_secs, Some(1_738_324_800));
        assert_eq!(r.done_date.unwrap().epoch_secs, Some(1_738_324_860));
        // Already strict, so formatting gives the same text back.
        assert_eq!(parse(text).unwrap().format(), text);
    }

    #[test]
    fn openmarket_labels_without_space_and_12_digit_dates() {
        let r = parse(
            "id:0118Z-0122I-2309U-57DGB sub:001 dlvrd:001 submitdate:250131120005 \
             donedate:250131120107 stat:DELIVRD err:000 text:",
        )
        .unwrap();
        assert_eq!(r.id, "0118Z-0122I-2309U-57DGB");
        assert_eq!(r.submit_date, date("250131120005"));
        assert_eq!(r.submit_date.unwrap().epoch_secs, Some(1_738_324_805));
        assert_eq!(r.done_date.unwrap().epoch_secs, Some(1_738_324_867));
        assert_eq!(r.text.as_deref(), Some(""));
    }

    #[test]
    fn cloudhopper_zero_padded_id_is_kept() {
        let r = parse("id:0000012345 sub:001 dlvrd:000 stat:UNDELIV err:001").unwrap();
        assert_eq!(r.id, "0000012345");
        assert_eq!(r.state(), Some(MessageState::UNDELIVERABLE));
        assert_eq!(r.err_code(), Some(1));
    }

    #[test]
    fn uppercase_labels() {
        let r = parse(
            "ID:abc SUB:001 DLVRD:001 SUBMIT DATE:2501311200 DONE DATE:2501311201 \
             STAT:delivrd ERR:000 TEXT:Hi",
        )
        .unwrap();
        assert_eq!(r.id, "abc");
        assert_eq!(r.sub, Some(1));
        assert_eq!(r.done_date, date("2501311201"));
        assert_eq!(r.state(), Some(MessageState::DELIVERED));
        assert_eq!(r.text.as_deref(), Some("Hi"));
    }

    #[test]
    fn mixed_case_and_underscore_labels() {
        let r = parse("Id:7 Submit_Date:2501311200 Done-Date:2501311201 Stat:Expired").unwrap();
        assert_eq!(r.submit_date, date("2501311200"));
        assert_eq!(r.done_date, date("2501311201"));
        assert_eq!(r.state(), Some(MessageState::EXPIRED));
    }

    #[test]
    fn missing_fields() {
        let r = parse("id:42 stat:REJECTD").unwrap();
        assert_eq!(r.id, "42");
        assert_eq!(r.state(), Some(MessageState::REJECTED));
        assert_eq!(
            (
                r.sub,
                r.dlvrd,
                &r.submit_date,
                &r.done_date,
                &r.err,
                &r.text
            ),
            (None, None, &None, &None, &None, &None)
        );
    }

    #[test]
    fn id_is_required() {
        assert_eq!(parse(""), Err(ReceiptError::MissingId));
        assert_eq!(parse("sub:001 stat:DELIVRD"), Err(ReceiptError::MissingId));
        assert_eq!(
            parse("id: sub:001 stat:DELIVRD"),
            Err(ReceiptError::MissingId)
        );
        // `id:` inside another word is not the label.
        assert_eq!(parse("msgid:5 stat:DELIVRD"), Err(ReceiptError::MissingId));
        assert_eq!(
            parse("stat:DELIVRD text:id:5"),
            Err(ReceiptError::MissingId)
        );
    }

    #[test]
    fn extra_spaces() {
        let r = parse(
            "  id: 42   sub:001    dlvrd:000  submit   date: 2501311200\tdone date:2501311201  \
             stat : EXPIRED   err:000   text:x",
        )
        .unwrap();
        assert_eq!(r.id, "42");
        assert_eq!(r.sub, Some(1));
        assert_eq!(r.dlvrd, Some(0));
        assert_eq!(r.submit_date, date("2501311200"));
        assert_eq!(r.done_date, date("2501311201"));
        assert_eq!(r.stat.as_deref(), Some("EXPIRED"));
        assert_eq!(r.text.as_deref(), Some("x"));
    }

    #[test]
    fn text_takes_the_rest_verbatim() {
        let r = parse("id:1 stat:DELIVRD Text:Your code: 4821 stat:FAKE  err:9 ").unwrap();
        assert_eq!(r.text.as_deref(), Some("Your code: 4821 stat:FAKE  err:9 "));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err, None);
    }

    #[test]
    fn fields_in_any_order() {
        let r = parse(
            "stat:DELIVRD err:000 id:77 done date:2501311201 submit date:2501311200 \
             dlvrd:001 sub:001 text:x",
        )
        .unwrap();
        assert_eq!(r.id, "77");
        assert_eq!(r.submit_date, date("2501311200"));
        assert_eq!(r.done_date, date("2501311201"));
        assert_eq!((r.sub, r.dlvrd), (Some(1), Some(1)));
    }

    #[test]
    fn hex_and_long_err_kept_raw() {
        let err = |e: &str| parse(&format!("id:1 err:{e}")).unwrap();
        assert_eq!(err("0x1F4").err.as_deref(), Some("0x1F4"));
        assert_eq!(err("0x1F4").err_code(), Some(500));
        assert_eq!(err("1a").err_code(), Some(26));
        assert_eq!(err("00012345").err.as_deref(), Some("00012345"));
        assert_eq!(err("00012345").err_code(), Some(12_345));
        assert_eq!(err("E-17").err_code(), None);
        assert_eq!(err("99999999999").err_code(), None);
    }

    #[test]
    fn four_digit_year_dates() {
        let r = parse("id:1 submit date:20250131120005 done date:20250131120107").unwrap();
        assert_eq!(r.submit_date, date("20250131120005"));
        assert_eq!(r.submit_date.unwrap().epoch_secs, at("250131120005"));
        assert_eq!(r.done_date.unwrap().epoch_secs, Some(1_738_324_867));
    }

    #[test]
    fn invalid_dates_kept_raw() {
        let r = parse("id:1 submit date:2513311200 done date:soon").unwrap();
        assert_eq!(
            r.submit_date,
            Some(ReceiptDate {
                raw: "2513311200".into(),
                epoch_secs: None
            })
        );
        assert_eq!(r.done_date.unwrap().raw, "soon");
    }

    #[test]
    fn uuid_like_and_colon_ids_kept_whole() {
        let r = parse("id:550e8400-e29b-41d4-a716-446655440000 stat:DELIVRD").unwrap();
        assert_eq!(r.id, "550e8400-e29b-41d4-a716-446655440000");
        let r = parse("id:abc:def sub:001").unwrap();
        assert_eq!(r.id, "abc:def");
    }

    #[test]
    fn first_value_wins_and_trailing_junk_ignored() {
        let r = parse("id:1 stat:DELIVRD stat:UNDELIV sub:x sub:002\0\r\n").unwrap();
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.sub, Some(2));
        let r = parse("id:9,sub:001;stat:DELIVRD text:hi\0").unwrap();
        assert_eq!((r.id.as_str(), r.sub), ("9", Some(1)));
        assert_eq!(r.text.as_deref(), Some("hi"));
    }

    #[test]
    fn parse_bytes_replaces_invalid_utf8() {
        let r = parse_bytes(b"id:5 stat:DELIVRD text:caf\xe9").unwrap();
        assert_eq!(r.text.as_deref(), Some("caf\u{fffd}"));
    }

    #[test]
    fn stat_words() {
        let cases = [
            ("DELIVRD", MessageState::DELIVERED),
            ("delivered", MessageState::DELIVERED),
            ("EXPIRED", MessageState::EXPIRED),
            ("Deleted", MessageState::DELETED),
            ("UNDELIV", MessageState::UNDELIVERABLE),
            ("undeliverable", MessageState::UNDELIVERABLE),
            ("ACCEPTD", MessageState::ACCEPTED),
            ("Accepted", MessageState::ACCEPTED),
            ("UNKNOWN", MessageState::UNKNOWN),
            ("rejectd", MessageState::REJECTED),
            ("REJECTED", MessageState::REJECTED),
            (" ENROUTE ", MessageState::ENROUTE),
        ];
        for (word, state) in cases {
            assert_eq!(stat_to_state(word), Some(state), "{word}");
        }
        for word in ["", "DELIV", "FAILED", "2", "DELIVRDX"] {
            assert_eq!(stat_to_state(word), None, "{word}");
        }
    }

    #[test]
    fn state_words_are_seven_chars_and_map_back() {
        for v in 0..=255u8 {
            let state = MessageState(v);
            let word = state_to_stat(state);
            assert_eq!(word.len(), 7, "{state}");
            let back = stat_to_state(word);
            match v {
                1..=8 => assert_eq!(back, Some(state)),
                0 => assert_eq!(back, Some(MessageState::ENROUTE)),
                _ => assert_eq!(back, Some(MessageState::UNKNOWN)),
            }
        }
    }

    #[test]
    fn gateway_receipt_is_strict() {
        let submit = 1_738_324_805; // 2025-01-31 12:00:05Z
        let r = Receipt::new(
            "GW42",
            MessageState::DELIVERED,
            0,
            submit,
            submit + 62,
            "Your code is 4821, do not share it",
        );
        assert_eq!(
            r.format(),
            "id:GW42 sub:001 dlvrd:001 submit date:2501311200 done date:2501311201 \
             stat:DELIVRD err:000 text:Your code is 4821, d"
        );
        assert_eq!(parse(&r.format()), Ok(r));

        let r = Receipt::new(
            "x",
            MessageState::UNDELIVERABLE,
            34,
            0,
            submit,
            "Привет,\nэто тест!!",
        );
        assert_eq!(
            r.format(),
            "id:x sub:001 dlvrd:000 submit date:0000000000 done date:2501311200 \
             stat:UNDELIV err:034 text:Привет, это тест!!"
        );
        assert_eq!(parse(&r.format()), Ok(r));
    }

    #[test]
    fn text_is_cut_at_20_chars_not_bytes() {
        let r = Receipt::new(
            "1",
            MessageState::EXPIRED,
            0,
            0,
            0,
            "ééééééééééééééééééééé€",
        );
        assert_eq!(r.text.as_deref().map(|t| t.chars().count()), Some(20));
        assert!(r.format().ends_with(&format!("text:{}", "é".repeat(20))));
    }

    #[test]
    fn format_normalises_a_carrier_receipt() {
        let r = parse(
            "Stat:Delivered SubmitDate:250131120005 id:abc err:0x1F4 donedate:20250131120107",
        )
        .unwrap();
        assert_eq!(
            r.format(),
            "id:abc sub:001 dlvrd:001 submit date:2501311200 done date:2501311201 \
             stat:DELIVRD err:500 text:"
        );
        let r = parse("id:1 stat:FAILED err:wat sub:1234").unwrap();
        assert_eq!(
            r.format(),
            "id:1 sub:1234 dlvrd:000 submit date:0000000000 done date:0000000000 \
             stat:UNKNOWN err:000 text:"
        );
    }

    fn any_state() -> impl Strategy<Value = MessageState> {
        any::<u8>().prop_map(MessageState)
    }

    /// Fragments that look like receipt parts, to reach the label logic more often than
    /// uniformly random strings would.
    fn receipt_soup() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            Just("id:".to_owned()),
            Just("ID :".to_owned()),
            Just("submit date:".to_owned()),
            Just("donedate:".to_owned()),
            Just("Submit_ Date:".to_owned()),
            Just("stat:".to_owned()),
            Just("err:".to_owned()),
            Just("text:".to_owned()),
            Just("sub:".to_owned()),
            Just("dlvrd:".to_owned()),
            Just(":".to_owned()),
            "[0-9]{0,14}",
            "[ _\\-\t,;\0]{0,3}",
            "\\PC{0,6}",
            any::<String>(),
        ];
        prop::collection::vec(part, 0..16).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn a_date_from_epoch_is_its_text_parsed(secs in -4_000_000_000i64..8_000_000_000) {
            let date = ReceiptDate::from_epoch(secs);
            prop_assert_eq!(&date, &ReceiptDate::parse(&date.raw));
            for layout in [DateLayout::Yymmddhhmmss, DateLayout::Yyyymmddhhmmss] {
                if let Some(raw) = format_compact_date(secs, layout) {
                    prop_assert_eq!(parse_compact_date(raw.as_bytes()), Ok(secs));
                }
            }
        }

        #[test]
        fn format_parse_round_trip(
            id in "[A-Za-z0-9][A-Za-z0-9_-]{0,40}",
            state in any_state(),
            err in any::<u32>(),
            submit in any::<i64>(),
            done in 946_684_800i64..4_102_444_800,
            text in any::<String>(),
        ) {
            let r = Receipt::new(id, state, err, submit, done, &text);
            let formatted = r.format();
            prop_assert_eq!(parse(&formatted), Ok(r.clone()));
            prop_assert_eq!(r.err_code(), Some(err));
            prop_assert_eq!(r.state().map(state_to_stat), Some(state_to_stat(state)));
            prop_assert!(r.text.as_deref().is_some_and(|t| t.chars().count() <= TEXT_CHARS));
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            if let Ok(r) = parse(&s) {
                prop_assert!(!r.id.is_empty());
                let _ = r.format();
                let _ = r.err_code();
            }
        }

        #[test]
        fn parse_soup_never_panics(s in receipt_soup()) {
            if let Ok(r) = parse(&s) {
                let again = parse(&r.format());
                // The id survives formatting when it has no spaces or labels in it.
                if !r.id.contains(|c: char| c.is_whitespace() || c == ':') {
                    prop_assert_eq!(again.map(|a| a.id), Ok(r.id.clone()));
                }
            }
        }

        #[test]
        fn parse_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_bytes(&bytes);
        }
    }
}
