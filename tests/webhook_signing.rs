//! Interoperability of smppd's webhook signatures (`src/hook_sign.rs`) with an independent
//! implementation: Standard Webhooks' python reference library, `standardwebhooks` 1.1.0
//! (`tests/interop/verify_webhook.py`, in the interop venv of `tests/common/peers.rs`, which
//! installs it or fails saying what is missing: nothing here is skipped).
//!
//! Both ways, over ASCII, UTF-8, pretty-printed, large, non-JSON and empty bodies, with secrets
//! of 24, 32 (written without its base64 padding) and 64 bytes, and a key rotation read from a
//! secrets file: what smppd signs, the library accepts, with each secret of a rotation alone,
//! and refuses once the body, the id or the secret differ or the timestamp is 10 minutes off;
//! what the library signs, smppd signs to the same bytes and verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::peers::{self, Lines};
use serde_json::{json, Value};
use smppd::webhooks::sign::{self, unix_now, verify, Headers, Secret, Secrets, TOLERANCE};
use std::time::Duration;

/// The pinned version (tests/interop/requirements.txt).
const VERSION: &str = "1.1.0";

/// The reference libraries' test secret: 24 bytes, the shortest allowed.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `len` bytes that look random, the same on every run.
fn key_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// The secrets' texts, as a shop would paste them: 24, 32 (unpadded) and 64 bytes.
fn secret_texts() -> [String; 3] {
    let padded = format!("whsec_{}", STANDARD.encode(key_bytes(32, 0x5eed)));
    assert!(padded.ends_with('='), "32 bytes of base64 end with one `=`");
    [
        VECTOR_SECRET.to_owned(),
        padded.trim_end_matches('=').to_owned(),
        format!("whsec_{}", STANDARD.encode(key_bytes(64, 0xfeed))),
    ]
}

/// The bodies: name, bytes, and whether they are JSON.
fn bodies() -> Vec<(&'static str, Vec<u8>, bool)> {
    let large: Vec<Value> = (0..150)
        .map(|i| {
            json!({
                "type": "message.delivered",
                "event_id": format!("evt_{i:06}"),
                "to": "+33612345678",
                "text": "Votre commande n° 8812 est expédiée",
            })
        })
        .collect();
    let large = serde_json::to_vec(&large).unwrap();
    assert!(large.len() > 16_000, "{}", large.len());
    let ascii = concat!(
        r#"{"type":"message.delivered","event_id":"evt_1","id":"1000000042","#,
        r#""client_ref":"order-8812","carrier":{"link":"orange","stat":"DELIVRD","err":"000"}}"#,
    );
    let utf8 = concat!(
        r#"{"type":"mo.received","from":"+33612345678","to":"36123","#,
        r#""text":"Arrêtez — STOP ✋ 😀 مرحبا","keyword":"STOP"}"#,
    );
    let pretty = concat!(
        "{\r\n  \"type\": \"consent.changed\",\n",
        "\t\"number\": \"+33612345678\",\n  \"action\": \"opted_out\"\n}\n",
    );
    vec![
        ("ascii", ascii.as_bytes().to_vec(), true),
        ("utf8", utf8.as_bytes().to_vec(), true),
        ("pretty", pretty.as_bytes().to_vec(), true),
        ("large", large, true),
        (
            "text",
            "plain text. with dots... and é".as_bytes().to_vec(),
            false,
        ),
        ("empty", Vec::new(), false),
    ]
}

/// Who signs: one secret alone, or a rotation (new, old) read from a secrets file.
fn signers() -> Vec<(&'static str, Vec<String>, Secrets)> {
    let texts = secret_texts();
    let file = format!(
        "# shop.example\n{}  # new\n{}  # old, until the shop has switched\n",
        texts[2], texts[0]
    );
    let rotation = Secrets::parse(&file).unwrap();
    assert!(rotation.previous().is_some());
    vec![
        (
            "24-bytes",
            vec![texts[0].clone()],
            Secrets::one(secret(&texts[0])),
        ),
        (
            "32-bytes-unpadded",
            vec![texts[1].clone()],
            Secrets::one(secret(&texts[1])),
        ),
        (
            "rotation",
            vec![texts[2].clone(), texts[0].clone()],
            rotation,
        ),
    ]
}

fn secret(text: &str) -> Secret {
    text.parse().unwrap()
}

/// Runs the script on `cases`; checks the library's version.
fn run(cases: &Value) -> Lines {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(cases).unwrap()).unwrap();
    let command = peers::python_script("verify_webhook.py", &[path.to_string_lossy().into_owned()]);
    let lines = peers::run_script(command, Duration::from_secs(120));
    let version = lines.events("version");
    assert_eq!(version.len(), 1, "{:?}", lines.0);
    assert_eq!(version[0]["standardwebhooks"], VERSION);
    lines
}

fn headers_json(headers: &Headers) -> Value {
    Value::Object(
        headers
            .pairs()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Value::String(value)))
            .collect(),
    )
}

fn verify_case(name: &str, secret: &str, headers: &Headers, body: &[u8], json: bool) -> Value {
    json!({
        "name": name,
        "secret": secret,
        "headers": headers_json(headers),
        "body": STANDARD.encode(body),
        "json": json,
    })
}

#[test]
fn standardwebhooks_is_the_pinned_version() {
    run(&json!({"verify": [], "sign": []}));
}

#[test]
fn standardwebhooks_verifies_what_smppd_signs() {
    let now = unix_now();
    let mut cases = Vec::new();
    // name → the body's JSON, if any
    let mut expected = Vec::new();
    for (body_name, body, is_json) in bodies() {
        for (signer_name, texts, secrets) in signers() {
            let id = format!("evt_{body_name}_{signer_name}");
            let headers = Headers::sign(secrets.as_slice(), &id, now, &body);
            if texts.len() == 2 {
                assert_eq!(headers.signature.matches("v1,").count(), 2);
            }
            // During a rotation, a receiver that has either secret accepts.
            for (i, text) in texts.iter().enumerate() {
                let name = format!("{body_name}/{signer_name}/secret{i}");
                cases.push(verify_case(&name, text, &headers, &body, is_json));
                let parsed = is_json.then(|| serde_json::from_slice::<Value>(&body).unwrap());
                expected.push((name, parsed));
            }
        }
    }

    // What must be refused, and the library's reason.
    let texts = secret_texts();
    let body = bodies().remove(1).1;
    let signed = |texts: &[&String], id: &str, at: i64, body: &[u8]| {
        let secrets: Vec<Secret> = texts.iter().map(|t| secret(t)).collect();
        Headers::sign(&secrets, id, at, body)
    };
    let good = signed(&[&texts[0]], "evt_neg", now, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    let mut other_id = good.clone();
    other_id.id = "evt_neh".to_owned();
    let mut later = good.clone();
    later.timestamp += 1;
    let refused = [
        (
            "tampered-body",
            &texts[0],
            good.clone(),
            tampered,
            "No matching signature",
        ),
        (
            "other-id",
            &texts[0],
            other_id,
            body.clone(),
            "No matching signature",
        ),
        (
            "other-timestamp",
            &texts[0],
            later,
            body.clone(),
            "No matching signature",
        ),
        (
            "other-secret",
            &texts[1],
            good.clone(),
            body.clone(),
            "No matching signature",
        ),
        (
            "rotation-with-neither",
            &texts[1],
            signed(&[&texts[2], &texts[0]], "evt_neg", now, &body),
            body.clone(),
            "No matching signature",
        ),
        (
            "10-minutes-old",
            &texts[0],
            signed(&[&texts[0]], "evt_neg", now - 600, &body),
            body.clone(),
            "too old",
        ),
        (
            "10-minutes-ahead",
            &texts[0],
            signed(&[&texts[0]], "evt_neg", now + 600, &body),
            body.clone(),
            "too new",
        ),
    ];
    for (name, text, headers, body, _) in &refused {
        cases.push(verify_case(name, text, headers, body, true));
    }

    let lines = run(&json!({"verify": cases, "sign": []}));
    let verified = lines.events("verified");
    assert_eq!(
        verified.len(),
        expected.len() + refused.len(),
        "{:?}",
        lines.0
    );
    for (name, parsed) in &expected {
        let line = verified
            .iter()
            .find(|l| l["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no answer for {name}"));
        assert_eq!(line["ok"], true, "standardwebhooks refused {name}: {line}");
        if let Some(parsed) = parsed {
            assert_eq!(&line["parsed"], parsed, "{name}");
        }
    }
    for (name, _, _, _, reason) in &refused {
        let line = verified
            .iter()
            .find(|l| l["name"] == *name)
            .unwrap_or_else(|| panic!("no answer for {name}"));
        assert_eq!(
            line["ok"], false,
            "standardwebhooks accepted {name}: {line}"
        );
        let error = line["error"].as_str().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
    }
}

#[test]
fn smppd_signs_and_verifies_as_standardwebhooks_does() {
    let now = unix_now();
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for (body_name, body, _) in bodies() {
        for (signer_name, texts, secrets) in signers() {
            let name = format!("{body_name}/{signer_name}");
            let id = format!("msg_{body_name}_{signer_name}");
            cases.push(json!({
                "name": name,
                "secrets": texts,
                "id": id,
                "timestamp": now,
                "body": STANDARD.encode(&body),
            }));
            ours.push((name, id, body.clone(), secrets));
        }
    }
    // The reference vector, signed by the library too.
    cases.push(json!({
        "name": "vector",
        "secrets": [VECTOR_SECRET],
        "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "timestamp": 1614265330,
        "body": STANDARD.encode(br#"{"test": 2432232314}"#),
    }));

    let lines = run(&json!({"verify": [], "sign": cases}));
    let signed = lines.events("signed");
    assert_eq!(signed.len(), ours.len() + 1, "{:?}", lines.0);
    let vector = signed.iter().find(|l| l["name"] == "vector").unwrap();
    assert_eq!(
        vector["signature"],
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    for (name, id, body, secrets) in &ours {
        let line = signed
            .iter()
            .find(|l| l["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no signature for {name}"));
        let theirs = line["signature"].as_str().unwrap();
        // The same bytes, the current secret's signature first.
        assert_eq!(
            theirs,
            sign::sign(secrets.as_slice(), id, now, body),
            "{name}"
        );
        // smppd verifies it with each secret alone.
        let timestamp = now.to_string();
        for secret in secrets.as_slice() {
            verify(
                std::slice::from_ref(secret),
                id,
                &timestamp,
                theirs,
                body,
                unix_now(),
                TOLERANCE,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // And refuses it for another body.
        let mut tampered = body.clone();
        tampered.push(b'.');
        assert!(
            verify(
                secrets.as_slice(),
                id,
                &timestamp,
                theirs,
                &tampered,
                unix_now(),
                TOLERANCE
            )
            .is_err(),
            "{name}"
        );
    }
}
