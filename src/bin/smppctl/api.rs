//! The admin API over HTTP, for every smppctl command that talks to a gateway: the URL, the
//! token, and failures worded for people. An answer stays the JSON it was ([`Reply`]) until a
//! command reads it as one of the views of `smppd::admin::api`, the types the gateway wrote it
//! from.

use crate::cli::ApiArgs;
use anyhow::{anyhow, bail, Context};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smppd::admin::api::ErrorBody;
use std::time::Duration;

/// A client of one gateway's admin API.
pub(crate) struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A 2xx answer: its JSON, and where it came from (for errors).
pub(crate) struct Reply {
    /// What `--json` prints.
    pub(crate) json: Value,
    url: String,
}

impl Reply {
    /// The answer as the view the gateway wrote it from.
    pub(crate) fn view<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        T::deserialize(&self.json).with_context(|| {
            format!(
                "{} answered with JSON smppctl does not understand (is smppd the same version as \
                 smppctl?)",
                self.url
            )
        })
    }
}

impl Api {
    pub(crate) fn new(args: &ApiArgs) -> anyhow::Result<Self> {
        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the token file {}", path.display()))?;
                Some(text.lines().next().unwrap_or("").trim().to_owned())
            }
            (None, None) => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Ok(Self {
            base: args.admin.trim_end_matches('/').to_owned(),
            token,
            agent,
        })
    }

    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(url, request.call())
    }

    /// A POST without a body.
    pub(crate) fn post(&self, path: &str) -> anyhow::Result<Reply> {
        self.post_with(path, None::<&()>)
    }

    /// A POST with `body` as JSON (one of the request bodies of `smppd::admin::api`).
    pub(crate) fn post_json(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Reply> {
        self.post_with(path, Some(body))
    }

    /// A POST with `body` as it is (newline-delimited JSON, say).
    pub(crate) fn post_text(&self, path: &str, body: &str) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .agent
            .post(&url)
            .header("Content-Type", "application/x-ndjson");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(url, request.send(body))
    }

    /// A PUT with `body` as JSON.
    pub(crate) fn put_json(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.put(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        self.answer(url, request.send_json(body))
    }

    fn post_with(&self, path: &str, body: Option<&impl Serialize>) -> anyhow::Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.post(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some(body) => request.send_json(body),
            None => request.send_empty(),
        };
        self.answer(url, sent)
    }

    /// The JSON of a 2xx answer; otherwise the API's own error message.
    fn answer(
        &self,
        url: String,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Reply> {
        let mut response = sent.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.base))?;
        if status.is_success() {
            let json = serde_json::from_str(&text)
                .map_err(|_| anyhow!("{} answered with something not JSON", self.base))?;
            return Ok(Reply { json, url });
        }
        // An object only: serde would also read `["…"]` as an ErrorBody. Anything else (a
        // proxy's page, say) is shown as it came.
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .and_then(|body| ErrorBody::deserialize(body).ok())
            .map_or_else(|| text.trim().to_owned(), |body| body.error);
        bail!("{message} (HTTP {})", status.as_u16())
    }

    fn unreachable(&self, error: &ureq::Error) -> anyhow::Error {
        let refused = match error {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
            ureq::Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ),
            _ => false,
        };
        if refused {
            anyhow!(
                "cannot reach smppd's admin API at {}: {error}. Is smppd running, with [admin] \
                 enabled? (--admin URL or SMPPCTL_ADMIN point elsewhere)",
                self.base
            )
        } else {
            anyhow!("admin API at {}: {error}", self.base)
        }
    }
}

/// A name or id as one URL path segment.
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
