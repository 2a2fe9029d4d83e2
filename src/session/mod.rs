//! One SMPP session over any byte stream (TCP or TLS), used by both sides of the gateway:
//! framing, bind state, our window of requests in flight, a bound on the peer's requests in
//! progress, timers, enquire_link and unbind. What the requests *mean* is the [`Service`]'s
//! business.

mod driver;
pub mod machine;
mod window;

#[cfg(test)]
mod timer_tests;

pub use driver::{
    open, run, PendingAnswer, Queued, Reply, Service, SessionHandle, SessionInfo, SessionLimits,
    SessionStats, WriteGate,
};
pub use machine::{BindKind, BindState, Role};
pub use window::{Answer, RequestError};
