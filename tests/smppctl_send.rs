//! `smppctl send` against the real gateway and a `smppd simulate` carrier: it binds, sends, waits
//! for the receipt and prints the gateway id, the route taken (from the admin API) and the final
//! state; a refused bind is a clear error and exit status 1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{carrier, routed_config, temp_dir, Gateway, Simulator};
use std::process::Command;

fn smppctl(gateway: &Gateway, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(["--admin", &gateway.admin_url()])
        .args([
            "send",
            "--smpp",
            &gateway.addr.to_string(),
            "--system-id",
            "shop",
        ])
        .args(args)
        .env_remove("SMPPCTL_PASSWORD")
        .output()
        .unwrap()
}

#[test]
fn send_prints_id_route_and_final_state() {
    let dir = temp_dir("smppctl-send");
    let sim = Simulator::start(&dir, "sim", &["--receipt-delay", "20ms"]);
    let carriers = [carrier("sim", sim.addr.port(), "")];
    let text = routed_config(&dir, &carriers, &["sim"], "", "");
    let gateway = Gateway::start(&dir, &text);

    let out = smppctl(
        &gateway,
        &[
            "--password",
            "secret1",
            "--to",
            "+447700900123",
            "--wait",
            "10s",
            "Hello from smppctl",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sent in 1 part(s), GSM 7-bit"), "{stdout}");
    assert!(stdout.contains("route default"), "{stdout}");
    assert!(stdout.contains("state DELIVRD"), "{stdout}");
    assert_eq!(sim.submits().len(), 1);

    let out = smppctl(
        &gateway,
        &[
            "--json",
            "--password",
            "secret1",
            "--to",
            "447700900123",
            "Ünïcødé ✓ text",
        ],
    );
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["encoding"], "UCS-2");
    assert_eq!(json["parts"][0]["route"], "default");
    assert_eq!(json["parts"][0]["state"], "DELIVRD");
    assert_eq!(json["receipted"], true);

    let out = smppctl(
        &gateway,
        &["--password", "wrong", "--to", "447700900123", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bind refused: ESME_RINVPASWD"), "{stderr}");
}
