//! Timer messages (RocketMQ 5: `TIMER_DELIVER_MS`, `TIMER_DELAY_SEC`,
//! `TIMER_DELAY_MS`): delivery at any time up to `timerMaxDelaySec` ahead,
//! to [`TIMER_SLOT_MS`].
//!
//! Per shard, like delay levels. A timer message is stored first, durably
//! like any message, in [`TIMER_TOPIC`] queue 0 with its real topic and
//! queue in `REAL_TOPIC`/`REAL_QID` and its delivery time in
//! `TIMER_OUT_MS`, which the engine's dispatch puts in the consume-queue
//! entry's tag code. The timer index is then a [`TimerWheel`] in memory:
//! delivery-time slots of [`TIMER_SLOT_MS`], each a list of commit-log
//! offsets, so an insert costs one ordered-map lookup of its slot (at most
//! 2.6 million slots over 3 days) and a push, and the next wake-up is the
//! first slot's end. Two tasks: *enqueue* reads the timer queue in order
//! into the wheel (woken by sends); *delivery* sleeps until the first
//! slot's end (or an earlier slot appears), then writes that slot's
//! messages to their real queues. An idle shard with any number of
//! pending timers sleeps.
//!
//! Durability (the decision table is [`TimerWheel::rebuild`]): the wheel
//! is rebuilt at start from the timer queue and a checkpoint
//! `(enqueuedTo, pendingFromMs)` in `<shard root>/config/timerCheckpoint.json`,
//! written within a second of a change and at a clean stop: every entry
//! below `enqueuedTo` with a delivery time below `pendingFromMs` had been
//! delivered and acknowledged by the log when the checkpoint was taken;
//! everything else goes back into the wheel. A slot stays in the wheel
//! until all of its deliveries are acknowledged. So no timer is lost or
//! delivered early; what was delivered after the last checkpoint is
//! delivered again after a `kill -9` (at least once across a crash, as
//! RocketMQ's timer store, whose checkpoint also trails its deliveries).
//! Slaves copy the checkpoint with the metadata sync.
//!
//! Not yet: retention does not hold back a segment that still has waiting
//! timers (or delayed messages). With `timerMaxDelaySec` equal to
//! `fileReservedTime` (both 72 h by default), or under forced cleaning, a
//! timer can be deleted before it is due; it is then skipped with an error
//! in the log.

use ringmq_engine::QueueId;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use ringmq_engine::{CommitLogOffset, QueueOffset, StoreError};
use ringmq_net::message::properties::property_value;
use ringmq_net::message::property;
use serde::{Deserialize, Serialize};

pub use ringmq_engine::dispatch::{PROPERTY_TIMER_OUT_MS, TIMER_TOPIC};

use crate::schedule::{deliver_to_real_queues, read_records, rewrite_properties, Stopping};
use crate::shard::{now_ms, Shard, ShardStats};
use crate::waiters::VersionWaiters;

/// Width of one wheel slot: the timer's precision. A message is delivered
/// after its slot ends, so at most this late (plus the write).
pub const TIMER_SLOT_MS: i64 = 100;
/// `timerMaxDelaySec` default (3 days).
pub const TIMER_MAX_DELAY_SEC_DEFAULT: u64 = 259_200;
/// Most timers one shard holds, waiting in the wheel or not yet read into
/// it; a send beyond is refused (`WHEEL_TIMER_FLOW_CONTROL`). 8 bytes each
/// in the wheel.
pub const TIMER_PENDING_MAX: u64 = 10_000_000;
/// Entries the enqueue task reads per round.
const ENQUEUE_BATCH_MAX: usize = 4096;
/// Records one delivery write carries.
const DELIVERY_BATCH_MAX: usize = 256;
/// Longest the checkpoint stays unwritten after it moved.
const CHECKPOINT_INTERVAL_MS: u64 = 1_000;
/// Back-off after a failed delivery round.
const DELIVERY_RETRY_MS: u64 = 1_000;

/// When a send's timer properties ask for delivery (ms since the epoch),
/// or None without them. `TIMER_DELIVER_MS` is absolute; `TIMER_DELAY_SEC`
/// and `TIMER_DELAY_MS` count from `now_ms`. An unparsable value or a time
/// more than `max_delay_ms` ahead is refused, as RocketMQ refuses it
/// (`WHEEL_TIMER_MSG_ILLEGAL`).
pub fn deliver_ms_of(
    properties: &str,
    now_ms: i64,
    max_delay_ms: i64,
) -> Result<Option<i64>, String> {
    let parse = |name: &str| -> Result<Option<i64>, String> {
        property_value(properties, name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{name}={v:?} is not a number"))
            })
            .transpose()
    };
    let at = if let Some(ms) = parse(property::TIMER_DELIVER_MS)? {
        ms
    } else if let Some(sec) = parse(property::TIMER_DELAY_SEC)? {
        now_ms.saturating_add(sec.saturating_mul(1000))
    } else if let Some(ms) = parse(property::TIMER_DELAY_MS)? {
        now_ms.saturating_add(ms)
    } else {
        return Ok(None);
    };
    if at.saturating_sub(now_ms) > max_delay_ms {
        return Err(format!(
            "timer message due in {} ms, beyond timerMaxDelaySec ({} s)",
            at.saturating_sub(now_ms),
            max_delay_ms / 1000
        ));
    }
    Ok(Some(at))
}

/// Properties of a timer message as it waits in the timer topic.
pub fn timer_properties(
    text: &str,
    real_topic: &str,
    real_queue_id: i32,
    deliver_ms: i64,
) -> String {
    rewrite_properties(
        text,
        &[],
        &[
            (property::REAL_TOPIC, real_topic),
            (property::REAL_QUEUE_ID, &real_queue_id.to_string()),
            (PROPERTY_TIMER_OUT_MS, &deliver_ms.to_string()),
        ],
    )
}

/// Most late entries a checkpoint lists by offset (see
/// [`TimerWheel::checkpoint`]).
const LATE_LISTED_MAX: usize = 65_536;

/// What the wheel had done when the checkpoint was taken.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerCheckpoint {
    /// Every timer-queue entry below this had been read into the wheel.
    pub enqueued_to: u64,
    /// Every entry read in and due before this had been delivered and
    /// acknowledged, but for those in `late`.
    pub delivered_before_ms: i64,
    /// Queue offsets of entries read in after their slot had been
    /// delivered (a reader that fell behind), still waiting.
    #[serde(default)]
    pub late: Vec<u64>,
}

/// The timer index of one shard: pending commit-log offsets by delivery
/// slot. Pure state; the tasks below drive it.
///
/// Slots are delivered in order, so every slot before the last finished
/// one is finished too: the end of the last finished slot (the
/// watermark) is a time before which everything read in has been
/// delivered, except entries read in *after* their slot went (late ones),
/// which the wheel names by offset until they are delivered.
#[derive(Debug, Default)]
pub struct TimerWheel {
    slots: BTreeMap<i64, Vec<CommitLogOffset>>,
    pending: u64,
    enqueued_to: u64,
    watermark_ms: i64,
    late: BTreeMap<i64, Vec<u64>>,
    late_count: usize,
    writing: Option<i64>,
}

fn slot_of(deliver_ms: i64) -> i64 {
    deliver_ms.div_euclid(TIMER_SLOT_MS)
}

fn slot_end_ms(slot: i64) -> i64 {
    slot.saturating_add(1).saturating_mul(TIMER_SLOT_MS)
}

impl TimerWheel {
    /// The wheel after a restart, from the checkpoint and the timer
    /// queue's entries in offset order (`(queue offset, commit-log offset,
    /// delivery ms)`):
    ///
    /// | entry offset    | delivery time             | listed late | then                                  |
    /// |-----------------|---------------------------|-------------|---------------------------------------|
    /// | `< enqueuedTo`  | `< deliveredBeforeMs`     | no          | delivered before the checkpoint: skip |
    /// | `< enqueuedTo`  | `< deliveredBeforeMs`     | yes         | was waiting: back in the wheel        |
    /// | `< enqueuedTo`  | `>= deliveredBeforeMs`    | –           | was waiting: back in the wheel        |
    /// | `>= enqueuedTo` | any                       | –           | never read in: into the wheel         |
    ///
    /// `queue_end` is the queue's end after recovery; the wheel reads on
    /// from there, even when the checkpoint's `enqueuedTo` is further (a
    /// log tail lost under `ASYNC_FLUSH`, a slave's copied checkpoint
    /// ahead of its log): new entries at the reused offsets are read in.
    pub fn rebuild(
        checkpoint: &TimerCheckpoint,
        entries: impl Iterator<Item = (u64, CommitLogOffset, i64)>,
        queue_end: u64,
    ) -> TimerWheel {
        let late: std::collections::HashSet<u64> = checkpoint.late.iter().copied().collect();
        let mut wheel = TimerWheel {
            watermark_ms: checkpoint.delivered_before_ms,
            ..TimerWheel::default()
        };
        let mut first = true;
        for (queue_offset, offset, deliver_ms) in entries {
            if first {
                wheel.enqueued_to = queue_offset;
                first = false;
            }
            assert_eq!(
                queue_offset, wheel.enqueued_to,
                "timer queue entries in order"
            );
            if queue_offset < checkpoint.enqueued_to
                && deliver_ms < checkpoint.delivered_before_ms
                && !late.contains(&queue_offset)
            {
                wheel.enqueued_to += 1;
                continue;
            }
            wheel.insert(queue_offset, offset, deliver_ms);
        }
        if first || queue_end > wheel.enqueued_to {
            wheel.enqueued_to = queue_end;
        }
        wheel
    }

    /// The next timer-queue offset to read into the wheel.
    pub fn enqueued_to(&self) -> u64 {
        self.enqueued_to
    }

    /// Skips entries retention removed before they were read.
    pub fn skip_to(&mut self, queue_offset: u64) {
        self.enqueued_to = self.enqueued_to.max(queue_offset);
    }

    /// Reads on from `queue_end` when the queue ends before where the
    /// wheel would read (see [`TimerWheel::rebuild`]).
    pub fn rewind_to(&mut self, queue_end: u64) {
        self.enqueued_to = self.enqueued_to.min(queue_end);
    }

    /// Drops the first `n` offsets of a slot: written and acknowledged, so
    /// a retry after a failed batch resumes after them.
    pub fn ack_prefix(&mut self, slot: i64, n: usize) {
        if let Some(offsets) = self.slots.get_mut(&slot) {
            let n = n.min(offsets.len());
            offsets.drain(..n);
            self.pending -= n as u64;
        }
    }

    /// Adds the entry at `queue_offset`, the next one in order. Returns
    /// whether it made the first slot earlier (the delivery task should
    /// wake).
    pub fn insert(&mut self, queue_offset: u64, offset: CommitLogOffset, deliver_ms: i64) -> bool {
        assert_eq!(
            queue_offset, self.enqueued_to,
            "timer entries are read in order"
        );
        self.enqueued_to += 1;
        let slot = slot_of(deliver_ms);
        if slot_end_ms(slot) <= self.watermark_ms || self.writing.is_some_and(|w| slot < w) {
            self.late.entry(slot).or_default().push(queue_offset);
            self.late_count += 1;
        }
        let earlier = self.slots.keys().next().is_none_or(|first| slot < *first);
        self.slots.entry(slot).or_default().push(offset);
        self.pending += 1;
        earlier
    }

    /// Timers in the wheel.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// When the first slot's messages may go: the end of its slot.
    pub fn next_due_ms(&self) -> Option<i64> {
        self.slots.keys().next().map(|slot| slot_end_ms(*slot))
    }

    /// The first slot, if it is due at `now_ms`.
    pub fn first_due(&self, now_ms: i64) -> Option<i64> {
        let slot = *self.slots.keys().next()?;
        (slot_end_ms(slot) <= now_ms).then_some(slot)
    }

    /// Marks a due slot as being written. Until it is finished, an entry
    /// read into an earlier slot counts as late: this slot's end becomes
    /// the watermark when it finishes.
    pub fn begin(&mut self, slot: i64) {
        assert!(self.slots.contains_key(&slot), "slot {slot} waits");
        self.writing = Some(slot);
    }

    /// Up to `max` offsets of a slot from index `from`.
    pub fn chunk(&self, slot: i64, from: usize, max: usize) -> Vec<CommitLogOffset> {
        let Some(offsets) = self.slots.get(&slot) else {
            return Vec::new();
        };
        let end = offsets.len().min(from.saturating_add(max));
        offsets.get(from..end).unwrap_or_default().to_vec()
    }

    /// Whether a slot still waits (not yet finished).
    pub fn has_slot(&self, slot: i64) -> bool {
        self.slots.contains_key(&slot)
    }

    /// Drops a slot whose messages are all delivered and acknowledged.
    pub fn finish(&mut self, slot: i64) {
        if let Some(offsets) = self.slots.remove(&slot) {
            self.pending -= offsets.len() as u64;
        }
        if let Some(late) = self.late.remove(&slot) {
            self.late_count -= late.len();
        }
        self.watermark_ms = self.watermark_ms.max(slot_end_ms(slot));
        if self.writing == Some(slot) {
            self.writing = None;
        }
    }

    /// What a restart needs. With more late entries than
    /// `LATE_LISTED_MAX`, the watermark falls back to the first waiting
    /// slot's start instead of listing them: nothing is lost, more may be
    /// delivered twice after a crash.
    pub fn checkpoint(&self) -> TimerCheckpoint {
        if self.late_count > LATE_LISTED_MAX {
            let first = self
                .slots
                .keys()
                .next()
                .map_or(i64::MAX, |s| s.saturating_mul(TIMER_SLOT_MS));
            return TimerCheckpoint {
                enqueued_to: self.enqueued_to,
                delivered_before_ms: self.watermark_ms.min(first),
                late: Vec::new(),
            };
        }
        TimerCheckpoint {
            enqueued_to: self.enqueued_to,
            delivered_before_ms: self.watermark_ms,
            late: self.late.values().flatten().copied().collect(),
        }
    }
}

/// One shard's timers: the wheel, its checkpoint file and the tasks'
/// wake-ups. Lives on its shard.
pub struct Timers {
    path: PathBuf,
    wheel: RefCell<TimerWheel>,
    /// A slot earlier than the first appeared, or the wheel was empty.
    wake: VersionWaiters,
    saved: RefCell<TimerCheckpoint>,
    /// Slave: the master's checkpoint, as copied.
    copied: RefCell<Option<TimerCheckpoint>>,
    pub max_delay_ms: i64,
}

fn parse_checkpoint(bytes: &[u8]) -> Result<TimerCheckpoint, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

impl Timers {
    /// Loads the checkpoint and rebuilds the wheel from the shard's timer
    /// queue (in memory: no record is read).
    pub fn open(
        shard_root: &Path,
        store: &crate::shard::Store,
        max_delay_ms: i64,
    ) -> std::io::Result<Timers> {
        let path = shard_root.join("config").join("timerCheckpoint.json");
        let checkpoint = crate::topics::read_config_file(&path, parse_checkpoint)?
            .unwrap_or_else(TimerCheckpoint::default);
        // Streamed a chunk at a time: memory follows the timers waiting,
        // not the timer queue retention keeps.
        let mut from = QueueOffset(0);
        let mut chunk = Vec::new().into_iter();
        let entries = std::iter::from_fn(|| loop {
            if let Some(e) = chunk.next() {
                return Some(e);
            }
            let (start, got) = store.queue_entries(TIMER_TOPIC, QueueId(0), from, 64 * 1024);
            if got.is_empty() {
                return None;
            }
            from = QueueOffset(start.0 + got.len() as u64);
            chunk = got
                .iter()
                .enumerate()
                .map(|(i, e)| (start.0 + i as u64, e.commit_log_offset, e.tags_code))
                .collect::<Vec<_>>()
                .into_iter();
        });
        let queue_end = store.max_queue_offset(TIMER_TOPIC, QueueId(0)).0;
        let wheel = TimerWheel::rebuild(&checkpoint, entries, queue_end);
        if checkpoint.enqueued_to > queue_end {
            // The queue lost a tail its checkpoint had read: save the
            // corrected one before new sends reuse those offsets, or a
            // crash before the next save would skip them.
            tracing::warn!(
                shard_root = %shard_root.display(),
                checkpoint = checkpoint.enqueued_to,
                queue_end,
                "timer checkpoint past the queue's end; corrected"
            );
            let bytes = serde_json::to_vec(&wheel.checkpoint()).expect("checkpoint serializes");
            crate::topics::write_durably(&path, &bytes)?;
        }
        if wheel.pending() > 0 {
            tracing::info!(
                shard_root = %shard_root.display(),
                pending = wheel.pending(),
                "timer messages waiting"
            );
        }
        let saved = wheel.checkpoint();
        Ok(Timers {
            path,
            wheel: RefCell::new(wheel),
            wake: VersionWaiters::default(),
            saved: RefCell::new(saved),
            copied: RefCell::new(None),
            max_delay_ms,
        })
    }

    /// Timers held or not yet read in, for flow control.
    pub fn backlog(&self, store: &crate::shard::Store) -> u64 {
        let wheel = self.wheel.borrow();
        let unread = store
            .max_queue_offset(TIMER_TOPIC, QueueId(0))
            .0
            .saturating_sub(wheel.enqueued_to());
        wheel.pending() + unread
    }

    /// The checkpoint as the metadata sync serves it (`GET_TIMER_CHECK_POINT`).
    pub fn checkpoint_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.current_checkpoint()).expect("checkpoint serializes")
    }

    /// A slave keeps its master's checkpoint, to take over with.
    pub fn replace_from_master(&self, body: &[u8]) -> Result<bool, String> {
        let checkpoint = parse_checkpoint(body)?;
        if self.copied.borrow().as_ref() == Some(&checkpoint) {
            return Ok(false);
        }
        *self.copied.borrow_mut() = Some(checkpoint);
        Ok(true)
    }

    /// The master's copy on a slave, else this wheel's.
    fn current_checkpoint(&self) -> TimerCheckpoint {
        match &*self.copied.borrow() {
            Some(c) => c.clone(),
            None => self.wheel.borrow().checkpoint(),
        }
    }

    async fn persist_if_changed(&self) {
        let checkpoint = self.current_checkpoint();
        if checkpoint == *self.saved.borrow() {
            return;
        }
        let bytes = serde_json::to_vec(&checkpoint).expect("checkpoint serializes");
        match crate::offsets::write_durably_async(&self.path, bytes).await {
            Ok(()) => *self.saved.borrow_mut() = checkpoint,
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "saving the timer checkpoint failed; retrying");
            }
        }
    }
}

/// Reads new timer-queue entries into the wheel until the shard stops.
pub async fn run_enqueue(shard: Rc<Shard>, stopping: Rc<Stopping>) {
    let timers = &shard.timers;
    while !stopping.is_stopped() {
        // Looked up each round: a deleted topic's signals are replaced.
        let signal = shard.signals.get(TIMER_TOPIC, 0);
        let seen = signal.generation();
        let end = shard.store.max_queue_offset(TIMER_TOPIC, QueueId(0)).0;
        timers.wheel.borrow_mut().rewind_to(end);
        let from = timers.wheel.borrow().enqueued_to();
        let (start, entries) = shard.store.queue_entries(
            TIMER_TOPIC,
            QueueId(0),
            QueueOffset(from),
            ENQUEUE_BATCH_MAX,
        );
        if start.0 != from {
            tracing::warn!(
                shard = %shard.id,
                from,
                to = start.0,
                "timer messages removed by retention before delivery"
            );
            timers.wheel.borrow_mut().skip_to(start.0);
        }
        if entries.is_empty() {
            stopping.unless_stopped(signal.wait_past(seen)).await;
            continue;
        }
        let mut wake = false;
        {
            let mut wheel = timers.wheel.borrow_mut();
            for (i, e) in entries.iter().enumerate() {
                wake |= wheel.insert(start.0 + i as u64, e.commit_log_offset, e.tags_code);
            }
        }
        if wake {
            timers.wake.poke();
        }
    }
}

/// Delivers due slots until the shard stops.
pub async fn run_delivery(shard: Rc<Shard>, stopping: Rc<Stopping>) {
    let timers = &shard.timers;
    while !stopping.is_stopped() {
        let next = timers.wheel.borrow().next_due_ms();
        let now = now_ms();
        match next {
            None => {
                stopping.unless_stopped(timers.wake.changed()).await;
            }
            Some(due) if due > now => {
                let sleep = glommio::timer::sleep(Duration::from_millis((due - now) as u64));
                stopping
                    .unless_stopped(futures_lite::future::or(sleep, timers.wake.changed()))
                    .await;
            }
            Some(_) => {
                if let Err(e) = deliver_first_slot(&shard).await {
                    tracing::error!(shard = %shard.id, error = %e, "delivering timer messages failed; retrying");
                    stopping
                        .unless_stopped(glommio::timer::sleep(Duration::from_millis(
                            DELIVERY_RETRY_MS,
                        )))
                        .await;
                }
            }
        }
    }
}

/// Writes the first (due) slot's messages in batches; the slot leaves
/// the wheel once all are acknowledged. Entries added to the slot while it
/// is written go too.
async fn deliver_first_slot(shard: &Shard) -> Result<(), StoreError> {
    let timers = &shard.timers;
    let Some(slot) = timers.wheel.borrow().first_due(now_ms()) else {
        return Ok(());
    };
    timers.wheel.borrow_mut().begin(slot);
    loop {
        let offsets = timers.wheel.borrow().chunk(slot, 0, DELIVERY_BATCH_MAX);
        if offsets.is_empty() {
            timers.wheel.borrow_mut().finish(slot);
            return Ok(());
        }
        let mut records = Vec::with_capacity(offsets.len());
        for (offset, record) in offsets.iter().zip(read_records(shard, &offsets).await) {
            match record {
                Ok(bytes) => records.push(bytes),
                Err(StoreError::NoRecordAt { detail, .. }) => {
                    tracing::error!(
                        shard = %shard.id,
                        offset = offset.0,
                        detail,
                        "timer message unreadable; skipped"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let n = deliver_to_real_queues(shard, "timer", records.iter().map(Vec::as_slice)).await?;
        ShardStats::add(&shard.my_stats().timer_delivered, n as u64);
        timers.wheel.borrow_mut().ack_prefix(slot, offsets.len());
    }
}

/// Writes the checkpoint within `CHECKPOINT_INTERVAL_MS` of a change
/// until `stop`; the shard's stop writes the last one after its tasks end.
pub async fn run_checkpointer(timers: Rc<Timers>, stop: Rc<Cell<bool>>) {
    while !stop.get() {
        timers.persist_if_changed().await;
        glommio::timer::sleep(Duration::from_millis(CHECKPOINT_INTERVAL_MS)).await;
    }
}

impl Timers {
    /// The last checkpoint write, at the shard's stop.
    pub async fn persist_at_stop(&self) {
        self.persist_if_changed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_properties_parse_and_bound() {
        let now = 1_000_000;
        let max = 3_600_000;
        let p = |k: &str, v: &str| format!("TAGS\u{1}a\u{2}{k}\u{1}{v}\u{2}");
        assert_eq!(deliver_ms_of("TAGS\u{1}a\u{2}", now, max), Ok(None));
        assert_eq!(
            deliver_ms_of(&p("TIMER_DELIVER_MS", "1005000"), now, max),
            Ok(Some(1_005_000))
        );
        assert_eq!(
            deliver_ms_of(&p("TIMER_DELAY_SEC", "5"), now, max),
            Ok(Some(1_005_000))
        );
        assert_eq!(
            deliver_ms_of(&p("TIMER_DELAY_MS", "250"), now, max),
            Ok(Some(1_000_250))
        );
        assert_eq!(
            deliver_ms_of(&p("TIMER_DELIVER_MS", "5"), now, max),
            Ok(Some(5)),
            "past: due now"
        );
        assert!(deliver_ms_of(&p("TIMER_DELAY_SEC", "3601"), now, max).is_err());
        assert!(deliver_ms_of(&p("TIMER_DELAY_MS", "soon"), now, max).is_err());
        assert!(deliver_ms_of(&p("TIMER_DELAY_SEC", &i64::MAX.to_string()), now, max).is_err());
    }

    #[test]
    fn wheel_delivers_slots_in_time_order_never_early() {
        let mut w = TimerWheel::default();
        assert!(w.insert(0, CommitLogOffset(10), 1_250));
        assert!(!w.insert(1, CommitLogOffset(20), 1_299));
        assert!(w.insert(2, CommitLogOffset(30), 900));
        assert_eq!(w.next_due_ms(), Some(1_000));
        assert_eq!(w.first_due(999), None);
        assert_eq!(w.first_due(1_000), Some(9));
        assert_eq!(w.chunk(9, 0, 10), vec![CommitLogOffset(30)]);
        w.finish(9);
        let checkpoint = |e, d, late: Vec<u64>| TimerCheckpoint {
            enqueued_to: e,
            delivered_before_ms: d,
            late,
        };
        assert_eq!(w.checkpoint(), checkpoint(3, 1_000, vec![]));
        // Read in after its slot went: listed until it is delivered.
        assert!(w.insert(3, CommitLogOffset(40), 950));
        assert_eq!(w.checkpoint(), checkpoint(4, 1_000, vec![3]));
        assert_eq!(w.first_due(1_299), Some(9));
        assert_eq!(w.chunk(9, 0, 10), vec![CommitLogOffset(40)]);
        w.finish(9);
        assert_eq!(w.first_due(1_299), None, "1 299 is inside the next slot");
        w.begin(12);
        assert_eq!(w.chunk(12, 0, 1), vec![CommitLogOffset(10)]);
        w.ack_prefix(12, 1);
        // Read in for an earlier slot while slot 12 is written: late.
        w.insert(4, CommitLogOffset(50), 1_150);
        assert_eq!(w.chunk(12, 0, 10), vec![CommitLogOffset(20)]);
        w.ack_prefix(12, 1);
        w.finish(12);
        assert_eq!(w.checkpoint(), checkpoint(5, 1_300, vec![4]));
        w.finish(11);
        assert_eq!(w.pending(), 0);
        assert_eq!(w.checkpoint(), checkpoint(5, 1_300, vec![]));
    }
}

/// Model-based test of the wheel's durability rules: random sends (some
/// due in the past), reads into the wheel, clock steps, partial and whole
/// slot deliveries, checkpoints, crashes (the wheel rebuilt from the last
/// checkpoint and the durable timer queue) and crashes that also lose the
/// queue's unacknowledged tail (`ASYNC_FLUSH` power loss: the checkpoint
/// may then be ahead of the queue, whose offsets new sends reuse). After
/// every step: nothing is delivered before its time; a message is
/// delivered again only after a crash that followed its delivery and
/// preceded the checkpoint that would have covered it; at the end every
/// message still in the queue has been delivered, and exactly once in runs
/// without a crash.
#[cfg(test)]
mod model {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Send { delay_ms: i64 },
        Enqueue { n: usize },
        Advance { ms: i64 },
        DeliverChunk { max: usize },
        Checkpoint,
        Crash,
        LoseTail { n: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (-500i64..3_000).prop_map(|delay_ms| Op::Send { delay_ms }),
            3 => (1usize..8).prop_map(|n| Op::Enqueue { n }),
            3 => (0i64..700).prop_map(|ms| Op::Advance { ms }),
            4 => (1usize..4).prop_map(|max| Op::DeliverChunk { max }),
            2 => Just(Op::Checkpoint),
            1 => Just(Op::Crash),
            1 => (1usize..4).prop_map(|n| Op::LoseTail { n }),
        ]
    }

    /// Messages are named by id (their commit-log offset here); queue
    /// offsets may be reused after a lost tail.
    struct Model {
        now: i64,
        /// The durable timer queue: message ids by queue offset.
        queue: Vec<u64>,
        due_at: HashMap<u64, i64>,
        next_id: u64,
        wheel: TimerWheel,
        saved: TimerCheckpoint,
        /// The slot being written.
        writing: Option<i64>,
        /// The slot each delivered message went out with.
        slot_of: HashMap<u64, i64>,
        deliveries: HashMap<u64, u32>,
        /// Delivered, and not yet covered by a checkpoint.
        uncovered: HashSet<u64>,
        /// May be delivered once more (a crash lost their coverage).
        may_repeat: HashSet<u64>,
        crashed: bool,
    }

    impl Model {
        fn deliver(&mut self, id: CommitLogOffset) {
            let at = self.due_at[&id.0];
            assert!(
                at <= self.now,
                "message {} due {at} delivered early at {}",
                id.0,
                self.now
            );
            let n = self.deliveries.entry(id.0).or_default();
            if *n > 0 {
                assert!(
                    self.may_repeat.remove(&id.0),
                    "message {} delivered again without a crash to explain it",
                    id.0
                );
            }
            *n += 1;
            self.uncovered.insert(id.0);
        }

        fn enqueue_one(&mut self) -> bool {
            let next = self.wheel.enqueued_to();
            let Some(id) = self.queue.get(next as usize).copied() else {
                return false;
            };
            self.wheel
                .insert(next, CommitLogOffset(id), self.due_at[&id]);
            true
        }

        fn deliver_chunk(&mut self, max: usize) {
            let slot = match self.writing {
                Some(slot) => slot,
                None => match self.wheel.first_due(self.now) {
                    Some(slot) => {
                        self.wheel.begin(slot);
                        slot
                    }
                    None => return,
                },
            };
            let ids = self.wheel.chunk(slot, 0, max);
            if ids.is_empty() {
                self.wheel.finish(slot);
                self.writing = None;
                return;
            }
            for id in &ids {
                self.deliver(*id);
                self.slot_of.insert(id.0, slot);
            }
            self.wheel.ack_prefix(slot, ids.len());
            self.writing = Some(slot);
        }

        fn checkpoint(&mut self) {
            self.saved = self.wheel.checkpoint();
            // A partly written slot is still in the wheel: its delivered
            // messages come back after a crash.
            let (wheel, slot_of) = (&self.wheel, &self.slot_of);
            self.uncovered.retain(|id| wheel.has_slot(slot_of[id]));
        }

        fn crash(&mut self) {
            self.crashed = true;
            self.may_repeat.extend(self.uncovered.drain());
            self.writing = None;
            let entries = self
                .queue
                .iter()
                .enumerate()
                .map(|(i, id)| (i as u64, CommitLogOffset(*id), self.due_at[id]));
            self.wheel = TimerWheel::rebuild(&self.saved, entries, self.queue.len() as u64);
            // Timers::open saves a checkpoint that was ahead of the queue
            // before serving.
            if self.saved.enqueued_to > self.queue.len() as u64 {
                self.checkpoint();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn timers_are_never_early_never_lost_and_repeat_only_after_a_crash(
            ops in proptest::collection::vec(op(), 1..120)
        ) {
            let mut m = Model {
                now: 10_000,
                queue: Vec::new(),
                due_at: HashMap::new(),
                next_id: 0,
                wheel: TimerWheel::default(),
                saved: TimerCheckpoint::default(),
                writing: None,
                slot_of: HashMap::new(),
                deliveries: HashMap::new(),
                uncovered: HashSet::new(),
                may_repeat: HashSet::new(),
                crashed: false,
            };
            for op in &ops {
                match *op {
                    Op::Send { delay_ms } => {
                        let id = m.next_id;
                        m.next_id += 1;
                        m.due_at.insert(id, m.now + delay_ms);
                        m.queue.push(id);
                    }
                    Op::Enqueue { n } => {
                        for _ in 0..n {
                            if !m.enqueue_one() {
                                break;
                            }
                        }
                    }
                    Op::Advance { ms } => m.now += ms,
                    Op::DeliverChunk { max } => m.deliver_chunk(max),
                    Op::Checkpoint => m.checkpoint(),
                    Op::Crash => m.crash(),
                    Op::LoseTail { n } => {
                        // Unacknowledged sends vanish: they never counted.
                        let keep = m.queue.len().saturating_sub(n);
                        m.queue.truncate(keep);
                        m.crash();
                    }
                }
                prop_assert!(m.wheel.pending() <= m.queue.len() as u64);
            }
            // Drain: read everything in, let every slot fall due, deliver.
            while m.enqueue_one() {}
            m.now += 10_000;
            while m.wheel.next_due_ms().is_some() {
                m.deliver_chunk(8);
            }
            for id in &m.queue {
                let n = m.deliveries.get(id).copied().unwrap_or(0);
                prop_assert!(n >= 1, "message {} never delivered", id);
                if !m.crashed {
                    prop_assert_eq!(n, 1, "message {} delivered {} times without a crash", id, n);
                }
            }
        }
    }
}
