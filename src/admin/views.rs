//! The read side of the admin API: the handlers, and the gateway's state made into the views
//! of `admin::api` (the gateway, its carrier links, client binds, queues, routes and single
//! messages). `actions.rs` answers with the same views.

use crate::admin::api::{
    self, BindView, CarrierView, ErrorView, EventView, LinkBind, LinkState, LinkView, MessageView,
    OutboxView, QueueView, QueuesView, Rate, RouteView, SlotView, StatusView, StoreView,
};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::Admin;
use crate::carrier::{Link, SlotState, SlotStatus};
use crate::config::{AddressPattern, CarrierBind};
use crate::esme::{LiveBind, DEFAULT_ROUTE};
use crate::message::{now_ms, Class, ClassFrom, Message, MessageId, State};
use crate::session::BindKind;
use crate::telemetry;
use axum::extract::{Path, State as Shared};
use axum::Json;
use smpp_proto::coding;
use std::sync::Arc;
use std::time::Duration;

/// `GET /api/status`.
pub(crate) async fn status(Shared(admin): Shared<Arc<Admin>>) -> Json<StatusView> {
    Json(admin.status())
}

/// `GET /api/links`: each carrier link and its session slots.
pub(crate) async fn links(Shared(admin): Shared<Arc<Admin>>) -> Json<Vec<LinkView>> {
    Json(
        admin
            .carriers
            .links()
            .iter()
            .map(|l| admin.link_view(l))
            .collect(),
    )
}

/// `GET /api/links/{name}`.
pub(crate) async fn link(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<LinkView> {
    let link = admin.find_link(&name)?;
    Ok(Json(admin.link_view(&link)))
}

/// `GET /api/binds`: each live client bind.
pub(crate) async fn binds(Shared(admin): Shared<Arc<Admin>>) -> Json<Vec<BindView>> {
    Json(
        admin
            .esme
            .binds()
            .iter()
            .map(|b| admin.bind_view(b))
            .collect(),
    )
}

/// `GET /api/queues`: route queues and client outboxes.
pub(crate) async fn queues(Shared(admin): Shared<Arc<Admin>>) -> ApiResult<QueuesView> {
    let routes = admin
        .route_names()
        .iter()
        .map(|route| admin.queue_view(route))
        .collect::<Result<_, _>>()?;
    let outboxes = admin
        .live_config()
        .clients
        .iter()
        .map(|client| {
            let id = &client.system_id;
            let oldest = admin
                .store
                .outbox(id, None, 1)
                .map_err(|e| ApiError::store("cannot read an outbox", &e))?
                .first()
                .map(|(_, item)| age_seconds(item.created_at));
            Ok(OutboxView {
                client: id.clone(),
                depth: admin.store.outbox_len(id),
                oldest_age_seconds: oldest,
                binds: admin.esme.bind_count(id),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(QueuesView { routes, outboxes }))
}

/// `GET /api/routes`: each route, its conditions, carriers and cap.
pub(crate) async fn routes(Shared(admin): Shared<Arc<Admin>>) -> Json<Vec<RouteView>> {
    let views = admin
        .live_config()
        .routes
        .iter()
        .filter_map(|r| admin.route_view(&r.name))
        .collect();
    Json(views)
}

/// `GET /api/routes/{name}`.
pub(crate) async fn route(
    Shared(admin): Shared<Arc<Admin>>,
    Path(name): Path<String>,
) -> ApiResult<RouteView> {
    admin
        .route_view(&name)
        .map(Json)
        .ok_or_else(|| unknown_route(&name))
}

/// `GET /api/messages/{id}`: one message and its history.
pub(crate) async fn message(
    Shared(admin): Shared<Arc<Admin>>,
    Path(id): Path<String>,
) -> ApiResult<MessageView> {
    let id = parse_id(&id)?;
    match (admin.message(id), admin.carriers.handoff()) {
        // Cluster mode: a message another node ended, as the engine keeps it.
        (Err(e), Some(handoff)) if e.is_not_found() => match handoff.message(id).await {
            Ok(Some(message)) => Ok(Json(message_view(&message))),
            Ok(None) => Err(e),
            Err(failed) => Err(ApiError::unavailable(format!(
                "message {id} is not on this node and the cluster cannot be read: {failed}"
            ))),
        },
        (found, _) => found.map(|m| Json(message_view(&m))),
    }
}

/// `GET /api/links/{name}/messages/{carrier_id}`: the message a carrier knows by its own id.
pub(crate) async fn message_by_carrier_id(
    Shared(admin): Shared<Arc<Admin>>,
    Path((name, carrier_id)): Path<(String, String)>,
) -> ApiResult<MessageView> {
    admin.find_link(&name)?;
    // Carriers' portals and logs change the case of hex ids.
    let forms = [
        carrier_id.clone(),
        carrier_id.to_ascii_lowercase(),
        carrier_id.to_ascii_uppercase(),
    ];
    for form in &forms {
        let found = admin
            .store
            .by_carrier_id(&name, form)
            .map_err(|e| ApiError::store("cannot look up a carrier id", &e))?;
        if let Some(id) = found {
            return admin.message(id).map(|m| Json(message_view(&m)));
        }
    }
    Err(ApiError::not_found(format!(
        "link {name} knows no message by carrier id `{carrier_id}`"
    )))
}

impl Admin {
    pub(crate) fn status(&self) -> StatusView {
        let stats = self.store.commit_stats();
        let mean_flush_ms = if stats.commits == 0 {
            0.0
        } else {
            let ms = stats.sync_time.as_secs_f64() * 1000.0 / stats.commits as f64;
            (ms * 1000.0).round() / 1000.0
        };
        let links = self.carriers.links();
        let space = self.store.space();
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            system_id: self.config.server.system_id.clone(),
            started_at: rfc3339(self.started_at),
            uptime_seconds: self.started.elapsed().as_secs(),
            store: StoreView {
                path: self.config.store.path.display().to_string(),
                durability: self.config.store.durability.to_string(),
                size_bytes: self.store.size_on_disk(),
                commits: stats.commits,
                operations: stats.operations,
                mean_flush_ms,
                free_bytes: space.free_bytes,
                min_free_bytes: space.min_free_bytes,
                space_low: space.low,
            },
            totals: telemetry::totals(),
            queued: self
                .route_names()
                .iter()
                .map(|r| self.store.queue_depth(r))
                .sum(),
            outbox: self
                .live_config()
                .clients
                .iter()
                .map(|c| self.store.outbox_len(&c.system_id))
                .sum(),
            links_up: links.iter().filter(|l| l.is_up()).count(),
            links: links.len(),
            binds: self.esme.binds().len(),
        }
    }

    pub(crate) fn link_view(&self, link: &Link) -> LinkView {
        let config = link.config();
        let sessions = link.bound_sessions();
        let slots: Vec<SlotView> = link
            .slots()
            .into_iter()
            .enumerate()
            .map(|(slot, status)| {
                let handle = sessions.iter().find(|(s, _)| *s == slot).map(|(_, h)| h);
                self.slot_view(slot, status, handle, config.window.get())
            })
            .collect();
        let rate = slots.iter().fold(Rate::default(), |sum, s| Rate {
            r#in: sum.r#in + s.rate.r#in,
            out: sum.out + s.rate.out,
        });
        let last_error = link
            .slots()
            .into_iter()
            .filter_map(|s| s.last_error)
            .max_by_key(|(at, _)| *at)
            .map(|(at, message)| ErrorView {
                at: rfc3339(at),
                message,
            });
        let state = match (link.is_up(), link.is_paused()) {
            (_, true) => LinkState::Paused,
            (true, false) => LinkState::Up,
            (false, false) => LinkState::Down,
        };
        LinkView {
            name: config.name.clone(),
            host: config.host.clone(),
            port: config.port,
            tls: config.tls.is_some(),
            bind: match config.bind {
                CarrierBind::Transceiver => LinkBind::Transceiver,
                CarrierBind::Pair => LinkBind::Pair,
            },
            state,
            paused: link.is_paused(),
            sessions_up: sessions.len(),
            sessions: config.sessions.get(),
            throughput: link.throttle().rate().map(|r| r.get()),
            configured_throughput: link.throttle().configured().map(|r| r.get()),
            rate,
            window_used: slots.iter().map(|s| s.window_used).sum(),
            window: slots.iter().map(|s| s.window).sum(),
            sending: link.sending(),
            recording: link.recording(),
            reconnects: slots.iter().map(|s| s.reconnects).sum(),
            last_error,
            slots,
        }
    }

    fn slot_view(
        &self,
        slot: usize,
        status: SlotStatus,
        handle: Option<&crate::session::SessionHandle>,
        window: usize,
    ) -> SlotView {
        SlotView {
            slot,
            state: match status.state {
                SlotState::Connecting => api::SlotState::Connecting,
                SlotState::Bound => api::SlotState::Bound,
                SlotState::Waiting => api::SlotState::Waiting,
            },
            since: rfc3339(status.since),
            session: handle.map(|h| h.id()),
            window_used: handle.map_or(0, |h| h.stats().in_flight()),
            window: handle.map_or(window, |h| h.stats().window()),
            rate: handle.map_or(Rate::default(), |h| self.rates.rate(h.id())),
            reconnects: status.reconnects,
            last_error: status.last_error.map(|(at, message)| ErrorView {
                at: rfc3339(at),
                message,
            }),
        }
    }

    pub(crate) fn bind_view(&self, bind: &LiveBind) -> BindView {
        let stats = bind.handle.stats();
        BindView {
            session: bind.session,
            system_id: bind.system_id.clone(),
            peer: bind.peer.to_string(),
            bind: match bind.kind {
                BindKind::Transmitter => api::BindKind::Transmitter,
                BindKind::Receiver => api::BindKind::Receiver,
                BindKind::Transceiver => api::BindKind::Transceiver,
            },
            since: rfc3339(bind.since),
            rate: self.rates.rate(bind.session),
            requests_in: stats.requests_in(),
            requests_out: stats.requests_out(),
            window_used: stats.in_flight(),
            window: stats.window(),
        }
    }

    pub(crate) fn queue_view(&self, route: &str) -> Result<QueueView, ApiError> {
        Ok(QueueView {
            route: route.to_owned(),
            depth: self.store.queue_depth(route),
            marketing: self.store.lane_depth(route, Class::Marketing),
            oldest_age_seconds: self.oldest_queued(route)?.map(age_seconds),
            paused: self
                .carriers
                .route_control(route)
                .is_some_and(|c| c.is_paused()),
            routed: self.live.load().routes.named(route).is_some()
                || (route == DEFAULT_ROUTE && self.live_config().routes.is_empty()),
        })
    }

    /// When the message at the head of a route's queue was accepted (unix ms).
    pub(crate) fn oldest_queued(&self, route: &str) -> Result<Option<i64>, ApiError> {
        let read = |e| ApiError::store("cannot read a route queue", &e);
        let Some(&id) = self.store.queued(route, 1).map_err(read)?.first() else {
            return Ok(None);
        };
        Ok(self.store.message(id).map_err(read)?.map(|m| m.received_at))
    }

    pub(crate) fn route_view(&self, name: &str) -> Option<RouteView> {
        let live = self.live_config();
        let config = live.routes.iter().find(|r| r.name == name)?;
        let control = self.carriers.route_control(name)?;
        Some(RouteView {
            name: config.name.clone(),
            destination_prefixes: config.destination_prefixes.clone(),
            clients: config.clients.clone(),
            source_addresses: config.source_addresses.iter().map(pattern).collect(),
            carriers: config.carriers.clone(),
            weights: config
                .weights
                .as_ref()
                .map(|w| w.iter().map(|w| w.get()).collect()),
            throughput: control.throttle().rate().map(|r| r.get()),
            configured_throughput: control.throttle().configured().map(|r| r.get()),
            paused: control.is_paused(),
            depth: self.store.queue_depth(name),
        })
    }

    /// The queues messages can wait in: one per route, or `default` without routes; then those
    /// of routes a reload removed that still hold messages (nothing drains them: they must
    /// show).
    pub(crate) fn route_names(&self) -> Vec<String> {
        let live = self.live_config();
        let mut names: Vec<String> = if live.routes.is_empty() {
            vec![DEFAULT_ROUTE.to_owned()]
        } else {
            live.routes.iter().map(|r| r.name.clone()).collect()
        };
        for name in self.store.queue_names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    pub(crate) fn find_link(&self, name: &str) -> Result<Arc<Link>, ApiError> {
        self.carriers.link(name).ok_or_else(|| {
            let links = self.carriers.links();
            let known: Vec<&str> = links.iter().map(|l| l.name()).collect();
            ApiError::not_found(format!(
                "no carrier link named `{name}`; the links are: {}",
                list(&known)
            ))
        })
    }

    pub(crate) fn message(&self, id: MessageId) -> Result<Message, ApiError> {
        match self.store.message(id) {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(ApiError::not_found(format!("no message with id {id}"))),
            Err(e) => Err(ApiError::store("cannot read a message", &e)),
        }
    }
}

pub(crate) fn unknown_route(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "no route named `{name}`; `smppctl routes` lists them"
    ))
}

/// A gateway message id from a path: decimal digits.
pub(crate) fn parse_id(text: &str) -> Result<MessageId, ApiError> {
    text.parse().map_err(|e| {
        ApiError::bad_request(format!(
            "`{text}` is not a gateway message id ({e}); ids are up to 16 decimal digits, as in \
             submit_sm_resp"
        ))
    })
}

pub(crate) fn message_view(message: &Message) -> MessageView {
    MessageView {
        id: message.id.to_string(),
        client: message.client.clone(),
        route: message.route.clone(),
        state: message.state.name().to_owned(),
        is_final: message.state.is_final(),
        source: message.source.clone(),
        destination: message.destination.clone(),
        received_at: rfc3339(message.received_at),
        schedule_at: message.schedule_at.map(rfc3339),
        expire_at: message.expire_at.map(rfc3339),
        attempts: message.attempts,
        carrier: message.carrier.as_ref().map(|c| CarrierView {
            link: c.link.clone(),
            carrier_id: c.carrier_id.clone(),
        }),
        registered_delivery: message.registered_delivery,
        esm_class: message.esm_class,
        data_coding: message.data_coding,
        text: text(message),
        class: message.class.name().to_owned(),
        class_from: message.class_from.name().to_owned(),
        campaign: message.labels.campaign.clone(),
        client_ref: message.labels.client_ref.clone(),
        tags: message.labels.tags.clone(),
        history: std::iter::once(EventView {
            // The store records changes; the acceptance is the message's first event.
            at: rfc3339(message.received_at),
            state: State::Queued.name().to_owned(),
            detail: format!(
                "accepted from {} as {} ({})",
                message.client,
                message.class,
                class_reason(message)
            ),
        })
        .chain(message.history.iter().map(|e| EventView {
            at: rfc3339(e.at),
            state: e.state.name().to_owned(),
            detail: e.detail.clone(),
        }))
        .collect(),
    }
}

/// Why a message has its class, for people.
fn class_reason(message: &Message) -> String {
    match message.class_from {
        ClassFrom::Tlv => "its smppd_class TLV".to_owned(),
        ClassFrom::ServiceType => format!("service_type `{}`", message.service_type),
        ClassFrom::Source => format!("source `{}`", message.source.addr),
        ClassFrom::ClientDefault => format!("default_class of {}", message.client),
        ClassFrom::Default => "no class rule matched".to_owned(),
        ClassFrom::Mention => "its text's opt-out mention (reclassify_on_mention)".to_owned(),
    }
}

/// The message's text for people.
fn text(message: &Message) -> String {
    coding::decode_text(message.data_coding, message.user_data())
}

fn pattern(pattern: &AddressPattern) -> String {
    match pattern {
        AddressPattern::Exact(exact) => exact.clone(),
        AddressPattern::Prefix(prefix) => format!("{prefix}*"),
    }
}

/// "a, b, c", or "(none)".
pub(crate) fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

pub(crate) use crate::message::rfc3339;

/// Seconds from `unix_ms` until now, to the millisecond.
fn age_seconds(unix_ms: i64) -> f64 {
    let ms = u64::try_from(now_ms().saturating_sub(unix_ms)).unwrap_or(0);
    Duration::from_millis(ms).as_secs_f64()
}
