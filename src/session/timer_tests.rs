//! The session's timers on tokio's paused clock: each fires at its configured time, neither
//! before nor after, with no real time spent. The peer is the test itself, at the other end of
//! an in-memory stream, reading and writing raw PDUs.

use super::{open, BindKind, Reply, RequestError, Role, Service, SessionInfo, SessionLimits};
use crate::config::SessionConfig;
use bytes::BytesMut;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::pdu::{Bind, BindResp};
use smpp_proto::{Body, CommandId, Pdu};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_util::sync::CancellationToken;

const MS: Duration = Duration::from_millis(1);

fn timers() -> SessionConfig {
    SessionConfig {
        session_init_timeout: 3000 * MS,
        enquire_link_interval: 5000 * MS,
        inactivity_timeout: 20_000 * MS,
        response_timeout: 2000 * MS,
        bind_failure_delay: 1000 * MS,
        unbind_timeout: 1000 * MS,
    }
}

/// Accepts every bind as a transceiver.
struct AcceptAll;

impl Service for AcceptAll {
    async fn request(&self, _session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let response = Pdu::new(
            pdu.sequence_number,
            Body::BindTransceiverResp(BindResp::v34("test".try_into().unwrap_or_default())),
        );
        Reply::Bound {
            response,
            system_id: "shop".to_owned(),
            kind: BindKind::Transceiver,
            window: 10,
        }
    }

    fn closed(&self, _session: &SessionInfo) {}
}

/// The test's end of the stream.
struct Peer {
    io: DuplexStream,
    buf: BytesMut,
}

impl Peer {
    async fn send(&mut self, pdu: Pdu) {
        self.io.write_all(&pdu.to_bytes()).await.unwrap();
    }

    /// The next PDU, or `None` at the close; waits at most `limit` (`Err` if nothing came).
    async fn next_within(&mut self, limit: Duration) -> Result<Option<Pdu>, ()> {
        let read = async {
            loop {
                if let Some(frame) = split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN).unwrap() {
                    return Some(Pdu::decode(&frame).unwrap());
                }
                if self.io.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(limit, read).await.map_err(|_| ())
    }
}

/// A session of `role` driven by [`AcceptAll`], and the peer's end.
fn session(role: Role) -> (super::SessionHandle, Peer) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let limits = SessionLimits {
        timers: timers(),
        max_pdu_bytes: DEFAULT_MAX_PDU_LEN,
        window: 10,
        gate: None,
    };
    let peer_addr = "127.0.0.1:1".parse().unwrap();
    let (handle, run) = open(
        ours,
        peer_addr,
        role,
        limits,
        Arc::new(AcceptAll),
        CancellationToken::new(),
    );
    tokio::spawn(run);
    let peer = Peer {
        io: theirs,
        buf: BytesMut::new(),
    };
    (handle, peer)
}

async fn bound(peer: &mut Peer) {
    peer.send(Pdu::new(1, Body::BindTransceiver(Bind::default())))
        .await;
    let resp = peer.next_within(100 * MS).await.unwrap().unwrap();
    assert_eq!(resp.command_id(), CommandId::BindTransceiverResp);
}

#[tokio::test(start_paused = true)]
async fn an_unbound_connection_closes_at_session_init_timeout() {
    let (_handle, mut peer) = session(Role::Smsc);
    assert_eq!(peer.next_within(2999 * MS).await, Err(()), "open before it");
    assert_eq!(peer.next_within(2 * MS).await, Ok(None), "closed at it");
}

#[tokio::test(start_paused = true)]
async fn a_silent_bound_session_gets_enquire_link_then_closes_when_it_goes_unanswered() {
    let (_handle, mut peer) = session(Role::Smsc);
    bound(&mut peer).await;
    // Bound: the init timer no longer applies.
    assert_eq!(peer.next_within(4999 * MS).await, Err(()));
    let enquire = peer.next_within(2 * MS).await.unwrap().unwrap();
    assert_eq!(enquire.command_id(), CommandId::EnquireLink);
    // Unanswered for a response timeout: the session ends.
    assert_eq!(peer.next_within(1999 * MS).await, Err(()));
    assert_eq!(peer.next_within(2 * MS).await, Ok(None));
}

#[tokio::test(start_paused = true)]
async fn answered_enquire_links_keep_a_quiet_session_open() {
    let (_handle, mut peer) = session(Role::Smsc);
    bound(&mut peer).await;
    let started = tokio::time::Instant::now();
    let mut at = Vec::new();
    while started.elapsed() < 60_000 * MS {
        let pdu = peer.next_within(10_000 * MS).await.unwrap();
        let pdu = pdu.expect("closed while the peer answered every enquire_link");
        assert_eq!(pdu.command_id(), CommandId::EnquireLink);
        at.push(started.elapsed());
        peer.send(Pdu::new(pdu.sequence_number, Body::EnquireLinkResp))
            .await;
    }
    // One every enquire_link_interval of silence, on the dot.
    let expected: Vec<Duration> = (1..=12).map(|n| n * 5000 * MS).collect();
    assert_eq!(at, expected);
}

#[tokio::test(start_paused = true)]
async fn our_request_fails_at_response_timeout() {
    let (handle, mut peer) = session(Role::Esme);
    let started = tokio::time::Instant::now();
    let request =
        tokio::spawn(async move { handle.request(Body::BindTransceiver(Bind::default())).await });
    let bind = peer.next_within(100 * MS).await.unwrap().unwrap();
    assert_eq!(bind.command_id(), CommandId::BindTransceiver);
    let answer = request.await.unwrap();
    assert!(matches!(answer, Err(RequestError::Timeout)), "{answer:?}");
    assert_eq!(started.elapsed(), 2000 * MS);
}
