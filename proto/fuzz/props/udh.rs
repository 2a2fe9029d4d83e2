//! Properties of UDH parsing, splitting and reassembly (`smpp_proto::concat`), checked on any
//! bytes: by the `udh` fuzz target and, over its seeds, by `proto/tests/fuzz_seeds.rs`.

use bytes::Bytes;
use smpp_proto::coding::Encoding;
use smpp_proto::concat::{
    self, ConcatInfo, ConcatMethod, Partial, Reassembler, SplitError, UdhError, IEI_CONCAT_16,
    IEI_CONCAT_8, IEI_PORTS_16, IEI_PORTS_8, MAX_PARTS,
};
use std::collections::HashMap;
use std::num::NonZeroUsize;

pub(crate) fn check(data: &[u8]) {
    udh(data);
    reassembly(data);
    split(data);
}

/// The input as a `short_message` with UDHI: a UDH that parses is exactly the octets it came
/// from, its concatenation and port elements are the last valid ones, and the rest is payload.
fn udh(data: &[u8]) {
    match concat::parse_udh(data) {
        Ok((udh, payload)) => {
            let len = udh.encoded_len();
            assert_eq!(usize::from(data[0]) + 1, len);
            assert_eq!(&data[len..], payload);
            let mut written = vec![data[0]];
            for ie in udh.elements() {
                written.push(ie.iei);
                written.push(u8::try_from(ie.data.len()).expect("an IE length is one octet"));
                written.extend_from_slice(&ie.data);
            }
            assert_eq!(written, &data[..len]);
            let concat = udh.elements().iter().rev().find_map(|ie| match *ie.data {
                [reference, total, seqnum] if ie.iei == IEI_CONCAT_8 => {
                    Some((u16::from(reference), total, seqnum))
                }
                [high, low, total, seqnum] if ie.iei == IEI_CONCAT_16 => {
                    Some((u16::from_be_bytes([high, low]), total, seqnum))
                }
                _ => None,
            });
            assert_eq!(
                udh.concat().map(|c| (c.reference(), c.total(), c.seqnum())),
                concat
            );
            if let Some(c) = udh.concat() {
                assert!(c.total() >= 1 && (1..=c.total()).contains(&c.seqnum()));
            }
            let ports = udh.elements().iter().rev().find_map(|ie| match *ie.data {
                [d, s] if ie.iei == IEI_PORTS_8 => Some((u16::from(d), u16::from(s))),
                [d1, d2, s1, s2] if ie.iei == IEI_PORTS_16 => {
                    Some((u16::from_be_bytes([d1, d2]), u16::from_be_bytes([s1, s2])))
                }
                _ => None,
            });
            assert_eq!(udh.ports().map(|p| (p.destination, p.source)), ports);
        }
        Err(UdhError::Missing) => assert!(data.is_empty()),
        Err(UdhError::UdhlBeyondData { udhl, available }) => {
            assert_eq!(data[0], udhl);
            assert_eq!(available, data.len() - 1);
            assert!(usize::from(udhl) > available);
        }
        Err(e) => {
            // An element is bad: the UDH itself fits.
            assert!(usize::from(data[0]) < data.len(), "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

/// What a message held in the reference model looks like.
struct Pending {
    first_seen: u64,
    arrival: u64,
    parts: Vec<Option<Bytes>>,
}

type Key = (u8, u16, u8);

/// The input as a script of parts pushed into a `Reassembler` (and clock ticks that expire
/// messages), compared with a plain reference model: the same completions, evictions and
/// expiries, and never more than `max_pending` messages held.
fn reassembly(data: &[u8]) {
    let Some((&setup, script)) = data.split_first() else {
        return;
    };
    let max_pending = usize::from(setup % 4) + 1;
    let timeout = u64::from(setup >> 4);
    let mut reassembler =
        Reassembler::new(NonZeroUsize::new(max_pending).expect("at least 1"), timeout);
    let mut model: HashMap<Key, Pending> = HashMap::new();
    let mut now = 0u64;
    let mut arrivals = 0u64;
    for (n, step) in script.chunks_exact(4).enumerate() {
        let &[peer, reference, shape, tick] = step else {
            unreachable!("chunks of 4");
        };
        now += u64::from(tick % 4);
        if tick & 0x80 != 0 {
            let expired = reassembler.expire(now);
            let mut expected: Vec<(Key, Pending)> = model
                .iter()
                .filter(|(_, p)| now.saturating_sub(p.first_seen) >= timeout)
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .into_iter()
                .filter_map(|k| model.remove_entry(&k))
                .collect();
            expected.sort_by_key(|(_, p)| (p.first_seen, p.arrival));
            assert_same(&expired, &expected);
        }
        // Few peers, references and totals, so that messages collide and complete.
        let (peer, reference) = (peer % 3, u16::from(reference % 4));
        let (total, seqnum) = (shape % 5, (shape >> 4) % 6);
        let Ok(info) = ConcatInfo::try_new(reference, total, seqnum) else {
            assert!(total == 0 || seqnum == 0 || seqnum > total);
            continue;
        };
        let payload = Bytes::from((n as u32).to_be_bytes().to_vec());
        let pushed = reassembler.push(peer, info, payload.clone(), now);

        let key = (peer, reference, total);
        let mut evicted = None;
        if total == 1 {
            assert_eq!(pushed.complete, Some(vec![payload]));
            assert_eq!(pushed.evicted, None);
            continue;
        }
        if !model.contains_key(&key) && model.len() >= max_pending {
            let oldest = model
                .iter()
                .min_by_key(|(_, p)| (p.first_seen, p.arrival))
                .map(|(k, _)| *k)
                .expect("the model is full");
            evicted = model.remove_entry(&oldest);
        }
        let entry = model.entry(key).or_insert_with(|| {
            arrivals += 1;
            Pending {
                first_seen: now,
                arrival: arrivals,
                parts: vec![None; usize::from(total)],
            }
        });
        // The first copy of a part wins.
        entry.parts[usize::from(seqnum) - 1].get_or_insert(payload);
        let complete = if entry.parts.iter().all(Option::is_some) {
            model
                .remove(&key)
                .map(|p| p.parts.into_iter().flatten().collect::<Vec<_>>())
        } else {
            None
        };
        assert_eq!(pushed.complete, complete);
        assert_same(&Vec::from_iter(pushed.evicted), &Vec::from_iter(evicted));
        assert!(reassembler.len() <= max_pending);
        assert_eq!(reassembler.len(), model.len());
        assert_eq!(
            reassembler.next_expiry(),
            model.values().map(|p| p.first_seen + timeout).min()
        );
    }
}

fn assert_same(got: &[(u8, Partial)], expected: &[(Key, Pending)]) {
    let got: Vec<_> = got
        .iter()
        .map(|(peer, p)| {
            (
                *peer,
                p.reference(),
                p.total(),
                p.first_seen(),
                p.parts().to_vec(),
            )
        })
        .collect();
    let expected: Vec<_> = expected
        .iter()
        .map(|((peer, reference, total), p)| {
            (
                *peer,
                *reference,
                usize::from(*total),
                p.first_seen,
                p.parts.clone(),
            )
        })
        .collect();
    assert_eq!(got, expected);
}

/// The input as a text to split: parts fit their capacity, carry consistent UDH or SAR
/// values, never cut a character, and reassemble (in any order) to the text.
fn split(data: &[u8]) {
    let Some((&setup, rest)) = data.split_first() else {
        return;
    };
    let encoding = [Encoding::Gsm7, Encoding::Latin1, Encoding::Ucs2][usize::from(setup % 3)];
    let method =
        [ConcatMethod::Udh8, ConcatMethod::Udh16, ConcatMethod::Sar][usize::from((setup / 3) % 3)];
    let reference = u16::from(setup) << 1 | u16::from(setup & 1);
    // Latin-1 and GSM-decoded texts reach the non-ASCII characters those encodings have.
    let text = match setup >> 6 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => smpp_proto::coding::decode_latin1(rest),
        _ => smpp_proto::coding::decode_gsm7_unpacked(rest),
    };
    let counted = concat::count_parts(&text, encoding, method);
    let segments = match concat::split(&text, encoding, method, reference) {
        Ok(segments) => segments,
        Err(SplitError::Encode(e)) => {
            assert_eq!(text.chars().nth(e.index), Some(e.ch));
            assert_eq!(encoding.char_units(e.ch), None);
            assert!(text
                .chars()
                .take(e.index)
                .all(|c| encoding.char_units(c).is_some()));
            return;
        }
        Err(SplitError::ReferenceTooLarge { reference: r }) => {
            assert_eq!((method, r), (ConcatMethod::Udh8, reference));
            assert!(r > 0xFF);
            return;
        }
        Err(SplitError::TooManyParts { parts }) => {
            assert!(parts > MAX_PARTS);
            assert_eq!(counted, Err(SplitError::TooManyParts { parts }));
            return;
        }
    };
    assert_eq!(counted, Ok(segments.len()));
    let units = encoding.units(&text).expect("split encoded it");
    if let [single] = segments.as_slice() {
        assert!(units <= concat::single_capacity(encoding));
        assert_eq!((&single.udh, &single.sar), (&None, &None));
        assert_eq!(
            single.short_message,
            encoding.encode(&text).expect("split encoded it")
        );
        return;
    }
    assert!(units > concat::single_capacity(encoding));
    let total = u8::try_from(segments.len()).expect("at most 255 parts");
    let mut decoded = String::new();
    let mut reassembler = Reassembler::new(NonZeroUsize::MIN, u64::MAX);
    let mut complete = None;
    for (segment, seqnum) in segments.iter().zip(1..=total).rev() {
        let info = match method {
            ConcatMethod::Sar => {
                assert_eq!(segment.udh, None);
                let sar = segment.sar.expect("SAR parts carry sar values");
                ConcatInfo::try_from(sar).expect("valid SAR values")
            }
            ConcatMethod::Udh8 | ConcatMethod::Udh16 => {
                assert!(segment.needs_udhi() && segment.sar.is_none());
                let (udh, payload) =
                    concat::parse_udh(&segment.short_message).expect("our UDH parses");
                assert_eq!(udh.encoded_len(), method.udh_len());
                assert_eq!(payload, segment.payload());
                udh.concat().expect("our UDH has a concatenation element")
            }
        };
        assert_eq!(
            (info.reference(), info.total(), info.seqnum()),
            (reference, total, seqnum)
        );
        let part = encoding.decode(segment.payload());
        let part_units = encoding.units(&part).expect("decoded text re-encodes");
        assert!(part_units <= method.part_capacity(encoding), "{part:?}");
        decoded.insert_str(0, &part);
        let payload = Bytes::copy_from_slice(segment.payload());
        let pushed = reassembler.push((), info, payload, 0);
        assert_eq!(pushed.evicted, None);
        complete = pushed.complete;
    }
    // Each part decodes on its own, so no character was cut across two parts.
    assert_eq!(decoded, text);
    let expected: Vec<&[u8]> = segments.iter().map(|s| s.payload()).collect();
    assert_eq!(
        complete
            .as_ref()
            .map(|c| c.iter().map(|b| &b[..]).collect::<Vec<_>>()),
        Some(expected)
    );
}
