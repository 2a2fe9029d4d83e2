//! ESMEs for tests: a raw SMPP peer that waits for each answer ([`Client`]), and a pipelined
//! one whose reading runs on its own task ([`Esme`]).

use super::fixtures::{bind, message_id};
use bytes::BytesMut;
use smpp_proto::frame::{split_frame, DEFAULT_MAX_PDU_LEN};
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A raw SMPP peer over any stream.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
    seq: u32,
    /// deliver_sm that arrived (and were answered) while `request` waited for a response.
    delivered: VecDeque<Pdu>,
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self::over(stream)
    }

    /// Connects and binds (`kind`) as `system_id`; the bind must succeed.
    pub async fn bound(addr: SocketAddr, kind: CommandId, system_id: &str, password: &str) -> Self {
        let mut client = Self::connect(addr).await;
        client.bind_ok(kind, system_id, password).await;
        client
    }

    /// A bind of `system_id` that succeeded: while binds of sessions still closing count
    /// against its `max_binds`, ESME_RBINDFAIL is tried again (every 50 ms, for up to 10 s).
    pub async fn bind_when_free(
        addr: SocketAddr,
        kind: CommandId,
        system_id: &str,
        password: &str,
    ) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut c = Self::connect(addr).await;
            let resp = c.bind(kind, system_id, password).await;
            if resp.command_status == CommandStatus::ESME_ROK {
                return c;
            }
            assert_eq!(
                resp.command_status,
                CommandStatus::ESME_RBINDFAIL,
                "bind of {system_id}: {resp:?}"
            );
            assert!(
                Instant::now() < deadline,
                "bind of {system_id}: no bind slot came free"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn over(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            seq: 0,
            delivered: Default::default(),
        }
    }

    /// Sends a request with the next sequence number; returns it.
    pub async fn send(&mut self, body: Body) -> u32 {
        self.seq += 1;
        self.send_pdu(&Pdu::new(self.seq, body)).await;
        self.seq
    }

    pub async fn send_pdu(&mut self, pdu: &Pdu) {
        self.stream.write_all(&pdu.to_bytes()).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next PDU, or None if the connection closed. Panics after 10 s.
    pub async fn recv(&mut self) -> Option<Pdu> {
        self.recv_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no PDU within 10 s"))
    }

    /// Some(next PDU or None on close), or None if nothing came within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Option<Pdu>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(frame) = split_frame(&mut self.buf, DEFAULT_MAX_PDU_LEN).unwrap() {
                return Some(Some(Pdu::decode(&frame).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(None),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Asserts that the gateway closes the connection (within 10 s) without sending anything.
    pub async fn expect_closed(&mut self) {
        if let Some(pdu) = self.recv().await {
            panic!("expected the connection to close, got {pdu:?}");
        }
    }

    /// Asserts that no PDU arrives within `limit` (and the connection stays open).
    pub async fn expect_silence(&mut self, limit: Duration) {
        match self.recv_within(limit).await {
            None => {}
            Some(Some(pdu)) => panic!("expected nothing for {limit:?}, got {pdu:?}"),
            Some(None) => panic!("expected nothing for {limit:?}, the connection closed"),
        }
    }

    /// Sends a request and returns its response, answering (and skipping) anything else.
    pub async fn request(&mut self, body: Body) -> Pdu {
        let seq = self.send(body).await;
        loop {
            let pdu = self.recv().await.expect("connection closed");
            if pdu.sequence_number == seq && pdu.command_id().is_response() {
                return pdu;
            }
            self.answer(&pdu).await;
            if pdu.command_id() == CommandId::DeliverSm {
                self.delivered.push_back(pdu);
            }
        }
    }

    /// Answers a request from the gateway (deliver_sm, enquire_link) with status OK.
    pub async fn answer(&mut self, pdu: &Pdu) {
        if let Some(resp) = pdu.response_with_status(CommandStatus::ESME_ROK) {
            if !pdu.command_id().is_response() {
                self.send_pdu(&resp).await;
            }
        }
    }

    pub async fn bind(&mut self, kind: CommandId, system_id: &str, password: &str) -> Pdu {
        self.request(bind(kind, system_id, password)).await
    }

    /// Binds and asserts success.
    pub async fn bind_ok(&mut self, kind: CommandId, system_id: &str, password: &str) {
        let resp = self.bind(kind, system_id, password).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
    }

    /// Submits `body` and returns the gateway's message id (the submit must be accepted).
    pub async fn submit_ok(&mut self, body: Body) -> String {
        let resp = self.request(body).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        message_id(&resp)
    }

    /// The next delivery receipt (answered): its receipted_message_id and its `stat:` word.
    pub async fn next_receipt(&mut self) -> (String, String) {
        self.next_receipt_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no receipt within 10 s"))
    }

    /// Like [`Client::next_receipt`], or `None` if none came within `limit` (other PDUs that
    /// came meanwhile are answered). Panics if the connection closes.
    pub async fn next_receipt_within(&mut self, limit: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + limit;
        loop {
            let pdu = match self.delivered.pop_front() {
                Some(pdu) => pdu,
                None => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let pdu = self.recv_within(left).await?.expect("connection closed");
                    self.answer(&pdu).await;
                    pdu
                }
            };
            if let Body::DeliverSm(sm) = &pdu.body {
                let id = sm.tlvs.receipted_message_id().unwrap().to_owned();
                let text = smpp_proto::receipt::parse_bytes(sm.short_message.as_bytes()).unwrap();
                return Some((id, text.stat.unwrap_or_default()));
            }
        }
    }
}

/// What an [`Esme`]'s reader saw.
#[derive(Default)]
struct Seen {
    responses: HashMap<u32, Pdu>,
    delivers: Vec<Pdu>,
    closed: bool,
}

/// A pipelined ESME: one bind, whose reading runs on its own task (answering every request of
/// the gateway with status OK and keeping each deliver_sm), so that it can submit hundreds of
/// messages without waiting.
pub struct Esme {
    out: mpsc::Sender<Pdu>,
    seen: Arc<Mutex<Seen>>,
    seq: u32,
}

impl Esme {
    /// Connects and binds (`kind`) as `system_id`; the bind must succeed.
    pub async fn bind(addr: SocketAddr, kind: CommandId, system_id: &str, password: &str) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let (out, mut to_write) = mpsc::channel::<Pdu>(1024);
        tokio::spawn(async move {
            while let Some(pdu) = to_write.recv().await {
                if writer.write_all(&pdu.to_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (seen_in, answers) = (seen.clone(), out.clone());
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            loop {
                while let Some(frame) = split_frame(&mut buf, DEFAULT_MAX_PDU_LEN).unwrap() {
                    let pdu = Pdu::decode(&frame).unwrap();
                    if pdu.command_id().is_response() {
                        let mut seen = seen_in.lock().unwrap();
                        seen.responses.insert(pdu.sequence_number, pdu);
                        continue;
                    }
                    let answer = pdu.response_with_status(CommandStatus::ESME_ROK).unwrap();
                    if pdu.command_id() == CommandId::DeliverSm {
                        seen_in.lock().unwrap().delivers.push(pdu);
                    }
                    if answers.send(answer).await.is_err() {
                        return;
                    }
                }
                match reader.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            seen_in.lock().unwrap().closed = true;
        });
        let mut esme = Self { out, seen, seq: 0 };
        let seq = esme.send(bind(kind, system_id, password)).await;
        let resp = esme.response(seq).await;
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        esme
    }

    /// Sends a request with the next sequence number; returns it.
    pub async fn send(&mut self, body: Body) -> u32 {
        self.seq += 1;
        self.out.send(Pdu::new(self.seq, body)).await.unwrap();
        self.seq
    }

    /// The response to request `seq` (within 10 s).
    pub async fn response(&self, seq: u32) -> Pdu {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let seen = self.seen.lock().unwrap();
                if let Some(pdu) = seen.responses.get(&seq) {
                    return pdu.clone();
                }
                assert!(!seen.closed, "the gateway closed the connection");
            }
            assert!(
                Instant::now() < deadline,
                "no response to {seq} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Submits each body, pipelined; the gateway's message ids in order (every submit
    /// accepted).
    pub async fn submit_all(&mut self, bodies: impl IntoIterator<Item = Body>) -> Vec<String> {
        let mut seqs = Vec::new();
        for body in bodies {
            seqs.push(self.send(body).await);
        }
        let mut ids = Vec::new();
        for seq in seqs {
            let resp = self.response(seq).await;
            assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
            let Body::SubmitSmResp(r) = &resp.body else {
                panic!("not a submit_sm_resp: {resp:?}");
            };
            ids.push(r.message_id.to_string());
        }
        ids
    }

    /// Every deliver_sm so far, in order.
    pub fn delivers(&self) -> Vec<Pdu> {
        self.seen.lock().unwrap().delivers.clone()
    }
}
