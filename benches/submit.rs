//! Submit throughput of the real gateway: the `smppd` binary (as built by cargo for this bench)
//! on a port-0 listener with its store in a temp dir, loaded over real TCP by 4 transmitter
//! binds with 64 pipelined submit_sm each (160-character GSM text).
//!
//! Measures, per durability mode: submit_sm accepted per second (status OK), the latency from
//! writing a submit_sm to reading its submit_sm_resp (p50, p99, max), smppd's peak RSS (VmHWM),
//! the group commits it logged (commits, mean batch, mean flush + fsync time) and its write
//! syscalls per accepted message (`syscw` of /proc/PID/io: write/writev/pwrite on sockets and
//! files; how well responses share a write).
//!
//! `cargo bench --bench submit`. Environment:
//! - `SMPPD_BENCH_MESSAGES`: submits per mode (default 200000), all binds together;
//! - `SMPPD_BENCH_SECONDS`: time limit per mode (default 60);
//! - `SMPPD_BENCH_MODES`: comma-separated modes (default "durable,relaxed");
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir;
//!   point it at the disk you mean to measure, as a tmpfs fsync is free).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use common::{client, preamble, Commits, Gateway};
use load::{env_u64, ms, percentile};
use std::path::Path;
use std::time::Duration;

const BINDS: usize = 4;
const WINDOW: usize = 64;

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let messages = env_u64("SMPPD_BENCH_MESSAGES", 200_000);
    let limit = Duration::from_secs(env_u64("SMPPD_BENCH_SECONDS", 60));
    let modes = std::env::var("SMPPD_BENCH_MODES").unwrap_or_else(|_| "durable,relaxed".into());
    let parent = load::store_parent();

    let cpus = load::cpus();
    println!(
        "submit benchmark: {messages} submit_sm per mode (limit {limit:?}), {BINDS} transmitter \
         binds x window {WINDOW}, 160-char GSM text; {cpus} CPUs; store under {}",
        parent.display()
    );
    let mut results = Vec::new();
    for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let result = run(mode, messages, limit, &parent);
        println!(
            "  {mode}: done ({} accepted in {:.2?})",
            result.accepted, result.elapsed
        );
        results.push(result);
    }
    print_table(&results);
}

struct Outcome {
    mode: String,
    accepted: u64,
    refused: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    peak_rss_kib: Option<u64>,
    /// smppd's write syscalls (sockets and files), from /proc/PID/io.
    writes: Option<u64>,
    commits: Commits,
}

fn run(mode: &str, messages: u64, limit: Duration, parent: &Path) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-bench-")
        .tempdir_in(parent)
        .unwrap();
    let mut gateway = Gateway::start_measured(dir.path(), &config(dir.path(), mode), "warn");
    let per_bind = messages.div_ceil(BINDS as u64);
    let template = load::submit_template();
    let submitted = load::submit_load(gateway.addr, BINDS, WINDOW, &template, per_bind, limit);
    let peak_rss_kib = gateway.peak_rss_kib();
    let writes = gateway.write_syscalls();
    gateway.stop();
    let commits = gateway.commits();
    Outcome {
        mode: mode.to_owned(),
        accepted: submitted.accepted,
        refused: submitted.refused,
        elapsed: submitted.elapsed,
        latencies_us: submitted.latencies_us,
        peak_rss_kib,
        writes,
        commits,
    }
}

/// The `smppd serve` config: a port-0 listener, one client account, the store in `dir`.
fn config(dir: &Path, durability: &str) -> String {
    let keys = format!("bind_types = [\"transmitter\"]\nmax_binds = {BINDS}\nwindow = {WINDOW}");
    preamble(dir, "", &format!("durability = \"{durability}\""), "")
        + &client("bench", "bench", &keys)
}

fn print_table(results: &[Outcome]) {
    println!();
    println!(
        "| durability | accepted | refused | submit_sm/s | p50 ms | p99 ms | max ms | peak RSS MiB \
         | commits | mean batch | mean sync ms | write syscalls/msg |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let rate = r.accepted as f64 / r.elapsed.as_secs_f64();
        let lat = &r.latencies_us;
        let rss = load::rss_mib(r.peak_rss_kib);
        let c = r.commits;
        let (batch, sync) = (c.mean_batch(), c.mean_sync_ms());
        let per_msg = r.writes.map_or_else(
            || "?".to_owned(),
            |writes| format!("{:.3}", writes as f64 / r.accepted.max(1) as f64),
        );
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.mode,
            r.accepted,
            r.refused,
            rate,
            ms(percentile(lat, 50.0)),
            ms(percentile(lat, 99.0)),
            ms(lat.last().copied().unwrap_or(0)),
            rss,
            c.count,
            batch,
            sync,
            per_msg,
        );
    }
}
