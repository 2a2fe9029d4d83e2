//! Dispatch-group leases (src/cluster/lease.rs) against three real `nats-server` processes
//! forming one JetStream cluster (tests/common/nats.rs), with a lease TTL of 3 s: one owner
//! at a time, an owner that stops renewing fenced before anyone takes over, a clean release
//! handed over at once, compare-and-set races, a renewal that loses its compare-and-set, and
//! renewals through the crash of a server or of the lease bucket's leader. Id slots are in
//! tests/cluster_ids.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod common;

use async_nats::jetstream::{self, kv};
use common::nats::NatsCluster;
use smppd::cluster::lease::{margin, Attempt, Candidate, Fence, Lease, Moment, Ownership};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(3);
/// How much later than the TTL a takeover may come: the contenders' polling (TTL / 5) and the
/// server's expiry timer.
const LATE: Duration = Duration::from_millis(1500);

/// Provisions the layout (SMPPD_LEASE with `max_age` = `ttl`, R3) and returns the lease bucket
/// as seen through a connection to server `i` alone, one per simulated node.
async fn setup(nats: &NatsCluster, ttl: Duration) -> Vec<kv::Store> {
    let text = format!(
        "[cluster]\nnode = \"a\"\nservers = {:?}\nlease_ttl = \"{}s\"\n",
        nats.urls(3),
        ttl.as_secs()
    );
    common::nats::provision(&text).await;
    let mut stores = Vec::new();
    for url in nats.urls(3) {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        let js = jetstream::new(client);
        stores.push(js.get_key_value("SMPPD_LEASE").await.unwrap());
    }
    stores
}

/// How many of `fences` hold now.
fn valid(fences: &Mutex<Vec<Fence>>) -> usize {
    fences
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f.is_valid())
        .count()
}

#[test]
fn one_owner_at_a_time_fenced_before_any_takeover() {
    let nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let kv = setup(&nats, TTL).await;

        // (a) Two contenders, each holding for longer than the TTL (renewed in the
        // background), releasing, then contending again: never two valid fences, nor two
        // owners acting, and each gets its turn.
        let started = Moment::now();
        let fences = Arc::new(Mutex::new(Vec::<Fence>::new()));
        let acting = Arc::new(AtomicUsize::new(0));
        let turns = Arc::new(Mutex::new(Vec::<String>::new()));
        let contender = |store: kv::Store, node: &'static str| {
            let (fences, acting, turns) = (fences.clone(), acting.clone(), turns.clone());
            async move {
                while turns.lock().unwrap().len() < 3 {
                    let acquire = Lease::acquire(store.clone(), "ga", node, TTL);
                    let Ok(Ok(lease)) =
                        tokio::time::timeout(Duration::from_secs(12), acquire).await
                    else {
                        return;
                    };
                    if turns.lock().unwrap().len() >= 3 {
                        lease.release().await.unwrap();
                        return;
                    }
                    fences.lock().unwrap().push(lease.fence());
                    turns.lock().unwrap().push(node.to_owned());
                    let owner = lease.keep();
                    // "Acting" for 1.1 TTL, in steps, each behind the fence.
                    for _ in 0..33 {
                        assert!(owner.fence().is_valid(), "{node}: fence down while owner");
                        assert_eq!(acting.fetch_add(1, Ordering::SeqCst), 0, "two acting");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        acting.fetch_sub(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(95)).await;
                    }
                    assert!(owner.is_owner(), "{node}");
                    owner.release().await.unwrap();
                    // Longer than the other's polling, so that it wins the next turn.
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                }
            }
        };
        let sampler = {
            let fences = fences.clone();
            let turns = turns.clone();
            async move {
                let mut samples = 0;
                while turns.lock().unwrap().len() < 3 || valid(&fences) > 0 {
                    assert!(valid(&fences) <= 1, "two valid fences");
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if Moment::now().since(started) > Duration::from_secs(20) {
                        break;
                    }
                }
                samples
            }
        };
        let ((), (), samples) = tokio::join!(
            contender(kv[0].clone(), "a"),
            contender(kv[1].clone(), "b"),
            sampler
        );
        let turns = turns.lock().unwrap().clone();
        assert!(turns.len() >= 3, "{turns:?}");
        assert!(
            turns.iter().any(|t| t == "a") && turns.iter().any(|t| t == "b"),
            "{turns:?}"
        );
        assert!(samples > 100, "{samples}");
        eprintln!("(a) turns {turns:?} in {:?}", Moment::now().since(started));

        // (b) An owner that stops renewing (a pause): its fence is down before the other
        // takes over, and the takeover comes within TTL + LATE of its last renewal.
        let started = Moment::now();
        let mut paused = Lease::acquire(kv[0].clone(), "gb", "a", TTL).await.unwrap();
        for _ in 0..2 {
            tokio::time::sleep(TTL / 3).await;
            paused.renew().await.unwrap();
        }
        let fence = paused.fence();
        let last = paused.renewed_at();
        let taker = Lease::acquire(kv[1].clone(), "gb", "b", TTL).await.unwrap();
        let took = taker.acquired_at();
        assert!(
            !fence.is_valid(),
            "the paused owner's fence holds at the takeover"
        );
        let until = fence.valid_until();
        assert!(until < took, "fence until {until:?}, takeover at {took:?}");
        assert!(
            took.since(until) >= margin(TTL) - Duration::from_millis(100),
            "only {:?} between the fence and the takeover",
            took.since(until)
        );
        assert!(
            took.since(last) <= TTL + LATE,
            "takeover {:?} after the last renewal",
            took.since(last)
        );
        // Waking up, the paused owner finds it has expired; it does not write.
        let revision = taker.revision();
        assert!(matches!(
            paused.renew().await,
            Err(smppd::cluster::lease::LeaseError::Expired { .. })
        ));
        assert_eq!(
            kv[2].entry("group.gb").await.unwrap().unwrap().revision,
            revision
        );
        eprintln!(
            "(b) takeover {:?} after the last renewal, {:?} after the fence; {:?} in all",
            took.since(last),
            took.since(until),
            Moment::now().since(started)
        );

        // (c) A clean release hands over at once (the contender polls every TTL / 5).
        let started = Moment::now();
        let owner = Lease::acquire(kv[0].clone(), "gc", "a", TTL)
            .await
            .unwrap()
            .keep();
        let fence = owner.fence();
        let mut watch = owner.watch();
        let contender = tokio::spawn(Lease::acquire(kv[1].clone(), "gc", "b", TTL));
        // Off the contender's polling rhythm (TTL / 5), so that the handover is not by chance.
        tokio::time::sleep(TTL + Duration::from_millis(300)).await;
        assert!(!contender.is_finished(), "taken over while renewed");
        assert!(matches!(
            *watch.borrow_and_update(),
            Ownership::Owner { .. }
        ));
        let released = Moment::now();
        owner.release().await.unwrap();
        assert!(!fence.is_valid());
        assert_eq!(*watch.borrow(), Ownership::NotOwner);
        let next = contender.await.unwrap().unwrap();
        let handover = next.acquired_at().since(released);
        assert!(handover < Duration::from_millis(1200), "{handover:?}");
        assert!(next.fence().is_valid());
        eprintln!(
            "(c) handed over in {handover:?}; {:?} in all",
            Moment::now().since(started)
        );

        // (d) Races: two contenders take one expired lease at once; exactly one wins.
        let started = Moment::now();
        race_on_expiry(&kv).await;
        race_on_silence(&nats).await;
        eprintln!("(d) races in {:?}", Moment::now().since(started));

        // (f) Someone else writes the record (an operator's put): the owner's next renewal
        // loses its compare-and-set, and it says so at once, fence down.
        let started = Moment::now();
        let owner = Lease::acquire(kv[0].clone(), "gf", "a", TTL)
            .await
            .unwrap()
            .keep();
        let mut watch = owner.watch();
        kv[1]
            .put(
                "group.gf",
                br#"{"node":"op","ttl_ms":3000}"#.to_vec().into(),
            )
            .await
            .unwrap();
        tokio::time::timeout(TTL / 3 + Duration::from_millis(500), watch.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*watch.borrow(), Ownership::NotOwner);
        assert!(!owner.fence().is_valid());
        assert!(!owner.is_owner());
        eprintln!(
            "(f) lost to a foreign write, noticed in {:?}",
            Moment::now().since(started)
        );
    });
}

/// A lease whose record the bucket removes (`max_age`): both contenders poll every 20 ms
/// around the expiry and try to create it; exactly one does.
async fn race_on_expiry(kv: &[kv::Store]) {
    let holder = Lease::acquire(kv[0].clone(), "gd", "h", TTL).await.unwrap();
    let deadline = holder.renewed_at().after(TTL + Duration::from_secs(2));
    let poll = |store: kv::Store, node: &'static str| async move {
        let mut candidate = Candidate::new(store, "gd", node, TTL).unwrap();
        let mut won = Vec::new();
        while Moment::now() < deadline {
            if let Attempt::Acquired(lease) = candidate.try_acquire().await.unwrap() {
                won.push(*lease);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        won
    };
    let (b, c) = tokio::join!(poll(kv[1].clone(), "b"), poll(kv[2].clone(), "c"));
    assert_eq!(
        b.len() + c.len(),
        1,
        "winners: b {}, c {}",
        b.len(),
        c.len()
    );
    assert!(!holder.fence().is_valid());
}

/// A lease in a bucket without `max_age`: both contenders have seen the same silent revision
/// for a TTL (1 s here) and replace it by compare-and-set at the same moment; exactly one wins,
/// five times over.
async fn race_on_silence(nats: &NatsCluster) {
    let ttl = Duration::from_secs(1);
    let mut kv = Vec::new();
    for url in nats.urls(3) {
        let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        kv.push(
            js.create_key_value(kv::Config {
                bucket: "RACE".to_owned(),
                num_replicas: 3,
                ..Default::default()
            })
            .await
            .unwrap(),
        );
    }
    let mut holder = Lease::acquire(kv[0].clone(), "gr", "h", ttl).await.unwrap();
    for round in 0..5 {
        let mut b = Candidate::new(kv[1].clone(), "gr", "b", ttl).unwrap();
        let mut c = Candidate::new(kv[2].clone(), "gr", "c", ttl).unwrap();
        assert!(matches!(
            b.try_acquire().await.unwrap(),
            Attempt::Held { .. }
        ));
        assert!(matches!(
            c.try_acquire().await.unwrap(),
            Attempt::Held { .. }
        ));
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert!(!holder.fence().is_valid());
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let go = |mut candidate: Candidate| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                candidate.try_acquire().await.unwrap()
            }
        };
        let (b, c) = tokio::join!(go(b), go(c));
        let mut winners: Vec<Lease> = [b, c]
            .into_iter()
            .filter_map(|a| match a {
                Attempt::Acquired(lease) => Some(*lease),
                Attempt::Held { .. } => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}");
        holder = winners.pop().unwrap();
        assert!(holder.fence().is_valid());
        assert!(holder.epoch() > 0);
    }
}

#[test]
fn a_lease_renews_through_the_crash_of_one_server() {
    let mut nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let kv = setup(&nats, TTL).await;
        // The owner connects through all three servers; the crashed server is the one that
        // neither serves its connection nor leads the lease bucket (a leader's crash costs an
        // election of a few seconds, longer than this TTL's margin).
        let client = async_nats::connect(nats.urls(3)).await.unwrap();
        let js = jetstream::new(client.clone());
        let store = js.get_key_value("SMPPD_LEASE").await.unwrap();
        let owner = Lease::acquire(store, "ge", "a", TTL).await.unwrap().keep();
        let mut watch = owner.watch();
        watch.borrow_and_update();
        let connected = client.server_info().server_name;
        let mut stream = js.get_stream("KV_SMPPD_LEASE").await.unwrap();
        let leader = stream.info().await.unwrap().cluster.clone().unwrap().leader;
        let victim = nats
            .servers
            .iter()
            .map(|s| s.name.clone())
            .find(|n| *n != connected && Some(n) != leader.as_ref())
            .unwrap();
        let reader = kv
            .into_iter()
            .zip(nats.servers.iter())
            .find(|(_, s)| s.name != victim)
            .unwrap()
            .0;
        let before = reader.entry("group.ge").await.unwrap().unwrap().revision;
        let killed = Moment::now();
        nats.kill(&victim);
        let contender = tokio::spawn(Lease::acquire(reader.clone(), "ge", "b", TTL));
        let mut revisions = vec![before];
        while Moment::now().since(killed) < TTL * 2 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert!(
                owner.fence().is_valid(),
                "fence down after {victim} was killed"
            );
        }
        for _ in 0..3 {
            tokio::time::sleep(TTL / 3).await;
            revisions.push(reader.entry("group.ge").await.unwrap().unwrap().revision);
        }
        assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
        assert!(owner.is_owner());
        assert!(!watch.has_changed().unwrap(), "ownership changed");
        assert!(!contender.is_finished(), "taken over while renewed");
        contender.abort();
        eprintln!(
            "(e) killed {victim} (connected to {connected}, leader {leader:?}); revisions \
             {revisions:?} over {:?}",
            Moment::now().since(killed)
        );
        owner.release().await.unwrap();
    });
}

#[test]
fn when_the_bucket_leader_crashes_the_owner_keeps_the_lease_or_is_fenced_first() {
    // The default TTL (10 s: fence 6.7 s after the last renewal): a crash of the server that
    // leads the lease bucket stops every write until the other two elect a leader. Whether
    // the owner keeps the lease depends on how long that takes; either way, no two owners act.
    let ttl = Duration::from_secs(10);
    let mut nats = NatsCluster::start(false);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        setup(&nats, ttl).await;
        let client = async_nats::connect(nats.urls(3)).await.unwrap();
        let js = jetstream::new(client.clone());
        let store = js.get_key_value("SMPPD_LEASE").await.unwrap();
        let owner = Lease::acquire(store, "gl", "a", ttl).await.unwrap().keep();
        let fence = owner.fence();
        let connected = client.server_info().server_name;
        let mut stream = js.get_stream("KV_SMPPD_LEASE").await.unwrap();
        let leader = stream
            .info()
            .await
            .unwrap()
            .cluster
            .clone()
            .unwrap()
            .leader
            .unwrap();
        let survivor = nats.servers.iter().find(|s| s.name != leader).unwrap();
        let other = async_nats::connect(format!("nats://127.0.0.1:{}", survivor.client_port))
            .await
            .unwrap();
        let other = jetstream::new(other)
            .get_key_value("SMPPD_LEASE")
            .await
            .unwrap();
        // Just after a renewal: the election has the whole fence to finish.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed = Moment::now();
        nats.kill(&leader);
        let contender = tokio::spawn(Lease::acquire(other, "gl", "b", ttl));
        let mut elected = None;
        // Past the fence of the last renewal before the crash: kept means renewed since.
        while Moment::now().since(killed) < ttl + Duration::from_secs(1) {
            if elected.is_none() {
                let info = tokio::time::timeout(Duration::from_millis(500), stream.info()).await;
                if let Ok(Ok(info)) = info {
                    let now = info.cluster.clone().unwrap_or_default().leader;
                    if now.is_some_and(|l| l != leader) {
                        elected = Some(Moment::now().since(killed));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if owner.is_owner() {
            assert!(fence.is_valid());
            assert!(!contender.is_finished(), "taken over while renewed");
            contender.abort();
            eprintln!(
                "(leader crash) {leader} killed (owner connected to {connected}); new leader \
                 after {elected:?}; the owner kept the lease"
            );
        } else {
            // Lost: fenced first, then taken over once the record expired.
            assert!(!fence.is_valid());
            let taker = tokio::time::timeout(ttl, contender)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let until = fence.valid_until();
            assert!(until < taker.acquired_at(), "{until:?}");
            eprintln!(
                "(leader crash) {leader} killed (owner connected to {connected}); new leader \
                 after {elected:?}; the owner's fence ended {:?} after the crash, the lease was \
                 taken over {:?} after it",
                until.since(killed),
                taker.acquired_at().since(killed)
            );
        }
    });
}
