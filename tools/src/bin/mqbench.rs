//! `mqbench`: a RocketMQ-protocol load generator. Producers and consumers
//! run as tasks on one pinned glommio executor per core; this thread only
//! reports (a progress line a second, then a summary, JSON and plots).
//!
//! Latency is measured from each operation's *intended* start: with
//! `--rate`, a stalled broker delays the schedule, and every operation that
//! should have been sent meanwhile is charged the wait (no coordinated
//! omission).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use ringmq_net::tls::ClientTls;
use ringmq_tools::load::{
    run_consumer, run_producer, Conns, ConsumerJob, Delay, ProducerJob, SendMode, StartFrom,
};
use ringmq_tools::report::{cpu_seconds, latency_svg, machine, table, throughput_svg, Progress};
use ringmq_tools::route::{create_topic, topic_queues, QueueRef};
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
    let mut plan = Plan::from_command(cli.cmd)?;
    let workload = plan
        .common
        .workload
        .as_deref()
        .map(read_workload)
        .transpose()?;
    if let Some(w) = workload {
        plan.apply_workload(w);
    }
    plan.settle_length();
    plan.check()?;
    Ok(plan)
}

fn read_workload(path: &Path) -> Result<Workload> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    workload::parse(&text).with_context(|| format!("{}", path.display()))
}

impl Plan {
    /// The command's flags alone, before a workload file or defaults.
    fn from_command(cmd: Cmd) -> Result<Plan> {
        let (command, common, produce, consume, verify) = match cmd {
            Cmd::Produce { common, produce } => ("produce", common, Some(produce), None, false),
            Cmd::Consume { common, consume } => ("consume", common, None, Some(consume), false),
            Cmd::E2e {
                common,
                produce,
                consume,
                verify,
            } => ("e2e", common, Some(produce), Some(consume), verify),
        };
        let duration = common.duration.as_deref().map(parse_duration).transpose()?;
        let warmup = parse_duration(&common.warmup)?;
        Ok(Plan {
            command,
            topics: vec![common.topic.clone()],
            common,
            produce,
            consume,
            verify,
            duration,
            warmup,
            backlog_bytes: 0,
            payload: Vec::new(),
            workload: None,
        })
    }

    /// An OpenMessaging Benchmark workload overrides the matching flags.
    fn apply_workload(&mut self, w: Workload) {
        if w.topics > 1 {
            self.topics = (0..w.topics)
                .map(|i| format!("{}-{i}", self.common.topic))
                .collect();
        }
        self.common.queues = Some(w.partitions_per_topic as i32);
        self.duration = Some(Duration::from_secs_f64(w.test_duration_minutes * 60.0));
        self.warmup = Duration::from_secs_f64(w.warmup_duration_minutes * 60.0);
        // A backlog needs producers in the same run: only e2e has them.
        if self.command == "e2e" {
            self.backlog_bytes = (w.consumer_backlog_size_gb * 1e9) as u64;
        }
        if let Some(p) = &mut self.produce {
            p.producers = w.producers_per_topic * w.topics;
            p.size = w.message_size;
            // 0 in a workload means "as fast as possible", which is
            // also what an absent --rate means; a --rate flag wins.
            if w.producer_rate > 0.0 {
                p.rate = w.producer_rate;
            }
        }
        if let Some(c) = &mut self.consume {
            c.groups = w.subscriptions_per_topic;
            c.consumers = w.consumer_per_subscription;
        }
        if let Some(file) = &w.payload_file {
            self.payload = std::fs::read(file).unwrap_or_else(|e| {
                eprintln!("mqbench: payload file {file}: {e}; using generated bytes");
                Vec::new()
            });
        }
        self.workload = Some(w);
    }

    /// How long the run measures: every message of a fixed count, else
    /// the duration (10 s when none is given).
    fn settle_length(&mut self) {
        // A run of a fixed message count measures every message: a warm-up
        // would hide the first of them (a backlog can drain inside it).
        if self.common.messages.is_some() {
            self.warmup = Duration::ZERO;
        }
        if self.duration.is_none() && self.common.messages.is_none() {
            self.duration = Some(Duration::from_secs(10));
        }
    }

    /// Refuses a plan that cannot run as asked.
    fn check(&self) -> Result<()> {
        if let Some(p) = &self.produce {
            if p.producers == 0 || p.batch == 0 || p.size == 0 {
                bail!("producers, batch and size must be at least 1");
            }
            if self.command == "e2e" && p.size < ringmq_tools::load::STAMP_BYTES {
                bail!(
                    "e2e needs messages of at least {} bytes",
                    ringmq_tools::load::STAMP_BYTES
                );
            }
            if (p.delay_level.is_some() || p.deliver_after.is_some()) && p.batch > 1 {
                bail!("delayed and timer messages cannot be batched (RocketMQ refuses them); use --batch 1");
            }
            delay_of(p)?;
            if self.verify && p.mode == SendMode::Oneway {
                bail!("--verify needs acknowledged sends; oneway sends are never acknowledged");
            }
        }
        if let Some(c) = &self.consume {
            if c.consumers == 0 || c.groups == 0 {
                bail!("consumers and groups must be at least 1");
            }
        }
        Ok(())
    }
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
    let tls = set_up_client(&plan.common)?;
    let routes = topic_routes(plan)?;
    let Jobs {
        per_executor,
        producers,
        groups,
    } = assign_jobs(plan, &routes)?;
    let run = Arc::new(Run::default());
    let handles = start_executors(per_executor, &run, tls.as_ref())?;

    let wall_start = Instant::now();
    let cpu_start = cpu_seconds();
    let mut watch = Watch::new(plan, &run, producers, groups, wall_start);
    watch.until_over();
    let stop_at = Instant::now();
    run.stop.store(true, Ordering::Release);
    for h in handles {
        let _ = h.join();
    }
    let wall_secs = wall_start.elapsed().as_secs_f64();
    let cpu_secs = cpu_seconds() - cpu_start;
    let started = watch.measure_start.unwrap_or(wall_start);
    let elapsed = Elapsed {
        wall_secs,
        cpu_secs,
        produce_secs: watch
            .produce_end
            .unwrap_or(stop_at)
            .duration_since(started)
            .as_secs_f64(),
        consume_secs: stop_at.duration_since(started).as_secs_f64(),
    };
    report(plan, &run, &elapsed, groups)
}

/// Sets the ACL credentials and TLS trust every request of the run uses;
/// returns the TLS settings for the load executors' connections.
fn set_up_client(common: &Common) -> Result<Option<ClientTls>> {
    if let (Some(ak), Some(sk)) = (&common.access_key, &common.secret_key) {
        ringmq_tools::auth::set_credentials(ak.clone(), sk.clone());
    }
    let tls = common
        .tls_trust
        .as_deref()
        .map(ClientTls::load)
        .transpose()?;
    if let Some(tls) = &tls {
        ringmq_tools::auth::set_tls(tls.clone());
    }
    Ok(tls)
}

/// Each topic's queues, the topics created (or resized) first when the
/// plan gives a queue count or a topic has no route.
fn topic_routes(plan: &Plan) -> Result<Vec<(String, Vec<QueueRef>)>> {
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
    Ok(routes)
}

/// The tasks one load executor runs.
#[derive(Default)]
struct ExecutorJobs {
    producers: Vec<ProducerJob>,
    consumers: Vec<ConsumerJob>,
}

/// A run's tasks, spread over the load executors.
struct Jobs {
    per_executor: Vec<ExecutorJobs>,
    /// Producers in all.
    producers: usize,
    /// Consumer groups, each receiving every message.
    groups: usize,
}

/// Splits the plan into producer and consumer jobs, one executor per
/// `--threads` (default: one per core).
fn assign_jobs(plan: &Plan, routes: &[(String, Vec<QueueRef>)]) -> Result<Jobs> {
    let threads = plan
        .common
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut jobs = Jobs {
        per_executor: (0..threads).map(|_| ExecutorJobs::default()).collect(),
        producers: 0,
        groups: 0,
    };
    if let Some(p) = &plan.produce {
        jobs.add_producers(plan, p, routes)?;
    }
    if let Some(c) = &plan.consume {
        jobs.add_consumers(plan, c, routes)?;
    }
    Ok(jobs)
}

impl Jobs {
    /// Producer `id` sends to topic `id % topics` from executor
    /// `id % executors`.
    fn add_producers(
        &mut self,
        plan: &Plan,
        p: &ProduceOpts,
        routes: &[(String, Vec<QueueRef>)],
    ) -> Result<()> {
        let threads = self.per_executor.len();
        let payload = Arc::new(plan.payload.clone());
        let per_producer_rate = p.rate / p.producers as f64 / p.batch as f64;
        let ops = plan
            .common
            .messages
            .map(|m| m.div_ceil(p.producers as u64).div_ceil(p.batch as u64));
        for id in 0..p.producers {
            let (topic, queues) = &routes[id % routes.len()];
            self.per_executor[id % threads].producers.push(ProducerJob {
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
        self.producers = p.producers;
        Ok(())
    }

    /// One job per group and queue of every topic.
    fn add_consumers(
        &mut self,
        plan: &Plan,
        c: &ConsumeOpts,
        routes: &[(String, Vec<QueueRef>)],
    ) -> Result<()> {
        let threads = self.per_executor.len();
        let from = c.from.unwrap_or(if plan.command == "e2e" {
            StartFrom::Last
        } else {
            StartFrom::First
        });
        let e2e_delay_us = plan
            .produce
            .as_ref()
            .map_or(Ok(0), |p| delay_of(p).map(|d| d.1 * 1000))?;
        self.groups = c.groups;
        let mut slot = 0;
        for g in 0..c.groups {
            let group = if c.groups == 1 {
                c.group.clone()
            } else {
                format!("{}-{g}", c.group)
            };
            for (topic, queues) in routes {
                for (i, queue) in queues.iter().enumerate() {
                    // Queue i belongs to consumer i % consumers; consumers
                    // spread over the executors.
                    let consumer = i % c.consumers;
                    self.per_executor[(consumer + slot) % threads]
                        .consumers
                        .push(ConsumerJob {
                            topic: topic.clone(),
                            group: group.clone(),
                            queue: queue.clone(),
                            from,
                            pull_batch: c.pull_batch,
                            e2e: plan.command == "e2e",
                            e2e_delay_us,
                            start_after_bytes: plan.backlog_bytes,
                        });
                }
            }
            slot += c.consumers;
        }
        Ok(())
    }
}

/// Starts one pinned load executor per entry of `per_executor`.
fn start_executors(
    per_executor: Vec<ExecutorJobs>,
    run: &Arc<Run>,
    tls: Option<&ClientTls>,
) -> Result<Vec<ExecutorJoinHandle<()>>> {
    let cpus = ringmq_net::cpus::allowed();
    let mut handles = Vec::new();
    let consumers_started = Arc::new(AtomicUsize::new(0));
    for (i, jobs) in per_executor.into_iter().enumerate() {
        let run = run.clone();
        let started = consumers_started.clone();
        let tls = tls.cloned();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(ringmq_net::cpus::nth(&cpus, i)))
            .name(&format!("mqbench-{i}"))
            .io_memory(2 << 20)
            .spawn(move || run_executor_jobs(jobs, run, started, tls))
            .map_err(|e| anyhow::anyhow!("starting a load executor: {e}"))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// One executor's load: its consumers, then its producers, until every
/// task ends.
async fn run_executor_jobs(
    jobs: ExecutorJobs,
    run: Arc<Run>,
    consumers_started: Arc<AtomicUsize>,
    tls: Option<ClientTls>,
) {
    let conns = Rc::new(Conns::new(tls));
    let mut tasks = Vec::new();
    // Consumers first, so an e2e run's "last offset" is taken before sends.
    for job in jobs.consumers {
        let (run, conns) = (run.clone(), conns.clone());
        tasks.push(glommio::spawn_local(run_consumer(job, run, conns)).detach());
        consumers_started.fetch_add(1, Ordering::AcqRel);
    }
    // Let consumers fetch their start offsets before producing.
    glommio::timer::sleep(Duration::from_millis(
        if consumers_started.load(Ordering::Acquire) > 0 {
            300
        } else {
            0
        },
    ))
    .await;
    for job in jobs.producers {
        let (run, conns) = (run.clone(), conns.clone());
        tasks.push(glommio::spawn_local(run_producer(job, run, conns)).detach());
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The reporting thread's view of a run: it ends the warm-up, stops the
/// producers and decides when the run is over.
struct Watch<'r> {
    plan: &'r Plan,
    run: &'r Run,
    /// Producers in all.
    producers: usize,
    /// Consumer groups, each receiving every message.
    groups: usize,
    wall_start: Instant,
    /// When the warm-up ended.
    measure_start: Option<Instant>,
    /// When producers were told to stop.
    produce_end: Option<Instant>,
    /// e2e: the latest consumers may drain what was acknowledged until.
    drain_deadline: Option<Instant>,
}

impl<'r> Watch<'r> {
    fn new(
        plan: &'r Plan,
        run: &'r Run,
        producers: usize,
        groups: usize,
        wall_start: Instant,
    ) -> Watch<'r> {
        Watch {
            plan,
            run,
            producers,
            groups,
            wall_start,
            measure_start: None,
            produce_end: None,
            drain_deadline: None,
        }
    }

    /// Prints a progress line a second until the run is over.
    fn until_over(&mut self) {
        let mut progress = Progress::default();
        let phases = (
            self.plan.produce.is_some(),
            self.plan.consume.is_some(),
            self.plan.command == "e2e",
        );
        if self.plan.warmup.is_zero() {
            self.start_measuring();
        }
        let mut second = 0u64;
        loop {
            // Stop conditions are checked every tick, so a run's measured time
            // is exact to a tick; the progress line comes once a second.
            std::thread::sleep(TICK);
            if self.measure_start.is_none() && self.wall_start.elapsed() >= self.plan.warmup {
                for p in [&self.run.produce, &self.run.consume, &self.run.e2e] {
                    p.reset();
                }
                self.start_measuring();
            }
            if self.wall_start.elapsed() >= Duration::from_secs(second + 1) {
                second += 1;
                eprintln!("{}", progress.line(self.run, second, phases));
            }
            let Some(started) = self.measure_start else {
                continue;
            };
            let now = Instant::now();
            self.stop_producers_when_due(started, now);
            if self.is_over(started, now) {
                break;
            }
        }
    }

    fn start_measuring(&mut self) {
        self.run.measuring.store(true, Ordering::Release);
        self.measure_start = Some(Instant::now());
    }

    /// Producers stop when all are done or the duration is up.
    fn stop_producers_when_due(&mut self, started: Instant, now: Instant) {
        if self.producers > 0 && self.produce_end.is_none() {
            let done = self.run.producers_done.load(Ordering::Acquire) as usize == self.producers;
            let timed_out = self.plan.duration.is_some_and(|d| now - started >= d);
            if done || timed_out {
                self.run.stop_producers.store(true, Ordering::Release);
                self.produce_end = Some(now);
            }
        }
    }

    fn is_over(&mut self, started: Instant, now: Instant) -> bool {
        let run = self.run;
        // Producers get a grace period to finish what is in flight.
        let producers_finished = run.producers_done.load(Ordering::Acquire) as usize
            == self.producers
            || self.produce_end.is_some_and(|e| now - e >= PRODUCER_GRACE);
        match self.plan.command {
            "produce" => self.produce_end.is_some() && producers_finished,
            "consume" => {
                self.plan.duration.is_some_and(|d| now - started >= d)
                    || self
                        .plan
                        .common
                        .messages
                        .is_some_and(|m| run.consume.msgs.load(Ordering::Relaxed) >= m)
            }
            _ => {
                // e2e: once producers are done, wait for consumers to drain
                // what was acknowledged (at most 30 s).
                if let Some(end) = self.produce_end {
                    let deadline = *self
                        .drain_deadline
                        .get_or_insert(end + Duration::from_secs(30));
                    let sent = run.verify_sent.load(Ordering::Acquire) * self.groups as u64;
                    producers_finished
                        && (run.verify_received.load(Ordering::Acquire) >= sent || now >= deadline)
                } else {
                    false
                }
            }
        }
    }
}

/// How long a run took.
struct Elapsed {
    /// From the executors' start until they all ended.
    wall_secs: f64,
    /// CPU time mqbench used meanwhile.
    cpu_secs: f64,
    /// Measured time of producing and of consuming.
    produce_secs: f64,
    consume_secs: f64,
}

/// Prints the summary and writes the JSON and plots asked for; false when
/// `--verify` found a difference.
fn report(plan: &Plan, run: &Run, elapsed: &Elapsed, groups: usize) -> Result<bool> {
    let (cpu, wall) = (elapsed.cpu_secs, elapsed.wall_secs);
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
    let rows = phase_summaries(plan, run, elapsed);
    for (name, v) in &rows {
        out[*name] = v.clone();
    }
    out["omb"] = omb(run, elapsed.produce_secs, elapsed.consume_secs);
    let mut verified = true;
    if plan.verify {
        let (ok, verify) = verify_deliveries(run, groups);
        verified = ok;
        out["verify"] = verify;
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
    write_files(plan, run, &out)?;
    Ok(verified)
}

/// The summary of each phase that ran, by name.
fn phase_summaries(plan: &Plan, run: &Run, elapsed: &Elapsed) -> Vec<(&'static str, Value)> {
    let mut rows = Vec::new();
    if plan.produce.is_some() {
        rows.push(("produce", run.produce.summary(elapsed.produce_secs)));
    }
    if plan.consume.is_some() {
        rows.push(("consume", run.consume.summary(elapsed.consume_secs)));
    }
    if plan.command == "e2e" {
        rows.push(("e2e", run.e2e.summary(elapsed.consume_secs)));
    }
    rows
}

/// `--verify`: every acknowledged message consumed once per group (count
/// and checksum); whether it was, and the figures.
fn verify_deliveries(run: &Run, groups: usize) -> (bool, Value) {
    let sent = run.verify_sent.load(Ordering::Acquire);
    let sent_sum = run.verify_sent_sum.load(Ordering::Acquire);
    let received = run.verify_received.load(Ordering::Acquire);
    let received_sum = run.verify_received_sum.load(Ordering::Acquire);
    let expected = sent * groups as u64;
    let expected_sum = sent_sum.wrapping_mul(groups as u64);
    let verified = received == expected && received_sum == expected_sum;
    let figures = json!({
        "acknowledged": sent,
        "groups": groups,
        "expected_deliveries": expected,
        "received": received,
        "checksums_match": received_sum == expected_sum,
        "ok": verified,
    });
    (verified, figures)
}

/// `--json` and `--plot`.
fn write_files(plan: &Plan, run: &Run, out: &Value) -> Result<()> {
    if let Some(path) = &plan.common.json {
        std::fs::write(path, serde_json::to_vec_pretty(out)?)
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
    Ok(())
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
