//! Replication into a slave's store: bytes copied verbatim from the
//! master's commit log (RocketMQ's HA transfer, spec ha-and-cluster §3.2)
//! are appended at the same physical offsets, so the slave's segments are
//! byte-identical to the master's, BLANK fillers included.
//!
//! The master cuts its stream anywhere, not at record boundaries. The store
//! keeps the bytes of the record that is not complete yet (the *carry*) and
//! dispatches each record, with the same step the append path and recovery
//! use, once all of it has arrived. Every complete record is checked (size,
//! magic, CRC, its own physical offset) before any byte of the packet is
//! appended: a packet that does not continue this log is refused whole.
//!
//! The checkpoint never records a position inside the carry: after a crash
//! or a stop, recovery ends the log at the last complete record and the
//! master resends the rest.

use crate::commit_log::Blocked;
use crate::disk::Disk;
use crate::dispatch::dispatch;
use crate::error::{Result, StoreError};
use crate::record::{read_head, Head, RecordView, BLANK_SIZE_BYTES, RECORD_SIZE_BYTES_MAX};
use crate::store::ShardStore;

/// What has arrived beyond the last dispatched record.
#[derive(Default)]
pub(crate) struct ReplicaTail {
    /// Start of the first record (or BLANK) not yet dispatched; `None`
    /// until the first replicated packet, when it is the log's end.
    pub(crate) boundary: Option<u64>,
    /// Bytes `[boundary, appended)` of a record not yet complete.
    carry: Vec<u8>,
    /// Inside a BLANK filler: bytes before this segment base are skipped.
    skip_to: Option<u64>,
}

/// A complete record found in a packet: where it starts in the carry.
struct Found {
    at: usize,
    len: usize,
}

impl<D: Disk> ShardStore<D> {
    /// Appends `bytes` that the master holds at commit-log offset `at`,
    /// which must be this log's end (or any segment base for an empty
    /// log). Records are dispatched as they complete. Returns the new end.
    /// Like [`ShardStore::append`], it does not wait for the write; one
    /// task per store calls it (the HA connection of the shard).
    pub async fn append_replica(&self, at: u64, bytes: &[u8]) -> Result<u64> {
        let refuse = |detail: String| StoreError::Replication { offset: at, detail };
        let end = self.log.appended();
        if at != end && !(bytes.is_empty() || self.log.start_empty_log_at(at)) {
            return Err(refuse(format!(
                "this log ends at {end}; the logs have diverged"
            )));
        }
        if bytes.is_empty() {
            return Ok(self.log.appended());
        }
        let found = self.take_replicated(at, bytes).map_err(refuse)?;
        let seg = self.log.segment_size_bytes();
        let mut pos = at;
        let mut rest = bytes;
        while !rest.is_empty() {
            let seg_left = (self.log.segment_base(pos) + seg - pos) as usize;
            let piece = &rest[..rest.len().min(seg_left)];
            match self.log.append_raw(piece)? {
                Ok(_) => {
                    pos += piece.len() as u64;
                    rest = &rest[piece.len()..];
                }
                Err(Blocked::NeedSegment(base)) => self.prepare_segment(base).await?,
                Err(Blocked::BufferFull) => self.ensure_written(self.log.appended()).await?,
            }
        }
        self.dispatch_replicated(&found);
        Ok(pos)
    }

    /// Adds `bytes` to the carry and finds the records they complete,
    /// without dispatching them. On error the carry is as it was.
    fn take_replicated(&self, at: u64, bytes: &[u8]) -> Result<Vec<Found>, String> {
        let seg = self.log.segment_size_bytes();
        let mut tail = self.replica.borrow_mut();
        let tail = &mut *tail;
        let boundary = *tail.boundary.get_or_insert(at);
        let carry_len_before = tail.carry.len();
        let skip_before = tail.skip_to;
        let mut new = bytes;
        let mut new_pos = at;
        if let Some(next) = tail.skip_to {
            let skip = (next - new_pos).min(new.len() as u64) as usize;
            new = &new[skip..];
            new_pos += skip as u64;
            if new_pos < next {
                return Ok(Vec::new());
            }
            tail.skip_to = None;
            tail.boundary = Some(next);
        }
        tail.carry.extend_from_slice(new);
        let mut found = Vec::new();
        let mut pos = tail.boundary.expect("set above");
        let mut i = 0;
        let result = loop {
            let left = &tail.carry[i..];
            if left.len() < BLANK_SIZE_BYTES {
                break Ok(());
            }
            match read_head(left) {
                Ok(Head::Blank) => {
                    let next = self.log.segment_base(pos) + seg;
                    let filler = (next - pos) as usize;
                    if left.len() >= filler {
                        i += filler;
                        pos = next;
                        continue;
                    }
                    i = tail.carry.len();
                    tail.skip_to = Some(next);
                    break Ok(());
                }
                Ok(Head::Record { size_bytes }) => {
                    if left.len() < size_bytes {
                        break Ok(());
                    }
                    let checked = RecordView::parse(&left[..size_bytes])
                        .map_err(|e| e.to_string())
                        .and_then(|v| v.verify_crc().map(|()| v).map_err(|e| e.to_string()))
                        .and_then(|v| {
                            if v.physical_offset as u64 == pos {
                                Ok(())
                            } else {
                                Err(format!(
                                    "record at {pos} says it is at {}",
                                    v.physical_offset
                                ))
                            }
                        });
                    if let Err(e) = checked {
                        break Err(format!("record at {pos}: {e}"));
                    }
                    found.push(Found {
                        at: i,
                        len: size_bytes,
                    });
                    i += size_bytes;
                    pos += size_bytes as u64;
                }
                Ok(Head::Empty) => {
                    break Err(format!("zeroes where a record should start, at {pos}"))
                }
                Err(e) => break Err(format!("record at {pos}: {e}")),
            }
        };
        if let Err(e) = result {
            tail.carry.truncate(carry_len_before);
            tail.skip_to = skip_before;
            tail.boundary = Some(boundary);
            return Err(e);
        }
        debug_assert!(tail.carry.len() - i <= RECORD_SIZE_BYTES_MAX + BLANK_SIZE_BYTES);
        // The carry keeps `[i..]`; `found` indexes the carry as it is now,
        // so the prefix is dropped after dispatch.
        found.push(Found { at: i, len: 0 });
        // Inside a filler, `pos` is the BLANK's start: a checkpoint there
        // makes recovery re-read the BLANK and move to the next segment.
        tail.boundary = Some(pos);
        Ok(found)
    }

    /// Dispatches the records [`ShardStore::take_replicated`] found, then
    /// drops them from the carry.
    fn dispatch_replicated(&self, found: &[Found]) {
        let mut tail = self.replica.borrow_mut();
        let Some((end, records)) = found.split_last() else {
            return;
        };
        let mut queues = self.queues.borrow_mut();
        let mut index = self.index.borrow_mut();
        for f in records {
            let view = RecordView::parse(&tail.carry[f.at..f.at + f.len])
                .expect("checked before the append");
            self.log.set_last_store_timestamp(view.store_timestamp_ms);
            dispatch(
                &view,
                &mut queues,
                self.config.index_enable.then_some(&mut *index),
            );
        }
        tail.carry.drain(..end.at);
    }

    /// On a store that has taken replicated bytes: the start of the first
    /// record not yet complete (all before it is dispatched).
    pub(crate) fn replica_boundary(&self) -> Option<u64> {
        let appended = self.log.appended();
        self.replica.borrow().boundary.map(|b| b.min(appended))
    }
}
