//! Taking the end recovery found: truncating and scrubbing the tail,
//! making the scanned segments durable, and setting the positions.

use std::rc::Rc;

use crate::disk::{Disk, DiskFile, DIRECT_IO_ALIGN_BYTES};
use crate::error::{Result, StoreError};
use crate::ids::{CommitLogOffset, SegmentBase};

use super::prewrite::PREWRITE_CHUNK_BYTES;
use super::CommitLog;

impl<D: Disk> CommitLog<D> {
    /// After recovery: the valid log ends at `end`. After a crash
    /// (`scrub_tail`) zeroes the rest of its segment, so bytes a crash left
    /// past the end can never be mistaken for records; drops later segments;
    /// then makes that durable (a killed process leaves written but unsynced
    /// bytes that recovery just accepted).
    pub async fn set_recovered_end(
        &self,
        scan_start: CommitLogOffset,
        end: CommitLogOffset,
        scrub_tail: bool,
    ) -> Result<()> {
        let base = self.segment_base(end);
        self.remove_segments_after(base).await?;
        if scrub_tail {
            self.scrub_after(end).await?;
        }
        self.sync_scanned(self.segment_base(scan_start), base)
            .await?;
        self.set_positions_at(end).await
    }

    /// Removes every segment after the one starting at `base`: it holds
    /// nothing valid (the scan ended before it); it is recreated,
    /// zero-filled, when the log reaches it again.
    async fn remove_segments_after(&self, base: SegmentBase) -> Result<()> {
        let later: Vec<SegmentBase> = self
            .state
            .borrow()
            .segments
            .range((std::ops::Bound::Excluded(base), std::ops::Bound::Unbounded))
            .map(|(b, _)| *b)
            .collect();
        for b in later {
            self.remove_segment(b).await?;
        }
        Ok(())
    }

    /// Zeroes the bytes of `end`'s segment from `end` on, chunk by chunk,
    /// writing only chunks that are not zeros already.
    async fn scrub_after(&self, end: CommitLogOffset) -> Result<()> {
        let seg = self.segment_size_bytes;
        let base = self.segment_base(end);
        let file = self
            .state
            .borrow()
            .segments
            .get(&base)
            .map(|g| g.file.clone());
        let Some(file) = file else {
            return Ok(());
        };
        let mut pos = base.file_pos(end);
        while pos < seg {
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
        Ok(())
    }

    /// Everything the scan accepted may have been only in the page cache
    /// of a killed process: fdatasyncs every segment from `first` to
    /// `last` (segment bases).
    async fn sync_scanned(&self, first: SegmentBase, last: SegmentBase) -> Result<()> {
        let scanned: Vec<Rc<D::File>> = self
            .state
            .borrow()
            .segments
            .range(first..=last)
            .map(|(_, g)| g.file.clone())
            .collect();
        for file in scanned {
            file.sync_data()
                .await
                .map_err(|e| StoreError::io("sync recovered segment", file.path(), e))?;
        }
        Ok(())
    }

    /// Sets every position to `end` and, under direct I/O, reads back the
    /// last partial block for the next write and for readers.
    async fn set_positions_at(&self, end: CommitLogOffset) -> Result<()> {
        let tail_pos = end
            .align_down(DIRECT_IO_ALIGN_BYTES)
            .max(self.segment_base(end).start());
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
        self.written_waiters.advance(end.get());
        self.durable_waiters.advance(end.get());
        Ok(())
    }
}
