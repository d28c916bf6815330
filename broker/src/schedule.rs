//! Delay levels (`spec/store-format.md` §11): a message sent with
//! `DELAY=<level>` is stored first in `SCHEDULE_TOPIC_XXXX`, queue
//! `level - 1`, with its real topic and queue in `REAL_TOPIC`/`REAL_QID`,
//! and written again to its real queue once `messageDelayLevel[level]` has
//! passed since it was stored.
//!
//! Per shard, like everything else: a delayed message is scheduled on the
//! shard that owns its real queue, in that shard's own log, and delivered
//! there; nothing crosses cores. One delivery task per level reads its
//! queue in order, which is also due-time order, since every message of a
//! level waits the same time. A task with nothing due sleeps until the head
//! is due or, on an empty queue, until a send to that level wakes it: an
//! idle shard spends no CPU on scheduling.
//!
//! Progress per level is the next schedule-queue offset to deliver, kept
//! in `<shard root>/config/delayOffset.json` (`{"offsetTable":{"1":0,…}}`,
//! RocketMQ's layout with quoted keys), written within
//! [`DELAY_OFFSET_PERSIST_INTERVAL_MS`] of a change and at a clean stop,
//! and copied to slaves by the metadata sync (`GET_ALL_DELAY_OFFSET`).
//! A delivery is acknowledged by the log (under `SYNC_FLUSH`: durable)
//! before its level's offset moves past it, so nothing scheduled is lost.
//! What was delivered after the last offset write is delivered again after
//! a `kill -9`: at least once across a crash, as RocketMQ (which writes the
//! file every 10 s) is.

use ringmq_engine::QueueId;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use ringmq_engine::record::RecordView;
use ringmq_engine::{
    AppendedRecord, CommitLogOffset, MessageIn, QueueEntry, QueueOffset, StoreError,
};
use ringmq_net::message::properties::{iter_properties, property_value};
use ringmq_net::message::property;
use serde::{Deserialize, Serialize};

use crate::shard::{now_ms, Shard, ShardStats};
use crate::waiters::VersionWaiters;

pub use ringmq_engine::dispatch::SCHEDULE_TOPIC;
/// RocketMQ's `messageDelayLevel` default: levels 1..=18.
pub const MESSAGE_DELAY_LEVEL_DEFAULT: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
/// Most levels `messageDelayLevel` may define.
pub const DELAY_LEVELS_MAX: usize = 64;
/// Longest delay one level may have (RocketMQ's timer maximum, 3 days).
pub const LEVEL_DELAY_MS_MAX: u64 = 3 * 24 * 3600 * 1000;
/// Most records one delivery round reads and appends as one batch.
pub const DELIVERY_BATCH_MAX: usize = 256;
/// Longest a level's progress stays unwritten after it moved.
pub const DELAY_OFFSET_PERSIST_INTERVAL_MS: u64 = 1_000;
/// Back-off after a delivery round failed (log closed, full, poisoned).
const DELIVERY_RETRY_MS: u64 = 1_000;

/// The delay of each level, level 1 first (`messageDelayLevel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayLevels {
    delays_ms: Vec<u64>,
}

impl Default for DelayLevels {
    fn default() -> Self {
        DelayLevels::parse(MESSAGE_DELAY_LEVEL_DEFAULT).expect("the default parses")
    }
}

impl DelayLevels {
    /// `"1s 5s 10s 1m 2h 1d"`: a number and a unit (`s`, `m`, `h`, `d`) per
    /// level, space-separated, as RocketMQ's `parseDelayLevel` reads it.
    pub fn parse(text: &str) -> Result<DelayLevels, &'static str> {
        let mut delays_ms = Vec::new();
        for word in text.split_whitespace() {
            if delays_ms.len() == DELAY_LEVELS_MAX {
                return Err("more than 64 levels");
            }
            let unit_at = word.char_indices().last().map_or(0, |(i, _)| i);
            let unit_ms = match &word[unit_at..] {
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err("each level is a number and a unit: s, m, h or d"),
            };
            let n: u64 = word[..unit_at]
                .parse()
                .map_err(|_| "each level is a number and a unit: s, m, h or d")?;
            let ms = n.saturating_mul(unit_ms);
            if ms > LEVEL_DELAY_MS_MAX {
                return Err("a level is longer than 3 days");
            }
            delays_ms.push(ms);
        }
        if delays_ms.is_empty() {
            return Err("no levels");
        }
        Ok(DelayLevels { delays_ms })
    }

    pub fn max_level(&self) -> i32 {
        self.delays_ms.len() as i32
    }

    /// Levels 1..=max.
    pub fn levels(&self) -> impl Iterator<Item = i32> {
        1..=self.max_level()
    }

    /// The delay of a level in 1..=max.
    pub fn delay_ms(&self, level: i32) -> u64 {
        assert!((1..=self.max_level()).contains(&level), "level {level}");
        self.delays_ms[level as usize - 1]
    }

    /// The delay level a message's `DELAY` property asks for, clamped to
    /// the highest level as RocketMQ clamps it; None for no delay (absent,
    /// zero or negative). A value that is not a number is refused: Java's
    /// broker fails the send on it too (`Integer.parseInt`).
    pub fn level_of(&self, properties: &str) -> Result<Option<i32>, String> {
        let Some(text) = property_value(properties, property::DELAY_TIME_LEVEL) else {
            return Ok(None);
        };
        let level: i64 = text
            .trim()
            .parse()
            .map_err(|_| format!("DELAY={text:?} is not a delay level"))?;
        Ok((level > 0).then(|| level.min(i64::from(self.max_level())) as i32))
    }

    /// `messageDelayLevel` as broker.conf writes it.
    pub fn to_config_text(&self) -> String {
        let mut text = String::new();
        for (i, ms) in self.delays_ms.iter().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            let (n, unit) = match ms {
                ms if ms % 86_400_000 == 0 => (ms / 86_400_000, 'd'),
                ms if ms % 3_600_000 == 0 => (ms / 3_600_000, 'h'),
                ms if ms % 60_000 == 0 => (ms / 60_000, 'm'),
                ms => (ms / 1_000, 's'),
            };
            let _ = write!(text, "{n}{unit}");
        }
        text
    }
}

/// A stored message delivered again (a send-back, a pop's revival): the
/// original's body, flags and born fields, stored in `topic`/`queue_id` by
/// this shard with `properties`, one more reconsume time.
pub fn redelivery<'a>(
    shard: &Shard,
    original: &RecordView<'a>,
    topic: &'a str,
    queue_id: i32,
    properties: &'a str,
) -> MessageIn<'a> {
    MessageIn {
        topic,
        queue_id: QueueId(queue_id),
        flag: original.flag,
        body: original.body,
        properties: properties.as_bytes(),
        sys_flag: original.sys_flag,
        born_timestamp_ms: original.born_timestamp_ms,
        born_host: original.born_host,
        store_host: shard.store_host,
        // Stored from a producer's header: never trusted to be sane.
        reconsume_times: original.reconsume_times.max(0).saturating_add(1),
        prepared_transaction_offset: 0,
    }
}

/// A properties string with `remove` and the names of `add` taken out and
/// `add` appended, in wire form.
pub fn rewrite_properties(text: &str, remove: &[&str], add: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut push = |name: &str, value: &str| {
        out.push_str(name);
        out.push('\u{1}');
        out.push_str(value);
        out.push('\u{2}');
    };
    for (name, value) in iter_properties(text) {
        if !remove.contains(&name) && !add.iter().any(|(n, _)| *n == name) {
            push(name, value);
        }
    }
    for (name, value) in add {
        push(name, value);
    }
    out
}

/// The properties that make a message a timer message (5.x).
pub const TIMER_TRIGGER_PROPERTIES: [&str; 3] = [
    property::TIMER_DELIVER_MS,
    property::TIMER_DELAY_SEC,
    property::TIMER_DELAY_MS,
];

/// Properties of a message as it waits in the schedule topic. Timer
/// properties go: a delay level wins over them, as in RocketMQ.
pub fn scheduled_properties(text: &str, real_topic: &str, real_queue_id: i32) -> String {
    rewrite_properties(
        text,
        &TIMER_TRIGGER_PROPERTIES,
        &[
            (property::REAL_TOPIC, real_topic),
            (property::REAL_QUEUE_ID, &real_queue_id.to_string()),
        ],
    )
}

/// Properties of a message delivered to its real queue: the delay is
/// spent, and (as RocketMQ) the delivery does not wait for a slave.
/// `REAL_TOPIC`/`REAL_QID` stay, as in RocketMQ.
fn delivered_properties(text: &str) -> String {
    rewrite_properties(
        text,
        &[
            property::DELAY_TIME_LEVEL,
            TIMER_TRIGGER_PROPERTIES[0],
            TIMER_TRIGGER_PROPERTIES[1],
            TIMER_TRIGGER_PROPERTIES[2],
        ],
        &[(property::WAIT_STORE_MSG_OK, "false")],
    )
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DelayOffsetFile {
    offset_table: BTreeMap<String, i64>,
}

/// One shard's delivery progress per level and its persistence. Lives on
/// its shard.
pub struct DelayOffsets {
    path: PathBuf,
    table: RefCell<BTreeMap<i32, u64>>,
    changed: Cell<u64>,
    persisted: Cell<u64>,
    wake: VersionWaiters,
}

fn parse_delay_offsets(bytes: &[u8]) -> Result<BTreeMap<i32, u64>, String> {
    let file: DelayOffsetFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut table = BTreeMap::new();
    for (level, offset) in file.offset_table {
        let level: i32 = level
            .parse()
            .map_err(|_| format!("level {level:?} is not a number"))?;
        if !(1..=DELAY_LEVELS_MAX as i32).contains(&level) || offset < 0 {
            return Err(format!("level {level}: offset {offset} out of range"));
        }
        table.insert(level, offset as u64);
    }
    Ok(table)
}

impl DelayOffsets {
    pub fn open(shard_root: &Path) -> std::io::Result<DelayOffsets> {
        let path = shard_root.join("config").join("delayOffset.json");
        let table = crate::topics::read_config_file(&path, parse_delay_offsets)?
            .unwrap_or_else(BTreeMap::new);
        Ok(DelayOffsets {
            path,
            table: RefCell::new(table),
            changed: Cell::new(0),
            persisted: Cell::new(0),
            wake: VersionWaiters::default(),
        })
    }

    /// At start, before serving: a level whose saved progress is past its
    /// queue's end (the log lost a tail in a crash under `ASYNC_FLUSH`)
    /// resumes at the end, saved at once, so new messages at the reused
    /// offsets are delivered even if the broker crashes again before the
    /// next save (RocketMQ's `correctDelayOffset`).
    pub fn correct(&self, store: &crate::shard::Store) -> std::io::Result<()> {
        let mut corrected = false;
        for (level, offset) in self.table.borrow_mut().iter_mut() {
            let end = store.max_queue_offset(SCHEDULE_TOPIC, QueueId(level - 1)).0;
            if *offset > end {
                tracing::warn!(
                    level,
                    saved = *offset,
                    end,
                    "delay offset past the queue's end; corrected"
                );
                *offset = end;
                corrected = true;
            }
        }
        if corrected {
            crate::topics::write_durably(&self.path, &self.to_json_bytes())?;
        }
        Ok(())
    }

    /// The next schedule-queue offset to deliver of a level.
    pub fn get(&self, level: i32) -> u64 {
        self.table.borrow().get(&level).copied().unwrap_or(0)
    }

    fn set(&self, level: i32, offset: u64) {
        if self.table.borrow_mut().insert(level, offset) != Some(offset) {
            self.changed.set(self.changed.get() + 1);
            self.wake.poke();
        }
    }

    /// The table as RocketMQ's `delayOffset.json` (the file, and the
    /// `GET_ALL_DELAY_OFFSET` body).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let file = DelayOffsetFile {
            offset_table: self
                .table
                .borrow()
                .iter()
                .map(|(level, offset)| (level.to_string(), *offset as i64))
                .collect(),
        };
        serde_json::to_vec(&file).expect("delay offsets serialize")
    }

    /// A slave takes its master's table whole. Returns whether it changed.
    pub fn replace_from_master(&self, body: &[u8]) -> Result<bool, String> {
        let table = parse_delay_offsets(body)?;
        if *self.table.borrow() == table {
            return Ok(false);
        }
        *self.table.borrow_mut() = table;
        self.changed.set(self.changed.get() + 1);
        self.wake.poke();
        Ok(true)
    }

    /// Writes the table if it changed since the last write.
    pub async fn persist_if_changed(&self) {
        let target = self.changed.get();
        if target == self.persisted.get() {
            return;
        }
        match crate::offsets::write_durably_async(&self.path, self.to_json_bytes()).await {
            Ok(()) => self.persisted.set(target),
            Err(e) => tracing::error!(
                path = %self.path.display(),
                error = %e,
                "saving delay offsets failed; retrying (deliveries since the last save would repeat after a crash)"
            ),
        }
    }

    /// Writes changes, at most every [`DELAY_OFFSET_PERSIST_INTERVAL_MS`],
    /// until `stop` is set. The shard's stop writes the last change after
    /// its delivery tasks have ended.
    pub async fn run_persister(self: Rc<Self>, stop: Rc<Cell<bool>>) {
        while !stop.get() {
            self.persist_if_changed().await;
            glommio::timer::sleep(Duration::from_millis(DELAY_OFFSET_PERSIST_INTERVAL_MS)).await;
            if self.changed.get() == self.persisted.get() {
                futures_lite::future::or(self.wake.changed(), async {
                    glommio::timer::sleep(Duration::from_secs(1)).await;
                })
                .await;
            }
        }
    }
}

/// Wakes the delivery tasks when the shard stops.
#[derive(Default)]
pub struct Stopping {
    stopped: Cell<bool>,
    wake: VersionWaiters,
}

impl Stopping {
    pub fn stop(&self) {
        self.stopped.set(true);
        self.wake.poke();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Runs `f` until it finishes or the shard stops; None if it stopped.
    pub(crate) async fn unless_stopped<T>(
        &self,
        f: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if self.is_stopped() {
            return None;
        }
        futures_lite::future::or(async { Some(f.await) }, async {
            while !self.is_stopped() {
                self.wake.changed().await;
            }
            None
        })
        .await
    }
}

/// Delivers one level's due messages until the shard stops. Runs on the
/// shard, on masters only.
pub async fn run_level(shard: Rc<Shard>, level: i32, stopping: Rc<Stopping>) {
    let queue_id = level - 1;
    let delay_ms = shard.config.message_delay_level.delay_ms(level);
    while !stopping.is_stopped() {
        // Looked up each round: a deleted topic's signals are replaced.
        let signal = shard.signals.get(SCHEDULE_TOPIC, queue_id);
        let seen = signal.generation();
        let mut from = shard.schedule.get(level);
        // Progress past the queue's end: the log lost its tail in a crash
        // under ASYNC_FLUSH after the offset was saved, or a slave's
        // copied table ran ahead of its log. Resume at the end, or new
        // messages at the reused offsets would never be delivered
        // (RocketMQ's `correctDelayOffset`).
        let end = shard
            .store
            .max_queue_offset(SCHEDULE_TOPIC, QueueId(queue_id))
            .0;
        if from > end {
            tracing::warn!(
                shard = %shard.id,
                level,
                saved = from,
                end,
                "delay offset past the queue's end; resuming at the end"
            );
            shard.schedule.set(level, end);
            from = end;
        }
        let (start, entries) = shard.store.queue_entries(
            SCHEDULE_TOPIC,
            QueueId(queue_id),
            QueueOffset(from),
            DELIVERY_BATCH_MAX,
        );
        if start.0 != from {
            tracing::warn!(
                shard = %shard.id,
                level,
                from,
                to = start.0,
                "delayed messages removed by retention before their delivery"
            );
            shard.schedule.set(level, start.0);
        }
        if entries.is_empty() {
            stopping.unless_stopped(signal.wait_past(seen)).await;
            continue;
        }
        let (records, next_due_ms) = read_due(&shard, level, delay_ms, &entries).await;
        if !records.is_empty() {
            let count = records.len() as u64;
            match deliver(&shard, level, &records).await {
                Ok(()) => shard.schedule.set(level, start.0 + count),
                Err(e) => {
                    tracing::error!(shard = %shard.id, level, error = %e, "delivering delayed messages failed; retrying");
                    stopping
                        .unless_stopped(glommio::timer::sleep(Duration::from_millis(
                            DELIVERY_RETRY_MS,
                        )))
                        .await;
                }
            }
        } else if let Some(due) = next_due_ms {
            let wait = due.saturating_sub(now_ms()).max(1) as u64;
            stopping
                .unless_stopped(glommio::timer::sleep(Duration::from_millis(wait)))
                .await;
        }
    }
}

/// One record read back from the schedule queue.
enum Due {
    Record(Vec<u8>),
    /// Unreadable (deleted by retention, or not a message): skipped with
    /// an error in the log, so one bad record cannot stop its level.
    Skip,
}

/// The records of the leading `entries` that are due, and the due time
/// of the first one that is not. Due times come from the entries (their
/// tag code is the store time, `ringmq_engine::dispatch::tags_code`): only
/// due records are read.
async fn read_due(
    shard: &Shard,
    level: i32,
    delay_ms: u64,
    entries: &[QueueEntry],
) -> (Vec<Due>, Option<i64>) {
    let now = now_ms();
    // Store times are whole ms: one more keeps a delivery from coming up
    // to a millisecond before the delay has truly passed.
    let due_ms = |e: &QueueEntry| {
        e.tags_code
            .saturating_add(delay_ms as i64)
            .saturating_add(1)
    };
    let due_count = entries.iter().take_while(|e| due_ms(e) <= now).count();
    let next_due_ms = entries.get(due_count).map(due_ms);
    let offsets: Vec<CommitLogOffset> = entries[..due_count]
        .iter()
        .map(|e| e.commit_log_offset)
        .collect();
    let mut due = Vec::with_capacity(due_count);
    for (offset, record) in offsets.iter().zip(read_records(shard, &offsets).await) {
        match record {
            Ok(bytes) => due.push(Due::Record(bytes)),
            Err(StoreError::NoRecordAt { detail, .. }) => {
                tracing::error!(
                    shard = %shard.id,
                    level,
                    offset = offset.0,
                    detail,
                    "scheduled message unreadable; skipped"
                );
                due.push(Due::Skip);
            }
            Err(e) => {
                // An I/O error: try again next round rather than skip.
                tracing::error!(shard = %shard.id, level, offset = offset.0, error = %e, "reading a scheduled message failed");
                return (due, Some(now + DELIVERY_RETRY_MS as i64));
            }
        }
    }
    (due, next_due_ms)
}

/// Most bytes one read of [`read_records`] spans.
const BULK_READ_BYTES_MAX: u64 = 4 << 20;
/// Room [`read_records`] leaves after the last offset it expects in a
/// span, for that record.
const BULK_READ_TAIL_BYTES: u64 = 64 << 10;

/// The records at `offsets` (ascending, as a queue lists them), read a
/// span of the log at a time rather than two reads a record: waiting
/// messages of one queue sit close together in the log. A record the span
/// does not hold whole is read on its own.
pub(crate) async fn read_records(
    shard: &Shard,
    offsets: &[CommitLogOffset],
) -> Vec<Result<Vec<u8>, StoreError>> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = CommitLogOffset::ZERO;
    let whole = |buf: &[u8], buf_pos: CommitLogOffset, at: CommitLogOffset| -> Option<Vec<u8>> {
        let rel = usize::try_from(at.get().checked_sub(buf_pos.get())?).ok()?;
        let head: [u8; 4] = buf.get(rel..rel.checked_add(4)?)?.try_into().ok()?;
        let size = u32::from_be_bytes(head) as usize;
        if size < 4 {
            return None;
        }
        buf.get(rel..rel.checked_add(size)?).map(<[u8]>::to_vec)
    };
    for (i, offset) in offsets.iter().enumerate() {
        if let Some(record) = whole(&buf, buf_pos, *offset) {
            out.push(Ok(record));
            continue;
        }
        let furthest = offsets[i..]
            .iter()
            .copied()
            .take_while(|o| *o >= *offset && *o - *offset < BULK_READ_BYTES_MAX)
            .last()
            .unwrap_or(*offset);
        let span = (furthest - *offset + BULK_READ_TAIL_BYTES).min(BULK_READ_BYTES_MAX);
        match shard.store.read_written(*offset, span as usize).await {
            Ok(bytes) => {
                buf = bytes;
                buf_pos = *offset;
            }
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        }
        match whole(&buf, buf_pos, *offset) {
            Some(record) => out.push(Ok(record)),
            None => out.push(shard.store.read_record(*offset).await),
        }
    }
    out
}

/// A scheduled record as it goes to its real queue.
struct Delivery<'r> {
    view: RecordView<'r>,
    topic: &'r str,
    queue_id: i32,
    properties: String,
}

/// Appends the due records of one level to their real queues as one batch
/// and waits until the log acknowledges them.
async fn deliver(shard: &Shard, level: i32, records: &[Due]) -> Result<(), StoreError> {
    let bytes = records.iter().filter_map(|r| match r {
        Due::Record(bytes) => Some(bytes.as_slice()),
        Due::Skip => None,
    });
    let what = format!("delay level {level}");
    let n = deliver_to_real_queues(shard, &what, bytes).await?;
    ShardStats::add(&shard.my_stats().delay_delivered, n as u64);
    Ok(())
}

/// Writes waiting records (delay levels, timers) to the queues their
/// `REAL_TOPIC`/`REAL_QID` name, as one batch: same body, flag, born host
/// and time, sys flag and reconsume times; the trigger properties
/// removed, `WAIT=false`. Waits until the log acknowledges them. A record
/// without a real queue is skipped with an error in the log. Returns how
/// many were written.
pub(crate) async fn deliver_to_real_queues<'r>(
    shard: &Shard,
    what: &str,
    records: impl Iterator<Item = &'r [u8]>,
) -> Result<usize, StoreError> {
    let deliveries: Vec<Delivery<'r>> = records
        .filter_map(|bytes| delivery(shard, what, bytes))
        .collect();
    if deliveries.is_empty() {
        return Ok(0);
    }
    let msgs: Vec<MessageIn<'_>> = deliveries
        .iter()
        .map(|d| MessageIn {
            topic: d.topic,
            queue_id: QueueId(d.queue_id),
            flag: d.view.flag,
            body: d.view.body,
            properties: d.properties.as_bytes(),
            sys_flag: d.view.sys_flag,
            born_timestamp_ms: d.view.born_timestamp_ms,
            born_host: d.view.born_host,
            store_host: shard.store_host,
            reconsume_times: d.view.reconsume_times,
            prepared_transaction_offset: 0,
        })
        .collect();
    let Some(end) = append_deliveries(shard, what, &msgs).await? else {
        return Ok(0);
    };
    shard.store.wait_acked(end).await?;
    for d in &deliveries {
        shard.signals.fire(d.topic, d.queue_id);
    }
    Ok(deliveries.len())
}

/// A waiting record as it goes to its real queue; `None` (with an error
/// in the log) when it does not parse or names no real queue.
fn delivery<'r>(shard: &Shard, what: &str, bytes: &'r [u8]) -> Option<Delivery<'r>> {
    let view = match RecordView::parse(bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(shard = %shard.id, what, error = %e, "waiting record does not parse; skipped");
            return None;
        }
    };
    let props = std::str::from_utf8(view.properties).unwrap_or_default();
    let topic = property_value(props, property::REAL_TOPIC);
    let queue_id = property_value(props, property::REAL_QUEUE_ID).and_then(|q| q.parse().ok());
    let (Some(topic), Some(queue_id)) = (topic, queue_id) else {
        tracing::error!(
            shard = %shard.id,
            what,
            offset = view.physical_offset,
            "waiting message has no REAL_TOPIC/REAL_QID; skipped"
        );
        return None;
    };
    Some(Delivery {
        view,
        topic,
        queue_id,
        properties: delivered_properties(props),
    })
}

/// Appends `msgs` as one batch. One message the log refuses (its
/// properties grew past the limit with the delivery's own) must not stop
/// the rest: then they go one at a time, and what cannot be stored is
/// skipped with an error. Returns the log's end after the last stored,
/// `None` when none was.
async fn append_deliveries(
    shard: &Shard,
    what: &str,
    msgs: &[MessageIn<'_>],
) -> Result<Option<CommitLogOffset>, StoreError> {
    let mut placed: Vec<AppendedRecord> = Vec::with_capacity(msgs.len());
    match shard.store.append_batch(msgs, &mut placed).await {
        Ok(end) => Ok(Some(end)),
        Err(StoreError::Illegal(_)) if msgs.len() > 1 => {
            let mut end = None;
            for m in msgs {
                placed.clear();
                match shard
                    .store
                    .append_batch(std::slice::from_ref(m), &mut placed)
                    .await
                {
                    Ok(e) => end = Some(e),
                    Err(StoreError::Illegal(e)) => {
                        tracing::error!(shard = %shard.id, what, topic = m.topic, error = %e, "waiting message cannot be stored at delivery; skipped");
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(end)
        }
        Err(StoreError::Illegal(e)) => {
            tracing::error!(shard = %shard.id, what, error = %e, "waiting message cannot be stored at delivery; skipped");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_levels_are_rocketmqs() {
        let levels = DelayLevels::default();
        assert_eq!(levels.max_level(), 18);
        assert_eq!(levels.delay_ms(1), 1_000);
        assert_eq!(levels.delay_ms(3), 10_000);
        assert_eq!(levels.delay_ms(5), 60_000);
        assert_eq!(levels.delay_ms(18), 2 * 3_600_000);
        assert_eq!(levels.to_config_text(), MESSAGE_DELAY_LEVEL_DEFAULT);
    }

    #[test]
    fn bad_level_lists_are_refused() {
        for bad in [
            "",
            "1x",
            "s",
            "1s 2",
            "-1s",
            "4d",
            "5µ",
            "µ",
            &"1s ".repeat(65),
        ] {
            assert!(DelayLevels::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            DelayLevels::parse("1d 3d").unwrap().delay_ms(2),
            LEVEL_DELAY_MS_MAX
        );
    }

    #[test]
    fn delay_property_is_clamped_and_checked() {
        let levels = DelayLevels::default();
        let props = |v: &str| format!("TAGS\u{1}a\u{2}DELAY\u{1}{v}\u{2}");
        assert_eq!(levels.level_of("TAGS\u{1}a\u{2}"), Ok(None));
        assert_eq!(levels.level_of(&props("3")), Ok(Some(3)));
        assert_eq!(levels.level_of(&props("99")), Ok(Some(18)));
        assert_eq!(levels.level_of(&props("0")), Ok(None));
        assert_eq!(levels.level_of(&props("-2")), Ok(None));
        assert!(levels.level_of(&props("soon")).is_err());
    }

    #[test]
    fn properties_are_rewritten_without_duplicates() {
        let stored = scheduled_properties(
            "TAGS\u{1}a\u{2}REAL_TOPIC\u{1}old\u{2}DELAY\u{1}2\u{2}",
            "T",
            3,
        );
        assert_eq!(
            stored,
            "TAGS\u{1}a\u{2}DELAY\u{1}2\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}3\u{2}"
        );
        assert_eq!(
            delivered_properties(&stored),
            "TAGS\u{1}a\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}3\u{2}WAIT\u{1}false\u{2}"
        );
    }

    #[test]
    fn offset_file_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = DelayOffsets::open(dir.path()).unwrap();
        offsets.set(1, 5);
        offsets.set(18, 7);
        let bytes = offsets.to_json_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"offsetTable":{"1":5,"18":7}}"#
        );
        let copy = DelayOffsets::open(dir.path()).unwrap();
        assert!(copy.replace_from_master(&bytes).unwrap());
        assert!(!copy.replace_from_master(&bytes).unwrap());
        assert_eq!((copy.get(1), copy.get(2), copy.get(18)), (5, 0, 7));
        assert!(copy
            .replace_from_master(br#"{"offsetTable":{"x":1}}"#)
            .is_err());
        assert!(copy
            .replace_from_master(br#"{"offsetTable":{"1":-1}}"#)
            .is_err());
    }
}
