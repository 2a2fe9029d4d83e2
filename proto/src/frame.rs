//! Framing: find where one PDU ends in a byte stream, checking `command_length` before a single
//! body octet is buffered.

use crate::header::HEADER_LEN;
use crate::status::CommandStatus;
use bytes::{Buf, Bytes, BytesMut};

/// A sensible default cap: room for a 64 KiB `message_payload` plus the mandatory fields.
pub const DEFAULT_MAX_PDU_LEN: usize = 70 * 1024;

/// The stream cannot be framed: `command_length` is out of bounds. The stream is no longer
/// aligned on PDU boundaries, so the caller answers generic_nack ESME_RINVCMDLEN and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "command_length {length} is outside {min}..={max} ({})",
    CommandStatus::ESME_RINVCMDLEN
)]
pub struct FrameError {
    /// The `command_length` read.
    pub length: u32,
    /// The smallest valid length (the header).
    pub min: usize,
    /// The configured maximum.
    pub max: usize,
    /// The sequence number, if the header was already complete.
    pub sequence_number: Option<u32>,
}

impl FrameError {
    /// Always `ESME_RINVCMDLEN`.
    pub fn status(&self) -> CommandStatus {
        CommandStatus::ESME_RINVCMDLEN
    }
}

/// Length of the PDU at the start of `buf`: `Ok(None)` until the 4-octet `command_length` is
/// there, then the length once it is known to be within `16..=max_len`.
pub fn frame_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, FrameError> {
    let Some(length) = buf.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes(length);
    match usize::try_from(length) {
        Ok(len) if (HEADER_LEN..=max_len).contains(&len) => Ok(Some(len)),
        _ => Err(FrameError {
            length,
            min: HEADER_LEN,
            max: max_len,
            sequence_number: buf
                .get(12..16)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes),
        }),
    }
}

/// Takes one whole PDU off the front of `buf`, or returns `Ok(None)` if more bytes are needed
/// (having reserved room for the rest of this PDU).
pub fn split_frame(buf: &mut BytesMut, max_len: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(len) = frame_len(buf, max_len)? else {
        return Ok(None);
    };
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    let frame = buf.split_to(len).freeze();
    Ok(Some(frame))
}

/// Drops a PDU already framed from the front of `buf` (when the caller framed with
/// [`frame_len`] and decoded in place).
pub fn advance(buf: &mut BytesMut, len: usize) {
    buf.advance(len.min(buf.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENQUIRE_LINK: [u8; 16] = [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7];

    #[test]
    fn needs_more_then_yields() {
        let mut buf = BytesMut::new();
        for (i, byte) in ENQUIRE_LINK.iter().enumerate() {
            assert_eq!(split_frame(&mut buf, 64), Ok(None), "after {i} bytes");
            buf.extend_from_slice(&[*byte]);
        }
        buf.extend_from_slice(&ENQUIRE_LINK[..3]);
        let frame = split_frame(&mut buf, 64).unwrap().unwrap();
        assert_eq!(&frame[..], &ENQUIRE_LINK);
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn rejects_bad_lengths_before_buffering() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 15][..]);
        let err = split_frame(&mut buf, 64).unwrap_err();
        assert_eq!(err.length, 15);
        assert_eq!(err.sequence_number, None);
        assert_eq!(err.status(), CommandStatus::ESME_RINVCMDLEN);

        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut buf, 64).is_err());
        // Nothing was reserved for the absurd length.
        assert!(buf.capacity() < 1024);

        let mut buf = BytesMut::from(&[0, 0, 0, 65][..]);
        assert!(split_frame(&mut buf, 64).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 64][..]);
        assert_eq!(split_frame(&mut buf, 64), Ok(None));
    }
}
