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
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        queue_offset: i64 = "queueOffset",
        max_msg_nums: i32 = "maxMsgNums",
        /// [`pull_sys_flag`] bits.
        sys_flag: i32 = "sysFlag",
        commit_offset: i64 = "commitOffset",
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        subscription: Option<String> = "subscription",
        sub_version: i64 = "subVersion",
        /// `TAG` (default) or `SQL92`.
        expression_type: Option<String> = "expressionType",
        max_msg_bytes: Option<i32> = "maxMsgBytes",
        request_source: Option<i32> = "requestSource",
        /// Misspelt in Java too; the key must stay as is.
        proxy_forward_client_id: Option<String> = "proxyFrowardClientId",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// `PullMessageResponseHeader`. The Java client unboxes the first four for
    /// SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY and PULL_OFFSET_MOVED: a
    /// missing one crashes it, so they are required here too.
    pub struct PullMessageResponseHeader {
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        next_begin_offset: i64 = "nextBeginOffset",
        min_offset: i64 = "minOffset",
        max_offset: i64 = "maxOffset",
        offset_delta: Option<i64> = "offsetDelta",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        group_sys_flag: Option<i32> = "groupSysFlag",
        /// With NO_PERMISSION: 1 broker, 2 group, 3 topic, 4 broadcasting
        /// disabled, 5 subscription.
        forbidden_type: Option<i32> = "forbiddenType",
    }
}
