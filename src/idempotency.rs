//! Idempotency keys of the HTTP API (`Idempotency-Key`, as Telnyx and the IETF draft
//! `draft-ietf-httpapi-idempotency-key-header` have it): a client that retries a request with
//! the same key gets the first answer again instead of a second message.
//!
//! The answer is stored with the messages it announces, in one group commit
//! (`Store::accept_idempotent`): a crash after the commit and before the answer reached the
//! client leaves the answer to replay, never a message without it or an answer without its
//! message. The same key with another request body is refused; a retry while the first is
//! still being committed gets 409 (`InFlight`, in memory: one process holds a key at a time).
//! Past `[http_api] idempotency_window` an answer is ignored, and a sweep removes it from the
//! store (`store/idempotency.rs`).

use dashmap::DashSet;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Longest key accepted.
pub const KEY_MAX: usize = 255;

/// A client's key: 1–255 of `[A-Za-z0-9_:-]`.
pub fn valid_key(key: &str) -> bool {
    (1..=KEY_MAX).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
}

/// What the store keeps for a key: which request it answered and the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// SHA-256 of the method, path and body of the request.
    pub request: Vec<u8>,
    /// The HTTP status given.
    pub status: u16,
    /// The JSON body given.
    pub body: Vec<u8>,
    /// When, unix ms: past the window the key is free again.
    pub at: i64,
}

/// The fingerprint of a request, for "the same key with another request".
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [method.as_bytes(), b" ", path.as_bytes(), b"\n", body] {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

/// Keys whose first request is being handled, by client.
#[derive(Clone, Default)]
pub struct InFlight(Arc<DashSet<(String, String)>>);

impl InFlight {
    /// Takes the key for the request; `None` if another request holds it.
    pub fn take(&self, client: &str, key: &str) -> Option<Held> {
        let entry = (client.to_owned(), key.to_owned());
        self.0.insert(entry.clone()).then(|| Held {
            set: Arc::clone(&self.0),
            entry,
        })
    }
}

/// A key held by a request; freed when the request is done, however it ends.
pub struct Held {
    set: Arc<DashSet<(String, String)>>,
    entry: (String, String),
}

impl Drop for Held {
    fn drop(&mut self) {
        self.set.remove(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain() {
        assert!(valid_key("order-8812:retry_1"));
        assert!(valid_key(&"a".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"a".repeat(256)));
        assert!(!valid_key("with space"));
        assert!(!valid_key("é"));
    }

    #[test]
    fn a_key_is_held_once_until_its_request_ends() {
        let in_flight = InFlight::default();
        let held = in_flight.take("shop", "k").unwrap();
        assert!(in_flight.take("shop", "k").is_none());
        assert!(
            in_flight.take("other", "k").is_some(),
            "keys are per client"
        );
        drop(held);
        assert!(in_flight.take("shop", "k").is_some());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint("POST", "/api/v1/messages", b"{\"to\":\"+33612345678\"}");
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            fingerprint("POST", "/api/v1/messages", b"{\"to\":\"+33612345678\"}")
        );
        assert_ne!(
            a,
            fingerprint("POST", "/api/v1/messages", b"{\"to\":\"+33612345679\"}")
        );
        assert_ne!(
            a,
            fingerprint("DELETE", "/api/v1/messages", b"{\"to\":\"+33612345678\"}")
        );
    }
}
