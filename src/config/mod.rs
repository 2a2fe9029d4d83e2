//! The validated configuration: what the rest of the gateway sees. `raw.rs` mirrors the TOML
//! file; `validate.rs` (`TryFrom<raw::RawConfig>`) checks it with the value checks of
//! `checks.rs` and reports every problem with its key path.

mod checks;
mod diff;
mod error;
mod raw;
mod validate;

pub use diff::{diff, same_but_cap, Changes};
pub use error::{ConfigError, ConfigErrors};

use crate::hook_kind::HookKind;
use crate::hook_sign::Secrets;
use crate::keywords::Keywords;
use crate::message::Class;
use crate::price::PriceTable;
use crate::windows::Window;
use smpp_proto::CommandStatus;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `config.example.toml`, compiled in: the embedded default.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config.example.toml");

/// The whole gateway configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[server]`: listeners, identity, limits and session timers.
    pub server: ServerConfig,
    /// `[store]`: where and how durably messages are kept.
    pub store: StoreConfig,
    /// `[[clients]]`: the ESMEs allowed to bind.
    pub clients: Vec<ClientConfig>,
    /// `[[carriers]]`: the upstream SMSC links, each with a unique name.
    pub carriers: Vec<CarrierConfig>,
    /// `[[routes]]`: which carriers serve a submitted message; the first that matches wins.
    pub routes: Vec<RouteConfig>,
    /// `[[mo_routes]]`: which client gets a carrier's mobile-originated message; first match.
    pub mo_routes: Vec<MoRouteConfig>,
    /// `[[sender_rules]]`: what a sender may be toward a destination prefix, longest first.
    pub sender_rules: Vec<SenderRule>,
    /// `[[prices]]`: the price per segment by destination prefix, longest first, all in one
    /// currency; empty = no message has a cost.
    pub prices: PriceTable,
    /// `[[sending_windows]]`: named windows, for `[[window_policies]]`.
    pub sending_windows: Vec<SendingWindow>,
    /// `[[window_policies]]`: which window holds which messages; the first that matches.
    pub window_policies: Vec<WindowPolicy>,
    /// `[admin]`: the HTTP admin API and `/metrics`.
    pub admin: AdminConfig,
    /// `[http_api]`: the shops' HTTP submission API; off without listeners.
    pub http_api: HttpApiConfig,
    /// `[log]`: how and what the gateway logs.
    pub log: LogConfig,
    /// `[simulator]`: a carrier simulator run inside the gateway (the quickstart's carrier);
    /// `None` unless `enabled = true`.
    pub simulator: Option<SimulatorSection>,
    /// `[consent]`: suppression lists and what they hold back.
    pub consent: ConsentConfig,
    /// `[numbering]`: how numbers are read into E.164.
    pub numbering: NumberingConfig,
    /// `[cluster]`: several nodes sharing their state through NATS JetStream; `None` (no
    /// section) = a single node on the embedded store.
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`: how this node reaches the NATS JetStream servers that the nodes of a cluster
/// share, and what it asks of them (docs/cluster.md).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterConfig {
    /// `name`: prefixes every stream, bucket and subject, so that several smppd clusters can
    /// share one NATS system; `None` = no prefix. 1–32 of `[a-z0-9_-]`.
    pub name: Option<String>,
    /// `node`: this node's name, unique in the cluster; 1–32 of `[A-Za-z0-9_-]`.
    pub node: String,
    /// `servers`: NATS URLs (`nats://host:port`, `tls://host:port`), at least one; the client
    /// learns the cluster's other servers from them.
    pub servers: Vec<String>,
    /// `monitor`: the servers' HTTP monitoring URLs (`http://host:8222`), read for what the
    /// client protocol does not tell (whether a server fsyncs before acknowledging). Required
    /// by `durability = "quorum+fsync"`.
    pub monitor: Vec<String>,
    /// `durability`: what an acknowledged message has survived.
    pub durability: ClusterDurability,
    /// `replicas`: copies of every stream and bucket, 1–5 (default 3).
    pub replicas: NonZeroUsize,
    /// `lease_ttl`: how long an owner's lease outlives its last renewal (default 10 s).
    pub lease_ttl: Duration,
    /// `receipt_horizon`: how long a carrier id is kept for its receipt (default 72 h).
    pub receipt_horizon: Duration,
    /// `connect_timeout`: how long connecting may take before smppd gives up (default 5 s).
    pub connect_timeout: Duration,
    /// `user` + `password_file`, `token_file` or `creds_file`.
    pub auth: NatsAuth,
    /// `[cluster.tls]`: TLS toward the servers; `None` = as the URLs say (`tls://`).
    pub tls: Option<NatsTls>,
}

/// `[cluster] durability`: when an acknowledgement from JetStream counts (cluster.md §3.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterDurability {
    /// `"quorum"` (default): in the memory of a majority of the replicas, on their disks
    /// within the servers' sync interval. Survives the loss of any one server; not a power
    /// cut of a majority at once.
    Quorum,
    /// `"quorum+fsync"`: fsynced on a majority of the replicas. smppd refuses to start unless
    /// every JetStream server says it fsyncs each write before acknowledging it
    /// (`sync_interval: always`, nats-server 2.10 or later).
    QuorumFsync,
}

/// The word used in the config.
impl std::fmt::Display for ClusterDurability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Quorum => "quorum",
            Self::QuorumFsync => "quorum+fsync",
        })
    }
}

/// How this node proves who it is to the NATS servers.
#[derive(Clone, Debug, PartialEq)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// `user` and the password in `password_file` (its first line).
    UserPassword {
        /// `user`.
        user: String,
        /// Read from `password_file`.
        password: Secret,
    },
    /// The token in `token_file` (its first line).
    Token(Secret),
    /// A NATS credentials file (`creds_file`: a user JWT and its nkey seed), read at connect.
    CredsFile(PathBuf),
}

/// `[cluster.tls]`.
#[derive(Clone, Debug, PartialEq)]
pub struct NatsTls {
    /// PEM CA certificate(s) to trust instead of the system roots (`ca`); `None` = system roots.
    pub ca: Option<PathBuf>,
    /// Our client certificate, when the servers ask for one (`client_cert` + `client_key`).
    pub client_auth: Option<ClientAuth>,
}

/// `[consent]`: whether a person's opt-out holds messages back, whose list it goes on, which
/// classes it holds back, and what a client is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentConfig {
    /// `enabled`: off by default; then no submit is checked.
    pub enabled: bool,
    /// `scope`: whose list an opt-out goes on.
    pub scope: ConsentScope,
    /// `applies_to`: the classes an opt-out holds back (marketing by default).
    pub applies_to: Vec<Class>,
    /// `on_suppressed` (and `refuse_status`): what a submit to a suppressed number gets.
    pub on_suppressed: OnSuppressed,
    /// `match`, `opt_out_keywords`, `opt_in_keywords`: what in a reply changes consent.
    pub keywords: Keywords,
    /// `confirmation_interval`: at most one opt-out confirmation per number and scope in this
    /// time, so that an auto-responder and smppd do not answer each other forever.
    pub confirmation_interval: Duration,
    /// `store_numbers` (and `hmac_key_file`): how numbers are kept in the lists and the log.
    pub store_numbers: StoredNumbers,
    /// `attribution_window`: how long a marketing message sent from a shared short code makes
    /// its client the one a reply to that code is attributed to.
    pub attribution_window: Duration,
    /// `[[consent.short_codes]]`: the short codes people reply to, with the clients sending
    /// from each.
    pub short_codes: Vec<ShortCode>,
    /// `require_mention` (and `mention_status`): what marketing without an opt-out mention
    /// ("STOP au 36123", "STOP SMS") gets.
    pub require_mention: RequireMention,
}

impl ConsentConfig {
    /// The `[[consent.short_codes]]` entry of `address` (written with or without `+`).
    pub fn short_code(&self, address: &str) -> Option<&ShortCode> {
        let digits = address.strip_prefix('+').unwrap_or(address);
        self.short_codes.iter().find(|code| code.number == digits)
    }
}

/// `[[consent.short_codes]]`: a short code and the clients that send from it, one (dedicated)
/// or several (shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortCode {
    /// `number`: digits.
    pub number: String,
    /// `clients`: `[[clients]]` system_ids, never empty, no repeats.
    pub clients: Vec<String>,
}

impl ShortCode {
    /// Whether several clients send from it: a reply to it is then attributed by who sent
    /// marketing last.
    pub fn is_shared(&self) -> bool {
        self.clients.len() > 1
    }
}

/// `[consent] store_numbers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredNumbers {
    /// `"plain"`: E.164, so that lists can be read and exported.
    Plain,
    /// `"hmac"`: HMAC-SHA256 of the E.164 number under the key in `hmac_key_file` (the CNIL's
    /// "empreinte"): a list can be checked and counted, not read. Changing the key forgets
    /// every entry.
    Hmac(Secret),
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            scope: ConsentScope::Client,
            applies_to: vec![Class::Marketing],
            on_suppressed: OnSuppressed::Receipt,
            keywords: Keywords::default(),
            confirmation_interval: Duration::from_secs(24 * 3600),
            store_numbers: StoredNumbers::Plain,
            attribution_window: Duration::from_secs(30 * 86400),
            short_codes: Vec::new(),
            require_mention: RequireMention::Warn,
        }
    }
}

/// `[consent] scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentScope {
    /// `"client"`: each client its own list.
    Client,
    /// `"sender"`: a list per source address.
    Sender,
    /// `"gateway"`: one list for everything.
    Gateway,
}

/// `[consent] on_suppressed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnSuppressed {
    /// `"receipt"`: accepted with an id, ended REJECTED at once, with a receipt if asked
    /// for. Clients that retry errors do not retry it.
    Receipt,
    /// `"refuse"`: answered with `refuse_status`, no id.
    Refuse(CommandStatus),
}

/// `[consent] require_mention`: French rules want every marketing SMS to say how to opt out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequireMention {
    /// `"off"`: not looked at.
    Off,
    /// `"warn"` (the default): sent, and counted in `smppd_mention_missing_total{client}`.
    Warn,
    /// `"refuse"`: answered with `mention_status` (default 0x00000402), no id.
    Refuse(CommandStatus),
}

/// `[numbering]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberingConfig {
    /// `default_country` (ISO 3166 alpha-2): the country of national numbers (TON 2, or a
    /// leading 0); none = such numbers are taken as they are written.
    pub default_country: Option<phonenumber::country::Id>,
}

/// `[simulator]`: the built-in carrier SMSC (`smppd simulate`) in the gateway's own process, so
/// that the example config shows messages and receipts flowing with one command. Not for
/// production: point `[[carriers]]` at a real carrier and remove the section.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatorSection {
    /// Where it listens (`listen`); a `[[carriers]]` entry connects there.
    pub listen: SocketAddr,
    /// Time from a submit to its receipt (`receipt_delay`).
    pub receipt_delay: Duration,
    /// Share of messages delivered, 0–100 (`delivered_percent`); the rest are UNDELIV.
    pub delivered_percent: u8,
    /// Requests it processes at once per session, and receipts it has in flight per session
    /// (`window`, 1–1024): the carrier's window.
    pub window: NonZeroUsize,
}

/// `[server]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Our `system_id` in bind responses.
    pub system_id: String,
    /// Plain TCP listeners (`listen`).
    pub listen: Vec<SocketAddr>,
    /// TLS listeners (`[server.tls]`), if any.
    pub tls: Option<TlsConfig>,
    /// Largest `command_length` accepted (`max_pdu_bytes`).
    pub max_pdu_bytes: usize,
    /// Most simultaneous connections, all listeners together (`max_connections`).
    pub max_connections: NonZeroUsize,
    /// Most simultaneous connections from one IP address (`max_connections_per_ip`), so that
    /// one host cannot take every slot.
    pub max_connections_per_ip: NonZeroUsize,
    /// Session timers (`[server.session]`).
    pub session: SessionConfig,
}

/// `[server.tls]`: a TLS listener with its certificate chain and key (PEM files).
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[server.session]`: SMPP 3.4 timers and per-session limits.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// Close a connection that has not bound within this time (`session_init_timeout`).
    pub session_init_timeout: Duration,
    /// Send enquire_link after this long without traffic (`enquire_link_interval`).
    pub enquire_link_interval: Duration,
    /// Close a session with no traffic at all for this long (`inactivity_timeout`).
    pub inactivity_timeout: Duration,
    /// A request we send that gets no response in this time has failed (`response_timeout`).
    pub response_timeout: Duration,
    /// Delay before answering a failed bind, against password guessing (`bind_failure_delay`).
    pub bind_failure_delay: Duration,
    /// How long unbind waits for unbind_resp before closing anyway (`unbind_timeout`).
    pub unbind_timeout: Duration,
}

/// `[store]`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    /// Directory of the sled database (`path`).
    pub path: PathBuf,
    /// When a submit is acknowledged (`durability`).
    pub durability: Durability,
    /// Most operations in one group commit (`max_batch`).
    pub max_batch: NonZeroUsize,
    /// sled's page cache: the store's memory use grows up to about this (`cache_bytes`).
    pub cache_bytes: usize,
    /// Finished messages are removed this long after their last change; `None` keeps them
    /// forever (`retention`, "off").
    pub retention: Option<Duration>,
    /// New messages are refused (ESME_RMSGQFUL) while the store's filesystem has less free
    /// space than this, in bytes; 0 never refuses (`min_free_space`, "off").
    pub min_free_space: u64,
    /// How long the store's in-memory layer takes writes before they go to the sled trees.
    /// Not in the config file: [`StoreConfig::LAYER_AGE`]. Long enough that most queue and
    /// outbox entries die in their layer even when a backlog delays receipts by seconds
    /// (measured: 1 s layers wrote each message to the trees about twice as often and cost the
    /// e2e bench a third of its throughput). Tests shorten it to go through many layers.
    pub layer_age: Duration,
}

impl StoreConfig {
    /// The `layer_age` of a store configured by a file.
    pub const LAYER_AGE: Duration = Duration::from_secs(5);
}

/// When the store reports a write as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After the journal write and its `fdatasync`: survives power loss. Default.
    Durable,
    /// After the journal write reached the OS (page cache), without an fsync: survives a
    /// process crash, not necessarily a power loss.
    Flush,
    /// The same as `Flush` since the journal is a plain file; kept so that configs naming it
    /// still load.
    Relaxed,
}

/// The word used in the config: `durable`, `flush` or `relaxed`.
impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Durable => "durable",
            Self::Flush => "flush",
            Self::Relaxed => "relaxed",
        })
    }
}

/// `[admin]`: the HTTP admin API (smppctl's peer) and the Prometheus `/metrics` endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminConfig {
    /// Whether the admin API runs at all (`enabled`).
    pub enabled: bool,
    /// Address to listen on (`listen`); loopback unless a token is set.
    pub listen: SocketAddr,
    /// The bearer token every request must carry (`token`, or read from `token_file`);
    /// `None` = no token asked for, which the config allows on loopback only.
    pub token: Option<Secret>,
    /// Whether `/metrics` answers without the token (`metrics_open`), for a Prometheus server
    /// that cannot send one.
    pub metrics_open: bool,
}

/// `[http_api]`: message submission over HTTP (JSON), for clients that hold API keys.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpApiConfig {
    /// Plain HTTP listeners (`listen`); none and no `tls` = the API is off.
    pub listen: Vec<SocketAddr>,
    /// HTTPS listeners (`[http_api.tls]`).
    pub tls: Option<TlsConfig>,
    /// How long an answer is replayed to a retry with the same `Idempotency-Key`
    /// (`idempotency_window`, default 24 h, at most 7 d).
    pub idempotency_window: Duration,
    /// Largest request body (`max_body_bytes`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Most messages in one batch (`max_batch`, default 1000).
    pub max_batch: usize,
}

impl HttpApiConfig {
    /// Whether it listens anywhere.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty() || self.tls.is_some()
    }
}

/// `[log]`: the gateway's log on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// One line per event for people, or one JSON object per line (`format`).
    pub format: LogFormat,
    /// Which events: a level or `tracing` filter directives (`level`); `RUST_LOG`, when set,
    /// takes its place.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// How log events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One line per event, for a terminal or journald. Default.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[[clients]]`: one ESME account.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// The `system_id` it binds with (unique).
    pub system_id: String,
    /// How its password is checked.
    pub password: Password,
    /// Bind types it may use (`bind_types`).
    pub bind_types: BindTypes,
    /// Most simultaneous binds (`max_binds`).
    pub max_binds: NonZeroU32,
    /// Window: its requests processed concurrently, and our deliver_sm in flight toward each
    /// of its binds (`window`).
    pub window: NonZeroUsize,
    /// Most messages per second over all its binds; excess gets ESME_RTHROTTLED
    /// (`throughput`; none = unlimited).
    pub throughput: Option<NonZeroU32>,
    /// Most segments per second of each of its campaigns' marketing messages, all routes
    /// together (`campaign_throughput`; none = unlimited).
    pub campaign_throughput: Option<NonZeroU32>,
    /// Argon2 hashes of its HTTP API keys (`api_keys`); empty = no HTTP access.
    pub api_keys: Vec<String>,
    /// Source addresses / sender ids it may use (`allowed_sources`); empty = any.
    pub allowed_sources: Vec<AddressPattern>,
    /// Networks it may connect from (`allowed_ips`); empty = any.
    pub allowed_ips: Vec<IpNet>,
    /// Most receipts and MO messages waiting for delivery to it (`max_outbox`): at this many,
    /// its submits get ESME_RMSGQFUL and MO for it is refused to the carrier (to be resent),
    /// so a client that never reads cannot fill the disk. Receipts of messages already
    /// accepted are always kept.
    pub max_outbox: NonZeroUsize,
    /// How its messages get their class when the vendor TLV does not say (`class.rs`).
    pub classes: ClassRules,
    /// `confirmation_text`: sent to a number that opted out of this client's messages by
    /// reply, from the number it replied to; none = no confirmation. One SMS at most.
    pub confirmation_text: Option<String>,
    /// `help_text`: the answer to HELP (AIDE, INFO); none = no answer. One SMS at most.
    pub help_text: Option<String>,
    /// `contact_text`: the answer to CONTACT; none = no answer. One SMS at most.
    pub contact_text: Option<String>,
    /// `transliterate`: its whole UCS-2 submits (data_coding 8, no UDH, no `sar_*` TLVs) go
    /// as GSM 7-bit when `transliterate.rs` finds a look-alike for every character and no
    /// more SMS (`esme/transliterate.rs`). Default false: sent as submitted.
    pub transliterate: bool,
    /// `[[clients.webhooks]]`: where its events are POSTed (`webhooks/`).
    pub webhooks: Vec<WebhookConfig>,
}

impl ClientConfig {
    /// Whether it may bind to receive (receiver or transceiver): if not, nothing waits for it
    /// in an outbox, since nothing could ever read it; its MO reach it through its webhooks.
    pub fn takes_deliveries(&self) -> bool {
        self.bind_types.receiver || self.bind_types.transceiver
    }
}

/// `[[clients.webhooks]]`: one HTTP endpoint of a client and the events it takes.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookConfig {
    /// `name`: names its queue in the store (default `default`); keep it when the URL changes,
    /// or the backlog stays behind under the old name.
    pub name: String,
    /// `url`: `http://` or `https://`.
    pub url: String,
    /// `events`: the kinds it takes (default: all).
    pub events: Vec<HookKind>,
    /// `secret_file`: `whsec_…` secrets, the current first; two lines during a rotation.
    pub secrets: WebhookSecrets,
    /// `timeout`: of one attempt, connection included (default 10s).
    pub timeout: Duration,
    /// `concurrency`: requests in flight at once (default 4).
    pub concurrency: NonZeroUsize,
    /// `retry`: the waits after each failed attempt of an event; the last repeats (default
    /// 10s, 30s, 1m, 5m, 15m, then hourly), each ±20 %.
    pub retry: Vec<Duration>,
    /// `give_up_after`: an event still not taken this long after it was queued goes to the
    /// dead letters (default 72h).
    pub give_up_after: Duration,
    /// `probe_interval`: while the endpoint is down, one request per this (default 1m).
    pub probe_interval: Duration,
}

/// An endpoint's secrets as read from `secret_file` at load: equal when the file's text was.
#[derive(Clone, Debug)]
pub struct WebhookSecrets {
    /// The file, for messages.
    pub file: PathBuf,
    /// The secrets.
    pub secrets: Arc<Secrets>,
    digest: [u8; 32],
}

impl WebhookSecrets {
    /// Secrets read from `file`, whose text was `text`.
    pub fn new(file: PathBuf, secrets: Secrets, text: &str) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self {
            file,
            secrets: Arc::new(secrets),
            digest: bytes,
        }
    }
}

impl PartialEq for WebhookSecrets {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.digest == other.digest
    }
}

/// A client's class rules: `class_by_service_type`, then `class_by_source`, then
/// `default_class`. The vendor TLV `smppd_class` (0x1500) on a message comes before all three.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassRules {
    /// `class_by_service_type`: exact `service_type` values.
    pub by_service_type: Vec<(String, Class)>,
    /// `class_by_source`: source address patterns, the most specific first (exact addresses,
    /// then longer prefixes).
    pub by_source: Vec<(AddressPattern, Class)>,
    /// `default_class`; none means transactional.
    pub default: Option<Class>,
    /// `reclassify_on_mention`: a transactional message whose text has an opt-out mention is
    /// sent as marketing (it is counted as suspect either way).
    pub reclassify_on_mention: bool,
}

/// `[[sender_rules]]`: the senders allowed toward destinations starting with `prefix` (a
/// country code, say). Of the rules whose prefix a destination has, the longest applies; a
/// submit that breaks it gets ESME_RINVSRCADR (`sender.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct SenderRule {
    /// `prefix`: destination digits, without `+`.
    pub prefix: String,
    /// `alnum_max`: longest alphanumeric sender.
    pub alnum_max: usize,
    /// `alnum_pattern`: a regular expression an alphanumeric sender must match whole.
    pub alnum_pattern: Option<Pattern>,
    /// `marketing_sources`: the only senders of marketing messages; empty = any.
    pub marketing_sources: Vec<AddressPattern>,
    /// `transactional_sources`: the only senders of transactional messages; empty = any.
    pub transactional_sources: Vec<AddressPattern>,
}

/// `[[sending_windows]]`: when messages held to it may leave (`windows.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendingWindow {
    /// `name`, for policies.
    pub name: String,
    /// `preset`, or `days`, `from`, `until`, `holidays`; and `spread`.
    pub window: Window,
    /// `zone`: an IANA zone name, or none for the destination's zone (by its number).
    pub zone: Option<String>,
}

/// `[[window_policies]]`: messages of `class` to `destinations` wait for `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowPolicy {
    /// `class`.
    pub class: Class,
    /// `destinations`: number prefixes, digits without `+`; empty = any.
    pub destinations: Vec<String>,
    /// `window`: the index of its window in [`Config::sending_windows`].
    pub window: usize,
}

/// A regular expression from the config, compared by its text.
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A password as configured.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// Compared in constant time.
    Plain(String),
    /// An argon2 PHC string (`$argon2id$…`), verified with the argon2 crate.
    Argon2(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs.
        match self {
            Self::Plain(_) => f.write_str("Password::Plain(<redacted>)"),
            Self::Argon2(_) => f.write_str("Password::Argon2(<redacted>)"),
        }
    }
}

/// Which bind types a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindTypes {
    /// bind_transmitter.
    pub transmitter: bool,
    /// bind_receiver.
    pub receiver: bool,
    /// bind_transceiver.
    pub transceiver: bool,
}

/// A source address rule: exact (`Shop`), or a prefix ending in `*` (`4477*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressPattern {
    /// Must equal.
    Exact(String),
    /// Must start with.
    Prefix(String),
}

impl AddressPattern {
    /// How much of an address it pins down: an exact address beats any prefix, a longer
    /// prefix a shorter one. Rules sort by it, most specific first.
    pub fn specificity(&self) -> (bool, usize) {
        match self {
            Self::Exact(exact) => (true, exact.len()),
            Self::Prefix(prefix) => (false, prefix.len()),
        }
    }

    /// Whether `address` matches.
    pub fn matches(&self, address: &str) -> bool {
        match self {
            Self::Exact(exact) => address == exact,
            Self::Prefix(prefix) => address.starts_with(prefix.as_str()),
        }
    }
}

/// An IP network in CIDR form (`10.0.0.0/8`, `::1/128`); a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses, on either side,
    /// count as IPv4; a prefix past the address width counts as the full width).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let prefix = u32::from(self.prefix);
        let (net, prefix) = match self.addr {
            // ::ffff:a.b.c.d/96+n is the IPv4 network a.b.c.d/n.
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (self.addr, prefix),
            },
            net => (net, prefix),
        };
        match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                // checked_shl: a shift by the full width (prefix 0) is None, i.e. mask 0.
                let mask = u32::MAX
                    .checked_shl(32_u32.saturating_sub(prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128_u32.saturating_sub(prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `[[carriers]]`: one upstream SMSC link (`sessions` SMPP sessions, or pairs, to one host).
#[derive(Clone, Debug, PartialEq)]
pub struct CarrierConfig {
    /// Unique name, 1–32 of `[A-Za-z0-9_-]`: used by routes, metrics labels and the admin API.
    pub name: String,
    /// Hostname or IP address to connect to (`host`).
    pub host: String,
    /// TCP port (`port`), never 0.
    pub port: u16,
    /// `system_id` we bind with (≤ 15 characters).
    pub system_id: String,
    /// `password` we bind with (≤ 8 characters, may be empty); redacted in `Debug`.
    pub password: Secret,
    /// `system_type` in our binds (≤ 12 characters, usually empty).
    pub system_type: String,
    /// `address_range` in our binds (≤ 40 characters, usually empty).
    pub address_range: String,
    /// How each session slot binds (`bind`).
    pub bind: CarrierBind,
    /// Session slots of the link (`sessions`, 1–64): sessions, or transmitter+receiver pairs.
    pub sessions: NonZeroUsize,
    /// Our requests in flight per session (`window`, 1–1024); the carrier's own window, if it
    /// is smaller, is the one to configure here.
    pub window: NonZeroUsize,
    /// Most messages per second over the whole link (`throughput`; none = unlimited).
    pub throughput: Option<NonZeroU32>,
    /// Send enquire_link after this long without traffic (`enquire_link_interval`).
    pub enquire_link_interval: Duration,
    /// A request we send with no response in this time has failed (`response_timeout`).
    pub response_timeout: Duration,
    /// First reconnect delay (`reconnect_min`); doubles, with jitter, after each failure.
    pub reconnect_min: Duration,
    /// Longest reconnect delay (`reconnect_max`); at least `reconnect_min`.
    pub reconnect_max: Duration,
    /// Set as `source_addr_ton` on every submit to this carrier (`default_source_ton`);
    /// `None` keeps the client's value.
    pub default_source_ton: Option<u8>,
    /// Set as `source_addr_npi` on every submit (`default_source_npi`); `None` keeps it.
    pub default_source_npi: Option<u8>,
    /// Set as `dest_addr_ton` on every submit (`default_dest_ton`); `None` keeps it.
    pub default_dest_ton: Option<u8>,
    /// Set as `dest_addr_npi` on every submit (`default_dest_npi`); `None` keeps it.
    pub default_dest_npi: Option<u8>,
    /// How the carrier writes message ids in receipts (`receipt_id_format`).
    pub receipt_id_format: IdFormat,
    /// What each submit asks the carrier for in `registered_delivery` (`registered_delivery`).
    pub registered_delivery: ReceiptRequest,
    /// Whether a client's request for intermediate notifications (`registered_delivery`
    /// 0x10) goes on to the carrier, and the carrier's intermediate notifications back to the
    /// client (`intermediate_notifications`).
    pub intermediate_notifications: bool,
    /// Tries per message, the first included, before transient failures end it as
    /// UNDELIVERABLE (`max_attempts`).
    pub max_attempts: NonZeroU32,
    /// Delay before the first retry (`retry_min`); doubles after each failed attempt.
    pub retry_min: Duration,
    /// Longest delay between attempts (`retry_max`); at least `retry_min`.
    pub retry_max: Duration,
    /// submit_sm_resp statuses that are transient (retried); any other error status is
    /// permanent. Sorted, no duplicates (`transient_statuses`). Timeouts and a lost link are
    /// always transient.
    pub transient_statuses: Vec<CommandStatus>,
    /// TLS toward the carrier (`[carriers.tls]`); `None` = plain TCP.
    pub tls: Option<CarrierTls>,
}

impl CarrierConfig {
    /// Whether a submit_sm_resp with this error status is worth another attempt.
    pub fn is_transient(&self, status: CommandStatus) -> bool {
        self.transient_statuses.binary_search(&status).is_ok()
    }

    /// The `registered_delivery` a submit to this carrier carries, for a message whose client
    /// asked for `asked` (SMPP 3.4 §5.2.17): a final receipt (0x01) per
    /// [`CarrierConfig::registered_delivery`], and the intermediate-notification flag (0x10;
    /// cloudhopper's 0x20 taken for it) if the client asked and the link passes it on.
    pub fn registered_delivery_for(&self, asked: u8) -> u8 {
        let intermediate = self.intermediate_notifications && wants_intermediate(asked);
        let receipt = match self.registered_delivery {
            ReceiptRequest::Always => true,
            ReceiptRequest::Requested => asked & 0x03 != 0 || intermediate,
        };
        u8::from(receipt) | if intermediate { 0x10 } else { 0 }
    }
}

/// Whether a client's `registered_delivery` asks for intermediate notifications: 0x10, or
/// 0x20 as cloudhopper writes it (smpp34.md §8.2).
pub fn wants_intermediate(registered_delivery: u8) -> bool {
    registered_delivery & 0x30 != 0
}

/// What smppd asks a carrier for in each submit's `registered_delivery`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptRequest {
    /// A final receipt (0x01) for every part, whatever its client asked: every message gets
    /// its final state (DELIVERED, UNDELIVERABLE …) in `query_sm`, the admin API and the
    /// metrics. Default.
    Always,
    /// A final receipt only for parts whose client asked for a receipt (0x01 or 0x02) or for
    /// intermediate notifications; the others go with 0x00 and end SENT once the carrier has
    /// accepted them (nothing more is learnt of them). For carriers that bill receipts.
    Requested,
}

/// The `transient_statuses` used when a carrier sets none: the carrier is busy or had a
/// passing fault, so a later attempt may succeed.
pub const DEFAULT_TRANSIENT_STATUSES: [CommandStatus; 6] = [
    CommandStatus::ESME_RSYSERR,
    CommandStatus::ESME_RMSGQFUL,
    CommandStatus::ESME_RSUBMITFAIL,
    CommandStatus::ESME_RTHROTTLED,
    CommandStatus::ESME_RX_T_APPN,
    CommandStatus::ESME_RUNKNOWNERR,
];

/// A secret from the config (a carrier password): `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the wire; never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a carrier link binds each session slot (`bind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarrierBind {
    /// One bind_transceiver per slot: submits out, receipts and MO in. Default.
    Transceiver,
    /// A bind_transmitter (submits) plus a bind_receiver (receipts, MO) per slot, for
    /// carriers without transceiver support.
    Pair,
}

/// How a carrier writes message ids in receipts, compared to its submit_sm_resp `message_id`
/// (`receipt_id_format`). Receipts are matched on the normalised id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdFormat {
    /// Try as written, then the hex ↔ decimal conversions, ignoring leading zeros. Default.
    Auto,
    /// Receipts carry the id in hexadecimal (submit_sm_resp may use decimal).
    Hex,
    /// Receipts carry the id in decimal (submit_sm_resp may use hexadecimal).
    Decimal,
}

/// `[carriers.tls]`: TLS toward a carrier.
#[derive(Clone, Debug, PartialEq)]
pub struct CarrierTls {
    /// PEM CA certificate(s) to trust instead of the system roots (`ca`); `None` = system roots.
    pub ca: Option<PathBuf>,
    /// Our client certificate, when the carrier asks for one (`client_cert` + `client_key`).
    pub client_auth: Option<ClientAuth>,
    /// Name sent as SNI and checked against the carrier's certificate (`server_name`;
    /// defaults to the carrier's `host`). A DNS name or an IP address.
    pub server_name: String,
}

/// A client certificate and its key (PEM files that existed when the config was loaded).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientAuth {
    /// PEM certificate chain, leaf first (`client_cert`).
    pub cert: PathBuf,
    /// PEM private key, PKCS#8, PKCS#1 or SEC1 (`client_key`).
    pub key: PathBuf,
}

/// `[[routes]]`: a rule for submitted messages. Every condition set must match; an empty list
/// is no condition.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    /// Unique name, 1–32 of `[A-Za-z0-9_-]`: the route queue and metrics label.
    pub name: String,
    /// Destination prefixes, digits without a leading `+` (`destination_prefixes`); the
    /// destination, with its own leading `+` stripped, must start with one. Empty = any.
    pub destination_prefixes: Vec<String>,
    /// Client system_ids, each in `[[clients]]` (`clients`). Empty = any client.
    pub clients: Vec<String>,
    /// Source address patterns (`source_addresses`). Empty = any source.
    pub source_addresses: Vec<AddressPattern>,
    /// Carrier names, each in `[[carriers]]`, no repeats, never empty (`carriers`): the
    /// failover order.
    pub carriers: Vec<String>,
    /// One weight per carrier (`weights`): spread messages in these proportions instead of
    /// failing over in order. `None` = failover.
    pub weights: Option<Vec<NonZeroU32>>,
    /// Most messages per second through this route (`throughput`; none = unlimited).
    pub throughput: Option<NonZeroU32>,
    /// Most segments per second of marketing messages through this route
    /// (`marketing_throughput`; none = as many as `throughput` leaves).
    pub marketing_throughput: Option<NonZeroU32>,
    /// The share of the route's sends, in percent, that marketing gets while transactional
    /// messages wait too (`marketing_min_share`, default 10): transactional goes first, but
    /// cannot starve marketing.
    pub marketing_min_share: u8,
    /// Most messages waiting in its queue (`max_queue`); beyond it submits get ESME_RMSGQFUL.
    pub max_queue: NonZeroUsize,
}

impl RouteConfig {
    /// Whether the route has no conditions, so it matches every message.
    pub fn matches_everything(&self) -> bool {
        self.destination_prefixes.is_empty()
            && self.clients.is_empty()
            && self.source_addresses.is_empty()
    }
}

/// `[[mo_routes]]`: which client receives a carrier's mobile-originated (non-receipt)
/// deliver_sm.
#[derive(Clone, Debug, PartialEq)]
pub struct MoRouteConfig {
    /// Destination patterns (short codes, long numbers) without a leading `+`, never empty
    /// (`destinations`).
    pub destinations: Vec<AddressPattern>,
    /// The client (system_id in `[[clients]]`, allowed a receiver or transceiver bind) that
    /// gets them (`client`).
    pub client: String,
}

impl Config {
    /// Reads, parses and validates a config file. The errors do not repeat the file's name:
    /// the caller says which file they are about (as `smppd check` does).
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::one(ConfigError::new("", format!("cannot read the file: {e}")))
        })?;
        Self::parse(&text)
    }

    /// Parses and validates config text. A TOML error (syntax, an unknown key, a wrong type)
    /// stops parsing and is the one problem reported; past that, every problem is reported.
    pub fn parse(text: &str) -> Result<Self, ConfigErrors> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigErrors::from_toml_in(e, text))?;
        Self::try_from(raw)
    }

    /// The configuration `smppd serve` runs with when given no file: `config.example.toml`,
    /// compiled in.
    pub fn embedded_default() -> Result<Self, ConfigErrors> {
        Self::parse(EMBEDDED_DEFAULT)
    }

    /// The client with this system_id.
    pub fn client(&self, system_id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.system_id == system_id)
    }

    /// The carrier with this name.
    pub fn carrier(&self, name: &str) -> Option<&CarrierConfig> {
        self.carriers.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests;
