//! The gateway's admin API over HTTP (`ureq`, blocking): from async tests on a blocking
//! thread, and blocking for benchmarks.

use std::net::SocketAddr;
use std::time::Duration;

/// An admin API request (`body`, if any, is JSON) with an optional bearer token: the HTTP
/// status and the JSON answer (`Value::Null` if it was not JSON).
pub async fn api(
    admin: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let request = Request {
        method: method.to_owned(),
        token: token.map(str::to_owned),
        body,
        ..Request::get(admin, path)
    };
    tokio::task::spawn_blocking(move || request.send())
        .await
        .unwrap()
}

/// One request to the admin API, sent blocking (`ureq`).
struct Request {
    url: String,
    method: String,
    token: Option<String>,
    body: Option<serde_json::Value>,
}

impl Request {
    /// `GET path`, without a token.
    fn get(admin: SocketAddr, path: &str) -> Self {
        Self {
            url: format!("http://{admin}{path}"),
            method: "GET".to_owned(),
            token: None,
            body: None,
        }
    }

    /// The HTTP status and the JSON answer (`Value::Null` if it was not JSON).
    fn send(self) -> (u16, serde_json::Value) {
        let Self {
            url,
            method,
            token,
            body,
        } = self;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = token.map(|t| format!("Bearer {t}"));
        let sent = match method.as_str() {
            "GET" => {
                let mut request = agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            "POST" | "PUT" => {
                let mut request = if method == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                match body {
                    Some(body) => request.send_json(body),
                    None => request.send_empty(),
                }
            }
            other => panic!("method {other}"),
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, json)
    }
}

/// `GET path` that must answer 200, blocking; its JSON.
pub fn get_ok_blocking(admin: SocketAddr, path: &str) -> serde_json::Value {
    let (status, json) = Request::get(admin, path).send();
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

/// `GET path` that must answer 200; its JSON.
pub async fn get_ok(admin: SocketAddr, path: &str) -> serde_json::Value {
    let (status, json) = api(admin, "GET", path, None, None).await;
    assert_eq!(status, 200, "GET {path}: {json}");
    json
}

/// `POST path` that must answer 200; its JSON.
pub async fn post_ok(
    admin: SocketAddr,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let (status, json) = api(admin, "POST", path, None, body).await;
    assert_eq!(status, 200, "POST {path}: {json}");
    json
}

/// `GET /metrics`: the value of `sample`, written as the exporter writes it (the name, then
/// its labels in braces if it has any), if it is there.
pub async fn metric_sample(admin: SocketAddr, sample: &str) -> Option<f64> {
    let url = format!("http://{admin}/metrics");
    let text = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    })
    .await
    .unwrap();
    let prefix = format!("{sample} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(|value| value.trim().parse().unwrap())
}

/// Waits (up to 10 s) until the admin API shows carrier link `name` up.
pub async fn wait_link_up(admin: SocketAddr, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let link = get_ok(admin, &format!("/api/links/{name}")).await;
        if link["state"] == "up" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "link {name} not up: {link}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
