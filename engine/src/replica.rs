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

use std::collections::HashMap;

use crate::commit_log::Blocked;
use crate::consume_queue::ConsumeQueues;
use crate::disk::Disk;
use crate::dispatch::dispatch;
use crate::error::{Result, StoreError};
use crate::ids::{CommitLogOffset, QueueId, QueueOffset, SegmentBase};
use crate::record::{
    check_placement, read_head, Head, RecordView, BLANK_SIZE_BYTES, RECORD_SIZE_BYTES_MAX,
};
use crate::store::ShardStore;

/// What has arrived beyond the last dispatched record.
#[derive(Default)]
pub(crate) struct ReplicaTail {
    /// Start of the first record (or BLANK) not yet dispatched; `None`
    /// until the first replicated packet, when it is the log's end.
    pub(crate) boundary: Option<CommitLogOffset>,
    /// Bytes `[boundary, appended)` of a record not yet complete.
    carry: Vec<u8>,
    /// Inside a BLANK filler: bytes before this segment base are skipped.
    skip_to: Option<SegmentBase>,
}

/// A complete record found in a packet: where it starts in the carry.
struct Found {
    at: usize,
    len: usize,
}

/// What one packet does to the tail, applied once its bytes are in the log.
struct Taken {
    found: Vec<Found>,
    /// Carry bytes to drop after dispatch (everything before the first
    /// incomplete record).
    consumed: usize,
    boundary: CommitLogOffset,
    skip_to: Option<SegmentBase>,
    /// To undo the packet when its append fails: the carry's length before
    /// it, how many of its first bytes were BLANK filler skipped rather
    /// than carried, and the segment base the skip reached.
    carry_before: usize,
    skipped: usize,
    skip_ended: Option<SegmentBase>,
}

/// What a scan of the carry found: its complete records, how many of its
/// bytes they (and the fillers among them) take, and where they end.
struct CarryScan {
    found: Vec<Found>,
    consumed: usize,
    end: CommitLogOffset,
    /// Set when the carry ends inside a BLANK filler: the next segment.
    skip_to: Option<SegmentBase>,
}

/// How a packet's first bytes pass over the BLANK filler the tail is inside.
struct FillerSkip {
    /// Bytes of the packet that are filler.
    skipped: usize,
    /// The segment the filler ends at, when the packet reaches it.
    ended: Option<SegmentBase>,
}

/// The filler part of a packet of `len` bytes at `at`, when the tail is
/// inside a filler that ends at `skip_to`.
fn skip_filler(skip_to: Option<SegmentBase>, at: CommitLogOffset, len: usize) -> FillerSkip {
    let Some(next) = skip_to else {
        return FillerSkip {
            skipped: 0,
            ended: None,
        };
    };
    let skipped = (next.start() - at).min(len as u64) as usize;
    FillerSkip {
        skipped,
        ended: (at + (skipped as u64) >= next.start()).then_some(next),
    }
}

impl<D: Disk> ShardStore<D> {
    /// Appends `bytes` that the master holds at commit-log offset `at`,
    /// which must be this log's end (or any segment base for an empty
    /// log). Records are dispatched as they complete. Returns the new end.
    /// Like [`ShardStore::append`], it does not wait for the write.
    ///
    /// One task per store calls it, and lets each call finish: a call
    /// dropped while it waits for a segment or the writer leaves the carry
    /// ahead of the log (the broker runs it in a task of its own).
    pub async fn append_replica(
        &self,
        at: CommitLogOffset,
        bytes: &[u8],
    ) -> Result<CommitLogOffset> {
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
        let taken = self.take_replicated(at, bytes).map_err(refuse)?;
        let seg = self.log.segment_size_bytes();
        let mut pos = at;
        let mut rest = bytes;
        while !rest.is_empty() {
            let seg_left = (self.log.segment_base(pos).next(seg).start() - pos) as usize;
            let piece = &rest[..rest.len().min(seg_left)];
            let step = match self.log.append_raw(piece) {
                Ok(Ok(_)) => {
                    pos += piece.len() as u64;
                    rest = &rest[piece.len()..];
                    Ok(())
                }
                Ok(Err(Blocked::NeedSegment(base))) => self.prepare_segment(base).await,
                Ok(Err(Blocked::BufferFull)) => self.make_room().await,
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                // Part of the packet may be in the log (a full disk refuses
                // the next segment): the carry keeps exactly that part, so
                // the master's resend from the log's end continues it.
                self.untake_replicated(&taken, (pos - at) as usize);
                return Err(e);
            }
        }
        self.dispatch_replicated(taken);
        Ok(pos)
    }

    /// Undoes [`ShardStore::take_replicated`] for the packet's bytes past
    /// the first `landed`, which did not reach the log.
    fn untake_replicated(&self, taken: &Taken, landed: usize) {
        let mut tail = self.replica.borrow_mut();
        let carried = landed.saturating_sub(taken.skipped);
        tail.carry.truncate(taken.carry_before + carried);
        if let Some(next) = taken.skip_ended.filter(|_| landed >= taken.skipped) {
            // The filler's end reached the log: carrying goes on from the
            // next segment.
            tail.skip_to = None;
            tail.boundary = Some(next.start());
        }
    }

    /// Adds `bytes` to the carry and finds the records they complete. The
    /// boundary (what a checkpoint may record) moves only in
    /// [`ShardStore::dispatch_replicated`], after the bytes are in the log.
    /// On error the carry is as it was.
    fn take_replicated(&self, at: CommitLogOffset, bytes: &[u8]) -> Result<Taken, String> {
        let mut tail = self.replica.borrow_mut();
        let tail = &mut *tail;
        let boundary = *tail.boundary.get_or_insert(at);
        let carry_before = tail.carry.len();
        let skip = skip_filler(tail.skip_to, at, bytes.len());
        if tail.skip_to.is_some() && skip.ended.is_none() {
            // The whole packet is filler.
            return Ok(Taken {
                found: Vec::new(),
                consumed: 0,
                boundary,
                skip_to: tail.skip_to,
                carry_before,
                skipped: skip.skipped,
                skip_ended: None,
            });
        }
        let boundary = skip.ended.map_or(boundary, SegmentBase::start);
        tail.carry.extend_from_slice(&bytes[skip.skipped..]);
        let scan = match self.find_complete(&tail.carry, boundary) {
            Ok(scan) => scan,
            Err(e) => {
                tail.carry.truncate(carry_before);
                return Err(e);
            }
        };
        debug_assert!(tail.carry.len() - scan.consumed <= RECORD_SIZE_BYTES_MAX + BLANK_SIZE_BYTES);
        Ok(Taken {
            found: scan.found,
            consumed: scan.consumed,
            boundary: scan.end,
            skip_to: scan.skip_to,
            carry_before,
            skipped: skip.skipped,
            skip_ended: skip.ended,
        })
    }

    /// Finds the complete records (and BLANK fillers) at the start of
    /// `carry`, which begins at `boundary`, checking each record.
    fn find_complete(&self, carry: &[u8], boundary: CommitLogOffset) -> Result<CarryScan, String> {
        let seg = self.log.segment_size_bytes();
        let queues = self.queues.borrow();
        // Next queue offset of each queue this packet has records for.
        let mut next_in_packet: HashMap<String, HashMap<QueueId, u64>> = HashMap::new();
        let mut found = Vec::new();
        let mut skip_to = None;
        let mut pos = boundary;
        let mut i = 0;
        loop {
            let left = &carry[i..];
            if left.len() < BLANK_SIZE_BYTES {
                break;
            }
            match read_head(left) {
                Ok(Head::Blank) => {
                    let next = self.log.segment_base(pos).next(seg);
                    let filler = (next.start() - pos) as usize;
                    if left.len() >= filler {
                        i += filler;
                        pos = next.start();
                        continue;
                    }
                    // Inside the filler: `pos` stays at the BLANK, so a
                    // checkpoint makes recovery re-read it and move on.
                    i = carry.len();
                    skip_to = Some(next);
                    break;
                }
                Ok(Head::Record { size_bytes }) => {
                    if left.len() < size_bytes {
                        break;
                    }
                    RecordView::parse(&left[..size_bytes])
                        .map_err(|e| e.to_string())
                        .and_then(|v| check_replicated(&v, pos, &queues, &mut next_in_packet))
                        .map_err(|e| format!("record at {pos}: {e}"))?;
                    found.push(Found {
                        at: i,
                        len: size_bytes,
                    });
                    i += size_bytes;
                    pos += size_bytes as u64;
                }
                Ok(Head::Empty) => {
                    return Err(format!("zeroes where a record should start, at {pos}"))
                }
                Err(e) => return Err(format!("record at {pos}: {e}")),
            }
        }
        Ok(CarryScan {
            found,
            consumed: i,
            end: pos,
            skip_to,
        })
    }

    /// Dispatches the records [`ShardStore::take_replicated`] found, drops
    /// them from the carry and moves the boundary past them.
    fn dispatch_replicated(&self, taken: Taken) {
        let mut tail = self.replica.borrow_mut();
        let mut queues = self.queues.borrow_mut();
        let mut index = self.index.borrow_mut();
        for f in &taken.found {
            let view = RecordView::parse(&tail.carry[f.at..f.at + f.len])
                .expect("checked before the append");
            self.log.set_last_store_timestamp(view.store_timestamp_ms);
            dispatch(
                &view,
                &mut queues,
                self.config.index_enable.then_some(&mut *index),
            );
        }
        tail.carry.drain(..taken.consumed);
        tail.boundary = Some(taken.boundary);
        tail.skip_to = taken.skip_to;
    }

    /// On a store that has taken replicated bytes: the start of the first
    /// record not yet complete (all before it is dispatched).
    pub(crate) fn replica_boundary(&self) -> Option<CommitLogOffset> {
        let appended = self.log.appended();
        self.replica.borrow().boundary.map(|b| b.min(appended))
    }
}

/// What a slave checks of a replicated record before it takes it: intact,
/// where the master says, a topic name safe as a directory, and a queue
/// offset that follows the queue's last (within the packet, the packet's
/// last). A master that sends otherwise is refused, never obeyed.
fn check_replicated(
    view: &RecordView<'_>,
    pos: CommitLogOffset,
    queues: &ConsumeQueues,
    next_in_packet: &mut HashMap<String, HashMap<QueueId, u64>>,
) -> Result<(), String> {
    view.verify_crc().map_err(|e| e.to_string())?;
    if view.physical_offset as u64 != pos.get() {
        return Err(format!("the record says it is at {}", view.physical_offset));
    }
    check_placement(view).map_err(|e| e.to_string())?;
    if !view.takes_queue_offset() {
        return Ok(());
    }
    let offset = view.queue_offset as u64;
    let expected = next_in_packet
        .get(view.topic)
        .and_then(|q| q.get(&view.queue()))
        .copied();
    match expected {
        Some(next) if offset != next => {
            return Err(format!(
                "queue {}:{} offset gap: got {offset}, expected {next}",
                view.topic, view.queue_id
            ))
        }
        Some(_) => {}
        // A slave never takes a record twice (positions only grow): a
        // queue offset it already has is a master's error.
        None => queues.check_next(view.topic, view.queue(), QueueOffset(offset), false)?,
    }
    next_in_packet
        .entry(view.topic.to_string())
        .or_default()
        .insert(view.queue(), offset + 1);
    Ok(())
}
