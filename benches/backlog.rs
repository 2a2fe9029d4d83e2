//! A backlog while the carrier is down: how it survives a restart, how soon smppd serves
//! again, and how fast it drains once the carrier is back.
//!
//! 1. `smppd serve` (the real binary as built by cargo for this bench, store in a temp dir,
//!    durability "durable") with its one carrier link pointed at a port where nothing
//!    listens; `SMPPD_BACKLOG_BINDS` transmitters x `SMPPD_BACKLOG_WINDOW` submit
//!    `SMPPD_BACKLOG_MESSAGES` submit_sm (160-character GSM text, registered_delivery=0, so no
//!    receipt waits for a client). All are accepted and queued; `/api/status` must say so.
//! 2. For each stop in `SMPPD_BACKLOG_STOPS` (default `kill,term`: SIGKILL, then SIGTERM):
//!    stop smppd, start it again on the same store and port, and measure from the spawn until
//!    it prints "ready" and until a client's bind is accepted and a submit_sm on it answered
//!    (a probe connecting every 5 ms from the spawn on; the target is 10 s); then check that
//!    the queue holds every accepted message (the probe's included; `/api/status` `queued`,
//!    which the store counts by scanning its queues when it opens).
//! 3. Start `smppd simulate` on the carrier's port; the link (capped at
//!    `SMPPD_BACKLOG_CAP` messages/s, the carrier's `throughput`) reconnects and drains the
//!    queue. Measure the submit_sm the carrier takes per second (its counters, read every
//!    200 ms) for `SMPPD_BACKLOG_DRAIN_SECS` after the first one, or until all are taken,
//!    against the cap: over the whole drain, and without its first 2 s (the limiter allows a
//!    burst of one second's worth at the start).
//!
//! Results go to stdout and to `target/bench-results/backlog-<UTC time>.md`.
//!
//! `cargo bench --bench backlog`. Environment:
//! - `SMPPD_BACKLOG_MESSAGES`: messages queued (default 1000000);
//! - `SMPPD_BACKLOG_BINDS`, `SMPPD_BACKLOG_WINDOW`: transmitter binds and window each (8, 256);
//! - `SMPPD_BACKLOG_STOPS`: the stops, in order: `kill` (SIGKILL), `term` (SIGTERM, graceful);
//! - `SMPPD_BACKLOG_CAP`: the carrier link's `throughput`, messages/s (default 5000);
//! - `SMPPD_BACKLOG_DRAIN_SECS`: how long to measure the drain at most (default 30);
//! - `SMPPD_BENCH_DIR`, `SMPPD_BENCH_RESULTS`: as for the e2e bench.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use common::{carrier_table, client, preamble, route, Gateway, SimStats, Simulator};
use load::{env_count, env_u64, ms, percent, percentile, Report};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Carrier link: sessions and window toward the simulator.
const CARRIER_SESSIONS: usize = 2;
const CARRIER_WINDOW: usize = 128;
/// The most the queueing phase may take.
const SUBMIT_LIMIT: Duration = Duration::from_secs(3600);
/// How long the probe keeps trying after a restart.
const PROBE_LIMIT: Duration = Duration::from_secs(120);
/// Drain rate "steady": without this much after the first message taken.
const DRAIN_SETTLE: Duration = Duration::from_secs(2);
/// smppd's log level: the carrier link's failed connects are expected here.
const LOG: &str = "error";

struct Params {
    messages: u64,
    binds: usize,
    window: usize,
    stops: Vec<String>,
    cap: u64,
    drain: Duration,
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let params = Params {
        messages: env_u64("SMPPD_BACKLOG_MESSAGES", 1_000_000),
        binds: env_count("SMPPD_BACKLOG_BINDS", 8),
        window: env_count("SMPPD_BACKLOG_WINDOW", 256),
        stops: std::env::var("SMPPD_BACKLOG_STOPS")
            .unwrap_or_else(|_| "kill,term".into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .inspect(|s| assert!(s == "kill" || s == "term", "SMPPD_BACKLOG_STOPS: {s:?}"))
            .collect(),
        cap: env_u64("SMPPD_BACKLOG_CAP", 5000).max(1),
        drain: Duration::from_secs(env_u64("SMPPD_BACKLOG_DRAIN_SECS", 30)),
    };
    let parent = load::store_parent();
    println!(
        "backlog benchmark: {} submit_sm queued by {} transmitters x window {} with the carrier \
         down; stops {:?}; drain capped at {}/s for up to {:?}; durability durable; {} CPUs; \
         store under {}",
        params.messages,
        params.binds,
        params.window,
        params.stops,
        params.cap,
        params.drain,
        load::cpus(),
        parent.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("smppd-backlog-")
        .tempdir_in(&parent)
        .unwrap();
    let smpp_port = common::free_port();
    let carrier_port = common::free_port();
    let config = config(dir.path(), smpp_port, carrier_port, &params);

    let mut gateway = Gateway::start_measured(dir.path(), &config, LOG);
    let queueing = queue(&gateway, &params);
    let mut expected = load::queued(gateway.admin.unwrap());
    println!(
        "  queued: {} accepted, {} refused in {:.1} s; /api/status says {expected} queued",
        queueing.accepted,
        queueing.refused,
        queueing.elapsed.as_secs_f64()
    );

    let mut restarts = Vec::new();
    for stop in &params.stops {
        let restart = restart(&mut gateway, stop, expected);
        expected = restart.queued;
        println!(
            "  after {stop}: ready in {:.2} s, serving in {}, {} queued",
            restart.ready.as_secs_f64(),
            secs(restart.serving),
            restart.queued
        );
        restarts.push(restart);
    }

    let drain = drain(&gateway, carrier_port, expected, &params);
    gateway.stop();
    report(&params, &parent, &queueing, expected, &restarts, &drain).save("backlog");
}

struct Queueing {
    accepted: u64,
    refused: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    peak_rss_kib: Option<u64>,
}

/// Phase 1: the submits, all binds at once.
fn queue(gateway: &Gateway, params: &Params) -> Queueing {
    let per_bind = params.messages.div_ceil(params.binds as u64);
    let submitted = load::submit_load(
        gateway.addr,
        params.binds,
        params.window,
        &template(),
        per_bind,
        SUBMIT_LIMIT,
    );
    Queueing {
        accepted: submitted.accepted,
        refused: submitted.refused,
        elapsed: submitted.elapsed,
        latencies_us: submitted.latencies_us,
        peak_rss_kib: gateway.peak_rss_kib(),
    }
}

struct Restart {
    stop: String,
    /// How long the stop took (SIGTERM: the graceful shutdown).
    stopped_in: Duration,
    /// Spawn → "ready" printed.
    ready: Duration,
    /// Spawn → a bind accepted and a submit_sm answered on it; `None` if the probe gave up.
    serving: Option<Duration>,
    expected: u64,
    /// Queued after the restart (`/api/status`).
    queued: u64,
}

/// Phase 2: one stop and restart of `gateway` on the same config, store and port.
fn restart(gateway: &mut Gateway, stop: &str, queued_before: u64) -> Restart {
    let addr = gateway.addr;
    let stopping = Instant::now();
    if stop == "kill" {
        gateway.kill();
    } else {
        gateway.stop();
    }
    let stopped_in = stopping.elapsed();
    let probe = std::thread::spawn(move || load::probe_submit(addr, &template(), PROBE_LIMIT));
    gateway.restart();
    let serving = probe
        .join()
        .unwrap()
        .map(|at| at.duration_since(gateway.spawned));
    // The probe's submit_sm joins the queue.
    let expected = queued_before + u64::from(serving.is_some());
    let queued = load::queued(gateway.admin.unwrap());
    Restart {
        stop: stop.to_owned(),
        stopped_in,
        ready: gateway.ready_after,
        serving,
        expected,
        queued,
    }
}

struct Drain {
    /// Simulator start → its first submit_sm taken (the link reconnecting).
    first_after: Option<Duration>,
    /// The carrier's counters over time (from its start).
    samples: Vec<(Instant, SimStats)>,
    first: Option<Instant>,
    /// Queued when the measure ended.
    queued_after: u64,
    peak_rss_kib: Option<u64>,
}

/// Phase 3: the carrier comes back; the drain, for `params.drain` at most.
fn drain(gateway: &Gateway, carrier_port: u16, expected: u64, params: &Params) -> Drain {
    let listen = SocketAddr::from(([127, 0, 0, 1], carrier_port));
    let window = (CARRIER_WINDOW * 2).to_string();
    let mut simulator =
        Simulator::start_measured(listen, &["--window", &window, "--receipt-delay", "10ms"]);
    let started = simulator.started;
    let mut first = None;
    let mut last_report = Instant::now();
    loop {
        std::thread::sleep(common::STATS_EVERY);
        let stats = simulator.stats();
        if first.is_none() {
            first = load::reached(&stats, SimStats::delivered, 1);
            if first.is_none() && started.elapsed() > Duration::from_secs(60) {
                println!("  the carrier took nothing in 60 s");
                break;
            }
        }
        let taken = stats.last().map_or(0, |s| s.1.delivered());
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            println!(
                "  drain: {:>5.1}s: carrier took {taken:>8}",
                started.elapsed().as_secs_f64()
            );
        }
        if taken >= expected || first.is_some_and(|f| f.elapsed() >= params.drain) {
            break;
        }
    }
    let samples = simulator.stats();
    let queued_after = load::queued(gateway.admin.unwrap());
    let peak_rss_kib = gateway.peak_rss_kib();
    simulator.stop();
    Drain {
        first_after: first.map(|f| f.duration_since(started)),
        samples,
        first,
        queued_after,
        peak_rss_kib,
    }
}

impl Drain {
    /// Submit_sm taken per second from `from` to the last sample (or to the first that
    /// shows them all taken).
    fn rate_from(&self, from: Instant) -> Option<f64> {
        let start = self.samples.iter().find(|(at, _)| *at >= from)?;
        let total = self.samples.last()?.1.delivered();
        let end = self
            .samples
            .iter()
            .find(|(_, s)| s.delivered() >= total)
            .filter(|(at, _)| *at > start.0)?;
        let taken = end.1.delivered() - start.1.delivered();
        Some(taken as f64 / end.0.duration_since(start.0).as_secs_f64())
    }

    fn taken(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.1.delivered())
    }
}

/// The submit_sm queued: `TEXT`, no receipt asked.
fn template() -> Vec<u8> {
    load::template(&load::submit_sm(0))
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_owned(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

/// The `smppd serve` config: a fixed port (the same after a restart), the bench client, one
/// carrier link to `carrier_port` capped at `cap`, reconnecting every 0.1–0.5 s, a catch-all
/// route whose queue holds them all.
fn config(dir: &Path, smpp_port: u16, carrier_port: u16, params: &Params) -> String {
    let server = format!("listen = [\"127.0.0.1:{smpp_port}\"]");
    // The probe binds too, while the bench's binds may not be gone yet.
    let client_keys = format!(
        "bind_types = [\"transmitter\"]\nmax_binds = {}\nwindow = {}",
        params.binds + 1,
        params.window
    );
    let carrier_keys = format!(
        "sessions = {CARRIER_SESSIONS}\nwindow = {CARRIER_WINDOW}\nthroughput = {}\n\
         reconnect_min = \"100ms\"\nreconnect_max = \"500ms\"",
        params.cap
    );
    let route_keys = format!("max_queue = {}", params.messages + 1000);
    preamble(dir, &server, "durability = \"durable\"", "")
        + &client("bench", "bench", &client_keys)
        + &carrier_table("sim", carrier_port, &carrier_keys)
        + &route("all", &["sim"], &route_keys)
}

fn report(
    params: &Params,
    parent: &Path,
    q: &Queueing,
    expected: u64,
    restarts: &[Restart],
    d: &Drain,
) -> Report {
    let mut report = Report::new(
        "smppd backlog benchmark (benches/backlog.rs)",
        &[
            ("messages queued", params.messages.to_string()),
            (
                "transmitter binds x window",
                format!("{} x {}", params.binds, params.window),
            ),
            ("stops", params.stops.join(", ")),
            (
                "carrier",
                format!(
                    "smppd simulate, {CARRIER_SESSIONS} sessions x window {CARRIER_WINDOW}, \
                     link throughput {}/s",
                    params.cap
                ),
            ),
            ("durability", "durable".to_owned()),
            ("store under", parent.display().to_string()),
        ],
    );
    let lat = &q.latencies_us;
    report.line("Queueing (carrier down):");
    report.table(
        &[
            "accepted",
            "refused",
            "submit_sm/s",
            "resp p50 ms",
            "resp p99 ms",
            "resp max ms",
            "peak RSS MiB",
        ],
        &[vec![
            q.accepted.to_string(),
            q.refused.to_string(),
            format!("{:.0}", q.accepted as f64 / q.elapsed.as_secs_f64()),
            ms(percentile(lat, 50.0)),
            ms(percentile(lat, 99.0)),
            ms(lat.last().copied().unwrap_or(0)),
            load::rss_mib(q.peak_rss_kib),
        ]],
    );
    report.line("Restarts on the same store (times from the spawn of the new process):");
    report.table(
        &[
            "stop",
            "stop took s",
            "ready s",
            "bind + submit answered s",
            "queued expected",
            "queued after",
            "lost",
        ],
        &restarts
            .iter()
            .map(|r| {
                vec![
                    if r.stop == "kill" {
                        "SIGKILL"
                    } else {
                        "SIGTERM"
                    }
                    .to_owned(),
                    format!("{:.2}", r.stopped_in.as_secs_f64()),
                    format!("{:.2}", r.ready.as_secs_f64()),
                    r.serving
                        .map_or_else(|| "never".to_owned(), |s| format!("{:.2}", s.as_secs_f64())),
                    r.expected.to_string(),
                    r.queued.to_string(),
                    r.expected.saturating_sub(r.queued).to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
    let overall = d.first.and_then(|f| d.rate_from(f));
    let steady = d.first.and_then(|f| d.rate_from(f + DRAIN_SETTLE));
    let cap = params.cap as f64;
    report.line("Drain (the carrier back, the link capped):");
    report.table(
        &[
            "queued",
            "taken by the carrier",
            "first taken after s",
            "taken/s",
            "taken/s after 2 s",
            "cap/s",
            "% of cap (after 2 s)",
            "queued at the end",
            "peak RSS MiB",
        ],
        &[vec![
            expected.to_string(),
            d.taken().to_string(),
            d.first_after
                .map_or_else(|| "never".to_owned(), |f| format!("{:.2}", f.as_secs_f64())),
            rate(overall),
            rate(steady),
            params.cap.to_string(),
            steady.map_or_else(|| "-".to_owned(), |s| percent(s, cap)),
            d.queued_after.to_string(),
            load::rss_mib(d.peak_rss_kib),
        ]],
    );
    let lost: u64 = restarts
        .iter()
        .map(|r| r.expected.saturating_sub(r.queued))
        .sum();
    let served = restarts
        .iter()
        .all(|r| r.serving.is_some_and(|s| s < Duration::from_secs(10)));
    report.line(&format!(
        "Every queued message survived the restarts: {}. Serving again within 10 s after \
         every restart: {}.",
        if lost == 0 && q.accepted > 0 {
            "yes"
        } else {
            "NO"
        },
        if served { "yes" } else { "NO" },
    ));
    report.detail("The carrier's counters (seconds since the simulator started, submit_sm taken):");
    let started = d.samples.first().map(|s| s.0);
    report.detail_table(
        &["s", "taken"],
        &d.samples
            .iter()
            .map(|(at, s)| {
                vec![
                    format!(
                        "{:.1}",
                        started.map_or(0.0, |st| at.duration_since(st).as_secs_f64())
                    ),
                    s.delivered().to_string(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    report
}
