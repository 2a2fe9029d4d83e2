//! Webhooks: the events smppd will POST to a shop's HTTP endpoint (delivery receipts, MO,
//! consent changes), signed per Standard Webhooks 1.0 so that any of its reference libraries
//! can check them. Only the signing is here so far ([`sign`]: `whsec_` secrets, the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, key rotation, and a
//! verifier for the tests and smppd's own tools); the durable delivery (an outbox per endpoint
//! in the store, the retry ladder, the dead letters, the circuit for an endpoint that is down)
//! comes later, with its config (`[[clients.webhooks]]`).

pub mod sign;
