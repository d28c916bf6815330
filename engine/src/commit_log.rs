//! One shard's commit log: fixed-size segments named by their 20-digit start
//! offset, appended in arrival order.
//!
//! Lives on its shard (not `Send`); other shards never touch it. Three
//! positions describe it, and `appended >= written >= durable` is asserted on
//! every change:
//! * **appended**: records encoded into the in-memory write buffer, with
//!   offsets assigned;
//! * **written**: handed to the kernel (page cache); visible to readers, and
//!   acknowledged under `ASYNC_FLUSH`;
//! * **durable**: covered by an fdatasync; acknowledged under `SYNC_FLUSH`.
//!
//! Appending is synchronous (encode into the buffer); writer tasks move the
//! buffer to disk and flush, so every append that lands in the buffer
//! while a write or flush runs is covered by the next one (group commit). A
//! failed write or fdatasync poisons the log for good.
//!
//! Under direct I/O up to `StoreConfig::direct_io_writes_in_flight` writes
//! are in flight at once (see [`CommitLog::write_next`]). They may complete
//! in any order; `written` (and, with O_DSYNC, `durable`) only ever moves to
//! the end of the longest run of completed writes from the log's written
//! end, so nothing is acknowledged while an earlier byte may still be
//! missing. No two writes in flight touch one 4 KiB block: a write issued
//! while others may follow stops at its last whole block, and a write that
//! ends in a partial block (zero-padded) is followed by the next only once
//! it completes, since the next rewrites that block.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;

use crate::config::FlushMode;
use crate::config::StoreConfig;
use crate::disk::{align_down, is_disk_full, Disk, DiskFile, Durability, DIRECT_IO_ALIGN_BYTES};
use crate::error::{Result, StoreError};
use crate::flush_gate::{FlushGate, FlushPermit};
use crate::ids::{file_name_for_offset, offset_from_file_name};
use crate::record::{encode_blank, BLANK_SIZE_BYTES};
use crate::waiters::PositionWaiters;

/// Direct I/O: capacity of a write chunk's buffer (or the write buffer's
/// maximum, if smaller): a group commit's bytes fit without the buffer growing, which
/// would copy it. A chunk may still grow, up to the write buffer's
/// maximum.
const CHUNK_CAPACITY_BYTES: usize = 1 << 20;
/// Buffered writes hand their chunk to the kernel and drop it; a smaller
/// buffer, which glibc serves from the heap rather than a fresh mmap.
const BUFFERED_CHUNK_CAPACITY_BYTES: usize = 256 << 10;
/// Direct I/O keeps written chunks' buffers (their bytes are in the
/// hot window, or were) for reuse, at most this many: a fresh buffer costs
/// a page fault per 4 KiB on its first use, which profiling here showed
/// next to the copy as the append path's largest cost.
const SPARE_CHUNKS_MAX: usize = 4;
/// Direct I/O: a chunk holding at most this many bytes, and using less
/// than a quarter of its buffer, enters the hot window as an exact copy
/// (its buffer is reused), so small writes at low rates do not each hold
/// a whole buffer there.
const HOT_COPY_BYTES_MAX: usize = 64 << 10;
/// Zero-fill chunk used when pre-writing a new segment.
const PREWRITE_CHUNK_BYTES: usize = 1 << 20;
/// Zeros pre-written between two fdatasyncs of a new segment.
const PREWRITE_SYNC_BYTES: usize = 32 << 20;
/// The next segment's zero-fill keeps its zeroed fraction at this many
/// thirds of the active segment's used fraction, so it is done when the
/// active segment is three quarters used. Proportional, with no head
/// start: a head start of a quarter segment was a burst of 256 MiB of
/// zeros at each roll, and the broker's buffered `SYNC_FLUSH` throughput
/// dipped by three quarters for a second.
const PREWRITE_PACE_THIRDS: u64 = 4;

/// The next segment while it is zero-filled in the background: created,
/// preallocated and its directory entry durable, not yet in use.
struct Filling<F> {
    base: u64,
    file: Rc<F>,
    /// `[0, zeroed)` holds written zeros.
    zeroed: u64,
    /// Zeros written since the last fdatasync.
    unsynced: u64,
}

pub struct Segment<D: Disk> {
    pub base: u64,
    pub file: Rc<D::File>,
}

/// A range of one segment file, for zero-copy sends. Holding it keeps the
/// file open even if retention deletes the segment meanwhile.
pub struct FileRange<F> {
    pub file: Rc<F>,
    pub file_pos: u64,
    pub len: u32,
}

impl<F> Clone for FileRange<F> {
    fn clone(&self) -> Self {
        FileRange {
            file: self.file.clone(),
            file_pos: self.file_pos,
            len: self.len,
        }
    }
}

/// Why an append cannot go into the buffer right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The record needs the segment starting here, which is not ready.
    NeedSegment(u64),
    /// The write buffer is full; wait for the writer.
    BufferFull,
}

struct Chunk {
    pos: u64,
    /// Logical end: the next segment's base when the chunk ends with BLANK.
    end: u64,
    buf: Vec<u8>,
}

impl Chunk {
    /// End of the chunk's bytes (before `end` only when it ends with BLANK).
    fn data_end(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }
}

/// One write issued and not yet retired (`written` has not passed it).
struct Flight<F> {
    /// Issue order; identifies the write when it completes.
    seq: u64,
    end: u64,
    file: Rc<F>,
    /// The write's last block is partial (zero-padded on disk): the next
    /// write rewrites it, so it must not be issued before this one ends.
    ends_in_partial_block: bool,
    /// Set when the write has completed.
    done: Option<Landed>,
}

/// A write taken off the pending list, about to be issued.
struct NextWrite<F> {
    seq: u64,
    chunk: Chunk,
    /// Direct I/O: the bytes of the chunk's first block before it, when
    /// known (after recovery they are read back).
    prefix: Option<Vec<u8>>,
    file: Rc<F>,
}

/// What a completed write hands over when it retires.
struct Landed {
    /// Log position of `bytes` (direct I/O: for the hot window).
    pos: u64,
    bytes: Option<Vec<u8>>,
    /// Direct I/O: the log's last partial block after this write.
    tail_pos: u64,
    tail: Vec<u8>,
}

struct LogState<D: Disk> {
    segments: BTreeMap<u64, Segment<D>>,
    appended: u64,
    written: u64,
    durable: u64,
    /// Appended, not yet issued, in log order.
    pending: VecDeque<Chunk>,
    pending_bytes: usize,
    /// Some pending bytes were appended while a write was in flight: the
    /// load keeps a write busy, so the next write stops at its last whole
    /// block and the one after it can go out while it is in flight.
    pending_behind_flight: bool,
    /// Writes issued, in log order, until `written` passes them.
    flights: VecDeque<Flight<D::File>>,
    next_flight_seq: u64,
    /// Most writes seen in flight at once (for benches and tests).
    flights_peak: usize,
    /// Segments written since the last fdatasync.
    unsynced: Vec<Rc<D::File>>,
    poisoned: Option<Rc<str>>,
    disk_full: Option<Rc<str>>,
    /// Set by [`CommitLog::close`]: appends are refused.
    closed: bool,
    last_store_timestamp_ms: i64,
    /// Direct I/O: the log's bytes `[tail_pos, written)`, where `tail_pos`
    /// is `written` rounded down to the I/O alignment. The next write
    /// rewrites that block, so readers get these bytes from here, never
    /// from the page cache (a cached copy could go stale).
    tail_pos: u64,
    tail: Vec<u8>,
    /// Direct I/O: the most recently written chunks, oldest first, kept
    /// for readers (consumers that keep up are served from memory, not
    /// from disk); at most `hot_bytes_max` bytes of capacity.
    hot: VecDeque<HotChunk>,
    hot_bytes: usize,
    /// Direct I/O: chunk buffers to reuse, at most [`SPARE_CHUNKS_MAX`].
    spare: Vec<Vec<u8>>,
}

/// Log bytes `[pos, pos + bytes.len())`, as written. Chunks follow each
/// other in log order; between two there is at most the unwritten span
/// of a BLANK, where no record lies.
struct HotChunk {
    pos: u64,
    bytes: Vec<u8>,
}

impl<D: Disk> LogState<D> {
    fn check_positions(&self) {
        assert!(
            self.appended >= self.written && self.written >= self.durable,
            "positions out of order: appended {} written {} durable {}",
            self.appended,
            self.written,
            self.durable
        );
    }
}

pub struct CommitLog<D: Disk> {
    disk: D,
    dir: PathBuf,
    shard: u16,
    segment_size_bytes: u64,
    write_buffer_bytes_max: usize,
    prewrite: bool,
    direct: bool,
    /// Direct I/O under `SYNC_FLUSH`: appends are written with O_DSYNC, so
    /// a write's completion makes it durable and no separate fdatasync
    /// follows (on the development VM a 256 KiB O_DSYNC write into a
    /// zero-filled segment took 159 us; write then fdatasync 173 us, and
    /// through io_uring the fdatasync alone ~200 us, as io_uring runs it on
    /// a worker thread that shares the shard's core).
    sync_writes: bool,
    /// Direct I/O: the hot window's maximum (`StoreConfig::direct_io_hot_bytes`).
    hot_bytes_max: usize,
    /// Writes in flight at most: `StoreConfig::direct_io_writes_in_flight`
    /// under direct I/O, else 1 (a buffered append is a `pwrite`, done
    /// when it returns).
    flights_max: usize,
    /// `StoreConfig::direct_io_split_write_bytes_min`.
    split_write_bytes_min: usize,
    gate: FlushGate,
    /// The disk's flush gate while this log's durable writes hold it, and
    /// how many of them do ([`CommitLog::enter_gate`]).
    gate_permit: RefCell<Option<FlushPermit>>,
    gate_users: Cell<usize>,
    /// Time of each fdatasync round of [`CommitLog::flush`] (seconds).
    flush_seconds: crate::histogram::Histogram,
    /// Bytes made durable at once: by one flush, or by one durable write
    /// (direct I/O under `SYNC_FLUSH`): the group commit's size.
    group_commit_bytes: crate::histogram::Histogram,
    /// A task of this log waits at the gate with the next write.
    gate_waiter: Cell<bool>,
    /// Counts what may let a new write go out (a write ended or failed, a
    /// wait at the gate ended); tasks waiting for that wait on it.
    pub write_ends: PositionWaiters,
    state: RefCell<LogState<D>>,
    filling: RefCell<Option<Filling<D::File>>>,
    pub written_waiters: PositionWaiters,
    pub durable_waiters: PositionWaiters,
}

/// [`CommitLog::write_next`]'s chunk in flight: if the call is dropped
/// before the write completes, nobody knows what reached the file.
struct AbandonedWrite<'a, D: Disk> {
    log: &'a CommitLog<D>,
    /// Commit-log offset and length of the write in flight.
    chunk: Option<(u64, usize)>,
}

impl<D: Disk> Drop for AbandonedWrite<'_, D> {
    fn drop(&mut self) {
        if let Some((pos, len)) = self.chunk {
            self.log.poison(format!(
                "the write of {len} bytes at commit-log offset {pos} was abandoned before it \
                 completed (its task was cancelled); whether it reached the file is unknown"
            ));
        }
    }
}

/// One durable write's share of the log's flush-gate permit; the last one
/// out releases the gate.
struct GateUse<'a, D: Disk> {
    log: &'a CommitLog<D>,
}

impl<D: Disk> Drop for GateUse<'_, D> {
    fn drop(&mut self) {
        let users = self.log.gate_users.get() - 1;
        self.log.gate_users.set(users);
        if users == 0 {
            self.log.gate_permit.borrow_mut().take();
        }
    }
}

/// A task of the log waiting at the flush gate with the next write; when
/// it stops waiting (it got the gate, or it was cancelled), tasks waiting
/// for a chance to write look again.
struct GateWaiter<'a, D: Disk> {
    log: &'a CommitLog<D>,
}

impl<D: Disk> Drop for GateWaiter<'_, D> {
    fn drop(&mut self) {
        self.log.gate_waiter.set(false);
        self.log.write_ends.bump();
    }
}

/// [`CommitLog::flush`]'s files not yet synced, put back on the log's list
/// if the flush is dropped.
struct UnsyncedOnDrop<'a, D: Disk> {
    log: &'a CommitLog<D>,
    files: Vec<Rc<D::File>>,
}

impl<D: Disk> Drop for UnsyncedOnDrop<'_, D> {
    fn drop(&mut self) {
        let mut s = self.log.state.borrow_mut();
        for file in self.files.drain(..) {
            if !s.unsynced.iter().any(|f| Rc::ptr_eq(f, &file)) {
                s.unsynced.push(file);
            }
        }
    }
}

impl<D: Disk> CommitLog<D> {
    /// Opens every segment in the directory. Positions start at the end of
    /// the last segment; recovery sets them with [`CommitLog::set_recovered_end`].
    pub async fn open(disk: D, config: &StoreConfig, gate: FlushGate) -> Result<CommitLog<D>> {
        let dir = config.commit_log_dir();
        disk.create_dir_all(&dir)
            .await
            .map_err(|e| StoreError::io("create commit-log directory", &dir, e))?;
        let names = disk
            .list_dir(&dir)
            .await
            .map_err(|e| StoreError::io("list commit-log directory", &dir, e))?;
        let mut bases: Vec<u64> = names
            .iter()
            .filter_map(|n| offset_from_file_name(n))
            .collect();
        bases.sort_unstable();
        let mut segments = BTreeMap::new();
        let count = bases.len();
        for (i, base) in bases.into_iter().enumerate() {
            let path = dir.join(file_name_for_offset(base));
            let file = disk
                .open(&path, false)
                .await
                .map_err(|e| StoreError::io("open segment", &path, e))?;
            let len = file
                .len()
                .await
                .map_err(|e| StoreError::io("stat segment", &path, e))?;
            if base % config.segment_size_bytes != 0 {
                return Err(StoreError::Corrupt {
                    what: "segment name",
                    path,
                    detail: format!("{base} is not a multiple of {}", config.segment_size_bytes),
                });
            }
            if len != config.segment_size_bytes {
                // A zero-length last file is a segment whose creation was cut
                // short; anything else means the configuration changed or
                // the file was damaged, and guessing would lose data.
                if len == 0 && i + 1 == count {
                    disk.remove_file(&path)
                        .await
                        .map_err(|e| StoreError::io("remove empty segment", &path, e))?;
                    continue;
                }
                return Err(StoreError::Corrupt {
                    what: "segment length",
                    path,
                    detail: format!(
                        "{len} bytes, expected segment_size_bytes {}",
                        config.segment_size_bytes
                    ),
                });
            }
            if config.direct_io {
                file.advise_random();
            }
            segments.insert(base, Segment { base, file });
        }
        let end = segments
            .keys()
            .next_back()
            .map_or(0, |b| b + config.segment_size_bytes);
        Ok(CommitLog {
            disk,
            dir,
            shard: config.shard,
            segment_size_bytes: config.segment_size_bytes,
            write_buffer_bytes_max: config.write_buffer_bytes_max,
            prewrite: config.prewrite_segments,
            direct: config.direct_io,
            sync_writes: config.direct_io && config.flush_mode == FlushMode::Sync,
            hot_bytes_max: config.direct_io_hot_bytes,
            flights_max: if config.direct_io {
                config.direct_io_writes_in_flight.max(1)
            } else {
                1
            },
            split_write_bytes_min: config.direct_io_split_write_bytes_min,
            gate,
            gate_permit: RefCell::new(None),
            gate_users: Cell::new(0),
            flush_seconds: crate::histogram::Histogram::new(crate::histogram::FLUSH_SECONDS_BOUNDS),
            group_commit_bytes: crate::histogram::Histogram::new(
                crate::histogram::GROUP_COMMIT_BYTES_BOUNDS,
            ),
            gate_waiter: Cell::new(false),
            write_ends: PositionWaiters::default(),
            state: RefCell::new(LogState {
                segments,
                appended: end,
                written: end,
                durable: end,
                pending: VecDeque::new(),
                pending_bytes: 0,
                pending_behind_flight: false,
                flights: VecDeque::new(),
                next_flight_seq: 0,
                flights_peak: 0,
                unsynced: Vec::new(),
                poisoned: None,
                disk_full: None,
                closed: false,
                last_store_timestamp_ms: 0,
                tail_pos: end,
                tail: Vec::new(),
                hot: VecDeque::new(),
                hot_bytes: 0,
                spare: Vec::new(),
            }),
            filling: RefCell::new(None),
            written_waiters: PositionWaiters::default(),
            durable_waiters: PositionWaiters::default(),
        })
    }

    pub fn segment_size_bytes(&self) -> u64 {
        self.segment_size_bytes
    }

    pub fn segment_base(&self, offset: u64) -> u64 {
        offset - offset % self.segment_size_bytes
    }

    pub fn appended(&self) -> u64 {
        self.state.borrow().appended
    }
    pub fn written(&self) -> u64 {
        self.state.borrow().written
    }
    pub fn durable(&self) -> u64 {
        self.state.borrow().durable
    }

    /// Every write is durable when it completes (direct I/O under
    /// `SYNC_FLUSH`: O_DSYNC): no fdatasync follows it.
    pub fn writes_are_durable(&self) -> bool {
        self.sync_writes
    }

    /// First offset still held (start of the oldest segment).
    pub fn min_offset(&self) -> u64 {
        let s = self.state.borrow();
        s.segments.keys().next().copied().unwrap_or(s.appended)
    }

    pub fn segment_bases(&self) -> Vec<u64> {
        self.state.borrow().segments.keys().copied().collect()
    }

    pub fn has_segment(&self, base: u64) -> bool {
        self.state.borrow().segments.contains_key(&base)
    }

    pub fn last_store_timestamp_ms(&self) -> i64 {
        self.state.borrow().last_store_timestamp_ms
    }

    /// Store timestamps are monotonic in log order (time search relies on
    /// it), even if the wall clock steps back.
    pub fn next_store_timestamp(&self, now_ms: i64) -> i64 {
        let mut s = self.state.borrow_mut();
        let ts = now_ms.max(s.last_store_timestamp_ms);
        s.last_store_timestamp_ms = ts;
        ts
    }

    pub fn set_last_store_timestamp(&self, ts: i64) {
        let mut s = self.state.borrow_mut();
        s.last_store_timestamp_ms = s.last_store_timestamp_ms.max(ts);
    }

    pub fn poisoned(&self) -> Option<StoreError> {
        self.state
            .borrow()
            .poisoned
            .as_ref()
            .map(|reason| StoreError::Poisoned {
                shard: self.shard,
                reason: reason.clone(),
            })
    }

    fn refuse_writes(&self) -> Result<()> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        if self.state.borrow().closed {
            return Err(StoreError::Closed { shard: self.shard });
        }
        if let Some(detail) = &self.state.borrow().disk_full {
            return Err(StoreError::DiskFull {
                shard: self.shard,
                detail: detail.clone(),
            });
        }
        Ok(())
    }

    /// Refuses appends from now on (a shutdown); writes and flushes of what
    /// was appended before go on.
    pub fn close(&self) {
        self.state.borrow_mut().closed = true;
    }

    pub fn set_disk_full(&self, detail: Option<String>) {
        self.state.borrow_mut().disk_full = detail.map(Rc::from);
    }

    pub fn is_disk_full(&self) -> bool {
        self.state.borrow().disk_full.is_some()
    }

    fn poison(&self, reason: String) -> StoreError {
        tracing::error!(shard = self.shard, %reason, "commit log poisoned");
        self.state.borrow_mut().poisoned = Some(Rc::from(reason));
        self.written_waiters.fail_all();
        self.durable_waiters.fail_all();
        self.write_ends.fail_all();
        self.poisoned().expect("just poisoned")
    }

    /// Reserves `size_bytes` contiguous bytes in one segment and lets
    /// `encode` write them at the returned position. Closes the segment with
    /// a BLANK filler first when the bytes do not fit.
    pub fn append_with(
        &self,
        size_bytes: usize,
        encode: impl FnOnce(&mut Vec<u8>, u64),
    ) -> Result<Result<u64, Blocked>> {
        self.refuse_writes()?;
        let seg = self.segment_size_bytes;
        assert!(size_bytes as u64 + BLANK_SIZE_BYTES as u64 <= seg);
        let mut s = self.state.borrow_mut();
        if s.pending_bytes > 0 && s.pending_bytes + size_bytes > self.write_buffer_bytes_max {
            return Ok(Err(Blocked::BufferFull));
        }
        let base = s.appended - s.appended % seg;
        if !s.segments.contains_key(&base) {
            return Ok(Err(Blocked::NeedSegment(base)));
        }
        let left = base + seg - s.appended;
        if size_bytes as u64 + BLANK_SIZE_BYTES as u64 > left {
            let next = base + seg;
            if !s.segments.contains_key(&next) {
                return Ok(Err(Blocked::NeedSegment(next)));
            }
            let at = s.appended;
            let chunk = self.chunk_at(&mut s, at);
            encode_blank(left as u32, &mut chunk.buf);
            chunk.end = next;
            s.pending_bytes += BLANK_SIZE_BYTES;
            s.appended = next;
        }
        let pos = s.appended;
        let chunk = self.chunk_at(&mut s, pos);
        let before = chunk.buf.len();
        encode(&mut chunk.buf, pos);
        assert_eq!(
            chunk.buf.len() - before,
            size_bytes,
            "encoder wrote a different size"
        );
        chunk.end = pos + size_bytes as u64;
        s.pending_bytes += size_bytes;
        s.pending_behind_flight |= !s.flights.is_empty();
        s.appended = pos + size_bytes as u64;
        s.check_positions();
        Ok(Ok(pos))
    }

    /// Replication: appends bytes copied verbatim from a master's log at
    /// the current end. The bytes must lie within one segment (the caller
    /// splits them at segment ends); they need not end at a record
    /// boundary.
    pub fn append_raw(&self, bytes: &[u8]) -> Result<Result<u64, Blocked>> {
        self.refuse_writes()?;
        let mut s = self.state.borrow_mut();
        let pos = s.appended;
        let base = self.segment_base(pos);
        assert!(
            pos + bytes.len() as u64 <= base + self.segment_size_bytes,
            "raw append crosses a segment end"
        );
        if s.pending_bytes > 0 && s.pending_bytes + bytes.len() > self.write_buffer_bytes_max {
            return Ok(Err(Blocked::BufferFull));
        }
        if !s.segments.contains_key(&base) {
            return Ok(Err(Blocked::NeedSegment(base)));
        }
        let chunk = self.chunk_at(&mut s, pos);
        chunk.buf.extend_from_slice(bytes);
        chunk.end = pos + bytes.len() as u64;
        s.pending_bytes += bytes.len();
        s.pending_behind_flight |= !s.flights.is_empty();
        s.appended = pos + bytes.len() as u64;
        s.check_positions();
        Ok(Ok(pos))
    }

    /// Replication: an empty log (no segment, nothing appended) starts at
    /// `offset`, a segment base, as a new slave of a master whose older
    /// segments are not replicated.
    pub fn start_empty_log_at(&self, offset: u64) -> bool {
        let mut s = self.state.borrow_mut();
        if !s.segments.is_empty()
            || s.appended != 0
            || !offset.is_multiple_of(self.segment_size_bytes)
        {
            return false;
        }
        assert!(s.flights.is_empty() && s.pending.is_empty());
        s.appended = offset;
        s.written = offset;
        s.durable = offset;
        s.tail_pos = offset;
        s.tail.clear();
        s.hot.clear();
        s.hot_bytes = 0;
        drop(s);
        self.written_waiters.advance(offset);
        self.durable_waiters.advance(offset);
        true
    }

    fn chunk_at<'s>(&self, s: &'s mut LogState<D>, pos: u64) -> &'s mut Chunk {
        // A chunk is one write to one file: it never crosses into the next
        // segment, not even when a BLANK of exactly 8 bytes ends at the
        // boundary.
        let base = self.segment_base(pos);
        let fits = s.pending.back().is_some_and(|c| {
            c.end == pos && c.data_end() == pos && self.segment_base(c.pos) == base
        });
        if !fits {
            let buf = s
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.chunk_capacity()));
            s.pending.push_back(Chunk { pos, end: pos, buf });
        }
        s.pending.back_mut().expect("chunk just ensured")
    }

    /// Whether [`CommitLog::write_next`] would issue a write now.
    pub fn can_issue(&self) -> bool {
        !self.gate_waiter.get() && self.issuable_bytes(&self.state.borrow()).is_some()
    }

    /// Most writes that were in flight at once since the log was opened.
    pub fn writes_in_flight_peak(&self) -> usize {
        self.state.borrow().flights_peak
    }

    /// How many bytes of the first pending chunk the next write would
    /// carry, if one may be issued now: none while the most writes are in
    /// flight or the last of them ends in a partial block (the next write
    /// would rewrite it). Otherwise all of them, except that under load
    /// (appends arriving while a write is in flight) a write of at least
    /// `StoreConfig::direct_io_split_write_bytes_min` stops at its last
    /// whole block, so the write after it can go out while it is in flight.
    fn issuable_bytes(&self, s: &LogState<D>) -> Option<usize> {
        let chunk = s.pending.front()?;
        if self.starts_segment_before_previous_is_durable(s, chunk) {
            return None;
        }
        if let Some(last) = s.flights.back() {
            if s.flights.len() >= self.flights_max || last.ends_in_partial_block {
                return None;
            }
        }
        let all = chunk.buf.len();
        let under_load = s.pending_behind_flight || !s.flights.is_empty();
        if self.flights_max == 1 || !under_load {
            return Some(all);
        }
        let data_end = chunk.data_end();
        if chunk.end != data_end || data_end % DIRECT_IO_ALIGN_BYTES == 0 {
            return Some(all); // ends on a block, or with BLANK (the next write is in another segment)
        }
        let whole = (align_down(data_end) - chunk.pos.min(align_down(data_end))) as usize;
        Some(if whole >= self.split_write_bytes_min.max(1) {
            whole
        } else {
            all
        })
    }

    /// Roll barrier: the first write into a segment waits until every
    /// byte before it is durable. So a segment holding data implies that
    /// all segments before it are whole, which is what lets recovery tell a
    /// torn tail (only ever in the last segment holding data) from a bad
    /// record in the middle of the log (refused, nothing deleted). It
    /// costs one fdatasync per segment roll (none with durable writes:
    /// there it only waits for the writes in flight).
    fn starts_segment_before_previous_is_durable(&self, s: &LogState<D>, chunk: &Chunk) -> bool {
        self.segment_base(chunk.pos) == chunk.pos && s.durable < chunk.pos
    }

    /// The next write waits only for a flush at a segment roll (see
    /// `CommitLog::starts_segment_before_previous_is_durable`): nothing is in
    /// flight and everything before the new segment is written.
    pub fn roll_waits_for_flush(&self) -> bool {
        let s = self.state.borrow();
        s.flights.is_empty()
            && s.pending
                .front()
                .is_some_and(|chunk| self.starts_segment_before_previous_is_durable(&s, chunk))
    }

    /// Issues the next write if one may go out now
    /// ([`CommitLog::can_issue`]) and waits for it to complete; `Ok(false)`
    /// when there was none to issue. Several tasks may be in here at once,
    /// each with its own write in flight. Callers let it finish: dropped
    /// while its write is in flight, it cannot know whether the bytes
    /// landed, so it poisons the log (the broker runs every write in a task
    /// that is never cancelled).
    pub async fn write_next(&self) -> Result<bool> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        // A durable write is a flush: it holds the disk's gate, and takes
        // its bytes only once it has it, so what is appended while it
        // waits for another shard's flush goes with it (group commit).
        let _gate = match self.sync_writes {
            true => match self.enter_gate().await {
                Some(gate) => Some(gate),
                None => return Ok(false),
            },
            false => None,
        };
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        let Some(NextWrite {
            seq,
            chunk,
            prefix,
            file,
        }) = self.take_next_write()
        else {
            return Ok(false);
        };
        let mut in_flight = AbandonedWrite {
            log: self,
            chunk: Some((chunk.pos, chunk.buf.len())),
        };
        let (pos, len) = (chunk.pos, chunk.buf.len());
        let landed = self.write_chunk(&file, chunk, prefix).await;
        in_flight.chunk = None;
        match landed {
            Ok(landed) => {
                self.retire(seq, landed);
                Ok(true)
            }
            // The write never retires: `written` stays before it.
            Err(e) => Err(self.poison(format!(
                "write of {len} bytes at commit-log offset {pos} to {} failed: {e}",
                file.path().display()
            ))),
        }
    }

    /// Takes the next write's bytes off the pending list and records it in
    /// flight.
    fn take_next_write(&self) -> Option<NextWrite<D::File>> {
        let mut s = self.state.borrow_mut();
        let len = self.issuable_bytes(&s)?;
        let mut chunk = s.pending.pop_front().expect("a pending chunk");
        if len < chunk.buf.len() {
            // The partial last block goes with the next write.
            let cut = chunk.pos + len as u64;
            let mut rest = s
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.chunk_capacity()));
            rest.extend_from_slice(&chunk.buf[len..]);
            s.pending.push_front(Chunk {
                pos: cut,
                end: chunk.end,
                buf: rest,
            });
            chunk.buf.truncate(len);
            chunk.end = cut;
        }
        s.pending_bytes -= chunk.buf.len();
        if s.pending.is_empty() {
            s.pending_behind_flight = false;
        }
        let base = self.segment_base(chunk.pos);
        let file = s
            .segments
            .get(&base)
            .map(|g| g.file.clone())
            .expect("a chunk is only encoded into an existing segment");
        let block = align_down(chunk.pos);
        // A write issued behind others starts on a whole block: the one
        // before it ended on one (or in another segment).
        assert!(
            s.flights.is_empty() || !self.direct || block == chunk.pos,
            "a write behind another would share the block at {block}"
        );
        let prefix = if !self.direct || block == chunk.pos {
            Some(Vec::new())
        } else if s.tail_pos == block && block + s.tail.len() as u64 == chunk.pos {
            Some(s.tail.clone())
        } else {
            None // only after recovery, before the first write: read it
        };
        let seq = s.next_flight_seq;
        s.next_flight_seq += 1;
        let data_end = chunk.data_end();
        s.flights.push_back(Flight {
            seq,
            end: chunk.end,
            file: file.clone(),
            ends_in_partial_block: self.direct
                && chunk.end == data_end
                && !data_end.is_multiple_of(DIRECT_IO_ALIGN_BYTES),
            done: None,
        });
        s.flights_peak = s.flights_peak.max(s.flights.len());
        Some(NextWrite {
            seq,
            chunk,
            prefix,
            file,
        })
    }

    /// Writes one chunk. Direct I/O writes from the aligned block holding
    /// its start (the bytes before it in that block are `prefix`, or read
    /// back when not known), padded with zeros, and reports the new partial
    /// last block.
    async fn write_chunk(
        &self,
        file: &Rc<D::File>,
        chunk: Chunk,
        prefix: Option<Vec<u8>>,
    ) -> std::io::Result<Landed> {
        let base = self.segment_base(chunk.pos);
        if !self.direct {
            file.write_all_at(chunk.buf, chunk.pos - base).await?;
            return Ok(Landed {
                pos: chunk.pos,
                bytes: None,
                tail_pos: 0,
                tail: Vec::new(),
            });
        }
        let block = align_down(chunk.pos);
        let prefix = match prefix {
            Some(prefix) => prefix,
            None => {
                file.read_at(block - base, (chunk.pos - block) as usize)
                    .await?
            }
        };
        if prefix.len() as u64 != chunk.pos - block {
            return Err(std::io::Error::other(format!(
                "the {} bytes before commit-log offset {} are not known",
                chunk.pos - block,
                chunk.pos
            )));
        }
        let durability = match self.sync_writes {
            true => Durability::Durable,
            false => Durability::Written,
        };
        file.write_direct(block - base, &[&prefix, &chunk.buf], durability)
            .await?;
        let data_end = chunk.data_end();
        let (tail_pos, tail) = if chunk.end != data_end {
            // Ends with BLANK: the log goes on at the next segment's start.
            (chunk.end, Vec::new())
        } else {
            // [tail_pos, data_end) lies in prefix ++ chunk.buf.
            let tail_pos = align_down(data_end);
            let start = (tail_pos.max(block) - block) as usize;
            let mut tail = Vec::with_capacity((data_end - tail_pos) as usize);
            if start < prefix.len() {
                tail.extend_from_slice(&prefix[start..]);
                tail.extend_from_slice(&chunk.buf);
            } else {
                tail.extend_from_slice(&chunk.buf[start - prefix.len()..]);
            }
            (tail_pos, tail)
        };
        Ok(Landed {
            pos: chunk.pos,
            bytes: Some(chunk.buf),
            tail_pos,
            tail,
        })
    }

    /// A write completed: retires it and every completed write after it,
    /// in log order, moving `written` (and with O_DSYNC `durable`, each of
    /// those writes being durable) to the end of the last one.
    fn retire(&self, seq: u64, landed: Landed) {
        let mut s = self.state.borrow_mut();
        let flight = s
            .flights
            .iter_mut()
            .find(|f| f.seq == seq)
            .expect("a completed write is in flight");
        flight.done = Some(landed);
        let mut moved_to = None;
        while s.flights.front().is_some_and(|f| f.done.is_some()) {
            let flight = s.flights.pop_front().expect("not empty");
            let landed = flight.done.expect("completed");
            if self.sync_writes {
                self.group_commit_bytes
                    .record(flight.end.saturating_sub(s.durable) as f64);
                s.durable = flight.end;
            } else if !s.unsynced.iter().any(|f| Rc::ptr_eq(f, &flight.file)) {
                s.unsynced.push(flight.file);
            }
            s.written = flight.end;
            if self.direct {
                s.tail_pos = landed.tail_pos;
                s.tail = landed.tail;
            }
            if let Some(bytes) = landed.bytes {
                self.keep_hot(&mut s, landed.pos, bytes);
            }
            moved_to = Some(flight.end);
        }
        s.check_positions();
        drop(s);
        if let Some(end) = moved_to {
            self.written_waiters.advance(end);
            if self.sync_writes {
                self.durable_waiters.advance(end);
            }
        }
        self.write_ends.bump();
    }

    /// Holds the disk's flush gate for one durable write. The log's writes
    /// in flight share one permit: a write joins them while nobody else
    /// (another shard, or this shard's segment fill) waits at the gate, and
    /// otherwise queues, so a log that always has a write in flight cannot
    /// keep the gate from the others. At most one task of the log queues:
    /// `None` when another already does (its write will take the pending
    /// bytes; [`CommitLog::can_issue`] is false meanwhile). With every
    /// writer queueing, the broker's `SYNC_FLUSH` batch throughput with two
    /// shards fell by 40 % (one run against the old binary), most likely
    /// because each extra holder, with nothing left to write, handed the
    /// gate on: a wake-up across cores while the disk sat idle.
    async fn enter_gate(&self) -> Option<GateUse<'_, D>> {
        if self.gate_users.get() == 0 || self.gate.has_waiters() {
            if self.gate_waiter.replace(true) {
                return None;
            }
            let waiting = GateWaiter { log: self };
            let permit = self.gate.acquire().await;
            drop(waiting);
            // One permit exists at a time: this log's last one went when
            // its last user left.
            assert!(self.gate_users.get() == 0 && self.gate_permit.borrow().is_none());
            *self.gate_permit.borrow_mut() = Some(permit);
        }
        self.gate_users.set(self.gate_users.get() + 1);
        Some(GateUse { log: self })
    }

    /// Direct I/O: keeps a written chunk for readers, dropping the oldest
    /// beyond the maximum (counted in buffer capacity, the memory held).
    /// Buffers leaving the window are reused for new chunks.
    fn keep_hot(&self, s: &mut LogState<D>, pos: u64, mut bytes: Vec<u8>) {
        if self.hot_bytes_max == 0 || bytes.is_empty() {
            self.reuse(s, bytes);
            return;
        }
        if bytes.len() <= HOT_COPY_BYTES_MAX && bytes.capacity() > 4 * bytes.len() {
            let exact = bytes.as_slice().to_vec();
            self.reuse(s, std::mem::replace(&mut bytes, exact));
        }
        s.hot_bytes += bytes.capacity();
        s.hot.push_back(HotChunk { pos, bytes });
        while s.hot_bytes > self.hot_bytes_max {
            let Some(old) = s.hot.pop_front() else { break };
            s.hot_bytes -= old.bytes.capacity();
            self.reuse(s, old.bytes);
        }
    }

    /// A new chunk's buffer capacity.
    fn chunk_capacity(&self) -> usize {
        let capacity = if self.direct {
            CHUNK_CAPACITY_BYTES
        } else {
            BUFFERED_CHUNK_CAPACITY_BYTES
        };
        self.write_buffer_bytes_max.min(capacity)
    }

    /// Keeps a chunk buffer for a later chunk, if there is room and it is
    /// a whole one (not an exact copy).
    fn reuse(&self, s: &mut LogState<D>, mut buf: Vec<u8>) {
        if s.spare.len() < SPARE_CHUNKS_MAX && buf.capacity() >= self.chunk_capacity() {
            buf.clear();
            s.spare.push(buf);
        }
    }

    /// Direct I/O: where reads switch from the file to memory (the hot
    /// window, or at least the last partial block). Everything from there
    /// to `written` that holds records is in memory.
    pub fn direct_memory_from(&self) -> Option<u64> {
        if !self.direct {
            return None;
        }
        let s = self.state.borrow();
        Some(s.hot.front().map_or(s.tail_pos, |c| c.pos.min(s.tail_pos)))
    }

    /// Direct I/O: appends the log's bytes `[from, to)` from memory to
    /// `out`; false (and `out` unchanged) when they are not all there. A
    /// range may span chunks: a slave's chunks are the master's packets,
    /// which cut records anywhere.
    pub fn copy_from_memory(&self, from: u64, to: u64, out: &mut Vec<u8>) -> bool {
        let s = self.state.borrow();
        if from > to {
            return false;
        }
        if from >= s.tail_pos && to <= s.tail_pos + s.tail.len() as u64 {
            out.extend_from_slice(
                &s.tail[(from - s.tail_pos) as usize..(to - s.tail_pos) as usize],
            );
            return true;
        }
        // From the last chunk starting at or before `from`, through
        // contiguous chunks.
        let Some(first) = s.hot.partition_point(|c| c.pos <= from).checked_sub(1) else {
            return false;
        };
        let mark = out.len();
        let mut at = from;
        for chunk in s.hot.range(first..) {
            let chunk_end = chunk.pos + chunk.bytes.len() as u64;
            if chunk.pos > at || chunk_end <= at {
                break;
            }
            let upto = to.min(chunk_end);
            out.extend_from_slice(
                &chunk.bytes[(at - chunk.pos) as usize..(upto - chunk.pos) as usize],
            );
            at = upto;
            if at == to {
                return true;
            }
        }
        out.truncate(mark);
        false
    }

    /// Flush latency and group-commit size so far (for metrics).
    pub fn durability_histograms(
        &self,
    ) -> (
        crate::histogram::HistogramSnapshot,
        crate::histogram::HistogramSnapshot,
    ) {
        (
            self.flush_seconds.snapshot(),
            self.group_commit_bytes.snapshot(),
        )
    }

    /// fdatasyncs every segment written since the last flush, holding the
    /// disk's flush gate, then advances `durable` to what was written before
    /// the flush began. Never retried after a failure.
    pub async fn flush(&self) -> Result<()> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        let (target, files) = {
            let mut s = self.state.borrow_mut();
            (s.written, std::mem::take(&mut s.unsynced))
        };
        if !files.is_empty() {
            // Dropped before every file is synced (its caller cancelled),
            // the files go back on the list, so the next flush syncs them.
            let mut syncing = UnsyncedOnDrop { log: self, files };
            let _permit = self.gate.acquire().await;
            let started = std::time::Instant::now();
            while let Some(file) = syncing.files.last().cloned() {
                if let Err(e) = file.sync_data().await {
                    return Err(self.poison(format!(
                        "fdatasync of {} failed: {e}",
                        file.path().display()
                    )));
                }
                syncing.files.pop();
            }
            self.flush_seconds.record(started.elapsed().as_secs_f64());
        }
        let mut s = self.state.borrow_mut();
        if target > s.durable {
            self.group_commit_bytes.record((target - s.durable) as f64);
            s.durable = target;
            s.check_positions();
            drop(s);
            self.durable_waiters.advance(target);
        }
        Ok(())
    }

    /// Creates, preallocates and pre-writes the segment starting at `base`,
    /// so appends into it never pay for file growth. When the background
    /// fill ([`CommitLog::fill_ahead`]) has started on it, the segment is
    /// taken as it is: appends do not wait for the rest of the zeros (the
    /// unfilled part costs its flushes an extent conversion instead). ENOSPC
    /// marks the disk full; nothing already stored is affected.
    pub async fn prepare_segment(&self, base: u64) -> Result<()> {
        if self.has_segment(base) {
            return Ok(());
        }
        assert_eq!(base % self.segment_size_bytes, 0);
        let filling = self.filling.borrow_mut().take();
        if let Some(filling) = filling {
            if filling.base == base {
                if filling.zeroed < self.segment_size_bytes {
                    tracing::info!(
                        shard = self.shard,
                        segment = base,
                        zeroed_bytes = filling.zeroed,
                        "log reached a segment before its zero-fill ended; the rest stays unwritten"
                    );
                }
                self.register_segment(base, filling.file);
                return Ok(());
            }
            // A fill for another segment (the log was truncated by
            // recovery meanwhile): its file is not part of the log.
            let path = self.dir.join(file_name_for_offset(filling.base));
            let _ = self.disk.remove_file(&path).await;
        }
        let file = self.create_segment_file(base).await?;
        if self.prewrite {
            let path = file.path();
            if let Err(e) = self.fill_segment(&file).await {
                return Err(self.segment_failed(&path, "prepare segment", e).await);
            }
        }
        if self.has_segment(base) {
            return Ok(()); // prepared concurrently by another task
        }
        self.register_segment(base, file);
        Ok(())
    }

    /// Creates and preallocates a segment file and makes its directory
    /// entry durable.
    async fn create_segment_file(&self, base: u64) -> Result<Rc<D::File>> {
        let path = self.dir.join(file_name_for_offset(base));
        let file = self
            .disk
            .open(&path, true)
            .await
            .map_err(|e| StoreError::io("create segment", &path, e))?;
        if let Err(e) = file.allocate(self.segment_size_bytes).await {
            return Err(self.segment_failed(&path, "preallocate segment", e).await);
        }
        self.disk
            .sync_dir(&self.dir)
            .await
            .map_err(|e| StoreError::io("sync commit-log directory", &self.dir, e))?;
        Ok(file)
    }

    /// Removes a segment file that could not be prepared; ENOSPC marks the
    /// disk full.
    async fn segment_failed(
        &self,
        path: &std::path::Path,
        what: &'static str,
        e: std::io::Error,
    ) -> StoreError {
        let _ = self.disk.remove_file(path).await;
        if is_disk_full(&e) {
            let detail = format!("cannot create segment {}: {e}", path.display());
            self.set_disk_full(Some(detail.clone()));
            return StoreError::DiskFull {
                shard: self.shard,
                detail: Rc::from(detail),
            };
        }
        StoreError::io(what, path, e)
    }

    fn register_segment(&self, base: u64, file: Rc<D::File>) {
        if self.direct {
            file.advise_random();
        }
        self.state
            .borrow_mut()
            .segments
            .insert(base, Segment { base, file });
    }

    /// Background: zero-fills the segment after the active one, paced by
    /// the active one's use (`PREWRITE_PACE_THIRDS`), writing at most
    /// `budget_bytes` per call; registers the segment
    /// when it is full. Filled all at once, a 1 GiB fill took the disk from
    /// buffered `SYNC_FLUSH` appends for ~3 s at every segment roll (the
    /// broker's throughput fell to a tenth); paced, its bytes are spread
    /// evenly over the active segment's life.
    pub async fn fill_ahead(&self, budget_bytes: usize) -> Result<()> {
        if !self.prewrite || self.poisoned().is_some() || self.is_disk_full() {
            return Ok(());
        }
        let seg = self.segment_size_bytes;
        let appended = self.appended();
        let active = self.segment_base(appended);
        let next = active + seg;
        if self.has_segment(next) || !self.has_segment(active) {
            return Ok(());
        }
        let current = self.filling.borrow().as_ref().map(|f| f.base);
        if current != Some(next) {
            if let Some(stale) = current {
                self.filling.borrow_mut().take();
                let path = self.dir.join(file_name_for_offset(stale));
                let _ = self.disk.remove_file(&path).await;
            }
            let file = self.create_segment_file(next).await?;
            *self.filling.borrow_mut() = Some(Filling {
                base: next,
                file,
                zeroed: 0,
                unsynced: 0,
            });
        }
        let used = appended - active;
        let target = (used.saturating_mul(PREWRITE_PACE_THIRDS) / 3).min(seg);
        let mut budget = budget_bytes as u64;
        loop {
            let (file, pos, unsynced) = match &*self.filling.borrow() {
                Some(f) if f.base == next => (f.file.clone(), f.zeroed, f.unsynced),
                _ => return Ok(()), // taken by prepare_segment meanwhile
            };
            let path = file.path();
            if pos >= seg {
                if unsynced > 0 {
                    let _permit = self.gate.acquire().await;
                    if let Err(e) = file.sync_data().await {
                        self.filling.borrow_mut().take();
                        return Err(self.segment_failed(&path, "sync segment fill", e).await);
                    }
                }
                if self
                    .filling
                    .borrow()
                    .as_ref()
                    .is_some_and(|f| f.base == next)
                {
                    self.filling.borrow_mut().take();
                    self.register_segment(next, file);
                }
                return Ok(());
            }
            if pos >= target || budget == 0 {
                return Ok(());
            }
            let len = PREWRITE_CHUNK_BYTES.min((seg - pos) as usize) as u64;
            let mut result = if self.direct {
                file.write_zeros_direct(pos, len as usize).await
            } else {
                file.write_all_at(vec![0u8; len as usize], pos).await
            };
            let sync_now = unsynced + len >= PREWRITE_SYNC_BYTES as u64;
            if result.is_ok() && sync_now {
                let _permit = self.gate.acquire().await;
                result = file.sync_data().await;
            }
            if let Err(e) = result {
                self.filling.borrow_mut().take();
                return Err(self.segment_failed(&path, "zero-fill segment", e).await);
            }
            budget = budget.saturating_sub(len);
            if let Some(f) = self
                .filling
                .borrow_mut()
                .as_mut()
                .filter(|f| f.base == next)
            {
                f.zeroed = pos + len;
                f.unsynced = if sync_now { 0 } else { unsynced + len };
            }
        }
    }

    /// Zero-fills a whole segment at once (one the log needs now).
    async fn fill_segment(&self, file: &Rc<D::File>) -> std::io::Result<()> {
        // The zeros are made durable a slice at a time, each fdatasync
        // through the disk's flush gate, so a commit-log flush waits for at
        // most one slice's writeback instead of a whole segment's (a single
        // 1 GiB fdatasync stalled SYNC_FLUSH acks for ~2 s).
        let mut pos = 0;
        let mut unsynced = 0;
        while pos < self.segment_size_bytes {
            let len = PREWRITE_CHUNK_BYTES.min((self.segment_size_bytes - pos) as usize);
            if self.direct {
                file.write_zeros_direct(pos, len).await?;
            } else {
                file.write_all_at(vec![0u8; len], pos).await?;
            }
            pos += len as u64;
            unsynced += len;
            if unsynced >= PREWRITE_SYNC_BYTES || pos == self.segment_size_bytes {
                let _permit = self.gate.acquire().await;
                file.sync_data().await?;
                unsynced = 0;
            }
        }
        Ok(())
    }

    /// Reads bytes that have been written (not past `written`), within one
    /// segment. Returns fewer bytes at a segment's end (and, under direct
    /// I/O, at `written`: bytes past it are not read).
    pub async fn read(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        if self.direct {
            let (tail_pos, written) = {
                let s = self.state.borrow();
                (s.tail_pos, s.written)
            };
            let end = (pos + len as u64).min(written);
            if pos >= tail_pos {
                let s = self.state.borrow();
                let from = (pos - tail_pos) as usize;
                let to = (end.max(pos) - tail_pos) as usize;
                return Ok(s.tail.get(from..to).map(<[u8]>::to_vec).unwrap_or_default());
            }
            if end > tail_pos {
                let mut out = self.read_file(pos, (tail_pos - pos) as usize).await?;
                let s = self.state.borrow();
                // The file part may have stopped at a segment end.
                if pos + out.len() as u64 == s.tail_pos {
                    let to = (end - s.tail_pos) as usize;
                    out.extend_from_slice(&s.tail[..to.min(s.tail.len())]);
                }
                return Ok(out);
            }
            return self.read_file(pos, (end.max(pos) - pos) as usize).await;
        }
        self.read_file(pos, len).await
    }

    async fn read_file(&self, pos: u64, len: usize) -> Result<Vec<u8>> {
        let (file, file_pos, len) = {
            let s = self.state.borrow();
            let base = self.segment_base(pos);
            let Some(seg) = s.segments.get(&base) else {
                return Err(StoreError::NoRecordAt {
                    offset: pos,
                    detail: "segment not held (deleted by retention or never written)".into(),
                });
            };
            let seg_end = base + self.segment_size_bytes;
            let len = (len as u64).min(seg_end - pos) as usize;
            (seg.file.clone(), pos - base, len)
        };
        file.read_at(file_pos, len)
            .await
            .map_err(|e| StoreError::io("read commit log", file.path(), e))
    }

    /// The file of the segment starting at `base`.
    pub fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(file_name_for_offset(base))
    }

    /// Whether the segment starting at `base` holds anything at its start
    /// (a segment past the log's end is all zeros: pre-written, or
    /// preallocated).
    pub(crate) async fn segment_starts_with_data(&self, base: u64) -> Result<bool> {
        let head = self.read_file(base, BLANK_SIZE_BYTES).await?;
        Ok(head.iter().any(|&b| b != 0))
    }

    /// The segment file and position holding `[pos, pos + len)`.
    pub fn file_range(&self, pos: u64, len: u32) -> Option<FileRange<D::File>> {
        let s = self.state.borrow();
        let base = self.segment_base(pos);
        let seg = s.segments.get(&base)?;
        assert!(pos + len as u64 <= base + self.segment_size_bytes);
        Some(FileRange {
            file: seg.file.clone(),
            file_pos: pos - base,
            len,
        })
    }

    /// After recovery: the valid log ends at `end`. After a crash
    /// (`scrub_tail`) zeroes the rest of its segment, so bytes a crash left
    /// past the end can never be mistaken for records; drops later segments;
    /// then makes that durable (a killed process leaves written but unsynced
    /// bytes that recovery just accepted).
    pub async fn set_recovered_end(
        &self,
        scan_start: u64,
        end: u64,
        scrub_tail: bool,
    ) -> Result<()> {
        let seg = self.segment_size_bytes;
        let base = self.segment_base(end);
        let later: Vec<u64> = self
            .state
            .borrow()
            .segments
            .range(base + 1..)
            .map(|(b, _)| *b)
            .collect();
        for b in later {
            // A later segment holds nothing valid (the scan ended before it);
            // it is recreated, zero-filled, when the log reaches it again.
            self.remove_segment(b).await?;
        }
        let file = self
            .state
            .borrow()
            .segments
            .get(&base)
            .map(|g| g.file.clone());
        if let Some(file) = file {
            let mut pos = end - base;
            while scrub_tail && pos < seg {
                let len = PREWRITE_CHUNK_BYTES.min((seg - pos) as usize);
                let existing = file
                    .read_at(pos, len)
                    .await
                    .map_err(|e| StoreError::io("read segment tail", file.path(), e))?;
                if existing.iter().any(|&b| b != 0) {
                    file.write_all_at(vec![0u8; len], pos)
                        .await
                        .map_err(|e| StoreError::io("zero segment tail", file.path(), e))?;
                }
                pos += len as u64;
            }
        }
        // Everything the scan accepted may have been only in the page cache
        // of a killed process: make every scanned segment durable.
        let scanned: Vec<Rc<D::File>> = self
            .state
            .borrow()
            .segments
            .range(self.segment_base(scan_start)..=base)
            .map(|(_, g)| g.file.clone())
            .collect();
        for file in scanned {
            file.sync_data()
                .await
                .map_err(|e| StoreError::io("sync recovered segment", file.path(), e))?;
        }
        let tail_pos = align_down(end).max(self.segment_base(end));
        let tail = if self.direct && tail_pos < end {
            self.read_file(tail_pos, (end - tail_pos) as usize).await?
        } else {
            Vec::new()
        };
        let mut s = self.state.borrow_mut();
        assert!(s.flights.is_empty() && s.pending.is_empty());
        s.appended = end;
        s.written = end;
        s.durable = end;
        s.tail_pos = tail_pos;
        s.tail = tail;
        drop(s);
        self.written_waiters.advance(end);
        self.durable_waiters.advance(end);
        Ok(())
    }

    /// Removes one segment file (retention or recovery).
    pub async fn remove_segment(&self, base: u64) -> Result<()> {
        let removed = self.state.borrow_mut().segments.remove(&base);
        if removed.is_some() {
            let path = self.dir.join(file_name_for_offset(base));
            self.disk
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("remove segment", &path, e))?;
        }
        Ok(())
    }
}
