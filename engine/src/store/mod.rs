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
//!
//! One file per role: `append` (assigning offsets, encoding, preparing
//! segments), `ack` (writing and flushing until an append may be
//! acknowledged), `role` (jobs one task does at a time), `queues` (queue
//! offsets and entries), `pull` (consumer reads as file ranges),
//! `records` (whole records and raw log bytes), `query` (by time and by
//! key), `checkpoint` (checkpoint and clean stop), `retention` and
//! `metrics`.

mod ack;
mod append;
mod checkpoint;
mod metrics;
mod pull;
mod query;
mod queues;
mod records;
mod retention;
mod role;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::commit_log::CommitLog;
use crate::config::{FlushMode, StoreConfig};
use crate::consume_queue::ConsumeQueues;
use crate::disk::Disk;
use crate::error::{Result, StoreError};
use crate::flush_gate::FlushGate;
use crate::ids::{CommitLogOffset, QueueOffset};
use crate::key_index::KeyIndex;

use role::Role;

pub use append::PREWRITE_TICK_BYTES;
pub use pull::{QueueRead, ReadStatus, READ_AHEAD_BYTES};
pub use query::{TimeBoundary, QUERY_RESULTS_MAX};
pub use queues::QueueEntry;
pub use retention::RetentionReport;

/// Where one appended message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedRecord {
    /// Commit-log offset of the record's first byte.
    pub physical_offset: CommitLogOffset,
    /// Size of the record in the log, in bytes.
    pub size_bytes: u32,
    /// Offset in its consume queue (zero for records that take none).
    pub queue_offset: QueueOffset,
    /// Store timestamp assigned to the record (ms since the epoch).
    pub store_timestamp_ms: i64,
}

impl AppendedRecord {
    /// Commit-log offset just past the record: what an acknowledgement waits for.
    pub fn end(&self) -> CommitLogOffset {
        self.physical_offset.plus(u64::from(self.size_bytes))
    }
}

/// Wall clock in milliseconds since the Unix epoch; tests inject their
/// own.
pub type Clock = Rc<dyn Fn() -> i64>;

/// The system clock in milliseconds since the Unix epoch (0 before it).
pub fn system_clock() -> Clock {
    Rc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// One shard's storage behind one handle (see the module doc). Lives on
/// its shard's executor, not `Send`.
pub struct ShardStore<D: Disk> {
    pub(crate) disk: D,
    pub(crate) config: StoreConfig,
    pub(crate) log: CommitLog<D>,
    pub(crate) queues: RefCell<ConsumeQueues>,
    pub(crate) index: RefCell<KeyIndex>,
    pub(crate) checkpoint_sequence: Cell<u64>,
    /// The log position the last checkpoint of this process recorded; a
    /// checkpoint with nothing new to record is skipped.
    pub(crate) checkpointed: Cell<Option<CommitLogOffset>>,
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
    read_ahead: Cell<(CommitLogOffset, CommitLogOffset)>,
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
            checkpointed: Cell::new(None),
            clock,
            flusher: Role::default(),
            syncer: Role::default(),
            preparer: Role::default(),
            replica: RefCell::default(),
            read_bytes_memory: Cell::new(0),
            read_bytes_file: Cell::new(0),
            read_ahead: Cell::new((CommitLogOffset::ZERO, CommitLogOffset::ZERO)),
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

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The flush mode acknowledgements follow.
    pub fn flush_mode(&self) -> FlushMode {
        self.config.flush_mode
    }

    /// End of what has been appended (not necessarily written).
    pub fn appended_offset(&self) -> CommitLogOffset {
        self.log.appended()
    }
    /// End of what has been handed to the kernel.
    pub fn written_offset(&self) -> CommitLogOffset {
        self.log.written()
    }
    /// End of what is durable (fdatasync'd or written with O_DSYNC).
    pub fn durable_offset(&self) -> CommitLogOffset {
        self.log.durable()
    }
    /// First commit-log offset still held; retention moves it forward.
    pub fn min_commit_log_offset(&self) -> CommitLogOffset {
        self.log.min_offset()
    }

    /// The error every write gets once the log is poisoned by a failed write
    /// or fdatasync; `None` while it is healthy.
    pub fn poisoned(&self) -> Option<StoreError> {
        self.log.poisoned()
    }
}
