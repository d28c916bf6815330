//! Dispatch: derives consume-queue and key-index entries from one record.
//! The same function runs at append time (on the bytes just encoded) and at
//! recovery (on the bytes read back), so what recovery rebuilds is exactly
//! what the live path built. Re-dispatching a record is a no-op.

use crate::consume_queue::{ConsumeQueue, ConsumeQueues, CqEntry};
use crate::ids::{CommitLogOffset, QueueOffset};
use crate::key_index::{key_hash, IndexEntry, KeyIndex};
use crate::record::{java_string_hash, RecordView, SYSFLAG_TRANSACTION_ROLLBACK};

/// Property holding the message's tag (`MessageConst.PROPERTY_TAGS`); its
/// hash is the consume queue's `tagsCode`.
pub const PROPERTY_TAGS: &str = "TAGS";
/// Property holding the message's business keys, separated by
/// [`KEY_SEPARATOR`] (`MessageConst.PROPERTY_KEYS`); each is indexed.
pub const PROPERTY_KEYS: &str = "KEYS";
/// Property holding the client-assigned unique message ID
/// (`MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX`); indexed when
/// present.
pub const PROPERTY_UNIQ_KEY: &str = "UNIQ_KEY";
/// `MessageConst.KEY_SEPARATOR`.
pub const KEY_SEPARATOR: char = ' ';
/// Keys of one message's `KEYS` the key index takes (RocketMQ has no
/// limit): a 32 KiB property of short keys would otherwise add thousands of
/// index entries for one message. Keys past it are stored with the message
/// but not found by `QUERY_MESSAGE`.
pub const KEYS_INDEXED_PER_MESSAGE_MAX: usize = 64;

/// Where timer messages wait for their delivery time (RocketMQ 5's
/// `TimerMessageStore.TIMER_TOPIC`).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// A timer message's delivery time, ms since the epoch, as the broker
/// stores it.
pub const PROPERTY_TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Where delayed messages wait, a queue per delay level
/// (`TopicValidator.RMQ_SYS_SCHEDULE_TOPIC`).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// The consume queue's `tagsCode`: Java `String.hashCode()` of `TAGS`,
/// sign-extended; 0 without a tag. Waiting messages carry times instead,
/// so the broker finds what is due from the consume queue alone, without
/// reading records: the timer topic's entries hold the delivery time, the
/// schedule topic's the store time. (RocketMQ stores store time + the
/// level's delay there; the engine does not know the levels, so the
/// broker, which does, adds the delay.)
pub fn tags_code(view: &RecordView<'_>) -> i64 {
    if view.topic == SCHEDULE_TOPIC {
        return view.store_timestamp_ms;
    }
    if view.topic == TIMER_TOPIC {
        return view
            .property(PROPERTY_TIMER_OUT_MS)
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
    }
    view.property(PROPERTY_TAGS)
        .filter(|t| !t.is_empty())
        .map_or(0, |t| i64::from(java_string_hash(t)))
}

/// Derives one record's entries: a consume-queue entry (creating the queue
/// if needed) unless the record is a transaction's prepare or rollback, and
/// key-index entries for `UNIQ_KEY` and up to
/// [`KEYS_INDEXED_PER_MESSAGE_MAX`] `KEYS` when `index` is given, except for
/// rollbacks and records at or below the index's last offset.
pub fn dispatch(view: &RecordView<'_>, queues: &mut ConsumeQueues, index: Option<&mut KeyIndex>) {
    let queue = view
        .takes_queue_offset()
        .then(|| queues.get_or_create(view.topic, view.queue()));
    dispatch_to_queue(view, queue, index);
}

/// [`dispatch`] with the record's consume queue already looked up (the
/// append path looks it up once for the queue offset and the entry);
/// `None` when the record takes no queue offset.
pub fn dispatch_to_queue(
    view: &RecordView<'_>,
    queue: Option<&mut ConsumeQueue>,
    index: Option<&mut KeyIndex>,
) {
    let phys = CommitLogOffset(view.physical_offset as u64);
    if let Some(queue) = queue {
        debug_assert!(&*queue.topic == view.topic && queue.queue_id == view.queue());
        queue.put(
            QueueOffset(view.queue_offset as u64),
            CqEntry {
                commit_log_offset: phys,
                size_bytes: view.size_bytes() as u32,
                tags_code: tags_code(view),
            },
        );
    }
    let Some(index) = index else {
        return;
    };
    if view.sys_flag & 0x0C == SYSFLAG_TRANSACTION_ROLLBACK {
        return;
    }
    if index.last_offset().is_some_and(|last| phys <= last) {
        return; // already indexed before a restart
    }
    let mut add = |key: &str| {
        if !key.is_empty() {
            index.add(IndexEntry {
                key_hash: key_hash(view.topic, key),
                commit_log_offset: phys,
                store_timestamp_ms: view.store_timestamp_ms,
            });
        }
    };
    if let Some(uniq) = view.property(PROPERTY_UNIQ_KEY) {
        add(uniq);
    }
    if let Some(keys) = view.property(PROPERTY_KEYS) {
        keys.split(KEY_SEPARATOR)
            .filter(|k| !k.is_empty())
            .take(KEYS_INDEXED_PER_MESSAGE_MAX)
            .for_each(&mut add);
    }
}

/// Whether a record matches a query key (the index only matches hashes).
pub fn record_has_key(view: &RecordView<'_>, key: &str) -> bool {
    view.property(PROPERTY_UNIQ_KEY) == Some(key)
        || view
            .property(PROPERTY_KEYS)
            .is_some_and(|keys| keys.split(KEY_SEPARATOR).any(|k| k == key))
}
