//! Upstream carrier links: connect and bind to each carrier's SMSC, drain the route queues into
//! them at the allowed rate, and take their receipts and MO back in.
//!
//! First cut: transceiver binds over plain TCP. Not yet: `bind = "pair"`, TLS toward carriers,
//! slowing a link down on ESME_RTHROTTLED beyond the per-message retry.

mod dispatch;
mod intake;
mod link;

pub use link::Link;

use crate::config::Config;
use crate::esme::EsmeService;
use crate::route::RoutingTable;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything the carrier side shares.
pub struct Carriers {
    config: Arc<Config>,
    store: Store,
    routes: RoutingTable,
    links: HashMap<String, Arc<Link>>,
    esme: Arc<EsmeService>,
    /// Woken when messages are queued, so dispatch need not poll fast.
    queued: Arc<Notify>,
    /// Woken when a carrier id is recorded: a receipt that came before its submit_sm_resp may
    /// match now.
    dispatched: Notify,
}

impl Carriers {
    /// The carrier side for `config`; nothing runs until [`Carriers::start`].
    /// `queued` is the signal the client side gives when it stores new messages.
    /// Fails when a carrier's TLS settings cannot be loaded.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        esme: Arc<EsmeService>,
        queued: Arc<Notify>,
    ) -> Result<Arc<Self>, String> {
        let mut links = HashMap::new();
        for carrier in &config.carriers {
            let link = Link::new(carrier.clone())
                .map_err(|e| format!("carriers.{}: {e}", carrier.name))?;
            links.insert(carrier.name.clone(), Arc::new(link));
        }
        Ok(Arc::new(Self {
            routes: RoutingTable::new(&config),
            config,
            store,
            links,
            esme,
            queued,
            dispatched: Notify::new(),
        }))
    }

    /// Starts every link's sessions and every route's dispatcher.
    pub fn start(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        for link in self.links.values() {
            for slot in 0..link.config.sessions.get() {
                tracker.spawn(link::run_slot(
                    self.clone(),
                    link.clone(),
                    slot,
                    shutdown.clone(),
                ));
            }
        }
        for route in self.routes.routes() {
            tracker.spawn(dispatch::run_route(
                self.clone(),
                route.name().to_owned(),
                shutdown.clone(),
            ));
        }
    }

    /// Tells the dispatchers that messages were queued.
    pub fn notify_queued(&self) {
        self.queued.notify_waiters();
    }

    /// Whether the named link has a bound session.
    pub fn is_up(&self, link: &str) -> bool {
        self.links.get(link).is_some_and(|l| l.is_up())
    }
}
