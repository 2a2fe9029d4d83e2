//! kill -9 at the store level: every id the store acknowledged is on the disk after a crash.
//!
//! The tests re-execute their own binary as a writer child (selected by an environment
//! variable). The child accepts messages from many concurrent tasks and prints each id once
//! `accept` has returned; the parent reads those lines for a while, SIGKILLs the child
//! mid-write, reopens the store and checks every printed id with its content. Three rounds on
//! the same directory, so recovery of a recovered store and id reuse are covered too. The second
//! test shortens the store's layers to 150 ms and writes in bursts, so that the kill lands among
//! many layer changes: journal segments frozen, checkpointed, reused over older content.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use smppd::config::{Durability, StoreConfig};
use smppd::message::{Message, MessageId};
use smppd::store::Store;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set in the child: the store directory to write to.
const CHILD_ENV: &str = "SMPPD_STORE_CRASH_DIR";
/// Set in the child of the layer test: the layer age in ms; the writers then go in bursts.
const LAYER_ENV: &str = "SMPPD_STORE_CRASH_LAYER_MS";
/// Concurrent acceptors in the child, so that kills land inside group commits.
const WRITERS: usize = 32;
/// How long the parent lets the child write before the kill.
const WRITE_FOR: Duration = Duration::from_secs(1);
/// The child stops by itself after this, should the parent be gone.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

fn config(path: &Path, layer_age: Duration) -> StoreConfig {
    StoreConfig {
        path: path.to_owned(),
        durability: Durability::Durable,
        max_batch: NonZeroUsize::new(256).unwrap(),
        cache_bytes: 16 * 1024 * 1024,
        retention: None,
        min_free_space: 0,
        layer_age,
    }
}

/// The message the child writes under `id`: its content follows from the id, so the parent can
/// check what it reads back without being told.
fn message_for(id: MessageId) -> Message {
    let n = id.as_u64();
    let mut message = Message::example(id);
    message.client = "crash-test".into();
    message.route = format!("route-{}", n % 3);
    message.destination.addr = format!("4477009{:05}", n % 100_000);
    message.short_message = format!("message {n}: {}", "x".repeat((n % 120) as usize)).into_bytes();
    message.tlvs = vec![(0x0204, n.to_be_bytes().to_vec())];
    message.expire_at = Some(i64::try_from(n).unwrap() + 86_400_000);
    message.received_at = i64::try_from(n).unwrap();
    message
}

/// Child: accept forever (well, up to CHILD_LIMIT) and print `ack <id>` after each accept.
/// With `bursts`, every other 400 ms each writer pauses 3 ms between accepts: layers of
/// different sizes, so that a reused journal segment keeps old content after its new entries.
fn run_writer(dir: PathBuf, layer_age: Duration, bursts: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Store::open(&config(&dir, layer_age)).unwrap();
        let started = Instant::now();
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    while started.elapsed() < CHILD_LIMIT {
                        let id = store.allocate_id();
                        store.accept(vec![message_for(id)]).await.unwrap();
                        // Only now is the id a promise; the line goes out at once.
                        {
                            let mut out = std::io::stdout().lock();
                            writeln!(out, "ack {id}").unwrap();
                            out.flush().unwrap();
                        }
                        if bursts && (started.elapsed().as_millis() / 400) % 2 == 1 {
                            tokio::time::sleep(Duration::from_millis(3)).await;
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    rounds(
        "acknowledged_messages_survive_sigkill",
        StoreConfig::LAYER_AGE,
        WRITE_FOR,
    );
}

#[test]
fn acknowledged_messages_survive_sigkill_among_layer_changes() {
    let multi_segment_rounds = rounds(
        "acknowledged_messages_survive_sigkill_among_layer_changes",
        Duration::from_millis(150),
        Duration::from_millis(2500),
    );
    // The case that matters: a frozen layer's segment (often a reused one) still there beside
    // the active layer's when the kill came.
    assert!(
        multi_segment_rounds >= 2,
        "only {multi_segment_rounds} of 3 kills found two journal segments on the disk"
    );
}

/// Journal segments in the store at `path` (see `src/store/engine/wal.rs`).
fn wal_segments(path: &Path) -> usize {
    std::fs::read_dir(path.join("journal"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
                .count()
        })
        .unwrap_or(0)
}

/// Three rounds of write, SIGKILL, check; returns in how many rounds the journal held more
/// than one segment at the kill.
fn rounds(test_name: &str, layer_age: Duration, write_for: Duration) -> usize {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let bursts = std::env::var_os(LAYER_ENV).is_some();
        run_writer(PathBuf::from(dir), layer_age, bursts);
        return 0;
    }
    let mut multi_segment_rounds = 0;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut all_acked: HashSet<MessageId> = HashSet::new();
    for round in 1..=3 {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if layer_age != StoreConfig::LAYER_AGE {
            command.env(LAYER_ENV, layer_age.as_millis().to_string());
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ack ") {
                    if tx.send(id.parse::<MessageId>().unwrap()).is_err() {
                        break;
                    }
                }
            }
        });

        // The clock starts at the first acknowledgement, so a slow start (opening, recovery)
        // does not eat the writing time.
        let mut acked = vec![rx.recv_timeout(Duration::from_secs(30)).unwrap()];
        let deadline = Instant::now() + write_for;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(id) => acked.push(id),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("writer child died early"),
            }
        }
        if layer_age != StoreConfig::LAYER_AGE {
            // Kill when a frozen layer's segment is still there beside the active one.
            let until = Instant::now() + Duration::from_secs(5);
            while wal_segments(&path) < 2 && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no final flush.
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines written before the kill are still in the pipe: they count too.
        acked.extend(rx.try_iter());
        let segments = wal_segments(&path);
        if segments > 1 {
            multi_segment_rounds += 1;
        }

        let store = Store::open(&config(&path, layer_age)).unwrap();
        for &id in &acked {
            assert_eq!(
                store.message(id).unwrap(),
                Some(message_for(id)),
                "round {round}: acknowledged id {id} lost or changed"
            );
        }
        let previous_max = all_acked.iter().max().copied();
        let min_new = acked.iter().min().copied();
        assert!(
            previous_max < min_new,
            "round {round}: id reused ({min_new:?} <= {previous_max:?})"
        );
        let queued: usize = (0..3)
            .map(|r| store.queue_depth(&format!("route-{r}")))
            .sum();
        assert!(queued >= all_acked.len() + acked.len());
        drop(store);

        let before = all_acked.len();
        all_acked.extend(acked.iter().copied());
        assert_eq!(all_acked.len(), before + acked.len(), "duplicate ids");
        eprintln!(
            "round {round}: {} acknowledged in ~{write_for:?} before SIGKILL ({segments} journal \
             segments), all present; {queued} messages in the store after recovery \
             (acknowledged or not)",
            acked.len()
        );
    }
    multi_segment_rounds
}
