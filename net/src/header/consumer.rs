//! Consumer-group membership and redelivery headers: GET_CONSUMER_LIST_BY_GROUP
//! (38), UNREGISTER_CLIENT (35), NOTIFY_CONSUMER_IDS_CHANGED (40),
//! CONSUMER_SEND_MSG_BACK (36) (§9.7, §9.8, §9.11, §8.4).

use super::command_header;

command_header! {
    /// GET_CONSUMER_LIST_BY_GROUP (38). Response body: `ConsumerListBody`.
    pub struct GetConsumerListByGroupRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// UNREGISTER_CLIENT (35). Response: SUCCESS, empty header.
    pub struct UnregisterClientRequestHeader {
        /// Capital `ID` in Java; the key is case-sensitive.
        client_id: String = "clientID",
        producer_group: Option<String> = "producerGroup",
        consumer_group: Option<String> = "consumerGroup",
    }
}

command_header! {
    /// NOTIFY_CONSUMER_IDS_CHANGED (40), broker → client, oneway.
    pub struct NotifyConsumerIdsChangedRequestHeader {
        consumer_group: String = "consumerGroup",
    }
}

command_header! {
    /// CONSUMER_SEND_MSG_BACK (36). No body; response SUCCESS with no header.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message.
        offset: i64 = "offset",
        group: String = "group",
        /// 0: the broker picks `3 + reconsumeTimes`; negative: straight to DLQ.
        delay_level: i32 = "delayLevel",
        origin_msg_id: Option<String> = "originMsgId",
        origin_topic: Option<String> = "originTopic",
        unit_mode: Option<bool> = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        broker_name: Option<String> = "bname",
    }
}
