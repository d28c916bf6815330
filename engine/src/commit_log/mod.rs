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
//!
//! One file per role: `open` (the segments found on disk), `append`
//! (encoding into the write buffer), `write` (issuing writes and retiring
//! them in log order), `gate` (the disk's flush gate for durable writes),
//! `flush` (fdatasync), `hot` (the hot window kept for readers), `read`,
//! `segments` (creating and removing segment files), `prewrite`
//! (zero-filling them), `recover` (taking the end recovery found) and
//! `health` (poisoned, closed, disk full).

mod append;
mod flush;
mod gate;
mod health;
mod hot;
mod open;
mod prewrite;
mod read;
mod recover;
mod segments;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;

use crate::disk::Disk;
use crate::flush_gate::{FlushGate, FlushPermit};
use crate::ids::{CommitLogOffset, SegmentBase, ShardId};
use crate::waiters::PositionWaiters;

use hot::HotChunk;
use prewrite::Filling;
use write::Flight;

pub use append::Blocked;
pub use read::FileRange;

/// One segment file of the log, named by its 20-digit start offset.
pub struct Segment<D: Disk> {
    /// Commit-log offset of the segment's first byte; a multiple of the segment size.
    pub base: SegmentBase,
    /// The open segment file.
    pub file: Rc<D::File>,
}

struct Chunk {
    pos: CommitLogOffset,
    /// Logical end: the next segment's base when the chunk ends with BLANK.
    end: CommitLogOffset,
    buf: Vec<u8>,
}

impl Chunk {
    /// End of the chunk's bytes (before `end` only when it ends with BLANK).
    fn data_end(&self) -> CommitLogOffset {
        self.pos + self.buf.len() as u64
    }
}

struct LogState<D: Disk> {
    segments: BTreeMap<SegmentBase, Segment<D>>,
    appended: CommitLogOffset,
    written: CommitLogOffset,
    durable: CommitLogOffset,
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
    tail_pos: CommitLogOffset,
    tail: Vec<u8>,
    /// Direct I/O: the most recently written chunks, oldest first, kept
    /// for readers (consumers that keep up are served from memory, not
    /// from disk); at most `hot_bytes_max` bytes of capacity.
    hot: VecDeque<HotChunk>,
    hot_bytes: usize,
    /// Direct I/O: chunk buffers to reuse, at most [`SPARE_CHUNKS_MAX`].
    spare: Vec<Vec<u8>>,
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

/// One shard's commit log (see the module doc). Lives on its shard, not
/// `Send`; other shards never touch it.
pub struct CommitLog<D: Disk> {
    disk: D,
    dir: PathBuf,
    shard: ShardId,
    segment_size_bytes: u64,
    write_buffer_bytes_max: usize,
    prewrite: bool,
    direct: bool,
    /// Direct I/O under `SYNC_FLUSH`: appends are written with O_DSYNC, so
    /// a write's completion makes it durable and no separate fdatasync
    /// follows: an O_DSYNC write into a zero-filled segment costs less
    /// than a write then an fdatasync, and through io_uring the fdatasync
    /// runs on a worker thread that shares the shard's core (figures:
    /// `docs/perf-log.md`, 2026-12-04).
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
    /// Reaches `written` as it moves; every waiter fails when the log is
    /// poisoned.
    pub written_waiters: PositionWaiters,
    /// Reaches `durable` as it moves; every waiter fails when the log is
    /// poisoned.
    pub durable_waiters: PositionWaiters,
}

impl<D: Disk> CommitLog<D> {
    /// Size of every segment, in bytes.
    pub fn segment_size_bytes(&self) -> u64 {
        self.segment_size_bytes
    }

    /// Start offset of the segment holding commit-log offset `offset`.
    pub fn segment_base(&self, offset: CommitLogOffset) -> SegmentBase {
        offset.segment_base(self.segment_size_bytes)
    }

    /// End of the records encoded into the write buffer (commit-log offset).
    pub fn appended(&self) -> CommitLogOffset {
        self.state.borrow().appended
    }
    /// End of the bytes handed to the kernel: visible to readers (commit-log offset).
    pub fn written(&self) -> CommitLogOffset {
        self.state.borrow().written
    }
    /// End of the bytes covered by an fdatasync or an O_DSYNC write (commit-log offset).
    pub fn durable(&self) -> CommitLogOffset {
        self.state.borrow().durable
    }

    /// Every write is durable when it completes (direct I/O under
    /// `SYNC_FLUSH`: O_DSYNC): no fdatasync follows it.
    pub fn writes_are_durable(&self) -> bool {
        self.sync_writes
    }

    /// First offset still held (start of the oldest segment).
    pub fn min_offset(&self) -> CommitLogOffset {
        let s = self.state.borrow();
        s.segments.keys().next().map_or(s.appended, |b| b.start())
    }

    /// Store timestamp (ms since the epoch) of the newest record appended or recovered.
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

    /// Raises the newest store timestamp to `ts` (recovery), never lowering
    /// it.
    pub fn set_last_store_timestamp(&self, ts: i64) {
        let mut s = self.state.borrow_mut();
        s.last_store_timestamp_ms = s.last_store_timestamp_ms.max(ts);
    }
}
