//! Private decoding helpers: a cursor over one frame that reads each field with nom's
//! `complete` parsers and turns failures into [`DecodeError`]s naming the field.

use crate::error::{DecodeError, ErrorKind};
use crate::types::COctetString;
use bytes::Bytes;
use nom::bytes::complete::{take, take_till};
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::{IResult, Parser};

/// Reads fields off the body of one frame. Octet strings are zero-copy slices of the frame.
pub(crate) struct Reader<'a> {
    frame: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(frame: &'a Bytes, body: &'a [u8]) -> Self {
        Self { frame, rest: body }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn run<T>(
        &mut self,
        field: &'static str,
        result: IResult<&'a [u8], T, ()>,
    ) -> Result<T, DecodeError> {
        match result {
            Ok((rest, value)) => {
                self.rest = rest;
                Ok(value)
            }
            Err(_) => Err(DecodeError::new(field, ErrorKind::Truncated)),
        }
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let result = be_u8(self.rest);
        self.run(field, result)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let result = be_u16(self.rest);
        self.run(field, result)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let result = be_u32(self.rest);
        self.run(field, result)
    }

    /// `len` raw octets.
    pub(crate) fn octets(&mut self, field: &'static str, len: usize) -> Result<Bytes, DecodeError> {
        let result = take(len).parse(self.rest);
        let slice = self.run(field, result)?;
        Ok(self.frame.slice_ref(slice))
    }

    /// A C-Octet String of at most `MAX` octets, NUL included. Never looks past `MAX`.
    pub(crate) fn c_string<const MAX: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<COctetString<MAX>, DecodeError> {
        if self.rest.is_empty() {
            return Err(DecodeError::new(field, ErrorKind::Truncated));
        }
        let window = self.rest.get(..MAX).unwrap_or(self.rest);
        let found: IResult<&[u8], &[u8], ()> = take_till(|b| b == 0).parse(window);
        let value = match found {
            Ok((after, value)) if !after.is_empty() => value,
            _ if window.len() == MAX => {
                return Err(DecodeError::new(field, ErrorKind::TooLong { max: MAX }))
            }
            _ => {
                return Err(DecodeError::new(
                    field,
                    ErrorKind::Invalid {
                        reason: "no NUL before the end of the PDU",
                    },
                ))
            }
        };
        // The value plus its NUL: `value.len() < window.len()` by the match above.
        self.rest = self.rest.get(value.len() + 1..).unwrap_or_default();
        Ok(COctetString::from_checked(self.frame.slice_ref(value)))
    }

    /// An SMPP time field: NULL, or exactly 16 characters (§7.1.1). Its meaning is checked by
    /// [`crate::time`], not here, so that a PDU still round-trips byte for byte.
    pub(crate) fn time(&mut self, field: &'static str) -> Result<COctetString<17>, DecodeError> {
        let value = self.c_string::<17>(field)?;
        if value.is_empty() || value.len() == 16 {
            Ok(value)
        } else {
            Err(DecodeError::new(
                field,
                ErrorKind::Invalid {
                    reason: "must be NULL or 16 characters",
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_string_limits() {
        let frame = Bytes::from_static(b"abc\0abcdef\0");
        let mut r = Reader::new(&frame, &frame);
        assert_eq!(r.c_string::<4>("a").unwrap().as_bytes(), b"abc");
        let err = r.c_string::<6>("b").unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLong { max: 6 });

        let frame = Bytes::from_static(b"abc");
        let mut r = Reader::new(&frame, &frame);
        assert!(matches!(
            r.c_string::<21>("c").unwrap_err().kind,
            ErrorKind::Invalid { .. }
        ));

        let frame = Bytes::from_static(b"\0");
        let mut r = Reader::new(&frame, &frame);
        assert!(r.c_string::<1>("d").unwrap().is_empty());
        assert!(r.is_empty());
        assert_eq!(r.u8("e").unwrap_err().kind, ErrorKind::Truncated);
    }
}
