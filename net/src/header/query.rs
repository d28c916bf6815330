//! VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12) headers (§9.10).

use super::command_header;

command_header! {
    /// VIEW_MESSAGE_BY_ID (33). The requester decodes an offset message id and
    /// sends this to the address embedded in it.
    pub struct ViewMessageRequestHeader {
        /// Commit-log physical offset.
        offset: i64 = "offset",
        /// Topic of the message, when the requester knows it.
        topic: Option<String> = "topic",
    }
}

command_header! {
    /// QUERY_MESSAGE (12): look up `topic#key` in the key index.
    pub struct QueryMessageRequestHeader {
        /// Topic to search.
        topic: String = "topic",
        /// Business key (`KEYS`) or, with `unique_key_query`, a UNIQ_KEY.
        key: String = "key",
        /// Most messages to return.
        max_num: i32 = "maxNum",
        /// Start of the store-time window, in ms since the epoch.
        begin_timestamp: i64 = "beginTimestamp",
        /// End of the store-time window, in ms since the epoch.
        end_timestamp: i64 = "endTimestamp",
        /// `true`: `key` is a UNIQ_KEY, and the broker uses its own
        /// `defaultQueryMaxNum` instead of `maxNum`.
        unique_key_query: Option<bool> = "_UNIQUE_KEY_QUERY",
    }
}

command_header! {
    /// Response of QUERY_MESSAGE.
    pub struct QueryMessageResponseHeader {
        /// Store time (ms since the epoch) of the last message the index files cover.
        index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        /// Commit-log offset of the last message the index files cover.
        index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}
