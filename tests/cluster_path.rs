//! Cluster mode's message path (src/cluster/node.rs, relay.rs) with real processes: three
//! nats-server forming one JetStream cluster, two smppd nodes, the carrier simulator. A
//! message submitted on either node reaches the carrier once, through the node that owns the
//! group; its receipt reaches the client on a bind on either node; when the owner is killed
//! the other node takes the group over and sends what waits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod common;

use common::nats::NatsCluster;
use common::{
    carrier, eventually, get_ok, query, routed_config, submit, temp_dir, Esme, Gateway, Simulator,
};
use smpp_proto::{Body, CommandId, CommandStatus, MessageState};
use std::collections::HashSet;
use std::time::Duration;

/// A node's config: client `shop`, carrier `sim`, route `default`, and `[cluster]`.
fn node_config(dir: &std::path::Path, node: &str, sim_port: u16, nats: &NatsCluster) -> String {
    routed_config(dir, &[carrier("sim", sim_port, "")], &["sim"], "", "")
        + &format!(
            "\n[cluster]\nnode = \"{node}\"\nservers = {:?}\nlease_ttl = \"3s\"\n",
            nats.urls(3)
        )
}

/// The node whose log says it owns the group now.
fn owner(nodes: &[(&str, &Gateway)]) -> Option<String> {
    nodes
        .iter()
        .filter(|(_, gw)| {
            let logs = gw.logs();
            let owns = logs.rfind("this node owns the group");
            let lost = logs.rfind("this node lost the group");
            owns.is_some() && owns > lost
        })
        .map(|(name, _)| (*name).to_owned())
        .next()
}

/// Gateway ids in the receipts `esme` got so far.
fn receipt_ids(esme: &Esme) -> HashSet<String> {
    esme.delivers()
        .iter()
        .filter_map(|pdu| match &pdu.body {
            Body::DeliverSm(sm) => sm.tlvs.receipted_message_id().map(str::to_owned),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_through_the_owner_and_receipts_reach_a_bind_on_any_node() {
    let nats = NatsCluster::start(false);
    let dir = temp_dir("cluster-path");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "200ms"]);
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let mut a = Gateway::start_logging(
        &dir_a,
        &node_config(&dir_a, "a", sim.addr.port(), &nats),
        "smppd=info",
    );
    let b = Gateway::start_logging(
        &dir_b,
        &node_config(&dir_b, "b", sim.addr.port(), &nats),
        "smppd=info",
    );
    eventually(Duration::from_secs(20), "one node owns the group", || {
        owner(&[("a", &a), ("b", &b)]).is_some()
    })
    .await;

    // Both nodes see each other and the same owner (`smppctl cluster`).
    let first_owner = owner(&[("a", &a), ("b", &b)]).unwrap();
    for gw in [&a, &b] {
        let admin = format!("http://{}", gw.admin.unwrap());
        let mut out = String::new();
        eventually(Duration::from_secs(10), "both nodes live", || {
            let run = std::process::Command::new(env!("CARGO_BIN_EXE_smppctl"))
                .args(["--admin", &admin, "cluster"])
                .env_remove("SMPPCTL_TOKEN")
                .output()
                .unwrap();
            out = String::from_utf8_lossy(&run.stdout).into_owned();
            run.status.success() && out.lines().filter(|l| l.contains("s ago")).count() == 2
        })
        .await;
        let group = out
            .lines()
            .find(|l| l.contains("default"))
            .unwrap_or_default();
        assert!(group.contains(&first_owner), "{out}");
        assert!(out.contains("SMPPD_Q"), "{out}");
    }

    // Receipts are asked for on a bind on node b only.
    let receiver = Esme::bind(b.addr, CommandId::BindReceiver, "shop", "secret1").await;
    let mut on_a = Esme::bind(a.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut on_b = Esme::bind(b.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut ids = on_a
        .submit_all((0..20).map(|i| submit("447700900001", &format!("a {i}"))))
        .await;
    ids.extend(
        on_b.submit_all((0..20).map(|i| submit("447700900002", &format!("b {i}"))))
            .await,
    );
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), 40, "ids are unique across nodes: {ids:?}");

    eventually(Duration::from_secs(20), "40 submits at the carrier", || {
        sim.submits().len() >= 40
    })
    .await;
    eventually(Duration::from_secs(20), "40 receipts on node b", || {
        receipt_ids(&receiver).len() >= 40
    })
    .await;
    assert_eq!(receipt_ids(&receiver), unique);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.submits().len(), 40, "each message once at the carrier");

    // Final states answer on either node: query_sm and the admin API.
    let (other_gw, other_client) = if first_owner == "a" {
        (&b, &mut on_b)
    } else {
        (&a, &mut on_a)
    };
    for id in [&ids[0], &ids[39]] {
        let seq = other_client.send(query(id)).await;
        let resp = other_client.response(seq).await;
        let Body::QuerySmResp(r) = &resp.body else {
            panic!("{resp:?}");
        };
        assert_eq!(resp.command_status, CommandStatus::ESME_ROK, "{resp:?}");
        assert_eq!(r.message_state, MessageState::DELIVERED, "{r:?}");
        let view = get_ok(other_gw.admin.unwrap(), &format!("/api/messages/{id}")).await;
        assert_eq!(view["state"], "delivered", "{view}");
    }

    // The owner dies; the other node takes the group over and sends what comes next.
    let (survivor, mut client) = if first_owner == "a" {
        a.kill();
        ("b", on_b)
    } else {
        drop(receiver);
        let mut b = b;
        b.kill();
        ("a", on_a)
    };
    let more = client
        .submit_all((0..20).map(|i| submit("447700900003", &format!("after {i}"))))
        .await;
    eventually(
        Duration::from_secs(30),
        "the survivor sends the rest",
        || {
            let seen: HashSet<String> = sim
                .submits()
                .iter()
                .map(|s| {
                    String::from_utf8_lossy(s.submit_sm().short_message.as_bytes()).into_owned()
                })
                .collect();
            (0..20).all(|i| seen.contains(&format!("after {i}")))
        },
    )
    .await;
    assert_eq!(more.len(), 20, "{survivor} accepted them");
    let _ = &mut a;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cap_is_shared_by_the_nodes_holding_its_binds() {
    let nats = NatsCluster::start(false);
    let dir = temp_dir("cluster-caps");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let config = node_config(&node_dir, name, sim.addr.port(), &nats)
            .replace("window = 100", "window = 100\nthroughput = 100");
        nodes.push(Gateway::start_logging(&node_dir, &config, "smppd=info"));
    }
    let mut binds = Vec::new();
    for gw in &nodes {
        binds.push(Esme::bind(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await);
    }
    // Each node's share: 100 × (1 + 1) / (2 binds + 2 nodes) = 50 a second, once both have
    // read each other's binds (every lease_ttl / 3 = 1 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = std::time::Instant::now();
    let mut seqs = Vec::new();
    for esme in &mut binds {
        let mut mine = Vec::new();
        for i in 0..300 {
            mine.push(esme.send(submit("447700900009", &format!("cap {i}"))).await);
        }
        seqs.push(mine);
    }
    let mut accepted = Vec::new();
    for (esme, mine) in binds.iter().zip(&seqs) {
        let mut ok = 0;
        for seq in mine {
            if esme.response(*seq).await.command_status == CommandStatus::ESME_ROK {
                ok += 1;
            }
        }
        accepted.push(ok);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = accepted.iter().sum();
    // Both buckets full at the start (50 each), then 100 a second together.
    let bound = 100.0 + 100.0 * elapsed + 10.0;
    eprintln!("accepted {accepted:?} in {elapsed:.2}s (bound {bound:.0})");
    assert!(
        (total as f64) <= bound,
        "{accepted:?} accepted in {elapsed:.2}s; the cap allows {bound:.0}"
    );
    assert!(accepted.iter().all(|n| *n >= 40), "{accepted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_over_http_on_one_node_reads_back_on_another() {
    let nats = NatsCluster::start(false);
    let dir = temp_dir("cluster-http");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let key = "shop-key-0123456789";
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let config = node_config(&node_dir, name, sim.addr.port(), &nats)
            .replace(
                "window = 100",
                &format!("window = 100\napi_keys = [{:?}]", common::api_key_hash(key)),
            )
            .replace(
                "\n[[clients]]",
                "\n[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n[[clients]]",
            );
        nodes.push(Gateway::start_logging(&node_dir, &config, "smppd=info"));
        if name == "a" {
            // a owns the group: b accepts the message and reads it back from the engine.
            eventually(Duration::from_secs(20), "a owns the group", || {
                owner(&[("a", &nodes[0])]).is_some()
            })
            .await;
        }
    }
    let body =
        serde_json::json!({"to": "+447700900123", "from": "SHOP", "text": "Order 7 shipped"});
    let accepted = common::http(
        nodes[1].http.unwrap(),
        "POST",
        "/api/v1/messages",
        ("shop", key),
        None,
        Some(body),
    )
    .await
    .unwrap();
    assert_eq!(accepted.status, 202, "{}", accepted.json);
    let id = accepted.json["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/messages/{id}");
    let mut last = serde_json::Value::Null;
    for _ in 0..200 {
        let answer = common::http(
            nodes[1].http.unwrap(),
            "GET",
            &path,
            ("shop", key),
            None,
            None,
        )
        .await
        .unwrap();
        if answer.status == 200 && answer.json["status"] == "delivered" {
            return;
        }
        last = answer.json;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} not delivered as node b reads it: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_recorded_on_one_node_holds_on_every_node() {
    let nats = NatsCluster::start(false);
    let dir = temp_dir("cluster-consent");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "50ms"]);
    let mut nodes = Vec::new();
    for name in ["a", "b"] {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let config = node_config(&node_dir, name, sim.addr.port(), &nats).replace(
            "window = 100",
            "window = 100\ndefault_class = \"marketing\"",
        ) + "\n[consent]\nenabled = true\n\n[numbering]\ndefault_country = \"FR\"\n";
        nodes.push(Gateway::start_logging(&node_dir, &config, "smppd=info"));
    }
    // An operator's opt-out on node b …
    let body = serde_json::json!({
        "scope": "client:shop", "choice": "opted_out", "evidence": "unsubscribe form"
    });
    let (status, answer) = common::api(
        nodes[1].admin.unwrap(),
        "PUT",
        "/api/suppressions/%2B33612345678",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // … is on node a's list too, as every node's dispatch and accept read it.
    let path = "/api/suppressions/%2B33612345678?scope=client:shop";
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, found) = common::api(nodes[0].admin.unwrap(), "GET", path, None, None).await;
        if status == 200 && found["suppressed"] == true {
            return;
        }
        last = found;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node a does not hold the opt-out recorded on node b: {last}");
}
