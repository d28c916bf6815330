//! `mqbench`: a RocketMQ-protocol load generator. Producers and consumers
//! run as tasks on one pinned glommio executor per core; this thread only
//! reports (a progress line a second, then a summary, JSON and plots).
//!
//! Latency is measured from each operation's *intended* start: with
//! `--rate`, a stalled broker delays the schedule, and every operation that
//! should have been sent meanwhile is charged the wait (no coordinated
//! omission).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use glommio::{LocalExecutorBuilder, Placement};
use ringmq_tools::load::{
    run_consumer, run_producer, Conns, ConsumerJob, Delay, ProducerJob, SendMode, StartFrom,
};
use ringmq_tools::report::{cpu_seconds, latency_svg, machine, table, throughput_svg, Progress};
use ringmq_tools::route::{create_topic, topic_queues};
use ringmq_tools::stats::{Phase, Run};
use ringmq_tools::workload::{self, Workload};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(
    name = "mqbench",
    version,
    about = "RocketMQ-protocol load generator (RingMQ)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send messages and measure send latency.
    Produce {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        produce: ProduceOpts,
    },
    /// Pull messages and measure throughput.
    Consume {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        consume: ConsumeOpts,
    },
    /// Produce and consume at once; end-to-end latency from the send time
    /// stamped in each message.
    E2e {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        produce: ProduceOpts,
        #[command(flatten)]
        consume: ConsumeOpts,
        /// Check that every acknowledged message was consumed exactly once
        /// per group (count and checksum); exit 1 if not.
        #[arg(long)]
        verify: bool,
    },
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Name server address.
    #[arg(short = 'n', long = "namesrv", default_value = "127.0.0.1:9876")]
    namesrv: String,
    #[arg(short = 't', long = "topic", default_value = "BenchTopic")]
    topic: String,
    /// Create (or resize) the topic with this many queues on every broker.
    #[arg(long)]
    queues: Option<i32>,
    /// Measured duration (`30s`, `2m`, `500ms`; a bare number is seconds).
    #[arg(short = 'd', long = "duration")]
    duration: Option<String>,
    /// Messages to produce (or, for `consume`, to consume) instead of a duration.
    #[arg(long)]
    messages: Option<u64>,
    /// Warm-up before measuring.
    #[arg(long, default_value = "0s")]
    warmup: String,
    /// Write every figure, the workload and the machine here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write `<PREFIX>-latency.svg` and `<PREFIX>-throughput.svg`.
    #[arg(long)]
    plot: Option<String>,
    /// Load executors (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// OpenMessaging Benchmark workload file; overrides the matching flags.
    #[arg(long)]
    workload: Option<PathBuf>,
    /// ACL account to sign every request with (a broker with
    /// `aclEnable=true`); needs `--secret-key`.
    #[arg(long = "access-key", requires = "secret_key")]
    access_key: Option<String>,
    #[arg(long = "secret-key", requires = "access_key")]
    secret_key: Option<String>,
    /// Connect over TLS (a broker with `tlsMode` permissive or
    /// enforcing), trusting the certificates in this PEM file: the
    /// broker's own or its CA's.
    #[arg(long = "tls-trust")]
    tls_trust: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct ProduceOpts {
    #[arg(short = 'p', long = "producers", default_value_t = 1)]
    producers: usize,
    #[arg(short = 's', long = "size", default_value_t = 1024)]
    size: usize,
    /// Messages per send (SEND_BATCH_MESSAGE when above 1).
    #[arg(short = 'b', long = "batch", default_value_t = 1)]
    batch: usize,
    #[arg(long, value_enum, default_value_t = SendMode::Sync)]
    mode: SendMode,
    /// Sends in flight per producer in async and oneway modes.
    #[arg(long, default_value_t = 64)]
    inflight: usize,
    /// Target messages per second across all producers (open loop); 0 = as
    /// fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long)]
    tag: Option<String>,
    /// Give every message a unique key (exercises the broker's key index).
    #[arg(long)]
    keys: bool,
    #[arg(long = "producer-group", default_value = "mqbench-producer")]
    producer_group: String,
    /// Send delayed messages of this level (`DELAY`). e2e then reports
    /// lateness: delivery past the level's delay, taken from RocketMQ's
    /// default `messageDelayLevel` unless `--level-delay` says otherwise.
    #[arg(long = "delay-level", conflicts_with = "deliver_after")]
    delay_level: Option<u32>,
    /// The delay of `--delay-level` on the broker under test, when its
    /// `messageDelayLevel` is not the default (`10s`, `500ms`).
    #[arg(long = "level-delay", requires = "delay_level")]
    level_delay: Option<String>,
    /// Send timer messages due this long after their intended send time
    /// (`TIMER_DELIVER_MS`; `10s`, `500ms`). e2e then reports lateness.
    #[arg(long = "deliver-after")]
    deliver_after: Option<String>,
}

/// RocketMQ's default `messageDelayLevel`, in ms, level 1 first.
const DEFAULT_LEVEL_DELAYS_MS: [u64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

/// What a delayed run sends, and the delay consumers subtract.
fn delay_of(p: &ProduceOpts) -> Result<(Option<Delay>, u64)> {
    if let Some(level) = p.delay_level {
        let delay_ms = match &p.level_delay {
            Some(text) => parse_duration(text)?.as_millis() as u64,
            None => *DEFAULT_LEVEL_DELAYS_MS
                .get((level as usize).clamp(1, 18) - 1)
                .expect("clamped"),
        };
        if level == 0 {
            bail!("--delay-level starts at 1");
        }
        return Ok((Some(Delay::Level(level)), delay_ms));
    }
    if let Some(text) = &p.deliver_after {
        let ms = parse_duration(text)?.as_millis() as u64;
        return Ok((Some(Delay::AfterMs(ms)), ms));
    }
    Ok((None, 0))
}

#[derive(Args, Debug, Clone)]
struct ConsumeOpts {
    #[arg(short = 'g', long = "group", default_value = "mqbench-consumer")]
    group: String,
    /// Consumers per group; the topic's queues are split among them.
    #[arg(short = 'c', long = "consumers", default_value_t = 1)]
    consumers: usize,
    /// Consumer groups, each receiving every message (`<group>-<i>` beyond one).
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Where to start: `first`, `last` (default for e2e), or `committed`.
    #[arg(long, value_enum)]
    from: Option<StartFrom>,
    #[arg(long = "pull-batch", default_value_t = 32)]
    pull_batch: i32,
}

/// How often the reporting thread looks at the run.
const TICK: Duration = Duration::from_millis(10);

/// How long producers may take to finish their in-flight sends after
/// being told to stop.
const PRODUCER_GRACE: Duration = Duration::from_secs(15);

fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((t, "s"), |i| (&t[..i], &t[i..]));
    let n: f64 = num.parse().with_context(|| format!("duration {text:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("duration {text:?}: unit must be ms, s, m or h"),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Everything a run does, after flags and workload file are combined.
#[derive(Debug)]
struct Plan {
    command: &'static str,
    common: Common,
    produce: Option<ProduceOpts>,
    consume: Option<ConsumeOpts>,
    verify: bool,
    topics: Vec<String>,
    duration: Option<Duration>,
    warmup: Duration,
    backlog_bytes: u64,
    payload: Vec<u8>,
    workload: Option<Workload>,
}

fn plan(cli: Cli) -> Result<Plan> {
    let (command, mut common, mut produce, mut consume, verify) = match cli.cmd {
        Cmd::Produce { common, produce } => ("produce", common, Some(produce), None, false),
        Cmd::Consume { common, consume } => ("consume", common, None, Some(consume), false),
        Cmd::E2e {
            common,
            produce,
            consume,
            verify,
        } => ("e2e", common, Some(produce), Some(consume), verify),
    };
    let mut topics = vec![common.topic.clone()];
    let mut duration = common.duration.as_deref().map(parse_duration).transpose()?;
    let mut warmup = parse_duration(&common.warmup)?;
    let mut backlog_bytes = 0;
    let mut payload = Vec::new();
    let workload = match &common.workload {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            let w = workload::parse(&text).with_context(|| format!("{}", path.display()))?;
            if w.topics > 1 {
                topics = (0..w.topics)
                    .map(|i| format!("{}-{i}", common.topic))
                    .collect();
            }
            common.queues = Some(w.partitions_per_topic as i32);
            duration = Some(Duration::from_secs_f64(w.test_duration_minutes * 60.0));
            warmup = Duration::from_secs_f64(w.warmup_duration_minutes * 60.0);
            // A backlog needs producers in the same run: only e2e has them.
            if command == "e2e" {
                backlog_bytes = (w.consumer_backlog_size_gb * 1e9) as u64;
            }
            if let Some(p) = &mut produce {
                p.producers = w.producers_per_topic * w.topics;
                p.size = w.message_size;
                // 0 in a workload means "as fast as possible", which is
                // also what an absent --rate means; a --rate flag wins.
                if w.producer_rate > 0.0 {
                    p.rate = w.producer_rate;
                }
            }
            if let Some(c) = &mut consume {
                c.groups = w.subscriptions_per_topic;
                c.consumers = w.consumer_per_subscription;
            }
            if let Some(file) = &w.payload_file {
                payload = std::fs::read(file).unwrap_or_else(|e| {
                    eprintln!("mqbench: payload file {file}: {e}; using generated bytes");
                    Vec::new()
                });
            }
            Some(w)
        }
        None => None,
    };
    // A run of a fixed message count measures every message: a warm-up
    // would hide the first of them (a backlog can drain inside it).
    if common.messages.is_some() {
        warmup = Duration::ZERO;
    }
    if duration.is_none() && common.messages.is_none() {
        duration = Some(Duration::from_secs(10));
    }
    if let Some(p) = &produce {
        if p.producers == 0 || p.batch == 0 || p.size == 0 {
            bail!("producers, batch and size must be at least 1");
        }
        if command == "e2e" && p.size < ringmq_tools::load::STAMP_BYTES {
            bail!(
                "e2e needs messages of at least {} bytes",
                ringmq_tools::load::STAMP_BYTES
            );
        }
        if (p.delay_level.is_some() || p.deliver_after.is_some()) && p.batch > 1 {
            bail!("delayed and timer messages cannot be batched (RocketMQ refuses them); use --batch 1");
        }
        delay_of(p)?;
        if verify && p.mode == SendMode::Oneway {
            bail!("--verify needs acknowledged sends; oneway sends are never acknowledged");
        }
    }
    if let Some(c) = &consume {
        if c.consumers == 0 || c.groups == 0 {
            bail!("consumers and groups must be at least 1");
        }
    }
    Ok(Plan {
        command,
        common,
        produce,
        consume,
        verify,
        topics,
        duration,
        warmup,
        backlog_bytes,
        payload,
        workload,
    })
}

fn main() {
    let plan = match plan(Cli::parse()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mqbench: {e:#}");
            std::process::exit(2);
        }
    };
    match run(&plan) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("mqbench: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the plan; false when `--verify` found a difference.
fn run(plan: &Plan) -> Result<bool> {
    if let (Some(ak), Some(sk)) = (&plan.common.access_key, &plan.common.secret_key) {
        ringmq_tools::auth::set_credentials(ak.clone(), sk.clone());
    }
    let tls = plan
        .common
        .tls_trust
        .as_deref()
        .map(ringmq_net::tls::ClientTls::load)
        .transpose()?;
    if let Some(tls) = &tls {
        ringmq_tools::auth::set_tls(tls.clone());
    }
    let ns = &plan.common.namesrv;
    let mut routes = Vec::new();
    for topic in &plan.topics {
        if let Some(q) = plan.common.queues {
            create_topic(ns, topic, q)?;
        } else if topic_queues(ns, topic).is_err() {
            eprintln!("mqbench: {topic} has no route; creating it with 4 queues per broker (set --queues)");
            create_topic(ns, topic, 4)?;
        }
        routes.push((topic.clone(), topic_queues(ns, topic)?));
    }
    let threads = plan
        .common
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut per_thread: Vec<(Vec<ProducerJob>, Vec<ConsumerJob>)> =
        (0..threads).map(|_| Default::default()).collect();
    let payload = Arc::new(plan.payload.clone());
    let mut producers = 0;
    if let Some(p) = &plan.produce {
        let per_producer_rate = p.rate / p.producers as f64 / p.batch as f64;
        let ops = plan
            .common
            .messages
            .map(|m| m.div_ceil(p.producers as u64).div_ceil(p.batch as u64));
        for id in 0..p.producers {
            let (topic, queues) = &routes[id % routes.len()];
            per_thread[id % threads].0.push(ProducerJob {
                id,
                topic: topic.clone(),
                queues: queues.clone(),
                ops,
                rate_ops_per_sec: per_producer_rate,
                size_bytes: p.size,
                batch: p.batch,
                mode: p.mode,
                inflight: p.inflight,
                tag: p.tag.clone(),
                keys: p.keys,
                group: p.producer_group.clone(),
                payload: payload.clone(),
                delay: delay_of(p)?.0,
            });
        }
        producers = p.producers;
    }
    let mut groups = 0;
    if let Some(c) = &plan.consume {
        let from = c.from.unwrap_or(if plan.command == "e2e" {
            StartFrom::Last
        } else {
            StartFrom::First
        });
        groups = c.groups;
        let mut slot = 0;
        for g in 0..c.groups {
            let group = if c.groups == 1 {
                c.group.clone()
            } else {
                format!("{}-{g}", c.group)
            };
            for (topic, queues) in &routes {
                for (i, queue) in queues.iter().enumerate() {
                    // Queue i belongs to consumer i % consumers; consumers
                    // spread over the executors.
                    let consumer = i % c.consumers;
                    per_thread[(consumer + slot) % threads].1.push(ConsumerJob {
                        topic: topic.clone(),
                        group: group.clone(),
                        queue: queue.clone(),
                        from,
                        pull_batch: c.pull_batch,
                        e2e: plan.command == "e2e",
                        e2e_delay_us: plan
                            .produce
                            .as_ref()
                            .map_or(Ok(0), |p| delay_of(p).map(|d| d.1 * 1000))?,
                        start_after_bytes: plan.backlog_bytes,
                    });
                }
            }
            slot += c.consumers;
        }
    }

    let run = Arc::new(Run::default());
    let cpus = ringmq_net::cpus::allowed();
    let mut handles = Vec::new();
    // Consumers first, so an e2e run's "last offset" is taken before sends.
    let consumers_started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (i, (pjobs, cjobs)) in per_thread.into_iter().enumerate() {
        let run = run.clone();
        let started = consumers_started.clone();
        let tls = tls.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(ringmq_net::cpus::nth(&cpus, i)))
            .name(&format!("mqbench-{i}"))
            .io_memory(2 << 20)
            .spawn(move || async move {
                let conns = std::rc::Rc::new(Conns::new(tls));
                let mut tasks = Vec::new();
                for job in cjobs {
                    let (run, conns) = (run.clone(), conns.clone());
                    tasks.push(glommio::spawn_local(run_consumer(job, run, conns)).detach());
                    started.fetch_add(1, Ordering::AcqRel);
                }
                // Let consumers fetch their start offsets before producing.
                glommio::timer::sleep(Duration::from_millis(
                    if started.load(Ordering::Acquire) > 0 {
                        300
                    } else {
                        0
                    },
                ))
                .await;
                for job in pjobs {
                    let (run, conns) = (run.clone(), conns.clone());
                    tasks.push(glommio::spawn_local(run_producer(job, run, conns)).detach());
                }
                for t in tasks {
                    let _ = t.await;
                }
            })
            .map_err(|e| anyhow::anyhow!("starting a load executor: {e}"))?;
        handles.push(handle);
    }

    let wall_start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut progress = Progress::default();
    let phases = (
        plan.produce.is_some(),
        plan.consume.is_some(),
        plan.command == "e2e",
    );
    let mut measure_start = None;
    if plan.warmup.is_zero() {
        run.measuring.store(true, Ordering::Release);
        measure_start = Some(Instant::now());
    }
    let mut produce_end: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut second = 0u64;
    loop {
        // Stop conditions are checked every tick, so a run's measured time
        // is exact to a tick; the progress line comes once a second.
        std::thread::sleep(TICK);
        if measure_start.is_none() && wall_start.elapsed() >= plan.warmup {
            for p in [&run.produce, &run.consume, &run.e2e] {
                p.reset();
            }
            run.measuring.store(true, Ordering::Release);
            measure_start = Some(Instant::now());
        }
        if wall_start.elapsed() >= Duration::from_secs(second + 1) {
            second += 1;
            eprintln!("{}", progress.line(&run, second, phases));
        }
        let Some(started) = measure_start else {
            continue;
        };
        let now = Instant::now();
        if producers > 0 && produce_end.is_none() {
            let done = run.producers_done.load(Ordering::Acquire) as usize == producers;
            let timed_out = plan.duration.is_some_and(|d| now - started >= d);
            if done || timed_out {
                run.stop_producers.store(true, Ordering::Release);
                produce_end = Some(now);
            }
        }
        // Producers get a grace period to finish what is in flight.
        let producers_finished = run.producers_done.load(Ordering::Acquire) as usize == producers
            || produce_end.is_some_and(|e| now - e >= PRODUCER_GRACE);
        let stop = match plan.command {
            "produce" => produce_end.is_some() && producers_finished,
            "consume" => {
                plan.duration.is_some_and(|d| now - started >= d)
                    || plan
                        .common
                        .messages
                        .is_some_and(|m| run.consume.msgs.load(Ordering::Relaxed) >= m)
            }
            _ => {
                // e2e: once producers are done, wait for consumers to drain
                // what was acknowledged (at most 30 s).
                if let Some(end) = produce_end {
                    let deadline = *drain_deadline.get_or_insert(end + Duration::from_secs(30));
                    let sent = run.verify_sent.load(Ordering::Acquire) * groups as u64;
                    producers_finished
                        && (run.verify_received.load(Ordering::Acquire) >= sent || now >= deadline)
                } else {
                    false
                }
            }
        };
        if stop {
            break;
        }
    }
    let stop_at = Instant::now();
    run.stop.store(true, Ordering::Release);
    for h in handles {
        let _ = h.join();
    }
    let wall = wall_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    let started = measure_start.unwrap_or(wall_start);
    let produce_secs = produce_end
        .unwrap_or(stop_at)
        .duration_since(started)
        .as_secs_f64();
    let consume_secs = stop_at.duration_since(started).as_secs_f64();

    let mut out = json!({
        "tool": "mqbench",
        "command": plan.command,
        "workload": workload_json(plan),
        "machine": machine(),
        "mqbench_cpu": {
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "cores_used": cpu / wall.max(1e-9),
        },
    });
    let mut rows: Vec<(&str, Value)> = Vec::new();
    if plan.produce.is_some() {
        rows.push(("produce", run.produce.summary(produce_secs)));
    }
    if plan.consume.is_some() {
        rows.push(("consume", run.consume.summary(consume_secs)));
    }
    if plan.command == "e2e" {
        rows.push(("e2e", run.e2e.summary(consume_secs)));
    }
    for (name, v) in &rows {
        out[*name] = v.clone();
    }
    out["omb"] = omb(&run, produce_secs, consume_secs);
    let mut verified = true;
    if plan.verify {
        let sent = run.verify_sent.load(Ordering::Acquire);
        let sent_sum = run.verify_sent_sum.load(Ordering::Acquire);
        let received = run.verify_received.load(Ordering::Acquire);
        let received_sum = run.verify_received_sum.load(Ordering::Acquire);
        let expected = sent * groups as u64;
        let expected_sum = sent_sum.wrapping_mul(groups as u64);
        verified = received == expected && received_sum == expected_sum;
        out["verify"] = json!({
            "acknowledged": sent,
            "groups": groups,
            "expected_deliveries": expected,
            "received": received,
            "checksums_match": received_sum == expected_sum,
            "ok": verified,
        });
    }
    let table_rows: Vec<(&str, &Value)> = rows.iter().map(|(n, v)| (*n, v)).collect();
    println!("{}", table(&table_rows));
    println!(
        "mqbench used {:.2} cores ({cpu:.1} CPU s over {wall:.1} s)",
        cpu / wall.max(1e-9)
    );
    if plan.verify {
        println!("verify: {}", if verified { "ok" } else { "FAILED" });
        if !verified {
            println!("{}", serde_json::to_string_pretty(&out["verify"])?);
        }
    }
    if let Some(path) = &plan.common.json {
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("{}", path.display()))?;
    }
    if let Some(prefix) = &plan.common.plot {
        let phases: Vec<&Phase> = [
            plan.produce.is_some().then_some(&run.produce),
            plan.consume.is_some().then_some(&run.consume),
            (plan.command == "e2e").then_some(&run.e2e),
        ]
        .into_iter()
        .flatten()
        .collect();
        std::fs::write(format!("{prefix}-latency.svg"), latency_svg(&phases))?;
        std::fs::write(format!("{prefix}-throughput.svg"), throughput_svg(&phases))?;
    }
    Ok(verified)
}

fn workload_json(plan: &Plan) -> Value {
    json!({
        "namesrv": plan.common.namesrv,
        "topics": plan.topics,
        "queues_per_broker": plan.common.queues,
        "duration_s": plan.duration.map(|d| d.as_secs_f64()),
        "messages": plan.common.messages,
        "warmup_s": plan.warmup.as_secs_f64(),
        "producers": plan.produce.as_ref().map(|p| p.producers),
        "message_size": plan.produce.as_ref().map(|p| p.size),
        "batch": plan.produce.as_ref().map(|p| p.batch),
        "mode": plan.produce.as_ref().map(|p| format!("{:?}", p.mode).to_lowercase()),
        "inflight": plan.produce.as_ref().map(|p| p.inflight),
        "rate": plan.produce.as_ref().map(|p| p.rate),
        "tag": plan.produce.as_ref().and_then(|p| p.tag.clone()),
        "keys": plan.produce.as_ref().map(|p| p.keys),
        "consumers": plan.consume.as_ref().map(|c| c.consumers),
        "groups": plan.consume.as_ref().map(|c| c.groups),
        "pull_batch": plan.consume.as_ref().map(|c| c.pull_batch),
        "backlog_bytes": plan.backlog_bytes,
        "omb_workload": plan.workload.as_ref().map(|w| w.name.clone()),
        "tls": plan.common.tls_trust.is_some(),
    })
}

/// OpenMessaging Benchmark's standard result fields (latencies in ms).
fn omb(run: &Run, produce_secs: f64, consume_secs: f64) -> Value {
    let produced = run.produce.msgs.load(Ordering::Relaxed);
    let consumed = run.consume.msgs.load(Ordering::Relaxed);
    let mut out = json!({
        "publishRate": *run.produce.timeline.lock().expect("stats lock"),
        "consumeRate": *run.consume.timeline.lock().expect("stats lock"),
        "aggregatedPublishRate": produced as f64 / produce_secs.max(1e-9),
        "aggregatedConsumeRate": consumed as f64 / consume_secs.max(1e-9),
        "backlog": produced.saturating_sub(consumed),
    });
    let ms = |us: u64| us as f64 / 1000.0;
    for (name, phase) in [("Publish", &run.produce), ("EndToEnd", &run.e2e)] {
        let h = phase.histogram();
        out[format!("aggregated{name}LatencyAvg")] = json!(h.mean() / 1000.0);
        for (suffix, q) in [
            ("50pct", 0.5),
            ("75pct", 0.75),
            ("95pct", 0.95),
            ("99pct", 0.99),
            ("999pct", 0.999),
            ("9999pct", 0.9999),
        ] {
            out[format!("aggregated{name}Latency{suffix}")] = json!(ms(h.value_at_quantile(q)));
        }
        out[format!("aggregated{name}LatencyMax")] = json!(ms(h.max()));
    }
    out
}
