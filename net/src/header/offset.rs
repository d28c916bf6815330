//! Consumer offsets (§9.6) and queue offset queries (§9.9): codes 14, 15, 29,
//! 30, 31, 32.

use super::command_header;

command_header! {
    /// QUERY_CONSUMER_OFFSET (14). Answered with [`OffsetResponseHeader`] or
    /// QUERY_NOT_FOUND.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Group whose offset is wanted.
        consumer_group: String = "consumerGroup",
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// `false`: answer QUERY_NOT_FOUND when no offset is stored; absent or
        /// `true`: answer 0 instead when the queue still starts at 0 (§9.6).
        set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// UPDATE_CONSUMER_OFFSET (15); usually oneway. No response header.
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Group whose offset is stored.
        consumer_group: String = "consumerGroup",
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// The group's consumed offset: the next queue offset it will consume.
        commit_offset: i64 = "commitOffset",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// GET_MAX_OFFSET (30). `offset` in the response is exclusive: the next
    /// offset to be assigned.
    pub struct GetMaxOffsetRequestHeader {
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// Java default true.
        committed: Option<bool> = "committed",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// GET_MIN_OFFSET (31).
    pub struct GetMinOffsetRequestHeader {
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// Milliseconds since the epoch.
        timestamp: i64 = "timestamp",
        /// `lower` (default) or `upper`, case-insensitive.
        boundary_type: Option<String> = "boundaryType",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// The response of QUERY_CONSUMER_OFFSET, GET_MAX_OFFSET, GET_MIN_OFFSET
    /// and SEARCH_OFFSET_BY_TIMESTAMP (four Java classes, one field).
    pub struct OffsetResponseHeader {
        /// The queue offset asked for.
        offset: i64 = "offset",
    }
}

command_header! {
    /// GET_EARLIEST_MSG_STORETIME (32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// Response of GET_EARLIEST_MSG_STORETIME: store time (ms) of the message at
    /// the queue's min offset.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of that message, in ms since the epoch.
        timestamp: i64 = "timestamp",
    }
}
