//! Pre-writing segments with zeros: a whole segment at once when the log
//! needs it, or the next one in the background, paced by the active
//! segment's use.

use std::rc::Rc;

use crate::disk::{Disk, DiskFile};
use crate::error::Result;
use crate::ids::SegmentBase;

use super::CommitLog;

/// Zero-fill chunk used when pre-writing a new segment.
pub(super) const PREWRITE_CHUNK_BYTES: usize = 1 << 20;
/// Zeros pre-written between two fdatasyncs of a new segment.
const PREWRITE_SYNC_BYTES: usize = 32 << 20;
/// The next segment's zero-fill keeps its zeroed fraction at this many
/// thirds of the active segment's used fraction, so it is done when the
/// active segment is three quarters used. Proportional, with no head
/// start: a head start of a quarter segment is a burst of zeros at each
/// roll, which took most of the broker's buffered `SYNC_FLUSH` throughput
/// for a while (figures: `docs/perf-log.md`, 2026-12-04).
const PREWRITE_PACE_THIRDS: u64 = 4;

/// The next segment while it is zero-filled in the background: created,
/// preallocated and its directory entry durable, not yet in use.
pub(super) struct Filling<F> {
    base: SegmentBase,
    file: Rc<F>,
    /// `[0, zeroed)` holds written zeros.
    zeroed: u64,
    /// Zeros written since the last fdatasync.
    unsynced: u64,
}

impl<D: Disk> CommitLog<D> {
    /// Background: zero-fills the segment after the active one, paced by
    /// the active one's use (`PREWRITE_PACE_THIRDS`), writing at most
    /// `budget_bytes` per call; registers the segment
    /// when it is full. Filled all at once, a segment's fill took the disk
    /// from buffered `SYNC_FLUSH` appends for seconds at every segment roll
    /// (figures: `docs/perf-log.md`, 2026-12-04); paced, its bytes are
    /// spread evenly over the active segment's life.
    pub async fn fill_ahead(&self, budget_bytes: usize) -> Result<()> {
        if !self.prewrite || self.poisoned().is_some() || self.is_disk_full() {
            return Ok(());
        }
        let seg = self.segment_size_bytes;
        let appended = self.appended();
        let active = self.segment_base(appended);
        let next = active.next(seg);
        if self.has_segment(next) || !self.has_segment(active) {
            return Ok(());
        }
        self.start_fill(next).await?;
        let used = active.file_pos(appended);
        let target = (used.saturating_mul(PREWRITE_PACE_THIRDS) / 3).min(seg);
        let mut budget = budget_bytes as u64;
        loop {
            let (file, pos, unsynced) = match &*self.filling.borrow() {
                Some(f) if f.base == next => (f.file.clone(), f.zeroed, f.unsynced),
                _ => return Ok(()), // taken by prepare_segment meanwhile
            };
            if pos >= seg {
                return self.finish_fill(next, file, unsynced).await;
            }
            if pos >= target || budget == 0 {
                return Ok(());
            }
            let len = self.zero_fill_step(next, &file, pos, unsynced).await?;
            budget = budget.saturating_sub(len);
        }
    }

    /// Makes `next` the segment the background fill works on, unless it
    /// already is: a fill for another segment is dropped with its file,
    /// and `next`'s file is created.
    async fn start_fill(&self, next: SegmentBase) -> Result<()> {
        let current = self.filling.borrow().as_ref().map(|f| f.base);
        if current == Some(next) {
            return Ok(());
        }
        if let Some(stale) = current {
            self.filling.borrow_mut().take();
            let path = self.dir.join(stale.file_name());
            let _ = self.disk.remove_file(&path).await;
        }
        let file = self.create_segment_file(next).await?;
        *self.filling.borrow_mut() = Some(Filling {
            base: next,
            file,
            zeroed: 0,
            unsynced: 0,
        });
        Ok(())
    }

    /// The fill of `next` has reached the segment's end: syncs the zeros
    /// not yet synced and registers the segment, unless `prepare_segment`
    /// took it meanwhile.
    async fn finish_fill(&self, next: SegmentBase, file: Rc<D::File>, unsynced: u64) -> Result<()> {
        if unsynced > 0 {
            let _permit = self.gate.acquire().await;
            if let Err(e) = file.sync_data().await {
                self.filling.borrow_mut().take();
                return Err(self
                    .segment_failed(&file.path(), "sync segment fill", e)
                    .await);
            }
        }
        if self
            .filling
            .borrow()
            .as_ref()
            .is_some_and(|f| f.base == next)
        {
            self.filling.borrow_mut().take();
            self.register_segment(next, file);
        }
        Ok(())
    }

    /// Writes the next chunk of zeros into `next` at `pos`, syncing once
    /// [`PREWRITE_SYNC_BYTES`] are unsynced, and records the progress;
    /// returns the bytes written. A failure ends the fill and removes the
    /// file.
    async fn zero_fill_step(
        &self,
        next: SegmentBase,
        file: &Rc<D::File>,
        pos: u64,
        unsynced: u64,
    ) -> Result<u64> {
        let len = PREWRITE_CHUNK_BYTES.min((self.segment_size_bytes - pos) as usize) as u64;
        let mut result = if self.direct {
            file.write_zeros_direct(pos, len as usize).await
        } else {
            file.write_all_at(vec![0u8; len as usize], pos).await
        };
        let sync_now = unsynced + len >= PREWRITE_SYNC_BYTES as u64;
        if result.is_ok() && sync_now {
            let _permit = self.gate.acquire().await;
            result = file.sync_data().await;
        }
        if let Err(e) = result {
            self.filling.borrow_mut().take();
            return Err(self
                .segment_failed(&file.path(), "zero-fill segment", e)
                .await);
        }
        if let Some(f) = self
            .filling
            .borrow_mut()
            .as_mut()
            .filter(|f| f.base == next)
        {
            f.zeroed = pos + len;
            f.unsynced = if sync_now { 0 } else { unsynced + len };
        }
        Ok(len)
    }

    /// Ends the background fill for a segment the log needs now: its file
    /// when the fill was for `base`, taken as it is; else (the log was
    /// truncated by recovery meanwhile) the fill's file, not part of the
    /// log, is removed.
    pub(super) async fn take_fill(&self, base: SegmentBase) -> Option<Rc<D::File>> {
        let filling = self.filling.borrow_mut().take()?;
        if filling.base == base {
            if filling.zeroed < self.segment_size_bytes {
                tracing::info!(
                    shard = %self.shard,
                    segment = base.0,
                    zeroed_bytes = filling.zeroed,
                    "log reached a segment before its zero-fill ended; the rest stays unwritten"
                );
            }
            return Some(filling.file);
        }
        let path = self.dir.join(filling.base.file_name());
        let _ = self.disk.remove_file(&path).await;
        None
    }
}
