//! `GET /api/cluster`: nodes, groups and their owners, lease ages, stream depths and pending
//! acknowledgements, as this node sees them (cluster mode; `smppctl cluster`).

use crate::admin::api::{
    ClusterConsumerView, ClusterGroupView, ClusterNodeView, ClusterStreamView, ClusterView,
};
use crate::admin::error::{ApiError, ApiResult};
use crate::admin::Admin;
use axum::extract::State as Shared;
use axum::Json;
use std::sync::Arc;

/// `GET /api/cluster`.
pub(crate) async fn overview(Shared(admin): Shared<Arc<Admin>>) -> ApiResult<ClusterView> {
    let Some(node) = &admin.cluster else {
        return Err(ApiError::not_found(
            "this node runs alone: its config has no [cluster] section",
        ));
    };
    let seen = node
        .overview()
        .await
        .map_err(|e| ApiError::unavailable(format!("the cluster's servers cannot be read: {e}")))?;
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(Json(ClusterView {
        node: seen.node,
        slot: seen.slot,
        durability: seen.durability.to_string(),
        connected_to: seen.status.connected_to,
        server_version: seen.status.version,
        nodes: seen
            .nodes
            .into_iter()
            .map(|n| ClusterNodeView {
                node: n.node,
                slot: n.slot,
                owns: n.owns,
                seen_at_ms: n.at_ms,
            })
            .collect(),
        groups: seen
            .groups
            .into_iter()
            .map(|(group, owner, age)| ClusterGroupView {
                name: group.name,
                routes: group.routes,
                carriers: group.carriers,
                owner,
                lease_age_ms: age.map(millis),
            })
            .collect(),
        pending_acks: seen.held,
        streams: seen
            .status
            .depots
            .into_iter()
            .map(|d| ClusterStreamView {
                kind: d.kind.to_string(),
                name: d.name,
                messages: d.messages,
                bytes: d.bytes,
                replicas: d.replicas,
                leader: d.leader,
                consumers: d
                    .consumers
                    .into_iter()
                    .map(|c| ClusterConsumerView {
                        name: c.name,
                        pending: c.pending,
                        ack_pending: c.ack_pending,
                        redelivered: c.redelivered,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
