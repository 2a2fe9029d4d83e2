//! The routing table: which `[[routes]]` entry a submitted message takes and the carriers to
//! try for it, in order; which client gets a carrier's mobile-originated message. Pure: built
//! once from the validated config, no I/O, no clock.

use crate::config::{AddressPattern, Config, MoRouteConfig, RouteConfig};
use std::num::NonZeroU32;

/// The routes and MO routes of a config, in config order.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    routes: Vec<Route>,
    mo_routes: Vec<MoRouteConfig>,
}

/// One `[[routes]]` entry: its match conditions and its carriers.
#[derive(Clone, Debug)]
pub struct Route {
    name: String,
    /// Digits, no leading `+` (the config strips it).
    destination_prefixes: Vec<String>,
    clients: Vec<String>,
    source_addresses: Vec<AddressPattern>,
    /// Failover order; never empty (the config checks).
    carriers: Vec<String>,
    /// One per carrier when the route spreads by weight.
    weights: Option<Vec<u64>>,
    throughput: Option<NonZeroU32>,
    marketing_throughput: Option<NonZeroU32>,
    marketing_min_share: u8,
    max_queue: usize,
}

impl RoutingTable {
    /// The table for `config`'s `[[routes]]` and `[[mo_routes]]`.
    pub fn new(config: &Config) -> Self {
        Self {
            routes: config.routes.iter().map(Route::new).collect(),
            mo_routes: config.mo_routes.clone(),
        }
    }

    /// The route for a message from `client` (its system_id) with these source and
    /// destination addresses: the first in config order whose conditions all match. `None`:
    /// no route takes it, and the submit is to be refused.
    pub fn route(&self, client: &str, source: &str, destination: &str) -> Option<&Route> {
        // Prefixes are configured without `+`; "+4477…" and "4477…" are the same number.
        let destination = destination.strip_prefix('+').unwrap_or(destination);
        self.routes
            .iter()
            .find(|route| route.matches(client, source, destination))
    }

    /// The route with this name (a stored message names its route).
    pub fn named(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.name == name)
    }

    /// Every route, in config order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The client (system_id) that gets a carrier's MO message sent to `destination`: that of
    /// the first `[[mo_routes]]` entry with a matching pattern. `None`: nobody takes it.
    pub fn mo_client(&self, destination: &str) -> Option<&str> {
        // Patterns are configured without `+`; carriers write MO destinations either way.
        let destination = destination.strip_prefix('+').unwrap_or(destination);
        self.mo_routes
            .iter()
            .find(|mo| mo.destinations.iter().any(|p| p.matches(destination)))
            .map(|mo| mo.client.as_str())
    }
}

impl Route {
    fn new(config: &RouteConfig) -> Self {
        Self {
            name: config.name.clone(),
            destination_prefixes: config.destination_prefixes.clone(),
            clients: config.clients.clone(),
            source_addresses: config.source_addresses.clone(),
            carriers: config.carriers.clone(),
            weights: config
                .weights
                .as_ref()
                .map(|weights| weights.iter().map(|w| u64::from(w.get())).collect()),
            throughput: config.throughput,
            marketing_throughput: config.marketing_throughput,
            marketing_min_share: config.marketing_min_share,
            max_queue: config.max_queue.get(),
        }
    }

    /// The route's name (`[[routes]] name`): its queue and metrics label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Most messages per second through the route; `None` = unlimited.
    pub fn throughput(&self) -> Option<NonZeroU32> {
        self.throughput
    }

    /// Most segments per second of marketing through the route; `None` = unlimited.
    pub fn marketing_throughput(&self) -> Option<NonZeroU32> {
        self.marketing_throughput
    }

    /// Marketing's share of the sends while transactional messages wait too, in percent.
    pub fn marketing_min_share(&self) -> u8 {
        self.marketing_min_share
    }

    /// Most messages its queue takes; more submits are refused.
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Its carriers in failover order, as configured (never empty).
    pub fn failover_order(&self) -> &[String] {
        &self.carriers
    }

    /// Whether the route spreads messages by weight rather than failing over in order.
    pub fn is_weighted(&self) -> bool {
        self.weights.is_some()
    }

    /// The carriers to try for one message, best first; every carrier of the route appears
    /// once. `up` says whether a carrier link can take a message now; `key` (the message id)
    /// makes a weighted pick deterministic for that message.
    ///
    /// Failover: the carriers that are up in failover order, then the down ones in failover
    /// order, so a message can still wait for one when none is up. Weighted: first a carrier
    /// picked by weight among those up (among all, if none is), then the other up ones in
    /// failover order, then the down ones.
    pub fn carriers(&self, up: impl Fn(&str) -> bool, key: u64) -> Vec<&str> {
        // Ask once per carrier: `up` may read shared state that changes between calls.
        let states: Vec<(&str, bool)> = self
            .carriers
            .iter()
            .map(|name| (name.as_str(), up(name)))
            .collect();
        let first = self
            .weights
            .as_ref()
            .and_then(|weights| weighted_pick(&states, weights, key));
        let mut order = Vec::with_capacity(states.len());
        order.extend(first);
        for want_up in [true, false] {
            order.extend(
                states
                    .iter()
                    .filter(|&&(name, is_up)| is_up == want_up && Some(name) != first)
                    .map(|&(name, _)| name),
            );
        }
        order
    }

    /// Whether a message matches every condition; `destination` has no leading `+`.
    fn matches(&self, client: &str, source: &str, destination: &str) -> bool {
        (self.destination_prefixes.is_empty()
            || self
                .destination_prefixes
                .iter()
                .any(|prefix| destination.starts_with(prefix.as_str())))
            && (self.clients.is_empty() || self.clients.iter().any(|c| c == client))
            && (self.source_addresses.is_empty()
                || self.source_addresses.iter().any(|p| p.matches(source)))
    }
}

/// A carrier chosen with probability proportional to its weight among the eligible ones
/// (those up, or all if none is), by a hash of `key`.
fn weighted_pick<'a>(states: &[(&'a str, bool)], weights: &[u64], key: u64) -> Option<&'a str> {
    let any_up = states.iter().any(|&(_, is_up)| is_up);
    let eligible = || {
        states
            .iter()
            .zip(weights)
            .filter(move |&(&(_, is_up), _)| is_up || !any_up)
            .map(|(&(name, _), &weight)| (name, weight))
    };
    // At most 64 × u32::MAX: no overflow.
    let total: u64 = eligible().map(|(_, weight)| weight).sum();
    if total == 0 {
        return None;
    }
    let mut point = mix(key) % total;
    for (name, weight) in eligible() {
        if point < weight {
            return Some(name);
        }
        point -= weight;
    }
    None
}

/// splitmix64's finaliser: spreads sequential ids evenly. Written out rather than std's
/// `DefaultHasher`, whose output may change between Rust releases: a message must keep its
/// carrier across a restart of a newer build.
fn mix(key: u64) -> u64 {
    let mut x = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients `shop` and `crm`, carriers `a`, `b`, `c`, then `rest`.
    fn table(rest: &str) -> RoutingTable {
        let mut text = String::from(
            "[[clients]]\nsystem_id = \"shop\"\npassword = \"p\"\n\
             [[clients]]\nsystem_id = \"crm\"\npassword = \"p\"\n",
        );
        for name in ["a", "b", "c"] {
            text.push_str(&format!(
                "[[carriers]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\n\
                 system_id = \"gw\"\npassword = \"p\"\n"
            ));
        }
        text.push_str(rest);
        let config = Config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        RoutingTable::new(&config)
    }

    fn route_name<'a>(table: &'a RoutingTable, client: &str, src: &str, dst: &str) -> &'a str {
        table
            .route(client, src, dst)
            .map_or("<none>", |route| route.name())
    }

    #[test]
    fn first_match_wins() {
        let t = table(
            "[[routes]]\nname = \"uk-shop\"\ndestination_prefixes = [\"44\"]\n\
             clients = [\"shop\"]\ncarriers = [\"a\"]\n\
             [[routes]]\nname = \"uk\"\ndestination_prefixes = [\"44\"]\ncarriers = [\"b\"]\n\
             [[routes]]\nname = \"uk-mobile\"\ndestination_prefixes = [\"447\"]\n\
             carriers = [\"c\"]\n\
             [[routes]]\nname = \"rest\"\ncarriers = [\"c\"]\n",
        );
        assert_eq!(route_name(&t, "shop", "Shop", "447700900123"), "uk-shop");
        assert_eq!(route_name(&t, "crm", "Shop", "447700900123"), "uk");
        // "447…" also matches the earlier, shorter "44": config order, not longest prefix.
        assert_eq!(route_name(&t, "crm", "Shop", "447700900123"), "uk");
        assert_eq!(route_name(&t, "crm", "Shop", "33612345678"), "rest");
    }

    #[test]
    fn destination_prefix_alone() {
        let t = table(
            "[[routes]]\nname = \"uk\"\ndestination_prefixes = [\"44\", \"353\"]\n\
             carriers = [\"a\"]\n",
        );
        assert_eq!(route_name(&t, "shop", "x", "447700900123"), "uk");
        assert_eq!(route_name(&t, "crm", "y", "353861234567"), "uk");
        assert_eq!(route_name(&t, "shop", "x", "33612345678"), "<none>");
        assert_eq!(route_name(&t, "shop", "x", "4"), "<none>");
        assert_eq!(route_name(&t, "shop", "x", ""), "<none>");
    }

    #[test]
    fn client_alone() {
        let t = table("[[routes]]\nname = \"crm\"\nclients = [\"crm\"]\ncarriers = [\"a\"]\n");
        assert_eq!(route_name(&t, "crm", "x", "447700900123"), "crm");
        assert_eq!(route_name(&t, "shop", "x", "447700900123"), "<none>");
    }

    #[test]
    fn source_alone() {
        let t = table(
            "[[routes]]\nname = \"brand\"\nsource_addresses = [\"Shop\", \"4477*\"]\n\
             carriers = [\"a\"]\n",
        );
        assert_eq!(route_name(&t, "crm", "Shop", "1"), "brand");
        assert_eq!(route_name(&t, "crm", "447700900123", "1"), "brand");
        assert_eq!(route_name(&t, "crm", "shop", "1"), "<none>");
        assert_eq!(route_name(&t, "crm", "Shops", "1"), "<none>");
        assert_eq!(route_name(&t, "crm", "4478", "1"), "<none>");
    }

    #[test]
    fn every_condition_must_match() {
        let t = table(
            "[[routes]]\nname = \"all3\"\ndestination_prefixes = [\"44\"]\nclients = [\"shop\"]\n\
             source_addresses = [\"Shop\"]\ncarriers = [\"a\"]\n",
        );
        assert_eq!(route_name(&t, "shop", "Shop", "4471"), "all3");
        assert_eq!(route_name(&t, "crm", "Shop", "4471"), "<none>");
        assert_eq!(route_name(&t, "shop", "Other", "4471"), "<none>");
        assert_eq!(route_name(&t, "shop", "Shop", "3371"), "<none>");
    }

    #[test]
    fn plus_is_ignored_on_both_sides() {
        // The config writes "+44"; a client sends "+44…" or "44…".
        let t = table(
            "[[routes]]\nname = \"uk\"\ndestination_prefixes = [\"+44\"]\ncarriers = [\"a\"]\n",
        );
        assert_eq!(route_name(&t, "shop", "x", "+447700900123"), "uk");
        assert_eq!(route_name(&t, "shop", "x", "447700900123"), "uk");
        // Only one leading `+` is a number's; anything else is not the prefix.
        assert_eq!(route_name(&t, "shop", "x", "++447700900123"), "<none>");
        assert_eq!(route_name(&t, "shop", "x", "4+47700900123"), "<none>");
    }

    #[test]
    fn no_routes_no_match() {
        let t = table("");
        assert!(t.route("shop", "Shop", "447700900123").is_none());
        assert!(t.routes().is_empty());
        assert_eq!(t.mo_client("88000"), None);
    }

    #[test]
    fn route_exposes_name_throughput_and_order() {
        let t = table("[[routes]]\nname = \"r\"\ncarriers = [\"b\", \"a\"]\nthroughput = 50\n");
        let route = t.named("r").unwrap();
        assert_eq!(route.name(), "r");
        assert_eq!(route.throughput().map(NonZeroU32::get), Some(50));
        assert_eq!(route.failover_order(), ["b", "a"]);
        assert!(!route.is_weighted());
        assert!(t.named("nope").is_none());
    }

    #[test]
    fn failover_puts_down_carriers_last() {
        let t = table("[[routes]]\nname = \"r\"\ncarriers = [\"a\", \"b\", \"c\"]\n");
        let route = t.named("r").unwrap();
        assert_eq!(route.carriers(|_| true, 7), ["a", "b", "c"]);
        assert_eq!(route.carriers(|c| c != "a", 7), ["b", "c", "a"]);
        assert_eq!(route.carriers(|c| c == "c", 7), ["c", "a", "b"]);
        // None up: failover order, to wait for the first.
        assert_eq!(route.carriers(|_| false, 7), ["a", "b", "c"]);
        // The key plays no part in failover.
        assert_eq!(route.carriers(|c| c != "a", 8), ["b", "c", "a"]);
    }

    /// How many of `keys` messages each carrier gets first.
    fn spread(route: &Route, up: impl Fn(&str) -> bool + Copy, keys: u64) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = route
            .failover_order()
            .iter()
            .map(|c| (c.clone(), 0))
            .collect();
        for key in 0..keys {
            let order = route.carriers(up, key);
            assert_eq!(order.len(), 3, "every carrier once: {order:?}");
            let first = counts.iter_mut().find(|(c, _)| c == order[0]).unwrap();
            first.1 += 1;
        }
        counts
    }

    #[test]
    fn weights_spread_within_5_percent() {
        let t = table(
            "[[routes]]\nname = \"w\"\ncarriers = [\"a\", \"b\", \"c\"]\nweights = [5, 3, 2]\n",
        );
        let route = t.named("w").unwrap();
        assert!(route.is_weighted());
        let counts = spread(route, |_| true, 10_000);
        for ((name, count), expected) in counts.iter().zip([5_000.0, 3_000.0, 2_000.0]) {
            let off = (*count as f64 - expected).abs() / expected;
            assert!(off <= 0.05, "{name}: {count} vs {expected}: {counts:?}");
        }
    }

    #[test]
    fn weighted_pick_is_per_message_and_skips_down_carriers() {
        let t = table(
            "[[routes]]\nname = \"w\"\ncarriers = [\"a\", \"b\", \"c\"]\nweights = [1, 1, 2]\n",
        );
        let route = t.named("w").unwrap();
        // The same message gets the same order every time.
        for key in [0, 1, 42, u64::MAX] {
            assert_eq!(route.carriers(|_| true, key), route.carriers(|_| true, key));
        }
        // After the pick, the others in failover order.
        for key in 0..100 {
            let order = route.carriers(|_| true, key);
            let rest: Vec<&str> = ["a", "b", "c"]
                .into_iter()
                .filter(|c| *c != order[0])
                .collect();
            assert_eq!(order[1..], rest[..], "key {key}");
        }
        // A down carrier is never picked first while another is up, and comes last; its
        // share goes to the others in their proportions (1:1).
        let counts = spread(route, |c| c != "c", 9_000);
        assert_eq!(counts[2], ("c".to_owned(), 0), "{counts:?}");
        assert!((4_275..=4_725).contains(&counts[0].1), "{counts:?}");
        assert!((4_275..=4_725).contains(&counts[1].1), "{counts:?}");
        for key in 0..100 {
            assert_eq!(route.carriers(|c| c != "c", key)[2], "c");
        }
        // None up: still a weighted pick, so messages wait spread as configured.
        let counts = spread(route, |_| false, 8_000);
        assert!((3_800..=4_200).contains(&counts[2].1), "{counts:?}");
    }

    #[test]
    fn mo_routing() {
        let t = table(
            "[[mo_routes]]\ndestinations = [\"88000\", \"4470*\"]\nclient = \"shop\"\n\
             [[mo_routes]]\ndestinations = [\"44*\"]\nclient = \"crm\"\n",
        );
        assert_eq!(t.mo_client("88000"), Some("shop"));
        assert_eq!(t.mo_client("447000111222"), Some("shop"));
        assert_eq!(t.mo_client("+447000111222"), Some("shop"));
        // First match wins: "4470…" is also "44*".
        assert_eq!(t.mo_client("447100111222"), Some("crm"));
        assert_eq!(t.mo_client("880001"), None, "exact means exact");
        assert_eq!(t.mo_client("12345"), None);
    }

    #[test]
    fn mix_is_stable() {
        // Pinned: a stored message's carrier pick must not change between builds.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix(1), 0x910A_2DEC_8902_5CC1);
    }
}
