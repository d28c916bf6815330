//! Key index: find messages by `KEYS` and by `UNIQ_KEY` within a topic and a
//! time range (`spec/store-format.md` §4 gives RocketMQ's hash-slot file).
//!
//! RingMQ keeps an equivalent, simpler format: an append-only log of entries,
//! with the hash table rebuilt in memory at start-up. Appending never
//! rewrites a slot in place, so a torn write can only cut the tail, which the
//! per-entry CRC detects.
//!
//! ```text
//! file index/<20-digit number of its first entry>, `index_segment_entries` entries each
//! entry (24 bytes, big-endian)
//!   0  4  keyHash        |String.hashCode(topic + "#" + key)|, i32::MIN -> 0 (as Java)
//!   4  8  phyOffset      commit-log offset of the message
//!  12  8  storeTimestamp ms
//!  20  4  crc32 of bytes 0..20
//! ```
//!
//! Shard-owned. Like the consume queues, entries reach the files only up to
//! a durable commit-log position, at checkpoints; recovery keeps file
//! entries below the checkpoint and rebuilds the rest from the commit log.
//! Hash collisions are expected: the store re-checks topic and key on the
//! record before returning it.
//!
//! In memory, as RocketMQ's index file does on disk, a fixed table of
//! [`SLOTS`] hash slots holds the newest entry of each slot, and every entry
//! links to the previous one of its slot. Every message's `UNIQ_KEY` is
//! indexed, so the table is written once per message at a random slot: a
//! map keyed by the exact hash grew by one slot per message (tens of
//! millions) and its inserts took a large share of the broker's CPU under
//! batched produce; a fixed 8 MiB table still cost a TLB and cache miss per
//! message (figures: `docs/perf-log.md`, 2026-12-04). The table is 512 KiB,
//! which stays cached; a lookup (rare:
//! admin tools, query by key or id) walks entries ÷ [`SLOTS`] entries of
//! its chain on average, about 150 for ten million entries.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::disk::{Disk, DiskFile};
use crate::error::{Result, StoreError};
use crate::ids::{file_name_for_offset, offset_from_file_name, CommitLogOffset};
use crate::record::java_string_hash_parts;

/// Size of one encoded [`IndexEntry`] in an index file, CRC included.
pub const INDEX_ENTRY_BYTES: usize = 24;

/// One key of one message: what the index files hold per entry, less the CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// [`key_hash`] of the message's topic and this key; never negative.
    pub key_hash: i32,
    /// Commit-log offset of the message's record (below `i64::MAX`).
    pub commit_log_offset: CommitLogOffset,
    /// The record's store timestamp, ms since the epoch, for time-range
    /// queries.
    pub store_timestamp_ms: i64,
}

/// The hash RocketMQ's index uses for `topic#key`.
pub fn key_hash(topic: &str, key: &str) -> i32 {
    let h = java_string_hash_parts(&[topic, "#", key]);
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

impl IndexEntry {
    /// Appends the entry's [`INDEX_ENTRY_BYTES`] bytes to `out`: the fields
    /// big-endian, then the CRC32 of them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.key_hash.to_be_bytes());
        out.extend_from_slice(&self.commit_log_offset.get().to_be_bytes());
        out.extend_from_slice(&self.store_timestamp_ms.to_be_bytes());
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    /// `None` for fewer than 24 bytes or a CRC mismatch.
    pub fn decode(buf: &[u8]) -> Option<IndexEntry> {
        let b = buf.get(..INDEX_ENTRY_BYTES)?;
        let crc = u32::from_be_bytes(b[20..24].try_into().expect("a slice of the array's length"));
        if crc32fast::hash(&b[..20]) != crc {
            return None;
        }
        let offset =
            i64::from_be_bytes(b[4..12].try_into().expect("a slice of the array's length"));
        if offset < 0 {
            return None;
        }
        Some(IndexEntry {
            key_hash: i32::from_be_bytes(
                b[0..4].try_into().expect("a slice of the array's length"),
            ),
            commit_log_offset: CommitLogOffset(offset as u64),
            store_timestamp_ms: i64::from_be_bytes(
                b[12..20].try_into().expect("a slice of the array's length"),
            ),
        })
    }
}

/// No earlier entry in the same slot.
const CHAIN_END: u64 = u64::MAX;

/// Hash slots of the in-memory table (a power of two).
pub const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_BITS: u32 = 16;

/// A key hash's slot: the high bits of a multiplicative hash, so keys whose
/// Java hashes differ only in high bits still spread.
fn slot_of(key_hash: i32) -> usize {
    ((key_hash as u32).wrapping_mul(0x9E37_79B1) >> (32 - SLOT_BITS)) as usize
}

/// One shard's key index: every entry retention has not dropped, held in
/// memory with the hash table over them, and persisted at checkpoints to
/// the files under its directory.
pub struct KeyIndex {
    dir: PathBuf,
    segment_entries: u64,
    /// Number of `entries[0]`.
    base: u64,
    entries: VecDeque<IndexEntry>,
    /// Per entry: the number of the previous entry in the same slot (a
    /// hash chain, as RocketMQ's index file keeps one), or [`CHAIN_END`].
    prev: VecDeque<u64>,
    /// Newest entry number per slot, or [`CHAIN_END`]; allocated with the
    /// first entry.
    heads: Vec<u64>,
    /// Entry number up to which the files hold entries.
    persisted: u64,
}

impl KeyIndex {
    /// An empty index persisting to `dir` in files of `segment_entries`
    /// entries each (panics when 0); nothing is read from disk here.
    pub fn new(dir: PathBuf, segment_entries: u64) -> KeyIndex {
        assert!(segment_entries > 0);
        KeyIndex {
            dir,
            segment_entries,
            base: 0,
            entries: VecDeque::new(),
            prev: VecDeque::new(),
            heads: Vec::new(),
            persisted: 0,
        }
    }

    fn next_number(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Adds one key of a record. Entries arrive in log order; skipping
    /// records already indexed (re-dispatch after recovery) is the
    /// dispatcher's job, via [`KeyIndex::last_offset`].
    pub fn add(&mut self, entry: IndexEntry) {
        if let Some(last) = self.entries.back() {
            assert!(
                entry.commit_log_offset >= last.commit_log_offset,
                "index entries out of log order"
            );
        }
        let n = self.next_number();
        if self.heads.is_empty() {
            self.heads = vec![CHAIN_END; SLOTS];
        }
        let prev = std::mem::replace(&mut self.heads[slot_of(entry.key_hash)], n);
        self.prev.push_back(prev);
        self.entries.push_back(entry);
    }

    /// Highest commit-log offset indexed, for idempotent re-dispatch.
    pub fn last_offset(&self) -> Option<CommitLogOffset> {
        self.entries.back().map(|e| e.commit_log_offset)
    }

    /// Commit-log offsets whose key hash matches and whose store time is in
    /// `[begin_ms, end_ms]`, newest first, below `visible` (unconfirmed
    /// records are not returned).
    pub fn candidates(
        &self,
        hash: i32,
        begin_ms: i64,
        end_ms: i64,
        visible: CommitLogOffset,
    ) -> Vec<CommitLogOffset> {
        let mut out = Vec::new();
        let mut n = self.heads.get(slot_of(hash)).copied().unwrap_or(CHAIN_END);
        while n != CHAIN_END && n >= self.base {
            let i = (n - self.base) as usize;
            let e = &self.entries[i];
            if e.key_hash == hash
                && e.store_timestamp_ms >= begin_ms
                && e.store_timestamp_ms <= end_ms
                && e.commit_log_offset < visible
            {
                out.push(e.commit_log_offset);
            }
            n = self.prev[i];
        }
        out
    }

    /// Recovery truncation: drops entries at or past `position`.
    pub fn truncate_from(&mut self, position: CommitLogOffset) {
        while self
            .entries
            .back()
            .is_some_and(|e| e.commit_log_offset >= position)
        {
            let e = self.entries.pop_back().expect("checked");
            let prev = self.prev.pop_back().expect("one per entry");
            // Entries go newest first, so the popped one heads its chain.
            self.heads[slot_of(e.key_hash)] = if prev < self.base { CHAIN_END } else { prev };
        }
        self.persisted = self.persisted.min(self.next_number());
    }

    /// Writes entries for records below `durable` and syncs the files.
    pub async fn persist<D: Disk>(
        this: &std::cell::RefCell<Self>,
        disk: &D,
        durable: CommitLogOffset,
    ) -> Result<()> {
        let (jobs, upto) = {
            let me = this.borrow();
            let visible =
                me.entries
                    .partition_point(|e| e.commit_log_offset < durable) as u64
                    + me.base;
            let mut jobs = Vec::new();
            let mut n = me.persisted;
            while n < visible {
                let file_first = n - n % me.segment_entries;
                let count = (file_first + me.segment_entries - n).min(visible - n);
                let mut bytes = Vec::with_capacity(count as usize * INDEX_ENTRY_BYTES);
                for e in me
                    .entries
                    .iter()
                    .skip((n - me.base) as usize)
                    .take(count as usize)
                {
                    e.encode(&mut bytes);
                }
                let path = me.dir.join(file_name_for_offset(file_first));
                jobs.push((path, (n - file_first) * INDEX_ENTRY_BYTES as u64, bytes));
                n += count;
            }
            (jobs, visible)
        };
        if jobs.is_empty() {
            return Ok(());
        }
        let dir = this.borrow().dir.clone();
        disk.create_dir_all(&dir)
            .await
            .map_err(|e| StoreError::io("create index directory", &dir, e))?;
        let mut touched: Vec<Rc<D::File>> = Vec::new();
        for (path, pos, bytes) in jobs {
            let file = disk
                .open(&path, true)
                .await
                .map_err(|e| StoreError::io("open index", &path, e))?;
            file.write_all_at(bytes, pos)
                .await
                .map_err(|e| StoreError::io("write index", &path, e))?;
            touched.push(file);
        }
        for file in touched {
            file.sync_data()
                .await
                .map_err(|e| StoreError::io("sync index", file.path(), e))?;
        }
        let mut me = this.borrow_mut();
        me.persisted = me.persisted.max(upto).min(me.next_number());
        Ok(())
    }

    /// Loads entries below `checkpoint`, truncating files after the last
    /// valid one.
    pub async fn load<D: Disk>(
        disk: &D,
        dir: PathBuf,
        segment_entries: u64,
        checkpoint: CommitLogOffset,
    ) -> Result<KeyIndex> {
        let mut me = KeyIndex::new(dir.clone(), segment_entries);
        let names = disk
            .list_dir(&dir)
            .await
            .map_err(|e| StoreError::io("list index", &dir, e))?;
        let mut files: Vec<u64> = names
            .iter()
            .filter_map(|n| offset_from_file_name(n))
            .collect();
        files.sort_unstable();
        let mut ended = false;
        for (i, first) in files.iter().copied().enumerate() {
            let path = dir.join(file_name_for_offset(first));
            if ended {
                disk.remove_file(&path)
                    .await
                    .map_err(|e| StoreError::io("remove stale index file", &path, e))?;
                continue;
            }
            if i == 0 {
                me.base = first;
                me.persisted = first;
            }
            ended = me.load_file(disk, &path, first, checkpoint).await?;
        }
        Ok(me)
    }

    /// Loads the entries of the file whose first entry is number `first`,
    /// truncating it after the last valid one. Returns whether the index
    /// ends in this file (a gap, a bad or out-of-order entry, or a short
    /// file): the files after it are stale.
    async fn load_file<D: Disk>(
        &mut self,
        disk: &D,
        path: &Path,
        first: u64,
        checkpoint: CommitLogOffset,
    ) -> Result<bool> {
        let file_bytes = self.segment_entries as usize * INDEX_ENTRY_BYTES;
        let file = disk
            .open(path, false)
            .await
            .map_err(|e| StoreError::io("open index", path, e))?;
        let bytes = file
            .read_at(0, file_bytes)
            .await
            .map_err(|e| StoreError::io("read index", path, e))?;
        let (valid, mut ended) = if first == self.next_number() {
            let taken = self.add_valid(&bytes, checkpoint);
            self.persisted = self.next_number();
            taken
        } else {
            (0, true)
        };
        if ended || bytes.len() < file_bytes {
            ended = true;
            if valid < bytes.len() {
                file.truncate(valid as u64)
                    .await
                    .map_err(|e| StoreError::io("truncate index", path, e))?;
                file.sync_data()
                    .await
                    .map_err(|e| StoreError::io("sync index", path, e))?;
            }
        }
        Ok(ended)
    }

    /// Adds the entries of `bytes` (a file's) up to the first that is not
    /// valid: undecodable, at or past `checkpoint`, or before the last
    /// entry. Returns the valid bytes, and whether an entry was not valid.
    fn add_valid(&mut self, bytes: &[u8], checkpoint: CommitLogOffset) -> (usize, bool) {
        let mut valid = 0usize;
        for chunk in bytes.chunks(INDEX_ENTRY_BYTES) {
            match IndexEntry::decode(chunk) {
                Some(e)
                    if e.commit_log_offset < checkpoint
                        && self.last_offset().is_none_or(|l| e.commit_log_offset >= l) =>
                {
                    self.add(e);
                    valid += INDEX_ENTRY_BYTES;
                }
                _ => return (valid, true),
            }
        }
        (valid, false)
    }

    /// Retention: forgets entries below `min_position` and deletes files
    /// holding only such entries.
    pub async fn drop_below<D: Disk>(
        this: &std::cell::RefCell<Self>,
        disk: &D,
        min_position: CommitLogOffset,
    ) -> Result<()> {
        let doomed = {
            let mut me = this.borrow_mut();
            let old_base = me.base;
            while me
                .entries
                .front()
                .is_some_and(|e| e.commit_log_offset < min_position)
            {
                me.entries.pop_front();
                me.prev.pop_front();
                me.base += 1;
            }
            me.persisted = me.persisted.max(me.base);
            let base = me.base;
            // Chains stop at `base` (lookups and truncation check it), so
            // heads below it need no clearing.
            let seg = me.segment_entries;
            let mut doomed = Vec::new();
            let mut f = old_base - old_base % seg;
            while f + seg <= base {
                doomed.push(me.dir.join(file_name_for_offset(f)));
                f += seg;
            }
            doomed
        };
        for path in doomed {
            match disk.remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove index file", &path, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_entry() {
        let e = IndexEntry {
            key_hash: 1,
            commit_log_offset: CommitLogOffset(2),
            store_timestamp_ms: 3,
        };
        let mut out = Vec::new();
        e.encode(&mut out);
        let mut expected = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3];
        let crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(out, expected);
        assert_eq!(IndexEntry::decode(&[0u8; 24]), None, "zeroes fail the CRC");
    }

    #[test]
    fn key_hash_is_java_abs_hash() {
        // "T#k".hashCode() = ((84*31 + 35)*31 + 107) = 81_916
        assert_eq!(key_hash("T", "k"), 81_916);
    }

    proptest! {
        #[test]
        fn entry_round_trips(h in any::<i32>(), off in 0u64..(1 << 62), ts in any::<i64>()) {
            let e = IndexEntry { key_hash: h, commit_log_offset: CommitLogOffset(off), store_timestamp_ms: ts };
            let mut out = Vec::new();
            e.encode(&mut out);
            prop_assert_eq!(IndexEntry::decode(&out), Some(e));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = IndexEntry::decode(&bytes);
        }

        /// Lookups after adds, a recovery truncation and a retention drop
        /// find exactly what a scan of the live entries finds, with hashes
        /// drawn from a few values that share slots.
        #[test]
        fn lookups_match_a_scan(
            picks in proptest::collection::vec(0usize..6, 1..300),
            truncate_at in 0u64..320,
            drop_below in 0u64..320,
        ) {
            let hashes = colliding_hashes();
            let mut index = KeyIndex::new(PathBuf::from("unused"), 64);
            for (i, p) in picks.iter().enumerate() {
                index.add(IndexEntry {
                    key_hash: hashes[*p],
                    commit_log_offset: CommitLogOffset(i as u64),
                    store_timestamp_ms: i as i64,
                });
            }
            index.truncate_from(CommitLogOffset(truncate_at));
            // What `drop_below` does in memory (it also removes files).
            while index.entries.front().is_some_and(|e| e.commit_log_offset < CommitLogOffset(drop_below)) {
                index.entries.pop_front();
                index.prev.pop_front();
                index.base += 1;
            }
            for h in hashes {
                let found = index.candidates(h, 0, i64::MAX, CommitLogOffset(u64::MAX));
                let scan: Vec<CommitLogOffset> = index
                    .entries
                    .iter()
                    .rev()
                    .filter(|e| e.key_hash == h)
                    .map(|e| e.commit_log_offset)
                    .collect();
                prop_assert_eq!(found, scan);
            }
        }
    }

    /// Six key hashes, three of them in one slot.
    fn colliding_hashes() -> [i32; 6] {
        let first = 7;
        let mut same_slot = (8..).filter(|h| slot_of(*h) == slot_of(first));
        let (a, b) = (same_slot.next().unwrap(), same_slot.next().unwrap());
        [first, a, b, 1, 2, i32::MAX]
    }
}
