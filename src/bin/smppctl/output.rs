//! How smppctl prints: an answer as its JSON (`--json`) or as text for people, tables, and
//! the cells in them. Used by `main.rs`, `render.rs` and `actions.rs`.

use crate::api::Reply;
use serde::de::DeserializeOwned;
use serde_json::Value;
use smppd::admin::api::ErrorView;
use std::fmt::Display;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// Prints `reply` as JSON, or its view as `human` renders it. The view is read only for
/// people: `--json` prints whatever the gateway sent.
pub(crate) fn show<T: DeserializeOwned>(
    json: bool,
    reply: &Reply,
    human: impl FnOnce(T) -> String,
) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(&reply.json)?
    } else {
        human(reply.view()?)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", text.trim_end())?;
    out.flush()?;
    Ok(())
}

/// A borderless table with a header row, columns aligned.
pub(crate) fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    table
        .to_string()
        .lines()
        .map(|line| line.trim_end().strip_prefix(' ').unwrap_or(line.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value, or "-" for `null`.
pub(crate) fn or_dash(v: Option<impl Display>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A float as JSON writes it ("0.0", "1.25"), not as Rust's `Display` would ("0").
pub(crate) fn decimal(v: f64) -> String {
    match Value::from(v) {
        // Not finite: JSON has no such number.
        Value::Null => "-".to_owned(),
        number => number.to_string(),
    }
}

/// A rate per second, to one decimal.
pub(crate) fn rate(v: f64) -> String {
    format!("{v:.1}")
}

/// "50", or "50 (config 100)" when an operator changed it.
pub(crate) fn cap(now: Option<u32>, configured: Option<u32>) -> String {
    if now == configured {
        or_dash(now)
    } else {
        let configured = configured.map_or_else(|| "none".to_owned(), |c| c.to_string());
        format!("{} (config {configured})", or_dash(now))
    }
}

pub(crate) fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_owned()
}

/// "-" or "2m 5s".
pub(crate) fn seconds(v: Option<f64>) -> String {
    match v {
        Some(s) if s.is_finite() && s >= 0.0 => {
            humantime::format_duration(Duration::from_secs_f64(s.round())).to_string()
        }
        _ => "-".to_owned(),
    }
}

/// How long ago an RFC 3339 time was: "2m 5s".
pub(crate) fn ago(at: &str) -> String {
    let age = humantime::parse_rfc3339(at)
        .ok()
        .and_then(|at| SystemTime::now().duration_since(at).ok());
    seconds(age.map(|a| a.as_secs_f64()))
}

pub(crate) fn last_error(v: Option<&ErrorView>) -> String {
    match v {
        Some(e) => format!("{} ({} ago)", e.message, ago(&e.at)),
        None => "-".to_owned(),
    }
}

pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
