//! Properties of the text codings (`smpp_proto::coding`), checked on any bytes: by the `coding`
//! fuzz target and, over its seeds, by `proto/tests/fuzz_seeds.rs`. Decoders take any octets
//! without panicking; encoders round-trip every text they accept and name the first character
//! they refuse.

use smpp_proto::coding::{
    self, choose_encoding, decode_gsm7_unpacked, decode_latin1, decode_text, decode_ucs2,
    encode_gsm7_unpacked, encode_latin1, encode_ucs2, gsm7_fits, gsm7_septets, Encoding, GSM7_ESC,
};

const REPLACEMENT: char = '\u{FFFD}';

pub(crate) fn check(data: &[u8]) {
    if let Some((&data_coding, rest)) = data.split_first() {
        // One character at most per octet, whatever the coding.
        assert!(decode_text(data_coding, rest).chars().count() <= rest.len());
    }
    latin1(data);
    ucs2(data);
    gsm7(data);
    packed(data);
    // Texts for the encoders: as UTF-8, and through the decoders (which reach the non-ASCII
    // characters GSM and Latin-1 have far more often than random UTF-8 does).
    for text in [
        String::from_utf8_lossy(data).into_owned(),
        decode_latin1(data),
        decode_gsm7_unpacked(data),
        decode_ucs2(data),
    ] {
        encoders(&text);
    }
}

/// Latin-1 is one octet per character both ways: lossless.
fn latin1(data: &[u8]) {
    let text = decode_latin1(data);
    assert_eq!(text.chars().count(), data.len());
    assert_eq!(encode_latin1(&text).as_deref(), Ok(data));
}

/// UTF-16BE: valid input round-trips octet for octet; damage becomes U+FFFD, never a panic.
fn ucs2(data: &[u8]) {
    let text = decode_ucs2(data);
    let pairs = data.chunks_exact(2);
    let whole = pairs.remainder().is_empty();
    let units: Vec<u16> = pairs
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    match String::from_utf16(&units) {
        Ok(valid) if whole => {
            assert_eq!(text, valid);
            assert_eq!(encode_ucs2(&text), data);
        }
        _ => assert!(
            text.contains(REPLACEMENT),
            "{data:02x?} decoded without a mark"
        ),
    }
    assert!(text.chars().count() <= units.len() + usize::from(!whole));
}

/// Unpacked GSM 7-bit: every octet or ESC pair is one character; whatever decodes without
/// U+FFFD (no octet above 0x7F) encodes back, and exactly to the input when every ESC starts a
/// pair the extension table knows.
fn gsm7(data: &[u8]) {
    let text = decode_gsm7_unpacked(data);
    assert!(text.chars().count() <= data.len());
    let septets_only = data.iter().all(|&b| b <= 0x7F);
    assert_eq!(text.contains(REPLACEMENT), !septets_only, "{data:02x?}");
    if !septets_only {
        return;
    }
    let encoded = encode_gsm7_unpacked(&text)
        .unwrap_or_else(|e| panic!("{text:?}, decoded from {data:02x?}: {e}"));
    assert_eq!(decode_gsm7_unpacked(&encoded), text);
    assert_eq!(gsm7_septets(&text), Some(encoded.len()));
    assert!(encoded.len() <= data.len());
    let mut known_escapes = true;
    let mut octets = data.iter();
    while let Some(&b) = octets.next() {
        if b == GSM7_ESC {
            let code = octets.next().copied();
            known_escapes &= code.is_some_and(|c| {
                matches!(
                    c,
                    0x0A | 0x14 | 0x28 | 0x29 | 0x2F | 0x3C | 0x3D | 0x3E | 0x40 | 0x65
                )
            });
        }
    }
    if known_escapes {
        assert_eq!(encoded, data);
    }
}

/// Packed 7-bit: packing then unpacking gives the septets back after any fill; unpacking
/// reads only what is there, and packing that back gives the input without its fill bits
/// and unused high bits.
fn packed(data: &[u8]) {
    let Some((&setup, octets)) = data.split_first() else {
        return;
    };
    let fill = setup % 7;
    let septets: Vec<u8> = octets.iter().map(|b| b & 0x7F).collect();
    let packed = coding::pack_septets_with_fill(&septets, fill);
    assert_eq!(
        packed.len(),
        (usize::from(fill) + septets.len() * 7).div_ceil(8)
    );
    assert_eq!(
        coding::unpack_septets_with_fill(&packed, septets.len(), fill),
        septets
    );

    let wanted = usize::from(setup >> 3) * 16;
    let available = (octets.len() * 8).saturating_sub(usize::from(fill)) / 7;
    let unpacked = coding::unpack_septets_with_fill(octets, wanted, fill);
    assert_eq!(unpacked.len(), wanted.min(available));
    assert!(unpacked.iter().all(|&s| s <= 0x7F));
    let all = coding::unpack_septets_with_fill(octets, usize::MAX, fill);
    assert_eq!(all.len(), available);
    if octets.is_empty() || available == 0 {
        return;
    }
    let repacked = coding::pack_septets_with_fill(&all, fill);
    let used_bits = usize::from(fill) + available * 7;
    let mut expected = octets[..used_bits.div_ceil(8)].to_vec();
    expected[0] &= 0xFFu8 << fill;
    if used_bits % 8 != 0 {
        let last = expected.len() - 1;
        expected[last] &= 0xFFu8 >> (8 - used_bits % 8);
    }
    assert_eq!(repacked, expected);
}

/// Encoders: accept exactly what their encoding can represent, decode back to the text, and
/// agree with the unit counts that decide the number of parts.
fn encoders(text: &str) {
    let first_refused = |encoding: Encoding| {
        text.chars()
            .enumerate()
            .find(|&(_, c)| encoding.char_units(c).is_none())
    };
    match encode_gsm7_unpacked(text) {
        Ok(septets) => {
            assert!(gsm7_fits(text));
            assert!(septets.iter().all(|&s| s <= 0x7F));
            assert_eq!(decode_gsm7_unpacked(&septets), text);
            assert_eq!(gsm7_septets(text), Some(septets.len()));
            assert_eq!(Encoding::Gsm7.units(text), Some(septets.len()));
            assert_eq!(choose_encoding(text), Encoding::Gsm7);
        }
        Err(e) => {
            assert_eq!(first_refused(Encoding::Gsm7), Some((e.index, e.ch)));
            assert_eq!((e.encoding, gsm7_fits(text)), (Encoding::Gsm7, false));
            assert_eq!(gsm7_septets(text), None);
            assert_eq!(choose_encoding(text), Encoding::Ucs2);
        }
    }
    match encode_latin1(text) {
        Ok(octets) => {
            assert_eq!(decode_latin1(&octets), text);
            assert_eq!(Encoding::Latin1.units(text), Some(octets.len()));
        }
        Err(e) => {
            assert_eq!(first_refused(Encoding::Latin1), Some((e.index, e.ch)));
            assert!(u32::from(e.ch) > 0xFF);
        }
    }
    let utf16 = encode_ucs2(text);
    assert_eq!(decode_ucs2(&utf16), text);
    assert_eq!(utf16.len(), 2 * coding::ucs2_units(text));
    assert_eq!(Encoding::Ucs2.units(text), Some(coding::ucs2_units(text)));
    for encoding in [Encoding::Gsm7, Encoding::Latin1, Encoding::Ucs2] {
        if let Ok(bytes) = encoding.encode(text) {
            assert_eq!(encoding.decode(&bytes), text);
            assert_eq!(decode_text(encoding.data_coding(), &bytes), text);
        }
    }
}
