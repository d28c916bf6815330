//! Acknowledgement: issuing writes and flushing until an appended record
//! is written (`ASYNC_FLUSH`) or durable (`SYNC_FLUSH`), with group commit.

use crate::config::FlushMode;
use crate::disk::Disk;
use crate::error::Result;
use crate::ids::CommitLogOffset;

use super::ShardStore;

impl<D: Disk> ShardStore<D> {
    /// Waits until everything up to `end` is written (to the page cache, or
    /// the disk under direct I/O), issuing writes while one may go out
    /// (several can be in flight under direct I/O).
    pub async fn ensure_written(&self, end: CommitLogOffset) -> Result<()> {
        while self.log.written() < end {
            self.write_step().await?;
        }
        Ok(())
    }

    /// The write buffer is full: returns once a write has taken its bytes
    /// (issued by this task, which then waits for it, or by another), or a
    /// write in flight has ended, so the caller can try again. It does not
    /// wait for the buffer's bytes to be written: under direct I/O the
    /// caller's append can go into the write after the one in flight.
    pub(crate) async fn make_room(&self) -> Result<()> {
        self.write_step().await
    }

    /// Issues the next write and waits for it, if one may go out now; else
    /// waits for a write in flight to end (the bytes are in flight, or wait
    /// for it before they may go out).
    async fn write_step(&self) -> Result<()> {
        if let Some(e) = self.log.poisoned() {
            return Err(e);
        }
        if self.log.roll_waits_for_flush() {
            let _sync = self.syncer.take().await;
            if self.log.roll_waits_for_flush() {
                self.log.flush().await?;
            }
            self.log.write_ends.bump();
            return Ok(());
        }
        if !self.log.can_issue() {
            self.log.write_ends.next_bump().await;
            return Ok(());
        }
        // Let the shard's other ready tasks append first: a write through
        // io_uring costs about the same whether it carries 32 KiB or
        // 256 KiB (figures: docs/perf-log.md, 2026-12-04), so one write
        // should carry them all.
        futures_lite::future::yield_now().await;
        // Another task may have issued it meanwhile: then this is a no-op.
        self.log.write_next().await?;
        Ok(())
    }

    /// Waits until everything up to `end` is durable, flushing if no other
    /// task is; a flush already running may not cover `end`, so after it the
    /// loop looks again. Under direct I/O with `SYNC_FLUSH` every write is
    /// durable (O_DSYNC), so writing is flushing.
    pub async fn ensure_durable(&self, end: CommitLogOffset) -> Result<()> {
        if self.log.writes_are_durable() {
            self.ensure_written(end).await?;
            assert!(
                self.log.durable() >= end,
                "a durable write left durable behind"
            );
            return Ok(());
        }
        loop {
            if self.log.durable() >= end {
                return Ok(());
            }
            if let Some(e) = self.log.poisoned() {
                return Err(e);
            }
            let Some(_turn) = self.flusher.try_take() else {
                self.flusher.turn_ended().await;
                continue;
            };
            self.ensure_written(self.log.appended()).await?;
            let _sync = self.syncer.take().await;
            self.log.flush().await?;
        }
    }

    /// Waits until the record ending at `end` may be acknowledged under the
    /// store's flush mode.
    pub async fn wait_acked(&self, end: CommitLogOffset) -> Result<()> {
        match self.config.flush_mode {
            FlushMode::Async => self.ensure_written(end).await,
            FlushMode::Sync => self.ensure_durable(end).await,
        }
    }

    /// Writes and fdatasyncs everything appended so far.
    pub async fn flush(&self) -> Result<()> {
        self.ensure_durable(self.log.appended()).await
    }

    /// Highest commit-log position consumers may see.
    pub fn confirm_offset(&self) -> CommitLogOffset {
        match self.config.flush_mode {
            FlushMode::Async => self.log.written(),
            FlushMode::Sync => self.log.durable(),
        }
    }

    /// Waits until the confirm offset passes `position` (long polling).
    pub async fn wait_visible(&self, position: CommitLogOffset) -> bool {
        let past = position.get() + 1;
        match self.config.flush_mode {
            FlushMode::Async => self.log.written_waiters.wait(past).await,
            FlushMode::Sync => self.log.durable_waiters.wait(past).await,
        }
    }

    /// Resolves once `written` reaches `position` (`false` if the log is
    /// poisoned first). Replication ships written bytes.
    pub fn wait_written(&self, position: CommitLogOffset) -> crate::waiters::WaitPosition<'_> {
        self.log.written_waiters.wait(position.get())
    }
}
