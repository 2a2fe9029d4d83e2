//! Cluster mode's foundation (issue 21, cluster.md): the connection of one node to the NATS
//! JetStream servers that the nodes of a cluster share, and the streams and buckets they keep
//! there. Not yet on the message path: a node with `[cluster]` still serves from its
//! embedded store; `smppd cluster check` runs everything here.
//!
//! [`Cluster::connect`] connects (each server within `connect_timeout`) and insists on
//! JetStream. [`Cluster::check_durability`] reads the servers' monitoring endpoints and, for
//! `durability = "quorum+fsync"`, refuses unless every JetStream server fsyncs before it
//! acknowledges (`durability.rs`). [`Cluster::provision`] creates every stream and bucket of
//! [`Layout`] that is missing, brings the limits of those that exist to the config, and
//! changes nothing at all if any of them holds something else (`provision.rs`).
//! [`Cluster::status`] reads what they hold. [`Cluster::check`] does all four in that order,
//! so that nothing is created on servers that the durability setting refuses.
//!
//! Every failure is an [`Error`] that says which server, stream or setting, and what to do.

mod consent;
pub mod durability;
pub mod groups;
pub mod layout;
pub mod lease;
pub mod node;
pub mod nodes;
pub mod presence;
pub mod provision;
pub mod relay;

use crate::config::{ClusterConfig, ClusterDurability, Config, NatsAuth};
use async_nats::jetstream::{self, context, stream};
use durability::ServerSync;
use futures_util::TryStreamExt;
use layout::{Kind, Layout, Spec};
use provision::Change;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong between a node and its JetStream servers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `[cluster] servers` URL that the client does not take.
    #[error("cluster.servers: `{url}`: {source}")]
    Address {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The credentials file could not be read.
    #[error("cluster.creds_file: cannot read {}: {source}", path.display())]
    Credentials {
        /// `creds_file`.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No server answered, or none accepted us.
    #[error("cannot connect to NATS at {servers}: {source}")]
    Connect {
        /// `[cluster] servers`, joined.
        servers: String,
        /// The client's last error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// Connecting took longer than every server's `connect_timeout` together.
    #[error("cannot connect to NATS at {servers}: no server answered within {timeout}")]
    ConnectTimeout {
        /// `[cluster] servers`, joined.
        servers: String,
        /// The time given, formatted.
        timeout: String,
    },
    /// The server we reached does not run JetStream.
    #[error(
        "NATS server {server} does not run JetStream: enable it (`jetstream {{ store_dir: … }}` \
         in the server's config) on every server of the cluster"
    )]
    NoJetStream {
        /// Its `server_name`.
        server: String,
    },
    /// `quorum+fsync`, and not every server fsyncs before acknowledging.
    #[error(
        "durability = \"quorum+fsync\" refused:{}",
        .0.iter().map(|p| format!("\n  {p}")).collect::<String>()
    )]
    NotFsynced(Vec<String>),
    /// A monitoring endpoint could not be read (`quorum+fsync` needs them all).
    #[error("durability = \"quorum+fsync\" cannot be checked: {0}")]
    Monitor(String),
    /// Streams or buckets that exist with settings smppd will not change by itself.
    #[error(
        "streams or buckets exist with settings smppd does not change by itself (nothing was \
         changed):{}",
        .0.iter().map(|i| format!("\n  {i}")).collect::<String>()
    )]
    Incompatible(Vec<Incompatible>),
    /// A stream's (or bucket's) info could not be read.
    #[error("cannot read {kind} {name}: {source}")]
    Inspect {
        /// Stream or bucket.
        kind: Kind,
        /// Its name.
        name: String,
        /// The client's error.
        #[source]
        source: context::GetStreamError,
    },
    /// A stream could not be created.
    #[error("cannot create stream {name}: {source}")]
    CreateStream {
        /// Its name.
        name: String,
        /// The client's error (the server's reason, such as too few servers for the replicas).
        #[source]
        source: context::CreateStreamError,
    },
    /// A bucket could not be created.
    #[error("cannot create bucket {name}: {source}")]
    CreateBucket {
        /// Its name.
        name: String,
        /// The client's error.
        #[source]
        source: context::CreateKeyValueError,
    },
    /// A stream's (or bucket's) limits could not be updated.
    #[error("cannot update {kind} {name} ({changes}): {source}")]
    Update {
        /// Stream or bucket.
        kind: Kind,
        /// Its name.
        name: String,
        /// What was to change.
        changes: String,
        /// The client's error.
        #[source]
        source: context::UpdateStreamError,
    },
    /// A stream's consumers could not be listed.
    #[error("cannot list the consumers of {name}: {source}")]
    Consumers {
        /// The stream.
        name: String,
        /// The client's error.
        #[source]
        source: stream::ConsumersError,
    },
}

/// One stream or bucket that exists with a setting smppd will not change by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incompatible {
    /// Stream or bucket.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// What differs, and what to do.
    pub mismatch: provision::Mismatch,
}

impl std::fmt::Display for Incompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.mismatch;
        write!(
            f,
            "{} {}: {} is {}, smppd needs {}: {}",
            self.kind, self.name, m.field, m.found, m.wanted, m.hint
        )
    }
}

/// What a node's cluster parts (its queue work, relay, consent log) share.
#[derive(Clone)]
pub(crate) struct Engine {
    /// This node's `[cluster] node`.
    pub(crate) node: String,
    /// `smppd`, or `<name>.smppd`: every subject starts with it.
    pub(crate) subjects: String,
    /// `SMPPD_`, or `<NAME>_SMPPD_`: every stream and bucket name starts with it.
    pub(crate) names: String,
    pub(crate) jetstream: jetstream::Context,
}

/// A node's connection to the cluster's JetStream servers.
pub struct Cluster {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    config: ClusterConfig,
}

/// What provisioning did to one stream or bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// It was missing and is now created.
    Created,
    /// It was there as the config wants it.
    Unchanged,
    /// It was there; these limits were brought to the config.
    Updated(Vec<Change>),
}

/// What the servers' monitoring endpoints said about syncing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// One per `[cluster] monitor` URL read.
    pub servers: Vec<ServerSync>,
    /// What could not be read (with `durability = "quorum"`, where it is no reason to stop).
    pub unread: Option<String>,
}

/// What a stream or bucket holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Depot {
    /// Stream or bucket.
    pub kind: Kind,
    /// Its name (a bucket's, without `KV_`).
    pub name: String,
    /// What it is for.
    pub holds: &'static str,
    /// Entries in it.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Copies configured.
    pub replicas: usize,
    /// The server leading its replication group (none on a single server).
    pub leader: Option<String>,
    /// The other servers of its replication group.
    pub peers: Vec<Peer>,
    /// Its consumers (queues and outboxes have them; buckets none).
    pub consumers: Vec<ConsumerState>,
}

/// A follower of a stream's replication group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its `server_name`.
    pub name: String,
    /// Whether it has everything the leader has.
    pub current: bool,
    /// Whether the group counts it as gone.
    pub offline: bool,
}

/// One consumer of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerState {
    /// Its name (`disp_<group>_<lane>`, `out_<client>`).
    pub name: String,
    /// Entries not yet delivered to it.
    pub pending: u64,
    /// Entries delivered and not yet acknowledged.
    pub ack_pending: usize,
    /// Entries delivered more than once.
    pub redelivered: usize,
}

/// What the cluster looks like from this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The server this node is connected to.
    pub connected_to: String,
    /// Its version.
    pub version: String,
    /// Its NATS cluster's name, if it is in one.
    pub nats_cluster: Option<String>,
    /// Every server named by the connection, the replication groups and the monitoring
    /// endpoints, sorted.
    pub servers: Vec<String>,
    /// The client URLs the servers advertise.
    pub connect_urls: Vec<String>,
    /// Every stream and bucket of the layout, in its order.
    pub depots: Vec<Depot>,
}

/// Everything `smppd cluster check` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// This node's name.
    pub node: String,
    /// `[cluster] durability`.
    pub durability: ClusterDurability,
    /// What the monitoring endpoints said.
    pub sync: SyncReport,
    /// What provisioning did, per stream and bucket.
    pub provisioned: Vec<(String, Action)>,
    /// What they hold.
    pub status: Status,
}

impl Cluster {
    /// Connects to `config.servers` (each tried within `connect_timeout`) and checks that the
    /// server reached runs JetStream.
    pub async fn connect(config: &ClusterConfig) -> Result<Self, Error> {
        let servers = config.servers.join(", ");
        let addrs = config
            .servers
            .iter()
            .map(|url| {
                url.parse::<async_nats::ServerAddr>()
                    .map_err(|source| Error::Address {
                        url: url.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("smppd {}", config.node))
            .connection_timeout(config.connect_timeout);
        options = match &config.auth {
            NatsAuth::None => options,
            NatsAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.expose().to_owned())
            }
            NatsAuth::Token(token) => options.token(token.expose().to_owned()),
            NatsAuth::CredsFile(path) => {
                options
                    .credentials_file(path)
                    .await
                    .map_err(|source| Error::Credentials {
                        path: path.clone(),
                        source,
                    })?
            }
        };
        if let Some(tls) = &config.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca {
                options = options.add_root_certificates(ca.clone());
            }
            if let Some(auth) = &tls.client_auth {
                options = options.add_client_certificate(auth.cert.clone(), auth.key.clone());
            }
        }
        // The client tries each server once, each within connection_timeout; this bounds
        // the whole (DNS included), with a second of slack.
        let count = u32::try_from(addrs.len()).unwrap_or(u32::MAX);
        let limit = config
            .connect_timeout
            .saturating_mul(count)
            .saturating_add(Duration::from_secs(1));
        let client = tokio::time::timeout(limit, async_nats::connect_with_options(addrs, options))
            .await
            .map_err(|_| Error::ConnectTimeout {
                servers: servers.clone(),
                timeout: humantime::format_duration(limit).to_string(),
            })?
            .map_err(|source| Error::Connect { servers, source })?;
        let info = client.server_info();
        if !info.jetstream {
            return Err(Error::NoJetStream {
                server: info.server_name,
            });
        }
        Ok(Self {
            jetstream: jetstream::new(client.clone()),
            client,
            config: config.clone(),
        })
    }

    /// Connects, checks durability, provisions and reads the status: what `smppd cluster
    /// check` runs, and what a node will run at start.
    pub async fn check(config: &Config, cluster: &ClusterConfig) -> Result<Report, Error> {
        let node = Self::connect(cluster).await?;
        let sync = node.check_durability().await?;
        let layout = Layout::new(config, cluster);
        let provisioned = node.provision(&layout).await?;
        let status = node.status(&layout, &sync).await?;
        Ok(Report {
            node: cluster.node.clone(),
            durability: cluster.durability,
            sync,
            provisioned,
            status,
        })
    }

    /// Reads every `[cluster] monitor` endpoint. With `quorum+fsync`, refuses unless every
    /// JetStream server fsyncs before acknowledging; with `quorum`, only reports.
    pub async fn check_durability(&self) -> Result<SyncReport, Error> {
        if self.config.monitor.is_empty() {
            return Ok(SyncReport::default());
        }
        let read = durability::read_all(&self.config.monitor, self.config.connect_timeout).await;
        match (self.config.durability, read) {
            (ClusterDurability::QuorumFsync, Err(e)) => Err(Error::Monitor(e)),
            (ClusterDurability::QuorumFsync, Ok(servers)) => {
                durability::judge(&servers).map_err(Error::NotFsynced)?;
                Ok(SyncReport {
                    servers,
                    unread: None,
                })
            }
            (ClusterDurability::Quorum, Ok(servers)) => Ok(SyncReport {
                servers,
                unread: None,
            }),
            (ClusterDurability::Quorum, Err(e)) => Ok(SyncReport {
                servers: Vec::new(),
                unread: Some(e),
            }),
        }
    }

    /// Brings every stream and bucket of `layout` to the config: creates the missing ones,
    /// updates limits. Looks at all of them first and changes nothing if any is
    /// [`Incompatible`].
    pub async fn provision(&self, layout: &Layout) -> Result<Vec<(String, Action)>, Error> {
        let mut plans = Vec::with_capacity(layout.specs.len());
        let mut incompatible = Vec::new();
        for spec in &layout.specs {
            match self.existing(spec).await? {
                None => plans.push((spec, None)),
                Some(existing) => match provision::plan(spec, &existing) {
                    Ok(changes) => plans.push((spec, Some((existing, changes)))),
                    Err(mismatch) => incompatible.push(Incompatible {
                        kind: spec.kind,
                        name: spec.name.clone(),
                        mismatch,
                    }),
                },
            }
        }
        if !incompatible.is_empty() {
            return Err(Error::Incompatible(incompatible));
        }
        let mut done = Vec::with_capacity(plans.len());
        for (spec, plan) in plans {
            let action = match plan {
                None => self.create(spec).await?,
                Some((existing, changes)) => self.update(spec, &existing, changes).await?,
            };
            done.push((spec.name.clone(), action));
        }
        Ok(done)
    }

    /// The config of `spec`'s stream on the servers; `None` if there is none.
    async fn existing(&self, spec: &Spec) -> Result<Option<stream::Config>, Error> {
        match self.jetstream.get_stream(spec.stream_name()).await {
            Ok(found) => Ok(Some(found.cached_info().config.clone())),
            Err(e) if not_found(&e) => Ok(None),
            Err(source) => Err(Error::Inspect {
                kind: spec.kind,
                name: spec.name.clone(),
                source,
            }),
        }
    }

    async fn create(&self, spec: &Spec) -> Result<Action, Error> {
        let created = match spec.kind {
            Kind::Stream => self
                .jetstream
                .create_stream(provision::stream_config(spec))
                .await
                .map(drop)
                .map_err(|source| Error::CreateStream {
                    name: spec.name.clone(),
                    source,
                }),
            Kind::Bucket => self
                .jetstream
                .create_key_value(provision::kv_config(spec))
                .await
                .map(drop)
                .map_err(|source| Error::CreateBucket {
                    name: spec.name.clone(),
                    source,
                }),
        };
        match created {
            Ok(()) => Ok(Action::Created),
            // Another node may have created it in between (with identical settings the
            // server answers both creates with success; with others, the second fails).
            Err(e) => match self.existing(spec).await? {
                Some(existing) => match provision::plan(spec, &existing) {
                    Ok(changes) => self.update(spec, &existing, changes).await,
                    Err(mismatch) => Err(Error::Incompatible(vec![Incompatible {
                        kind: spec.kind,
                        name: spec.name.clone(),
                        mismatch,
                    }])),
                },
                None => Err(e),
            },
        }
    }

    async fn update(
        &self,
        spec: &Spec,
        existing: &stream::Config,
        changes: Vec<Change>,
    ) -> Result<Action, Error> {
        if changes.is_empty() {
            return Ok(Action::Unchanged);
        }
        self.jetstream
            .update_stream(provision::updated(spec, existing))
            .await
            .map_err(|source| Error::Update {
                kind: spec.kind,
                name: spec.name.clone(),
                changes: list(&changes),
                source,
            })?;
        Ok(Action::Updated(changes))
    }

    /// What every stream and bucket of `layout` holds, their consumers, and the servers seen
    /// (those `sync` read included).
    pub async fn status(&self, layout: &Layout, sync: &SyncReport) -> Result<Status, Error> {
        let info = self.client.server_info();
        let mut servers: BTreeSet<String> = BTreeSet::new();
        servers.insert(info.server_name.clone());
        servers.extend(sync.servers.iter().map(|s| s.server_name.clone()));
        servers.extend(sync.servers.iter().flat_map(|s| s.meta_peers.clone()));
        let mut depots = Vec::with_capacity(layout.specs.len());
        for spec in &layout.specs {
            let name = spec.stream_name();
            let found =
                self.jetstream
                    .get_stream(&name)
                    .await
                    .map_err(|source| Error::Inspect {
                        kind: spec.kind,
                        name: spec.name.clone(),
                        source,
                    })?;
            // Durable ones only: the dispatch queues' and outboxes'. Ephemeral ones (a
            // client's watch, an ordered read) come and go.
            let consumers: Vec<ConsumerState> = found
                .consumers()
                .try_filter(|c| std::future::ready(c.config.durable_name.is_some()))
                .map_ok(|c| ConsumerState {
                    name: c.name,
                    pending: c.num_pending,
                    ack_pending: c.num_ack_pending,
                    redelivered: c.num_redelivered,
                })
                .try_collect()
                .await
                .map_err(|source| Error::Consumers {
                    name: name.clone(),
                    source,
                })?;
            let info = found.cached_info();
            let cluster = info.cluster.clone().unwrap_or_default();
            servers.extend(cluster.leader.iter().cloned());
            servers.extend(cluster.replicas.iter().map(|r| r.name.clone()));
            depots.push(Depot {
                kind: spec.kind,
                name: spec.name.clone(),
                holds: spec.holds,
                messages: info.state.messages,
                bytes: info.state.bytes,
                replicas: info.config.num_replicas,
                leader: cluster.leader,
                peers: cluster
                    .replicas
                    .into_iter()
                    .map(|r| Peer {
                        name: r.name,
                        current: r.current,
                        offline: r.offline,
                    })
                    .collect(),
                consumers,
            });
        }
        Ok(Status {
            connected_to: info.server_name,
            version: info.version,
            nats_cluster: info.cluster,
            servers: servers.into_iter().filter(|s| !s.is_empty()).collect(),
            connect_urls: info.connect_urls,
            depots,
        })
    }
}

/// Whether the server said the stream does not exist.
fn not_found(error: &context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

fn list(changes: &[Change]) -> String {
    changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report as `smppd cluster check` prints it: one line per finding.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = &self.status;
        writeln!(
            f,
            "node {}: connected to {} (nats-server {}{}); servers seen: {}",
            self.node,
            status.connected_to,
            status.version,
            status
                .nats_cluster
                .as_ref()
                .map(|c| format!(", cluster {c}"))
                .unwrap_or_default(),
            status.servers.join(", ")
        )?;
        writeln!(f, "durability {}", self.durability)?;
        for server in &self.sync.servers {
            writeln!(
                f,
                "  server {} ({}, nats-server {}): {}",
                server.server_name,
                server.url,
                server.version,
                server.sync_policy()
            )?;
        }
        if let Some(unread) = &self.sync.unread {
            writeln!(f, "  monitoring not read: {unread}")?;
        }
        for depot in &status.depots {
            let action = self
                .provisioned
                .iter()
                .find(|(name, _)| *name == depot.name)
                .map(|(_, action)| match action {
                    Action::Created => "created".to_owned(),
                    Action::Unchanged => "ok".to_owned(),
                    Action::Updated(changes) => format!("updated: {}", list(changes)),
                })
                .unwrap_or_default();
            let peers = depot
                .peers
                .iter()
                .map(|p| {
                    let state = match (p.offline, p.current) {
                        (true, _) => "offline",
                        (false, true) => "current",
                        (false, false) => "behind",
                    };
                    format!("{} {state}", p.name)
                })
                .collect::<Vec<_>>();
            writeln!(
                f,
                "{} {} [{action}]: {} entries, {} bytes, R{}{}{}; {}",
                depot.kind,
                depot.name,
                depot.messages,
                depot.bytes,
                depot.replicas,
                depot
                    .leader
                    .as_ref()
                    .map(|l| format!(", leader {l}"))
                    .unwrap_or_default(),
                if peers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", peers.join(", "))
                },
                depot.holds
            )?;
            for consumer in &depot.consumers {
                writeln!(
                    f,
                    "  consumer {}: {} pending, {} awaiting ack, {} redelivered",
                    consumer.name, consumer.pending, consumer.ack_pending, consumer.redelivered
                )?;
            }
        }
        Ok(())
    }
}
