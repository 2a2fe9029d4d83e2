//! Webhooks: the events smppd POSTs to a shop's HTTP endpoints (a message delivered, failed,
//! deferred or sent; an MO; a consent change), signed per Standard Webhooks 1.0 so that any of
//! its reference libraries can check them.
//!
//! - [`tap`]: which change makes which event for which endpoint. The store runs it on its
//!   commit thread, so an event is written in the very commit of its change: no receipt, MO
//!   or consent change commits without its events, and a crash keeps both or neither.
//! - [`delivery`]: one sender per endpoint, from its durable queue, at least once, in order
//!   per message, a retry ladder, a probe for an endpoint that is down, dead letters.
//! - [`payload`]: the JSON of each event (no message text).
//! - [`sign`] (`src/hook_sign.rs`): `whsec_` secrets, the three headers, key rotation, and a
//!   verifier; the event kinds are `src/hook_kind.rs` (both below the config, which reads them).
//!
//! The config is `[[clients.webhooks]]`; `smppctl hooks` shows the queues and replays dead
//! letters.

mod delivery;
pub mod payload;
pub mod tap;

/// The signatures (`hook_sign.rs`, below the config, which parses secrets with it).
pub use crate::hook_sign as sign;

pub use delivery::EndpointStatus;

use crate::live::Live;
use crate::store::{Endpoint, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the senders are checked against the config (a reload adds or removes endpoints).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The endpoint senders of every client.
pub struct Webhooks {
    store: Store,
    live: Live,
    http: reqwest::Client,
    /// Each configured endpoint's status, and the token stopping its sender.
    endpoints: Mutex<HashMap<Endpoint, Running>>,
}

struct Running {
    status: Arc<Mutex<EndpointStatus>>,
    stop: CancellationToken,
    /// The config it started with: a change restarts it (a new URL, a 410 that an operator
    /// cleared by reloading).
    config: crate::config::WebhookConfig,
    tasks: TaskTracker,
}

impl Webhooks {
    /// The senders, not started; the store is given their tap at once, so events are
    /// queued from the first accept.
    pub fn new(store: Store, live: Live) -> Result<Arc<Self>, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("smppd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhooks: cannot make the HTTP client: {e}"))?;
        store.set_tap(Arc::new(tap::HookTap::new(live.clone())));
        Ok(Arc::new(Self {
            store,
            live,
            http,
            endpoints: Mutex::default(),
        }))
    }

    /// Keeps one sender per configured endpoint until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            self.follow_config(&stop);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
        let running: Vec<Running> = crate::sync::lock(&self.endpoints)
            .drain()
            .map(|(_, running)| running)
            .collect();
        for running in running {
            running.stop.cancel();
            running.tasks.close();
            running.tasks.wait().await;
        }
    }

    /// Starts senders of new or changed endpoints, stops those of endpoints gone.
    fn follow_config(&self, stop: &CancellationToken) {
        let config = self.live.config();
        let mut endpoints = crate::sync::lock(&self.endpoints);
        let mut wanted = HashMap::new();
        for client in &config.clients {
            for hook in &client.webhooks {
                wanted.insert((client.system_id.clone(), hook.name.clone()), hook);
            }
        }
        endpoints.retain(|endpoint, running| {
            let keep = wanted
                .get(endpoint)
                .is_some_and(|hook| **hook == running.config);
            if !keep {
                running.stop.cancel();
            }
            keep
        });
        for (endpoint, hook) in wanted {
            if endpoints.contains_key(&endpoint) {
                continue;
            }
            let status = Arc::new(Mutex::new(EndpointStatus::default()));
            let sender = delivery::Endpoint {
                client: endpoint.0.clone(),
                name: endpoint.1.clone(),
                store: self.store.clone(),
                live: self.live.clone(),
                http: self.http.clone(),
                status: Arc::clone(&status),
            };
            let own_stop = stop.child_token();
            let tasks = TaskTracker::new();
            tasks.spawn(sender.run(own_stop.clone()));
            endpoints.insert(
                endpoint,
                Running {
                    status,
                    stop: own_stop,
                    config: hook.clone(),
                    tasks,
                },
            );
        }
    }

    /// Each configured endpoint's status.
    pub fn statuses(&self) -> HashMap<Endpoint, EndpointStatus> {
        crate::sync::lock(&self.endpoints)
            .iter()
            .map(|(endpoint, running)| {
                (endpoint.clone(), crate::sync::lock(&running.status).clone())
            })
            .collect()
    }
}
