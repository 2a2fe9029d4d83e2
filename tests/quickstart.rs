//! The quickstart as a newcomer runs it: `config.example.toml` as shipped (only its ports and
//! store moved out of the way of other tests) runs a whole gateway with its built-in carrier
//! simulator, and `smppctl send` sees a message go out and its receipt come back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{temp_dir, Gateway, Simulator};
use std::process::Command;

#[test]
fn the_example_config_delivers_a_message_and_its_receipt() {
    let dir = temp_dir("quickstart");
    let example = include_str!("../config.example.toml");
    let (smpp, sim) = (Simulator::reserve_port(), Simulator::reserve_port());
    let text = example
        .replace(
            "listen = [\"127.0.0.1:2775\"]",
            &format!("listen = [\"{smpp}\"]"),
        )
        .replace("port = 2776", &format!("port = {}", sim.port()))
        .replace(
            "listen = \"127.0.0.1:2776\"",
            &format!("listen = \"{sim}\""),
        )
        .replace("listen = \"127.0.0.1:8775\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "path = \"smppd-data\"",
            &format!("path = \"{}\"", dir.join("store").display()),
        );
    // Every replacement hit: the example still has the keys this test moves.
    let settings: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    for moved in ["2775", "2776", "8775", "\"smppd-data\""] {
        assert!(
            !settings.iter().any(|l| l.contains(moved)),
            "{moved} left in the example"
        );
    }
    let gateway = Gateway::start(&dir, &text);

    let out = Command::new(env!("CARGO_BIN_EXE_smppctl"))
        .args(["--admin", &gateway.admin_url()])
        .args(["send", "--smpp", &gateway.addr.to_string()])
        .args([
            "--to",
            "+447700900123",
            "--wait",
            "20s",
            "Hello from the quickstart",
        ])
        .env_remove("SMPPCTL_SYSTEM_ID")
        .env_remove("SMPPCTL_PASSWORD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gateway.logs()
    );
    assert!(stdout.contains("route default"), "{stdout}");
    assert!(stdout.contains("state DELIVRD"), "{stdout}");
}
