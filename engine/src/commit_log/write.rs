//! Issuing writes: pending chunks go to disk, several in flight under
//! direct I/O, and retire in log order to move `written` (and `durable`
//! with O_DSYNC).

use std::rc::Rc;

use crate::disk::{Disk, DiskFile, Durability, DIRECT_IO_ALIGN_BYTES};
use crate::error::Result;
use crate::ids::CommitLogOffset;

use super::{Chunk, CommitLog, LogState};

/// One write issued and not yet retired (`written` has not passed it).
pub(super) struct Flight<F> {
    /// Issue order; identifies the write when it completes.
    seq: u64,
    end: CommitLogOffset,
    file: Rc<F>,
    /// The write's last block is partial (zero-padded on disk): the next
    /// write rewrites it, so it must not be issued before this one ends.
    ends_in_partial_block: bool,
    /// Set when the write has completed.
    done: Option<Landed>,
}

/// A write taken off the pending list, about to be issued.
struct NextWrite<F> {
    seq: u64,
    chunk: Chunk,
    /// Direct I/O: the bytes of the chunk's first block before it, when
    /// known (after recovery they are read back).
    prefix: Option<Vec<u8>>,
    file: Rc<F>,
}

/// What a completed write hands over when it retires.
struct Landed {
    /// Log position of `bytes` (direct I/O: for the hot window).
    pos: CommitLogOffset,
    bytes: Option<Vec<u8>>,
    /// Direct I/O: the log's last partial block after this write.
    tail_pos: CommitLogOffset,
    tail: Vec<u8>,
}

/// [`CommitLog::write_next`]'s chunk in flight: if the call is dropped
/// before the write completes, nobody knows what reached the file.
struct AbandonedWrite<'a, D: Disk> {
    log: &'a CommitLog<D>,
    /// Commit-log offset and length of the write in flight.
    chunk: Option<(CommitLogOffset, usize)>,
}

impl<D: Disk> Drop for AbandonedWrite<'_, D> {
    fn drop(&mut self) {
        if let Some((pos, len)) = self.chunk {
            self.log.poison(format!(
                "the write of {len} bytes at commit-log offset {pos} was abandoned before it \
                 completed (its task was cancelled); whether it reached the file is unknown"
            ));
        }
    }
}

impl<D: Disk> CommitLog<D> {
    /// Whether [`CommitLog::write_next`] would issue a write now.
    pub fn can_issue(&self) -> bool {
        !self.gate_waiter.get() && self.issuable_bytes(&self.state.borrow()).is_some()
    }

    /// Most writes that were in flight at once since the log was opened.
    pub fn writes_in_flight_peak(&self) -> usize {
        self.state.borrow().flights_peak
    }

    /// How many bytes of the first pending chunk the next write would
    /// carry, if one may be issued now: none while the most writes are in
    /// flight or the last of them ends in a partial block (the next write
    /// would rewrite it). Otherwise all of them, except that under load
    /// (appends arriving while a write is in flight) a write of at least
    /// `StoreConfig::direct_io_split_write_bytes_min` stops at its last
    /// whole block, so the write after it can go out while it is in flight.
    fn issuable_bytes(&self, s: &LogState<D>) -> Option<usize> {
        let chunk = s.pending.front()?;
        if self.starts_segment_before_previous_is_durable(s, chunk) {
            return None;
        }
        if let Some(last) = s.flights.back() {
            if s.flights.len() >= self.flights_max || last.ends_in_partial_block {
                return None;
            }
        }
        let all = chunk.buf.len();
        let under_load = s.pending_behind_flight || !s.flights.is_empty();
        if self.flights_max == 1 || !under_load {
            return Some(all);
        }
        let data_end = chunk.data_end();
        let data_end_block = data_end.align_down(DIRECT_IO_ALIGN_BYTES);
        if chunk.end != data_end || data_end == data_end_block {
            return Some(all); // ends on a block, or with BLANK (the next write is in another segment)
        }
        let whole = (data_end_block - chunk.pos.min(data_end_block)) as usize;
        Some(if whole >= self.split_write_bytes_min.max(1) {
            whole
        } else {
            all
        })
    }

    /// Roll barrier: the first write into a segment waits until every
    /// byte before it is durable. So a segment holding data implies that
    /// all segments before it are whole, which is what lets recovery tell a
    /// torn tail (only ever in the last segment holding data) from a bad
    /// record in the middle of the log (refused, nothing deleted). It
    /// costs one fdatasync per segment roll (none with durable writes:
    /// there it only waits for the writes in flight).
    fn starts_segment_before_previous_is_durable(&self, s: &LogState<D>, chunk: &Chunk) -> bool {
        chunk.pos.is_segment_start(self.segment_size_bytes) && s.durable < chunk.pos
    }

    /// The next write waits only for a flush at a segment roll (see
    /// `CommitLog::starts_segment_before_previous_is_durable`): nothing is in
    /// flight and everything before the new segment is written.
    pub fn roll_waits_for_flush(&self) -> bool {
        let s = self.state.borrow();
        s.flights.is_empty()
            && s.pending
                .front()
                .is_some_and(|chunk| self.starts_segment_before_previous_is_durable(&s, chunk))
    }

    /// Issues the next write if one may go out now
    /// ([`CommitLog::can_issue`]) and waits for it to complete; `Ok(false)`
    /// when there was none to issue. Several tasks may be in here at once,
    /// each with its own write in flight. Callers let it finish: dropped
    /// while its write is in flight, it cannot know whether the bytes
    /// landed, so it poisons the log (the broker runs every write in a task
    /// that is never cancelled).
    pub async fn write_next(&self) -> Result<bool> {
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        // A durable write is a flush: it holds the disk's gate, and takes
        // its bytes only once it has it, so what is appended while it
        // waits for another shard's flush goes with it (group commit).
        let _gate = match self.sync_writes {
            true => match self.enter_gate().await {
                Some(gate) => Some(gate),
                None => return Ok(false),
            },
            false => None,
        };
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        let Some(NextWrite {
            seq,
            chunk,
            prefix,
            file,
        }) = self.take_next_write()
        else {
            return Ok(false);
        };
        let mut in_flight = AbandonedWrite {
            log: self,
            chunk: Some((chunk.pos, chunk.buf.len())),
        };
        let (pos, len) = (chunk.pos, chunk.buf.len());
        let landed = self.write_chunk(&file, chunk, prefix).await;
        in_flight.chunk = None;
        match landed {
            Ok(landed) => {
                self.retire(seq, landed);
                Ok(true)
            }
            // The write never retires: `written` stays before it.
            Err(e) => Err(self.poison(format!(
                "write of {len} bytes at commit-log offset {pos} to {} failed: {e}",
                file.path().display()
            ))),
        }
    }

    /// Takes the next write's bytes off the pending list and records it in
    /// flight.
    fn take_next_write(&self) -> Option<NextWrite<D::File>> {
        let mut s = self.state.borrow_mut();
        let len = self.issuable_bytes(&s)?;
        let mut chunk = s.pending.pop_front().expect("a pending chunk");
        if len < chunk.buf.len() {
            // The partial last block goes with the next write.
            let cut = chunk.pos + len as u64;
            let mut rest = s
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(self.chunk_capacity()));
            rest.extend_from_slice(&chunk.buf[len..]);
            s.pending.push_front(Chunk {
                pos: cut,
                end: chunk.end,
                buf: rest,
            });
            chunk.buf.truncate(len);
            chunk.end = cut;
        }
        s.pending_bytes -= chunk.buf.len();
        if s.pending.is_empty() {
            s.pending_behind_flight = false;
        }
        let base = self.segment_base(chunk.pos);
        let file = s
            .segments
            .get(&base)
            .map(|g| g.file.clone())
            .expect("a chunk is only encoded into an existing segment");
        let block = chunk.pos.align_down(DIRECT_IO_ALIGN_BYTES);
        // A write issued behind others starts on a whole block: the one
        // before it ended on one (or in another segment).
        assert!(
            s.flights.is_empty() || !self.direct || block == chunk.pos,
            "a write behind another would share the block at {block}"
        );
        let prefix = if !self.direct || block == chunk.pos {
            Some(Vec::new())
        } else if s.tail_pos == block && block + s.tail.len() as u64 == chunk.pos {
            Some(s.tail.clone())
        } else {
            None // only after recovery, before the first write: read it
        };
        let seq = s.next_flight_seq;
        s.next_flight_seq += 1;
        let data_end = chunk.data_end();
        s.flights.push_back(Flight {
            seq,
            end: chunk.end,
            file: file.clone(),
            ends_in_partial_block: self.direct
                && chunk.end == data_end
                && data_end.align_down(DIRECT_IO_ALIGN_BYTES) != data_end,
            done: None,
        });
        s.flights_peak = s.flights_peak.max(s.flights.len());
        Some(NextWrite {
            seq,
            chunk,
            prefix,
            file,
        })
    }

    /// Writes one chunk. Direct I/O writes from the aligned block holding
    /// its start (the bytes before it in that block are `prefix`, or read
    /// back when not known), padded with zeros, and reports the new partial
    /// last block.
    async fn write_chunk(
        &self,
        file: &Rc<D::File>,
        chunk: Chunk,
        prefix: Option<Vec<u8>>,
    ) -> std::io::Result<Landed> {
        let base = self.segment_base(chunk.pos);
        if !self.direct {
            file.write_all_at(chunk.buf, base.file_pos(chunk.pos))
                .await?;
            return Ok(Landed {
                pos: chunk.pos,
                bytes: None,
                tail_pos: CommitLogOffset::ZERO,
                tail: Vec::new(),
            });
        }
        let block = chunk.pos.align_down(DIRECT_IO_ALIGN_BYTES);
        let prefix = match prefix {
            Some(prefix) => prefix,
            None => {
                file.read_at(base.file_pos(block), (chunk.pos - block) as usize)
                    .await?
            }
        };
        if prefix.len() as u64 != chunk.pos - block {
            return Err(std::io::Error::other(format!(
                "the {} bytes before commit-log offset {} are not known",
                chunk.pos - block,
                chunk.pos
            )));
        }
        let durability = match self.sync_writes {
            true => Durability::Durable,
            false => Durability::Written,
        };
        file.write_direct(base.file_pos(block), &[&prefix, &chunk.buf], durability)
            .await?;
        let data_end = chunk.data_end();
        let (tail_pos, tail) = if chunk.end != data_end {
            // Ends with BLANK: the log goes on at the next segment's start.
            (chunk.end, Vec::new())
        } else {
            // [tail_pos, data_end) lies in prefix ++ chunk.buf.
            let tail_pos = data_end.align_down(DIRECT_IO_ALIGN_BYTES);
            let start = (tail_pos.max(block) - block) as usize;
            let mut tail = Vec::with_capacity((data_end - tail_pos) as usize);
            if start < prefix.len() {
                tail.extend_from_slice(&prefix[start..]);
                tail.extend_from_slice(&chunk.buf);
            } else {
                tail.extend_from_slice(&chunk.buf[start - prefix.len()..]);
            }
            (tail_pos, tail)
        };
        Ok(Landed {
            pos: chunk.pos,
            bytes: Some(chunk.buf),
            tail_pos,
            tail,
        })
    }

    /// A write completed: retires it and every completed write after it,
    /// in log order, moving `written` (and with O_DSYNC `durable`, each of
    /// those writes being durable) to the end of the last one.
    fn retire(&self, seq: u64, landed: Landed) {
        let mut s = self.state.borrow_mut();
        let flight = s
            .flights
            .iter_mut()
            .find(|f| f.seq == seq)
            .expect("a completed write is in flight");
        flight.done = Some(landed);
        let mut moved_to = None;
        while s.flights.front().is_some_and(|f| f.done.is_some()) {
            let flight = s.flights.pop_front().expect("not empty");
            let landed = flight.done.expect("completed");
            if self.sync_writes {
                self.group_commit_bytes
                    .record(flight.end.get().saturating_sub(s.durable.get()) as f64);
                s.durable = flight.end;
            } else if !s.unsynced.iter().any(|f| Rc::ptr_eq(f, &flight.file)) {
                s.unsynced.push(flight.file);
            }
            s.written = flight.end;
            if self.direct {
                s.tail_pos = landed.tail_pos;
                s.tail = landed.tail;
            }
            if let Some(bytes) = landed.bytes {
                self.keep_hot(&mut s, landed.pos, bytes);
            }
            moved_to = Some(flight.end);
        }
        s.check_positions();
        drop(s);
        if let Some(end) = moved_to {
            self.written_waiters.advance(end.get());
            if self.sync_writes {
                self.durable_waiters.advance(end.get());
            }
        }
        self.write_ends.bump();
    }
}
