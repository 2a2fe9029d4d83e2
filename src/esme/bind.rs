//! Binds: authentication (which account, from where, with which bind type and password), the
//! account's max_binds, the hand-off of a receiving bind to its outbox, the live binds the
//! admin API lists, and their end: a closed session, or a client a reload removed.
//!
//! The `Service` impl in `mod.rs` calls `bind` and `unbound`; reload calls `unbind_removed`;
//! the admin API reads the live binds and borrows `constant_time_eq` for its token.

use super::EsmeService;
use crate::config::{ClientConfig, Config, Password};
use crate::session::{BindKind, Reply, SessionHandle, SessionInfo};
use smpp_proto::pdu::{Bind, BindResp};
use smpp_proto::{Body, CommandStatus, Pdu};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// argon2 verifications at once: each takes about 19 MiB and a core for a while, so a flood of
/// wrong binds must queue rather than take the memory and CPU of the gateway.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// One live bind of a client, as the admin API shows it.
#[derive(Clone, Debug)]
pub struct LiveBind {
    /// The session's id, unique in this process.
    pub session: u64,
    /// The account.
    pub system_id: String,
    /// The bind type.
    pub kind: BindKind,
    /// Where the client connects from.
    pub peer: SocketAddr,
    /// When it bound, unix ms.
    pub since: i64,
    /// Its session: live figures, unbind, close.
    pub handle: SessionHandle,
}

impl EsmeService {
    /// After a reload (new binds and submits see its clients, routes and caps already):
    /// unbinds the binds of clients it removed. Binds of other clients stay.
    pub fn unbind_removed(&self, removed_clients: &[String]) {
        for system_id in removed_clients {
            if let Some((_, binds)) = self.binds.remove(system_id) {
                for bind in binds {
                    tracing::info!(client = %system_id, session = bind.session, "client removed by reload; unbinding");
                    tokio::spawn(async move { bind.handle.unbind().await });
                }
            }
        }
    }

    /// How many binds `system_id` has now.
    pub fn bind_count(&self, system_id: &str) -> usize {
        self.binds.get(system_id).map_or(0, |b| b.len())
    }

    /// Every live bind, by client and then oldest first.
    pub fn binds(&self) -> Vec<LiveBind> {
        let mut all: Vec<LiveBind> = self
            .binds
            .iter()
            .flat_map(|binds| binds.value().clone())
            .collect();
        all.sort_by(|a, b| (&a.system_id, a.since).cmp(&(&b.system_id, b.since)));
        all
    }

    /// The live bind on session `session`.
    pub fn live_bind(&self, session: u64) -> Option<LiveBind> {
        self.binds
            .iter()
            .find_map(|binds| binds.iter().find(|b| b.session == session).cloned())
    }

    pub(super) async fn bind(&self, session: Arc<SessionInfo>, pdu: Pdu, kind: BindKind) -> Reply {
        let (Body::BindTransmitter(bind) | Body::BindReceiver(bind) | Body::BindTransceiver(bind)) =
            &pdu.body
        else {
            return Reply::Nothing;
        };
        let system_id = bind.system_id.to_string_lossy();
        let config = self.config();
        // Every refusal is answered this long after the bind came, however long the checks
        // took (an argon2 hash takes a while, an unknown id nothing): no timing oracle.
        let refuse_at = tokio::time::Instant::now() + config.server.session.bind_failure_delay;
        let verdict = authenticate(&config, bind, kind, session.peer.ip()).await;
        let verdict =
            verdict.and_then(|client| self.register(client, &session, kind).map(|()| client));
        match verdict {
            Ok(client) => {
                tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "bound");
                if kind.can_receive() {
                    self.outboxes.bind(
                        &client.system_id,
                        session.id,
                        session.handle.clone(),
                        client.window.get(),
                    );
                }
                let response = Pdu::new(
                    pdu.sequence_number,
                    resp_body(kind, BindResp::v34(self.our_system_id())),
                );
                Reply::Bound {
                    response,
                    system_id: client.system_id.clone(),
                    kind,
                    window: client.window.get(),
                }
            }
            Err(status) => {
                // Logged without the password; delayed against guessing; then the
                // connection closes so one connection cannot try again and again.
                tracing::warn!(client = %system_id, peer = %session.peer, %status, "bind refused");
                tokio::time::sleep_until(refuse_at).await;
                Reply::Close(pdu.response_with_status(status))
            }
        }
    }

    fn our_system_id(&self) -> smpp_proto::COctetString<16> {
        self.config()
            .server
            .system_id
            .as_str()
            .try_into()
            .unwrap_or_default()
    }

    /// Counts the bind against the account's max_binds, atomically.
    fn register(
        &self,
        client: &ClientConfig,
        session: &SessionInfo,
        kind: BindKind,
    ) -> Result<(), CommandStatus> {
        let mut binds = self.binds.entry(client.system_id.clone()).or_default();
        if binds.len() >= client.max_binds.get() as usize {
            return Err(CommandStatus::ESME_RBINDFAIL);
        }
        binds.push(LiveBind {
            session: session.id,
            system_id: client.system_id.clone(),
            kind,
            peer: session.peer,
            since: crate::message::now_ms(),
            handle: session.handle.clone(),
        });
        Ok(())
    }

    /// The session ended: its bind slot and outbox hand-off go.
    pub(super) fn unbound(&self, session: &SessionInfo) {
        // By session id, not by `session.bound`: a bind accepted here whose response never
        // reached the session (the peer vanished meanwhile) must not leak its slot.
        for mut binds in self.binds.iter_mut() {
            binds.retain(|bind| bind.session != session.id);
        }
        self.outboxes.forget(session.id);
        if let Some((system_id, kind)) = &session.bound {
            tracing::info!(client = %system_id, peer = %session.peer, bind = kind.name(), "unbound");
        }
    }
}

fn resp_body(kind: BindKind, resp: BindResp) -> Body {
    match kind {
        BindKind::Transmitter => Body::BindTransmitterResp(resp),
        BindKind::Receiver => Body::BindReceiverResp(resp),
        BindKind::Transceiver => Body::BindTransceiverResp(resp),
    }
}

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
