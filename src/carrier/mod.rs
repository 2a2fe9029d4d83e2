//! Upstream carrier links: connect and bind to each carrier's SMSC, drain the route queues into
//! them at the allowed rate, and take their receipts and MO back in.

mod dispatch;
mod intake;
mod link;

pub use link::{Link, SlotState, SlotStatus};

use crate::config::Config;
use crate::esme::EsmeService;
use crate::route::RoutingTable;
use crate::store::Store;
use crate::telemetry::Scope;
use crate::throttle::Throttle;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// What an operator may change about each route, by route name.
    route_controls: HashMap<String, RouteControl>,
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
        let route_controls = config
            .routes
            .iter()
            .map(|r| (r.name.clone(), RouteControl::new(&r.name, r.throughput)))
            .collect();
        Ok(Arc::new(Self {
            routes: RoutingTable::new(&config),
            route_controls,
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

    /// Whether the named link can take messages: a session is bound and no operator paused
    /// it. Routes fail over past links that cannot.
    pub fn is_up(&self, link: &str) -> bool {
        self.links
            .get(link)
            .is_some_and(|l| l.is_up() && !l.is_paused())
    }

    /// The link with this name.
    pub fn link(&self, name: &str) -> Option<&Arc<Link>> {
        self.links.get(name)
    }

    /// Every link, in config order.
    pub fn links(&self) -> impl Iterator<Item = &Arc<Link>> {
        self.config
            .carriers
            .iter()
            .filter_map(|c| self.links.get(&c.name))
    }

    /// The routing table.
    pub fn routes(&self) -> &RoutingTable {
        &self.routes
    }

    /// The operator's controls of the route with this name.
    pub fn route_control(&self, route: &str) -> Option<&RouteControl> {
        self.route_controls.get(route)
    }
}

/// What an operator may change about a route while it runs: pause it, change its cap.
pub struct RouteControl {
    paused: AtomicBool,
    throttle: Throttle,
}

impl RouteControl {
    fn new(route: &str, rate: Option<std::num::NonZeroU32>) -> Self {
        Self {
            paused: AtomicBool::new(false),
            throttle: Throttle::new(Scope::Route, route, rate),
        }
    }

    /// Whether an operator has paused the route: its queue keeps filling, nothing leaves it.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Pauses (`true`) or resumes the route; returns whether that changed anything.
    pub fn set_paused(&self, paused: bool) -> bool {
        self.paused.swap(paused, Ordering::AcqRel) != paused
    }

    /// The route's throughput cap, which an operator may change.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }
}
