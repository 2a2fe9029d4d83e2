//! Upstream carrier links: connect and bind to each carrier's SMSC, drain the route queues into
//! them at the allowed rate, and take their receipts and MO back in.

mod dispatch;
mod early;
mod intake;
mod lanes;
mod link;
mod mo;

pub use link::{Link, SlotState, SlotStatus};

use crate::config::{same_but_cap, CarrierConfig, Config};
use crate::handoff::Handoff;
use crate::live::{Live, Snapshot};
use crate::outbox::Outboxes;
use crate::store::Store;
use crate::sync::lock;
use crate::telemetry::Scope;
use crate::throttle::Throttle;
use arc_swap::ArcSwap;
use dashmap::DashMap;
use link::Retirement;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Most HELP / CONTACT answers remembered for their interval.
const ANSWERS_REMEMBERED: usize = 100_000;

/// Everything the carrier side shares.
pub struct Carriers {
    /// The running configuration and routing table, swapped by a reload.
    live: Live,
    store: Store,
    /// The links in force, swapped whole by a reload that adds, removes or reconnects carriers.
    links: ArcSwap<LinkSet>,
    /// Links a reload removed or replaced, until they are drained and unbound: their submits in
    /// flight still get answers and their receipts still come in meanwhile.
    retiring: Mutex<Vec<Arc<Link>>>,
    /// What an operator may change about each route, by route name.
    route_controls: ArcSwap<HashMap<String, Arc<RouteControl>>>,
    /// Where links and dispatchers run once started; held by a reload while it swaps links.
    tasks: Mutex<Option<Running>>,
    /// Where MO and the receipts of messages ended here go.
    outboxes: Arc<Outboxes>,
    /// Woken when messages are queued, so dispatch need not poll fast.
    queued: Arc<Notify>,
    /// When each (client, number, keyword) last got smppd's answer to HELP or CONTACT, unix ms.
    answered: DashMap<String, i64>,
    /// Parts of long replies waiting for the rest, for the keyword engine.
    mo_parts: Mutex<mo::Reassembly>,
    /// The campaigns' caps, shared by every route's dispatcher.
    campaigns: lanes::CampaignCaps,
    /// Cluster mode: the engine that holds the queues; unset on a single node.
    handoff: OnceLock<Arc<dyn Handoff>>,
    /// Cluster mode: the links whose group this node owns, the only ones it connects.
    owned: Mutex<HashSet<String>>,
}

/// What a reload builds before anything changes ([`Carriers::prepare`]): the links of carriers
/// added or whose connection settings changed.
pub struct Prepared {
    fresh: HashMap<String, Arc<Link>>,
}

/// The carrier links in force: by name, and their names in config order.
struct LinkSet {
    by_name: HashMap<String, Arc<Link>>,
    order: Vec<String>,
}

impl LinkSet {
    fn new(links: Vec<Arc<Link>>) -> Self {
        Self {
            order: links.iter().map(|l| l.name().to_owned()).collect(),
            by_name: links
                .into_iter()
                .map(|l| (l.name().to_owned(), l))
                .collect(),
        }
    }
}

/// Where the carrier side's tasks run once started.
struct Running {
    tracker: TaskTracker,
    /// The gateway's graceful stop: no new submits, no reconnects.
    stop: CancellationToken,
    /// The end of every session.
    shutdown: CancellationToken,
}

/// How long a stopping link waits for carriers to answer the submits in flight (at SIGTERM, or
/// when a reload removes or reconnects it); those still unanswered are sent again.
pub(crate) const DRAIN_CARRIERS: Duration = Duration::from_secs(10);
/// How long it then waits for its unbinds to be answered before it closes the connections.
pub(crate) const DRAIN_UNBINDS: Duration = Duration::from_secs(2);

impl Carriers {
    /// The carrier side for `config`; nothing runs until [`Carriers::start`]. MO and the
    /// receipts of messages that end here go to `outboxes`; `queued` is the signal the client
    /// side gives when it stores new messages. Fails when a carrier's TLS settings cannot be
    /// loaded.
    pub fn new(
        live: Live,
        store: Store,
        outboxes: Arc<Outboxes>,
        queued: Arc<Notify>,
    ) -> Result<Arc<Self>, String> {
        let config = live.config();
        let links = config
            .carriers
            .iter()
            .map(|carrier| new_link(carrier).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
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
            live,
            route_controls: ArcSwap::from_pointee(route_controls),
            tasks: Mutex::new(None),
            links: ArcSwap::from_pointee(LinkSet::new(links)),
            retiring: Mutex::new(Vec::new()),
            store,
            outboxes,
            queued,
            answered: DashMap::new(),
            mo_parts: Mutex::new(mo::Reassembly::default()),
            campaigns: lanes::CampaignCaps::default(),
            handoff: OnceLock::new(),
            owned: Mutex::new(HashSet::new()),
        }))
    }

    /// Cluster mode: from now on links connect only once [`Carriers::take_up`] names them,
    /// and every submit asks `handoff` first. Set before [`Carriers::start`].
    pub fn set_handoff(&self, handoff: Arc<dyn Handoff>) {
        let _ = self.handoff.set(handoff);
    }

    /// The engine in cluster mode.
    pub(crate) fn handoff(&self) -> Option<&Arc<dyn Handoff>> {
        self.handoff.get()
    }

    /// Cluster mode: this node now owns the group of these links; connects them.
    pub fn take_up(self: &Arc<Self>, links: &[String]) {
        lock(&self.owned).extend(links.iter().cloned());
        let tasks = lock(&self.tasks);
        if let Some(running) = tasks.as_ref() {
            let set = self.links.load();
            for name in links {
                if let Some(link) = set.by_name.get(name) {
                    self.spawn_link(link, running);
                }
            }
        }
    }

    /// Cluster mode: this node no longer owns the group of these links. Each is drained and
    /// unbound as a reload retires a link (its sessions write nothing more once the fence
    /// lapsed; answers still due are taken), and a fresh link, not connected, takes its place
    /// for the next ownership.
    pub fn give_up(self: &Arc<Self>, links: &[String]) {
        let mut owned = lock(&self.owned);
        for name in links {
            owned.remove(name);
        }
        drop(owned);
        let tasks = lock(&self.tasks);
        let old = self.links.load_full();
        let mut fresh = Vec::new();
        let mut retired = Vec::new();
        for name in &old.order {
            let Some(link) = old.by_name.get(name) else {
                continue;
            };
            if !links.contains(name) {
                fresh.push(link.clone());
                continue;
            }
            match new_link(&link.config) {
                Ok(replacement) => {
                    replacement.set_paused(link.is_paused());
                    fresh.push(Arc::new(replacement));
                    retired.push(link.clone());
                }
                // Its TLS files were readable at start: keep the link, unconnected or not.
                Err(e) => {
                    tracing::error!(error = %e, "cannot renew a link given up");
                    fresh.push(link.clone());
                }
            }
        }
        self.links.store(Arc::new(LinkSet::new(fresh)));
        if let Some(running) = tasks.as_ref() {
            for link in retired {
                lock(&self.retiring).push(link.clone());
                running
                    .tracker
                    .spawn(link::retire(self.clone(), link, Retirement::GivenUp));
            }
        }
    }

    /// Starts every link's sessions (until `shutdown`) and every route's dispatcher (until
    /// `stop`: a stopping gateway sends no new submits but still takes responses and receipts).
    pub fn start(
        self: &Arc<Self>,
        tracker: &TaskTracker,
        stop: &CancellationToken,
        shutdown: &CancellationToken,
    ) {
        // Held throughout: a reload meanwhile sees either nothing started or everything.
        let mut tasks = lock(&self.tasks);
        let running = Running {
            tracker: tracker.clone(),
            stop: stop.clone(),
            shutdown: shutdown.clone(),
        };
        for link in self.links.load().by_name.values() {
            self.spawn_link(link, &running);
        }
        for route in self.live.load().routes.routes() {
            tracker.spawn(dispatch::run_route(
                self.clone(),
                route.name().to_owned(),
                stop.clone(),
            ));
        }
        *tasks = Some(running);
    }

    /// Runs `link`'s session slots under tokens of its own, children of the gateway's: a
    /// reload can stop one link without touching the others.
    fn spawn_link(self: &Arc<Self>, link: &Arc<Link>, running: &Running) {
        if self.handoff.get().is_some() && !lock(&self.owned).contains(link.name()) {
            return; // Another node's, or nobody's yet.
        }
        let tokens = link::LinkTokens {
            stop: running.stop.child_token(),
            shutdown: running.shutdown.child_token(),
        };
        if !link.set_tokens(tokens.clone()) {
            return; // Started already.
        }
        for slot in 0..link.config.sessions.get() {
            running.tracker.spawn(link::run_slot(
                self.clone(),
                link.clone(),
                slot,
                (tokens.stop.clone(), tokens.shutdown.clone()),
            ));
        }
    }

    /// Takes a reloaded config, in two steps around the swap of the running configuration
    /// ([`Live`]): [`Carriers::prepare`] builds what can fail, [`Carriers::apply`] the rest.
    /// Caps change in place; added routes get a dispatcher, removed ones stop theirs. Pauses set
    /// by an operator stay.
    ///
    /// Carriers: an added one is started as at boot; a removed one leaves the link set at once
    /// (no new submits go to it), is drained (its submits in flight get up to
    /// [`DRAIN_CARRIERS`] for their answers), then unbound; one whose connection settings
    /// changed is drained and unbound the same way while a new link with the new settings
    /// connects under the same name (so its receipts still match). Other links keep their
    /// sessions.
    ///
    /// Queues belong to routes, not carriers: a route's queue drains into whichever of its
    /// carriers is up, so messages waiting for a removed carrier flow to the carriers their
    /// route names now. A submit the removed carrier did not answer stays queued (it never left
    /// the store) and goes again, without using up an attempt, as after a restart. A queue whose
    /// route was removed too keeps its messages until a route of that name comes back; the
    /// admin API still lists it, and a warning says how many wait.
    ///
    /// Fails, changing nothing, when a new or changed carrier's TLS files cannot be loaded.
    pub fn prepare(&self, config: &Config) -> Result<Prepared, String> {
        let old = self.links.load_full();
        // Built before anything changes, so that a bad TLS file refuses the whole reload.
        let mut fresh = HashMap::new();
        for carrier in &config.carriers {
            let kept = old
                .by_name
                .get(&carrier.name)
                .is_some_and(|link| same_but_cap(&link.config, carrier));
            if !kept {
                fresh.insert(carrier.name.clone(), Arc::new(new_link(carrier)?));
            }
        }
        Ok(Prepared { fresh })
    }

    /// The second step of a reload: `config` has replaced `old` as the running one.
    pub fn apply(self: &Arc<Self>, old_config: &Config, config: &Config, prepared: Prepared) {
        let Prepared { mut fresh } = prepared;
        let old = self.links.load_full();
        let tasks = lock(&self.tasks);
        let mut links = Vec::new();
        let mut started = Vec::new();
        let mut retired = Vec::new();
        for carrier in &config.carriers {
            let before = old.by_name.get(&carrier.name);
            let link = match (fresh.remove(&carrier.name), before) {
                (Some(link), Some(before)) => {
                    tracing::info!(carrier = %carrier.name, "connection settings changed by reload; reconnecting");
                    // An operator's pause outlives the reconnect.
                    link.set_paused(before.is_paused());
                    retired.push((before.clone(), Retirement::Reconnected));
                    started.push(link.clone());
                    link
                }
                (Some(link), None) => {
                    tracing::info!(carrier = %carrier.name, "carrier added by reload; connecting");
                    started.push(link.clone());
                    link
                }
                (None, Some(before)) => {
                    if before.throttle().configured() != carrier.throughput {
                        before.throttle().set(carrier.throughput);
                    }
                    before.clone()
                }
                // Every carrier without a link before got a fresh one above.
                (None, None) => continue,
            };
            links.push(link);
        }
        for name in &old.order {
            if config.carrier(name).is_none() {
                if let Some(link) = old.by_name.get(name) {
                    retired.push((link.clone(), Retirement::Removed));
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
        warn_of_moved_queues(&self.store, old_config, config, &retired);
        self.route_controls.store(Arc::new(controls));
        self.links.store(Arc::new(LinkSet::new(links)));
        // Before `start`, the new set is simply what it will start.
        if let Some(running) = tasks.as_ref() {
            for link in &started {
                self.spawn_link(link, running);
            }
            for (link, why) in retired {
                lock(&self.retiring).push(link.clone());
                running.tracker.spawn(link::retire(self.clone(), link, why));
            }
            for route in added {
                running.tracker.spawn(dispatch::run_route(
                    self.clone(),
                    route,
                    running.stop.clone(),
                ));
            }
        }
        drop(tasks);
        self.queued.notify_waiters();
    }

    /// A retired link is drained and unbound: it no longer counts.
    fn forget_retired(&self, link: &Arc<Link>) {
        lock(&self.retiring).retain(|l| !Arc::ptr_eq(l, link));
    }

    /// Tells the dispatchers that messages were queued.
    /// Whether `client` may answer `what` (help, contact) to `number` at `now`: not within
    /// `interval` ms of its last answer. Records the answer when it may.
    pub(crate) fn answer_due(
        &self,
        client: &str,
        number: &str,
        what: &str,
        now: i64,
        interval: i64,
    ) -> bool {
        // Bounded: a flood of distinct numbers clears the memory rather than growing it.
        if self.answered.len() >= ANSWERS_REMEMBERED {
            self.answered.clear();
        }
        let key = format!("{client}\0{number}\0{what}");
        let mut last = self.answered.entry(key).or_insert(i64::MIN);
        if now.saturating_sub(*last) < interval {
            return false;
        }
        *last = now;
        true
    }

    pub fn notify_queued(&self) {
        self.queued.notify_waiters();
    }

    /// Whether the named link can take messages: a session is bound and no operator paused
    /// it. Routes fail over past links that cannot.
    pub fn is_up(&self, link: &str) -> bool {
        self.links
            .load()
            .by_name
            .get(link)
            .is_some_and(|l| l.is_up() && !l.is_paused())
    }

    /// The link in force with this name.
    pub fn link(&self, name: &str) -> Option<Arc<Link>> {
        self.links.load().by_name.get(name).cloned()
    }

    /// Every link in force, in config order (not those a reload is still draining).
    pub fn links(&self) -> Vec<Arc<Link>> {
        let set = self.links.load();
        set.order
            .iter()
            .filter_map(|name| set.by_name.get(name).cloned())
            .collect()
    }

    /// The links in force and those a reload is still draining.
    fn all_links(&self) -> Vec<Arc<Link>> {
        let mut links = self.links();
        links.extend(lock(&self.retiring).iter().cloned());
        links
    }

    /// The running configuration and routing table.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load()
    }

    /// The operator's controls of the route with this name.
    pub fn route_control(&self, route: &str) -> Option<Arc<RouteControl>> {
        self.route_controls.load().get(route).cloned()
    }

    /// Submits sent to carriers and not answered yet, all links together (draining ones too).
    pub fn unanswered(&self) -> usize {
        self.all_links().iter().map(|l| l.unanswered()).sum()
    }

    /// Whether any link, draining ones too, still has a bound session.
    pub fn any_up(&self) -> bool {
        self.all_links().iter().any(|l| l.is_up())
    }

    /// Unbinds every carrier session (at shutdown, once nothing is in flight).
    pub async fn unbind_all(&self) {
        for link in self.all_links() {
            link.unbind().await;
        }
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }
}

/// A link for `carrier`; the error names the carrier (its TLS files).
fn new_link(carrier: &CarrierConfig) -> Result<Link, String> {
    Link::new(carrier.clone()).map_err(|e| format!("carriers.{}: {e}", carrier.name))
}

/// Says where the queues of routes that named a removed carrier go now: to the carriers the
/// route names in the new config, or nowhere when the route went too.
fn warn_of_moved_queues(
    store: &Store,
    old: &Config,
    new: &Config,
    retired: &[(Arc<Link>, Retirement)],
) {
    let removed: Vec<&str> = retired
        .iter()
        .filter(|(_, why)| matches!(why, Retirement::Removed))
        .map(|(link, _)| link.name())
        .collect();
    for route in &old.routes {
        let gone: Vec<&str> = route
            .carriers
            .iter()
            .map(String::as_str)
            .filter(|c| removed.contains(c))
            .collect();
        let waiting = store.queue_depth(&route.name);
        match new.routes.iter().find(|r| r.name == route.name) {
            Some(now) if !gone.is_empty() => tracing::info!(
                route = %route.name, removed = ?gone, carriers = ?now.carriers, waiting,
                "carrier removed by reload; the route's queue goes to its carriers now"
            ),
            Some(_) => {}
            None => tracing::warn!(
                route = %route.name, removed = ?gone, waiting,
                "route removed by reload: {waiting} messages stay in its queue until a route of \
                 that name comes back (smppctl queues lists it; smppctl purge ends them)"
            ),
        }
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
