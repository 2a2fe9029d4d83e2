//! API keys: HTTP Basic authentication with the client's `system_id` as the user and one of
//! its API keys as the password (`curl -u shop:KEY`). The config keeps argon2 hashes of the
//! keys only (`[[clients]] api_keys`, from `smppctl hash-password`). Argon2 is slow on
//! purpose; a key once verified is remembered by its SHA-256 (in memory), so only a client's
//! first request, or a wrong key, pays for it. A key taken out of the config stops working at
//! once: the remembered hash must still be listed.

use super::error::ApiError;
use super::HttpApi;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;
use dashmap::DashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Verified keys by SHA-256 of `system_id:key`: the client and the hash that matched.
pub(super) struct Keys {
    verified: DashMap<Vec<u8>, (String, String)>,
    /// Argon2 takes ~19 MiB and a core for a while: a few at a time.
    argon2: Arc<Semaphore>,
}

/// Argon2 checks run at once at most.
const ARGON2_AT_ONCE: usize = 2;

impl Default for Keys {
    fn default() -> Self {
        Self {
            verified: DashMap::new(),
            argon2: Arc::new(Semaphore::new(ARGON2_AT_ONCE)),
        }
    }
}

impl HttpApi {
    /// The client a request's `Authorization` names and proves, or 401.
    pub(super) async fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let denied = || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "bad credentials");
        let (system_id, key) = basic(headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Basic authentication with the client's system_id and an API key required",
            )
        })?;
        let config = self.config();
        let client = config.client(&system_id).ok_or_else(denied)?;
        let fingerprint = crate::idempotency::fingerprint("", &system_id, key.as_bytes());
        if let Some(known) = self.keys.verified.get(&fingerprint) {
            if known.0 == system_id && client.api_keys.contains(&known.1) {
                return Ok(system_id);
            }
        }
        let hashes = client.api_keys.clone();
        let permit = Arc::clone(&self.keys.argon2)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("shutting down"))?;
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            hashes.into_iter().find(|phc| {
                PasswordHash::new(phc).is_ok_and(|hash| {
                    argon2::Argon2::default()
                        .verify_password(key.as_bytes(), &hash)
                        .is_ok()
                })
            })
        })
        .await
        .map_err(|_| ApiError::internal("key check failed"))?;
        let phc = matched.ok_or_else(denied)?;
        self.keys
            .verified
            .insert(fingerprint, (system_id.clone(), phc));
        Ok(system_id)
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_not() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            basic(&headers)
        };
        // "shop:k:ey" — the password may hold a colon.
        assert_eq!(
            with("Basic c2hvcDprOmV5"),
            Some(("shop".to_owned(), "k:ey".to_owned()))
        );
        assert_eq!(with("basic c2hvcDprOmV5").map(|c| c.0), Some("shop".into()));
        assert_eq!(with("Bearer c2hvcDprOmV5"), None);
        assert_eq!(with("Basic !!!"), None);
        assert_eq!(with("Basic c2hvcA=="), None, "no colon");
        assert_eq!(basic(&HeaderMap::new()), None);
    }
}
