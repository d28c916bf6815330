//! The engine's errors. Operating conditions (disk full, an illegal message, a
//! poisoned log) are returned for the broker to answer with; broken
//! invariants are assertions, not errors.

use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use crate::record::IllegalMessage;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A write or fdatasync failed. The bytes it covered may or may not be on
    /// disk, so nothing after it can be acknowledged: the log refuses writes
    /// for good and the flush is never retried (a retried fdatasync can report
    /// success for pages the kernel already dropped).
    #[error("commit log of shard {shard} is poisoned: {reason}; writes are refused until restart")]
    Poisoned { shard: u16, reason: Rc<str> },
    #[error("disk full on shard {shard}: {detail}; writes are refused, reads still served")]
    DiskFull { shard: u16, detail: Rc<str> },
    /// The store is shutting down: what was appended before is flushed and
    /// checkpointed, nothing more is taken.
    #[error(
        "commit log of shard {shard} is closed: the store is shutting down; writes are refused"
    )]
    Closed { shard: u16 },
    #[error("message illegal: {0}")]
    Illegal(#[from] IllegalMessage),
    #[error("{op} failed on {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: Rc<io::Error>,
    },
    #[error("corrupt {what} in {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("no record at commit-log offset {offset}: {detail}")]
    NoRecordAt { offset: u64, detail: String },
    /// Replicated bytes that cannot extend this log: the master sent them
    /// for another position, or they do not parse as records.
    #[error("replicated bytes at commit-log offset {offset} refused: {detail}")]
    Replication { offset: u64, detail: String },
}

impl StoreError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.into(),
            source: Rc::new(source),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
