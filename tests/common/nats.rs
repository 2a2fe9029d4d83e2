//! Three `nats-server` processes on loopback (the pinned PyPI wheel, [`super::peers`])
//! forming one JetStream cluster, for the cluster tests: started in a temp dir, ready once a
//! meta leader is elected with every server current, stopped by pid (SIGTERM, or SIGKILL for
//! a crash) and their files removed on drop.

use super::peers;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long three servers get to elect a JetStream meta leader.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// One `nats-server` process.
pub struct Server {
    /// `n1`, `n2`, `n3`.
    pub name: String,
    child: Child,
    /// Its client port.
    pub client_port: u16,
    http_port: u16,
}

impl Server {
    /// Its process id (for /proc: CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its HTTP monitoring port (`/varz`, `/jsz`, `/connz`, `/routez`).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }
}

/// Three `nats-server` processes forming one JetStream cluster on loopback.
pub struct NatsCluster {
    dir: PathBuf,
    /// The servers still running, n1 first.
    pub servers: Vec<Server>,
    /// Servers killed and not restarted yet: name, client port, HTTP port (their config
    /// file and store stay in `dir` for [`NatsCluster::restart`]).
    down: Vec<(String, u16, u16)>,
}

impl NatsCluster {
    /// Starts n1, n2 and n3, `sync_interval: always` or not, and waits until JetStream is
    /// ready: a meta leader elected, and every other server current with it. A port that
    /// `free_port` handed out and something else bound before the server could (tests run in
    /// parallel): up to three tries, on new ports.
    pub fn start(sync_always: bool) -> Self {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::try_start(sync_always) {
                Ok(cluster) => return cluster,
                Err(log) if tries < 3 && log.contains("address already in use") => {
                    eprintln!("a port was taken meanwhile; starting the servers again");
                }
                Err(log) => panic!("{log}"),
            }
        }
    }

    fn try_start(sync_always: bool) -> Result<Self, String> {
        let bin = peers::nats_server();
        let dir = super::temp_dir("nats");
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (super::free_port(), super::free_port(), super::free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route, _)| format!("nats://127.0.0.1:{route}"))
            .collect();
        let mut cluster = Self {
            dir: dir.clone(),
            servers: Vec::new(),
            down: Vec::new(),
        };
        for (i, (client_port, route_port, http_port)) in ports.into_iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.join(&name);
            let sync = if sync_always {
                "sync_interval: always"
            } else {
                ""
            };
            let config = format!(
                "server_name: {name}\n\
                 listen: 127.0.0.1:{client_port}\n\
                 http: 127.0.0.1:{http_port}\n\
                 jetstream {{ store_dir: {store:?}, {sync} }}\n\
                 cluster {{\n  name: smppd-ct\n  listen: 127.0.0.1:{route_port}\n  \
                 routes: [{}]\n}}\n",
                routes.join(", ")
            );
            std::fs::write(dir.join(format!("{name}.conf")), config).unwrap();
            let child = spawn_server(&bin, &dir, &name);
            cluster.servers.push(Server {
                name,
                child,
                client_port,
                http_port,
            });
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Starts a server that [`NatsCluster::kill`] stopped again, on its config, ports and
    /// store, and waits until it is current with the meta leader again.
    pub fn restart(&mut self, name: &str) {
        let at = self
            .down
            .iter()
            .position(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not down"));
        let (name, client_port, http_port) = self.down.remove(at);
        let child = spawn_server(&peers::nats_server(), &self.dir, &name);
        self.servers.push(Server {
            name: name.clone(),
            child,
            client_port,
            http_port,
        });
        self.servers.sort_by(|a, b| a.name.cmp(&b.name));
        if let Err(why) = self.wait_ready() {
            panic!("after restarting {name}: {why}");
        }
    }

    /// The server leading stream `stream` (for a bucket, `KV_` and its name), from the
    /// servers' `/jsz`; None while none does or no server knows the stream.
    pub fn stream_leader(&self, stream: &str) -> Option<String> {
        self.servers.iter().find_map(|s| {
            let jsz = jsz_streams(s.http_port)?;
            jsz["account_details"]
                .as_array()?
                .iter()
                .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                .find(|d| d["name"] == stream)
                .and_then(|d| d["cluster"]["leader"].as_str().map(str::to_owned))
        })
    }

    /// The JetStream meta leader, if the first server that answers names one.
    pub fn meta_leader(&self) -> Option<String> {
        self.servers.iter().find_map(|s| {
            jsz(s.http_port)?["meta_cluster"]["leader"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
        })
    }

    /// Waits until [`Self::ready`]; a server that exits first is an error with its log (the
    /// others are stopped and the files removed when `self` drops).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            for at in 0..self.servers.len() {
                if let Some(status) = self.servers[at].child.try_wait().unwrap() {
                    // Reaped: not to be signalled on drop (its pid may be reused).
                    let server = self.servers.remove(at);
                    return Err(format!(
                        "{} exited ({status}) before JetStream was ready:\n{}",
                        server.name,
                        std::fs::read_to_string(self.dir.join(format!("{}.log", server.name)))
                            .unwrap_or_default()
                    ));
                }
            }
            if self.ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "JetStream did not elect a meta leader with every server current within \
                     {READY_LIMIT:?}:\n{}",
                    self.diagnosis()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What each server says of its JetStream, and the end of its log.
    fn diagnosis(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                let js = jsz(s.http_port).map(|v| v["meta_cluster"].to_string());
                let log = std::fs::read_to_string(self.dir.join(format!("{}.log", s.name)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                format!(
                    "{}: /jsz meta_cluster {}\n  {}",
                    s.name,
                    js.unwrap_or_else(|| "unreadable".to_owned()),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every server names the same meta leader, and the leader sees both others current.
    /// Read from `/jsz`, not `/varz`: nats-server fills the JetStream part of `/varz` once, at
    /// its first request, so a `/varz` read before JetStream is up would hide its config from
    /// `smppd cluster check` for good.
    fn ready(&self) -> bool {
        let jsz: Vec<serde_json::Value> = self
            .servers
            .iter()
            .filter_map(|s| jsz(s.http_port))
            .collect();
        if jsz.len() != self.servers.len() {
            return false;
        }
        let leader = jsz[0]["meta_cluster"]["leader"].as_str().unwrap_or("");
        if leader.is_empty()
            || jsz
                .iter()
                .any(|v| v["meta_cluster"]["leader"].as_str() != Some(leader))
        {
            return false;
        }
        self.servers
            .iter()
            .zip(&jsz)
            .find(|(s, _)| s.name == leader)
            .and_then(|(_, v)| v["meta_cluster"]["replicas"].as_array().cloned())
            .is_some_and(|peers| {
                peers.len() == self.servers.len() - 1 && peers.iter().all(|p| p["current"] == true)
            })
    }

    /// The names of the servers running now.
    pub fn names(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }

    /// `nats://127.0.0.1:PORT` of the first `n` servers.
    pub fn urls(&self, n: usize) -> Vec<String> {
        self.servers
            .iter()
            .take(n)
            .map(|s| format!("nats://127.0.0.1:{}", s.client_port))
            .collect()
    }

    /// `http://127.0.0.1:PORT` monitoring URLs of the first `n` servers.
    pub fn monitors(&self, n: usize) -> Vec<String> {
        self.servers
            .iter()
            .take(n)
            .map(|s| format!("http://127.0.0.1:{}", s.http_port))
            .collect()
    }
}

impl NatsCluster {
    /// SIGKILLs the server named `name` (a crash: no shutdown, no leadership handed over) and
    /// reaps it; the others keep running.
    pub fn kill(&mut self, name: &str) {
        let at = self
            .servers
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("no server {name}"));
        let mut server = self.servers.remove(at);
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        self.down
            .push((server.name, server.client_port, server.http_port));
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for server in self.servers.drain(..) {
            super::stop_child(server.child, &server.name, Duration::from_secs(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `nats-server -c DIR/NAME.conf`, its output appended to `DIR/NAME.log`.
fn spawn_server(bin: &std::path::Path, dir: &std::path::Path, name: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap();
    Command::new(bin)
        .arg("-c")
        .arg(dir.join(format!("{name}.conf")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
}

/// A server's `/jsz?streams=true`: its accounts' streams with their cluster (leader).
fn jsz_streams(http_port: u16) -> Option<serde_json::Value> {
    let url = format!("http://127.0.0.1:{http_port}/jsz?accounts=true&streams=true");
    let mut response = ureq::get(&url).call().ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

/// A server's `/jsz`, if it answers.
pub fn jsz(http_port: u16) -> Option<serde_json::Value> {
    let mut response = ureq::get(&format!("http://127.0.0.1:{http_port}/jsz"))
        .call()
        .ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

/// A server's `/varz`, if it answers.
pub fn varz(http_port: u16) -> Option<serde_json::Value> {
    let mut response = ureq::get(&format!("http://127.0.0.1:{http_port}/varz"))
        .call()
        .ok()?;
    serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()
}

/// Connects with the `[cluster]` config `text` and creates every stream and bucket, trying
/// again while servers just started refuse ("no suitable peers for placement").
#[allow(dead_code)] // Not every test file provisions.
pub async fn provision(text: &str) {
    let config = smppd::config::Config::parse(text).unwrap();
    let cluster = config.cluster.clone().unwrap();
    let node = smppd::cluster::Cluster::connect(&cluster).await.unwrap();
    let layout = smppd::cluster::layout::Layout::new(&config, &cluster);
    let mut tries = 0;
    while let Err(e) = node.provision(&layout).await {
        tries += 1;
        assert!(tries < 60, "provisioning: {e}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
