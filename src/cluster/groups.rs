//! Dispatch groups and subject names (cluster.md §3.1, §3.3). Not yet used by dispatch.
//!
//! A dispatch group is a connected component of the bipartite graph routes ↔ carriers of the
//! config: the routes that share carriers, and those carriers. One node at a time owns a
//! group (its lease, `lease.rs`) and holds all its carrier binds, so a route's failover and
//! weights, and a carrier's `sessions`, stay within one process.
//!
//! A group's name is derived from its sorted members only — `<first carrier>-<8 hex of
//! SHA-256 of the member list>` (the first route when it has no carrier) — so every node of a
//! cluster computes the same names from the same config, in any order of its entries, and a
//! change of membership makes a new group (whose queue is new: the old one is drained by its
//! last owner). Names are `[A-Za-z0-9_-]`, fit for a subject token, a stream, consumer or KV
//! key.
//!
//! A client's `system_id` may be any printable ASCII, and `.`, `*`, `>` or a space would break
//! a subject, so its token is its lowercase base32 (RFC 4648, no padding).

use crate::config::{ClusterConfig, Config};
use crate::message::Class;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One dispatch group: routes and carriers that share links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Stable name, `[A-Za-z0-9_-]`: see the module docs.
    pub name: String,
    /// Its routes, sorted.
    pub routes: Vec<String>,
    /// Its carriers, sorted.
    pub carriers: Vec<String>,
}

impl Group {
    fn new(routes: BTreeSet<String>, carriers: BTreeSet<String>) -> Self {
        let routes: Vec<String> = routes.into_iter().collect();
        let carriers: Vec<String> = carriers.into_iter().collect();
        // Kinds are marked: a route and a carrier may have the same name.
        let mut canonical = String::new();
        for route in &routes {
            canonical.push_str("r:");
            canonical.push_str(route);
            canonical.push('\n');
        }
        for carrier in &carriers {
            canonical.push_str("c:");
            canonical.push_str(carrier);
            canonical.push('\n');
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        let hash: String = digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let first = carriers
            .first()
            .or(routes.first())
            .map_or("", String::as_str);
        Self {
            name: format!("{first}-{hash}"),
            routes,
            carriers,
        }
    }
}

/// Every dispatch group of a config, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    groups: Vec<Group>,
    by_route: HashMap<String, usize>,
    by_carrier: HashMap<String, usize>,
}

impl Groups {
    /// The groups of `config`: each route with its carriers, joined where they share one. A
    /// route without carriers is a group of its own, and so is a carrier in no route (it may
    /// still bring MO in).
    pub fn of(config: &Config) -> Self {
        Self::from_links(
            config
                .routes
                .iter()
                .map(|r| (r.name.as_str(), r.carriers.as_slice())),
            config.carriers.iter().map(|c| c.name.as_str()),
        )
    }

    /// The groups of `routes` (each with its carriers) and `carriers` (those in no route
    /// included).
    fn from_links<'a>(
        routes: impl Iterator<Item = (&'a str, &'a [String])>,
        carriers: impl Iterator<Item = &'a str>,
    ) -> Self {
        // Union-find over routes and carriers, each kind keyed by name.
        let mut nodes: Vec<usize> = Vec::new();
        let mut route_ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut carrier_ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut id = |ids: &mut BTreeMap<&'a str, usize>, name: &'a str| -> usize {
            *ids.entry(name).or_insert_with(|| {
                nodes.push(nodes.len());
                nodes.len() - 1
            })
        };
        let mut links = Vec::new();
        for (route, route_carriers) in routes {
            let r = id(&mut route_ids, route);
            for carrier in route_carriers {
                links.push((r, id(&mut carrier_ids, carrier)));
            }
        }
        for carrier in carriers {
            id(&mut carrier_ids, carrier);
        }
        fn root(nodes: &mut [usize], mut at: usize) -> usize {
            while nodes[at] != at {
                nodes[at] = nodes[nodes[at]];
                at = nodes[at];
            }
            at
        }
        for (a, b) in links {
            let (a, b) = (root(&mut nodes, a), root(&mut nodes, b));
            nodes[a.max(b)] = a.min(b);
        }
        let mut members: BTreeMap<usize, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for (name, at) in &route_ids {
            let r = root(&mut nodes, *at);
            members.entry(r).or_default().0.insert((*name).to_owned());
        }
        for (name, at) in &carrier_ids {
            let r = root(&mut nodes, *at);
            members.entry(r).or_default().1.insert((*name).to_owned());
        }
        let mut groups: Vec<Group> = members
            .into_values()
            .map(|(routes, carriers)| Group::new(routes, carriers))
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let mut by_route = HashMap::new();
        let mut by_carrier = HashMap::new();
        for (at, group) in groups.iter().enumerate() {
            by_route.extend(group.routes.iter().map(|r| (r.clone(), at)));
            by_carrier.extend(group.carriers.iter().map(|c| (c.clone(), at)));
        }
        Self {
            groups,
            by_route,
            by_carrier,
        }
    }

    /// The group of route `name`.
    pub fn of_route(&self, name: &str) -> Option<&Group> {
        self.by_route.get(name).map(|&at| &self.groups[at])
    }

    /// The group of carrier `name`.
    pub fn of_carrier(&self, name: &str) -> Option<&Group> {
        self.by_carrier.get(name).map(|&at| &self.groups[at])
    }

    /// The group named `name`.
    pub fn named(&self, name: &str) -> Option<&Group> {
        self.groups
            .binary_search_by(|g| g.name.as_str().cmp(name))
            .ok()
            .map(|at| &self.groups[at])
    }

    /// Every group, by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Group> {
        self.groups.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are none (no routes, no carriers).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl<'a> IntoIterator for &'a Groups {
    type Item = &'a Group;
    type IntoIter = std::slice::Iter<'a, Group>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A group queue's lane: transactional messages and marketing ones wait apart, so that
/// marketing never holds transactional back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// [`Class::Transactional`]: `tx`.
    Transactional,
    /// [`Class::Marketing`]: `mk`.
    Marketing,
}

impl Lane {
    /// Both lanes.
    pub const ALL: [Self; 2] = [Self::Transactional, Self::Marketing];

    /// The lane of messages of `class`.
    pub const fn of(class: Class) -> Self {
        match class {
            Class::Transactional => Self::Transactional,
            Class::Marketing => Self::Marketing,
        }
    }

    /// As written in subjects and consumer names.
    pub const fn token(self) -> &'static str {
        match self {
            Self::Transactional => "tx",
            Self::Marketing => "mk",
        }
    }
}

/// The prefix of every subject of the cluster, as `layout.rs` uses it: `smppd`, or
/// `<name>.smppd` with `[cluster] name`.
pub fn subject_prefix(cluster: &ClusterConfig) -> String {
    match &cluster.name {
        Some(name) => format!("{name}.smppd"),
        None => "smppd".to_owned(),
    }
}

/// Where a message of `route` in `group` waits: `<prefix>.q.<group>.<lane>.<route>`.
pub fn queue_subject(prefix: &str, group: &str, lane: Lane, route: &str) -> String {
    format!("{prefix}.q.{group}.{}.{route}", lane.token())
}

/// Every route of one lane of `group`: the filter of its dispatch consumer.
pub fn queue_filter(prefix: &str, group: &str, lane: Lane) -> String {
    format!("{prefix}.q.{group}.{}.>", lane.token())
}

/// The durable consumer that the owner of `group` pulls `lane` with: `disp_<group>_<lane>`
/// (consumer names take no dots).
pub fn dispatch_consumer(group: &str, lane: Lane) -> String {
    format!("disp_{group}_{}", lane.token())
}

/// The outbox of client `system_id` (receipts and MO): `<prefix>.out.<token>`.
pub fn outbox_subject(prefix: &str, system_id: &str) -> String {
    format!("{prefix}.out.{}", subject_token(system_id))
}

/// The durable consumer of client `system_id`'s outbox: `out_<token>`.
pub fn outbox_consumer(system_id: &str) -> String {
    format!("out_{}", subject_token(system_id))
}

/// A client's `system_id` as one subject token, also fit for consumer names and KV keys:
/// lowercase RFC 4648 base32 without padding (`[a-z2-7]`), one to one. Empty for an empty
/// `system_id` (which the config refuses).
pub fn subject_token(system_id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let bytes = system_id.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0_u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0_u64, |acc, &b| (acc << 8) | u64::from(b));
        // 8 bits per byte, 5 per character, rounded up.
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - 5 * i)) & 31;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(routes: &[(&str, &[&str])], carriers: &[&str]) -> Groups {
        let routes: Vec<(String, Vec<String>)> = routes
            .iter()
            .map(|(r, cs)| {
                (
                    (*r).to_owned(),
                    cs.iter().map(|c| (*c).to_owned()).collect(),
                )
            })
            .collect();
        Groups::from_links(
            routes.iter().map(|(r, cs)| (r.as_str(), cs.as_slice())),
            carriers.iter().copied(),
        )
    }

    fn valid_token(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn groups_are_the_connected_components() {
        let groups = links(
            &[
                ("fr", &["orange", "sfr"]),
                ("fr-promo", &["sfr"]),
                ("sn", &["sonatel"]),
                ("bouygues-only", &["bouygues"]),
                ("be", &["proximus", "bouygues"]),
                ("empty", &[]),
            ],
            &[
                "orange", "sfr", "sonatel", "bouygues", "proximus", "mo-only",
            ],
        );
        let mut members: Vec<(Vec<&str>, Vec<&str>)> = groups
            .iter()
            .map(|g| {
                (
                    g.routes.iter().map(String::as_str).collect(),
                    g.carriers.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        members.sort();
        assert_eq!(
            members,
            [
                (vec![], vec!["mo-only"]),
                (vec!["be", "bouygues-only"], vec!["bouygues", "proximus"]),
                (vec!["empty"], vec![]),
                (vec!["fr", "fr-promo"], vec!["orange", "sfr"]),
                (vec!["sn"], vec!["sonatel"]),
            ]
        );
        assert_eq!(groups.len(), 5);
        let fr = groups.of_route("fr-promo").unwrap();
        assert_eq!(groups.of_carrier("orange"), Some(fr));
        assert_eq!(groups.named(&fr.name), Some(fr));
        assert!(fr.name.starts_with("orange-"), "{}", fr.name);
        assert!(groups.of_route("empty").unwrap().name.starts_with("empty-"));
        assert!(groups
            .of_carrier("mo-only")
            .unwrap()
            .name
            .starts_with("mo-only-"));
        assert_eq!(groups.of_route("sonatel"), None);
        assert_eq!(groups.of_carrier("sn"), None);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for name in names {
            assert!(valid_token(name), "{name}");
            let hash = &name[name.rfind('-').unwrap() + 1..];
            assert!(
                hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}"
            );
        }
    }

    #[test]
    fn names_do_not_depend_on_the_order_of_the_config() {
        let a = links(
            &[
                ("fr", &["orange", "sfr"]),
                ("fr-promo", &["sfr"]),
                ("sn", &["sonatel"]),
            ],
            &["orange", "sfr", "sonatel"],
        );
        let b = links(
            &[
                ("sn", &["sonatel"]),
                ("fr-promo", &["sfr"]),
                ("fr", &["sfr", "orange"]),
            ],
            &["sonatel", "sfr", "orange"],
        );
        assert_eq!(a, b);
    }

    #[test]
    fn a_change_of_members_changes_the_name() {
        let name = |routes: &[(&str, &[&str])], carriers: &[&str]| {
            links(routes, carriers).iter().next().unwrap().name.clone()
        };
        let base = name(&[("fr", &["orange", "sfr"])], &["orange", "sfr"]);
        assert_ne!(base, name(&[("fr", &["orange"])], &["orange"]));
        assert_ne!(
            base,
            name(&[("fr2", &["orange", "sfr"])], &["orange", "sfr"])
        );
        assert_ne!(
            base,
            name(
                &[("fr", &["orange", "sfr"]), ("fr-promo", &["sfr"])],
                &["orange", "sfr"]
            )
        );
        // The same name as a route or as a carrier: different members.
        assert_ne!(name(&[("x", &[])], &[]), name(&[], &["x"]));
        // Weights, prefixes and the failover order are not membership.
        assert_eq!(
            base,
            name(&[("fr", &["sfr", "orange"])], &["sfr", "orange"])
        );
    }

    #[test]
    fn groups_of_a_parsed_config() {
        let carrier = |name: &str| {
            format!(
                "[[carriers]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nsystem_id = \"smppd\"\n\
                 password = \"secret\"\n"
            )
        };
        let text = format!(
            "{}{}{}[[routes]]\nname = \"a\"\ncarriers = [\"c1\"]\ndestination_prefixes = \
             [\"33\"]\n[[routes]]\nname = \"b\"\ncarriers = [\"c2\", \"c1\"]\n",
            carrier("c1"),
            carrier("c2"),
            carrier("c3")
        );
        let config = Config::parse(&text).unwrap();
        let groups = Groups::of(&config);
        assert_eq!(groups.len(), 2);
        let g = groups.of_route("a").unwrap();
        assert_eq!(g.routes, ["a", "b"]);
        assert_eq!(g.carriers, ["c1", "c2"]);
        assert_eq!(
            groups.of_carrier("c3").unwrap().routes,
            Vec::<String>::new()
        );
    }

    #[test]
    fn base32_as_rfc_4648_lowercase_without_padding() {
        for (text, token) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(subject_token(text), token, "{text}");
        }
    }

    #[test]
    fn client_tokens_are_plain_and_one_to_one() {
        let ids = [
            "shop",
            "Shop",
            "a.b",
            "a*",
            "a>",
            "a b",
            "~!@#$%^&()",
            "x",
            "x ",
        ];
        let tokens: BTreeSet<String> = ids.iter().map(|id| subject_token(id)).collect();
        assert_eq!(tokens.len(), ids.len());
        for token in &tokens {
            assert!(
                token
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')),
                "{token}"
            );
        }
        // Every printable ASCII byte, at every position of a 5-byte chunk.
        let all: String = (0x20_u8..0x7f).map(char::from).collect();
        for shift in 0..5 {
            assert!(valid_token(&subject_token(&all[shift..])));
        }
    }

    #[test]
    fn subjects_follow_the_layout() {
        use super::super::layout::Layout;
        for extra in ["", "name = \"prod\"\n"] {
            let text =
                format!("[cluster]\nnode = \"a\"\nservers = [\"nats://127.0.0.1:4222\"]\n{extra}");
            let config = Config::parse(&text).unwrap();
            let cluster = config.cluster.clone().unwrap();
            let prefix = subject_prefix(&cluster);
            let layout = Layout::new(&config, &cluster);
            let subjects = |name: &str| {
                layout
                    .specs
                    .iter()
                    .find(|s| s.name.ends_with(name))
                    .unwrap()
                    .subjects
                    .clone()
            };
            assert_eq!(subjects("SMPPD_Q"), [format!("{prefix}.q.>")]);
            assert_eq!(subjects("SMPPD_OUT"), [format!("{prefix}.out.>")]);
        }
        assert_eq!(
            queue_subject(
                "prod.smppd",
                "orange-0a1b2c3d",
                Lane::of(Class::Marketing),
                "fr"
            ),
            "prod.smppd.q.orange-0a1b2c3d.mk.fr"
        );
        assert_eq!(
            queue_filter("smppd", "g-1", Lane::Transactional),
            "smppd.q.g-1.tx.>"
        );
        assert_eq!(dispatch_consumer("g-1", Lane::Marketing), "disp_g-1_mk");
        assert_eq!(outbox_subject("smppd", "a.b"), "smppd.out.mexge");
        assert_eq!(outbox_consumer("a.b"), "out_mexge");
    }
}
