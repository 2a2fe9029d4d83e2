//! Store throughput with 256 concurrent tasks, in Durable and in Relaxed mode:
//! - `store_accept_256_concurrent`: accepted messages per second (one 160-octet message per
//!   `accept`, as one `submit_sm` makes);
//! - `store_lifecycle_256_concurrent`: whole message lives per second, each the store calls the
//!   gateway makes for one message: accept, record_dispatch, by_carrier_id (the receipt's
//!   lookup), update_and_push_outbox (final state + receipt), outbox read, ack. Relaxed mode
//!   shows the commit thread's own cost per message, which bounds the gateway's throughput.
//!
//! After each run it prints the group-commit figures: commits, mean batch size and mean
//! flush + fsync time per commit.
//!
//! `cargo bench --bench store`

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smppd::config::{Durability, StoreConfig};
use smppd::message::{Message, OutboxItem, OutboxKind, State};
use smppd::store::Store;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

const ACCEPTORS: u64 = 256;

fn message(store: &Store) -> Message {
    let mut message = Message::example(store.allocate_id());
    message.client = "bench".into();
    message.source.addr = "ShopNews".into();
    message.short_message = vec![b'x'; 160];
    message.received_at = smppd::message::now_ms();
    message
}

/// `total` accepts spread over [`ACCEPTORS`] tasks; the wall time they took.
async fn accept_many(store: &Store, total: u64) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..ACCEPTORS)
        .map(|n| {
            let store = store.clone();
            let count = total / ACCEPTORS + u64::from(n < total % ACCEPTORS);
            tokio::spawn(async move {
                for _ in 0..count {
                    store.accept(vec![message(&store)]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

/// One message's life in the store, as the gateway drives it.
async fn live_one(store: &Store, n: u64) {
    let message = message(store);
    let id = message.id;
    store.accept(vec![message]).await.unwrap();
    let carrier_id = format!("{n:x}");
    store
        .record_dispatch(id, "sim", &carrier_id, true, None)
        .await
        .unwrap();
    let found = store.by_carrier_id("sim", &carrier_id).unwrap();
    assert_eq!(found, Some(id));
    let (_, seq) = store
        .update_and_push_outbox(
            id,
            |m| m.transition(State::Delivered, smppd::message::now_ms(), "DELIVRD"),
            |m| Some(receipt(m)),
        )
        .await
        .unwrap();
    let seq = seq.unwrap();
    let items = store.outbox("bench", seq.checked_sub(1), 1).unwrap();
    assert!(!items.is_empty());
    store.ack_outbox("bench", seq).await.unwrap();
}

fn receipt(m: &Message) -> OutboxItem {
    OutboxItem {
        kind: OutboxKind::Receipt {
            message_id: m.id,
            state: 2,
            err: 0,
        },
        source: m.destination.clone(),
        destination: m.source.clone(),
        esm_class: 4,
        data_coding: 0,
        short_message: vec![b'r'; 120],
        tlvs: vec![(0x001e, m.id.to_string().into_bytes())],
        created_at: smppd::message::now_ms(),
    }
}

/// `total` lives spread over [`ACCEPTORS`] tasks; the wall time they took.
async fn live_many(store: &Store, total: u64) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..ACCEPTORS)
        .map(|n| {
            let store = store.clone();
            let count = total / ACCEPTORS + u64::from(n < total % ACCEPTORS);
            tokio::spawn(async move {
                for i in 0..count {
                    live_one(&store, i * ACCEPTORS + n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

fn accept(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (group_name, lifecycle) in [
        ("store_accept_256_concurrent", false),
        ("store_lifecycle_256_concurrent", true),
    ] {
        bench_group(c, &runtime, group_name, lifecycle);
    }
}

fn bench_group(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    group_name: &str,
    lifecycle: bool,
) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, durability) in [
        ("durable", Durability::Durable),
        ("relaxed", Durability::Relaxed),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig {
            path: dir.path().join("store"),
            durability,
            max_batch: NonZeroUsize::new(1024).unwrap(),
            cache_bytes: 64 * 1024 * 1024,
            retention: None,
            min_free_space: 0,
            layer_age: StoreConfig::LAYER_AGE,
        })
        .unwrap();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                if lifecycle {
                    runtime.block_on(live_many(&store, iters))
                } else {
                    runtime.block_on(accept_many(&store, iters))
                }
            });
        });
        let stats = store.commit_stats();
        let commits = stats.commits.max(1);
        eprintln!(
            "{group_name}/{name}: {} operations in {} commits: mean batch {:.1}, mean flush+fsync {:?} per commit",
            stats.operations,
            stats.commits,
            stats.operations as f64 / commits as f64,
            stats.sync_time / u32::try_from(commits).unwrap_or(u32::MAX),
        );
        runtime.block_on(store.close()).unwrap();
    }
    group.finish();
}

criterion_group!(benches, accept);
criterion_main!(benches);

// The gateway's binaries run on mimalloc; so does the bench, or it would measure glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
