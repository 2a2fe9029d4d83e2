//! The TOML file as written: serde structs that mirror it key for key, and each default written
//! once (in the `Default` impls below, shown in `config.example.toml`). Nothing here checks a
//! value: `Config::parse` deserializes into [`RawConfig`] and `validate.rs` turns it into the
//! validated [`Config`](super::Config).

use super::DEFAULT_TRANSIENT_STATUSES;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) server: RawServer,
    pub(super) store: RawStore,
    pub(super) clients: Vec<RawClient>,
    pub(super) carriers: Vec<RawCarrier>,
    pub(super) routes: Vec<RawRoute>,
    pub(super) mo_routes: Vec<RawMoRoute>,
    pub(super) sender_rules: Vec<RawSenderRule>,
    pub(super) prices: Vec<RawPrice>,
    pub(super) sending_windows: Vec<RawSendingWindow>,
    pub(super) window_policies: Vec<RawWindowPolicy>,
    pub(super) admin: RawAdmin,
    pub(super) http_api: RawHttpApi,
    pub(super) log: RawLog,
    pub(super) simulator: RawSimulator,
    pub(super) consent: RawConsent,
    pub(super) numbering: RawNumbering,
    pub(super) cluster: Option<RawCluster>,
}

/// `[cluster]`: absent = a single node on the embedded store. `node` and `servers` are
/// required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCluster {
    pub(super) name: Option<String>,
    pub(super) node: Option<String>,
    pub(super) servers: Vec<String>,
    pub(super) monitor: Vec<String>,
    pub(super) durability: String,
    pub(super) replicas: i64,
    pub(super) lease_ttl: String,
    pub(super) receipt_horizon: String,
    pub(super) connect_timeout: String,
    pub(super) user: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) creds_file: Option<PathBuf>,
    pub(super) tls: Option<RawClusterTls>,
}

impl Default for RawCluster {
    fn default() -> Self {
        Self {
            name: None,
            node: None,
            servers: Vec::new(),
            monitor: Vec::new(),
            durability: "quorum".to_owned(),
            // A majority of three survives the loss of any one server.
            replicas: 3,
            // cluster.md §3.6: renewed every 3 s, fenced after 6 s, expired after 10 s.
            lease_ttl: "10s".to_owned(),
            receipt_horizon: "72h".to_owned(),
            connect_timeout: "5s".to_owned(),
            user: None,
            password_file: None,
            token_file: None,
            creds_file: None,
            tls: None,
        }
    }
}

/// `[cluster.tls]`: every key optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawClusterTls {
    pub(super) ca: Option<PathBuf>,
    pub(super) client_cert: Option<PathBuf>,
    pub(super) client_key: Option<PathBuf>,
}

/// `[consent]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConsent {
    pub(super) enabled: bool,
    pub(super) scope: String,
    pub(super) applies_to: Vec<String>,
    pub(super) on_suppressed: String,
    pub(super) refuse_status: RawStatus,
    #[serde(rename = "match")]
    pub(super) matching: String,
    pub(super) opt_out_keywords: Option<Vec<String>>,
    pub(super) opt_in_keywords: Option<Vec<String>>,
    pub(super) help_keywords: Option<Vec<String>>,
    pub(super) contact_keywords: Option<Vec<String>>,
    pub(super) confirmation_interval: String,
    pub(super) store_numbers: String,
    pub(super) hmac_key_file: Option<PathBuf>,
    pub(super) attribution_window: String,
    pub(super) short_codes: Vec<RawShortCode>,
    pub(super) require_mention: String,
    pub(super) mention_status: RawStatus,
}

/// `[[consent.short_codes]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShortCode {
    pub(super) number: Option<String>,
    pub(super) clients: Option<Vec<String>>,
}

impl Default for RawConsent {
    fn default() -> Self {
        Self {
            enabled: false,
            scope: "client".to_owned(),
            applies_to: vec!["marketing".to_owned()],
            on_suppressed: "receipt".to_owned(),
            refuse_status: RawStatus::Code(0x401),
            matching: "first_word".to_owned(),
            opt_out_keywords: None,
            opt_in_keywords: None,
            help_keywords: None,
            contact_keywords: None,
            confirmation_interval: "24h".to_owned(),
            store_numbers: "plain".to_owned(),
            require_mention: "warn".to_owned(),
            mention_status: RawStatus::Code(0x402),
            hmac_key_file: None,
            attribution_window: "30d".to_owned(),
            short_codes: Vec::new(),
        }
    }
}

/// `[numbering]`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNumbering {
    pub(super) default_country: Option<String>,
}

/// `[simulator]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSimulator {
    pub(super) enabled: bool,
    pub(super) listen: String,
    pub(super) receipt_delay: String,
    pub(super) delivered_percent: i64,
    pub(super) window: i64,
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
pub(super) struct RawServer {
    pub(super) system_id: String,
    pub(super) listen: Vec<String>,
    pub(super) max_pdu_bytes: i64,
    pub(super) max_connections: i64,
    pub(super) max_connections_per_ip: i64,
    pub(super) tls: Option<RawTls>,
    pub(super) session: RawSession,
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
pub(super) struct RawTls {
    pub(super) listen: Vec<String>,
    pub(super) cert: Option<PathBuf>,
    pub(super) key: Option<PathBuf>,
}

/// `[server.session]`: humantime durations ("30s", "5m", "250ms").
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSession {
    pub(super) session_init_timeout: String,
    pub(super) enquire_link_interval: String,
    pub(super) inactivity_timeout: String,
    pub(super) response_timeout: String,
    pub(super) bind_failure_delay: String,
    pub(super) unbind_timeout: String,
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
pub(super) struct RawStore {
    pub(super) path: PathBuf,
    pub(super) durability: String,
    pub(super) max_batch: i64,
    pub(super) cache_bytes: i64,
    pub(super) retention: String,
    pub(super) min_free_space: RawSize,
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
pub(super) enum RawSize {
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
pub(super) struct RawAdmin {
    pub(super) enabled: bool,
    pub(super) listen: String,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) metrics_open: bool,
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

/// `[http_api]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttpApi {
    pub(super) listen: Vec<String>,
    pub(super) tls: Option<RawTls>,
    pub(super) idempotency_window: String,
    pub(super) max_body_bytes: i64,
    pub(super) max_batch: i64,
}

impl Default for RawHttpApi {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            tls: None,
            idempotency_window: "24h".to_owned(),
            max_body_bytes: 1 << 20,
            max_batch: 1000,
        }
    }
}

/// `[log]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    pub(super) format: String,
    pub(super) level: String,
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
pub(super) struct RawClient {
    pub(super) system_id: Option<String>,
    pub(super) password: Option<String>,
    pub(super) bind_types: Vec<String>,
    pub(super) max_binds: i64,
    pub(super) window: i64,
    pub(super) throughput: Option<i64>,
    pub(super) campaign_throughput: Option<i64>,
    pub(super) api_keys: Vec<String>,
    pub(super) allowed_sources: Vec<String>,
    pub(super) allowed_ips: Vec<String>,
    pub(super) max_outbox: i64,
    pub(super) default_class: Option<String>,
    pub(super) class_by_service_type: BTreeMap<String, String>,
    pub(super) class_by_source: BTreeMap<String, String>,
    pub(super) confirmation_text: Option<String>,
    pub(super) reclassify_on_mention: bool,
    pub(super) help_text: Option<String>,
    pub(super) contact_text: Option<String>,
    pub(super) transliterate: bool,
    pub(super) webhooks: Vec<RawWebhook>,
}

/// `[[clients.webhooks]]`: `url` and `secret_file` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWebhook {
    pub(super) name: Option<String>,
    pub(super) url: Option<String>,
    pub(super) events: Option<Vec<String>>,
    pub(super) secret_file: Option<String>,
    pub(super) timeout: String,
    pub(super) concurrency: i64,
    pub(super) retry: Vec<String>,
    pub(super) give_up_after: String,
    pub(super) probe_interval: String,
}

impl Default for RawWebhook {
    fn default() -> Self {
        Self {
            name: None,
            url: None,
            events: None,
            secret_file: None,
            timeout: "10s".to_owned(),
            concurrency: 4,
            retry: ["10s", "30s", "1m", "5m", "15m", "1h"]
                .map(str::to_owned)
                .to_vec(),
            give_up_after: "72h".to_owned(),
            probe_interval: "1m".to_owned(),
        }
    }
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
            campaign_throughput: None,
            api_keys: Vec::new(),
            allowed_sources: Vec::new(),
            allowed_ips: Vec::new(),
            max_outbox: 100_000,
            default_class: None,
            class_by_service_type: BTreeMap::new(),
            class_by_source: BTreeMap::new(),
            confirmation_text: None,
            reclassify_on_mention: false,
            help_text: None,
            contact_text: None,
            transliterate: false,
            webhooks: Vec::new(),
        }
    }
}

/// `[[carriers]]`: `name`, `host`, `system_id` and `password` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCarrier {
    pub(super) name: Option<String>,
    pub(super) host: Option<String>,
    pub(super) port: i64,
    pub(super) system_id: Option<String>,
    pub(super) password: Option<String>,
    pub(super) system_type: String,
    pub(super) address_range: String,
    pub(super) bind: String,
    pub(super) sessions: i64,
    pub(super) window: i64,
    pub(super) throughput: Option<i64>,
    pub(super) enquire_link_interval: String,
    pub(super) response_timeout: String,
    pub(super) reconnect_min: String,
    pub(super) reconnect_max: String,
    pub(super) default_source_ton: Option<i64>,
    pub(super) default_source_npi: Option<i64>,
    pub(super) default_dest_ton: Option<i64>,
    pub(super) default_dest_npi: Option<i64>,
    pub(super) receipt_id_format: String,
    pub(super) registered_delivery: String,
    pub(super) intermediate_notifications: bool,
    pub(super) max_attempts: i64,
    pub(super) retry_min: String,
    pub(super) retry_max: String,
    pub(super) transient_statuses: Vec<RawStatus>,
    pub(super) tls: Option<RawCarrierTls>,
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
pub(super) enum RawStatus {
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
pub(super) struct RawCarrierTls {
    pub(super) ca: Option<PathBuf>,
    pub(super) client_cert: Option<PathBuf>,
    pub(super) client_key: Option<PathBuf>,
    pub(super) server_name: Option<String>,
}

/// `[[sending_windows]]`: `name` and either `preset` or `days`, `from` and `until`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSendingWindow {
    pub(super) name: Option<String>,
    pub(super) preset: Option<String>,
    pub(super) days: Option<Vec<String>>,
    pub(super) from: Option<String>,
    pub(super) until: Option<String>,
    pub(super) holidays: Option<String>,
    pub(super) spread: String,
    pub(super) zone: String,
}

impl Default for RawSendingWindow {
    fn default() -> Self {
        Self {
            name: None,
            preset: None,
            days: None,
            from: None,
            until: None,
            holidays: None,
            spread: "20m".to_owned(),
            zone: "destination".to_owned(),
        }
    }
}

/// `[[window_policies]]`: `window` is required.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWindowPolicy {
    pub(super) class: Option<String>,
    pub(super) destinations: Vec<String>,
    pub(super) window: Option<String>,
}

/// `[[sender_rules]]`: `prefix` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSenderRule {
    pub(super) prefix: Option<String>,
    pub(super) alnum_max: i64,
    pub(super) alnum_pattern: Option<String>,
    pub(super) marketing_sources: Vec<String>,
    pub(super) transactional_sources: Vec<String>,
}

impl Default for RawSenderRule {
    fn default() -> Self {
        Self {
            prefix: None,
            alnum_max: 11,
            alnum_pattern: None,
            marketing_sources: Vec::new(),
            transactional_sources: Vec::new(),
        }
    }
}

/// `[[prices]]`: every key is required.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPrice {
    pub(super) prefix: Option<String>,
    pub(super) per_segment: Option<RawAmount>,
    pub(super) currency: Option<String>,
}

/// An amount as written: a string (`"0.045"`, the only form accepted) or a TOML number, kept
/// as its text so that the check can name the key and show the string to write instead.
pub(super) enum RawAmount {
    Text(String),
    Number(String),
}

impl<'de> Deserialize<'de> for RawAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawAmount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal amount as a string, like \"0.045\"")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RawAmount, E> {
                Ok(RawAmount::Number(n.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RawAmount, E> {
                Ok(RawAmount::Number(n.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<RawAmount, E> {
                Ok(RawAmount::Number(n.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawAmount, E> {
                Ok(RawAmount::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[[routes]]`: `name` and `carriers` are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRoute {
    pub(super) name: Option<String>,
    pub(super) destination_prefixes: Vec<String>,
    pub(super) clients: Vec<String>,
    pub(super) source_addresses: Vec<String>,
    pub(super) carriers: Option<Vec<String>>,
    pub(super) weights: Option<Vec<i64>>,
    pub(super) throughput: Option<i64>,
    pub(super) marketing_throughput: Option<i64>,
    pub(super) marketing_min_share: i64,
    pub(super) max_queue: i64,
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
            marketing_throughput: None,
            marketing_min_share: 10,
            max_queue: 1_000_000,
        }
    }
}

/// `[[mo_routes]]`: both keys are required.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMoRoute {
    pub(super) destinations: Option<Vec<String>>,
    pub(super) client: Option<String>,
}
