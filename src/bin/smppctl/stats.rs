//! `smppctl campaign CLIENT ID` and `smppctl stats`: campaign statistics from the admin API,
//! as tables of one row per UTC day and class, and a total.

use crate::api::{segment, Api};
use crate::output::{show, table};
use smppd::admin::api::{CampaignView, StatsDay, StatsFigures, StatsView};

/// `smppctl campaign CLIENT ID`.
pub(crate) fn campaign(api: &Api, json: bool, client: &str, id: &str) -> anyhow::Result<()> {
    let path = format!("/api/campaigns/{}/{}", segment(client), segment(id));
    show(json, &api.get(&path)?, |v: CampaignView| {
        let head = format!(
            "campaign {} of {}: {}",
            v.campaign,
            v.client,
            summary(&v.totals)
        );
        format!("{head}\n\n{}", days(&v.days, &v.totals, false))
    })
}

/// `smppctl stats [--client C] [--since 7d]`.
pub(crate) fn stats(
    api: &Api,
    json: bool,
    client: Option<&str>,
    since: &str,
    until: Option<&str>,
) -> anyhow::Result<()> {
    let mut path = format!("/api/stats?since={}", segment(since));
    if let Some(client) = client {
        path.push_str(&format!("&client={}", segment(client)));
    }
    if let Some(until) = until {
        path.push_str(&format!("&until={}", segment(until)));
    }
    show(json, &api.get(&path)?, |v: StatsView| {
        let whose = v.client.as_deref().unwrap_or("every client");
        let head = format!(
            "{whose}, {} to {} (UTC): {}",
            v.since,
            v.until,
            summary(&v.totals)
        );
        if v.days.is_empty() {
            return format!("{head}\n\nno messages");
        }
        format!("{head}\n\n{}", days(&v.days, &v.totals, true))
    })
}

/// "12 accepted (15 SMS), 10 sent, delivery rate 80.0%, cost 0.540 EUR".
fn summary(f: &StatsFigures) -> String {
    let mut text = format!(
        "{} accepted ({} SMS), {} sent, delivery rate {}",
        f.accepted,
        f.segments,
        f.sent,
        rate(f.delivery_rate)
    );
    if let Some(cost) = f.cost {
        text.push_str(&format!(", cost {cost}"));
    }
    text
}

fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// The rows and a TOTAL line; with a CLIENT column when `clients`.
fn days(rows: &[StatsDay], totals: &StatsFigures, clients: bool) -> String {
    let cells = |f: &StatsFigures| {
        vec![
            f.accepted.to_string(),
            f.segments.to_string(),
            f.suppressed.to_string(),
            f.deferred.to_string(),
            f.sent.to_string(),
            f.delivered.to_string(),
            f.undelivered.to_string(),
            f.expired.to_string(),
            f.rejected.to_string(),
            rate(f.delivery_rate),
            f.cost
                .map_or_else(|| "-".to_owned(), |c| c.amount.to_string()),
        ]
    };
    let lead = |client: &str, day: &str, class: &str| {
        let mut row = if clients {
            vec![client.to_owned()]
        } else {
            Vec::new()
        };
        row.extend([day.to_owned(), class.to_owned()]);
        row
    };
    let mut lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = lead(r.client.as_deref().unwrap_or("-"), &r.day, &r.class);
            row.extend(cells(&r.figures));
            row
        })
        .collect();
    let mut total = lead("TOTAL", if clients { "" } else { "TOTAL" }, "");
    total.extend(cells(totals));
    lines.push(total);
    let mut header = if clients { vec!["CLIENT"] } else { Vec::new() };
    header.extend([
        "DAY",
        "CLASS",
        "ACCEPTED",
        "SMS",
        "SUPPRESSED",
        "DEFERRED",
        "SENT",
        "DELIVERED",
        "UNDELIVERED",
        "EXPIRED",
        "REJECTED",
        "RATE",
    ]);
    let cost = totals
        .cost
        .map_or_else(|| "COST".to_owned(), |c| format!("COST {}", c.currency));
    header.push(&cost);
    table(&header, lines.into_iter())
}
