//! `smppctl cluster`: the cluster as the node behind the admin API sees it.

use crate::output::table;
use smppd::admin::api::ClusterView;

/// Nodes, groups, then streams and their consumers.
pub(crate) fn render(v: ClusterView) -> String {
    let now = smppd::message::now_ms();
    let head = format!(
        "node {} (slot {:02}), durability {}, connected to {} ({}); {} queue entries in hand",
        v.node, v.slot, v.durability, v.connected_to, v.server_version, v.pending_acks
    );
    let nodes = table(
        &["NODE", "SLOT", "OWNS", "SEEN"],
        v.nodes.iter().map(|n| {
            vec![
                n.node.clone(),
                format!("{:02}", n.slot),
                list(&n.owns),
                format!("{:.1}s ago", (now - n.seen_at_ms).max(0) as f64 / 1000.0),
            ]
        }),
    );
    let groups = table(
        &["GROUP", "OWNER", "LEASE", "ROUTES", "CARRIERS"],
        v.groups.iter().map(|g| {
            vec![
                g.name.clone(),
                g.owner.clone().unwrap_or_else(|| "-".to_owned()),
                g.lease_age_ms.map_or_else(
                    || "-".to_owned(),
                    |ms| format!("{:.1}s", ms as f64 / 1000.0),
                ),
                list(&g.routes),
                list(&g.carriers),
            ]
        }),
    );
    let streams = table(
        &["STREAM", "KIND", "ENTRIES", "BYTES", "R", "LEADER"],
        v.streams.iter().map(|s| {
            vec![
                s.name.clone(),
                s.kind.clone(),
                s.messages.to_string(),
                s.bytes.to_string(),
                s.replicas.to_string(),
                s.leader.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        }),
    );
    let consumers = table(
        &["CONSUMER", "STREAM", "PENDING", "UNACKED", "REDELIVERED"],
        v.streams.iter().flat_map(|s| {
            s.consumers.iter().map(|c| {
                vec![
                    c.name.clone(),
                    s.name.clone(),
                    c.pending.to_string(),
                    c.ack_pending.to_string(),
                    c.redelivered.to_string(),
                ]
            })
        }),
    );
    format!("{head}\n\n{nodes}\n\n{groups}\n\n{streams}\n\n{consumers}")
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}
