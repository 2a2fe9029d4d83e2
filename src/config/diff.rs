//! What replacing a running config by a new one changes: pure comparisons of two validated
//! configs, which `reload.rs` applies.

use super::{CarrierConfig, Config};
use std::num::NonZeroU32;

/// The differences between the running config and a new one.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub clients_added: Vec<String>,
    /// Their binds are closed.
    pub clients_removed: Vec<String>,
    /// Their binds stay; new binds and new submits see the new settings.
    pub clients_changed: Vec<String>,
    pub carriers_added: Vec<String>,
    /// Drained and unbound; their routes' queues go to the carriers the routes name now.
    pub carriers_removed: Vec<String>,
    /// Connection or protocol settings changed: the old link is drained and unbound, a new
    /// one connects with the new settings under the same name.
    pub carriers_reconnected: Vec<String>,
    /// Only the link cap changed: set in place, sessions untouched.
    pub carrier_caps: Vec<(String, Option<NonZeroU32>)>,
    /// Routes or MO routes differ: the routing tables are replaced.
    pub routes_changed: bool,
    /// Keys whose change needs a restart; their running values stay.
    pub needs_restart: Vec<&'static str>,
}

impl Changes {
    /// Whether the new config changes nothing that reload applies.
    pub fn is_empty(&self) -> bool {
        self.clients_added.is_empty()
            && self.clients_removed.is_empty()
            && self.clients_changed.is_empty()
            && self.carriers_added.is_empty()
            && self.carriers_removed.is_empty()
            && self.carriers_reconnected.is_empty()
            && self.carrier_caps.is_empty()
            && !self.routes_changed
    }
}

/// What replacing `old` by `new` changes.
pub fn diff(old: &Config, new: &Config) -> Changes {
    let mut changes = Changes::default();

    for client in &new.clients {
        match old.client(&client.system_id) {
            None => changes.clients_added.push(client.system_id.clone()),
            Some(before) if before != client => {
                changes.clients_changed.push(client.system_id.clone());
            }
            Some(_) => {}
        }
    }
    for client in &old.clients {
        if new.client(&client.system_id).is_none() {
            changes.clients_removed.push(client.system_id.clone());
        }
    }

    for carrier in &new.carriers {
        match old.carrier(&carrier.name) {
            None => changes.carriers_added.push(carrier.name.clone()),
            Some(before) if before == carrier => {}
            Some(before) if same_but_cap(before, carrier) => changes
                .carrier_caps
                .push((carrier.name.clone(), carrier.throughput)),
            Some(_) => changes.carriers_reconnected.push(carrier.name.clone()),
        }
    }
    for carrier in &old.carriers {
        if new.carrier(&carrier.name).is_none() {
            changes.carriers_removed.push(carrier.name.clone());
        }
    }

    changes.routes_changed = old.routes != new.routes || old.mo_routes != new.mo_routes;

    let (a, b) = (&old.server, &new.server);
    let restart_keys: [(&'static str, bool); 12] = [
        ("server.listen", a.listen != b.listen),
        (
            "server.tls.listen",
            a.tls.as_ref().map(|t| &t.listen) != b.tls.as_ref().map(|t| &t.listen),
        ),
        ("server.system_id", a.system_id != b.system_id),
        ("server.max_pdu_bytes", a.max_pdu_bytes != b.max_pdu_bytes),
        (
            "server.max_connections",
            a.max_connections != b.max_connections,
        ),
        (
            "server.max_connections_per_ip",
            a.max_connections_per_ip != b.max_connections_per_ip,
        ),
        ("server.session", a.session != b.session),
        ("store", {
            let (mut x, mut y) = (old.store.clone(), new.store.clone());
            x.retention = None;
            y.retention = None;
            x != y
        }),
        (
            "store.retention",
            old.store.retention != new.store.retention,
        ),
        // The admin listener and token, and the log subscriber, are set up once at start.
        ("admin", old.admin != new.admin),
        ("log", old.log != new.log),
        // The cluster connection and its streams are set up once at start.
        ("cluster", old.cluster != new.cluster),
    ];
    changes.needs_restart = restart_keys
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
    changes
}

/// Whether two carrier configs differ in the link cap only (or not at all): the link keeps its
/// sessions.
pub fn same_but_cap(a: &CarrierConfig, b: &CarrierConfig) -> bool {
    let mut b = b.clone();
    b.throughput = a.throughput;
    *a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
listen = ["127.0.0.1:2775"]

[[clients]]
system_id = "shop"
password = "secret1"

[[clients]]
system_id = "crm"
password = "secret2"

[[carriers]]
name = "a"
host = "127.0.0.1"
port = 2776
system_id = "gw"
password = "pw"

[[carriers]]
name = "b"
host = "127.0.0.1"
port = 2777
system_id = "gw"
password = "pw"

[[routes]]
name = "default"
carriers = ["a", "b"]
"#;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap()
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let changes = diff(&config(BASE), &config(BASE));
        assert_eq!(changes, Changes::default());
        assert!(changes.is_empty());
    }

    #[test]
    fn clients_carriers_and_routes() {
        let new = BASE
            .replace(
                "system_id = \"crm\"\npassword = \"secret2\"",
                "system_id = \"otp\"\npassword = \"secret3\"",
            )
            .replace(
                "password = \"secret1\"",
                "password = \"secret1\"\nthroughput = 50",
            )
            .replace("port = 2777", "port = 2778")
            .replace(
                "name = \"a\"\nhost = \"127.0.0.1\"\nport = 2776",
                "name = \"a\"\nhost = \"127.0.0.1\"\nport = 2776\nthroughput = 100",
            )
            .replace("carriers = [\"a\", \"b\"]", "carriers = [\"b\", \"a\"]");
        let changes = diff(&config(BASE), &config(&new));
        assert_eq!(changes.clients_added, ["otp"]);
        assert_eq!(changes.clients_removed, ["crm"]);
        assert_eq!(changes.clients_changed, ["shop"]);
        assert_eq!(
            changes.carrier_caps,
            [("a".to_owned(), NonZeroU32::new(100))]
        );
        assert_eq!(changes.carriers_reconnected, ["b"]);
        assert!(changes.routes_changed);
        assert!(changes.needs_restart.is_empty());
        assert!(!changes.is_empty());
    }

    #[test]
    fn carriers_come_and_go() {
        let without_b = BASE
            .replace(
                "[[carriers]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = 2777\nsystem_id = \"gw\"\npassword = \"pw\"\n",
                "",
            )
            .replace("carriers = [\"a\", \"b\"]", "carriers = [\"a\"]");
        let changes = diff(&config(BASE), &config(&without_b));
        assert_eq!(changes.carriers_removed, ["b"]);
        assert!(changes.routes_changed);
        let changes = diff(&config(&without_b), &config(BASE));
        assert_eq!(changes.carriers_added, ["b"]);
    }

    #[test]
    fn listeners_and_the_store_need_a_restart() {
        let new = BASE.replace("127.0.0.1:2775", "127.0.0.1:2780")
            + "\n[store]\npath = \"elsewhere\"\nretention = \"1d\"\n\
               [admin]\nlisten = \"127.0.0.1:9775\"\n[log]\nformat = \"json\"\n\
               [cluster]\nnode = \"a\"\nservers = [\"nats://127.0.0.1:4222\"]\n";
        let changes = diff(&config(BASE), &config(&new));
        assert_eq!(
            changes.needs_restart,
            [
                "server.listen",
                "store",
                "store.retention",
                "admin",
                "log",
                "cluster"
            ]
        );
        // Nothing else: the running gateway keeps its listeners and store.
        assert!(changes.is_empty());
    }
}
