//! `GET /api/v1/campaigns/{id}`: what became of the authenticated client's messages of one
//! campaign (the `campaign` they were sent with), per UTC day and class, and in all: how many
//! were accepted, held, sent, delivered or not, the SMS they took, the delivery rate, and
//! what they cost. Read from the store's campaign counters (`store/stats.rs`), which change
//! in the same commit as the messages; another client's campaign of the same name is not
//! this one.

use super::error::ApiError;
use super::HttpApi;
use crate::admin::api::StatsFigures;
use crate::class::LABEL_MAX;
use crate::price::Currency;
use crate::store::{Counters, Day, StatsRow};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// A campaign as the API shows it.
#[derive(Debug, Serialize)]
struct Campaign {
    campaign: String,
    /// Every day and class together.
    totals: StatsFigures,
    /// Oldest day first; a day's classes apart.
    days: Vec<DayFigures>,
}

#[derive(Debug, Serialize)]
struct DayFigures {
    /// UTC, `YYYY-MM-DD`.
    day: String,
    class: &'static str,
    #[serde(flatten)]
    figures: StatsFigures,
}

pub(super) async fn show(
    Shared(api): Shared<Arc<HttpApi>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let system_id = api.authenticate(&headers).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such campaign");
    // A name no message can carry names no campaign.
    let Path(campaign) = id
        .ok()
        .filter(|Path(c)| !c.is_empty() && c.len() <= LABEL_MAX)
        .ok_or_else(not_found)?;
    let store = api.store.clone();
    let name = campaign.clone();
    let rows = tokio::task::spawn_blocking(move || {
        store.campaign_stats(&system_id, &name, Day::MIN, Day::MAX)
    })
    .await
    .map_err(|_| ApiError::internal("cannot read the campaign"))?
    .map_err(|e| ApiError::internal(format!("cannot read the campaign: {e}")))?;
    if rows.is_empty() {
        return Err(not_found());
    }
    let currency = api.config().prices.currency();
    Ok((StatusCode::OK, axum::Json(shown(campaign, &rows, currency))).into_response())
}

fn shown(campaign: String, rows: &[StatsRow], currency: Option<Currency>) -> Campaign {
    let mut totals = Counters::default();
    for row in rows {
        totals.add(&row.counters);
    }
    let mut days: Vec<&StatsRow> = rows.iter().collect();
    days.sort_by_key(|row| (row.day, row.class as u8));
    Campaign {
        campaign,
        totals: StatsFigures::of(&totals, currency),
        days: days
            .into_iter()
            .map(|row| DayFigures {
                day: row.day.to_string(),
                class: row.class.name(),
                figures: StatsFigures::of(&row.counters, currency),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Class;

    #[test]
    fn totals_add_up_and_days_come_in_order() {
        let row = |day: u32, class, delivered, undelivered| StatsRow {
            client: "shop".into(),
            campaign: "promo".into(),
            class,
            day: Day::from_number(day),
            counters: Counters {
                accepted: delivered + undelivered,
                segments: 2 * (delivered + undelivered),
                delivered,
                undelivered,
                cost_micro: 90_000 * (delivered + undelivered),
                ..Counters::default()
            },
        };
        let rows = [
            row(20_001, Class::Marketing, 1, 1),
            row(20_000, Class::Marketing, 3, 0),
            row(20_000, Class::Transactional, 0, 1),
        ];
        let eur = "EUR".parse().ok();
        let json = serde_json::to_value(shown("promo".into(), &rows, eur)).unwrap();
        assert_eq!(json["totals"]["accepted"], 6);
        assert_eq!(json["totals"]["segments"], 12);
        assert_eq!(json["totals"]["delivery_rate"], 4.0 / 6.0);
        assert_eq!(
            json["totals"]["cost"],
            serde_json::json!({"amount": "0.540", "currency": "EUR"})
        );
        let days: Vec<(&str, &str)> = json["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["day"].as_str().unwrap(), d["class"].as_str().unwrap()))
            .collect();
        assert_eq!(
            days,
            [
                ("2024-10-04", "transactional"),
                ("2024-10-04", "marketing"),
                ("2024-10-05", "marketing")
            ]
        );
        assert_eq!(json["days"][0]["delivery_rate"], 0.0);
        // Without prices, no cost.
        let json = serde_json::to_value(shown("promo".into(), &rows, None)).unwrap();
        assert!(json["totals"]["cost"].is_null());
    }
}
