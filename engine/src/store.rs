//! `ShardStore`: one shard's storage: commit log, consume queues, key index,
//! checkpoint, flush and retention, behind one handle.
//!
//! Lives on its shard's executor and is not `Send`; other shards reach it
//! only through the broker's cross-shard messages. Every method takes
//! `&self`: state sits in `RefCell`s that are never borrowed across an
//! `.await`, so many connection tasks of the shard can append and read at
//! once.
//!
//! Acknowledgement: [`ShardStore::append`] assigns offsets and encodes into the
//! write buffer; [`ShardStore::wait_acked`] then waits for `written`
//! (`ASYNC_FLUSH`) or `durable` (`SYNC_FLUSH`). A waiter that finds a write
//! may go out issues it for everyone whose bytes are in the buffer, and the
//! first that finds no flush running performs it (group commit: every waiter
//! covered by one write or fdatasync is released by it). Under direct I/O
//! several writes may be in flight ([`crate::commit_log::CommitLog::write_next`]).
//! Consumers see a record only once it is acknowledgeable (the confirm
//! offset).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::commit_log::{Blocked, CommitLog, FileRange};
use crate::config::{FlushMode, StoreConfig};
use crate::consume_queue::{ConsumeQueues, CqEntry};
use crate::disk::Disk;
use crate::dispatch::{dispatch_to_queue, record_has_key};
use crate::error::{Result, StoreError};
use crate::flush_gate::FlushGate;
use crate::ids::{CommitLogOffset, QueueOffset};
use crate::key_index::{key_hash, KeyIndex};
use crate::record::{
    encode_record, read_head, read_store_timestamp, record_size, takes_queue_offset, Assigned,
    Head, IllegalMessage, MessageIn, RecordView, BLANK_SIZE_BYTES,
};
use crate::waiters::PositionWaiters;

/// Where one appended message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedRecord {
    pub physical_offset: CommitLogOffset,
    pub size_bytes: u32,
    pub queue_offset: QueueOffset,
    pub store_timestamp_ms: i64,
}

impl AppendedRecord {
    pub fn end(&self) -> CommitLogOffset {
        self.physical_offset.plus(self.size_bytes as u64)
    }
}

/// One consume-queue entry, as [`ShardStore::queue_entries`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub commit_log_offset: CommitLogOffset,
    /// The tag hash, or for the timer topic the delivery time
    /// ([`crate::dispatch::tags_code`]).
    pub tags_code: i64,
    /// Size of the record in the log.
    pub size_bytes: u32,
}

/// `GetMessageStatus`, as the broker maps it to pull response codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    Found,
    /// Entries were there but none passed the filter.
    NoMatchedMessage,
    /// The queue does not exist or holds nothing.
    NoMessageInQueue,
    OffsetTooSmall,
    /// Offset equals the max: nothing new yet (long-poll candidate).
    OffsetOverflowOne,
    OffsetOverflowBadly,
}

pub struct QueueRead<F> {
    pub status: ReadStatus,
    pub next_offset: QueueOffset,
    pub min_offset: QueueOffset,
    pub max_offset: QueueOffset,
    /// Record bytes to send, coalesced where records are adjacent in a
    /// segment.
    pub ranges: Vec<FileRange<F>>,
    pub message_count: u32,
    pub bytes: u64,
    /// Commit-log offset of the last message returned (how far behind the
    /// log's end this read is: cold or hot data).
    pub last_physical_offset: Option<u64>,
    /// Direct I/O only: record bytes in the log's last partial block, from
    /// memory; they follow the ranges.
    pub memory_tail: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBoundary {
    /// First entry stored at or after the time.
    Lower,
    /// Last entry stored at or before the time.
    Upper,
}

/// What one retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_deleted: u32,
    pub disk_used_percent: u64,
    pub disk_full: bool,
}

pub type Clock = Rc<dyn Fn() -> i64>;

pub fn system_clock() -> Clock {
    Rc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// Record bytes sized for reading a store timestamp (IPv6 born host).
const TIMESTAMP_PREFIX_BYTES: usize = 80;
/// Upper bound on records returned by one key query.
pub const QUERY_RESULTS_MAX: usize = 64;

pub struct ShardStore<D: Disk> {
    pub(crate) disk: D,
    pub(crate) config: StoreConfig,
    pub(crate) log: CommitLog<D>,
    pub(crate) queues: RefCell<ConsumeQueues>,
    pub(crate) index: RefCell<KeyIndex>,
    pub(crate) checkpoint_sequence: Cell<u64>,
    pub(crate) clock: Clock,
    flusher: Role,
    /// Held around [`CommitLog::flush`], which two tasks must not run at
    /// once: the flusher's, and a write at a segment roll
    /// ([`CommitLog::roll_waits_for_flush`]), which may run inside the
    /// flusher's turn.
    syncer: Role,
    preparer: Role,
    pub(crate) replica: RefCell<crate::replica::ReplicaTail>,
    /// Bytes of queue reads answered from the log's memory (its hot window
    /// and last partial block, direct I/O only) and from segment files
    /// (page cache or disk), for metrics.
    read_bytes_memory: Cell<u64>,
    read_bytes_file: Cell<u64>,
    /// Direct I/O: the log range last handed to the kernel to read ahead
    /// (`ShardStore::read_ahead`).
    read_ahead: Cell<(u64, u64)>,
}

/// Direct I/O: how far past a read from a segment file the kernel is asked
/// to read ahead (the kernel's own readahead is off on segment files; see
/// `ShardStore::read_ahead`).
pub const READ_AHEAD_BYTES: u64 = 4 << 20;

/// Zeros the background task writes into the next segment per call (its
/// tick is 10 ms, so up to 800 MB/s), which also bounds how long an append
/// that needs the segment waits for the call to end.
pub const PREWRITE_TICK_BYTES: usize = 8 << 20;

/// A job one task at a time does for the store: flushing, preparing a
/// segment. Tasks that find it taken wait for the holder to
/// finish and look again (its work may not cover theirs).
#[derive(Default)]
struct Role {
    held: Cell<bool>,
    /// Counts finished turns.
    turns: PositionWaiters,
}

/// A held [`Role`]. Dropping it frees the role and wakes its waiters, also
/// when the holder is cancelled at an await, so a dropped caller can never
/// leave the role held and the shard stalled.
struct Turn<'a>(&'a Role);

impl Role {
    fn try_take(&self) -> Option<Turn<'_>> {
        if self.held.replace(true) {
            None
        } else {
            Some(Turn(self))
        }
    }

    /// Waits for the current holder's turn to end.
    async fn turn_ended(&self) {
        self.turns.next_bump().await;
    }

    async fn take(&self) -> Turn<'_> {
        loop {
            if let Some(turn) = self.try_take() {
                return turn;
            }
            self.turn_ended().await;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.held.set(false);
        self.0.turns.bump();
    }
}

fn validate_topic(topic: &str) -> Result<(), IllegalMessage> {
    // RocketMQ's topic charset; it also keeps topic names safe as directory
    // names under consumequeue/.
    // An empty topic is left to `record_size`, which reports its length.
    if topic.is_empty() || crate::record::is_topic_name(topic) {
        Ok(())
    } else {
        Err(IllegalMessage::TopicCharacters {
            topic: topic.chars().take(64).collect(),
        })
    }
}

impl<D: Disk> ShardStore<D> {
    pub(crate) fn assemble(
        disk: D,
        config: StoreConfig,
        log: CommitLog<D>,
        queues: ConsumeQueues,
        index: KeyIndex,
        checkpoint_sequence: u64,
        clock: Clock,
    ) -> ShardStore<D> {
        ShardStore {
            disk,
            config,
            log,
            queues: RefCell::new(queues),
            index: RefCell::new(index),
            checkpoint_sequence: Cell::new(checkpoint_sequence),
            clock,
            flusher: Role::default(),
            syncer: Role::default(),
            preparer: Role::default(),
            replica: RefCell::default(),
            read_bytes_memory: Cell::new(0),
            read_bytes_file: Cell::new(0),
            read_ahead: Cell::new((0, 0)),
        }
    }

    /// Opens (and recovers) the store in `config.root`.
    pub async fn open(
        disk: D,
        config: StoreConfig,
        gate: FlushGate,
        clock: Clock,
    ) -> Result<ShardStore<D>> {
        crate::recovery::open(disk, config, gate, clock).await
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn flush_mode(&self) -> FlushMode {
        self.config.flush_mode
    }

    /// Appends one message. Does not wait for it to be written; see
    /// [`ShardStore::wait_acked`]. Cancelling before it returns appends
    /// nothing; after, the message is in the log.
    pub async fn append(&self, msg: &MessageIn<'_>) -> Result<AppendedRecord> {
        let mut result = None;
        self.append_batch_with(std::slice::from_ref(msg), &mut |r| result = Some(r))
            .await?;
        Ok(result.expect("one record appended"))
    }

    /// Appends a batch as contiguous records in one segment (one write),
    /// with consecutive queue offsets per queue. `out` receives each record's
    /// placement in order; callers reuse it across calls.
    pub async fn append_batch(
        &self,
        msgs: &[MessageIn<'_>],
        out: &mut Vec<AppendedRecord>,
    ) -> Result<CommitLogOffset> {
        out.clear();
        self.append_batch_with(msgs, &mut |r| out.push(r)).await
    }

    async fn append_batch_with(
        &self,
        msgs: &[MessageIn<'_>],
        on_record: &mut dyn FnMut(AppendedRecord),
    ) -> Result<CommitLogOffset> {
        let mut total = 0usize;
        for msg in msgs {
            validate_topic(msg.topic)?;
            total += record_size(msg)?;
        }
        if total as u64 + BLANK_SIZE_BYTES as u64 > self.log.segment_size_bytes() {
            return Err(IllegalMessage::LargerThanSegment {
                size_bytes: total,
                segment_size_bytes: self.log.segment_size_bytes(),
            }
            .into());
        }
        if msgs.is_empty() {
            return Ok(CommitLogOffset(self.log.appended()));
        }
        loop {
            let store_ts = self.log.next_store_timestamp((self.clock)());
            let attempt = self.log.append_with(total, |buf, start| {
                let mut queues = self.queues.borrow_mut();
                let mut index = self.index.borrow_mut();
                let mut pos = start;
                for msg in msgs {
                    let size = record_size(msg).expect("validated above");
                    let queue = takes_queue_offset(msg.sys_flag)
                        .then(|| queues.get_or_create(msg.topic, msg.queue_id));
                    let queue_offset = queue.as_ref().map_or(QueueOffset::ZERO, |q| q.max_offset());
                    let at = Assigned {
                        queue_offset: queue_offset.0,
                        physical_offset: pos,
                        store_timestamp_ms: store_ts,
                    };
                    let view = encode_record(msg, size, at, buf);
                    let index = self.config.index_enable.then_some(&mut *index);
                    dispatch_to_queue(&view, queue, index);
                    on_record(AppendedRecord {
                        physical_offset: CommitLogOffset(pos),
                        size_bytes: size as u32,
                        queue_offset,
                        store_timestamp_ms: store_ts,
                    });
                    pos += size as u64;
                }
            })?;
            match attempt {
                Ok(start) => return Ok(CommitLogOffset(start + total as u64)),
                Err(Blocked::NeedSegment(base)) => self.prepare_segment(base).await?,
                Err(Blocked::BufferFull) => self.make_room().await?,
            }
        }
    }

    pub(crate) async fn prepare_segment(&self, base: u64) -> Result<()> {
        let _turn = self.preparer.take().await;
        if self.log.has_segment(base) {
            return Ok(());
        }
        self.log.prepare_segment(base).await
    }

    /// Prepares the segment after the active one ahead of need, so the
    /// append that crosses into it does not wait. With zero-fill, the fill
    /// is paced by the active segment's use ([`CommitLog::fill_ahead`]),
    /// [`PREWRITE_TICK_BYTES`] per call; without, the file is created once
    /// the active segment is half used. Called by the background task.
    pub async fn prepare_ahead(&self) -> Result<()> {
        let seg = self.log.segment_size_bytes();
        let appended = self.log.appended();
        let next = self.log.segment_base(appended) + seg;
        if self.config.prewrite_segments {
            // In the preparer's turn, so the log never takes the segment
            // while a zero write into it is in flight.
            let _turn = self.preparer.take().await;
            return self.log.fill_ahead(PREWRITE_TICK_BYTES).await;
        }
        if appended % seg >= seg / 2 && !self.log.has_segment(next) {
            self.prepare_segment(next).await?;
        }
        Ok(())
    }

    /// Waits until everything up to `end` is written (to the page cache, or
    /// the disk under direct I/O), issuing writes while one may go out
    /// (several can be in flight under direct I/O).
    pub async fn ensure_written(&self, end: u64) -> Result<()> {
        while self.log.written() < end {
            self.write_step().await?;
        }
        Ok(())
    }

    /// The write buffer is full: returns once a write has taken its bytes
    /// (issued by this task, which then waits for it, or by another), or a
    /// write in flight has ended, so the caller can try again. It does not
    /// wait for the buffer's bytes to be written: under direct I/O the
    /// caller's append can go into the write after the one in flight.
    pub(crate) async fn make_room(&self) -> Result<()> {
        self.write_step().await
    }

    /// Issues the next write and waits for it, if one may go out now; else
    /// waits for a write in flight to end (the bytes are in flight, or wait
    /// for it before they may go out).
    async fn write_step(&self) -> Result<()> {
        if let Some(e) = self.log.poisoned() {
            return Err(e);
        }
        if self.log.roll_waits_for_flush() {
            let _sync = self.syncer.take().await;
            if self.log.roll_waits_for_flush() {
                self.log.flush().await?;
            }
            self.log.write_ends.bump();
            return Ok(());
        }
        if !self.log.can_issue() {
            self.log.write_ends.next_bump().await;
            return Ok(());
        }
        // Let the shard's other ready tasks append first: a write costs
        // the same ~150 us through io_uring whether it carries 32 KiB or
        // 256 KiB (measured here), so one write should carry them all.
        futures_lite::future::yield_now().await;
        // Another task may have issued it meanwhile: then this is a no-op.
        self.log.write_next().await?;
        Ok(())
    }

    /// Waits until everything up to `end` is durable, flushing if no other
    /// task is; a flush already running may not cover `end`, so after it the
    /// loop looks again. Under direct I/O with `SYNC_FLUSH` every write is
    /// durable (O_DSYNC), so writing is flushing.
    pub async fn ensure_durable(&self, end: u64) -> Result<()> {
        if self.log.writes_are_durable() {
            self.ensure_written(end).await?;
            assert!(
                self.log.durable() >= end,
                "a durable write left durable behind"
            );
            return Ok(());
        }
        loop {
            if self.log.durable() >= end {
                return Ok(());
            }
            if let Some(e) = self.log.poisoned() {
                return Err(e);
            }
            let Some(_turn) = self.flusher.try_take() else {
                self.flusher.turn_ended().await;
                continue;
            };
            self.ensure_written(self.log.appended()).await?;
            let _sync = self.syncer.take().await;
            self.log.flush().await?;
        }
    }

    /// Waits until the record ending at `end` may be acknowledged under the
    /// store's flush mode.
    pub async fn wait_acked(&self, end: CommitLogOffset) -> Result<()> {
        match self.config.flush_mode {
            FlushMode::Async => self.ensure_written(end.0).await,
            FlushMode::Sync => self.ensure_durable(end.0).await,
        }
    }

    /// Writes and fdatasyncs everything appended so far.
    pub async fn flush(&self) -> Result<()> {
        self.ensure_durable(self.log.appended()).await
    }

    /// Highest commit-log position consumers may see.
    pub fn confirm_offset(&self) -> u64 {
        match self.config.flush_mode {
            FlushMode::Async => self.log.written(),
            FlushMode::Sync => self.log.durable(),
        }
    }

    /// Waits until the confirm offset passes `position` (long polling).
    pub async fn wait_visible(&self, position: u64) -> bool {
        match self.config.flush_mode {
            FlushMode::Async => self.log.written_waiters.wait(position + 1).await,
            FlushMode::Sync => self.log.durable_waiters.wait(position + 1).await,
        }
    }

    /// Resolves once `written` reaches `position` (`false` if the log is
    /// poisoned first). Replication ships written bytes.
    pub fn wait_written(&self, position: u64) -> crate::waiters::WaitPosition<'_> {
        self.log.written_waiters.wait(position)
    }

    /// Raw commit-log bytes from `pos`: at most `max_len`, never past
    /// `written` or the end of `pos`'s segment (replication to a slave).
    pub async fn read_written(&self, pos: u64, max_len: usize) -> Result<Vec<u8>> {
        let available = self.log.written().saturating_sub(pos);
        if pos < self.log.min_offset() {
            return Err(StoreError::NoRecordAt {
                offset: pos,
                detail: format!("below the oldest segment held ({})", self.log.min_offset()),
            });
        }
        let len = (max_len as u64).min(available) as usize;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.log.read(pos, len).await
    }

    pub fn appended_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.log.appended())
    }
    pub fn written_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.log.written())
    }
    pub fn durable_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.log.durable())
    }
    pub fn min_commit_log_offset(&self) -> CommitLogOffset {
        CommitLogOffset(self.log.min_offset())
    }

    pub fn poisoned(&self) -> Option<StoreError> {
        self.log.poisoned()
    }

    /// Bytes of queue reads answered so far from the log's memory (hot
    /// window) and from segment files.
    pub fn read_bytes(&self) -> (u64, u64) {
        (self.read_bytes_memory.get(), self.read_bytes_file.get())
    }

    /// The commit log's flush-latency (seconds) and group-commit-size
    /// (bytes) histograms.
    pub fn durability_histograms(
        &self,
    ) -> (
        crate::histogram::HistogramSnapshot,
        crate::histogram::HistogramSnapshot,
    ) {
        self.log.durability_histograms()
    }

    /// Most commit-log writes that were in flight at once since the store
    /// was opened (direct I/O may have several).
    pub fn writes_in_flight_peak(&self) -> usize {
        self.log.writes_in_flight_peak()
    }

    /// Makes consume queues and index durable up to the durable commit-log
    /// position and records that in the checkpoint. `clean` marks a stop
    /// after which the log ends exactly there.
    pub async fn checkpoint(&self, clean: bool) -> Result<()> {
        let durable = match self.replica_boundary() {
            // On a slave, durable may fall inside a record: record the start
            // of the record not yet complete, once it is durable. Recovery
            // ends the log there and the master resends the rest.
            Some(boundary) => {
                self.ensure_durable(boundary).await?;
                boundary
            }
            None => self.log.durable(),
        };
        ConsumeQueues::persist(&self.queues, &self.disk, durable).await?;
        if self.config.index_enable {
            KeyIndex::persist(&self.index, &self.disk, durable).await?;
        }
        let sequence = self.checkpoint_sequence.get() + 1;
        let clean = clean && durable == self.log.appended();
        crate::checkpoint::Checkpoint {
            sequence,
            dispatched_offset: durable,
            last_store_timestamp_ms: self.log.last_store_timestamp_ms(),
            clean,
        }
        .store(&self.disk, &self.config.checkpoint_path())
        .await?;
        self.checkpoint_sequence.set(sequence);
        Ok(())
    }

    /// Clean stop: everything appended becomes durable, then the checkpoint
    /// records a clean end.
    /// Stops taking appends (they get [`StoreError::Closed`]), then flushes
    /// and checkpoints everything appended before, so no write is still in
    /// flight when the caller drops the store or its executor.
    pub async fn shutdown(&self) -> Result<()> {
        self.log.close();
        self.flush().await?;
        self.checkpoint(true).await
    }

    pub fn min_queue_offset(&self, topic: &str, queue_id: i32) -> QueueOffset {
        self.queues
            .borrow()
            .get(topic, queue_id)
            .map_or(QueueOffset::ZERO, |q| q.min_offset())
    }

    /// Exclusive max of what consumers may see.
    pub fn max_queue_offset(&self, topic: &str, queue_id: i32) -> QueueOffset {
        let confirm = self.confirm_offset();
        self.queues
            .borrow()
            .get(topic, queue_id)
            .map_or(QueueOffset::ZERO, |q| q.visible_max_offset(confirm))
    }

    /// Up to `max` entries of one queue visible to consumers, from `from`
    /// or, when retention has dropped it, from the queue's min offset;
    /// with the queue offset of the first one. For readers that need
    /// records one at a time or only their tag codes (the broker's delay
    /// and timer delivery) rather than file ranges.
    pub fn queue_entries(
        &self,
        topic: &str,
        queue_id: i32,
        from: QueueOffset,
        max: usize,
    ) -> (QueueOffset, Vec<QueueEntry>) {
        let confirm = self.confirm_offset();
        let queues = self.queues.borrow();
        let Some(q) = queues.get(topic, queue_id) else {
            return (from, Vec::new());
        };
        let start = from.max(q.min_offset());
        let visible = q.visible_max_offset(confirm).0.saturating_sub(start.0);
        let entries = q
            .iter_from(start)
            .take(max.min(usize::try_from(visible).unwrap_or(usize::MAX)))
            .map(|e| QueueEntry {
                commit_log_offset: CommitLogOffset(e.commit_log_offset),
                tags_code: e.tags_code,
                size_bytes: e.size_bytes,
            })
            .collect();
        (start, entries)
    }

    pub fn has_topic(&self, topic: &str) -> bool {
        self.queues.borrow().topics().any(|t| t == topic)
    }

    /// Topics that have at least one queue in this store.
    pub fn topics(&self) -> Vec<String> {
        self.queues.borrow().topics().map(str::to_string).collect()
    }

    /// Looks up messages of one queue from `offset`: at most `max_messages`
    /// and `max_bytes` (at least one message if any matches), skipping
    /// entries `accept` rejects by tag code. No I/O: the ranges point into
    /// the segment files.
    pub fn read_queue(
        &self,
        topic: &str,
        queue_id: i32,
        offset: QueueOffset,
        max_messages: u32,
        max_bytes: u64,
        accept: &dyn Fn(i64) -> bool,
    ) -> QueueRead<D::File> {
        let confirm = self.confirm_offset();
        let queues = self.queues.borrow();
        let Some(q) = queues.get(topic, queue_id) else {
            return QueueRead {
                status: ReadStatus::NoMessageInQueue,
                next_offset: QueueOffset::ZERO,
                min_offset: QueueOffset::ZERO,
                max_offset: QueueOffset::ZERO,
                ranges: Vec::new(),
                message_count: 0,
                bytes: 0,
                last_physical_offset: None,
                memory_tail: Vec::new(),
            };
        };
        let min = q.min_offset();
        let max = q.visible_max_offset(confirm);
        let mut read = QueueRead {
            status: ReadStatus::NoMatchedMessage,
            next_offset: offset,
            min_offset: min,
            max_offset: max,
            ranges: Vec::new(),
            message_count: 0,
            bytes: 0,
            last_physical_offset: None,
            memory_tail: Vec::new(),
        };
        if max == min {
            read.status = ReadStatus::NoMessageInQueue;
            read.next_offset = min;
            return read;
        }
        if offset < min {
            read.status = ReadStatus::OffsetTooSmall;
            read.next_offset = min;
            return read;
        }
        if offset == max {
            read.status = ReadStatus::OffsetOverflowOne;
            return read;
        }
        if offset > max {
            read.status = ReadStatus::OffsetOverflowBadly;
            read.next_offset = max;
            return read;
        }
        let memory_from = self.log.direct_memory_from();
        let mut last_end = None;
        let mut next = offset;
        for entry in q.iter_from(offset).take((max.0 - offset.0) as usize) {
            if read.message_count >= max_messages
                || (read.message_count > 0 && read.bytes + entry.size_bytes as u64 > max_bytes)
            {
                break;
            }
            next = next.next();
            if !accept(entry.tags_code) {
                continue;
            }
            if !self.push_range(
                &mut read.ranges,
                &mut read.memory_tail,
                &entry,
                memory_from,
                &mut last_end,
            ) {
                next = QueueOffset(next.0 - 1); // not returned: read it next time
                break;
            }
            read.last_physical_offset = Some(entry.commit_log_offset);
            read.message_count += 1;
            read.bytes += entry.size_bytes as u64;
        }
        read.next_offset = next;
        if read.message_count > 0 {
            read.status = ReadStatus::Found;
        }
        if let (Some(from), Some(end), Some(range)) = (memory_from, last_end, read.ranges.last()) {
            self.read_ahead(range, end, from);
        }
        read
    }

    /// Direct I/O turns the kernel's readahead off on segment files (it
    /// could cache a block that a later write rewrites), so a consumer
    /// reading behind the hot window read the file a page at a time: a
    /// cold backlog was consumed at 0.44 of buffered I/O's rate. This asks
    /// the kernel to read ahead of the read, up to [`READ_AHEAD_BYTES`],
    /// only whole blocks below `memory_from` (no write touches them again)
    /// and within the segment; once per half window a consumer moves.
    fn read_ahead(&self, range: &FileRange<D::File>, end: u64, memory_from: u64) {
        use crate::disk::DiskFile;
        let seg = self.log.segment_size_bytes();
        let until = (end + READ_AHEAD_BYTES)
            .min(crate::disk::align_down(memory_from))
            .min(self.log.segment_base(end) + seg);
        if until <= end {
            return;
        }
        let (from, to) = self.read_ahead.get();
        if end >= from && end + READ_AHEAD_BYTES / 2 <= to {
            return;
        }
        range
            .file
            .advise_willneed(range.file_pos + range.len as u64, until - end);
        self.read_ahead.set((end, until));
    }

    /// Adds an entry's bytes: file ranges, and under direct I/O the part
    /// the log holds in memory (its hot window and last partial block).
    /// False when they cannot be had: the caller stops there.
    #[inline]
    fn push_range(
        &self,
        ranges: &mut Vec<FileRange<D::File>>,
        memory: &mut Vec<u8>,
        entry: &CqEntry,
        memory_from: Option<u64>,
        last_end: &mut Option<u64>,
    ) -> bool {
        let start = entry.commit_log_offset;
        let end = start + entry.size_bytes as u64;
        let file_end = match memory_from {
            Some(from) if end > from => {
                if !self.log.copy_from_memory(start.max(from), end, memory) {
                    return false;
                }
                let hot = end - start.max(from);
                self.read_bytes_memory
                    .set(self.read_bytes_memory.get() + hot);
                from.max(start)
            }
            _ => end,
        };
        if file_end == start {
            return true;
        }
        if !memory.is_empty() && file_end == end {
            return false; // file bytes may not follow memory bytes
        }
        self.read_bytes_file
            .set(self.read_bytes_file.get() + (file_end - start));
        // Right after the last range, in the same segment (records never
        // span segments): extend it, the common case for a queue written
        // in batches.
        if *last_end == Some(start) && !start.is_multiple_of(self.log.segment_size_bytes()) {
            if let Some(last) = ranges.last_mut() {
                last.len += (file_end - start) as u32;
                *last_end = Some(file_end);
                return true;
            }
        }
        let Some(range) = self.log.file_range(start, (file_end - start) as u32) else {
            return true; // segment deleted by retention since the entry was read
        };
        ranges.push(range);
        *last_end = Some(file_end);
        true
    }

    /// Reads bytes of a [`FileRange`] (for callers without zero-copy, and
    /// tests).
    pub async fn read_range(&self, range: &FileRange<D::File>) -> Result<Vec<u8>> {
        use crate::disk::DiskFile;
        range
            .file
            .read_at(range.file_pos, range.len as usize)
            .await
            .map_err(|e| StoreError::io("read commit log", range.file.path(), e))
    }

    /// The whole record at a commit-log offset (view by id, send-back,
    /// transaction end). Refuses offsets not yet visible or not at a record.
    pub async fn read_record(&self, offset: CommitLogOffset) -> Result<Vec<u8>> {
        let not_at = |detail: String| StoreError::NoRecordAt {
            offset: offset.0,
            detail,
        };
        if offset.0 >= self.confirm_offset() || offset.0 < self.log.min_offset() {
            return Err(not_at("outside the readable log".into()));
        }
        let head = self.log.read(offset.0, BLANK_SIZE_BYTES).await?;
        let size = match read_head(&head) {
            Ok(Head::Record { size_bytes }) => size_bytes,
            other => return Err(not_at(format!("{other:?}"))),
        };
        let bytes = self.log.read(offset.0, size).await?;
        let view = RecordView::parse(&bytes).map_err(|e| not_at(e.to_string()))?;
        if view.physical_offset as u64 != offset.0 {
            return Err(not_at("offset is not the start of a record".into()));
        }
        Ok(bytes)
    }

    async fn store_timestamp_at(&self, offset: u64) -> Result<i64> {
        let bytes = self.log.read(offset, TIMESTAMP_PREFIX_BYTES).await?;
        read_store_timestamp(&bytes).ok_or_else(|| StoreError::NoRecordAt {
            offset,
            detail: "record too short for a store timestamp".into(),
        })
    }

    /// `SEARCH_OFFSET_BY_TIMESTAMP`: binary search over the queue, reading
    /// store timestamps from the log. Out-of-range times clamp to min/max.
    pub async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: i32,
        time_ms: i64,
        boundary: TimeBoundary,
    ) -> Result<QueueOffset> {
        let (min, max) = (
            self.min_queue_offset(topic, queue_id),
            self.max_queue_offset(topic, queue_id),
        );
        if min >= max {
            return Ok(min);
        }
        let entry_at = |o: u64| {
            self.queues
                .borrow()
                .get(topic, queue_id)
                .and_then(|q| q.get(QueueOffset(o)))
        };
        // Find the first offset whose time is > time_ms (Upper) or >= (Lower).
        let (mut lo, mut hi) = (min.0, max.0);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(entry) = entry_at(mid) else {
                break;
            };
            let ts = self.store_timestamp_at(entry.commit_log_offset).await?;
            let go_right = match boundary {
                TimeBoundary::Lower => ts < time_ms,
                TimeBoundary::Upper => ts <= time_ms,
            };
            if go_right {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let found = match boundary {
            TimeBoundary::Lower => lo.min(max.0),
            TimeBoundary::Upper => lo.saturating_sub(1).max(min.0),
        };
        Ok(QueueOffset(found))
    }

    /// `GET_EARLIEST_MSG_STORETIME`: store time of the queue's first message.
    pub async fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Result<Option<i64>> {
        let min = self.min_queue_offset(topic, queue_id);
        if min >= self.max_queue_offset(topic, queue_id) {
            return Ok(None);
        }
        let entry = self
            .queues
            .borrow()
            .get(topic, queue_id)
            .and_then(|q| q.get(min));
        match entry {
            Some(e) => Ok(Some(self.store_timestamp_at(e.commit_log_offset).await?)),
            None => Ok(None),
        }
    }

    /// `QUERY_MESSAGE`: records of `topic` whose `KEYS` or `UNIQ_KEY` equals
    /// `key`, stored within `[begin_ms, end_ms]`, newest first, at most
    /// `max` (capped at [`QUERY_RESULTS_MAX`]). Hash collisions are filtered
    /// out by re-reading each record.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Vec<u8>>> {
        let max = max.min(QUERY_RESULTS_MAX);
        let candidates = self.index.borrow().candidates(
            key_hash(topic, key),
            begin_ms,
            end_ms,
            self.confirm_offset(),
        );
        let mut found = Vec::new();
        for offset in candidates {
            if found.len() >= max || offset < self.log.min_offset() {
                break;
            }
            let bytes = self.read_record(CommitLogOffset(offset)).await?;
            let view = RecordView::parse(&bytes).map_err(|e| StoreError::NoRecordAt {
                offset,
                detail: e.to_string(),
            })?;
            if view.topic == topic && record_has_key(&view, key) {
                found.push(bytes);
            }
        }
        Ok(found)
    }

    /// Deletes segments past retention (oldest first, never the active
    /// one), and more when disk use passes the forced-clean watermark;
    /// refuses writes above the full watermark and accepts them again once
    /// below. Derived entries pointing into deleted segments go with them.
    pub async fn enforce_retention(&self) -> Result<RetentionReport> {
        let root = &self.config.root;
        let usage = || {
            self.disk
                .usage(root)
                .map_err(|e| StoreError::io("stat file system", root, e))
        };
        let mut report = RetentionReport::default();
        let now = (self.clock)();
        let active = self.log.segment_base(self.log.appended());
        for base in self.log.segment_bases() {
            if base >= active {
                break;
            }
            let seg_end = base + self.log.segment_size_bytes();
            // A segment was last written when the next record after it was
            // stored; read that record's time.
            let last_write_ms = match self.store_timestamp_at(seg_end).await {
                Ok(ts) if seg_end < self.log.written() => ts,
                _ => self.log.last_store_timestamp_ms(),
            };
            let expired = last_write_ms.saturating_add(self.config.retention_ms as i64) < now;
            let forced = usage()?.used_percent() >= self.config.disk_clean_forcibly_percent;
            if !(expired || forced) {
                break;
            }
            tracing::info!(
                shard = self.config.shard,
                base,
                expired,
                forced,
                "deleting commit-log segment"
            );
            self.log.remove_segment(base).await?;
            report.segments_deleted += 1;
        }
        if report.segments_deleted > 0 {
            let min = self.log.min_offset();
            ConsumeQueues::drop_below(&self.queues, &self.disk, min).await?;
            KeyIndex::drop_below(&self.index, &self.disk, min).await?;
        }
        let percent = usage()?.used_percent();
        report.disk_used_percent = percent;
        if percent >= self.config.disk_full_percent {
            self.log.set_disk_full(Some(format!(
                "disk {percent}% used, at or above disk_full_percent {}",
                self.config.disk_full_percent
            )));
        } else if self.log.is_disk_full() {
            self.log.set_disk_full(None);
        }
        report.disk_full = self.log.is_disk_full();
        Ok(report)
    }
}
