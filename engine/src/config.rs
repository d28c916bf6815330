//! Store settings, each with the unit in its name. Defaults follow
//! RocketMQ's `MessageStoreConfig` where one exists.

use std::path::PathBuf;

use crate::ids::ShardId;

/// When an append is acknowledged (RocketMQ `flushDiskType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushMode {
    /// Acknowledge once written to the page cache; fdatasync on an interval.
    Async,
    /// Acknowledge only after an fdatasync that covers the message; every
    /// waiter covered by one fdatasync is acknowledged by it (group commit).
    Sync,
}

/// One shard store's settings; [`StoreConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `storePathRootDir` of this shard.
    pub root: PathBuf,
    /// Which shard owns the store; used in error context only.
    pub shard: ShardId,
    /// `mappedFileSizeCommitLog`.
    pub segment_size_bytes: u64,
    /// When appends are acknowledged (`flushDiskType`).
    pub flush_mode: FlushMode,
    /// `flushIntervalCommitLog`, for [`FlushMode::Async`].
    pub flush_interval_ms: u64,
    /// [`FlushMode::Async`]: flush as soon as this many bytes are written
    /// but not yet durable, without waiting for the interval (RocketMQ
    /// `flushCommitLogLeastPages` × 4 KiB; its async flush service is woken
    /// by every put and flushes once that many pages are dirty). Each
    /// fdatasync then writes back a little; with the interval alone one
    /// fdatasync wrote back half a second of appends at once, on an
    /// io_uring worker that preempted the shard for milliseconds
    /// (`docs/perf-log.md`, 2026-12-04). 0 flushes on the interval alone.
    pub flush_least_bytes: u64,
    /// Bytes appended but not yet handed to the kernel; appends wait for the
    /// writer beyond this.
    pub write_buffer_bytes_max: usize,
    /// Fill a new segment with zeros before use so later flushes never pay
    /// for extent conversion or file growth.
    pub prewrite_segments: bool,
    /// Write the commit log with O_DIRECT (RingMQ `commitLogDirectIo`):
    /// appends bypass the page cache and its writeback, which can sustain
    /// well under what the disk takes (figures: `docs/perf-log.md`, 2026-12-04). The last
    /// partial 4 KiB block, rewritten by the next write, is served to
    /// readers from memory; everything before it is read through the page
    /// cache (from disk when not cached), without readahead.
    pub direct_io: bool,
    /// Direct I/O: bytes of recently written log kept in memory, so
    /// consumers that keep up are served from memory rather than from disk
    /// (RingMQ `commitLogDirectIoHotBytes`). 0 keeps only the last partial
    /// block. Its buffers are reused for new writes once they leave the
    /// window, cold in the CPU cache by then: a larger window costs append
    /// throughput, while a modest one already keeps consumers that keep up
    /// off the disk (figures: `docs/perf-log.md`, 2026-12-04).
    pub direct_io_hot_bytes: usize,
    /// Direct I/O: writes in flight at once (RingMQ
    /// `commitLogDirectIoWritesInFlight`; 1 = one at a time). With two, the
    /// next group commit goes to the disk while the one before it is still
    /// there, which a disk that serves concurrent O_DSYNC writes faster
    /// rewards (figures: `docs/perf-log.md`, 2026-12-04); the cost is that a write
    /// issued under load stops at its last whole 4 KiB block and the records
    /// in its partial block are acknowledged with the next write.
    pub direct_io_writes_in_flight: usize,
    /// Direct I/O with writes in flight together: a write under load stops
    /// at its last whole 4 KiB block (the partial block goes with the next
    /// write, and its records are acknowledged with it) only when it
    /// carries at least this much. Smaller writes cost mostly the device's
    /// fixed time per write, so splitting them adds a write for little
    /// overlap: with single 1 KiB sync sends through the broker, splitting
    /// every write cost part of the send rate (figures: `docs/perf-log.md`, 2026-12-04).
    pub direct_io_split_write_bytes_min: usize,
    /// Entries per consume-queue file (RocketMQ: 300 000 × 20 bytes).
    pub consume_queue_segment_entries: u64,
    /// Entries per key-index file.
    pub index_segment_entries: u64,
    /// `messageIndexEnable`.
    pub index_enable: bool,
    /// How often derived data (consume queues, index) is made durable and the
    /// checkpoint advanced; bounds the log a recovery re-reads (RocketMQ
    /// `flushIntervalConsumeQueue`, 1000 ms there). Short, so each round
    /// writes and syncs little: once a second, one round's writes held a
    /// shard for about 3 ms at 130k msgs/s and its fdatasync an io_uring
    /// worker on the shard's CPU for 5 ms (`docs/perf-log.md`, 2026-12-04).
    /// A round with nothing new is skipped.
    pub checkpoint_interval_ms: u64,
    /// `fileReservedTime`, in milliseconds.
    pub retention_ms: u64,
    /// `diskSpaceCleanForciblyRatio`: above this, delete oldest segments even
    /// if not expired.
    pub disk_clean_forcibly_percent: u64,
    /// `diskSpaceWarningLevelRatio`: above this, refuse writes.
    pub disk_full_percent: u64,
}

impl StoreConfig {
    /// Defaults for a store in `root`: 1 GiB segments, `ASYNC_FLUSH`,
    /// buffered I/O, the key index on, 72 h retention.
    pub fn new(root: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            root: root.into(),
            shard: ShardId(0),
            segment_size_bytes: 1 << 30,
            flush_mode: FlushMode::Async,
            flush_interval_ms: 500,
            flush_least_bytes: 4 * 4096,
            write_buffer_bytes_max: 4 << 20,
            prewrite_segments: true,
            direct_io: false,
            direct_io_hot_bytes: 16 << 20,
            direct_io_writes_in_flight: 2,
            direct_io_split_write_bytes_min: 64 << 10,
            consume_queue_segment_entries: 300_000,
            index_segment_entries: 1_000_000,
            index_enable: true,
            checkpoint_interval_ms: 100,
            retention_ms: 72 * 3600 * 1000,
            disk_clean_forcibly_percent: 85,
            disk_full_percent: 90,
        }
    }

    /// Directory of the commit-log segments (`<root>/commitlog`).
    pub fn commit_log_dir(&self) -> PathBuf {
        self.root.join("commitlog")
    }
    /// Directory of the consume queues (`<root>/consumequeue`).
    pub fn consume_queue_dir(&self) -> PathBuf {
        self.root.join("consumequeue")
    }
    /// Directory of the key index (`<root>/index`).
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }
    /// File of the checkpoint (`<root>/checkpoint`).
    pub fn checkpoint_path(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
}
