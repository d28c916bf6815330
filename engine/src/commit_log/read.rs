//! Reading written bytes: from segment files, and under direct I/O the
//! last partial block from memory; file ranges for zero-copy sends.

use std::rc::Rc;

use crate::disk::{Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::ids::{CommitLogOffset, SegmentBase};
use crate::record::BLANK_SIZE_BYTES;

use super::CommitLog;

/// A range of one segment file, for zero-copy sends. Holding it keeps the
/// file open even if retention deletes the segment meanwhile.
pub struct FileRange<F> {
    /// The segment file; holding it keeps the file open.
    pub file: Rc<F>,
    /// Position of the range within the file, in bytes.
    pub file_pos: u64,
    /// Length of the range, in bytes.
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

impl<D: Disk> CommitLog<D> {
    /// Reads bytes that have been written (not past `written`), within one
    /// segment. Returns fewer bytes at a segment's end (and, under direct
    /// I/O, at `written`: bytes past it are not read).
    pub async fn read(&self, pos: CommitLogOffset, len: usize) -> Result<Vec<u8>> {
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

    pub(super) async fn read_file(&self, pos: CommitLogOffset, len: usize) -> Result<Vec<u8>> {
        let (file, file_pos, len) = {
            let s = self.state.borrow();
            let base = self.segment_base(pos);
            let Some(seg) = s.segments.get(&base) else {
                return Err(StoreError::NoRecordAt {
                    offset: pos,
                    detail: "segment not held (deleted by retention or never written)".into(),
                });
            };
            let seg_end = base.next(self.segment_size_bytes).start();
            let len = (len as u64).min(seg_end - pos) as usize;
            (seg.file.clone(), base.file_pos(pos), len)
        };
        file.read_at(file_pos, len)
            .await
            .map_err(|e| StoreError::io("read commit log", file.path(), e))
    }

    /// Whether the segment starting at `base` holds anything at its start
    /// (a segment past the log's end is all zeros: pre-written, or
    /// preallocated).
    pub(crate) async fn segment_starts_with_data(&self, base: SegmentBase) -> Result<bool> {
        let head = self.read_file(base.start(), BLANK_SIZE_BYTES).await?;
        Ok(head.iter().any(|&b| b != 0))
    }

    /// The segment file and position holding `[pos, pos + len)`.
    pub fn file_range(&self, pos: CommitLogOffset, len: u32) -> Option<FileRange<D::File>> {
        let s = self.state.borrow();
        let base = self.segment_base(pos);
        let seg = s.segments.get(&base)?;
        assert!(pos + u64::from(len) <= base.next(self.segment_size_bytes).start());
        Some(FileRange {
            file: seg.file.clone(),
            file_pos: base.file_pos(pos),
            len,
        })
    }
}
