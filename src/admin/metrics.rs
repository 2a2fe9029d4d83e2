//! `/metrics`: the Prometheus exporter behind the `metrics` facade. Counters and histograms are
//! recorded where things happen (`telemetry.rs`); gauges of state (queue depths, window use,
//! links, binds, the store) are read when Prometheus scrapes, so they cost nothing between
//! scrapes.

use crate::admin::Admin;
use crate::message::Class;
use crate::telemetry::name;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Buckets of the submit latency histogram, seconds: a durable commit takes milliseconds.
const SUBMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets of the submit → receipt histogram, seconds: carriers take seconds to days.
const DELIVERY_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0,
];
/// Buckets of the store's flush + fsync histogram, seconds: a disk syncs in about a
/// millisecond, a busy or network one in tens.
const FLUSH_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Gauges not set for this long disappear (a session that ended).
const GAUGE_IDLE: Duration = Duration::from_secs(120);
/// How often the recorder folds histogram samples into their buckets. Until then it keeps each
/// sample with its time (24 bytes, two a message): without this, for good if nobody scrapes
/// `/metrics`.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's Prometheus recorder, installed on first use. `None` if another recorder was
/// installed first (then `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(name::SUBMIT_LATENCY.into()), SUBMIT_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(name::DELIVERY_LATENCY.into()),
                        DELIVERY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(name::STORE_FLUSH_LATENCY.into()),
                        FLUSH_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(name::ENGINE_PUBLISH_LATENCY.into()),
                        FLUSH_BUCKETS,
                    )
                })
                .map(|b| b.idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE)))
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    crate::telemetry::describe();
                    crate::telemetry::recorder_installed();
                    spawn_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "metrics: cannot install the Prometheus recorder");
                    None
                }
            }
        })
        .clone()
}

/// The upkeep `install_recorder` leaves to its caller (unlike `install`, which needs a runtime
/// and brings an HTTP listener of its own): a thread, as the recorder may come before the
/// runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("smppd-metrics".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics: cannot start the upkeep thread; histograms are folded at scrapes only");
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(admin): State<Arc<Admin>>) -> impl IntoResponse {
    let Some(prometheus) = &admin.prometheus else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are off: another metrics recorder was installed in this process\n".to_owned(),
        );
    };
    admin.set_gauges();
    (
        axum::http::StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        prometheus.render(),
    )
}

impl Admin {
    /// Reads the state gauges stand for.
    fn set_gauges(&self) {
        gauge!(name::UPTIME).set(self.started.elapsed().as_secs_f64());
        gauge!(name::STORE_SIZE).set(self.store.size_on_disk() as f64);
        let space = self.store.space();
        if let Some(free) = space.free_bytes {
            gauge!(name::STORE_FREE).set(free as f64);
        }
        gauge!(name::STORE_SPACE_LOW).set(f64::from(u8::from(space.low)));
        let stats = self.store.commit_stats();
        counter!(name::STORE_COMMITS).absolute(stats.commits);
        counter!(name::STORE_FLUSH_MICROSECONDS)
            .absolute(u64::try_from(stats.sync_time.as_micros()).unwrap_or(u64::MAX));

        for route in self.route_names() {
            gauge!(name::QUEUE_DEPTH, "route" => route.clone())
                .set(self.store.queue_depth(&route) as f64);
            for class in Class::ALL {
                gauge!(name::LANE_DEPTH, "route" => route.clone(), "class" => class.name())
                    .set(self.store.lane_depth(&route, class) as f64);
            }
            let oldest = self.oldest_queued(&route).ok().flatten();
            let age_ms = oldest.map_or(0, |at| crate::message::now_ms().saturating_sub(at));
            gauge!(name::QUEUE_OLDEST, "route" => route.clone())
                .set(Duration::from_millis(u64::try_from(age_ms).unwrap_or(0)).as_secs_f64());
            if let Some(control) = self.carriers.route_control(&route) {
                gauge!(name::ROUTE_PAUSED, "route" => route)
                    .set(f64::from(u8::from(control.is_paused())));
            }
        }
        for client in &self.live_config().clients {
            let id = &client.system_id;
            gauge!(name::OUTBOX_DEPTH, "client" => id.clone())
                .set(self.store.outbox_len(id) as f64);
            gauge!(name::BINDS, "client" => id.clone()).set(self.esme.bind_count(id) as f64);
        }
        if let Some(node) = &self.cluster {
            let owned = node.owned();
            for group in node.group_names() {
                let owns = owned.contains(&group);
                gauge!(name::CLUSTER_OWNER, "group" => group).set(f64::from(u8::from(owns)));
            }
            gauge!(name::CLUSTER_NODES).set(node.live_nodes() as f64);
            gauge!(name::ENGINE_PENDING_ACKS).set(node.held() as f64);
        }
        let statuses = self.webhooks.statuses();
        let depths = self.store.hook_depths();
        for ((client, endpoint), status) in &statuses {
            let labels = [("client", client.clone()), ("endpoint", endpoint.clone())];
            let pending = depths.get(&(client.clone(), endpoint.clone())).copied();
            gauge!(name::WEBHOOK_PENDING, &labels).set(pending.unwrap_or(0) as f64);
            let up = !status.down && !status.disabled;
            gauge!(name::WEBHOOK_UP, &labels).set(f64::from(u8::from(up)));
        }
        for link in self.carriers.links() {
            let label = || link.name().to_owned();
            let sessions = link.bound_sessions();
            gauge!(name::LINK_SESSIONS_UP, "link" => label()).set(sessions.len() as f64);
            gauge!(name::LINK_UP, "link" => label()).set(f64::from(u8::from(link.is_up())));
            gauge!(name::LINK_PAUSED, "link" => label()).set(f64::from(u8::from(link.is_paused())));
            let reconnects = link.slots().iter().map(|s| s.reconnects).sum();
            counter!(name::LINK_RECONNECTS, "link" => label()).absolute(reconnects);
            for (slot, handle) in sessions {
                let labels = [("link", label()), ("slot", slot.to_string())];
                gauge!(name::WINDOW_USED, &labels).set(handle.stats().in_flight() as f64);
                gauge!(name::WINDOW_SIZE, &labels).set(handle.stats().window() as f64);
            }
        }
        for bind in self.esme.binds() {
            let labels = [
                ("client", bind.system_id.clone()),
                ("session", bind.session.to_string()),
            ];
            gauge!(name::WINDOW_USED, &labels).set(bind.handle.stats().in_flight() as f64);
            gauge!(name::WINDOW_SIZE, &labels).set(bind.handle.stats().window() as f64);
        }
    }
}
