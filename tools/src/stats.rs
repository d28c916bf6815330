//! What a benchmark phase counts, shared by the load threads and the
//! reporting thread: atomic counters, errors by response code, and HDR
//! latency histograms (microseconds). Threads record into their own
//! histogram and merge it here every [`MERGE_EVERY`] records and at the
//! end, so recording never contends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Highest latency a histogram holds (one hour, in µs); larger values are
/// clamped to it.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Records a thread keeps locally before merging.
pub const MERGE_EVERY: u64 = 1024;
/// Response code used for transport failures (no response).
pub const TRANSPORT_ERROR: i32 = -1;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

pub struct Phase {
    pub name: &'static str,
    pub msgs: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    errors_by_code: Mutex<BTreeMap<i32, u64>>,
    latency: Mutex<Histogram<u64>>,
    /// Messages per second, one entry per reporting second.
    pub timeline: Mutex<Vec<u64>>,
}

impl Phase {
    pub fn new(name: &'static str) -> Phase {
        Phase {
            name,
            msgs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            errors_by_code: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(new_histogram()),
            timeline: Mutex::new(Vec::new()),
        }
    }

    pub fn error(&self, code: i32) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .errors_by_code
            .lock()
            .expect("stats lock")
            .entry(code)
            .or_default() += 1;
    }

    pub fn merge(&self, local: &mut Histogram<u64>) {
        if local.is_empty() {
            return;
        }
        self.latency
            .lock()
            .expect("stats lock")
            .add(&*local)
            .expect("same bounds");
        local.reset();
    }

    pub fn percentile_us(&self, q: f64) -> u64 {
        self.latency
            .lock()
            .expect("stats lock")
            .value_at_quantile(q)
    }

    pub fn histogram(&self) -> Histogram<u64> {
        self.latency.lock().expect("stats lock").clone()
    }

    pub fn errors_by_code(&self) -> BTreeMap<i32, u64> {
        self.errors_by_code.lock().expect("stats lock").clone()
    }

    pub fn reset(&self) {
        self.msgs.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.errors_by_code.lock().expect("stats lock").clear();
        self.latency.lock().expect("stats lock").reset();
        self.timeline.lock().expect("stats lock").clear();
    }

    /// The phase's JSON object (`msgs_per_sec`, `mb_per_sec`, `errors`,
    /// `latency_us`), over `secs` of measurement.
    pub fn summary(&self, secs: f64) -> Value {
        let h = self.histogram();
        let msgs = self.msgs.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = secs.max(1e-9);
        json!({
            "messages": msgs,
            "bytes": bytes,
            "seconds": secs,
            "msgs_per_sec": msgs as f64 / secs,
            "mb_per_sec": bytes as f64 / secs / 1_000_000.0,
            "errors": self.errors.load(Ordering::Relaxed),
            "errors_by_code": self.errors_by_code().iter().map(|(c, n)| (c.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "latency_us": {
                "p50": h.value_at_quantile(0.50),
                "p90": h.value_at_quantile(0.90),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "p9999": h.value_at_quantile(0.9999),
                "max": h.max(),
                "samples": h.len(),
            },
            "timeline_msgs_per_sec": *self.timeline.lock().expect("stats lock"),
        })
    }
}

/// The `errors_by_code` key of delayed or timer messages consumed before
/// their time (not a RocketMQ response code: a broker bug mqbench caught).
pub const EARLY_DELIVERY: i32 = -1;

/// Shared state of a run.
pub struct Run {
    pub produce: Phase,
    pub consume: Phase,
    pub e2e: Phase,
    /// Set when the warm-up ends: counters were reset and recording counts.
    pub measuring: AtomicBool,
    /// Set to stop every load task.
    pub stop: AtomicBool,
    /// Set to stop producers only (consumers drain what was sent).
    pub stop_producers: AtomicBool,
    /// Producers finished (message count reached or stopped).
    pub producers_done: AtomicU64,
    /// Verification sums: acknowledged messages and their body checksums,
    /// and what consumers received.
    pub verify_sent: AtomicU64,
    pub verify_sent_sum: AtomicU64,
    pub verify_received: AtomicU64,
    pub verify_received_sum: AtomicU64,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            produce: Phase::new("produce"),
            consume: Phase::new("consume"),
            e2e: Phase::new("e2e"),
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            stop_producers: AtomicBool::new(false),
            producers_done: AtomicU64::new(0),
            verify_sent: AtomicU64::new(0),
            verify_sent_sum: AtomicU64::new(0),
            verify_received: AtomicU64::new(0),
            verify_received_sum: AtomicU64::new(0),
        }
    }
}

/// Checksum of one message body for `--verify`: summed (wrapping) over a
/// run, so the order of arrival does not matter.
pub fn body_checksum(body: &[u8]) -> u64 {
    let mut h = crc32fast::Hasher::new();
    h.update(body);
    let crc = u64::from(h.finalize());
    // Mix in the length so bodies differing only by truncation differ.
    crc.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(body.len() as u64)
}
