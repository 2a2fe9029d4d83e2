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
use crate::config::{diff, Changes, Config};
use crate::esme::listener::TlsIdentity;
use crate::esme::EsmeService;
use crate::live::Live;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Re-reads the config file and applies it to the running gateway.
pub struct Reloader {
    path: Option<PathBuf>,
    live: Live,
    /// Held through a reload: one at a time.
    reloading: Mutex<()>,
    esme: Arc<EsmeService>,
    carriers: Arc<Carriers>,
    tls: Option<TlsIdentity>,
}

impl Reloader {
    /// For the gateway made of `esme` and `carriers`, running `live` read from `path`
    /// (`None`: the embedded default, which there is no file to re-read for), whose TLS
    /// listeners, if any, serve `tls`.
    pub fn new(
        path: Option<PathBuf>,
        live: Live,
        esme: Arc<EsmeService>,
        carriers: Arc<Carriers>,
        tls: Option<TlsIdentity>,
    ) -> Self {
        Self {
            path,
            live,
            reloading: Mutex::new(()),
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
        let _one_at_a_time = crate::sync::lock(&self.reloading);
        let current = self.live.config();
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
        // The carrier side's new links next: the last part that can still refuse.
        let prepared = self
            .carriers
            .prepare(&new)
            .map_err(|e| format!("{e}; nothing reloaded, the running config stays"))?;
        let new = Arc::new(new);
        // The one swap: every service sees the new clients, routes and caps from here on.
        self.live.replace(new.clone());
        self.carriers.apply(&current, &new, prepared);
        if let Some(apply) = tls {
            apply();
            tracing::info!("TLS listeners' certificate and key read again");
        }
        self.esme.unbind_removed(&changes.clients_removed);
        Ok(changes)
    }
}
