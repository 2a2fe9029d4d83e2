//! What a new config changes for a running gateway (SIGHUP), worked out apart from applying it
//! so that the rules can be tested on their own.
//!
//! Applied live: clients (added, removed, changed), carriers, routes and MO routes, throughput
//! caps. Sessions nothing changed for (client binds, other carriers' links) stay on their
//! connections. For carriers ([`Carriers::reload`]):
//!
//! - added: connected and bound as at start, they take traffic for the routes naming them;
//! - removed: out of the link set at once (no new submits), then drained like at SIGTERM (the
//!   submits in flight get their answers, within a bound), unbound and closed;
//! - reconnected (connection settings changed: host, port, TLS, credentials, bind type…): the
//!   old link is drained and closed as if removed while a new one connects with the new
//!   settings under the same name, so receipts for what the old one sent still match;
//! - only the cap changed: set in place.
//!
//! Queues belong to routes, not to carriers, so nothing is stranded by a carrier going: a
//! route's queue drains into the carriers the route names now, and a submit the old link never
//! got an answer for is still queued and goes again (at least once, as after a restart). Only
//! a route removed with its carrier leaves a queue with no one to drain it; its messages wait
//! there (listed by `smppctl queues`, with a warning at the reload) until a route of that name
//! comes back or an operator purges them.
//!
//! The TLS listeners' certificate and key are read again on every reload (a renewed
//! certificate under the same file names is taken; new handshakes use it).
//!
//! Not applied live (the running value stays, and the reload says a restart is needed):
//! listener addresses, adding or removing `[server.tls]`, connection and PDU limits, the store.

use crate::carrier::Carriers;
use crate::config::{CarrierConfig, Config};
use crate::esme::listener::TlsIdentity;
use crate::esme::EsmeService;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Re-reads the config file and applies it to the running gateway.
pub struct Reloader {
    path: Option<PathBuf>,
    current: Mutex<Arc<Config>>,
    esme: Arc<EsmeService>,
    carriers: Arc<Carriers>,
    tls: Option<TlsIdentity>,
}

impl Reloader {
    /// For the gateway made of `esme` and `carriers`, running `current` read from `path`
    /// (`None`: the embedded default, which there is no file to re-read for), whose TLS
    /// listeners, if any, serve `tls`.
    pub fn new(
        path: Option<PathBuf>,
        current: Arc<Config>,
        esme: Arc<EsmeService>,
        carriers: Arc<Carriers>,
        tls: Option<TlsIdentity>,
    ) -> Self {
        Self {
            path,
            current: Mutex::new(current),
            esme,
            carriers,
            tls,
        }
    }

    /// Reads the file; if it is valid, applies it and returns what changed. Otherwise (or when
    /// a new or changed carrier's TLS files cannot be loaded) the running config stays and the
    /// error says why, every problem with its key. Carriers removed or reconnected are drained
    /// in the background: the reload returns before they are unbound.
    pub fn reload(&self) -> Result<Changes, String> {
        let Some(path) = &self.path else {
            return Err("running the embedded default config: no file to reload".to_owned());
        };
        let new = Config::load(path)
            .map_err(|errors| format!("{}: {errors}; the running config stays", path.display()))?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = diff(&current, &new);
        // Loaded before anything is applied, so that an unreadable certificate refuses it all.
        let tls = match (&self.tls, &new.server.tls) {
            (Some(identity), Some(files)) => Some(
                identity
                    .clone()
                    .reload_later(files)
                    .map_err(|e| format!("{e}; nothing reloaded, the running config stays"))?,
            ),
            _ => None,
        };
        let new = Arc::new(new);
        // The carrier side next: it is the part that can still refuse.
        self.carriers
            .reload(new.clone())
            .map_err(|e| format!("{e}; nothing reloaded, the running config stays"))?;
        if let Some(apply) = tls {
            apply();
            tracing::info!("TLS listeners' certificate and key read again");
        }
        self.esme.reload(new.clone(), &changes.clients_removed);
        *current = new;
        Ok(changes)
    }
}

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
    let restart_keys: [(&'static str, bool); 11] = [
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
    ];
    changes.needs_restart = restart_keys
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect();
    changes
}

/// Whether two carrier configs differ in the link cap only (or not at all): the link keeps its
/// sessions.
pub(crate) fn same_but_cap(a: &CarrierConfig, b: &CarrierConfig) -> bool {
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
               [admin]\nlisten = \"127.0.0.1:9775\"\n[log]\nformat = \"json\"\n";
        let changes = diff(&config(BASE), &config(&new));
        assert_eq!(
            changes.needs_restart,
            ["server.listen", "store", "store.retention", "admin", "log"]
        );
        // Nothing else: the running gateway keeps its listeners and store.
        assert!(changes.is_empty());
    }
}
