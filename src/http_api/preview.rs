//! `POST /api/v1/preview`: what `POST /api/v1/messages` would do with the same body, with
//! nothing stored, nothing sent and no idempotency record (Jasmin's `/rate`, Infobip's
//! preview): the encoding and SMS count before and after transliteration, what was replaced,
//! the opt-out mention, the class and what decided it, whether the number opted out, when it
//! would leave after sending windows, and its cost.
//!
//! A body a send would refuse for what it says is refused the same, by the same checks
//! (`Parts::of`, then `EsmeService::preview_parts`: validation, class, sender rules, a
//! route). What depends on the moment (the client's throughput, a full queue or outbox, the
//! disk) is not checked, and what consent would do is reported rather than refused:
//! `refusal` says what a send would get.

use super::error::ApiError;
use super::messages::{self, NewMessage, Parts, Replaced};
use super::HttpApi;
use crate::consent;
use crate::message::{Class, Message};
use crate::price::Money;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// The answer.
#[derive(Debug, Serialize)]
struct Preview {
    /// As it would be sent: after transliteration.
    encoding: &'static str,
    segments: usize,
    /// The text as written, untransliterated.
    encoding_before: &'static str,
    segments_before: usize,
    replaced: Vec<Replaced>,
    class: &'static str,
    /// What decided the class: `tlv` (the body's `class`), `default_class`, `service_type`,
    /// `source`, `mention` (reclassified by its opt-out mention) or `default`.
    class_from: &'static str,
    /// The text carries an opt-out mention ("STOP au 36123", "STOP SMS"; of a long message,
    /// in its last part).
    opt_out_mention: bool,
    /// The number opted out of this client's messages (its list in `[consent] scope`).
    suppressed: bool,
    /// What a send would make of it: as `POST /api/v1/messages` answers (`queued`,
    /// `scheduled`, `deferred`, `suppressed`), or `expired` (its validity ends before its
    /// sending window opens); `null` when it would be refused.
    state: Option<&'static str>,
    /// The error a send would get from consent (`opted_out`, `missing_opt_out_mention`).
    refusal: Option<serde_json::Value>,
    /// When it would leave (RFC 3339, UTC), if not at once.
    send_at: Option<String>,
    cost: Option<Money>,
    /// What a person should look at before sending.
    warnings: Vec<String>,
}

pub(super) async fn preview(
    Shared(api): Shared<Arc<HttpApi>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let system_id = api.authenticate(&headers).await?;
    let body = body.map_err(messages::too_large)?;
    let new = NewMessage::parse(&body)?;
    let config = api.config();
    let client = config
        .client(&system_id)
        .ok_or_else(|| ApiError::internal("client gone"))?;
    let parts = Parts::of(&new)?;
    let preview = api
        .esme
        .preview_parts(client, &parts.submissions())
        .map_err(|status| ApiError::refused(&config, status))?;
    let (Some(first), Some(last)) = (preview.messages.first(), preview.messages.last()) else {
        return Err(ApiError::internal("a message of no parts"));
    };
    let segments: u32 = preview.messages.iter().map(Message::segments).sum();
    let send_at = messages::send_at(first).filter(|_| preview.too_late.is_none());
    let state = match preview.consent {
        Err(_) => None,
        Ok(true) => Some("suppressed"),
        Ok(false) if preview.too_late.is_some() => Some("expired"),
        Ok(false) => Some(messages::waiting(send_at, parts.schedule_at)),
    };
    let answer = Preview {
        encoding: messages::encoding_name(parts.encoding),
        segments: usize::try_from(segments).unwrap_or(usize::MAX),
        encoding_before: messages::encoding_name(parts.before.encoding),
        segments_before: parts.before.segments,
        replaced: parts.replaced.clone(),
        class: first.class.name(),
        class_from: first.class_from.name(),
        opt_out_mention: consent::has_mention(last),
        suppressed: preview.opt_out.is_some(),
        state,
        refusal: preview
            .consent
            .err()
            .map(|status| ApiError::refused(&config, status).body()),
        send_at: send_at.and_then(messages::rfc3339),
        cost: messages::cost(&config, first, segments),
        warnings: warnings(&preview, last),
    };
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// What a send would do that its sender may not expect.
fn warnings(preview: &crate::esme::Preview, last: &Message) -> Vec<String> {
    let mut warnings = Vec::new();
    if consent::lacks_mention(last) {
        warnings.push(
            "marketing without an opt-out mention (\"STOP au 36123\", \"STOP SMS\")".to_owned(),
        );
    }
    if last.class_from == crate::message::ClassFrom::Mention {
        warnings.push(
            "sent as marketing: its text carries an opt-out mention (reclassify_on_mention)"
                .to_owned(),
        );
    } else if last.class == Class::Transactional
        && preview.messages.iter().any(consent::has_mention)
    {
        warnings.push(
            "transactional with an opt-out mention, the mark of marketing: counted suspect"
                .to_owned(),
        );
    }
    if let Some(hold) = &preview.too_late {
        warnings.push(format!(
            "its validity ends before sending window {} opens: it would end expired",
            hold.window
        ));
    }
    warnings
}
