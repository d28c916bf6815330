//! Retention: deleting expired segments and their derived entries, and
//! refusing writes while the disk is full.

use crate::consume_queue::ConsumeQueues;
use crate::disk::Disk;
use crate::error::{Result, StoreError};
use crate::key_index::KeyIndex;

use super::ShardStore;

/// What one retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted by the pass.
    pub segments_deleted: u32,
    /// Disk use after the pass, in percent (as df's Use%).
    pub disk_used_percent: u64,
    /// Whether appends are refused because the disk is full.
    pub disk_full: bool,
}

impl<D: Disk> ShardStore<D> {
    /// Deletes segments past retention (oldest first, never the active
    /// one), and more when disk use passes the forced-clean watermark;
    /// refuses writes above the full watermark and accepts them again once
    /// below. Derived entries pointing into deleted segments go with them.
    pub async fn enforce_retention(&self) -> Result<RetentionReport> {
        let root = &self.config.root;
        let usage = || {
            self.disk
                .usage(root)
                .map_err(|e| StoreError::io("stat file system", root, e))
        };
        let mut report = RetentionReport::default();
        let now = (self.clock)();
        let active = self.log.segment_base(self.log.appended());
        for base in self.log.segment_bases() {
            if base >= active {
                break;
            }
            let seg_end = base.next(self.log.segment_size_bytes()).start();
            // A segment was last written when the next record after it was
            // stored; read that record's time.
            let last_write_ms = match self.store_timestamp_at(seg_end).await {
                Ok(ts) if seg_end < self.log.written() => ts,
                _ => self.log.last_store_timestamp_ms(),
            };
            let expired = last_write_ms.saturating_add(self.config.retention_ms as i64) < now;
            let forced = usage()?.used_percent() >= self.config.disk_clean_forcibly_percent;
            if !(expired || forced) {
                break;
            }
            tracing::info!(
                shard = %self.config.shard,
                base = base.0,
                expired,
                forced,
                "deleting commit-log segment"
            );
            self.log.remove_segment(base).await?;
            report.segments_deleted += 1;
        }
        if report.segments_deleted > 0 {
            let min = self.log.min_offset();
            ConsumeQueues::drop_below(&self.queues, &self.disk, min).await?;
            KeyIndex::drop_below(&self.index, &self.disk, min).await?;
        }
        let percent = usage()?.used_percent();
        report.disk_used_percent = percent;
        if percent >= self.config.disk_full_percent {
            self.log.set_disk_full(Some(format!(
                "disk {percent}% used, at or above disk_full_percent {}",
                self.config.disk_full_percent
            )));
        } else if self.log.is_disk_full() {
            self.log.set_disk_full(None);
        }
        report.disk_full = self.log.is_disk_full();
        Ok(report)
    }
}
