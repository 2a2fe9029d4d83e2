//! Arbitrary bytes → frames → PDUs. Never panics; whatever decodes, encodes to octets that
//! decode to the same PDU.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::{DecodeError, Pdu};

fuzz_target!(|data: &[u8]| {
    // The input as one frame, whatever its command_length says: the decoder's own checks.
    check(Pdu::decode(&Bytes::copy_from_slice(data)));

    // The input as a stream: frame after frame until it runs out or stops framing.
    let mut buf = BytesMut::from(data);
    loop {
        match split_frame(&mut buf, DEFAULT_MAX_PDU_LEN) {
            Ok(Some(frame)) => {
                assert!((16..=DEFAULT_MAX_PDU_LEN).contains(&frame.len()));
                check(Pdu::decode(&frame));
            }
            Ok(None) => break,
            Err(err) => {
                assert!(!err.status().is_ok());
                let _ = err.to_string();
                break;
            }
        }
    }
});

fn check(result: Result<Pdu, DecodeError>) {
    match result {
        Ok(pdu) => {
            let bytes = pdu.to_bytes();
            assert_eq!(bytes.len(), pdu.encoded_len());
            assert_eq!(Pdu::decode(&bytes), Ok(pdu));
        }
        Err(err) => {
            assert!(!err.status().is_ok(), "{err:?} maps to ESME_ROK");
            let _ = err.to_string();
            let _ = err.wants_generic_nack();
        }
    }
}
