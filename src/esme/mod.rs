//! The ESME-facing server: listeners, bind authentication and per-client limits, submit
//! handling (validate → store durably → submit_sm_resp), query/cancel/replace against the
//! store, and delivery of each client's outbox.
//!
//! [`EsmeService`] lives here and hands each request to the file that owns its job: binds in
//! `bind`, submits in `submit`, query/cancel/replace in `query`.

pub(crate) mod bind;
mod query;
mod submit;
mod transliterate;
pub(crate) use submit::Preview;

mod validate;
pub(crate) use validate::Submission;

pub mod listener;
pub use bind::LiveBind;
pub use listener::{serve, Listeners};

use crate::config::{ClientConfig, Config};
use crate::live::Live;
use crate::outbox::Outboxes;
use crate::session::{BindKind, Reply, Service, SessionInfo};
use crate::store::Store;
use crate::telemetry;
use dashmap::DashMap;
use smpp_proto::{Body, CommandStatus, Pdu};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// The queue messages wait in when the config has no `[[routes]]` at all.
pub const DEFAULT_ROUTE: &str = "default";

/// The gateway's side of every client session.
pub struct EsmeService {
    /// The running configuration, routing table and client caps: each request reads the one
    /// in force when it starts.
    live: Live,
    store: Store,
    /// Live binds per system_id.
    binds: DashMap<String, Vec<LiveBind>>,
    outboxes: Arc<Outboxes>,
    /// Tells the carrier side that messages were queued.
    queued: Arc<Notify>,
    /// Cluster mode: where accepted messages go instead of the local store.
    handoff: std::sync::OnceLock<Arc<dyn crate::handoff::Handoff>>,
    /// Cluster mode: this node's share of each capped client's `throughput` (messages per
    /// second, and its limiter), set by the cluster from the binds on every node.
    shares: DashMap<String, (u32, governor::DefaultDirectRateLimiter)>,
}

impl EsmeService {
    /// A service over `store` for the clients of the running configuration, delivering to
    /// their `outboxes`.
    pub fn new(live: Live, store: Store, outboxes: Arc<Outboxes>, queued: Arc<Notify>) -> Self {
        Self {
            live,
            outboxes,
            queued,
            store,
            binds: DashMap::new(),
            handoff: std::sync::OnceLock::new(),
            shares: DashMap::new(),
        }
    }

    /// The engine, in cluster mode.
    pub(crate) fn handoff(&self) -> Option<&Arc<dyn crate::handoff::Handoff>> {
        self.handoff.get()
    }

    /// Cluster mode: this node takes at most `rate` messages per second of `system_id`'s (its
    /// share of the client's `throughput`); kept until set again.
    pub fn set_share(&self, system_id: &str, rate: std::num::NonZeroU32) {
        let unchanged = self
            .shares
            .get(system_id)
            .is_some_and(|share| share.0 == rate.get());
        if !unchanged {
            let limiter = governor::RateLimiter::direct(governor::Quota::per_second(rate));
            self.shares
                .insert(system_id.to_owned(), (rate.get(), limiter));
        }
    }

    /// Cluster mode: new messages get their ids from `handoff` and go to its queue; set before
    /// serving.
    pub fn set_handoff(&self, handoff: Arc<dyn crate::handoff::Handoff>) {
        let _ = self.handoff.set(handoff);
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// The bound account's settings, from the config in force (`config`, read once per
    /// request).
    fn client_of<'c>(config: &'c Config, session: &SessionInfo) -> Option<&'c ClientConfig> {
        let (system_id, _) = session.bound.as_ref()?;
        config.client(system_id)
    }
}

impl Service for EsmeService {
    async fn request(&self, session: Arc<SessionInfo>, pdu: Pdu) -> Reply {
        let seq = pdu.sequence_number;
        let started = Instant::now();
        let response = match &pdu.body {
            Body::BindTransmitter(_) => {
                return self.bind(session, pdu, BindKind::Transmitter).await
            }
            Body::BindReceiver(_) => return self.bind(session, pdu, BindKind::Receiver).await,
            Body::BindTransceiver(_) => {
                return self.bind(session, pdu, BindKind::Transceiver).await
            }
            Body::SubmitSm(sm) => self.submit_sm(&session, seq, sm).await,
            Body::DataSm(sm) => self.data_sm(&session, seq, sm).await,
            Body::SubmitMulti(sm) => self.submit_multi(&session, seq, sm).await,
            Body::QuerySm(q) => self.query_sm(&session, seq, q).await,
            Body::CancelSm(c) => self.cancel_sm(&session, seq, c).await,
            Body::ReplaceSm(r) => self.replace_sm(&session, seq, r).await,
            // The session admits nothing else from an ESME.
            _ => match pdu.response_with_status(CommandStatus::ESME_RINVBNDSTS) {
                Some(response) => response,
                None => return Reply::Nothing,
            },
        };
        if let (Body::SubmitSm(_) | Body::DataSm(_) | Body::SubmitMulti(_), Some((client, _))) =
            (&pdu.body, &session.bound)
        {
            telemetry::submit(client, response.command_status, started.elapsed());
        }
        Reply::Respond(response)
    }

    fn closed(&self, session: &SessionInfo) {
        self.unbound(session);
    }
}
