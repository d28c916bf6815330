//! The engine's errors. Operating conditions (disk full, an illegal message, a
//! poisoned log) are returned for the broker to answer with; broken
//! invariants are assertions, not errors.

use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use crate::ids::{CommitLogOffset, ShardId};
use crate::record::IllegalMessage;

/// Why a store operation failed; every variant carries its context.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A write or fdatasync failed. The bytes it covered may or may not be on
    /// disk, so nothing after it can be acknowledged: the log refuses writes
    /// for good and the flush is never retried (a retried fdatasync can report
    /// success for pages the kernel already dropped).
    #[error("commit log of shard {shard} is poisoned: {reason}; writes are refused until restart")]
    Poisoned {
        /// The shard whose log is poisoned.
        shard: ShardId,
        /// The failure that poisoned it.
        reason: Rc<str>,
    },
    /// Disk use is at or above `disk_full_percent`, or a segment could not
    /// be created for lack of space: appends are refused until retention
    /// frees space; reads go on.
    #[error("disk full on shard {shard}: {detail}; writes are refused, reads still served")]
    DiskFull {
        /// The shard whose appends are refused.
        shard: ShardId,
        /// What found the disk full.
        detail: Rc<str>,
    },
    /// The store is shutting down: what was appended before is flushed and
    /// checkpointed, nothing more is taken.
    #[error(
        "commit log of shard {shard} is closed: the store is shutting down; writes are refused"
    )]
    Closed {
        /// The shard whose store is closed.
        shard: ShardId,
    },
    /// The message cannot be stored as given (size, topic, properties).
    #[error("message illegal: {0}")]
    Illegal(#[from] IllegalMessage),
    /// A file-system operation failed. (A commit-log write or flush that
    /// fails while the store serves poisons the log instead.)
    #[error("{op} failed on {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory it was done on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Rc<io::Error>,
    },
    /// Stored data or the configuration does not match what the store
    /// wrote or expects; nothing is deleted to guess past it.
    #[error("corrupt {what} in {path}: {detail}")]
    Corrupt {
        /// What is corrupt (segment name, checkpoint, configuration...).
        what: &'static str,
        /// Where it was found.
        path: PathBuf,
        /// How it is corrupt.
        detail: String,
    },
    /// No readable record starts at the offset: not yet visible, deleted by
    /// retention, or not a record's start.
    #[error("no record at commit-log offset {offset}: {detail}")]
    NoRecordAt {
        /// The commit-log offset asked for.
        offset: CommitLogOffset,
        /// Why no record is there.
        detail: String,
    },
    /// Replicated bytes that cannot extend this log: the master sent them
    /// for another position, or they do not parse as records.
    #[error("replicated bytes at commit-log offset {offset} refused: {detail}")]
    Replication {
        /// Commit-log offset the bytes were sent for.
        offset: CommitLogOffset,
        /// Why they were refused.
        detail: String,
    },
}

impl StoreError {
    /// An [`StoreError::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.into(),
            source: Rc::new(source),
        }
    }
}

/// A result whose error is a [`StoreError`] unless given.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
