//! The test kit, shared by the tests (`mod common;`) and the end-to-end benchmarks
//! (`#[path = "../tests/common/mod.rs"] mod common;`): the real `smppd serve` binary on port 0
//! in a temp dir ([`Gateway`]) or the gateway in process ([`InProcess`]); the carrier simulator
//! as a child process ([`Simulator`]) or in process ([`sim_in_process`]); ESMEs over a real
//! socket that speak through `smpp-proto` ([`Client`], [`Esme`]); config builders; the PDUs
//! tests send; the admin API; waiting for a condition; and third-party peers ([`peers`]). For
//! cluster fault runs: three nats-servers ([`nats`]), the rig of nodes, servers and carrier
//! ([`cluster`]), a paced load ([`paced_load`]) and the run's accounting ([`accounting`]).
//! Each crate that includes it uses part of it.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

pub mod accounting;
mod admin;
mod client;
pub mod cluster;
mod config;
mod fixtures;
mod gateway;
mod http;
pub mod nats;
pub mod paced_load;
pub mod peers;
mod process;
mod simulator;

// One namespace for the users (`common::Gateway`); each uses only part of it.
#[allow(unused_imports)]
pub use {
    admin::*, client::*, config::*, fixtures::*, gateway::*, http::*, process::*, simulator::*,
};

use std::time::Duration;

/// Polls `condition` until it holds; panics with `what` if it does not within `limit`.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
