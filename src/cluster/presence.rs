//! Who is in the cluster, and each node's share of the client caps (docs/cluster.md).
//!
//! Every `lease_ttl / 3` each node writes, in the `SMPPD_LEASE` bucket (whose `max_age` is
//! `lease_ttl`, so that a dead node's keys go away by themselves):
//! - `alive.<node>`: its id slot and the groups it owns;
//! - `binds.<client>.<node>`: how many binds of each client with a `throughput` cap it holds.
//!
//! It then reads every node's keys and takes, of each capped client's `throughput`, the share
//! `cap × (local binds + 1) / (all binds + live nodes)`: the shares of all nodes add up to the
//! cap, so the cluster never takes more than the cap (once every node has read the same
//! counts: for up to two periods after a bind moves, a node may still use its old share), and
//! the "+ 1" leaves each node a share for the client's HTTP requests. A client sending most of
//! its traffic over one of several binds can get less than its cap.

use super::groups;
use crate::esme::EsmeService;
use crate::live::Live;
use async_nats::jetstream::kv;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What `alive.<node>` holds (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive {
    /// The node's `[cluster] node`.
    pub node: String,
    /// Its id slot.
    pub slot: u8,
    /// The groups it owns.
    pub owns: Vec<String>,
    /// When it wrote this, Unix ms by its clock (for people).
    pub at_ms: i64,
}

/// The cluster as the last read found it.
#[derive(Clone, Debug, Default)]
pub struct Members {
    /// Every live node.
    pub nodes: Vec<Alive>,
    /// Binds per client (by `system_id`) and node.
    pub binds: HashMap<String, HashMap<String, u64>>,
}

/// One node's presence.
pub(super) struct Presence {
    node: String,
    slot: u8,
    leases: kv::Store,
    period: Duration,
    esme: Arc<EsmeService>,
    live: Live,
    /// The last read.
    pub(super) members: Mutex<Members>,
}

impl Presence {
    pub(super) fn new(
        node: &str,
        slot: u8,
        leases: kv::Store,
        ttl: Duration,
        esme: Arc<EsmeService>,
        live: Live,
    ) -> Arc<Self> {
        Arc::new(Self {
            node: node.to_owned(),
            slot,
            leases,
            period: ttl / 3,
            esme,
            live,
            members: Mutex::default(),
        })
    }

    /// Writes and reads every period until `stop`; `owned` names the groups owned now.
    pub(super) async fn run(
        self: Arc<Self>,
        owned: impl Fn() -> Vec<String> + Send + 'static,
        stop: CancellationToken,
    ) {
        loop {
            if let Err(e) = self.tick(owned()).await {
                tracing::warn!(error = %e, "cluster: cannot update this node's presence");
            }
            tokio::select! {
                () = tokio::time::sleep(self.period) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn tick(&self, owns: Vec<String>) -> Result<(), String> {
        let config = self.live.config();
        let alive = Alive {
            node: self.node.clone(),
            slot: self.slot,
            owns,
            at_ms: crate::message::now_ms(),
        };
        let value = serde_json::to_vec(&alive).map_err(|e| e.to_string())?;
        self.put(format!("alive.{}", self.node), value).await?;
        let capped: Vec<(String, NonZeroU32)> = config
            .clients
            .iter()
            .filter_map(|c| Some((c.system_id.clone(), c.throughput?)))
            .collect();
        for (client, _) in &capped {
            let count = self.esme.bind_count(client).to_string();
            let key = format!("binds.{}.{}", groups::subject_token(client), self.node);
            self.put(key, count.into_bytes()).await?;
        }
        let members = self.read(&capped).await?;
        let nodes = u64::try_from(members.nodes.len().max(1)).unwrap_or(1);
        for (client, cap) in capped {
            let counts = members.binds.get(&client);
            let all: u64 = counts.map_or(0, |c| c.values().sum());
            let local = counts.and_then(|c| c.get(&self.node).copied()).unwrap_or(0);
            let share = u64::from(cap.get()) * (local + 1) / (all + nodes).max(local + 1);
            let share = NonZeroU32::new(u32::try_from(share).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN);
            self.esme.set_share(&client, share);
        }
        *crate::sync::lock(&self.members) = members;
        Ok(())
    }

    async fn put(&self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.leases
            .put(&key, value.into())
            .await
            .map(drop)
            .map_err(|e| format!("{key}: {e}"))
    }

    /// Every node's `alive` and `binds` keys.
    async fn read(&self, capped: &[(String, NonZeroU32)]) -> Result<Members, String> {
        // The subjects the bucket's stream holds, in one request: `keys()` would make an
        // ordered consumer every period on every node.
        let prefix = format!("$KV.{}.", self.leases.name);
        let keys: Vec<String> = self
            .leases
            .stream
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(|e| e.to_string())?
            .map_ok(|(subject, _)| subject.strip_prefix(&prefix).unwrap_or_default().to_owned())
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        let tokens: HashMap<String, &str> = capped
            .iter()
            .map(|(client, _)| (groups::subject_token(client), client.as_str()))
            .collect();
        let mut members = Members::default();
        for key in keys {
            if key.starts_with("alive.") {
                let value = self.leases.get(&key).await.map_err(|e| e.to_string())?;
                if let Some(alive) = value.and_then(|v| serde_json::from_slice::<Alive>(&v).ok()) {
                    members.nodes.push(alive);
                }
            } else if let Some(rest) = key.strip_prefix("binds.") {
                let Some((token, node)) = rest.split_once('.') else {
                    continue;
                };
                let Some(client) = tokens.get(token) else {
                    continue;
                };
                let value = self.leases.get(&key).await.map_err(|e| e.to_string())?;
                let count = value
                    .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
                    .unwrap_or(0);
                members
                    .binds
                    .entry((*client).to_owned())
                    .or_default()
                    .insert(node.to_owned(), count);
            }
        }
        members.nodes.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(members)
    }
}
