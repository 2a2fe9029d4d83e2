//! Long messages (`smpp34.md` §12): splitting a text into SMS parts marked with a
//! concatenation UDH or SAR values, parsing the UDH of received parts, and reassembling them.
//!
//! Independent of the PDU types: the PDU layer copies [`Segment::short_message`] into
//! `short_message`, sets `esm_class` UDHI when [`Segment::needs_udhi`], and maps [`Sar`] to the
//! `sar_msg_ref_num` / `sar_total_segments` / `sar_segment_seqnum` TLVs (and back, through
//! [`ConcatInfo::try_from`]).

use crate::coding::{EncodeError, Encoding};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;

/// The most parts one message can have: total and sequence number are one octet each.
pub const MAX_PARTS: usize = 255;

/// Information element: concatenated short message, 8-bit reference (3GPP 23.040 §9.2.3.24.1).
pub const IEI_CONCAT_8: u8 = 0x00;
/// Information element: application port addressing, 8-bit ports.
pub const IEI_PORTS_8: u8 = 0x04;
/// Information element: application port addressing, 16-bit ports (WAP push: 2948).
pub const IEI_PORTS_16: u8 = 0x05;
/// Information element: concatenated short message, 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;

/// How the parts of a long message are tied together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConcatMethod {
    /// UDH with IE 0x00 (8-bit reference): `05 00 03 RR TT SS`.
    Udh8,
    /// UDH with IE 0x08 (16-bit reference): `06 08 04 RR RR TT SS`.
    Udh16,
    /// `sar_*` TLVs; `short_message` holds only the text and the SMSC builds the UDH.
    Sar,
}

impl ConcatMethod {
    /// The octets of UDH each part carries on the air. SAR counts as the 6-octet 8-bit-reference
    /// UDH: the SMSC adds a UDH to every part, so the part must leave room for it.
    pub const fn udh_len(self) -> usize {
        match self {
            Self::Udh8 | Self::Sar => 6,
            Self::Udh16 => 7,
        }
    }

    /// The capacity of one part in `encoding`'s units (septets, octets, UTF-16 units):
    /// 153 / 134 / 67 for [`Udh8`](Self::Udh8) and [`Sar`](Self::Sar), 152 / 133 / 66 for
    /// [`Udh16`](Self::Udh16) (`smpp34.md` §12.1; GSM loses whole septets to the fill bits).
    pub const fn part_capacity(self, encoding: Encoding) -> usize {
        let udh = self.udh_len();
        match encoding {
            Encoding::Gsm7 => 160 - crate::coding::udh_septets(udh),
            Encoding::Latin1 => 140 - udh,
            Encoding::Ucs2 => (140 - udh) / 2,
        }
    }
}

/// The capacity of a single, unconcatenated SMS in `encoding`'s units: 160 septets,
/// 140 octets or 70 UTF-16 units.
pub const fn single_capacity(encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => 160,
        Encoding::Latin1 => 140,
        Encoding::Ucs2 => 70,
    }
}

/// SAR values for one part, to become the `sar_*` TLVs (SMPP 3.4 §5.3.2.22–24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sar {
    /// `sar_msg_ref_num`: the same for every part of one message.
    pub msg_ref_num: u16,
    /// `sar_total_segments`: the number of parts, 1–255.
    pub total_segments: u8,
    /// `sar_segment_seqnum`: this part's position, from 1.
    pub segment_seqnum: u8,
}

/// One SMS worth of a text, ready for a `submit_sm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The UDH at the start of `short_message`, UDHL included; `None` without UDH.
    pub udh: Option<Bytes>,
    /// The `sar_*` values to send as TLVs; `None` unless the method is [`ConcatMethod::Sar`].
    pub sar: Option<Sar>,
    /// The complete `short_message`: the UDH (if any) then the encoded text. GSM 7-bit is
    /// unpacked, one septet per octet, so `sm_length` = UDH octets + septets (at most 159).
    pub short_message: Bytes,
}

impl Segment {
    /// Whether `esm_class` must carry UDHI (0x40, `pdu::esm_class::UDHI`) for this segment.
    pub fn needs_udhi(&self) -> bool {
        self.udh.is_some()
    }

    /// The encoded text of this segment, without the UDH.
    pub fn payload(&self) -> &[u8] {
        let udh_len = self.udh.as_ref().map_or(0, Bytes::len);
        self.short_message.get(udh_len..).unwrap_or_default()
    }
}

/// Why a text cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A character is not representable in the chosen encoding.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The text needs more than [`MAX_PARTS`] parts.
    #[error("text needs {parts} parts, more than the {MAX_PARTS} allowed")]
    TooManyParts {
        /// Parts the text would need.
        parts: usize,
    },
    /// [`ConcatMethod::Udh8`] has a one-octet reference; the caller's counter must wrap at 256
    /// rather than be truncated here (two messages would share a reference unnoticed).
    #[error("reference {reference} does not fit the 8-bit concatenation reference")]
    ReferenceTooLarge {
        /// The reference given.
        reference: u16,
    },
}

/// The number of SMS `text` takes in `encoding` with `method` (1 if it fits a single SMS).
pub fn count_parts(
    text: &str,
    encoding: Encoding,
    method: ConcatMethod,
) -> Result<usize, SplitError> {
    plan(text, encoding, method).map(|parts| parts.len())
}

/// Splits `text` into SMS segments. A text that fits a single SMS (160 septets, 140 octets or
/// 70 UTF-16 units) yields exactly one segment without UDH or SAR. Otherwise every part gets the
/// [`part_capacity`](ConcatMethod::part_capacity), filled greedily, and the UDH or SAR values
/// for `reference`; an extension character (ESC pair) or a surrogate pair is never cut across
/// two parts, so a part may end one unit short. With [`ConcatMethod::Udh8`] a `reference`
/// above 255 is an error even for a single SMS, so a misconfigured counter shows at once.
pub fn split(
    text: &str,
    encoding: Encoding,
    method: ConcatMethod,
    reference: u16,
) -> Result<Vec<Segment>, SplitError> {
    if method == ConcatMethod::Udh8 && reference > 0xFF {
        return Err(SplitError::ReferenceTooLarge { reference });
    }
    let parts = plan(text, encoding, method)?;
    if let [whole] = parts.as_slice() {
        return Ok(vec![Segment {
            udh: None,
            sar: None,
            short_message: Bytes::from(encoding.encode(whole)?),
        }]);
    }
    // `plan` returns at most MAX_PARTS (255) parts, so the count fits an octet.
    let total =
        u8::try_from(parts.len()).map_err(|_| SplitError::TooManyParts { parts: parts.len() })?;
    (1..=total)
        .zip(parts)
        .map(|(seqnum, part)| {
            let payload = encoding.encode(part)?;
            Ok(part_segment(method, reference, total, seqnum, &payload))
        })
        .collect()
}

/// Builds part `seqnum` of `total`.
fn part_segment(
    method: ConcatMethod,
    reference: u16,
    total: u8,
    seqnum: u8,
    payload: &[u8],
) -> Segment {
    let [ref_high, ref_low] = reference.to_be_bytes();
    let udh: &[u8] = match method {
        ConcatMethod::Udh8 => &[0x05, IEI_CONCAT_8, 0x03, ref_low, total, seqnum],
        ConcatMethod::Udh16 => &[0x06, IEI_CONCAT_16, 0x04, ref_high, ref_low, total, seqnum],
        ConcatMethod::Sar => &[],
    };
    let mut short_message = BytesMut::with_capacity(udh.len() + payload.len());
    short_message.put_slice(udh);
    short_message.put_slice(payload);
    let short_message = short_message.freeze();
    let sar = (method == ConcatMethod::Sar).then_some(Sar {
        msg_ref_num: reference,
        total_segments: total,
        segment_seqnum: seqnum,
    });
    Segment {
        udh: (!udh.is_empty()).then(|| short_message.slice(..udh.len())),
        sar,
        short_message,
    }
}

/// Cuts `text` into the slices that become parts (one slice if it fits a single SMS). Cuts only
/// between characters, which is what keeps ESC pairs and surrogate pairs whole.
fn plan(text: &str, encoding: Encoding, method: ConcatMethod) -> Result<Vec<&str>, SplitError> {
    let capacity = method.part_capacity(encoding);
    let mut parts = Vec::new();
    let mut count = 0usize;
    let mut start = 0usize;
    let mut used = 0usize;
    let mut total_units = 0usize;
    for (index, (offset, ch)) in text.char_indices().enumerate() {
        let units = encoding.char_units(ch).ok_or(EncodeError {
            ch,
            index,
            encoding,
        })?;
        total_units += units;
        if used + units > capacity {
            // Only the first MAX_PARTS slices are kept: a huge text is counted, not stored.
            if count < MAX_PARTS {
                parts.push(text.get(start..offset).unwrap_or_default());
            }
            count += 1;
            start = offset;
            used = 0;
        }
        used += units;
    }
    if total_units <= single_capacity(encoding) {
        return Ok(vec![text]);
    }
    count += 1;
    if count > MAX_PARTS {
        return Err(SplitError::TooManyParts { parts: count });
    }
    parts.push(text.get(start..).unwrap_or_default());
    Ok(parts)
}

/// Concatenation values of a received part, from a UDH (IE 0x00 or 0x08) or the SAR TLVs.
/// Always valid: total ≥ 1 and 1 ≤ seqnum ≤ total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConcatInfo {
    reference: u16,
    total: u8,
    seqnum: u8,
}

impl ConcatInfo {
    /// Checks the values 3GPP 23.040 §9.2.3.24.1 requires of a concatenation IE.
    pub fn try_new(reference: u16, total: u8, seqnum: u8) -> Result<Self, ConcatError> {
        if total == 0 {
            return Err(ConcatError::ZeroTotal);
        }
        if seqnum == 0 || seqnum > total {
            return Err(ConcatError::SeqnumOutOfRange { seqnum, total });
        }
        Ok(Self {
            reference,
            total,
            seqnum,
        })
    }

    /// The reference shared by all parts of the message (an 8-bit one widened).
    pub const fn reference(self) -> u16 {
        self.reference
    }

    /// The number of parts, at least 1.
    pub const fn total(self) -> u8 {
        self.total
    }

    /// This part's position, 1 ..= [`total`](Self::total).
    pub const fn seqnum(self) -> u8 {
        self.seqnum
    }
}

impl TryFrom<Sar> for ConcatInfo {
    type Error = ConcatError;

    fn try_from(sar: Sar) -> Result<Self, Self::Error> {
        Self::try_new(sar.msg_ref_num, sar.total_segments, sar.segment_seqnum)
    }
}

/// Concatenation values that describe no valid part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConcatError {
    /// The total number of parts is 0.
    #[error("total number of parts is 0")]
    ZeroTotal,
    /// The sequence number is 0 or above the total.
    #[error("part {seqnum} of {total} is out of range")]
    SeqnumOutOfRange {
        /// The part's sequence number.
        seqnum: u8,
        /// The total it claims to be part of.
        total: u8,
    },
}

/// Application ports from IE 0x04 (8-bit, widened) or IE 0x05 (16-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ports {
    /// Destination port.
    pub destination: u16,
    /// Originator port.
    pub source: u16,
}

/// One information element of a UDH.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InformationElement {
    /// Information element identifier (IEI).
    pub iei: u8,
    /// The element's data, without IEI and length octets.
    pub data: Vec<u8>,
}

/// A parsed User Data Header: its elements in order, with the well-known ones decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Udh {
    elements: Vec<InformationElement>,
    concat: Option<ConcatInfo>,
    ports: Option<Ports>,
}

impl Udh {
    /// All information elements, in wire order, including those smppd does not interpret.
    pub fn elements(&self) -> &[InformationElement] {
        &self.elements
    }

    /// Concatenation info from IE 0x00 or 0x08 (the last one if repeated, as 23.040 says).
    pub fn concat(&self) -> Option<ConcatInfo> {
        self.concat
    }

    /// Application ports from IE 0x04 or 0x05 (the last one if repeated).
    pub fn ports(&self) -> Option<Ports> {
        self.ports
    }

    /// The UDH's size on the wire: UDHL octet + elements.
    pub fn encoded_len(&self) -> usize {
        1 + self
            .elements
            .iter()
            .map(|ie| 2 + ie.data.len())
            .sum::<usize>()
    }
}

/// Why the start of a `short_message` with UDHI set is not a valid UDH.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UdhError {
    /// `short_message` is empty: there is no UDHL octet.
    #[error("short_message is empty, no UDH length")]
    Missing,
    /// UDHL counts more octets than `short_message` holds after it.
    #[error("UDH length {udhl} exceeds the {available} octets present")]
    UdhlBeyondData {
        /// The UDHL octet.
        udhl: u8,
        /// Octets present after it.
        available: usize,
    },
    /// An element's header or data runs past the end given by UDHL.
    #[error("information element {iei:#04x} at UDH offset {offset} runs past the UDH")]
    ElementBeyondUdh {
        /// The element's IEI.
        iei: u8,
        /// Offset of its IEI octet, counted from the UDHL octet.
        offset: usize,
    },
    /// A concatenation or port element with a length its IEI does not allow.
    #[error("information element {iei:#04x} has length {length}, expected {expected}")]
    ElementLength {
        /// The element's IEI.
        iei: u8,
        /// Its length octet.
        length: usize,
        /// The length its IEI requires.
        expected: usize,
    },
    /// A concatenation element with impossible values.
    #[error(transparent)]
    Concat(#[from] ConcatError),
}

/// Splits a `short_message` whose `esm_class` has UDHI into its UDH and the rest (the part's
/// encoded text; for unpacked GSM 7-bit, septets start right after the UDH, no fill octet).
///
/// Structure errors and invalid concatenation or port elements are errors; 23.040 has
/// receivers ignore a bad concatenation element, so a caller may deliver such a message whole
/// rather than reassemble it. Unknown elements are kept in [`Udh::elements`].
pub fn parse_udh(short_message: &[u8]) -> Result<(Udh, &[u8]), UdhError> {
    let Some((&udhl, after)) = short_message.split_first() else {
        return Err(UdhError::Missing);
    };
    if usize::from(udhl) > after.len() {
        return Err(UdhError::UdhlBeyondData {
            udhl,
            available: after.len(),
        });
    }
    let (mut elements_octets, payload) = after.split_at(usize::from(udhl));
    let mut udh = Udh::default();
    while let Some((&iei, rest)) = elements_octets.split_first() {
        let offset = 1 + usize::from(udhl) - elements_octets.len();
        let beyond = UdhError::ElementBeyondUdh { iei, offset };
        let (&length, rest) = rest.split_first().ok_or(beyond)?;
        if usize::from(length) > rest.len() {
            return Err(beyond);
        }
        let (data, rest) = rest.split_at(usize::from(length));
        udh.interpret(iei, data)?;
        udh.elements.push(InformationElement {
            iei,
            data: data.to_vec(),
        });
        elements_octets = rest;
    }
    Ok((udh, payload))
}

impl Udh {
    /// Decodes the elements smppd understands into `concat` / `ports`.
    fn interpret(&mut self, iei: u8, data: &[u8]) -> Result<(), UdhError> {
        let wrong_length = |expected| UdhError::ElementLength {
            iei,
            length: data.len(),
            expected,
        };
        match iei {
            IEI_CONCAT_8 => {
                let &[reference, total, seqnum] = data else {
                    return Err(wrong_length(3));
                };
                self.concat = Some(ConcatInfo::try_new(reference.into(), total, seqnum)?);
            }
            IEI_CONCAT_16 => {
                let &[ref_high, ref_low, total, seqnum] = data else {
                    return Err(wrong_length(4));
                };
                let reference = u16::from_be_bytes([ref_high, ref_low]);
                self.concat = Some(ConcatInfo::try_new(reference, total, seqnum)?);
            }
            IEI_PORTS_8 => {
                let &[destination, source] = data else {
                    return Err(wrong_length(2));
                };
                self.ports = Some(Ports {
                    destination: destination.into(),
                    source: source.into(),
                });
            }
            IEI_PORTS_16 => {
                let &[dst_high, dst_low, src_high, src_low] = data else {
                    return Err(wrong_length(4));
                };
                self.ports = Some(Ports {
                    destination: u16::from_be_bytes([dst_high, dst_low]),
                    source: u16::from_be_bytes([src_high, src_low]),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// Collects the parts of concatenated messages until each is complete. Pure: time is passed in
/// (`now`, in any monotonic unit the caller picks, the same as the timeout's) and nothing reads
/// a clock. Bounded: at most `max_pending` incomplete messages are held.
///
/// A message is identified by the caller's key (e.g. source and destination address), the
/// reference and the total (`smpp34.md` §12.3), so two messages that share a reference but
/// not a total, or come from different peers, do not mix.
#[derive(Debug)]
pub struct Reassembler<K> {
    pending: HashMap<PendingKey<K>, Partial>,
    max_pending: NonZeroUsize,
    timeout: u64,
    /// Insertion counter: orders messages that arrived at the same `now`.
    next_arrival: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingKey<K> {
    key: K,
    reference: u16,
    total: u8,
}

/// An incomplete message: what was received before it expired or was evicted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partial {
    reference: u16,
    first_seen: u64,
    arrival: u64,
    /// Index `i` holds part `i + 1`; the length is the total.
    parts: Vec<Option<Bytes>>,
}

impl Partial {
    /// The message's concatenation reference.
    pub fn reference(&self) -> u16 {
        self.reference
    }

    /// The number of parts the message announced.
    pub fn total(&self) -> usize {
        self.parts.len()
    }

    /// The number of distinct parts received.
    pub fn received(&self) -> usize {
        self.parts.iter().flatten().count()
    }

    /// When the first part arrived (the `now` of that push).
    pub fn first_seen(&self) -> u64 {
        self.first_seen
    }

    /// The parts by position: index `i` is part `i + 1`, `None` where it is missing.
    pub fn parts(&self) -> &[Option<Bytes>] {
        &self.parts
    }

    /// Takes the parts by position (see [`parts`](Self::parts)).
    pub fn into_parts(self) -> Vec<Option<Bytes>> {
        self.parts
    }

    /// Stores part `seqnum` unless a copy is already held (the first copy wins).
    fn insert(&mut self, seqnum: u8, payload: Bytes) {
        // ConcatInfo guarantees 1 <= seqnum <= total, so the slot exists.
        let slot = usize::from(seqnum)
            .checked_sub(1)
            .and_then(|index| self.parts.get_mut(index));
        if let Some(slot @ None) = slot {
            *slot = Some(payload);
        }
    }

    /// Whether every part is held.
    fn is_complete(&self) -> bool {
        self.parts.iter().all(Option::is_some)
    }
}

/// What a [`Reassembler::push`] produced.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub struct Pushed<K> {
    /// All payloads in part order, when this push completed the message.
    pub complete: Option<Vec<Bytes>>,
    /// The oldest incomplete message, dropped to make room for a new one; the caller delivers
    /// or discards it by its partial-message policy.
    pub evicted: Option<(K, Partial)>,
}

impl<K: Eq + Hash + Clone> Reassembler<K> {
    /// A reassembler holding at most `max_pending` incomplete messages, each for at most
    /// `timeout` (in the unit of `now`) after its first part, as enforced by [`expire`].
    ///
    /// [`expire`]: Self::expire
    pub fn new(max_pending: NonZeroUsize, timeout: u64) -> Self {
        Self {
            pending: HashMap::new(),
            max_pending,
            timeout,
            next_arrival: 0,
        }
    }

    /// The number of incomplete messages held.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no incomplete message is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds one received part. Returns the payloads in order when it completes its message (at
    /// once for a 1-part message). A second copy of a part already held is ignored: the first
    /// copy wins, since a retransmission carries the same text and keeps what was counted.
    /// When a new message arrives while `max_pending` are held, the oldest is evicted.
    pub fn push(&mut self, key: K, info: ConcatInfo, payload: Bytes, now: u64) -> Pushed<K> {
        let mut pushed = Pushed {
            complete: None,
            evicted: None,
        };
        if info.total() == 1 {
            pushed.complete = Some(vec![payload]);
            return pushed;
        }
        let pending_key = PendingKey {
            key,
            reference: info.reference(),
            total: info.total(),
        };
        let is_new = !self.pending.contains_key(&pending_key);
        if is_new && self.pending.len() >= self.max_pending.get() {
            pushed.evicted = self.remove_oldest();
        }
        match self.pending.entry(pending_key) {
            Entry::Occupied(mut entry) => {
                entry.get_mut().insert(info.seqnum(), payload);
                if entry.get().is_complete() {
                    pushed.complete = Some(entry.remove().parts.into_iter().flatten().collect());
                }
            }
            Entry::Vacant(entry) => {
                let mut partial = Partial {
                    reference: info.reference(),
                    first_seen: now,
                    arrival: self.next_arrival,
                    parts: vec![None; usize::from(info.total())],
                };
                partial.insert(info.seqnum(), payload);
                entry.insert(partial);
                self.next_arrival += 1;
            }
        }
        pushed
    }

    /// Removes and returns, oldest first, the incomplete messages whose first part arrived
    /// `timeout` or more before `now`; the caller applies its partial-message policy to them.
    pub fn expire(&mut self, now: u64) -> Vec<(K, Partial)> {
        let timeout = self.timeout;
        let expired: Vec<PendingKey<K>> = self
            .pending
            .iter()
            .filter(|(_, partial)| now.saturating_sub(partial.first_seen) >= timeout)
            .map(|(key, _)| key.clone())
            .collect();
        let mut out: Vec<(K, Partial)> = expired
            .into_iter()
            .filter_map(|key| self.pending.remove_entry(&key))
            .map(|(key, partial)| (key.key, partial))
            .collect();
        out.sort_by_key(|(_, partial)| (partial.first_seen, partial.arrival));
        out
    }

    /// The earliest `now` at which [`expire`](Self::expire) will return something, for the
    /// caller's timer; `None` when nothing is pending.
    pub fn next_expiry(&self) -> Option<u64> {
        self.pending
            .values()
            .map(|partial| partial.first_seen.saturating_add(self.timeout))
            .min()
    }

    /// Removes the message whose first part arrived earliest.
    fn remove_oldest(&mut self) -> Option<(K, Partial)> {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, partial)| (partial.first_seen, partial.arrival))
            .map(|(key, _)| key.clone())?;
        self.pending
            .remove_entry(&oldest)
            .map(|(key, partial)| (key.key, partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::decode_ucs2;
    use proptest::prelude::*;

    fn gsm(text: &str) -> Vec<Segment> {
        split(text, Encoding::Gsm7, ConcatMethod::Udh8, 0x2A).unwrap()
    }

    fn payload_lens(segments: &[Segment]) -> Vec<usize> {
        segments.iter().map(|s| s.payload().len()).collect()
    }

    fn n(max: usize) -> NonZeroUsize {
        NonZeroUsize::new(max).unwrap()
    }

    fn info(reference: u16, total: u8, seqnum: u8) -> ConcatInfo {
        ConcatInfo::try_new(reference, total, seqnum).unwrap()
    }

    #[test]
    fn capacities() {
        let table = [
            (Encoding::Gsm7, 160, 153, 152),
            (Encoding::Latin1, 140, 134, 133),
            (Encoding::Ucs2, 70, 67, 66),
        ];
        for (encoding, single, udh8, udh16) in table {
            assert_eq!(single_capacity(encoding), single);
            assert_eq!(ConcatMethod::Udh8.part_capacity(encoding), udh8);
            assert_eq!(ConcatMethod::Sar.part_capacity(encoding), udh8);
            assert_eq!(ConcatMethod::Udh16.part_capacity(encoding), udh16);
        }
    }

    #[test]
    fn gsm_boundaries() {
        let one = gsm(&"a".repeat(160));
        assert_eq!(one.len(), 1);
        assert_eq!(
            (&one[0].udh, &one[0].sar, one[0].needs_udhi()),
            (&None, &None, false)
        );
        assert_eq!(one[0].short_message, "a".repeat(160).as_bytes());

        assert_eq!(payload_lens(&gsm(&"a".repeat(161))), [153, 8]);
        assert_eq!(payload_lens(&gsm(&"a".repeat(306))), [153, 153]);
        assert_eq!(payload_lens(&gsm(&"a".repeat(307))), [153, 153, 1]);
        // Extension characters count 2 against the single-SMS limit too.
        assert_eq!(gsm(&"€".repeat(80)).len(), 1);
        assert_eq!(payload_lens(&gsm(&"€".repeat(81))), [152, 10]);
        assert_eq!(
            count_parts(&"a".repeat(307), Encoding::Gsm7, ConcatMethod::Udh8),
            Ok(3)
        );
    }

    #[test]
    fn escape_pair_never_split() {
        // 152 + 2 septets fit one SMS.
        let text = format!("{}€", "a".repeat(152));
        assert_eq!(gsm(&text).len(), 1);
        // With more text, the € would straddle septet 153: it moves whole to part 2.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let parts = gsm(&text);
        assert_eq!(payload_lens(&parts), [152, 12]);
        assert_eq!(parts[0].payload(), "a".repeat(152).as_bytes());
        assert_eq!(&parts[1].payload()[..3], [0x1B, 0x65, 0x62]);
    }

    #[test]
    fn udh16_and_latin1_boundaries() {
        let parts = split(&"a".repeat(161), Encoding::Gsm7, ConcatMethod::Udh16, 1).unwrap();
        assert_eq!(payload_lens(&parts), [152, 9]);
        let latin = |len, method| {
            payload_lens(&split(&"é".repeat(len), Encoding::Latin1, method, 1).unwrap())
        };
        assert_eq!(latin(140, ConcatMethod::Udh8), [140]);
        assert_eq!(latin(141, ConcatMethod::Udh8), [134, 7]);
        assert_eq!(latin(141, ConcatMethod::Udh16), [133, 8]);
        assert_eq!(latin(141, ConcatMethod::Sar), [134, 7]);
    }

    #[test]
    fn ucs2_boundaries() {
        let ucs2 = |text: &str, method| {
            let parts = split(text, Encoding::Ucs2, method, 7).unwrap();
            payload_lens(&parts)
                .into_iter()
                .map(|octets| octets / 2)
                .collect::<Vec<_>>()
        };
        assert_eq!(ucs2(&"я".repeat(70), ConcatMethod::Udh8), [70]);
        assert_eq!(ucs2(&"я".repeat(71), ConcatMethod::Udh8), [67, 4]);
        assert_eq!(ucs2(&"я".repeat(71), ConcatMethod::Udh16), [66, 5]);
        // 66 + 2 would straddle unit 67: the surrogate pair moves whole to part 2.
        let text = format!("{}😀{}", "a".repeat(66), "b".repeat(5));
        let parts = split(&text, Encoding::Ucs2, ConcatMethod::Udh8, 7).unwrap();
        assert_eq!(payload_lens(&parts), [132, 14]);
        assert_eq!(&parts[1].payload()[..4], [0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_ucs2(parts[0].payload()), "a".repeat(66));
    }

    #[test]
    fn udh_bytes() {
        let parts = gsm(&"a".repeat(307));
        for (seqnum, part) in (1u8..).zip(&parts) {
            let udh = [0x05, 0x00, 0x03, 0x2A, 0x03, seqnum];
            assert_eq!(part.udh.as_deref(), Some(&udh[..]));
            assert_eq!(&part.short_message[..6], udh);
            assert!(part.needs_udhi());
            assert_eq!(part.sar, None);
        }
        assert_eq!(parts[0].short_message.len(), 6 + 153);

        let parts = split(
            &"a".repeat(161),
            Encoding::Gsm7,
            ConcatMethod::Udh16,
            0x1234,
        )
        .unwrap();
        assert_eq!(
            parts[1].udh.as_deref(),
            Some(&[0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02][..])
        );
        assert_eq!(parts[1].short_message.len(), 7 + 9);
    }

    #[test]
    fn sar_values() {
        let parts = split(&"a".repeat(307), Encoding::Gsm7, ConcatMethod::Sar, 0xBEEF).unwrap();
        assert_eq!(parts.len(), 3);
        for (seqnum, part) in (1u8..).zip(&parts) {
            let expected = Sar {
                msg_ref_num: 0xBEEF,
                total_segments: 3,
                segment_seqnum: seqnum,
            };
            assert_eq!(part.sar, Some(expected));
            assert_eq!((&part.udh, part.needs_udhi()), (&None, false));
            assert_eq!(part.payload(), &part.short_message[..]);
            assert_eq!(ConcatInfo::try_from(expected), Ok(info(0xBEEF, 3, seqnum)));
        }
        assert_eq!(parts[0].short_message.len(), 153);
    }

    #[test]
    fn split_errors() {
        let max = "a".repeat(153 * 255);
        assert_eq!(gsm(&max).len(), 255);
        let err = split(&format!("{max}a"), Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap_err();
        assert_eq!(err, SplitError::TooManyParts { parts: 256 });
        let err = split(&"a".repeat(100_000), Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap_err();
        assert_eq!(err, SplitError::TooManyParts { parts: 654 });

        let err = split("hi 😀", Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap_err();
        let SplitError::Encode(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!((err.ch, err.index), ('😀', 3));
        assert!(split("€", Encoding::Latin1, ConcatMethod::Sar, 1).is_err());

        let err = split("hi", Encoding::Gsm7, ConcatMethod::Udh8, 256).unwrap_err();
        assert_eq!(err, SplitError::ReferenceTooLarge { reference: 256 });
        assert!(split("hi", Encoding::Gsm7, ConcatMethod::Udh16, 256).is_ok());
    }

    #[test]
    fn empty_text_is_one_empty_sms() {
        let parts = gsm("");
        assert_eq!(parts.len(), 1);
        assert!(parts[0].short_message.is_empty());
    }

    #[test]
    fn parse_udh_of_split_output() {
        for method in [ConcatMethod::Udh8, ConcatMethod::Udh16] {
            let parts = split(&"x".repeat(400), Encoding::Gsm7, method, 0x42).unwrap();
            for (seqnum, part) in (1u8..).zip(&parts) {
                let (udh, payload) = parse_udh(&part.short_message).unwrap();
                assert_eq!(udh.concat(), Some(info(0x42, 3, seqnum)));
                assert_eq!(udh.ports(), None);
                assert_eq!(udh.encoded_len(), part.udh.as_ref().unwrap().len());
                assert_eq!(payload, part.payload());
            }
        }
    }

    #[test]
    fn parse_udh_elements_and_ports() {
        // Ports (16-bit, WAP push) then 8-bit concat, then an unknown element, then text.
        let sm = [
            0x0D, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x02, 0x70, 0x00,
            0x68, 0x69,
        ];
        let (udh, payload) = parse_udh(&sm).unwrap();
        assert_eq!(payload, b"hi");
        assert_eq!(
            udh.ports(),
            Some(Ports {
                destination: 2948,
                source: 9200
            })
        );
        assert_eq!(udh.concat(), Some(info(7, 2, 2)));
        let ieis: Vec<u8> = udh.elements().iter().map(|ie| ie.iei).collect();
        assert_eq!(ieis, [0x05, 0x00, 0x70]);
        assert_eq!(udh.elements()[2].data, Vec::<u8>::new());
        assert_eq!(udh.encoded_len(), 14);

        let (udh, payload) = parse_udh(&[0x04, 0x04, 0x02, 0x10, 0x20]).unwrap();
        assert_eq!(
            udh.ports(),
            Some(Ports {
                destination: 0x10,
                source: 0x20
            })
        );
        assert!(payload.is_empty());
        // UDHL 0: no elements, all payload.
        let (udh, payload) = parse_udh(&[0x00, 0x41]).unwrap();
        assert!(udh.elements().is_empty());
        assert_eq!(payload, [0x41]);
        // Repeated concat elements: the last wins.
        let (udh, _) = parse_udh(&[0x0B, 0, 3, 1, 2, 1, 8, 4, 0, 9, 3, 3]).unwrap();
        assert_eq!(udh.concat(), Some(info(9, 3, 3)));
    }

    #[test]
    fn parse_udh_errors() {
        assert_eq!(parse_udh(&[]), Err(UdhError::Missing));
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 0x01]),
            Err(UdhError::UdhlBeyondData {
                udhl: 5,
                available: 3
            })
        );
        // Element data past UDHL (though within short_message).
        assert_eq!(
            parse_udh(&[0x03, 0x00, 0x03, 0x01, 0x02, 0x01]),
            Err(UdhError::ElementBeyondUdh {
                iei: 0x00,
                offset: 1
            })
        );
        // Element header cut by UDHL.
        assert_eq!(
            parse_udh(&[0x03, 0x70, 0x00, 0x24, 0x41]),
            Err(UdhError::ElementBeyondUdh {
                iei: 0x24,
                offset: 3
            })
        );
        assert_eq!(
            parse_udh(&[0x04, 0x00, 0x02, 0x01, 0x02]),
            Err(UdhError::ElementLength {
                iei: 0x00,
                length: 2,
                expected: 3
            })
        );
        assert_eq!(
            parse_udh(&[0x05, 0x05, 0x03, 0x01, 0x02, 0x03]),
            Err(UdhError::ElementLength {
                iei: 0x05,
                length: 3,
                expected: 4
            })
        );
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x01]),
            Err(UdhError::Concat(ConcatError::ZeroTotal))
        );
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x00]),
            Err(UdhError::Concat(ConcatError::SeqnumOutOfRange {
                seqnum: 0,
                total: 2
            }))
        );
        assert_eq!(
            parse_udh(&[0x06, 0x08, 0x04, 0x00, 0x01, 0x02, 0x03]),
            Err(UdhError::Concat(ConcatError::SeqnumOutOfRange {
                seqnum: 3,
                total: 2
            }))
        );
    }

    #[test]
    fn reassembly_out_of_order() {
        let mut r = Reassembler::new(n(8), 1_000);
        let key = ("111", "222");
        let parts = [
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ];
        assert_eq!(
            r.push(key, info(5, 3, 3), parts[2].clone(), 0).complete,
            None
        );
        assert_eq!(
            r.push(key, info(5, 3, 1), parts[0].clone(), 1).complete,
            None
        );
        // Same reference and total from another peer, or another total: separate messages.
        assert_eq!(
            r.push(("9", "222"), info(5, 3, 2), parts[1].clone(), 2)
                .complete,
            None
        );
        assert_eq!(
            r.push(key, info(5, 4, 2), parts[1].clone(), 2).complete,
            None
        );
        assert_eq!(r.len(), 3);
        let done = r.push(key, info(5, 3, 2), parts[1].clone(), 3);
        assert_eq!(done.complete.as_deref(), Some(&parts[..]));
        assert_eq!(done.evicted, None);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn single_part_completes_at_once() {
        let mut r: Reassembler<u8> = Reassembler::new(n(1), 10);
        let done = r.push(1, info(1, 1, 1), Bytes::from_static(b"x"), 0);
        assert_eq!(done.complete, Some(vec![Bytes::from_static(b"x")]));
        assert!(r.is_empty());
    }

    #[test]
    fn duplicates_are_ignored() {
        let mut r = Reassembler::new(n(8), 1_000);
        assert_eq!(
            r.push(1, info(9, 2, 1), Bytes::from_static(b"first"), 0)
                .complete,
            None
        );
        assert_eq!(
            r.push(1, info(9, 2, 1), Bytes::from_static(b"again"), 1)
                .complete,
            None
        );
        assert_eq!(r.len(), 1);
        let done = r
            .push(1, info(9, 2, 2), Bytes::from_static(b"!"), 2)
            .complete;
        assert_eq!(
            done,
            Some(vec![Bytes::from_static(b"first"), Bytes::from_static(b"!")])
        );
    }

    #[test]
    fn expiry() {
        let mut r = Reassembler::new(n(8), 100);
        assert_eq!(r.next_expiry(), None);
        let _ = r.push("b", info(2, 3, 1), Bytes::from_static(b"b1"), 20);
        let _ = r.push("a", info(1, 2, 2), Bytes::from_static(b"a2"), 10);
        let _ = r.push("c", info(3, 2, 1), Bytes::from_static(b"c1"), 50);
        // A later part does not extend the deadline: it runs from the first part.
        let _ = r.push("a", info(1, 3, 1), Bytes::from_static(b"x"), 10);
        let _ = r.push("b", info(2, 3, 2), Bytes::from_static(b"b2"), 90);
        assert_eq!(r.next_expiry(), Some(110));
        assert!(r.expire(109).is_empty());
        let expired = r.expire(120);
        let keys: Vec<&str> = expired.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "a", "b"]);
        let (_, b) = &expired[2];
        assert_eq!(
            (b.reference(), b.total(), b.received(), b.first_seen()),
            (2, 3, 2, 20)
        );
        assert_eq!(
            b.parts(),
            [
                Some(Bytes::from_static(b"b1")),
                Some(Bytes::from_static(b"b2")),
                None
            ]
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.next_expiry(), Some(150));
    }

    #[test]
    fn eviction_when_full() {
        let mut r = Reassembler::new(n(2), 1_000);
        assert_eq!(
            r.push("a", info(1, 2, 1), Bytes::from_static(b"a"), 5)
                .evicted,
            None
        );
        assert_eq!(
            r.push("b", info(1, 2, 1), Bytes::from_static(b"b"), 5)
                .evicted,
            None
        );
        // Parts of a held message never evict.
        let done = r.push("a", info(1, 2, 1), Bytes::from_static(b"dup"), 6);
        assert_eq!((done.complete, done.evicted), (None, None));
        // A new message evicts the oldest; equal times go by arrival.
        let pushed = r.push("c", info(1, 2, 2), Bytes::from_static(b"c"), 7);
        let (key, partial) = pushed.evicted.unwrap();
        assert_eq!(key, "a");
        assert_eq!(partial.into_parts(), [Some(Bytes::from_static(b"a")), None]);
        assert_eq!(r.len(), 2);
        let (key, _) = r.push("d", info(1, 2, 1), Bytes::new(), 8).evicted.unwrap();
        assert_eq!(key, "b");
    }

    /// Splits, parses what was produced like a receiver would, reassembles in a shuffled order
    /// and decodes: the text must come back.
    fn round_trip(text: &str, encoding: Encoding, method: ConcatMethod, rotate: usize) {
        let segments = split(text, encoding, method, 0xAB).unwrap();
        let mut received: Vec<(ConcatInfo, Bytes)> = segments
            .iter()
            .map(|segment| match (&segment.udh, segment.sar) {
                (Some(_), None) => {
                    assert_ne!(method, ConcatMethod::Sar);
                    let (udh, payload) = parse_udh(&segment.short_message).unwrap();
                    (
                        udh.concat().unwrap(),
                        segment.short_message.slice_ref(payload),
                    )
                }
                (None, Some(sar)) => (sar.try_into().unwrap(), segment.short_message.clone()),
                (None, None) => (info(0, 1, 1), segment.short_message.clone()),
                (Some(_), Some(_)) => panic!("both UDH and SAR"),
            })
            .collect();
        // Octets per unit: one septet or Latin-1 character per octet, UTF-16 units are 2.
        let unit = if encoding == Encoding::Ucs2 { 2 } else { 1 };
        let limit = match segments.as_slice() {
            [_] => single_capacity(encoding) * unit,
            _ => {
                segments[0].udh.as_ref().map_or(0, Bytes::len)
                    + method.part_capacity(encoding) * unit
            }
        };
        assert!(segments.iter().all(|s| s.short_message.len() <= limit));
        let len = received.len();
        received.rotate_left(rotate % len);
        let mut r = Reassembler::new(n(4), 1_000);
        let mut complete = None;
        for (at, (info, payload)) in (0u64..).zip(received) {
            let pushed = r.push((), info, payload, at);
            assert_eq!(pushed.evicted, None);
            if pushed.complete.is_some() {
                assert!(complete.is_none());
                complete = pushed.complete;
            }
        }
        let joined = complete.unwrap().concat();
        assert_eq!(encoding.decode(&joined), text);
        assert!(r.is_empty());
    }

    #[test]
    fn round_trip_examples() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(300));
        round_trip(&text, Encoding::Gsm7, ConcatMethod::Udh8, 1);
        round_trip(&"😀".repeat(100), Encoding::Ucs2, ConcatMethod::Udh16, 2);
        round_trip("short", Encoding::Latin1, ConcatMethod::Sar, 0);
        round_trip(&"ÿ".repeat(300), Encoding::Latin1, ConcatMethod::Udh16, 1);
    }

    fn gsm_text() -> impl Strategy<Value = String> {
        let chars: Vec<char> = (0u8..0x80)
            .filter(|&code| code != 0x1B)
            .map(|code| Encoding::Gsm7.decode(&[code]).chars().next().unwrap())
            .chain("\u{0C}^{}\\[~]|€".chars())
            .collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..1200)
            .prop_map(|chars| chars.into_iter().collect())
    }

    fn method() -> impl Strategy<Value = ConcatMethod> {
        prop_oneof![
            Just(ConcatMethod::Udh8),
            Just(ConcatMethod::Udh16),
            Just(ConcatMethod::Sar)
        ]
    }

    proptest! {
        #[test]
        fn gsm_split_reassemble(text in gsm_text(), method in method(), rotate in 0usize..10) {
            round_trip(&text, Encoding::Gsm7, method, rotate);
        }

        #[test]
        fn ucs2_split_reassemble(
            text in proptest::collection::vec(any::<char>(), 0..400)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            method in method(),
            rotate in 0usize..10,
        ) {
            round_trip(&text, Encoding::Ucs2, method, rotate);
        }

        #[test]
        fn parse_udh_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((udh, payload)) = parse_udh(&bytes) {
                prop_assert_eq!(udh.encoded_len() + payload.len(), bytes.len());
            }
        }
    }
}
