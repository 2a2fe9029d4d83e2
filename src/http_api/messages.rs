//! `POST /api/v1/messages` (send one message, split into parts as `smppctl send` does),
//! `POST /api/v1/messages:batch` (many, each on its own, paced by its `send_rate` if it has
//! one; a message whose `client_ref` names one sent within the idempotency window is not sent
//! again), `GET /api/v1/messages/{id}` or `?client_ref=` (the message with one overall
//! status, and each part's) and
//! `DELETE /api/v1/messages/{id}` or `?client_ref=` (cancel it while no part has left).
//! `preview.rs` and `campaigns.rs` reuse the checks and the cancel here.

use super::error::ApiError;
use super::HttpApi;
use crate::config::Config;
use crate::esme::Submission;
use crate::idempotency::{self, Recorded};
use crate::message::{now_ms, Address, Class, Message, MessageId, State};
use crate::numbering;
use crate::transliterate::{transliterate, Mode, Plan};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use smpp_proto::coding::{self, Encoding};
use smpp_proto::concat::{self, ConcatMethod};
use smpp_proto::pdu::esm_class;
use smpp_proto::time::SmppTime;
use smpp_proto::{Tag, Tlv, Tlvs};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

/// A message to send.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMessage {
    /// The destination: `+33612345678` (international) or a national number (`0612345678`,
    /// read with `[numbering] default_country`).
    to: String,
    /// The sender: a number, a short code or an alphanumeric name.
    from: String,
    text: String,
    /// `transactional` or `marketing`; default: the client's rules, as for SMPP.
    class: Option<String>,
    campaign: Option<String>,
    client_ref: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// RFC 3339 with an offset (`2026-12-07T08:00:00+01:00`); a naive time is refused.
    schedule_at: Option<String>,
    /// How long the message may wait before it expires ("4h", "2d").
    validity: Option<String>,
    /// Most parts the text may take (default 6, at most 255).
    max_segments: Option<usize>,
    /// `auto` (default): characters GSM 7-bit lacks (’ « » … œ) replaced when the whole text
    /// then fits GSM 7-bit in no more SMS; `off`: sent as written.
    transliterate: Option<String>,
}

/// Most parts by default: a runaway text costs at most this many SMS.
const MAX_SEGMENTS: usize = 6;

/// Most parts `max_segments` may allow: a long message's parts are numbered in one byte.
const MOST_SEGMENTS: usize = 255;

/// The answer to a send.
#[derive(Debug, Serialize)]
struct Accepted {
    /// The message's id: its first part's.
    id: String,
    parts: Vec<String>,
    segments: usize,
    encoding: &'static str,
    /// The characters transliteration replaced, and how often.
    replaced: Vec<Replaced>,
    /// The estimated cost (`[[prices]]`: segments × the destination's price), if priced.
    cost: Option<crate::price::Money>,
    class: &'static str,
    /// `queued`, `scheduled` (at the client's time, or its turn in a paced batch), `deferred`
    /// (held for a sending window) or `suppressed` (the number opted out: accepted only to be
    /// ended REJECTED).
    state: &'static str,
    /// When it may leave (RFC 3339, UTC), if not at once.
    send_at: Option<String>,
}

pub(super) async fn submit(
    Shared(api): Shared<Arc<HttpApi>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let system_id = api.authenticate(&headers).await?;
    let body = body.map_err(too_large)?;
    let key = idempotency_key(&headers)?;
    let request = idempotency::fingerprint("POST", "/api/v1/messages", &body);
    // Held until the answer is out: a concurrent retry gets 409, not a second message.
    let _held = api.hold(&system_id, key.as_deref())?;
    if let Some(key) = &key {
        if let Some(replay) = api.replay(&system_id, key, &request)? {
            return Ok(replay);
        }
    }
    let new = NewMessage::parse(&body)?;
    let answer = api
        .send(&system_id, &new, None, key.as_deref(), request)
        .await?;
    Ok(json_answer(StatusCode::ACCEPTED, answer, false))
}

impl NewMessage {
    /// The body of a send or a preview.
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("not a message: {e}")))
    }
}

/// Several messages in one request (a campaign): each checked and stored on its own, each
/// with its own result, so that one refused number does not hold back the rest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBatch {
    /// The messages, each as for `POST /api/v1/messages` (a JSON object; its fields are
    /// checked with the message, so that a bad one fails alone).
    messages: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Defaults for the messages that do not say.
    campaign: Option<String>,
    class: Option<String>,
    tags: Option<Vec<String>>,
    /// Messages per second: the n-th message the batch stores leaves n / `send_rate` s after
    /// its start (a whole number, 1 to [`MOST_SEND_RATE`]; read as a value to name it in
    /// errors).
    send_rate: Option<serde_json::Value>,
}

/// Most messages per second a batch's `send_rate` may ask for.
const MOST_SEND_RATE: u64 = 10_000;

/// A batch's `send_rate`, checked: 400 if not a number, 422 if not a whole one in range.
fn send_rate(value: Option<&serde_json::Value>) -> Result<Option<u64>, ApiError> {
    let expected = format!("a whole number of messages per second, 1 to {MOST_SEND_RATE}");
    match value {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .filter(|rate| (1..=MOST_SEND_RATE).contains(rate))
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("`send_rate` {n}: expected {expected}"))),
        Some(other) => Err(ApiError::bad_request(format!(
            "`send_rate` {other}: expected {expected}"
        ))),
    }
}

/// Where a message of a paced batch stands: it leaves `offset` ms after `start` (unix ms), or
/// after its own `schedule_at` if that is later.
#[derive(Clone, Copy, Debug)]
struct Pace {
    start: i64,
    offset: i64,
}

impl Pace {
    /// The `turn`-th message (from 0) of a batch started at `start`, at `rate` a second.
    fn of(start: i64, turn: u64, rate: u64) -> Self {
        let offset = turn.saturating_mul(1000) / rate.max(1);
        Self {
            start,
            offset: i64::try_from(offset).unwrap_or(i64::MAX),
        }
    }
}

/// `POST /api/v1/messages:batch`: up to `max_batch` messages; 200 with one result per message
/// (the answer a single send would give, or its error). With an `Idempotency-Key`, each
/// message's answer is kept in its own commit under the key and its index: a retry after a
/// crash half-way replays the messages already stored and sends only the rest. Without one (or
/// with a new one), a message whose `client_ref` names a message of the client accepted
/// within `idempotency_window` is not sent again: its result is that message, as GET shows
/// it, marked `duplicate`.
pub(super) async fn submit_batch(
    Shared(api): Shared<Arc<HttpApi>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let system_id = api.authenticate(&headers).await?;
    let body = body.map_err(too_large)?;
    let key = idempotency_key(&headers)?;
    let _held = api.hold(&system_id, key.as_deref())?;
    let batch: NewBatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a batch: {e}")))?;
    if let Some(class) = &batch.class {
        class
            .parse::<Class>()
            .map_err(|e| ApiError::invalid(format!("`class`: {e}")))?;
    }
    let most = api.config().http_api.max_batch;
    if batch.messages.is_empty() || batch.messages.len() > most {
        return Err(ApiError::invalid(format!(
            "a batch holds 1 to {most} messages ([http_api] max_batch), this one {}",
            batch.messages.len()
        ))
        .coded("batch_size"));
    }
    let rate = send_rate(batch.send_rate.as_ref())?;
    let start = now_ms();
    let defaults = [
        ("campaign", batch.campaign.map(serde_json::Value::from)),
        ("class", batch.class.map(serde_json::Value::from)),
        ("tags", batch.tags.map(serde_json::Value::from)),
    ];
    // Messages stored by this request so far: replays and refusals take no turn.
    let mut turn = 0;
    let mut results = Vec::with_capacity(batch.messages.len());
    let (mut accepted, mut refused, mut duplicates) = (0, 0, 0);
    let mut items = batch.messages.into_iter().enumerate().peekable();
    while items.peek().is_some() {
        // A wave of messages sent at once, sharing group commits. A paced batch goes one by
        // one (each message's turn follows the ones stored before it), and a reference seen
        // earlier in the wave waits for the next, to be found a duplicate there.
        let mut wave = Vec::new();
        let mut refs = HashSet::new();
        while let Some((_, fields)) = items.peek() {
            let full = wave.len() >= if rate.is_some() { 1 } else { BATCH_WAVE };
            let client_ref = fields.get("client_ref").and_then(serde_json::Value::as_str);
            if full || client_ref.is_some_and(|r| refs.contains(r)) {
                break;
            }
            refs.extend(client_ref.map(str::to_owned));
            wave.extend(items.next());
        }
        let pace = rate.map(|rate| Pace::of(start, turn, rate));
        let sends = wave.into_iter().map(|(index, mut fields)| {
            for (name, value) in &defaults {
                if let Some(value) = value {
                    fields.entry(*name).or_insert_with(|| value.clone());
                }
            }
            let item_key = key.as_ref().map(|key| format!("{key}#{index}"));
            let api = &api;
            let system_id = &system_id;
            async move {
                let outcome = api.batch_item(system_id, fields, item_key, pace).await;
                (index, outcome)
            }
        });
        for (index, outcome) in futures_util::future::join_all(sends).await {
            if let Ok(Item::Sent(_)) = &outcome {
                turn += 1;
            }
            results.push(match outcome {
                Ok(Item::Sent(answer) | Item::Kept(answer)) => {
                    accepted += 1;
                    let message: serde_json::Value =
                        serde_json::from_slice(&answer).unwrap_or_default();
                    serde_json::json!({"index": index, "status": 202, "accepted": message})
                }
                Ok(Item::Duplicate(parts)) => {
                    duplicates += 1;
                    serde_json::json!({"index": index, "status": 200, "duplicate": true,
                                       "existing": shown(&parts)})
                }
                Err(e) => {
                    refused += 1;
                    let mut result = e.body();
                    result["index"] = index.into();
                    result["status"] = e.status().as_u16().into();
                    result
                }
            });
        }
    }
    let answer = serde_json::json!({"accepted": accepted, "refused": refused,
                                    "duplicates": duplicates, "results": results});
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// Messages of an unpaced batch sent at once: enough to fill group commits, few enough that
/// one batch does not take every commit from other clients.
const BATCH_WAVE: usize = 128;

impl HttpApi {
    /// One message of a batch: its answer kept under the batch's key, a duplicate of a
    /// message its `client_ref` names, or sent.
    async fn batch_item(
        &self,
        system_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
        item_key: Option<String>,
        pace: Option<Pace>,
    ) -> Result<Item, ApiError> {
        let item = serde_json::Value::Object(fields);
        let item_body = serde_json::to_vec(&item).unwrap_or_default();
        let request = idempotency::fingerprint("POST", "/api/v1/messages", &item_body);
        if let Some(item_key) = &item_key {
            if let Some(kept) = self.kept(system_id, item_key, &request)? {
                return Ok(Item::Kept(kept));
            }
        }
        let new: NewMessage = serde_json::from_value(item)
            .map_err(|e| ApiError::bad_request(format!("not a message: {e}")))?;
        // Held until sent: the same reference in a concurrent batch waits its turn.
        let _held = match new.client_ref.as_deref() {
            Some(client_ref) => Some(self.hold_ref(system_id, client_ref)?),
            None => None,
        };
        if let Some(existing) = self.sent_with_ref(system_id, new.client_ref.as_deref())? {
            return Ok(Item::Duplicate(existing));
        }
        let sent = self.send(system_id, &new, pace, item_key.as_deref(), request);
        sent.await.map(Item::Sent)
    }
}

/// What became of one message of a batch that was not refused.
enum Item {
    /// Sent: the send's answer.
    Sent(Vec<u8>),
    /// Sent before, under the batch's key: the answer kept.
    Kept(Vec<u8>),
    /// Not sent: its `client_ref` names this message, sent within the window.
    Duplicate(Vec<Message>),
}

/// axum's refusal of a body, as an API error.
pub(super) fn too_large(e: BytesRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is over [http_api] max_body_bytes",
        ),
        _ => ApiError::bad_request(e.body_text()),
    }
}

impl HttpApi {
    /// Takes `key` for this request; 409 if another request holds it.
    pub(super) fn hold(
        &self,
        client: &str,
        key: Option<&str>,
    ) -> Result<Option<idempotency::Held>, ApiError> {
        let Some(key) = key else {
            return Ok(None);
        };
        self.in_flight.take(client, key).map(Some).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "in_progress",
                "a request with this Idempotency-Key is still being handled",
            )
        })
    }

    /// Takes `client_ref` for one message of a batch, until it is sent; 409 if another
    /// request is sending one with the same reference.
    fn hold_ref(&self, client: &str, client_ref: &str) -> Result<idempotency::Held, ApiError> {
        // A space is never in an Idempotency-Key: the two never meet in `in_flight`.
        let key = format!("client_ref {client_ref}");
        self.in_flight.take(client, &key).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "in_progress",
                "a message with this client_ref is being sent",
            )
        })
    }

    /// The parts of the message `client` sent with `client_ref` within `idempotency_window`,
    /// if any: a batch does not send it again.
    fn sent_with_ref(
        &self,
        client: &str,
        client_ref: Option<&str>,
    ) -> Result<Option<Vec<Message>>, ApiError> {
        let Some(client_ref) = client_ref else {
            return Ok(None);
        };
        let found = self
            .store
            .client_ref(client, client_ref)
            .map_err(|e| ApiError::internal(format!("cannot read the client refs: {e}")))?;
        let Some(found) =
            found.filter(|found| now_ms().saturating_sub(found.accepted_at) < self.window())
        else {
            return Ok(None);
        };
        match self.message_parts(client, found.id) {
            Ok(parts) => Ok(Some(parts)),
            // Purged meanwhile: nothing to send twice.
            Err(e) if e.status() == StatusCode::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `[http_api] idempotency_window`, in ms.
    fn window(&self) -> i64 {
        i64::try_from(self.config().http_api.idempotency_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Checks and stores one message (at its turn in a paced batch, `pace`), with its answer
    /// under `key` in the same commit; the answer's JSON.
    async fn send(
        &self,
        system_id: &str,
        new: &NewMessage,
        pace: Option<Pace>,
        key: Option<&str>,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, ApiError> {
        let config = self.config();
        let client = config
            .client(system_id)
            .ok_or_else(|| ApiError::internal("client gone"))?;
        let parts = Parts::paced(new, pace)?;
        let submissions = parts.submissions();
        let at = parts.schedule_at;
        let (stored, answer) = self
            .esme
            .submit_parts(client, &submissions, at, key, |messages, opt_outs| {
                let accepted = accepted(&config, messages, opt_outs, &parts);
                Recorded {
                    request,
                    status: StatusCode::ACCEPTED.as_u16(),
                    body: serde_json::to_vec(&accepted).unwrap_or_default(),
                    at: now_ms(),
                }
            })
            .await
            .map_err(|status| ApiError::refused(&config, status))?;
        if self.abort_after_commit {
            tracing::error!(
                "SMPPD_FAULT: aborting after an HTTP submit's commit, before its answer"
            );
            std::process::abort();
        }
        if !parts.replaced.is_empty() {
            crate::telemetry::transliterated(system_id, 1);
        }
        tracing::debug!(client = %system_id, id = %stored[0].id, "accepted over HTTP");
        Ok(answer.body)
    }

    /// The answer body kept for `key` within the window, for the same request; 422 for
    /// another.
    pub(super) fn kept(
        &self,
        client: &str,
        key: &str,
        request: &[u8],
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let kept = self
            .store
            .idempotent(client, key)
            .map_err(|e| ApiError::internal(format!("cannot read the idempotency keys: {e}")))?;
        let window = self.window();
        let Some(kept) = kept.filter(|kept| now_ms().saturating_sub(kept.at) < window) else {
            return Ok(None);
        };
        if kept.request != request {
            return Err(
                ApiError::invalid("this Idempotency-Key was used for another request")
                    .coded("idempotency_key_reused"),
            );
        }
        Ok(Some(kept.body))
    }
}

impl HttpApi {
    /// The answer kept for `key`, if within the window: replayed for the same request, 422
    /// for another.
    fn replay(
        &self,
        client: &str,
        key: &str,
        request: &[u8],
    ) -> Result<Option<Response>, ApiError> {
        let kept = self.kept(client, key, request)?;
        Ok(kept.map(|body| json_answer(StatusCode::ACCEPTED, body, true)))
    }
}

impl HttpApi {
    /// Runs `change`, which is idempotent itself (a cancel: done twice, it changes nothing
    /// more), under the request's `Idempotency-Key` if it has one: a retry within the window
    /// gets the first answer again, another request with the key 422, a concurrent one 409.
    /// The answer is kept after the change, not in its commit: a crash in between leaves a
    /// retry to do it again, which finds it done.
    pub(super) async fn idempotent_change(
        &self,
        headers: &HeaderMap,
        client: &str,
        method: &str,
        path: &str,
        change: impl std::future::Future<Output = Result<Vec<u8>, ApiError>>,
    ) -> Result<Response, ApiError> {
        let key = idempotency_key(headers)?;
        let request = idempotency::fingerprint(method, path, b"");
        let _held = self.hold(client, key.as_deref())?;
        if let Some(key) = &key {
            if let Some(kept) = self.kept(client, key, &request)? {
                return Ok(json_answer(StatusCode::OK, kept, true));
            }
        }
        let body = change.await?;
        if let Some(key) = &key {
            let recorded = Recorded {
                request,
                status: StatusCode::OK.as_u16(),
                body: body.clone(),
                at: now_ms(),
            };
            let kept = self
                .store
                .accept_idempotent(Vec::new(), client, key, &recorded);
            if let Err(e) = kept.await {
                tracing::warn!(%client, error = %e, "cannot keep the answer of {method} {path}");
            }
        }
        Ok(json_answer(StatusCode::OK, body, false))
    }
}

pub(super) fn json_answer(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The `Idempotency-Key` header, if any: 1–255 of `[A-Za-z0-9_:-]`.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if idempotency::valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::bad_request(
            "Idempotency-Key must be 1–255 of A-Z a-z 0-9 _ : -",
        )),
    }
}

#[derive(Clone, Debug, Serialize)]
pub(super) struct Replaced {
    from: String,
    to: &'static str,
    count: usize,
}

/// A message as SMPP parts, with what the answer reports.
pub(super) struct Parts {
    source: Address,
    destination: Address,
    pub(super) encoding: Encoding,
    /// The text as written, as smppd would send it untransliterated.
    pub(super) before: Plan,
    pub(super) replaced: Vec<Replaced>,
    short_messages: Vec<(bool, Vec<u8>)>,
    tlvs: Tlvs,
    schedule: Vec<u8>,
    validity: Vec<u8>,
    /// When it may leave as asked, unix ms: the client's `schedule_at`, or its turn in a
    /// paced batch.
    pub(super) schedule_at: Option<i64>,
}

/// References of long messages: any value will do as long as two at once differ.
static REFERENCE: AtomicU16 = AtomicU16::new(0);

impl Parts {
    /// The message a body asks for, checked: what every send and preview does first.
    pub(super) fn of(new: &NewMessage) -> Result<Self, ApiError> {
        Self::paced(new, None)
    }

    /// [`Self::of`], at its turn in a paced batch: it leaves `pace.offset` ms after the
    /// batch's start, or after its own `schedule_at` if that is later; its `validity` counts
    /// from then.
    fn paced(new: &NewMessage, pace: Option<Pace>) -> Result<Self, ApiError> {
        let destination = destination(&new.to)?;
        let source = source(&new.from)?;
        if new.text.is_empty() {
            return Err(ApiError::invalid("`text` is empty"));
        }
        let mode = match new.transliterate.as_deref() {
            None | Some("auto") => Mode::Auto,
            Some("off") => Mode::Off,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "`transliterate` {other:?}: expected auto or off"
                )))
            }
        };
        let transliterated = transliterate(&new.text, mode);
        let text = &transliterated.text;
        let encoding = if coding::gsm7_fits(text) {
            Encoding::Gsm7
        } else {
            Encoding::Ucs2
        };
        let reference = REFERENCE.fetch_add(1, Ordering::Relaxed) % 256;
        let segments = concat::split(text, encoding, ConcatMethod::Udh8, reference)
            .map_err(|e| ApiError::invalid(format!("`text`: {e}")))?;
        let most = new.max_segments.unwrap_or(MAX_SEGMENTS);
        if !(1..=MOST_SEGMENTS).contains(&most) {
            return Err(ApiError::invalid(format!(
                "`max_segments` {most}: expected 1 to {MOST_SEGMENTS}"
            )));
        }
        if segments.len() > most {
            return Err(ApiError::invalid(format!(
                "`text` takes {} SMS, more than max_segments ({most})",
                segments.len()
            ))
            .coded("too_many_segments"));
        }
        let short_messages = segments
            .iter()
            .map(|s| (s.needs_udhi(), s.short_message.to_vec()))
            .collect();
        let asked = new.schedule_at.as_deref().map(schedule).transpose()?;
        let schedule_at = match pace {
            None => asked,
            Some(pace) => {
                let start = asked.map_or(pace.start, |asked| asked.max(pace.start));
                Some(start.saturating_add(pace.offset))
            }
        };
        let validity = new
            .validity
            .as_deref()
            .map(|v| {
                humantime::parse_duration(v)
                    .map_err(|e| ApiError::invalid(format!("`validity` {v:?}: {e}")))
            })
            .transpose()?;
        let expire_at = validity.map(|v| {
            let from = schedule_at.unwrap_or_else(now_ms);
            from.saturating_add(i64::try_from(v.as_millis()).unwrap_or(i64::MAX))
        });
        Ok(Self {
            source,
            destination,
            encoding,
            before: transliterated.before,
            replaced: transliterated
                .replaced
                .iter()
                .map(|r| Replaced {
                    from: r.from.to_string(),
                    to: r.to,
                    count: r.count,
                })
                .collect(),
            short_messages,
            tlvs: labels(new)?,
            schedule: smpp_time(schedule_at)?,
            validity: smpp_time(expire_at)?,
            schedule_at,
        })
    }

    /// Each part as a bound client would have submitted it; no receipt to an SMPP outbox.
    pub(super) fn submissions(&self) -> Vec<Submission<'_>> {
        self.short_messages
            .iter()
            .map(|(udhi, short_message)| Submission {
                service_type: String::new(),
                source: self.source.clone(),
                destination: self.destination.clone(),
                esm_class: if *udhi { esm_class::UDHI } else { 0 },
                protocol_id: 0,
                priority_flag: 0,
                schedule_delivery_time: &self.schedule,
                validity_period: &self.validity,
                registered_delivery: 0,
                replace_if_present_flag: 0,
                data_coding: self.encoding.data_coding(),
                sm_default_msg_id: 0,
                short_message,
                tlvs: &self.tlvs,
            })
            .collect()
    }
}

/// smppd's vendor TLVs for what the body says of the message (`class.rs` reads them).
fn labels(new: &NewMessage) -> Result<Tlvs, ApiError> {
    let mut tlvs = Tlvs::new();
    let mut push = |tag: u16, value: Vec<u8>, field: &str| {
        let tlv = Tlv::from_raw(Tag(tag), Bytes::from(value))
            .map_err(|e| ApiError::invalid(format!("`{field}`: {e}")))?;
        tlvs.push(tlv);
        Ok::<(), ApiError>(())
    };
    if let Some(class) = &new.class {
        let class: Class = class
            .parse()
            .map_err(|e: String| ApiError::invalid(format!("`class`: {e}")))?;
        push(0x1500, vec![u8::from(class == Class::Marketing)], "class")?;
    }
    if let Some(campaign) = &new.campaign {
        push(0x1501, campaign.as_bytes().to_vec(), "campaign")?;
    }
    if let Some(client_ref) = &new.client_ref {
        push(0x1502, client_ref.as_bytes().to_vec(), "client_ref")?;
    }
    if !new.tags.is_empty() {
        if new.tags.iter().any(|t| t.contains(',')) {
            return Err(ApiError::invalid("`tags`: a tag may not hold a comma"));
        }
        push(0x1503, new.tags.join(",").into_bytes(), "tags")?;
    }
    Ok(tlvs)
}

fn numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `+` and digits: international (TON 1); a leading 0: national (TON 2).
fn destination(to: &str) -> Result<Address, ApiError> {
    let to = to.trim();
    let bad = || {
        ApiError::invalid(format!("`to` {to:?} is not a phone number")).coded("invalid_destination")
    };
    let (ton, digits) = match to.strip_prefix('+') {
        Some(digits) => (1, digits),
        None if to.starts_with('0') => (2, to),
        None => (1, to),
    };
    if !numeric(digits) || digits.len() > 20 {
        return Err(bad());
    }
    Ok(Address {
        ton,
        npi: 1,
        addr: digits.to_owned(),
    })
}

/// A number (TON 1), a short code of up to 8 digits (TON 3) or a name (TON 5).
fn source(from: &str) -> Result<Address, ApiError> {
    let from = from.trim();
    let (ton, npi, addr) = match from.strip_prefix('+') {
        Some(digits) if numeric(digits) => (1, 1, digits),
        _ if numeric(from) && from.len() <= 8 => (3, 0, from),
        _ if numeric(from) => (1, 1, from),
        _ => (5, 0, from),
    };
    if addr.is_empty()
        || addr.len() > 20
        || !addr.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(
            ApiError::invalid(format!("`from` {from:?} is not a sender")).coded("invalid_source"),
        );
    }
    Ok(Address {
        ton,
        npi,
        addr: addr.to_owned(),
    })
}

/// RFC 3339 with an offset, to unix ms.
fn schedule(text: &str) -> Result<i64, ApiError> {
    let at: jiff::Timestamp = text.parse().map_err(|_| {
        ApiError::invalid(format!(
            "`schedule_at` {text:?} is not an RFC 3339 time with an offset \
             (2026-12-07T08:00:00+01:00); a time without one is ambiguous"
        ))
        .coded("invalid_schedule")
    })?;
    Ok(at.as_millisecond())
}

/// An SMPP absolute time in UTC, or empty.
fn smpp_time(at: Option<i64>) -> Result<Vec<u8>, ApiError> {
    let Some(at) = at else {
        return Ok(Vec::new());
    };
    // Schedules in the past send now: SMPP has no earlier than now either.
    let time = SmppTime::from_utc_epoch(at.div_euclid(1000).max(0))
        .ok_or_else(|| ApiError::invalid("a time out of range"))?;
    Ok(time.to_bytes().to_vec())
}

/// The answer for the messages as stored.
fn accepted(
    config: &Config,
    messages: &[Message],
    opt_outs: &[Option<crate::consent::ConsentEvent>],
    parts: &Parts,
) -> Accepted {
    let first = &messages[0];
    let segments: u32 = messages.iter().map(Message::segments).sum();
    let send_at = send_at(first);
    let state = if opt_outs.iter().any(Option::is_some) {
        "suppressed"
    } else {
        waiting(send_at, parts.schedule_at)
    };
    Accepted {
        id: first.id.to_string(),
        parts: messages.iter().map(|m| m.id.to_string()).collect(),
        segments: usize::try_from(segments).unwrap_or(usize::MAX),
        replaced: parts.replaced.clone(),
        cost: cost(config, first, segments),
        encoding: encoding_name(parts.encoding),
        class: first.class.name(),
        state,
        send_at: send_at.and_then(rfc3339),
    }
}

/// The estimated cost of `segments` SMS to `first`'s destination (`[[prices]]`), if priced.
pub(super) fn cost(config: &Config, first: &Message, segments: u32) -> Option<crate::price::Money> {
    // Priced by the number in E.164: a national form takes the default country's prices.
    let number = numbering::e164(&config.numbering, &first.destination)
        .unwrap_or_else(|| first.destination.addr.clone());
    config.prices.cost(&number, segments)
}

/// When a message stored so may leave, if not at once (unix ms).
pub(super) fn send_at(first: &Message) -> Option<i64> {
    first.schedule_at.filter(|at| *at > now_ms())
}

/// How a message that goes waits: `queued` (it leaves now), `scheduled` (at the client's
/// `schedule_at`) or `deferred` (later, held for a sending window).
pub(super) fn waiting(send_at: Option<i64>, requested_at: Option<i64>) -> &'static str {
    match (send_at, requested_at) {
        (None, _) => "queued",
        (Some(at), Some(requested)) if at <= requested => "scheduled",
        (Some(_), _) => "deferred",
    }
}

pub(super) fn encoding_name(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Gsm7 => "gsm7",
        Encoding::Latin1 => "latin1",
        Encoding::Ucs2 => "ucs2",
    }
}

pub(super) fn rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_string())
}

/// A message as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct Shown {
    id: String,
    /// One for the whole message: `delivered` only when every part is; `failed`, `expired`,
    /// `rejected` or `cancelled` when a part ended so; else `scheduled` or `pending`.
    status: &'static str,
    to: String,
    from: String,
    class: &'static str,
    campaign: Option<String>,
    client_ref: Option<String>,
    tags: Vec<String>,
    submitted_at: Option<String>,
    parts: Vec<ShownPart>,
}

#[derive(Debug, Serialize)]
struct ShownPart {
    id: String,
    state: &'static str,
    updated_at: Option<String>,
    /// Why it ended so, when it ended.
    detail: Option<String>,
    /// The carrier link that took it and the id it gave, once one did.
    carrier: Option<ShownCarrier>,
    /// Every change, oldest first: the carrier's receipt among them.
    history: Vec<ShownEvent>,
}

#[derive(Debug, Serialize)]
struct ShownCarrier {
    link: String,
    id: String,
}

#[derive(Debug, Serialize)]
struct ShownEvent {
    at: Option<String>,
    state: &'static str,
    detail: String,
}

pub(super) async fn show(
    Shared(api): Shared<Arc<HttpApi>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, parts) = api.parts_for(&headers, id).await?;
    Ok((StatusCode::OK, axum::Json(shown(&parts))).into_response())
}

/// `GET /api/v1/messages?client_ref=…`: the message the client last sent with that
/// reference, as `GET /api/v1/messages/{id}` shows it.
pub(super) async fn show_by_ref(
    Shared(api): Shared<Arc<HttpApi>>,
    query: Result<Query<ByRef>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, parts) = api.parts_by_ref(&headers, query).await?;
    Ok((StatusCode::OK, axum::Json(shown(&parts))).into_response())
}

/// The query of `GET` and `DELETE /api/v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ByRef {
    client_ref: Option<String>,
}

/// Cancels the message while every part still waits (an abandoned-cart reminder once the
/// order is placed): each part ends DELETED. 409 once a part has left or ended; a message
/// already cancelled answers as it is, so a retry is harmless. A part whose submit is on
/// its way to the carrier at that very moment may still reach it, as with cancel_sm.
pub(super) async fn cancel(
    Shared(api): Shared<Arc<HttpApi>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (system_id, parts) = api.parts_for(&headers, id).await?;
    let path = format!("/api/v1/messages/{}", parts[0].id);
    let cancel = async {
        let cancelled = api.cancel_parts(parts, CANCELLED).await?;
        tracing::info!(client = %system_id, id = %cancelled[0].id, "cancelled over HTTP");
        to_json(&shown(&cancelled))
    };
    api.idempotent_change(&headers, &system_id, "DELETE", &path, cancel)
        .await
}

/// A JSON body.
pub(super) fn to_json(answer: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(answer)
        .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))
}

/// The history line of a message cancelled with DELETE.
const CANCELLED: &str = "cancelled by its client (HTTP API)";

/// `DELETE /api/v1/messages?client_ref=…`: [`cancel`] of the message the client last sent
/// with that reference.
pub(super) async fn cancel_by_ref(
    Shared(api): Shared<Arc<HttpApi>>,
    query: Result<Query<ByRef>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (system_id, parts) = api.parts_by_ref(&headers, query).await?;
    let client_ref = parts[0].labels.client_ref.clone().unwrap_or_default();
    let path = format!("/api/v1/messages?client_ref={client_ref}");
    let cancel = async {
        let cancelled = api.cancel_parts(parts, CANCELLED).await?;
        tracing::info!(client = %system_id, id = %cancelled[0].id, "cancelled over HTTP");
        to_json(&shown(&cancelled))
    };
    api.idempotent_change(&headers, &system_id, "DELETE", &path, cancel)
        .await
}

impl HttpApi {
    /// Ends every part of a message DELETED while all still wait in their queue, each with
    /// `detail` in its history and the receipt asked for (`EsmeService::cancel_queued`); the
    /// parts as they end. A message already cancelled is answered as it is; 409
    /// `already_sent` once a part has left or ended.
    pub(super) async fn cancel_parts(
        &self,
        parts: Vec<Message>,
        detail: &str,
    ) -> Result<Vec<Message>, ApiError> {
        if parts.iter().all(|p| p.state == State::Deleted) {
            return Ok(parts);
        }
        if let Some(gone) = parts.iter().find(|p| p.state != State::Queued) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_sent",
                format!(
                    "part {} is {}: the message can no longer be cancelled",
                    gone.id,
                    gone.state.name()
                ),
            ));
        }
        let mut cancelled = Vec::with_capacity(parts.len());
        for part in parts {
            let ended = self.esme.cancel_queued(part.id, detail).await;
            match ended {
                Ok(message) => cancelled.push(message),
                Err(e) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "already_sent",
                        format!("part {} could not be cancelled: {e}", part.id),
                    ))
                }
            }
        }
        Ok(cancelled)
    }
}

impl HttpApi {
    /// The authenticated client and the parts of the message its request names.
    async fn parts_for(
        &self,
        headers: &HeaderMap,
        id: Result<Path<String>, PathRejection>,
    ) -> Result<(String, Vec<Message>), ApiError> {
        let system_id = self.authenticate(headers).await?;
        // An id that does not even decode (not UTF-8) names no message.
        let Path(id) = id.map_err(|_| ApiError::not_found())?;
        let parts = match (self.parts(&system_id, &id), self.esme.handoff()) {
            // Cluster mode: a message another node ended, as the engine keeps it.
            (Err(e), Some(handoff)) if e.status() == StatusCode::NOT_FOUND => {
                let id: MessageId = id.parse().map_err(|_| ApiError::not_found())?;
                ended_parts(handoff.as_ref(), &system_id, id).await?
            }
            (parts, _) => parts?,
        };
        Ok((system_id, parts))
    }

    /// The authenticated client and the parts of the message its `?client_ref=` names: the
    /// one it last sent with it. 400 for no reference or an empty one.
    async fn parts_by_ref(
        &self,
        headers: &HeaderMap,
        query: Result<Query<ByRef>, QueryRejection>,
    ) -> Result<(String, Vec<Message>), ApiError> {
        let system_id = self.authenticate(headers).await?;
        let Query(query) =
            query.map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))?;
        let client_ref = match query.client_ref {
            None => {
                return Err(ApiError::bad_request(
                    "`client_ref` is required: ?client_ref=…",
                ))
            }
            Some(client_ref) if client_ref.is_empty() => {
                return Err(ApiError::bad_request("`client_ref` is empty"))
            }
            Some(client_ref) => client_ref,
        };
        let found = self
            .store
            .client_ref(&system_id, &client_ref)
            .map_err(|e| ApiError::internal(format!("cannot read the client refs: {e}")))?
            .ok_or_else(ApiError::not_found)?;
        let parts = self.message_parts(&system_id, found.id)?;
        Ok((system_id, parts))
    }

    /// Every part of the message one of whose ids is `id`, if it is `client`'s (another
    /// client's message is as good as none).
    fn parts(&self, client: &str, id: &str) -> Result<Vec<Message>, ApiError> {
        let id: MessageId = id.parse().map_err(|_| ApiError::not_found())?;
        self.message_parts(client, id)
    }

    /// [`Self::parts`] by a parsed id.
    pub(super) fn message_parts(
        &self,
        client: &str,
        id: MessageId,
    ) -> Result<Vec<Message>, ApiError> {
        let read = |id| {
            self.store
                .message(id)
                .map_err(|e| ApiError::internal(format!("cannot read the message: {e}")))
        };
        let message = read(id)?
            .filter(|m| m.client == client)
            .ok_or_else(ApiError::not_found)?;
        let Some(ids) = part_ids(&message) else {
            return Ok(vec![message]);
        };
        let mut parts = Vec::new();
        for id in ids {
            parts.extend(read(id)?.filter(|m| m.client == client));
        }
        Ok(parts)
    }
}

pub(super) fn shown(parts: &[Message]) -> Shown {
    let head = &parts[0];
    let now = now_ms();
    let all = |f: fn(State) -> bool| parts.iter().all(|p| f(p.state));
    let any = |s: State| parts.iter().any(|p| p.state == s);
    let status = if all(|s| s == State::Delivered) {
        "delivered"
    } else if all(State::is_final) {
        if any(State::Expired) {
            "expired"
        } else if any(State::Rejected) {
            "rejected"
        } else if any(State::Deleted) {
            "cancelled"
        } else {
            "failed"
        }
    } else if parts
        .iter()
        .any(|p| p.state == State::Queued && p.schedule_at.is_some_and(|at| at > now))
    {
        "scheduled"
    } else {
        "pending"
    };
    Shown {
        id: head.id.to_string(),
        status,
        to: head.destination.addr.clone(),
        from: head.source.addr.clone(),
        class: head.class.name(),
        campaign: head.labels.campaign.clone(),
        client_ref: head.labels.client_ref.clone(),
        tags: head.labels.tags.clone(),
        submitted_at: rfc3339(head.received_at),
        parts: parts
            .iter()
            .map(|p| {
                let last = p.history.last();
                ShownPart {
                    id: p.id.to_string(),
                    state: p.state.name(),
                    updated_at: last.and_then(|e| rfc3339(e.at)),
                    detail: last
                        .filter(|_| p.state.is_final())
                        .map(|e| e.detail.clone())
                        .filter(|d| !d.is_empty()),
                    carrier: p.carrier.as_ref().map(|c| ShownCarrier {
                        link: c.link.clone(),
                        id: c.carrier_id.clone(),
                    }),
                    history: p
                        .history
                        .iter()
                        .map(|e| ShownEvent {
                            at: rfc3339(e.at),
                            state: e.state.name(),
                            detail: e.detail.clone(),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

/// The ids of every part of the long message `message` is a part of; `None` for a message of
/// one part. Parts of one message have consecutive ids (`EsmeService::prepare`).
fn part_ids(message: &Message) -> Option<impl Iterator<Item = MessageId>> {
    let part = message.part()?;
    let first = message
        .id
        .as_u64()
        .saturating_sub(u64::from(part.seqnum()).saturating_sub(1));
    Some((0..u64::from(part.total())).map(move |n| MessageId::new(first + n)))
}

/// [`HttpApi::message_parts`] of a message that ended on another node of a cluster, from the
/// final states the engine keeps (every part ended; a part not final yet is left out).
async fn ended_parts(
    handoff: &dyn crate::handoff::Handoff,
    client: &str,
    id: MessageId,
) -> Result<Vec<Message>, ApiError> {
    let read = |id| async move {
        handoff
            .message(id)
            .await
            .map_err(|e| ApiError::internal(format!("cannot read the message: {e}")))
    };
    let message = read(id)
        .await?
        .filter(|m| m.client == client)
        .ok_or_else(ApiError::not_found)?;
    let Some(ids) = part_ids(&message) else {
        return Ok(vec![message]);
    };
    let mut parts = Vec::new();
    for id in ids {
        parts.extend(read(id).await?.filter(|m| m.client == client));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_send_rate_is_a_whole_number_of_messages_per_second_in_range() {
        assert_eq!(send_rate(None).unwrap(), None);
        assert_eq!(send_rate(Some(&json!(1))).unwrap(), Some(1));
        assert_eq!(send_rate(Some(&json!(10_000))).unwrap(), Some(10_000));
        for bad in [json!(0), json!(-5), json!(10_001), json!(2.5)] {
            let e = send_rate(Some(&bad)).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(e.body()["message"].as_str().unwrap().contains("send_rate"));
        }
        let e = send_rate(Some(&json!("10/s"))).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.body()["message"].as_str().unwrap().contains("send_rate"));
    }

    #[test]
    fn a_paced_message_leaves_at_its_turn_after_the_later_of_the_start_and_its_own_time() {
        let new = |schedule_at: Option<&str>| NewMessage {
            to: "+33612345678".into(),
            from: "MABOUTIQUE".into(),
            text: "Soldes".into(),
            class: None,
            campaign: None,
            client_ref: None,
            tags: Vec::new(),
            schedule_at: schedule_at.map(str::to_owned),
            validity: Some("1h".into()),
            max_segments: None,
            transliterate: None,
        };
        // 2026-12-07T08:00:00Z and an hour later.
        let start = 1_796_630_400_000;
        let later = "2026-12-07T09:00:00+00:00";
        let pace = Pace::of(start, 25, 10);
        assert_eq!(pace.offset, 2_500);
        let paced = Parts::paced(&new(None), Some(pace)).unwrap();
        assert_eq!(paced.schedule_at, Some(start + 2_500));
        let own = Parts::paced(&new(Some(later)), Some(pace)).unwrap();
        assert_eq!(own.schedule_at, Some(start + 3_600_000 + 2_500));
        // An own time before the start counts from the start.
        let past = Parts::paced(&new(Some("2026-12-07T07:00:00Z")), Some(pace)).unwrap();
        assert_eq!(past.schedule_at, Some(start + 2_500));
        assert_eq!(Parts::of(&new(None)).unwrap().schedule_at, None);
        // Three messages at 3 a second: a third of a second apart, to the millisecond.
        let offsets: Vec<i64> = (0..4).map(|turn| Pace::of(0, turn, 3).offset).collect();
        assert_eq!(offsets, [0, 333, 666, 1_000]);
    }
}
