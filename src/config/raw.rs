//! The TOML file as written: serde structs that mirror it key for key, each default written
//! once (in the `Default` impls below, shown in `config.example.toml`), and the one conversion
//! into the validated [`Config`] that reports every problem with its key path.

use super::{
    AddressPattern, AdminConfig, BindTypes, CarrierBind, CarrierConfig, CarrierTls, ClientAuth,
    ClientConfig, Config, ConfigError, ConfigErrors, Durability, IdFormat, IpNet, LogConfig,
    LogFormat, MoRouteConfig, Password, ReceiptRequest, RouteConfig, Secret, ServerConfig,
    SessionConfig, SimulatorSection, StoreConfig, TlsConfig, DEFAULT_TRANSIENT_STATUSES,
};
use serde::{Deserialize, Deserializer};
use smpp_proto::CommandStatus;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// `system_id` is a C-Octet String of at most 16 octets with its NUL (SMPP 3.4 §4.1.1).
const SYSTEM_ID_MAX: usize = 15;
/// `password` is a C-Octet String of at most 9 octets with its NUL (SMPP 3.4 §4.1.1).
const PASSWORD_MAX: usize = 8;
/// `source_addr` and `destination_addr` are C-Octet Strings of at most 21 octets with their
/// NUL (SMPP 3.4 §4.4.1).
const ADDR_MAX: usize = 20;
/// `system_type` is a C-Octet String of at most 13 octets with its NUL (SMPP 3.4 §4.1.1).
const SYSTEM_TYPE_MAX: usize = 12;
/// `address_range` is a C-Octet String of at most 41 octets with its NUL (SMPP 3.4 §4.1.1).
const ADDRESS_RANGE_MAX: usize = 40;
/// Longest carrier or route name: it labels metrics and names queues in the admin API.
const NAME_MAX: usize = 32;
/// Most session slots of one carrier link.
const SESSIONS_MAX: i64 = 64;
/// TON values SMPP 3.4 defines (§5.2.5).
const TONS: &[u8] = &[0, 1, 2, 3, 4, 5, 6];
/// NPI values SMPP 3.4 defines (§5.2.6).
const NPIS: &[u8] = &[0, 1, 3, 4, 6, 8, 9, 10, 14, 18];
/// Smallest `max_pdu_bytes`: room for a submit_sm with a full short message and TLVs.
const MAX_PDU_BYTES_MIN: i64 = 4096;
/// Largest `max_pdu_bytes`: a peer's PDU is buffered whole before it is decoded.
const MAX_PDU_BYTES_MAX: i64 = 1024 * 1024;
/// Largest `window`.
const WINDOW_MAX: i64 = 1024;
const BIND_TYPE_WORDS: &str = "transmitter, receiver, transceiver";

/// The whole file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    server: RawServer,
    store: RawStore,
    clients: Vec<RawClient>,
    carriers: Vec<RawCarrier>,
    routes: Vec<RawRoute>,
    mo_routes: Vec<RawMoRoute>,
    admin: RawAdmin,
    log: RawLog,
    simulator: RawSimulator,
}

/// `[simulator]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSimulator {
    enabled: bool,
    listen: String,
    receipt_delay: String,
    delivered_percent: i64,
    window: i64,
}

impl Default for RawSimulator {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:2776".to_owned(),
            receipt_delay: "1s".to_owned(),
            delivered_percent: 100,
            // Twice the example's link window: the simulator is never the bottleneck.
            window: 200,
        }
    }
}

/// `[server]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    system_id: String,
    listen: Vec<String>,
    max_pdu_bytes: i64,
    max_connections: i64,
    max_connections_per_ip: i64,
    tls: Option<RawTls>,
    session: RawSession,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            system_id: "smppd".to_owned(),
            listen: vec!["127.0.0.1:2775".to_owned()],
            // 64 KiB of short message (message_payload) plus headers and TLVs.
            max_pdu_bytes: 71_680,
            max_connections: 1024,
            max_connections_per_ip: 64,
            tls: None,
            session: RawSession::default(),
        }
    }
}

/// `[server.tls]`: no defaults; `cert` and `key` are required.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    listen: Vec<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// `[server.session]`: humantime durations ("30s", "5m", "250ms").
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSession {
    session_init_timeout: String,
    enquire_link_interval: String,
    inactivity_timeout: String,
    response_timeout: String,
    bind_failure_delay: String,
    unbind_timeout: String,
}

impl Default for RawSession {
    fn default() -> Self {
        Self {
            session_init_timeout: "30s".to_owned(),
            enquire_link_interval: "30s".to_owned(),
            inactivity_timeout: "300s".to_owned(),
            response_timeout: "30s".to_owned(),
            bind_failure_delay: "1s".to_owned(),
            unbind_timeout: "5s".to_owned(),
        }
    }
}

/// `[store]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    path: PathBuf,
    durability: String,
    max_batch: i64,
    cache_bytes: i64,
    retention: String,
    min_free_space: RawSize,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            path: PathBuf::from("smppd-data"),
            durability: "durable".to_owned(),
            max_batch: 1024,
            cache_bytes: 64 * 1024 * 1024,
            retention: "7d".to_owned(),
            // The reserve for messages already accepted (dispatch, receipts, the checkpoint's
            // second copy, sled's segments): see `store/space.rs` for the sums.
            min_free_space: RawSize::Text("1GiB".to_owned()),
        }
    }
}

/// A size: a string with a unit ("256MiB", "1 GB") or a number of bytes.
enum RawSize {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    /// By hand rather than `untagged`, whose error names neither form.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size like \"1GiB\" or a number of bytes")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[admin]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    enabled: bool,
    listen: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    metrics_open: bool,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            enabled: true,
            // 8775: the SMPP port's neighbourhood, free of the usual suspects.
            listen: "127.0.0.1:8775".to_owned(),
            token: None,
            token_file: None,
            metrics_open: false,
        }
    }
}

/// `[log]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "human".to_owned(),
            level: "info".to_owned(),
        }
    }
}

/// `[[clients]]`: `system_id` and `password` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClient {
    system_id: Option<String>,
    password: Option<String>,
    bind_types: Vec<String>,
    max_binds: i64,
    window: i64,
    throughput: Option<i64>,
    allowed_sources: Vec<String>,
    allowed_ips: Vec<String>,
    max_outbox: i64,
}

impl Default for RawClient {
    fn default() -> Self {
        Self {
            system_id: None,
            password: None,
            bind_types: ["transmitter", "receiver", "transceiver"]
                .map(str::to_owned)
                .to_vec(),
            max_binds: 4,
            window: 64,
            throughput: None,
            allowed_sources: Vec::new(),
            allowed_ips: Vec::new(),
            max_outbox: 100_000,
        }
    }
}

/// `[[carriers]]`: `name`, `host`, `system_id` and `password` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCarrier {
    name: Option<String>,
    host: Option<String>,
    port: i64,
    system_id: Option<String>,
    password: Option<String>,
    system_type: String,
    address_range: String,
    bind: String,
    sessions: i64,
    window: i64,
    throughput: Option<i64>,
    enquire_link_interval: String,
    response_timeout: String,
    reconnect_min: String,
    reconnect_max: String,
    default_source_ton: Option<i64>,
    default_source_npi: Option<i64>,
    default_dest_ton: Option<i64>,
    default_dest_npi: Option<i64>,
    receipt_id_format: String,
    registered_delivery: String,
    intermediate_notifications: bool,
    max_attempts: i64,
    retry_min: String,
    retry_max: String,
    transient_statuses: Vec<RawStatus>,
    tls: Option<RawCarrierTls>,
}

impl Default for RawCarrier {
    fn default() -> Self {
        Self {
            name: None,
            host: None,
            // The port IANA registers for SMPP.
            port: 2775,
            system_id: None,
            password: None,
            system_type: String::new(),
            address_range: String::new(),
            bind: "transceiver".to_owned(),
            sessions: 1,
            window: 10,
            throughput: None,
            enquire_link_interval: "30s".to_owned(),
            response_timeout: "30s".to_owned(),
            reconnect_min: "1s".to_owned(),
            reconnect_max: "60s".to_owned(),
            default_source_ton: None,
            default_source_npi: None,
            default_dest_ton: None,
            default_dest_npi: None,
            receipt_id_format: "auto".to_owned(),
            registered_delivery: "always".to_owned(),
            intermediate_notifications: true,
            max_attempts: 5,
            retry_min: "5s".to_owned(),
            retry_max: "10m".to_owned(),
            transient_statuses: DEFAULT_TRANSIENT_STATUSES
                .iter()
                .map(|s| RawStatus::Code(i64::from(s.0)))
                .collect(),
            tls: None,
        }
    }
}

/// A `command_status` as written: a number (`88`, `0x58`) or a name (`"ESME_RTHROTTLED"`,
/// `"RTHROTTLED"`, `"0x58"`).
enum RawStatus {
    Code(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawStatus;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a command_status number (0x58) or name (\"ESME_RTHROTTLED\")")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawStatus, E> {
                Ok(RawStatus::Code(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawStatus, E> {
                Ok(RawStatus::Name(v.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[carriers.tls]`: every key optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCarrierTls {
    ca: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    server_name: Option<String>,
}

/// `[[routes]]`: `name` and `carriers` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRoute {
    name: Option<String>,
    destination_prefixes: Vec<String>,
    clients: Vec<String>,
    source_addresses: Vec<String>,
    carriers: Option<Vec<String>>,
    weights: Option<Vec<i64>>,
    throughput: Option<i64>,
    max_queue: i64,
}

impl Default for RawRoute {
    fn default() -> Self {
        Self {
            name: None,
            destination_prefixes: Vec::new(),
            clients: Vec::new(),
            source_addresses: Vec::new(),
            carriers: None,
            weights: None,
            throughput: None,
            max_queue: 1_000_000,
        }
    }
}

/// `[[mo_routes]]`: both keys are required.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMoRoute {
    destinations: Option<Vec<String>>,
    client: Option<String>,
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigErrors;

    /// Checks everything and reports every problem, not just the first.
    fn try_from(raw: RawConfig) -> Result<Self, ConfigErrors> {
        let mut problems = Problems::default();
        // What routes may refer to, taken from the raw tables so that one bad key in a client
        // or carrier does not also make every route naming it wrong.
        let known = Known::new(&raw.clients, &raw.carriers);
        let server = server(raw.server, &mut problems);
        let store = store(raw.store, &mut problems);
        let clients = clients(raw.clients, &mut problems);
        let carriers = carriers(raw.carriers, &mut problems);
        let routes = routes(raw.routes, &known, &mut problems);
        let mo_routes = mo_routes(raw.mo_routes, &known, &mut problems);
        let admin = admin(raw.admin, &mut problems);
        let log = log(raw.log, &mut problems);
        let simulator = simulator(raw.simulator, &mut problems);
        match (
            server, store, clients, carriers, routes, mo_routes, admin, log, simulator,
        ) {
            (
                Some(server),
                Some(store),
                Some(clients),
                Some(carriers),
                Some(routes),
                Some(mo_routes),
                Some(admin),
                Some(log),
                Some(simulator),
            ) if problems.0.is_empty() => Ok(Self {
                server,
                store,
                clients,
                carriers,
                routes,
                mo_routes,
                admin,
                log,
                simulator,
            }),
            _ if problems.0.is_empty() => {
                // Every `None` above comes with its problem; should one not, still refuse.
                Err(ConfigErrors::one(ConfigError::new(
                    "",
                    "invalid configuration",
                )))
            }
            _ => Err(ConfigErrors(problems.0)),
        }
    }
}

/// The problems found so far. Each check records its problem here and returns `None`, so
/// that a section is built only when all its keys are good, and every key is looked at.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError::new(key, reason));
    }

    /// `Ok` → `Some`; `Err(reason)` → a problem at `key`.
    fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.add(key, reason)).ok()
    }

    /// Every item of a list, each checked under `key[i]`; `None` if any is bad.
    fn list<T, U>(
        &mut self,
        key: &str,
        items: &[T],
        check: impl Fn(&T) -> Result<U, String>,
    ) -> Option<Vec<U>> {
        let checked: Vec<Option<U>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.check(&format!("{key}[{i}]"), check(item)))
            .collect();
        checked.into_iter().collect()
    }
}

fn server(raw: RawServer, p: &mut Problems) -> Option<ServerConfig> {
    let system_id = p.check("server.system_id", system_id(&raw.system_id));
    let listen = p.list("server.listen", &raw.listen, |a| socket_addr(a));
    let tls = raw.tls.map(|raw_tls| tls(raw_tls, p));
    let max_pdu_bytes = p.check(
        "server.max_pdu_bytes",
        usize_in(
            raw.max_pdu_bytes,
            MAX_PDU_BYTES_MIN,
            Some(MAX_PDU_BYTES_MAX),
        ),
    );
    let max_connections = p.check(
        "server.max_connections",
        non_zero_usize(raw.max_connections, None),
    );
    let max_connections_per_ip = p.check(
        "server.max_connections_per_ip",
        non_zero_usize(raw.max_connections_per_ip, None),
    );
    let session = session(raw.session, p);

    if raw.listen.is_empty() && tls.is_none() {
        p.add(
            "server.listen",
            "no listeners: give at least one address, or a [server.tls] section",
        );
    }
    if let (Some(listen), Some(Some(tls))) = (&listen, &tls) {
        for (i, addr) in tls.listen.iter().enumerate() {
            // Port 0 asks the system for a free port: two of them never clash.
            if let Some(j) = listen.iter().position(|a| a == addr && a.port() != 0) {
                p.add(
                    format!("server.tls.listen[{i}]"),
                    format!("{addr} is also server.listen[{j}]"),
                );
            }
        }
    }

    Some(ServerConfig {
        system_id: system_id?,
        listen: listen?,
        tls: tls.map_or(Some(None), |tls| tls.map(Some))?,
        max_pdu_bytes: max_pdu_bytes?,
        max_connections: max_connections?,
        max_connections_per_ip: max_connections_per_ip?,
        session: session?,
    })
}

fn tls(raw: RawTls, p: &mut Problems) -> Option<TlsConfig> {
    let listen = p.list("server.tls.listen", &raw.listen, |a| socket_addr(a));
    if raw.listen.is_empty() {
        p.add(
            "server.tls.listen",
            "empty: a [server.tls] section needs at least one address",
        );
    }
    let cert = p.check("server.tls.cert", readable_file(raw.cert));
    let key = p.check("server.tls.key", readable_file(raw.key));
    Some(TlsConfig {
        listen: listen?,
        cert: cert?,
        key: key?,
    })
}

fn session(raw: RawSession, p: &mut Problems) -> Option<SessionConfig> {
    let mut duration = |name: &str, value: &str| {
        p.check(&format!("server.session.{name}"), positive_duration(value))
    };
    let session_init_timeout = duration("session_init_timeout", &raw.session_init_timeout);
    let enquire_link_interval = duration("enquire_link_interval", &raw.enquire_link_interval);
    let inactivity_timeout = duration("inactivity_timeout", &raw.inactivity_timeout);
    let response_timeout = duration("response_timeout", &raw.response_timeout);
    let bind_failure_delay = duration("bind_failure_delay", &raw.bind_failure_delay);
    let unbind_timeout = duration("unbind_timeout", &raw.unbind_timeout);

    if let (Some(inactivity), Some(enquire)) = (inactivity_timeout, enquire_link_interval) {
        // A quiet but healthy session gets an enquire_link before it counts as inactive.
        if inactivity <= enquire {
            p.add(
                "server.session.inactivity_timeout",
                format!(
                    "must be longer than enquire_link_interval ({}), not {}",
                    humantime::format_duration(enquire),
                    humantime::format_duration(inactivity),
                ),
            );
            return None;
        }
    }

    Some(SessionConfig {
        session_init_timeout: session_init_timeout?,
        enquire_link_interval: enquire_link_interval?,
        inactivity_timeout: inactivity_timeout?,
        response_timeout: response_timeout?,
        bind_failure_delay: bind_failure_delay?,
        unbind_timeout: unbind_timeout?,
    })
}

fn store(raw: RawStore, p: &mut Problems) -> Option<StoreConfig> {
    let path = if raw.path.as_os_str().is_empty() {
        p.add("store.path", "must not be empty");
        None
    } else {
        Some(raw.path)
    };
    let durability = p.check(
        "store.durability",
        match raw.durability.as_str() {
            "durable" => Ok(Durability::Durable),
            "flush" => Ok(Durability::Flush),
            "relaxed" => Ok(Durability::Relaxed),
            other => Err(format!(
                "unknown `{other}`; expected durable, flush or relaxed"
            )),
        },
    );
    let max_batch = p.check("store.max_batch", non_zero_usize(raw.max_batch, None));
    let cache_bytes = p.check(
        "store.cache_bytes",
        usize_in(raw.cache_bytes, 1024 * 1024, None).map_err(|e| format!("{e} (at least 1 MiB)")),
    );
    let retention = p.check(
        "store.retention",
        match raw.retention.as_str() {
            "off" => Ok(None),
            text => positive_duration(text)
                .map(Some)
                .map_err(|e| format!("{e}; or \"off\" to keep messages forever")),
        },
    );
    let min_free_space = p.check(
        "store.min_free_space",
        match raw.min_free_space {
            RawSize::Text(text) if text == "off" => Ok(0),
            size => byte_size(&size).map_err(|e| format!("{e}; or \"off\" to never refuse")),
        },
    );
    Some(StoreConfig {
        path: path?,
        durability: durability?,
        max_batch: max_batch?,
        cache_bytes: cache_bytes?,
        retention: retention?,
        min_free_space: min_free_space?,
        layer_age: StoreConfig::LAYER_AGE,
    })
}

fn clients(raw: Vec<RawClient>, p: &mut Problems) -> Option<Vec<ClientConfig>> {
    // system_id → index of its first client, for duplicates.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let checked: Vec<Option<ClientConfig>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            if let Some(id) = &raw.system_id {
                if let Some(first) = seen.get(id) {
                    p.add(
                        format!("clients[{i}].system_id"),
                        format!("`{id}` is also clients[{first}].system_id; each must be unique"),
                    );
                } else {
                    seen.insert(id.clone(), i);
                }
            }
            client(i, raw, p)
        })
        .collect();
    checked.into_iter().collect()
}

fn client(i: usize, raw: RawClient, p: &mut Problems) -> Option<ClientConfig> {
    let key = |name: &str| format!("clients[{i}].{name}");
    let system_id = p.check(
        &key("system_id"),
        raw.system_id
            .as_deref()
            .ok_or_else(|| "required".to_owned())
            .and_then(system_id),
    );
    let password = p.check(
        &key("password"),
        raw.password
            .ok_or_else(|| "required".to_owned())
            .and_then(password),
    );
    let bind_types = bind_types(&key("bind_types"), &raw.bind_types, p);
    let max_binds = p.check(&key("max_binds"), non_zero_u32(raw.max_binds, None));
    let window = p.check(&key("window"), non_zero_usize(raw.window, Some(WINDOW_MAX)));
    let throughput = optional_rate(&key("throughput"), raw.throughput, p);
    let allowed_sources = p.list(&key("allowed_sources"), &raw.allowed_sources, |s| {
        address_pattern(s)
    });
    let allowed_ips = p.list(&key("allowed_ips"), &raw.allowed_ips, |s| ip_net(s));
    let max_outbox = p.check(&key("max_outbox"), non_zero_usize(raw.max_outbox, None));
    Some(ClientConfig {
        system_id: system_id?,
        password: password?,
        bind_types: bind_types?,
        max_binds: max_binds?,
        window: window?,
        throughput: throughput?,
        allowed_sources: allowed_sources?,
        allowed_ips: allowed_ips?,
        max_outbox: max_outbox?,
    })
}

fn bind_types(key: &str, words: &[String], p: &mut Problems) -> Option<BindTypes> {
    if words.is_empty() {
        p.add(
            key,
            format!("empty: name at least one of {BIND_TYPE_WORDS}"),
        );
        return None;
    }
    let mut types = BindTypes {
        transmitter: false,
        receiver: false,
        transceiver: false,
    };
    let mut ok = true;
    for (i, word) in words.iter().enumerate() {
        match word.as_str() {
            "transmitter" => types.transmitter = true,
            "receiver" => types.receiver = true,
            "transceiver" => types.transceiver = true,
            other => {
                p.add(
                    format!("{key}[{i}]"),
                    format!("unknown bind type `{other}`; expected {BIND_TYPE_WORDS}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(types)
}

/// The clients and carriers that routes may name.
struct Known {
    /// Client system_id → whether it may bind as a receiver or transceiver (get MO).
    clients: HashMap<String, bool>,
    /// Carrier names.
    carriers: HashSet<String>,
}

impl Known {
    fn new(clients: &[RawClient], carriers: &[RawCarrier]) -> Self {
        let clients = clients
            .iter()
            .filter_map(|c| {
                // An empty bind_types is its own problem; do not report it again from MO.
                let receives = c.bind_types.is_empty()
                    || c.bind_types
                        .iter()
                        .any(|t| t == "receiver" || t == "transceiver");
                Some((c.system_id.clone()?, receives))
            })
            .collect();
        let carriers = carriers.iter().filter_map(|c| c.name.clone()).collect();
        Self { clients, carriers }
    }
}

/// Reports the second and later uses of each name at `{section}[i].{field}`.
fn unique_names<'a>(
    section: &str,
    field: &str,
    names: impl Iterator<Item = Option<&'a str>>,
    p: &mut Problems,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let Some(name) = name else { continue };
        match seen.get(name) {
            Some(first) => p.add(
                format!("{section}[{i}].{field}"),
                format!("`{name}` is also {section}[{first}].{field}; each must be unique"),
            ),
            None => {
                seen.insert(name, i);
            }
        }
    }
}

fn carriers(raw: Vec<RawCarrier>, p: &mut Problems) -> Option<Vec<CarrierConfig>> {
    unique_names("carriers", "name", raw.iter().map(|c| c.name.as_deref()), p);
    let checked: Vec<Option<CarrierConfig>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| carrier(i, raw, p))
        .collect();
    checked.into_iter().collect()
}

fn carrier(i: usize, raw: RawCarrier, p: &mut Problems) -> Option<CarrierConfig> {
    let key = |name: &str| format!("carriers[{i}].{name}");
    let name = p.check(&key("name"), required(raw.name).and_then(|n| name(&n)));
    let host = p.check(&key("host"), required(raw.host).and_then(|h| host(&h)));
    let port = p.check(
        &key("port"),
        in_range(raw.port, 1, Some(i64::from(u16::MAX))).and_then(|port| {
            u16::try_from(port).map_err(|_| format!("must be 1–65535, not {port}"))
        }),
    );
    let system_id = p.check(
        &key("system_id"),
        raw.system_id
            .as_deref()
            .map_or_else(|| Err("required".to_owned()), system_id),
    );
    let password = p.check(
        &key("password"),
        required(raw.password).and_then(|pw| {
            // Never quote the password in a reason.
            if !printable(&pw) {
                Err("must be printable ASCII".to_owned())
            } else if pw.len() > PASSWORD_MAX {
                Err(format!(
                    "is {} characters; SMPP 3.4 carries at most {PASSWORD_MAX}",
                    pw.len()
                ))
            } else {
                Ok(Secret::new(pw))
            }
        }),
    );
    let system_type = p.check(
        &key("system_type"),
        bind_field(&raw.system_type, SYSTEM_TYPE_MAX),
    );
    let address_range = p.check(
        &key("address_range"),
        bind_field(&raw.address_range, ADDRESS_RANGE_MAX),
    );
    let bind = p.check(
        &key("bind"),
        match raw.bind.as_str() {
            "transceiver" => Ok(CarrierBind::Transceiver),
            "pair" => Ok(CarrierBind::Pair),
            other => Err(format!("unknown `{other}`; expected transceiver or pair")),
        },
    );
    let sessions = p.check(
        &key("sessions"),
        non_zero_usize(raw.sessions, Some(SESSIONS_MAX)),
    );
    let window = p.check(&key("window"), non_zero_usize(raw.window, Some(WINDOW_MAX)));
    let throughput = optional_rate(&key("throughput"), raw.throughput, p);
    let mut duration = |name: &str, value: &str| p.check(&key(name), positive_duration(value));
    let enquire_link_interval = duration("enquire_link_interval", &raw.enquire_link_interval);
    let response_timeout = duration("response_timeout", &raw.response_timeout);
    let reconnect_min = duration("reconnect_min", &raw.reconnect_min);
    let reconnect_max = duration("reconnect_max", &raw.reconnect_max);
    let retry_min = duration("retry_min", &raw.retry_min);
    let retry_max = duration("retry_max", &raw.retry_max);
    let mut code = |name: &str, value: Option<i64>, allowed: &[u8], what: &str| match value {
        None => Some(None),
        Some(v) => p
            .check(&key(name), address_code(v, allowed, what))
            .map(Some),
    };
    let default_source_ton = code("default_source_ton", raw.default_source_ton, TONS, "TON");
    let default_source_npi = code("default_source_npi", raw.default_source_npi, NPIS, "NPI");
    let default_dest_ton = code("default_dest_ton", raw.default_dest_ton, TONS, "TON");
    let default_dest_npi = code("default_dest_npi", raw.default_dest_npi, NPIS, "NPI");
    let receipt_id_format = p.check(
        &key("receipt_id_format"),
        match raw.receipt_id_format.as_str() {
            "auto" => Ok(IdFormat::Auto),
            "hex" => Ok(IdFormat::Hex),
            "decimal" => Ok(IdFormat::Decimal),
            other => Err(format!("unknown `{other}`; expected auto, hex or decimal")),
        },
    );
    let registered_delivery = p.check(
        &key("registered_delivery"),
        match raw.registered_delivery.as_str() {
            "always" => Ok(ReceiptRequest::Always),
            "requested" => Ok(ReceiptRequest::Requested),
            other => Err(format!("unknown `{other}`; expected always or requested")),
        },
    );
    let max_attempts = p.check(&key("max_attempts"), non_zero_u32(raw.max_attempts, None));
    let transient_statuses = p
        .list(&key("transient_statuses"), &raw.transient_statuses, status)
        .map(|mut statuses| {
            statuses.sort_unstable();
            statuses.dedup();
            statuses
        });
    let tls = match raw.tls {
        None => Some(None),
        Some(tls) => carrier_tls(&key("tls"), tls, host.as_deref(), p).map(Some),
    };

    at_most(
        &key("reconnect_max"),
        "reconnect_min",
        reconnect_min,
        reconnect_max,
        p,
    );
    at_most(&key("retry_max"), "retry_min", retry_min, retry_max, p);

    let (reconnect_min, reconnect_max) = (reconnect_min?, reconnect_max?);
    let (retry_min, retry_max) = (retry_min?, retry_max?);
    if reconnect_min > reconnect_max || retry_min > retry_max {
        return None;
    }
    Some(CarrierConfig {
        name: name?,
        host: host?,
        port: port?,
        system_id: system_id?,
        password: password?,
        system_type: system_type?,
        address_range: address_range?,
        bind: bind?,
        sessions: sessions?,
        window: window?,
        throughput: throughput?,
        enquire_link_interval: enquire_link_interval?,
        response_timeout: response_timeout?,
        reconnect_min,
        reconnect_max,
        default_source_ton: default_source_ton?,
        default_source_npi: default_source_npi?,
        default_dest_ton: default_dest_ton?,
        default_dest_npi: default_dest_npi?,
        receipt_id_format: receipt_id_format?,
        registered_delivery: registered_delivery?,
        intermediate_notifications: raw.intermediate_notifications,
        max_attempts: max_attempts?,
        retry_min,
        retry_max,
        transient_statuses: transient_statuses?,
        tls: tls?,
    })
}

/// Reports `max_key` when both durations are known and `max < min`.
fn at_most(
    max_key: &str,
    min_name: &str,
    min: Option<Duration>,
    max: Option<Duration>,
    p: &mut Problems,
) {
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            p.add(
                max_key,
                format!(
                    "must be at least {min_name} ({}), not {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max),
                ),
            );
        }
    }
}

/// `host` is the carrier's host, when it is valid: the default `server_name`.
fn carrier_tls(
    key: &str,
    raw: RawCarrierTls,
    host: Option<&str>,
    p: &mut Problems,
) -> Option<CarrierTls> {
    let key = |name: &str| format!("{key}.{name}");
    let ca = match raw.ca {
        None => Some(None),
        Some(ca) => p.check(&key("ca"), readable_file(Some(ca))).map(Some),
    };
    let client_auth = match (raw.client_cert, raw.client_key) {
        (None, None) => Some(None),
        (Some(cert), Some(key_path)) => {
            let cert = p.check(&key("client_cert"), readable_file(Some(cert)));
            let key_path = p.check(&key("client_key"), readable_file(Some(key_path)));
            Some(Some(ClientAuth {
                cert: cert?,
                key: key_path?,
            }))
        }
        (Some(_), None) => {
            p.add(key("client_key"), "required when client_cert is set");
            None
        }
        (None, Some(_)) => {
            p.add(key("client_cert"), "required when client_key is set");
            None
        }
    };
    let server_name = match raw.server_name {
        Some(server_name) => p.check(&key("server_name"), tls_name(&server_name)),
        // An invalid host is reported at its own key.
        None => host.map(str::to_owned),
    };
    Some(CarrierTls {
        ca: ca?,
        client_auth: client_auth?,
        server_name: server_name?,
    })
}

fn routes(raw: Vec<RawRoute>, known: &Known, p: &mut Problems) -> Option<Vec<RouteConfig>> {
    unique_names("routes", "name", raw.iter().map(|r| r.name.as_deref()), p);
    // A route after one without conditions is never used: the usual mistake is a specific
    // route added below the catch-all.
    if let Some(first) = raw.iter().position(|r| {
        r.destination_prefixes.is_empty() && r.clients.is_empty() && r.source_addresses.is_empty()
    }) {
        let catch_all = raw
            .get(first)
            .and_then(|r| r.name.as_deref())
            .unwrap_or_default();
        for i in first + 1..raw.len() {
            p.add(
                format!("routes[{i}]"),
                format!(
                    "never used: routes[{first}] (`{catch_all}`) has no conditions and takes \
                     every message first; move this route above it"
                ),
            );
        }
    }
    let checked: Vec<Option<RouteConfig>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| route(i, raw, known, p))
        .collect();
    checked.into_iter().collect()
}

fn route(i: usize, raw: RawRoute, known: &Known, p: &mut Problems) -> Option<RouteConfig> {
    let key = |name: &str| format!("routes[{i}].{name}");
    let name = p.check(&key("name"), required(raw.name).and_then(|n| name(&n)));
    let destination_prefixes = p.list(
        &key("destination_prefixes"),
        &raw.destination_prefixes,
        |d| destination_prefix(d),
    );
    let clients = p.list(&key("clients"), &raw.clients, |c| {
        if known.clients.contains_key(c) {
            Ok(c.clone())
        } else {
            Err(format!("no client with system_id `{c}` in [[clients]]"))
        }
    });
    let source_addresses = p.list(&key("source_addresses"), &raw.source_addresses, |s| {
        address_pattern(s)
    });
    // Compared with the weights even when a carrier name in the list is bad.
    let carrier_count = raw.carriers.as_ref().map(Vec::len).filter(|&n| n > 0);
    let carriers = match raw.carriers {
        None => {
            p.add(key("carriers"), "required: the carriers to send through");
            None
        }
        Some(names) if names.is_empty() => {
            p.add(key("carriers"), "empty: name at least one carrier");
            None
        }
        Some(names) => {
            let checked = p.list(&key("carriers"), &names, |c| {
                if known.carriers.contains(c) {
                    Ok(c.clone())
                } else {
                    Err(format!("no carrier named `{c}` in [[carriers]]"))
                }
            });
            for (j, name) in names.iter().enumerate() {
                if let Some(first) = names.iter().position(|n| n == name).filter(|&f| f < j) {
                    p.add(
                        format!("{}[{j}]", key("carriers")),
                        format!("`{name}` is also {}[{first}]", key("carriers")),
                    );
                }
            }
            checked
        }
    };
    let weights = match raw.weights {
        None => Some(None),
        Some(weights) => {
            let checked = p.list(&key("weights"), &weights, |&w| non_zero_u32(w, None));
            match carrier_count {
                Some(want) if want != weights.len() => {
                    p.add(
                        key("weights"),
                        format!(
                            "has {} weights for {want} carriers; give one weight per carrier",
                            weights.len()
                        ),
                    );
                    None
                }
                _ => checked.map(Some),
            }
        }
    };
    let throughput = optional_rate(&key("throughput"), raw.throughput, p);
    let max_queue = p.check(&key("max_queue"), non_zero_usize(raw.max_queue, None));
    Some(RouteConfig {
        name: name?,
        destination_prefixes: destination_prefixes?,
        clients: clients?,
        source_addresses: source_addresses?,
        carriers: carriers?,
        weights: weights?,
        throughput: throughput?,
        max_queue: max_queue?,
    })
}

fn mo_routes(raw: Vec<RawMoRoute>, known: &Known, p: &mut Problems) -> Option<Vec<MoRouteConfig>> {
    let checked: Vec<Option<MoRouteConfig>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| mo_route(i, raw, known, p))
        .collect();
    checked.into_iter().collect()
}

fn mo_route(i: usize, raw: RawMoRoute, known: &Known, p: &mut Problems) -> Option<MoRouteConfig> {
    let key = |name: &str| format!("mo_routes[{i}].{name}");
    let destinations = match raw.destinations {
        None => {
            p.add(key("destinations"), "required: the numbers it routes");
            None
        }
        Some(d) if d.is_empty() => {
            p.add(key("destinations"), "empty: give at least one pattern");
            None
        }
        Some(d) => p.list(&key("destinations"), &d, |d| {
            // Carriers write MO destinations with or without `+`; both sides drop it.
            address_pattern(d.strip_prefix('+').unwrap_or(d))
        }),
    };
    let client = p.check(
        &key("client"),
        required(raw.client).and_then(|c| match known.clients.get(&c) {
            None => Err(format!("no client with system_id `{c}` in [[clients]]")),
            Some(false) => Err(format!(
                "client `{c}` may not bind as a receiver or transceiver, so it could never \
                 get these messages; add one to its bind_types"
            )),
            Some(true) => Ok(c),
        }),
    );
    Some(MoRouteConfig {
        destinations: destinations?,
        client: client?,
    })
}

fn admin(raw: RawAdmin, p: &mut Problems) -> Option<AdminConfig> {
    let listen = p.check("admin.listen", socket_addr(&raw.listen));
    let token = match (raw.token, raw.token_file) {
        (Some(_), Some(_)) => {
            p.add(
                "admin.token_file",
                "give admin.token or admin.token_file, not both",
            );
            None
        }
        (Some(token), None) => p.check("admin.token", admin_token(&token)).map(Some),
        (None, Some(path)) => p
            .check("admin.token_file", token_from_file(&path))
            .map(Some),
        (None, None) => Some(None),
    };
    if let (Some(listen), Some(None)) = (listen, &token) {
        // Anyone who reaches the API can pause links and purge queues.
        if raw.enabled && !listen.ip().is_loopback() {
            p.add(
                "admin.token",
                format!(
                    "required when admin.listen ({listen}) is not a loopback address: the admin \
                     API can pause links, cancel messages and purge queues"
                ),
            );
            return None;
        }
    }
    Some(AdminConfig {
        enabled: raw.enabled,
        listen: listen?,
        token: token?,
        metrics_open: raw.metrics_open,
    })
}

/// `Some(None)` when disabled; `None` on a problem.
fn simulator(raw: RawSimulator, p: &mut Problems) -> Option<Option<SimulatorSection>> {
    let listen = p.check("simulator.listen", socket_addr(&raw.listen));
    let receipt_delay = p.check(
        "simulator.receipt_delay",
        humantime::parse_duration(&raw.receipt_delay).map_err(|e| {
            format!(
                "`{}` is not a duration like \"1s\", \"250ms\": {e}",
                raw.receipt_delay
            )
        }),
    );
    let delivered_percent = p.check(
        "simulator.delivered_percent",
        in_range(raw.delivered_percent, 0, Some(100)).map(|v| u8::try_from(v).unwrap_or(100)),
    );
    let window = p.check(
        "simulator.window",
        non_zero_usize(raw.window, Some(WINDOW_MAX)),
    );
    if !raw.enabled {
        return Some(None);
    }
    Some(Some(SimulatorSection {
        listen: listen?,
        receipt_delay: receipt_delay?,
        delivered_percent: delivered_percent?,
        window: window?,
    }))
}

fn log(raw: RawLog, p: &mut Problems) -> Option<LogConfig> {
    let format = p.check(
        "log.format",
        match raw.format.as_str() {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown `{other}`; expected human or json")),
        },
    );
    let level = p.check("log.level", log_filter(&raw.level));
    Some(LogConfig {
        format: format?,
        level: level?,
    })
}

/// Log levels, quietest last.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// `tracing` filter directives, each a level (`info`) or a module and its level
/// (`smppd::carrier=debug`). A bare word would be taken as a module name and quietly log
/// everything in it: a typo'd level must not do that.
fn log_filter(text: &str) -> Result<String, String> {
    let bad = |why: String| {
        format!(
            "`{text}` is not a log level or filter ({why}); write a level ({}) or \
             directives like \"info,smppd::carrier=debug\"",
            LOG_LEVELS.join(", ")
        )
    };
    for directive in text.split(',').map(str::trim) {
        let level = directive.rsplit('=').next().unwrap_or(directive);
        if !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(bad(format!("`{level}` is not a level")));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| bad(e.to_string()))
}

/// Shortest admin token: long enough that guessing it over HTTP is hopeless.
const ADMIN_TOKEN_MIN: usize = 16;

/// A bearer token: at least 16 visible ASCII characters (it travels in an HTTP header).
/// Reasons never quote the token.
fn admin_token(token: &str) -> Result<Secret, String> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters, no spaces".to_owned());
    }
    if token.len() < ADMIN_TOKEN_MIN {
        return Err(format!(
            "must be at least {ADMIN_TOKEN_MIN} characters, this one has {} (make one with \
             `openssl rand -hex 24`)",
            token.len()
        ));
    }
    Ok(Secret::new(token))
}

/// The token in a file (its first line, surrounding whitespace dropped), checked like
/// `admin.token`.
fn token_from_file(path: &std::path::Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    admin_token(token).map_err(|reason| format!("the token in {}: {reason}", path.display()))
}

fn required<T>(value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| "required".to_owned())
}

fn printable(text: &str) -> bool {
    text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

/// A carrier or route name: 1–32 of `[A-Za-z0-9_-]`.
fn name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(format!("`{name}` must be 1–{NAME_MAX} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "`{name}` may hold only letters, digits, `_` and `-`"
        ));
    }
    Ok(name.to_owned())
}

/// A hostname or an IP address (IPv6 without brackets).
fn host(host: &str) -> Result<String, String> {
    tls_name(host).map_err(|_| {
        format!(
            "`{host}` is not a hostname or IP address (like \"smsc.example.com\", \"10.0.0.5\")"
        )
    })
}

/// A name a TLS peer can be verified against: a DNS name or an IP address.
fn tls_name(name: &str) -> Result<String, String> {
    match rustls::pki_types::ServerName::try_from(name) {
        Ok(_) => Ok(name.to_owned()),
        Err(_) => Err(format!("`{name}` is not a DNS name or IP address")),
    }
}

/// A bind field (`system_type`, `address_range`): printable ASCII, at most `max`, may be
/// empty.
fn bind_field(text: &str, max: usize) -> Result<String, String> {
    if !printable(text) {
        return Err("must be printable ASCII".to_owned());
    }
    if text.len() > max {
        return Err(format!(
            "`{text}` is {} characters; SMPP 3.4 allows at most {max}",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

/// A TON or NPI value the spec defines.
fn address_code(value: i64, allowed: &[u8], what: &str) -> Result<u8, String> {
    match u8::try_from(value) {
        Ok(code) if allowed.contains(&code) => Ok(code),
        _ => Err(format!(
            "{value} is not an SMPP 3.4 {what}; expected one of {}",
            allowed
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// An optional messages-per-second limit, at least 1.
fn optional_rate(key: &str, rate: Option<i64>, p: &mut Problems) -> Option<Option<NonZeroU32>> {
    match rate {
        None => Some(None),
        Some(rate) => p.check(key, non_zero_u32(rate, None)).map(Some),
    }
}

/// An error `command_status`: a number, or a name (`ESME_RTHROTTLED`, `RTHROTTLED`, any
/// case), or a hex string (`"0x58"`).
fn status(raw: &RawStatus) -> Result<CommandStatus, String> {
    let status = match raw {
        RawStatus::Code(code) => u32::try_from(*code)
            .map(CommandStatus)
            .map_err(|_| format!("{code} is not a command_status (0–0xFFFFFFFF)"))?,
        RawStatus::Name(name) => {
            let hex = name
                .strip_prefix("0x")
                .or_else(|| name.strip_prefix("0X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok());
            hex.map(CommandStatus)
                .or_else(|| CommandStatus::from_name(name))
                .or_else(|| CommandStatus::from_name(&format!("ESME_{name}")))
                .ok_or_else(|| {
                    format!("`{name}` is not a command_status name (like \"ESME_RTHROTTLED\")")
                })?
        }
    };
    if status.is_ok() {
        return Err("0 is ESME_ROK, a success, not a failure to retry".to_owned());
    }
    Ok(status)
}

/// A destination prefix: 1–20 digits, a leading `+` ignored.
fn destination_prefix(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a number prefix (digits, like \"44\" or \"+4477\")"
        ));
    }
    if digits.len() > ADDR_MAX {
        return Err(format!(
            "`{text}` is longer than {ADDR_MAX} digits (the destination_addr limit)"
        ));
    }
    Ok(digits.to_owned())
}

/// 1–15 printable ASCII characters.
fn system_id(id: &str) -> Result<String, String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !id.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err("must be printable ASCII".to_owned());
    }
    if id.len() > SYSTEM_ID_MAX {
        return Err(format!(
            "`{id}` is {} characters; SMPP 3.4 allows at most {SYSTEM_ID_MAX}",
            id.len()
        ));
    }
    Ok(id.to_owned())
}

/// An argon2 PHC string (`$argon2…`), or a plain password of 1–8 printable ASCII characters.
/// Reasons never quote the password.
fn password(password: String) -> Result<Password, String> {
    if password.starts_with("$argon2") {
        return argon2_phc(&password)
            .map(|()| Password::Argon2(password))
            .map_err(|e| format!("not a valid argon2 PHC string: {e}"));
    }
    if password.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !password.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err("a plain password must be printable ASCII".to_owned());
    }
    if password.len() > PASSWORD_MAX {
        return Err(format!(
            "a plain password is at most {PASSWORD_MAX} characters in SMPP 3.4, this one has {}; \
             use a shorter one or an argon2 PHC string (\"$argon2id$…\")",
            password.len()
        ));
    }
    Ok(Password::Plain(password))
}

/// A PHC string that a bind can be verified against: an argon2 variant, valid parameters,
/// a salt and a hash.
fn argon2_phc(phc: &str) -> Result<(), String> {
    let hash = argon2::PasswordHash::new(phc).map_err(|e| e.to_string())?;
    argon2::Algorithm::try_from(hash.algorithm).map_err(|e| e.to_string())?;
    argon2::Params::try_from(&hash).map_err(|e| e.to_string())?;
    if hash.salt.is_none() {
        return Err("no salt".to_owned());
    }
    if hash.hash.is_none() {
        return Err("no hash".to_owned());
    }
    Ok(())
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not a socket address (like \"127.0.0.1:2775\" or \"[::1]:2775\")")
    })
}

/// A humantime duration ("30s", "5m", "250ms") greater than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(format!("`{text}` is zero; must be greater than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{text}` is not a duration like \"30s\", \"5m\", \"250ms\": {e}"
        )),
    }
}

/// A size in bytes: "256MiB", "1.5 GiB", "100MB" (KiB, MiB, GiB and TiB count in 1024s; KB,
/// MB, GB and TB in 1000s), or a plain number of bytes.
fn byte_size(size: &RawSize) -> Result<u64, String> {
    match size {
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
        RawSize::Text(text) => text
            .trim()
            .parse::<bytesize::ByteSize>()
            .map(|s| s.0)
            .map_err(|_| format!("`{text}` is not a size like \"256MiB\", \"1GiB\" or \"500MB\"")),
    }
}

/// `value` if it is `min..=max` (no upper bound: `None`).
fn in_range(value: i64, min: i64, max: Option<i64>) -> Result<i64, String> {
    match max {
        Some(max) if !(min..=max).contains(&value) => {
            Err(format!("must be {min}–{max}, not {value}"))
        }
        None if value < min => Err(format!("must be at least {min}, not {value}")),
        _ => Ok(value),
    }
}

fn usize_in(value: i64, min: i64, max: Option<i64>) -> Result<usize, String> {
    let value = in_range(value, min, max)?;
    usize::try_from(value).map_err(|_| format!("{value} is too large"))
}

fn non_zero_usize(value: i64, max: Option<i64>) -> Result<NonZeroUsize, String> {
    NonZeroUsize::new(usize_in(value, 1, max)?).ok_or_else(|| "must not be 0".to_owned())
}

fn non_zero_u32(value: i64, max: Option<i64>) -> Result<NonZeroU32, String> {
    let value = in_range(value, 1, max)?;
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("{value} is too large (at most {})", u32::MAX))
}

fn readable_file(path: Option<PathBuf>) -> Result<PathBuf, String> {
    let Some(path) = path else {
        return Err("required".to_owned());
    };
    match std::fs::File::open(&path).and_then(|f| f.metadata()) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `Shop` (exact) or `4477*` (prefix); 1–20 characters with the `*`.
fn address_pattern(text: &str) -> Result<AddressPattern, String> {
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if text.chars().count() > ADDR_MAX {
        return Err(format!(
            "`{text}` is longer than {ADDR_MAX} characters (the SMPP 3.4 address limit)"
        ));
    }
    match text.strip_suffix('*') {
        Some(prefix) if prefix.contains('*') => {
            Err(format!("`{text}`: `*` may only end a pattern"))
        }
        Some(prefix) => Ok(AddressPattern::Prefix(prefix.to_owned())),
        None if text.contains('*') => Err(format!("`{text}`: `*` may only end a pattern")),
        None => Ok(AddressPattern::Exact(text.to_owned())),
    }
}

/// `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). An IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) becomes the IPv4 network it maps.
fn ip_net(text: &str) -> Result<IpNet, String> {
    let bad = || format!("`{text}` is not an IP address or network (like \"10.0.0.0/8\", \"::1\")");
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(prefix) => match prefix.parse::<u8>() {
            Ok(prefix) if prefix <= max => prefix,
            _ => return Err(format!("`{text}`: the prefix length must be 0–{max}")),
        },
    };
    Ok(match addr {
        IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            None => IpNet { addr, prefix },
        },
        _ => IpNet { addr, prefix },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_net_parses_bare_and_cidr() {
        assert_eq!(
            ip_net("10.0.0.0/8"),
            Ok(IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(
            ip_net("::1"),
            Ok(IpNet {
                addr: "::1".parse().unwrap(),
                prefix: 128
            })
        );
        assert_eq!(
            ip_net("1.2.3.4"),
            Ok(IpNet {
                addr: "1.2.3.4".parse().unwrap(),
                prefix: 32
            })
        );
        assert_eq!(
            ip_net("::ffff:10.0.0.0/104"),
            Ok(IpNet {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert!(ip_net("10.0.0.0/33").is_err());
        assert!(ip_net("::/129").is_err());
        assert!(ip_net("10.0.0/8").is_err());
        assert!(ip_net("10.0.0.0/").is_err());
        assert!(ip_net("").is_err());
    }

    #[test]
    fn address_patterns() {
        assert_eq!(
            address_pattern("Shop"),
            Ok(AddressPattern::Exact("Shop".into()))
        );
        assert_eq!(
            address_pattern("4477*"),
            Ok(AddressPattern::Prefix("4477".into()))
        );
        assert!(address_pattern("44*77").is_err());
        assert!(address_pattern("**").is_err());
        assert!(address_pattern("").is_err());
        assert!(address_pattern(&"1".repeat(21)).is_err());
        assert!(address_pattern(&"1".repeat(20)).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(positive_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("30").is_err());
        assert!(positive_duration("soon").is_err());
    }

    #[test]
    fn argon2_phc_strings() {
        // argon2id of "secret12" with argon2's default parameters.
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c21wcGQtdGVzdC1zYWx0$\
                   bgctt7qEmqGMAQd/v1f6xX6clDxXp8tdJcRj5dAJV+I";
        assert!(matches!(password(phc.to_owned()), Ok(Password::Argon2(_))));
        assert!(password("$argon2id$garbage".to_owned()).is_err());
        let no_hash = "$argon2id$v=19$m=19456,t=2,p=1$c21wcGQtdGVzdC1zYWx0";
        assert!(password(no_hash.to_owned())
            .unwrap_err()
            .contains("no hash"));
        let tiny_memory = phc.replace("m=19456", "m=1");
        assert!(password(tiny_memory).is_err());
        let not_argon2 = phc.replace("argon2id", "argon2x");
        assert!(password(not_argon2).is_err());
        assert!(matches!(
            password("secret12".to_owned()),
            Ok(Password::Plain(_))
        ));
        assert!(password("secret123".to_owned()).is_err());
        assert!(password(String::new()).is_err());
    }
}
