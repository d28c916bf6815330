//! Topic administration headers: UPDATE_AND_CREATE_TOPIC (17),
//! DELETE_TOPIC_IN_BROKER (215) (§8.5).

use super::command_header;

command_header! {
    /// UPDATE_AND_CREATE_TOPIC (17), `CreateTopicRequestHeader`.
    pub struct CreateTopicRequestHeader {
        /// Topic to create or update.
        topic: String = "topic",
        /// Template topic, `TBW102` from Java tools; kept for compatibility.
        default_topic: String = "defaultTopic",
        /// Number of queues consumers read from.
        read_queue_nums: i32 = "readQueueNums",
        /// Number of queues producers write to.
        write_queue_nums: i32 = "writeQueueNums",
        /// `PermName` bits: 8 priority, 4 read, 2 write, 1 inherit.
        perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        topic_filter_type: String = "topicFilterType",
        /// Topic sysFlag bits: bit 0 unit topic, bit 1 has a unit subscription.
        topic_sys_flag: Option<i32> = "topicSysFlag",
        /// Whether the topic is ordered (FIFO per queue).
        order: bool = "order",
        /// `+k=v,+k2=v2,-k3`.
        attributes: Option<String> = "attributes",
        /// Optional `force` flag of Java's `CreateTopicRequestHeader`; the protocol
        /// reference gives it no meaning.
        force: Option<bool> = "force",
    }
}

impl CreateTopicRequestHeader {
    /// A readable and writable topic of `queues` queues, single-tag
    /// filtering, not ordered: what `mqadmin updateTopic -n … -t T` sends
    /// with its defaults.
    pub fn read_write(topic: &str, queues: i32) -> CreateTopicRequestHeader {
        CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
        }
    }
}

command_header! {
    /// DELETE_TOPIC_IN_BROKER (215); the name server's DELETE_TOPIC_IN_NAMESRV
    /// (216) adds an optional `clusterName`.
    pub struct DeleteTopicRequestHeader {
        /// Topic to delete.
        topic: String = "topic",
    }
}

command_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207). Response: SUCCESS, empty header.
    pub struct DeleteSubscriptionGroupRequestHeader {
        /// Consumer group to delete.
        group_name: String = "groupName",
        /// Also drop the group's consumer offsets.
        clean_offset: Option<bool> = "cleanOffset",
    }
}

command_header! {
    /// GET_SUBSCRIPTIONGROUP_CONFIG (352). Response body: the group's
    /// `SubscriptionGroupConfig` JSON.
    pub struct GetSubscriptionGroupConfigRequestHeader {
        /// Consumer group whose config is wanted.
        group: String = "group",
    }
}
