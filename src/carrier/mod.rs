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
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything the carrier side shares.
pub struct Carriers {
    /// Swapped whole by a reload, like the routing table and the route controls.
    config: ArcSwap<Config>,
    store: Store,
    routes: ArcSwap<RoutingTable>,
    /// The links never change while running (a reload that changes carriers is refused).
    links: HashMap<String, Arc<Link>>,
    /// Their names in config order.
    link_order: Vec<String>,
    /// What an operator may change about each route, by route name.
    route_controls: ArcSwap<HashMap<String, Arc<RouteControl>>>,
    /// Where dispatchers of routes a reload adds run.
    tasks: Mutex<Option<(TaskTracker, CancellationToken)>>,
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
            .map(|r| {
                (
                    r.name.clone(),
                    Arc::new(RouteControl::new(&r.name, r.throughput)),
                )
            })
            .collect();
        Ok(Arc::new(Self {
            routes: ArcSwap::from_pointee(RoutingTable::new(&config)),
            route_controls: ArcSwap::from_pointee(route_controls),
            tasks: Mutex::new(None),
            link_order: config.carriers.iter().map(|c| c.name.clone()).collect(),
            config: ArcSwap::new(config),
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
        for route in self.routes.load().routes() {
            tracker.spawn(dispatch::run_route(
                self.clone(),
                route.name().to_owned(),
                shutdown.clone(),
            ));
        }
        *lock(&self.tasks) = Some((tracker.clone(), shutdown.clone()));
    }

    /// Takes a reloaded config with the same carriers: routes, MO routes and caps change in
    /// place; added routes get a dispatcher, removed ones stop theirs (messages still in their
    /// queue wait there until a route of that name comes back). Pauses set by an operator stay.
    pub fn reload(self: &Arc<Self>, config: Arc<Config>) {
        for carrier in &config.carriers {
            if let Some(link) = self.links.get(&carrier.name) {
                if link.throttle().configured() != carrier.throughput {
                    link.throttle().set(carrier.throughput);
                }
            }
        }
        let old_controls = self.route_controls.load_full();
        let mut controls = HashMap::new();
        let mut added = Vec::new();
        for route in &config.routes {
            let control = match old_controls.get(&route.name) {
                Some(control) => {
                    if control.throttle().configured() != route.throughput {
                        control.throttle().set(route.throughput);
                    }
                    control.clone()
                }
                None => {
                    added.push(route.name.clone());
                    Arc::new(RouteControl::new(&route.name, route.throughput))
                }
            };
            controls.insert(route.name.clone(), control);
        }
        for name in old_controls.keys().filter(|n| !controls.contains_key(*n)) {
            let waiting = self.store.queue_depth(name);
            tracing::warn!(route = %name, waiting, "route removed by reload; its queue waits for a route of that name");
        }
        self.route_controls.store(Arc::new(controls));
        self.routes.store(Arc::new(RoutingTable::new(&config)));
        self.config.store(config);
        if let Some((tracker, shutdown)) = lock(&self.tasks).as_ref() {
            for route in added {
                tracker.spawn(dispatch::run_route(self.clone(), route, shutdown.clone()));
            }
        }
        self.queued.notify_waiters();
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
        self.link_order
            .iter()
            .filter_map(|name| self.links.get(name))
    }

    /// The routing table in force.
    pub fn routes(&self) -> Arc<RoutingTable> {
        self.routes.load_full()
    }

    /// The operator's controls of the route with this name.
    pub fn route_control(&self, route: &str) -> Option<Arc<RouteControl>> {
        self.route_controls.load().get(route).cloned()
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
