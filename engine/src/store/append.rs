//! Appending: validating messages, assigning commit-log and queue
//! offsets, encoding into the log's write buffer, and preparing the
//! segments appends need.

use crate::commit_log::Blocked;
use crate::disk::Disk;
use crate::dispatch::dispatch_to_queue;
use crate::error::Result;
use crate::ids::SegmentBase;
use crate::ids::{CommitLogOffset, QueueOffset};
use crate::record::{
    encode_record, record_size, takes_queue_offset, Assigned, IllegalMessage, MessageIn,
    BLANK_SIZE_BYTES,
};

use super::{AppendedRecord, ShardStore};

/// Zeros the background task writes into the next segment per call (its
/// tick is 10 ms, so up to 800 MB/s), which also bounds how long an append
/// that needs the segment waits for the call to end.
pub const PREWRITE_TICK_BYTES: usize = 8 << 20;

fn validate_topic(topic: &str) -> Result<(), IllegalMessage> {
    // RocketMQ's topic charset; it also keeps topic names safe as directory
    // names under consumequeue/.
    // An empty topic is left to `record_size`, which reports its length.
    if topic.is_empty() || crate::record::is_topic_name(topic) {
        Ok(())
    } else {
        Err(IllegalMessage::TopicCharacters {
            topic: topic.chars().take(64).collect(),
        })
    }
}

impl<D: Disk> ShardStore<D> {
    /// Appends one message. Does not wait for it to be written; see
    /// [`ShardStore::wait_acked`]. Cancelling before it returns appends
    /// nothing; after, the message is in the log.
    pub async fn append(&self, msg: &MessageIn<'_>) -> Result<AppendedRecord> {
        let mut result = None;
        self.append_batch_with(std::slice::from_ref(msg), &mut |r| result = Some(r))
            .await?;
        Ok(result.expect("one record appended"))
    }

    /// Appends a batch as contiguous records in one segment (one write),
    /// with consecutive queue offsets per queue. `out` receives each record's
    /// placement in order; callers reuse it across calls.
    pub async fn append_batch(
        &self,
        msgs: &[MessageIn<'_>],
        out: &mut Vec<AppendedRecord>,
    ) -> Result<CommitLogOffset> {
        out.clear();
        self.append_batch_with(msgs, &mut |r| out.push(r)).await
    }

    async fn append_batch_with(
        &self,
        msgs: &[MessageIn<'_>],
        on_record: &mut dyn FnMut(AppendedRecord),
    ) -> Result<CommitLogOffset> {
        let mut total = 0usize;
        for msg in msgs {
            validate_topic(msg.topic)?;
            total += record_size(msg)?;
        }
        if total as u64 + BLANK_SIZE_BYTES as u64 > self.log.segment_size_bytes() {
            return Err(IllegalMessage::LargerThanSegment {
                size_bytes: total,
                segment_size_bytes: self.log.segment_size_bytes(),
            }
            .into());
        }
        if msgs.is_empty() {
            return Ok(self.log.appended());
        }
        loop {
            let store_ts = self.log.next_store_timestamp((self.clock)());
            let attempt = self.log.append_with(total, |buf, start| {
                let mut queues = self.queues.borrow_mut();
                let mut index = self.index.borrow_mut();
                let mut pos = start;
                for msg in msgs {
                    let size = record_size(msg).expect("validated above");
                    let queue = takes_queue_offset(msg.sys_flag)
                        .then(|| queues.get_or_create(msg.topic, msg.queue_id));
                    let queue_offset = queue.as_ref().map_or(QueueOffset::ZERO, |q| q.max_offset());
                    let at = Assigned {
                        queue_offset,
                        physical_offset: pos,
                        store_timestamp_ms: store_ts,
                    };
                    let view = encode_record(msg, size, at, buf);
                    let index = self.config.index_enable.then_some(&mut *index);
                    dispatch_to_queue(&view, queue, index);
                    on_record(AppendedRecord {
                        physical_offset: pos,
                        size_bytes: size as u32,
                        queue_offset,
                        store_timestamp_ms: store_ts,
                    });
                    pos += size as u64;
                }
            })?;
            match attempt {
                Ok(start) => return Ok(start + total as u64),
                Err(Blocked::NeedSegment(base)) => self.prepare_segment(base).await?,
                Err(Blocked::BufferFull) => self.make_room().await?,
            }
        }
    }

    pub(crate) async fn prepare_segment(&self, base: SegmentBase) -> Result<()> {
        let _turn = self.preparer.take().await;
        if self.log.has_segment(base) {
            return Ok(());
        }
        self.log.prepare_segment(base).await
    }

    /// Prepares the segment after the active one ahead of need, so the
    /// append that crosses into it does not wait. With zero-fill, the fill
    /// is paced by the active segment's use ([`CommitLog::fill_ahead`](crate::commit_log::CommitLog::fill_ahead)),
    /// [`PREWRITE_TICK_BYTES`] per call; without, the file is created once
    /// the active segment is half used. Called by the background task.
    pub async fn prepare_ahead(&self) -> Result<()> {
        let seg = self.log.segment_size_bytes();
        let appended = self.log.appended();
        let active = self.log.segment_base(appended);
        let next = active.next(seg);
        if self.config.prewrite_segments {
            // In the preparer's turn, so the log never takes the segment
            // while a zero write into it is in flight.
            let _turn = self.preparer.take().await;
            return self.log.fill_ahead(PREWRITE_TICK_BYTES).await;
        }
        if active.file_pos(appended) >= seg / 2 && !self.log.has_segment(next) {
            self.prepare_segment(next).await?;
        }
        Ok(())
    }
}
