//! The shops' HTTP API over a real socket (`ureq`, blocking, from async tests on a blocking
//! thread): Basic authentication, an optional `Idempotency-Key`, JSON in and out.

use std::net::SocketAddr;

/// An HTTP API answer.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub json: serde_json::Value,
    /// The `Idempotent-Replayed` header was there.
    pub replayed: bool,
}

/// A request to the HTTP API as `user`:`key`; `Err` if no answer came (connection refused
/// or closed: the gateway is down).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    credentials: (&str, &str),
    idempotency_key: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<HttpAnswer, String> {
    use base64::Engine;
    let url = format!("http://{addr}{path}");
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", credentials.0, credentials.1))
    );
    let (method, key) = (method.to_owned(), idempotency_key.map(str::to_owned));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let sent = match method.as_str() {
            "GET" => agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => {
                let mut request = agent.delete(&url).header("Authorization", &auth);
                if let Some(key) = &key {
                    request = request.header("Idempotency-Key", key);
                }
                request.call()
            }
            "POST" => {
                let mut request = agent.post(&url).header("Authorization", &auth);
                if let Some(key) = &key {
                    request = request.header("Idempotency-Key", key);
                }
                let body = body.map(|b| b.to_string()).unwrap_or_default();
                request
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes())
            }
            other => panic!("method {other}"),
        };
        let mut response = sent.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Ok(HttpAnswer {
            status,
            json,
            replayed,
        })
    })
    .await
    .unwrap()
}

/// An argon2 PHC string of `key`, for `[[clients]] api_keys` (cheap parameters: tests make
/// many).
pub fn api_key_hash(key: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"smppd-test-salt!").unwrap();
    let params = argon2::Params::new(1024, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(key.as_bytes(), &salt)
        .unwrap()
        .to_string()
}
