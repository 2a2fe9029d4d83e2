//! A carrier SMSC simulator (`smppd simulate`): the peer that carrier links, tests and the
//! benchmarks submit to. It plays the SMSC role on our own session machinery and answers
//! submits with carrier message ids, then sends delivery receipts — with the quirks real
//! carriers have (ids in another base in the receipt, receipts before the submit_sm_resp,
//! throttling, rejections, slow responses) switchable one by one.
//!
//! Everything pseudo-random is derived from a message id or a counter, so a test that sends
//! the same submits sees the same outcomes.
//!
//! Faults for testing a gateway's recovery: `drop_every` closes a session abruptly with a
//! window of submits unanswered, `withhold_percent` leaves some submits without any answer,
//! `throttle` refuses submits over a rate, `garbage_every` answers some submit_sm with bytes
//! no SMPP peer should send; `max_binds` refuses binds beyond a cap per account, as carriers
//! do. `log_submits` appends every submit received (and every bind and its end), with
//! what became of it, to a file a test can read while the simulator runs in another process.
//!
//! This file holds [`Simulator`], its bind table, its start and shutdown ([`SimulatorHandle`])
//! and the accept loop. The rest, one job a file: `config` (settings and their words),
//! `service` (the PDUs of a session), `faults`, `receipts` (building, queueing, delivering),
//! `mo`, `log` (`--log-submits`) and `stats` (the counters).

mod config;
mod faults;
mod log;
mod mo;
mod receipts;
mod service;
mod stats;

pub use config::{IdFormat, ParseChoiceError, ReceiptForm, ReceiptIdFormat, SimulatorConfig};
pub use faults::Garbage;

use self::log::SubmitLog;
use crate::session::{self, BindKind, RequestError, Role, SessionHandle, SessionLimits};
use governor::DefaultDirectRateLimiter;
use receipts::{ReceiptQueue, Shared, MAX_RECEIPTS_IN_FLIGHT};
use smpp_proto::{COctetString, CommandStatus};
use stats::Counters;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What can go wrong starting the simulator or injecting an MO.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid simulator setting: {0}")]
    Invalid(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No receiver or transceiver bind of that system_id is there to deliver to.
    #[error("no receiver bind of {0:?}")]
    NotBound(String),
    /// The peer answered the deliver_sm with an error status.
    #[error("deliver_sm refused: {0}")]
    Refused(CommandStatus),
    /// The deliver_sm got no response.
    #[error("deliver_sm failed: {0}")]
    Request(#[from] RequestError),
    /// The submit log could not be opened.
    #[error("cannot open the submit log {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The simulator's side of every session: binds, submits and the receipts they cause.
pub struct Simulator {
    config: SimulatorConfig,
    next_id: AtomicU64,
    submits: AtomicU64,
    /// Submits past the throttle, for `withhold_percent`.
    withhold_counter: AtomicU64,
    /// submit_sm received on bound sessions, for `garbage_every`.
    garbage_counter: AtomicU64,
    log: Option<SubmitLog>,
    binds: Mutex<HashMap<u64, Arc<BindEntry>>>,
    round_robin: AtomicUsize,
    shared: Arc<Shared>,
    /// Stops accepting connections and sending periodic MO (graceful shutdown's first step).
    closing: CancellationToken,
    /// Ends every session and task at once.
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// One bound session.
struct BindEntry {
    session: u64,
    system_id: String,
    kind: BindKind,
    handle: SessionHandle,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Submits received on this session, for `drop_every`.
    submits: AtomicU64,
    /// `drop_every` struck: no submit is answered any more, the session is about to close.
    dropping: AtomicBool,
}

/// A running simulator: its address, counters, MO injection and shutdown.
pub struct SimulatorHandle {
    addr: SocketAddr,
    simulator: Arc<Simulator>,
    sessions: TaskTracker,
}

impl Simulator {
    /// Binds the listener and starts serving on the current tokio runtime.
    pub async fn start(config: SimulatorConfig) -> Result<SimulatorHandle, Error> {
        let simulator = Arc::new(Self::new(config)?);
        let listener = TcpListener::bind(simulator.config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: simulator.config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: simulator.config.listen,
            source,
        })?;
        let sessions = TaskTracker::new();
        simulator
            .tasks
            .spawn(accept_loop(listener, simulator.clone(), sessions.clone()));
        simulator
            .tasks
            .spawn(receipts::dispatch_receipts(simulator.clone()));
        if let Some(period) = simulator.config.mo_every {
            simulator
                .tasks
                .spawn(mo::periodic_mo(simulator.clone(), period));
        }
        tracing::info!(%addr, "simulator listening");
        Ok(SimulatorHandle {
            addr,
            simulator,
            sessions,
        })
    }

    /// A simulator without a listener (drive it with [`session::run`]); checks the config.
    /// Receipts need [`Simulator::start`]'s dispatcher, so this is private.
    fn new(config: SimulatorConfig) -> Result<Self, Error> {
        if config.delivered_percent > 100 {
            return Err(Error::Invalid("delivered_percent must be 0..=100".into()));
        }
        if config.reject_percent > 100 {
            return Err(Error::Invalid("reject_percent must be 0..=100".into()));
        }
        if config.withhold_percent > 100 {
            return Err(Error::Invalid("withhold_percent must be 0..=100".into()));
        }
        if config.window == 0 {
            return Err(Error::Invalid("window must be at least 1".into()));
        }
        if config.max_pending_receipts == 0 {
            return Err(Error::Invalid(
                "max_pending_receipts must be at least 1".into(),
            ));
        }
        if config.mo_every.is_some_and(|d| d.is_zero()) {
            return Err(Error::Invalid("mo_every must be more than 0".into()));
        }
        for (name, addr) in [("mo_from", &config.mo_from), ("mo_to", &config.mo_to)] {
            if COctetString::<21>::try_from(addr.as_str()).is_err() {
                return Err(Error::Invalid(format!(
                    "{name} must be at most 20 characters"
                )));
            }
        }
        let log = config
            .log_submits
            .as_deref()
            .map(SubmitLog::open)
            .transpose()?;
        Ok(Self {
            next_id: AtomicU64::new(config.id_start),
            submits: AtomicU64::new(0),
            withhold_counter: AtomicU64::new(0),
            garbage_counter: AtomicU64::new(0),
            log,
            binds: Mutex::new(HashMap::new()),
            round_robin: AtomicUsize::new(0),
            shared: Arc::new(Shared {
                counters: Counters::default(),
                queue: Mutex::new(ReceiptQueue::default()),
                wake: Notify::new(),
                in_flight: Arc::new(Semaphore::new(MAX_RECEIPTS_IN_FLIGHT)),
                max_pending: config.max_pending_receipts,
            }),
            closing: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            config,
        })
    }

    fn binds(&self) -> MutexGuard<'_, HashMap<u64, Arc<BindEntry>>> {
        // A panic while holding this lock leaves a consistent map (inserts and removes only).
        crate::sync::lock(&self.binds)
    }

    /// A receiver or transceiver bind of `system_id`, round robin.
    fn receiver(&self, system_id: &str) -> Option<Arc<BindEntry>> {
        let binds = self.binds();
        let mut receivers: Vec<&Arc<BindEntry>> = binds
            .values()
            .filter(|b| b.system_id == system_id && b.kind.can_receive())
            .filter(|b| !b.handle.is_closed())
            .collect();
        receivers.sort_by_key(|b| b.session);
        let n = self.round_robin.fetch_add(1, Ordering::Relaxed);
        receivers
            .get(n % receivers.len().max(1))
            .map(|b| Arc::clone(b))
    }
}

impl SimulatorHandle {
    /// The address the simulator listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops: no new connections, unbind every bind (peers get the `unbind_timeout` to
    /// answer), then close what is left and wait for the simulator's tasks.
    pub async fn shutdown(self) {
        let simulator = &self.simulator;
        simulator.closing.cancel();
        let handles: Vec<SessionHandle> = simulator
            .binds()
            .values()
            .map(|b| b.handle.clone())
            .collect();
        let graceful = async {
            for handle in handles {
                handle.unbind().await;
            }
            self.sessions.close();
            self.sessions.wait().await;
        };
        // Each session gives up on its unbind after unbind_timeout by itself; the margin
        // lets it flush and close.
        let grace = simulator.config.timers.unbind_timeout + Duration::from_millis(100);
        if tokio::time::timeout(grace, graceful).await.is_err() {
            tracing::info!("sessions still open after the grace period: closing them");
        }
        simulator.shutdown.cancel();
        self.sessions.close();
        self.sessions.wait().await;
        simulator.tasks.close();
        simulator.tasks.wait().await;
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        // A handle dropped without shutdown() (a failed test) must not leave it serving.
        self.simulator.closing.cancel();
        self.simulator.shutdown.cancel();
    }
}

impl fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

async fn accept_loop(listener: TcpListener, simulator: Arc<Simulator>, sessions: TaskTracker) {
    let connections = Arc::new(Semaphore::new(simulator.config.max_connections));
    let limits = SessionLimits {
        timers: simulator.config.timers.clone(),
        max_pdu_bytes: simulator.config.max_pdu_bytes,
        window: simulator.config.window,
        gate: None,
    };
    loop {
        let accepted = tokio::select! {
            () = simulator.closing.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: max_connections reached");
            continue;
        };
        sessions.spawn(connection(
            stream,
            peer,
            limits.clone(),
            simulator.clone(),
            permit,
        ));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    limits: SessionLimits,
    simulator: Arc<Simulator>,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    // Small PDUs both ways: Nagle would add tens of milliseconds to every response.
    let _ = stream.set_nodelay(true);
    let shutdown = simulator.shutdown.clone();
    session::run(stream, peer, Role::Smsc, limits, simulator, shutdown).await;
}

/// Whether the `n`th event (from 0) is one of the `percent` in 100, spread evenly: exactly
/// `percent` of every 100 consecutive events, none of them bunched.
fn spread_hit(n: u64, percent: u8) -> bool {
    let (n, p) = (u128::from(n), u128::from(percent));
    (n + 1) * p / 100 > n * p / 100
}

/// splitmix64's finaliser: a well-mixed, repeatable "random" number from a message id.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The extra receipt delay of message `id`: 0..=`max`, repeatable.
fn jitter(id: u64, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    // Mixed with a constant so the delay does not follow the delivered/undelivered outcome.
    Duration::from_nanos(mix(id ^ 0x5EED) % max_nanos.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_hit_is_exact_and_even() {
        for percent in [0u8, 1, 7, 50, 99, 100] {
            let hits = (0..1000).filter(|&n| spread_hit(n, percent)).count();
            assert_eq!(hits, usize::from(percent) * 10, "percent {percent}");
        }
        // 50%: every other one.
        let pattern: Vec<bool> = (0..4).map(|n| spread_hit(n, 50)).collect();
        assert_eq!(pattern, [false, true, false, true]);
    }
}
