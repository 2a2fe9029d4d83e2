//! smppd: a self-hosted SMPP 3.4 gateway. The gateway's modules arrive with their issues; the
//! wire format lives in the `smpp-proto` crate.

pub mod admin;
pub mod app;
pub mod backoff;
pub mod carrier;
pub mod class;
pub mod cluster;
pub mod config;
pub mod consent;
pub mod esme;
pub mod esme_client;
pub mod handoff;
pub mod hook_event;
pub mod hook_kind;
pub mod hook_sign;
pub mod http_api;
pub mod idempotency;
pub mod keywords;
pub mod live;
pub mod message;
pub mod numbering;
pub mod outbox;
pub mod price;
pub mod reload;
pub mod route;
pub mod sender;
pub mod sending_hours;
pub mod session;
pub mod simulator;
pub mod store;
mod sync;
pub mod telemetry;
pub mod throttle;
pub mod transliterate;
pub mod webhooks;
pub mod windows;
