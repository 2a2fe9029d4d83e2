//! The validated configuration: what the rest of the gateway sees. `raw.rs` mirrors the TOML
//! file; `TryFrom<raw::RawConfig>` checks it and reports every problem with its key path.

mod diff;
mod error;
mod raw;

pub use diff::{diff, same_but_cap, Changes};
pub use error::{ConfigError, ConfigErrors};

use smpp_proto::CommandStatus;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
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
    /// `[admin]`: the HTTP admin API and `/metrics`.
    pub admin: AdminConfig,
    /// `[log]`: how and what the gateway logs.
    pub log: LogConfig,
    /// `[simulator]`: a carrier simulator run inside the gateway (the quickstart's carrier);
    /// `None` unless `enabled = true`.
    pub simulator: Option<SimulatorSection>,
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
    /// Source addresses / sender ids it may use (`allowed_sources`); empty = any.
    pub allowed_sources: Vec<AddressPattern>,
    /// Networks it may connect from (`allowed_ips`); empty = any.
    pub allowed_ips: Vec<IpNet>,
    /// Most receipts and MO messages waiting for delivery to it (`max_outbox`): at this many,
    /// its submits get ESME_RMSGQFUL and MO for it is refused to the carrier (to be resent),
    /// so a client that never reads cannot fill the disk. Receipts of messages already
    /// accepted are always kept.
    pub max_outbox: NonZeroUsize,
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
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A fresh temp directory (removed on drop) to write config files into.
    struct TempDir(tempfile::TempDir);

    impl TempDir {
        fn new() -> Self {
            Self(tempfile::tempdir().unwrap())
        }

        fn file(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    const CLIENT: &str = "[[clients]]\nsystem_id = \"shop\"\npassword = \"secret12\"\n";
    /// A carrier with only its required keys; more keys may follow.
    const CARRIER: &str = "[[carriers]]\nname = \"sim\"\nhost = \"127.0.0.1\"\n\
                           system_id = \"smppd\"\npassword = \"secret\"\n";

    /// The problems of a config that must fail.
    fn problems(text: &str) -> Vec<ConfigError> {
        match Config::parse(text) {
            Ok(config) => panic!("config should fail: {config:?}"),
            Err(errors) => errors.0,
        }
    }

    /// Asserts exactly one problem, at `key`, whose reason contains `needle`.
    fn one_problem(text: &str, key: &str, needle: &str) {
        let problems = problems(text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, key, "{problems:?}");
        assert!(problems[0].reason.contains(needle), "{problems:?}");
    }

    #[test]
    fn simulator_section() {
        assert_eq!(Config::parse("").unwrap().simulator, None);
        let disabled = Config::parse("[simulator]\nenabled = false\n").unwrap();
        assert_eq!(disabled.simulator, None);
        let on = Config::parse("[simulator]\nenabled = true\n").unwrap();
        assert_eq!(
            on.simulator,
            Some(SimulatorSection {
                listen: "127.0.0.1:2776".parse().unwrap(),
                receipt_delay: Duration::from_secs(1),
                delivered_percent: 100,
                window: NonZeroUsize::new(200).unwrap(),
            })
        );
        one_problem(
            "[simulator]\nenabled = true\ndelivered_percent = 101\n",
            "simulator.delivered_percent",
            "100",
        );
        one_problem(
            "[simulator]\nenabled = true\nlisten = \"nowhere\"\n",
            "simulator.listen",
            "socket address",
        );
    }

    #[test]
    fn store_retention() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.store.retention, Some(Duration::from_secs(7 * 86400)));
        let config = Config::parse("[store]\nretention = \"off\"\n").unwrap();
        assert_eq!(config.store.retention, None);
        let config = Config::parse("[store]\nretention = \"36h\"\n").unwrap();
        assert_eq!(config.store.retention, Some(Duration::from_secs(36 * 3600)));
        one_problem("[store]\nretention = \"0s\"\n", "store.retention", "zero");
        one_problem(
            "[store]\nretention = \"forever\"\n",
            "store.retention",
            "\"off\"",
        );
    }

    #[test]
    fn store_min_free_space() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.store.min_free_space, 1 << 30);
        for (text, bytes) in [
            ("\"1GiB\"", 1 << 30),
            ("\"1.5 GiB\"", 3 << 29),
            ("\"100MB\"", 100_000_000),
            ("\"64mib\"", 64 << 20),
            ("\"off\"", 0),
            ("\"0\"", 0),
            ("1048576", 1 << 20),
        ] {
            let config = Config::parse(&format!("[store]\nmin_free_space = {text}\n")).unwrap();
            assert_eq!(config.store.min_free_space, bytes, "{text}");
        }
        one_problem(
            "[store]\nmin_free_space = \"lots\"\n",
            "store.min_free_space",
            "\"256MiB\"",
        );
        one_problem(
            "[store]\nmin_free_space = \"12 parsecs\"\n",
            "store.min_free_space",
            "`12 parsecs`",
        );
        one_problem(
            "[store]\nmin_free_space = -1\n",
            "store.min_free_space",
            "negative",
        );
        one_problem(
            "[store]\nmin_free_space = true\n",
            "store.min_free_space",
            "a size like",
        );
    }

    #[test]
    fn embedded_default_is_valid_and_has_the_demo_client() {
        let config = Config::embedded_default().unwrap();
        assert_eq!(config.server.system_id, "smppd");
        assert_eq!(
            config.server.listen,
            ["127.0.0.1:2775".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(config.server.tls, None);
        assert_eq!(config.store.path, Path::new("smppd-data"));
        assert_eq!(config.store.durability, Durability::Durable);
        assert_eq!(config.clients.len(), 1);
        let demo = config.client("demo").unwrap();
        assert_eq!(demo.password, Password::Plain("demopass".into()));
        assert_eq!(
            demo.bind_types,
            BindTypes {
                transmitter: true,
                receiver: true,
                transceiver: true
            }
        );
        assert_eq!(demo.max_binds.get(), 4);
        assert_eq!(demo.window.get(), 64);
        assert_eq!(demo.throughput, None);
        assert!(demo.allowed_sources.is_empty() && demo.allowed_ips.is_empty());
        // The quickstart: everything goes to the built-in simulator.
        assert_eq!(config.carriers.len(), 1);
        let sim = config.carrier("sim").unwrap();
        assert_eq!((sim.host.as_str(), sim.port), ("127.0.0.1", 2776));
        assert_eq!(sim.tls, None);
        assert_eq!(config.routes.len(), 1);
        let default = &config.routes[0];
        assert_eq!(default.name, "default");
        assert!(default.matches_everything());
        assert_eq!(default.carriers, ["sim"]);
        assert_eq!(default.weights, None);
        assert!(config.mo_routes.is_empty());
        let simulator = config.simulator.as_ref().unwrap();
        assert_eq!(simulator.listen, "127.0.0.1:2776".parse().unwrap());
        // The link suits its simulator: a window it takes whole, and enough in flight that a
        // small window does not cost commits and round trips (issue 17: 1 x 10 cost twice the
        // CPU per message of 2 x 100).
        assert!(sim.window <= simulator.window, "{sim:?}");
        assert!(sim.sessions.get() >= 2, "{sim:?}");
        assert!(sim.window.get() * sim.sessions.get() >= 100, "{sim:?}");
    }

    #[test]
    fn embedded_default_matches_the_built_in_defaults() {
        // config.example.toml shows the defaults: an empty file plus the demo client, the
        // simulator carrier, the default route and the enabled simulator is the same config.
        // The one departure: the simulator carrier's link is sized for the simulator (the
        // defaults suit a carrier whose window is not known yet).
        let minimal = "[[clients]]\nsystem_id = \"demo\"\npassword = \"demopass\"\n\
                       [[carriers]]\nname = \"sim\"\nhost = \"127.0.0.1\"\nport = 2776\n\
                       system_id = \"smppd\"\npassword = \"secret\"\n\
                       sessions = 2\nwindow = 100\n\
                       [[routes]]\nname = \"default\"\ncarriers = [\"sim\"]\n\
                       [simulator]\nenabled = true\n";
        assert_eq!(
            Config::parse(minimal).unwrap(),
            Config::embedded_default().unwrap()
        );
    }

    #[test]
    fn empty_file_is_the_defaults_without_clients() {
        let config = Config::parse("").unwrap();
        assert!(config.clients.is_empty());
        assert_eq!(config.server.max_pdu_bytes, 71_680);
        assert_eq!(config.server.max_connections.get(), 1024);
        assert_eq!(
            config.server.session.inactivity_timeout,
            Duration::from_secs(300)
        );
        assert_eq!(config.store.max_batch.get(), 1024);
    }

    #[test]
    fn fully_specified_config() {
        let dir = TempDir::new();
        let cert = dir.file("cert.pem", "cert");
        let key = dir.file("key.pem", "key");
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c21wcGQtdGVzdC1zYWx0$\
                   bgctt7qEmqGMAQd/v1f6xX6clDxXp8tdJcRj5dAJV+I";
        let text = format!(
            r#"
            [server]
            system_id = "gw1"
            listen = ["0.0.0.0:2775", "[::1]:2776"]
            max_pdu_bytes = 4096
            max_connections = 10
            max_connections_per_ip = 3
            [server.tls]
            listen = ["127.0.0.1:3775"]
            cert = {cert:?}
            key = {key:?}
            [server.session]
            session_init_timeout = "10s"
            enquire_link_interval = "1m"
            inactivity_timeout = "5m"
            response_timeout = "250ms"
            bind_failure_delay = "2s"
            unbind_timeout = "1s 500ms"
            [store]
            path = "/var/lib/smppd"
            durability = "relaxed"
            max_batch = 1
            retention = "3d"
            min_free_space = "512 MiB"
            [[clients]]
            system_id = "shop"
            password = "secret12"
            bind_types = ["transmitter"]
            max_binds = 1
            window = 1024
            throughput = 100
            allowed_sources = ["Shop", "4477*"]
            allowed_ips = ["127.0.0.1", "10.0.0.0/8", "::1"]
            max_outbox = 500
            [[clients]]
            system_id = "crm"
            password = "{phc}"
            [admin]
            enabled = true
            listen = "0.0.0.0:9775"
            token = "0123456789abcdef0123"
            metrics_open = true
            [log]
            format = "json"
            level = "warn,smppd::carrier=debug"
            [simulator]
            enabled = true
            listen = "127.0.0.1:12776"
            receipt_delay = "250ms"
            delivered_percent = 90
            window = 50
            "#
        );
        let config = Config::parse(&text).unwrap();
        let expected = Config {
            server: ServerConfig {
                system_id: "gw1".into(),
                listen: vec![
                    "0.0.0.0:2775".parse().unwrap(),
                    "[::1]:2776".parse().unwrap(),
                ],
                tls: Some(TlsConfig {
                    listen: vec!["127.0.0.1:3775".parse().unwrap()],
                    cert,
                    key,
                }),
                max_pdu_bytes: 4096,
                max_connections: NonZeroUsize::new(10).unwrap(),
                max_connections_per_ip: NonZeroUsize::new(3).unwrap(),
                session: SessionConfig {
                    session_init_timeout: Duration::from_secs(10),
                    enquire_link_interval: Duration::from_secs(60),
                    inactivity_timeout: Duration::from_secs(300),
                    response_timeout: Duration::from_millis(250),
                    bind_failure_delay: Duration::from_secs(2),
                    unbind_timeout: Duration::from_millis(1500),
                },
            },
            store: StoreConfig {
                path: PathBuf::from("/var/lib/smppd"),
                durability: Durability::Relaxed,
                max_batch: NonZeroUsize::new(1).unwrap(),
                cache_bytes: 64 * 1024 * 1024,
                retention: Some(Duration::from_secs(3 * 86400)),
                min_free_space: 512 * 1024 * 1024,
                layer_age: StoreConfig::LAYER_AGE,
            },
            clients: vec![
                ClientConfig {
                    system_id: "shop".into(),
                    password: Password::Plain("secret12".into()),
                    bind_types: BindTypes {
                        transmitter: true,
                        receiver: false,
                        transceiver: false,
                    },
                    max_binds: NonZeroU32::new(1).unwrap(),
                    window: NonZeroUsize::new(1024).unwrap(),
                    throughput: NonZeroU32::new(100),
                    allowed_sources: vec![
                        AddressPattern::Exact("Shop".into()),
                        AddressPattern::Prefix("4477".into()),
                    ],
                    allowed_ips: vec![
                        IpNet {
                            addr: Ipv4Addr::LOCALHOST.into(),
                            prefix: 32,
                        },
                        IpNet {
                            addr: Ipv4Addr::new(10, 0, 0, 0).into(),
                            prefix: 8,
                        },
                        IpNet {
                            addr: Ipv6Addr::LOCALHOST.into(),
                            prefix: 128,
                        },
                    ],
                    max_outbox: NonZeroUsize::new(500).unwrap(),
                },
                ClientConfig {
                    system_id: "crm".into(),
                    password: Password::Argon2(phc.into()),
                    bind_types: BindTypes {
                        transmitter: true,
                        receiver: true,
                        transceiver: true,
                    },
                    max_binds: NonZeroU32::new(4).unwrap(),
                    window: NonZeroUsize::new(64).unwrap(),
                    throughput: None,
                    allowed_sources: vec![],
                    allowed_ips: vec![],
                    max_outbox: NonZeroUsize::new(100_000).unwrap(),
                },
            ],
            carriers: vec![],
            routes: vec![],
            mo_routes: vec![],
            admin: AdminConfig {
                enabled: true,
                listen: "0.0.0.0:9775".parse().unwrap(),
                token: Some(Secret::new("0123456789abcdef0123")),
                metrics_open: true,
            },
            log: LogConfig {
                format: LogFormat::Json,
                level: "warn,smppd::carrier=debug".to_owned(),
            },
            simulator: Some(SimulatorSection {
                listen: "127.0.0.1:12776".parse().unwrap(),
                receipt_delay: Duration::from_millis(250),
                delivered_percent: 90,
                window: NonZeroUsize::new(50).unwrap(),
            }),
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn tls_only_listeners_are_enough() {
        let dir = TempDir::new();
        let cert = dir.file("cert.pem", "cert");
        let key = dir.file("key.pem", "key");
        let text = format!(
            "[server]\nlisten = []\n[server.tls]\nlisten = [\"127.0.0.1:0\"]\n\
             cert = {cert:?}\nkey = {key:?}\n"
        );
        let config = Config::parse(&text).unwrap();
        assert!(config.server.listen.is_empty());
        assert_eq!(config.server.tls.map(|t| t.listen.len()), Some(1));
    }

    #[test]
    fn no_listeners_at_all() {
        one_problem("[server]\nlisten = []\n", "server.listen", "no listeners");
    }

    #[test]
    fn unknown_key_top_level() {
        one_problem("colour = \"blue\"\n", "colour", "unknown key");
    }

    #[test]
    fn unknown_key_nested() {
        one_problem(
            "[server.session]\nenquire_link = \"30s\"\n",
            "server.session.enquire_link",
            "unknown key",
        );
        let text = format!("{CLIENT}{CLIENT}windw = 3\n");
        one_problem(&text, "clients[1].windw", "unknown key");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = format!("{CLIENT}[[clients]]\nsystem_id = \"b\"\nwindow = \"64\"\n");
        one_problem(&text, "clients[1].window", "invalid type");
    }

    #[test]
    fn bad_duration() {
        one_problem(
            "[server.session]\nresponse_timeout = \"30 parsecs\"\n",
            "server.session.response_timeout",
            "not a duration",
        );
        // A bare number has no unit.
        one_problem(
            "[server.session]\nunbind_timeout = \"5\"\n",
            "server.session.unbind_timeout",
            "not a duration",
        );
    }

    #[test]
    fn zero_duration() {
        one_problem(
            "[server.session]\nbind_failure_delay = \"0s\"\n",
            "server.session.bind_failure_delay",
            "greater than zero",
        );
    }

    #[test]
    fn inactivity_must_exceed_enquire_link_interval() {
        let text =
            "[server.session]\nenquire_link_interval = \"60s\"\ninactivity_timeout = \"1m\"\n";
        one_problem(
            text,
            "server.session.inactivity_timeout",
            "enquire_link_interval (1m)",
        );
    }

    #[test]
    fn bad_listen_address() {
        one_problem(
            "[server]\nlisten = [\"127.0.0.1:2775\", \"localhost:2775\"]\n",
            "server.listen[1]",
            "`localhost:2775` is not a socket address",
        );
        one_problem(
            "[server]\nlisten = [\"127.0.0.1\"]\n",
            "server.listen[0]",
            "not a socket",
        );
    }

    #[test]
    fn tls_listener_clashes_with_plain_one() {
        let dir = TempDir::new();
        let cert = dir.file("cert.pem", "cert");
        let key = dir.file("key.pem", "key");
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:2775\"]\n[server.tls]\n\
             listen = [\"127.0.0.1:2775\"]\ncert = {cert:?}\nkey = {key:?}\n"
        );
        one_problem(&text, "server.tls.listen[0]", "also server.listen[0]");
    }

    #[test]
    fn missing_tls_files() {
        let dir = TempDir::new();
        let cert = dir.file("cert.pem", "cert");
        let missing = dir.0.path().join("nope.pem");
        let text = format!(
            "[server.tls]\nlisten = [\"127.0.0.1:3775\"]\ncert = {cert:?}\nkey = {missing:?}\n"
        );
        one_problem(&text, "server.tls.key", "cannot read");
        // A directory is not a key file; a section without cert names the key too.
        let dir_path = dir.0.path();
        let text = format!("[server.tls]\nlisten = [\"127.0.0.1:3775\"]\nkey = {dir_path:?}\n");
        let problems = problems(&text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["server.tls.cert", "server.tls.key"], "{problems:?}");
        assert_eq!(problems[0].reason, "required");
        assert!(problems[1].reason.contains("not a file"), "{problems:?}");
    }

    #[test]
    fn duplicate_system_id_names_both_clients() {
        let text = format!("{CLIENT}[[clients]]\nsystem_id = \"x\"\npassword = \"p\"\n{CLIENT}");
        one_problem(&text, "clients[2].system_id", "also clients[0].system_id");
    }

    #[test]
    fn system_id_too_long() {
        one_problem(
            "[[clients]]\nsystem_id = \"abcdefghijklmnop\"\npassword = \"p\"\n",
            "clients[0].system_id",
            "at most 15",
        );
        one_problem("[server]\nsystem_id = \"\"\n", "server.system_id", "empty");
        one_problem(
            "[server]\nsystem_id = \"gw\\n\"\n",
            "server.system_id",
            "printable",
        );
    }

    #[test]
    fn client_needs_system_id_and_password() {
        let problems = problems("[[clients]]\nwindow = 5\n");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["clients[0].system_id", "clients[0].password"]);
    }

    #[test]
    fn plain_password_too_long() {
        let problems = problems("[[clients]]\nsystem_id = \"a\"\npassword = \"secret123\"\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "clients[0].password");
        assert!(problems[0].reason.contains("at most 8"), "{problems:?}");
        // The password itself never appears in a message.
        assert!(!problems[0].reason.contains("secret123"), "{problems:?}");
    }

    #[test]
    fn bad_argon2_string() {
        one_problem(
            "[[clients]]\nsystem_id = \"a\"\npassword = \"$argon2id$v=19$m=19456$\"\n",
            "clients[0].password",
            "not a valid argon2 PHC string",
        );
    }

    #[test]
    fn unknown_bind_type() {
        let text = format!("{CLIENT}bind_types = [\"receiver\", \"transponder\"]\n");
        one_problem(
            &text,
            "clients[0].bind_types[1]",
            "unknown bind type `transponder`",
        );
    }

    #[test]
    fn empty_bind_types() {
        let text = format!("{CLIENT}bind_types = []\n");
        one_problem(&text, "clients[0].bind_types", "empty");
    }

    #[test]
    fn window_out_of_range() {
        one_problem(
            &format!("{CLIENT}window = 0\n"),
            "clients[0].window",
            "1–1024, not 0",
        );
        one_problem(
            &format!("{CLIENT}window = 1025\n"),
            "clients[0].window",
            "1–1024",
        );
        assert!(Config::parse(&format!("{CLIENT}window = 1\n")).is_ok());
    }

    #[test]
    fn other_limits() {
        one_problem(
            &format!("{CLIENT}max_binds = 0\n"),
            "clients[0].max_binds",
            "at least 1",
        );
        one_problem(
            &format!("{CLIENT}throughput = -5\n"),
            "clients[0].throughput",
            "at least 1",
        );
        one_problem(
            "[server]\nmax_pdu_bytes = 4095\n",
            "server.max_pdu_bytes",
            "4096–1048576",
        );
        one_problem(
            "[server]\nmax_connections = 0\n",
            "server.max_connections",
            "at least 1",
        );
        one_problem(
            "[server]\nmax_connections_per_ip = 0\n",
            "server.max_connections_per_ip",
            "at least 1",
        );
        one_problem(
            &format!("{CLIENT}max_outbox = 0\n"),
            "clients[0].max_outbox",
            "at least 1",
        );
        one_problem(
            &format!("{CARRIER}[[routes]]\nname = \"r\"\ncarriers = [\"sim\"]\nmax_queue = -1\n"),
            "routes[0].max_queue",
            "at least 1",
        );
        one_problem("[store]\nmax_batch = 0\n", "store.max_batch", "at least 1");
        one_problem(
            "[store]\ndurability = \"fsync\"\n",
            "store.durability",
            "`fsync`",
        );
        one_problem("[store]\npath = \"\"\n", "store.path", "empty");
    }

    #[test]
    fn bad_allowed_sources() {
        let text = format!("{CLIENT}allowed_sources = [\"Shop\", \"44*77\"]\n");
        one_problem(&text, "clients[0].allowed_sources[1]", "`*` may only end");
    }

    #[test]
    fn bad_cidr() {
        let text = format!("{CLIENT}allowed_ips = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
        one_problem(&text, "clients[0].allowed_ips[1]", "0–32");
        let text = format!("{CLIENT}allowed_ips = [\"::/129\"]\n");
        one_problem(&text, "clients[0].allowed_ips[0]", "0–128");
        let text = format!("{CLIENT}allowed_ips = [\"10.0.0/8\"]\n");
        one_problem(&text, "clients[0].allowed_ips[0]", "not an IP address");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text =
            "[server]\nlisten = [\"nowhere\"]\n[server.session]\nresponse_timeout = \"0s\"\n\
                    [[clients]]\nsystem_id = \"a\"\npassword = \"p\"\nwindow = 0\n";
        let errors = Config::parse(text).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.listen[0]",
                "server.session.response_timeout",
                "clients[0].window"
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 3, "{errors}");
    }

    #[test]
    fn fully_specified_carriers_and_routes() {
        let dir = TempDir::new();
        let ca = dir.file("ca.pem", "ca");
        let cert = dir.file("client.pem", "cert");
        let key = dir.file("client-key.pem", "key");
        let text = format!(
            r#"
            [[clients]]
            system_id = "shop"
            password = "secret12"
            [[clients]]
            system_id = "crm"
            password = "crm-pass"
            bind_types = ["transmitter"]

            [[carriers]]
            name = "acme-1"
            host = "smpp.acme.example"
            port = 3550
            system_id = "gw"
            password = ""
            system_type = "VMA"
            address_range = "^44"
            bind = "pair"
            sessions = 4
            window = 50
            throughput = 200
            enquire_link_interval = "15s"
            response_timeout = "10s"
            reconnect_min = "500ms"
            reconnect_max = "2m"
            default_source_ton = 5
            default_source_npi = 0
            default_dest_ton = 1
            default_dest_npi = 1
            receipt_id_format = "hex"
            registered_delivery = "requested"
            intermediate_notifications = false
            max_attempts = 3
            retry_min = "1s"
            retry_max = "1m"
            transient_statuses = [88, "ESME_RSYSERR", "rmsgqful", "0x400", 0x58]
            [carriers.tls]
            ca = {ca:?}
            client_cert = {cert:?}
            client_key = {key:?}
            server_name = "10.0.0.5"

            [[carriers]]
            name = "backup"
            host = "10.1.2.3"
            system_id = "gw"
            password = "pw"
            [carriers.tls]

            [[routes]]
            name = "uk"
            destination_prefixes = ["44", "+353"]
            clients = ["shop"]
            source_addresses = ["Shop", "4477*"]
            carriers = ["acme-1", "backup"]
            weights = [3, 1]
            throughput = 50
            max_queue = 2000

            [[routes]]
            name = "rest"
            carriers = ["backup"]

            [[mo_routes]]
            destinations = ["88000", "+4470*"]
            client = "shop"
            "#
        );
        let config = Config::parse(&text).unwrap();
        let secs = Duration::from_secs;
        let nz = |n: u32| NonZeroU32::new(n).unwrap();
        let acme = CarrierConfig {
            name: "acme-1".into(),
            host: "smpp.acme.example".into(),
            port: 3550,
            system_id: "gw".into(),
            password: Secret::new(""),
            system_type: "VMA".into(),
            address_range: "^44".into(),
            bind: CarrierBind::Pair,
            sessions: NonZeroUsize::new(4).unwrap(),
            window: NonZeroUsize::new(50).unwrap(),
            throughput: Some(nz(200)),
            enquire_link_interval: secs(15),
            response_timeout: secs(10),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: secs(120),
            default_source_ton: Some(5),
            default_source_npi: Some(0),
            default_dest_ton: Some(1),
            default_dest_npi: Some(1),
            receipt_id_format: IdFormat::Hex,
            registered_delivery: ReceiptRequest::Requested,
            intermediate_notifications: false,
            max_attempts: nz(3),
            retry_min: secs(1),
            retry_max: secs(60),
            // Sorted, duplicates (88 = 0x58 = ESME_RTHROTTLED) gone.
            transient_statuses: vec![
                CommandStatus::ESME_RSYSERR,
                CommandStatus::ESME_RMSGQFUL,
                CommandStatus::ESME_RTHROTTLED,
                CommandStatus(0x400),
            ],
            tls: Some(CarrierTls {
                ca: Some(ca),
                client_auth: Some(ClientAuth { cert, key }),
                server_name: "10.0.0.5".into(),
            }),
        };
        let backup = CarrierConfig {
            name: "backup".into(),
            host: "10.1.2.3".into(),
            port: 2775,
            system_id: "gw".into(),
            password: Secret::new("pw"),
            system_type: String::new(),
            address_range: String::new(),
            bind: CarrierBind::Transceiver,
            sessions: NonZeroUsize::new(1).unwrap(),
            window: NonZeroUsize::new(10).unwrap(),
            throughput: None,
            enquire_link_interval: secs(30),
            response_timeout: secs(30),
            reconnect_min: secs(1),
            reconnect_max: secs(60),
            default_source_ton: None,
            default_source_npi: None,
            default_dest_ton: None,
            default_dest_npi: None,
            receipt_id_format: IdFormat::Auto,
            registered_delivery: ReceiptRequest::Always,
            intermediate_notifications: true,
            max_attempts: nz(5),
            retry_min: secs(5),
            retry_max: secs(600),
            transient_statuses: DEFAULT_TRANSIENT_STATUSES.to_vec(),
            // An empty [carriers.tls]: system roots, no client certificate, SNI = host.
            tls: Some(CarrierTls {
                ca: None,
                client_auth: None,
                server_name: "10.1.2.3".into(),
            }),
        };
        assert_eq!(config.carriers, [acme, backup]);
        let uk = RouteConfig {
            name: "uk".into(),
            destination_prefixes: vec!["44".into(), "353".into()],
            clients: vec!["shop".into()],
            source_addresses: vec![
                AddressPattern::Exact("Shop".into()),
                AddressPattern::Prefix("4477".into()),
            ],
            carriers: vec!["acme-1".into(), "backup".into()],
            weights: Some(vec![nz(3), nz(1)]),
            throughput: Some(nz(50)),
            max_queue: NonZeroUsize::new(2000).unwrap(),
        };
        let rest = RouteConfig {
            name: "rest".into(),
            destination_prefixes: vec![],
            clients: vec![],
            source_addresses: vec![],
            carriers: vec!["backup".into()],
            weights: None,
            throughput: None,
            max_queue: NonZeroUsize::new(1_000_000).unwrap(),
        };
        assert_eq!(config.routes, [uk, rest]);
        assert_eq!(
            config.mo_routes,
            [MoRouteConfig {
                destinations: vec![
                    AddressPattern::Exact("88000".into()),
                    AddressPattern::Prefix("4470".into()),
                ],
                client: "shop".into(),
            }]
        );
    }

    #[test]
    fn default_transient_statuses_are_sorted_and_checked() {
        let config = Config::parse(CARRIER).unwrap();
        let sim = &config.carriers[0];
        assert!(DEFAULT_TRANSIENT_STATUSES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sim.transient_statuses, DEFAULT_TRANSIENT_STATUSES);
        assert!(sim.is_transient(CommandStatus::ESME_RTHROTTLED));
        assert!(sim.is_transient(CommandStatus::ESME_RX_T_APPN));
        assert!(!sim.is_transient(CommandStatus::ESME_RINVDSTADR));
        assert!(!sim.is_transient(CommandStatus::ESME_RX_P_APPN));
        // An empty list: every error is permanent.
        let config = Config::parse(&format!("{CARRIER}transient_statuses = []\n")).unwrap();
        assert!(!config.carriers[0].is_transient(CommandStatus::ESME_RTHROTTLED));
    }

    #[test]
    fn clients_without_routes_are_valid() {
        let config = Config::parse(&format!("{CLIENT}{CARRIER}")).unwrap();
        assert!(config.routes.is_empty() && config.mo_routes.is_empty());
    }

    #[test]
    fn carrier_required_keys() {
        let problems = problems("[[carriers]]\nport = 2776\n");
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "carriers[0].name",
                "carriers[0].host",
                "carriers[0].system_id",
                "carriers[0].password"
            ]
        );
        assert!(problems.iter().all(|p| p.reason == "required"));
    }

    #[test]
    fn carrier_name_rules() {
        one_problem(
            &CARRIER.replace("\"sim\"", "\"sim one\""),
            "carriers[0].name",
            "only letters, digits",
        );
        one_problem(
            &CARRIER.replace("\"sim\"", &format!("\"{}\"", "a".repeat(33))),
            "carriers[0].name",
            "1–32 characters",
        );
        one_problem(
            &CARRIER.replace("\"sim\"", "\"\""),
            "carriers[0].name",
            "1–32",
        );
    }

    #[test]
    fn duplicate_carrier_names() {
        let text = format!("{CARRIER}{CARRIER}");
        one_problem(&text, "carriers[1].name", "also carriers[0].name");
    }

    #[test]
    fn carrier_host_and_port() {
        one_problem(
            &CARRIER.replace("127.0.0.1", "smsc example"),
            "carriers[0].host",
            "not a hostname or IP address",
        );
        one_problem(
            &CARRIER.replace("127.0.0.1", "[::1]"),
            "carriers[0].host",
            "not a hostname",
        );
        assert!(Config::parse(&CARRIER.replace("127.0.0.1", "::1")).is_ok());
        assert!(Config::parse(&CARRIER.replace("127.0.0.1", "smsc.example.com")).is_ok());
        one_problem(
            &format!("{CARRIER}port = 0\n"),
            "carriers[0].port",
            "1–65535, not 0",
        );
        one_problem(
            &format!("{CARRIER}port = 65536\n"),
            "carriers[0].port",
            "1–65535",
        );
    }

    #[test]
    fn carrier_bind_fields_have_smpp_lengths() {
        one_problem(
            &CARRIER.replace("\"smppd\"", "\"abcdefghijklmnop\""),
            "carriers[0].system_id",
            "at most 15",
        );
        let problems = problems(&CARRIER.replace("\"secret\"", "\"secret123\""));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "carriers[0].password");
        assert!(problems[0].reason.contains("at most 8"), "{problems:?}");
        assert!(!problems[0].reason.contains("secret123"), "{problems:?}");
        one_problem(
            &format!("{CARRIER}system_type = \"abcdefghijklm\"\n"),
            "carriers[0].system_type",
            "at most 12",
        );
        one_problem(
            &format!("{CARRIER}address_range = \"{}\"\n", "1".repeat(41)),
            "carriers[0].address_range",
            "at most 40",
        );
        assert!(Config::parse(&CARRIER.replace("\"secret\"", "\"\"")).is_ok());
    }

    #[test]
    fn carrier_bind_and_receipt_id_format_words() {
        one_problem(
            &format!("{CARRIER}bind = \"transmitter\"\n"),
            "carriers[0].bind",
            "expected transceiver or pair",
        );
        one_problem(
            &format!("{CARRIER}receipt_id_format = \"octal\"\n"),
            "carriers[0].receipt_id_format",
            "expected auto, hex or decimal",
        );
        one_problem(
            &format!("{CARRIER}registered_delivery = \"never\"\n"),
            "carriers[0].registered_delivery",
            "expected always or requested",
        );
    }

    #[test]
    fn what_a_carrier_is_asked_for_in_registered_delivery() {
        let mut carrier = Config::parse(CARRIER).unwrap().carriers[0].clone();
        let asked = |c: &CarrierConfig| {
            [0x00, 0x01, 0x02, 0x10, 0x11, 0x20, 0x12].map(|asked| c.registered_delivery_for(asked))
        };
        // The default: a final receipt always, intermediate notifications passed on.
        assert_eq!(asked(&carrier), [0x01, 0x01, 0x01, 0x11, 0x11, 0x11, 0x11]);
        carrier.intermediate_notifications = false;
        assert_eq!(asked(&carrier), [0x01; 7]);
        carrier.registered_delivery = ReceiptRequest::Requested;
        assert_eq!(asked(&carrier), [0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x01]);
        carrier.intermediate_notifications = true;
        assert_eq!(asked(&carrier), [0x00, 0x01, 0x01, 0x11, 0x11, 0x11, 0x11]);
    }

    #[test]
    fn carrier_limits() {
        let case = |extra: &str, key: &str, needle: &str| {
            one_problem(&format!("{CARRIER}{extra}\n"), key, needle);
        };
        case("sessions = 0", "carriers[0].sessions", "1–64, not 0");
        case("sessions = 65", "carriers[0].sessions", "1–64");
        case("window = 0", "carriers[0].window", "1–1024");
        case("window = 1025", "carriers[0].window", "1–1024");
        case("throughput = 0", "carriers[0].throughput", "at least 1");
        case("max_attempts = 0", "carriers[0].max_attempts", "at least 1");
        case(
            "response_timeout = \"0s\"",
            "carriers[0].response_timeout",
            "greater than zero",
        );
        case(
            "enquire_link_interval = \"soon\"",
            "carriers[0].enquire_link_interval",
            "not a duration",
        );
    }

    #[test]
    fn reconnect_min_at_most_max() {
        one_problem(
            &format!("{CARRIER}reconnect_min = \"2m\"\nreconnect_max = \"1m\"\n"),
            "carriers[0].reconnect_max",
            "at least reconnect_min (2m), not 1m",
        );
        // Equal is fine: a fixed delay.
        assert!(Config::parse(&format!(
            "{CARRIER}reconnect_min = \"5s\"\nreconnect_max = \"5s\"\n"
        ))
        .is_ok());
    }

    #[test]
    fn retry_min_at_most_max() {
        one_problem(
            &format!("{CARRIER}retry_min = \"1h\"\n"),
            "carriers[0].retry_max",
            "at least retry_min (1h), not 10m",
        );
    }

    #[test]
    fn ton_and_npi_must_be_spec_values() {
        one_problem(
            &format!("{CARRIER}default_source_ton = 7\n"),
            "carriers[0].default_source_ton",
            "not an SMPP 3.4 TON",
        );
        one_problem(
            &format!("{CARRIER}default_dest_npi = 2\n"),
            "carriers[0].default_dest_npi",
            "not an SMPP 3.4 NPI",
        );
        one_problem(
            &format!("{CARRIER}default_dest_ton = -1\n"),
            "carriers[0].default_dest_ton",
            "TON",
        );
    }

    #[test]
    fn transient_statuses_names_and_numbers() {
        one_problem(
            &format!("{CARRIER}transient_statuses = [\"ESME_RSYSERR\", \"ESME_RBOGUS\"]\n"),
            "carriers[0].transient_statuses[1]",
            "`ESME_RBOGUS` is not a command_status name",
        );
        one_problem(
            &format!("{CARRIER}transient_statuses = [0]\n"),
            "carriers[0].transient_statuses[0]",
            "ESME_ROK",
        );
        one_problem(
            &format!("{CARRIER}transient_statuses = [-1]\n"),
            "carriers[0].transient_statuses[0]",
            "not a command_status",
        );
        one_problem(
            &format!("{CARRIER}transient_statuses = [true]\n"),
            "carriers[0].transient_statuses[0]",
            "command_status number",
        );
    }

    #[test]
    fn carrier_tls_files_must_exist() {
        let dir = TempDir::new();
        let missing = dir.0.path().join("nope.pem");
        one_problem(
            &format!("{CARRIER}[carriers.tls]\nca = {missing:?}\n"),
            "carriers[0].tls.ca",
            "cannot read",
        );
        let cert = dir.file("c.pem", "cert");
        one_problem(
            &format!("{CARRIER}[carriers.tls]\nclient_cert = {cert:?}\nclient_key = {missing:?}\n"),
            "carriers[0].tls.client_key",
            "cannot read",
        );
    }

    #[test]
    fn client_cert_and_key_both_or_neither() {
        let dir = TempDir::new();
        let cert = dir.file("c.pem", "cert");
        one_problem(
            &format!("{CARRIER}[carriers.tls]\nclient_cert = {cert:?}\n"),
            "carriers[0].tls.client_key",
            "required when client_cert is set",
        );
        one_problem(
            &format!("{CARRIER}[carriers.tls]\nclient_key = {cert:?}\n"),
            "carriers[0].tls.client_cert",
            "required when client_key is set",
        );
    }

    #[test]
    fn carrier_tls_server_name() {
        one_problem(
            &format!("{CARRIER}[carriers.tls]\nserver_name = \"not a name\"\n"),
            "carriers[0].tls.server_name",
            "not a DNS name or IP address",
        );
        let config = Config::parse(&format!("{CARRIER}[carriers.tls]\n")).unwrap();
        let tls = config.carriers[0].tls.as_ref().unwrap();
        assert_eq!(tls.server_name, "127.0.0.1", "defaults to host");
    }

    #[test]
    fn unknown_carrier_key() {
        one_problem(
            &format!("{CARRIER}{CARRIER}windw = 3\n").replacen("\"sim\"", "\"a\"", 1),
            "carriers[1].windw",
            "unknown key",
        );
        one_problem(
            &format!("{CARRIER}[carriers.tls]\ncert = \"x\"\n"),
            "carriers[0].tls.cert",
            "unknown key",
        );
    }

    /// `CLIENT` and `CARRIER`, a carrier `backup`, and `routes` after them.
    fn with_routes(routes: &str) -> String {
        let backup = CARRIER.replace("\"sim\"", "\"backup\"");
        format!("{CLIENT}{CARRIER}{backup}{routes}")
    }

    #[test]
    fn route_requires_name_and_carriers() {
        let problems = problems(&with_routes("[[routes]]\nthroughput = 5\n"));
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["routes[0].name", "routes[0].carriers"],
            "{problems:?}"
        );
        one_problem(
            &with_routes("[[routes]]\nname = \"r\"\ncarriers = []\n"),
            "routes[0].carriers",
            "empty",
        );
        one_problem(
            &with_routes("[[routes]]\nname = \"a b\"\ncarriers = [\"sim\"]\n"),
            "routes[0].name",
            "only letters",
        );
    }

    #[test]
    fn route_names_an_unknown_carrier() {
        one_problem(
            &with_routes("[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"bakcup\"]\n"),
            "routes[0].carriers[1]",
            "no carrier named `bakcup`",
        );
        let problem = &problems(&with_routes(
            "[[routes]]\nname = \"r\"\ncarriers = [\"bakcup\"]\n",
        ))[0];
        assert_eq!(
            problem.to_string(),
            "routes[0].carriers[0]: no carrier named `bakcup` in [[carriers]]"
        );
    }

    #[test]
    fn route_lists_a_carrier_twice() {
        one_problem(
            &with_routes("[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"backup\", \"sim\"]\n"),
            "routes[0].carriers[2]",
            "also routes[0].carriers[0]",
        );
    }

    #[test]
    fn route_names_an_unknown_client() {
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\nclients = [\"shop\", \"crm\"]\ncarriers = [\"sim\"]\n",
            ),
            "routes[0].clients[1]",
            "no client with system_id `crm`",
        );
    }

    #[test]
    fn a_bad_carrier_key_does_not_make_its_routes_wrong() {
        // The carrier exists, with a bad window: one problem, at the window.
        let text = with_routes("[[routes]]\nname = \"r\"\ncarriers = [\"sim\"]\n").replacen(
            "password = \"secret\"\n",
            "password = \"secret\"\nwindow = 0\n",
            1,
        );
        one_problem(&text, "carriers[0].window", "1–1024");
    }

    #[test]
    fn duplicate_route_names() {
        let text = with_routes(
            "[[routes]]\nname = \"r\"\nclients = [\"shop\"]\ncarriers = [\"sim\"]\n\
             [[routes]]\nname = \"r\"\ncarriers = [\"sim\"]\n",
        );
        one_problem(&text, "routes[1].name", "also routes[0].name");
    }

    #[test]
    fn route_after_a_catch_all_is_never_used() {
        let text = with_routes(
            "[[routes]]\nname = \"all\"\ncarriers = [\"sim\"]\n\
             [[routes]]\nname = \"uk\"\ndestination_prefixes = [\"44\"]\ncarriers = [\"sim\"]\n",
        );
        one_problem(&text, "routes[1]", "never used: routes[0] (`all`)");
    }

    #[test]
    fn route_destination_prefixes() {
        let config = Config::parse(&with_routes(
            "[[routes]]\nname = \"r\"\ndestination_prefixes = [\"+44\", \"353\"]\n\
             carriers = [\"sim\"]\n",
        ))
        .unwrap();
        assert_eq!(config.routes[0].destination_prefixes, ["44", "353"]);
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\ndestination_prefixes = [\"44\", \"4a\"]\n\
                 carriers = [\"sim\"]\n",
            ),
            "routes[0].destination_prefixes[1]",
            "not a number prefix",
        );
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\ndestination_prefixes = [\"+\"]\ncarriers = [\"sim\"]\n",
            ),
            "routes[0].destination_prefixes[0]",
            "not a number prefix",
        );
    }

    #[test]
    fn route_source_addresses() {
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\nsource_addresses = [\"4*4\"]\ncarriers = [\"sim\"]\n",
            ),
            "routes[0].source_addresses[0]",
            "`*` may only end",
        );
    }

    #[test]
    fn route_weights() {
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"backup\"]\nweights = [1]\n",
            ),
            "routes[0].weights",
            "1 weights for 2 carriers",
        );
        // Also when a carrier name is bad: both problems.
        let problems = problems(&with_routes(
            "[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"bakcup\"]\nweights = [1]\n",
        ));
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["routes[0].carriers[1]", "routes[0].weights"]);
        one_problem(
            &with_routes(
                "[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"backup\"]\nweights = [1, 0]\n",
            ),
            "routes[0].weights[1]",
            "at least 1",
        );
        one_problem(
            &with_routes("[[routes]]\nname = \"r\"\ncarriers = [\"sim\"]\nthroughput = 0\n"),
            "routes[0].throughput",
            "at least 1",
        );
    }

    #[test]
    fn mo_route_rules() {
        let mo = |body: &str| with_routes(&format!("[[mo_routes]]\n{body}"));
        let problems = problems(&mo("\n"));
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["mo_routes[0].destinations", "mo_routes[0].client"]);
        one_problem(
            &mo("destinations = []\nclient = \"shop\"\n"),
            "mo_routes[0].destinations",
            "empty",
        );
        one_problem(
            &mo("destinations = [\"88000\", \"8*8\"]\nclient = \"shop\"\n"),
            "mo_routes[0].destinations[1]",
            "`*` may only end",
        );
        one_problem(
            &mo("destinations = [\"88000\"]\nclient = \"crm\"\n"),
            "mo_routes[0].client",
            "no client with system_id `crm`",
        );
    }

    #[test]
    fn mo_route_client_must_be_able_to_receive() {
        let text = format!(
            "{CLIENT}bind_types = [\"transmitter\"]\n\
             [[mo_routes]]\ndestinations = [\"88000\"]\nclient = \"shop\"\n"
        );
        one_problem(&text, "mo_routes[0].client", "may not bind as a receiver");
        let text = text.replace("[\"transmitter\"]", "[\"transmitter\", \"receiver\"]");
        assert!(Config::parse(&text).is_ok());
    }

    #[test]
    fn carrier_password_debug_is_redacted() {
        let config = Config::parse(CARRIER).unwrap();
        let shown = format!("{:?}", config.carriers[0]);
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(config.carriers[0].password.expose(), "secret");
    }

    #[test]
    fn password_debug_is_redacted() {
        let shown = format!("{:?}", Password::Plain("demopass".into()));
        assert!(!shown.contains("demopass"), "{shown}");
    }

    fn net(text: &str, prefix: u8) -> IpNet {
        IpNet {
            addr: text.parse().unwrap(),
            prefix,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ip_net_contains_v4() {
        let ten = net("10.0.0.0", 8);
        assert!(ten.contains(ip("10.0.0.1")));
        assert!(ten.contains(ip("10.255.255.255")));
        assert!(!ten.contains(ip("11.0.0.0")));
        assert!(!ten.contains(ip("9.255.255.255")));
        // Host bits in the network address do not matter.
        assert!(net("192.168.1.77", 24).contains(ip("192.168.1.1")));
    }

    #[test]
    fn ip_net_contains_single_address_and_everything() {
        let host = net("127.0.0.1", 32);
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
        let all_v4 = net("0.0.0.0", 0);
        assert!(all_v4.contains(ip("1.2.3.4")));
        assert!(all_v4.contains(ip("255.255.255.255")));
        assert!(
            !all_v4.contains(ip("::1")),
            "a v4 network holds no v6 address"
        );
        let all_v6 = net("::", 0);
        assert!(all_v6.contains(ip("2001:db8::1")));
        assert!(
            !all_v6.contains(ip("1.2.3.4")),
            "a v6 network holds no v4 address"
        );
    }

    #[test]
    fn ip_net_contains_v6() {
        let loopback = net("::1", 128);
        assert!(loopback.contains(ip("::1")));
        assert!(!loopback.contains(ip("::2")));
        let doc = net("2001:db8::", 32);
        assert!(doc.contains(ip("2001:db8:ffff::1")));
        assert!(!doc.contains(ip("2001:db9::1")));
        assert!(!doc.contains(ip("127.0.0.1")));
    }

    #[test]
    fn ip_net_contains_mapped_v4() {
        // A peer on a dual-stack socket shows up as ::ffff:a.b.c.d.
        assert!(net("10.0.0.0", 8).contains(ip("::ffff:10.1.2.3")));
        assert!(!net("10.0.0.0", 8).contains(ip("::ffff:11.1.2.3")));
        assert!(net("127.0.0.1", 32).contains(ip("::ffff:127.0.0.1")));
        // And a mapped network holds the plain v4 addresses it maps.
        assert!(net("::ffff:10.0.0.0", 104).contains(ip("10.9.9.9")));
        assert!(!net("::ffff:10.0.0.0", 104).contains(ip("11.9.9.9")));
        // A prefix past the width is the full width, never a panic.
        assert!(net("1.2.3.4", 40).contains(ip("1.2.3.4")));
        assert!(!net("1.2.3.4", 40).contains(ip("1.2.3.5")));
    }

    #[test]
    fn address_pattern_matches() {
        let exact = AddressPattern::Exact("Shop".into());
        assert!(exact.matches("Shop"));
        assert!(!exact.matches("shop"));
        assert!(!exact.matches("Shops"));
        let prefix = AddressPattern::Prefix("4477".into());
        assert!(prefix.matches("4477"));
        assert!(prefix.matches("447700900123"));
        assert!(!prefix.matches("447"));
        assert!(!prefix.matches("34477"));
        assert!(AddressPattern::Prefix(String::new()).matches("anything"));
    }

    #[test]
    fn admin_defaults_to_loopback_without_token() {
        let admin = Config::parse("").unwrap().admin;
        assert!(admin.enabled);
        assert_eq!(
            admin.listen,
            "127.0.0.1:8775".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(admin.token, None);
        assert!(!admin.metrics_open);
    }

    #[test]
    fn admin_off_loopback_needs_a_token() {
        one_problem(
            "[admin]\nlisten = \"0.0.0.0:8775\"\n",
            "admin.token",
            "not a loopback address",
        );
        // Disabled, nothing listens: no token needed.
        assert!(Config::parse("[admin]\nenabled = false\nlisten = \"0.0.0.0:8775\"\n").is_ok());
        assert!(Config::parse("[admin]\nlisten = \"[::1]:8775\"\n").is_ok());
        one_problem(
            "[admin]\nlisten = \"localhost:8775\"\n",
            "admin.listen",
            "not a socket address",
        );
    }

    #[test]
    fn admin_token_rules() {
        let problems = problems("[admin]\ntoken = \"short\"\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "admin.token");
        assert!(problems[0].reason.contains("at least 16"), "{problems:?}");
        assert!(!problems[0].reason.contains("short"), "{problems:?}");
        one_problem(
            "[admin]\ntoken = \"0123456789 abcdef0123\"\n",
            "admin.token",
            "no spaces",
        );
    }

    #[test]
    fn admin_token_file() {
        let dir = TempDir::new();
        let file = dir.file("token", "0123456789abcdef0123\n");
        let text = format!("[admin]\nlisten = \"0.0.0.0:0\"\ntoken_file = {file:?}\n");
        let admin = Config::parse(&text).unwrap().admin;
        assert_eq!(admin.token, Some(Secret::new("0123456789abcdef0123")));
        assert_eq!(format!("{:?}", admin.token), "Some(Secret(<redacted>))");

        let missing = dir.0.path().join("nope");
        let text = format!("[admin]\ntoken_file = {missing:?}\n");
        one_problem(&text, "admin.token_file", "cannot read");
        let short = dir.file("short", "abc\n");
        let text = format!("[admin]\ntoken_file = {short:?}\n");
        one_problem(&text, "admin.token_file", "at least 16");
        let text = format!("[admin]\ntoken = \"0123456789abcdef0123\"\ntoken_file = {file:?}\n");
        one_problem(&text, "admin.token_file", "not both");
    }

    #[test]
    fn log_format_and_level() {
        assert_eq!(Config::parse("").unwrap().log, LogConfig::default());
        one_problem("[log]\nformat = \"xml\"\n", "log.format", "human or json");
        one_problem("[log]\nlevel = \"loud\"\n", "log.level", "not a log level");
        let config = Config::parse("[log]\nlevel = \"debug\"\n").unwrap();
        assert_eq!(config.log.level, "debug");
    }
}
