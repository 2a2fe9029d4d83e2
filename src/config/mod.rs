//! The validated configuration: what the rest of the gateway sees. `raw.rs` mirrors the TOML
//! file; `TryFrom<raw::RawConfig>` checks it and reports every problem with its key path.

mod error;
mod raw;

pub use error::{ConfigError, ConfigErrors};

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
}

/// When the store reports a write as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After sled's flush and an fsync of the store's files: survives power loss. Default.
    Durable,
    /// After sled's flush only (write-back to the page cache, `sync_file_range`): survives a
    /// process crash, not necessarily a power loss.
    Flush,
    /// Once the write is applied, without waiting for a flush (sled flushes every 500 ms in
    /// the background): a crash may lose acknowledged messages.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("smppd-config-test-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0); // best effort: a leftover is harmless
        }
    }

    const CLIENT: &str = "[[clients]]\nsystem_id = \"shop\"\npassword = \"secret12\"\n";

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
    }

    #[test]
    fn embedded_default_matches_the_built_in_defaults() {
        // config.example.toml shows the defaults: an empty file plus the demo client is the
        // same config.
        let minimal = "[[clients]]\nsystem_id = \"demo\"\npassword = \"demopass\"\n";
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
            [[clients]]
            system_id = "shop"
            password = "secret12"
            bind_types = ["transmitter"]
            max_binds = 1
            window = 1024
            throughput = 100
            allowed_sources = ["Shop", "4477*"]
            allowed_ips = ["127.0.0.1", "10.0.0.0/8", "::1"]
            [[clients]]
            system_id = "crm"
            password = "{phc}"
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
                },
            ],
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
        let missing = dir.0.join("nope.pem");
        let text = format!(
            "[server.tls]\nlisten = [\"127.0.0.1:3775\"]\ncert = {cert:?}\nkey = {missing:?}\n"
        );
        one_problem(&text, "server.tls.key", "cannot read");
        // A directory is not a key file; a section without cert names the key too.
        let dir_path = &dir.0;
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
}
