//! Delays that double after each failure, up to a bound, and start short again after a
//! success: reconnects, retries, pauses asked for by a carrier, deliveries to a client bind.

use std::time::Duration;

/// A delay that doubles with each failure in a row, from `min` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starting at `min`, at most `max` (`min` if `max` is smaller).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay to wait after this failure; the next one is twice as long, up to `max`.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// A success: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The delay after the `n`-th failure in a row (1 for the first): `min` doubled `n - 1`
    /// times, at most `max`. For delays counted from stored attempts.
    pub fn nth(min: Duration, max: Duration, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        min.saturating_mul(factor).min(max.max(min))
    }
}

/// `base` ± 25 %, so that many peers that failed together do not try again in lockstep.
pub fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_its_bound_and_starts_again_after_a_success() {
        let mut backoff = Backoff::new(100 * MS, 500 * MS);
        let delays: Vec<_> = (0..5).map(|_| backoff.failed()).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS]);
        backoff.reset();
        assert_eq!(backoff.failed(), 100 * MS);
        for n in 1..=5 {
            assert_eq!(Backoff::nth(100 * MS, 500 * MS, n), delays[n as usize - 1]);
        }
        assert_eq!(Backoff::nth(100 * MS, 500 * MS, u32::MAX), 500 * MS);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let j = jitter(1000 * MS);
            assert!(j >= 750 * MS && j <= 1250 * MS, "{j:?}");
        }
    }
}
