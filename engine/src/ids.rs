//! Strong types for the positions the engine hands out. They are all `u64`
//! underneath; keeping them apart makes mixing a commit-log offset with a queue
//! offset a compile error.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

macro_rules! position_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl $name {
            /// Position zero.
            pub const ZERO: $name = $name(0);

            /// The position as a plain `u64`.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

position_type!(
    /// Absolute byte position in a shard's commit log (the record's
    /// `PHYSICALOFFSET`).
    CommitLogOffset
);
position_type!(
    /// Logical position in one consume queue: entry index, the record's
    /// `QUEUEOFFSET`.
    QueueOffset
);

position_type!(
    /// Commit-log offset where a segment file starts: a multiple of the
    /// segment size, and the file's name (20 digits). Kept apart from
    /// [`CommitLogOffset`] so a position inside a segment cannot be taken
    /// for the segment that holds it.
    SegmentBase
);

impl SegmentBase {
    /// The next segment's base, `segment_size_bytes` on.
    pub fn next(self, segment_size_bytes: u64) -> SegmentBase {
        SegmentBase(self.0 + segment_size_bytes)
    }

    /// The name of the segment's file.
    pub fn file_name(self) -> String {
        file_name_for_offset(self.0)
    }
}

impl SegmentBase {
    /// The segment's first byte, as a commit-log offset.
    pub fn start(self) -> CommitLogOffset {
        CommitLogOffset(self.0)
    }

    /// Where `offset`, which lies in this segment, is within the segment's file.
    pub fn file_pos(self, offset: CommitLogOffset) -> u64 {
        debug_assert!(offset.0 >= self.0, "offset {offset} before segment {self}");
        offset.0 - self.0
    }
}

impl CommitLogOffset {
    /// The offset `bytes` further on.
    pub fn plus(self, bytes: u64) -> CommitLogOffset {
        CommitLogOffset(self.0 + bytes)
    }

    /// The segment holding this offset, in a log of `segment_size_bytes` segments.
    pub fn segment_base(self, segment_size_bytes: u64) -> SegmentBase {
        SegmentBase(self.0 - self.0 % segment_size_bytes)
    }

    /// The offset rounded down to a multiple of `align_bytes`.
    pub fn align_down(self, align_bytes: u64) -> CommitLogOffset {
        CommitLogOffset(self.0 - self.0 % align_bytes)
    }

    /// The offset starts a segment of `segment_size_bytes`.
    pub fn is_segment_start(self, segment_size_bytes: u64) -> bool {
        self.0.is_multiple_of(segment_size_bytes)
    }
}

/// An offset `bytes` further on.
impl Add<u64> for CommitLogOffset {
    type Output = CommitLogOffset;
    fn add(self, bytes: u64) -> CommitLogOffset {
        CommitLogOffset(self.0 + bytes)
    }
}

impl AddAssign<u64> for CommitLogOffset {
    fn add_assign(&mut self, bytes: u64) {
        self.0 += bytes;
    }
}

/// The bytes from `earlier` to `self`; `earlier` must not be past `self`.
impl Sub for CommitLogOffset {
    type Output = u64;
    fn sub(self, earlier: CommitLogOffset) -> u64 {
        self.0 - earlier.0
    }
}

impl QueueOffset {
    /// The offset of the entry after this one.
    pub fn next(self) -> QueueOffset {
        QueueOffset(self.0 + 1)
    }
}

/// One shard of a broker: a core's commit log, queues and connections,
/// numbered from 0 in the order the broker starts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u16);

/// A queue of a topic (`queueId` on the wire, `QUEUEID` in a record):
/// numbered from 0, below [`crate::record::QUEUES_PER_TOPIC_MAX`] in a
/// record the store accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub i32);

impl QueueId {
    /// The id as the wire and the record carry it.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl ShardId {
    /// The shard's place in per-shard tables (`0..shards`).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Formats a start offset the way RocketMQ names segment files: 20 decimal
/// digits, zero padded.
pub fn file_name_for_offset(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit segment file name; anything else is not a segment.
pub fn offset_from_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_twenty_digits() {
        assert_eq!(file_name_for_offset(1_073_741_824), "00000000001073741824");
        assert_eq!(
            offset_from_file_name("00000000001073741824"),
            Some(1_073_741_824)
        );
        assert_eq!(offset_from_file_name("0000000000107374182"), None);
        assert_eq!(offset_from_file_name("0000000000107374182x"), None);
    }
}
