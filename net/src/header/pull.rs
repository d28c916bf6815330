//! PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) headers and pull sysFlag bits
//! (§9.5).

use super::command_header;

/// `PullSysFlag` bits of [`PullMessageRequestHeader::sys_flag`].
pub mod pull_sys_flag {
    /// Also store `commitOffset` as the group's offset (clustering only).
    pub const COMMIT_OFFSET: i32 = 0x01;
    /// The broker may hold the request (long polling) when nothing is available.
    pub const SUSPEND: i32 = 0x02;
    /// `subscription` / `expressionType` in this request are authoritative.
    pub const SUBSCRIPTION: i32 = 0x04;
    /// Legacy filter-server mode; treated as "match all".
    pub const CLASS_FILTER: i32 = 0x08;
    /// Set by lite pull consumers (code 361).
    pub const LITE_PULL: i32 = 0x10;
}

command_header! {
    /// `PullMessageRequestHeader`.
    pub struct PullMessageRequestHeader {
        /// Consumer group pulling.
        consumer_group: String = "consumerGroup",
        /// Topic of the queue.
        topic: String = "topic",
        /// Queue id within the topic.
        queue_id: i32 = "queueId",
        /// Logical queue offset to read from.
        queue_offset: i64 = "queueOffset",
        /// Most messages to return (the Java push consumer asks for 32).
        max_msg_nums: i32 = "maxMsgNums",
        /// [`pull_sys_flag`] bits.
        sys_flag: i32 = "sysFlag",
        /// The group's consumed offset, stored when [`pull_sys_flag::COMMIT_OFFSET`] is set.
        commit_offset: i64 = "commitOffset",
        /// Longest the broker may hold the request for long polling, in ms (push client: 15 000).
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// Subscription expression (`*`, `TagA || TagB`, or SQL92), read when
        /// [`pull_sys_flag::SUBSCRIPTION`] is set.
        subscription: Option<String> = "subscription",
        /// The client's subscription version, a ms timestamp; an older stored one
        /// gives SUBSCRIPTION_NOT_LATEST.
        sub_version: i64 = "subVersion",
        /// `TAG` (default) or `SQL92`.
        expression_type: Option<String> = "expressionType",
        /// Cap on the bytes of messages returned.
        max_msg_bytes: Option<i32> = "maxMsgBytes",
        /// Set by proxies: -1 SDK, 0 proxy for order, 1 proxy for broadcast, 2 proxy for stream.
        request_source: Option<i32> = "requestSource",
        /// Client id of the consumer a proxy pulls on behalf of. Misspelt in Java
        /// too; the key must stay as is.
        proxy_forward_client_id: Option<String> = "proxyFrowardClientId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// `PullMessageResponseHeader`. The Java client unboxes the first four for
    /// SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY and PULL_OFFSET_MOVED: a
    /// missing one crashes it, so they are required here too.
    pub struct PullMessageResponseHeader {
        /// Broker id (0 = master) the client should send its next pull to.
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        /// Queue offset the next pull should start from.
        next_begin_offset: i64 = "nextBeginOffset",
        /// The queue's smallest offset still stored.
        min_offset: i64 = "minOffset",
        /// The queue's max offset, exclusive: the next offset to be assigned.
        max_offset: i64 = "maxOffset",
        /// Static topics: difference between logical and physical queue offsets.
        offset_delta: Option<i64> = "offsetDelta",
        /// Topic sysFlag bits: bit 0 unit topic, bit 1 has a unit subscription.
        topic_sys_flag: Option<i32> = "topicSysFlag",
        /// The subscription group's `groupSysFlag` (RocketMQ's unit-mode bits for the group).
        group_sys_flag: Option<i32> = "groupSysFlag",
        /// With NO_PERMISSION: 1 broker, 2 group, 3 topic, 4 broadcasting
        /// disabled, 5 subscription.
        forbidden_type: Option<i32> = "forbiddenType",
    }
}
