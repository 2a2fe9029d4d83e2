//! Error answers: a status and `{"error": code, "message": why}`, with a code a program can
//! branch on and a message a person can act on.

use crate::config::{Config, OnSuppressed, RequireMention};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use smpp_proto::CommandStatus;

#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The same error under a more precise code.
    pub(super) fn coded(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such message")
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// What a refused submit answers, by the SMPP status the same submit would get.
    pub(super) fn refused(config: &Config, status: CommandStatus) -> Self {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        if matches!(config.consent.on_suppressed, OnSuppressed::Refuse(s) if s == status) {
            return Self::new(
                unprocessable,
                "opted_out",
                "the number opted out of these messages",
            );
        }
        if matches!(config.consent.require_mention, RequireMention::Refuse(s) if s == status) {
            return Self::new(
                unprocessable,
                "missing_opt_out_mention",
                "marketing must say how to opt out (\"STOP au 36123\", \"STOP SMS\")",
            );
        }
        let (http, code, message) = match status {
            CommandStatus::ESME_RTHROTTLED => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "over the client's throughput; retry shortly",
            ),
            CommandStatus::ESME_RMSGQFUL => (
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                "a queue is full or the disk nearly is; retry later",
            ),
            CommandStatus::ESME_RINVDSTADR => (
                unprocessable,
                "invalid_destination",
                "`to` is not a number this gateway has a route for",
            ),
            CommandStatus::ESME_RINVSRCADR => (
                unprocessable,
                "invalid_source",
                "`from` is not allowed for this client, class or destination",
            ),
            CommandStatus::ESME_RINVSCHED => {
                (unprocessable, "invalid_schedule", "bad `schedule_at`")
            }
            CommandStatus::ESME_RINVEXPIRY => (
                unprocessable,
                "invalid_validity",
                "`validity` ends before the message could go",
            ),
            CommandStatus::ESME_RINVOPTPARAMVAL => (
                unprocessable,
                "invalid_label",
                "a bad `class`, `campaign`, `client_ref` or `tags`",
            ),
            CommandStatus::ESME_RSYSERR => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the gateway could not store the message; nothing was accepted",
            ),
            _ => (unprocessable, "refused", "refused"),
        };
        Self::new(http, code, format!("{message} ({status})"))
    }
}

impl ApiError {
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body it answers with.
    pub(super) fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.code, "message": self.message})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smppd\""),
            );
        }
        response
    }
}
