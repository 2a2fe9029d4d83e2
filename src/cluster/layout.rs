//! What a cluster keeps in JetStream (cluster.md §3.3): one [`Spec`] per stream and KV bucket,
//! with its name, subjects and limits, all derived from the config. Pure: `provision.rs`
//! compares these with what the servers hold, `mod.rs` creates what is missing.
//!
//! | name | kind | holds | retention | max age |
//! |---|---|---|---|---|
//! | `SMPPD_Q` | stream `smppd.q.>` | accepted messages per group, lane, route | work queue | — |
//! | `SMPPD_SCHED` | stream `smppd.s.>` | scheduled messages by due minute | limits | — |
//! | `SMPPD_OUT` | stream `smppd.out.>` | receipts and MO per client outbox | work queue | — |
//! | `SMPPD_CONSENT` | stream `smppd.consent.>` | the consent log (kept 3 years+) | limits | — |
//! | `SMPPD_HOOKS` | stream `smppd.hook.>` | webhook events per endpoint | work queue | — |
//! | `SMPPD_CID` | bucket | carrier id → message | history 1 | `receipt_horizon` |
//! | `SMPPD_MSG` | bucket | final states | history 1 | `[store] retention` |
//! | `SMPPD_LEASE` | bucket | group leases, bind counts, liveness | history 1 | `lease_ttl` |
//! | `SMPPD_NODES` | bucket | id slots, config hashes | history 1 | — |
//! | `SMPPD_SUPPR` | bucket | suppression lists | history 1 | — |
//! | `SMPPD_IDEM` | bucket | HTTP idempotency keys | history 1 | `idempotency_window` |
//! | `SMPPD_STATS` | bucket | campaign counters merged from the nodes | history 1 | — |
//!
//! With `[cluster] name = "prod"`, names start `PROD_` and subjects `prod.` (`PROD_SMPPD_Q`,
//! `prod.smppd.q.>`), so that several smppd clusters can share one NATS system without
//! their streams claiming the same subjects. Every stream is on file storage and refuses a
//! publish when full (discard new) rather than dropping what it holds.

use crate::config::{ClusterConfig, Config};
use std::time::Duration;

/// JetStream's de-duplication window for `Nats-Msg-Id` (the server's default): a publish
/// retried by smppd within it is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// A stream or a KV bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A stream of messages.
    Stream,
    /// A KV bucket (JetStream keeps it in a stream named `KV_<bucket>`).
    Bucket,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Stream => "stream",
            Self::Bucket => "bucket",
        })
    }
}

/// How a stream lets go of its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Until a consumer acknowledges them (a queue).
    WorkQueue,
    /// Until a limit (age, count) or a purge (a log, a KV bucket).
    Limits,
}

/// One stream or bucket as the config wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Stream or bucket.
    pub kind: Kind,
    /// Its name (a bucket's, without `KV_`).
    pub name: String,
    /// What it is for, in a few words (`smppd cluster check` prints it).
    pub holds: &'static str,
    /// The subjects it stores (a bucket's are `$KV.<bucket>.>`).
    pub subjects: Vec<String>,
    /// Queue or log.
    pub retention: Retention,
    /// Copies kept (`[cluster] replicas`).
    pub replicas: usize,
    /// Entries older than this are removed; zero = never.
    pub max_age: Duration,
    /// Most entries; `None` = no limit. A backstop: the accept side refuses first, by the
    /// depth of each route or outbox (cluster.md §3.7).
    pub max_messages: Option<i64>,
    /// Values kept per key (buckets).
    pub history: Option<i64>,
}

impl Spec {
    /// The name of the stream that holds it (`KV_<bucket>` for a bucket).
    pub fn stream_name(&self) -> String {
        match self.kind {
            Kind::Stream => self.name.clone(),
            Kind::Bucket => format!("KV_{}", self.name),
        }
    }
}

/// Every stream and bucket of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Streams first, then buckets.
    pub specs: Vec<Spec>,
}

impl Layout {
    /// The layout `config` asks for (its `[cluster]` section is `cluster`).
    pub fn new(config: &Config, cluster: &ClusterConfig) -> Self {
        let (names, subjects) = (names_prefix(cluster), {
            format!("{}.", super::groups::subject_prefix(cluster))
        });
        let replicas = cluster.replicas.get();
        let stream = |name: &str, subject: &str, retention, holds, max_messages| Spec {
            kind: Kind::Stream,
            name: format!("{names}{name}"),
            holds,
            subjects: vec![format!("{subjects}{subject}.>")],
            retention,
            replicas,
            max_age: Duration::ZERO,
            max_messages,
            history: None,
        };
        let bucket = |name: &str, holds, max_age: Option<Duration>| {
            let name = format!("{names}{name}");
            Spec {
                kind: Kind::Bucket,
                subjects: vec![format!("$KV.{name}.>")],
                name,
                holds,
                retention: Retention::Limits,
                replicas,
                max_age: max_age.unwrap_or(Duration::ZERO),
                max_messages: None,
                history: Some(1),
            }
        };
        let queued = limit(config.routes.iter().map(|r| r.max_queue.get()));
        let outboxes = limit(config.clients.iter().map(|c| c.max_outbox.get()));
        let specs = vec![
            stream(
                "Q",
                "q",
                Retention::WorkQueue,
                "accepted messages waiting for their group's owner",
                queued,
            ),
            stream(
                "SCHED",
                "s",
                Retention::Limits,
                "scheduled messages by due minute",
                None,
            ),
            stream(
                "OUT",
                "out",
                Retention::WorkQueue,
                "receipts and MO waiting for their client",
                outboxes,
            ),
            stream(
                "CONSENT",
                "consent",
                Retention::Limits,
                "the consent log",
                None,
            ),
            stream(
                "HOOKS",
                "hook",
                Retention::WorkQueue,
                "webhook events waiting for their endpoint",
                None,
            ),
            bucket(
                "CID",
                "carrier ids of messages awaiting receipts",
                Some(cluster.receipt_horizon),
            ),
            bucket("MSG", "final states of messages", config.store.retention),
            bucket(
                "LEASE",
                "group leases, bind counts, live nodes",
                Some(cluster.lease_ttl),
            ),
            bucket("NODES", "id slots and config hashes of nodes", None),
            bucket("SUPPR", "suppression lists", None),
            bucket(
                "IDEM",
                "HTTP idempotency keys",
                Some(config.http_api.idempotency_window),
            ),
            bucket("STATS", "campaign counters", None),
        ];
        Self { specs }
    }
}

/// What every stream and bucket name of the cluster starts with: `SMPPD_`, or
/// `<NAME>_SMPPD_` with `[cluster] name`.
pub fn names_prefix(cluster: &ClusterConfig) -> String {
    match &cluster.name {
        Some(name) => format!("{}_SMPPD_", name.to_ascii_uppercase()),
        None => "SMPPD_".to_owned(),
    }
}

/// The sum of per-route (or per-client) bounds as a stream limit; none when there is nothing
/// to bound (JetStream reads 0 as "no limit" for some limits and "nothing" for others).
fn limit(bounds: impl Iterator<Item = usize>) -> Option<i64> {
    let sum = bounds.fold(0_usize, usize::saturating_add);
    (sum > 0).then(|| i64::try_from(sum).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(extra: &str) -> Layout {
        let text = format!(
            "[[clients]]\nsystem_id = \"shop\"\npassword = \"secret12\"\nmax_outbox = 500\n\
             [[carriers]]\nname = \"sim\"\nhost = \"127.0.0.1\"\nsystem_id = \"smppd\"\n\
             password = \"secret\"\n\
             [[routes]]\nname = \"b\"\ncarriers = [\"sim\"]\ndestination_prefixes = [\"33\"]\n\
             max_queue = 2000\n\
             [[routes]]\nname = \"a\"\ncarriers = [\"sim\"]\nmax_queue = 1000\n\
             [cluster]\nnode = \"a\"\nservers = [\"nats://127.0.0.1:4222\"]\n{extra}"
        );
        let config = Config::parse(&text).unwrap();
        let cluster = config.cluster.clone().unwrap();
        Layout::new(&config, &cluster)
    }

    fn spec<'a>(layout: &'a Layout, name: &str) -> &'a Spec {
        layout.specs.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn names_subjects_and_limits_follow_the_config() {
        let layout = layout("receipt_horizon = \"48h\"\nlease_ttl = \"15s\"\n");
        let names: Vec<_> = layout.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SMPPD_Q",
                "SMPPD_SCHED",
                "SMPPD_OUT",
                "SMPPD_CONSENT",
                "SMPPD_HOOKS",
                "SMPPD_CID",
                "SMPPD_MSG",
                "SMPPD_LEASE",
                "SMPPD_NODES",
                "SMPPD_SUPPR",
                "SMPPD_IDEM",
                "SMPPD_STATS"
            ]
        );
        let queue = spec(&layout, "SMPPD_Q");
        assert_eq!(queue.subjects, ["smppd.q.>"]);
        assert_eq!(queue.retention, Retention::WorkQueue);
        assert_eq!(queue.replicas, 3);
        assert_eq!(queue.max_messages, Some(3000));
        assert_eq!(spec(&layout, "SMPPD_OUT").max_messages, Some(500));
        let cid = spec(&layout, "SMPPD_CID");
        assert_eq!(cid.stream_name(), "KV_SMPPD_CID");
        assert_eq!(cid.subjects, ["$KV.SMPPD_CID.>"]);
        assert_eq!(cid.max_age, Duration::from_secs(48 * 3600));
        assert_eq!(cid.history, Some(1));
        assert_eq!(
            spec(&layout, "SMPPD_LEASE").max_age,
            Duration::from_secs(15)
        );
        // [store] retention (7 days by default) and [http_api] idempotency_window (24 h).
        assert_eq!(
            spec(&layout, "SMPPD_MSG").max_age,
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            spec(&layout, "SMPPD_IDEM").max_age,
            Duration::from_secs(86400)
        );
        assert_eq!(spec(&layout, "SMPPD_NODES").max_age, Duration::ZERO);
    }

    #[test]
    fn a_cluster_name_prefixes_names_and_subjects() {
        let layout = layout("name = \"prod-2\"\nreplicas = 1\n");
        let queue = spec(&layout, "PROD-2_SMPPD_Q");
        assert_eq!(queue.subjects, ["prod-2.smppd.q.>"]);
        assert_eq!(queue.replicas, 1);
        let lease = spec(&layout, "PROD-2_SMPPD_LEASE");
        assert_eq!(lease.subjects, ["$KV.PROD-2_SMPPD_LEASE.>"]);
    }

    #[test]
    fn no_routes_no_queue_limit() {
        let config =
            Config::parse("[cluster]\nnode = \"a\"\nservers = [\"nats://127.0.0.1:4222\"]\n")
                .unwrap();
        let cluster = config.cluster.clone().unwrap();
        let layout = Layout::new(&config, &cluster);
        assert_eq!(spec(&layout, "SMPPD_Q").max_messages, None);
        assert_eq!(spec(&layout, "SMPPD_OUT").max_messages, None);
    }
}
