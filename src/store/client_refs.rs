//! The `client_refs` index: a client's own reference for a message (`labels.client_ref`, an
//! order or cart number) → the message, so that the HTTP API finds, cancels and deduplicates
//! messages by it. Keys and values are `layout.rs`'s.
//!
//! The index is written by the commit thread in the accept's own commit (`Op::Accept` calls
//! [`entries`]): a message acknowledged with a reference is always found by it after a crash.
//! It names the first part of a message (the part whose id names it); the latest message
//! accepted with a reference wins. Retention removes an entry with the message it names
//! (`Op::Purge` calls [`purged`]), never one a newer message took over.

use super::engine::{Engine, Tree, Write};
use super::{layout, Error, Store};
use crate::message::{Message, MessageId};

/// What the index says of a reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRef {
    /// The message (its first part's id).
    pub id: MessageId,
    /// When it was accepted, unix ms.
    pub accepted_at: i64,
}

impl Store {
    /// The message `client` last sent with reference `client_ref`, if the index has one.
    pub fn client_ref(&self, client: &str, client_ref: &str) -> Result<Option<ClientRef>, Error> {
        let key = layout::client_ref_key(client, client_ref)?;
        match self.shared.engine.get(Tree::ClientRefs, &key)? {
            Some(value) => {
                let (id, accepted_at) = layout::decode_client_ref(&key, &value)?;
                Ok(Some(ClientRef { id, accepted_at }))
            }
            None => Ok(None),
        }
    }
}

/// An index entry: key and value.
pub(super) type Entry = (Vec<u8>, Vec<u8>);

/// The index entries that new `messages` write: one for each message's first part whose
/// labels carry a reference.
pub(super) fn entries(messages: &[Message]) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    for message in messages {
        let Some(client_ref) = &message.labels.client_ref else {
            continue;
        };
        // The other parts are found from the first (consecutive ids).
        if message.part().is_some_and(|part| part.seqnum() != 1) {
            continue;
        }
        let key = layout::client_ref_key(&message.client, client_ref)?;
        entries.push((
            key,
            layout::encode_client_ref(message.id, message.received_at),
        ));
    }
    Ok(entries)
}

/// The index key to remove with `message`, purged: its reference's entry, if that still names
/// it. `pending` are the writes planned before in the same batch, oldest first (a newer
/// message with the same reference may be among them).
pub(super) fn purged<'w>(
    engine: &Engine,
    pending: impl DoubleEndedIterator<Item = &'w Write>,
    message: &Message,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(client_ref) = &message.labels.client_ref else {
        return Ok(None);
    };
    let key = layout::client_ref_key(&message.client, client_ref)?;
    let planned = pending
        .rev()
        .find(|w| w.tree == Tree::ClientRefs && w.key == key);
    let named = match planned {
        Some(Write { value: None, .. }) => None,
        Some(Write {
            value: Some(value), ..
        }) => Some(layout::decode_client_ref(&key, value)?.0),
        None => match engine.get(Tree::ClientRefs, &key)? {
            Some(value) => Some(layout::decode_client_ref(&key, &value)?.0),
            None => None,
        },
    };
    Ok((named == Some(message.id)).then_some(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{now_ms, Labels};
    use crate::store::tests::open;
    use std::time::Duration;

    fn with_ref(store: &Store, client_ref: &str) -> Message {
        Message {
            received_at: now_ms(),
            labels: Labels {
                client_ref: Some(client_ref.into()),
                ..Labels::default()
            },
            ..Message::example(store.allocate_id())
        }
    }

    /// Part `seqnum` of 2 of a long message, with its 8-bit-reference UDH.
    fn part(store: &Store, id: MessageId, seqnum: u8) -> Message {
        let mut short_message = vec![5, 0, 3, 42, 2, seqnum];
        short_message.extend_from_slice(b"half");
        Message {
            id,
            esm_class: smpp_proto::pdu::esm_class::UDHI,
            short_message,
            ..with_ref(store, "long")
        }
    }

    #[tokio::test]
    async fn a_reference_names_its_latest_message_until_retention_purges_that_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let first = with_ref(&store, "cart-1");
        store.accept(vec![first.clone()]).await.unwrap();
        let found = store.client_ref("shop", "cart-1").unwrap();
        assert_eq!(
            found,
            Some(ClientRef {
                id: first.id,
                accepted_at: first.received_at
            })
        );
        assert_eq!(store.client_ref("other", "cart-1").unwrap(), None);
        assert_eq!(store.client_ref("shop", "cart-2").unwrap(), None);

        // The parts of a long message: the index names the first.
        let head = store.allocate_ids(2);
        let tail = MessageId::new(head.as_u64() + 1);
        let parts = vec![part(&store, head, 1), part(&store, tail, 2)];
        store.accept(parts).await.unwrap();
        assert_eq!(
            store.client_ref("shop", "long").unwrap().map(|r| r.id),
            Some(head)
        );

        // A newer message with the same reference takes it over; purging the older one
        // leaves it, purging the newer one removes it.
        let second = with_ref(&store, "cart-1");
        store.accept(vec![second.clone()]).await.unwrap();
        store.cancel(first.id).await.unwrap();
        let cutoff = now_ms() + 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        store.purge_finished(None, cutoff, 10).await.unwrap();
        assert_eq!(store.message(first.id).unwrap(), None);
        assert_eq!(
            store.client_ref("shop", "cart-1").unwrap().map(|r| r.id),
            Some(second.id)
        );
        store.cancel(second.id).await.unwrap();
        let cutoff = now_ms() + 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
        store.purge_finished(None, cutoff, 10).await.unwrap();
        assert_eq!(store.client_ref("shop", "cart-1").unwrap(), None);

        // Durable: found again after a restart.
        store.close().await.unwrap();
        drop(store);
        let store = open(&dir);
        assert_eq!(
            store.client_ref("shop", "long").unwrap().map(|r| r.id),
            Some(head)
        );
        assert_eq!(store.client_ref("shop", "cart-1").unwrap(), None);
    }

    #[tokio::test]
    async fn a_purge_leaves_an_entry_a_write_earlier_in_its_batch_gave_another_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let old = with_ref(&store, "cart-9");
        store.accept(vec![old.clone()]).await.unwrap();
        let key = layout::client_ref_key("shop", "cart-9").unwrap();
        let engine = &store.shared.engine;
        let write = |value: Option<Vec<u8>>| Write {
            tree: Tree::ClientRefs,
            key: key.clone(),
            value,
            fresh: false,
        };
        let newer = write(Some(layout::encode_client_ref(MessageId::new(999), 1)));
        assert_eq!(purged(engine, [].iter(), &old).unwrap(), Some(key.clone()));
        assert_eq!(purged(engine, [newer.clone()].iter(), &old).unwrap(), None);
        let back = write(Some(layout::encode_client_ref(old.id, 1)));
        assert_eq!(
            purged(engine, [newer, back].iter(), &old).unwrap(),
            Some(key.clone()),
            "the latest planned write counts"
        );
        assert_eq!(purged(engine, [write(None)].iter(), &old).unwrap(), None);
        let unlabelled = Message::example(MessageId::new(5));
        assert_eq!(purged(engine, [].iter(), &unlabelled).unwrap(), None);
    }
}
