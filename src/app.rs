//! Wiring: open the store, bind the listeners, serve clients until told to stop.

use crate::admin::{self, Admin};
use crate::carrier::{Carriers, DRAIN_CARRIERS, DRAIN_UNBINDS};
use crate::config::Config;
use crate::esme::{self, EsmeService, Listeners};
use crate::http_api;
use crate::live::Live;
use crate::outbox::Outboxes;
use crate::store::{PriceSource, Store};
use crate::webhooks::Webhooks;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("store at {path}: {source}")]
    Store {
        /// `store.path`.
        path: String,
        /// Why.
        #[source]
        source: crate::store::Error,
    },
    /// A carrier link could not be set up (its TLS files).
    #[error("{0}")]
    Carrier(String),
    /// A listener could not start.
    #[error(transparent)]
    Listen(#[from] esme::listener::ListenError),
    /// The built-in carrier simulator (`[simulator]`) could not start.
    #[error("simulator: {0} (simulator.listen)")]
    Simulator(String),
    /// The HTTP API could not listen (or its TLS files could not be read).
    #[error("{0}")]
    HttpApi(String),
    /// The webhook senders could not be set up.
    #[error("{0}")]
    Webhooks(String),
    /// Cluster mode could not start (the engine unreachable or unfit).
    #[error("cluster: {0}")]
    Cluster(String),
    /// The admin API could not listen.
    #[error("admin API: cannot listen on {addr} (admin.listen): {source}")]
    Admin {
        /// `admin.listen`.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Why a serving gateway stopped on its own: its store failed a write for good.
#[derive(Debug, thiserror::Error)]
#[error("the store stopped taking writes ({0}); exiting to be restarted")]
pub struct StoreFailed(pub String);

/// A started gateway: its addresses and the handles tests and the daemon need.
pub struct App {
    /// Plain listener addresses (port 0 resolved).
    pub plain_addrs: Vec<SocketAddr>,
    /// TLS listener addresses.
    pub tls_addrs: Vec<SocketAddr>,
    /// The admin API's address (port 0 resolved), unless `[admin] enabled = false`.
    pub admin_addr: Option<SocketAddr>,
    /// The HTTP API's plain and TLS addresses, when `[http_api]` listens.
    pub http_addrs: Vec<SocketAddr>,
    pub https_addrs: Vec<SocketAddr>,
    /// The store.
    pub store: Store,
    /// The client-facing service (outbox pushes go through it).
    pub esme: Arc<EsmeService>,
    /// The carrier side: links, dispatch, receipts.
    pub carriers: Arc<Carriers>,
    /// The clients' outboxes: what the gateway has to tell each client.
    pub outboxes: Arc<Outboxes>,
    /// The running configuration, which a reload replaces.
    pub live: Live,
    /// The webhook senders.
    pub webhooks: Arc<Webhooks>,
    /// This node in its cluster, with `[cluster]`.
    pub cluster: Option<Arc<crate::cluster::node::Node>>,
    /// The built-in carrier simulator's address, with `[simulator] enabled = true`.
    pub simulator_addr: Option<SocketAddr>,
    simulator: Option<crate::simulator::SimulatorHandle>,
    listeners: Option<Listeners>,
    admin_listener: Option<TcpListener>,
    http_listeners: Option<http_api::Listeners>,
    config: Arc<Config>,
    /// Ends every session and task at once: the last step of a stop.
    shutdown: CancellationToken,
}

impl App {
    /// Opens the store and binds every listener; serves nothing yet.
    pub async fn start(config: Config, shutdown: &CancellationToken) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let live = Live::new(config.clone());
        // The campaign counters cost messages at the prices in force, reloads included.
        let prices: PriceSource = {
            let live = live.clone();
            Arc::new(move || live.config())
        };
        let store =
            Store::open_priced(&config.store, prices).map_err(|source| StartError::Store {
                path: config.store.path.display().to_string(),
                source,
            })?;
        // Before the carrier links, which connect to it at once.
        let simulator = match &config.simulator {
            Some(section) => Some(
                crate::simulator::Simulator::start(crate::simulator::SimulatorConfig {
                    listen: section.listen,
                    receipt_delay: section.receipt_delay,
                    delivered_percent: section.delivered_percent,
                    window: section.window.get(),
                    ..crate::simulator::SimulatorConfig::default()
                })
                .await
                .map_err(|e| StartError::Simulator(e.to_string()))?,
            ),
            None => None,
        };
        let listeners = Listeners::bind(&config).await?;
        let admin_listener = if config.admin.enabled {
            let listener = admin::bind(&config).await;
            Some(listener.map_err(|source| StartError::Admin {
                addr: config.admin.listen,
                source,
            })?)
        } else {
            None
        };
        let http_listeners = http_api::Listeners::bind(&config)
            .await
            .map_err(StartError::HttpApi)?;
        let queued = Arc::new(Notify::new());
        // Its tap is in the store before anything can change there.
        let webhooks = Webhooks::new(store.clone(), live.clone()).map_err(StartError::Webhooks)?;
        let outboxes = Outboxes::new(store.clone(), shutdown.clone());
        let esme = Arc::new(EsmeService::new(
            live.clone(),
            store.clone(),
            outboxes.clone(),
            queued.clone(),
        ));
        let carriers = Carriers::new(live.clone(), store.clone(), outboxes.clone(), queued)
            .map_err(StartError::Carrier)?;
        let cluster = match &config.cluster {
            Some(section) => {
                let node = crate::cluster::node::Node::start(&config, section, store.clone())
                    .await
                    .map_err(StartError::Cluster)?;
                esme.set_handoff(node.clone());
                carriers.set_handoff(node.clone());
                outboxes.set_handoff(node.clone());
                Some(node)
            }
            None => None,
        };
        if config.routes.is_empty() && !config.carriers.is_empty() {
            // Legitimate for carriers that only bring MO in; a trap otherwise.
            tracing::warn!(
                queue = esme::DEFAULT_ROUTE,
                "no [[routes]]: accepted messages wait in their queue until a route sends them \
                 to a carrier"
            );
        }
        Ok(Self {
            plain_addrs: listeners.plain_addrs(),
            tls_addrs: listeners.tls_addrs(),
            admin_addr: admin_listener.as_ref().and_then(|l| l.local_addr().ok()),
            http_addrs: http_listeners
                .as_ref()
                .map(http_api::Listeners::plain_addrs)
                .unwrap_or_default(),
            https_addrs: http_listeners
                .as_ref()
                .map(http_api::Listeners::tls_addrs)
                .unwrap_or_default(),
            http_listeners,
            store,
            esme,
            carriers,
            outboxes,
            live,
            webhooks,
            cluster,
            listeners: Some(listeners),
            admin_listener,
            simulator_addr: simulator
                .as_ref()
                .map(crate::simulator::SimulatorHandle::addr),
            simulator,
            config,
            shutdown: shutdown.clone(),
        })
    }

    /// What re-reads `path` (the file `config` came from) into this gateway on SIGHUP.
    pub fn reloader(&self, path: Option<std::path::PathBuf>) -> crate::reload::Reloader {
        crate::reload::Reloader::new(
            path,
            self.live.clone(),
            self.esme.clone(),
            self.carriers.clone(),
            self.listeners.as_ref().and_then(Listeners::tls_identity),
        )
    }

    /// Serves until `stop` is cancelled (SIGTERM), then stops gracefully: no new connections
    /// or submits to carriers; clients are unbound (their submits in progress answered first);
    /// the submits in flight to carriers get up to [`DRAIN_CARRIERS`] for their responses
    /// (those still unanswered are sent again after the restart); carriers are unbound; the
    /// store is flushed and synced. Nothing acknowledged is lost at any step. Cancelling the
    /// `shutdown` token given to [`App::start`] instead stops everything at once.
    ///
    /// A store that fails a write for good (a full disk the free-space guard did not prevent, an
    /// I/O error) stops everything at once too, and `serve` returns [`StoreFailed`]: the process
    /// must exit non-zero so that its supervisor restarts it. Nothing is lost by that: the
    /// failed group commit acknowledged nothing, and opening the store replays its journal,
    /// which holds every write acknowledged before. Going on instead would refuse every submit
    /// and receipt until someone restarts it by hand: sled 0.34 fails every write after its
    /// first failed one until it is reopened, and cannot be reopened under the live gateway.
    pub async fn serve(mut self, stop: CancellationToken) -> Result<(), StoreFailed> {
        let shutdown = self.shutdown.clone();
        let tracker = TaskTracker::new();
        self.carriers.start(&tracker, &stop, &shutdown);
        if let Some(node) = &self.cluster {
            node.run(
                (
                    self.carriers.clone(),
                    self.outboxes.clone(),
                    self.esme.clone(),
                ),
                &self.live,
                &tracker,
                stop.clone(),
            );
        }
        if let Some(listener) = self.admin_listener.take() {
            let services = admin::Services {
                store: self.store.clone(),
                esme: self.esme.clone(),
                carriers: self.carriers.clone(),
                outboxes: self.outboxes.clone(),
                webhooks: self.webhooks.clone(),
                cluster: self.cluster.clone(),
            };
            let admin = Admin::new(
                self.config.clone(),
                self.live.clone(),
                services,
                admin::metrics::install(),
            );
            tracker.spawn(admin::serve(listener, Arc::new(admin), shutdown.clone()));
        }
        if let Some(listeners) = self.http_listeners.take() {
            let api =
                http_api::HttpApi::new(self.live.clone(), self.store.clone(), self.esme.clone());
            // Like SMPP clients: no new submits once the stop begins.
            tracker.spawn(http_api::serve(listeners, Arc::new(api), stop.clone()));
        }
        // Events go on being sent while the gateway drains; they stop with the rest.
        tracker.spawn(self.webhooks.clone().run(shutdown.clone()));
        // Always: keys kept under an earlier config's [http_api] expire too.
        tracker.spawn(crate::store::idempotency::run(
            self.store.clone(),
            self.live.clone(),
            stop.clone(),
        ));
        if let Some(keep) = self.config.store.retention {
            tracker.spawn(crate::store::retention::run(
                self.store.clone(),
                keep,
                stop.clone(),
            ));
        }
        if let Some(listeners) = self.listeners.take() {
            tracker.spawn(esme::serve(
                listeners,
                self.config.clone(),
                self.esme.clone(),
                stop.clone(),
                shutdown.clone(),
            ));
        }
        let mut failed = None;
        tokio::select! {
            () = stop.cancelled() => self.drain().await,
            () = shutdown.cancelled() => {}
            reason = self.store.failed() => {
                // No drain: it would wait on writes (carrier responses, receipts) that now fail.
                tracing::error!(
                    %reason,
                    "store: writes fail for good (sled keeps a failed write's error until it is \
                     reopened); stopping now and exiting non-zero to be restarted. Every \
                     acknowledged message is in the store's journal and is kept"
                );
                // Their submits in progress are answered (ESME_RSYSERR) before the close.
                self.unbind_clients().await;
                let deadline = Instant::now() + DRAIN_UNBINDS;
                while !self.esme.binds().is_empty() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                failed = Some(StoreFailed(reason));
            }
        }
        // Tasks that only watch `stop` (retention, the idempotency sweep, listeners) end with
        // the rest.
        stop.cancel();
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
        if let Err(e) = self.store.close().await {
            tracing::error!(error = %e, "store: close failed");
        }
        if let Some(simulator) = self.simulator.take() {
            simulator.shutdown().await;
        }
        failed.map_or(Ok(()), Err)
    }

    /// The graceful part of a stop; see [`App::serve`].
    async fn drain(&self) {
        tracing::info!("stopping: no new connections or carrier submits; unbinding clients");
        self.unbind_clients().await;
        let deadline = Instant::now() + DRAIN_CARRIERS;
        while self.carriers.unanswered() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let unanswered = self.carriers.unanswered();
        if unanswered > 0 {
            tracing::warn!(
                unanswered,
                "stopping with carrier submits unanswered; they are sent again after the restart"
            );
        }
        self.carriers.unbind_all().await;
        let deadline = Instant::now() + DRAIN_UNBINDS;
        while (!self.esme.binds().is_empty() || self.carriers.any_up()) && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!("stopped cleanly");
    }

    /// Unbinds every client; a session answers the requests it is processing first.
    async fn unbind_clients(&self) {
        for bind in self.esme.binds() {
            // A session too busy to take the unbind now is closed with the rest at the end.
            let _ = tokio::time::timeout(Duration::from_millis(100), bind.handle.unbind()).await;
        }
    }
}
