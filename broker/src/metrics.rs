//! Prometheus exporter (`metricsExporterType=PROM`): the broker's metrics
//! in Prometheus text format on `metricsPromExporterPort` (default 5557),
//! at `/metrics`.
//!
//! Names follow RocketMQ 5's broker metrics where one exists
//! (`rocketmq_messages_in_total`, `rocketmq_throughput_in_total`,
//! `rocketmq_consumer_lag_messages`, `rocketmq_storage_size`, ...); RingMQ's
//! own start with `ringmq_`. Every series carries `cluster`, `node_id`
//! (the broker name) and `shard`.
//!
//! Nothing here touches a shard's hot path. Shard-wide counters are the
//! [`ShardStats`] atomics, read by the scrape. Per-topic and per-group
//! traffic is counted by each shard in its own [`Traffic`] (a `RefCell`
//! map, no atomics), and each shard publishes a snapshot of it, with its
//! consumer lag and storage gauges, every [`PUBLISH_INTERVAL`] into its
//! slot of [`Published`]. A scrape reads the slots and the atomics; it never
//! waits for a shard.

use ringmq_engine::QueueId;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringmq_engine::histogram::{Histogram, HistogramSnapshot};

use crate::shard::ShardStats;

/// How often a shard publishes its per-topic snapshot.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// Largest HTTP request head the exporter reads.
const REQUEST_BYTES_MAX: usize = 8 * 1024;
/// A scraper that sends nothing, or takes nothing, for this long is dropped.
const SCRAPE_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What a metric family is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Counter,
    Gauge,
    /// Published as `<name>_bucket` (with `le`), `<name>_sum`, `<name>_count`.
    Histogram,
}

/// One sample a shard published: family name, labels beyond the common
/// ones, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub family: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Every family the exporter writes, with its help text.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "rocketmq_rpc_latency",
        Kind::Histogram,
        "Time from a request's arrival to its answer, milliseconds, by request code (held pulls and pops include their wait).",
    ),
    (
        "ringmq_read_bytes_total",
        Kind::Counter,
        "Bytes of queue reads by where they were answered from: source=\"memory\" (the hot window, direct I/O) or \"file\" (page cache or disk).",
    ),
    (
        "ringmq_flush_latency_seconds",
        Kind::Histogram,
        "Time of each fdatasync round of the commit log.",
    ),
    (
        "ringmq_group_commit_bytes",
        Kind::Histogram,
        "Bytes made durable at once (one flush, or one durable direct-I/O write).",
    ),
    (
        "rocketmq_messages_in_total",
        Kind::Counter,
        "Messages stored, by topic.",
    ),
    (
        "rocketmq_throughput_in_total",
        Kind::Counter,
        "Message body bytes stored, by topic.",
    ),
    (
        "rocketmq_messages_out_total",
        Kind::Counter,
        "Messages delivered to consumers, by topic and group.",
    ),
    (
        "rocketmq_throughput_out_total",
        Kind::Counter,
        "Message bytes delivered to consumers, by topic and group.",
    ),
    (
        "rocketmq_consumer_lag_messages",
        Kind::Gauge,
        "Messages stored and not yet committed by the group, by topic and group.",
    ),
    (
        "rocketmq_storage_size",
        Kind::Gauge,
        "Bytes the shard's commit log spans on disk.",
    ),
    (
        "rocketmq_storage_flush_behind_bytes",
        Kind::Gauge,
        "Commit-log bytes written and not yet fdatasync'd.",
    ),
    (
        "ringmq_store_poisoned",
        Kind::Gauge,
        "1 when the shard's commit log refuses writes after a failed write or fdatasync.",
    ),
    ("ringmq_requests_total", Kind::Counter, "Requests served."),
    (
        "ringmq_cross_shard_requests_total",
        Kind::Counter,
        "Requests that named another shard's queue and were forwarded.",
    ),
    (
        "ringmq_connections",
        Kind::Gauge,
        "Client connections held.",
    ),
    (
        "ringmq_connections_refused_total",
        Kind::Counter,
        "Connections closed at accept: shardConnectionsMax reached.",
    ),
    (
        "ringmq_acl_refused_total",
        Kind::Counter,
        "Requests refused by the ACL.",
    ),
    (
        "ringmq_replication_peers",
        Kind::Gauge,
        "Master: slaves connected; slave: 1 while connected to its master.",
    ),
    (
        "ringmq_replication_lag_bytes",
        Kind::Gauge,
        "Master: bytes written and not yet reported by any slave.",
    ),
    (
        "ringmq_replication_lag_ms",
        Kind::Gauge,
        "Master: how long the best slave has not been caught up.",
    ),
    (
        "ringmq_sent_back_total",
        Kind::Counter,
        "Consumer send-backs stored to a retry topic.",
    ),
    (
        "ringmq_dead_lettered_total",
        Kind::Counter,
        "Messages stored to a dead-letter topic.",
    ),
    (
        "ringmq_pop_acked_total",
        Kind::Counter,
        "Popped messages acknowledged.",
    ),
    (
        "ringmq_pop_revived_total",
        Kind::Counter,
        "Popped messages not acknowledged in time and redelivered.",
    ),
    (
        "ringmq_transactions_committed_total",
        Kind::Counter,
        "Half messages committed.",
    ),
    (
        "ringmq_transactions_rolled_back_total",
        Kind::Counter,
        "Half messages rolled back.",
    ),
];

/// The latest snapshot of each shard, written by the shard, read by scrapes.
pub struct Published {
    slots: Vec<Mutex<Vec<Sample>>>,
}

impl Published {
    pub fn new(shards: u16) -> Arc<Published> {
        Arc::new(Published {
            slots: (0..shards).map(|_| Mutex::new(Vec::new())).collect(),
        })
    }

    pub fn publish(&self, shard: ringmq_engine::ShardId, samples: Vec<Sample>) {
        *self.slots[shard.index()].lock().expect("metrics slot") = samples;
    }
}

/// Upper bounds of the request-latency buckets, milliseconds.
pub const RPC_LATENCY_MS_BOUNDS: &[f64] = &[
    0.1, 0.5, 1.0, 3.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 30_000.0,
];
/// Request codes with their own latency histogram on a shard; later codes
/// share the `other` one.
pub const RPC_CODES_MAX: usize = 64;

/// One shard's request latency by request code, counted on the shard
/// (always: two clock reads per request, no cost measured; runtime info and
/// the exporter read it).
#[derive(Default)]
pub struct RpcLatency {
    by_code: RefCell<BTreeMap<i32, Histogram>>,
    other: RefCell<Option<Histogram>>,
}

impl RpcLatency {
    pub fn record(&self, code: i32, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1_000.0;
        let mut by_code = self.by_code.borrow_mut();
        if let Some(h) = by_code.get(&code) {
            h.record(ms);
        } else if by_code.len() < RPC_CODES_MAX {
            let h = Histogram::new(RPC_LATENCY_MS_BOUNDS);
            h.record(ms);
            by_code.insert(code, h);
        } else {
            self.other
                .borrow_mut()
                .get_or_insert_with(|| Histogram::new(RPC_LATENCY_MS_BOUNDS))
                .record(ms);
        }
    }

    /// Cumulative bucket counts (bounds [`RPC_LATENCY_MS_BOUNDS`], then
    /// `+Inf`) of `codes` together: runtime info carries them so admin
    /// tools (the dashboard's latency chart) can take differences.
    pub fn cumulative(&self, codes: &[i32]) -> Vec<u64> {
        let mut sum = vec![0u64; RPC_LATENCY_MS_BOUNDS.len() + 1];
        for (code, h) in self.by_code.borrow().iter() {
            if codes.contains(code) {
                for (s, c) in sum.iter_mut().zip(h.snapshot().cumulative) {
                    *s += c;
                }
            }
        }
        sum
    }

    pub fn samples(&self, out: &mut Vec<Sample>) {
        let base = || vec![("protocol_type", "remoting".to_string())];
        for (code, h) in self.by_code.borrow().iter() {
            let mut labels = base();
            labels.push(("request_code", code.to_string()));
            histogram_samples(RPC_LATENCY, labels, &h.snapshot(), out);
        }
        if let Some(h) = self.other.borrow().as_ref() {
            let mut labels = base();
            labels.push(("request_code", "other".to_string()));
            histogram_samples(RPC_LATENCY, labels, &h.snapshot(), out);
        }
    }
}

/// The three series names of a histogram family.
pub struct HistogramNames {
    pub bucket: &'static str,
    pub sum: &'static str,
    pub count: &'static str,
}

pub const RPC_LATENCY: HistogramNames = HistogramNames {
    bucket: "rocketmq_rpc_latency_bucket",
    sum: "rocketmq_rpc_latency_sum",
    count: "rocketmq_rpc_latency_count",
};
pub const FLUSH_LATENCY: HistogramNames = HistogramNames {
    bucket: "ringmq_flush_latency_seconds_bucket",
    sum: "ringmq_flush_latency_seconds_sum",
    count: "ringmq_flush_latency_seconds_count",
};
pub const GROUP_COMMIT: HistogramNames = HistogramNames {
    bucket: "ringmq_group_commit_bytes_bucket",
    sum: "ringmq_group_commit_bytes_sum",
    count: "ringmq_group_commit_bytes_count",
};

/// A histogram's samples: one cumulative bucket per bound and `+Inf`, the
/// sum and the count.
pub fn histogram_samples(
    names: HistogramNames,
    labels: Vec<(&'static str, String)>,
    h: &HistogramSnapshot,
    out: &mut Vec<Sample>,
) {
    let les = h
        .bounds
        .iter()
        .map(|b| format!("{b}"))
        .chain(std::iter::once("+Inf".to_string()));
    for (le, count) in les.zip(&h.cumulative) {
        let mut l = labels.clone();
        l.push(("le", le));
        out.push(sample(names.bucket, l, *count as f64));
    }
    out.push(sample(names.sum, labels.clone(), h.sum));
    out.push(sample(names.count, labels, h.count as f64));
}

/// Messages and bytes.
type Counts = (u64, u64);

/// One shard's per-topic traffic, counted on the shard when the exporter
/// is on (nothing is counted, or allocated, otherwise).
#[derive(Default)]
pub struct Traffic {
    enabled: bool,
    /// Topic → (messages, body bytes) stored.
    stored: RefCell<HashMap<String, Counts>>,
    /// Topic → group → (messages, bytes) delivered.
    delivered: RefCell<HashMap<String, HashMap<String, Counts>>>,
}

impl Traffic {
    pub fn new(enabled: bool) -> Traffic {
        Traffic {
            enabled,
            ..Default::default()
        }
    }

    pub fn count_in(&self, topic: &str, messages: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let mut stored = self.stored.borrow_mut();
        // Allocates only for a topic's first message.
        let entry = match stored.get_mut(topic) {
            Some(e) => e,
            None => stored.entry(topic.to_string()).or_default(),
        };
        entry.0 += messages;
        entry.1 += bytes;
    }

    pub fn count_out(&self, topic: &str, group: &str, messages: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let mut delivered = self.delivered.borrow_mut();
        let groups = match delivered.get_mut(topic) {
            Some(g) => g,
            None => delivered.entry(topic.to_string()).or_default(),
        };
        let entry = match groups.get_mut(group) {
            Some(e) => e,
            None => groups.entry(group.to_string()).or_default(),
        };
        entry.0 += messages;
        entry.1 += bytes;
    }

    /// Forgets a deleted topic's counters.
    pub fn remove_topic(&self, topic: &str) {
        self.stored.borrow_mut().remove(topic);
        self.delivered.borrow_mut().remove(topic);
    }

    /// The samples of this traffic.
    pub fn samples(&self, out: &mut Vec<Sample>) {
        for (topic, (messages, bytes)) in self.stored.borrow().iter() {
            let labels = vec![("topic", topic.clone())];
            out.push(sample(
                "rocketmq_messages_in_total",
                labels.clone(),
                *messages as f64,
            ));
            out.push(sample(
                "rocketmq_throughput_in_total",
                labels,
                *bytes as f64,
            ));
        }
        for (topic, groups) in self.delivered.borrow().iter() {
            for (group, (messages, bytes)) in groups {
                let labels = vec![("topic", topic.clone()), ("consumer_group", group.clone())];
                out.push(sample(
                    "rocketmq_messages_out_total",
                    labels.clone(),
                    *messages as f64,
                ));
                out.push(sample(
                    "rocketmq_throughput_out_total",
                    labels,
                    *bytes as f64,
                ));
            }
        }
    }
}

pub fn sample(family: &'static str, labels: Vec<(&'static str, String)>, value: f64) -> Sample {
    Sample {
        family,
        labels,
        value,
    }
}

/// Prometheus label-value escaping: backslash, quote, newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition: every family once, its HELP and TYPE, then its
/// samples from every shard.
pub fn render(cluster: &str, node_id: &str, published: &Published, stats: &[ShardStats]) -> String {
    let mut by_family: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    let common = |shard: usize| {
        format!(
            "cluster=\"{}\",node_id=\"{}\",shard=\"{shard}\"",
            escape(cluster),
            escape(node_id)
        )
    };
    for (shard, slot) in published.slots.iter().enumerate() {
        // Copied out, so a shard publishing never waits for the formatting.
        let samples = slot.lock().expect("metrics slot").clone();
        for s in &samples {
            let mut labels = common(shard);
            for (k, v) in &s.labels {
                let _ = write!(labels, ",{k}=\"{}\"", escape(v));
            }
            by_family
                .entry(s.family)
                .or_default()
                .push((labels, s.value));
        }
    }
    for (shard, s) in stats.iter().enumerate() {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        for (family, value) in [
            ("ringmq_requests_total", load(&s.requests)),
            (
                "ringmq_cross_shard_requests_total",
                load(&s.cross_shard_requests),
            ),
            ("ringmq_connections", load(&s.connections)),
            (
                "ringmq_connections_refused_total",
                load(&s.connections_refused),
            ),
            ("ringmq_acl_refused_total", load(&s.acl_refused)),
            ("ringmq_replication_peers", load(&s.ha_slaves)),
            ("ringmq_replication_lag_bytes", load(&s.ha_lag_bytes)),
            ("ringmq_replication_lag_ms", load(&s.ha_lag_ms)),
            ("ringmq_sent_back_total", load(&s.sent_back)),
            ("ringmq_dead_lettered_total", load(&s.dead_lettered)),
            ("ringmq_pop_acked_total", load(&s.pop_acked)),
            ("ringmq_pop_revived_total", load(&s.pop_revived)),
            (
                "ringmq_transactions_committed_total",
                load(&s.transactions_committed),
            ),
            (
                "ringmq_transactions_rolled_back_total",
                load(&s.transactions_rolled_back),
            ),
        ] {
            by_family
                .entry(family)
                .or_default()
                .push((common(shard), value));
        }
    }
    exposition(&by_family)
}

/// Every family with samples, in [`FAMILIES`] order: its HELP and TYPE,
/// then its series (a histogram's `_bucket`, `_sum` and `_count`).
fn exposition(by_family: &BTreeMap<&str, Vec<(String, f64)>>) -> String {
    let mut out = String::new();
    for (family, kind, help) in FAMILIES {
        let series: Vec<(String, &Vec<(String, f64)>)> = match kind {
            Kind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| {
                    let name = format!("{family}{suffix}");
                    let samples = by_family.get(name.as_str())?;
                    Some((name, samples))
                })
                .collect(),
            _ => by_family
                .get(family)
                .map(|s| vec![(family.to_string(), s)])
                .unwrap_or_default(),
        };
        if series.is_empty() {
            continue;
        }
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
        for (name, samples) in series {
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
    out
}

/// The running exporter.
pub struct Exporter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl Exporter {
    /// Binds and serves scrapes on a thread of its own, one at a time.
    pub fn start(
        listener: TcpListener,
        cluster: String,
        node_id: String,
        published: Arc<Published>,
        stats: Arc<Vec<ShardStats>>,
    ) -> std::io::Result<Exporter> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let body = || render(&cluster, &node_id, &published, &stats);
                                if let Err(e) = answer(stream, body) {
                                    tracing::debug!(error = %e, "metrics scrape failed");
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "metrics accept failed");
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                })?
        };
        tracing::info!(%addr, "Prometheus metrics at /metrics");
        Ok(Exporter {
            stop,
            thread: Some(thread),
            addr,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (bounded) and answers it.
fn answer(mut stream: TcpStream, body: impl FnOnce() -> String) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(SCRAPE_IO_TIMEOUT))?;
    // One deadline for the whole request head: a scraper trickling bytes
    // cannot hold the exporter (which serves one scrape at a time).
    let deadline = std::time::Instant::now() + SCRAPE_IO_TIMEOUT;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > REQUEST_BYTES_MAX {
            return respond(&mut stream, "431 Request Header Fields Too Large", "");
        }
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) if path == "/metrics" || path.starts_with("/metrics?") => {
            respond(&mut stream, "200 OK", &body())
        }
        (Some("GET"), Some(_)) => respond(&mut stream, "404 Not Found", "see /metrics\n"),
        _ => respond(&mut stream, "405 Method Not Allowed", ""),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// Publishes this shard's per-topic traffic, consumer lag and storage
/// gauges for the Prometheus exporter every [`PUBLISH_INTERVAL`].
pub async fn run_publisher(
    shard: std::rc::Rc<crate::shard::Shard>,
    published: Arc<Published>,
    stop: std::rc::Rc<std::cell::Cell<bool>>,
) {
    while !stop.get() {
        let mut samples = Vec::new();
        shard.traffic.samples(&mut samples);
        // Lag per (group, topic): what the queues hold past each committed
        // offset.
        let mut lag: std::collections::BTreeMap<(String, String), i64> = Default::default();
        shard.offsets.for_each(|group, topic, queue, offset| {
            let max = shard.store.max_queue_offset(topic, QueueId(queue)).0 as i64;
            *lag.entry((group.to_string(), topic.to_string()))
                .or_default() += (max - offset).max(0);
        });
        for ((group, topic), messages) in lag {
            samples.push(sample(
                "rocketmq_consumer_lag_messages",
                vec![("topic", topic), ("consumer_group", group)],
                messages as f64,
            ));
        }
        let store = &shard.store;
        let written = store.written_offset().0;
        samples.push(sample(
            "rocketmq_storage_size",
            vec![],
            written.saturating_sub(store.min_commit_log_offset().0) as f64,
        ));
        samples.push(sample(
            "rocketmq_storage_flush_behind_bytes",
            vec![],
            written.saturating_sub(store.durable_offset().0) as f64,
        ));
        let (memory, file) = store.read_bytes();
        samples.push(sample(
            "ringmq_read_bytes_total",
            vec![("source", "memory".into())],
            memory as f64,
        ));
        samples.push(sample(
            "ringmq_read_bytes_total",
            vec![("source", "file".into())],
            file as f64,
        ));
        let (flush, group_commit) = store.durability_histograms();
        histogram_samples(FLUSH_LATENCY, vec![], &flush, &mut samples);
        histogram_samples(GROUP_COMMIT, vec![], &group_commit, &mut samples);
        shard.rpc_latency.samples(&mut samples);
        samples.push(sample(
            "ringmq_store_poisoned",
            vec![],
            if store.poisoned().is_some() { 1.0 } else { 0.0 },
        ));
        published.publish(shard.id, samples);
        glommio::timer::sleep(PUBLISH_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let published = Published::new(2);
        let traffic = Traffic::new(true);
        traffic.count_in("T", 3, 30);
        traffic.count_in("T", 1, 10);
        traffic.count_out("T", "g\"1", 2, 20);
        let mut samples = Vec::new();
        traffic.samples(&mut samples);
        published.publish(ringmq_engine::ShardId(1), samples);
        published.publish(
            ringmq_engine::ShardId(0),
            vec![sample("rocketmq_storage_size", vec![], 42.0)],
        );
        let stats: Vec<ShardStats> = (0..2).map(|_| ShardStats::default()).collect();
        stats[1].requests.store(7, Ordering::Relaxed);
        let text = render("C", "b", &published, &stats);
        assert!(text.contains(
            "rocketmq_messages_in_total{cluster=\"C\",node_id=\"b\",shard=\"1\",topic=\"T\"} 4\n"
        ));
        assert!(text.contains("consumer_group=\"g\\\"1\"} 2\n"), "{text}");
        assert!(text.contains("ringmq_requests_total{cluster=\"C\",node_id=\"b\",shard=\"1\"} 7\n"));
        // Each family's HELP and TYPE appear once, before its samples.
        for (family, _, _) in FAMILIES {
            assert!(text.matches(&format!("# TYPE {family} ")).count() <= 1);
        }
        let first_sample = text.find("ringmq_requests_total{").unwrap();
        assert!(text.find("# TYPE ringmq_requests_total counter").unwrap() < first_sample);
    }
}
