//! Message rates of one shard over the last 10 s, 1 min and 10 min, as
//! RocketMQ's runtime info reports them (`putTps`, `getTransferredTps`:
//! three space-separated figures) and `mqadmin clusterList` prints them.
//!
//! Lives on its shard: a task samples the shard's counters every
//! [`SAMPLE_INTERVAL`]; a runtime-info request reads the samples with the
//! counters' current values, so a window ends now, not at the last sample.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Time between two samples.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// The windows reported, shortest first.
pub const WINDOWS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
];
/// Samples kept: enough to cover the longest window.
pub const SAMPLES_MAX: usize = 61;

/// Counter values at one instant: messages stored, messages sent out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub put: u64,
    pub got: u64,
}

#[derive(Debug)]
pub struct Rates {
    samples: VecDeque<(Instant, Counts)>,
}

impl Rates {
    /// Starts with one sample: `counts` at `at`.
    pub fn new(at: Instant, counts: Counts) -> Rates {
        let mut samples = VecDeque::with_capacity(SAMPLES_MAX);
        samples.push_back((at, counts));
        Rates { samples }
    }

    pub fn sample(&mut self, at: Instant, counts: Counts) {
        if self.samples.len() == SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back((at, counts));
    }

    /// (put, got) per second since the newest sample at least `window`
    /// before `now`, with `current` counts; a window longer than the
    /// history uses all of it.
    pub fn per_second(&self, window: Duration, now: Instant, current: Counts) -> (f64, f64) {
        // The newest sample at least `window` old: the figure covers
        // `window` to `window` + one sample interval, never a sliver.
        let start = self
            .samples
            .iter()
            .rev()
            .find(|(at, _)| now.saturating_duration_since(*at) >= window)
            .or_else(|| self.samples.front());
        let Some((at, base)) = start else {
            return (0.0, 0.0);
        };
        let secs = now.saturating_duration_since(*at).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, 0.0);
        }
        (
            current.put.saturating_sub(base.put) as f64 / secs,
            current.got.saturating_sub(base.got) as f64 / secs,
        )
    }

    /// RocketMQ's `putTps` and `getTransferredTps` values.
    pub fn runtime_values(&self, now: Instant, current: Counts) -> (String, String) {
        let figures: Vec<(f64, f64)> = WINDOWS
            .iter()
            .map(|w| self.per_second(*w, now, current))
            .collect();
        let join = |f: &dyn Fn(&(f64, f64)) -> f64| {
            figures
                .iter()
                .map(|x| format!("{:.2}", f(x)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        (join(&|x| x.0), join(&|x| x.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_cover_their_window_and_end_now() {
        let t0 = Instant::now();
        let c = |put, got| Counts { put, got };
        let mut r = Rates::new(t0, c(0, 0));
        for i in 1..=60u64 {
            r.sample(t0 + SAMPLE_INTERVAL * i as u32, c(i * 1000, i * 10));
        }
        let now = t0 + Duration::from_secs(605);
        // 100 msg/s throughout; the last 5 s added 500.
        let (put, got) = r.per_second(WINDOWS[0], now, c(60_500, 605));
        assert!((put - 100.0).abs() < 1e-9, "{put}");
        assert!((got - 1.0).abs() < 1e-9, "{got}");
        let (text, _) = r.runtime_values(now, c(60_500, 605));
        assert_eq!(text, "100.00 100.00 100.00");
        assert_eq!(r.samples.len(), SAMPLES_MAX);
    }

    #[test]
    fn a_young_shard_reports_over_its_life() {
        let t0 = Instant::now();
        let r = Rates::new(t0, Counts { put: 0, got: 0 });
        let (put, _) = r.per_second(
            WINDOWS[2],
            t0 + Duration::from_secs(2),
            Counts { put: 50, got: 0 },
        );
        assert!((put - 25.0).abs() < 1e-9);
        assert_eq!(
            r.per_second(WINDOWS[0], t0, Counts { put: 9, got: 0 }),
            (0.0, 0.0)
        );
    }

    #[test]
    fn a_fresh_sample_does_not_shrink_the_window() {
        let t0 = Instant::now();
        let c = |put| Counts { put, got: 0 };
        let mut r = Rates::new(t0, c(0));
        r.sample(t0 + SAMPLE_INTERVAL, c(1_000));
        // 1 ms after the second sample, 1 more message: the rate is over
        // the last ~10 s, not over 1 ms.
        let now = t0 + SAMPLE_INTERVAL + Duration::from_millis(1);
        let (put, _) = r.per_second(WINDOWS[0], now, c(1_001));
        assert!((put - 1_001.0 / 10.001).abs() < 1e-6, "{put}");
    }
}
