//! POP consumption (5.x): POP_MESSAGE (200050), ACK_MESSAGE (200051),
//! CHANGE_MESSAGE_INVISIBLETIME (200053). Their codes do not fit the
//! binary codec's 16 bits, so they travel with JSON headers
//! (`spec/remoting-protocol.md` §3.2). BATCH_ACK_MESSAGE (200151) has no
//! custom header, only a JSON body (`crate::header::body`).

use super::command_header;

command_header! {
    /// POP_MESSAGE (200050). Response: [`PopMessageResponseHeader`], body
    /// the messages as PULL encodes them.
    pub struct PopMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        /// -1: any queue of the topic on this broker.
        queue_id: i32 = "queueId",
        max_msg_nums: i32 = "maxMsgNums",
        invisible_time: i64 = "invisibleTime",
        /// How long the broker may hold a pop that finds nothing (ms).
        poll_time: i64 = "pollTime",
        born_time: i64 = "bornTime",
        /// Where a group without an offset starts: 0 the queue's min, 1 its max.
        init_mode: i32 = "initMode",
        exp_type: Option<String> = "expType",
        exp: Option<String> = "exp",
        order: Option<bool> = "order",
        attempt_id: Option<String> = "attemptId",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// POP_MESSAGE response. rocketmq-client-rust decodes it for every
    /// answer, found or not: the four numbers are always sent.
    pub struct PopMessageResponseHeader {
        pop_time: i64 = "popTime",
        invisible_time: i64 = "invisibleTime",
        revive_qid: i32 = "reviveQid",
        /// Messages left in the queues popped (a hint).
        rest_num: i64 = "restNum",
        /// `retry queueId startOffset` per queue, joined by `;`.
        start_offset_info: Option<String> = "startOffsetInfo",
        /// `retry queueId o1,o2,...` per queue, joined by `;`.
        msg_offset_info: Option<String> = "msgOffsetInfo",
        order_count_info: Option<String> = "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE (200051). Response: SUCCESS, no header.
    pub struct AckMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        /// The topic the message was popped from (its retry topic for a
        /// redelivery).
        topic: String = "topic",
        queue_id: i32 = "queueId",
        /// The message's `POP_CK` property.
        extra_info: String = "extraInfo",
        offset: i64 = "offset",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053). Response:
    /// [`ChangeInvisibleTimeResponseHeader`].
    pub struct ChangeInvisibleTimeRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        extra_info: String = "extraInfo",
        offset: i64 = "offset",
        /// From now (ms).
        invisible_time: i64 = "invisibleTime",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    pub struct ChangeInvisibleTimeResponseHeader {
        pop_time: i64 = "popTime",
        invisible_time: i64 = "invisibleTime",
        revive_qid: i32 = "reviveQid",
    }
}
