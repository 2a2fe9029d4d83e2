//! A rig for cluster fault runs (issue 21): three `nats-server` processes ([`NatsCluster`]),
//! smppd nodes `a`, `b`, `c` as child processes (each its own store, SMPP port and admin port;
//! otherwise one config with `[cluster] node = NAME`), and one carrier simulator that takes at
//! most [`MAX_BINDS`] binds, sends receipts after 1 s and logs every submit and bind. Each node
//! has the carrier link `sim` (`sessions = 2`), one route over it, and client `shop`
//! (`secret1`), which may bind several times (the paused load binds a transceiver per node).
//!
//! Faults by pid: SIGKILL a node and start it again on the same store and ports, SIGSTOP and
//! SIGCONT it, SIGKILL a nats-server and start it again. [`ClusterRig::owner`] reads the
//! dispatch group's owner from its lease record (`group.*` in the `SMPPD_LEASE` bucket).
//!
//! Which node each carrier session belongs to is found while it is bound: the simulator logs
//! the peer address of every bind, and a thread of the rig finds the node whose process holds
//! the socket of that address (/proc/net/tcp and /proc/PID/fd).
//!
//! Without `cluster`, the same rig runs one plain node (no `[cluster]`, no NATS): the harness
//! checks itself against a gateway whose answers are known.

use super::nats::NatsCluster;
use super::simulator::{parse_session_event, SessionEventKind, SimStats, Simulator};
use super::{carrier, client, free_port, preamble, route, signal, temp_dir, Gateway};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Binds the carrier simulator accepts at once for the account.
pub const MAX_BINDS: u64 = 2;
/// The lease bucket (no `[cluster] name`, so no prefix) and its dispatch-group keys.
pub const LEASE_BUCKET: &str = "SMPPD_LEASE";
pub const GROUP_PREFIX: &str = "group.";

/// What to start.
#[derive(Clone, Debug)]
pub struct RigOptions {
    /// Node names; each is a `[cluster] node`.
    pub nodes: Vec<String>,
    /// With `[cluster]` and three nats-servers; without, plain nodes on their own stores.
    pub cluster: bool,
    /// `[cluster] lease_ttl`.
    pub lease_ttl: String,
}

impl RigOptions {
    /// Nodes a, b, c in cluster mode, lease TTL 3 s (the shortest allowed): failovers in
    /// seconds.
    pub fn cluster() -> Self {
        Self {
            nodes: ["a", "b", "c"].map(str::to_owned).to_vec(),
            cluster: true,
            lease_ttl: "3s".to_owned(),
        }
    }

    /// One plain node, `a`, without `[cluster]`.
    pub fn single() -> Self {
        Self {
            nodes: vec!["a".to_owned()],
            cluster: false,
            lease_ttl: "3s".to_owned(),
        }
    }
}

/// One smppd node.
pub struct Node {
    pub name: String,
    pub gateway: Gateway,
    /// Its SMPP listener (fixed: a restart keeps it).
    pub smpp: SocketAddr,
    /// Running (not killed); a paused node is running.
    pub up: bool,
    /// Stopped by SIGSTOP and not resumed yet.
    pub paused: bool,
}

/// The rig; everything it started is stopped and removed on drop.
pub struct ClusterRig {
    pub dir: PathBuf,
    pub nats: Option<NatsCluster>,
    /// Every server's client URL, as the nodes' `servers` list them.
    pub nats_urls: Vec<String>,
    pub sim: Simulator,
    pub nodes: Vec<Node>,
    attribution: Attribution,
}

impl ClusterRig {
    /// Starts the servers (in cluster mode), the carrier simulator and the nodes; returns
    /// once every node says it is ready.
    pub fn start(options: &RigOptions) -> Self {
        let dir = temp_dir("cluster-rig");
        let nats = options.cluster.then(|| NatsCluster::start(false));
        let (nats_urls, monitors) = nats
            .as_ref()
            .map(|n| (n.urls(3), n.monitors(3)))
            .unwrap_or_default();
        let sim = Simulator::start(
            &dir,
            "carrier",
            &[
                "--max-binds",
                &MAX_BINDS.to_string(),
                "--receipt-delay",
                "1s",
                "--window",
                "100",
                "--stats-every",
                "500ms",
            ],
        );
        let cluster_section = |node: &str| {
            if options.cluster {
                format!(
                    "\n[cluster]\nnode = \"{node}\"\nservers = {nats_urls:?}\nmonitor = \
                     {monitors:?}\nlease_ttl = \"{}\"\n",
                    options.lease_ttl
                )
            } else {
                String::new()
            }
        };
        let mut nodes = Vec::new();
        for name in &options.nodes {
            let node_dir = dir.join(format!("node-{name}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let smpp = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let text =
                node_config(&node_dir, smpp, admin, sim.addr.port()) + &cluster_section(name);
            let gateway = Gateway::start_logging(&node_dir, &text, "smppd=info");
            nodes.push(Node {
                name: name.clone(),
                smpp: gateway.addr,
                gateway,
                up: true,
                paused: false,
            });
        }
        let attribution = Attribution::start(sim.log().to_path_buf(), sim.addr.port());
        let rig = Self {
            dir,
            nats,
            nats_urls,
            sim,
            nodes,
            attribution,
        };
        rig.publish_pids();
        rig
    }

    fn node(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// Each node's name and SMPP address, for the load.
    pub fn targets(&self) -> Vec<(String, SocketAddr)> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.smpp))
            .collect()
    }

    /// The node names.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The pid of a running node.
    pub fn pid(&self, name: &str) -> u32 {
        let node = self.nodes.iter().find(|n| n.name == name).unwrap();
        assert!(node.up, "node {name} is down");
        node.gateway.pid()
    }

    /// The attribution thread looks for sockets in the running nodes.
    fn publish_pids(&self) {
        let pids = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| (n.name.clone(), n.gateway.pid()))
            .collect();
        *self.attribution.pids.lock().unwrap() = pids;
    }

    /// SIGKILL node `name`.
    pub fn kill(&mut self, name: &str) {
        let node = self.node(name);
        node.gateway.kill();
        node.up = false;
        node.paused = false;
        self.publish_pids();
    }

    /// Starts node `name` again on its store, config and ports (SIGKILL first if it runs);
    /// returns once it is ready. Blocking: in an async test, call it in `block_in_place`.
    pub fn restart(&mut self, name: &str) {
        let node = self.node(name);
        node.gateway.restart();
        assert_eq!(
            node.gateway.addr, node.smpp,
            "node {name} came back on another port"
        );
        node.up = true;
        node.paused = false;
        self.publish_pids();
    }

    /// SIGSTOP node `name`: its process and connections stay, it does nothing.
    pub fn pause(&mut self, name: &str) {
        let pid = self.pid(name);
        assert!(signal(pid, "STOP"), "kill -STOP {pid}");
        self.node(name).paused = true;
    }

    /// SIGCONT node `name`.
    pub fn resume(&mut self, name: &str) {
        let pid = self.pid(name);
        assert!(signal(pid, "CONT"), "kill -CONT {pid}");
        self.node(name).paused = false;
    }

    fn nats(&mut self) -> &mut NatsCluster {
        self.nats.as_mut().expect("a rig without NATS")
    }

    /// SIGKILL nats-server `name` (`n1`, `n2`, `n3`).
    pub fn kill_nats(&mut self, name: &str) {
        self.nats().kill(name);
    }

    /// Starts nats-server `name` again and waits until it is current. Blocking.
    pub fn restart_nats(&mut self, name: &str) {
        self.nats().restart(name);
    }

    /// Every dispatch group's owner (`group.NAME` → its `node`), read from the lease bucket
    /// through the first server that answers; empty if there is none (yet).
    pub async fn owners(&self) -> BTreeMap<String, String> {
        let urls = self.nats.as_ref().map(|n| n.urls(3)).unwrap_or_default();
        lease_owners(&urls).await.unwrap_or_default()
    }

    /// The owner of the dispatch group (the rig has one: one route, one carrier).
    pub async fn owner(&self) -> Option<String> {
        self.owners().await.into_values().next()
    }

    /// Waits until the group has an owner other than `not` (any owner with None); panics
    /// after `limit`, saying what the bucket holds.
    pub async fn wait_owner(&self, not: Option<&str>, limit: Duration) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        let urls = self.nats.as_ref().map(|n| n.urls(3)).unwrap_or_default();
        loop {
            let read = lease_owners(&urls).await;
            let owners = read.clone().unwrap_or_default();
            if let Some(owner) = owners.values().next() {
                if Some(owner.as_str()) != not {
                    return owner.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no dispatch-group owner{} within {limit:?}: {LEASE_BUCKET} read {read:?} \
                 (is cluster mode wired into `smppd serve`?)\n{}",
                not.map(|n| format!(" other than {n}")).unwrap_or_default(),
                self.warnings()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Which node each carrier session belongs to, as far as found.
    pub fn session_nodes(&self) -> HashMap<u64, String> {
        self.attribution.map.lock().unwrap().clone()
    }

    /// The carrier's latest counters.
    pub fn carrier_stats(&self) -> SimStats {
        self.sim.latest()
    }

    /// The last warnings and errors of each node's log, for a failed run.
    pub fn warnings(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let logs = node.gateway.logs();
            let bad: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            out.push_str(&format!(
                "node {}: {} warnings/errors, the last:\n  {}\n",
                node.name,
                bad.len(),
                bad[bad.len().saturating_sub(8)..].join("\n  ")
            ));
        }
        out
    }
}

impl Drop for ClusterRig {
    fn drop(&mut self) {
        // A paused process is killed as well; the nodes first, so that nothing binds again.
        self.nodes.clear();
        self.attribution.stop();
        self.sim.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node's config: SMPP and admin on their fixed ports, its store in `dir`, client `shop`,
/// the carrier link `sim` (2 sessions, reconnecting within a second) and one route.
fn node_config(dir: &Path, smpp: SocketAddr, admin: SocketAddr, sim_port: u16) -> String {
    let server = format!("system_id = \"smppd-ct\"\nlisten = [\"{smpp}\"]");
    let admin = format!("listen = \"{admin}\"");
    preamble(dir, &server, "", &admin)
        + &client("shop", "secret1", "window = 100")
        + &carrier(
            "sim",
            sim_port,
            "sessions = 2\nwindow = 32\nreconnect_min = \"200ms\"\nreconnect_max = \"1s\"\n\
             response_timeout = \"5s\"",
        )
        + &route("default", &["sim"], "")
}

/// The `node` of every `group.*` record in the lease bucket, through the first of `urls`
/// that answers. Err when no server answers or the bucket is not there.
pub async fn lease_owners(urls: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut why = String::from("no servers");
    for url in urls {
        let connect = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .connect(url.as_str());
        let client = match tokio::time::timeout(Duration::from_secs(2), connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                why = format!("{url}: {e}");
                continue;
            }
            Err(_) => {
                why = format!("{url}: timed out");
                continue;
            }
        };
        let read = tokio::time::timeout(Duration::from_secs(3), read_owners(client));
        match read.await {
            Ok(Ok(owners)) => return Ok(owners),
            Ok(Err(e)) => why = format!("{url}: {e}"),
            Err(_) => why = format!("{url}: the read timed out"),
        }
    }
    Err(why)
}

async fn read_owners(client: async_nats::Client) -> Result<BTreeMap<String, String>, String> {
    let js = async_nats::jetstream::new(client);
    let kv = js
        .get_key_value(LEASE_BUCKET)
        .await
        .map_err(|e| e.to_string())?;
    let mut keys = kv.keys().await.map_err(|e| e.to_string())?;
    let mut owners = BTreeMap::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| e.to_string())?;
        if !key.starts_with(GROUP_PREFIX) {
            continue;
        }
        // Gone between the listing and the read: released or expired.
        let Some(value) = kv.get(key.as_str()).await.map_err(|e| e.to_string())? else {
            continue;
        };
        let record: serde_json::Value =
            serde_json::from_slice(&value).map_err(|e| format!("{key}: {e}"))?;
        if let Some(node) = record["node"].as_str() {
            owners.insert(key, node.to_owned());
        }
    }
    Ok(owners)
}

/// Finds which node each carrier session belongs to while it is bound (see the module's
/// doc), on a thread of its own.
struct Attribution {
    map: Arc<Mutex<HashMap<u64, String>>>,
    /// The running nodes' pids.
    pids: Arc<Mutex<Vec<(String, u32)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the attribution thread looks; a session bound and closed within it stays
/// unattributed.
const ATTRIBUTE_EVERY: Duration = Duration::from_millis(100);
/// A session not found in any node for this long is given up on (its node died).
const ATTRIBUTE_FOR: Duration = Duration::from_secs(3);

impl Attribution {
    fn start(log: PathBuf, sim_port: u16) -> Self {
        let map: Arc<Mutex<HashMap<u64, String>>> = Arc::default();
        let pids: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (map, pids, stop) = (map.clone(), pids.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut tail = Tail::new(log);
                // Bound sessions not attributed yet: session, the peer's port, since when.
                let mut pending: Vec<(u64, u16, Instant)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for line in tail.lines() {
                        let Some(event) = parse_session_event(&line) else {
                            continue;
                        };
                        if let (SessionEventKind::Bound(_), Some(peer)) = (&event.kind, event.peer)
                        {
                            pending.push((event.session, peer.port(), Instant::now()));
                        }
                    }
                    if !pending.is_empty() {
                        let pids = pids.lock().unwrap().clone();
                        let sockets = sockets_to(sim_port);
                        let owners = socket_owners(&pids);
                        pending.retain(|(session, port, since)| {
                            let node = sockets.get(port).and_then(|inode| owners.get(inode));
                            if let Some(node) = node {
                                map.lock().unwrap().insert(*session, node.clone());
                                return false;
                            }
                            since.elapsed() < ATTRIBUTE_FOR
                        });
                    }
                    std::thread::sleep(ATTRIBUTE_EVERY);
                }
            })
        };
        Self {
            map,
            pids,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The new complete lines of a growing file.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
        }
    }

    fn lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        complete.lines().map(str::to_owned).collect()
    }
}

/// IPv4 TCP sockets connected to 127.0.0.1:`remote_port`: their local port → socket inode
/// (/proc/net/tcp: addresses as hex `IP:PORT`, the inode in the tenth field).
fn sockets_to(remote_port: u16) -> HashMap<u16, u64> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if port(fields.get(2)?)? != remote_port {
                return None;
            }
            Some((port(fields.get(1)?)?, fields.get(9)?.parse().ok()?))
        })
        .collect()
}

/// Socket inode → the node whose process holds it (/proc/PID/fd links `socket:[INODE]`).
fn socket_owners(pids: &[(String, u32)]) -> HashMap<u64, String> {
    let mut owners = HashMap::new();
    for (node, pid) in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                owners.insert(inode, node.clone());
            }
        }
    }
    owners
}
