//! A fixed-bucket histogram owned by one shard (plain `Cell`s: no atomics,
//! no allocation after creation), for the Prometheus exporter: flush
//! latency and group-commit size here, request latency in the broker.
//! Read with [`Histogram::snapshot`] by the shard's metrics publisher.

use std::cell::Cell;

/// Upper bounds of the flush-latency buckets, seconds.
pub const FLUSH_SECONDS_BOUNDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];
/// Upper bounds of the group-commit-size buckets, bytes.
pub const GROUP_COMMIT_BYTES_BOUNDS: &[f64] = &[
    512.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
];

/// Counts of values per fixed bucket, and their sum; updated through `&self`.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last counts values above every bound.
    counts: Box<[Cell<u64>]>,
    sum: Cell<f64>,
}

/// A histogram's state at one moment, cumulative as Prometheus writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the buckets, ascending, as given to [`Histogram::new`].
    pub bounds: &'static [f64],
    /// `cumulative[i]`: values ≤ `bounds[i]`; the last entry is `+Inf`.
    pub cumulative: Vec<u64>,
    /// Sum of every value recorded (Prometheus `_sum`).
    pub sum: f64,
    /// Number of values recorded (Prometheus `_count`); equals the last
    /// entry of `cumulative`.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds`, which must ascend strictly (checked
    /// in debug builds); values above the last bound count only in `+Inf`.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| Cell::new(0)).collect(),
            sum: Cell::new(0.0),
        }
    }

    /// Counts `value` in the first bucket whose bound is ≥ it, and adds it
    /// to the sum.
    pub fn record(&self, value: f64) {
        let bucket = self.bounds.partition_point(|b| *b < value);
        let c = &self.counts[bucket];
        c.set(c.get() + 1);
        self.sum.set(self.sum.get() + value);
    }

    /// The counts so far, made cumulative; recording continues unaffected.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative: Vec<u64> = self
            .counts
            .iter()
            .map(|c| {
                running += c.get();
                running
            })
            .collect();
        HistogramSnapshot {
            bounds: self.bounds,
            count: running,
            cumulative,
            sum: self.sum.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_bucket_cumulatively() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 2.0, 10.0, 11.0, 1e9] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 4, 6]);
        assert_eq!(s.count, 6);
        assert!((s.sum - (0.5 + 1.0 + 2.0 + 10.0 + 11.0 + 1e9)).abs() < 1e-6);
    }
}
