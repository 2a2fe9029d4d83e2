//! HTTP API throughput of the real gateway: the `smppd` binary with `[http_api]` on a port-0
//! listener and its store in a temp dir, loaded by concurrent HTTP clients (keep-alive, one
//! request at a time each) posting one-SMS messages to `POST /api/v1/messages`, with and
//! without an `Idempotency-Key` per message, and in batches to `POST /api/v1/messages:batch`.
//!
//! Measures, per variant: messages accepted (202) per second, the latency of a POST (p50, p99,
//! max), smppd's CPU per message and peak RSS.
//!
//! `cargo bench --bench http`. Environment:
//! - `SMPPD_BENCH_MESSAGES`: posts per variant (default 20000), all clients together;
//! - `SMPPD_BENCH_CLIENTS`: concurrent HTTP clients (default 32);
//! - `SMPPD_BENCH_BATCH`: messages per batch in the batch variant (default 100);
//! - `SMPPD_BENCH_DURABILITY`: the gateway's `[store] durability` (default "durable");
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use base64::Engine;
use common::{api_key_hash, client, preamble, Gateway};
use load::{env_u64, ms, percentile};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "bench-key-0123456789";

fn main() {
    let messages = env_u64("SMPPD_BENCH_MESSAGES", 20_000);
    let clients = env_u64("SMPPD_BENCH_CLIENTS", 32).max(1);
    let batch = env_u64("SMPPD_BENCH_BATCH", 100).max(1);
    let durability =
        std::env::var("SMPPD_BENCH_DURABILITY").unwrap_or_else(|_| "durable".to_owned());
    let parent = load::store_parent();
    println!(
        "HTTP benchmark: {messages} POST /api/v1/messages per variant, {clients} concurrent \
         clients, durability {durability}; {} CPUs; store under {}",
        load::cpus(),
        parent.display()
    );
    println!();
    println!("| variant | accepted | other | messages/s | p50 ms | p99 ms | max ms | smppd CPU µs/msg | peak RSS MiB |");
    println!("(latencies are per request: one message, or one batch)");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let variants = [
        (Variant::Single, false),
        (Variant::Single, true),
        (Variant::Batch(batch), false),
    ];
    for (variant, keyed) in variants {
        let dir = tempfile::Builder::new()
            .prefix("smppd-bench-http-")
            .tempdir_in(&parent)
            .unwrap();
        let config = preamble(
            dir.path(),
            "",
            &format!("durability = \"{durability}\""),
            "",
        ) + "[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n"
            + &client(
                "bench",
                "bench",
                &format!("api_keys = [{:?}]", api_key_hash(KEY)),
            );
        let mut gateway = Gateway::start_measured(dir.path(), &config, "warn");
        let addr = gateway.http.expect("the HTTP API listens");
        let cpu_before = gateway.cpu_seconds().unwrap_or(0.0);
        let outcome = load(addr, messages, clients, keyed, variant);
        let cpu = gateway.cpu_seconds().unwrap_or(0.0) - cpu_before;
        let rss = load::rss_mib(gateway.peak_rss_kib());
        gateway.stop();
        let lat = &outcome.latencies_us;
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {:.0} | {} |",
            match (variant, keyed) {
                (Variant::Batch(n), _) => format!("batches of {n}"),
                (Variant::Single, true) => "with Idempotency-Key".to_owned(),
                (Variant::Single, false) => "no key".to_owned(),
            },
            outcome.accepted,
            outcome.other,
            outcome.accepted as f64 / outcome.elapsed.as_secs_f64(),
            ms(percentile(lat, 50.0)),
            ms(percentile(lat, 99.0)),
            ms(lat.last().copied().unwrap_or(0)),
            cpu * 1e6 / outcome.accepted.max(1) as f64,
            rss,
        );
    }
}

/// One message per request, or batches of this many.
#[derive(Clone, Copy)]
enum Variant {
    Single,
    Batch(u64),
}

struct Outcome {
    accepted: u64,
    other: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

fn load(
    addr: std::net::SocketAddr,
    messages: u64,
    clients: u64,
    keyed: bool,
    variant: Variant,
) -> Outcome {
    let per_request = match variant {
        Variant::Single => 1,
        Variant::Batch(n) => n,
    };
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bench:{KEY}"))
    );
    let next = Arc::new(AtomicU64::new(0));
    let (accepted, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages as usize)));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (next, accepted, other, latencies, auth) = (
                next.clone(),
                accepted.clone(),
                other.clone(),
                latencies.clone(),
                auth.clone(),
            );
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let url = match variant {
                    Variant::Single => format!("http://{addr}/api/v1/messages"),
                    Variant::Batch(_) => format!("http://{addr}/api/v1/messages:batch"),
                };
                let mut mine = Vec::new();
                loop {
                    let first = next.fetch_add(per_request, Ordering::Relaxed);
                    if first >= messages {
                        break;
                    }
                    let one = |n: u64| {
                        format!(
                            "{{\"to\":\"+4477009{:05}\",\"from\":\"Shop\",\"text\":\"Your code is {:06}\"}}",
                            n % 100_000,
                            n % 1_000_000
                        )
                    };
                    let last = (first + per_request).min(messages);
                    let body = match variant {
                        Variant::Single => one(first),
                        Variant::Batch(_) => {
                            let items: Vec<String> = (first..last).map(one).collect();
                            format!("{{\"messages\":[{}]}}", items.join(","))
                        }
                    };
                    let n = first;
                    let mut request = agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json");
                    if keyed {
                        request = request.header("Idempotency-Key", &format!("bench-{n}"));
                    }
                    let sent = Instant::now();
                    let (status, answer) = request
                        .send(body.as_bytes())
                        .map(|mut r| {
                            let answer = r.body_mut().read_to_vec().unwrap_or_default();
                            (r.status().as_u16(), answer)
                        })
                        .unwrap_or((0, Vec::new()));
                    mine.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    let count = last - first;
                    let ok = match variant {
                        Variant::Single => u64::from(status == 202),
                        Variant::Batch(_) if status == 200 => {
                            let answer: serde_json::Value =
                                serde_json::from_slice(&answer).unwrap_or_default();
                            answer["accepted"].as_u64().unwrap_or(0)
                        }
                        Variant::Batch(_) => 0,
                    };
                    accepted.fetch_add(ok, Ordering::Relaxed);
                    other.fetch_add(count - ok, Ordering::Relaxed);
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let elapsed = started.elapsed();
    let mut latencies_us = std::mem::take(&mut *latencies.lock().unwrap());
    latencies_us.sort_unstable();
    Outcome {
        accepted: accepted.load(Ordering::Relaxed),
        other: other.load(Ordering::Relaxed),
        elapsed,
        latencies_us,
    }
}
