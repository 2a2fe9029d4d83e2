//! The running configuration: the config in force, the routing table and the client caps built
//! from it, as one snapshot. Built once at start and once per reload, handed to every service
//! (clients, carriers, admin), swapped whole: a request sees one config from start to end, and
//! no service can see a newer config than another.
//!
//! What an operator changes at runtime (a route's or a link's pause and cap) is not in it: that
//! state outlives reloads and belongs to the carrier side.

use crate::config::Config;
use crate::route::RoutingTable;
use arc_swap::ArcSwap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::sync::Arc;

/// One version of the running configuration.
pub struct Snapshot {
    /// The config in force.
    pub config: Arc<Config>,
    /// Where submits and MO go, per `[[routes]]` and `[[mo_routes]]`.
    pub routes: RoutingTable,
    /// One rate limiter per client with a `throughput` cap, by system_id. A reload starts them
    /// afresh.
    pub client_caps: HashMap<String, DefaultDirectRateLimiter>,
}

impl Snapshot {
    fn new(config: Arc<Config>) -> Self {
        let client_caps = config
            .clients
            .iter()
            .filter_map(|c| {
                let quota = Quota::per_second(c.throughput?);
                Some((c.system_id.clone(), RateLimiter::direct(quota)))
            })
            .collect();
        Self {
            routes: RoutingTable::new(&config),
            client_caps,
            config,
        }
    }
}

/// The running configuration, shared by every service. Cheap to clone.
#[derive(Clone)]
pub struct Live(Arc<ArcSwap<Snapshot>>);

impl Live {
    /// The running configuration, starting with `config`.
    pub fn new(config: Arc<Config>) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(Snapshot::new(config))))
    }

    /// The snapshot in force: hold it for the length of one request.
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.0.load().config.clone()
    }

    /// Makes `config` the one in force, with its routing table and client caps, in one swap.
    pub(crate) fn replace(&self, config: Arc<Config>) {
        self.0.store(Arc::new(Snapshot::new(config)));
    }
}
