//! Opening the log: every segment in its directory, checked.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use crate::config::{FlushMode, StoreConfig};
use crate::disk::{Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::flush_gate::FlushGate;
use crate::ids::{file_name_for_offset, offset_from_file_name, CommitLogOffset, SegmentBase};
use crate::waiters::PositionWaiters;

use super::{CommitLog, LogState, Segment};

impl<D: Disk> CommitLog<D> {
    /// Opens every segment in the directory. Positions start at the end of
    /// the last segment; recovery sets them with [`CommitLog::set_recovered_end`].
    pub async fn open(disk: D, config: &StoreConfig, gate: FlushGate) -> Result<CommitLog<D>> {
        let dir = config.commit_log_dir();
        let segments = Self::open_segments(&disk, config, &dir).await?;
        let end = segments
            .keys()
            .next_back()
            .map_or(CommitLogOffset::ZERO, |b| {
                b.next(config.segment_size_bytes).start()
            });
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
            state: RefCell::new(LogState::new(segments, end)),
            filling: RefCell::new(None),
            written_waiters: PositionWaiters::default(),
            durable_waiters: PositionWaiters::default(),
        })
    }

    /// Opens the segment files in `dir`, in offset order, checking each
    /// one's name and length; a zero-length last file (its creation was
    /// cut short) is removed.
    async fn open_segments(
        disk: &D,
        config: &StoreConfig,
        dir: &Path,
    ) -> Result<BTreeMap<SegmentBase, Segment<D>>> {
        disk.create_dir_all(dir)
            .await
            .map_err(|e| StoreError::io("create commit-log directory", dir, e))?;
        let names = disk
            .list_dir(dir)
            .await
            .map_err(|e| StoreError::io("list commit-log directory", dir, e))?;
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
            let base = SegmentBase(base);
            segments.insert(base, Segment { base, file });
        }
        Ok(segments)
    }
}

impl<D: Disk> LogState<D> {
    /// A log whose positions all stand at `end`, nothing pending or in
    /// flight.
    fn new(segments: BTreeMap<SegmentBase, Segment<D>>, end: CommitLogOffset) -> LogState<D> {
        LogState {
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
        }
    }
}
