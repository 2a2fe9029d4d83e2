//! The shops' HTTP API (`[http_api]`): JSON over HTTP or HTTPS, under `/api/v1`, for clients
//! that hold API keys. A message sent here goes through exactly what a bound client's
//! submit_sm goes through (`EsmeService::submit_parts`: caps, validation, class, sender
//! rules, consent, routes, sending windows) and is answered 202 only once it is on disk, as a
//! submit_sm_resp with an id is. `Idempotency-Key` makes a retried POST safe
//! (`idempotency.rs`).
//!
//! Files: `auth.rs` (API keys), `messages.rs` (sending, reading and cancelling messages),
//! `preview.rs` (a send's outcome, with nothing sent), `campaigns.rs` (cancelling a
//! campaign), `campaign_stats.rs` (a campaign's figures), `error.rs` (error bodies).

mod auth;
mod campaign_stats;
mod campaigns;
mod error;
mod messages;
mod preview;

use crate::config::Config;
use crate::esme::EsmeService;
use crate::idempotency::InFlight;
use crate::live::Live;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the endpoints share.
pub struct HttpApi {
    live: Live,
    store: Store,
    esme: Arc<EsmeService>,
    keys: auth::Keys,
    in_flight: InFlight,
    /// Test-only fault point (`SMPPD_FAULT=abort-after-http-commit`): the process aborts after
    /// a submit's commit and before its answer, as a crash there would.
    abort_after_commit: bool,
}

impl HttpApi {
    pub fn new(live: Live, store: Store, esme: Arc<EsmeService>) -> Self {
        Self {
            live,
            store,
            esme,
            keys: auth::Keys::default(),
            in_flight: InFlight::default(),
            abort_after_commit: std::env::var("SMPPD_FAULT")
                .is_ok_and(|fault| fault == "abort-after-http-commit"),
        }
    }

    fn config(&self) -> Arc<Config> {
        self.live.config()
    }
}

/// The API's listeners, bound before anything is served.
pub struct Listeners {
    plain: Vec<TcpListener>,
    tls: Vec<(TcpListener, TlsAcceptor)>,
}

impl Listeners {
    /// Binds `[http_api] listen` and `[http_api.tls] listen`; `None` when the API is off.
    pub async fn bind(config: &Config) -> Result<Option<Self>, String> {
        let api = &config.http_api;
        if !api.enabled() {
            return Ok(None);
        }
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| format!("http_api: cannot listen on {addr}: {e}"))
        };
        let mut plain = Vec::new();
        for addr in &api.listen {
            plain.push(bind(*addr).await?);
        }
        let mut tls = Vec::new();
        if let Some(section) = &api.tls {
            let acceptor = crate::esme::listener::tls_acceptor("http_api.tls", section)
                .map_err(|e| e.to_string())?;
            for addr in &section.listen {
                tls.push((bind(*addr).await?, acceptor.clone()));
            }
        }
        Ok(Some(Self { plain, tls }))
    }

    /// The plain listeners' addresses (port 0 resolved).
    pub fn plain_addrs(&self) -> Vec<SocketAddr> {
        self.plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The TLS listeners' addresses.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }
}

/// Serves the API on every listener until `shutdown`; requests under way finish first.
pub async fn serve(listeners: Listeners, api: Arc<HttpApi>, shutdown: CancellationToken) {
    let limit = api.config().http_api.max_body_bytes;
    let router = router(api).layer(DefaultBodyLimit::max(limit));
    let tasks = TaskTracker::new();
    for listener in listeners.plain {
        let (router, shutdown) = (router.clone(), shutdown.clone());
        tasks.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "http_api: a listener stopped");
            }
        });
    }
    for (listener, acceptor) in listeners.tls {
        let (router, shutdown) = (router.clone(), shutdown.clone());
        tasks.spawn(async move {
            let listener = TlsListener::start(listener, acceptor, shutdown.clone());
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "http_api: a TLS listener stopped");
            }
        });
    }
    tasks.close();
    tasks.wait().await;
}

fn router(api: Arc<HttpApi>) -> Router {
    Router::new()
        .route(
            "/api/v1/messages",
            post(messages::submit)
                .get(messages::show_by_ref)
                .delete(messages::cancel_by_ref),
        )
        .route("/api/v1/messages:batch", post(messages::submit_batch))
        .route(
            "/api/v1/messages/{id}",
            get(messages::show).delete(messages::cancel),
        )
        .route("/api/v1/preview", post(preview::preview))
        .route("/api/v1/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/api/v1/campaigns/{id}", get(campaign_stats::show))
        .with_state(api)
}

/// TLS connections for axum: each handshake runs on its own task (a slow client holds up no
/// other), and the finished ones are handed over in the order they finish.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl TlsListener {
    fn start(listener: TcpListener, acceptor: TlsAcceptor, shutdown: CancellationToken) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = shutdown.cancelled() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::debug!(error = %e, "http_api: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "http_api: TLS failed"),
                        Err(_) => tracing::debug!(%peer, "http_api: TLS handshake timed out"),
                    }
                });
            }
        });
        Self { ready, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ended (shutdown): nothing more comes; axum stops on shutdown.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
