//! Comparing a stream or bucket that exists with what the config wants ([`Spec`]), and the
//! configs smppd creates them with. Pure: `mod.rs` fetches, creates and updates.
//!
//! What may differ decides what happens (cluster.md §3.9: "creates/updates streams and
//! buckets idempotently at start, refusing to shrink replicas automatically"):
//! - the limits (max age, max messages, de-duplication window, history) and more replicas
//!   are updated in place: they follow the config, as a reload would;
//! - what the data means (storage, retention, subjects, discard policy) or fewer replicas
//!   ([`Mismatch`]) stops smppd: the stream was made by something else, or by a layout that
//!   this version does not read, and changing it would lose or misread what it holds.

use super::layout::{Kind, Retention, Spec, DUPLICATE_WINDOW};
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use std::time::Duration;

/// One setting that an update changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The stream setting (`max_age`, `num_replicas` …).
    pub field: &'static str,
    /// Its value on the server.
    pub found: String,
    /// Its value once updated.
    pub wanted: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} → {}", self.field, self.found, self.wanted)
    }
}

/// A setting that smppd will not change by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The stream setting.
    pub field: &'static str,
    /// Its value on the server.
    pub found: String,
    /// What smppd needs.
    pub wanted: String,
    /// What the operator can do about it.
    pub hint: String,
}

/// The stream config smppd creates `spec` with (for a bucket, the KV client builds its own
/// from [`kv_config`]).
pub fn stream_config(spec: &Spec) -> stream::Config {
    stream::Config {
        name: spec.stream_name(),
        description: Some(format!("smppd: {}", spec.holds)),
        subjects: spec.subjects.clone(),
        retention: retention_policy(spec.retention),
        storage: StorageType::File,
        num_replicas: spec.replicas,
        // A full stream answers the publish with an error (the accept side then refuses the
        // message) instead of dropping the oldest, which was acknowledged.
        discard: DiscardPolicy::New,
        max_age: spec.max_age,
        max_messages: spec.max_messages.unwrap_or(-1),
        duplicate_window: duplicate_window(spec.max_age),
        ..stream::Config::default()
    }
}

/// The KV bucket config smppd creates `spec` with.
pub fn kv_config(spec: &Spec) -> async_nats::jetstream::kv::Config {
    async_nats::jetstream::kv::Config {
        bucket: spec.name.clone(),
        description: format!("smppd: {}", spec.holds),
        history: spec.history.unwrap_or(1),
        max_age: spec.max_age,
        storage: StorageType::File,
        num_replicas: spec.replicas,
        ..Default::default()
    }
}

/// What has to change in `existing` for it to be `spec`: nothing, some limits, or a
/// [`Mismatch`] that smppd refuses to resolve by itself.
pub fn plan(spec: &Spec, existing: &stream::Config) -> Result<Vec<Change>, Mismatch> {
    let other_use = |what: &str| {
        format!(
            "{what}; it was made for something else or by another layout: give this smppd \
             cluster its own [cluster] name, or remove it (`nats {cmd} rm {name}`) if nothing \
             in it is needed",
            name = spec.name,
            cmd = match spec.kind {
                Kind::Stream => "stream",
                Kind::Bucket => "kv",
            },
        )
    };
    if existing.storage != StorageType::File {
        return Err(Mismatch {
            field: "storage",
            found: format!("{:?}", existing.storage).to_lowercase(),
            wanted: "file".to_owned(),
            hint: other_use("a memory stream loses everything when its servers restart"),
        });
    }
    let retention = retention_policy(spec.retention);
    if existing.retention != retention {
        return Err(Mismatch {
            field: "retention",
            found: retention_name(existing.retention).to_owned(),
            wanted: retention_name(retention).to_owned(),
            hint: other_use("JetStream cannot change a stream's retention"),
        });
    }
    let (mut found, mut wanted) = (existing.subjects.clone(), spec.subjects.clone());
    found.sort();
    wanted.sort();
    if found != wanted {
        return Err(Mismatch {
            field: "subjects",
            found: format!("{found:?}"),
            wanted: format!("{wanted:?}"),
            hint: other_use("its subjects are not smppd's"),
        });
    }
    if existing.discard != DiscardPolicy::New {
        return Err(Mismatch {
            field: "discard",
            found: "old".to_owned(),
            wanted: "new".to_owned(),
            hint: other_use("when full it would drop acknowledged entries"),
        });
    }
    if existing.num_replicas > spec.replicas {
        return Err(Mismatch {
            field: "num_replicas",
            found: existing.num_replicas.to_string(),
            wanted: spec.replicas.to_string(),
            hint: format!(
                "smppd does not take copies away by itself: set [cluster] replicas = {}, or \
                 lower them by hand (`nats stream edit {} --replicas {}`)",
                existing.num_replicas,
                spec.stream_name(),
                spec.replicas
            ),
        });
    }

    let mut changes = Vec::new();
    let mut differs = |field, found: String, wanted: String| {
        if found != wanted {
            changes.push(Change {
                field,
                found,
                wanted,
            });
        }
    };
    differs(
        "num_replicas",
        existing.num_replicas.to_string(),
        spec.replicas.to_string(),
    );
    differs("max_age", age(existing.max_age), age(spec.max_age));
    differs(
        "max_msgs",
        count(existing.max_messages),
        count(spec.max_messages.unwrap_or(-1)),
    );
    match spec.kind {
        Kind::Stream => differs(
            "duplicate_window",
            age(existing.duplicate_window),
            age(duplicate_window(spec.max_age)),
        ),
        Kind::Bucket => differs(
            "max_msgs_per_subject",
            count(existing.max_messages_per_subject),
            count(spec.history.unwrap_or(1)),
        ),
    }
    Ok(changes)
}

/// `existing` with `spec`'s limits and replicas, everything else kept as the server has it
/// (for a bucket, what the KV client set at creation).
pub fn updated(spec: &Spec, existing: &stream::Config) -> stream::Config {
    let mut config = existing.clone();
    config.num_replicas = spec.replicas;
    config.max_age = spec.max_age;
    config.max_messages = spec.max_messages.unwrap_or(-1);
    match spec.kind {
        Kind::Stream => config.duplicate_window = duplicate_window(spec.max_age),
        Kind::Bucket => {
            config.max_messages_per_subject = spec.history.unwrap_or(1);
            // The server refuses a window longer than the max age.
            if !spec.max_age.is_zero() && config.duplicate_window > spec.max_age {
                config.duplicate_window = spec.max_age;
            }
        }
    }
    config
}

/// The de-duplication window: JetStream's default, or the max age when that is shorter
/// (the server refuses a window longer than the max age).
fn duplicate_window(max_age: Duration) -> Duration {
    if max_age.is_zero() {
        DUPLICATE_WINDOW
    } else {
        DUPLICATE_WINDOW.min(max_age)
    }
}

fn retention_policy(retention: Retention) -> RetentionPolicy {
    match retention {
        Retention::WorkQueue => RetentionPolicy::WorkQueue,
        Retention::Limits => RetentionPolicy::Limits,
    }
}

fn retention_name(retention: RetentionPolicy) -> &'static str {
    match retention {
        RetentionPolicy::Limits => "limits",
        RetentionPolicy::Interest => "interest",
        RetentionPolicy::WorkQueue => "workqueue",
    }
}

/// "72h", or "none" for zero (JetStream's "no max age").
fn age(age: Duration) -> String {
    if age.is_zero() {
        "none".to_owned()
    } else {
        humantime::format_duration(age).to_string()
    }
}

/// A count, or "none" for JetStream's -1 (and 0, which it reads the same for these limits).
fn count(n: i64) -> String {
    if n <= 0 {
        "none".to_owned()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Spec {
        Spec {
            kind: Kind::Stream,
            name: "SMPPD_Q".to_owned(),
            holds: "messages",
            subjects: vec!["smppd.q.>".to_owned()],
            retention: Retention::WorkQueue,
            replicas: 3,
            max_age: Duration::ZERO,
            max_messages: Some(1000),
            history: None,
        }
    }

    fn lease() -> Spec {
        Spec {
            kind: Kind::Bucket,
            name: "SMPPD_LEASE".to_owned(),
            holds: "leases",
            subjects: vec!["$KV.SMPPD_LEASE.>".to_owned()],
            retention: Retention::Limits,
            replicas: 3,
            max_age: Duration::from_secs(10),
            max_messages: None,
            history: Some(1),
        }
    }

    /// The stream config the KV client makes for a bucket (as the server then reports it).
    fn as_created(spec: &Spec) -> stream::Config {
        let kv = kv_config(spec);
        stream::Config {
            name: spec.stream_name(),
            subjects: spec.subjects.clone(),
            max_messages_per_subject: kv.history,
            max_age: kv.max_age,
            num_replicas: kv.num_replicas,
            discard: DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            max_messages: -1,
            duplicate_window: kv.max_age.min(DUPLICATE_WINDOW),
            ..Default::default()
        }
    }

    #[test]
    fn what_smppd_creates_needs_no_change() {
        let spec = queue();
        assert_eq!(plan(&spec, &stream_config(&spec)), Ok(vec![]));
        let spec = lease();
        assert_eq!(plan(&spec, &as_created(&spec)), Ok(vec![]));
    }

    #[test]
    fn limits_and_more_replicas_are_updated() {
        let spec = queue();
        let mut existing = stream_config(&spec);
        existing.num_replicas = 1;
        existing.max_messages = 10;
        existing.duplicate_window = Duration::from_secs(60);
        let changes = plan(&spec, &existing).unwrap();
        let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, ["num_replicas", "max_msgs", "duplicate_window"]);
        assert_eq!(changes[1].to_string(), "max_msgs 10 → 1000");
        let after = updated(&spec, &existing);
        assert_eq!(plan(&spec, &after), Ok(vec![]));
        assert_eq!(after.description, existing.description);
    }

    #[test]
    fn a_bucket_ttl_follows_the_config_with_its_window() {
        let spec = lease();
        let mut existing = as_created(&spec);
        existing.max_age = Duration::from_secs(60);
        existing.duplicate_window = Duration::from_secs(60);
        let changes = plan(&spec, &existing).unwrap();
        assert_eq!(changes[0].to_string(), "max_age 1m → 10s");
        let after = updated(&spec, &existing);
        assert_eq!(after.max_age, Duration::from_secs(10));
        assert_eq!(after.duplicate_window, Duration::from_secs(10));
        // What the KV client set stays.
        assert!(after.allow_rollup && after.deny_delete && after.allow_direct);
    }

    #[test]
    fn what_the_data_means_is_refused() {
        let spec = queue();
        let mut limits = stream_config(&spec);
        limits.retention = RetentionPolicy::Limits;
        let mismatch = plan(&spec, &limits).unwrap_err();
        assert_eq!(
            (
                mismatch.field,
                mismatch.found.as_str(),
                mismatch.wanted.as_str()
            ),
            ("retention", "limits", "workqueue")
        );
        assert!(
            mismatch.hint.contains("[cluster] name"),
            "{}",
            mismatch.hint
        );

        let mut subjects = stream_config(&spec);
        subjects.subjects = vec!["orders.>".to_owned()];
        assert_eq!(plan(&spec, &subjects).unwrap_err().field, "subjects");

        let mut memory = stream_config(&spec);
        memory.storage = StorageType::Memory;
        assert_eq!(plan(&spec, &memory).unwrap_err().field, "storage");

        let mut discard_old = stream_config(&spec);
        discard_old.discard = DiscardPolicy::Old;
        assert_eq!(plan(&spec, &discard_old).unwrap_err().field, "discard");
    }

    #[test]
    fn fewer_replicas_are_not_taken_by_smppd() {
        let spec = queue();
        let mut five = stream_config(&spec);
        five.num_replicas = 5;
        let mismatch = plan(&spec, &five).unwrap_err();
        assert_eq!(mismatch.field, "num_replicas");
        assert!(mismatch.hint.contains("replicas = 5"), "{}", mismatch.hint);
    }
}
