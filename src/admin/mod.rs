//! The admin API: HTTP/JSON for `smppctl` and operators' scripts, and Prometheus `/metrics`.
//! Loopback by default; with `[admin] token` set, every request carries
//! `Authorization: Bearer TOKEN` (`/metrics` may be left open).
//!
//! Reads (`GET /api/…`) show the gateway as it runs; actions (`POST /api/…`) steer it.
//! Errors are `{"error": "…"}` with 400 for bad input, 401 without the token, 404 for unknown
//! names and ids, 409 when the thing's state forbids the action. The JSON of every endpoint is
//! typed in [`api`], which `smppctl` reads too.

mod actions;
pub mod api;
mod cluster;
mod consent;
mod error;
mod hooks;
pub mod metrics;
mod rates;
mod stats;
mod views;

use crate::carrier::Carriers;
use crate::config::Config;
use crate::esme::bind::constant_time_eq;
use crate::esme::EsmeService;
use crate::live::Live;
use crate::outbox::Outboxes;
use crate::store::Store;
use crate::webhooks::Webhooks;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use metrics_exporter_prometheus::PrometheusHandle;
use rates::Rates;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The gateway's parts the admin API reads and steers.
pub struct Services {
    pub store: Store,
    pub esme: Arc<EsmeService>,
    pub carriers: Arc<Carriers>,
    pub outboxes: Arc<Outboxes>,
    pub webhooks: Arc<Webhooks>,
    /// This node in its cluster, in cluster mode.
    pub cluster: Option<Arc<crate::cluster::node::Node>>,
}

/// What the admin API reads and steers.
pub struct Admin {
    /// The config the gateway started with: the `[admin]` settings, which only a restart
    /// changes.
    config: Arc<Config>,
    /// The running configuration: clients, routes and carriers as in force now.
    live: Live,
    store: Store,
    esme: Arc<EsmeService>,
    carriers: Arc<Carriers>,
    outboxes: Arc<Outboxes>,
    webhooks: Arc<Webhooks>,
    cluster: Option<Arc<crate::cluster::node::Node>>,
    /// When the gateway started: unix ms, and the monotonic clock for the uptime.
    started_at: i64,
    started: Instant,
    rates: Rates,
    prometheus: Option<PrometheusHandle>,
}

impl Admin {
    /// Clients and routes as in force now (a reload may have changed them since start).
    fn live_config(&self) -> Arc<Config> {
        self.live.config()
    }

    /// The admin view of a started gateway; `prometheus` renders `/metrics` (`None`: no
    /// recorder could be installed, and `/metrics` says so).
    pub fn new(
        config: Arc<Config>,
        live: Live,
        services: Services,
        prometheus: Option<PrometheusHandle>,
    ) -> Self {
        let Services {
            store,
            esme,
            carriers,
            outboxes,
            webhooks,
            cluster,
        } = services;
        Self {
            config,
            live,
            store,
            esme,
            carriers,
            outboxes,
            webhooks,
            cluster,
            started_at: crate::message::now_ms(),
            started: Instant::now(),
            rates: Rates::default(),
            prometheus,
        }
    }

    /// Samples the live sessions' request counters (for their rates) and keeps the metrics
    /// recorder tidy; once a second.
    fn tick(&self) {
        let links: Vec<_> = self
            .carriers
            .links()
            .iter()
            .flat_map(|link| link.bound_sessions())
            .map(|(_, handle)| handle)
            .collect();
        let binds = self.esme.binds();
        self.rates.sample(
            links
                .iter()
                .map(|handle| (handle.id(), handle.stats()))
                .chain(binds.iter().map(|b| (b.session, b.handle.stats()))),
        );
        if let Some(prometheus) = &self.prometheus {
            prometheus.run_upkeep();
        }
    }
}

/// Binds the admin listener (before anything is served, so that a port in use stops the start
/// and port 0 resolves to a port the caller can print).
pub async fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.admin.listen).await
}

/// Serves the admin API on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, admin: Arc<Admin>, shutdown: CancellationToken) {
    let ticker = tokio::spawn({
        let (admin, shutdown) = (admin.clone(), shutdown.clone());
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => admin.tick(),
                    () = shutdown.cancelled() => return,
                }
            }
        }
    });
    let served = axum::serve(listener, router(admin))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "admin API stopped");
    }
    ticker.abort();
}

/// Every endpoint, behind the token check.
fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::scrape))
        .route("/api/status", get(views::status))
        .route("/api/links", get(views::links))
        .route("/api/links/{name}", get(views::link))
        .route("/api/links/{name}/pause", post(actions::pause_link))
        .route("/api/links/{name}/resume", post(actions::resume_link))
        .route("/api/links/{name}/throughput", post(actions::throttle_link))
        .route("/api/routes", get(views::routes))
        .route("/api/routes/{name}", get(views::route))
        .route("/api/routes/{name}/pause", post(actions::pause_route))
        .route("/api/routes/{name}/resume", post(actions::resume_route))
        .route(
            "/api/routes/{name}/throughput",
            post(actions::throttle_route),
        )
        .route("/api/routes/{name}/purge", post(actions::purge_route))
        .route("/api/binds", get(views::binds))
        .route("/api/binds/{session}/disconnect", post(actions::disconnect))
        .route("/api/queues", get(views::queues))
        .route("/api/outboxes/{client}/purge", post(actions::purge_outbox))
        .route("/api/messages/{id}", get(views::message))
        .route("/api/suppressions", get(consent::list))
        .route("/api/suppressions/import", post(consent::import))
        .route(
            "/api/suppressions/{number}",
            get(consent::show).put(consent::change),
        )
        .route("/api/consent-log", get(consent::log))
        .route("/api/hooks", get(hooks::list))
        .route(
            "/api/hooks/{client}/{endpoint}/pending",
            get(hooks::pending),
        )
        .route("/api/hooks/{client}/{endpoint}/dead", get(hooks::dead))
        .route("/api/hooks/{client}/{endpoint}/replay", post(hooks::replay))
        .route("/api/campaigns/{client}/{id}", get(stats::campaign))
        .route("/api/stats", get(stats::stats))
        .route("/api/cluster", get(cluster::overview))
        .route("/api/messages/{id}/retry", post(actions::retry))
        .route("/api/messages/{id}/cancel", post(actions::cancel))
        .route(
            "/api/links/{name}/messages/{carrier_id}",
            get(views::message_by_carrier_id),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint; see `smppctl --help`") })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed("this endpoint does not take that method")
        })
        .layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            authorize,
        ))
        .with_state(admin)
}

/// Lets a request through only with the configured token (if any); `/metrics` too unless
/// `metrics_open`.
async fn authorize(
    State(admin): State<Arc<Admin>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(token) = &admin.config.admin.token else {
        return Ok(next.run(request).await);
    };
    if admin.config.admin.metrics_open && request.uri().path() == "/metrics" {
        return Ok(next.run(request).await);
    }
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::unauthorized(
            "wrong admin token; it is [admin] token (or token_file) in smppd's config",
        )),
        None => Err(ApiError::unauthorized(
            "this gateway asks for its admin token: send `Authorization: Bearer TOKEN` \
             (smppctl: --token, SMPPCTL_TOKEN or --token-file)",
        )),
    }
}
