//! Consume queues: per (topic, queue id), the commit-log position of each
//! message, in queue-offset order (`spec/store-format.md` §3).
//!
//! ```text
//! entry (20 bytes, big-endian)       file consumequeue/<topic>/<queueId>/<20-digit byte offset>
//!   0  8  commitLogOffset             holds entries [name/20, name/20 + segment_entries)
//!   8  4  size (TOTALSIZE)            a queue whose first offset is not at a file start is
//!  12  8  tagsCode                    padded in front with fillers (0, i32::MAX, 0)
//! ```
//!
//! Shard-owned. Entries live in memory for every message the commit log still
//! holds (retention bounds them: 24 bytes a message), and are written to the
//! files only up to a durable commit-log position when the store
//! checkpoints, so the files never point at bytes a crash could lose. The
//! files are derived data: recovery truncates them at the checkpoint and
//! rebuilds the rest from the commit log.

use std::collections::{HashMap, VecDeque};

type QueuesOfTopic = HashMap<QueueId, ConsumeQueue, foldhash::fast::RandomState>;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::disk::{Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::ids::{
    file_name_for_offset, offset_from_file_name, CommitLogOffset, QueueId, QueueOffset,
};

/// Size of one consume-queue entry (or filler) in a file.
pub const CQ_ENTRY_BYTES: usize = 20;
const FILLER_SIZE: u32 = i32::MAX as u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// One message's consume-queue entry: where its record is in the commit log.
pub struct CqEntry {
    /// Commit-log offset of the record's first byte (below `i64::MAX`).
    pub commit_log_offset: CommitLogOffset,
    /// The record's TOTALSIZE, bytes; never 0, and `i32::MAX` only in a
    /// filler.
    pub size_bytes: u32,
    /// Filter and schedule code: the hash of the message's tag, or a time
    /// for timer and delayed messages (see [`crate::dispatch::tags_code`]).
    pub tags_code: i64,
}

/// What 20 bytes of a consume-queue file hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CqSlot {
    /// A valid entry: offset ≥ 0 and size > 0.
    Entry(CqEntry),
    /// Padding in front of a queue's first entry.
    Filler,
    /// Zeroes or garbage: the end of the valid entries.
    Invalid,
}

impl CqEntry {
    /// Appends the entry's [`CQ_ENTRY_BYTES`] big-endian bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.commit_log_offset.get().to_be_bytes());
        out.extend_from_slice(&self.size_bytes.to_be_bytes());
        out.extend_from_slice(&self.tags_code.to_be_bytes());
    }

    /// Commit-log offset just past the record.
    pub fn end(&self) -> CommitLogOffset {
        self.commit_log_offset + u64::from(self.size_bytes)
    }
}

fn encode_filler(out: &mut Vec<u8>) {
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&FILLER_SIZE.to_be_bytes());
    out.extend_from_slice(&0i64.to_be_bytes());
}

/// Decodes one 20-byte slot. Fewer than 20 bytes is [`CqSlot::Invalid`].
pub fn decode_slot(buf: &[u8]) -> CqSlot {
    let Some(b) = buf.get(..CQ_ENTRY_BYTES) else {
        return CqSlot::Invalid;
    };
    let offset = i64::from_be_bytes(b[0..8].try_into().expect("a slice of the array's length"));
    let size = i32::from_be_bytes(b[8..12].try_into().expect("a slice of the array's length"));
    let tags_code =
        i64::from_be_bytes(b[12..20].try_into().expect("a slice of the array's length"));
    if offset == 0 && size == i32::MAX && tags_code == 0 {
        return CqSlot::Filler;
    }
    // Java's validity rule (`offset >= 0 && size > 0`).
    if offset < 0 || size <= 0 {
        return CqSlot::Invalid;
    }
    CqSlot::Entry(CqEntry {
        commit_log_offset: CommitLogOffset(offset as u64),
        size_bytes: size as u32,
        tags_code,
    })
}

/// One queue. Lives on the shard that owns the queue.
pub struct ConsumeQueue {
    /// Topic the queue belongs to.
    pub topic: Rc<str>,
    /// The queue's id within its topic (RocketMQ's `queueId`).
    pub queue_id: QueueId,
    /// Queue offset of `entries[0]`.
    base: u64,
    entries: VecDeque<CqEntry>,
    /// Queue offset up to which the files hold entries.
    persisted: u64,
    /// Whether this queue's first file exists (fillers written).
    file_started: bool,
}

impl ConsumeQueue {
    fn new(topic: Rc<str>, queue_id: QueueId, base: u64) -> ConsumeQueue {
        ConsumeQueue {
            topic,
            queue_id,
            base,
            entries: VecDeque::new(),
            persisted: base,
            file_started: false,
        }
    }

    /// Queue offset of the oldest entry held; the next offset when empty.
    pub fn min_offset(&self) -> QueueOffset {
        QueueOffset(self.base)
    }

    /// Exclusive: the offset the next message gets.
    pub fn max_offset(&self) -> QueueOffset {
        QueueOffset(self.base + self.entries.len() as u64)
    }

    /// The entry at `offset`; `None` below [`ConsumeQueue::min_offset`] or
    /// at or past [`ConsumeQueue::max_offset`].
    pub fn get(&self, offset: QueueOffset) -> Option<CqEntry> {
        let i = offset.0.checked_sub(self.base)?;
        self.entries.get(usize::try_from(i).ok()?).copied()
    }

    /// Entries from `offset`, in order.
    pub fn iter_from(&self, offset: QueueOffset) -> impl Iterator<Item = CqEntry> + '_ {
        let skip = offset.0.saturating_sub(self.base) as usize;
        self.entries.iter().skip(skip).copied()
    }

    /// Number of entries whose record ends at or before `position`.
    pub fn visible_max_offset(&self, position: CommitLogOffset) -> QueueOffset {
        let n = self.entries.partition_point(|e| e.end() <= position);
        QueueOffset(self.base + n as u64)
    }

    /// Whether [`ConsumeQueue::put`] takes an entry at `offset`: the next
    /// offset, an offset it already holds (a no-op, when `repeat_ok`: a
    /// re-dispatch at recovery), or any offset for a queue with no entries
    /// and no file yet. Recovery and replication check records they did not
    /// number with this; the append path numbers its own.
    pub fn check_next(&self, offset: QueueOffset, repeat_ok: bool) -> Result<(), String> {
        if self.entries.is_empty() && offset.0 != self.base {
            return if !self.file_started || offset.0 >= self.base {
                Ok(())
            } else {
                Err(format!(
                    "queue {}:{} offset {} is below its first offset {}",
                    self.topic, self.queue_id, offset.0, self.base
                ))
            };
        }
        let max = self.max_offset().0;
        if offset.0 > max {
            return Err(format!(
                "queue {}:{} offset gap: got {}, expected {max}",
                self.topic, self.queue_id, offset.0
            ));
        }
        if offset.0 < max && !repeat_ok {
            return Err(format!(
                "queue {}:{} offset {} is already taken (next is {max})",
                self.topic, self.queue_id, offset.0
            ));
        }
        Ok(())
    }

    /// Dispatch: records the entry for `offset`. Idempotent for offsets it
    /// already has (re-dispatch after recovery); an empty queue adopts the
    /// offset as its start (queue created after old data expired).
    pub fn put(&mut self, offset: QueueOffset, entry: CqEntry) {
        if self.entries.is_empty() && offset.0 != self.base {
            assert!(!self.file_started || offset.0 >= self.base);
            self.base = offset.0;
            self.persisted = self.base;
        }
        let max = self.max_offset().0;
        if offset.0 < max {
            return;
        }
        assert_eq!(
            offset.0, max,
            "queue {}:{} offset gap: got {}, expected {}",
            self.topic, self.queue_id, offset.0, max
        );
        if let Some(last) = self.entries.back() {
            assert!(
                entry.commit_log_offset >= last.end(),
                "entries out of log order"
            );
        }
        self.entries.push_back(entry);
    }

    /// Drops entries pointing at or past `position` (recovery truncation).
    pub fn truncate_from(&mut self, position: CommitLogOffset) {
        while self.entries.back().is_some_and(|e| e.end() > position) {
            self.entries.pop_back();
        }
        self.persisted = self.persisted.min(self.max_offset().0);
    }

    /// Drops entries pointing below `min_position` (retention).
    pub fn drop_below(&mut self, min_position: CommitLogOffset) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.commit_log_offset < min_position)
        {
            self.entries.pop_front();
            self.base += 1;
        }
        self.persisted = self.persisted.max(self.base);
    }
}

/// Every queue of one shard.
pub struct ConsumeQueues {
    dir: PathBuf,
    segment_entries: u64,
    /// foldhash rather than SipHash: two lookups per appended message, and
    /// SipHash showed up in the append benchmark's profile (`docs/perf-log.md`,
    /// 2026-12-04). Its seed
    /// is random per process, so topic names cannot be chosen to collide.
    topics: HashMap<Box<str>, QueuesOfTopic, foldhash::fast::RandomState>,
}

/// A queue's topic, id, and the queue offset its files will hold entries
/// up to once [`ConsumeQueues::persist`]'s writes are durable.
type PersistMark = (Rc<str>, QueueId, u64);

/// Performs the writes, then fdatasyncs every file written.
async fn write_and_sync<D: Disk>(disk: &D, jobs: Vec<WriteJob>) -> Result<()> {
    let mut touched: Vec<Rc<D::File>> = Vec::new();
    for job in jobs {
        if let Some(parent) = job.path.parent() {
            disk.create_dir_all(parent)
                .await
                .map_err(|e| StoreError::io("create consume-queue directory", parent, e))?;
        }
        let file = disk
            .open(&job.path, true)
            .await
            .map_err(|e| StoreError::io("open consume queue", &job.path, e))?;
        file.write_all_at(job.bytes, job.file_pos)
            .await
            .map_err(|e| StoreError::io("write consume queue", &job.path, e))?;
        touched.push(file);
    }
    for file in touched {
        file.sync_data()
            .await
            .map_err(|e| StoreError::io("sync consume queue", file.path(), e))?;
    }
    Ok(())
}

struct WriteJob {
    path: PathBuf,
    file_pos: u64,
    bytes: Vec<u8>,
}

impl ConsumeQueues {
    /// No queues yet; files go under `dir`, `segment_entries` entries each
    /// (panics when 0).
    pub fn new(dir: PathBuf, segment_entries: u64) -> ConsumeQueues {
        assert!(segment_entries > 0);
        ConsumeQueues {
            dir,
            segment_entries,
            topics: HashMap::default(),
        }
    }

    /// One queue, if it exists.
    pub fn get(&self, topic: &str, queue_id: QueueId) -> Option<&ConsumeQueue> {
        self.topics.get(topic)?.get(&queue_id)
    }

    /// [`ConsumeQueue::check_next`] for a queue that may not exist yet.
    pub fn check_next(
        &self,
        topic: &str,
        queue_id: QueueId,
        offset: QueueOffset,
        repeat_ok: bool,
    ) -> Result<(), String> {
        self.get(topic, queue_id)
            .map_or(Ok(()), |q| q.check_next(offset, repeat_ok))
    }

    /// One queue, created empty (starting at offset 0) if it does not exist.
    pub fn get_or_create(&mut self, topic: &str, queue_id: QueueId) -> &mut ConsumeQueue {
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.into(), HashMap::default());
        }
        let queues = self.topics.get_mut(topic).expect("inserted above");
        queues
            .entry(queue_id)
            .or_insert_with(|| ConsumeQueue::new(Rc::from(topic), queue_id, 0))
    }

    /// Every queue, in no particular order.
    pub fn queues(&self) -> impl Iterator<Item = &ConsumeQueue> {
        self.topics.values().flat_map(|q| q.values())
    }

    /// Every queue, mutably, in no particular order.
    pub fn queues_mut(&mut self) -> impl Iterator<Item = &mut ConsumeQueue> {
        self.topics.values_mut().flat_map(|q| q.values_mut())
    }

    /// Every topic with at least one queue created, in no particular order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(|k| &**k)
    }

    /// Forgets every queue of `topic` in memory, leaving its files alone;
    /// `false` when there were none.
    pub fn remove_topic(&mut self, topic: &str) -> bool {
        self.topics.remove(topic).is_some()
    }

    fn queue_dir(&self, topic: &str, queue_id: QueueId) -> PathBuf {
        self.dir.join(topic).join(queue_id.to_string())
    }

    fn file_bytes(&self) -> u64 {
        self.segment_entries * CQ_ENTRY_BYTES as u64
    }

    /// Writes to the files every entry whose record ends at or before
    /// `durable`, and syncs them. Returns after the files are durable.
    pub async fn persist<D: Disk>(
        this: &std::cell::RefCell<Self>,
        disk: &D,
        durable: CommitLogOffset,
    ) -> Result<()> {
        let (jobs, marks) = this.borrow_mut().plan_persist(durable);
        write_and_sync(disk, jobs).await?;
        this.borrow_mut().mark_persisted(marks);
        Ok(())
    }

    /// The writes that bring every queue's files up to the entries whose
    /// records end at or before `durable` (fillers first in a queue's
    /// first file), and how far each queue will then be persisted.
    fn plan_persist(&mut self, durable: CommitLogOffset) -> (Vec<WriteJob>, Vec<PersistMark>) {
        let file_bytes = self.file_bytes();
        let mut jobs: Vec<WriteJob> = Vec::new();
        let mut marks: Vec<PersistMark> = Vec::new();
        let dir = self.dir.clone();
        for q in self.queues_mut() {
            let upto = q.visible_max_offset(durable).0;
            if upto <= q.persisted {
                continue;
            }
            let qdir = dir.join(&*q.topic).join(q.queue_id.to_string());
            let mut offset = q.persisted;
            if !q.file_started {
                // Pad from the file's start to the first entry.
                let first_byte = offset * CQ_ENTRY_BYTES as u64;
                let file_base = first_byte - first_byte % file_bytes;
                let mut bytes = Vec::new();
                for _ in 0..(first_byte - file_base) / CQ_ENTRY_BYTES as u64 {
                    encode_filler(&mut bytes);
                }
                if !bytes.is_empty() {
                    jobs.push(WriteJob {
                        path: qdir.join(file_name_for_offset(file_base)),
                        file_pos: 0,
                        bytes,
                    });
                }
            }
            while offset < upto {
                let byte = offset * CQ_ENTRY_BYTES as u64;
                let file_base = byte - byte % file_bytes;
                let in_file = (file_base + file_bytes - byte) / CQ_ENTRY_BYTES as u64;
                let n = in_file.min(upto - offset);
                let mut bytes = Vec::with_capacity(n as usize * CQ_ENTRY_BYTES);
                for e in q.iter_from(QueueOffset(offset)).take(n as usize) {
                    e.encode(&mut bytes);
                }
                jobs.push(WriteJob {
                    path: qdir.join(file_name_for_offset(file_base)),
                    file_pos: byte - file_base,
                    bytes,
                });
                offset += n;
            }
            marks.push((q.topic.clone(), q.queue_id, upto));
        }
        (jobs, marks)
    }

    /// Records how far each queue's files hold entries, once written and
    /// synced.
    fn mark_persisted(&mut self, marks: Vec<PersistMark>) {
        for (topic, queue_id, upto) in marks {
            if let Some(q) = self
                .topics
                .get_mut(&*topic)
                .and_then(|t| t.get_mut(&queue_id))
            {
                q.persisted = q.persisted.max(upto).min(q.max_offset().0);
                q.file_started = true;
            }
        }
    }

    /// Loads every queue from its files, keeping entries that end at or
    /// before `checkpoint` and are in log order; truncates the files after
    /// the last kept entry so stale entries never come back.
    pub async fn load<D: Disk>(
        disk: &D,
        dir: PathBuf,
        segment_entries: u64,
        checkpoint: CommitLogOffset,
    ) -> Result<ConsumeQueues> {
        let mut me = ConsumeQueues::new(dir.clone(), segment_entries);
        let file_bytes = me.file_bytes();
        let list = |p: PathBuf| async move {
            disk.list_dir(&p)
                .await
                .map_err(|e| StoreError::io("list consume queues", &p, e))
        };
        for topic in list(dir.clone()).await? {
            for qid_name in list(dir.join(&topic)).await? {
                let Ok(queue_id) = qid_name.parse::<i32>().map(QueueId) else {
                    continue;
                };
                let qdir = me.queue_dir(&topic, queue_id);
                let mut files: Vec<u64> = list(qdir.clone())
                    .await?
                    .iter()
                    .filter_map(|n| offset_from_file_name(n))
                    .collect();
                files.sort_unstable();
                let q = load_queue(
                    disk, &qdir, &topic, queue_id, &files, file_bytes, checkpoint,
                )
                .await?;
                if let Some(q) = q {
                    me.topics
                        .entry(topic.as_str().into())
                        .or_default()
                        .insert(queue_id, q);
                }
            }
        }
        Ok(me)
    }

    /// Retention: drops entries below `min_position` and deletes files that
    /// hold only dropped entries.
    pub async fn drop_below<D: Disk>(
        this: &std::cell::RefCell<Self>,
        disk: &D,
        min_position: CommitLogOffset,
    ) -> Result<()> {
        let doomed = {
            let mut me = this.borrow_mut();
            let file_bytes = me.file_bytes();
            let dir = me.dir.clone();
            let mut doomed = Vec::new();
            for q in me.queues_mut() {
                let old_base = q.base;
                q.drop_below(min_position);
                let first_kept_file = q.base * CQ_ENTRY_BYTES as u64 / file_bytes * file_bytes;
                let mut f = old_base * CQ_ENTRY_BYTES as u64 / file_bytes * file_bytes;
                while f < first_kept_file {
                    doomed.push(
                        dir.join(&*q.topic)
                            .join(q.queue_id.to_string())
                            .join(file_name_for_offset(f)),
                    );
                    f += file_bytes;
                }
            }
            doomed
        };
        for path in doomed {
            match disk.remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove consume-queue file", &path, e)),
            }
        }
        Ok(())
    }
}

async fn load_queue<D: Disk>(
    disk: &D,
    qdir: &Path,
    topic: &str,
    queue_id: QueueId,
    files: &[u64],
    file_bytes: u64,
    checkpoint: CommitLogOffset,
) -> Result<Option<ConsumeQueue>> {
    let mut queue: Option<ConsumeQueue> = None;
    let mut ended = false;
    for &file_base in files {
        let path = qdir.join(file_name_for_offset(file_base));
        if ended {
            disk.remove_file(&path)
                .await
                .map_err(|e| StoreError::io("remove stale consume-queue file", &path, e))?;
            continue;
        }
        let file = disk
            .open(&path, false)
            .await
            .map_err(|e| StoreError::io("open consume queue", &path, e))?;
        let bytes = file
            .read_at(0, file_bytes as usize)
            .await
            .map_err(|e| StoreError::io("read consume queue", &path, e))?;
        let (valid_bytes, broken) =
            take_slots(&mut queue, &bytes, file_base, topic, queue_id, checkpoint);
        if broken || (bytes.len() as u64) < file_bytes {
            ended = true;
            if valid_bytes < bytes.len() as u64 {
                file.truncate(valid_bytes)
                    .await
                    .map_err(|e| StoreError::io("truncate consume queue", &path, e))?;
                file.sync_data()
                    .await
                    .map_err(|e| StoreError::io("sync consume queue", &path, e))?;
            }
        }
    }
    Ok(queue)
}

/// Adds the entries of one file's `bytes` (its first slot at byte
/// `file_base` of the queue) to `queue`, creating it at the first entry, up
/// to the first slot that does not continue it: invalid, a filler after
/// the first entry, an entry at or past `checkpoint`, out of order or at
/// the wrong queue offset. Returns the valid bytes (fillers included), and
/// whether such a slot ended the queue.
fn take_slots(
    queue: &mut Option<ConsumeQueue>,
    bytes: &[u8],
    file_base: u64,
    topic: &str,
    queue_id: QueueId,
    checkpoint: CommitLogOffset,
) -> (u64, bool) {
    let mut valid_bytes = 0u64;
    for (i, slot) in bytes.chunks(CQ_ENTRY_BYTES).enumerate() {
        let offset = (file_base + (i * CQ_ENTRY_BYTES) as u64) / CQ_ENTRY_BYTES as u64;
        match decode_slot(slot) {
            CqSlot::Filler if queue.is_none() => {
                valid_bytes = ((i + 1) * CQ_ENTRY_BYTES) as u64;
            }
            CqSlot::Entry(e) if e.end() <= checkpoint => {
                let q = queue.get_or_insert_with(|| {
                    let mut q = ConsumeQueue::new(Rc::from(topic), queue_id, offset);
                    q.file_started = true;
                    q
                });
                let in_order = q
                    .entries
                    .back()
                    .is_none_or(|last| e.commit_log_offset >= last.end());
                if offset != q.max_offset().0 || !in_order {
                    return (valid_bytes, true);
                }
                q.entries.push_back(e);
                q.persisted = q.max_offset().0;
                valid_bytes = ((i + 1) * CQ_ENTRY_BYTES) as u64;
            }
            _ => return (valid_bytes, true),
        }
    }
    (valid_bytes, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_entry() {
        let mut out = Vec::new();
        CqEntry {
            commit_log_offset: CommitLogOffset(0x0102),
            size_bytes: 300,
            tags_code: -1,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 1, 44, 255, 255, 255, 255, 255, 255, 255, 255]
        );
        let mut filler = Vec::new();
        encode_filler(&mut filler);
        assert_eq!(decode_slot(&filler), CqSlot::Filler);
        assert_eq!(decode_slot(&[0u8; 20]), CqSlot::Invalid);
    }

    proptest! {
        #[test]
        fn entry_round_trips(offset in 0u64..(1 << 62), size in 1u32..(i32::MAX as u32), tags in any::<i64>()) {
            let e = CqEntry { commit_log_offset: CommitLogOffset(offset), size_bytes: size, tags_code: tags };
            let mut out = Vec::new();
            e.encode(&mut out);
            prop_assert_eq!(out.len(), CQ_ENTRY_BYTES);
            prop_assert_eq!(decode_slot(&out), CqSlot::Entry(e));
        }

        #[test]
        fn arbitrary_slots_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_slot(&bytes);
        }
    }
}
