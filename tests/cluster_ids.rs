//! Message ids across nodes (src/cluster/nodes.rs) against three real `nats-server` processes
//! forming one JetStream cluster (tests/common/nats.rs): id slots claimed in `SMPPD_NODES` by
//! node name, blocks reserved by compare-and-set, ids that continue above every id handed out
//! across a restart, two processes under one name that never hand out the same id, and ids
//! that stay within 16 digits at the end of slot 99.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod common;

use async_nats::jetstream::{self, kv};
use common::nats::NatsCluster;
use smppd::cluster::nodes::{claim_slot, slot_key, IdBlocks, SlotRecord, SLOT_IDS};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Provisions the layout and returns the `SMPPD_NODES` bucket as seen through a connection to
/// server `i` alone, one per simulated node, and a JetStream context.
async fn setup(nats: &NatsCluster) -> (Vec<kv::Store>, jetstream::Context) {
    let text = format!("[cluster]\nnode = \"a\"\nservers = {:?}\n", nats.urls(3));
    common::nats::provision(&text).await;
    let mut stores = Vec::new();
    for url in nats.urls(3) {
        let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        stores.push(js.get_key_value("SMPPD_NODES").await.unwrap());
    }
    let js = jetstream::new(async_nats::connect(nats.urls(1)[0].as_str()).await.unwrap());
    (stores, js)
}

/// A slot's record as the bucket's leader holds it (a KV read may come from a replica that
/// lags).
async fn record(js: &jetstream::Context, slot: u8) -> SlotRecord {
    let stream = js.get_stream("KV_SMPPD_NODES").await.unwrap();
    let message = stream
        .get_last_raw_message_by_subject(&format!("$KV.SMPPD_NODES.{}", slot_key(slot)))
        .await
        .unwrap();
    serde_json::from_slice(&message.payload).unwrap()
}

/// Waits until `kv` (a replica) reads `key` as present or not.
async fn await_replica(kv: &kv::Store, key: &str, present: bool) {
    for _ in 0..100 {
        if kv.get(key).await.unwrap().is_some() == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{key} still {}", if present { "absent" } else { "present" });
}

/// The first of `n` ids, waiting (up to 10 s) while the next block is being reserved.
fn allocate(ids: &IdBlocks, n: usize, waits: &mut u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ids.allocate(n) {
            Ok(id) => return id.as_u64(),
            Err(e) => {
                assert!(Instant::now() < deadline, "{e} for 10 s");
                *waits += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
}

fn digits(id: u64) -> usize {
    id.to_string().len()
}

#[test]
fn nodes_get_distinct_slots_and_a_restart_continues_above_every_id() {
    let nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (nodes, js) = runtime.block_on(setup(&nats));

    // Three nodes at once, one through each server: three different slots, each record
    // holding the two blocks reserved at start.
    let (a, b, c) = runtime.block_on(async {
        tokio::join!(
            IdBlocks::start_with_block(nodes[0].clone(), "a", 1000),
            IdBlocks::start_with_block(nodes[1].clone(), "b", 1000),
            IdBlocks::start_with_block(nodes[2].clone(), "c", 1000)
        )
    });
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let mut slots = vec![a.slot(), b.slot(), c.slot()];
    slots.sort_unstable();
    assert_eq!(slots, [1, 2, 3]);
    let rb = runtime.block_on(record(&js, b.slot()));
    assert_eq!((rb.node.as_str(), rb.next), ("b", 2000));

    // A restart of `b` through another server: its slot, found by name, nothing claimed.
    let found = runtime.block_on(claim_slot(&nodes[2], "b")).unwrap();
    assert_eq!((found.slot, found.claimed_now), (b.slot(), false));
    assert_eq!(found.record, rb);

    // `b` hands out 2,500 ids (refilling in the background), then stops and starts again:
    // its new ids are above every one before, and the record's mark above them all.
    let mut waits = 0;
    let mut handed = Vec::new();
    for i in 0..2500 {
        let n = 1 + i % 3;
        let first = allocate(&b, n, &mut waits);
        handed.extend((first..).take(n));
    }
    let max = *handed.iter().max().unwrap();
    let slot = b.slot();
    let base = u64::from(slot) * SLOT_IDS;
    assert!(handed.iter().all(|&id| id >= base && id < base + SLOT_IDS));
    assert_eq!(handed.iter().collect::<HashSet<_>>().len(), handed.len());
    drop(b);
    // A reservation in flight when it stopped may still land.
    std::thread::sleep(Duration::from_millis(200));
    let mark = runtime.block_on(record(&js, slot)).next;
    assert!(base + mark > max, "mark {mark}, max {max}");
    let again = runtime
        .block_on(IdBlocks::start_with_block(nodes[1].clone(), "b", 1000))
        .unwrap();
    assert_eq!(again.slot(), slot);
    let next = again.allocate(1).unwrap().as_u64();
    assert!(next > max, "{next} after {max}");
    assert_eq!(next, base + mark, "continues at the mark");
    eprintln!("restart: last id {max}, first after restart {next}; {waits} waits for a block");

    // A new name gets the lowest free slot.
    let d = runtime
        .block_on(IdBlocks::start(nodes[0].clone(), "d"))
        .unwrap();
    assert_eq!(d.slot(), 4);
    drop((a, c, again, d));
}

#[test]
fn one_name_twice_never_hands_out_an_id_twice() {
    const IDS: usize = 300_000;
    let nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let (nodes, js) = runtime.block_on(setup(&nats));
    // Two processes misconfigured with one name, through two servers, started at once: one
    // slot, and small blocks so that their reservations race often.
    let (x, y) = runtime.block_on(async {
        tokio::join!(
            IdBlocks::start_with_block(nodes[0].clone(), "twin", 5000),
            IdBlocks::start_with_block(nodes[1].clone(), "twin", 5000)
        )
    });
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.slot(), y.slot());
    let run = |ids: Arc<IdBlocks>| {
        std::thread::spawn(move || {
            let mut waits = 0;
            let mut handed = Vec::with_capacity(IDS);
            let mut i = 0;
            while handed.len() < IDS {
                let n = (1 + i % 4).min(IDS - handed.len());
                let first = allocate(&ids, n, &mut waits);
                handed.extend((first..).take(n));
                i += 1;
            }
            (handed, waits)
        })
    };
    let started = Instant::now();
    let (tx, ty) = (run(x.clone()), run(y.clone()));
    let ((hx, wx), (hy, wy)) = (tx.join().unwrap(), ty.join().unwrap());
    let took = started.elapsed();
    let mut seen = HashSet::with_capacity(2 * IDS);
    for &id in hx.iter().chain(&hy) {
        assert!(seen.insert(id), "{id} handed out twice");
        assert!(digits(id) <= 16, "{id}");
    }
    assert_eq!(seen.len(), 2 * IDS);
    let base = u64::from(x.slot()) * SLOT_IDS;
    let mark = runtime.block_on(record(&js, x.slot())).next;
    let max = *seen.iter().max().unwrap();
    assert!(max < base + mark, "max {max}, mark {mark}");
    eprintln!(
        "two processes named twin: {} ids in {took:?}, waits for a block {wx} and {wy}; the \
         slot's mark at {mark} for {} handed out",
        2 * IDS,
        2 * IDS
    );
    drop((x, y));
}

#[test]
fn ids_stay_within_16_digits_and_a_lost_slot_stops_them() {
    const LEFT: u64 = 25_000;
    let nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (nodes, js) = runtime.block_on(setup(&nats));

    // Slot 99 with 25,000 ids left: every one is handed out, the last is 9999999999999999,
    // and then none.
    let last = SlotRecord {
        node: "last".to_owned(),
        claimed_at: 0,
        next: SLOT_IDS - LEFT,
    };
    runtime
        .block_on(nodes[0].create(slot_key(99), serde_json::to_vec(&last).unwrap().into()))
        .unwrap();
    runtime.block_on(await_replica(&nodes[1], &slot_key(99), true));
    let ids = runtime
        .block_on(IdBlocks::start_with_block(nodes[1].clone(), "last", 10_000))
        .unwrap();
    assert_eq!(ids.slot(), 99);
    let mut handed = Vec::new();
    let mut waits = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ids.allocate(1) {
            Ok(id) => handed.push(id.as_u64()),
            Err(_) if handed.len() as u64 == LEFT => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                waits += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    assert_eq!(handed.first(), Some(&(99 * SLOT_IDS + SLOT_IDS - LEFT)));
    assert_eq!(handed.last(), Some(&9_999_999_999_999_999));
    assert!(handed.iter().all(|&id| digits(id) == 16));
    assert!(handed.windows(2).all(|w| w[1] == w[0] + 1));
    // Used up for good: the refill cannot reserve beyond 10¹⁴.
    std::thread::sleep(Duration::from_millis(300));
    assert!(ids.allocate(1).is_err());
    assert_eq!(runtime.block_on(record(&js, 99)).next, SLOT_IDS);
    eprintln!("end of slot 99: {LEFT} ids, {waits} waits for a block");

    // A slot whose key is deleted (retired by hand, too early) and claimed by another node:
    // the first node hands out the two blocks it holds, then nothing.
    let old = runtime
        .block_on(IdBlocks::start_with_block(nodes[0].clone(), "old", 100))
        .unwrap();
    let slot = old.slot();
    runtime.block_on(nodes[0].delete(slot_key(slot))).unwrap();
    runtime.block_on(await_replica(&nodes[1], &slot_key(slot), false));
    let new = runtime
        .block_on(IdBlocks::start_with_block(nodes[1].clone(), "new", 100))
        .unwrap();
    assert_eq!(new.slot(), slot);
    let mut from_old = 0;
    while old.allocate(1).is_ok() {
        from_old += 1;
        std::thread::sleep(Duration::from_micros(200));
        assert!(
            from_old <= 200,
            "the old node kept reserving in a lost slot"
        );
    }
    assert_eq!(from_old, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(old.allocate(1).is_err());
    drop((ids, old, new));
}
