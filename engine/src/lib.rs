//! RingMQ's storage engine: one shard's commit log in RocketMQ's
//! stored-message layout, the consume queues and key index derived from it,
//! sync and async flush with group commit, crash recovery and retention.
//!
//! A leaf crate: no sockets, nothing else of RingMQ's. Every type here is
//! owned by one shard (not `Send`) except [`FlushGate`], which shards on one
//! disk share so that only one fdatasync runs at a time.

#![warn(missing_docs)]

pub mod background;
pub mod checkpoint;
pub mod commit_log;
pub mod config;
pub mod consume_queue;
pub mod disk;
pub mod dispatch;
pub mod error;
pub mod flush_gate;
pub mod histogram;
pub mod ids;
pub mod key_index;
pub mod record;
mod recovery;
mod replica;
pub mod store;
pub mod waiters;

pub use commit_log::FileRange;
pub use config::{FlushMode, StoreConfig};
pub use error::{Result, StoreError};
pub use flush_gate::FlushGate;
pub use ids::{CommitLogOffset, QueueId, QueueOffset, SegmentBase, ShardId};
pub use record::MessageIn;
pub use store::{
    AppendedRecord, QueueEntry, QueueRead, ReadStatus, RetentionReport, ShardStore, TimeBoundary,
};
