//! Appending: records are encoded into pending chunks of the write buffer,
//! offsets assigned, without I/O.

use crate::disk::Disk;
use crate::error::Result;
use crate::ids::{CommitLogOffset, SegmentBase};
use crate::record::{encode_blank, BLANK_SIZE_BYTES};

use super::{Chunk, CommitLog, LogState};

/// Direct I/O: capacity of a write chunk's buffer (or the write buffer's
/// maximum, if smaller): a group commit's bytes fit without the buffer growing, which
/// would copy it. A chunk may still grow, up to the write buffer's
/// maximum.
const CHUNK_CAPACITY_BYTES: usize = 1 << 20;
/// Buffered writes hand their chunk to the kernel and drop it; a smaller
/// buffer, which glibc serves from the heap rather than a fresh mmap.
/// Also the most a buffered write carries (but for one record larger than
/// it): a buffered write is a `pwrite` on the shard's thread, a copy into
/// the page cache during which the shard serves nothing else, so one write
/// of the whole 4 MiB write buffer held every connection of the shard for
/// milliseconds (at the page-cache copy rates measured on the development
/// VMs, `docs/perf-log.md`). Cut at this size, the shard answers between
/// writes, and the first records of a large group are acknowledged
/// before the last are copied.
const BUFFERED_CHUNK_CAPACITY_BYTES: usize = 256 << 10;
/// Direct I/O keeps written chunks' buffers (their bytes are in the
/// hot window, or were) for reuse, at most this many: a fresh buffer costs
/// a page fault per 4 KiB on its first use, which profiles showed next
/// to the copy as the append path's largest cost (`docs/perf-log.md`,
/// 2026-12-04).
const SPARE_CHUNKS_MAX: usize = 4;

/// Why an append cannot go into the buffer right now.
#[derive(Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The record needs the segment starting here, which is not ready.
    NeedSegment(SegmentBase),
    /// The write buffer is full; wait for the writer.
    BufferFull,
}

impl<D: Disk> CommitLog<D> {
    /// Reserves `size_bytes` contiguous bytes in one segment and lets
    /// `encode` write them at the returned position. Closes the segment with
    /// a BLANK filler first when the bytes do not fit.
    pub fn append_with(
        &self,
        size_bytes: usize,
        encode: impl FnOnce(&mut Vec<u8>, CommitLogOffset),
    ) -> Result<Result<CommitLogOffset, Blocked>> {
        self.refuse_writes()?;
        let seg = self.segment_size_bytes;
        assert!(size_bytes as u64 + BLANK_SIZE_BYTES as u64 <= seg);
        let mut s = self.state.borrow_mut();
        if s.pending_bytes > 0 && s.pending_bytes + size_bytes > self.write_buffer_bytes_max {
            return Ok(Err(Blocked::BufferFull));
        }
        let base = self.segment_base(s.appended);
        if !s.segments.contains_key(&base) {
            return Ok(Err(Blocked::NeedSegment(base)));
        }
        let next = base.next(seg);
        let left = next.start() - s.appended;
        if size_bytes as u64 + BLANK_SIZE_BYTES as u64 > left {
            if !s.segments.contains_key(&next) {
                return Ok(Err(Blocked::NeedSegment(next)));
            }
            let at = s.appended;
            let chunk = self.chunk_at(&mut s, at, BLANK_SIZE_BYTES);
            encode_blank(left as u32, &mut chunk.buf);
            chunk.end = next.start();
            s.pending_bytes += BLANK_SIZE_BYTES;
            s.appended = next.start();
        }
        let pos = s.appended;
        let chunk = self.chunk_at(&mut s, pos, size_bytes);
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
    pub fn append_raw(&self, bytes: &[u8]) -> Result<Result<CommitLogOffset, Blocked>> {
        self.refuse_writes()?;
        let mut s = self.state.borrow_mut();
        let pos = s.appended;
        let base = self.segment_base(pos);
        assert!(
            pos + bytes.len() as u64 <= base.next(self.segment_size_bytes).start(),
            "raw append crosses a segment end"
        );
        if s.pending_bytes > 0 && s.pending_bytes + bytes.len() > self.write_buffer_bytes_max {
            return Ok(Err(Blocked::BufferFull));
        }
        if !s.segments.contains_key(&base) {
            return Ok(Err(Blocked::NeedSegment(base)));
        }
        let chunk = self.chunk_at(&mut s, pos, bytes.len());
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
    pub fn start_empty_log_at(&self, offset: CommitLogOffset) -> bool {
        let mut s = self.state.borrow_mut();
        if !s.segments.is_empty()
            || s.appended != CommitLogOffset::ZERO
            || !offset.is_segment_start(self.segment_size_bytes)
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
        self.written_waiters.advance(offset.get());
        self.durable_waiters.advance(offset.get());
        true
    }

    /// The pending chunk `bytes` more at `pos` go into: the last one, or
    /// a new one.
    fn chunk_at<'s>(
        &self,
        s: &'s mut LogState<D>,
        pos: CommitLogOffset,
        bytes: usize,
    ) -> &'s mut Chunk {
        // A chunk is one write to one file: it never crosses into the next
        // segment, not even when a BLANK of exactly 8 bytes ends at the
        // boundary. A buffered one stops at its capacity.
        let base = self.segment_base(pos);
        let fits = s.pending.back().is_some_and(|c| {
            c.end == pos
                && c.data_end() == pos
                && self.segment_base(c.pos) == base
                && (self.direct
                    || c.buf.is_empty()
                    || c.buf.len() + bytes <= BUFFERED_CHUNK_CAPACITY_BYTES)
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

    /// A new chunk's buffer capacity.
    pub(super) fn chunk_capacity(&self) -> usize {
        let capacity = if self.direct {
            CHUNK_CAPACITY_BYTES
        } else {
            BUFFERED_CHUNK_CAPACITY_BYTES
        };
        self.write_buffer_bytes_max.min(capacity)
    }

    /// Keeps a chunk buffer for a later chunk, if there is room and it is
    /// a whole one (not an exact copy).
    pub(super) fn reuse(&self, s: &mut LogState<D>, mut buf: Vec<u8>) {
        if s.spare.len() < SPARE_CHUNKS_MAX && buf.capacity() >= self.chunk_capacity() {
            buf.clear();
            s.spare.push(buf);
        }
    }
}
