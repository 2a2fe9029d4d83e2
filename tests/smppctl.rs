//! `smppctl` as a user runs it: the real binary, its stdout, stderr and exit status; offline
//! (`pdu decode`, `hash-password`) and against a running `smppd serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

mod common;

use common::{carrier, get_ok, routed_config, submit, temp_dir, wait_link_up, Client, Gateway};
use serde_json::Value;
use smpp_proto::{CommandId, CommandStatus};
use std::process::{Command, Output};

fn smppctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn pdu_decode_prints_spec_field_names() {
    // deliver_sm receipt with receipted_message_id and message_state TLVs.
    let hex = "000000a800000005000000000000000900010134343737303039303031323300050053686f70\
        000400000000000000006769643a304131423243207375623a30303120646c7672643a30303120737562\
        6d697420646174653a3235303133313132303020646f6e6520646174653a323530313331313230312073\
        7461743a44454c49565244206572723a30303020746578743a68656c6c6f001e000730413142324300\
        0427000102";
    let out = smppctl(&["pdu", "decode", hex]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["command_id"], "deliver_sm");
    assert_eq!(json["command_status"], "ESME_ROK");
    assert_eq!(json["sequence_number"], 9);
    assert_eq!(json["body"]["source_addr"], "447700900123");
    assert_eq!(json["body"]["esm_class"], 4);
    assert_eq!(json["body"]["tlvs"][0]["name"], "receipted_message_id");
    assert_eq!(json["body"]["tlvs"][0]["value"], "0A1B2C");
    assert_eq!(json["body"]["tlvs"][1]["name"], "message_state");
    assert_eq!(json["body"]["tlvs"][1]["value"], 2);
    assert!(json["text"]
        .as_str()
        .unwrap()
        .starts_with("id:0A1B2C sub:001"));
}

#[test]
fn pdu_decode_accepts_spaced_hex() {
    let out = smppctl(&["pdu", "decode", "00000010 00000015", "0000000000000001"]);
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["command_id"], "enquire_link");
    assert_eq!(json["body"], Value::Null);
}

#[test]
fn malformed_pdu_prints_the_error_and_fails() {
    // submit_sm whose source_addr has no NUL before the end.
    let out = smppctl(&[
        "pdu",
        "decode",
        "0000001500000004000000000000000a0005005368",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("source_addr"), "{stderr}");
    assert!(stderr.contains("ESME_RINVSRCADR"), "{stderr}");

    let out = smppctl(&["pdu", "decode", "0000001"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("odd number"));
}

// The commands that talk to a running gateway.

/// What a run of smppctl printed, and whether it succeeded.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs smppctl with `args` (and `env`, `stdin`) without blocking the runtime.
async fn ctl_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_smppctl"));
    command
        .args(args)
        .env_remove("SMPPCTL_ADMIN")
        .env_remove("SMPPCTL_TOKEN")
        .env_remove("SMPPCTL_TOKEN_FILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `smppctl --admin URL args…`, which must succeed; its stdout.
async fn ctl_ok(admin: &str, args: &[&str]) -> String {
    let mut all = vec!["--admin", admin];
    all.extend_from_slice(args);
    let run = ctl_with(&all, &[], None).await;
    assert!(run.ok, "smppctl {args:?} failed: {}", run.stderr);
    run.stdout
}

/// `smppctl --admin URL args…`, which must fail; its stderr.
async fn ctl_fails(admin: &str, args: &[&str]) -> String {
    let mut all = vec!["--admin", admin];
    all.extend_from_slice(args);
    let run = ctl_with(&all, &[], None).await;
    assert!(!run.ok, "smppctl {args:?} should fail: {}", run.stdout);
    run.stderr
}

/// A gateway with route `default` to a simulator `sim` (link up), and a bound transceiver.
async fn gateway_with_traffic(
    name: &str,
    admin_extra: &str,
) -> (Gateway, common::Simulator, Client) {
    let dir = temp_dir(name);
    let sim = common::Simulator::start(&dir, "sim", &[]);
    let carriers = [carrier("sim", sim.addr.port(), "")];
    let gw = Gateway::start(
        &dir,
        &routed_config(&dir, &carriers, &["sim"], "", admin_extra),
    );
    let esme = Client::bound(gw.addr, CommandId::BindTransceiver, "shop", "secret1").await;
    (gw, sim, esme)
}

#[tokio::test]
async fn without_a_running_gateway_the_error_says_so() {
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let stderr = ctl_fails(&url, &["status"]).await;
    assert!(
        stderr.contains(&format!("cannot reach smppd's admin API at {url}")),
        "{stderr}"
    );
    assert!(stderr.contains("Is smppd running"), "{stderr}");
    // The environment names the gateway too.
    let run = ctl_with(&["queues"], &[("SMPPCTL_ADMIN", &url)], None).await;
    assert!(!run.ok);
    assert!(run.stderr.contains(&url), "{}", run.stderr);
}

#[tokio::test]
async fn reads_print_tables_for_people_and_json_for_scripts() {
    let (gw, _sim, mut esme) = gateway_with_traffic("ctl-reads", "").await;
    let admin = gw.admin_url();
    wait_link_up(gw.admin.unwrap(), "sim").await;
    let id = esme.submit_ok(submit("447700900001", "hello ctl")).await;
    esme.next_receipt().await;

    let status = ctl_ok(&admin, &["status"]).await;
    assert!(
        status.starts_with(&format!("smppd {}", env!("CARGO_PKG_VERSION"))),
        "{status}"
    );
    assert!(
        status.contains("links     1 of 1 up; 1 client binds"),
        "{status}"
    );

    let links = ctl_ok(&admin, &["links"]).await;
    let lines: Vec<&str> = links.lines().collect();
    assert!(lines[0].starts_with("LINK"), "{links}");
    let sim: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&sim[..4], ["sim", "up", "1/1", "0/10"], "{links}");

    let binds = ctl_ok(&admin, &["binds"]).await;
    assert!(
        binds.lines().next().unwrap().starts_with("SESSION"),
        "{binds}"
    );
    let peer = esme.stream.local_addr().unwrap().to_string();
    let row = binds
        .lines()
        .find(|l| l.contains(&peer))
        .unwrap_or_else(|| panic!("{binds}"));
    assert!(row.contains("shop") && row.contains("transceiver"), "{row}");

    let queues = ctl_ok(&admin, &["queues"]).await;
    assert!(
        queues.contains("ROUTE") && queues.contains("CLIENT"),
        "{queues}"
    );
    let default: Vec<&str> = queues
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(default, ["default", "0", "0", "-", "no"], "{queues}");

    let routes = ctl_ok(&admin, &["routes"]).await;
    let default: Vec<&str> = routes.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        default,
        ["default", "everything", "sim", "-", "no", "0"],
        "{routes}"
    );

    let message = ctl_ok(&admin, &["msg", &id]).await;
    assert!(
        message.starts_with(&format!("message {id}: delivered (final)")),
        "{message}"
    );
    assert!(message.contains("text      \"hello ctl\""), "{message}");
    assert!(message.contains("receipt from sim: DELIVERED"), "{message}");

    // --json: the API's answer as is.
    let json: Value = serde_json::from_str(&ctl_ok(&admin, &["--json", "msg", &id]).await).unwrap();
    assert_eq!(json["state"], "delivered");
    let carrier_id = json["carrier"]["carrier_id"].as_str().unwrap().to_owned();
    let by_carrier = ctl_ok(&admin, &["msg", "--link", "sim", &carrier_id]).await;
    assert!(
        by_carrier.starts_with(&format!("message {id}:")),
        "{by_carrier}"
    );
    let status: Value = serde_json::from_str(&ctl_ok(&admin, &["status", "--json"]).await).unwrap();
    assert_eq!(status["totals"]["submits_accepted"], 1);

    let stderr = ctl_fails(&admin, &["msg", "77777"]).await;
    assert!(
        stderr.contains("no message with id 77777 (HTTP 404)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn actions_pause_throttle_purge_cancel_and_disconnect() {
    let (gw, _sim, mut esme) = gateway_with_traffic("ctl-actions", "").await;
    let admin = gw.admin_url();
    let api = gw.admin.unwrap();

    // A name is looked up among links and routes.
    assert_eq!(
        ctl_ok(&admin, &["pause", "sim"]).await.trim(),
        "link sim: paused"
    );
    assert_eq!(
        ctl_ok(&admin, &["resume", "sim"]).await.trim(),
        "link sim: up"
    );
    let stderr = ctl_fails(&admin, &["pause", "nowhere"]).await;
    assert!(
        stderr.contains("no link or route is named `nowhere`"),
        "{stderr}"
    );
    assert_eq!(
        ctl_ok(&admin, &["pause", "default"]).await.trim(),
        "route default: paused"
    );
    assert_eq!(
        ctl_ok(&admin, &["throttle", "default", "20"]).await.trim(),
        "default: cap 20/s (configured: none)"
    );
    assert_eq!(
        ctl_ok(&admin, &["throttle", "--link", "sim", "none"])
            .await
            .trim(),
        "sim: cap none (configured: none)"
    );
    let stderr = ctl_fails(&admin, &["throttle", "sim", "0"]).await;
    assert!(stderr.contains("`0` is not a rate"), "{stderr}");

    // The route is paused: these wait in its queue.
    let first = esme.submit_ok(submit("447700900001", "one")).await;
    esme.submit_ok(submit("447700900001", "two")).await;
    let cancelled = ctl_ok(&admin, &["cancel", &first]).await;
    assert!(
        cancelled.starts_with(&format!("message {first}: deleted (final)")),
        "{cancelled}"
    );
    let stderr = ctl_fails(&admin, &["retry", &first]).await;
    assert!(
        stderr.contains("has ended (deleted)") && stderr.contains("HTTP 409"),
        "{stderr}"
    );

    let stderr = ctl_fails(&admin, &["purge", "default"]).await;
    assert!(
        stderr.contains("all 1 messages queued on route default"),
        "{stderr}"
    );
    assert_eq!(get_ok(api, "/api/queues").await["routes"][0]["depth"], 1);
    assert_eq!(
        ctl_ok(&admin, &["purge", "default", "--yes"]).await.trim(),
        "purged 1 messages from route default"
    );
    assert_eq!(get_ok(api, "/api/queues").await["routes"][0]["depth"], 0);

    let session = get_ok(api, "/api/binds").await[0]["session"]
        .as_u64()
        .unwrap();
    let out = ctl_ok(&admin, &["disconnect", &session.to_string(), "--force"]).await;
    assert!(
        out.starts_with(&format!("session {session} of shop from ")),
        "{out}"
    );
    assert!(out.trim().ends_with("closed"), "{out}");
}

#[tokio::test]
async fn the_token_comes_from_a_flag_the_environment_or_a_file() {
    const TOKEN: &str = "abcdefghijklmnop-0123";
    let (gw, _sim, _esme) =
        gateway_with_traffic("ctl-token", &format!("token = \"{TOKEN}\"")).await;
    let admin = gw.admin_url();
    let stderr = ctl_fails(&admin, &["status"]).await;
    assert!(
        stderr.contains("--token, SMPPCTL_TOKEN or --token-file"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 401"), "{stderr}");

    ctl_ok(&admin, &["--token", TOKEN, "status"]).await;
    let run = ctl_with(
        &["--admin", &admin, "status"],
        &[("SMPPCTL_TOKEN", TOKEN)],
        None,
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    let file = gw.dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    ctl_ok(&admin, &["status", "--token-file", file.to_str().unwrap()]).await;
}

#[tokio::test]
async fn queues_watch_redraws_in_place() {
    let (gw, _sim, _esme) = gateway_with_traffic("ctl-watch", "").await;
    let admin = gw.admin_url();
    let out = ctl_ok(
        &admin,
        &["queues", "--watch", "--interval", "50ms", "--count", "3"],
    )
    .await;
    assert_eq!(out.matches("\x1b[H\x1b[2J").count(), 3, "{out:?}");
    assert_eq!(out.matches("ROUTE").count(), 3, "{out:?}");
    // Each redraw starts with the clear: the last screen is a whole table.
    let last = out.rsplit("\x1b[H\x1b[2J").next().unwrap();
    assert!(last.starts_with("every 50ms: smppctl queues"), "{last:?}");
    assert!(last.contains("default"), "{last:?}");
}

#[tokio::test]
async fn hash_password_makes_a_hash_the_gateway_accepts() {
    let run = ctl_with(&["hash-password"], &[], Some("secret1\n")).await;
    assert!(run.ok, "{}", run.stderr);
    let phc = run.stdout.trim().to_owned();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    // Offline: no gateway needed, and the hash goes into [[clients]] password.
    let dir = temp_dir("ctl-hash");
    let config = common::config(&dir, "", &common::client("shop", &phc, ""));
    let gw = Gateway::start(&dir, &config);
    let _good = Client::bound(gw.addr, CommandId::BindTransmitter, "shop", "secret1").await;
    let mut bad = Client::connect(gw.addr).await;
    let resp = bad
        .bind(CommandId::BindTransmitter, "shop", "secret2")
        .await;
    assert_eq!(resp.command_status, CommandStatus::ESME_RINVPASWD);

    // SMPP 3.4 carries 8 characters: a longer password could never bind.
    let run = ctl_with(&["hash-password"], &[], Some("secret123\n")).await;
    assert!(!run.ok);
    assert!(run.stderr.contains("1–8 characters"), "{}", run.stderr);
}

#[tokio::test]
async fn hash_password_api_key_makes_a_hash_the_http_api_accepts() {
    // As docs/http-api.md makes one: 48 hex digits.
    let key = "5f0c9a1be2d34c7a8b6e0f1d2c3b4a5968778695a4b3c2d1";
    let run = ctl_with(
        &["hash-password", "--api-key"],
        &[],
        Some(&format!("{key}\n")),
    )
    .await;
    assert!(run.ok, "{}", run.stderr);
    let phc = run.stdout.trim().to_owned();
    let dir = temp_dir("ctl-hash-api-key");
    let config = common::config(&dir, "", &common::client("shop", "secret1", "")).replace(
        "[[clients]]",
        "[http_api]\nlisten = [\"127.0.0.1:0\"]\n\n[[clients]]",
    ) + &format!("api_keys = [{phc:?}]\n");
    let gw = Gateway::start(&dir, &config);
    let http = gw.http.unwrap();
    let path = "/api/v1/messages/1";
    let known = common::http(http, "GET", path, ("shop", key), None, None);
    assert_eq!(
        known.await.unwrap().status,
        404,
        "authenticated: no such message"
    );
    let wrong = common::http(http, "GET", path, ("shop", "another-key"), None, None);
    assert_eq!(wrong.await.unwrap().status, 401);
    let run = ctl_with(&["hash-password", "--api-key"], &[], Some("with space\n")).await;
    assert!(!run.ok);
}
