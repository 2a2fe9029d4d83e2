//! Bind authentication: which account, from where, with which bind type and password, and
//! how many binds it already has.

use crate::config::{ClientConfig, Config, Password};
use crate::session::BindKind;
use smpp_proto::pdu::Bind;
use smpp_proto::CommandStatus;
use std::net::IpAddr;

/// Checks a bind request against the accounts. On success, the account. The password check
/// runs in constant time for plain passwords; argon2 hashes are verified on a blocking thread.
pub(crate) async fn authenticate<'c>(
    config: &'c Config,
    bind: &Bind,
    kind: BindKind,
    peer: IpAddr,
) -> Result<&'c ClientConfig, CommandStatus> {
    let system_id = bind.system_id.to_string_lossy();
    let Some(client) = config.client(&system_id) else {
        // Still spend the time a password check would, so unknown ids are not told apart.
        let _ = constant_time_eq(bind.password.as_bytes(), b"--------");
        return Err(CommandStatus::ESME_RINVSYSID);
    };
    if !password_matches(&client.password, bind.password.as_bytes()).await {
        return Err(CommandStatus::ESME_RINVPASWD);
    }
    if !client.allowed_ips.is_empty() && !client.allowed_ips.iter().any(|n| n.contains(peer)) {
        return Err(CommandStatus::ESME_RBINDFAIL);
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
