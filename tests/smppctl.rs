//! `smppctl` as a user runs it: the real binary, its stdout, stderr and exit status.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use serde_json::Value;
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
