//! smppctl's commands that steer the gateway: pause and resume, throttle, purge, disconnect,
//! and the one line each prints from the admin API's answer. `main.rs` dispatches to them.

use crate::api::{segment, Api};
use crate::cli::Target;
use crate::output::show;
use anyhow::bail;
use smppd::admin::api::{
    Confirm, Disconnect, DisconnectHow, Disconnected, LinkView, Purged, RouteView, Throughput,
};

/// Whether `target` is a link (`true`) or a route, asking the gateway when the name alone does
/// not say.
fn is_link(api: &Api, target: &Target) -> anyhow::Result<bool> {
    if target.link || target.route {
        return Ok(target.link);
    }
    let links: Vec<LinkView> = api.get("/api/links")?.view()?;
    let routes: Vec<RouteView> = api.get("/api/routes")?.view()?;
    let link = links.iter().any(|l| l.name == target.name);
    let route = routes.iter().any(|r| r.name == target.name);
    match (link, route) {
        (true, false) => Ok(true),
        (false, true) => Ok(false),
        (true, true) => bail!(
            "both a link and a route are named `{}`; say --link or --route",
            target.name
        ),
        (false, false) => bail!(
            "no link or route is named `{}`; `smppctl links` and `smppctl routes` list them",
            target.name
        ),
    }
}

/// `pause` and `resume`: `action` is the last segment of the endpoint.
pub(crate) fn pause(api: &Api, json: bool, target: &Target, action: &str) -> anyhow::Result<()> {
    let name = segment(&target.name);
    if is_link(api, target)? {
        let link = api.post(&format!("/api/links/{name}/{action}"))?;
        show(json, &link, |l: LinkView| {
            format!("link {}: {}", l.name, l.state)
        })
    } else {
        let route = api.post(&format!("/api/routes/{name}/{action}"))?;
        show(json, &route, |r: RouteView| {
            let state = if r.paused { "paused" } else { "running" };
            format!("route {}: {state}", r.name)
        })
    }
}

pub(crate) fn throttle(api: &Api, json: bool, target: &Target, rate: &str) -> anyhow::Result<()> {
    let rate = match rate {
        "none" | "off" | "unlimited" => None,
        n => match n.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => bail!("`{n}` is not a rate: give messages per second (at least 1), or `none`"),
        },
    };
    let name = segment(&target.name);
    let body = Throughput { rate };
    if is_link(api, target)? {
        let answer = api.post_json(&format!("/api/links/{name}/throughput"), &body)?;
        show(json, &answer, |l: LinkView| {
            capped(&l.name, l.throughput, l.configured_throughput)
        })
    } else {
        let answer = api.post_json(&format!("/api/routes/{name}/throughput"), &body)?;
        show(json, &answer, |r: RouteView| {
            capped(&r.name, r.throughput, r.configured_throughput)
        })
    }
}

/// "name: cap 50/s (configured: none)".
fn capped(name: &str, now: Option<u32>, configured: Option<u32>) -> String {
    let per_second = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |n| format!("{n}/s"));
    format!(
        "{name}: cap {} (configured: {})",
        per_second(now),
        per_second(configured)
    )
}

pub(crate) fn purge(
    api: &Api,
    json: bool,
    route: Option<String>,
    outbox: Option<String>,
    yes: bool,
) -> anyhow::Result<()> {
    let path = match (&route, &outbox) {
        (Some(route), _) => format!("/api/routes/{}/purge", segment(route)),
        (None, Some(client)) => format!("/api/outboxes/{}/purge", segment(client)),
        (None, None) => bail!("name a route, or a client with --outbox"),
    };
    if !yes {
        // The gateway says what would go; nothing is purged without --yes.
        api.post_json(&path, &Confirm { confirm: false })?;
        bail!("nothing purged: add --yes");
    }
    let answer = api.post_json(&path, &Confirm { confirm: true })?;
    show(json, &answer, |p: Purged| {
        let what = if outbox.is_some() {
            "receipts and MO from the outbox of"
        } else {
            "messages from route"
        };
        let mut line = format!("purged {} {what} {}", p.purged, p.queue);
        if p.failed > 0 {
            line.push_str(&format!(
                "; {} could not be purged (see smppd's log)",
                p.failed
            ));
        }
        line
    })
}

pub(crate) fn disconnect(api: &Api, json: bool, session: u64, force: bool) -> anyhow::Result<()> {
    let path = format!("/api/binds/{session}/disconnect");
    let answer = api.post_json(&path, &Disconnect { force })?;
    show(json, &answer, |d: Disconnected| {
        let how = match d.how {
            DisconnectHow::Unbind => "unbound",
            DisconnectHow::Close => "closed",
        };
        format!(
            "session {} of {} from {}: {how}",
            d.session, d.system_id, d.peer
        )
    })
}
