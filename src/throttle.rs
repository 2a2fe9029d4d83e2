//! Throughput caps that an operator may change while traffic flows: a route's or a carrier
//! link's messages per second. The limiter is swapped whole; a dispatcher already waiting on
//! the old one finishes that wait (at most a second at any cap) and takes the new one next.

use crate::telemetry::{self, Scope};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// A messages-per-second cap, or none.
pub struct Throttle {
    scope: Scope,
    /// The route or link it caps (metrics label).
    name: String,
    /// As the config set it, for "changed at runtime" in the admin API.
    configured: Option<NonZeroU32>,
    current: Mutex<Cap>,
}

#[derive(Clone)]
struct Cap {
    rate: Option<NonZeroU32>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Cap {
    fn new(rate: Option<NonZeroU32>) -> Self {
        Self {
            rate,
            limiter: rate.map(|rate| Arc::new(RateLimiter::direct(Quota::per_second(rate)))),
        }
    }
}

impl Throttle {
    /// The cap of the route or link `name` (`scope`), as configured.
    pub fn new(scope: Scope, name: &str, rate: Option<NonZeroU32>) -> Self {
        Self {
            scope,
            name: name.to_owned(),
            configured: rate,
            current: Mutex::new(Cap::new(rate)),
        }
    }

    /// The cap now; `None` = unlimited.
    pub fn rate(&self) -> Option<NonZeroU32> {
        self.lock().rate
    }

    /// The cap the config gave.
    pub fn configured(&self) -> Option<NonZeroU32> {
        self.configured
    }

    /// Replaces the cap (`None` lifts it) until the next restart.
    pub fn set(&self, rate: Option<NonZeroU32>) {
        *self.lock() = Cap::new(rate);
    }

    /// Waits until one more message may go under the cap, and counts the wait if there was
    /// one.
    pub async fn until_ready(&self) {
        let limiter = self.lock().limiter.clone();
        let Some(limiter) = limiter else {
            return;
        };
        if limiter.check().is_ok() {
            return;
        }
        telemetry::throttled(self.scope, &self.name);
        limiter.until_ready().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cap> {
        // A Cap is replaced whole: a panic elsewhere cannot leave it half written.
        crate::sync::lock(&self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn a_new_cap_applies_to_the_next_message() {
        let throttle = Throttle::new(Scope::Route, "r", NonZeroU32::new(1));
        assert_eq!(throttle.rate(), NonZeroU32::new(1));
        throttle.until_ready().await;
        // At 1/s the next message would wait a second; lifted, it goes at once.
        throttle.set(None);
        let started = Instant::now();
        for _ in 0..100 {
            throttle.until_ready().await;
        }
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(throttle.rate(), None);
        assert_eq!(throttle.configured(), NonZeroU32::new(1));
        // Capped again at 5/s with a burst of 5: the 11th message in a row waits ~1 s.
        throttle.set(NonZeroU32::new(5));
        let started = Instant::now();
        for _ in 0..11 {
            throttle.until_ready().await;
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
    }
}
