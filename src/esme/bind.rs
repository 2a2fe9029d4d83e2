//! Bind authentication: which account, from where, with which bind type and password, and
//! how many binds it already has.

use crate::config::{ClientConfig, Config, Password};
use crate::session::BindKind;
use smpp_proto::pdu::Bind;
use smpp_proto::CommandStatus;
use std::net::IpAddr;

/// argon2 verifications at once: each takes about 19 MiB and a core for a while, so a flood of
/// wrong binds must queue rather than take the memory and CPU of the gateway.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Checks a bind request against the accounts. On success, the account. The peer's address is
/// checked before the password, so that a network the account may not bind from learns nothing
/// about the password. The password check runs in constant time for plain passwords; argon2
/// hashes are verified on a blocking thread, a few at a time. (The caller answers every failure
/// after the same delay, so its timing tells nothing either.)
pub(crate) async fn authenticate<'c>(
    config: &'c Config,
    bind: &Bind,
    kind: BindKind,
    peer: IpAddr,
) -> Result<&'c ClientConfig, CommandStatus> {
    let system_id = bind.system_id.to_string_lossy();
    let Some(client) = config.client(&system_id) else {
        // Still spend the time a password check would, so unknown ids are not told apart: the
        // cost of an argon2 check, if any account has an argon2 hash (against that hash, with
        // a guess that cannot match it: the id is unknown whatever the password).
        let hashed = config
            .clients
            .iter()
            .find(|c| matches!(c.password, Password::Argon2(_)));
        let _ = match hashed {
            Some(hashed) => password_matches(&hashed.password, bind.password.as_bytes()).await,
            None => constant_time_eq(bind.password.as_bytes(), b"--------"),
        };
        return Err(CommandStatus::ESME_RINVSYSID);
    };
    if !client.allowed_ips.is_empty() && !client.allowed_ips.iter().any(|n| n.contains(peer)) {
        return Err(CommandStatus::ESME_RBINDFAIL);
    }
    if !password_matches(&client.password, bind.password.as_bytes()).await {
        return Err(CommandStatus::ESME_RINVPASWD);
    }
    let allowed = match kind {
        BindKind::Transmitter => client.bind_types.transmitter,
        BindKind::Receiver => client.bind_types.receiver,
        BindKind::Transceiver => client.bind_types.transceiver,
    };
    if !allowed {
        return Err(CommandStatus::ESME_RBINDFAIL);
    }
    Ok(client)
}

async fn password_matches(expected: &Password, given: &[u8]) -> bool {
    match expected {
        Password::Plain(plain) => constant_time_eq(plain.as_bytes(), given),
        Password::Argon2(phc) => {
            let phc = phc.clone();
            let given = given.to_vec();
            // Closed never: the semaphore is static. Without a permit, refuse rather than wait.
            let Ok(_permit) = ARGON2_SLOTS.acquire().await else {
                return false;
            };
            // argon2 is deliberately slow: keep it off the runtime's workers.
            tokio::task::spawn_blocking(move || {
                use argon2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(&phc)
                    .map(|hash| {
                        argon2::Argon2::default()
                            .verify_password(&given, &hash)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        }
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret1"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
