//! French-first transliteration of message text to the GSM 7-bit alphabet, and the preview of
//! what a text costs. A text with one character outside GSM 7-bit goes as UCS-2: 70 characters
//! per SMS (67 per part) instead of 160 (153). French copy loses GSM 7-bit to a handful of
//! characters — the typographic apostrophe, « guillemets », the narrow no-break space before
//! `!` and `:`, `…`, `œ`, `ê` — so replacing them with their plain forms (`'`, `"`, a space,
//! `...`, `oe`, `e`) often halves the number of SMS.
//!
//! All or nothing: the text is transliterated only if the whole result is GSM 7-bit and takes
//! no more SMS than the original; otherwise it is sent as written, in UCS-2. One emoji keeps
//! every accent, since the text is UCS-2 anyway. Characters GSM 7-bit already has (é è à ù Ç É
//! ä ö ü ñ ß å æ ø …) are never touched, nor is `€` (two septets, through the extension table).
//!
//! Pure: no config, no I/O, never fails. Called by the HTTP API on the text it is given, and
//! for its preview of the SMS count before and after (shop-fit §5.8); the GSM 7-bit tables and
//! the SMS counting are `smpp_proto`'s.

use smpp_proto::coding::{self, Encoding};
use smpp_proto::concat::{self, ConcatMethod, SplitError};
use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Whether to transliterate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transliterate when the whole text then fits GSM 7-bit and takes no more SMS.
    Auto,
    /// Send the text as written.
    Off,
}

/// The text to send, what was replaced, and what it costs before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transliterated {
    /// The text to send: the transliteration, or the original unchanged.
    pub text: String,
    /// What was replaced, in order of first occurrence; empty when `text` is the original.
    /// Accents written decomposed (e + U+0301) and joined into one character are not listed.
    pub replaced: Vec<Replacement>,
    /// Why `text` is what it is.
    pub outcome: Outcome,
    /// The original text as smppd would send it.
    pub before: Plan,
    /// `text` as smppd will send it.
    pub after: Plan,
}

/// One character replaced, everywhere it occurs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// The character in the original.
    pub from: char,
    /// What it became (empty for invisible characters such as the soft hyphen).
    pub to: &'static str,
    /// How many times it occurred.
    pub count: usize,
}

/// Why the text to send is the transliteration or the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The text was GSM 7-bit already: nothing to do.
    AlreadyGsm7,
    /// Transliterated to GSM 7-bit.
    Transliterated,
    /// Kept as written (UCS-2): this character, the first of them, has no GSM 7-bit form and no
    /// replacement (an emoji, a Cyrillic letter).
    NoGsm7Form(char),
    /// Kept as written (UCS-2): in GSM 7-bit it would take more SMS (a text of many `…`, each
    /// three septets as `...` but one UCS-2 unit).
    MoreSegments,
    /// [`Mode::Off`]: kept as written.
    Off,
}

/// What a text costs as smppd sends it: the encoding [`coding::choose_encoding`] picks and the
/// SMS count of [`concat::count_parts`] with the 8-bit-reference UDH, as `esme_client` splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Plan {
    /// GSM 7-bit if every character fits, otherwise UCS-2.
    pub encoding: Encoding,
    /// The number of SMS: 1 up to 160 septets or 70 UTF-16 units, then parts of 153 or 67.
    /// Counted beyond the 255 parts a message can have, so a caller can say by how much.
    pub segments: usize,
    /// The text's length in `encoding`'s unit: septets (`€`, `{`, `[` … count 2) or UTF-16
    /// units (an emoji outside the BMP counts 2).
    pub units: usize,
}

/// The text to send and what was replaced: the transliteration if the whole of it is GSM 7-bit
/// and takes no more SMS than `text`, otherwise `text` unchanged (sent as UCS-2) and nothing
/// replaced.
pub fn transliterate(text: &str, mode: Mode) -> Transliterated {
    let before = plan(text);
    let unchanged = |outcome| Transliterated {
        text: text.to_owned(),
        replaced: Vec::new(),
        outcome,
        before,
        after: before,
    };
    if mode == Mode::Off {
        return unchanged(Outcome::Off);
    }
    if before.encoding == Encoding::Gsm7 {
        return unchanged(Outcome::AlreadyGsm7);
    }
    // Accents typed as a letter plus a combining mark (e + U+0301, as macOS writes file names)
    // are joined first, so that `é` is found GSM 7-bit and `ê` in the table.
    let composed: Cow<'_, str> = if unicode_normalization::is_nfc(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    };
    let mut out = String::with_capacity(composed.len());
    let mut replaced: Vec<Replacement> = Vec::new();
    for c in composed.chars() {
        if Encoding::Gsm7.char_units(c).is_some() {
            out.push(c);
            continue;
        }
        let Some(to) = replacement(c) else {
            return unchanged(Outcome::NoGsm7Form(c));
        };
        out.push_str(to);
        match replaced.iter_mut().find(|r| r.from == c) {
            Some(r) => r.count += 1,
            None => replaced.push(Replacement {
                from: c,
                to,
                count: 1,
            }),
        }
    }
    let after = plan(&out);
    if after.segments > before.segments {
        return unchanged(Outcome::MoreSegments);
    }
    Transliterated {
        text: out,
        replaced,
        outcome: Outcome::Transliterated,
        before,
        after,
    }
}

/// The encoding and SMS count of `text` as smppd would send it, for the API's preview.
pub fn plan(text: &str) -> Plan {
    let encoding = coding::choose_encoding(text);
    // choose_encoding picks an encoding every character of `text` fits: never None.
    let units = encoding.units(text).unwrap_or(usize::MAX);
    let segments = match concat::count_parts(text, encoding, ConcatMethod::Udh8) {
        Ok(parts) | Err(SplitError::TooManyParts { parts }) => parts,
        // Not reached: every character fits `encoding`, and counting takes no reference.
        Err(SplitError::Encode(_) | SplitError::ReferenceTooLarge { .. }) => usize::MAX,
    };
    Plan {
        encoding,
        segments,
        units,
    }
}

/// The GSM 7-bit stand-in for a character GSM 7-bit lacks (shop-fit §5.8), `None` if there is
/// none. French first: its quotes, dashes, spaces, ligatures and the accented letters GSM 7-bit
/// lacks. Each stand-in is plain ASCII, so in GSM 7-bit it costs one septet per character.
fn replacement(c: char) -> Option<&'static str> {
    Some(match c {
        // Apostrophes, single quotes and the prime (minutes, feet).
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' => "'",
        // Double quotes, « guillemets » and the double prime.
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '«' | '»' => "\"",
        // Hyphen, non-breaking hyphen, figure dash, en and em dashes, horizontal bar, minus.
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '…' => "...",
        // No-break space, the narrow one French puts before `!`, `?`, `:`, `;` and in `20 %`,
        // and the other spaces of typesetting (en, em, thin, figure, hair, ideographic…).
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        // Invisible: soft hyphen, zero-width space, word joiner, byte order mark. Pasted from
        // word processors and web pages, they would make a text UCS-2 for nothing.
        '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' => "",
        // French letters GSM 7-bit lacks (it has é è à ù, ü, Ç and É). Lowercase ç is not in
        // GSM 7-bit (0x09 is Ç, and handsets show it capital), so `ça` becomes `ca`, not `Ça`.
        'â' => "a",
        'ê' | 'ë' => "e",
        'î' | 'ï' => "i",
        'ô' => "o",
        'û' => "u",
        'ÿ' => "y",
        'ç' => "c",
        'œ' => "oe",
        'À' | 'Â' => "A",
        'È' | 'Ê' | 'Ë' => "E",
        'Î' | 'Ï' => "I",
        'Ô' => "O",
        'Ù' | 'Û' => "U",
        'Ÿ' => "Y",
        'Œ' => "OE",
        // `n°` → `no`, `3°C` → `3oC`: the usual plain writing of the ordinal.
        '°' => "o",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NNBSP: char = '\u{202F}';

    fn auto(text: &str) -> Transliterated {
        transliterate(text, Mode::Auto)
    }

    fn replaced(t: &Transliterated) -> Vec<(char, &'static str, usize)> {
        t.replaced.iter().map(|r| (r.from, r.to, r.count)).collect()
    }

    #[test]
    fn table_cases() {
        let cases: &[(&str, &str)] = &[
            ("l’été", "l'été"),
            ("‘a’ ‚b‛ 5′", "'a' 'b' 5'"),
            ("“a” „b‟ 5″ «c» « d »", "\"a\" \"b\" 5\" \"c\" \" d \""),
            ("a–b—c‒d−e‐f‑g―h", "a-b-c-d-e-f-g-h"),
            ("Attendez…", "Attendez..."),
            (
                "a\u{A0}b\u{202F}c\u{2009}d\u{2007}e\u{2003}f",
                "a b c d e f",
            ),
            ("ré\u{AD}ser\u{200B}va\u{FEFF}tion", "réservation"),
            ("Noël", "Noel"),
            ("cœur", "coeur"),
            ("ŒUVRE", "OEUVRE"),
            (
                "fenêtre château île maïs hôtel sûr L’Haÿ",
                "fenetre chateau ile mais hotel sur L'Hay",
            ),
            ("À Â È Ê Ë Î Ï Ô Ù Û Ÿ", "A A E E E I I O U U Y"),
            ("n° 12", "no 12"),
            ("ça", "ca"),
            // What GSM 7-bit has stays: é è à ù ì ò Ç É Ä Ö Ü ä ö ü ñ Ñ ß Å å Æ æ Ø ø €.
            (
                "’ é è à ù ì ò Ç É Ä Ö Ü ä ö ü ñ Ñ ß Å å Æ æ Ø ø €",
                "' é è à ù ì ò Ç É Ä Ö Ü ä ö ü ñ Ñ ß Å å Æ æ Ø ø €",
            ),
            // Decomposed accents (e + U+0301, e + U+0302) are joined first.
            ("e\u{301}te\u{302}", "éte"),
        ];
        for &(text, expected) in cases {
            let t = auto(text);
            assert_eq!(t.text, expected, "{text:?}");
            assert_eq!(t.outcome, Outcome::Transliterated, "{text:?}");
            assert_eq!(t.after.encoding, Encoding::Gsm7, "{text:?}");
        }
    }

    #[test]
    fn the_article_sentence_fits_one_sms_after() {
        let text = format!(
            "« Le SMS, c’est le canal de l’e-commerce … aujourd’hui »{NNBSP}: -20{NNBSP}% \
             sur tout le site jusqu’à dimanche{NNBSP}! Code PRINTEMPS. STOP au 36123"
        );
        let t = auto(&text);
        assert_eq!(
            t.text,
            "\" Le SMS, c'est le canal de l'e-commerce ... aujourd'hui \" : -20 % \
             sur tout le site jusqu'à dimanche ! Code PRINTEMPS. STOP au 36123"
        );
        assert_eq!(
            replaced(&t),
            [
                ('«', "\"", 1),
                ('’', "'", 4),
                ('…', "...", 1),
                ('»', "\"", 1),
                (NNBSP, " ", 3)
            ]
        );
        assert_eq!((t.before.encoding, t.before.segments), (Encoding::Ucs2, 2));
        assert_eq!((t.after.encoding, t.after.segments), (Encoding::Gsm7, 1));
    }

    #[test]
    fn narrow_nbsp_and_euro() {
        let t = auto(&format!("Prix{NNBSP}: 10{NNBSP}€"));
        assert_eq!(t.text, "Prix : 10 €");
        assert_eq!(replaced(&t), [(NNBSP, " ", 2)]);
        // `€` is kept: two septets (ESC + 0x65), one UTF-16 unit.
        assert_eq!(t.before.units, 11);
        assert_eq!(t.after.units, 12);
    }

    #[test]
    fn lowercase_cedilla_loses_it_capital_keeps_it() {
        assert_eq!(auto("Ça").outcome, Outcome::AlreadyGsm7);
        assert_eq!(auto("Ça").text, "Ça");
        assert_eq!(auto("Ça, ça").text, "Ça, ca");
    }

    #[test]
    fn euro_counts_two_septets_and_can_make_two_sms() {
        let text = "a".repeat(159);
        assert_eq!(plan(&text).segments, 1);
        let with_euro = format!("{text}€");
        assert_eq!(
            plan(&with_euro),
            Plan {
                encoding: Encoding::Gsm7,
                segments: 2,
                units: 161
            }
        );
        // The same text with `’` is transliterated; `€` makes it two SMS.
        let t = auto(&format!("{}’€", "a".repeat(158)));
        assert_eq!(t.outcome, Outcome::Transliterated);
        assert_eq!((t.after.units, t.after.segments), (161, 2));
        assert_eq!(t.before.segments, 3);
    }

    #[test]
    fn an_emoji_keeps_the_whole_text_as_written() {
        let text = "Noël arrive ! l’offre est là 🎄";
        let t = auto(text);
        assert_eq!(t.text, text);
        assert!(t.replaced.is_empty());
        assert_eq!(t.outcome, Outcome::NoGsm7Form('🎄'));
        assert_eq!(t.after, t.before);
        assert_eq!(t.after.encoding, Encoding::Ucs2);
        // The first character with no form is named, even after replaceable ones.
        assert_eq!(auto("l’été в").outcome, Outcome::NoGsm7Form('в'));
    }

    #[test]
    fn gsm7_text_comes_back_unchanged() {
        for text in [
            "",
            "Votre code : 123456",
            "https://shop.example/c/AbC-12_x?u=1&v=%20#top",
            "Déjà expédié : où ? à 10€ {ok} [x] ~ | \\ ^",
        ] {
            let t = auto(text);
            assert_eq!(t.text, text);
            assert!(t.replaced.is_empty());
            assert_eq!(t.outcome, Outcome::AlreadyGsm7);
            assert_eq!(t.after, t.before);
        }
    }

    #[test]
    fn urls_are_left_intact_around_replacements() {
        let t = auto("Votre colis arrive aujourd’hui : https://ex.fr/t?id=A1-b_2&x=%C3%A9");
        assert_eq!(
            t.text,
            "Votre colis arrive aujourd'hui : https://ex.fr/t?id=A1-b_2&x=%C3%A9"
        );
    }

    #[test]
    fn off_never_changes_anything() {
        for text in ["l’été", "Noël", "a", "🎄", ""] {
            let t = transliterate(text, Mode::Off);
            assert_eq!(t.text, text);
            assert!(t.replaced.is_empty());
            assert_eq!(t.outcome, Outcome::Off);
            assert_eq!(t.after, t.before);
        }
    }

    #[test]
    fn not_when_gsm7_takes_more_sms() {
        // 70 `…` are one UCS-2 SMS but 210 septets as `...`: two GSM 7-bit SMS.
        let text = "…".repeat(70);
        let t = auto(&text);
        assert_eq!(t.outcome, Outcome::MoreSegments);
        assert_eq!(t.text, text);
        assert!(t.replaced.is_empty());
        assert_eq!(t.before.segments, 1);
        // At 50 it is 150 septets: one SMS either way, so GSM 7-bit it is.
        assert_eq!(auto(&"…".repeat(50)).outcome, Outcome::Transliterated);
    }

    #[test]
    fn sms_counts() {
        let cases: &[(String, Encoding, usize, usize)] = &[
            ("a".repeat(160), Encoding::Gsm7, 160, 1),
            ("a".repeat(161), Encoding::Gsm7, 161, 2),
            ("a".repeat(306), Encoding::Gsm7, 306, 2),
            ("a".repeat(307), Encoding::Gsm7, 307, 3),
            ("€".repeat(80), Encoding::Gsm7, 160, 1),
            ("ê".repeat(70), Encoding::Ucs2, 70, 1),
            ("ê".repeat(71), Encoding::Ucs2, 71, 2),
            ("ê".repeat(134), Encoding::Ucs2, 134, 2),
            ("ê".repeat(135), Encoding::Ucs2, 135, 3),
            ("🎄".repeat(35), Encoding::Ucs2, 70, 1),
            // Past 255 parts the count goes on.
            ("a".repeat(153 * 300), Encoding::Gsm7, 153 * 300, 300),
        ];
        for (text, encoding, units, segments) in cases {
            let p = plan(text);
            assert_eq!(
                (p.encoding, p.units, p.segments),
                (*encoding, *units, *segments),
                "{} chars",
                text.chars().count()
            );
        }
    }

    /// Characters GSM 7-bit has or the table replaces: ASCII, letters and extension
    /// characters, quotes, spaces, ligatures.
    fn mappable_char() -> impl Strategy<Value = char> {
        prop_oneof![
            // The backtick is the one printable ASCII character GSM 7-bit lacks.
            4 => prop::char::range(' ', '~').prop_filter("GSM 7-bit", |&c| c != '`'),
            2 => prop::sample::select(vec!['é', 'à', 'Ç', 'ü', '€', '{', '\n', 'Δ']),
            4 => prop::sample::select(vec![
                '’', '«', '»', '…', '\u{A0}', '\u{202F}', 'ê', 'œ', 'Œ', 'ç', '°', '—', '\u{AD}',
            ]),
        ]
    }

    /// Any character, often one with no GSM 7-bit form (emoji, Cyrillic, CJK, tab, lone
    /// combining marks, the backtick).
    fn any_char() -> impl Strategy<Value = char> {
        prop_oneof![
            6 => mappable_char(),
            1 => prop::sample::select(vec!['🎄', 'в', '中', '\u{301}', '\u{302}', '\t', '`']),
            1 => any::<char>(),
        ]
    }

    /// Texts that transliterate, texts of expensive `…` near the SMS limits, and any texts.
    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            2 => prop::collection::vec(mappable_char(), 0..400),
            1 => prop::collection::vec(prop::sample::select(vec!['…', '…', '…', '€', 'a']), 60..160),
            1 => prop::collection::vec(any_char(), 0..60),
        ]
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        /// Whatever the text: it comes back unchanged, or wholly GSM 7-bit in no more SMS.
        #[test]
        fn unchanged_or_gsm7_in_no_more_sms(text in any_text()) {
            let t = auto(&text);
            prop_assert_eq!(t.before, plan(&text));
            prop_assert_eq!(t.after, plan(&t.text));
            if t.text == text {
                prop_assert!(t.replaced.is_empty());
            } else {
                prop_assert_eq!(t.outcome, Outcome::Transliterated);
                prop_assert!(coding::gsm7_fits(&t.text));
                prop_assert!(t.after.segments <= t.before.segments);
            }
            let off = transliterate(&text, Mode::Off);
            prop_assert_eq!(off.text, text);
        }
    }
}
