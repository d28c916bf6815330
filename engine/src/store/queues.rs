//! Consume queues as consumers see them: offsets, entries, topics.

use crate::disk::Disk;
use crate::ids::{CommitLogOffset, QueueId, QueueOffset};

use super::ShardStore;

/// One consume-queue entry, as [`ShardStore::queue_entries`] returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Commit-log offset of the record.
    pub commit_log_offset: CommitLogOffset,
    /// The tag hash, or for the timer topic the delivery time
    /// ([`crate::dispatch::tags_code`]).
    pub tags_code: i64,
    /// Size of the record in the log.
    pub size_bytes: u32,
}

impl<D: Disk> ShardStore<D> {
    /// The queue's first offset still held; zero for an unknown queue.
    pub fn min_queue_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        self.queues
            .borrow()
            .get(topic, queue_id)
            .map_or(QueueOffset::ZERO, |q| q.min_offset())
    }

    /// Exclusive max of what consumers may see.
    pub fn max_queue_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        let confirm = self.confirm_offset();
        self.queues
            .borrow()
            .get(topic, queue_id)
            .map_or(QueueOffset::ZERO, |q| q.visible_max_offset(confirm))
    }

    /// Up to `max` entries of one queue visible to consumers, from `from`
    /// or, when retention has dropped it, from the queue's min offset;
    /// with the queue offset of the first one. For readers that need
    /// records one at a time or only their tag codes (the broker's delay
    /// and timer delivery) rather than file ranges.
    pub fn queue_entries(
        &self,
        topic: &str,
        queue_id: QueueId,
        from: QueueOffset,
        max: usize,
    ) -> (QueueOffset, Vec<QueueEntry>) {
        let confirm = self.confirm_offset();
        let queues = self.queues.borrow();
        let Some(q) = queues.get(topic, queue_id) else {
            return (from, Vec::new());
        };
        let start = from.max(q.min_offset());
        let visible = q.visible_max_offset(confirm).0.saturating_sub(start.0);
        let entries = q
            .iter_from(start)
            .take(max.min(usize::try_from(visible).unwrap_or(usize::MAX)))
            .map(|e| QueueEntry {
                commit_log_offset: e.commit_log_offset,
                tags_code: e.tags_code,
                size_bytes: e.size_bytes,
            })
            .collect();
        (start, entries)
    }

    /// Whether any queue of `topic` exists in this store.
    pub fn has_topic(&self, topic: &str) -> bool {
        self.queues.borrow().topics().any(|t| t == topic)
    }

    /// Topics that have at least one queue in this store.
    pub fn topics(&self) -> Vec<String> {
        self.queues.borrow().topics().map(str::to_string).collect()
    }
}
