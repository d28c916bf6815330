//! Checkpoints: making consume queues and index durable up to the durable
//! log position and recording it; the clean stop.

use crate::consume_queue::ConsumeQueues;
use crate::disk::Disk;
use crate::error::Result;
use crate::key_index::KeyIndex;

use super::ShardStore;

impl<D: Disk> ShardStore<D> {
    /// Makes consume queues and index durable up to the durable commit-log
    /// position and records that in the checkpoint. `clean` marks a stop
    /// after which the log ends exactly there. Does nothing when not
    /// `clean` and the last checkpoint recorded the same position.
    pub async fn checkpoint(&self, clean: bool) -> Result<()> {
        let durable = match self.replica_boundary() {
            // On a slave, durable may fall inside a record: record the start
            // of the record not yet complete, once it is durable. Recovery
            // ends the log there and the master resends the rest.
            Some(boundary) => {
                self.ensure_durable(boundary).await?;
                boundary
            }
            None => self.log.durable(),
        };
        if !clean && self.checkpointed.get() == Some(durable) {
            return Ok(());
        }
        ConsumeQueues::persist(&self.queues, &self.disk, durable).await?;
        if self.config.index_enable {
            KeyIndex::persist(&self.index, &self.disk, durable).await?;
        }
        let sequence = self.checkpoint_sequence.get() + 1;
        let clean = clean && durable == self.log.appended();
        crate::checkpoint::Checkpoint {
            sequence,
            dispatched_offset: durable,
            last_store_timestamp_ms: self.log.last_store_timestamp_ms(),
            clean,
        }
        .store(&self.disk, &self.config.checkpoint_path())
        .await?;
        self.checkpoint_sequence.set(sequence);
        self.checkpointed.set(Some(durable));
        Ok(())
    }

    /// Clean stop: everything appended becomes durable, then the checkpoint
    /// records a clean end.
    /// Stops taking appends (they get [`StoreError::Closed`](crate::StoreError::Closed)), then flushes
    /// and checkpoints everything appended before, so no write is still in
    /// flight when the caller drops the store or its executor.
    pub async fn shutdown(&self) -> Result<()> {
        self.log.close();
        self.flush().await?;
        self.checkpoint(true).await
    }
}
