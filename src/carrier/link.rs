//! One carrier link: `sessions` slots, each connecting, binding and reconnecting with
//! exponential backoff and jitter until the gateway stops or a reload retires the link.

use crate::backoff::{jitter, Backoff};
use crate::carrier::early::EarlyReceipts;
use crate::carrier::intake::Intake;
use crate::carrier::{Carriers, DRAIN_CARRIERS, DRAIN_UNBINDS};
use crate::config::{CarrierBind, CarrierConfig, CarrierTls};
use crate::message::now_ms;
use crate::session::{self, BindKind, Role, SessionHandle, SessionLimits, WriteGate};
use crate::telemetry::{self, Scope};
use crate::throttle::Throttle;
use rustls::pki_types::ServerName;
use smpp_proto::pdu::{Address, Bind};
use smpp_proto::{Body, CommandStatus};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

/// A carrier link and its bound sessions.
pub struct Link {
    pub(crate) config: CarrierConfig,
    /// Bound slots and their sessions.
    sessions: Mutex<Vec<BoundSlot>>,
    next: AtomicUsize,
    /// The link's throughput cap.
    pub(crate) throttle: Throttle,
    /// Set by an operator: the link takes no new messages (its sessions stay bound, so
    /// receipts keep coming in).
    paused: AtomicBool,
    /// What each session slot is doing, by slot.
    slots: Mutex<Vec<SlotStatus>>,
    /// Set while the carrier says we go too fast (ESME_RTHROTTLED, ESME_RMSGQFUL).
    slow: Mutex<Slowdown>,
    /// TLS toward the carrier, when configured.
    tls: Option<TlsConnector>,
    /// Submits on their way ([`SubmitTicket`]), from the handover to a session until the
    /// carrier id is recorded: while there are none, a receipt with an unknown id cannot be
    /// early, and is not held.
    unanswered: AtomicUsize,
    /// Of those, the ones handed to a session and not written yet...
    sending: AtomicUsize,
    /// ... and the ones the carrier accepted whose carrier id is being recorded. The rest are
    /// in their session's window.
    recording: AtomicUsize,
    /// The tickets of those submits ([`Link::submit_started`]), in the order they went out: a
    /// receipt waits only for submits older than itself.
    outstanding: Mutex<BTreeSet<u64>>,
    /// The next submit's ticket.
    next_ticket: AtomicU64,
    /// Receipts that came before their submit's carrier id was recorded.
    pub(crate) early: EarlyReceipts,
    /// Its own tokens, children of the gateway's, once its slots run.
    tokens: OnceLock<LinkTokens>,
    /// Set when a reload removed or replaced it: it takes no new submits.
    retired: AtomicBool,
}

/// A bound slot: the session that carries submits and, with `bind = "pair"`, the receiver
/// beside it. Both are kept so that both unbind.
#[derive(Clone)]
struct BoundSlot {
    slot: usize,
    submit: SessionHandle,
    receiver: Option<SessionHandle>,
}

/// What stops one link's tasks: children of the gateway's stop and shutdown tokens, so that
/// the gateway stops every link and a reload one link alone.
#[derive(Clone)]
pub(crate) struct LinkTokens {
    /// No new connections once a session ends (its sessions stay, for the answers due).
    pub(crate) stop: CancellationToken,
    /// Closes its sessions at once.
    pub(crate) shutdown: CancellationToken,
}

/// Why a reload stops a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retirement {
    /// The carrier is no longer in the config.
    Removed,
    /// Its connection settings changed: a new link replaces it.
    Reconnected,
    /// Cluster mode: this node no longer owns its group.
    GivenUp,
}

/// What one session slot of a link is doing, for the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotStatus {
    /// Connecting, bound, or waiting to reconnect.
    pub state: SlotState,
    /// Since when (unix ms).
    pub since: i64,
    /// Connection attempts after the first.
    pub reconnects: u64,
    /// The last failure: when (unix ms) and why.
    pub last_error: Option<(i64, String)>,
}

/// The life of a session slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Connecting and binding.
    Connecting,
    /// Bound: submits may go.
    Bound,
    /// Lost or refused; waiting out the reconnect backoff.
    Waiting,
}

impl SlotState {
    /// Its name in the admin API: `connecting`, `bound`, `waiting`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Bound => "bound",
            Self::Waiting => "waiting",
        }
    }
}

/// Backing off from a carrier that asked us to slow down.
struct Slowdown {
    /// No submit goes out before this.
    paused_until: Option<Instant>,
    /// The pauses, doubled while the carrier keeps refusing.
    pauses: Backoff,
}

/// First pause after ESME_RTHROTTLED; doubles up to [`MAX_PAUSE`] while it continues.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(10);

impl Link {
    pub(crate) fn new(config: CarrierConfig) -> Result<Self, String> {
        let throttle = Throttle::new(Scope::Link, &config.name, config.throughput);
        let tls = config.tls.as_ref().map(tls_connector).transpose()?;
        let slot = SlotStatus {
            state: SlotState::Connecting,
            since: now_ms(),
            reconnects: 0,
            last_error: None,
        };
        Ok(Self {
            slots: Mutex::new(vec![slot; config.sessions.get()]),
            config,
            sessions: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            throttle,
            paused: AtomicBool::new(false),
            slow: Mutex::new(Slowdown {
                paused_until: None,
                pauses: Backoff::new(FIRST_PAUSE, MAX_PAUSE),
            }),
            tls,
            unanswered: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            recording: AtomicUsize::new(0),
            outstanding: Mutex::new(BTreeSet::new()),
            next_ticket: AtomicU64::new(0),
            early: EarlyReceipts::default(),
            tokens: OnceLock::new(),
            retired: AtomicBool::new(false),
        })
    }

    /// Gives the link the tokens its tasks run under; `false` if it had them already.
    pub(crate) fn set_tokens(&self, tokens: LinkTokens) -> bool {
        self.tokens.set(tokens).is_ok()
    }

    /// Whether a reload removed or replaced it (it takes no new submits).
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Asks every bound session to unbind, the receivers of pairs too.
    pub(crate) async fn unbind(&self) {
        let mut sessions = Vec::new();
        for bound in self.lock().iter() {
            sessions.push(bound.submit.clone());
            sessions.extend(bound.receiver.clone());
        }
        for session in sessions {
            // A session too busy to take the unbind now is closed when its tokens are.
            let _ = tokio::time::timeout(UNBIND_HANDOFF, session.unbind()).await;
        }
    }

    /// The carrier asked us to slow down: pause this link, longer each time in a row.
    pub(crate) fn slow_down(&self) -> Instant {
        let mut slow = crate::sync::lock(&self.slow);
        let now = Instant::now();
        if let Some(until) = slow.paused_until.filter(|until| *until > now) {
            // The rest of a burst sent before the pause began: the pause already covers it.
            return until;
        }
        let pause = slow.pauses.failed();
        let until = now + pause;
        slow.paused_until = Some(until);
        tracing::info!(carrier = %self.config.name, ?pause, "carrier throttles us; pausing the link");
        telemetry::throttled(Scope::Carrier, &self.config.name);
        until
    }

    /// A submit went through: the pauses start short again next time.
    pub(crate) fn recovered(&self) {
        let mut slow = crate::sync::lock(&self.slow);
        slow.pauses.reset();
    }

    /// When the link may send again, if it is paused.
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        let slow = crate::sync::lock(&self.slow);
        slow.paused_until.filter(|until| *until > Instant::now())
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The link's config.
    pub fn config(&self) -> &CarrierConfig {
        &self.config
    }

    /// Its throughput cap, which an operator may change.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Whether an operator has paused it.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Pauses (`true`) or resumes the link for new messages; returns whether that changed
    /// anything.
    pub fn set_paused(&self, paused: bool) -> bool {
        self.paused.swap(paused, Ordering::AcqRel) != paused
    }

    /// What each session slot is doing, by slot.
    pub fn slots(&self) -> Vec<SlotStatus> {
        crate::sync::lock(&self.slots).clone()
    }

    /// The bound sessions that carry submits, with their slot.
    pub fn bound_sessions(&self) -> Vec<(usize, SessionHandle)> {
        self.lock()
            .iter()
            .map(|b| (b.slot, b.submit.clone()))
            .collect()
    }

    /// Submits on their way to the carrier and not settled yet: handed to a session, in its
    /// window, or accepted with their carrier id being recorded.
    pub fn unanswered(&self) -> usize {
        self.unanswered.load(Ordering::Acquire)
    }

    /// Submits handed to a session and not written yet.
    pub fn sending(&self) -> usize {
        self.sending.load(Ordering::Acquire)
    }

    /// Submits the carrier accepted whose carrier id is being recorded.
    pub fn recording(&self) -> usize {
        self.recording.load(Ordering::Acquire)
    }

    /// A submit is about to be handed to a session: counted until its ticket is dropped.
    pub(crate) fn submit_started(self: &Arc<Self>) -> SubmitTicket {
        self.unanswered.fetch_add(1, Ordering::AcqRel);
        self.sending.fetch_add(1, Ordering::AcqRel);
        let ticket = self.next_ticket.fetch_add(1, Ordering::AcqRel);
        self.outstanding().insert(ticket);
        SubmitTicket {
            link: Arc::clone(self),
            ticket,
            phase: Phase::Sending,
        }
    }

    /// The submit of `ticket` is answered (and its carrier id recorded), failed, or was never
    /// written.
    fn submit_settled(&self, ticket: u64) {
        let low = {
            let mut outstanding = self.outstanding();
            outstanding.remove(&ticket);
            outstanding.first().copied().unwrap_or(u64::MAX)
        };
        self.unanswered.fetch_sub(1, Ordering::AcqRel);
        self.early.settled_below(low);
    }

    /// The ticket the next submit will get: a receipt read now can only belong to a submit
    /// with a smaller one.
    pub(crate) fn ticket_horizon(&self) -> u64 {
        self.next_ticket.load(Ordering::Acquire)
    }

    /// Whether a submit with a ticket below `horizon` is still unanswered.
    pub(crate) fn unanswered_before(&self, horizon: u64) -> bool {
        self.outstanding()
            .first()
            .is_some_and(|ticket| *ticket < horizon)
    }

    fn outstanding(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        // Inserts and removes only: consistent under a panic elsewhere.
        crate::sync::lock(&self.outstanding)
    }

    /// Moves a slot to `state`; `error`, if any, becomes its last error.
    fn slot_state(&self, slot: usize, state: SlotState, error: Option<String>) {
        let mut slots = crate::sync::lock(&self.slots);
        if let Some(status) = slots.get_mut(slot) {
            let now = now_ms();
            if state == SlotState::Connecting && status.state == SlotState::Waiting {
                status.reconnects += 1;
            }
            status.state = state;
            status.since = now;
            if let Some(error) = error {
                status.last_error = Some((now, error));
            }
        }
    }

    /// Whether any session is bound.
    pub fn is_up(&self) -> bool {
        !self.lock().is_empty()
    }

    /// A bound session, round robin; `None` while the link is down.
    pub(crate) fn pick(&self) -> Option<SessionHandle> {
        let sessions = self.lock();
        if sessions.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % sessions.len();
        sessions.get(i).map(|b| b.submit.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<BoundSlot>> {
        // The list stays consistent under a panic elsewhere: every change is one push/retain.
        crate::sync::lock(&self.sessions)
    }

    fn up(&self, slot: usize, submit: SessionHandle, receiver: Option<SessionHandle>) {
        self.lock().push(BoundSlot {
            slot,
            submit,
            receiver,
        });
    }

    fn down(&self, slot: usize) {
        self.lock().retain(|b| b.slot != slot);
    }
}

/// One submit on its way to a link's carrier, counted by phase ([`Link::sending`], the session's
/// window, [`Link::recording`]) and settled when dropped: answered and its carrier id
/// recorded, failed, or never written. Receipts that come before their submit's carrier id
/// wait for the tickets older than themselves.
pub(crate) struct SubmitTicket {
    link: Arc<Link>,
    ticket: u64,
    phase: Phase,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sending,
    Written,
    Recording,
}

impl SubmitTicket {
    /// The submit is in the session's send buffer: its window counts it now.
    pub(crate) fn written(&mut self) {
        self.leave();
        self.phase = Phase::Written;
    }

    /// The carrier accepted it; its carrier id is being recorded.
    pub(crate) fn recording(&mut self) {
        self.leave();
        self.link.recording.fetch_add(1, Ordering::AcqRel);
        self.phase = Phase::Recording;
    }

    /// Uncounts it from its phase's figure.
    fn leave(&mut self) {
        let figure = match self.phase {
            Phase::Sending => &self.link.sending,
            Phase::Recording => &self.link.recording,
            Phase::Written => return,
        };
        figure.fetch_sub(1, Ordering::AcqRel);
        self.phase = Phase::Written;
    }
}

impl Drop for SubmitTicket {
    fn drop(&mut self) {
        self.leave();
        self.link.submit_settled(self.ticket);
    }
}

/// Keeps one session slot of `link` connected and bound until shutdown.
pub(crate) async fn run_slot(
    carriers: Arc<Carriers>,
    link: Arc<Link>,
    slot: usize,
    (stop, shutdown): (CancellationToken, CancellationToken),
) {
    let config = &link.config;
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let intake = Arc::new(Intake::new(carriers.clone(), link.clone()));
    loop {
        // A stopping gateway keeps its sessions for the responses still due, but does not
        // connect again once one ends.
        if shutdown.is_cancelled() || stop.is_cancelled() {
            return;
        }
        // Cluster mode: no bind behind a lapsed fence (a node that woke from a pause); the
        // link is given up and retired shortly.
        if carriers
            .handoff()
            .is_some_and(|h| !h.may_submit(link.name()))
        {
            tokio::select! {
                () = tokio::time::sleep(config.reconnect_min) => continue,
                () = stop.cancelled() => return,
                () = shutdown.cancelled() => return,
            }
        }
        link.slot_state(slot, SlotState::Connecting, None);
        let outcome = connect_and_serve(&carriers, &link, slot, &intake, &shutdown).await;
        link.down(slot);
        let (pause, error) = match outcome {
            Outcome::Served => {
                if !stop.is_cancelled() {
                    tracing::warn!(carrier = %config.name, slot, "link down: the session ended");
                }
                backoff.reset();
                (config.reconnect_min, "the bound session ended".to_owned())
            }
            Outcome::Refused(CommandStatus::ESME_RALYBND) => {
                // The carrier counts binds still open for the account: a cluster's previous
                // owner whose sessions have not closed yet, or ours from before a reconnect.
                tracing::warn!(
                    carrier = %config.name, slot,
                    "bind refused: the carrier says the account is bound already (binds of \
                     another node or of an earlier connection still open); retrying"
                );
                (
                    jitter(backoff.failed()),
                    "bind refused: already bound".to_owned(),
                )
            }
            Outcome::Refused(status) => {
                // Wrong credentials will not fix themselves: retry slowly, loudly.
                tracing::error!(
                    carrier = %config.name, %status,
                    "bind refused; check system_id/password; retrying in {:?}",
                    config.reconnect_max
                );
                (config.reconnect_max, format!("bind refused: {status}"))
            }
            Outcome::Failed(reason) => {
                tracing::warn!(carrier = %config.name, slot, %reason, "link down");
                (jitter(backoff.failed()), reason)
            }
        };
        link.slot_state(slot, SlotState::Waiting, Some(error));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => return,
            () = shutdown.cancelled() => return,
        }
    }
}

enum Outcome {
    /// Was bound and served until the session ended.
    Served,
    /// The carrier refused the bind.
    Refused(CommandStatus),
    /// Could not connect or bind.
    Failed(String),
}

async fn connect_and_serve(
    carriers: &Arc<Carriers>,
    link: &Arc<Link>,
    slot: usize,
    intake: &Arc<Intake>,
    shutdown: &CancellationToken,
) -> Outcome {
    let config = &link.config;
    let (submit, receiver) = match config.bind {
        CarrierBind::Transceiver => {
            match bound(carriers, link, intake, shutdown, BindKind::Transceiver).await {
                Ok(session) => (session, None),
                Err(outcome) => return outcome,
            }
        }
        // Submits over a transmitter; receipts and MO come over a receiver of their own.
        CarrierBind::Pair => {
            let tx = match bound(carriers, link, intake, shutdown, BindKind::Transmitter).await {
                Ok(bound) => bound,
                Err(outcome) => return outcome,
            };
            match bound(carriers, link, intake, shutdown, BindKind::Receiver).await {
                Ok(rx) => (tx, Some(rx)),
                Err(outcome) => {
                    end_too(tx).await;
                    return outcome;
                }
            }
        }
    };
    tracing::info!(carrier = %config.name, slot, bind = ?config.bind, "link up");
    // The slot reads bound, with its time, before the link reads up: no view sees one
    // without the other.
    link.slot_state(slot, SlotState::Bound, None);
    link.up(
        slot,
        submit.0.clone(),
        receiver.as_ref().map(|(handle, _)| handle.clone()),
    );
    carriers.notify_queued();
    let (submit_handle, mut submit_task) = submit;
    match receiver {
        None => drop(submit_task.await),
        // When either session of a pair ends, the slot reconnects as a whole: the other one
        // unbinds first, as the carrier expects of every session.
        Some((receiver_handle, mut receiver_task)) => {
            tokio::select! {
                _ = &mut submit_task => {
                    link.down(slot);
                    end_too((receiver_handle, receiver_task)).await;
                }
                _ = &mut receiver_task => {
                    link.down(slot);
                    end_too((submit_handle, submit_task)).await;
                }
            }
        }
    }
    Outcome::Served
}

/// Ends a session whose partner in a pair has ended: unbind, and wait for the session to close
/// (its own unbind timer bounds that); one that takes no unbind, or does not end, is closed.
async fn end_too((handle, mut task): (SessionHandle, JoinHandle<()>)) {
    if tokio::time::timeout(UNBIND_HANDOFF, handle.unbind())
        .await
        .is_ok()
        && tokio::time::timeout(DRAIN_UNBINDS, &mut task).await.is_ok()
    {
        return;
    }
    handle.close();
    let _ = task.await;
}

/// Connects (TCP, then TLS if configured), opens a session and binds it as `kind`.
async fn bound(
    carriers: &Arc<Carriers>,
    link: &Arc<Link>,
    intake: &Arc<Intake>,
    shutdown: &CancellationToken,
    kind: BindKind,
) -> Result<(SessionHandle, JoinHandle<()>), Outcome> {
    let config = &link.config;
    let address = format!("{}:{}", config.host, config.port);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&address));
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(Outcome::Failed(format!("connect {address}: {e}"))),
        Err(_) => return Err(Outcome::Failed(format!("connect {address}: timed out"))),
    };
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map_err(|e| Outcome::Failed(format!("peer address: {e}")))?;
    let limits = limits(carriers, config);
    let (handle, session) = match (&link.tls, &config.tls) {
        (Some(connector), Some(tls)) => {
            let name = ServerName::try_from(tls.server_name.clone())
                .map_err(|e| Outcome::Failed(format!("tls.server_name: {e}")))?;
            let handshake = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(Outcome::Failed(format!("TLS with {address}: {e}"))),
                Err(_) => return Err(Outcome::Failed(format!("TLS with {address}: timed out"))),
            };
            spawn_session(stream, peer, limits, intake, shutdown)
        }
        _ => spawn_session(stream, peer, limits, intake, shutdown),
    };
    let bind = Bind {
        system_id: config.system_id.as_str().try_into().unwrap_or_default(),
        password: config.password.expose().try_into().unwrap_or_default(),
        system_type: config.system_type.as_str().try_into().unwrap_or_default(),
        interface_version: 0x34,
        address_range: Address::new(
            0,
            0,
            config.address_range.as_str().try_into().unwrap_or_default(),
        ),
    };
    let body = match kind {
        BindKind::Transmitter => Body::BindTransmitter(bind),
        BindKind::Receiver => Body::BindReceiver(bind),
        BindKind::Transceiver => Body::BindTransceiver(bind),
    };
    let outcome = match handle.request(body).await {
        Ok(resp) if resp.command_status.is_ok() => return Ok((handle, session)),
        Ok(resp) => Outcome::Refused(resp.command_status),
        Err(e) => Outcome::Failed(format!("bind: {e}")),
    };
    handle.close();
    let _ = session.await;
    Err(outcome)
}

/// Starts the ESME side of a session over `io` (TCP or TLS) on its own task.
fn spawn_session<IO>(
    io: IO,
    peer: std::net::SocketAddr,
    limits: SessionLimits,
    intake: &Arc<Intake>,
    shutdown: &CancellationToken,
) -> (SessionHandle, JoinHandle<()>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (handle, session) = session::open(
        io,
        peer,
        Role::Esme,
        limits,
        intake.clone(),
        shutdown.clone(),
    );
    (handle, tokio::spawn(session))
}

/// Session limits of a carrier link: the server's timers with the carrier's own overrides.
fn limits(carriers: &Carriers, config: &CarrierConfig) -> SessionLimits {
    let server = carriers.config().server.clone();
    let mut timers = server.session.clone();
    timers.enquire_link_interval = config.enquire_link_interval;
    timers.response_timeout = config.response_timeout;
    timers.inactivity_timeout = timers
        .inactivity_timeout
        .max(config.enquire_link_interval * 3);
    SessionLimits {
        timers,
        max_pdu_bytes: server.max_pdu_bytes,
        window: config.window.get(),
        // Cluster mode: nothing is written once this node's fence for the group lapsed, even
        // a submit queued in the session before a pause (SIGSTOP, a suspended VM).
        gate: carriers.handoff().map(|handoff| {
            let (handoff, link) = (handoff.clone(), config.name.clone());
            WriteGate(Arc::new(move || handoff.may_submit(&link)))
        }),
    }
}

/// A TLS client for a carrier: its CA or the system's roots, and our certificate if asked.
fn tls_connector(tls: &CarrierTls) -> Result<TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca {
        Some(ca) => {
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls.ca {}: {e}", ca.display()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.ca {}: {e}", ca.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system root rustls cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match &tls.client_auth {
        Some(auth) => {
            let chain = CertificateDer::pem_file_iter(&auth.cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("tls.client_cert {}: {e}", auth.cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(&auth.key)
                .map_err(|e| format!("tls.client_key {}: {e}", auth.key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("tls.client_cert: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Stops a link a reload removed or replaced, as a stopping gateway stops them all: no new
/// submits (it has left the link set already) and no reconnects; up to [`DRAIN_CARRIERS`] for
/// the carrier to answer the submits in flight (their receipts keep coming in meanwhile); then
/// unbind, up to [`DRAIN_UNBINDS`] for the answer, and close. A submit still unanswered then
/// stays queued and goes again on its route, as after a restart. A dispatcher that was handing
/// a message to this link while its window was full waits for that handoff to fail, so its
/// route pauses for at most those two bounds.
pub(crate) async fn retire(carriers: Arc<Carriers>, link: Arc<Link>, why: Retirement) {
    link.retired.store(true, Ordering::Release);
    let name = link.name().to_owned();
    // Never started (a reload before the gateway served): nothing runs.
    if let Some(tokens) = link.tokens.get() {
        tokens.stop.cancel();
        let unanswered = link.unanswered();
        tracing::info!(carrier = %name, ?why, unanswered, "link retired; draining");
        let deadline = Instant::now() + DRAIN_CARRIERS;
        while link.unanswered() > 0 && Instant::now() < deadline {
            tokio::select! {
                () = tokio::time::sleep(DRAIN_POLL) => {}
                () = tokens.shutdown.cancelled() => break,
            }
        }
        let unanswered = link.unanswered();
        link.unbind().await;
        let deadline = Instant::now() + DRAIN_UNBINDS;
        while link.is_up() && Instant::now() < deadline {
            tokio::select! {
                () = tokio::time::sleep(DRAIN_POLL) => {}
                () = tokens.shutdown.cancelled() => break,
            }
        }
        tokens.shutdown.cancel();
        if unanswered > 0 {
            tracing::warn!(
                carrier = %name, ?why, unanswered,
                "link stopped with submits unanswered; they stay queued and go again"
            );
        }
        tracing::info!(carrier = %name, ?why, "retired link unbound and closed");
    }
    carriers.forget_retired(&link);
}

/// How often a draining link looks at what it still waits for.
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// How long an unbind may wait for a busy session to take it.
const UNBIND_HANDOFF: Duration = Duration::from_secs(1);

/// How long a TCP connect or a TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        let config = crate::config::Config::parse(
            "[[carriers]]\nname = \"c\"\nhost = \"127.0.0.1\"\nport = 2776\n\
             system_id = \"s\"\npassword = \"p\"\n",
        )
        .unwrap();
        Link::new(config.carriers[0].clone()).unwrap()
    }

    #[test]
    fn a_receipt_waits_only_for_submits_older_than_itself() {
        let link = Arc::new(link());
        let older = link.submit_started();
        let horizon = link.ticket_horizon();
        let newer = link.submit_started();
        assert!(link.unanswered_before(horizon));
        drop(older);
        // Only a submit written after the receipt came is unanswered: it cannot be its own.
        assert!(!link.unanswered_before(horizon));
        assert_eq!(link.unanswered(), 1);
        drop(newer);
        assert_eq!(link.unanswered(), 0);
    }

    #[test]
    fn a_submit_is_counted_in_one_phase_at_a_time() {
        let link = Arc::new(link());
        let figures = |link: &Link| (link.unanswered(), link.sending(), link.recording());
        let mut accepted = link.submit_started();
        let mut lost = link.submit_started();
        assert_eq!(figures(&link), (2, 2, 0));
        accepted.written();
        lost.written();
        assert_eq!(figures(&link), (2, 0, 0), "in the session's window");
        accepted.recording();
        assert_eq!(figures(&link), (2, 0, 1));
        drop(lost);
        drop(accepted);
        assert_eq!(figures(&link), (0, 0, 0));
        // Never written: it leaves from where it was.
        drop(link.submit_started());
        assert_eq!(figures(&link), (0, 0, 0));
    }
}
