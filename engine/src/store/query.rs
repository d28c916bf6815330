//! Admin queries: queue offset by store time, earliest store time, and
//! messages by key.

use crate::disk::Disk;
use crate::dispatch::record_has_key;
use crate::error::{Result, StoreError};
use crate::ids::{QueueId, QueueOffset};
use crate::key_index::key_hash;
use crate::record::RecordView;

use super::ShardStore;

/// Which entry [`ShardStore::offset_by_time`](super::ShardStore::offset_by_time) looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBoundary {
    /// First entry stored at or after the time.
    Lower,
    /// Last entry stored at or before the time.
    Upper,
}

/// Upper bound on records returned by one key query.
pub const QUERY_RESULTS_MAX: usize = 64;

impl<D: Disk> ShardStore<D> {
    /// `SEARCH_OFFSET_BY_TIMESTAMP`: binary search over the queue, reading
    /// store timestamps from the log. Out-of-range times clamp to min/max.
    pub async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: QueueId,
        time_ms: i64,
        boundary: TimeBoundary,
    ) -> Result<QueueOffset> {
        let (min, max) = (
            self.min_queue_offset(topic, queue_id),
            self.max_queue_offset(topic, queue_id),
        );
        if min >= max {
            return Ok(min);
        }
        let entry_at = |o: u64| {
            self.queues
                .borrow()
                .get(topic, queue_id)
                .and_then(|q| q.get(QueueOffset(o)))
        };
        // Find the first offset whose time is > time_ms (Upper) or >= (Lower).
        let (mut lo, mut hi) = (min.0, max.0);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(entry) = entry_at(mid) else {
                break;
            };
            let ts = self.store_timestamp_at(entry.commit_log_offset).await?;
            let go_right = match boundary {
                TimeBoundary::Lower => ts < time_ms,
                TimeBoundary::Upper => ts <= time_ms,
            };
            if go_right {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let found = match boundary {
            TimeBoundary::Lower => lo.min(max.0),
            TimeBoundary::Upper => lo.saturating_sub(1).max(min.0),
        };
        Ok(QueueOffset(found))
    }

    /// `GET_EARLIEST_MSG_STORETIME`: store time of the queue's first message.
    pub async fn earliest_store_time(&self, topic: &str, queue_id: QueueId) -> Result<Option<i64>> {
        let min = self.min_queue_offset(topic, queue_id);
        if min >= self.max_queue_offset(topic, queue_id) {
            return Ok(None);
        }
        let entry = self
            .queues
            .borrow()
            .get(topic, queue_id)
            .and_then(|q| q.get(min));
        match entry {
            Some(e) => Ok(Some(self.store_timestamp_at(e.commit_log_offset).await?)),
            None => Ok(None),
        }
    }

    /// `QUERY_MESSAGE`: records of `topic` whose `KEYS` or `UNIQ_KEY` equals
    /// `key`, stored within `[begin_ms, end_ms]`, newest first, at most
    /// `max` (capped at [`QUERY_RESULTS_MAX`]). Hash collisions are filtered
    /// out by re-reading each record.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Vec<u8>>> {
        let max = max.min(QUERY_RESULTS_MAX);
        let candidates = self.index.borrow().candidates(
            key_hash(topic, key),
            begin_ms,
            end_ms,
            self.confirm_offset(),
        );
        let mut found = Vec::new();
        for offset in candidates {
            if found.len() >= max || offset < self.log.min_offset() {
                break;
            }
            let bytes = self.read_record(offset).await?;
            let view = RecordView::parse(&bytes).map_err(|e| StoreError::NoRecordAt {
                offset,
                detail: e.to_string(),
            })?;
            if view.topic == topic && record_has_key(&view, key) {
                found.push(bytes);
            }
        }
        Ok(found)
    }
}
