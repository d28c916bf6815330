//! Opening a store: load what is on disk and decide how much of the commit
//! log to re-read.
//!
//! Decision table (one row per case; `D` = checkpoint's dispatched offset):
//!
//! | checkpoint        | last stop | scan the log from      | tail of last segment        |
//! |-------------------|-----------|------------------------|-----------------------------|
//! | none (new store)  | -         | oldest segment         | zeroed past the valid end   |
//! | intact            | clean     | `D` (finds nothing new) | left as is (already clean)  |
//! | intact            | crash     | `D`, CRC-checking all  | zeroed past the valid end   |
//! | `D` past log end  | any       | refuse to start: files are missing, guessing would lose data |
//!
//! The scan validates each record by TOTALSIZE, magic, body CRC, field
//! lengths, its own PHYSICALOFFSET, a topic name safe as a directory and a
//! queue offset that follows its queue's last; a BLANK moves to the next
//! segment; the first invalid record is the end of the log, unless a later
//! segment holds data: then the bad record is in the middle of the log and
//! the store refuses to open, deleting nothing. Consume-queue and index
//! entries at or past the checkpoint are dropped at load and rebuilt by the
//! same dispatch step the append path uses. The recovered end is made
//! durable before the store accepts writes.

use crate::checkpoint::Checkpoint;
use crate::commit_log::CommitLog;
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueues;
use crate::disk::Disk;
use crate::dispatch::dispatch;
use crate::error::{Result, StoreError};
use crate::flush_gate::FlushGate;
use crate::ids::{CommitLogOffset, QueueOffset, SegmentBase};
use crate::key_index::KeyIndex;
use crate::record::{
    check_placement, read_head, Head, RecordView, BLANK_SIZE_BYTES, RECORD_SIZE_BYTES_MAX,
};
use crate::store::{Clock, ShardStore};

/// Bytes read at a time while scanning the log.
const SCAN_READ_BYTES: usize = 8 << 20;
const _: () = assert!(SCAN_READ_BYTES >= RECORD_SIZE_BYTES_MAX);

pub(crate) async fn open<D: Disk>(
    disk: D,
    config: StoreConfig,
    gate: FlushGate,
    clock: Clock,
) -> Result<ShardStore<D>> {
    disk.create_dir_all(&config.root)
        .await
        .map_err(|e| StoreError::io("create store directory", &config.root, e))?;
    check_config(&config)?;
    let log = CommitLog::open(disk.clone(), &config, gate).await?;
    let checkpoint = Checkpoint::load(&disk, &config.checkpoint_path()).await?;
    let log_min = log.min_offset();
    let segments = log.segment_bases();
    let log_end = segments.last().map_or(CommitLogOffset::ZERO, |b| {
        b.next(config.segment_size_bytes).start()
    });

    let Resume {
        dispatched,
        clean,
        sequence,
        last_store_timestamp_ms: last_ts,
    } = resume_from(checkpoint, &segments, log_end, &config)?;
    let start = dispatched.max(log_min);

    let (mut queues, mut index) = load_derived(&disk, &config, start, log_min).await?;

    let scanned = scan(&log, start, &mut queues, &mut index, config.index_enable).await?;
    refuse_if_data_follows(&log, &config, &scanned).await?;
    let Scanned {
        end,
        last_store_timestamp_ms: scanned_last_ts,
        ..
    } = scanned;
    for q in queues.queues_mut() {
        q.truncate_from(end);
    }
    index.truncate_from(end);
    tracing::info!(
        shard = %config.shard,
        checkpoint = %dispatched,
        clean,
        recovered_end = %end,
        scanned_bytes = end - start,
        "commit log recovered"
    );
    log.set_recovered_end(start, end, !clean).await?;
    log.set_last_store_timestamp(last_ts.max(scanned_last_ts));
    let store = ShardStore::assemble(disk, config, log, queues, index, sequence, clock);
    // Record the recovered state, so a crash right after start does not
    // re-read the same log again, and a stale "clean" flag is never reused.
    store.checkpoint(false).await?;
    Ok(store)
}

/// Refuses a configuration the log cannot be opened with.
fn check_config(config: &StoreConfig) -> Result<()> {
    if config.direct_io
        && !config
            .segment_size_bytes
            .is_multiple_of(crate::disk::DIRECT_IO_ALIGN_BYTES)
    {
        return Err(StoreError::Corrupt {
            what: "configuration",
            path: config.root.clone(),
            detail: format!(
                "direct I/O needs segment_size_bytes a multiple of {}, got {}",
                crate::disk::DIRECT_IO_ALIGN_BYTES,
                config.segment_size_bytes
            ),
        });
    }
    Ok(())
}

/// What the checkpoint recorded: where dispatch resumes, and whether the
/// last stop was clean.
struct Resume {
    dispatched: CommitLogOffset,
    clean: bool,
    sequence: u64,
    last_store_timestamp_ms: i64,
}

/// Where recovery resumes: from the checkpoint, or from the log's start
/// without one. A checkpoint past the log's end means segments are
/// missing: refused.
fn resume_from(
    checkpoint: Option<Checkpoint>,
    segments: &[SegmentBase],
    log_end: CommitLogOffset,
    config: &StoreConfig,
) -> Result<Resume> {
    match checkpoint {
        None => Ok(Resume {
            dispatched: CommitLogOffset::ZERO,
            clean: false,
            sequence: 0,
            last_store_timestamp_ms: 0,
        }),
        Some(c)
            if c.dispatched_offset > log_end
                && !(segments.is_empty() && c.dispatched_offset == CommitLogOffset::ZERO) =>
        {
            Err(StoreError::Corrupt {
                what: "checkpoint",
                path: config.checkpoint_path(),
                detail: format!(
                    "dispatched offset {} is past the end of the commit log ({log_end}); segments are missing",
                    c.dispatched_offset
                ),
            })
        }
        Some(c) => Ok(Resume {
            dispatched: c.dispatched_offset,
            clean: c.clean,
            sequence: c.sequence,
            last_store_timestamp_ms: c.last_store_timestamp_ms,
        }),
    }
}

/// Loads the consume queues and (when enabled) the key index as persisted
/// up to `start`, dropping queue entries below the log's first offset.
async fn load_derived<D: Disk>(
    disk: &D,
    config: &StoreConfig,
    start: CommitLogOffset,
    log_min: CommitLogOffset,
) -> Result<(ConsumeQueues, KeyIndex)> {
    let mut queues = ConsumeQueues::load(
        disk,
        config.consume_queue_dir(),
        config.consume_queue_segment_entries,
        start,
    )
    .await?;
    let index = if config.index_enable {
        KeyIndex::load(
            disk,
            config.index_dir(),
            config.index_segment_entries,
            start,
        )
        .await?
    } else {
        KeyIndex::new(config.index_dir(), config.index_segment_entries)
    };
    for q in queues.queues_mut() {
        q.drop_below(log_min);
    }
    Ok((queues, index))
}

/// Where a scan of the log stopped.
struct Scanned {
    /// End of the valid log.
    end: CommitLogOffset,
    /// Last store timestamp seen.
    last_store_timestamp_ms: i64,
    /// Why the record at `end` was not taken; `None` where the log simply
    /// ends (zeros, or no further segment).
    stopped_by: Option<String>,
}

/// Re-reads the log from `start`, dispatching each valid record, up to the
/// first position that does not hold one.
async fn scan<D: Disk>(
    log: &CommitLog<D>,
    start: CommitLogOffset,
    queues: &mut ConsumeQueues,
    index: &mut KeyIndex,
    index_enable: bool,
) -> Result<Scanned> {
    let seg = log.segment_size_bytes();
    let mut pos = start;
    let mut last_ts = 0;
    let stopped_by = 'segments: loop {
        let base = log.segment_base(pos);
        if !log.has_segment(base) {
            break None;
        }
        let mut buf = log.read(pos, SCAN_READ_BYTES).await?;
        let mut buf_start = pos;
        loop {
            let at = (pos - buf_start) as usize;
            let short = buf.len() - at < BLANK_SIZE_BYTES || needs_more(&buf[at..]);
            let reaches_segment_end = buf_start + buf.len() as u64 >= base.next(seg).start();
            if short && !reaches_segment_end && at > 0 {
                buf = log.read(pos, SCAN_READ_BYTES).await?;
                buf_start = pos;
                continue;
            }
            if buf.len() - at < BLANK_SIZE_BYTES {
                // A segment always ends with a record or BLANK.
                break 'segments Some("the segment ends without a BLANK".to_string());
            }
            match read_head(&buf[at..]) {
                Ok(Head::Blank) => {
                    pos = base.next(seg).start();
                    continue 'segments;
                }
                Ok(Head::Empty) => break 'segments None,
                Err(e) => break 'segments Some(e.to_string()),
                Ok(Head::Record { .. }) => {}
            }
            let view = match RecordView::parse(&buf[at..]) {
                Ok(view) => view,
                Err(e) => break 'segments Some(e.to_string()),
            };
            if let Some(problem) = torn_at(log, base, &view, pos, queues)? {
                break 'segments Some(problem);
            }
            dispatch(&view, queues, index_enable.then_some(&mut *index));
            last_ts = last_ts.max(view.store_timestamp_ms);
            pos += view.size_bytes() as u64;
        }
    };
    Ok(Scanned {
        end: pos,
        last_store_timestamp_ms: last_ts,
        stopped_by,
    })
}

/// Checks the record at `pos` (in segment `base`) before recovery takes
/// it: `Some(problem)` where it is torn (the log may end there), an error
/// where it is intact but cannot be placed.
fn torn_at<D: Disk>(
    log: &CommitLog<D>,
    base: SegmentBase,
    view: &RecordView<'_>,
    pos: CommitLogOffset,
    queues: &ConsumeQueues,
) -> Result<Option<String>> {
    match check_scanned(view, pos, queues) {
        Ok(()) => Ok(None),
        Err(Bad::Torn(problem)) => Ok(Some(problem)),
        // An intact record that cannot be placed: the log or the
        // consume queues are damaged, not torn. Truncating here
        // would zero acknowledged records after it.
        Err(Bad::Corrupt(problem)) => Err(StoreError::Corrupt {
            what: "commit log",
            path: log.segment_path(base),
            detail: format!(
                "the intact record at offset {pos} cannot be placed ({problem}). \
                 Nothing was truncated or deleted."
            ),
        }),
    }
}

/// Why recovery did not take a record.
enum Bad {
    /// Not whole: where a crash cut a write short (or bit rot); the log
    /// may end here.
    Torn(String),
    /// Whole (CRC and position check out) but it cannot be placed: damage
    /// the store must not truncate over.
    Corrupt(String),
}

/// What recovery checks of a parsed record before it dispatches it.
fn check_scanned(
    view: &RecordView<'_>,
    pos: CommitLogOffset,
    queues: &ConsumeQueues,
) -> std::result::Result<(), Bad> {
    view.verify_crc().map_err(|e| Bad::Torn(e.to_string()))?;
    if view.physical_offset as u64 != pos.get() {
        return Err(Bad::Torn(format!(
            "the record says it is at {}",
            view.physical_offset
        )));
    }
    check_placement(view).map_err(|e| Bad::Corrupt(e.to_string()))?;
    if view.takes_queue_offset() {
        let offset = QueueOffset(view.queue_offset as u64);
        queues
            .check_next(view.topic, view.queue(), offset, true)
            .map_err(Bad::Corrupt)?;
    }
    Ok(())
}

/// The scan stops at the first position without a valid record. That is
/// the log's end only if nothing follows it: the log never writes into a
/// segment before every byte ahead of it is durable (the roll barrier in
/// `CommitLog`), so a torn tail can only be in the last segment holding
/// data. A later segment that holds data means the bad record is in the
/// middle of the log: refuse to start, and delete nothing.
async fn refuse_if_data_follows<D: Disk>(
    log: &CommitLog<D>,
    config: &StoreConfig,
    scanned: &Scanned,
) -> Result<()> {
    let end_base = log.segment_base(scanned.end);
    let mut holding = Vec::new();
    for base in log.segment_bases().into_iter().filter(|&b| b > end_base) {
        if log.segment_starts_with_data(base).await? {
            holding.push(base.file_name());
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    let why = scanned
        .stopped_by
        .as_deref()
        .unwrap_or("no record where one should start (zeros, or a missing segment)");
    Err(StoreError::Corrupt {
        what: "commit log",
        path: config.commit_log_dir(),
        detail: format!(
            "the log is unreadable at offset {} ({why}), but later segments hold data: {}. \
             Nothing was truncated or deleted. Restore the damaged segment ({}), or move the \
             later segments out of the directory to start with the log ending at {}",
            scanned.end,
            holding.join(", "),
            end_base.file_name(),
            scanned.end
        ),
    })
}

/// Whether the record starting at `buf` claims more bytes than `buf` holds.
fn needs_more(buf: &[u8]) -> bool {
    matches!(read_head(buf), Ok(Head::Record { size_bytes }) if size_bytes > buf.len())
}
