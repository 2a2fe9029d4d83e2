//! The full path, end to end: ESME load → `smppd serve` → `smppd simulate` (a carrier) →
//! receipt → smppd → back to the ESME. Both are the real binary as built by cargo for this
//! bench, on port-0 listeners, the store in a temp dir, durability "durable" (unless
//! `SMPPD_E2E_DURABILITY` says otherwise).
//!
//! The load generator binds `SMPPD_E2E_BINDS` transceivers (default 4), keeps up to
//! `SMPPD_E2E_WINDOW` (default 64) submit_sm in flight on each (registered_delivery=1),
//! optionally paced to an offered rate, answers every deliver_sm, and checks every receipt
//! against what it submitted: its receipted_message_id must be an id it got in a
//! submit_sm_resp. A long message is 2 or 3 submit_sm (UDH concatenation, esm_class 0x40),
//! each given its own id and receipt by smppd, so the bookkeeping is per submit_sm (part);
//! receipts may come back on any bind of the client, so it is shared by all binds.
//!
//! Reports: messages and submit_sm accepted per second, submit_sm taken by the carrier per
//! second (the simulator's counters), receipts relayed back per second, submit_sm_resp
//! latency (p50/p99/max), submit → receipt latency (p50/p99), smppd's RSS (sampled every
//! second with the count of accepted submit_sm: at the `SMPPD_E2E_RSS_FROM`-th and at the
//! last, the growth between, the growth of the least-squares line through every sample between,
//! and the peak), its CPU (mean and busiest second), group commits
//! and store operations per submit_sm, and the receipts lost (an accepted id with no receipt
//! `SMPPD_E2E_RECEIPT_WAIT` after the last submit), duplicated or unknown. The tables go to
//! stdout and to `target/bench-results/e2e-<UTC time>.md`.
//!
//! `cargo bench --bench e2e`. Environment:
//! - `SMPPD_E2E_MESSAGES`: messages, all binds together (default 100000; a long one is 2–3
//!   submit_sm);
//! - `SMPPD_E2E_BINDS`, `SMPPD_E2E_WINDOW`: transceiver binds and window per bind (4, 64);
//! - `SMPPD_E2E_RATE`: messages per second offered over all binds, spread evenly over each
//!   bind's second (default: as fast as the windows allow). Latency is measured from the
//!   write, so check that the achieved rate is the offered one: a full window delays sends;
//! - `SMPPD_E2E_MIX`: the share of each kind of message, e.g. `gsm=80,ucs2=15,long=5`
//!   (default `gsm=100`): `gsm` 160 characters GSM 7-bit; `ucs2` 70 characters UCS-2
//!   (data_coding 8); `long` GSM 7-bit of 2 or 3 parts (alternately) with an 8-bit UDH;
//! - `SMPPD_E2E_RSS_FROM`: the accepted submit_sm count from which RSS must stay flat
//!   (default 200000, or a fifth of the messages if fewer);
//! - `SMPPD_E2E_RECEIPT_WAIT`: seconds to wait for receipts after the last submit (30);
//! - `SMPPD_E2E_RECEIPT_DELAY`: the simulator's submit → receipt delay (default "10ms");
//! - `SMPPD_E2E_RETENTION`: `[store] retention` of the gateway (default: its default, 7 days;
//!   a short one keeps the database, and sled's memory for it, from growing over the run);
//! - `SMPPD_E2E_CARRIER_SESSIONS`, `SMPPD_E2E_CARRIER_WINDOW`: the carrier link's sessions and
//!   window per session (2, 128; the simulator's window is twice the link's);
//! - `SMPPD_E2E_DURABILITY`: the gateway's `[store] durability` (default "durable");
//! - `SMPPD_E2E_CONSENT`: 1 to send marketing with `[consent]` on, so that every message is
//!   looked up in the suppression list at accept and at dispatch (default 0);
//! - `SMPPD_E2E_SENDING_WINDOW`: 1 to send marketing under a sending-window policy that is
//!   open all day, so that every message is checked against it at accept and at dispatch
//!   (default 0);
//! - `SMPPD_E2E_MARKETING`: 1 to send every message as marketing (the client's
//!   `default_class`), through the marketing lane of the route queue (default 0);
//! - `SMPPD_E2E_PROGRESS`: 0 to leave out the per-second progress lines (default 1);
//! - `SMPPD_BENCH_DIR`: parent directory of the temp store (default: the system temp dir;
//!   point it at the disk you mean to measure, as a tmpfs fsync is free);
//! - `SMPPD_BENCH_RESULTS`: where the results file goes (default `target/bench-results`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark harness, like a test

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{carrier_table, client, preamble, route, Commits, Gateway, SimStats, Simulator};
use load::trx::{self, Drive, Kind, Ledger, Mix, Tick, RING};
use load::{env_count, env_u64, ms, percentile, Report};

/// Carrier link: sessions and window toward the simulator, unless the environment says.
const CARRIER_SESSIONS: u64 = 2;
const CARRIER_WINDOW: u64 = 128;

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let messages = env_u64("SMPPD_E2E_MESSAGES", 100_000);
    let params = Params {
        messages,
        binds: env_count("SMPPD_E2E_BINDS", 4),
        window: env_count("SMPPD_E2E_WINDOW", 64),
        rate: match env_u64("SMPPD_E2E_RATE", 0) {
            0 => None,
            r => Some(r as f64),
        },
        mix: Mix::parse(&std::env::var("SMPPD_E2E_MIX").unwrap_or_else(|_| "gsm=100".into())),
        rss_from: env_u64("SMPPD_E2E_RSS_FROM", 200_000.min(messages / 5)),
        receipt_wait: Duration::from_secs(env_u64("SMPPD_E2E_RECEIPT_WAIT", 30)),
        receipt_delay: std::env::var("SMPPD_E2E_RECEIPT_DELAY").unwrap_or_else(|_| "10ms".into()),
        retention: std::env::var("SMPPD_E2E_RETENTION").ok(),
        progress: env_u64("SMPPD_E2E_PROGRESS", 1) != 0,
        carrier_sessions: env_u64("SMPPD_E2E_CARRIER_SESSIONS", CARRIER_SESSIONS).max(1),
        carrier_window: env_u64("SMPPD_E2E_CARRIER_WINDOW", CARRIER_WINDOW).max(1),
        durability: std::env::var("SMPPD_E2E_DURABILITY").unwrap_or_else(|_| "durable".into()),
        consent: env_u64("SMPPD_E2E_CONSENT", 0) != 0,
        sending_window: env_u64("SMPPD_E2E_SENDING_WINDOW", 0) != 0,
        marketing: env_u64("SMPPD_E2E_MARKETING", 0) != 0,
    };
    assert!(params.window < RING / 2, "window too large");
    let parent = load::store_parent();
    let offered = params
        .rate
        .map_or_else(|| "unlimited".to_owned(), |r| format!("{r:.0} messages/s"));
    println!(
        "e2e benchmark: {} messages ({}), {} transceiver binds x window {}, offered {offered}, \
         registered_delivery=1; carrier: simulator, {} sessions x window {}, receipt delay {}; \
         durability {}; {} CPUs; store under {}",
        params.messages,
        params.mix,
        params.binds,
        params.window,
        params.carrier_sessions,
        params.carrier_window,
        params.receipt_delay,
        params.durability,
        load::cpus(),
        parent.display()
    );
    let outcome = run(&params, &parent);
    report(&params, &parent, &outcome).save("e2e");
}

struct Params {
    messages: u64,
    binds: usize,
    window: usize,
    /// Messages per second offered over all binds; `None`: as fast as the windows allow.
    rate: Option<f64>,
    mix: Mix,
    rss_from: u64,
    receipt_wait: Duration,
    receipt_delay: String,
    /// `[store] retention`; `None`: the gateway's default.
    retention: Option<String>,
    progress: bool,
    /// The carrier link toward the simulator: session slots and window per session.
    carrier_sessions: u64,
    carrier_window: u64,
    /// `[store] durability`.
    durability: String,
    /// Marketing with `[consent]` on.
    consent: bool,
    /// Marketing under a window policy, open all day.
    sending_window: bool,
    /// Every message marketing.
    marketing: bool,
}

/// Growth of the least-squares line through the RSS samples taken from `from` to `to` (seconds
/// since the start), in % of the line's value at `from`. Two single samples say little: the
/// store's in-memory layers fill and empty every few seconds, swinging RSS by tens of MiB.
fn rss_trend(samples: &[Sample], from: f64, to: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .filter_map(|s| Some((s.at, s.rss_kib? as f64)))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_r = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var_t: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    let cov: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_r)).sum();
    let slope = cov / var_t;
    let at_from = mean_r + slope * (from - mean_t);
    Some(slope * (to - from) * 100.0 / at_from)
}

/// smppd once a second: seconds since the start, submit_sm accepted so far, VmRSS, CPU
/// seconds.
#[derive(Clone, Copy)]
struct Sample {
    at: f64,
    accepted: u64,
    rss_kib: Option<u64>,
    cpu: Option<f64>,
}

struct Outcome {
    ledger: Ledger,
    started: Instant,
    /// When the load loop ended (all receipts in, or the wait over).
    ended: Instant,
    messages: u64,
    parts: u64,
    by_kind: [u64; 3],
    samples: Vec<Sample>,
    peak_rss_kib: Option<u64>,
    commits: Commits,
    /// CPU seconds (user + system) of smppd and of the simulator over the whole run.
    cpu: [Option<f64>; 2],
    /// The simulator's counters over time, and at the end of the load.
    carrier: Vec<(Instant, SimStats)>,
    carrier_final: SimStats,
}

fn run(params: &Params, parent: &Path) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("smppd-e2e-")
        .tempdir_in(parent)
        .unwrap();
    let window = (params.carrier_window * 2).to_string();
    let mut simulator = Simulator::start_measured(
        "127.0.0.1:0".parse().unwrap(),
        &[
            "--receipt-delay",
            &params.receipt_delay,
            "--window",
            &window,
        ],
    );
    let config = config(dir.path(), simulator.addr, params);
    let mut gateway = Gateway::start_measured(dir.path(), &config, "warn");
    wait_for_carrier();
    let addrs = vec![gateway.addr; params.binds];
    let load = Drive {
        addrs: &addrs,
        window: params.window,
        messages: params.messages,
        rate: params.rate,
        mix: &params.mix,
        receipt_wait: params.receipt_wait,
    };
    let (gw, sim) = (&gateway, &simulator);
    let mut samples = Vec::new();
    let mut cpu_at_start = None;
    // submit_sm_resp latencies seen before this sample: the progress line shows the second's.
    let mut latencies_seen = 0;
    let driven = trx::drive(&load, |tick, at, ledger| {
        if tick == Tick::Start {
            cpu_at_start = gw.cpu_seconds();
            return;
        }
        let sample = Sample {
            at,
            accepted: ledger.accepted,
            rss_kib: gw.rss_kib(),
            cpu: gw.cpu_seconds().zip(cpu_at_start).map(|(c, s)| c - s),
        };
        samples.push(sample);
        if tick == Tick::End {
            return;
        }
        let mut second = ledger.submit_latency_us[latencies_seen..].to_vec();
        latencies_seen = ledger.submit_latency_us.len();
        second.sort_unstable();
        if params.progress && sample.at > 0.5 {
            println!(
                "  {:>5.1}s: accepted {:>8}, to carrier {:>8}, receipts {:>8}, RSS {} MiB, \
                 submit_sm_resp p99 {} / max {} ms, longest sync {} ms",
                sample.at,
                ledger.accepted,
                sim.latest().delivered(),
                ledger.receipted.len(),
                load::rss_mib(sample.rss_kib),
                ms(percentile(&second, 99.0)),
                ms(second.last().copied().unwrap_or(0)),
                ms(u32::try_from(gw.take_max_sync_us()).unwrap_or(u32::MAX)),
            );
        }
    });
    let peak_rss_kib = gateway.peak_rss_kib();
    let cpu = [gateway.cpu_seconds(), simulator.cpu_seconds()];
    // The simulator's counters once it has seen the last stats interval of the run.
    std::thread::sleep(common::STATS_EVERY * 2);
    let carrier_final = simulator.latest();
    let carrier = simulator.stats();
    gateway.stop();
    simulator.stop();
    let commits = gateway.commits();
    Outcome {
        ledger: driven.ledger,
        started: driven.started,
        ended: driven.ended,
        messages: driven.messages,
        parts: driven.parts,
        by_kind: driven.by_kind,
        samples,
        peak_rss_kib,
        commits,
        cpu,
        carrier,
        carrier_final,
    }
}

/// The `smppd serve` config: a port-0 listener, one client, one carrier link to the
/// simulator at `carrier`, a catch-all route, the store in `dir`.
fn config(dir: &Path, carrier: SocketAddr, params: &Params) -> String {
    let mut store = format!("durability = \"{}\"", params.durability);
    if let Some(retention) = &params.retention {
        store.push_str(&format!("\nretention = {retention:?}"));
    }
    let mut client_keys = format!(
        "bind_types = [\"transceiver\"]\nmax_binds = {}\nwindow = {}",
        params.binds, params.window
    );
    let mut shop = String::new();
    if params.consent || params.sending_window || params.marketing {
        client_keys.push_str("\ndefault_class = \"marketing\"");
    }
    if params.consent {
        shop.push_str("\n[consent]\nenabled = true\n\n[numbering]\ndefault_country = \"FR\"\n");
    }
    if params.sending_window {
        shop.push_str(
            "\n[[sending_windows]]\nname = \"all-day\"\n\
             days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n\
             from = \"00:00\"\nuntil = \"23:59\"\n\n\
             [[window_policies]]\nclass = \"marketing\"\nwindow = \"all-day\"\n",
        );
    }
    let carrier_keys = format!(
        "sessions = {}\nwindow = {}",
        params.carrier_sessions, params.carrier_window
    );
    preamble(dir, "", &store, "")
        + &client("bench", "bench", &client_keys)
        + &carrier_table("sim", carrier.port(), &carrier_keys)
        + &route("all", &["sim"], "")
        + &shop
}

/// Binding to the carrier happens after "ready"; a submit before would only wait in the
/// queue, so give the link a moment (it connects at once to a local simulator).
fn wait_for_carrier() {
    std::thread::sleep(Duration::from_millis(300));
}

/// `n` over `from` → `to` per second, "-" for no time.
fn rate(n: u64, from: Instant, to: Option<Instant>) -> String {
    match to {
        Some(to) if to > from => format!("{:.0}", n as f64 / to.duration_since(from).as_secs_f64()),
        _ => "-".to_owned(),
    }
}

fn report(params: &Params, parent: &Path, o: &Outcome) -> Report {
    let l = &o.ledger;
    let receipts = l.receipted.len() as u64;
    let lost = l.waiting.len() as u64;
    let unknown = l.early.len() as u64;
    let c = o.commits;
    let offered = params
        .rate
        .map_or_else(|| "unlimited".to_owned(), |r| format!("{r:.0} messages/s"));
    let mut report = Report::new(
        "smppd end-to-end benchmark (benches/e2e.rs)",
        &[
            ("messages", params.messages.to_string()),
            ("mix", params.mix.to_string()),
            (
                "transceiver binds x window",
                format!("{} x {}", params.binds, params.window),
            ),
            ("offered rate", offered),
            (
                "carrier",
                format!(
                    "smppd simulate, {} sessions x window {}, receipt delay {}",
                    params.carrier_sessions, params.carrier_window, params.receipt_delay
                ),
            ),
            ("durability", params.durability.clone()),
            (
                "class",
                if params.consent || params.sending_window || params.marketing {
                    "marketing"
                } else {
                    "transactional"
                }
                .to_owned(),
            ),
            (
                "consent",
                if params.consent {
                    "on, marketing"
                } else {
                    "off"
                }
                .to_owned(),
            ),
            (
                "retention",
                params
                    .retention
                    .clone()
                    .unwrap_or_else(|| "default (7d)".to_owned()),
            ),
            ("store under", parent.display().to_string()),
        ],
    );
    // The carrier took its last submit_sm when its counter first showed the final count.
    let carrier_done = load::reached(&o.carrier, SimStats::delivered, o.carrier_final.delivered());
    let elapsed = l
        .last_submit_resp
        .map(|t| t.duration_since(o.started).as_secs_f64());
    let messages_per_s = elapsed.map_or_else(
        || "-".to_owned(),
        |e| format!("{:.0}", o.messages as f64 / e),
    );
    let per_msg = |cpu: Option<f64>| {
        cpu.map_or_else(
            || "?".to_owned(),
            |s| format!("{:.0}", s * 1e6 / l.accepted.max(1) as f64),
        )
    };
    let wall = o.ended.duration_since(o.started).as_secs_f64();
    let mean_cpu = o
        .samples
        .last()
        .and_then(|s| Some(s.cpu? * 100.0 / s.at))
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    let peak_cpu = o
        .samples
        .windows(2)
        .filter_map(|w| Some((w[1].cpu? - w[0].cpu?) * 100.0 / (w[1].at - w[0].at)))
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
        .map_or_else(|| "?".to_owned(), |p| format!("{p:.0}"));
    let by_kind = Kind::ALL
        .iter()
        .map(|(k, name)| format!("{name} {}", o.by_kind[*k as usize]))
        .collect::<Vec<_>>()
        .join(", ");
    // RSS from the `rss_from`-th accepted submit_sm to the last.
    let rss_at = |count: u64| {
        o.samples
            .iter()
            .find(|s| s.accepted >= count && s.rss_kib.is_some())
    };
    let (from, last) = (rss_at(params.rss_from.max(1)), rss_at(l.accepted.max(1)));
    let growth = match (from.and_then(|s| s.rss_kib), last.and_then(|s| s.rss_kib)) {
        (Some(a), Some(b)) => format!("{:+.1}", (b as f64 - a as f64) * 100.0 / a as f64),
        _ => "-".to_owned(),
    };
    let trend = match (from, last) {
        (Some(a), Some(b)) => {
            rss_trend(&o.samples, a.at, b.at).map_or_else(|| "-".to_owned(), |g| format!("{g:+.1}"))
        }
        _ => "-".to_owned(),
    };
    let rss_of = |s: Option<&Sample>| {
        s.map_or_else(
            || "-".to_owned(),
            |s| {
                format!(
                    "{} MiB (at {:.1} s, {} accepted)",
                    load::rss_mib(s.rss_kib),
                    s.at,
                    s.accepted
                )
            },
        )
    };
    let row = |name: &str, value: String| vec![name.to_owned(), value];
    report.table(
        &["measure", "value"],
        &[
            row(
                "messages written (by kind)",
                format!("{} ({by_kind})", o.messages),
            ),
            row("submit_sm written", o.parts.to_string()),
            row(
                "submit_sm accepted / refused",
                format!("{} / {}", l.accepted, l.refused),
            ),
            row(
                "refused by status",
                if l.refused_by_status.is_empty() {
                    "-".to_owned()
                } else {
                    l.refused_by_status
                        .iter()
                        .map(|(status, n)| format!("{status}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            row(
                "messages/s (first submit → last submit_sm_resp)",
                messages_per_s,
            ),
            row(
                "submit_sm accepted/s",
                rate(l.accepted, o.started, l.last_submit_resp),
            ),
            row(
                "submit_sm taken by the carrier (throttled, withheld)",
                format!(
                    "{} ({}, {})",
                    o.carrier_final.delivered(),
                    o.carrier_final.submits_throttled,
                    o.carrier_final.submits_withheld
                ),
            ),
            row(
                "submit_sm taken by the carrier/s",
                rate(o.carrier_final.delivered(), o.started, carrier_done),
            ),
            row("receipts relayed back", receipts.to_string()),
            row(
                "receipts relayed back/s",
                rate(receipts, o.started, l.last_receipt),
            ),
            row(
                "submit_sm_resp p50 / p99 / max ms",
                format!(
                    "{} / {} / {}",
                    ms(percentile(&l.submit_latency_us, 50.0)),
                    ms(percentile(&l.submit_latency_us, 99.0)),
                    ms(l.submit_latency_us.last().copied().unwrap_or(0))
                ),
            ),
            row(
                "submit → receipt p50 / p99 ms",
                format!(
                    "{} / {}",
                    ms(percentile(&l.receipt_latency_us, 50.0)),
                    ms(percentile(&l.receipt_latency_us, 99.0))
                ),
            ),
            row(
                "smppd peak RSS (VmHWM)",
                format!("{} MiB", load::rss_mib(o.peak_rss_kib)),
            ),
            row(
                &format!("smppd RSS at the {}th accepted", params.rss_from),
                rss_of(from),
            ),
            row("smppd RSS at the last accepted", rss_of(last)),
            row("smppd RSS growth between, %", growth),
            row("smppd RSS growth between, trend of all samples, %", trend),
            row(
                "smppd CPU mean / busiest second, % of a core",
                format!("{mean_cpu} / {peak_cpu}"),
            ),
            row("smppd CPU µs per submit_sm", per_msg(o.cpu[0])),
            row("simulator CPU µs per submit_sm", per_msg(o.cpu[1])),
            row(
                "group commits, mean batch, mean sync ms",
                format!("{}, {}, {}", c.count, c.mean_batch(), c.mean_sync_ms()),
            ),
            row(
                "store ops per submit_sm",
                if c.count == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.2}", c.ops as f64 / l.accepted.max(1) as f64)
                },
            ),
            row("lost receipts", lost.to_string()),
            row("duplicated receipts", l.duplicated.to_string()),
            row("unknown receipts", unknown.to_string()),
            row(
                "run (first submit → last receipt or end of wait), s",
                format!("{wall:.1}"),
            ),
        ],
    );
    let verdict = if lost == 0 && l.duplicated == 0 && unknown == 0 && l.refused == 0 {
        "Every accepted submit_sm got exactly one receipt."
    } else {
        "NOT every accepted submit_sm got exactly one receipt: see lost / duplicated / unknown."
    };
    report.line(verdict);
    report.detail(
        "smppd once a second (seconds since the first submit, submit_sm accepted, VmRSS, CPU \
         seconds since the first submit):",
    );
    report.detail_table(
        &["s", "accepted", "RSS MiB", "CPU s"],
        &o.samples
            .iter()
            .map(|s| {
                vec![
                    format!("{:.1}", s.at),
                    s.accepted.to_string(),
                    load::rss_mib(s.rss_kib),
                    s.cpu.map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
                ]
            })
            .collect::<Vec<_>>(),
    );
    report
}
