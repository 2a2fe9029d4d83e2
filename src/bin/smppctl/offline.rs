//! smppctl's offline tools, which need no gateway: `pdu decode` (hex to the PDU as JSON) and
//! `hash-password` (the argon2 hash for `[[clients]] password` or `api_keys`). `main.rs`
//! dispatches to them.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use smpp_proto::{coding, Body, Pdu};
use std::io::IsTerminal;

/// `pdu decode`: the PDU with the spec's field names, plus its text decoded for people (a
/// field the PDU's own serialization lacks, hence the JSON value).
pub(crate) fn pdu_decode(hex: &[String]) -> anyhow::Result<()> {
    let bytes = parse_hex(&hex.concat())?;
    let pdu = Pdu::decode(&Bytes::from(bytes)).context("malformed PDU")?;
    let mut json = serde_json::to_value(&pdu)?;
    if let (Some(text), Some(object)) = (readable_text(&pdu), json.as_object_mut()) {
        object.insert("text".to_owned(), text.into());
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// Longest plain password SMPP 3.4 carries in a bind (a C-Octet String of 9).
const PASSWORD_MAX: usize = 8;

/// Longest HTTP API key: HTTP Basic has no limit, a longer key would only be a mistake.
const API_KEY_MAX: usize = 255;

/// Prints the argon2 hash of a client's SMPP password, or of an HTTP API key (`api_key`).
pub(crate) fn hash_password(api_key: bool) -> anyhow::Result<()> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if api_key {
        if password.is_empty() || password.len() > API_KEY_MAX {
            bail!("an API key is 1–{API_KEY_MAX} characters");
        }
        if !password.chars().all(|c| c.is_ascii_graphic()) {
            bail!("an API key is printable ASCII without spaces (it travels in a header)");
        }
    } else if password.is_empty() || password.len() > PASSWORD_MAX {
        bail!(
            "a client password is 1–{PASSWORD_MAX} characters: SMPP 3.4 binds carry at most \
             {PASSWORD_MAX}, so a longer one could never match (an HTTP API key: --api-key)"
        );
    }
    if !password.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        bail!("a client password is printable ASCII (it travels as such in the bind)");
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("argon2: {e}"))?;
    println!("{hash}");
    Ok(())
}

/// The message text of a submit_sm / deliver_sm / data_sm, decoded by its data_coding (UDH
/// removed), for people reading the dump.
fn readable_text(pdu: &Pdu) -> Option<String> {
    let (data_coding, data) = match &pdu.body {
        Body::SubmitSm(sm) | Body::DeliverSm(sm) => {
            let data = match sm.part() {
                Ok(Some((_, payload))) => payload,
                _ => sm.user_data(),
            };
            (sm.data_coding, data)
        }
        Body::DataSm(sm) => (sm.data_coding, sm.tlvs.message_payload()?.clone()),
        _ => return None,
    };
    Some(coding::decode_text(data_coding, &data))
}

fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: Vec<u8> = text
        .trim()
        .trim_start_matches("0x")
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'\n' | b'\t'))
        .collect();
    if !digits.len().is_multiple_of(2) {
        bail!("hex has an odd number of digits ({})", digits.len());
    }
    digits
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .with_context(|| format!("not a hex digit pair at octet {i}"))
        })
        .collect()
}
