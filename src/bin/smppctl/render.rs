//! The text of smppctl's reads: status, links, binds, queues, routes and one message, each
//! from the typed view the admin API answers with. Pure functions; `main.rs` fetches and
//! prints, `actions.rs` renders retry and cancel answers with [`message`].

use crate::output::{ago, bytes, cap, decimal, last_error, rate, seconds, table, yes_no};
use smppd::admin::api::{BindView, LinkView, MessageView, QueuesView, RouteView, StatusView};
use smppd::message::Address;

pub(crate) fn status(v: StatusView) -> String {
    let (store, totals) = (&v.store, &v.totals);
    let mut lines = vec![format!(
        "smppd {} (system_id {}), up {} since {}",
        v.version,
        v.system_id,
        seconds(Some(v.uptime_seconds as f64)),
        v.started_at,
    )];
    lines.push(format!(
        "store     {}: {}, {}, {} commits (mean flush {} ms)",
        store.path,
        bytes(store.size_bytes),
        store.durability,
        store.commits,
        decimal(store.mean_flush_ms),
    ));
    if let Some(free) = store.free_bytes {
        let min = store.min_free_bytes;
        let guard = if store.space_low {
            format!(
                "; BELOW min_free_space {}: new messages refused",
                bytes(min)
            )
        } else if min > 0 {
            format!(" (min_free_space {})", bytes(min))
        } else {
            String::new()
        };
        lines.push(format!("disk      {} free{guard}", bytes(free)));
    }
    lines.push(format!(
        "messages  {} accepted, {} refused, {} receipts, {} ended since start",
        totals.submits_accepted, totals.submits_refused, totals.receipts, totals.messages_ended,
    ));
    lines.push(format!(
        "waiting   {} in route queues, {} in client outboxes",
        v.queued, v.outbox,
    ));
    lines.push(format!(
        "links     {} of {} up; {} client binds",
        v.links_up, v.links, v.binds,
    ));
    lines.join("\n")
}

/// A link's window: in use over room, and what is outside it (handed to a session and not
/// written, or accepted and being recorded) when there is any.
fn window(link: &LinkView) -> String {
    let used = format!("{}/{}", link.window_used, link.window);
    let outside = [("sending", link.sending), ("recording", link.recording)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{n} {what}"))
        .collect::<Vec<_>>();
    if outside.is_empty() {
        used
    } else {
        format!("{used} (+{})", outside.join(", +"))
    }
}

pub(crate) fn links(links: Vec<LinkView>) -> String {
    let rows = links.iter().map(|link| {
        vec![
            link.name.clone(),
            link.state.to_string(),
            format!("{}/{}", link.sessions_up, link.sessions),
            window(link),
            rate(link.rate.out),
            rate(link.rate.r#in),
            cap(link.throughput, link.configured_throughput),
            link.reconnects.to_string(),
            last_error(link.last_error.as_ref()),
        ]
    });
    table(
        &[
            "LINK",
            "STATE",
            "SESSIONS",
            "WINDOW",
            "OUT/S",
            "IN/S",
            "CAP/S",
            "RECONNECTS",
            "LAST ERROR",
        ],
        rows,
    )
}

pub(crate) fn binds(binds: Vec<BindView>) -> String {
    let rows = binds.into_iter().map(|bind| {
        vec![
            bind.session.to_string(),
            bind.system_id,
            bind.peer,
            bind.bind.to_string(),
            ago(&bind.since),
            rate(bind.rate.r#in),
            rate(bind.rate.out),
            format!("{}/{}", bind.window_used, bind.window),
        ]
    });
    table(
        &[
            "SESSION",
            "CLIENT",
            "PEER",
            "BIND",
            "BOUND FOR",
            "IN/S",
            "OUT/S",
            "WINDOW",
        ],
        rows,
    )
}

pub(crate) fn queues(v: QueuesView) -> String {
    let routes = v.routes.into_iter().map(|q| {
        let route = if q.routed {
            q.route
        } else {
            format!("{} (no route)", q.route)
        };
        vec![
            route,
            q.depth.to_string(),
            q.marketing.to_string(),
            seconds(q.oldest_age_seconds),
            yes_no(q.paused),
        ]
    });
    let outboxes = v.outboxes.into_iter().map(|q| {
        vec![
            q.client,
            q.depth.to_string(),
            seconds(q.oldest_age_seconds),
            q.binds.to_string(),
        ]
    });
    format!(
        "{}\n\n{}",
        table(
            &["ROUTE", "QUEUED", "MARKETING", "OLDEST", "PAUSED"],
            routes
        ),
        table(&["CLIENT", "OUTBOX", "OLDEST", "BINDS"], outboxes)
    )
}

pub(crate) fn routes(routes: Vec<RouteView>) -> String {
    let rows = routes.into_iter().map(|r| {
        let mut matches = Vec::new();
        for (list, what) in [
            (&r.destination_prefixes, "to"),
            (&r.clients, "from client"),
            (&r.source_addresses, "from"),
        ] {
            if !list.is_empty() {
                matches.push(format!("{what} {}", list.join("|")));
            }
        }
        let carriers = match &r.weights {
            Some(weights) => r
                .carriers
                .iter()
                .zip(weights)
                .map(|(c, w)| format!("{c}×{w}"))
                .collect::<Vec<_>>()
                .join(" "),
            None => r.carriers.join(" > "),
        };
        vec![
            r.name,
            if matches.is_empty() {
                "everything".to_owned()
            } else {
                matches.join(", ")
            },
            carriers,
            cap(r.throughput, r.configured_throughput),
            yes_no(r.paused),
            r.depth.to_string(),
        ]
    });
    table(
        &["ROUTE", "MATCHES", "CARRIERS", "CAP/S", "PAUSED", "QUEUED"],
        rows,
    )
}

pub(crate) fn message(v: MessageView) -> String {
    let address = |a: &Address| format!("{} (ton {}, npi {})", a.addr, a.ton, a.npi);
    let mut lines = vec![
        format!(
            "message {}: {}{}",
            v.id,
            v.state,
            if v.is_final { " (final)" } else { "" }
        ),
        format!("client    {} on route {}", v.client, v.route),
        format!("from      {}", address(&v.source)),
        format!("to        {}", address(&v.destination)),
        format!("received  {}", v.received_at),
    ];
    if let Some(at) = &v.schedule_at {
        lines.push(format!("scheduled {at}"));
    }
    if let Some(at) = &v.expire_at {
        lines.push(format!("expires   {at}"));
    }
    let carrier = match &v.carrier {
        Some(c) => format!("{} as {}", c.link, c.carrier_id),
        None => "-".to_owned(),
    };
    lines.push(format!("carrier   {carrier}; {} attempts", v.attempts));
    lines.push(format!("text      {:?}", v.text));
    lines.push(format!("class     {} (from {})", v.class, v.class_from));
    let mut labels = Vec::new();
    if let Some(campaign) = &v.campaign {
        labels.push(format!("campaign {campaign}"));
    }
    if let Some(client_ref) = &v.client_ref {
        labels.push(format!("ref {client_ref}"));
    }
    if !v.tags.is_empty() {
        labels.push(format!("tags {}", v.tags.join(", ")));
    }
    if !labels.is_empty() {
        lines.push(format!("labels    {}", labels.join("; ")));
    }
    let history = v.history.into_iter().map(|e| vec![e.at, e.state, e.detail]);
    format!(
        "{}\n\n{}",
        lines.join("\n"),
        table(&["AT", "STATE", "DETAIL"], history)
    )
}
