//! What the gateway counts as it works: Prometheus metrics through the `metrics` facade (the
//! exporter and `/metrics` live in `admin/`) and the running totals `smppctl status` shows.
//! Every metric name and label is written here, once; the rest of the gateway calls the event
//! functions below. Labels are names from the config (clients, routes, links) and status words,
//! never numbers or message ids, so that their number stays bounded.

use crate::message::{now_ms, Class, Message, State};
use dashmap::DashMap;
use smpp_proto::{receipt, CommandStatus, MessageState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// Metric names, for the exporter's bucket settings and for tests.
pub mod name {
    /// Counter: submit requests (submit_sm, data_sm, submit_multi) by `client` and `status`.
    pub const SUBMITS: &str = "smppd_submits_total";
    /// Histogram: submit request in → its response out, seconds.
    pub const SUBMIT_LATENCY: &str = "smppd_submit_latency_seconds";
    /// Counter: messages accepted (stored and answered with an id), by `client` and `class`.
    pub const MESSAGES_ACCEPTED: &str = "smppd_messages_accepted_total";
    /// Counter: transactional submits whose text has an opt-out mention, by `client`.
    pub const CLASS_SUSPECT: &str = "smppd_class_suspect_total";
    /// Counter: messages that would have gone as UCS-2 and went as GSM 7-bit (transliterated),
    /// by `client`: the HTTP API's, and SMPP UCS-2 submits of clients with `transliterate`.
    pub const TRANSLITERATED: &str = "smppd_transliterated_total";
    /// Counter: marketing submits without an opt-out mention, by `client`.
    pub const MENTION_MISSING: &str = "smppd_mention_missing_total";
    /// Counter: replies that read like an opt-out but matched no keyword, by `client`.
    pub const MO_OPTOUT_SUSPECT: &str = "smppd_mo_optout_suspect_total";
    /// Counter: submits to a number that opted out, held back at accept, by `client`.
    pub const SUPPRESSED: &str = "smppd_suppressed_total";
    /// Counter: messages held by a sending window (at accept, or again at dispatch), by
    /// `window`.
    pub const DEFERRED: &str = "smppd_deferred_total";
    /// Counter: SMS (segments) of the messages carriers accepted, by `route` and `class`.
    pub const SEGMENTS_SENT: &str = "smppd_segments_sent_total";
    /// Counter: opt-outs and opt-ins by reply to a shared short code that no client could be
    /// found for (every sharing client's list changed), by `code`.
    pub const CONSENT_UNATTRIBUTED: &str = "smppd_consent_unattributed_total";
    /// Counter: messages that reached a final state, by `route`, `state` and `class`.
    pub const MESSAGES_ENDED: &str = "smppd_messages_ended_total";
    /// Counter: carrier receipts recorded, by `link` and `stat` (DELIVRD, UNDELIV, …).
    pub const RECEIPTS: &str = "smppd_receipts_total";
    /// Histogram: accepted → final receipt from the carrier, seconds, by `route`.
    pub const DELIVERY_LATENCY: &str = "smppd_delivery_latency_seconds";
    /// Counter: waits for a rate limit, by `scope` (client, route, link, carrier) and `name`.
    pub const THROTTLED: &str = "smppd_throttled_total";
    /// Counter: submits and MO refused at a bound, by `bound` (route_queue, client_outbox)
    /// and `name`.
    pub const REFUSED_FULL: &str = "smppd_refused_full_total";
    /// Gauge: entries in a route's queue, by `route`.
    pub const QUEUE_DEPTH: &str = "smppd_queue_depth";
    /// Gauge: messages waiting in one lane of a route's queue, by `route` and `class`.
    pub const LANE_DEPTH: &str = "smppd_lane_depth";
    /// Gauge: age of the oldest entry in a route's queue, seconds, by `route`.
    pub const QUEUE_OLDEST: &str = "smppd_queue_oldest_seconds";
    /// Gauge: receipts and MO waiting for a client, by `client`.
    pub const OUTBOX_DEPTH: &str = "smppd_outbox_depth";
    /// Gauge: webhook events waiting for an endpoint, by `client` and `endpoint`.
    pub const WEBHOOK_PENDING: &str = "smppd_webhook_pending";
    /// Gauge: 1 while a webhook endpoint takes events (not down, not gone), same labels.
    pub const WEBHOOK_UP: &str = "smppd_webhook_up";
    /// Counter: webhook events an endpoint took (2xx), same labels.
    pub const WEBHOOK_DELIVERED: &str = "smppd_webhook_delivered_total";
    /// Counter: webhook attempts that failed (an error status, a timeout, no connection).
    pub const WEBHOOK_FAILED_ATTEMPTS: &str = "smppd_webhook_failed_attempts_total";
    /// Counter: webhook events moved to the dead letters after `give_up_after`.
    pub const WEBHOOK_DEAD: &str = "smppd_webhook_dead_total";
    /// Gauge: our requests in flight on a session, by `link` and `slot` or `client` and
    /// `session`.
    pub const WINDOW_USED: &str = "smppd_session_window_used";
    /// Gauge: the window of a session (its most requests in flight), same labels.
    pub const WINDOW_SIZE: &str = "smppd_session_window_size";
    /// Gauge: bound sessions of a carrier link, by `link`.
    pub const LINK_SESSIONS_UP: &str = "smppd_link_sessions_up";
    /// Gauge: 1 while a carrier link has a bound session, by `link`.
    pub const LINK_UP: &str = "smppd_link_up";
    /// Gauge: 1 while an operator has paused a link, by `link`.
    pub const LINK_PAUSED: &str = "smppd_link_paused";
    /// Counter: reconnect attempts of a carrier link, by `link`.
    pub const LINK_RECONNECTS: &str = "smppd_link_reconnects_total";
    /// Gauge: 1 while an operator has paused a route, by `route`.
    pub const ROUTE_PAUSED: &str = "smppd_route_paused";
    /// Gauge: live binds of a client, by `client`.
    pub const BINDS: &str = "smppd_binds";
    /// Counter: group commits of the store.
    pub const STORE_COMMITS: &str = "smppd_store_commits_total";
    /// Counter: time spent making group commits durable (flush + fsync), microseconds:
    /// divided by the commits, the mean flush latency.
    pub const STORE_FLUSH_MICROSECONDS: &str = "smppd_store_flush_microseconds_total";
    /// Histogram: one group commit's flush + fsync, seconds.
    pub const STORE_FLUSH_LATENCY: &str = "smppd_store_flush_seconds";
    /// Gauge: bytes the store takes on disk.
    pub const STORE_SIZE: &str = "smppd_store_size_bytes";
    /// Gauge: bytes free on the store's filesystem (for its user), at the last check.
    pub const STORE_FREE: &str = "smppd_store_free_bytes";
    /// Gauge: 1 while new messages are refused for lack of disk space (`min_free_space`).
    pub const STORE_SPACE_LOW: &str = "smppd_store_space_low";
    /// Gauge: seconds since the gateway started.
    pub const UPTIME: &str = "smppd_uptime_seconds";
    /// Gauge (cluster mode): 1 for each group this node owns now, 0 for the others.
    pub const CLUSTER_OWNER: &str = "smppd_cluster_owner";
    /// Gauge (cluster mode): live nodes, as this node last read them.
    pub const CLUSTER_NODES: &str = "smppd_cluster_nodes";
    /// Gauge (cluster mode): queue entries this node works on, unacknowledged in JetStream.
    pub const ENGINE_PENDING_ACKS: &str = "smppd_engine_pending_acks";
    /// Histogram (cluster mode): accepted messages' publish to JetStream, to its
    /// acknowledgement.
    pub const ENGINE_PUBLISH_LATENCY: &str = "smppd_engine_publish_seconds";
}

/// Gives every metric its help text (Prometheus `# HELP`); once, when the recorder is
/// installed.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        name::SUBMITS,
        "Submit requests (submit_sm, data_sm, submit_multi) by client and response status."
    );
    describe_histogram!(
        name::SUBMIT_LATENCY,
        Unit::Seconds,
        "Submit request in to its response out (the store's commit included)."
    );
    describe_histogram!(
        name::STORE_FLUSH_LATENCY,
        Unit::Seconds,
        "One group commit made durable: sled flush and fsync of the store's files."
    );
    describe_counter!(
        name::MESSAGES_ENDED,
        "Messages that reached a final state, by route, state and class."
    );
    describe_counter!(
        name::CLASS_SUSPECT,
        "Transactional submits whose text has an opt-out mention (STOP au 3xxxx), by client."
    );
    describe_counter!(
        name::TRANSLITERATED,
        "Messages that would have gone as UCS-2 and went as GSM 7-bit (transliterated), by \
         client: the HTTP API's, and SMPP UCS-2 submits of clients with transliterate = true."
    );
    describe_counter!(
        name::MENTION_MISSING,
        "Marketing submits without an opt-out mention (STOP au 3xxxx, STOP SMS), by client."
    );
    describe_counter!(
        name::MO_OPTOUT_SUSPECT,
        "Replies that read like an opt-out but matched no keyword, by client: no action taken."
    );
    describe_counter!(
        name::SUPPRESSED,
        "Submits to a number that opted out, held back at accept, by client."
    );
    describe_counter!(
        name::DEFERRED,
        "Messages held by a sending window (at accept, or again at dispatch), by window."
    );
    describe_counter!(
        name::SEGMENTS_SENT,
        "SMS (segments) of the messages carriers accepted, by route and class: what they bill."
    );
    describe_counter!(
        name::CONSENT_UNATTRIBUTED,
        "Consent replies to a shared short code with no client found, by code: every sharing \
         client's list changed."
    );
    describe_counter!(
        name::MESSAGES_ACCEPTED,
        "Messages accepted (stored, their id given), by client and class."
    );
    describe_counter!(
        name::RECEIPTS,
        "Carrier delivery receipts recorded, by link and stat."
    );
    describe_histogram!(
        name::DELIVERY_LATENCY,
        Unit::Seconds,
        "Message accepted to its final receipt from the carrier, by route."
    );
    describe_counter!(
        name::THROTTLED,
        "Messages held back by a rate limit, by scope (client, route, link, carrier) and name."
    );
    describe_counter!(
        name::REFUSED_FULL,
        "Submits and MO refused because a bound was reached, by bound (route_queue, \
         client_outbox) and name."
    );
    describe_gauge!(
        name::CLUSTER_OWNER,
        "Cluster mode: 1 for each dispatch group this node owns now, by group."
    );
    describe_gauge!(
        name::CLUSTER_NODES,
        "Cluster mode: live nodes, as this node last read them."
    );
    describe_gauge!(
        name::ENGINE_PENDING_ACKS,
        "Cluster mode: queue entries this node works on, unacknowledged in JetStream."
    );
    describe_histogram!(
        name::ENGINE_PUBLISH_LATENCY,
        Unit::Seconds,
        "Cluster mode: accepted messages published to JetStream, to its acknowledgement."
    );
    describe_gauge!(name::QUEUE_DEPTH, "Messages waiting in a route's queue.");
    describe_gauge!(
        name::LANE_DEPTH,
        "Messages waiting in one lane (class) of a route's queue."
    );
    describe_gauge!(
        name::QUEUE_OLDEST,
        Unit::Seconds,
        "Age of the oldest message in a route's queue."
    );
    describe_gauge!(name::OUTBOX_DEPTH, "Receipts and MO waiting for a client.");
    describe_gauge!(
        name::WINDOW_USED,
        "Our requests awaiting a response on a session."
    );
    describe_gauge!(
        name::WINDOW_SIZE,
        "The window of a session: its most requests in flight."
    );
    describe_gauge!(name::LINK_SESSIONS_UP, "Bound sessions of a carrier link.");
    describe_gauge!(name::LINK_UP, "1 while a carrier link has a bound session.");
    describe_gauge!(
        name::LINK_PAUSED,
        "1 while an operator has paused a carrier link."
    );
    describe_counter!(
        name::LINK_RECONNECTS,
        "Reconnect attempts of a carrier link."
    );
    describe_gauge!(
        name::ROUTE_PAUSED,
        "1 while an operator has paused a route."
    );
    describe_gauge!(name::BINDS, "Live binds of a client.");
    describe_counter!(name::STORE_COMMITS, "Group commits of the message store.");
    describe_counter!(
        name::STORE_FLUSH_MICROSECONDS,
        Unit::Microseconds,
        "Time spent making group commits durable (flush and fsync)."
    );
    describe_gauge!(
        name::STORE_SIZE,
        Unit::Bytes,
        "Bytes the message store takes on disk."
    );
    describe_gauge!(
        name::STORE_FREE,
        Unit::Bytes,
        "Bytes free on the message store's filesystem."
    );
    describe_gauge!(
        name::STORE_SPACE_LOW,
        "1 while new messages are refused because free disk space is below min_free_space."
    );
    describe_gauge!(
        name::WEBHOOK_PENDING,
        "Webhook events waiting for an endpoint."
    );
    describe_gauge!(
        name::WEBHOOK_UP,
        "1 while a webhook endpoint takes events (0: down and probed, or answered 410)."
    );
    describe_counter!(
        name::WEBHOOK_DELIVERED,
        "Webhook events an endpoint took with a 2xx."
    );
    describe_counter!(
        name::WEBHOOK_FAILED_ATTEMPTS,
        "Webhook attempts that failed: an error status, a timeout, no connection."
    );
    describe_counter!(
        name::WEBHOOK_DEAD,
        "Webhook events moved to the dead letters after give_up_after."
    );
    describe_gauge!(
        name::UPTIME,
        Unit::Seconds,
        "Time since the gateway started."
    );
}

/// What a rate limit applies to, for [`throttled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A client's `throughput`: its submit got ESME_RTHROTTLED.
    Client,
    /// A route's cap: its dispatcher waited.
    Route,
    /// A carrier link's cap: its dispatcher waited.
    Link,
    /// The carrier answered ESME_RTHROTTLED or ESME_RMSGQFUL: the link pauses.
    Carrier,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Route => "route",
            Self::Link => "link",
            Self::Carrier => "carrier",
        }
    }
}

/// Process-wide running totals (like the metrics recorder they mirror): `smppctl status`.
#[derive(Debug, Default)]
struct Totals {
    submits_accepted: AtomicU64,
    submits_refused: AtomicU64,
    receipts: AtomicU64,
    messages_ended: AtomicU64,
}

static TOTALS: Totals = Totals {
    submits_accepted: AtomicU64::new(0),
    submits_refused: AtomicU64::new(0),
    receipts: AtomicU64::new(0),
    messages_ended: AtomicU64::new(0),
};

/// The running totals since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TotalsSnapshot {
    /// Submit requests answered ESME_ROK.
    pub submits_accepted: u64,
    /// Submit requests answered with an error status.
    pub submits_refused: u64,
    /// Carrier receipts recorded.
    pub receipts: u64,
    /// Messages that reached a final state.
    pub messages_ended: u64,
}

/// The running totals now.
pub fn totals() -> TotalsSnapshot {
    TotalsSnapshot {
        submits_accepted: TOTALS.submits_accepted.load(Ordering::Relaxed),
        submits_refused: TOTALS.submits_refused.load(Ordering::Relaxed),
        receipts: TOTALS.receipts.load(Ordering::Relaxed),
        messages_ended: TOTALS.messages_ended.load(Ordering::Relaxed),
    }
}

/// A client's submit request was answered with `status`, `took` after it came in.
pub fn submit(client: &str, status: CommandStatus, took: Duration) {
    let total = if status.is_ok() {
        &TOTALS.submits_accepted
    } else {
        &TOTALS.submits_refused
    };
    total.fetch_add(1, Ordering::Relaxed);
    let accepted =
        || metrics::counter!(name::SUBMITS, "client" => client.to_owned(), "status" => "ESME_ROK");
    if !(status.is_ok() && with_handles(&HANDLES.clients, client, |h| h.count(accepted))) {
        // Known statuses label by their static name: no allocation per submit.
        let status: std::borrow::Cow<'static, str> = match status.name() {
            Some(name) => name.into(),
            None => status.to_string().into(),
        };
        metrics::counter!(name::SUBMITS, "client" => client.to_owned(), "status" => status)
            .increment(1);
    }
    let latency = || metrics::histogram!(name::SUBMIT_LATENCY);
    let seconds = took.as_secs_f64();
    match HANDLES.submit_latency.get() {
        Some(histogram) => histogram.record(seconds),
        None if recorder_set() => HANDLES.submit_latency.get_or_init(latency).record(seconds),
        None => latency().record(seconds),
    }
}

/// A transactional submit of `client` has an opt-out mention ("STOP au 36123").
pub fn class_suspect(client: &str) {
    metrics::counter!(name::CLASS_SUSPECT, "client" => client.to_owned()).increment(1);
}

/// `messages` of `client` that would have gone as UCS-2 go as GSM 7-bit.
pub fn transliterated(client: &str, messages: u64) {
    metrics::counter!(name::TRANSLITERATED, "client" => client.to_owned()).increment(messages);
}

/// A marketing submit of `client` has no opt-out mention.
pub fn mention_missing(client: &str) {
    metrics::counter!(name::MENTION_MISSING, "client" => client.to_owned()).increment(1);
}

/// A reply routed to `client` reads like an opt-out but has no keyword ("je ne veux plus").
pub fn mo_optout_suspect(client: &str) {
    metrics::counter!(name::MO_OPTOUT_SUSPECT, "client" => client.to_owned()).increment(1);
}

/// A consent reply to shared short `code` went on every sharing client's list: none sent the
/// number marketing from it within the attribution window.
pub fn consent_unattributed(code: &str) {
    metrics::counter!(name::CONSENT_UNATTRIBUTED, "code" => code.to_owned()).increment(1);
}

/// A submit of `client` went to a number that opted out.
pub fn suppressed(client: &str) {
    metrics::counter!(name::SUPPRESSED, "client" => client.to_owned()).increment(1);
}

/// A message was held by sending `window` until it opens.
pub fn deferred(window: &str) {
    metrics::counter!(name::DEFERRED, "window" => window.to_owned()).increment(1);
}

/// A carrier accepted `message` (as updated with its carrier id).
pub fn sent(message: &Message) {
    let segments = u64::from(message.segments());
    let class = message.class;
    let sent = || {
        metrics::counter!(
            name::SEGMENTS_SENT,
            "route" => message.route.clone(),
            "class" => class.name()
        )
    };
    // The slots past the states' and classes' of `ended`: one table of handles per route.
    let slot = SENT_SLOTS + class as usize;
    if !with_handles(&HANDLES.routes, &message.route, |h| {
        h.add_by(slot, segments, sent)
    }) {
        sent().increment(segments);
    }
}

/// Where [`sent`]'s handles start in a route's slots, after [`ended`]'s (state × class).
const SENT_SLOTS: usize = (State::Sent as usize + 1) * Class::ALL.len();

/// A message from `client` was accepted: stored, and its id given.
pub fn accepted(client: &str, class: Class) {
    let accepted = || {
        metrics::counter!(
            name::MESSAGES_ACCEPTED,
            "client" => client.to_owned(),
            "class" => class.name()
        )
    };
    if !with_handles(&HANDLES.clients, client, |h| {
        h.count_by(class as usize, accepted)
    }) {
        accepted().increment(1);
    }
}

/// A message reached a final state (from a receipt, inside the gateway, or by an operator).
pub fn ended(message: &Message) {
    if !message.state.is_final() {
        return;
    }
    TOTALS.messages_ended.fetch_add(1, Ordering::Relaxed);
    let (state, class) = (message.state, message.class);
    let ended = || {
        metrics::counter!(
            name::MESSAGES_ENDED,
            "route" => message.route.clone(),
            "state" => state.name(),
            "class" => class.name()
        )
    };
    let slot = state as usize * Class::ALL.len() + class as usize;
    if !with_handles(&HANDLES.routes, &message.route, |h| h.count_by(slot, ended)) {
        ended().increment(1);
    }
}

/// A carrier's receipt saying `state` was recorded on `message` (as updated) from `link`.
pub fn receipt(link: &str, state: MessageState, message: &Message) {
    TOTALS.receipts.fetch_add(1, Ordering::Relaxed);
    let receipts = || {
        metrics::counter!(
            name::RECEIPTS,
            "link" => link.to_owned(),
            "stat" => receipt::state_to_stat(state)
        )
    };
    if !with_handles(&HANDLES.links, link, |h| {
        h.count_by(usize::from(state.0), receipts)
    }) {
        receipts().increment(1);
    }
    if message.state.is_final() {
        let age_ms = u64::try_from(now_ms().saturating_sub(message.received_at)).unwrap_or(0);
        let age = Duration::from_millis(age_ms).as_secs_f64();
        let latency =
            || metrics::histogram!(name::DELIVERY_LATENCY, "route" => message.route.clone());
        if !with_handles(&HANDLES.routes, &message.route, |h| h.record(latency, age)) {
            latency().record(age);
        }
        ended(message);
    }
}

/// Handles of the metrics counted for every message, made once per client, link or route:
/// the `metrics` macros build, hash and look up a labelled key on each call (3% of the e2e
/// bench's CPU). Used only once the recorder is installed: a handle made before would stay a
/// no-op.
struct Handles {
    clients: LazyLock<DashMap<String, NameHandles>>,
    links: LazyLock<DashMap<String, NameHandles>>,
    routes: LazyLock<DashMap<String, NameHandles>>,
    submit_latency: OnceLock<metrics::Histogram>,
}

static HANDLES: Handles = Handles {
    clients: LazyLock::new(DashMap::new),
    links: LazyLock::new(DashMap::new),
    routes: LazyLock::new(DashMap::new),
    submit_latency: OnceLock::new(),
};

/// The handles of one name, each made on first use: submits and messages accepted by class
/// (of a client), receipts by `message_state` (of a link), messages ended by state and class
/// and delivery latency (of a route).
#[derive(Default)]
struct NameHandles {
    counter: OnceLock<metrics::Counter>,
    histogram: OnceLock<metrics::Histogram>,
    by_state: [OnceLock<metrics::Counter>; 32],
}

impl NameHandles {
    fn count(&self, make: impl FnOnce() -> metrics::Counter) -> bool {
        self.counter.get_or_init(make).increment(1);
        true
    }

    fn record(&self, make: impl FnOnce() -> metrics::Histogram, value: f64) -> bool {
        self.histogram.get_or_init(make).record(value);
        true
    }

    /// Counts in slot `state`; false for a state beyond the slots (the caller counts it).
    fn count_by(&self, state: usize, make: impl FnOnce() -> metrics::Counter) -> bool {
        self.add_by(state, 1, make)
    }

    /// Adds `n` in slot `state`; false for a state beyond the slots (the caller counts it).
    fn add_by(&self, state: usize, n: u64, make: impl FnOnce() -> metrics::Counter) -> bool {
        let Some(slot) = self.by_state.get(state) else {
            return false;
        };
        slot.get_or_init(make).increment(n);
        true
    }
}

static RECORDER_SET: AtomicBool = AtomicBool::new(false);

/// The Prometheus recorder is installed: handles made from now on are real.
pub fn recorder_installed() {
    RECORDER_SET.store(true, Ordering::Release);
}

fn recorder_set() -> bool {
    RECORDER_SET.load(Ordering::Acquire)
}

/// What `f` says of the handles of `name` in `map`; false before the recorder is installed.
fn with_handles(
    map: &DashMap<String, NameHandles>,
    name: &str,
    f: impl FnOnce(&NameHandles) -> bool,
) -> bool {
    if !recorder_set() {
        return false;
    }
    match map.get(name) {
        Some(handles) => f(&handles),
        None => f(&map.entry(name.to_owned()).or_default()),
    }
}

/// A rate limit held a message back (`scope` and the client, route or link `name`).
pub fn throttled(scope: Scope, name: &str) {
    metrics::counter!(name::THROTTLED, "scope" => scope.label(), "name" => name.to_owned())
        .increment(1);
}

/// What filled up, for [`refused_full`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A route's `max_queue`.
    RouteQueue,
    /// A client's `max_outbox`.
    ClientOutbox,
}

/// A submit (or MO) was refused because `bound` of `name` was reached.
pub fn refused_full(bound: Bound, name: &str) {
    let bound = match bound {
        Bound::RouteQueue => "route_queue",
        Bound::ClientOutbox => "client_outbox",
    };
    metrics::counter!(name::REFUSED_FULL, "bound" => bound, "name" => name.to_owned()).increment(1);
}

/// Cluster mode: messages published and acknowledged by JetStream in `took`.
pub fn engine_published(took: Duration) {
    metrics::histogram!(name::ENGINE_PUBLISH_LATENCY).record(took.as_secs_f64());
}

/// The store made a group commit durable; `took` is its flush + fsync.
pub fn store_flushed(took: Duration) {
    metrics::histogram!(name::STORE_FLUSH_LATENCY).record(took.as_secs_f64());
}
