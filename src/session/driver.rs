//! The async loop that owns one session's socket: reads and frames PDUs, admits them by bind
//! state, runs the service's handlers concurrently (at most `window` at once), writes their
//! responses, sends our own requests within our window, and keeps the timers.

use crate::config::SessionConfig;
use crate::session::machine::{admit, Admit, BindKind, BindState, Role};
use crate::session::window::{Answer, RequestError, Window};
use bytes::BytesMut;
use futures_util::stream::{FuturesUnordered, StreamExt};
use smpp_proto::frame::split_frame;
use smpp_proto::{Body, CommandId, CommandStatus, Pdu};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// Unwritten output above which we stop reading and stop sending requests: a peer that does
/// not read cannot make us buffer without bound.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// Per-session limits, from the config and the bound client's account.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    /// Timers.
    pub timers: SessionConfig,
    /// Largest `command_length` accepted.
    pub max_pdu_bytes: usize,
    /// Our requests in flight, and the peer's requests processed concurrently, at most.
    pub window: usize,
    /// Asked before each request is written; closed, the request fails unwritten and the
    /// session ends. A cluster node's carrier sessions write only behind their group's fence.
    pub gate: Option<WriteGate>,
}

/// Whether a session may write its requests now ([`SessionLimits::gate`]).
#[derive(Clone)]
pub struct WriteGate(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGate")
    }
}

/// What the session knows about itself; handed to the service with every request.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Unique within this process.
    pub id: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Sends requests to the peer over this session.
    pub handle: SessionHandle,
    /// The account and bind type, once bound.
    pub bound: Option<(String, BindKind)>,
}

/// The service's answer to one request from the peer.
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Respond(Pdu),
    /// A bind succeeded: send the response and enter the bound state as `system_id`.
    Bound {
        /// The bind response (status OK).
        response: Pdu,
        /// The account bound.
        system_id: String,
        /// The bind type.
        kind: BindKind,
        /// The account's window, replacing the session's default.
        window: usize,
    },
    /// Send this response (if any), then close the connection.
    Close(Option<Pdu>),
    /// Nothing to send (requests without a response: outbind, alert_notification).
    Nothing,
    /// Write these bytes as they are, in place of a response: the carrier simulator's garbage
    /// fault (`garbage_every`), which no well-behaved peer sends.
    Raw(bytes::Bytes),
}

/// What a session needs from its owner: the meaning of the peer's requests.
pub trait Service: Send + Sync + 'static {
    /// Handles a request admitted in the current bind state (binds, submits, queries,
    /// deliver_sm on carrier links …). enquire_link, unbind and responses never get here.
    fn request(&self, session: Arc<SessionInfo>, pdu: Pdu) -> impl Future<Output = Reply> + Send;

    /// The session has ended: called once, when no request is handled any more and before
    /// the last responses are flushed and the connection closed. A peer that sees its
    /// unbind_resp (or the close) may bind again at once: what the session held (a bind slot)
    /// must be free by then.
    fn closed(&self, session: &SessionInfo);
}

#[derive(Debug)]
enum Outbound {
    Request {
        body: Box<Body>,
        reply: oneshot::Sender<Answer>,
        /// Told once the request is in the send buffer, ahead of anything written later.
        written: Option<oneshot::Sender<()>>,
    },
    Unbind,
}

/// Sends requests over a session from other tasks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    id: u64,
    tx: mpsc::Sender<Outbound>,
    cancel: CancellationToken,
    stats: Arc<SessionStats>,
}

/// Live figures of one session for the admin API and metrics. Written by the session's own
/// task only; readers get a moment's snapshot.
#[derive(Debug, Default)]
pub struct SessionStats {
    in_flight: AtomicUsize,
    window: AtomicUsize,
    requests_in: AtomicU64,
    requests_out: AtomicU64,
}

impl SessionStats {
    /// Our requests awaiting their response now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Our window: requests in flight at most.
    pub fn window(&self) -> usize {
        self.window.load(Ordering::Relaxed)
    }

    /// Requests the peer sent us so far (binds, submits, deliver_sm …; not enquire_link or
    /// unbind).
    pub fn requests_in(&self) -> u64 {
        self.requests_in.load(Ordering::Relaxed)
    }

    /// Requests we sent so far for our owner (submits, deliver_sm …; not enquire_link or
    /// unbind).
    pub fn requests_out(&self) -> u64 {
        self.requests_out.load(Ordering::Relaxed)
    }
}

impl SessionHandle {
    /// Sends a request and waits for its response. Waits for window space first; the
    /// response timeout starts when the request is written.
    pub async fn request(&self, body: Body) -> Answer {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Outbound::Request {
                body: Box::new(body),
                reply,
                written: None,
            })
            .await
            .map_err(|_| RequestError::Closed)?;
        rx.await.map_err(|_| RequestError::Closed)?
    }

    /// Hands a request to the session and returns once it is in the send buffer (after window
    /// space was free), so that whatever the session writes later — a response the service is
    /// about to return, say — goes out after it. The response comes through the returned
    /// [`PendingAnswer`]. Lets a caller order PDUs on the wire, or pipeline without waiting.
    pub async fn start_request(&self, body: Body) -> Result<PendingAnswer, RequestError> {
        self.queue_request(body).await?.written().await
    }

    /// Hands a request to the session and returns once the session has it queued (there may be
    /// no window space yet). [`Queued::written`] says when it is in the send buffer. Lets a
    /// caller hand over its next request while the session writes this one: several go out in
    /// one write.
    pub async fn queue_request(&self, body: Body) -> Result<Queued, RequestError> {
        let (reply, rx) = oneshot::channel();
        let (written, was_written) = oneshot::channel();
        self.tx
            .send(Outbound::Request {
                body: Box::new(body),
                reply,
                written: Some(written),
            })
            .await
            .map_err(|_| RequestError::Closed)?;
        Ok(Queued {
            written: was_written,
            answer: PendingAnswer(rx),
        })
    }

    /// Whether the requests handed over and not yet answered still fit the window: then a
    /// request queued now is written without waiting for an answer. A moment's estimate.
    pub fn has_room(&self) -> bool {
        let queued = self.tx.max_capacity().saturating_sub(self.tx.capacity());
        self.stats.in_flight().saturating_add(queued) < self.stats.window()
    }

    /// Asks the session to unbind gracefully (send unbind, wait for unbind_resp, close).
    pub async fn unbind(&self) {
        // A session already gone needs no unbind.
        let _ = self.tx.send(Outbound::Unbind).await;
    }

    /// Closes the connection at once, without unbind.
    pub fn close(&self) {
        self.cancel.cancel();
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The session's id ([`SessionInfo::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The session's live figures.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }
}

/// A request the session has queued ([`SessionHandle::queue_request`]).
#[derive(Debug)]
pub struct Queued {
    written: oneshot::Receiver<()>,
    answer: PendingAnswer,
}

impl Queued {
    /// Waits until the request is in the send buffer; `Closed` if the session ended first (then
    /// it never went out).
    pub async fn written(self) -> Result<PendingAnswer, RequestError> {
        self.written.await.map_err(|_| RequestError::Closed)?;
        Ok(self.answer)
    }
}

/// The response to a request already written by [`SessionHandle::start_request`].
#[derive(Debug)]
pub struct PendingAnswer(oneshot::Receiver<Answer>);

impl PendingAnswer {
    /// Waits for the response (or the timeout, or the session's end).
    pub async fn answer(self) -> Answer {
        self.0.await.map_err(|_| RequestError::Closed)?
    }
}

static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// Runs one session over `io` until it ends. `role` says which side we are.
pub async fn run<S, IO>(
    io: IO,
    peer: SocketAddr,
    role: Role,
    limits: SessionLimits,
    service: Arc<S>,
    shutdown: CancellationToken,
) where
    S: Service,
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    open(io, peer, role, limits, service, shutdown).1.await;
}

/// Like [`run`], but hands out the session's handle before it runs: an ESME (a carrier link)
/// needs it to send its bind. The session runs while the returned future is polled.
pub fn open<S, IO>(
    io: IO,
    peer: SocketAddr,
    role: Role,
    limits: SessionLimits,
    service: Arc<S>,
    shutdown: CancellationToken,
) -> (SessionHandle, impl Future<Output = ()> + Send)
where
    S: Service,
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    let (tx, rx) = mpsc::channel(limits.window.max(1));
    let cancel = shutdown.child_token();
    let stats = Arc::new(SessionStats::default());
    stats.window.store(limits.window.max(1), Ordering::Relaxed);
    let id = SESSION_IDS.fetch_add(1, Ordering::Relaxed);
    let handle = SessionHandle {
        id,
        tx,
        cancel: cancel.clone(),
        stats,
    };
    let info = Arc::new(SessionInfo {
        id,
        peer,
        handle: handle.clone(),
        bound: None,
    });
    let mut driver = Driver {
        role,
        state: BindState::Open,
        binding: false,
        window: Window::new(limits.window.max(1)),
        peer_window: limits.window.max(1),
        limits,
        info,
        rbuf: BytesMut::with_capacity(8 * 1024),
        wbuf: BytesMut::with_capacity(8 * 1024),
        started: Instant::now(),
        last_read: Instant::now(),
        last_activity: Instant::now(),
        enquire_sequence: None,
        unbind_deadline: None,
        unbind_resp: None,
        ending: None,
    };
    let session = async move {
        let reason = driver.run(io, rx, &*service, cancel.clone()).await;
        cancel.cancel();
        driver.window.close();
        tracing::debug!(session = driver.info.id, peer = %peer, %reason, "session ended");
    };
    (handle, session)
}

/// Why a session ended (for logs).
#[derive(Debug)]
enum End {
    PeerClosed,
    Io(std::io::Error),
    Framing(String),
    Unbound,
    NoBind,
    Inactive,
    EnquireLinkTimeout,
    Cancelled,
    ServiceClosed,
    Gated,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("peer closed the connection"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::Framing(e) => write!(f, "framing lost: {e}"),
            Self::Unbound => f.write_str("unbound"),
            Self::NoBind => f.write_str("no bind within session_init_timeout"),
            Self::Inactive => f.write_str("inactive for inactivity_timeout"),
            Self::EnquireLinkTimeout => f.write_str("enquire_link got no response"),
            Self::Cancelled => f.write_str("closed by the gateway"),
            Self::ServiceClosed => f.write_str("closed after the last response"),
            Self::Gated => f.write_str("closed: its gate no longer lets requests out"),
        }
    }
}

struct Driver {
    role: Role,
    state: BindState,
    /// A bind is being processed; a second one is refused meanwhile.
    binding: bool,
    window: Window,
    /// How many of the peer's requests may be in progress at once.
    peer_window: usize,
    limits: SessionLimits,
    info: Arc<SessionInfo>,
    rbuf: BytesMut,
    wbuf: BytesMut,
    started: Instant,
    last_read: Instant,
    last_activity: Instant,
    /// Our enquire_link in flight, if any.
    enquire_sequence: Option<u32>,
    /// When our unbind gives up waiting for unbind_resp.
    unbind_deadline: Option<Instant>,
    /// The sequence number of the peer's unbind: its unbind_resp is written last, once the
    /// requests that came before it are answered.
    unbind_resp: Option<u32>,
    /// Set once the session is ending: flush what is written, then stop.
    ending: Option<End>,
}

impl Driver {
    async fn run<S: Service, IO: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: IO,
        mut outbound: mpsc::Receiver<Outbound>,
        service: &S,
        cancel: CancellationToken,
    ) -> End {
        let (mut reader, mut writer) = tokio::io::split(io);
        let mut in_progress = FuturesUnordered::new();
        // One timer for the session, moved only to an earlier deadline or after it fired: a
        // later deadline (the usual case: the oldest request was answered) just wakes the loop
        // once early, and registering a new timer on every event cost more than that.
        let timer = sleep_until(self.next_deadline());
        tokio::pin!(timer);
        let mut timer_armed = true;
        loop {
            self.stats()
                .in_flight
                .store(self.window.len(), Ordering::Relaxed);
            // Take the frames already buffered, as far as the peer's window allows.
            while self.ending.is_none() && in_progress.len() < self.peer_window {
                match split_frame(&mut self.rbuf, self.limits.max_pdu_bytes) {
                    Ok(Some(frame)) => {
                        if let Some(request) = self.handle_frame(&frame) {
                            self.stats().requests_in.fetch_add(1, Ordering::Relaxed);
                            in_progress.push(service.request(self.info.clone(), request));
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // SMPP 3.4: generic_nack ESME_RINVCMDLEN, then close; framing is lost.
                        let seq = e.sequence_number.unwrap_or(0);
                        self.write(&Pdu::generic_nack(seq, e.status()));
                        self.end(End::Framing(e.to_string()));
                    }
                }
            }
            if let Some(end) = self.finished(&in_progress) {
                // Before the peer can see the end (see `Service::closed`); nothing in progress
                // is polled after this.
                service.closed(&self.info);
                if let Some(sequence) = self.unbind_resp.take() {
                    self.write(&Pdu::new(sequence, Body::UnbindResp));
                }
                // Best effort: what is written so far goes out before the socket closes, within
                // a response timeout. A peer that stopped reading (its own writes blocked on us,
                // say) would otherwise hold this task, its window and its connection forever.
                let flush = async {
                    let _ = writer.write_all(&self.wbuf).await;
                    let _ = writer.shutdown().await;
                };
                let _ = tokio::time::timeout(self.limits.timers.response_timeout, flush).await;
                return end;
            }

            let can_read = self.ending.is_none()
                && in_progress.len() < self.peer_window
                && self.wbuf.len() < WRITE_HIGH_WATER;
            let can_send = self.can_send();
            let deadline = self.next_deadline();
            if !timer_armed || deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
                timer_armed = true;
            }

            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.end(End::Cancelled);
                    // Cancellation is abrupt: do not wait for in-progress handlers.
                    service.closed(&self.info);
                    return self.ending.take().unwrap_or(End::Cancelled);
                }
                Some(reply) = in_progress.next(), if !in_progress.is_empty() => {
                    self.handle_reply(reply);
                }
                written = writer.write_buf(&mut self.wbuf), if !self.wbuf.is_empty() => {
                    match written {
                        Ok(0) => self.end(End::PeerClosed),
                        Ok(_) => self.last_activity = Instant::now(),
                        Err(e) => self.end(End::Io(e)),
                    }
                }
                read = reader.read_buf(&mut self.rbuf), if can_read => {
                    match read {
                        Ok(0) => self.end(End::PeerClosed),
                        Ok(_) => {
                            self.last_read = Instant::now();
                            self.last_activity = self.last_read;
                        }
                        Err(e) => self.end(End::Io(e)),
                    }
                }
                Some(request) = outbound.recv(), if can_send => {
                    self.send(request);
                    // What is queued already goes out in the same write: a write per submit_sm
                    // cost a syscall each (writev was 7.5% of the gateway's CPU at 20,000/s).
                    while self.can_send() {
                        match outbound.try_recv() {
                            Ok(request) => self.send(request),
                            Err(_) => break,
                        }
                    }
                }
                () = &mut timer, if timer_armed => {
                    timer_armed = false;
                    self.handle_timers();
                }
            }
        }
    }

    /// Whether the loop should stop now: ending, and nothing left to wait for.
    fn finished<F>(&mut self, in_progress: &FuturesUnordered<F>) -> Option<End> {
        match &self.ending {
            // Hard failures stop at once; the others let in-progress handlers answer first
            // (an acknowledged submit must get its submit_sm_resp).
            Some(End::PeerClosed | End::Io(_)) => self.ending.take(),
            // Toward a carrier, a stream that can no longer be read ends at once too: what is
            // in progress (receipts, MO) may wait on answers this session cannot read any more,
            // and the carrier sends again what was left unanswered.
            Some(End::Framing(_)) if self.role == Role::Esme => self.ending.take(),
            Some(_) if in_progress.is_empty() => self.ending.take(),
            _ => None,
        }
    }

    fn stats(&self) -> &SessionStats {
        &self.info.handle.stats
    }

    /// Whether a request from the service can be written now.
    fn can_send(&self) -> bool {
        self.ending.is_none()
            && self.unbind_deadline.is_none()
            && !self.window.is_full()
            && self.wbuf.len() < WRITE_HIGH_WATER
            && self.may_send_requests()
    }

    fn may_send_requests(&self) -> bool {
        match self.state {
            BindState::Bound(_) => true,
            // An ESME sends its bind on an open session.
            BindState::Open => self.role == Role::Esme,
            BindState::Unbinding => false,
        }
    }

    fn end(&mut self, why: End) {
        if self.ending.is_none() {
            self.ending = Some(why);
        }
    }

    fn write(&mut self, pdu: &Pdu) {
        pdu.encode(&mut self.wbuf);
    }

    /// Decodes and admits one frame. Returns the request for the service, if any.
    fn handle_frame(&mut self, frame: &bytes::Bytes) -> Option<Pdu> {
        let pdu = match Pdu::decode(frame) {
            Ok(pdu) => pdu,
            Err(e) => {
                tracing::debug!(session = self.info.id, error = %e, "undecodable PDU");
                let answers_ours = e
                    .header
                    .filter(|h| h.command().is_some_and(|c| c.is_response()));
                if let Some(header) = answers_ours {
                    // A response we cannot read still settles the request it answers.
                    self.complete_request(header.sequence_number, Err(RequestError::Malformed));
                }
                self.write(&Pdu::error_response(&e));
                return None;
            }
        };
        let command = pdu.command_id();
        if command.is_response() {
            self.handle_response(pdu);
            return None;
        }
        match admit(self.role, self.state, command) {
            Admit::Refuse(status) => {
                self.refuse(&pdu, status);
                None
            }
            Admit::Accept => match command {
                CommandId::EnquireLink => {
                    self.write(&Pdu::new(pdu.sequence_number, Body::EnquireLinkResp));
                    None
                }
                CommandId::GenericNack => None,
                CommandId::Unbind => {
                    // unbind_resp goes out last, after the responses to the requests still in
                    // progress: a peer may close as soon as it has it, and must not lose a
                    // submit_sm_resp (the id of a message we accepted).
                    self.unbind_resp = Some(pdu.sequence_number);
                    self.state = BindState::Unbinding;
                    self.end(End::Unbound);
                    None
                }
                CommandId::BindTransmitter
                | CommandId::BindReceiver
                | CommandId::BindTransceiver
                    if self.binding =>
                {
                    self.refuse(&pdu, CommandStatus::ESME_RALYBND);
                    None
                }
                CommandId::BindTransmitter
                | CommandId::BindReceiver
                | CommandId::BindTransceiver => {
                    self.binding = true;
                    Some(pdu)
                }
                _ => Some(pdu),
            },
        }
    }

    fn refuse(&mut self, pdu: &Pdu, status: CommandStatus) {
        let answer = pdu
            .response_with_status(status)
            .unwrap_or_else(|| Pdu::generic_nack(pdu.sequence_number, status));
        self.write(&answer);
    }

    fn handle_response(&mut self, pdu: Pdu) {
        let sequence = pdu.sequence_number;
        match (&pdu.body, self.state) {
            (Body::UnbindResp, BindState::Unbinding) => self.end(End::Unbound),
            (body, BindState::Open) if self.role == Role::Esme && pdu.command_status.is_ok() => {
                if let Some(kind) = BindKind::of(body.command_id()) {
                    self.state = BindState::Bound(kind);
                }
            }
            _ => {}
        }
        if self.enquire_sequence == Some(sequence) {
            self.enquire_sequence = None;
        }
        self.complete_request(sequence, Ok(pdu));
    }

    fn complete_request(&mut self, sequence: u32, answer: Answer) {
        if !self.window.complete(sequence, answer) {
            tracing::debug!(
                session = self.info.id,
                sequence,
                "response to no request of ours"
            );
        }
    }

    fn handle_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Respond(pdu) => {
                if BindKind::of(pdu.command_id()).is_some() {
                    self.binding = false;
                }
                self.write(&pdu);
            }
            Reply::Bound {
                response,
                system_id,
                kind,
                window,
            } => {
                self.binding = false;
                self.state = BindState::Bound(kind);
                self.peer_window = window.max(1);
                self.window = Window::new(window.max(1));
                self.stats().window.store(window.max(1), Ordering::Relaxed);
                let mut info = (*self.info).clone();
                info.bound = Some((system_id, kind));
                self.info = Arc::new(info);
                self.write(&response);
            }
            Reply::Close(pdu) => {
                if let Some(pdu) = pdu {
                    self.write(&pdu);
                }
                self.end(End::ServiceClosed);
            }
            Reply::Nothing => {}
            Reply::Raw(bytes) => self.wbuf.extend_from_slice(&bytes),
        }
    }

    fn send(&mut self, request: Outbound) {
        let deadline = Instant::now() + self.limits.timers.response_timeout;
        match request {
            Outbound::Request {
                body,
                reply,
                written,
            } => {
                if self.limits.gate.as_ref().is_some_and(|gate| !(gate.0)()) {
                    // Unwritten: its caller sends it again, through a session that may.
                    let _ = reply.send(Err(RequestError::Closed));
                    self.end(End::Gated);
                    return;
                }
                let sequence = self.window.insert(deadline, Some(reply));
                self.write(&Pdu::new(sequence, *body));
                self.stats().requests_out.fetch_add(1, Ordering::Relaxed);
                if let Some(written) = written {
                    // A caller that stopped waiting for the write still gets the answer.
                    let _ = written.send(());
                }
            }
            Outbound::Unbind => self.start_unbind(),
        }
    }

    fn start_unbind(&mut self) {
        if self.state == BindState::Unbinding {
            return;
        }
        if !matches!(self.state, BindState::Bound(_)) {
            self.end(End::Cancelled);
            return;
        }
        let deadline = Instant::now() + self.limits.timers.response_timeout;
        let sequence = self.window.insert(deadline, None);
        self.write(&Pdu::new(sequence, Body::Unbind));
        self.state = BindState::Unbinding;
        self.unbind_deadline = Some(Instant::now() + self.limits.timers.unbind_timeout);
    }

    fn next_deadline(&self) -> Instant {
        let timers = &self.limits.timers;
        let far = Instant::now() + Duration::from_secs(3600);
        let mut next = far;
        let mut consider = |t: Instant| next = next.min(t);
        if self.state == BindState::Open && self.role == Role::Smsc && !self.binding {
            consider(self.started + timers.session_init_timeout);
        }
        if matches!(self.state, BindState::Bound(_)) && self.enquire_sequence.is_none() {
            consider(self.last_activity + timers.enquire_link_interval);
        }
        consider(self.last_read + timers.inactivity_timeout);
        if let Some(deadline) = self.window.next_deadline() {
            consider(deadline);
        }
        if let Some(deadline) = self.unbind_deadline {
            consider(deadline);
        }
        next
    }

    fn handle_timers(&mut self) {
        let now = Instant::now();
        let timers = self.limits.timers.clone();
        for sequence in self.window.expire(now) {
            if self.enquire_sequence == Some(sequence) {
                self.end(End::EnquireLinkTimeout);
            }
        }
        if self.unbind_deadline.is_some_and(|d| d <= now) {
            self.end(End::Unbound);
        }
        if self.state == BindState::Open
            && self.role == Role::Smsc
            && !self.binding
            && now >= self.started + timers.session_init_timeout
        {
            self.end(End::NoBind);
        }
        if now >= self.last_read + timers.inactivity_timeout {
            // Nothing heard for too long: unbind if bound, else just close.
            if matches!(self.state, BindState::Bound(_)) {
                self.start_unbind();
                self.last_read = now;
            } else {
                self.end(End::Inactive);
            }
        }
        if matches!(self.state, BindState::Bound(_))
            && self.enquire_sequence.is_none()
            && now >= self.last_activity + timers.enquire_link_interval
        {
            if self.window.is_full() {
                // Our window is full of requests that will time out on their own.
                self.last_activity = now;
            } else {
                let sequence = self.window.insert(now + timers.response_timeout, None);
                self.write(&Pdu::new(sequence, Body::EnquireLink));
                self.enquire_sequence = Some(sequence);
                self.last_activity = now;
            }
        }
    }
}
