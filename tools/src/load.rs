//! The load itself: producer and consumer tasks on glommio executors, one
//! per core, each task driving the broker through the pipelined client of
//! its executor (one connection per broker per executor).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use glommio::sync::Semaphore;
use hdrhistogram::Histogram;
use ringmq_net::header::{
    pull_sys_flag, GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, PullMessageRequestHeader,
    QueryConsumerOffsetRequestHeader, SendMessageRequestHeaderV2,
    UpdateConsumerOffsetRequestHeader,
};
use ringmq_net::message::stored::iter_stored;
use ringmq_net::message::{encode_batch_record, BatchRecord};
use ringmq_net::pipelined::PipelinedClient;
use ringmq_net::tls::ClientTls;
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use crate::route::QueueRef;
use crate::stats::{
    body_checksum, new_histogram, Phase, Run, LATENCY_US_MAX, MERGE_EVERY, TRANSPORT_ERROR,
};

/// Longest mqbench waits for a response before counting the request as
/// failed ([`TIMEOUT_ERROR`]) and moving on.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Response code recorded for a request that timed out.
pub const TIMEOUT_ERROR: i32 = -2;

/// `invoke` with [`REQUEST_TIMEOUT`]; `Err(code)` on transport failure or
/// timeout.
async fn invoke(conn: &PipelinedClient, request: RemotingCommand) -> Result<RemotingCommand, i32> {
    let request = crate::auth::signed(request);
    let call = async { conn.invoke(request).await.map_err(|_| TRANSPORT_ERROR) };
    let timeout = async {
        glommio::timer::sleep(REQUEST_TIMEOUT).await;
        Err(TIMEOUT_ERROR)
    };
    futures_lite::future::or(call, timeout).await
}

/// Bytes at the start of every body mqbench sends: intended send time (µs
/// since the epoch) and a sequence number.
pub const STAMP_BYTES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendMode {
    Sync,
    Async,
    Oneway,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StartFrom {
    First,
    Last,
    Committed,
}

#[derive(Clone, Debug)]
pub struct ProducerJob {
    pub id: usize,
    pub topic: String,
    pub queues: Vec<QueueRef>,
    /// Operations (sends or batches) to make; `None` runs until stopped.
    pub ops: Option<u64>,
    /// Operations per second for this producer; 0 = as fast as possible.
    pub rate_ops_per_sec: f64,
    pub size_bytes: usize,
    pub batch: usize,
    pub mode: SendMode,
    pub inflight: usize,
    pub tag: Option<String>,
    pub keys: bool,
    pub group: String,
    pub payload: Arc<Vec<u8>>,
    /// Delayed (`DELAY`) or timer (`TIMER_DELIVER_MS`) messages.
    pub delay: Option<Delay>,
}

/// How a producer delays its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    /// RocketMQ delay level (`DELAY`).
    Level(u32),
    /// Due this long after the message's intended send time
    /// (`TIMER_DELIVER_MS`).
    AfterMs(u64),
}

#[derive(Clone, Debug)]
pub struct ConsumerJob {
    pub topic: String,
    pub group: String,
    pub queue: QueueRef,
    pub from: StartFrom,
    pub pull_batch: i32,
    pub e2e: bool,
    /// Delay the producers asked for: e2e latency is measured past it
    /// (lateness), and a delivery before it counts as an error.
    pub e2e_delay_us: u64,
    /// Bytes produced before this consumer starts pulling (a backlog).
    pub start_after_bytes: u64,
}

/// Connections of one executor, one per broker address; TLS ones when
/// `tls` is set.
#[derive(Default)]
pub struct Conns {
    by_addr: RefCell<HashMap<String, Rc<PipelinedClient>>>,
    tls: Option<ClientTls>,
}

impl Conns {
    pub fn new(tls: Option<ClientTls>) -> Conns {
        Conns {
            by_addr: RefCell::default(),
            tls,
        }
    }

    pub fn get(&self, addr: &str) -> Rc<PipelinedClient> {
        self.by_addr
            .borrow_mut()
            .entry(addr.to_string())
            .or_insert_with(|| {
                Rc::new(PipelinedClient::with_tls(
                    addr.to_string(),
                    self.tls.clone(),
                ))
            })
            .clone()
    }
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Latency recording of one task, merged into the shared phase now and
/// then.
struct Recorder {
    hist: Histogram<u64>,
    pending: u64,
    last_flush: Instant,
}

/// Longest a task keeps records before merging them (the progress line's
/// p99 is at most this stale).
const MERGE_INTERVAL: Duration = Duration::from_millis(200);

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            hist: new_histogram(),
            pending: 0,
            last_flush: Instant::now(),
        }
    }

    fn record(&mut self, phase: &Phase, us: u64) {
        let _ = self.hist.record(us.clamp(1, LATENCY_US_MAX));
        self.pending += 1;
        if self.pending >= MERGE_EVERY || self.last_flush.elapsed() >= MERGE_INTERVAL {
            self.flush(phase);
        }
    }

    fn flush(&mut self, phase: &Phase) {
        phase.merge(&mut self.hist);
        self.pending = 0;
        self.last_flush = Instant::now();
    }
}

fn fill_body(job: &ProducerJob, body: &mut Vec<u8>, stamp_us: u64, seq: u64) {
    body.clear();
    body.extend_from_slice(&stamp_us.to_be_bytes());
    body.extend_from_slice(&seq.to_be_bytes());
    while body.len() < job.size_bytes {
        let left = job.size_bytes - body.len();
        if job.payload.is_empty() {
            body.resize(job.size_bytes, b'x');
        } else {
            body.extend_from_slice(&job.payload[..left.min(job.payload.len())]);
        }
    }
    body.truncate(job.size_bytes.max(STAMP_BYTES));
}

fn properties(job: &ProducerJob, seq: u64, stamp_us: u64) -> String {
    let mut p = String::new();
    match job.delay {
        Some(Delay::Level(level)) => p.push_str(&format!("DELAY\u{1}{level}\u{2}")),
        Some(Delay::AfterMs(ms)) => p.push_str(&format!(
            "TIMER_DELIVER_MS\u{1}{}\u{2}",
            stamp_us / 1000 + ms
        )),
        None => {}
    }
    if let Some(tag) = &job.tag {
        p.push_str("TAGS\u{1}");
        p.push_str(tag);
        p.push('\u{2}');
    }
    if job.keys {
        p.push_str(&format!("KEYS\u{1}k{seq}\u{2}"));
    }
    p.push_str("WAIT\u{1}true\u{2}");
    p
}

/// When a producer's operations are due: at `--rate`, each at its place
/// in the schedule from the producer's start; else at once.
struct Schedule {
    base_instant: Instant,
    base_epoch_us: u64,
    interval: Option<Duration>,
}

impl Schedule {
    fn new(rate_ops_per_sec: f64) -> Schedule {
        Schedule {
            base_instant: Instant::now(),
            base_epoch_us: epoch_us(),
            interval: (rate_ops_per_sec > 0.0)
                .then(|| Duration::from_secs_f64(1.0 / rate_ops_per_sec)),
        }
    }

    /// Waits until operation `op` is due; its intended start.
    async fn wait_for(&self, op: u64) -> Instant {
        match self.interval {
            Some(i) => {
                let at = self.base_instant + i.mul_f64(op as f64);
                let now = Instant::now();
                if at > now {
                    glommio::timer::sleep(at - now).await;
                }
                at
            }
            None => Instant::now(),
        }
    }

    /// `intended` in µs since the epoch, as stamped in the body.
    fn stamp_us(&self, intended: Instant) -> u64 {
        self.base_epoch_us + intended.duration_since(self.base_instant).as_micros() as u64
    }
}

/// One operation of a producer: a send request (one message or a batch)
/// and what its success counts.
struct SendOp {
    request: RemotingCommand,
    /// Messages in it.
    msgs: u64,
    /// Sum of their body checksums, for `--verify`.
    checksum: u64,
    bytes: usize,
}

/// Runs one producer until its operation count or the run's stop flag.
pub async fn run_producer(job: ProducerJob, run: Arc<Run>, conns: Rc<Conns>) {
    let recorder = Rc::new(RefCell::new(Recorder::new()));
    let window_size = match job.mode {
        SendMode::Sync => 1,
        _ => job.inflight.max(1) as u64,
    };
    let window = Rc::new(Semaphore::new(window_size));
    let schedule = Schedule::new(job.rate_ops_per_sec);
    let mut body = Vec::with_capacity(job.size_bytes.max(STAMP_BYTES));
    let mut op: u64 = 0;
    let mut seq: u64 = (job.id as u64) << 40;
    while !run.stop.load(Ordering::Relaxed)
        && !run.stop_producers.load(Ordering::Relaxed)
        && job.ops.is_none_or(|n| op < n)
    {
        let intended = schedule.wait_for(op).await;
        let stamp = schedule.stamp_us(intended);
        let queue = &job.queues[(job.id + op as usize) % job.queues.len()];
        let send = if job.batch <= 1 {
            single_send(&job, queue, &mut body, stamp, &mut seq)
        } else {
            batch_send(&job, queue, &mut body, stamp, &mut seq)
        };
        op += 1;
        let conn = conns.get(&queue.addr);
        let Ok(permit) = window.clone().acquire_static_permit(1).await else {
            break;
        };
        let (run2, recorder2) = (run.clone(), recorder.clone());
        let task = async move {
            deliver(send, intended, &conn, &run2, &recorder2).await;
            drop(permit);
        };
        match job.mode {
            SendMode::Sync => task.await,
            SendMode::Async | SendMode::Oneway => {
                glommio::spawn_local(task).detach();
            }
        }
    }
    // Wait for every send in flight.
    let _ = window.acquire(window_size).await;
    recorder.borrow_mut().flush(&run.produce);
    run.producers_done.fetch_add(1, Ordering::AcqRel);
}

/// One message (`SEND_MESSAGE_V2`).
fn single_send(
    job: &ProducerJob,
    queue: &QueueRef,
    body: &mut Vec<u8>,
    stamp: u64,
    seq: &mut u64,
) -> SendOp {
    fill_body(job, body, stamp, *seq);
    let header = send_header(job, queue, false, &properties(job, *seq, stamp));
    *seq += 1;
    let sum = body_checksum(body);
    let request = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, header.to_ext_fields())
        .with_body(body.clone());
    SendOp {
        request: maybe_oneway(job, request),
        msgs: job.batch.max(1) as u64,
        checksum: sum,
        bytes: body.len(),
    }
}

/// `job.batch` messages (`SEND_BATCH_MESSAGE`).
fn batch_send(
    job: &ProducerJob,
    queue: &QueueRef,
    body: &mut Vec<u8>,
    stamp: u64,
    seq: &mut u64,
) -> SendOp {
    let mut batch_body = BytesMut::with_capacity(job.batch * (job.size_bytes + 64));
    let mut sum = 0u64;
    for _ in 0..job.batch {
        fill_body(job, body, stamp, *seq);
        let props = properties(job, *seq, stamp);
        *seq += 1;
        sum = sum.wrapping_add(body_checksum(body));
        encode_batch_record(
            &BatchRecord {
                flag: 0,
                body,
                properties: &props,
            },
            &mut batch_body,
        )
        .expect("batch record within limits");
    }
    let header = send_header(job, queue, true, "WAIT\u{1}true\u{2}");
    let request = RemotingCommand::request(RequestCode::SEND_BATCH_MESSAGE, header.to_ext_fields())
        .with_body(batch_body.freeze());
    SendOp {
        request: maybe_oneway(job, request),
        msgs: job.batch.max(1) as u64,
        checksum: sum,
        bytes: job.size_bytes * job.batch,
    }
}

/// Sends and, once the broker acknowledged it (or, oneway, once it is
/// written), counts it for `--verify` and, while measuring, in the
/// produce phase.
async fn deliver(
    send: SendOp,
    intended: Instant,
    conn: &PipelinedClient,
    run: &Run,
    recorder: &RefCell<Recorder>,
) {
    let ok = if send.request.is_oneway() {
        match conn.send_oneway(send.request).await {
            Ok(()) => true,
            Err(_) => {
                run.produce.error(TRANSPORT_ERROR);
                false
            }
        }
    } else {
        match invoke(conn, send.request).await {
            Ok(r) if r.code == ResponseCode::SUCCESS => true,
            Ok(r) => {
                if run.measuring.load(Ordering::Relaxed) {
                    run.produce.error(r.code);
                }
                false
            }
            Err(code) => {
                if run.measuring.load(Ordering::Relaxed) {
                    run.produce.error(code);
                }
                false
            }
        }
    };
    if ok {
        run.verify_sent.fetch_add(send.msgs, Ordering::Relaxed);
        run.verify_sent_sum
            .fetch_add(send.checksum, Ordering::Relaxed);
        if run.measuring.load(Ordering::Relaxed) {
            run.produce.msgs.fetch_add(send.msgs, Ordering::Relaxed);
            run.produce
                .bytes
                .fetch_add(send.bytes as u64, Ordering::Relaxed);
            let us = intended.elapsed().as_micros() as u64;
            recorder.borrow_mut().record(&run.produce, us);
        }
    }
}

fn send_header(
    job: &ProducerJob,
    queue: &QueueRef,
    batch: bool,
    props: &str,
) -> SendMessageRequestHeaderV2 {
    SendMessageRequestHeaderV2 {
        a: job.group.clone(),
        b: job.topic.clone(),
        c: "TBW102".into(),
        d: 4,
        e: queue.queue_id,
        f: 0,
        g: epoch_us() as i64 / 1000,
        h: 0,
        i: Some(props.to_string()),
        j: Some(0),
        k: Some(false),
        l: None,
        m: Some(batch),
        n: Some(queue.broker_name.clone()),
    }
}

/// Marks a request oneway when the job says so.
fn maybe_oneway(job: &ProducerJob, request: RemotingCommand) -> RemotingCommand {
    if job.mode == SendMode::Oneway {
        request.mark_oneway()
    } else {
        request
    }
}

async fn offset_query(conn: &PipelinedClient, request: RemotingCommand) -> Option<i64> {
    let r = invoke(conn, request).await.ok()?;
    if r.code != ResponseCode::SUCCESS {
        return None;
    }
    r.ext_field("offset")?.parse().ok()
}

async fn start_offset(conn: &PipelinedClient, job: &ConsumerJob) -> i64 {
    let q = &job.queue;
    let min = || {
        RemotingCommand::request(
            RequestCode::GET_MIN_OFFSET,
            GetMinOffsetRequestHeader {
                topic: job.topic.clone(),
                queue_id: q.queue_id,
                broker_name: Some(q.broker_name.clone()),
            }
            .to_ext_fields(),
        )
    };
    match job.from {
        StartFrom::First => offset_query(conn, min()).await.unwrap_or(0),
        StartFrom::Last => offset_query(
            conn,
            RemotingCommand::request(
                RequestCode::GET_MAX_OFFSET,
                GetMaxOffsetRequestHeader {
                    topic: job.topic.clone(),
                    queue_id: q.queue_id,
                    committed: None,
                    broker_name: Some(q.broker_name.clone()),
                }
                .to_ext_fields(),
            ),
        )
        .await
        .unwrap_or(0),
        StartFrom::Committed => {
            let committed = offset_query(
                conn,
                RemotingCommand::request(
                    RequestCode::QUERY_CONSUMER_OFFSET,
                    QueryConsumerOffsetRequestHeader {
                        consumer_group: job.group.clone(),
                        topic: job.topic.clone(),
                        queue_id: q.queue_id,
                        set_zero_if_not_found: Some(false),
                        broker_name: Some(q.broker_name.clone()),
                    }
                    .to_ext_fields(),
                ),
            )
            .await;
            match committed {
                Some(o) => o,
                None => offset_query(conn, min()).await.unwrap_or(0),
            }
        }
    }
}

fn commit_request(job: &ConsumerJob, offset: i64) -> RemotingCommand {
    RemotingCommand::request(
        RequestCode::UPDATE_CONSUMER_OFFSET,
        UpdateConsumerOffsetRequestHeader {
            consumer_group: job.group.clone(),
            topic: job.topic.clone(),
            queue_id: job.queue.queue_id,
            commit_offset: offset,
            broker_name: Some(job.queue.broker_name.clone()),
        }
        .to_ext_fields(),
    )
    .mark_oneway()
}

/// How long a pull may be held by the broker.
const PULL_SUSPEND_MS: i64 = 1_000;
/// How often consumed offsets are committed.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Pulls one queue until the run stops.
pub async fn run_consumer(job: ConsumerJob, run: Arc<Run>, conns: Rc<Conns>) {
    let conn = conns.get(&job.queue.addr);
    wait_for_backlog(&job, &run).await;
    let mut offset = start_offset(&conn, &job).await;
    let mut recorders = ConsumerRecorders {
        consumed: Recorder::new(),
        e2e: Recorder::new(),
    };
    let mut commits = Commits {
        last_commit: Instant::now(),
        committed: offset,
    };
    while !run.stop.load(Ordering::Relaxed) {
        let header = pull_header(&job, offset);
        let sent_at = Instant::now();
        let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, header.to_ext_fields());
        let response = match invoke(&conn, request).await {
            Ok(r) => r,
            Err(code) => {
                run.consume.error(code);
                glommio::timer::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let next: Option<i64> = response
            .ext_field("nextBeginOffset")
            .and_then(|v| v.parse().ok());
        match response.code {
            ResponseCode::SUCCESS => {
                let msgs = recorders.record_pulled(&job, &run, &response.body, sent_at);
                offset = next.unwrap_or(offset + msgs as i64);
            }
            ResponseCode::PULL_NOT_FOUND
            | ResponseCode::PULL_RETRY_IMMEDIATELY
            | ResponseCode::PULL_OFFSET_MOVED => {
                if let Some(n) = next {
                    offset = n;
                }
            }
            code => {
                run.consume.error(code);
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
        commits.commit_when_due(&conn, &job, offset).await;
    }
    if offset != commits.committed {
        let _ = conn.send_oneway(commit_request(&job, offset)).await;
    }
    recorders.consumed.flush(&run.consume);
    recorders.e2e.flush(&run.e2e);
}

/// A backlog run's consumers wait until the producers have written it.
async fn wait_for_backlog(job: &ConsumerJob, run: &Run) {
    while run.produce.bytes.load(Ordering::Relaxed) < job.start_after_bytes
        && !run.stop.load(Ordering::Relaxed)
    {
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// A long-polling pull of up to `pull_batch` messages from `offset`.
fn pull_header(job: &ConsumerJob, offset: i64) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: job.group.clone(),
        topic: job.topic.clone(),
        queue_id: job.queue.queue_id,
        queue_offset: offset,
        max_msg_nums: job.pull_batch,
        sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: PULL_SUSPEND_MS,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
        broker_name: Some(job.queue.broker_name.clone()),
    }
}

/// Latency recording of one consumer task: pulls, and end to end.
struct ConsumerRecorders {
    consumed: Recorder,
    e2e: Recorder,
}

impl ConsumerRecorders {
    /// Counts the messages of a pull's `body` for `--verify` and, while
    /// measuring, in the consume (and e2e) phase; returns how many there
    /// were.
    fn record_pulled(
        &mut self,
        job: &ConsumerJob,
        run: &Run,
        body: &[u8],
        sent_at: Instant,
    ) -> u64 {
        let now_us = epoch_us();
        let measuring = run.measuring.load(Ordering::Relaxed);
        let (mut msgs, mut bytes) = (0u64, 0u64);
        for rec in iter_stored(body) {
            let Ok(rec) = rec else {
                run.consume.error(ResponseCode::SYSTEM_ERROR);
                break;
            };
            msgs += 1;
            bytes += rec.body.len() as u64;
            run.verify_received.fetch_add(1, Ordering::Relaxed);
            run.verify_received_sum
                .fetch_add(body_checksum(rec.body), Ordering::Relaxed);
            if measuring && job.e2e && rec.body.len() >= STAMP_BYTES {
                let stamp = u64::from_be_bytes(rec.body[..8].try_into().expect("8 bytes"));
                let due = stamp + job.e2e_delay_us;
                if now_us < due {
                    run.e2e.error(crate::stats::EARLY_DELIVERY);
                }
                self.e2e.record(&run.e2e, now_us.saturating_sub(due));
            }
        }
        if measuring {
            run.consume.msgs.fetch_add(msgs, Ordering::Relaxed);
            run.consume.bytes.fetch_add(bytes, Ordering::Relaxed);
            if job.e2e {
                run.e2e.msgs.fetch_add(msgs, Ordering::Relaxed);
                run.e2e.bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            self.consumed
                .record(&run.consume, sent_at.elapsed().as_micros() as u64);
        }
        msgs
    }
}

/// The consumed offset a consumer last committed, and when.
struct Commits {
    last_commit: Instant,
    committed: i64,
}

impl Commits {
    /// Commits `offset` when it moved and [`COMMIT_INTERVAL`] has passed.
    async fn commit_when_due(&mut self, conn: &PipelinedClient, job: &ConsumerJob, offset: i64) {
        if offset != self.committed && self.last_commit.elapsed() >= COMMIT_INTERVAL {
            let _ = conn.send_oneway(commit_request(job, offset)).await;
            self.committed = offset;
            self.last_commit = Instant::now();
        }
    }
}
