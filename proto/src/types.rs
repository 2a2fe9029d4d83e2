//! Value types shared by the PDUs: bounded C-Octet Strings and `message_state`.

use bytes::Bytes;
use std::fmt;

/// An SMPP C-Octet String whose encoded form (including the terminating NUL) is at most `MAX`
/// octets. The NUL is not stored; the value never contains a NUL.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct COctetString<const MAX: usize>(Bytes);

/// Why a value cannot be a [`COctetString`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CStringError {
    /// The value with its NUL would be longer than the field allows.
    #[error("{len} octets plus NUL exceed the maximum of {max}")]
    TooLong {
        /// Octets in the value, without the NUL.
        len: usize,
        /// The field's maximum, NUL included.
        max: usize,
    },
    /// The value contains a NUL octet, which would end the string early on the wire.
    #[error("contains a NUL octet")]
    InteriorNul,
}

impl<const MAX: usize> COctetString<MAX> {
    /// The maximum encoded size of this string type, NUL included.
    pub const MAX: usize = MAX;

    /// The empty string ("NULL" in SMPP terms: a single `0x00` on the wire).
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// Checks the bounds and wraps `value` (given without its NUL).
    pub fn new(value: impl Into<Bytes>) -> Result<Self, CStringError> {
        let value = value.into();
        if value.len() + 1 > MAX {
            return Err(CStringError::TooLong {
                len: value.len(),
                max: MAX,
            });
        }
        if value.contains(&0) {
            return Err(CStringError::InteriorNul);
        }
        Ok(Self(value))
    }

    /// Wraps bytes the decoder already checked (no NUL, within `MAX`).
    pub(crate) fn from_checked(value: Bytes) -> Self {
        debug_assert!(value.len() < MAX && !value.contains(&0));
        Self(value)
    }

    /// The octets, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The octets as a `Bytes` handle (cheap clone).
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// The value as text, if it is valid UTF-8 (SMPP strings are ASCII in practice).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The value as text, replacing invalid UTF-8.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// Octets in the value, without the NUL.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the NULL string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Octets on the wire, NUL included.
    pub fn encoded_len(&self) -> usize {
        self.0.len() + 1
    }
}

impl<const MAX: usize> TryFrom<&str> for COctetString<MAX> {
    type Error = CStringError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(Bytes::copy_from_slice(value.as_bytes()))
    }
}

impl<const MAX: usize> TryFrom<String> for COctetString<MAX> {
    type Error = CStringError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl<const MAX: usize> fmt::Debug for COctetString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl<const MAX: usize> fmt::Display for COctetString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

#[cfg(feature = "serde")]
impl<const MAX: usize> serde::Serialize for COctetString<MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string_lossy())
    }
}

/// `message_state` (SMPP 3.4 §5.2.28): an open code space, so unknown values are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MessageState(pub u8);

impl MessageState {
    /// SMPP 5.0: scheduled, not yet sent.
    pub const SCHEDULED: Self = Self(0);
    /// In transit.
    pub const ENROUTE: Self = Self(1);
    /// Delivered to the destination.
    pub const DELIVERED: Self = Self(2);
    /// Validity period expired.
    pub const EXPIRED: Self = Self(3);
    /// Deleted (cancelled).
    pub const DELETED: Self = Self(4);
    /// Undeliverable.
    pub const UNDELIVERABLE: Self = Self(5);
    /// Accepted (e.g. read by customer service on the subscriber's behalf).
    pub const ACCEPTED: Self = Self(6);
    /// State unknown.
    pub const UNKNOWN: Self = Self(7);
    /// Rejected.
    pub const REJECTED: Self = Self(8);
    /// SMPP 5.0: skipped.
    pub const SKIPPED: Self = Self(9);

    /// The spec's name, or `None` for a value no spec defines.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "SCHEDULED",
            1 => "ENROUTE",
            2 => "DELIVERED",
            3 => "EXPIRED",
            4 => "DELETED",
            5 => "UNDELIVERABLE",
            6 => "ACCEPTED",
            7 => "UNKNOWN",
            8 => "REJECTED",
            9 => "SKIPPED",
            _ => return None,
        })
    }

    /// Whether no further state change is expected. ACCEPTED is final in SMPP 3.4; unknown
    /// values count as final-unknown.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::SCHEDULED | Self::ENROUTE)
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:02X}", self.0),
        }
    }
}

/// Lowercase hex of `bytes`, for octets shown to people (`Debug`, JSON).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_octet_string_bounds() {
        assert!(COctetString::<6>::try_from("CMT").is_ok());
        assert!(COctetString::<6>::try_from("ABCDE").is_ok());
        assert_eq!(
            COctetString::<6>::try_from("ABCDEF"),
            Err(CStringError::TooLong { len: 6, max: 6 })
        );
        assert_eq!(
            COctetString::<6>::new(&b"a\0b"[..]),
            Err(CStringError::InteriorNul)
        );
    }

    #[test]
    fn message_state_names() {
        assert_eq!(MessageState::DELIVERED.to_string(), "DELIVERED");
        assert_eq!(MessageState(42).to_string(), "0x2A");
        assert!(!MessageState::ENROUTE.is_final());
        assert!(MessageState::ACCEPTED.is_final());
    }
}
