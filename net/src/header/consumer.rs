//! Consumer-group membership and redelivery headers: GET_CONSUMER_LIST_BY_GROUP
//! (38), UNREGISTER_CLIENT (35), NOTIFY_CONSUMER_IDS_CHANGED (40),
//! CONSUMER_SEND_MSG_BACK (36) (§9.7, §9.8, §9.11, §8.4).

use super::command_header;

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38). Response body: `ConsumerListBody`.
    pub struct GetConsumerListByGroupRequestHeader {
        /// Group whose members are wanted.
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35). Response: SUCCESS, empty header.
    pub struct UnregisterClientRequestHeader {
        /// Capital `ID` in Java; the key is case-sensitive.
        client_id: String = "clientID",
        /// Producer group to leave, if any.
        producer_group: Option<String> = "producerGroup",
        /// Consumer group to leave, if any.
        consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40), broker → client, oneway.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// Group whose membership changed; the client rebalances it.
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36). No body; response SUCCESS with no header.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message.
        offset: i64 = "offset",
        /// Consumer group that failed to consume the message; its retry topic receives it.
        group: String = "group",
        /// 0: the broker picks `3 + reconsumeTimes`; negative: straight to DLQ.
        delay_level: i32 = "delayLevel",
        /// Message id of the first delivery, kept as `ORIGIN_MESSAGE_ID` across retries.
        origin_msg_id: Option<String> = "originMsgId",
        /// Topic the message was first sent to.
        origin_topic: Option<String> = "originTopic",
        /// RocketMQ unit (cell) mode flag; affects how retry topics are named.
        unit_mode: Option<bool> = "unitMode",
        /// Retries allowed before the message goes to the dead-letter queue; the
        /// group's setting when absent.
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}
