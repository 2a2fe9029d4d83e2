//! A disk that fills up, with real processes: `smppd serve` runs in a mount namespace of its
//! own where its store directory is a small tmpfs, and the test fills and frees that tmpfs
//! through `/proc/PID/root`.
//!
//! - With the free-space guard (`[store] min_free_space`): below the limit every new message
//!   is refused with ESME_RMSGQFUL and no id, messages acknowledged before are still found by
//!   query_sm, dispatch and receipts go on; once space is freed, submits are accepted again
//!   within seconds, and every acknowledged message reaches the carrier with its receipt back.
//! - Without it (`"off"`), the disk really fills: the write that fails acknowledges nothing
//!   (ESME_RSYSERR), the gateway exits 74 without a panic, and restarted on the freed disk it
//!   still has every message it acknowledged.
//!
//! The namespace is held by a `sleep` of its own so that the tmpfs outlives a gateway that
//! exits; the gateway enters it with `nsenter`. Needs root (CI runs as root): without it, or
//! without `unshare`/`nsenter`, the tests fail saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    carrier, client, config, get_ok, message_id, post_ok, query, routed_config, submit, temp_dir,
    wait_link_up, Client, Gateway, Simulator,
};
use smpp_proto::pdu::{Address, DataSm, DestAddress, ShortMessage, SubmitMulti};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu, Tlv, Tlvs};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

/// A mount namespace with a tmpfs of `size` over `dir`, held open by a sleeping process.
struct Namespace {
    holder: Child,
    /// The tmpfs mount point (the same path inside and outside; outside it is an empty dir).
    dir: PathBuf,
}

impl Namespace {
    fn new(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let script = format!(
            "mount -t tmpfs -o size={size} smppd-test '{}' && echo mounted && exec sleep 3600",
            dir.display()
        );
        let spawned = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut holder = spawned.unwrap_or_else(|e| {
            panic!("cannot run unshare ({e}): this test needs util-linux's unshare and root")
        });
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "mounted" {
            let _ = holder.kill();
            let out = holder.wait_with_output().unwrap();
            panic!(
                "cannot mount a tmpfs in a new mount namespace ({}): {}\nthis test needs root \
                 (CI runs as root) and unshare/mount from util-linux",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Self {
            holder,
            dir: dir.to_owned(),
        }
    }

    /// What runs a command inside the namespace (nsenter execs it: the pid stays the same).
    fn wrapper(&self) -> Vec<String> {
        let pid = self.holder.id().to_string();
        ["nsenter", "-t", &pid, "-m", "--"]
            .map(str::to_owned)
            .to_vec()
    }

    /// `path` inside the namespace, as this process reaches it.
    fn inside(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap();
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(relative)
    }

    fn filler(&self) -> PathBuf {
        self.inside(&self.dir.join("filler"))
    }

    /// Free bytes on the tmpfs.
    fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.inside(&self.dir)).unwrap();
        stat.f_bavail * stat.f_frsize
    }

    /// Grows the filler file until at most `left` bytes are free (0: until the disk is full).
    fn fill_to(&self, left: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            let free = self.free();
            if free <= left {
                break;
            }
            let n = usize::try_from((free - left).min(chunk.len() as u64)).unwrap();
            if file.write_all(&chunk[..n]).is_err() {
                break; // Full (the gateway wrote meanwhile).
            }
        }
        // A full tmpfs may still take a partial page; what matters is what is left.
        let _ = file.flush();
    }

    fn free_filler(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The tmpfs goes with the last process in the namespace.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The gateway, run inside `ns` on `config_text` with its store on the tmpfs.
fn gateway_in(ns: &Namespace, dir: &Path, config_text: &str) -> Gateway {
    let store = dir.join("store").display().to_string();
    let inside = ns.dir.join("store").display().to_string();
    assert!(config_text.contains(&store));
    let text = config_text.replace(&store, &inside);
    let wrapper = ns.wrapper();
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    Gateway::start_wrapped(dir, &text, &wrapper)
}

fn data_sm() -> Body {
    let mut tlvs = Tlvs::new();
    tlvs.push(Tlv::message_payload(b"by data_sm".to_vec().into()).unwrap());
    Body::DataSm(DataSm {
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        destination: Address::new(1, 1, "447700900123".try_into().unwrap()),
        registered_delivery: 1,
        tlvs,
        ..DataSm::default()
    })
}

fn submit_multi() -> Body {
    let sme = |addr: &str| DestAddress::Sme(Address::new(1, 1, addr.try_into().unwrap()));
    Body::SubmitMulti(SubmitMulti {
        source: Address::new(5, 0, "Shop".try_into().unwrap()),
        dest_address: vec![sme("447700900001"), sme("447700900002")]
            .try_into()
            .unwrap(),
        registered_delivery: 1,
        short_message: ShortMessage::new(b"to both".to_vec()).unwrap(),
        ..SubmitMulti::default()
    })
}

/// The message id field of a submit response, whatever its status.
fn id_field(pdu: &Pdu) -> String {
    match &pdu.body {
        Body::SubmitSmResp(r) | Body::DataSmResp(r) => r.message_id.to_string(),
        Body::SubmitMultiResp(r) => r.message_id.to_string(),
        other => panic!("not a submit response: {other:?}"),
    }
}

/// `GET /metrics`: the value of the sample `name` (no labels).
async fn metric(admin: SocketAddr, name: &str) -> Option<f64> {
    common::metric_sample(admin, name).await
}

async fn space_low(admin: SocketAddr) -> bool {
    get_ok(admin, "/api/status").await["store"]["space_low"] == true
}

/// Waits until the admin API shows the guard `on` (or off).
async fn wait_space_low(gw: &Gateway, on: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while space_low(gw.admin.unwrap()).await != on {
        assert!(
            Instant::now() < deadline,
            "space_low never became {on}; logs:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_min_free_space_submits_are_refused_and_resume_when_space_returns() {
    let dir = temp_dir("disk-full-guard");
    let ns = Namespace::new(&dir.join("data"), "64m");
    let sim = Simulator::start(&dir, "carrier", &["--receipt-delay", "50ms"]);
    let carriers = [carrier("sim", sim.addr.port(), "")];
    let text = routed_config(&dir, &carriers, &["sim"], "", "")
        .replace("min_free_space = \"off\"", "min_free_space = \"16MiB\"");
    assert!(text.contains("min_free_space = \"16MiB\""));
    let gw = gateway_in(&ns, &dir, &text);
    let admin = gw.admin.unwrap();
    wait_link_up(admin, "sim").await;
    assert!(!space_low(admin).await);

    let mut c = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    let mut acked = BTreeSet::new();
    for n in 0..10 {
        acked.insert(
            c.submit_ok(submit("447700900123", &format!("before {n}")))
                .await,
        );
    }
    // Messages that wait in the queue while the disk fills: dispatched while the guard is on.
    post_ok(admin, "/api/links/sim/pause", None).await;
    let mut waiting = BTreeSet::new();
    for n in 0..10 {
        waiting.insert(
            c.submit_ok(submit("447700900123", &format!("queued {n}")))
                .await,
        );
    }

    ns.fill_to(12 * MIB);
    let filled = ns.free();
    eprintln!("filled the tmpfs: {} KiB free", filled / 1024);
    wait_space_low(&gw, true).await;
    assert_eq!(metric(admin, "smppd_store_space_low").await, Some(1.0));
    let free = metric(admin, "smppd_store_free_bytes").await.unwrap();
    assert!(free < (16 * MIB) as f64, "free {free}");
    let out = Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(["--admin", &gw.admin_url(), "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && status.contains("BELOW min_free_space 16.0 MiB"),
        "smppctl status: {status}"
    );

    // Every kind of submit is refused, transiently, and without an id.
    for body in [submit("447700900123", "refused"), data_sm(), submit_multi()] {
        let resp = c.request(body).await;
        assert_eq!(
            resp.command_status,
            CommandStatus::ESME_RMSGQFUL,
            "{resp:?}"
        );
        assert_eq!(id_field(&resp), "", "{resp:?}");
    }
    // What was acknowledged before is all there.
    for id in acked.iter().chain(&waiting) {
        let resp = c.request(query(id)).await;
        assert_eq!(
            resp.command_status,
            CommandStatus::ESME_ROK,
            "{id}: {resp:?}"
        );
    }
    // Dispatch and receipts go on in the reserve: the waiting messages leave now.
    post_ok(admin, "/api/links/sim/resume", None).await;
    let mut receipts = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.is_subset(&receipts) {
        assert!(Instant::now() < deadline, "receipts {receipts:?}");
        let (id, stat) = c.next_receipt().await;
        assert_eq!(stat, "DELIVRD");
        receipts.insert(id);
    }
    assert!(space_low(admin).await, "the guard stayed on throughout");
    acked.extend(waiting);

    // Space returns: submits are taken again within seconds.
    ns.free_filler();
    let freed = Instant::now();
    let id = loop {
        let resp = c.request(submit("447700900123", "after")).await;
        if resp.command_status == CommandStatus::ESME_ROK {
            break message_id(&resp);
        }
        assert_eq!(resp.command_status, CommandStatus::ESME_RMSGQFUL);
        assert!(
            freed.elapsed() < Duration::from_secs(5),
            "still refused {:?} after the space was freed",
            freed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "accepted again {:?} after the space was freed",
        freed.elapsed()
    );
    acked.insert(id);
    for n in 0..5 {
        acked.insert(
            c.submit_ok(submit("447700900123", &format!("later {n}")))
                .await,
        );
    }
    assert!(!space_low(admin).await);
    assert_eq!(metric(admin, "smppd_store_space_low").await, Some(0.0));

    // Every acknowledged message reached the carrier, and its receipt came back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !acked.is_subset(&receipts) {
        assert!(
            Instant::now() < deadline,
            "no receipt for {:?}",
            acked.difference(&receipts).collect::<Vec<_>>()
        );
        let (id, stat) = c.next_receipt().await;
        assert_eq!(stat, "DELIVRD");
        receipts.insert(id);
    }
    let carried = sim.submits().iter().filter(|s| s.id().is_some()).count();
    assert!(
        carried >= acked.len(),
        "{carried} submits reached the carrier"
    );

    // One WARN on entering the state, one INFO on leaving it.
    let logs = gw.logs();
    let entered = logs.matches("below [store] min_free_space").count();
    let left = logs.matches("back above [store] min_free_space").count();
    assert_eq!((entered, left), (1, 1), "logs:\n{logs}");
    assert!(logs
        .lines()
        .any(|l| l.contains("WARN") && l.contains("refusing new messages")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failing_on_a_full_disk_stops_the_gateway_and_loses_nothing_acknowledged() {
    let dir = temp_dir("disk-full-enospc");
    let ns = Namespace::new(&dir.join("data"), "64m");
    // The common config has the guard off: this test is about a disk that fills up anyway.
    let text = config(&dir, "", &client("shop", "secret1", "window = 64"));
    assert!(text.contains("min_free_space = \"off\""));
    let mut gw = gateway_in(&ns, &dir, &text);
    let mut c = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push(
            c.submit_ok(submit("447700900123", &format!("before {n}")))
                .await,
        );
    }

    // No guard: the disk really fills, and a write fails: one of a group commit's (its
    // submits are answered ESME_RSYSERR) or the checkpoint's (then the gateway unbinds us).
    ns.fill_to(0);
    let (mut after, mut failed, mut unbound) = (0, 0, false);
    for n in 0..100_000 {
        let body = submit(
            "447700900123",
            &format!("message {n} on a full disk, a little long"),
        );
        let seq = c.send(body).await;
        let Some(Some(resp)) = c.recv_within(Duration::from_secs(10)).await else {
            break; // The gateway has gone.
        };
        if resp.command_id() == CommandId::Unbind {
            c.answer(&resp).await;
            unbound = true;
            break;
        }
        assert_eq!(resp.sequence_number, seq);
        match resp.command_status {
            CommandStatus::ESME_ROK => {
                after += 1;
                acked.push(message_id(&resp));
            }
            CommandStatus::ESME_RSYSERR => {
                assert_eq!(id_field(&resp), "", "{resp:?}");
                failed += 1;
            }
            other => panic!("submit on a full disk: {other}"),
        }
    }
    eprintln!(
        "full disk: {after} more acknowledged, then {failed} ESME_RSYSERR; unbound: {unbound}"
    );
    assert!(
        failed > 0 || unbound,
        "no write failed; logs:\n{}",
        gw.logs()
    );

    let status = gw.wait_exit(Duration::from_secs(15));
    let logs = gw.logs();
    let status = status.unwrap_or_else(|| panic!("the gateway did not exit; logs:\n{logs}"));
    assert_eq!(status.code(), Some(74), "logs:\n{logs}");
    assert!(!logs.contains("panicked"), "logs:\n{logs}");
    assert!(
        logs.lines()
            .any(|l| l.contains("ERROR") && l.contains("writes fail for good")),
        "logs:\n{logs}"
    );

    // Restarted on the freed disk: every acknowledged message is there, and submits work.
    ns.free_filler();
    gw.restart();
    let mut c = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut lost = Vec::new();
    for id in &acked {
        let resp = c.request(query(id)).await;
        if resp.command_status != CommandStatus::ESME_ROK {
            lost.push(id.clone());
        }
    }
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    c.submit_ok(submit("447700900123", "after the restart"))
        .await;
}
