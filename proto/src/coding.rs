//! Text codings for `short_message`: GSM 03.38 7-bit (with its extension table), Latin-1 and
//! UCS-2 (UTF-16BE), plus the unit counting that decides how many SMS a text needs.
//!
//! Encoders are strict and name the first character they cannot represent; decoders never fail
//! and never panic, whatever the bytes (`smpp34.md`: encode strictly, decode liberally).
//! GSM text is handled unpacked (one septet per octet), the SMPP convention (`smpp34.md` §11.3);
//! [`pack_septets`] and [`unpack_septets`] convert to and from the packed air-interface form.

use std::fmt;

/// The GSM escape septet: the next septet is read from the extension table (`smpp34.md` §11.2).
pub const GSM7_ESC: u8 = 0x1B;

/// What the decoders put where the input holds no character (U+FFFD REPLACEMENT CHARACTER).
const REPLACEMENT: char = '\u{FFFD}';

/// GSM 03.38 default alphabet, indexed by septet (`smpp34.md` §11.1). The ESC slot (0x1B) holds
/// a space: 3GPP 23.038 asks receivers that cannot use an escape to show a space, and the encoder
/// never maps anything to 0x1B (see [`gsm7_code`]).
const GSM7_BASE: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table: septet after ESC → character (`smpp34.md` §11.2). Codes not listed
/// (including the reserved 0x0D and 0x1B) decode as described in [`decode_gsm7_unpacked`].
const GSM7_EXT: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// A text encoding smppd can produce, with the `data_coding` value that announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 default alphabet, unpacked (one septet per octet); `data_coding` 0x00.
    Gsm7,
    /// ISO-8859-1, one octet per character; `data_coding` 0x03.
    Latin1,
    /// UCS-2 as UTF-16BE without BOM (surrogate pairs allowed); `data_coding` 0x08.
    Ucs2,
}

impl Encoding {
    /// The `data_coding` value for this encoding (SMPP 3.4 §5.2.19, `smpp34.md` §8.3).
    pub const fn data_coding(self) -> u8 {
        match self {
            Self::Gsm7 => 0x00,
            Self::Latin1 => 0x03,
            Self::Ucs2 => 0x08,
        }
    }

    /// The name used in messages for people.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM 7-bit",
            Self::Latin1 => "Latin-1",
            Self::Ucs2 => "UCS-2",
        }
    }

    /// The length of `text` in this encoding's SMS unit (septets, octets or UTF-16 code units),
    /// the unit SMS capacities are given in; `None` if `text` cannot be encoded.
    pub fn units(self, text: &str) -> Option<usize> {
        text.chars()
            .try_fold(0usize, |n, c| self.char_units(c).map(|u| n + u))
    }

    /// The units one character takes: 1 or 2 septets (an extension character carries an ESC),
    /// 1 octet, or 1 or 2 UTF-16 code units (a surrogate pair); `None` if not representable.
    pub fn char_units(self, c: char) -> Option<usize> {
        match self {
            Self::Gsm7 => gsm7_code(c).map(Gsm7Code::septets),
            Self::Latin1 => (u32::from(c) <= 0xFF).then_some(1),
            Self::Ucs2 => Some(c.len_utf16()),
        }
    }

    /// Encodes `text` (GSM 7-bit unpacked).
    pub fn encode(self, text: &str) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Gsm7 => encode_gsm7_unpacked(text),
            Self::Latin1 => encode_latin1(text),
            Self::Ucs2 => Ok(encode_ucs2(text)),
        }
    }

    /// Decodes `bytes` (GSM 7-bit unpacked); never fails, see the per-encoding decoders.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Self::Gsm7 => decode_gsm7_unpacked(bytes),
            Self::Latin1 => decode_latin1(bytes),
            Self::Ucs2 => decode_ucs2(bytes),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A character the chosen encoding cannot represent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{ch:?} (U+{:04X}) at character {index} is not in {encoding}", u32::from(*ch))]
pub struct EncodeError {
    /// The first character that does not fit.
    pub ch: char,
    /// Its position in the text, counted in characters (not bytes).
    pub index: usize,
    /// The encoding that was asked for.
    pub encoding: Encoding,
}

/// The GSM 7-bit encoding of one character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gsm7Code {
    /// One septet of the default alphabet.
    Base(u8),
    /// ESC followed by this extension-table septet.
    Ext(u8),
}

impl Gsm7Code {
    const fn septets(self) -> usize {
        match self {
            Self::Base(_) => 1,
            Self::Ext(_) => 2,
        }
    }
}

/// Looks `c` up in the default alphabet, then the extension table. Linear scans over 138 entries
/// keep the table written once; a short message has at most a few thousand characters.
fn gsm7_code(c: char) -> Option<Gsm7Code> {
    if let Some(&code) = ASCII_TO_GSM7.get(c as usize) {
        return match code {
            NOT_GSM7 => None,
            code if code & EXT_FLAG != 0 => Some(Gsm7Code::Ext((code & 0x7F) as u8)),
            code => Some(Gsm7Code::Base(code as u8)),
        };
    }
    gsm7_code_slow(c)
}

/// The tables searched; the lookup table below is built from them.
const fn gsm7_code_slow(c: char) -> Option<Gsm7Code> {
    let mut code = 0;
    while code < GSM7_BASE.len() {
        // 0x1B is ESC, not the space its slot holds for decoding.
        if GSM7_BASE[code] == c && code != GSM7_ESC as usize {
            return Some(Gsm7Code::Base(code as u8));
        }
        code += 1;
    }
    let mut i = 0;
    while i < GSM7_EXT.len() {
        if GSM7_EXT[i].1 == c {
            return Some(Gsm7Code::Ext(GSM7_EXT[i].0));
        }
        i += 1;
    }
    None
}

const NOT_GSM7: u16 = 0xFFFF;
const EXT_FLAG: u16 = 0x100;

/// GSM 7-bit code of each ASCII character, found without a table search: most text is ASCII,
/// and a search per character made encoding a receipt cost more than storing it.
const ASCII_TO_GSM7: [u16; 128] = {
    let mut table = [NOT_GSM7; 128];
    let mut c = 0;
    while c < 128 {
        table[c] = match gsm7_code_slow(c as u8 as char) {
            Some(Gsm7Code::Base(code)) => code as u16,
            Some(Gsm7Code::Ext(code)) => EXT_FLAG | code as u16,
            None => NOT_GSM7,
        };
        c += 1;
    }
    table
};

/// Whether every character of `text` is in the GSM 03.38 default alphabet or extension table.
pub fn gsm7_fits(text: &str) -> bool {
    text.chars().all(|c| gsm7_code(c).is_some())
}

/// The number of septets `text` takes in GSM 7-bit (an extension character counts 2, for its
/// ESC), or `None` if a character is not representable.
pub fn gsm7_septets(text: &str) -> Option<usize> {
    Encoding::Gsm7.units(text)
}

/// Encodes `text` as unpacked GSM 7-bit: one septet (0x00–0x7F) per octet, extension characters
/// as the pair `1B xx`. No transliteration: the caller chooses another encoding instead.
pub fn encode_gsm7_unpacked(text: &str) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(text.len());
    for (index, ch) in text.chars().enumerate() {
        match gsm7_code(ch) {
            Some(Gsm7Code::Base(code)) => out.push(code),
            Some(Gsm7Code::Ext(code)) => out.extend_from_slice(&[GSM7_ESC, code]),
            None => {
                return Err(EncodeError {
                    ch,
                    index,
                    encoding: Encoding::Gsm7,
                })
            }
        }
    }
    Ok(out)
}

/// As [`encode_gsm7_unpacked`], with `?` for each character GSM 7-bit cannot write.
pub fn encode_gsm7_unpacked_lossy(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match gsm7_code(ch) {
            Some(Gsm7Code::Base(code)) => out.push(code),
            Some(Gsm7Code::Ext(code)) => out.extend_from_slice(&[GSM7_ESC, code]),
            None => out.push(b'?'),
        }
    }
    out
}

/// Decodes unpacked GSM 7-bit (one septet per octet). Never fails:
/// - an octet above 0x7F is not a septet and becomes U+FFFD, so corruption stays visible
///   instead of turning into plausible text by masking the high bit;
/// - ESC followed by a code missing from the extension table shows the base-table character for
///   that code (3GPP 23.038), except ESC ESC (reserved) which shows a space;
/// - an ESC at the end, or before an octet above 0x7F, shows a space (23.038: a receiver that
///   cannot use an escape displays a space).
pub fn decode_gsm7_unpacked(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied().peekable();
    while let Some(b) = iter.next() {
        if b == GSM7_ESC {
            match iter.next_if(|&next| next <= 0x7F) {
                Some(code) => out.push(decode_ext(code)),
                None => out.push(' '),
            }
        } else {
            out.push(decode_base(b));
        }
    }
    out
}

/// The default-alphabet character for an octet; U+FFFD above 0x7F.
fn decode_base(b: u8) -> char {
    GSM7_BASE
        .get(usize::from(b))
        .copied()
        .unwrap_or(REPLACEMENT)
}

/// The character for ESC + `code` (a septet).
fn decode_ext(code: u8) -> char {
    match GSM7_EXT.iter().find(|&&(c, _)| c == code) {
        Some(&(_, ch)) => ch,
        // The base slot for 0x1B already holds a space.
        None => decode_base(code),
    }
}

/// Packs septets 8 into 7 octets, least significant bits first (GSM 03.38 §6.1.2.1.1):
/// "hello" (`68 65 6C 6C 6F`) → `E8 32 9B FD 06`. The high bit of each input octet is ignored.
/// Unused bits of the last octet are zero; the septet count travels separately (it is the
/// `sm_length` of an unpacked message, or the air interface's UDL).
pub fn pack_septets(septets: &[u8]) -> Vec<u8> {
    pack_septets_with_fill(septets, 0)
}

/// Packs septets after `fill_bits` zero bits. GSM 03.40 §9.2.3.24: after a UDH of n octets the
/// first septet starts on a septet boundary counted from the start of the user data, so the
/// packed septets are preceded by [`udh_fill_bits`]`(n)` fill bits (1 for a 6-octet UDH). The
/// result does not contain the UDH; append it after the UDH octets.
pub fn pack_septets_with_fill(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let start = usize::from(fill_bits);
    let total_bits = start + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (n, &septet) in septets.iter().enumerate() {
        let bit = start + n * 7;
        let shifted = u16::from(septet & 0x7F) << (bit % 8);
        let [low, high] = shifted.to_le_bytes();
        if let Some(o) = out.get_mut(bit / 8) {
            *o |= low;
        }
        if let Some(o) = out.get_mut(bit / 8 + 1) {
            *o |= high;
        }
    }
    out
}

/// Unpacks `septet_count` septets from packed 7-bit data (inverse of [`pack_septets`]). Returns
/// fewer septets if `packed` is too short to hold that many; never reads out of bounds.
pub fn unpack_septets(packed: &[u8], septet_count: usize) -> Vec<u8> {
    unpack_septets_with_fill(packed, septet_count, 0)
}

/// Unpacks septets that start after `fill_bits` bits (inverse of [`pack_septets_with_fill`]).
/// Returns fewer septets if `packed` is too short; never reads out of bounds.
pub fn unpack_septets_with_fill(packed: &[u8], septet_count: usize, fill_bits: u8) -> Vec<u8> {
    let start = usize::from(fill_bits);
    let available = packed.len().saturating_mul(8).saturating_sub(start) / 7;
    (0..septet_count.min(available))
        .map(|n| {
            let bit = start + n * 7;
            let low = packed.get(bit / 8).copied().unwrap_or(0);
            let high = packed.get(bit / 8 + 1).copied().unwrap_or(0);
            let [septet, _] = (u16::from_le_bytes([low, high]) >> (bit % 8)).to_le_bytes();
            septet & 0x7F
        })
        .collect()
}

/// The number of fill bits between a UDH of `udh_octets` octets (UDHL included) and the first
/// packed septet: 1 for the 6-octet 8-bit-reference concat UDH, 0 for the 7-octet one.
pub const fn udh_fill_bits(udh_octets: usize) -> u8 {
    // At most 6, so the cast is lossless.
    ((7 - (udh_octets * 8) % 7) % 7) as u8
}

/// The number of septets a UDH of `udh_octets` octets (UDHL included) takes out of the 160-septet
/// user data, fill bits included: 7 for a 6-octet UDH (160 − 7 = 153 left), 8 for a 7-octet one.
pub const fn udh_septets(udh_octets: usize) -> usize {
    (udh_octets * 8).div_ceil(7)
}

/// Encodes `text` as ISO-8859-1, one octet per character; characters above U+00FF are an error.
pub fn encode_latin1(text: &str) -> Result<Vec<u8>, EncodeError> {
    text.chars()
        .enumerate()
        .map(|(index, ch)| {
            u8::try_from(ch).map_err(|_| EncodeError {
                ch,
                index,
                encoding: Encoding::Latin1,
            })
        })
        .collect()
}

/// Decodes ISO-8859-1: every octet is the code point of the same value, so this never fails and
/// loses nothing (which is why it is also the fallback for binary and unsupported codings).
pub fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes `text` as UTF-16BE without BOM; characters outside the BMP become surrogate pairs
/// (U+1F600 → `D8 3D DE 00`), which most handsets accept as UCS-2 (`smpp34.md` §11.4).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decodes UTF-16BE (accepting surrogate pairs). An unpaired surrogate or an odd trailing octet
/// becomes U+FFFD rather than an error: received text is delivered, damaged parts visible.
pub fn decode_ucs2(bytes: &[u8]) -> String {
    let pairs = bytes.chunks_exact(2);
    let odd_tail = !pairs.remainder().is_empty();
    let units = pairs.filter_map(|pair| match pair {
        [high, low] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    });
    let mut out: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(REPLACEMENT))
        .collect();
    if odd_tail {
        out.push(REPLACEMENT);
    }
    out
}

/// The number of UTF-16 code units in `text`: the UCS-2 capacity unit (a surrogate pair counts 2).
pub fn ucs2_units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The encoding smppd picks for `text`: GSM 7-bit when every character fits (160 per SMS),
/// otherwise UCS-2 (70 per SMS). Latin-1 is never picked: handsets read `data_coding` 0x03
/// poorly, and it only helps for characters GSM 7-bit lacks but Latin-1 has.
pub fn choose_encoding(text: &str) -> Encoding {
    if gsm7_fits(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Decodes a received `short_message` (or `message_payload`) by its `data_coding`. Never fails:
/// - 0x00 SMSC default alphabet: GSM 7-bit unpacked (links that read 0x00 as ASCII or Latin-1,
///   `smpp34.md` §8.3, call [`decode_latin1`] themselves);
/// - 0x01 IA5/ASCII: Latin-1, so octets above 0x7F are kept rather than dropped;
/// - 0x03 Latin-1; 0x08 UCS-2;
/// - 0x02 and 0x04 binary, and codings smppd does not implement (JIS, Cyrillic, Hebrew, KS C,
///   reserved values): Latin-1, the lossless readable fallback;
/// - 0x10–0x1F (GSM 03.38 general data coding with message class, seen from some SMSCs) and
///   0xC0–0xEF (message waiting groups): by the alphabet the GSM scheme gives
///   (0xC0–0xDF GSM 7-bit, 0xE0–0xEF UCS-2);
/// - 0xF0–0xFF (GSM data coding / message class): bit 2 clear is GSM 7-bit, set is 8-bit data
///   (Latin-1 fallback).
pub fn decode_text(data_coding: u8, bytes: &[u8]) -> String {
    match data_coding {
        0x00 => decode_gsm7_unpacked(bytes),
        0x08 => decode_ucs2(bytes),
        // GSM 03.38 general data coding, uncompressed: bits 3-2 are the alphabet.
        0x10..=0x1F => match data_coding & 0x0C {
            0x00 => decode_gsm7_unpacked(bytes),
            0x08 => decode_ucs2(bytes),
            _ => decode_latin1(bytes),
        },
        0xC0..=0xDF => decode_gsm7_unpacked(bytes),
        0xE0..=0xEF => decode_ucs2(bytes),
        0xF0..=0xFF if data_coding & 0x04 == 0 => decode_gsm7_unpacked(bytes),
        _ => decode_latin1(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The default alphabet written out column by column as in `smpp34.md` §11.1: string `c`
    /// holds septets `c*16 .. c*16+15`. The ESC cell (0x1B) is tested separately.
    const EXPECTED_BASE: [&str; 8] = [
        "@£$¥èéùìòÇ\nØø\rÅå",
        "Δ_ΦΓΛΩΠΨΣΘΞ\u{1B}ÆæßÉ",
        " !\"#¤%&'()*+,-./",
        "0123456789:;<=>?",
        "¡ABCDEFGHIJKLMNO",
        "PQRSTUVWXYZÄÖÑÜ§",
        "¿abcdefghijklmno",
        "pqrstuvwxyzäöñüà",
    ];

    /// The extension table as in `smpp34.md` §11.2.
    const EXPECTED_EXT: [(u8, char); 10] = [
        (0x0A, '\u{000C}'),
        (0x14, '\u{005E}'),
        (0x28, '\u{007B}'),
        (0x29, '\u{007D}'),
        (0x2F, '\u{005C}'),
        (0x3C, '\u{005B}'),
        (0x3D, '\u{007E}'),
        (0x3E, '\u{005D}'),
        (0x40, '\u{007C}'),
        (0x65, '\u{20AC}'),
    ];

    fn expected_base() -> Vec<(u8, char)> {
        let mut cells = Vec::new();
        for (column, chars) in (0u8..).zip(EXPECTED_BASE) {
            assert_eq!(chars.chars().count(), 16, "column {column:#04x}");
            for (row, ch) in (0u8..).zip(chars.chars()) {
                cells.push((column * 16 + row, ch));
            }
        }
        assert_eq!(cells.len(), 128);
        cells
    }

    /// Every character GSM 7-bit can encode, for property tests.
    fn gsm_chars() -> Vec<char> {
        let mut chars: Vec<char> = expected_base()
            .into_iter()
            .filter(|&(code, _)| code != GSM7_ESC)
            .map(|(_, ch)| ch)
            .collect();
        chars.extend(EXPECTED_EXT.iter().map(|&(_, ch)| ch));
        chars
    }

    #[test]
    fn every_base_cell_decodes_and_encodes() {
        for (code, ch) in expected_base() {
            if code == GSM7_ESC {
                // ESC alone shows a space, and no character encodes to it.
                assert_eq!(ch, '\u{1B}');
                assert_eq!(decode_gsm7_unpacked(&[code]), " ");
                assert!(encode_gsm7_unpacked(&ch.to_string()).is_err());
                continue;
            }
            assert_eq!(
                decode_gsm7_unpacked(&[code]),
                ch.to_string(),
                "decode {code:#04x}"
            );
            assert_eq!(
                encode_gsm7_unpacked(&ch.to_string()).unwrap(),
                [code],
                "encode {ch:?}"
            );
            assert_eq!(gsm7_septets(&ch.to_string()), Some(1));
        }
    }

    #[test]
    fn ascii_lookup_agrees_with_the_tables() {
        for c in (0u32..0x400).filter_map(char::from_u32) {
            assert_eq!(gsm7_code(c), gsm7_code_slow(c), "{c:?}");
        }
    }

    #[test]
    fn every_extension_entry_decodes_and_encodes() {
        for (code, ch) in EXPECTED_EXT {
            assert_eq!(
                decode_gsm7_unpacked(&[0x1B, code]),
                ch.to_string(),
                "decode {code:#04x}"
            );
            assert_eq!(encode_gsm7_unpacked(&ch.to_string()).unwrap(), [0x1B, code]);
            assert_eq!(gsm7_septets(&ch.to_string()), Some(2), "{ch:?}");
        }
    }

    #[test]
    fn lossy_encoding_writes_a_question_mark_for_what_gsm_lacks() {
        assert_eq!(
            encode_gsm7_unpacked_lossy("Ça 😀€ ok"),
            b"\x09a ?\x1b\x65 ok"
        );
        assert_eq!(
            encode_gsm7_unpacked_lossy("@£ plain {}"),
            encode_gsm7_unpacked("@£ plain {}").unwrap()
        );
    }

    #[test]
    fn table_traps() {
        assert_eq!(
            encode_gsm7_unpacked("@$_¤Ç").unwrap(),
            [0x00, 0x02, 0x11, 0x24, 0x09]
        );
        assert!(
            encode_gsm7_unpacked("ç").is_err(),
            "only the capital Ç is in the table"
        );
        assert!(!gsm7_fits("`"));
        // U+001B itself is not a character GSM can carry.
        assert!(!gsm7_fits("\u{1B}"));
    }

    #[test]
    fn escape_edge_cases() {
        // Unknown extension code: the base-table character.
        assert_eq!(decode_gsm7_unpacked(&[0x1B, 0x41]), "A");
        assert_eq!(decode_gsm7_unpacked(&[0x1B, 0x0D]), "\r");
        // Reserved ESC ESC and a lone trailing ESC: a space.
        assert_eq!(decode_gsm7_unpacked(&[0x1B, 0x1B]), " ");
        assert_eq!(decode_gsm7_unpacked(&[0x41, 0x1B]), "A ");
        assert_eq!(decode_gsm7_unpacked(&[0x1B, 0x1B, 0x65]), " e");
        // ESC before a non-septet octet.
        assert_eq!(decode_gsm7_unpacked(&[0x1B, 0x80, 0x41]), " \u{FFFD}A");
        assert_eq!(decode_gsm7_unpacked(&[0xC1]), "\u{FFFD}");
    }

    #[test]
    fn septet_counting() {
        assert_eq!(gsm7_septets(""), Some(0));
        assert_eq!(gsm7_septets("hello"), Some(5));
        assert_eq!(gsm7_septets("€5 [x]"), Some(9));
        assert_eq!(gsm7_septets("a😀"), None);
        assert_eq!(gsm7_septets(&"{".repeat(80)), Some(160));
    }

    #[test]
    fn encode_error_names_char_index() {
        let err = encode_gsm7_unpacked("añb😀c").unwrap_err();
        assert_eq!((err.ch, err.index, err.encoding), ('😀', 3, Encoding::Gsm7));
        assert!(err.to_string().contains("1F600"), "{err}");
        let err = encode_latin1("aé€").unwrap_err();
        assert_eq!(
            (err.ch, err.index, err.encoding),
            ('€', 2, Encoding::Latin1)
        );
    }

    #[test]
    fn hello_packed() {
        let septets = encode_gsm7_unpacked("hello").unwrap();
        assert_eq!(septets, [0x68, 0x65, 0x6C, 0x6C, 0x6F]);
        assert_eq!(pack_septets(&septets), [0xE8, 0x32, 0x9B, 0xFD, 0x06]);
        assert_eq!(unpack_septets(&[0xE8, 0x32, 0x9B, 0xFD, 0x06], 5), septets);
    }

    #[test]
    fn eight_septets_in_seven_octets() {
        let septets = encode_gsm7_unpacked("abcdefgh").unwrap();
        let packed = pack_septets(&septets);
        assert_eq!(packed, [0x61, 0xF1, 0x98, 0x5C, 0x36, 0x9F, 0xD1]);
        assert_eq!(unpack_septets(&packed, 8), septets);
    }

    #[test]
    fn packed_after_six_octet_udh() {
        // A 6-octet UDH is 48 bits; one fill bit puts "hello" on the 7th septet boundary.
        assert_eq!((udh_fill_bits(6), udh_septets(6)), (1, 7));
        assert_eq!((udh_fill_bits(7), udh_septets(7)), (0, 8));
        let septets = encode_gsm7_unpacked("hello").unwrap();
        let packed = pack_septets_with_fill(&septets, 1);
        // "hello" packed (0x06FD9B32E8, little-endian) shifted left by the fill bit.
        assert_eq!(packed, [0xD0, 0x65, 0x36, 0xFB, 0x0D]);
        assert_eq!(unpack_septets_with_fill(&packed, 5, 1), septets);
        // The whole user data, UDH + fill + septets, is 12 septets long: 160 − 7 = 153 per part.
        let mut user_data = vec![0x05, 0x00, 0x03, 0x2A, 0x02, 0x01];
        user_data.extend_from_slice(&packed);
        assert_eq!(user_data.len(), (12 * 7usize).div_ceil(8));
    }

    #[test]
    fn unpack_is_bounds_safe() {
        assert_eq!(unpack_septets(&[], 10), Vec::<u8>::new());
        assert_eq!(unpack_septets(&[0xE8, 0x32], 100).len(), 2);
        assert_eq!(unpack_septets_with_fill(&[0xFF], 3, 6), Vec::<u8>::new());
        assert_eq!(
            unpack_septets_with_fill(&[0xFF, 0xFF], 9, 200),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn latin1() {
        assert_eq!(encode_latin1("Aé\u{FF}").unwrap(), [0x41, 0xE9, 0xFF]);
        assert_eq!(decode_latin1(&[0x41, 0xE9, 0xFF, 0x00]), "Aé\u{FF}\0");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(encode_latin1(&decode_latin1(&all)).unwrap(), all);
    }

    #[test]
    fn ucs2_vectors() {
        assert_eq!(encode_ucs2("€"), [0x20, 0xAC]);
        assert_eq!(encode_ucs2("😀"), [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00, 0x00, 0x41]), "😀A");
        assert_eq!(ucs2_units("a€😀"), 4);
    }

    #[test]
    fn ucs2_damage_is_replaced() {
        // Odd trailing octet.
        assert_eq!(decode_ucs2(&[0x00, 0x41, 0x00]), "A\u{FFFD}");
        // Lone high surrogate, lone low surrogate, reversed pair.
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
        assert_eq!(decode_ucs2(&[0xDE, 0x00]), "\u{FFFD}");
        assert_eq!(decode_ucs2(&[0xDE, 0x00, 0xD8, 0x3D]), "\u{FFFD}\u{FFFD}");
        assert_eq!(decode_ucs2(&[0xD8]), "\u{FFFD}");
    }

    #[test]
    fn encoding_choice_and_values() {
        assert_eq!(choose_encoding("Hello {world} €"), Encoding::Gsm7);
        assert_eq!(choose_encoding("Привет"), Encoding::Ucs2);
        assert_eq!(choose_encoding("ç"), Encoding::Ucs2);
        assert_eq!(Encoding::Gsm7.data_coding(), 0x00);
        assert_eq!(Encoding::Latin1.data_coding(), 0x03);
        assert_eq!(Encoding::Ucs2.data_coding(), 0x08);
        assert_eq!(Encoding::Latin1.units("aé"), Some(2));
        assert_eq!(Encoding::Latin1.units("a€"), None);
        assert_eq!(Encoding::Ucs2.units("😀"), Some(2));
    }

    #[test]
    fn decode_by_data_coding() {
        let gsm = [0x00, 0x02, 0x1B, 0x65];
        for dc in [0x00, 0x10, 0xC0, 0xD3, 0xF0, 0xF1, 0xF2, 0xF3] {
            assert_eq!(decode_text(dc, &gsm), "@$€", "data_coding {dc:#04x}");
        }
        for dc in [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0xF4, 0xF5, 0xF7, 0x14] {
            assert_eq!(
                decode_text(dc, &[0x41, 0xE9, 0x00]),
                "Aé\0",
                "data_coding {dc:#04x}"
            );
        }
        for dc in [0x08, 0x18, 0xE0] {
            assert_eq!(decode_text(dc, &[0x20, 0xAC]), "€", "data_coding {dc:#04x}");
        }
    }

    proptest! {
        #[test]
        fn gsm_round_trip(text in proptest::collection::vec(
            proptest::sample::select(gsm_chars()), 0..400,
        ).prop_map(|chars| chars.into_iter().collect::<String>())) {
            let septets = encode_gsm7_unpacked(&text).unwrap();
            prop_assert_eq!(Some(septets.len()), gsm7_septets(&text));
            prop_assert_eq!(&decode_gsm7_unpacked(&septets), &text);
            let len = septets.len();
            prop_assert_eq!(&unpack_septets(&pack_septets(&septets), len), &septets);
            for fill in 0..7 {
                let packed = pack_septets_with_fill(&septets, fill);
                prop_assert_eq!(&unpack_septets_with_fill(&packed, len, fill), &septets);
            }
        }

        #[test]
        fn ucs2_and_latin1_round_trip(text in any::<String>()) {
            prop_assert_eq!(decode_ucs2(&encode_ucs2(&text)), text.clone());
            prop_assert_eq!(encode_ucs2(&text).len(), 2 * ucs2_units(&text));
            if let Ok(bytes) = encode_latin1(&text) {
                prop_assert_eq!(decode_latin1(&bytes), text);
            }
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                dc in any::<u8>(), count in 0usize..400, fill in any::<u8>()) {
            let _ = decode_gsm7_unpacked(&bytes);
            let _ = decode_ucs2(&bytes);
            let _ = decode_latin1(&bytes);
            let _ = decode_text(dc, &bytes);
            let unpacked = unpack_septets_with_fill(&bytes, count, fill);
            prop_assert!(unpacked.len() <= count);
            prop_assert!(unpacked.iter().all(|&s| s <= 0x7F));
        }
    }
}
