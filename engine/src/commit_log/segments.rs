//! Segment files: creating, registering and removing them.

use std::path::PathBuf;
use std::rc::Rc;

use crate::disk::{is_disk_full, Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::ids::file_name_for_offset;
use crate::ids::SegmentBase;

use super::{CommitLog, Segment};

impl<D: Disk> CommitLog<D> {
    /// Start offsets of every segment held, oldest first.
    pub fn segment_bases(&self) -> Vec<SegmentBase> {
        self.state.borrow().segments.keys().copied().collect()
    }

    /// Whether the segment starting at `base` is held.
    pub fn has_segment(&self, base: SegmentBase) -> bool {
        self.state.borrow().segments.contains_key(&base)
    }

    /// Creates and preallocates the segment starting at `base`, so appends
    /// into it never pay for file growth. With zero-fill, a segment is
    /// pre-written only by the background fill ([`CommitLog::fill_ahead`]),
    /// ahead of need; one needed now is taken as far as that fill got, or
    /// unfilled (a fresh store's first segment): appends never wait for
    /// zeros. The unfilled part costs its flushes an extent conversion
    /// instead. Filling a fresh store's first segment here held its first
    /// `SYNC_FLUSH` sends for 3 s (`docs/perf-log.md`, 2026-12-04). ENOSPC
    /// marks the disk full; nothing already stored is affected.
    pub async fn prepare_segment(&self, base: SegmentBase) -> Result<()> {
        if self.has_segment(base) {
            return Ok(());
        }
        assert_eq!(base.0 % self.segment_size_bytes, 0);
        if let Some(file) = self.take_fill(base).await {
            self.register_segment(base, file);
            return Ok(());
        }
        let file = self.create_segment_file(base).await?;
        if self.has_segment(base) {
            return Ok(()); // prepared concurrently by another task
        }
        self.register_segment(base, file);
        Ok(())
    }

    /// Creates and preallocates a segment file and makes its directory
    /// entry durable.
    pub(super) async fn create_segment_file(&self, base: SegmentBase) -> Result<Rc<D::File>> {
        let path = self.dir.join(file_name_for_offset(base.0));
        let file = self
            .disk
            .open(&path, true)
            .await
            .map_err(|e| StoreError::io("create segment", &path, e))?;
        if let Err(e) = file.allocate(self.segment_size_bytes).await {
            return Err(self.segment_failed(&path, "preallocate segment", e).await);
        }
        self.disk
            .sync_dir(&self.dir)
            .await
            .map_err(|e| StoreError::io("sync commit-log directory", &self.dir, e))?;
        Ok(file)
    }

    /// Removes a segment file that could not be prepared; ENOSPC marks the
    /// disk full.
    pub(super) async fn segment_failed(
        &self,
        path: &std::path::Path,
        what: &'static str,
        e: std::io::Error,
    ) -> StoreError {
        let _ = self.disk.remove_file(path).await;
        if is_disk_full(&e) {
            let detail = format!("cannot create segment {}: {e}", path.display());
            self.set_disk_full(Some(detail.clone()));
            return StoreError::DiskFull {
                shard: self.shard,
                detail: Rc::from(detail),
            };
        }
        StoreError::io(what, path, e)
    }

    pub(super) fn register_segment(&self, base: SegmentBase, file: Rc<D::File>) {
        if self.direct {
            file.advise_random();
        }
        self.state
            .borrow_mut()
            .segments
            .insert(base, Segment { base, file });
    }

    /// The file of the segment starting at `base`.
    pub fn segment_path(&self, base: SegmentBase) -> PathBuf {
        self.dir.join(file_name_for_offset(base.0))
    }

    /// Removes one segment file (retention or recovery).
    pub async fn remove_segment(&self, base: SegmentBase) -> Result<()> {
        let removed = self.state.borrow_mut().segments.remove(&base);
        if removed.is_some() {
            let path = self.dir.join(file_name_for_offset(base.0));
            self.disk
                .remove_file(&path)
                .await
                .map_err(|e| StoreError::io("remove segment", &path, e))?;
        }
        Ok(())
    }
}
