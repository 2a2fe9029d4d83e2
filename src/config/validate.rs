//! The conversion of the raw file ([`RawConfig`]) into the validated [`Config`], one function
//! per section: it checks every key with `checks.rs`, adds the rules that span keys (a route
//! naming a known carrier, `reconnect_min` at most `reconnect_max`), and reports every problem
//! with its key path. `Config::parse` calls it through `Config::try_from`.

use super::checks::{
    self, address_code, address_pattern, admin_token, amount, api_key_hash, at_most, bind_field,
    byte_size, destination_prefix, host, in_range, ip_net, log_filter, name, non_zero_u32,
    non_zero_usize, optional_rate, password, positive_duration, printable, readable_file, required,
    short_code, socket_addr, status, system_id, tls_name, token_from_file, unique_names, usize_in,
    Problems, ADDRESS_RANGE_MAX, NPIS, PASSWORD_MAX, SYSTEM_TYPE_MAX, TONS,
};
use super::raw::{
    RawAdmin, RawCarrier, RawCarrierTls, RawClient, RawCluster, RawClusterTls, RawConfig,
    RawConsent, RawHttpApi, RawLog, RawMoRoute, RawNumbering, RawPrice, RawRoute, RawSenderRule,
    RawSendingWindow, RawServer, RawSession, RawShortCode, RawSimulator, RawSize, RawStore, RawTls,
    RawWebhook, RawWindowPolicy,
};
use super::{
    AdminConfig, BindTypes, CarrierBind, CarrierConfig, CarrierTls, ClassRules, ClientAuth,
    ClientConfig, ClusterConfig, ClusterDurability, Config, ConfigError, ConfigErrors,
    ConsentConfig, ConsentScope, Durability, HttpApiConfig, IdFormat, Keywords, LogConfig,
    LogFormat, MoRouteConfig, NatsAuth, NatsTls, NumberingConfig, OnSuppressed, Pattern,
    ReceiptRequest, RequireMention, RouteConfig, Secret, SenderRule, SendingWindow, ServerConfig,
    SessionConfig, ShortCode, SimulatorSection, StoreConfig, StoredNumbers, TlsConfig,
    WebhookConfig, WebhookSecrets, WindowPolicy,
};
use crate::hook_kind::HookKind;
use crate::hook_sign::Secrets;
use crate::keywords::KeywordMatch;
use crate::message::Class;
use crate::price::{Currency, Money, Price, PriceTable};
use crate::windows::{self, Window};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

/// Most session slots of one carrier link.
const SESSIONS_MAX: i64 = 64;
/// Smallest `max_pdu_bytes`: room for a submit_sm with a full short message and TLVs.
const MAX_PDU_BYTES_MIN: i64 = 4096;
/// Largest `max_pdu_bytes`: a peer's PDU is buffered whole before it is decoded.
const MAX_PDU_BYTES_MAX: i64 = 1024 * 1024;
/// Largest `window`.
const WINDOW_MAX: i64 = 1024;
const BIND_TYPE_WORDS: &str = "transmitter, receiver, transceiver";

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
        let sender_rules = sender_rules(raw.sender_rules, &mut problems);
        let prices = prices(raw.prices, &mut problems);
        let sending_windows = sending_windows(raw.sending_windows, &mut problems);
        let window_policies = window_policies(
            raw.window_policies,
            sending_windows.as_deref().unwrap_or_default(),
            &mut problems,
        );
        let admin = admin(raw.admin, &mut problems);
        let http_api = http_api(raw.http_api, &mut problems);
        let log = log(raw.log, &mut problems);
        let simulator = simulator(raw.simulator, &mut problems);
        let consent = consent(raw.consent, &known, &mut problems);
        let numbering = numbering(raw.numbering, &mut problems);
        let cluster = match raw.cluster {
            None => Some(None),
            Some(raw_cluster) => cluster(raw_cluster, &mut problems).map(Some),
        };
        if let (Some(consent), Some(clients)) = (&consent, &clients) {
            consent_needs_classes(consent, clients, &mut problems);
        }
        // Every section, or `None` if any is missing (each `None` came with its problem).
        let config = (|| {
            Some(Self {
                server: server?,
                store: store?,
                clients: clients?,
                carriers: carriers?,
                routes: routes?,
                mo_routes: mo_routes?,
                sender_rules: sender_rules?,
                prices: prices?,
                sending_windows: sending_windows?,
                window_policies: window_policies?,
                admin: admin?,
                http_api: http_api?,
                log: log?,
                simulator: simulator?,
                consent: consent?,
                numbering: numbering?,
                cluster: cluster?,
            })
        })();
        match config {
            Some(config) if problems.0.is_empty() => Ok(config),
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

fn server(raw: RawServer, p: &mut Problems) -> Option<ServerConfig> {
    let system_id = p.check("server.system_id", system_id(&raw.system_id));
    let listen = p.list("server.listen", &raw.listen, |a| socket_addr(a));
    let tls = raw.tls.map(|raw_tls| tls("server.tls", raw_tls, p));
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

/// A TLS listener section (`section`: `server.tls`, `http_api.tls`).
fn tls(section: &str, raw: RawTls, p: &mut Problems) -> Option<TlsConfig> {
    let name = |name: &str| format!("{section}.{name}");
    let listen = p.list(&name("listen"), &raw.listen, |a| socket_addr(a));
    if raw.listen.is_empty() {
        p.add(
            name("listen"),
            format!("empty: a [{section}] section needs at least one address"),
        );
    }
    let cert = p.check(&name("cert"), readable_file(raw.cert));
    let key = p.check(&name("key"), readable_file(raw.key));
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
    let classes = class_rules(&key, &raw, p);
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
    let api_keys = p.list(&key("api_keys"), &raw.api_keys, |k| api_key_hash(k));
    let campaign_throughput =
        optional_rate(&key("campaign_throughput"), raw.campaign_throughput, p);
    let allowed_sources = p.list(&key("allowed_sources"), &raw.allowed_sources, |s| {
        address_pattern(s)
    });
    let allowed_ips = p.list(&key("allowed_ips"), &raw.allowed_ips, |s| ip_net(s));
    let max_outbox = p.check(&key("max_outbox"), non_zero_usize(raw.max_outbox, None));
    let mut text = |name: &str, text: Option<String>| match text {
        None => Some(None),
        Some(text) => p.check(&key(name), one_sms(&text)).map(|()| Some(text)),
    };
    let confirmation_text = text("confirmation_text", raw.confirmation_text);
    let help_text = text("help_text", raw.help_text);
    let contact_text = text("contact_text", raw.contact_text);
    let webhooks = webhooks(&key, raw.webhooks, p);
    Some(ClientConfig {
        system_id: system_id?,
        password: password?,
        bind_types: bind_types?,
        max_binds: max_binds?,
        window: window?,
        throughput: throughput?,
        campaign_throughput: campaign_throughput?,
        api_keys: api_keys?,
        allowed_sources: allowed_sources?,
        allowed_ips: allowed_ips?,
        max_outbox: max_outbox?,
        classes: classes?,
        confirmation_text: confirmation_text?,
        help_text: help_text?,
        contact_text: contact_text?,
        transliterate: raw.transliterate,
        webhooks: webhooks?,
    })
}

/// A client's `[[clients.webhooks]]`; `key` names the client's fields.
fn webhooks(
    key: &dyn Fn(&str) -> String,
    raw: Vec<RawWebhook>,
    p: &mut Problems,
) -> Option<Vec<WebhookConfig>> {
    let mut names = HashSet::new();
    let mut ok = true;
    let mut hooks = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        let key = |name: &str| key(&format!("webhooks[{i}].{name}"));
        let name = raw.name.unwrap_or_else(|| "default".to_owned());
        let name = p.check(&key("name"), checks::name(&name)).and_then(|name| {
            if names.insert(name.clone()) {
                Some(name)
            } else {
                p.add(
                    key("name"),
                    format!("`{name}` is used twice: each endpoint of a client needs its own name"),
                );
                None
            }
        });
        let url = p.check(&key("url"), required(raw.url).and_then(|u| webhook_url(&u)));
        let events = match raw.events {
            None => Some(HookKind::ALL.to_vec()),
            Some(events) => p.list(&key("events"), &events, |e| e.parse::<HookKind>()),
        };
        let secrets = p.check(
            &key("secret_file"),
            required(raw.secret_file).and_then(|file| webhook_secrets(&file)),
        );
        let timeout = p.check(&key("timeout"), positive_duration(&raw.timeout));
        let concurrency = p.check(
            &key("concurrency"),
            non_zero_usize(raw.concurrency, Some(64)),
        );
        let retry = if raw.retry.is_empty() {
            p.add(key("retry"), "needs at least one wait");
            None
        } else {
            p.list(&key("retry"), &raw.retry, |d| positive_duration(d))
        };
        let give_up_after = p.check(&key("give_up_after"), positive_duration(&raw.give_up_after));
        let probe_interval = p.check(
            &key("probe_interval"),
            positive_duration(&raw.probe_interval),
        );
        let hook = (|| {
            Some(WebhookConfig {
                name: name?,
                url: url?,
                events: events?,
                secrets: secrets?,
                timeout: timeout?,
                concurrency: concurrency?,
                retry: retry?,
                give_up_after: give_up_after?,
                probe_interval: probe_interval?,
            })
        })();
        match hook {
            Some(hook) => hooks.push(hook),
            None => ok = false,
        }
    }
    ok.then_some(hooks)
}

/// An endpoint URL: `http://` or `https://` and a host.
fn webhook_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("`{url}` has no host, or has spaces"));
    }
    Ok(url.to_owned())
}

/// The secrets in `file` (read now: a reload reads it again, which is how a rotation starts).
fn webhook_secrets(file: &str) -> Result<WebhookSecrets, String> {
    let path = PathBuf::from(file);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{file}`: {e}"))?;
    let secrets = Secrets::parse(&text).map_err(|e| format!("`{file}`: {e}"))?;
    Ok(WebhookSecrets::new(path, secrets, &text))
}

/// `default_class`, `class_by_service_type` and `class_by_source` of a client.
fn class_rules(
    key: &dyn Fn(&str) -> String,
    raw: &RawClient,
    p: &mut Problems,
) -> Option<ClassRules> {
    let class = |text: &str| text.parse::<Class>();
    let default = match &raw.default_class {
        Some(text) => Some(p.check(&key("default_class"), class(text))?),
        None => None,
    };
    let mut ok = true;
    let mut by_service_type = Vec::new();
    for (service_type, text) in &raw.class_by_service_type {
        let at = key(&format!("class_by_service_type.{service_type}"));
        let checked = checks::service_type(service_type).and_then(|()| class(text));
        match p.check(&at, checked) {
            Some(class) => by_service_type.push((service_type.clone(), class)),
            None => ok = false,
        }
    }
    let mut by_source = Vec::new();
    for (source, text) in &raw.class_by_source {
        let at = key(&format!("class_by_source.{source}"));
        let checked = address_pattern(source).and_then(|pattern| Ok((pattern, class(text)?)));
        match p.check(&at, checked) {
            Some(rule) => by_source.push(rule),
            None => ok = false,
        }
    }
    by_source.sort_by_key(|(pattern, _)| std::cmp::Reverse(pattern.specificity()));
    ok.then_some(ClassRules {
        by_service_type,
        by_source,
        default,
        reclassify_on_mention: raw.reclassify_on_mention,
    })
}

/// A text that fits one SMS: 160 GSM 7-bit characters, or 70 UCS-2 ones.
fn one_sms(text: &str) -> Result<(), String> {
    let encoding = smpp_proto::coding::choose_encoding(text);
    let units = encoding.units(text).unwrap_or(usize::MAX);
    let (max, name) = match encoding {
        smpp_proto::coding::Encoding::Ucs2 => (70, "UCS-2"),
        _ => (160, "GSM 7-bit"),
    };
    if text.trim().is_empty() {
        return Err("empty: write the text, or leave the key out".to_owned());
    }
    if units > max {
        return Err(format!(
            "{units} {name} units; one SMS holds {max} (no accents outside GSM 7-bit keeps 160)"
        ));
    }
    Ok(())
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
    /// Client system_id → whether it can get MO: it may bind as a receiver or transceiver, or
    /// has a webhook that takes `mo.received`.
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
                // Or its webhooks take MO (all events unless `events` is given).
                let hooked = c.webhooks.iter().any(|hook| {
                    hook.events
                        .as_ref()
                        .is_none_or(|events| events.iter().any(|e| e == "mo.received"))
                });
                let receives = c.bind_types.is_empty()
                    || hooked
                    || c.bind_types
                        .iter()
                        .any(|t| t == "receiver" || t == "transceiver");
                Some((c.system_id.clone()?, receives))
            })
            .collect();
        let carriers = carriers.iter().filter_map(|c| c.name.clone()).collect();
        Self { clients, carriers }
    }

    /// `system_id` if a client has it.
    fn client(&self, system_id: &str) -> Result<String, String> {
        if self.clients.contains_key(system_id) {
            Ok(system_id.to_owned())
        } else {
            Err(format!(
                "no client with system_id `{system_id}` in [[clients]]"
            ))
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
    let clients = p.list(&key("clients"), &raw.clients, |c| known.client(c));
    let source_addresses = p.list(&key("source_addresses"), &raw.source_addresses, |s| {
        address_pattern(s)
    });
    // Compared with the weights even when a carrier name in the list is bad.
    let carrier_count = raw.carriers.as_ref().map(Vec::len).filter(|&n| n > 0);
    let what = ("the carriers to send through", "carrier");
    let carriers = p.required_list(&key("carriers"), raw.carriers, what, |c| {
        if known.carriers.contains(c) {
            Ok(c.clone())
        } else {
            Err(format!("no carrier named `{c}` in [[carriers]]"))
        }
    });
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
    let marketing_throughput =
        optional_rate(&key("marketing_throughput"), raw.marketing_throughput, p);
    let marketing_min_share = p.check(
        &key("marketing_min_share"),
        u8::try_from(raw.marketing_min_share)
            .ok()
            .filter(|share| *share <= 100)
            .ok_or_else(|| format!("{} is not a percentage (0–100)", raw.marketing_min_share)),
    );
    let max_queue = p.check(&key("max_queue"), non_zero_usize(raw.max_queue, None));
    Some(RouteConfig {
        name: name?,
        destination_prefixes: destination_prefixes?,
        clients: clients?,
        source_addresses: source_addresses?,
        carriers: carriers?,
        weights: weights?,
        throughput: throughput?,
        marketing_throughput: marketing_throughput?,
        marketing_min_share: marketing_min_share?,
        max_queue: max_queue?,
    })
}

/// Longest alphanumeric sender a rule may allow: SMPP's source_addr holds 20 characters.
const ALNUM_MAX: i64 = 20;

fn sender_rules(raw: Vec<RawSenderRule>, p: &mut Problems) -> Option<Vec<SenderRule>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::new();
    let mut ok = true;
    for (i, raw) in raw.into_iter().enumerate() {
        let key = |name: &str| format!("sender_rules[{i}].{name}");
        let prefix = p.check(
            &key("prefix"),
            required(raw.prefix).and_then(|prefix| destination_prefix(&prefix)),
        );
        if let Some(prefix) = &prefix {
            if let Some(first) = seen.insert(prefix.clone(), i) {
                p.add(
                    key("prefix"),
                    format!("`{prefix}` is also sender_rules[{first}].prefix; each must be unique"),
                );
                ok = false;
            }
        }
        let alnum_max = p.check(
            &key("alnum_max"),
            usize_in(raw.alnum_max, 1, Some(ALNUM_MAX)),
        );
        let alnum_pattern = match raw.alnum_pattern {
            None => Some(None),
            Some(text) => p
                .check(
                    &key("alnum_pattern"),
                    regex::Regex::new(&format!("^(?:{text})$"))
                        .map_err(|e| format!("not a regular expression: {e}")),
                )
                .map(|re| Some(Pattern(re))),
        };
        let marketing_sources = p.list(&key("marketing_sources"), &raw.marketing_sources, |s| {
            address_pattern(s)
        });
        let transactional_sources = p.list(
            &key("transactional_sources"),
            &raw.transactional_sources,
            |s| address_pattern(s),
        );
        match (
            prefix,
            alnum_max,
            alnum_pattern,
            marketing_sources,
            transactional_sources,
        ) {
            (Some(prefix), Some(alnum_max), Some(alnum_pattern), Some(m), Some(t)) => {
                rules.push(SenderRule {
                    prefix,
                    alnum_max,
                    alnum_pattern,
                    marketing_sources: m,
                    transactional_sources: t,
                });
            }
            _ => ok = false,
        }
    }
    // The longest prefix first: the first rule a destination starts with is the one.
    rules.sort_by_key(|rule| std::cmp::Reverse(rule.prefix.len()));
    ok.then_some(rules)
}

/// `[[prices]]`: each prefix once, every price in the currency of the first. One currency,
/// so that a client's or a campaign's costs add up to one total.
fn prices(raw: Vec<RawPrice>, p: &mut Problems) -> Option<PriceTable> {
    // Prefix → index of its first entry; the first currency and its entry.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut first_currency: Option<(usize, Currency)> = None;
    let checked: Vec<Option<Price>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let key = |name: &str| format!("prices[{i}].{name}");
            let prefix = p.check(
                &key("prefix"),
                required(raw.prefix).and_then(|prefix| destination_prefix(&prefix)),
            );
            // A problem that leaves this entry out of the table after its keys are checked.
            let mut clash = false;
            if let Some(prefix) = &prefix {
                if let Some(first) = seen.get(prefix) {
                    p.add(
                        key("prefix"),
                        format!("`{prefix}` is also prices[{first}].prefix; each must be unique"),
                    );
                    clash = true;
                } else {
                    seen.insert(prefix.clone(), i);
                }
            }
            let per_segment = p.check(
                &key("per_segment"),
                required(raw.per_segment).and_then(|raw| amount(&raw)),
            );
            let currency = p.check(
                &key("currency"),
                required(raw.currency).and_then(|code| {
                    code.parse::<Currency>().map_err(|e| e.to_string())
                }),
            );
            if let Some(currency) = currency {
                match first_currency {
                    None => first_currency = Some((i, currency)),
                    Some((first, expected)) if expected != currency => {
                        p.add(
                            key("currency"),
                            format!(
                                "`{currency}` differs from prices[{first}].currency (`{expected}`): \
                                 every price is in one currency, so that costs add up to one total"
                            ),
                        );
                        clash = true;
                    }
                    Some(_) => {}
                }
            }
            if clash {
                return None;
            }
            Some(Price {
                prefix: prefix?,
                per_segment: Money::new(per_segment?, currency?),
            })
        })
        .collect();
    let prices = checked.into_iter().collect::<Option<Vec<Price>>>()?;
    // The checks above are the table's own: this refuses nothing they let through.
    p.check("prices", PriceTable::new(prices).map_err(|e| e.to_string()))
}

fn sending_windows(raw: Vec<RawSendingWindow>, p: &mut Problems) -> Option<Vec<SendingWindow>> {
    let mut seen = HashSet::new();
    let checked: Vec<Option<SendingWindow>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let key = |name: &str| format!("sending_windows[{i}].{name}");
            let window_name = p.check(&key("name"), required(raw.name.clone()).and_then(|n| name(&n)));
            if let Some(n) = &window_name {
                if !seen.insert(n.clone()) {
                    p.add(key("name"), format!("`{n}` names another window too"));
                }
            }
            let spread = p.check(
                &key("spread"),
                humantime::parse_duration(&raw.spread)
                    .map_err(|e| format!("`{}` is not a duration like \"20m\": {e}", raw.spread)),
            );
            let zone = match raw.zone.as_str() {
                "destination" => Some(None),
                zone => p
                    .check(
                        &key("zone"),
                        jiff::tz::TimeZone::get(zone)
                            .map(|_| Some(zone.to_owned()))
                            .map_err(|_| {
                                format!("`{zone}` is not an IANA time zone (like \"Europe/Paris\"), nor \"destination\"")
                            }),
                    ),
            };
            let window = window_of(&key, &raw, spread?, p);
            Some(SendingWindow {
                name: window_name?,
                window: window?,
                zone: zone?,
            })
        })
        .collect();
    checked.into_iter().collect()
}

/// The window of a `[[sending_windows]]` table: its preset, or its own days and hours.
fn window_of(
    key: &dyn Fn(&str) -> String,
    raw: &RawSendingWindow,
    spread: Duration,
    p: &mut Problems,
) -> Option<Window> {
    if let Some(preset) = &raw.preset {
        if raw.days.is_some() || raw.from.is_some() || raw.until.is_some() || raw.holidays.is_some()
        {
            p.add(
                key("preset"),
                "a preset sets days, from, until and holidays: give one or the others",
            );
            return None;
        }
        let preset: windows::Preset = p.check(&key("preset"), preset.parse())?;
        if spread.as_secs() >= 12 * 3600 {
            p.add(
                key("spread"),
                "must be shorter than the hours the window is open",
            );
            return None;
        }
        return Some(preset.window(spread));
    }
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let days = match &raw.days {
        None => {
            p.add(
                key("days"),
                "required without a preset, e.g. [\"mon\", \"tue\"]",
            );
            None
        }
        Some(words) => {
            let mut days = [false; 7];
            let ok = p.list(&key("days"), words, |w| {
                DAYS.iter()
                    .position(|d| d == w)
                    .ok_or_else(|| format!("`{w}` is not a day: mon, tue, wed, thu, fri, sat, sun"))
            });
            ok.map(|indexes| {
                for i in indexes {
                    days[i] = true;
                }
                days
            })
        }
    };
    let time = |p: &mut Problems, name: &str, text: &Option<String>| match text {
        None => {
            p.add(key(name), "required without a preset, like \"08:00\"");
            None
        }
        Some(text) => p.check(
            &key(name),
            jiff::civil::Time::strptime("%H:%M", text)
                .map_err(|_| format!("`{text}` is not a time of day like \"08:00\"")),
        ),
    };
    let from = time(p, "from", &raw.from);
    let until = time(p, "until", &raw.until);
    if let (Some(from), Some(until)) = (from, until) {
        if until <= from {
            p.add(key("until"), "must be after from, the same day");
            return None;
        }
    }
    let holidays = p.check(
        &key("holidays"),
        match raw.holidays.as_deref().unwrap_or("none") {
            "none" => Ok(windows::Holidays::None),
            "FR" => Ok(windows::Holidays::France),
            "FR-AM" => Ok(windows::Holidays::AlsaceMoselle),
            "FR-GP" => Ok(windows::Holidays::Guadeloupe),
            "FR-MQ" => Ok(windows::Holidays::Martinique),
            "FR-GF" => Ok(windows::Holidays::Guyane),
            "FR-RE" => Ok(windows::Holidays::Reunion),
            "FR-YT" => Ok(windows::Holidays::Mayotte),
            other => Err(format!(
                "`{other}` is not a calendar: none, FR, FR-AM, FR-GP, FR-MQ, FR-GF, FR-RE, FR-YT"
            )),
        },
    );
    let (from, until) = (from?, until?);
    // A message released after the close would be held again, to the next opening, forever.
    let open = until.duration_since(from).as_secs();
    if u64::try_from(open).unwrap_or(0) <= spread.as_secs() {
        p.add(
            key("spread"),
            "must be shorter than the hours the window is open: a message released after \
             the close would wait again",
        );
        return None;
    }
    Some(Window {
        days: days?,
        from,
        until,
        holidays: holidays?,
        spread,
    })
}

fn window_policies(
    raw: Vec<RawWindowPolicy>,
    windows: &[SendingWindow],
    p: &mut Problems,
) -> Option<Vec<WindowPolicy>> {
    let checked: Vec<Option<WindowPolicy>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let key = |name: &str| format!("window_policies[{i}].{name}");
            let class = p.check(
                &key("class"),
                required(raw.class).and_then(|c| c.parse::<Class>()),
            );
            let destinations = p.list(&key("destinations"), &raw.destinations, |d| {
                destination_prefix(d)
            });
            let window = p.check(
                &key("window"),
                required(raw.window).and_then(|w| {
                    windows
                        .iter()
                        .position(|sw| sw.name == w)
                        .ok_or_else(|| format!("no [[sending_windows]] named `{w}`"))
                }),
            );
            Some(WindowPolicy {
                class: class?,
                destinations: destinations?,
                window: window?,
            })
        })
        .collect();
    checked.into_iter().collect()
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
                "client `{c}` may not bind as a receiver or transceiver and has no webhook \
                 taking mo.received, so it could never get these messages; add one to its \
                 bind_types, or a webhook"
            )),
            Some(true) => Ok(c),
        }),
    );
    Some(MoRouteConfig {
        destinations: destinations?,
        client: client?,
    })
}

fn http_api(raw: RawHttpApi, p: &mut Problems) -> Option<HttpApiConfig> {
    let listen = p.list("http_api.listen", &raw.listen, |a| socket_addr(a));
    let tls = match raw.tls {
        None => Some(None),
        Some(raw_tls) => tls("http_api.tls", raw_tls, p).map(Some),
    };
    let idempotency_window = p
        .check(
            "http_api.idempotency_window",
            positive_duration(&raw.idempotency_window),
        )
        .and_then(|window| {
            // Telnyx keeps answers 24 h; a week is plenty for any retry policy.
            if window > Duration::from_secs(7 * 86_400) {
                p.add("http_api.idempotency_window", "at most 7d");
                None
            } else {
                Some(window)
            }
        });
    let max_body_bytes = p.check(
        "http_api.max_body_bytes",
        usize_in(raw.max_body_bytes, 1024, Some(64 << 20)),
    );
    let max_batch = p.check(
        "http_api.max_batch",
        usize_in(raw.max_batch, 1, Some(100_000)),
    );
    Some(HttpApiConfig {
        listen: listen?,
        tls: tls?,
        idempotency_window: idempotency_window?,
        max_body_bytes: max_body_bytes?,
        max_batch: max_batch?,
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

fn consent(raw: RawConsent, known: &Known, p: &mut Problems) -> Option<ConsentConfig> {
    let scope = p.check(
        "consent.scope",
        match raw.scope.as_str() {
            "client" => Ok(ConsentScope::Client),
            "sender" => Ok(ConsentScope::Sender),
            "gateway" => Ok(ConsentScope::Gateway),
            other => Err(format!(
                "unknown `{other}`; expected client, sender or gateway"
            )),
        },
    );
    let applies_to = p.list("consent.applies_to", &raw.applies_to, |c| {
        c.parse::<Class>()
    });
    if applies_to.as_ref().is_some_and(Vec::is_empty) {
        p.add(
            "consent.applies_to",
            "empty: name the classes an opt-out holds back (marketing, transactional)",
        );
    }
    let refuse_status = p.check("consent.refuse_status", status(&raw.refuse_status));
    let on_suppressed = match raw.on_suppressed.as_str() {
        "receipt" => Some(OnSuppressed::Receipt),
        "refuse" => Some(OnSuppressed::Refuse(refuse_status?)),
        other => {
            p.add(
                "consent.on_suppressed",
                format!("unknown `{other}`; expected receipt or refuse"),
            );
            None
        }
    };
    let keywords = keywords(&raw, p);
    let confirmation_interval = p.check(
        "consent.confirmation_interval",
        positive_duration(&raw.confirmation_interval),
    );
    let store_numbers = match (raw.store_numbers.as_str(), &raw.hmac_key_file) {
        ("plain", None) => Some(StoredNumbers::Plain),
        ("plain", Some(_)) => {
            p.add(
                "consent.hmac_key_file",
                "only with store_numbers = \"hmac\"",
            );
            None
        }
        ("hmac", Some(path)) => p
            .check("consent.hmac_key_file", hmac_key(path))
            .map(StoredNumbers::Hmac),
        ("hmac", None) => {
            p.add(
                "consent.hmac_key_file",
                "required with store_numbers = \"hmac\": a file of at least 32 random bytes",
            );
            None
        }
        (other, _) => {
            p.add(
                "consent.store_numbers",
                format!("unknown `{other}`; expected plain or hmac"),
            );
            None
        }
    };
    let attribution_window = p.check(
        "consent.attribution_window",
        positive_duration(&raw.attribution_window),
    );
    let short_codes = short_codes(raw.short_codes, known, p);
    let mention_status = p.check("consent.mention_status", status(&raw.mention_status));
    let require_mention = match raw.require_mention.as_str() {
        "off" => Some(RequireMention::Off),
        "warn" => Some(RequireMention::Warn),
        "refuse" => mention_status.map(RequireMention::Refuse),
        other => {
            p.add(
                "consent.require_mention",
                format!("unknown `{other}`; expected off, warn or refuse"),
            );
            None
        }
    };
    Some(ConsentConfig {
        enabled: raw.enabled,
        scope: scope?,
        applies_to: applies_to.filter(|a| !a.is_empty())?,
        on_suppressed: on_suppressed?,
        keywords: keywords?,
        confirmation_interval: confirmation_interval?,
        store_numbers: store_numbers?,
        attribution_window: attribution_window?,
        short_codes: short_codes?,
        require_mention: require_mention?,
    })
}

/// `[[consent.short_codes]]`: each number once, each with known clients, none twice.
fn short_codes(raw: Vec<RawShortCode>, known: &Known, p: &mut Problems) -> Option<Vec<ShortCode>> {
    let numbers = raw.iter().map(|c| c.number.as_deref());
    unique_names("consent.short_codes", "number", numbers, p);
    let checked: Vec<Option<ShortCode>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let key = |name: &str| format!("consent.short_codes[{i}].{name}");
            let number = p.check(
                &key("number"),
                required(raw.number).and_then(|n| short_code(&n)),
            );
            let what = ("the clients sending from it", "client");
            let clients = p.required_list(&key("clients"), raw.clients, what, |c| known.client(c));
            Some(ShortCode {
                number: number?,
                clients: clients?,
            })
        })
        .collect();
    checked.into_iter().collect()
}

/// `match`, `opt_out_keywords`, `opt_in_keywords`: each keyword one word, normalised as
/// replies are, in one list only.
fn keywords(raw: &RawConsent, p: &mut Problems) -> Option<Keywords> {
    let matching = p.check(
        "consent.match",
        match raw.matching.as_str() {
            "first_word" => Ok(KeywordMatch::FirstWord),
            "exact" => Ok(KeywordMatch::Exact),
            other => Err(format!("unknown `{other}`; expected first_word or exact")),
        },
    );
    let word = |text: &String| {
        let normal = crate::keywords::normalise(text);
        if normal.is_empty() || normal.contains(' ') {
            Err(format!("`{text}` is not one word of letters or digits"))
        } else {
            Ok(normal)
        }
    };
    let defaults = Keywords::default();
    let mut list = |name: &str, given: &Option<Vec<String>>, default: Vec<String>| match given {
        None => Some(default),
        Some(words) => p.list(&format!("consent.{name}"), words, word),
    };
    let opt_out = list("opt_out_keywords", &raw.opt_out_keywords, defaults.opt_out);
    let opt_in = list("opt_in_keywords", &raw.opt_in_keywords, defaults.opt_in);
    let help = list("help_keywords", &raw.help_keywords, defaults.help);
    let contact = list("contact_keywords", &raw.contact_keywords, defaults.contact);
    let lists = [
        ("opt_out_keywords", &opt_out),
        ("opt_in_keywords", &opt_in),
        ("help_keywords", &help),
        ("contact_keywords", &contact),
    ];
    // A reply must mean one thing: no word in two lists.
    for (i, (_, earlier)) in lists.iter().enumerate() {
        for (name, later) in &lists[i + 1..] {
            let both = earlier
                .iter()
                .flatten()
                .find(|w| later.iter().flatten().any(|l| l == *w));
            if let Some(both) = both {
                p.add(
                    format!("consent.{name}"),
                    format!("`{both}` is in another keyword list too: a reply must mean one thing"),
                );
                return None;
            }
        }
    }
    Some(Keywords {
        matching: matching?,
        opt_out: opt_out?,
        opt_in: opt_in?,
        help: help?,
        contact: contact?,
    })
}

/// The key of `store_numbers = "hmac"`: the whole file, at least 32 bytes (as hex or base64
/// text, or raw), kept as text.
fn hmac_key(path: &std::path::Path) -> Result<Secret, String> {
    let key = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if key.len() < HMAC_KEY_MIN {
        return Err(format!(
            "{} holds {} bytes; the key needs at least {HMAC_KEY_MIN} (e.g. `openssl rand -hex \
             32`)",
            path.display(),
            key.len()
        ));
    }
    Ok(Secret::new(smpp_proto::types::hex(&key)))
}

/// Shortest key of `store_numbers = "hmac"`, in bytes.
const HMAC_KEY_MIN: usize = 32;

/// With consent on, every client must say what its messages are: a client sending marketing
/// by default as transactional would bypass every opt-out.
fn consent_needs_classes(consent: &ConsentConfig, clients: &[ClientConfig], p: &mut Problems) {
    if !consent.enabled {
        return;
    }
    for (i, client) in clients.iter().enumerate() {
        if client.classes.default.is_none() {
            p.add(
                format!("clients[{i}].default_class"),
                "required while [consent] is enabled: transactional or marketing",
            );
        }
    }
}

fn numbering(raw: RawNumbering, p: &mut Problems) -> Option<NumberingConfig> {
    let default_country = match raw.default_country {
        None => None,
        Some(code) => Some(
            p.check(
                "numbering.default_country",
                code.parse::<phonenumber::country::Id>()
                    .map_err(|_| format!("`{code}` is not an ISO 3166 country code (like \"FR\")")),
            )?,
        ),
    };
    Some(NumberingConfig { default_country })
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

/// Most copies JetStream keeps of a stream.
const REPLICAS_MAX: i64 = 5;
/// Shortest `lease_ttl`: an owner renews every third of it and fences itself after two
/// thirds, so a shorter one leaves no room for a slow round trip.
const LEASE_TTL_MIN: Duration = Duration::from_secs(3);

fn cluster(raw: RawCluster, p: &mut Problems) -> Option<ClusterConfig> {
    let auth = nats_auth(&raw, p);
    let name = match raw.name {
        None => Some(None),
        Some(name) => p.check("cluster.name", cluster_name(&name)).map(Some),
    };
    let node = p.check(
        "cluster.node",
        required(raw.node).and_then(|n| checks::name(&n)),
    );
    let servers = p.list("cluster.servers", &raw.servers, |url| nats_url(url));
    if raw.servers.is_empty() {
        p.add(
            "cluster.servers",
            "required: at least one NATS URL, like \"nats://10.0.0.1:4222\"",
        );
    }
    let monitor = p.list("cluster.monitor", &raw.monitor, |url| monitor_url(url));
    let durability = p.check(
        "cluster.durability",
        match raw.durability.as_str() {
            "quorum" => Ok(ClusterDurability::Quorum),
            "quorum+fsync" => Ok(ClusterDurability::QuorumFsync),
            other => Err(format!("`{other}` is not one of: quorum, quorum+fsync")),
        },
    );
    if durability == Some(ClusterDurability::QuorumFsync) && raw.monitor.is_empty() {
        p.add(
            "cluster.monitor",
            "required when durability = \"quorum+fsync\": smppd reads each server's /varz \
             to check that it fsyncs before acknowledging (the client protocol does not say)",
        );
    }
    let replicas = p.check(
        "cluster.replicas",
        non_zero_usize(raw.replicas, Some(REPLICAS_MAX)),
    );
    let lease_ttl = p.check(
        "cluster.lease_ttl",
        positive_duration(&raw.lease_ttl).and_then(|ttl| {
            if ttl < LEASE_TTL_MIN {
                Err(format!(
                    "`{}` is too short: at least {} (an owner renews every third of it)",
                    raw.lease_ttl,
                    humantime::format_duration(LEASE_TTL_MIN)
                ))
            } else {
                Ok(ttl)
            }
        }),
    );
    let receipt_horizon = p.check(
        "cluster.receipt_horizon",
        positive_duration(&raw.receipt_horizon),
    );
    let connect_timeout = p.check(
        "cluster.connect_timeout",
        positive_duration(&raw.connect_timeout),
    );
    let tls = match raw.tls {
        None => Some(None),
        Some(tls) => nats_tls(tls, p).map(Some),
    };
    Some(ClusterConfig {
        name: name?,
        node: node?,
        servers: servers?,
        monitor: monitor?,
        durability: durability?,
        replicas: replicas?,
        lease_ttl: lease_ttl?,
        receipt_horizon: receipt_horizon?,
        connect_timeout: connect_timeout?,
        auth: auth?,
        tls: tls?,
    })
}

/// A cluster name: 1–32 of `[a-z0-9_-]`. Lowercase only, since it is written in capitals in
/// stream names (`prod` → `PROD_SMPPD_Q`) and as it is in subjects (`prod.smppd.q.>`).
fn cluster_name(name: &str) -> Result<String, String> {
    let name = checks::name(name)?;
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "`{name}` may hold only lowercase letters, digits, `_` and `-`"
        ));
    }
    Ok(name)
}

/// A NATS server URL: `nats://` or `tls://`, a host, an optional port; no credentials in it
/// (they belong in `user` / `password_file`, `token_file` or `creds_file`, out of a file kept
/// in version control).
fn nats_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| format!("`{text}` is not a URL like \"nats://10.0.0.1:4222\": {e}"))?;
    if !matches!(url.scheme(), "nats" | "tls") {
        return Err(format!(
            "`{text}`: the scheme must be nats:// or tls://, not {}://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials in the URL: give them with user and password_file, token_file or \
             creds_file instead"
                .to_owned(),
        );
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err(format!("`{text}`: a NATS URL has no path or query"));
    }
    Ok(text.to_owned())
}

/// A server's HTTP monitoring URL: `http://` or `https://` and a host; `/varz` is added.
fn monitor_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| format!("`{text}` is not a URL like \"http://10.0.0.1:8222\": {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "`{text}` is not an http:// or https:// URL with a host"
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// At most one way to authenticate: `user` + `password_file`, `token_file`, `creds_file`.
fn nats_auth(raw: &RawCluster, p: &mut Problems) -> Option<NatsAuth> {
    let given = [
        raw.user.is_some() || raw.password_file.is_some(),
        raw.token_file.is_some(),
        raw.creds_file.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() > 1 {
        p.add(
            "cluster",
            "give one of user + password_file, token_file or creds_file, not several",
        );
        return None;
    }
    match (
        &raw.user,
        &raw.password_file,
        &raw.token_file,
        &raw.creds_file,
    ) {
        (Some(user), Some(path), None, None) => {
            let user = p.check(
                "cluster.user",
                if !user.is_empty() && user.chars().all(|c| c.is_ascii_graphic()) {
                    Ok(user.clone())
                } else {
                    Err("must be visible ASCII characters, no spaces".to_owned())
                },
            );
            let password = p.check("cluster.password_file", first_line(path));
            Some(NatsAuth::UserPassword {
                user: user?,
                password: password?,
            })
        }
        (Some(_), None, ..) => {
            p.add("cluster.password_file", "required when user is set");
            None
        }
        (None, Some(_), ..) => {
            p.add("cluster.user", "required when password_file is set");
            None
        }
        (None, None, Some(path), None) => p
            .check("cluster.token_file", first_line(path))
            .map(NatsAuth::Token),
        (None, None, None, Some(path)) => p
            .check("cluster.creds_file", readable_file(Some(path.clone())))
            .map(NatsAuth::CredsFile),
        _ => Some(NatsAuth::None),
    }
}

/// The first line of a secret file, surrounding whitespace dropped; never empty. Reasons
/// never quote it.
fn first_line(path: &std::path::Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(line))
}

fn nats_tls(raw: RawClusterTls, p: &mut Problems) -> Option<NatsTls> {
    let ca = match raw.ca {
        None => Some(None),
        Some(ca) => p.check("cluster.tls.ca", readable_file(Some(ca))).map(Some),
    };
    let client_auth = match (raw.client_cert, raw.client_key) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => {
            let cert = p.check("cluster.tls.client_cert", readable_file(Some(cert)));
            let key = p.check("cluster.tls.client_key", readable_file(Some(key)));
            Some(Some(ClientAuth {
                cert: cert?,
                key: key?,
            }))
        }
        (Some(_), None) => {
            p.add("cluster.tls.client_key", "required when client_cert is set");
            None
        }
        (None, Some(_)) => {
            p.add("cluster.tls.client_cert", "required when client_key is set");
            None
        }
    };
    Some(NatsTls {
        ca: ca?,
        client_auth: client_auth?,
    })
}
