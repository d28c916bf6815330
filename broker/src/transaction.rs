//! Transactional messages, per shard (`spec/admin-and-features.md`,
//! RocketMQ's half-message design).
//!
//! A send with `TRAN_MSG=true` is stored as a *half* message in
//! `RMQ_SYS_TRANS_HALF_TOPIC` queue 0 of the shard that owns its real
//! queue, with `REAL_TOPIC`/`REAL_QID`: consumers never see it.
//! `END_TRANSACTION` commits it (the real message is written to its queue)
//! or rolls it back; either way an *op* record (`RMQ_SYS_TRANS_OP_HALF_TOPIC`
//! queue 0, tag `d`, body `"<half queue offset>,"`) marks it resolved, in
//! the same log write as the committed message. A half message unresolved
//! after `transactionTimeOut` is checked back: `CHECK_TRANSACTION_STATE`
//! goes to a live producer of its group every `transactionCheckInterval`,
//! and after `transactionCheckMax` checks it is discarded to
//! `TRANS_CHECK_MAX_TIME_TOPIC`.
//!
//! Progress is two consumer offsets of RocketMQ's internal group
//! `CID_RMQ_SYS_TRANS`: the lowest unresolved half offset, and the op
//! offset from which the ops of later halves start. Durable and copied to
//! slaves with the other offsets; at start the ops from there are read
//! back and the half queue is scanned again from its progress, so after a
//! `kill -9` every half message acknowledged under `SYNC_FLUSH` is either
//! resolved or checked again. Check counts are kept in memory: a restart
//! starts them again (RocketMQ writes a renewed half copy per check).

use ringmq_engine::QueueId;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use ringmq_engine::record::{encode_record, record_size, Assigned, RecordView};
use ringmq_engine::{AppendedRecord, CommitLogOffset, MessageIn, QueueOffset, StoreError};
use ringmq_net::header::CheckTransactionStateRequestHeader;
use ringmq_net::message::id::OffsetMessageId;
use ringmq_net::message::properties::property_value;
use ringmq_net::message::{property, sys_flag};
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode};

use crate::schedule::{read_records, rewrite_properties, Stopping};
use crate::shard::{now_ms, Shard, ShardStats};
use crate::topics::{PERM_READ, PERM_WRITE};

pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// RocketMQ's internal group whose offsets are the check progress.
pub const SYS_GROUP: &str = "CID_RMQ_SYS_TRANS";
const OP_TAG: &str = "d";
/// Most unresolved half messages one shard tracks; past it the scan
/// pauses (they stay in the log and are read once others resolve).
pub const HALF_PENDING_MAX: usize = 1_000_000;
/// Entries read per step of a scan.
const SCAN_BATCH: usize = 1_024;
/// Most record bytes one step of a scan reads.
const READ_BYTES_MAX: u64 = 16 << 20;
/// Half messages checked per read.
const CHECK_BATCH: usize = 256;

#[derive(Debug, Clone, Copy)]
struct Half {
    commit_log_offset: u64,
    checks: u32,
    next_check_ms: i64,
}

#[derive(Default)]
struct Inner {
    /// The op queue was read back at start.
    loaded: bool,
    /// Next half-queue offset the scan reads.
    scanned: u64,
    /// Unresolved half messages below `scanned` (also those being
    /// resolved: they stay until their outcome is durable).
    pending: BTreeMap<u64, Half>,
    /// Half offsets at or above the progress resolved durably, with their
    /// op's offset.
    resolved: BTreeMap<u64, u64>,
    /// Being resolved: None until the outcome is appended, then its op.
    /// One appended is never resolved again (its op is in the log).
    resolving: BTreeMap<u64, Option<u64>>,
    /// Op offsets referenced by `resolved` and `resolving`, with counts:
    /// the op progress is the lowest.
    ops: BTreeMap<u64, u32>,
    /// Op-queue offset past the last op seen.
    op_end: u64,
}

impl Inner {
    fn half_progress(&self) -> u64 {
        self.pending
            .keys()
            .next()
            .copied()
            .unwrap_or(self.scanned)
            .min(self.scanned)
    }

    fn op_progress(&self) -> u64 {
        self.ops.keys().next().copied().unwrap_or(self.op_end)
    }

    fn add_op(&mut self, op: u64) {
        *self.ops.entry(op).or_default() += 1;
        self.op_end = self.op_end.max(op + 1);
    }

    fn drop_op(&mut self, op: u64) {
        if let Some(n) = self.ops.get_mut(&op) {
            *n -= 1;
            if *n == 0 {
                self.ops.remove(&op);
            }
        }
    }

    /// Drops what the progress has passed.
    fn compact(&mut self) {
        let p = self.half_progress();
        let kept = self.resolved.split_off(&p);
        let passed = std::mem::replace(&mut self.resolved, kept);
        for op in passed.into_values() {
            self.drop_op(op);
        }
    }
}

/// Why a half message cannot be resolved now.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    Go,
    /// Resolved before (or being resolved): nothing to do.
    AlreadyDone,
    /// The state is still being read back after a start.
    Loading,
}

#[derive(Default)]
pub struct TransactionState {
    inner: RefCell<Inner>,
    /// Spreads checks over a group's producers.
    pick: Cell<usize>,
}

impl TransactionState {
    /// Claims half offset `h` for resolution.
    pub fn begin(&self, h: u64) -> Begin {
        let mut s = self.inner.borrow_mut();
        if !s.loaded {
            return Begin::Loading;
        }
        let done = (h < s.scanned && !s.pending.contains_key(&h))
            || s.resolved.contains_key(&h)
            || s.resolving.contains_key(&h);
        if done {
            return Begin::AlreadyDone;
        }
        s.resolving.insert(h, None);
        Begin::Go
    }

    /// The outcome of `h` is in the log as op `op` (not yet durable).
    pub fn appended(&self, h: u64, op: u64) {
        let mut s = self.inner.borrow_mut();
        s.resolving.insert(h, Some(op));
        s.add_op(op);
    }

    /// Appending the outcome of `h` failed: it may be tried again. One
    /// already appended stays claimed (its op will be read back).
    pub fn abort(&self, h: u64) {
        let mut s = self.inner.borrow_mut();
        if s.resolving.get(&h) == Some(&None) {
            s.resolving.remove(&h);
        }
    }

    /// The outcome of `h` is durable. Records the progress.
    pub fn resolved(&self, shard: &Shard, h: u64) {
        {
            let mut s = self.inner.borrow_mut();
            let Some(Some(op)) = s.resolving.remove(&h) else {
                return;
            };
            s.pending.remove(&h);
            s.resolved.insert(h, op);
            s.compact();
        }
        self.record_progress(shard);
    }

    fn record_progress(&self, shard: &Shard) {
        let (p, o) = {
            let s = self.inner.borrow();
            (s.half_progress(), s.op_progress())
        };
        shard.offsets.update(SYS_GROUP, HALF_TOPIC, 0, p as i64);
        shard.offsets.update(SYS_GROUP, OP_TOPIC, 0, o as i64);
    }

    pub fn pending_count(&self) -> usize {
        self.inner.borrow().pending.len()
    }
}

/// Properties of a half message: the client's, plus where it really goes
/// and its transaction id (its UNIQ_KEY), as RocketMQ stores them.
pub fn half_properties(props: &str, topic: &str, queue_id: i32) -> String {
    let qid = queue_id.to_string();
    let uniq = property_value(props, property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        .unwrap_or_default()
        .to_string();
    let mut add = vec![
        (property::REAL_TOPIC, topic),
        (property::REAL_QUEUE_ID, qid.as_str()),
    ];
    if !uniq.is_empty() {
        add.push((property::TRANSACTION_ID, uniq.as_str()));
    }
    rewrite_properties(
        props,
        &[
            property::REAL_TOPIC,
            property::REAL_QUEUE_ID,
            property::TRANSACTION_ID,
        ],
        &add,
    )
}

/// The op record that marks half offset `h` resolved.
fn op_message<'a>(shard: &Shard, body: &'a [u8], props: &'a str) -> MessageIn<'a> {
    MessageIn {
        topic: OP_TOPIC,
        queue_id: QueueId(0),
        flag: 0,
        body,
        properties: props.as_bytes(),
        sys_flag: 0,
        born_timestamp_ms: now_ms(),
        born_host: shard.store_host,
        store_host: shard.store_host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn op_properties() -> String {
    rewrite_properties("", &[], &[(property::TAGS, OP_TAG)])
}

/// What END_TRANSACTION or the checker does with a half message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Commit,
    Rollback,
    /// Checked too often: kept in `TRANS_CHECK_MAX_TIME_TOPIC`.
    Discard,
}

/// An outcome in the log (not yet durable).
pub struct Written {
    /// The log bytes the outcome took: its records, in one write.
    pub stored: std::ops::Range<CommitLogOffset>,
    /// The real queue a commit went to: its consumers are woken once the
    /// write is durable.
    pub committed_to: Option<(String, i32)>,
}

/// Writes the outcome of half message `half` (its record) in one log
/// write: the committed or discarded copy, then the op, and marks the
/// half appended. Returns the end to wait for, or why not.
pub async fn write_outcome(
    shard: &Shard,
    half: &RecordView<'_>,
    outcome: Outcome,
) -> Result<Written, String> {
    let props = std::str::from_utf8(half.properties).unwrap_or_default();
    let op_body = format!("{},", half.queue_offset);
    let op_props = op_properties();
    let real_topic = property_value(props, property::REAL_TOPIC).unwrap_or_default();
    let real_qid: i32 = property_value(props, property::REAL_QUEUE_ID)
        .and_then(|q| q.parse().ok())
        .unwrap_or(-1);
    let committed_props;
    let mut msgs = Vec::with_capacity(2);
    match outcome {
        Outcome::Commit => {
            check_real_queue(shard, real_topic, real_qid)?;
            committed_props = rewrite_properties(
                props,
                &[
                    property::REAL_TOPIC,
                    property::REAL_QUEUE_ID,
                    property::TRANSACTION_PREPARED,
                ],
                &[],
            );
            msgs.push(committed_message(
                shard,
                half,
                real_topic,
                real_qid,
                &committed_props,
            ));
        }
        Outcome::Discard => {
            // Readable by operators, as RocketMQ creates it.
            shard
                .topics
                .get_or_create(CHECK_MAX_TIME_TOPIC, 1, PERM_READ | PERM_WRITE)
                .await
                .map_err(|e| e.to_string())?;
            msgs.push(discarded_message(shard, half));
        }
        Outcome::Rollback => {}
    }
    msgs.push(op_message(shard, op_body.as_bytes(), &op_props));
    let mut placed: Vec<AppendedRecord> = Vec::with_capacity(msgs.len());
    let end = shard
        .store
        .append_batch(&msgs, &mut placed)
        .await
        .map_err(|e| e.to_string())?;
    let op = placed.last().expect("the op was placed").queue_offset.0;
    shard.transactions.appended(half.queue_offset as u64, op);
    let start = placed.first().expect("the op was placed").physical_offset;
    Ok(Written {
        stored: start..end,
        committed_to: (outcome == Outcome::Commit).then(|| (real_topic.to_string(), real_qid)),
    })
}

/// A commit goes to a queue that still exists.
fn check_real_queue(shard: &Shard, real_topic: &str, real_qid: i32) -> Result<(), String> {
    let topic = shard
        .topics
        .get(real_topic)
        .ok_or_else(|| format!("the real topic {real_topic:?} no longer exists"))?;
    if real_qid < 0 || real_qid >= topic.queue_count() {
        return Err(format!(
            "the real queue {real_qid} of {real_topic} does not exist"
        ));
    }
    Ok(())
}

/// The committed copy of half message `half`, for its real queue.
fn committed_message<'a>(
    shard: &Shard,
    half: &RecordView<'a>,
    real_topic: &'a str,
    real_qid: i32,
    committed_props: &'a str,
) -> MessageIn<'a> {
    MessageIn {
        topic: real_topic,
        queue_id: QueueId(real_qid),
        flag: half.flag,
        body: half.body,
        properties: committed_props.as_bytes(),
        sys_flag: sys_flag::with_transaction_type(half.sys_flag, sys_flag::TRANSACTION_COMMIT_TYPE),
        born_timestamp_ms: half.born_timestamp_ms,
        born_host: half.born_host,
        store_host: shard.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.physical_offset,
    }
}

/// The copy of half message `half` kept in `TRANS_CHECK_MAX_TIME_TOPIC`
/// when it was checked too often.
fn discarded_message<'a>(shard: &Shard, half: &RecordView<'a>) -> MessageIn<'a> {
    MessageIn {
        topic: CHECK_MAX_TIME_TOPIC,
        queue_id: QueueId(0),
        flag: half.flag,
        body: half.body,
        properties: half.properties,
        sys_flag: half.sys_flag,
        born_timestamp_ms: half.born_timestamp_ms,
        born_host: half.born_host,
        store_host: shard.store_host,
        reconsume_times: half.reconsume_times,
        prepared_transaction_offset: half.physical_offset,
    }
}

/// Reads the ops back and scans the half queue, then checks unresolved
/// half messages until the shard stops. Masters only.
pub async fn run_checker(shard: Rc<Shard>, stopping: Rc<Stopping>) {
    if stopping.unless_stopped(load(&shard)).await.is_none() {
        return;
    }
    let interval = Duration::from_millis(shard.config.transaction_check_interval_ms);
    // Scans more often than it checks, so a half resolved at once never
    // waits in `pending` for long; at most once a second.
    let tick = interval.min(Duration::from_secs(1));
    while !stopping.is_stopped() {
        if stopping.unless_stopped(scan(&shard)).await.is_none() {
            return;
        }
        if stopping.unless_stopped(check(&shard)).await.is_none() {
            return;
        }
        stopping.unless_stopped(glommio::timer::sleep(tick)).await;
    }
}

/// Start: the progress from the offsets, and every op from the op
/// progress on.
async fn load(shard: &Shard) {
    let store = &shard.store;
    let clamp = |topic: &str| {
        let (min, max) = (
            store.min_queue_offset(topic, QueueId(0)).0,
            store.max_queue_offset(topic, QueueId(0)).0,
        );
        let saved = shard.offsets.get(SYS_GROUP, topic, 0).unwrap_or(0).max(0) as u64;
        saved.clamp(min, max)
    };
    let progress = clamp(HALF_TOPIC);
    let mut op_at = clamp(OP_TOPIC);
    let mut resolved = BTreeMap::new();
    loop {
        let (first, entries) =
            store.queue_entries(OP_TOPIC, QueueId(0), QueueOffset(op_at), SCAN_BATCH);
        if entries.is_empty() {
            op_at = op_at.max(first.0);
            break;
        }
        let offsets: Vec<CommitLogOffset> = entries.iter().map(|e| e.commit_log_offset).collect();
        for (i, record) in read_records(shard, &offsets).await.into_iter().enumerate() {
            let op_offset = first.0 + i as u64;
            let Ok(bytes) = record else {
                tracing::error!(
                    shard = %shard.id,
                    op_offset,
                    "transaction op unreadable; its half message may be checked again"
                );
                continue;
            };
            let Ok(view) = RecordView::parse(&bytes) else {
                continue;
            };
            for h in std::str::from_utf8(view.body)
                .unwrap_or_default()
                .split(',')
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .filter(|h| *h >= progress)
            {
                resolved.insert(h, op_offset);
            }
        }
        op_at = first.0 + entries.len() as u64;
    }
    {
        let mut s = shard.transactions.inner.borrow_mut();
        s.scanned = progress;
        for op in resolved.values() {
            s.add_op(*op);
        }
        s.resolved = resolved;
        s.op_end = s.op_end.max(op_at);
        s.loaded = true;
    }
    tracing::info!(
        shard = %shard.id,
        half_progress = progress,
        op_end = op_at,
        "transaction state loaded"
    );
}

/// Reads new half messages into `pending`. Stops at one it cannot read
/// (tried again next time), so none is passed over.
async fn scan(shard: &Shard) {
    let timeout_ms = shard.config.transaction_timeout_ms as i64;
    loop {
        let (from, room) = {
            let s = shard.transactions.inner.borrow();
            (s.scanned, HALF_PENDING_MAX.saturating_sub(s.pending.len()))
        };
        if room == 0 {
            return;
        }
        let (first, mut entries) = shard.store.queue_entries(
            HALF_TOPIC,
            QueueId(0),
            QueueOffset(from),
            SCAN_BATCH.min(room),
        );
        if entries.is_empty() {
            if first.0 > from {
                // Retention dropped half messages never resolved.
                shard.transactions.inner.borrow_mut().scanned = first.0;
                shard.transactions.record_progress(shard);
            }
            return;
        }
        // Bounded in bytes too: the records are read whole.
        let mut bytes = 0u64;
        let keep = entries
            .iter()
            .take_while(|e| {
                bytes += u64::from(e.size_bytes);
                bytes <= READ_BYTES_MAX
            })
            .count()
            .max(1);
        entries.truncate(keep);
        let offsets: Vec<CommitLogOffset> = entries.iter().map(|e| e.commit_log_offset).collect();
        let records = read_records(shard, &offsets).await;
        let stopped = add_pending(shard, first.0, &offsets, records, timeout_ms);
        shard.transactions.record_progress(shard);
        if stopped {
            return;
        }
    }
}

/// Adds the half messages read from half queue offset `first` on to
/// `pending`, those not resolved, and moves the scan past them. Returns
/// whether it stopped at one it could not read.
fn add_pending(
    shard: &Shard,
    first: u64,
    offsets: &[CommitLogOffset],
    records: Vec<Result<Vec<u8>, StoreError>>,
    timeout_ms: i64,
) -> bool {
    let mut stopped = false;
    let mut s = shard.transactions.inner.borrow_mut();
    let mut next = first;
    for (i, record) in records.into_iter().enumerate() {
        let h = first + i as u64;
        if s.resolved.contains_key(&h) {
            next = h + 1;
            continue;
        }
        let store_ms = match record.as_deref().map(RecordView::parse) {
            Ok(Ok(view)) => view.store_timestamp_ms,
            _ => {
                tracing::warn!(
                    shard = %shard.id,
                    half_offset = h,
                    "half message unreadable; scanning again later"
                );
                stopped = true;
                break;
            }
        };
        s.pending.insert(
            h,
            Half {
                commit_log_offset: offsets[i].0,
                checks: 0,
                next_check_ms: store_ms + timeout_ms,
            },
        );
        next = h + 1;
    }
    s.scanned = s.scanned.max(next);
    s.compact();
    stopped
}

/// Asks producers about the half messages due a check; discards those
/// checked `transactionCheckMax` times. A chunk at a time.
async fn check(shard: &Shard) {
    let now = now_ms();
    let due: Vec<u64> = {
        let s = shard.transactions.inner.borrow();
        s.pending
            .iter()
            .filter(|(h, half)| half.next_check_ms <= now && !s.resolving.contains_key(h))
            .map(|(h, _)| *h)
            .collect()
    };
    for chunk in due.chunks(CHECK_BATCH) {
        check_chunk(shard, chunk, now).await;
    }
}

async fn check_chunk(shard: &Shard, chunk: &[u64], now: i64) {
    let halves: Vec<(u64, Half)> = {
        let s = shard.transactions.inner.borrow();
        chunk
            .iter()
            .filter_map(|h| Some((*h, *s.pending.get(h)?)))
            .collect()
    };
    let offsets: Vec<CommitLogOffset> = halves
        .iter()
        .map(|(_, h)| CommitLogOffset(h.commit_log_offset))
        .collect();
    let records = read_records(shard, &offsets).await;
    let interval_ms = shard.config.transaction_check_interval_ms as i64;
    let max = shard.config.transaction_check_max;
    for ((h, half), record) in halves.into_iter().zip(records) {
        let Ok(Ok(view)) = record.as_deref().map(RecordView::parse) else {
            // Gone (retention) or unreadable: counted as a check, and
            // given up at the limit so the progress moves on.
            let gone = half.commit_log_offset < shard.store.min_commit_log_offset().0;
            let mut s = shard.transactions.inner.borrow_mut();
            if let Some(entry) = s.pending.get_mut(&h) {
                entry.checks += 1;
                entry.next_check_ms = now + interval_ms;
                if gone || entry.checks > max {
                    s.pending.remove(&h);
                    drop(s);
                    shard.transactions.record_progress(shard);
                    tracing::error!(
                        shard = %shard.id,
                        half_offset = h,
                        gone,
                        "half message unreadable; given up"
                    );
                }
            }
            continue;
        };
        if half.checks >= max {
            discard(shard, h, &view, half.checks).await;
            continue;
        }
        // Resolved while the records were read: nothing to ask.
        let checks = {
            let mut s = shard.transactions.inner.borrow_mut();
            if s.resolving.contains_key(&h) {
                continue;
            }
            let Some(entry) = s.pending.get_mut(&h) else {
                continue;
            };
            entry.checks += 1;
            entry.next_check_ms = now + interval_ms;
            entry.checks
        };
        send_check(shard, &view, checks);
    }
}

async fn discard(shard: &Shard, h: u64, view: &RecordView<'_>, checks: u32) {
    if shard.transactions.begin(h) != Begin::Go {
        return;
    }
    let written = match write_outcome(shard, view, Outcome::Discard).await {
        Ok(w) => w,
        Err(e) => {
            shard.transactions.abort(h);
            tracing::error!(shard = %shard.id, error = %e, "discarding a half message failed");
            return;
        }
    };
    match shard.store.wait_acked(written.stored.end).await {
        Ok(()) => {
            shard.transactions.resolved(shard, h);
            ShardStats::add(&shard.my_stats().transactions_discarded, 1);
            tracing::warn!(shard = %shard.id, half_offset = h, checks, "half message checked transactionCheckMax times; discarded to {CHECK_MAX_TIME_TOPIC}");
        }
        Err(e) => {
            tracing::error!(shard = %shard.id, error = %e, "discarding a half message failed after its write");
        }
    }
}

/// CHECK_TRANSACTION_STATE to one live producer of the half message's
/// group: the message with its real topic and queue, as RocketMQ sends it.
fn send_check(shard: &Shard, view: &RecordView<'_>, checks: u32) {
    let props = std::str::from_utf8(view.properties).unwrap_or_default();
    let Some(group) = property_value(props, property::PRODUCER_GROUP) else {
        return;
    };
    let pick = shard.transactions.pick.get();
    shard.transactions.pick.set(pick.wrapping_add(1));
    let Some(peer) = shard.clients.producer_peer(group, pick) else {
        tracing::debug!(
            shard = %shard.id,
            group,
            "no producer of the group connected to check a half message"
        );
        return;
    };
    let real_topic = property_value(props, property::REAL_TOPIC).unwrap_or(HALF_TOPIC);
    let real_qid = property_value(props, property::REAL_QUEUE_ID)
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    // The count of checks so far, as RocketMQ's producers may read it.
    let checks = checks.to_string();
    let props_with_checks = rewrite_properties(
        props,
        &[property::TRANSACTION_CHECK_TIMES],
        &[(property::TRANSACTION_CHECK_TIMES, checks.as_str())],
    );
    let msg = MessageIn {
        topic: real_topic,
        queue_id: QueueId(real_qid),
        flag: view.flag,
        body: view.body,
        properties: props_with_checks.as_bytes(),
        sys_flag: view.sys_flag,
        born_timestamp_ms: view.born_timestamp_ms,
        born_host: view.born_host,
        store_host: view.store_host,
        reconsume_times: view.reconsume_times,
        prepared_transaction_offset: view.prepared_transaction_offset,
    };
    let Ok(size) = record_size(&msg) else {
        return;
    };
    let mut body = Vec::with_capacity(size);
    encode_record(
        &msg,
        size,
        Assigned {
            queue_offset: QueueOffset(view.queue_offset as u64),
            physical_offset: CommitLogOffset(view.physical_offset as u64),
            store_timestamp_ms: view.store_timestamp_ms,
        },
        &mut body,
    );
    let header = check_header(shard, view, props, real_topic);
    let request =
        RemotingCommand::request(RequestCode::CHECK_TRANSACTION_STATE, header.to_ext_fields())
            .with_body(body);
    if peer.notify_oneway(request) {
        ShardStats::add(&shard.my_stats().transactions_checked, 1);
    }
}

/// The check's header: the half message's offsets and ids, with its real
/// topic.
fn check_header(
    shard: &Shard,
    view: &RecordView<'_>,
    props: &str,
    real_topic: &str,
) -> CheckTransactionStateRequestHeader {
    let uniq = property_value(props, property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX).map(str::to_string);
    CheckTransactionStateRequestHeader {
        topic: Some(real_topic.to_string()),
        tran_state_table_offset: view.queue_offset,
        commit_log_offset: view.physical_offset,
        msg_id: uniq.clone(),
        transaction_id: property_value(props, property::TRANSACTION_ID)
            .map(str::to_string)
            .or(uniq),
        offset_msg_id: Some(
            OffsetMessageId {
                store_host: view.store_host,
                commit_log_offset: view.physical_offset,
            }
            .encode(),
        ),
        broker_name: Some(shard.broker_name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringmq_net::message::properties::{NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR};

    #[test]
    fn progress_is_the_lowest_unresolved_half() {
        let t = TransactionState::default();
        {
            let mut s = t.inner.borrow_mut();
            s.loaded = true;
            s.scanned = 10;
            s.op_end = 5;
            let half = Half {
                commit_log_offset: 0,
                checks: 0,
                next_check_ms: 0,
            };
            s.pending.insert(4, half);
            s.pending.insert(7, half);
        }
        let resolve = |h: u64, op: u64| {
            assert_eq!(t.begin(h), Begin::Go);
            t.appended(h, op);
            let mut s = t.inner.borrow_mut();
            let op = s.resolving.remove(&h).flatten().unwrap();
            s.pending.remove(&h);
            s.resolved.insert(h, op);
            s.compact();
        };
        let progress = || {
            let s = t.inner.borrow();
            (s.half_progress(), s.op_progress())
        };
        // 12 resolved before the scan reached it; 7 after.
        resolve(12, 5);
        resolve(7, 6);
        assert_eq!(progress(), (4, 5));
        assert_eq!(t.begin(7), Begin::AlreadyDone);
        assert_eq!(
            t.begin(3),
            Begin::AlreadyDone,
            "below the scan, not pending"
        );
        // An outcome appended but not durable holds the op progress.
        assert_eq!(t.begin(4), Begin::Go);
        t.appended(4, 2);
        t.abort(4);
        assert_eq!(
            t.begin(4),
            Begin::AlreadyDone,
            "appended: never resolved twice"
        );
        assert_eq!(progress(), (4, 2));
        {
            let mut s = t.inner.borrow_mut();
            s.resolving.remove(&4);
            s.pending.remove(&4);
            s.resolved.insert(4, 2);
            s.compact();
        }
        // Everything below the scan is resolved; 12's op is still needed.
        assert_eq!(t.inner.borrow().half_progress(), 10);
        assert_eq!(
            t.inner
                .borrow()
                .resolved
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![12]
        );
        assert_eq!(progress(), (10, 5));
        // A failed append frees the half for another try.
        t.inner.borrow_mut().pending.insert(
            11,
            Half {
                commit_log_offset: 0,
                checks: 0,
                next_check_ms: 0,
            },
        );
        t.inner.borrow_mut().scanned = 13;
        assert_eq!(t.begin(11), Begin::Go);
        t.abort(11);
        assert_eq!(t.begin(11), Begin::Go);
    }

    #[test]
    fn half_properties_keep_the_clients_and_add_the_real_queue() {
        let sep = |k: &str, v: &str| format!("{k}{NAME_VALUE_SEPARATOR}{v}{PROPERTY_SEPARATOR}");
        let props = format!(
            "{}{}{}",
            sep("TRAN_MSG", "true"),
            sep("PGROUP", "pg"),
            sep("UNIQ_KEY", "AB")
        );
        let half = half_properties(&props, "T", 3);
        for (k, v) in [
            ("TRAN_MSG", "true"),
            ("PGROUP", "pg"),
            ("REAL_TOPIC", "T"),
            ("REAL_QID", "3"),
            ("__transactionId__", "AB"),
        ] {
            assert_eq!(property_value(&half, k), Some(v), "{k} in {half:?}");
        }
    }
}
