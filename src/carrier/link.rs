//! One carrier link: `sessions` slots, each connecting, binding and reconnecting forever with
//! exponential backoff and jitter.

use crate::carrier::intake::Intake;
use crate::carrier::Carriers;
use crate::config::CarrierConfig;
use crate::session::{self, Role, SessionHandle, SessionLimits};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use smpp_proto::pdu::Bind;
use smpp_proto::{Body, CommandStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A carrier link and its bound sessions.
pub struct Link {
    pub(crate) config: CarrierConfig,
    /// Bound sessions, by slot.
    sessions: Mutex<Vec<(usize, SessionHandle)>>,
    next: AtomicUsize,
    /// The link's throughput cap.
    pub(crate) limiter: Option<DefaultDirectRateLimiter>,
}

impl Link {
    pub(crate) fn new(config: CarrierConfig) -> Self {
        let limiter = config
            .throughput
            .map(|rate| RateLimiter::direct(Quota::per_second(rate)));
        Self {
            config,
            sessions: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            limiter,
        }
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.config.name
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
        sessions.get(i).map(|(_, handle)| handle.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, SessionHandle)>> {
        // The list stays consistent under a panic elsewhere: every change is one push/retain.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn up(&self, slot: usize, handle: SessionHandle) {
        self.lock().push((slot, handle));
    }

    fn down(&self, slot: usize) {
        self.lock().retain(|(s, _)| *s != slot);
    }
}

/// Keeps one session slot of `link` connected and bound until shutdown.
pub(crate) async fn run_slot(
    carriers: Arc<Carriers>,
    link: Arc<Link>,
    slot: usize,
    shutdown: CancellationToken,
) {
    let config = &link.config;
    let mut backoff = config.reconnect_min;
    let intake = Arc::new(Intake::new(carriers.clone(), link.clone()));
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let outcome = connect_and_serve(&carriers, &link, slot, &intake, &shutdown).await;
        link.down(slot);
        let pause = match outcome {
            Outcome::Served => {
                backoff = config.reconnect_min;
                config.reconnect_min
            }
            Outcome::Refused(status) => {
                // Wrong credentials will not fix themselves: retry slowly, loudly.
                tracing::error!(
                    carrier = %config.name, %status,
                    "bind refused; check system_id/password; retrying in {:?}",
                    config.reconnect_max
                );
                config.reconnect_max
            }
            Outcome::Failed(reason) => {
                tracing::warn!(carrier = %config.name, slot, %reason, "link down");
                let pause = jitter(backoff);
                backoff = (backoff * 2).min(config.reconnect_max);
                pause
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
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
    let address = format!("{}:{}", config.host, config.port);
    let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&address));
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Outcome::Failed(format!("connect {address}: {e}")),
        Err(_) => return Outcome::Failed(format!("connect {address}: timed out")),
    };
    let _ = stream.set_nodelay(true);
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(e) => return Outcome::Failed(format!("peer address: {e}")),
    };
    let mut timers = carriers.config.server.session.clone();
    timers.enquire_link_interval = config.enquire_link_interval;
    timers.response_timeout = config.response_timeout;
    timers.inactivity_timeout = timers
        .inactivity_timeout
        .max(config.enquire_link_interval * 3);
    let limits = SessionLimits {
        timers,
        max_pdu_bytes: carriers.config.server.max_pdu_bytes,
        window: config.window.get(),
    };
    let (handle, session) = session::open(
        stream,
        peer,
        Role::Esme,
        limits,
        intake.clone(),
        shutdown.clone(),
    );
    let session = tokio::spawn(session);
    let bind = Bind {
        system_id: config.system_id.as_str().try_into().unwrap_or_default(),
        password: config.password.expose().try_into().unwrap_or_default(),
        system_type: config.system_type.as_str().try_into().unwrap_or_default(),
        interface_version: 0x34,
        address_range: config.address_range.as_str().try_into().unwrap_or_default(),
        ..Bind::default()
    };
    match handle.request(Body::BindTransceiver(bind)).await {
        Ok(resp) if resp.command_status.is_ok() => {}
        Ok(resp) => {
            handle.close();
            let _ = session.await;
            return Outcome::Refused(resp.command_status);
        }
        Err(e) => {
            handle.close();
            let _ = session.await;
            return Outcome::Failed(format!("bind: {e}"));
        }
    }
    tracing::info!(carrier = %config.name, slot, %peer, "link up");
    link.up(slot, handle);
    carriers.notify_queued();
    let _ = session.await;
    Outcome::Served
}

/// `base` ± 25 %, so that many links do not reconnect in lockstep.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    base.mul_f64(factor)
}
