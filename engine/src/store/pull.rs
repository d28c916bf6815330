//! Pull reads: a queue's messages as file ranges for zero-copy sends
//! (plus, under direct I/O, bytes from the log's memory), and readahead
//! for consumers behind the hot window.

use crate::commit_log::FileRange;
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::disk::Disk;
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};

use super::ShardStore;

/// `GetMessageStatus`, as the broker maps it to pull response codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// At least one message was returned.
    Found,
    /// Entries were there but none passed the filter.
    NoMatchedMessage,
    /// The queue does not exist or holds nothing.
    NoMessageInQueue,
    /// The offset is below the queue's min offset; `next_offset` is the min.
    OffsetTooSmall,
    /// Offset equals the max: nothing new yet (long-poll candidate).
    OffsetOverflowOne,
    /// The offset is past the max; `next_offset` is the max.
    OffsetOverflowBadly,
}

/// The result of [`ShardStore::read_queue`](super::ShardStore::read_queue):
/// a status, the offsets to report, and the record bytes to send.
pub struct QueueRead<F> {
    /// What the read found.
    pub status: ReadStatus,
    /// Queue offset the consumer should read from next.
    pub next_offset: QueueOffset,
    /// The queue's min offset at the time of the read.
    pub min_offset: QueueOffset,
    /// The queue's exclusive max offset visible to consumers.
    pub max_offset: QueueOffset,
    /// Record bytes to send, coalesced where records are adjacent in a
    /// segment.
    pub ranges: Vec<FileRange<F>>,
    /// Messages returned.
    pub message_count: u32,
    /// Bytes of the messages returned.
    pub bytes: u64,
    /// Commit-log offset of the last message returned (how far behind the
    /// log's end this read is: cold or hot data).
    pub last_physical_offset: Option<CommitLogOffset>,
    /// Direct I/O only: record bytes in the log's last partial block, from
    /// memory; they follow the ranges.
    pub memory_tail: Vec<u8>,
}

impl<F> QueueRead<F> {
    /// A read that returns nothing yet: `status`, positioned at `next_offset`.
    fn empty(
        status: ReadStatus,
        next_offset: QueueOffset,
        min_offset: QueueOffset,
        max_offset: QueueOffset,
    ) -> QueueRead<F> {
        QueueRead {
            status,
            next_offset,
            min_offset,
            max_offset,
            ranges: Vec::new(),
            message_count: 0,
            bytes: 0,
            last_physical_offset: None,
            memory_tail: Vec::new(),
        }
    }
}

/// The status and next offset of a read at `offset` that finds nothing
/// because the queue `[min, max)` is empty or does not hold `offset`;
/// `None` when it does.
fn outside_queue(
    offset: QueueOffset,
    min: QueueOffset,
    max: QueueOffset,
) -> Option<(ReadStatus, QueueOffset)> {
    if max == min {
        Some((ReadStatus::NoMessageInQueue, min))
    } else if offset < min {
        Some((ReadStatus::OffsetTooSmall, min))
    } else if offset == max {
        Some((ReadStatus::OffsetOverflowOne, offset))
    } else if offset > max {
        Some((ReadStatus::OffsetOverflowBadly, max))
    } else {
        None
    }
}

/// Direct I/O: how far past a read from a segment file the kernel is asked
/// to read ahead (the kernel's own readahead is off on segment files; see
/// `ShardStore::read_ahead`).
pub const READ_AHEAD_BYTES: u64 = 4 << 20;

impl<D: Disk> ShardStore<D> {
    /// Looks up messages of one queue from `offset`: at most `max_messages`
    /// and `max_bytes` (at least one message if any matches), skipping
    /// entries `accept` rejects by tag code. No I/O: the ranges point into
    /// the segment files.
    pub fn read_queue(
        &self,
        topic: &str,
        queue_id: QueueId,
        offset: QueueOffset,
        max_messages: u32,
        max_bytes: u64,
        accept: &dyn Fn(i64) -> bool,
    ) -> QueueRead<D::File> {
        let confirm = self.confirm_offset();
        let queues = self.queues.borrow();
        let Some(q) = queues.get(topic, queue_id) else {
            let zero = QueueOffset::ZERO;
            return QueueRead::empty(ReadStatus::NoMessageInQueue, zero, zero, zero);
        };
        let min = q.min_offset();
        let max = q.visible_max_offset(confirm);
        let mut read = QueueRead::empty(ReadStatus::NoMatchedMessage, offset, min, max);
        if let Some((status, next_offset)) = outside_queue(offset, min, max) {
            read.status = status;
            read.next_offset = next_offset;
            return read;
        }
        self.collect_entries(&mut read, q, max_messages, max_bytes, accept);
        read
    }

    /// Adds the entries of `q` from `read.next_offset` (inside the queue)
    /// to `read`, within the limits and past the filter, and moves
    /// `read.next_offset` past the last one looked at.
    fn collect_entries(
        &self,
        read: &mut QueueRead<D::File>,
        q: &ConsumeQueue,
        max_messages: u32,
        max_bytes: u64,
        accept: &dyn Fn(i64) -> bool,
    ) {
        let memory_from = self.log.direct_memory_from();
        let mut last_end = None;
        let offset = read.next_offset;
        let mut next = offset;
        for entry in q
            .iter_from(offset)
            .take((read.max_offset.0 - offset.0) as usize)
        {
            if read.message_count >= max_messages
                || (read.message_count > 0 && read.bytes + u64::from(entry.size_bytes) > max_bytes)
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
            read.bytes += u64::from(entry.size_bytes);
        }
        read.next_offset = next;
        if read.message_count > 0 {
            read.status = ReadStatus::Found;
        }
        if let (Some(from), Some(end), Some(range)) = (memory_from, last_end, read.ranges.last()) {
            self.read_ahead(range, end, from);
        }
    }

    /// Direct I/O turns the kernel's readahead off on segment files (it
    /// could cache a block that a later write rewrites), so a consumer
    /// reading behind the hot window read the file a page at a time, and
    /// a cold backlog was consumed at well under buffered I/O's rate
    /// (figures: `docs/perf-log.md`, 2026-12-04). This asks
    /// the kernel to read ahead of the read, up to [`READ_AHEAD_BYTES`],
    /// only whole blocks below `memory_from` (no write touches them again)
    /// and within the segment; once per half window a consumer moves.
    fn read_ahead(
        &self,
        range: &FileRange<D::File>,
        end: CommitLogOffset,
        memory_from: CommitLogOffset,
    ) {
        use crate::disk::DiskFile;
        let seg = self.log.segment_size_bytes();
        let until = (end + READ_AHEAD_BYTES)
            .min(memory_from.align_down(crate::disk::DIRECT_IO_ALIGN_BYTES))
            .min(self.log.segment_base(end).next(seg).start());
        if until <= end {
            return;
        }
        let (from, to) = self.read_ahead.get();
        if end >= from && end + READ_AHEAD_BYTES / 2 <= to {
            return;
        }
        range
            .file
            .advise_willneed(range.file_pos + u64::from(range.len), until - end);
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
        memory_from: Option<CommitLogOffset>,
        last_end: &mut Option<CommitLogOffset>,
    ) -> bool {
        let start = entry.commit_log_offset;
        let end = start + u64::from(entry.size_bytes);
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
        if *last_end == Some(start) && !start.is_segment_start(self.log.segment_size_bytes()) {
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
}
