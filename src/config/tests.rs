//! `Config::parse` end to end: the embedded default, the defaults of an empty file, a fully
//! specified file, and every problem reported at its key path. The small checks' own unit
//! tests are in `checks.rs`.

use super::*;
use crate::keywords::KeywordMatch;
use crate::message::Class;
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
                campaign_throughput: None,
                api_keys: vec![],
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
                classes: ClassRules::default(),
                confirmation_text: None,
                help_text: None,
                contact_text: None,
                transliterate: false,
                webhooks: Vec::new(),
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
                campaign_throughput: None,
                api_keys: vec![],
                allowed_sources: vec![],
                allowed_ips: vec![],
                max_outbox: NonZeroUsize::new(100_000).unwrap(),
                classes: ClassRules::default(),
                confirmation_text: None,
                help_text: None,
                contact_text: None,
                transliterate: false,
                webhooks: Vec::new(),
            },
        ],
        carriers: vec![],
        routes: vec![],
        mo_routes: vec![],
        sender_rules: vec![],
        prices: PriceTable::default(),
        sending_windows: vec![],
        window_policies: vec![],
        consent: ConsentConfig::default(),
        numbering: NumberingConfig::default(),
        cluster: None,
        admin: AdminConfig {
            enabled: true,
            listen: "0.0.0.0:9775".parse().unwrap(),
            token: Some(Secret::new("0123456789abcdef0123")),
            metrics_open: true,
        },
        http_api: HttpApiConfig {
            listen: vec![],
            tls: None,
            idempotency_window: Duration::from_secs(24 * 3600),
            max_body_bytes: 1 << 20,
            max_batch: 1000,
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
    let text = "[server.session]\nenquire_link_interval = \"60s\"\ninactivity_timeout = \"1m\"\n";
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
fn class_rules_of_a_client() {
    let text = format!(
        "{CLIENT}default_class = \"marketing\"\n\
         class_by_service_type = {{ MKT = \"marketing\", TRX = \"transactional\" }}\n\
         class_by_source = {{ \"36*\" = \"marketing\", \"36123\" = \"transactional\", \
         \"3612*\" = \"marketing\" }}\n"
    );
    let config = Config::parse(&text).unwrap();
    let rules = &config.clients[0].classes;
    assert_eq!(rules.default, Some(Class::Marketing));
    assert_eq!(
        rules.by_service_type,
        [
            ("MKT".to_owned(), Class::Marketing),
            ("TRX".to_owned(), Class::Transactional)
        ]
    );
    // Most specific first, whatever the order in the file.
    let sources: Vec<_> = rules.by_source.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        sources,
        [
            AddressPattern::Exact("36123".into()),
            AddressPattern::Prefix("3612".into()),
            AddressPattern::Prefix("36".into()),
        ]
    );
    // None of them: transactional, with nothing to say so.
    assert_eq!(
        Config::parse(CLIENT).unwrap().clients[0].classes,
        ClassRules::default()
    );
}

#[test]
fn bad_class_rules_name_their_key() {
    let text = format!("{CLIENT}default_class = \"promo\"\n");
    one_problem(&text, "clients[0].default_class", "not a class");
    let text = format!("{CLIENT}class_by_service_type = {{ MKT = \"Marketing\" }}\n");
    one_problem(&text, "clients[0].class_by_service_type.MKT", "not a class");
    let text = format!("{CLIENT}class_by_service_type = {{ TOOLONG = \"marketing\" }}\n");
    one_problem(
        &text,
        "clients[0].class_by_service_type.TOOLONG",
        "1–5 printable",
    );
    let text = format!("{CLIENT}class_by_source = {{ \"3*6\" = \"marketing\" }}\n");
    one_problem(&text, "clients[0].class_by_source.3*6", "`*` may only end");
    let text = format!("{CLIENT}class_by_source = {{ \"36123\" = \"bulk\" }}\n");
    one_problem(&text, "clients[0].class_by_source.36123", "not a class");
}

#[test]
fn sender_rules_longest_prefix_first_and_bad_keys_named() {
    let text = "[[sender_rules]]\nprefix = \"+33\"\nmarketing_sources = [\"36*\"]\n\
                [[sender_rules]]\nprefix = \"262692\"\nalnum_max = 6\n\
                alnum_pattern = \"[A-Z]+\"\n";
    let rules = Config::parse(text).unwrap().sender_rules;
    let prefixes: Vec<&str> = rules.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(prefixes, ["262692", "33"]);
    assert_eq!(rules[1].alnum_max, 11, "the default");
    assert_eq!(
        rules[1].marketing_sources,
        [AddressPattern::Prefix("36".into())]
    );
    // Anchored: the pattern must match the whole sender.
    let pattern = &rules[0].alnum_pattern.as_ref().unwrap().0;
    assert!(pattern.is_match("SHOP") && !pattern.is_match("SHOP1"));

    one_problem("[[sender_rules]]\n", "sender_rules[0].prefix", "required");
    one_problem(
        "[[sender_rules]]\nprefix = \"FR\"\n",
        "sender_rules[0].prefix",
        "not a number prefix",
    );
    one_problem(
        "[[sender_rules]]\nprefix = \"33\"\n[[sender_rules]]\nprefix = \"+33\"\n",
        "sender_rules[1].prefix",
        "also sender_rules[0].prefix",
    );
    one_problem(
        "[[sender_rules]]\nprefix = \"33\"\nalnum_max = 21\n",
        "sender_rules[0].alnum_max",
        "20",
    );
    one_problem(
        "[[sender_rules]]\nprefix = \"33\"\nalnum_pattern = \"[A-Z\"\n",
        "sender_rules[0].alnum_pattern",
        "not a regular expression",
    );
    one_problem(
        "[[sender_rules]]\nprefix = \"33\"\ntransactional_sources = [\"3*8\"]\n",
        "sender_rules[0].transactional_sources[0]",
        "`*` may only end",
    );
}

/// A `[[prices]]` entry.
fn price(prefix: &str, per_segment: &str, currency: &str) -> String {
    format!(
        "[[prices]]\nprefix = \"{prefix}\"\nper_segment = {per_segment}\ncurrency = \"{currency}\"\n"
    )
}

#[test]
fn prices_longest_prefix_first() {
    assert!(Config::parse("").unwrap().prices.is_empty());
    let text = [
        price("+33", "\"0.045\"", "EUR"),
        price("336", "\"0.05\"", "EUR"),
        price("44", "\"0\"", "EUR"),
    ]
    .concat();
    let prices = Config::parse(&text).unwrap().prices;
    let table: Vec<(&str, String)> = prices
        .prices()
        .iter()
        .map(|p| (p.prefix.as_str(), p.per_segment.to_string()))
        .collect();
    assert_eq!(
        table,
        [
            ("336", "0.050 EUR".to_owned()),
            ("33", "0.045 EUR".to_owned()),
            ("44", "0.000 EUR".to_owned()),
        ]
    );
    assert_eq!(
        prices.currency().map(|c| c.to_string()).as_deref(),
        Some("EUR")
    );
    let cost =
        |destination: &str, segments| prices.cost(destination, segments).map(|m| m.to_string());
    assert_eq!(cost("+33123456789", 2).as_deref(), Some("0.090 EUR"));
    assert_eq!(cost("33612345678", 2).as_deref(), Some("0.100 EUR"));
    assert_eq!(cost("+4915112345678", 2), None);
}

#[test]
fn the_example_prices_parse_once_uncommented() {
    // config.example.toml's commented [[prices]] tables, "# " taken off each line.
    let block: String = EMBEDDED_DEFAULT
        .lines()
        .skip_while(|line| *line != "# [[prices]]")
        .take_while(|line| !line.is_empty())
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or("")))
        .collect();
    assert!(block.contains("per_segment"), "{block}");
    let config = Config::parse(&format!("{EMBEDDED_DEFAULT}\n{block}")).unwrap();
    let cost = config.prices.cost("+33612345678", 2).unwrap();
    assert_eq!(cost.to_string(), "0.100 EUR");
}

#[test]
fn bad_prices_name_their_keys() {
    one_problem(
        "[[prices]]\nper_segment = \"1\"\ncurrency = \"EUR\"\n",
        "prices[0].prefix",
        "required",
    );
    one_problem(
        &price("FR", "\"0.045\"", "EUR"),
        "prices[0].prefix",
        "not a number prefix",
    );
    one_problem(
        &price("", "\"0.045\"", "EUR"),
        "prices[0].prefix",
        "not a number prefix",
    );
    one_problem(
        "[[prices]]\nprefix = \"33\"\ncurrency = \"EUR\"\n",
        "prices[0].per_segment",
        "required",
    );
    one_problem(
        "[[prices]]\nprefix = \"33\"\nper_segment = \"1\"\n",
        "prices[0].currency",
        "required",
    );
    for (amount, needle) in [
        ("\"0.0000001\"", "more than 6 decimals"),
        ("\"-1\"", "negative"),
        ("\"1e3\"", "not a decimal amount"),
        ("\"abc\"", "not a decimal amount"),
        ("\"\"", "not a decimal amount"),
    ] {
        one_problem(&price("33", amount, "EUR"), "prices[0].per_segment", needle);
    }
    // A TOML number is refused, float or integer, with the string to write instead.
    one_problem(
        &price("33", "0.045", "EUR"),
        "prices[0].per_segment",
        "write the amount as a string, \"0.045\"",
    );
    one_problem(&price("33", "1", "EUR"), "prices[0].per_segment", "\"1\"");
    one_problem(
        &price("33", "-1", "EUR"),
        "prices[0].per_segment",
        "TOML number",
    );
    one_problem(
        &price("33", "true", "EUR"),
        "prices[0].per_segment",
        "as a string",
    );
    for code in ["eur", "EU", "EURO", "€"] {
        one_problem(
            &price("33", "\"0.045\"", code),
            "prices[0].currency",
            "ISO 4217",
        );
    }
    // Each prefix once, "+" or not.
    let text = [
        price("33", "\"0.045\"", "EUR"),
        price("44", "\"0.03\"", "EUR"),
        price("+33", "\"0.05\"", "EUR"),
    ]
    .concat();
    one_problem(&text, "prices[2].prefix", "`33` is also prices[0].prefix");
    // One currency: the first entry's.
    let text = [
        price("33", "\"0.045\"", "EUR"),
        price("1", "\"0.01\"", "USD"),
    ]
    .concat();
    one_problem(
        &text,
        "prices[1].currency",
        "every price is in one currency",
    );
    // Every problem, each at its key.
    let text = [
        price("33", "0.045", "EUR"),
        price("33", "\"0.05\"", "USD"),
        price("44", "\"x\"", "GBP"),
    ]
    .concat();
    let keys: Vec<String> = problems(&text).into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [
            "prices[0].per_segment",
            "prices[1].prefix",
            "prices[1].currency",
            "prices[2].per_segment",
            "prices[2].currency",
        ]
    );
}

#[test]
fn consent_and_numbering() {
    let text = format!(
        "{CLIENT}default_class = \"marketing\"\n\
         [consent]\nenabled = true\nscope = \"sender\"\n\
         applies_to = [\"marketing\", \"transactional\"]\n\
         on_suppressed = \"refuse\"\nrefuse_status = \"0x402\"\n\
         require_mention = \"refuse\"\nmention_status = \"0x403\"\n\
         [numbering]\ndefault_country = \"FR\"\n"
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        config.consent,
        ConsentConfig {
            enabled: true,
            scope: ConsentScope::Sender,
            applies_to: vec![Class::Marketing, Class::Transactional],
            on_suppressed: OnSuppressed::Refuse(CommandStatus(0x402)),
            keywords: Keywords::default(),
            confirmation_interval: Duration::from_secs(24 * 3600),
            store_numbers: StoredNumbers::Plain,
            attribution_window: Duration::from_secs(30 * 86400),
            short_codes: Vec::new(),
            require_mention: RequireMention::Refuse(CommandStatus(0x403)),
        }
    );
    assert_eq!(
        config.numbering.default_country,
        Some(phonenumber::country::Id::FR)
    );
    // Off by default, and then no client needs a class.
    let config = Config::parse(CLIENT).unwrap();
    assert_eq!(config.consent, ConsentConfig::default());
    assert!(!config.consent.enabled);

    one_problem(
        &format!("{CLIENT}[consent]\nrequire_mention = \"append\"\n"),
        "consent.require_mention",
        "expected off, warn or refuse",
    );
    // On, every client must say what its messages are.
    one_problem(
        &format!("{CLIENT}[consent]\nenabled = true\n"),
        "clients[0].default_class",
        "required while [consent] is enabled",
    );
    one_problem(
        "[consent]\nscope = \"shop\"\n",
        "consent.scope",
        "unknown `shop`",
    );
    one_problem(
        "[consent]\napplies_to = []\n",
        "consent.applies_to",
        "empty",
    );
    one_problem(
        "[consent]\napplies_to = [\"promo\"]\n",
        "consent.applies_to[0]",
        "not a class",
    );
    one_problem(
        "[consent]\non_suppressed = \"drop\"\n",
        "consent.on_suppressed",
        "receipt or refuse",
    );
    one_problem(
        "[consent]\non_suppressed = \"refuse\"\nrefuse_status = 0\n",
        "consent.refuse_status",
        "not an error status",
    );
    let text = "[consent]\nmatch = \"exact\"\nopt_out_keywords = [\"Arrêt\", \"stop\"]\n\
                opt_in_keywords = [\"Go\"]\n";
    let keywords = Config::parse(text).unwrap().consent.keywords;
    assert_eq!(keywords.matching, KeywordMatch::Exact);
    assert_eq!(
        keywords.opt_out,
        ["ARRET", "STOP"],
        "normalised as replies are"
    );
    assert_eq!(keywords.opt_in, ["GO"]);
    one_problem(
        "[consent]\nmatch = \"fuzzy\"\n",
        "consent.match",
        "first_word or exact",
    );
    one_problem(
        "[consent]\nopt_out_keywords = [\"stop now\"]\n",
        "consent.opt_out_keywords[0]",
        "not one word",
    );
    one_problem(
        "[consent]\nopt_in_keywords = [\"Stop\"]\n",
        "consent.opt_in_keywords",
        "in another keyword list too",
    );
    let long = "ê".repeat(71);
    one_problem(
        &format!("{CLIENT}confirmation_text = \"{long}\"\n"),
        "clients[0].confirmation_text",
        "71 UCS-2 units; one SMS holds 70",
    );
    let fits = "a".repeat(160);
    let config = Config::parse(&format!("{CLIENT}confirmation_text = \"{fits}\"\n")).unwrap();
    assert_eq!(config.clients[0].confirmation_text, Some(fits));
    one_problem(
        "[consent]\nconfirmation_interval = \"0s\"\n",
        "consent.confirmation_interval",
        "zero",
    );
    let dir = TempDir::new();
    let short = dir.file("short.key", "0123456789");
    let long = dir.file("long.key", &"k".repeat(32));
    let hmac = |path: &Path| {
        format!(
            "[consent]\nstore_numbers = \"hmac\"\nhmac_key_file = {:?}\n",
            path.display().to_string()
        )
    };
    let config = Config::parse(&hmac(&long)).unwrap();
    assert!(matches!(
        config.consent.store_numbers,
        StoredNumbers::Hmac(_)
    ));
    one_problem(&hmac(&short), "consent.hmac_key_file", "at least 32");
    one_problem(
        "[consent]\nstore_numbers = \"hmac\"\n",
        "consent.hmac_key_file",
        "required",
    );
    one_problem(
        &format!(
            "[consent]\nhmac_key_file = {:?}\n",
            long.display().to_string()
        ),
        "consent.hmac_key_file",
        "only with",
    );
    one_problem(
        "[consent]\nstore_numbers = \"hashed\"\n",
        "consent.store_numbers",
        "plain or hmac",
    );
    one_problem(
        "[numbering]\ndefault_country = \"France\"\n",
        "numbering.default_country",
        "ISO 3166",
    );
}

#[test]
fn consent_short_codes() {
    let clients = format!("{CLIENT}[[clients]]\nsystem_id = \"other\"\npassword = \"secret12\"\n");
    let codes = |tables: &str| format!("{clients}[consent]\n{tables}");
    let text = codes(
        "attribution_window = \"7d\"\n\
         [[consent.short_codes]]\nnumber = \"36123\"\nclients = [\"shop\", \"other\"]\n\
         [[consent.short_codes]]\nnumber = \"38100\"\nclients = [\"shop\"]\n",
    );
    let consent = Config::parse(&text).unwrap().consent;
    assert_eq!(consent.attribution_window, Duration::from_secs(7 * 86400));
    let shared = consent.short_code("36123").unwrap();
    assert_eq!(shared.clients, ["shop", "other"]);
    assert!(shared.is_shared());
    assert!(!consent.short_code("+38100").unwrap().is_shared());
    assert_eq!(consent.short_code("36124"), None);

    let code = |number: &str, clients: &str| {
        format!("[[consent.short_codes]]\nnumber = \"{number}\"\nclients = {clients}\n")
    };
    let two = code("36123", "[\"shop\"]") + &code("36123", "[\"other\"]");
    for (tables, key, needle) in [
        (
            "attribution_window = \"0s\"\n".to_owned(),
            "consent.attribution_window",
            "zero",
        ),
        (
            code("+36123", "[\"shop\"]"),
            "consent.short_codes[0].number",
            "not a short code",
        ),
        (
            code("36123", "[]"),
            "consent.short_codes[0].clients",
            "empty",
        ),
        (
            "[[consent.short_codes]]\nnumber = \"36123\"\n".to_owned(),
            "consent.short_codes[0].clients",
            "required",
        ),
        (
            "[[consent.short_codes]]\nclients = [\"shop\"]\n".to_owned(),
            "consent.short_codes[0].number",
            "required",
        ),
        (
            code("36123", "[\"shop\", \"nobody\"]"),
            "consent.short_codes[0].clients[1]",
            "no client with system_id `nobody`",
        ),
        (
            code("36123", "[\"shop\", \"other\", \"shop\"]"),
            "consent.short_codes[0].clients[2]",
            "`shop` is also consent.short_codes[0].clients[0]",
        ),
        (
            two,
            "consent.short_codes[1].number",
            "`36123` is also consent.short_codes[0].number",
        ),
        (
            "[[consent.short_codes]]\nnumber = \"36123\"\nclient = \"shop\"\n".to_owned(),
            "consent.short_codes[0].client",
            "unknown key",
        ),
    ] {
        one_problem(&codes(&tables), key, needle);
    }
}

#[test]
fn sending_windows_and_policies() {
    let text = "[[sending_windows]]\nname = \"fr\"\npreset = \"fr-af2m-2024\"\n\
                [[sending_windows]]\nname = \"weekdays\"\ndays = [\"mon\", \"fri\"]\n\
                from = \"09:30\"\nuntil = \"18:00\"\nholidays = \"FR-AM\"\nspread = \"5m\"\n\
                zone = \"Europe/Paris\"\n\
                [[window_policies]]\nclass = \"marketing\"\ndestinations = [\"+33\"]\n\
                window = \"weekdays\"\n";
    let config = Config::parse(text).unwrap();
    let custom = &config.sending_windows[1];
    assert_eq!(
        custom.window.days,
        [true, false, false, false, true, false, false]
    );
    assert_eq!(custom.window.from, jiff::civil::time(9, 30, 0, 0));
    assert_eq!(
        custom.window.holidays,
        crate::windows::Holidays::AlsaceMoselle
    );
    assert_eq!(custom.window.spread, Duration::from_secs(300));
    assert_eq!(custom.zone.as_deref(), Some("Europe/Paris"));
    assert_eq!(
        config.sending_windows[0].zone, None,
        "the destination's zone"
    );
    assert_eq!(config.window_policies[0].window, 1);
    assert_eq!(config.window_policies[0].destinations, ["33"]);

    let window = |keys: &str| format!("[[sending_windows]]\nname = \"w\"\n{keys}");
    one_problem(
        &window("preset = \"fr-legacy\"\nfrom = \"08:00\"\n"),
        "sending_windows[0].preset",
        "one or the others",
    );
    one_problem(
        &window("preset = \"fr-2030\"\n"),
        "sending_windows[0].preset",
        "not a preset",
    );
    one_problem(
        &window("days = [\"lun\"]\nfrom = \"08:00\"\nuntil = \"20:00\"\n"),
        "sending_windows[0].days[0]",
        "not a day",
    );
    one_problem(
        &window("days = [\"mon\"]\nfrom = \"20:00\"\nuntil = \"08:00\"\n"),
        "sending_windows[0].until",
        "after from",
    );
    one_problem(
        &window("days = [\"mon\"]\nfrom = \"8h\"\nuntil = \"20:00\"\n"),
        "sending_windows[0].from",
        "not a time of day",
    );
    one_problem(
        &window("preset = \"fr-legacy\"\nzone = \"Paris\"\n"),
        "sending_windows[0].zone",
        "not an IANA time zone",
    );
    one_problem(
        &window("days = [\"mon\"]\nfrom = \"08:00\"\nuntil = \"08:15\"\nspread = \"20m\"\n"),
        "sending_windows[0].spread",
        "shorter than the hours the window is open",
    );
    one_problem(
        "[[window_policies]]\nclass = \"marketing\"\nwindow = \"nowhere\"\n",
        "window_policies[0].window",
        "no [[sending_windows]] named",
    );
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
    let text = "[server]\nlisten = [\"nowhere\"]\n[server.session]\nresponse_timeout = \"0s\"\n\
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
            marketing_throughput = 20
            marketing_min_share = 25
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
        marketing_throughput: Some(nz(20)),
        marketing_min_share: 25,
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
        marketing_throughput: None,
        marketing_min_share: 10,
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
        &with_routes("[[routes]]\nname = \"r\"\ncarriers = [\"sim\", \"backup\"]\nweights = [1]\n"),
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
    let receiving = text.replace("[\"transmitter\"]", "[\"transmitter\", \"receiver\"]");
    assert!(Config::parse(&receiving).is_ok());

    // A shop on HTTP only gets its MO through a webhook that takes them.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("hook.secret");
    std::fs::write(&secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
    let hook = |events: &str| {
        format!(
            "[[clients.webhooks]]\nurl = \"https://shop.example/hooks\"\nsecret_file = {:?}\n{events}\n",
            secret.display().to_string()
        )
    };
    let with_hook =
        |events: &str| text.replacen("[[mo_routes]]", &(hook(events) + "[[mo_routes]]"), 1);
    assert!(Config::parse(&with_hook("")).is_ok());
    assert!(Config::parse(&with_hook("events = [\"mo.received\"]")).is_ok());
    one_problem(
        &with_hook("events = [\"message.delivered\"]"),
        "mo_routes[0].client",
        "no webhook taking mo.received",
    );
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

#[test]
fn no_cluster_section_is_a_single_node() {
    assert_eq!(Config::parse("").unwrap().cluster, None);
    assert_eq!(Config::embedded_default().unwrap().cluster, None);
}

#[test]
fn cluster_defaults() {
    let config =
        Config::parse("[cluster]\nnode = \"a\"\nservers = [\"nats://10.0.0.1:4222\"]\n").unwrap();
    assert_eq!(
        config.cluster,
        Some(ClusterConfig {
            name: None,
            node: "a".to_owned(),
            servers: vec!["nats://10.0.0.1:4222".to_owned()],
            monitor: Vec::new(),
            durability: ClusterDurability::Quorum,
            replicas: NonZeroUsize::new(3).unwrap(),
            lease_ttl: Duration::from_secs(10),
            receipt_horizon: Duration::from_secs(72 * 3600),
            connect_timeout: Duration::from_secs(5),
            auth: NatsAuth::None,
            tls: None,
        })
    );
}

#[test]
fn the_example_cluster_parses_once_uncommented() {
    // config.example.toml's commented [cluster] section, "# " taken off each line, its files
    // made in a temp dir.
    let dir = TempDir::new();
    for file in [
        "nats-password",
        "nats-ca.pem",
        "nats-client.pem",
        "nats-client-key.pem",
    ] {
        dir.file(file, "s3cret-from-file\n");
    }
    let block: String = EMBEDDED_DEFAULT
        .lines()
        .skip_while(|line| *line != "# [cluster]")
        .take_while(|line| !line.is_empty())
        .map(|line| format!("{}\n", line.strip_prefix("# ").unwrap_or("")))
        .collect::<String>()
        .replace("/etc/smppd/", &format!("{}/", dir.0.path().display()));
    assert!(block.contains("receipt_horizon"), "{block}");
    let config = Config::parse(&format!("{EMBEDDED_DEFAULT}\n{block}")).unwrap();
    let cluster = config.cluster.unwrap();
    assert_eq!(cluster.name.as_deref(), Some("prod"));
    assert_eq!(cluster.node, "a");
    assert_eq!(cluster.servers.len(), 3);
    assert_eq!(cluster.monitor[0], "http://10.0.0.1:8222");
    assert_eq!(
        cluster.auth,
        NatsAuth::UserPassword {
            user: "smppd".to_owned(),
            password: Secret::new("s3cret-from-file"),
        }
    );
    let tls = cluster.tls.unwrap();
    assert!(tls.ca.is_some() && tls.client_auth.is_some());
}

#[test]
fn cluster_credentials_come_from_files() {
    let dir = TempDir::new();
    let token = dir.file("token", "  tok3n \nignored\n");
    let creds = dir.file("smppd.creds", "-----BEGIN NATS USER JWT-----\n");
    let base = "[cluster]\nnode = \"a\"\nservers = [\"tls://nats.example.com\"]\n";
    let config = Config::parse(&format!("{base}token_file = {token:?}\n")).unwrap();
    assert_eq!(
        config.cluster.unwrap().auth,
        NatsAuth::Token(Secret::new("tok3n"))
    );
    let config = Config::parse(&format!("{base}creds_file = {creds:?}\n")).unwrap();
    assert_eq!(config.cluster.unwrap().auth, NatsAuth::CredsFile(creds));
    // The token never shows in Debug.
    let config = Config::parse(&format!("{base}token_file = {token:?}\n")).unwrap();
    assert!(!format!("{config:?}").contains("tok3n"));
}

#[test]
fn bad_cluster_keys_name_their_field() {
    let ok = "[cluster]\nnode = \"a\"\nservers = [\"nats://127.0.0.1:4222\"]\n";
    one_problem(
        "[cluster]\nservers = [\"nats://127.0.0.1:4222\"]\n",
        "cluster.node",
        "required",
    );
    one_problem(
        "[cluster]\nnode = \"a.b\"\nservers = [\"nats://127.0.0.1:4222\"]\n",
        "cluster.node",
        "only letters, digits",
    );
    one_problem("[cluster]\nnode = \"a\"\n", "cluster.servers", "required");
    one_problem(
        "[cluster]\nnode = \"a\"\nservers = [\"http://127.0.0.1:4222\"]\n",
        "cluster.servers[0]",
        "nats:// or tls://",
    );
    one_problem(
        "[cluster]\nnode = \"a\"\nservers = [\"nats://me:pw@127.0.0.1:4222\"]\n",
        "cluster.servers[0]",
        "credentials in the URL",
    );
    one_problem(
        "[cluster]\nnode = \"a\"\nservers = [\"127.0.0.1:4222\"]\n",
        "cluster.servers[0]",
        "is not a URL like \"nats://10.0.0.1:4222\"",
    );
    one_problem(
        &format!("{ok}name = \"Prod\"\n"),
        "cluster.name",
        "lowercase",
    );
    one_problem(
        &format!("{ok}durability = \"fsync\"\n"),
        "cluster.durability",
        "quorum, quorum+fsync",
    );
    one_problem(
        &format!("{ok}durability = \"quorum+fsync\"\n"),
        "cluster.monitor",
        "required when durability = \"quorum+fsync\"",
    );
    one_problem(
        &format!("{ok}monitor = [\"nats://127.0.0.1:8222\"]\n"),
        "cluster.monitor[0]",
        "http:// or https://",
    );
    one_problem(&format!("{ok}replicas = 6\n"), "cluster.replicas", "1–5");
    one_problem(&format!("{ok}replicas = 0\n"), "cluster.replicas", "1–5");
    one_problem(
        &format!("{ok}lease_ttl = \"1s\"\n"),
        "cluster.lease_ttl",
        "too short",
    );
    one_problem(
        &format!("{ok}receipt_horizon = \"0s\"\n"),
        "cluster.receipt_horizon",
        "zero",
    );
    one_problem(
        &format!("{ok}user = \"smppd\"\n"),
        "cluster.password_file",
        "required when user is set",
    );
    one_problem(
        &format!("{ok}token_file = \"/nonexistent/token\"\n"),
        "cluster.token_file",
        "cannot read /nonexistent/token",
    );
    one_problem(
        &format!("{ok}token_file = \"/nonexistent/t\"\ncreds_file = \"/nonexistent/c\"\n"),
        "cluster",
        "not several",
    );
    one_problem(
        &format!("{ok}[cluster.tls]\nclient_cert = \"/nonexistent/c\"\n"),
        "cluster.tls.client_key",
        "required when client_cert is set",
    );
    one_problem(&format!("{ok}nodes = 3\n"), "cluster.nodes", "unknown key");
}
