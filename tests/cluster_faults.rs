//! Issue 21's fault runs: three smppd nodes in cluster mode on three nats-servers
//! (tests/common/cluster.rs), a carrier that takes at most 2 binds, and a paced load with one
//! transceiver bind per node (tests/common/paced_load.rs). One fault per run:
//!
//! - a: SIGKILL the node owning the dispatch group mid-load, restart it later;
//! - b: SIGKILL a node that only accepts, restart it later;
//! - c: SIGKILL one nats-server (the leader of the message queue), restart it;
//! - d: SIGSTOP the owner for 15 s, then SIGCONT: no submit on its old binds once another
//!   node bound, and it rejoins as a non-owner.
//!
//! Each prints one summary line (`cluster-fault run=…`) and must lose nothing acknowledged,
//! deliver every receipt, keep the carrier at 2 binds at most, and never submit on a bind
//! older than another node's newer one (tests/common/accounting.rs). Short runs by default
//! (about 30 s of load each); `SMPPD_CLUSTER_LONG=1` runs each fault four times over longer
//! loads, `SMPPD_CLUSTER_RATE` sets the load's messages per second.
//!
//! The `harness_*` tests check the rig, the load and the accounting themselves: against one
//! plain node, on synthetic carrier logs, and the nats-server and lease helpers.
//!
//! The runs share the machine's two cores and time out on leases of 3 s: they take turns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::accounting::{CarrierCounts, Pause, Tally};
use common::cluster::{
    lease_owners, ClusterRig, RigOptions, GROUP_PREFIX, LEASE_BUCKET, MAX_BINDS,
};
use common::paced_load::PacedLoad;
use common::{LogLine, LoggedSubmit, SessionEvent, SessionEventKind};
use smpp_proto::Pdu;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// One run at a time (see the module's doc).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long and how hard a run is.
#[derive(Clone, Debug)]
struct Plan {
    /// Messages per second, all binds together.
    rate: u32,
    /// Load before the first fault.
    warmup: Duration,
    /// Faults per run.
    cycles: usize,
    /// How long a killed process stays down.
    down: Duration,
    /// How long the owner stays stopped (SIGSTOP).
    pause: Duration,
    /// Load after each fault is over.
    settle: Duration,
    /// How long the receipts of the last messages may take.
    drain: Duration,
}

fn plan() -> Plan {
    let long = std::env::var("SMPPD_CLUSTER_LONG").is_ok_and(|v| v == "1");
    let rate = std::env::var("SMPPD_CLUSTER_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if long { 400 } else { 200 });
    if long {
        Plan {
            rate,
            warmup: Duration::from_secs(20),
            cycles: 4,
            down: Duration::from_secs(15),
            pause: Duration::from_secs(15),
            settle: Duration::from_secs(20),
            drain: Duration::from_secs(120),
        }
    } else {
        Plan {
            rate,
            warmup: Duration::from_secs(5),
            cycles: 1,
            down: Duration::from_secs(10),
            pause: Duration::from_secs(15),
            settle: Duration::from_secs(10),
            drain: Duration::from_secs(45),
        }
    }
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// The rig in cluster mode with an owner elected, and the load bound to every node and
/// running for `plan.warmup`.
async fn begin(run: &str, plan: &Plan) -> (ClusterRig, PacedLoad) {
    let rig = tokio::task::block_in_place(|| ClusterRig::start(&RigOptions::cluster()));
    let owner = rig.wait_owner(None, Duration::from_secs(20)).await;
    let load = PacedLoad::start(&rig.targets(), plan.rate);
    let names = rig.names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    load.until_bound(&names, Duration::from_secs(20)).await;
    eprintln!("{run}: owner {owner}, load at {}/s; {plan:?}", plan.rate);
    sleep(plan.warmup).await;
    (rig, load)
}

/// Ends the load, counts the run, prints its summary line and asserts it was sound.
async fn finish(
    run: &str,
    rig: ClusterRig,
    load: PacedLoad,
    plan: &Plan,
    pause: Option<Pause>,
) -> Tally {
    let record = load.drain(plan.drain).await;
    let log = common::read_log(rig.sim.log());
    let stats = rig.carrier_stats();
    let counts = CarrierCounts {
        binds_peak: stats.binds_peak,
        binds_refused: stats.binds_refused,
    };
    let tally = Tally::of(&record, &log, &rig.session_nodes(), counts, pause.as_ref());
    eprintln!("{}", tally.summary(run));
    if !tally.lost.is_empty() || !tally.receipts_missing.is_empty() || !record.errors.is_empty() {
        eprintln!("load errors: {:?}\n{}", record.errors, rig.warnings());
    }
    assert!(
        record.errors.is_empty(),
        "{run}: the load failed: {:?}",
        record.errors
    );
    tally.assert_sound(run, MAX_BINDS);
    tally
}

/// Another node than `not`, in name order after it.
fn other_than(rig: &ClusterRig, not: &str, turn: usize) -> String {
    let others: Vec<String> = rig.names().into_iter().filter(|n| n != not).collect();
    others[turn % others.len()].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_of_the_owner_mid_load_loses_nothing() {
    let _turn = SERIAL.lock().await;
    let plan = plan();
    let (mut rig, load) = begin("a", &plan).await;
    for cycle in 0..plan.cycles {
        let owner = rig.wait_owner(None, Duration::from_secs(20)).await;
        let killed = Instant::now();
        rig.kill(&owner);
        let next = rig.wait_owner(Some(&owner), Duration::from_secs(20)).await;
        eprintln!(
            "a{cycle}: SIGKILL of owner {owner}; {next} owns {:.1?} later",
            killed.elapsed()
        );
        sleep(plan.down.saturating_sub(killed.elapsed())).await;
        tokio::task::block_in_place(|| rig.restart(&owner));
        load.until_bound(&[&owner], Duration::from_secs(20)).await;
        eprintln!("a{cycle}: {owner} back after {:.1?}", killed.elapsed());
        sleep(plan.settle).await;
    }
    finish("a: kill -9 of the owner", rig, load, &plan, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_kill_9_of_a_node_that_only_accepts_loses_nothing() {
    let _turn = SERIAL.lock().await;
    let plan = plan();
    let (mut rig, load) = begin("b", &plan).await;
    for cycle in 0..plan.cycles {
        let owner = rig.wait_owner(None, Duration::from_secs(20)).await;
        let victim = other_than(&rig, &owner, cycle);
        let killed = Instant::now();
        rig.kill(&victim);
        // The owner's lease does not depend on the others.
        while killed.elapsed() < plan.down {
            assert_eq!(
                rig.owner().await.as_deref(),
                Some(owner.as_str()),
                "b{cycle}: the group moved when {victim}, not its owner, died"
            );
            sleep(Duration::from_millis(500)).await;
        }
        tokio::task::block_in_place(|| rig.restart(&victim));
        load.until_bound(&[&victim], Duration::from_secs(20)).await;
        eprintln!(
            "b{cycle}: SIGKILL of {victim} (owner {owner}), back after {:.1?}",
            killed.elapsed()
        );
        sleep(plan.settle).await;
    }
    finish("b: kill -9 of a non-owner", rig, load, &plan, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_kill_9_of_a_nats_server_loses_nothing() {
    let _turn = SERIAL.lock().await;
    let plan = plan();
    let (mut rig, load) = begin("c", &plan).await;
    for cycle in 0..plan.cycles {
        // In turn: the leader of the message queue, of the lease bucket, of the meta group.
        let nats = rig.nats.as_ref().unwrap();
        let leader = match cycle % 3 {
            0 => nats.stream_leader("SMPPD_Q"),
            1 => nats.stream_leader(&format!("KV_{LEASE_BUCKET}")),
            _ => nats.meta_leader(),
        };
        let victim = leader.unwrap_or_else(|| nats.names()[cycle % 3].clone());
        let killed = Instant::now();
        rig.kill_nats(&victim);
        eprintln!(
            "c{cycle}: SIGKILL of nats-server {victim} (owner {:?})",
            rig.owner().await
        );
        sleep(plan.down).await;
        tokio::task::block_in_place(|| rig.restart_nats(&victim));
        eprintln!(
            "c{cycle}: {victim} current again after {:.1?}; owner {:?}",
            killed.elapsed(),
            rig.owner().await
        );
        sleep(plan.settle).await;
    }
    finish("c: kill -9 of a nats-server", rig, load, &plan, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d_sigstop_of_the_owner_fences_it_and_it_rejoins_as_a_non_owner() {
    let _turn = SERIAL.lock().await;
    let plan = plan();
    let (mut rig, load) = begin("d", &plan).await;
    let mut pauses = Vec::new();
    for cycle in 0..plan.cycles {
        let owner = rig.wait_owner(None, Duration::from_secs(20)).await;
        let stopped_ms = now_ms();
        let stopped = Instant::now();
        rig.pause(&owner);
        let next = rig.wait_owner(Some(&owner), plan.pause).await;
        eprintln!(
            "d{cycle}: SIGSTOP of owner {owner}; {next} owns {:.1?} later",
            stopped.elapsed()
        );
        sleep(plan.pause.saturating_sub(stopped.elapsed())).await;
        let resumed_ms = now_ms();
        rig.resume(&owner);
        // It rejoins as a non-owner: its fence lapsed while it was stopped.
        let resumed = Instant::now();
        while resumed.elapsed() < Duration::from_secs(5) {
            let now = rig.owner().await;
            assert_ne!(
                now.as_deref(),
                Some(owner.as_str()),
                "d{cycle}: {owner} owns again after SIGCONT"
            );
            sleep(Duration::from_millis(200)).await;
        }
        // … and accepts again: the load's bind to it comes back and is acknowledged.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !load
            .record()
            .acked
            .values()
            .any(|a| a.node == owner && a.at_ms > resumed_ms)
        {
            assert!(
                Instant::now() < deadline,
                "d{cycle}: {owner} accepts nothing after SIGCONT"
            );
            sleep(Duration::from_millis(200)).await;
        }
        eprintln!("d{cycle}: {owner} resumed, accepting again as a non-owner");
        pauses.push(Pause {
            node: owner,
            stopped_ms,
            resumed_ms,
        });
        sleep(plan.settle).await;
    }
    // Each pause is checked on the whole log; the first one's figures go in the summary.
    let log_path = rig.sim.log().to_path_buf();
    let nodes = rig.session_nodes();
    let tally = finish(
        "d: SIGSTOP of the owner",
        rig,
        load,
        &plan,
        pauses.first().cloned(),
    )
    .await;
    assert!(
        tally.new_bind_after_stop_ms.is_some(),
        "d: no node bound the carrier after the owner stopped"
    );
    let log = common::read_log(&log_path);
    for pause in &pauses[1..] {
        let more = Tally::of(
            &Default::default(),
            &log,
            &nodes,
            CarrierCounts::default(),
            Some(pause),
        );
        assert!(
            more.paused_after_new_bind.is_empty(),
            "d: submits on {}'s old binds after another bound: {:?}",
            pause.node,
            &more.paused_after_new_bind[..more.paused_after_new_bind.len().min(5)]
        );
    }
}

/// The harness against one plain node (no `[cluster]`): a paced load over one bind, paused
/// once for 3 s by SIGSTOP. Nothing may be lost, duplicated or missing, every carrier session
/// is attributed to the node, and the pause accounting sees the node go on submitting on its
/// binds after SIGCONT (no other node is there to take over).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn harness_counts_a_single_node_run() {
    let _turn = SERIAL.lock().await;
    let rate = 200;
    let mut rig = tokio::task::block_in_place(|| ClusterRig::start(&RigOptions::single()));
    let load = PacedLoad::start(&rig.targets(), rate);
    load.until_bound(&["a"], Duration::from_secs(10)).await;
    let started = Instant::now();
    sleep(Duration::from_secs(4)).await;
    let stopped_ms = now_ms();
    rig.pause("a");
    sleep(Duration::from_secs(3)).await;
    let resumed_ms = now_ms();
    rig.resume("a");
    sleep(Duration::from_secs(4)).await;
    let loaded = started.elapsed();
    let record = load.drain(Duration::from_secs(30)).await;
    let log = common::read_log(rig.sim.log());
    let stats = rig.carrier_stats();
    let pause = Pause {
        node: "a".to_owned(),
        stopped_ms,
        resumed_ms,
    };
    let counts = CarrierCounts {
        binds_peak: stats.binds_peak,
        binds_refused: stats.binds_refused,
    };
    let tally = Tally::of(&record, &log, &rig.session_nodes(), counts, Some(&pause));
    eprintln!("{}", tally.summary("harness: one plain node"));
    assert!(record.errors.is_empty(), "{:?}", record.errors);
    tally.assert_sound("harness", MAX_BINDS);
    // The pacer kept its rate: each message it made was acknowledged, or not placed while the
    // only bind's window was full (the pause).
    let paced = f64::from(rate) * loaded.as_secs_f64();
    let made = (tally.acked as u64 + record.unplaced) as f64;
    assert!(
        (made - paced).abs() < paced * 0.1,
        "{made} made of about {paced:.0} paced"
    );
    assert!(record.unplaced < u64::from(rate) * 4, "{}", record.unplaced);
    assert_eq!(record.pending(), 0);
    assert_eq!(tally.carrier_duplicates, 0);
    assert_eq!((tally.carrier_unacked, tally.receipts_unacked), (0, 0));
    assert_eq!(tally.receipts_twice, 0);
    assert_eq!(tally.peak_binds, 2, "the link's two sessions");
    assert_eq!(tally.binds_refused, 0);
    assert_eq!(tally.at_carrier, tally.acked);
    assert_eq!(tally.unattributed_sessions, 0, "{:?}", rig.session_nodes());
    assert!(tally.carrier_sessions >= 2);
    assert!(rig.session_nodes().values().all(|n| n == "a"));
    // Alone, the node goes on on its binds after SIGCONT: seen, and no other bind began.
    assert!(
        tally.paused_after_resume > 0,
        "{}",
        tally.summary("harness")
    );
    assert_eq!(tally.new_bind_after_stop_ms, None);
    assert_eq!(tally.acked_by_node.keys().collect::<Vec<_>>(), ["a"]);
}

/// A logged submit of load seq `seq` on carrier session `session` at `at_ms`, accepted.
fn logged(session: u64, seq: u64, at_ms: i64) -> LogLine {
    let text = format!("{}{seq}", common::paced_load::SEQ_PREFIX);
    LogLine::Submit(LoggedSubmit {
        at_ms,
        session,
        outcome: format!("id={seq:x}"),
        pdu: Pdu::new(2, common::submit("447700900123", &text)),
    })
}

fn event(session: u64, kind: SessionEventKind, at_ms: i64) -> LogLine {
    LogLine::Session(SessionEvent {
        at_ms,
        session,
        kind,
        system_id: "smppd".to_owned(),
        peer: None,
        binds: Some(1),
    })
}

/// The accounting on a carrier log written by hand: what counts as lost, duplicated, stale.
#[test]
fn harness_accounting_flags_stale_submits_duplicates_and_losses() {
    let bound = || SessionEventKind::Bound("transceiver".to_owned());
    // a binds 1 and 2; a is paused at 1000 and resumed at 5000; b binds 3 at 4000, and a
    // submits on 1 at 4500 (paused? no: after b's bind) and at 6000 (after its resume).
    let log = vec![
        event(1, bound(), 100),
        event(2, bound(), 110),
        logged(1, 1, 200),
        logged(2, 2, 300),
        logged(2, 2, 900), // a duplicate at the carrier
        event(2, SessionEventKind::Closed, 950),
        event(3, bound(), 4000),
        logged(3, 3, 4100),
        logged(1, 4, 4500),
        logged(1, 5, 6000),
    ];
    let nodes: HashMap<u64, String> = [(1, "a"), (2, "a"), (3, "b")]
        .into_iter()
        .map(|(s, n)| (s, n.to_owned()))
        .collect();
    let mut record = common::paced_load::LoadRecord::default();
    for (seq, node) in [(1, "a"), (2, "a"), (3, "b"), (4, "a"), (5, "a"), (6, "a")] {
        let id = format!("g{seq}");
        record.ids.insert(id.clone());
        if seq != 5 {
            record.receipts.insert(id.clone(), (1, node.to_owned()));
        }
        let acked = common::paced_load::Acked {
            id,
            node: node.to_owned(),
            at_ms: 0,
        };
        record.acked.insert(seq, acked);
    }
    let pause = Pause {
        node: "a".to_owned(),
        stopped_ms: 1000,
        resumed_ms: 5000,
    };
    let tally = Tally::of(
        &record,
        &log,
        &nodes,
        CarrierCounts::default(),
        Some(&pause),
    );
    eprintln!("{}", tally.summary("synthetic"));
    assert_eq!(tally.lost, [6]);
    assert_eq!(tally.carrier_duplicates, 1);
    assert_eq!(tally.at_carrier, 5);
    assert_eq!(tally.receipts_missing, [(5, "g5".to_owned())]);
    // Seqs 4 and 5 came on a's session 1, bound before b's session 3.
    assert_eq!(tally.stale_submits.len(), 2, "{:?}", tally.stale_submits);
    assert!(
        tally.stale_submits[0].contains("seq 4"),
        "{:?}",
        tally.stale_submits
    );
    // Session 1 was a's when it stopped (2 had closed before): both after b bound, one after
    // the resume.
    assert_eq!(tally.paused_after_new_bind.len(), 2);
    assert_eq!(tally.paused_after_resume, 1);
    assert_eq!(tally.new_bind_after_stop_ms, Some(3000));
    assert_eq!(tally.peak_binds, 1);
    let sound = std::panic::catch_unwind(|| tally.assert_sound("synthetic", MAX_BINDS));
    assert!(sound.is_err(), "a run with losses passed");

    // The same binds one owner after the other, each on its own binds: nothing stale.
    let handover = vec![
        event(1, bound(), 100),
        logged(1, 1, 200),
        event(1, SessionEventKind::Closed, 300),
        event(3, bound(), 400),
        logged(3, 2, 500),
    ];
    let tally = Tally::of(
        &Default::default(),
        &handover,
        &nodes,
        CarrierCounts::default(),
        None,
    );
    assert!(tally.stale_submits.is_empty(), "{:?}", tally.stale_submits);
}

/// The cluster rig's own helpers, before cluster mode is wired into `smppd serve`: three
/// nodes with `[cluster]` start (today each serves alone), their carrier sessions are
/// attributed to them, a node is killed and restarted and paused and resumed, the lease
/// owner is read from the bucket (a record written here, beside the real layout), and the
/// nats-server leading the lease bucket is killed and restarted with the owner still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn harness_cluster_rig_helpers() {
    let _turn = SERIAL.lock().await;
    let mut rig = tokio::task::block_in_place(|| ClusterRig::start(&RigOptions::cluster()));
    // The layout as smppd makes it, from node a's own config.
    let text = std::fs::read_to_string(rig.dir.join("node-a/smppd.toml")).unwrap();
    let config = smppd::config::Config::parse(&text).unwrap();
    let section = config.cluster.clone().unwrap();
    let cluster = smppd::cluster::Cluster::connect(&section).await.unwrap();
    cluster
        .provision(&smppd::cluster::layout::Layout::new(&config, &section))
        .await
        .unwrap();
    // The bucket's max_age is the lease TTL (3 s): the record is written anew before each
    // read. Writes go through the first server that takes them.
    let probe = format!("{GROUP_PREFIX}harness-probe");
    let urls = rig.nats_urls.clone();
    let put = async || {
        for url in &urls {
            let Ok(Ok(client)) =
                tokio::time::timeout(Duration::from_secs(1), async_nats::connect(url.as_str()))
                    .await
            else {
                continue;
            };
            let js = async_nats::jetstream::new(client);
            let Ok(kv) = js.get_key_value(LEASE_BUCKET).await else {
                continue;
            };
            let value = br#"{"node":"z","ttl_ms":3000}"#.to_vec().into();
            let put = tokio::time::timeout(Duration::from_secs(2), kv.put(probe.as_str(), value));
            if matches!(put.await, Ok(Ok(_))) {
                return true;
            }
        }
        false
    };
    assert!(put().await);
    let owners = rig.owners().await;
    assert_eq!(
        owners.get(&probe).map(String::as_str),
        Some("z"),
        "{owners:?}"
    );

    // Nodes: each bound the carrier at some point (alone, today); kill, restart, pause.
    common::eventually(
        Duration::from_secs(15),
        "carrier sessions attributed",
        || !rig.session_nodes().is_empty(),
    )
    .await;
    assert!(rig
        .session_nodes()
        .values()
        .all(|n| ["a", "b", "c"].contains(&n.as_str())));
    let pid = rig.pid("b");
    rig.kill("b");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    tokio::task::block_in_place(|| rig.restart("b"));
    assert_ne!(rig.pid("b"), pid);
    let load = PacedLoad::start(&rig.targets(), 50);
    load.until_bound(&["a", "b", "c"], Duration::from_secs(10))
        .await;
    rig.pause("c");
    // A signal is delivered asynchronously: the state turns T a moment later.
    let stat = format!("/proc/{}/stat", rig.pid("c"));
    let stopped = || {
        let state = std::fs::read_to_string(&stat).unwrap();
        let after = state.rsplit_once(')').unwrap().1.trim_start().to_owned();
        after.starts_with('T')
    };
    common::eventually(Duration::from_secs(2), "node c stopped (state T)", stopped).await;
    rig.resume("c");
    drop(load);

    // The server leading the lease bucket: killed, the owner is still read through the
    // others once they elect a leader; restarted, it is current again.
    let nats = rig.nats.as_ref().unwrap();
    let leader = nats.stream_leader(&format!("KV_{LEASE_BUCKET}")).unwrap();
    assert!(nats.meta_leader().is_some());
    let killed = Instant::now();
    rig.kill_nats(&leader);
    assert_eq!(rig.nats.as_ref().unwrap().servers.len(), 2);
    // A JetStream request waits up to 5 s for an answer, and the bucket's election takes
    // 4 to 9 s: the first write through a live server comes about 10 s after the kill.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let written = put().await;
        let owners = lease_owners(&rig.nats_urls).await;
        if written
            && owners
                .as_ref()
                .is_ok_and(|o| o.get(&probe).is_some_and(|n| n == "z"))
        {
            eprintln!(
                "lease record written and read {:.1?} after {leader} died",
                killed.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no owner written and read without {leader}: {owners:?}"
        );
        sleep(Duration::from_millis(200)).await;
    }
    tokio::task::block_in_place(|| rig.restart_nats(&leader));
    assert_eq!(rig.nats.as_ref().unwrap().servers.len(), 3);
    assert!(put().await);
    assert_eq!(
        rig.owners().await.get(&probe).map(String::as_str),
        Some("z")
    );
}
