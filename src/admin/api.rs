//! The admin API's JSON, as types: what each endpoint answers and the bodies actions take.
//! The gateway builds and serializes them (`views.rs`, `actions.rs`); `smppctl` deserializes
//! its answers into them, so both sides read one definition of the wire format.
//!
//! Field order is the JSON's key order: keep it when adding fields. Timestamps are RFC 3339
//! (UTC, milliseconds); ages and rates are numbers.

use crate::message::Address;
use crate::price::{Amount, Money};
use crate::telemetry::TotalsSnapshot;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `GET /api/status`: the gateway as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub version: String,
    pub system_id: String,
    pub started_at: String,
    pub uptime_seconds: u64,
    pub store: StoreView,
    /// Since the gateway started.
    pub totals: TotalsSnapshot,
    /// Messages waiting in route queues now.
    pub queued: usize,
    /// Receipts and MO waiting in client outboxes now.
    pub outbox: usize,
    pub links_up: usize,
    pub links: usize,
    pub binds: usize,
}

/// The store, in [`StatusView`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreView {
    pub path: String,
    pub durability: String,
    pub size_bytes: u64,
    /// Group commits since start, and their operations.
    pub commits: u64,
    pub operations: u64,
    /// Mean time to make a commit durable (flush + fsync), milliseconds.
    pub mean_flush_ms: f64,
    /// Bytes free on the store's filesystem at the last check (`null`: not readable).
    pub free_bytes: Option<u64>,
    /// `[store] min_free_space` in bytes (0: off).
    pub min_free_bytes: u64,
    /// True while new messages are refused (ESME_RMSGQFUL) for lack of disk space.
    pub space_low: bool,
}

/// `GET /api/links` (a list), `GET /api/links/{name}`, and the answer of a link's actions:
/// a carrier link and its session slots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkView {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub bind: LinkBind,
    pub state: LinkState,
    pub paused: bool,
    pub sessions_up: usize,
    pub sessions: usize,
    /// Messages per second cap now (`null`: none), and as configured.
    pub throughput: Option<u32>,
    pub configured_throughput: Option<u32>,
    /// Submits per second over the last seconds (out) and receipts and MO (in).
    pub rate: Rate,
    /// Submits written and not answered yet, and the room for them: the sums of the slots'
    /// figures.
    pub window_used: usize,
    pub window: usize,
    /// Submits handed to a session and not written yet (outside any window).
    pub sending: usize,
    /// Submits the carrier accepted whose carrier id is being recorded (outside any window;
    /// they wait a moment to share a commit, and so do receipts that come for them).
    pub recording: usize,
    pub reconnects: u64,
    pub last_error: Option<ErrorView>,
    pub slots: Vec<SlotView>,
}

/// How a carrier link binds each slot (`[[carriers]] bind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkBind {
    Transceiver,
    Pair,
}

/// Whether a link takes messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Takes messages.
    Up,
    /// Paused by an operator.
    Paused,
    /// No bound session.
    Down,
}

/// One session slot of a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotView {
    pub slot: usize,
    pub state: SlotState,
    pub since: String,
    /// The session carrying submits, while bound.
    pub session: Option<u64>,
    pub window_used: usize,
    pub window: usize,
    pub rate: Rate,
    pub reconnects: u64,
    pub last_error: Option<ErrorView>,
}

/// The life of a session slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    Connecting,
    Bound,
    /// Waiting to reconnect.
    Waiting,
}

/// The last failure of a link or slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    pub at: String,
    pub message: String,
}

/// Per second, in and out, over the last few seconds (to one decimal).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Requests from the peer per second (submits from a client, receipts from a carrier).
    pub r#in: f64,
    /// Our requests per second (deliver_sm to a client, submits to a carrier).
    pub out: f64,
}

/// `GET /api/binds`: one live client bind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BindView {
    /// What `POST /api/binds/{session}/disconnect` takes.
    pub session: u64,
    pub system_id: String,
    pub peer: String,
    pub bind: BindKind,
    pub since: String,
    /// Requests from the client per second (in) and our deliver_sm (out).
    pub rate: Rate,
    pub requests_in: u64,
    pub requests_out: u64,
    /// Our deliver_sm awaiting the client's response, and the room for them.
    pub window_used: usize,
    pub window: usize,
}

/// How a client bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

/// `GET /api/queues`: route queues and client outboxes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuesView {
    pub routes: Vec<QueueView>,
    pub outboxes: Vec<OutboxView>,
}

/// A route queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub route: String,
    pub depth: usize,
    /// Of `depth`, the messages in the marketing lane (the rest are transactional).
    #[serde(default)]
    pub marketing: usize,
    /// Seconds since the oldest queued message was accepted; `null` when empty.
    pub oldest_age_seconds: Option<f64>,
    pub paused: bool,
    /// `false` for the queue of a route a reload removed: its messages wait for a route of
    /// that name to come back (or a purge).
    pub routed: bool,
}

/// A client's outbox of receipts and MO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxView {
    pub client: String,
    pub depth: usize,
    /// Seconds the oldest receipt or MO has waited; `null` when empty.
    pub oldest_age_seconds: Option<f64>,
    pub binds: usize,
}

/// `GET /api/routes` (a list), `GET /api/routes/{name}`, and the answer of a route's actions:
/// a route, its conditions, carriers and cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub name: String,
    pub destination_prefixes: Vec<String>,
    pub clients: Vec<String>,
    pub source_addresses: Vec<String>,
    /// In failover order.
    pub carriers: Vec<String>,
    pub weights: Option<Vec<u32>>,
    /// Messages per second cap now (`null`: none), and as configured.
    pub throughput: Option<u32>,
    pub configured_throughput: Option<u32>,
    pub paused: bool,
    pub depth: usize,
}

/// `GET /api/messages/{id}`, `GET /api/links/{name}/messages/{carrier_id}`, and the answer of
/// retry and cancel: one message and its history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub client: String,
    pub route: String,
    /// A state name (`queued`, `delivered`, …). A string, not `message::State`: that enum's
    /// serde names are the store's, and a client should show a state it does not know.
    pub state: String,
    /// Whether the state is final (it never changes again).
    #[serde(rename = "final")]
    pub is_final: bool,
    pub source: Address,
    pub destination: Address,
    pub received_at: String,
    pub schedule_at: Option<String>,
    pub expire_at: Option<String>,
    /// Submit attempts towards carriers so far.
    pub attempts: u32,
    /// The carrier link that accepted it and the id it gave, once one has.
    pub carrier: Option<CarrierView>,
    pub registered_delivery: u8,
    pub esm_class: u8,
    pub data_coding: u8,
    /// The text decoded by its data_coding (user data header left out).
    pub text: String,
    /// `transactional` or `marketing`. Defaulted, like the labels, so that a newer smppctl
    /// reads an older gateway's answer.
    #[serde(default)]
    pub class: String,
    /// What decided the class: `tlv`, `service_type`, `source`, `default_class` or `default`.
    #[serde(default)]
    pub class_from: String,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub client_ref: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its acceptance, then every state change, oldest first: carrier statuses, retries and
    /// receipts are in the details.
    pub history: Vec<EventView>,
}

/// Where a message went upstream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierView {
    pub link: String,
    pub carrier_id: String,
}

/// One entry of a message's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub at: String,
    /// A state name, as [`MessageView::state`].
    pub state: String,
    pub detail: String,
}

/// The answer of `POST /api/routes/{name}/purge` and `POST /api/outboxes/{client}/purge`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    /// The route or client purged.
    pub queue: String,
    /// Entries removed.
    pub purged: usize,
    /// Entries that could not be removed (see the log).
    pub failed: usize,
}

/// The answer of `POST /api/binds/{session}/disconnect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    pub session: u64,
    pub system_id: String,
    pub peer: String,
    pub how: DisconnectHow,
}

/// How a bind was ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisconnectHow {
    /// Graceful: in-flight requests are answered.
    Unbind,
    /// The connection was closed at once.
    Close,
}

/// Every refusal (4xx, 5xx): a sentence a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// The body of a purge: without `"confirm": true` nothing is purged. An empty body is all
/// defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    pub confirm: bool,
}

/// The body of a disconnect. An empty body is all defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disconnect {
    /// Close the connection at once instead of unbinding.
    pub force: bool,
}

/// The body of a throughput change: messages per second (at least 1), or `null` to lift the
/// cap. The gateway reads it by hand to word its refusals (a rate of 0, a string).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Throughput {
    pub rate: Option<u32>,
}

/// The names the JSON carries, for tables and logs.
macro_rules! names {
    ($($enum:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $enum {
            /// Its name in the JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    )+};
}

names! {
    LinkBind { Transceiver => "transceiver", Pair => "pair" }
    LinkState { Up => "up", Paused => "paused", Down => "down" }
    SlotState { Connecting => "connecting", Bound => "bound", Waiting => "waiting" }
    BindKind { Transmitter => "transmitter", Receiver => "receiver", Transceiver => "transceiver" }
    DisconnectHow { Unbind => "unbind", Close => "close" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Serialize + for<'de> Deserialize<'de> + fmt::Display + PartialEq + fmt::Debug>(
        value: T,
        name: &str,
    ) {
        assert_eq!(value.to_string(), name);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
    }

    /// `name()` and serde agree: a table shows what the JSON says.
    #[test]
    fn names_are_the_json_strings() {
        check(LinkBind::Transceiver, "transceiver");
        check(LinkBind::Pair, "pair");
        check(LinkState::Up, "up");
        check(LinkState::Paused, "paused");
        check(LinkState::Down, "down");
        check(SlotState::Connecting, "connecting");
        check(SlotState::Bound, "bound");
        check(SlotState::Waiting, "waiting");
        check(BindKind::Transmitter, "transmitter");
        check(BindKind::Receiver, "receiver");
        check(BindKind::Transceiver, "transceiver");
        check(DisconnectHow::Unbind, "unbind");
        check(DisconnectHow::Close, "close");
    }

    /// Rate's `r#in` is `in` on the wire, and a view reads back what it wrote.
    #[test]
    fn rate_round_trips() {
        let rate = Rate {
            r#in: 1.5,
            out: 0.0,
        };
        let json = serde_json::to_string(&rate).unwrap();
        assert_eq!(json, r#"{"in":1.5,"out":0.0}"#);
        assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), rate);
    }
}

/// One consent change: an entry of `GET /api/suppressions` (the latest change of a number in
/// a scope) or of `GET /api/consent-log` (every change, with its `seq`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentView {
    /// The log entry's number, to page on; only in the consent log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub at: String,
    /// `gateway`, `client:SYSTEM_ID` or `sender:ADDRESS`.
    pub scope: String,
    /// E.164.
    pub number: String,
    /// `opted_out` or `opted_in`.
    pub choice: String,
    /// `mo`, `api`, `import` or `operator`.
    pub origin: String,
    pub evidence: String,
    pub keyword: Option<String>,
    /// The choice this one replaced, if any.
    pub previous: Option<String>,
    /// Whether the number is held back in this scope (its latest choice is `opted_out`).
    pub suppressed: bool,
    /// When the number was last sent a confirmation of an opt-out in this scope.
    #[serde(default)]
    pub confirmed_at: Option<String>,
}

/// The body of `PUT /api/suppressions/{number}`: an operator records a person's choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// Whose list; optional when `[consent] scope = "gateway"`.
    #[serde(default)]
    pub scope: Option<String>,
    /// `opted_out` or `opted_in`.
    pub choice: String,
    /// What proves it (a form, a letter, a call), required: the log is the proof.
    pub evidence: String,
}

/// One webhook endpoint: an entry of `GET /api/hooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEndpointView {
    pub client: String,
    pub endpoint: String,
    /// Its URL; empty for a queue whose endpoint is no longer configured.
    pub url: String,
    /// `up`, `down` (probed once per `probe_interval`), `gone` (answered 410) or
    /// `unconfigured` (events wait for an endpoint of that name).
    pub state: String,
    /// Events waiting.
    pub pending: usize,
    /// Events in its dead letters.
    pub dead: usize,
    /// Since the gateway started.
    pub delivered: u64,
    pub failed_attempts: u64,
    pub last_error: Option<String>,
    pub last_success_at: Option<String>,
}

/// One event of an endpoint's queue or dead letters (`GET /api/hooks/{client}/{endpoint}/…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEventView {
    /// Its place in the queue, to page on and to replay by.
    pub seq: u64,
    /// `webhook-id`.
    pub event_id: String,
    /// `message.delivered`, `mo.received`, ….
    pub kind: String,
    /// The message it is about, if any.
    pub message_id: Option<String>,
    pub created_at: String,
    /// Dead letters only: when it was given up, attempts since start, what the last got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub died_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The body of `POST /api/hooks/{client}/{endpoint}/replay`: the dead letters to send again
/// (by seq); none = all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReplay {
    #[serde(default)]
    pub seqs: Option<Vec<u64>>,
}

/// What a replay did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReplayed {
    pub replayed: usize,
}

/// Campaign statistics figures (`GET /api/campaigns/{client}/{id}`, `GET /api/stats`): the
/// counters of one row or of a sum of rows, the delivery rate, and the cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsFigures {
    /// Messages accepted (each part of a long message is one).
    pub accepted: u64,
    /// The SMS they take on the air.
    pub segments: u64,
    /// Ended because their number opted out.
    pub suppressed: u64,
    /// Held by a sending window.
    pub deferred: u64,
    /// Accepted by a carrier.
    pub sent: u64,
    pub delivered: u64,
    pub undelivered: u64,
    pub expired: u64,
    /// Refused by a carrier or the gateway (not for an opt-out).
    pub rejected: u64,
    /// delivered / (delivered + undelivered + expired + rejected); `null` before any ended.
    pub delivery_rate: Option<f64>,
    /// In the currency of `[[prices]]`; `null` without prices.
    pub cost: Option<Money>,
}

impl StatsFigures {
    /// The view of counters: the rate, and the cost in `currency` (none without prices). The
    /// shops' API shows the same figures (`GET /api/v1/campaigns/{id}`).
    pub fn of(c: &crate::store::Counters, currency: Option<crate::price::Currency>) -> Self {
        let cost = |currency| Money::new(Amount::from_micros(c.cost_micro), currency);
        Self {
            accepted: c.accepted,
            segments: c.segments,
            suppressed: c.suppressed,
            deferred: c.deferred,
            sent: c.sent,
            delivered: c.delivered,
            undelivered: c.undelivered,
            expired: c.expired,
            rejected: c.rejected,
            delivery_rate: c.delivery_rate(),
            cost: currency.map(cost),
        }
    }
}

/// One UTC day of one class of a campaign, or of a client's traffic in [`StatsView`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsDay {
    /// Whose; only in [`StatsView`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// `transactional` or `marketing`.
    pub class: String,
    #[serde(flatten)]
    pub figures: StatsFigures,
}

/// `GET /api/campaigns/{client}/{id}`: a client's campaign per UTC day and class (messages
/// without a campaign are in [`StatsView`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignView {
    pub client: String,
    pub campaign: String,
    /// Every day and class together.
    pub totals: StatsFigures,
    /// Oldest day first, each day's classes apart.
    pub days: Vec<StatsDay>,
}

/// `GET /api/stats?client=&since=&until=`: all traffic (every campaign and none) per client,
/// class and UTC day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsView {
    /// The first and last day counted, `YYYY-MM-DD`.
    pub since: String,
    pub until: String,
    /// The client asked for; `null`: every client.
    pub client: Option<String>,
    /// Every row together.
    pub totals: StatsFigures,
    /// By client, then day, then class.
    pub days: Vec<StatsDay>,
}

/// `GET /api/cluster`: the cluster as this node sees it (cluster mode only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// This node's `[cluster] node` and id slot.
    pub node: String,
    pub slot: u8,
    /// `quorum` or `quorum+fsync`.
    pub durability: String,
    /// The JetStream server this node is connected to, and its version.
    pub connected_to: String,
    pub server_version: String,
    /// Live nodes (their presence records), by name.
    pub nodes: Vec<ClusterNodeView>,
    /// Dispatch groups and their owners.
    pub groups: Vec<ClusterGroupView>,
    /// Queue entries this node works on now (unacknowledged in JetStream).
    pub pending_acks: usize,
    /// Streams and buckets, with their consumers.
    pub streams: Vec<ClusterStreamView>,
}

/// One live node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNodeView {
    pub node: String,
    pub slot: u8,
    /// The groups it owns.
    pub owns: Vec<String>,
    /// When it last wrote its presence, unix ms by its clock.
    pub seen_at_ms: i64,
}

/// One dispatch group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterGroupView {
    pub name: String,
    pub routes: Vec<String>,
    pub carriers: Vec<String>,
    /// The node holding its lease; `null`: nobody now.
    pub owner: Option<String>,
    /// Since the lease record was last written (its last renewal), ms.
    pub lease_age_ms: Option<u64>,
}

/// One stream or bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStreamView {
    /// `stream` or `bucket`.
    pub kind: String,
    pub name: String,
    pub messages: u64,
    pub bytes: u64,
    pub replicas: usize,
    /// The server leading its replication group.
    pub leader: Option<String>,
    pub consumers: Vec<ClusterConsumerView>,
}

/// One consumer of a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConsumerView {
    pub name: String,
    /// Entries not yet delivered to it.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: usize,
    pub redelivered: usize,
}
