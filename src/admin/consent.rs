//! The admin API of consent: a number's choice in a scope, a scope's list, an operator's change
//! (`PUT`), and the consent log. Numbers are read in any form `[numbering]` understands and
//! answered in E.164.

use crate::admin::api::{ConsentChange, ConsentView};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::views::rfc3339;
use crate::admin::Admin;
use crate::config::{Config, ConsentScope};
use crate::consent::{self, Choice, ConsentEvent, Origin, Scope};
use crate::message::{now_ms, Address};
use crate::numbering;
use axum::extract::{Path, Query, State as Shared};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// Most entries one page returns.
const PAGE_MAX: usize = 1000;

/// `?scope=&after=&limit=`.
#[derive(Deserialize)]
pub(crate) struct Paging {
    scope: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/suppressions/{number}?scope=`.
pub(crate) async fn show(
    Shared(admin): Shared<Arc<Admin>>,
    Path(number): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<ConsentView> {
    let config = admin.live_config();
    let scope = scope(&config, paging.scope.as_deref())?;
    let number = number_key(&config, &number)?;
    let found = admin
        .store
        .consent(&scope, &number)
        .map_err(|e| ApiError::store("cannot read the suppression list", &e))?;
    found
        .map(|event| Json(view(None, &event)))
        .ok_or_else(|| ApiError::not_found(format!("{number} has made no choice in {scope}")))
}

/// `GET /api/suppressions?scope=&after=&limit=`: a scope's list in number order.
pub(crate) async fn list(
    Shared(admin): Shared<Arc<Admin>>,
    Query(paging): Query<Paging>,
) -> ApiResult<Vec<ConsentView>> {
    let config = admin.live_config();
    let scope = scope(&config, paging.scope.as_deref())?;
    let limit = paging.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX);
    let entries = admin
        .store
        .consents(&scope, paging.after.as_deref(), limit)
        .map_err(|e| ApiError::store("cannot read the suppression list", &e))?;
    Ok(Json(entries.iter().map(|e| view(None, e)).collect()))
}

/// `PUT /api/suppressions/{number}`: an operator records a choice, durably, with its proof.
pub(crate) async fn change(
    Shared(admin): Shared<Arc<Admin>>,
    Path(number): Path<String>,
    Json(change): Json<ConsentChange>,
) -> ApiResult<ConsentView> {
    let config = admin.live_config();
    let scope = scope(&config, change.scope.as_deref())?;
    let number = number_key(&config, &number)?;
    let choice: Choice = change.choice.parse().map_err(ApiError::bad_request)?;
    let evidence = change.evidence.trim();
    if evidence.is_empty() {
        return Err(ApiError::bad_request(
            "evidence is required: what shows the person chose this (a form, a letter, a call)",
        ));
    }
    let event = ConsentEvent {
        at: now_ms(),
        scope,
        number,
        choice,
        origin: Origin::Operator,
        evidence: evidence.to_owned(),
        keyword: None,
        previous: None,
        confirmed_at: None,
    };
    let recorded = admin
        .store
        .record_consent(event)
        .await
        .map_err(|e| ApiError::store("cannot record the change", &e))?;
    if let Some(handoff) = admin.carriers.handoff() {
        handoff
            .consent_changed(std::slice::from_ref(&recorded))
            .await;
    }
    tracing::info!(
        scope = %recorded.scope,
        number = %recorded.number,
        choice = recorded.choice.name(),
        "consent changed by an operator"
    );
    Ok(Json(view(None, &recorded)))
}

/// Most lines of one import request; `smppctl suppress import` sends larger files in parts.
const IMPORT_MAX: usize = 10_000;

/// `POST /api/suppressions/import`: one JSON object per line, as the body of `PUT` plus its
/// `number`. Every line is checked first; one bad line refuses the whole request (naming the
/// line), and nothing is written. Answers `{"imported": N}` once all are durable.
pub(crate) async fn import(
    Shared(admin): Shared<Arc<Admin>>,
    body: String,
) -> ApiResult<serde_json::Value> {
    let config = admin.live_config();
    let lines: Vec<(usize, &str)> = body
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| (i + 1, line))
        .collect();
    if lines.len() > IMPORT_MAX {
        return Err(ApiError::bad_request(format!(
            "{} lines; at most {IMPORT_MAX} per request",
            lines.len()
        )));
    }
    let at = now_ms();
    let mut events = Vec::with_capacity(lines.len());
    for (n, line) in lines {
        let bad = |reason: String| ApiError::bad_request(format!("line {n}: {reason}"));
        let entry: ImportLine = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let scope = scope(&config, entry.change.scope.as_deref()).map_err(|e| bad(e.message()))?;
        let number = number_key(&config, &entry.number).map_err(|e| bad(e.message()))?;
        let choice: Choice = entry.change.choice.parse().map_err(bad)?;
        let evidence = entry.change.evidence.trim();
        if evidence.is_empty() {
            return Err(bad("evidence is required".to_owned()));
        }
        events.push(ConsentEvent {
            at,
            scope,
            number,
            choice,
            origin: Origin::Import,
            evidence: evidence.to_owned(),
            keyword: None,
            previous: None,
            confirmed_at: None,
        });
    }
    let imported = events.len();
    let recorded = admin
        .store
        .record_consents(events)
        .await
        .map_err(|e| ApiError::store("cannot record the import", &e))?;
    if let Some(handoff) = admin.carriers.handoff() {
        handoff.consent_changed(&recorded).await;
    }
    tracing::info!(imported, "consent changes imported by an operator");
    Ok(Json(serde_json::json!({ "imported": imported })))
}

/// One line of an import.
#[derive(Deserialize)]
struct ImportLine {
    number: String,
    #[serde(flatten)]
    change: ConsentChange,
}

/// `GET /api/consent-log?after=&limit=`: every change, oldest first.
pub(crate) async fn log(
    Shared(admin): Shared<Arc<Admin>>,
    Query(paging): Query<Paging>,
) -> ApiResult<Vec<ConsentView>> {
    let after = match paging.after.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("after=`{text}` is not a log entry's seq"))
        })?),
    };
    let limit = paging.limit.unwrap_or(PAGE_MAX).clamp(1, PAGE_MAX);
    let entries = admin
        .store
        .consent_log(after, limit)
        .map_err(|e| ApiError::store("cannot read the consent log", &e))?;
    Ok(Json(
        entries.iter().map(|(seq, e)| view(Some(*seq), e)).collect(),
    ))
}

/// The scope asked for; without one, the gateway's list if that is the only one.
fn scope(config: &Config, asked: Option<&str>) -> Result<Scope, ApiError> {
    match asked {
        Some(text) => text.parse().map_err(ApiError::bad_request),
        None if config.consent.scope == ConsentScope::Gateway => Ok(Scope::Gateway),
        None => Err(ApiError::bad_request(
            "scope is required: client:SYSTEM_ID or sender:ADDRESS ([consent] scope says whose \
             lists there are)",
        )),
    }
}

/// A number as the lists keep it (`consent::stored_number`), from any form `[numbering]`
/// reads.
fn number_key(config: &Config, number: &str) -> Result<String, ApiError> {
    let address = Address {
        ton: 0,
        npi: 1,
        addr: number.to_owned(),
    };
    let e164 = numbering::e164(&config.numbering, &address).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{number}` is not a phone number: give it in E.164 (+33612345678), or set \
             [numbering] default_country for national forms"
        ))
    })?;
    Ok(consent::stored_number(&config.consent, &e164))
}

fn view(seq: Option<u64>, event: &ConsentEvent) -> ConsentView {
    ConsentView {
        seq,
        at: rfc3339(event.at),
        scope: event.scope.to_string(),
        number: event.number.clone(),
        choice: event.choice.name().to_owned(),
        origin: event.origin.name().to_owned(),
        evidence: event.evidence.clone(),
        keyword: event.keyword.clone(),
        previous: event.previous.map(|p| p.name().to_owned()),
        suppressed: event.choice == Choice::OptedOut,
        confirmed_at: event.confirmed_at.map(rfc3339),
    }
}
