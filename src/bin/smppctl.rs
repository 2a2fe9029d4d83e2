//! smppctl: the admin CLI. Offline tools work without a running gateway.

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use smpp_proto::{coding, Body, Pdu};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "smppctl",
    version,
    about = "Inspect and steer an smppd gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Offline PDU tools.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
}

#[derive(Subcommand)]
enum PduCommand {
    /// Decode one PDU given as hex (spaces, colons and a 0x prefix are ignored) and print it as
    /// JSON with the spec's field names.
    Decode {
        /// The whole PDU, header included, in hex.
        hex: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smppctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pdu {
            command: PduCommand::Decode { hex },
        } => {
            let bytes = parse_hex(&hex.concat())?;
            let pdu = Pdu::decode(&Bytes::from(bytes)).context("malformed PDU")?;
            let mut json = serde_json::to_value(&pdu)?;
            if let (Some(text), Some(object)) = (readable_text(&pdu), json.as_object_mut()) {
                object.insert("text".to_owned(), text.into());
            }
            println!("{}", serde_json::to_string_pretty(&json)?);
            Ok(())
        }
    }
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
