//! Wiring: open the store, bind the listeners, serve clients until told to stop.

use crate::admin::{self, Admin};
use crate::carrier::Carriers;
use crate::config::Config;
use crate::esme::{self, EsmeService, Listeners};
use crate::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
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

/// A started gateway: its addresses and the handles tests and the daemon need.
pub struct App {
    /// Plain listener addresses (port 0 resolved).
    pub plain_addrs: Vec<SocketAddr>,
    /// TLS listener addresses.
    pub tls_addrs: Vec<SocketAddr>,
    /// The admin API's address (port 0 resolved), unless `[admin] enabled = false`.
    pub admin_addr: Option<SocketAddr>,
    /// The store.
    pub store: Store,
    /// The client-facing service (outbox pushes go through it).
    pub esme: Arc<EsmeService>,
    /// The carrier side: links, dispatch, receipts.
    pub carriers: Arc<Carriers>,
    listeners: Option<Listeners>,
    admin_listener: Option<TcpListener>,
    config: Arc<Config>,
}

impl App {
    /// Opens the store and binds every listener; serves nothing yet.
    pub async fn start(config: Config, shutdown: &CancellationToken) -> Result<Self, StartError> {
        let config = Arc::new(config);
        let store = Store::open(&config.store).map_err(|source| StartError::Store {
            path: config.store.path.display().to_string(),
            source,
        })?;
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
        let queued = Arc::new(Notify::new());
        let esme = Arc::new(EsmeService::new(
            config.clone(),
            store.clone(),
            queued.clone(),
            shutdown.clone(),
        ));
        let carriers = Carriers::new(config.clone(), store.clone(), esme.clone(), queued)
            .map_err(StartError::Carrier)?;
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
            store,
            esme,
            carriers,
            listeners: Some(listeners),
            admin_listener,
            config,
        })
    }

    /// What re-reads `path` (the file `config` came from) into this gateway on SIGHUP.
    pub fn reloader(&self, path: Option<std::path::PathBuf>) -> crate::reload::Reloader {
        crate::reload::Reloader::new(
            path,
            self.config.clone(),
            self.esme.clone(),
            self.carriers.clone(),
        )
    }

    /// Serves until `shutdown` is cancelled and every session has ended.
    pub async fn serve(mut self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        self.carriers.start(&tracker, &shutdown);
        if let Some(listener) = self.admin_listener.take() {
            let admin = Admin::new(
                self.config.clone(),
                self.store.clone(),
                self.esme.clone(),
                self.carriers.clone(),
                admin::metrics::install(),
            );
            tracker.spawn(admin::serve(listener, Arc::new(admin), shutdown.clone()));
        }
        if let Some(keep) = self.config.store.retention {
            tracker.spawn(crate::store::retention::run(
                self.store.clone(),
                keep,
                shutdown.clone(),
            ));
        }
        if let Some(listeners) = self.listeners.take() {
            esme::serve(listeners, self.config.clone(), self.esme.clone(), shutdown).await;
        }
        tracker.close();
        tracker.wait().await;
    }
}
