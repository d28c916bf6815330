//! Whether the log takes writes: poisoned for good after a failed write
//! or fdatasync, closed at shutdown, or refusing appends while the disk is
//! full.

use std::rc::Rc;

use crate::disk::Disk;
use crate::error::{Result, StoreError};

use super::CommitLog;

impl<D: Disk> CommitLog<D> {
    /// The error every write gets once a write or fdatasync has failed
    /// ([`StoreError::Poisoned`]); `None` while the log is healthy.
    pub fn poisoned(&self) -> Option<StoreError> {
        self.state
            .borrow()
            .poisoned
            .as_ref()
            .map(|reason| StoreError::Poisoned {
                shard: self.shard,
                reason: reason.clone(),
            })
    }

    pub(super) fn refuse_writes(&self) -> Result<()> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        if self.state.borrow().closed {
            return Err(StoreError::Closed { shard: self.shard });
        }
        if let Some(detail) = &self.state.borrow().disk_full {
            return Err(StoreError::DiskFull {
                shard: self.shard,
                detail: detail.clone(),
            });
        }
        Ok(())
    }

    /// Refuses appends from now on (a shutdown); writes and flushes of what
    /// was appended before go on.
    pub fn close(&self) {
        self.state.borrow_mut().closed = true;
    }

    /// Marks the disk full with a reason (appends then get
    /// [`StoreError::DiskFull`]), or `None` to accept appends again.
    pub fn set_disk_full(&self, detail: Option<String>) {
        self.state.borrow_mut().disk_full = detail.map(Rc::from);
    }

    /// Whether appends are refused because the disk is full.
    pub fn is_disk_full(&self) -> bool {
        self.state.borrow().disk_full.is_some()
    }

    pub(super) fn poison(&self, reason: String) -> StoreError {
        tracing::error!(shard = %self.shard, %reason, "commit log poisoned");
        self.state.borrow_mut().poisoned = Some(Rc::from(reason));
        self.written_waiters.fail_all();
        self.durable_waiters.fail_all();
        self.write_ends.fail_all();
        self.poisoned().expect("just poisoned")
    }
}
