//! The admin API of campaign statistics: a client's campaign per day and class
//! (`GET /api/campaigns/{client}/{id}`), and all traffic per client, class and day
//! (`GET /api/stats`). Read from the store's counters (`store/stats.rs`) on a blocking
//! thread: a long period is a scan.

use crate::admin::api::{CampaignView, StatsDay, StatsFigures, StatsView};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::Admin;
use crate::message::now_ms;
use crate::price::Currency;
use crate::store::{Counters, Day, StatsRow, Store};
use axum::extract::{Path, Query, State as Shared};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// How far back `GET /api/stats` looks without `since`.
const DEFAULT_SINCE: Duration = Duration::from_secs(7 * 86_400);

/// `GET /api/campaigns/{client}/{id}`.
pub(crate) async fn campaign(
    Shared(admin): Shared<Arc<Admin>>,
    Path((client, campaign)): Path<(String, String)>,
) -> ApiResult<CampaignView> {
    let (who, name) = (client.clone(), campaign.clone());
    let rows = read(&admin.store, move |store| {
        store.campaign_stats(&who, &name, Day::MIN, Day::MAX)
    })
    .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!(
            "client {client} has no message with campaign {campaign}"
        )));
    }
    let currency = admin.live_config().prices.currency();
    Ok(Json(CampaignView {
        client,
        campaign,
        totals: total(&rows, currency),
        days: days(&rows, currency, false),
    }))
}

/// `?client=&since=&until=`.
#[derive(Deserialize)]
pub(crate) struct Period {
    client: Option<String>,
    /// A date (`2026-12-01`) or how long ago (`7d`, `24h`).
    since: Option<String>,
    /// A date; default today.
    until: Option<String>,
}

/// `GET /api/stats?client=&since=&until=`.
pub(crate) async fn stats(
    Shared(admin): Shared<Arc<Admin>>,
    Query(period): Query<Period>,
) -> ApiResult<StatsView> {
    let today = Day::today();
    let since = match period.since.as_deref() {
        None => ago(DEFAULT_SINCE),
        Some(text) => day_or_ago(text)?,
    };
    let until = match period.until.as_deref() {
        None => today,
        Some(text) => text.parse().map_err(ApiError::bad_request)?,
    };
    let client = period.client.filter(|c| !c.is_empty());
    let who = client.clone();
    let rows = read(&admin.store, move |store| {
        store.client_stats(who.as_deref(), since, until)
    })
    .await?;
    let currency = admin.live_config().prices.currency();
    Ok(Json(StatsView {
        since: since.to_string(),
        until: until.to_string(),
        client,
        totals: total(&rows, currency),
        days: days(&rows, currency, true),
    }))
}

/// A date, or how long ago: the day it was then.
fn day_or_ago(text: &str) -> Result<Day, ApiError> {
    if let Ok(day) = text.parse() {
        return Ok(day);
    }
    humantime::parse_duration(text).map(ago).map_err(|_| {
        ApiError::bad_request(format!(
            "since: `{text}` is neither a date like 2026-12-01 nor a duration like 7d"
        ))
    })
}

/// The UTC day `duration` ago.
fn ago(duration: Duration) -> Day {
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    Day::of_ms(now_ms().saturating_sub(ms))
}

/// Reads the store off the runtime's workers.
async fn read(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<Vec<StatsRow>, crate::store::Error> + Send + 'static,
) -> Result<Vec<StatsRow>, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| ApiError::internal("the stats read stopped"))?
        .map_err(|e| ApiError::store("cannot read the campaign stats", &e))
}

fn total(rows: &[StatsRow], currency: Option<Currency>) -> StatsFigures {
    let mut sum = Counters::default();
    for row in rows {
        sum.add(&row.counters);
    }
    StatsFigures::of(&sum, currency)
}

/// The rows by client, day and class; with the client's name in each when `clients`.
fn days(rows: &[StatsRow], currency: Option<Currency>, clients: bool) -> Vec<StatsDay> {
    let mut sorted: Vec<&StatsRow> = rows.iter().collect();
    sorted
        .sort_by(|a, b| (&a.client, a.day, a.class as u8).cmp(&(&b.client, b.day, b.class as u8)));
    sorted
        .into_iter()
        .map(|row| StatsDay {
            client: clients.then(|| row.client.clone()),
            day: row.day.to_string(),
            class: row.class.name().to_owned(),
            figures: StatsFigures::of(&row.counters, currency),
        })
        .collect()
}
