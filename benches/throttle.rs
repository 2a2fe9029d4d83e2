//! The cost of a throughput-cap check (`src/throttle.rs`), which a carrier link's or a
//! route's dispatcher pays once per message: with no cap, and under a cap that never makes it
//! wait (the check itself, not the wait), from one thread and from two at once on the same
//! cap (two dispatchers sharing a route's limiter).
//!
//! `cargo bench --bench throttle`. With two threads, criterion's time per iteration is the
//! time each thread takes per check while the other checks too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use smppd::telemetry::Scope;
use smppd::throttle::Throttle;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// One cap check, which must not wait: `until_ready` completes on its first poll.
fn check(throttle: &Throttle) {
    throttle
        .until_ready()
        .now_or_never()
        .expect("a cap this high never waits");
}

/// `threads` threads doing `iters` checks each on `throttle`, started together; the time
/// from the start to the last one done.
fn concurrent(throttle: &Arc<Throttle>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (throttle, barrier) = (Arc::clone(throttle), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    check(&throttle);
                }
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    for worker in workers {
        worker.join().unwrap();
    }
    started.elapsed()
}

fn throttle(c: &mut Criterion) {
    // No cap: the lock, a clone of `None` and the return.
    let uncapped = Arc::new(Throttle::new(Scope::Link, "bench", None));
    // The highest cap: governor's GCRA check (an atomic compare-and-swap) always passes.
    let capped = Arc::new(Throttle::new(Scope::Link, "bench", Some(NonZeroU32::MAX)));
    let mut group = c.benchmark_group("throttle");
    group.bench_function("uncapped", |b| b.iter(|| check(&uncapped)));
    group.bench_function("capped", |b| b.iter(|| check(&capped)));
    group.bench_function("uncapped_2_threads", |b| {
        b.iter_custom(|iters| concurrent(&uncapped, 2, iters))
    });
    group.bench_function("capped_2_threads", |b| {
        b.iter_custom(|iters| concurrent(&capped, 2, iters))
    });
    group.finish();
}

criterion_group!(benches, throttle);
criterion_main!(benches);
