//! The TOML file as written: serde structs that mirror it key for key, each default written
//! once (in the `Default` impls below, shown in `config.example.toml`), and the one conversion
//! into the validated [`Config`] that reports every problem with its key path.

use super::{
    AddressPattern, BindTypes, ClientConfig, Config, ConfigError, ConfigErrors, Durability, IpNet,
    Password, ServerConfig, SessionConfig, StoreConfig, TlsConfig,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

/// `system_id` is a C-Octet String of at most 16 octets with its NUL (SMPP 3.4 §4.1.1).
const SYSTEM_ID_MAX: usize = 15;
/// `password` is a C-Octet String of at most 9 octets with its NUL (SMPP 3.4 §4.1.1).
const PASSWORD_MAX: usize = 8;
/// `source_addr` is a C-Octet String of at most 21 octets with its NUL (SMPP 3.4 §4.4.1).
const SOURCE_ADDR_MAX: usize = 20;
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
}

/// `[server]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    system_id: String,
    listen: Vec<String>,
    max_pdu_bytes: i64,
    max_connections: i64,
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
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            path: PathBuf::from("smppd-data"),
            durability: "durable".to_owned(),
            max_batch: 1024,
            cache_bytes: 64 * 1024 * 1024,
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
        }
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigErrors;

    /// Checks everything and reports every problem, not just the first.
    fn try_from(raw: RawConfig) -> Result<Self, ConfigErrors> {
        let mut problems = Problems::default();
        let server = server(raw.server, &mut problems);
        let store = store(raw.store, &mut problems);
        let clients = clients(raw.clients, &mut problems);
        match (server, store, clients) {
            (Some(server), Some(store), Some(clients)) if problems.0.is_empty() => Ok(Self {
                server,
                store,
                clients,
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
    Some(StoreConfig {
        path: path?,
        durability: durability?,
        max_batch: max_batch?,
        cache_bytes: cache_bytes?,
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
    let throughput = match raw.throughput {
        None => Some(None),
        Some(rate) => p
            .check(&key("throughput"), non_zero_u32(rate, None))
            .map(Some),
    };
    let allowed_sources = p.list(&key("allowed_sources"), &raw.allowed_sources, |s| {
        address_pattern(s)
    });
    let allowed_ips = p.list(&key("allowed_ips"), &raw.allowed_ips, |s| ip_net(s));
    Some(ClientConfig {
        system_id: system_id?,
        password: password?,
        bind_types: bind_types?,
        max_binds: max_binds?,
        window: window?,
        throughput: throughput?,
        allowed_sources: allowed_sources?,
        allowed_ips: allowed_ips?,
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
    if text.chars().count() > SOURCE_ADDR_MAX {
        return Err(format!(
            "`{text}` is longer than {SOURCE_ADDR_MAX} characters (the source_addr limit)"
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
