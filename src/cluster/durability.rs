//! Whether the JetStream servers fsync before they acknowledge (`durability =
//! "quorum+fsync"`, cluster.md §3.8).
//!
//! The client protocol does not say: a server's INFO gives its name and version, never its
//! sync policy. Its HTTP monitoring endpoint does: `/varz` carries `jetstream.config` with
//! `sync_always: true` when the server runs with `jetstream { sync_interval: always }`
//! (nats-server 2.10 and later; 2.9 has no such option and fsyncs every 60 s), and
//! `jetstream.meta` names the servers of the JetStream cluster. So smppd reads `/varz` from
//! every URL in `[cluster] monitor` and accepts only when every server of the meta group was
//! read and syncs always. Checked at start (and by `smppd cluster check`); a server restarted
//! later with another setting is not noticed until the next start.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// What one server's `/varz` says about its JetStream storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSync {
    /// The monitoring URL it was read from.
    pub url: String,
    /// `server_name`.
    pub server_name: String,
    /// `version` (`2.15.1`).
    pub version: String,
    /// Whether JetStream runs on it.
    pub jetstream: bool,
    /// `jetstream.config.sync_always`: fsync before every acknowledgement.
    pub sync_always: bool,
    /// `jetstream.config.sync_interval`: how often it fsyncs otherwise (absent before 2.10).
    pub sync_interval: Option<Duration>,
    /// The servers of its JetStream meta group that it knows of (the leader, the peers).
    pub meta_peers: Vec<String>,
    /// `jetstream.meta.cluster_size`: how many servers the meta group has.
    pub meta_cluster_size: Option<usize>,
}

impl ServerSync {
    /// "fsync before ack", "fsync every 2m", or "fsync every 60s (2.9: fixed)".
    pub fn sync_policy(&self) -> String {
        match (self.jetstream, self.sync_always, self.sync_interval) {
            (false, ..) => "no JetStream".to_owned(),
            (true, true, _) => "fsync before ack".to_owned(),
            (true, false, Some(every)) => {
                format!("fsync every {}", humantime::format_duration(every))
            }
            (true, false, None) => "fsync on the server's fixed interval (before 2.10)".to_owned(),
        }
    }
}

/// `/varz`, the parts read here; every field optional, since older servers lack some.
#[derive(Deserialize)]
struct Varz {
    #[serde(default)]
    server_name: String,
    #[serde(default)]
    version: String,
    jetstream: Option<VarzJetStream>,
}

#[derive(Deserialize)]
struct VarzJetStream {
    config: Option<VarzJsConfig>,
    meta: Option<VarzMeta>,
}

#[derive(Deserialize)]
struct VarzJsConfig {
    #[serde(default)]
    sync_always: bool,
    /// Nanoseconds.
    sync_interval: Option<u64>,
}

#[derive(Deserialize)]
struct VarzMeta {
    leader: Option<String>,
    #[serde(default)]
    replicas: Vec<VarzPeer>,
    cluster_size: Option<usize>,
}

#[derive(Deserialize)]
struct VarzPeer {
    name: String,
}

/// Parses the body of `url`'s `/varz`.
pub fn parse_varz(url: &str, body: &[u8]) -> Result<ServerSync, String> {
    let varz: Varz =
        serde_json::from_slice(body).map_err(|e| format!("not a NATS /varz answer: {e}"))?;
    // A server without JetStream has no config block (or an empty one).
    let config = varz.jetstream.as_ref().and_then(|js| js.config.as_ref());
    let meta = varz.jetstream.as_ref().and_then(|js| js.meta.as_ref());
    let mut meta_peers: Vec<String> = meta
        .map(|m| {
            m.leader
                .iter()
                .cloned()
                .chain(m.replicas.iter().map(|r| r.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    meta_peers.sort();
    meta_peers.dedup();
    Ok(ServerSync {
        url: url.to_owned(),
        server_name: varz.server_name,
        version: varz.version,
        jetstream: config.is_some(),
        sync_always: config.is_some_and(|c| c.sync_always),
        sync_interval: config
            .and_then(|c| c.sync_interval)
            .map(Duration::from_nanos),
        meta_peers,
        meta_cluster_size: meta.and_then(|m| m.cluster_size),
    })
}

/// Reads `/varz` from each monitoring URL, each within `timeout`.
pub async fn read_all(urls: &[String], timeout: Duration) -> Result<Vec<ServerSync>, String> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let mut servers = Vec::with_capacity(urls.len());
    for url in urls {
        let varz = format!("{url}/varz");
        let body = async {
            let response = http.get(&varz).send().await?.error_for_status()?;
            response.bytes().await
        }
        .await
        .map_err(|e| format!("cannot read {varz}: {}", chain(&e)))?;
        servers.push(parse_varz(url, &body).map_err(|e| format!("{varz}: {e}"))?);
    }
    Ok(servers)
}

/// An error with its causes ("error sending request: … Connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        // Some layers repeat their cause in their own text.
        if !text.contains(&next_text) {
            text = format!("{text}: {next_text}");
        }
        cause = next.source();
    }
    text
}

/// Whether every JetStream server that `servers` name (themselves and their meta groups)
/// was read and fsyncs before acknowledging; otherwise every reason why not.
pub fn judge(servers: &[ServerSync]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let read: BTreeSet<&str> = servers
        .iter()
        .filter(|s| s.jetstream)
        .map(|s| s.server_name.as_str())
        .collect();
    if read.is_empty() {
        problems.push("no server in cluster.monitor runs JetStream".to_owned());
    }
    for server in servers.iter().filter(|s| s.jetstream && !s.sync_always) {
        problems.push(format!(
            "{} ({}, nats-server {}) does not fsync before acknowledging ({}): set \
             `jetstream {{ sync_interval: always }}` in its config (nats-server 2.10 or later)",
            server.server_name,
            server.url,
            server.version,
            server.sync_policy()
        ));
    }
    let named: BTreeSet<&str> = servers
        .iter()
        .flat_map(|s| s.meta_peers.iter().map(String::as_str))
        .collect();
    for missing in named.difference(&read) {
        problems.push(format!(
            "{missing} is a JetStream server of the cluster, but none of cluster.monitor is \
             it: add its monitoring URL"
        ));
    }
    let size = servers.iter().filter_map(|s| s.meta_cluster_size).max();
    if let Some(size) = size {
        let known = read.union(&named).count();
        if size > known {
            problems.push(format!(
                "the JetStream cluster has {size} servers, cluster.monitor shows {known}: add \
                 the monitoring URLs of the others"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from nats-server 2.15.1's /varz with `sync_interval: always`.
    const VARZ_ALWAYS: &str = r#"{"server_name":"n1","version":"2.15.1",
        "jetstream":{"config":{"max_memory":1,"store_dir":"/x","sync_interval":120000000000,
        "sync_always":true,"strict":true},
        "meta":{"name":"ct","leader":"n2","peer":"44jzkV9D","replicas":[
        {"name":"n2","current":true,"active":475883198,"peer":"44jzkV9D"},
        {"name":"n3","current":false,"active":0,"peer":"BXScrY9i"}],
        "cluster_size":3,"quorum_needed":2}}}"#;

    fn server(name: &str, always: bool) -> ServerSync {
        ServerSync {
            url: format!("http://{name}:8222"),
            server_name: name.to_owned(),
            version: "2.15.1".to_owned(),
            jetstream: true,
            sync_always: always,
            sync_interval: Some(Duration::from_secs(120)),
            meta_peers: vec!["n1".to_owned(), "n2".to_owned(), "n3".to_owned()],
            meta_cluster_size: Some(3),
        }
    }

    #[test]
    fn reads_sync_always_and_the_meta_group() {
        let sync = parse_varz("http://a:8222", VARZ_ALWAYS.as_bytes()).unwrap();
        assert_eq!(sync.server_name, "n1");
        assert!(sync.jetstream && sync.sync_always);
        assert_eq!(sync.sync_interval, Some(Duration::from_secs(120)));
        assert_eq!(sync.meta_peers, ["n2", "n3"]);
        assert_eq!(sync.meta_cluster_size, Some(3));
        assert_eq!(sync.sync_policy(), "fsync before ack");
    }

    #[test]
    fn an_old_server_has_no_sync_option() {
        let body = r#"{"server_name":"old","version":"2.9.10",
            "jetstream":{"config":{"max_memory":1,"store_dir":"/x"}}}"#;
        let sync = parse_varz("http://old:8222", body.as_bytes()).unwrap();
        assert!(sync.jetstream && !sync.sync_always);
        assert_eq!(sync.sync_interval, None);
        let no_js = parse_varz(
            "http://p:8222",
            br#"{"server_name":"p","version":"2.15.1"}"#,
        )
        .unwrap();
        assert!(!no_js.jetstream);
        assert!(parse_varz("http://p:8222", b"<html>").is_err());
    }

    #[test]
    fn every_server_must_sync_always_and_be_read() {
        let all = [server("n1", true), server("n2", true), server("n3", true)];
        assert_eq!(judge(&all), Ok(()));

        let one_lazy = [server("n1", true), server("n2", false), server("n3", true)];
        let problems = judge(&one_lazy).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("n2 "), "{problems:?}");
        assert!(
            problems[0].contains("sync_interval: always"),
            "{problems:?}"
        );

        let two_read = [server("n1", true), server("n2", true)];
        let problems = judge(&two_read).unwrap_err();
        assert!(
            problems[0].starts_with("n3 is a JetStream server"),
            "{problems:?}"
        );

        assert!(judge(&[]).is_err());
    }
}
