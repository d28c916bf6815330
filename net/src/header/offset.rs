//! Consumer offsets (§9.6) and queue offset queries (§9.9): codes 14, 15, 29,
//! 30, 31, 32.

use super::command_header;

command_header! {
    /// QUERY_CONSUMER_OFFSET (14). Answered with [`OffsetResponseHeader`] or
    /// QUERY_NOT_FOUND.
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15); usually oneway. No response header.
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        commit_offset: i64 = "commitOffset",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30). `offset` in the response is exclusive: the next
    /// offset to be assigned.
    pub struct GetMaxOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Java default true.
        committed: Option<bool> = "committed",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// GET_MIN_OFFSET (31).
    pub struct GetMinOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// Milliseconds since the epoch.
        timestamp: i64 = "timestamp",
        /// `lower` (default) or `upper`, case-insensitive.
        boundary_type: Option<String> = "boundaryType",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// The response of QUERY_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET
    /// and SEARCH_OFFSET_BY_TIMESTAMP (four Java classes, one field).
    pub struct OffsetResponseHeader {
        offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Response of GET_EARLIEST_MSG_STORETIME: store time (ms) of the message at
    /// the queue's min offset.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        timestamp: i64 = "timestamp",
    }
}
