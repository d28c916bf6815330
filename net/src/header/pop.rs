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
        /// Consumer group popping.
        consumer_group: String = "consumerGroup",
        /// Topic to pop from.
        topic: String = "topic",
        /// -1: any queue of the topic on this broker.
        queue_id: i32 = "queueId",
        /// Most messages to return.
        max_msg_nums: i32 = "maxMsgNums",
        /// How long popped messages stay invisible to other pops before they are
        /// redelivered unless acknowledged, in ms.
        invisible_time: i64 = "invisibleTime",
        /// How long the broker may hold a pop that finds nothing (ms).
        poll_time: i64 = "pollTime",
        /// When the client sent the request, in ms since the epoch.
        born_time: i64 = "bornTime",
        /// Where a group without an offset starts: 0 the queue's min, 1 its max.
        init_mode: i32 = "initMode",
        /// Filter expression type, `TAG` or `SQL92`.
        exp_type: Option<String> = "expType",
        /// Filter expression; absent means every message.
        exp: Option<String> = "exp",
        /// Whether to pop in order (FIFO): a queue yields nothing more until its
        /// popped messages are acknowledged or become visible again.
        order: Option<bool> = "order",
        /// Id of this pop attempt, so a FIFO client that retries a lost request
        /// gets the same messages again.
        attempt_id: Option<String> = "attemptId",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// POP_MESSAGE response. rocketmq-client-rust decodes it for every
    /// answer, found or not: the four numbers are always sent.
    pub struct PopMessageResponseHeader {
        /// When the broker popped the messages, in ms since the epoch.
        pop_time: i64 = "popTime",
        /// The invisible time applied, in ms.
        invisible_time: i64 = "invisibleTime",
        /// Revive queue holding the checkpoint of this pop.
        revive_qid: i32 = "reviveQid",
        /// Messages left in the queues popped (a hint).
        rest_num: i64 = "restNum",
        /// `retry queueId startOffset` per queue, joined by `;`.
        start_offset_info: Option<String> = "startOffsetInfo",
        /// `retry queueId o1,o2,...` per queue, joined by `;`.
        msg_offset_info: Option<String> = "msgOffsetInfo",
        /// FIFO pops: consume counts per queue and offset, in RocketMQ's
        /// `orderCountInfo` text form.
        order_count_info: Option<String> = "orderCountInfo",
    }
}

command_header! {
    /// ACK_MESSAGE (200051). Response: SUCCESS, no header.
    pub struct AckMessageRequestHeader {
        /// Consumer group acknowledging.
        consumer_group: String = "consumerGroup",
        /// The topic the message was popped from (its retry topic for a
        /// redelivery).
        topic: String = "topic",
        /// Queue the message was popped from.
        queue_id: i32 = "queueId",
        /// The message's `POP_CK` property.
        extra_info: String = "extraInfo",
        /// Queue offset of the message.
        offset: i64 = "offset",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME (200053). Response:
    /// [`ChangeInvisibleTimeResponseHeader`].
    pub struct ChangeInvisibleTimeRequestHeader {
        /// Consumer group that popped the message.
        consumer_group: String = "consumerGroup",
        /// The topic the message was popped from (its retry topic for a redelivery).
        topic: String = "topic",
        /// Queue the message was popped from.
        queue_id: i32 = "queueId",
        /// The message's `POP_CK` property.
        extra_info: String = "extraInfo",
        /// Queue offset of the message.
        offset: i64 = "offset",
        /// From now (ms).
        invisible_time: i64 = "invisibleTime",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// CHANGE_MESSAGE_INVISIBLETIME response: the new pop's checkpoint, from which
    /// the client builds the message's new receipt handle.
    pub struct ChangeInvisibleTimeResponseHeader {
        /// When the new invisible period started, in ms since the epoch.
        pop_time: i64 = "popTime",
        /// The new invisible time, in ms.
        invisible_time: i64 = "invisibleTime",
        /// Revive queue holding the new checkpoint.
        revive_qid: i32 = "reviveQid",
    }
}
