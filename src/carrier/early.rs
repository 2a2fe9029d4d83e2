//! Receipts that came before their submit's carrier id was recorded. A carrier may send the
//! receipt right behind its submit_sm_resp, and the id is known here only once the dispatch is
//! committed. Such a receipt waits for one of two events and is woken for that alone: its carrier
//! id recorded (in any of the forms it may take), or every submit written before it settled
//! (then it is none of them). Waking every waiting receipt at each of a link's thousands of
//! settles a second, as a shared notification did, cost more than the receipts themselves.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// A link's waiting receipts.
#[derive(Default)]
pub(crate) struct EarlyReceipts {
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    /// By each form of the carrier id they look for.
    by_id: HashMap<String, Vec<Arc<Notify>>>,
    /// By their horizon: the ticket the next submit had when they came.
    by_horizon: BTreeMap<u64, Vec<Arc<Notify>>>,
}

/// One waiting receipt; it stops waiting when this is dropped.
pub(crate) struct Registration<'a> {
    receipts: &'a EarlyReceipts,
    forms: &'a [String],
    horizon: u64,
    notify: Arc<Notify>,
}

impl EarlyReceipts {
    /// Registers a receipt looking for any of `forms`, which came when `horizon` was the next
    /// submit's ticket. Look the id up once more after this: it may have been recorded between
    /// the caller's last look and now.
    pub(crate) fn register<'a>(&'a self, forms: &'a [String], horizon: u64) -> Registration<'a> {
        let notify = Arc::new(Notify::new());
        let mut waiters = self.lock();
        for form in forms {
            let list = waiters.by_id.entry(form.clone()).or_default();
            list.push(Arc::clone(&notify));
        }
        let list = waiters.by_horizon.entry(horizon).or_default();
        list.push(Arc::clone(&notify));
        Registration {
            receipts: self,
            forms,
            horizon,
            notify,
        }
    }

    /// `carrier_id` was recorded: wakes the receipts looking for it.
    pub(crate) fn recorded(&self, carrier_id: &str) {
        let mut waiters = self.lock();
        if waiters.by_id.is_empty() {
            return;
        }
        if let Some(list) = waiters.by_id.remove(carrier_id) {
            // `notify_one` keeps a permit for a receipt not waiting at this very moment.
            list.iter().for_each(|n| n.notify_one());
        }
    }

    /// No submit with a ticket below `low` is unanswered any more: wakes the receipts whose
    /// horizon is at or below it.
    pub(crate) fn settled_below(&self, low: u64) {
        let mut waiters = self.lock();
        if waiters
            .by_horizon
            .first_key_value()
            .is_none_or(|(h, _)| *h > low)
        {
            return;
        }
        let later = match low.checked_add(1) {
            Some(above) => waiters.by_horizon.split_off(&above),
            None => BTreeMap::new(),
        };
        let due = std::mem::replace(&mut waiters.by_horizon, later);
        due.values().flatten().for_each(|n| n.notify_one());
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Inserts and removes only: consistent under a panic elsewhere.
        crate::sync::lock(&self.waiters)
    }
}

impl Registration<'_> {
    /// Until the receipt's id is recorded or its horizon settled (at once if either happened
    /// since it registered), or spuriously: check again after.
    pub(crate) async fn woken(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiters = self.receipts.lock();
        for form in self.forms {
            if let Some(list) = waiters.by_id.get_mut(form.as_str()) {
                if unlisted(list, &self.notify) {
                    waiters.by_id.remove(form.as_str());
                }
            }
        }
        if let Some(list) = waiters.by_horizon.get_mut(&self.horizon) {
            if unlisted(list, &self.notify) {
                waiters.by_horizon.remove(&self.horizon);
            }
        }
    }
}

/// Takes `notify` off `list`; true if the list is empty now.
fn unlisted(list: &mut Vec<Arc<Notify>>, notify: &Arc<Notify>) -> bool {
    list.retain(|n| !Arc::ptr_eq(n, notify));
    list.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn woken_soon(registration: &Registration<'_>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), registration.woken())
            .await
            .is_ok()
    }

    /// Every registration is gone: no id and no horizon keeps a waiter.
    fn assert_nothing_listed(early: &EarlyReceipts) {
        let waiters = early.lock();
        assert!(waiters.by_id.is_empty() && waiters.by_horizon.is_empty());
    }

    #[tokio::test]
    async fn a_receipt_is_woken_by_its_own_id_in_any_form_and_not_by_others() {
        let early = EarlyReceipts::default();
        let forms = ["1a2b".to_owned(), "1A2B".to_owned(), "6699".to_owned()];
        let registration = early.register(&forms, 10);
        early.recorded("ffff");
        early.settled_below(9);
        assert!(!woken_soon(&registration).await);
        // Recorded before the receipt waits: the wake is kept for it.
        early.recorded("6699");
        assert!(woken_soon(&registration).await);
        drop(registration);
        assert_nothing_listed(&early);
    }

    #[tokio::test]
    async fn a_receipt_is_woken_once_every_older_submit_is_settled() {
        let early = EarlyReceipts::default();
        let older = ["a".to_owned()];
        let newer = ["b".to_owned()];
        let first = early.register(&older, 5);
        let second = early.register(&newer, 8);
        early.settled_below(6);
        assert!(woken_soon(&first).await);
        assert!(!woken_soon(&second).await);
        early.settled_below(u64::MAX);
        assert!(woken_soon(&second).await);
        drop((first, second));
        assert_nothing_listed(&early);
    }

    #[tokio::test]
    async fn two_receipts_for_one_id_are_both_woken_and_unlisted_apart() {
        let early = EarlyReceipts::default();
        let forms = ["7".to_owned()];
        let a = early.register(&forms, 3);
        let b = early.register(&forms, 3);
        drop(a);
        assert_eq!(early.lock().by_id["7"].len(), 1);
        early.recorded("7");
        assert!(woken_soon(&b).await);
    }
}
