//! Flushing: fdatasync of the segments written since the last flush,
//! moving `durable`.

use std::rc::Rc;

use crate::disk::{Disk, DiskFile};
use crate::error::Result;

use super::CommitLog;

/// [`CommitLog::flush`]'s files not yet synced, put back on the log's list
/// if the flush is dropped.
struct UnsyncedOnDrop<'a, D: Disk> {
    log: &'a CommitLog<D>,
    files: Vec<Rc<D::File>>,
}

impl<D: Disk> Drop for UnsyncedOnDrop<'_, D> {
    fn drop(&mut self) {
        let mut s = self.log.state.borrow_mut();
        for file in self.files.drain(..) {
            if !s.unsynced.iter().any(|f| Rc::ptr_eq(f, &file)) {
                s.unsynced.push(file);
            }
        }
    }
}

impl<D: Disk> CommitLog<D> {
    /// Flush latency and group-commit size so far (for metrics).
    pub fn durability_histograms(
        &self,
    ) -> (
        crate::histogram::HistogramSnapshot,
        crate::histogram::HistogramSnapshot,
    ) {
        (
            self.flush_seconds.snapshot(),
            self.group_commit_bytes.snapshot(),
        )
    }

    /// fdatasyncs every segment written since the last flush, holding the
    /// disk's flush gate, then advances `durable` to what was written before
    /// the flush began. Never retried after a failure.
    pub async fn flush(&self) -> Result<()> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        let (target, files) = {
            let mut s = self.state.borrow_mut();
            (s.written, std::mem::take(&mut s.unsynced))
        };
        if !files.is_empty() {
            // Dropped before every file is synced (its caller cancelled),
            // the files go back on the list, so the next flush syncs them.
            let mut syncing = UnsyncedOnDrop { log: self, files };
            let _permit = self.gate.acquire().await;
            let started = std::time::Instant::now();
            while let Some(file) = syncing.files.last().cloned() {
                if let Err(e) = file.sync_data().await {
                    return Err(self.poison(format!(
                        "fdatasync of {} failed: {e}",
                        file.path().display()
                    )));
                }
                syncing.files.pop();
            }
            self.flush_seconds.record(started.elapsed().as_secs_f64());
        }
        let mut s = self.state.borrow_mut();
        if target > s.durable {
            self.group_commit_bytes.record((target - s.durable) as f64);
            s.durable = target;
            s.check_positions();
            drop(s);
            self.durable_waiters.advance(target.get());
        }
        Ok(())
    }
}
