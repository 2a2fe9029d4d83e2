//! Request rates of live sessions: the sessions' request counters, sampled once a second, give
//! requests per second over the last few seconds.

use crate::admin::api::Rate;
use crate::session::SessionStats;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds a rate looks back over.
const SPAN: usize = 5;

/// Samples of every live session's counters, by session id.
#[derive(Default)]
pub(crate) struct Rates {
    samples: Mutex<HashMap<u64, VecDeque<Sample>>>,
}

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    requests_in: u64,
    requests_out: u64,
}

impl Rates {
    /// Takes one sample of each session given (id and figures); forgets sessions not given.
    pub(crate) fn sample<'a>(&self, sessions: impl IntoIterator<Item = (u64, &'a SessionStats)>) {
        let now = Instant::now();
        let mut samples = self.lock();
        let mut seen = Vec::new();
        for (id, stats) in sessions {
            seen.push(id);
            let ring = samples.entry(id).or_default();
            if ring.len() > SPAN {
                ring.pop_front();
            }
            ring.push_back(Sample {
                at: now,
                requests_in: stats.requests_in(),
                requests_out: stats.requests_out(),
            });
        }
        samples.retain(|id, _| seen.contains(id));
    }

    /// The rate of session `id` over the last [`SPAN`] seconds; zero until it has been sampled
    /// twice.
    pub(crate) fn rate(&self, id: u64) -> Rate {
        let samples = self.lock();
        let Some((first, last)) = samples
            .get(&id)
            .and_then(|ring| Some((ring.front()?, ring.back()?)))
        else {
            return Rate::default();
        };
        let seconds = last.at.duration_since(first.at).as_secs_f64();
        if seconds < Duration::from_millis(500).as_secs_f64() {
            return Rate::default();
        }
        let per_second = |a: u64, b: u64| round(b.saturating_sub(a) as f64 / seconds);
        Rate {
            r#in: per_second(first.requests_in, last.requests_in),
            out: per_second(first.requests_out, last.requests_out),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, VecDeque<Sample>>> {
        crate::sync::lock(&self.samples)
    }
}

/// To one decimal: a rate over a few seconds is not more precise than that.
fn round(rate: f64) -> f64 {
    (rate * 10.0).round() / 10.0
}
