//! Our requests in flight on one session: sequence number → (deadline, whoever waits for the
//! response). Bounded: the driver stops taking outbound work while it is full.

use smpp_proto::Pdu;
use std::collections::{BTreeSet, HashMap};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Why a request we sent got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No response within the response timeout.
    #[error("no response within the response timeout")]
    Timeout,
    /// The session ended first.
    #[error("the session closed before the response")]
    Closed,
    /// The response could not be decoded.
    #[error("the response was malformed")]
    Malformed,
}

/// The answer to a request: its response PDU, or why there is none.
pub type Answer = Result<Pdu, RequestError>;

struct Pending {
    deadline: Instant,
    reply: Option<oneshot::Sender<Answer>>,
}

/// Requests in flight, at most `capacity`.
pub(crate) struct Window {
    capacity: usize,
    pending: HashMap<u32, Pending>,
    /// The same requests by deadline: the driver asks for the earliest after every event.
    deadlines: BTreeSet<(Instant, u32)>,
    next_sequence: u32,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            pending: HashMap::with_capacity(capacity),
            deadlines: BTreeSet::new(),
            next_sequence: 1,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Reserves a sequence number for a new request. SMPP 3.4: 1..=0x7FFFFFFF, wrapping to 1,
    /// skipping numbers still in flight.
    pub(crate) fn insert(
        &mut self,
        deadline: Instant,
        reply: Option<oneshot::Sender<Answer>>,
    ) -> u32 {
        loop {
            let sequence = self.next_sequence;
            self.next_sequence = if sequence >= 0x7FFF_FFFF {
                1
            } else {
                sequence + 1
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = self.pending.entry(sequence) {
                slot.insert(Pending { deadline, reply });
                self.deadlines.insert((deadline, sequence));
                return sequence;
            }
        }
    }

    /// Completes the request a response answers; false if none was waiting for it.
    pub(crate) fn complete(&mut self, sequence: u32, answer: Answer) -> bool {
        match self.pending.remove(&sequence) {
            Some(pending) => {
                self.deadlines.remove(&(pending.deadline, sequence));
                if let Some(reply) = pending.reply {
                    // The requester may have given up waiting; nothing to do then.
                    let _ = reply.send(answer);
                }
                true
            }
            None => false,
        }
    }

    /// The earliest deadline, if anything is in flight.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Fails every request whose deadline has passed; returns their sequence numbers.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<u32> {
        let expired: Vec<u32> = self
            .deadlines
            .iter()
            .take_while(|&&(deadline, _)| deadline <= now)
            .map(|&(_, seq)| seq)
            .collect();
        for sequence in &expired {
            self.complete(*sequence, Err(RequestError::Timeout));
        }
        expired
    }

    /// Fails everything still in flight (the session is ending).
    pub(crate) fn close(&mut self) {
        self.deadlines.clear();
        for (_, pending) in self.pending.drain() {
            if let Some(reply) = pending.reply {
                let _ = reply.send(Err(RequestError::Closed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smpp_proto::Body;
    use std::time::Duration;

    #[test]
    fn sequence_numbers_wrap_and_skip_pending() {
        let now = Instant::now();
        let mut window = Window::new(4);
        window.next_sequence = 0x7FFF_FFFE;
        assert_eq!(window.insert(now, None), 0x7FFF_FFFE);
        assert_eq!(window.insert(now, None), 0x7FFF_FFFF);
        assert_eq!(window.insert(now, None), 1);
        window.next_sequence = 1;
        assert_eq!(window.insert(now, None), 2);
        assert!(window.is_full());
    }

    #[tokio::test]
    async fn responses_and_timeouts_reach_the_requester() {
        let now = Instant::now();
        let mut window = Window::new(8);
        let (tx, rx) = oneshot::channel();
        let seq = window.insert(now + Duration::from_secs(1), Some(tx));
        assert!(window.complete(seq, Ok(Pdu::new(seq, Body::EnquireLinkResp))));
        assert_eq!(rx.await.unwrap().unwrap().body, Body::EnquireLinkResp);
        assert!(!window.complete(seq, Ok(Pdu::new(seq, Body::EnquireLinkResp))));

        let (tx, rx) = oneshot::channel();
        window.insert(now + Duration::from_secs(1), Some(tx));
        assert_eq!(window.next_deadline(), Some(now + Duration::from_secs(1)));
        assert!(window.expire(now).is_empty());
        assert_eq!(window.expire(now + Duration::from_secs(2)).len(), 1);
        assert_eq!(rx.await.unwrap(), Err(RequestError::Timeout));
        assert_eq!(window.len(), 0);
        assert_eq!(window.next_deadline(), None);
    }

    #[test]
    fn the_earliest_deadline_follows_inserts_completions_and_expiry() {
        let now = Instant::now();
        let at = |s| now + Duration::from_secs(s);
        let mut window = Window::new(8);
        let late = window.insert(at(30), None);
        let early = window.insert(at(10), None);
        let middle = window.insert(at(20), None);
        assert_eq!(window.next_deadline(), Some(at(10)));
        assert!(window.complete(early, Err(RequestError::Closed)));
        assert_eq!(window.next_deadline(), Some(at(20)));
        // Only what is due, earliest first.
        assert_eq!(window.expire(at(25)), vec![middle]);
        assert_eq!(window.next_deadline(), Some(at(30)));
        window.insert(at(5), None);
        assert_eq!(window.next_deadline(), Some(at(5)));
        window.close();
        assert_eq!((window.len(), window.next_deadline()), (0, None));
        assert!(!window.complete(late, Err(RequestError::Closed)));
    }
}
