//! The store's consent calls: a change written with its log entry in one commit, the current
//! choice of a number in a scope, a scope's list, the log, and who last sent a number marketing
//! from a shared short code. The model is `consent.rs`; the keys and values are `layout.rs`;
//! the commits are `commit.rs` (`Op::Consent`, `Op::UpdateAndMark`).

use super::commit::{Confirmation, ConsentWrite, Op, Reply};
use super::engine::{Tree, CONSENT_LOG, SUPPRESSIONS};
use super::{layout, unexpected, Error, Store};
use crate::config::Config;
use crate::consent::{self, Choice, ConsentEvent, LastMarketing, Scope};
use crate::message::{Message, MessageId, OutboxItem};
use crate::numbering;

impl Store {
    /// Records a consent change: the number's entry in its scope and a consent log entry, in
    /// one group commit. Answers, once durable, with the change and the choice it replaced.
    pub async fn record_consent(&self, event: ConsentEvent) -> Result<ConsentEvent, Error> {
        self.write_consent(event, false).await
    }

    /// Cluster mode: a consent change another node recorded (and told its webhooks of),
    /// written here too, so that this node holds the same messages back.
    pub async fn replicate_consent(&self, event: ConsentEvent) -> Result<ConsentEvent, Error> {
        self.write_consent(event, true).await
    }

    async fn write_consent(
        &self,
        event: ConsentEvent,
        replicated: bool,
    ) -> Result<ConsentEvent, Error> {
        layout::suppression_key(&event.scope, &event.number)?;
        let write = ConsentWrite {
            events: vec![event],
            push: None,
            confirmation: None,
            replicated,
        };
        match self.write(Op::Consent(Box::new(write))).await? {
            // One event in, one out.
            Reply::Consent(events, seq, confirmed) => match <[ConsentEvent; 1]>::try_from(events) {
                Ok([event]) => Ok(event),
                Err(events) => Err(unexpected(Reply::Consent(events, seq, confirmed))),
            },
            other => Err(unexpected(other)),
        }
    }

    /// Records many consent changes (an import), each with its log entry; they share group
    /// commits. Answers once all are durable, with each change as written, in order.
    pub async fn record_consents(
        &self,
        events: Vec<ConsentEvent>,
    ) -> Result<Vec<ConsentEvent>, Error> {
        let writes = events.into_iter().map(|event| self.record_consent(event));
        futures_util::future::join_all(writes)
            .await
            .into_iter()
            .collect()
    }

    /// Records the consent changes asked for by an MO (one per list: a reply to a shared short
    /// code nobody can be found for changes every sharing client's) together with the MO's
    /// entry in `client`'s outbox and, for an opt-out, its `confirmation` if the number got
    /// none within the confirmation's interval in any of those lists: one group commit, so
    /// that an MO acknowledged to the carrier never lacks its opt-out, nor an opt-out its MO
    /// or confirmation. `kept`: as [`Store::deliver_mo`]. Answers the changes and the
    /// confirmation's id if it was queued.
    pub async fn record_consent_with_mo(
        &self,
        events: Vec<ConsentEvent>,
        client: &str,
        item: OutboxItem,
        kept: bool,
        confirmation: Option<Confirmation>,
    ) -> Result<(Vec<ConsentEvent>, Option<MessageId>), Error> {
        for event in &events {
            layout::suppression_key(&event.scope, &event.number)?;
        }
        layout::name_prefix(client)?;
        let write = ConsentWrite {
            events,
            push: Some((client.to_owned(), item, kept)),
            confirmation,
            replicated: false,
        };
        match self.write(Op::Consent(Box::new(write))).await? {
            Reply::Consent(events, Some(_), confirmed) => Ok((events, confirmed)),
            other => Err(unexpected(other)),
        }
    }

    /// Who last sent `number` (as the lists keep it) marketing from short code `code`, if
    /// anybody did since the index began; the caller judges how old is too old.
    pub fn last_marketing(&self, code: &str, number: &str) -> Result<Option<LastMarketing>, Error> {
        let key = layout::last_marketing_key(code, number)?;
        match self.shared.engine.get(Tree::LastMarketing, &key)? {
            Some(value) => layout::decode_last_marketing(&key, &value).map(Some),
            None => Ok(None),
        }
    }

    /// The latest consent change of `number` in `scope`, if it ever had one.
    pub fn consent(&self, scope: &Scope, number: &str) -> Result<Option<ConsentEvent>, Error> {
        let key = layout::suppression_key(scope, number)?;
        match self.shared.engine.get(Tree::Suppressions, &key)? {
            Some(value) => layout::decode_consent(SUPPRESSIONS, &key, &value).map(Some),
            None => Ok(None),
        }
    }

    /// The opt-out that holds `number` back in `scope`, if it is opted out.
    pub fn suppression(&self, scope: &Scope, number: &str) -> Result<Option<ConsentEvent>, Error> {
        Ok(self
            .consent(scope, number)?
            .filter(|event| event.choice == Choice::OptedOut))
    }

    /// The opt-out that holds `message` back under `config`: consent is on, applies to the
    /// message's class, and its destination opted out in the message's scope. Checked at
    /// accept and again at dispatch, so an opt-out received while a message waited wins.
    pub fn holding_back(
        &self,
        config: &Config,
        message: &Message,
    ) -> Result<Option<ConsentEvent>, Error> {
        if !consent::applies(&config.consent, message.class) {
            return Ok(None);
        }
        self.opted_out(config, message)
    }

    /// The opt-out of `message`'s destination in the message's scope (by default its client's
    /// list), whether or not it holds this message back (consent off, or not for its class).
    pub fn opted_out(
        &self,
        config: &Config,
        message: &Message,
    ) -> Result<Option<ConsentEvent>, Error> {
        let Some(number) = numbering::e164(&config.numbering, &message.destination) else {
            return Ok(None);
        };
        let scope = Scope::of(&config.consent, &message.client, &message.source.addr);
        self.suppression(&scope, &consent::stored_number(&config.consent, &number))
    }

    /// `scope`'s entries (opted out and back in) in number order, after `after`, at most
    /// `limit`: an export, page by page.
    pub fn consents(
        &self,
        scope: &Scope,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ConsentEvent>, Error> {
        let prefix = layout::scope_prefix(scope)?;
        let start = match after {
            // The byte after the number: the next key up.
            Some(number) => [&layout::suppression_key(scope, number)?[..], &[0]].concat(),
            None => prefix.clone(),
        };
        // Numbers are `+` and digits: every key of the scope sorts below this one.
        let end = [&prefix[..], &[0xFF]].concat();
        self.shared
            .engine
            .scan(Tree::Suppressions, &start, &end, limit)?
            .into_iter()
            .map(|(key, value)| layout::decode_consent(SUPPRESSIONS, &key, &value))
            .collect()
    }

    /// The consent log after entry `after`, oldest first, at most `limit`: (seq, change).
    pub fn consent_log(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, ConsentEvent)>, Error> {
        let first = match after {
            None => 0,
            Some(seq) => match seq.checked_add(1) {
                Some(first) => first,
                None => return Ok(Vec::new()),
            },
        };
        self.shared
            .engine
            .scan(
                Tree::ConsentLog,
                &first.to_be_bytes(),
                &u64::MAX.to_be_bytes(),
                limit,
            )?
            .into_iter()
            .map(|(key, value)| {
                let seq = <[u8; 8]>::try_from(key.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| layout::corrupt(CONSENT_LOG, &key, "key is not 8 bytes"))?;
                Ok((seq, layout::decode_consent(CONSENT_LOG, &key, &value)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Marketed, Origin};
    use crate::message::{Message, OutboxKind};
    use crate::store::tests::open;

    fn change(scope: Scope, number: &str, choice: Choice, at: i64) -> ConsentEvent {
        ConsentEvent {
            at,
            scope,
            number: number.into(),
            choice,
            origin: Origin::Mo,
            evidence: format!("mo {at}"),
            keyword: Some("STOP".into()),
            previous: None,
            confirmed_at: None,
        }
    }

    #[tokio::test]
    async fn changes_read_back_with_the_choice_they_replaced_and_survive_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let shop = Scope::Client("shop".into());
        let other = Scope::Client("other".into());
        let number = "+33612345678";
        {
            let store = open(&dir);
            let first = store
                .record_consent(change(shop.clone(), number, Choice::OptedOut, 1))
                .await
                .unwrap();
            assert_eq!(first.previous, None);
            assert!(store.suppression(&shop, number).unwrap().is_some());
            // Another client's list does not hold it.
            assert_eq!(store.suppression(&other, number).unwrap(), None);
            // Two changes in one batch: the second sees the first.
            let (back_in, out_again) = tokio::join!(
                store.record_consent(change(shop.clone(), number, Choice::OptedIn, 2)),
                store.record_consent(change(shop.clone(), number, Choice::OptedOut, 3)),
            );
            let (back_in, out_again) = (back_in.unwrap(), out_again.unwrap());
            let mut previous = [back_in.previous, out_again.previous];
            previous.sort_by_key(|p| p.map(Choice::name));
            assert_eq!(previous, [Some(Choice::OptedIn), Some(Choice::OptedOut)]);
            store
                .record_consent(change(shop.clone(), "+33699999999", Choice::OptedIn, 4))
                .await
                .unwrap();
            store.close_as_crashed().await.unwrap();
        }
        let store = open(&dir);
        let latest = store.consent(&shop, number).unwrap().unwrap();
        let log = store.consent_log(None, 100).unwrap();
        assert_eq!(log.len(), 4, "{log:?}");
        assert_eq!(log.last().unwrap().1.number, "+33699999999");
        // The entry is the change the log has last for the number.
        let last_for_number = log.iter().rev().find(|(_, e)| e.number == number).unwrap();
        assert_eq!(latest, last_for_number.1);
        assert!(log.windows(2).all(|w| w[0].0 < w[1].0), "log in order");
        // Paged: after the first entry, the other three.
        assert_eq!(store.consent_log(Some(log[0].0), 100).unwrap().len(), 3);

        let list = store.consents(&shop, None, 100).unwrap();
        let numbers: Vec<&str> = list.iter().map(|e| e.number.as_str()).collect();
        assert_eq!(numbers, [number, "+33699999999"]);
        assert_eq!(store.consents(&shop, Some(number), 100).unwrap().len(), 1);
        assert!(store.consents(&other, None, 100).unwrap().is_empty());
        // An opted-in number is listed but not suppressed.
        assert_eq!(store.suppression(&shop, "+33699999999").unwrap(), None);
    }

    #[tokio::test]
    async fn a_marketing_dispatch_from_a_shared_code_is_indexed_in_its_own_commit() {
        let dir = tempfile::tempdir().unwrap();
        let number = "+33612345678";
        let marketed = |client: &str| Marketed {
            code: "36123".into(),
            number: number.into(),
            client: client.into(),
        };
        let queued = |store: &Store| Message {
            route: "r".into(),
            ..Message::example(store.allocate_id())
        };
        {
            let store = open(&dir);
            let (a, b, cancelled) = (queued(&store), queued(&store), queued(&store));
            let ids = [a.id, b.id, cancelled.id];
            store.accept(vec![a, b, cancelled]).await.unwrap();
            let before = crate::message::now_ms();
            store
                .record_dispatch(ids[0], "c", "x0", true, Some(marketed("shop-a")))
                .await
                .unwrap();
            let last = store.last_marketing("36123", number).unwrap().unwrap();
            assert_eq!(last.client, "shop-a");
            assert!(last.at >= before, "{last:?}");
            // The latest wins.
            store
                .record_dispatch(ids[1], "c", "x1", true, Some(marketed("shop-b")))
                .await
                .unwrap();
            // A dispatch that is refused (the message ended) writes no entry either.
            store
                .update(ids[2], |m| {
                    m.transition(crate::message::State::Deleted, 1, "x")
                })
                .await
                .unwrap();
            let refused = store.record_dispatch(ids[2], "c", "x2", true, Some(marketed("shop-c")));
            assert!(matches!(refused.await, Err(Error::Final { .. })));
            store.close_as_crashed().await.unwrap();
        }
        let store = open(&dir);
        let last = store.last_marketing("36123", number).unwrap().unwrap();
        assert_eq!(last.client, "shop-b");
        // Another code, another number: nothing.
        assert_eq!(store.last_marketing("36124", number).unwrap(), None);
        assert_eq!(store.last_marketing("36123", "+33699999999").unwrap(), None);
    }

    #[tokio::test]
    async fn an_mo_changes_several_lists_in_one_commit_with_one_confirmation() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let number = "+33612345678";
        let (a, b) = (
            Scope::Client("shop-a".into()),
            Scope::Client("shop-b".into()),
        );
        let mo = OutboxItem {
            kind: OutboxKind::Mo,
            source: Default::default(),
            destination: Default::default(),
            esm_class: 0,
            data_coding: 0,
            short_message: b"STOP".to_vec(),
            tlvs: Vec::new(),
            created_at: 1,
        };
        let confirmation = |at: i64| Confirmation {
            message: Message {
                route: "r".into(),
                received_at: at,
                ..Message::example(store.allocate_id())
            },
            interval: 1000,
        };
        // shop-a's list confirmed the number at 10.
        store
            .record_consent_with_mo(
                vec![change(a.clone(), number, Choice::OptedOut, 10)],
                "shop-a",
                mo.clone(),
                true,
                Some(confirmation(10)),
            )
            .await
            .unwrap();
        // Both lists at 20: shop-a's within the interval, so no second confirmation.
        let both = vec![
            change(a.clone(), number, Choice::OptedOut, 20),
            change(b.clone(), number, Choice::OptedOut, 20),
        ];
        let (events, confirmed) = store
            .record_consent_with_mo(
                both.clone(),
                "shop-a",
                mo.clone(),
                true,
                Some(confirmation(20)),
            )
            .await
            .unwrap();
        assert_eq!(confirmed, None);
        assert_eq!(events[0].previous, Some(Choice::OptedOut));
        assert_eq!(events[1].previous, None);
        assert_eq!(events[1].confirmed_at, None);
        assert!(store.suppression(&b, number).unwrap().is_some());
        // Past the interval for both: one confirmation, marked in both lists.
        let later = both
            .into_iter()
            .map(|e| ConsentEvent { at: 2000, ..e })
            .collect();
        let (events, confirmed) = store
            .record_consent_with_mo(later, "shop-a", mo, true, Some(confirmation(2000)))
            .await
            .unwrap();
        assert!(confirmed.is_some());
        assert!(
            events.iter().all(|e| e.confirmed_at == Some(2000)),
            "{events:?}"
        );
        assert_eq!(store.consent_log(None, 10).unwrap().len(), 5);
        assert_eq!(store.outbox("shop-a", None, 10).unwrap().len(), 3);
    }
}
