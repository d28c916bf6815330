//! Direct I/O: the hot window, the most recently written chunks kept in
//! memory for readers, and the last partial block.

use crate::disk::Disk;
use crate::ids::CommitLogOffset;

use super::{CommitLog, LogState};

/// Direct I/O: a chunk holding at most this many bytes, and using less
/// than a quarter of its buffer, enters the hot window as an exact copy
/// (its buffer is reused), so small writes at low rates do not each hold
/// a whole buffer there.
const HOT_COPY_BYTES_MAX: usize = 64 << 10;

/// Log bytes `[pos, pos + bytes.len())`, as written. Chunks follow each
/// other in log order; between two there is at most the unwritten span
/// of a BLANK, where no record lies.
pub(super) struct HotChunk {
    pos: CommitLogOffset,
    bytes: Vec<u8>,
}

impl<D: Disk> CommitLog<D> {
    /// Direct I/O: keeps a written chunk for readers, dropping the oldest
    /// beyond the maximum (counted in buffer capacity, the memory held).
    /// Buffers leaving the window are reused for new chunks.
    pub(super) fn keep_hot(&self, s: &mut LogState<D>, pos: CommitLogOffset, mut bytes: Vec<u8>) {
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

    /// Direct I/O: where reads switch from the file to memory (the hot
    /// window, or at least the last partial block). Everything from there
    /// to `written` that holds records is in memory.
    pub fn direct_memory_from(&self) -> Option<CommitLogOffset> {
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
    pub fn copy_from_memory(
        &self,
        from: CommitLogOffset,
        to: CommitLogOffset,
        out: &mut Vec<u8>,
    ) -> bool {
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
}
