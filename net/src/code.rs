//! Request codes, response codes (§6, §8, Appendix A) and `LanguageCode` (§5.1).
//!
//! Codes are plain `i32` constants grouped under [`RequestCode`] and
//! [`ResponseCode`] rather than enums: the code spaces are open (a peer may send
//! any value, and an unknown request code must be answered with
//! `REQUEST_CODE_NOT_SUPPORTED`, not rejected at decode time), and the request and
//! response spaces overlap numerically (200 is both
//! `UPDATE_AND_CREATE_SUBSCRIPTIONGROUP` and `TRANSACTION_SHOULD_COMMIT`); the
//! flag bit of the command says which space a code belongs to.

/// Declares a namespace struct of `i32` code constants plus a `name` lookup for
/// logs, from one table so the two cannot drift apart.
macro_rules! code_table {
    ($(#[$meta:meta])* $ty:ident { $($(#[$cmeta:meta])* $name:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty;

        impl $ty {
            $($(#[$cmeta])* pub const $name: i32 = $value;)*

            /// Every `(name, code)` pair in the table, in declaration order.
            pub const ALL: &'static [(&'static str, i32)] = &[$((stringify!($name), $value),)*];

            /// The Java constant name of `code`, for logs; `None` for codes not in
            /// the table.
            pub fn name(code: i32) -> Option<&'static str> {
                Self::ALL.iter().find(|(_, value)| *value == code).map(|(name, _)| *name)
            }
        }
    };
}

code_table! {
    /// Request codes (`RequestCode.java`), Appendix A of the spec.
    RequestCode {
        /// Stores one message (header field names spelled out; SEND_MESSAGE_V2 abbreviates them).
        SEND_MESSAGE = 10,
        /// Reads messages from one queue from an offset, long-polling when there are none.
        PULL_MESSAGE = 11,
        /// Finds messages of a topic by key (or unique key) within a time range.
        QUERY_MESSAGE = 12,
        /// Legacy: queries a broker offset.
        QUERY_BROKER_OFFSET = 13,
        /// Reads a group's committed offset for one queue.
        QUERY_CONSUMER_OFFSET = 14,
        /// Commits a group's offset for one queue (usually oneway).
        UPDATE_CONSUMER_OFFSET = 15,
        /// Creates a topic on the broker, or updates its config.
        UPDATE_AND_CREATE_TOPIC = 17,
        /// Creates or updates several topics at once from a JSON list.
        UPDATE_AND_CREATE_TOPIC_LIST = 18,
        /// Returns every topic config of the broker (paged in 5.x); slaves sync from it.
        GET_ALL_TOPIC_CONFIG = 21,
        /// Returns the broker's topic configs as a list.
        GET_TOPIC_CONFIG_LIST = 22,
        /// Returns the names of the broker's topics.
        GET_TOPIC_NAME_LIST = 23,
        /// Changes broker settings from Java properties text.
        UPDATE_BROKER_CONFIG = 25,
        /// Returns the broker's settings as properties text.
        GET_BROKER_CONFIG = 26,
        /// Asks the broker to run its expired-file deletion now.
        TRIGGER_DELETE_FILES = 27,
        /// Returns the broker's runtime statistics as a key/value table.
        GET_BROKER_RUNTIME_INFO = 28,
        /// Returns the queue offset of the first message stored at or after a time.
        SEARCH_OFFSET_BY_TIMESTAMP = 29,
        /// Returns a queue's max offset (one past its last message).
        GET_MAX_OFFSET = 30,
        /// Returns a queue's smallest offset still stored.
        GET_MIN_OFFSET = 31,
        /// Returns the store time of a queue's oldest stored message.
        GET_EARLIEST_MSG_STORETIME = 32,
        /// Reads one message by its commit-log offset (the offset message id).
        VIEW_MESSAGE_BY_ID = 33,
        /// A client announces itself, its producer and consumer groups and subscriptions.
        HEART_BEAT = 34,
        /// A client leaves its producer and consumer groups (at shutdown).
        UNREGISTER_CLIENT = 35,
        /// Returns a message a consumer failed to process, for redelivery via the retry topic.
        CONSUMER_SEND_MSG_BACK = 36,
        /// Commits or rolls back a transactional (half) message.
        END_TRANSACTION = 37,
        /// Returns the client ids of a consumer group, for rebalancing.
        GET_CONSUMER_LIST_BY_GROUP = 38,
        /// Broker to producer: asks the state of an unresolved transaction (oneway).
        CHECK_TRANSACTION_STATE = 39,
        /// Broker to consumer: the group's members changed; rebalance now (oneway).
        NOTIFY_CONSUMER_IDS_CHANGED = 40,
        /// Locks queues to one consumer for orderly consumption; returns those locked.
        LOCK_BATCH_MQ = 41,
        /// Releases queue locks taken with LOCK_BATCH_MQ.
        UNLOCK_BATCH_MQ = 42,
        /// Returns every committed consumer offset of the broker; slaves sync from it.
        GET_ALL_CONSUMER_OFFSET = 43,
        /// Returns the delay-level progress of scheduled messages; slaves sync from it.
        GET_ALL_DELAY_OFFSET = 45,
        /// Checks that the broker supports a consumer's non-tag subscription (SQL92 filters).
        CHECK_CLIENT_CONFIG = 46,
        /// Returns client configuration held by the broker.
        GET_CLIENT_CONFIG = 47,
        /// Returns the timer-message store's checkpoint; slaves sync from it.
        GET_TIMER_CHECK_POINT = 60,
        /// Returns the timer-message store's metrics; slaves sync from it.
        GET_TIMER_METRICS = 61,
        /// Name server: stores a value under a namespace and key.
        PUT_KV_CONFIG = 100,
        /// Name server: reads a value by namespace and key.
        GET_KV_CONFIG = 101,
        /// Name server: deletes a value by namespace and key.
        DELETE_KV_CONFIG = 102,
        /// Name server: a broker registers (or refreshes) itself and its topics.
        REGISTER_BROKER = 103,
        /// Name server: a broker removes itself.
        UNREGISTER_BROKER = 104,
        /// Name server: returns a topic's route (its brokers and queues).
        GET_ROUTEINFO_BY_TOPIC = 105,
        /// Name server: returns every broker and cluster it knows.
        GET_BROKER_CLUSTER_INFO = 106,
        /// Creates or updates a subscription (consumer) group config.
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        /// Returns every subscription group config; slaves sync from it.
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
        /// Returns per-queue min/max offsets and last update time of a topic.
        GET_TOPIC_STATS_INFO = 202,
        /// Returns the connected clients of a consumer group and their subscriptions.
        GET_CONSUMER_CONNECTION_LIST = 203,
        /// Returns the connected clients of a producer group.
        GET_PRODUCER_CONNECTION_LIST = 204,
        /// Name server: removes write permission from a broker's topics (before maintenance).
        WIPE_WRITE_PERM_OF_BROKER = 205,
        /// Name server: returns every topic name.
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        /// Deletes a subscription group, optionally with its offsets.
        DELETE_SUBSCRIPTIONGROUP = 207,
        /// Returns a group's consume progress (offsets and lag) per queue.
        GET_CONSUME_STATS = 208,
        /// Legacy: suspends a consumer group.
        SUSPEND_CONSUMER = 209,
        /// Legacy: resumes a suspended consumer group.
        RESUME_CONSUMER = 210,
        /// Legacy: resets offsets held by consumers.
        RESET_CONSUMER_OFFSET_IN_CONSUMER = 211,
        /// Legacy: resets offsets held by the broker.
        RESET_CONSUMER_OFFSET_IN_BROKER = 212,
        /// Legacy: resizes a consumer's thread pool.
        ADJUST_CONSUMER_THREAD_POOL = 213,
        /// Legacy: asks which groups consumed a message.
        WHO_CONSUME_THE_MESSAGE = 214,
        /// Deletes a topic and its data from the broker.
        DELETE_TOPIC_IN_BROKER = 215,
        /// Name server: deletes a topic's route.
        DELETE_TOPIC_IN_NAMESRV = 216,
        /// Name server: registers a topic's route from the body.
        REGISTER_TOPIC_IN_NAMESRV = 217,
        /// Name server: returns every key/value of a namespace.
        GET_KVLIST_BY_NAMESPACE = 219,
        /// Broker to consumer: reset your offsets to those in the body (legacy reset path).
        RESET_CONSUMER_CLIENT_OFFSET = 220,
        /// Broker to consumer: report your offsets for a topic.
        GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        /// Resets a group's offsets on a topic to a time (or offset) and tells its consumers.
        INVOKE_BROKER_TO_RESET_OFFSET = 222,
        /// Asks the broker to collect a group's offsets from its consumers.
        INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223,
        /// Name server: returns the topics of one cluster.
        GET_TOPICS_BY_CLUSTER = 224,
        /// Creates or updates several subscription groups at once.
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST = 225,
        /// Returns the consumer groups that consume a topic.
        QUERY_TOPIC_CONSUME_BY_WHO = 300,
        /// Legacy: a filter server registers with a broker.
        REGISTER_FILTER_SERVER = 301,
        /// Legacy: registers a class-based message filter.
        REGISTER_MESSAGE_FILTER_CLASS = 302,
        /// Returns, per queue, the store-time span of the messages and of the group's progress.
        QUERY_CONSUME_TIME_SPAN = 303,
        /// Name server: returns the system topics.
        GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
        /// Returns the broker's system topics.
        GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305,
        /// Asks the broker to delete consume-queue files whose messages have expired.
        CLEAN_EXPIRED_CONSUMEQUEUE = 306,
        /// Broker to consumer (or admin through the broker): report your running state.
        GET_CONSUMER_RUNNING_INFO = 307,
        /// Returns correction offsets of a group against others.
        QUERY_CORRECTION_OFFSET = 308,
        /// Broker to consumer: consume this message now and report the result.
        CONSUME_MESSAGE_DIRECTLY = 309,
        /// Stores one message, with single-letter header field names (what the Java producer sends).
        SEND_MESSAGE_V2 = 310,
        /// Name server: returns the unit topics (legacy unit routing).
        GET_UNIT_TOPIC_LIST = 311,
        /// Name server: returns topics with unit subscriptions (legacy).
        GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
        /// Name server: returns non-unit topics with unit subscriptions (legacy).
        GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
        /// Copies one group's offsets on a topic to another group.
        CLONE_GROUP_OFFSET = 314,
        /// Returns one broker statistic by name and key.
        VIEW_BROKER_STATS_DATA = 315,
        /// Asks the broker to delete data of topics it no longer has.
        CLEAN_UNUSED_TOPIC = 316,
        /// Returns consume statistics of every group on the broker.
        GET_BROKER_CONSUME_STATS = 317,
        /// Name server: changes its settings from properties text.
        UPDATE_NAMESRV_CONFIG = 318,
        /// Name server: returns its settings as properties text.
        GET_NAMESRV_CONFIG = 319,
        /// Stores a batch of messages, encoded in the body, in one queue.
        SEND_BATCH_MESSAGE = 320,
        /// Returns consume-queue entries of a queue from an index.
        QUERY_CONSUME_QUEUE = 321,
        /// Name server: whether a broker's data version changed (registration needed).
        QUERY_DATA_VERSION = 322,
        /// Makes a half message eligible for transaction checks again.
        RESUME_CHECK_HALF_MESSAGE = 323,
        /// Stores a request-reply reply message (like SEND_MESSAGE).
        SEND_REPLY_MESSAGE = 324,
        /// Stores a request-reply reply message (like SEND_MESSAGE_V2).
        SEND_REPLY_MESSAGE_V2 = 325,
        /// Broker to requester: delivers a reply message.
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        /// Name server: gives a broker's topics write permission back.
        ADD_WRITE_PERM_OF_BROKER = 327,
        /// Returns every producer connected to the broker.
        GET_ALL_PRODUCER_INFO = 328,
        /// Asks the broker to delete expired commit-log files.
        DELETE_EXPIRED_COMMITLOG = 329,
        /// Returns the topics a consumer group subscribes to.
        QUERY_TOPICS_BY_CONSUMER = 343,
        /// Returns a consumer group's subscription to a topic.
        QUERY_SUBSCRIPTION_BY_CONSUMER = 345,
        /// Returns one topic's config (and static-topic queue mapping).
        GET_TOPIC_CONFIG = 351,
        /// Returns one subscription group's config.
        GET_SUBSCRIPTIONGROUP_CONFIG = 352,
        /// Sets or reads whether a group is forbidden to read a topic.
        UPDATE_AND_GET_GROUP_FORBIDDEN = 353,
        /// Checks the RocksDB consume queue's write progress against the file one.
        CHECK_ROCKSDB_CQ_WRITE_PROGRESS = 354,
        /// Exports configs held in RocksDB to JSON files.
        EXPORT_ROCKSDB_CONFIG_TO_JSON = 355,
        /// Like PULL_MESSAGE, sent by the lite pull consumer with its subscription in every pull.
        LITE_PULL_MESSAGE = 361,
        /// Cancels a timer (delayed) message before it is delivered (5.3.1+).
        RECALL_MESSAGE = 370,
        /// Asks the broker which queues a consumer is assigned (server-side rebalance).
        QUERY_ASSIGNMENT = 400,
        /// Sets whether a group consumes a topic by PULL or POP.
        SET_MESSAGE_REQUEST_MODE = 401,
        /// Returns the PULL/POP mode of every group and topic.
        GET_ALL_MESSAGE_REQUEST_MODE = 402,
        /// Creates or updates a static topic with its logical queue mapping.
        UPDATE_AND_CREATE_STATIC_TOPIC = 513,
        /// Name server: returns the brokers (by id) of a broker name.
        GET_BROKER_MEMBER_GROUP = 901,
        /// Adds a broker to a container process.
        ADD_BROKER = 902,
        /// Removes a broker from a container process.
        REMOVE_BROKER = 903,
        /// Name server or controller: a broker's liveness heartbeat (slave-acting-master and controller modes).
        BROKER_HEARTBEAT = 904,
        /// Tells brokers that the smallest live broker id of their group changed.
        NOTIFY_MIN_BROKER_ID_CHANGE = 905,
        /// Master and slave exchange HA addresses and offsets.
        EXCHANGE_BROKER_HA_INFO = 906,
        /// Returns the broker's replication status.
        GET_BROKER_HA_STATUS = 907,
        /// Resets the master's flushed offset.
        RESET_MASTER_FLUSH_OFFSET = 908,
        /// Controller: changes a group's in-sync replica set.
        CONTROLLER_ALTER_SYNC_STATE_SET = 1001,
        /// Controller: elects a new master for a broker group.
        CONTROLLER_ELECT_MASTER = 1002,
        /// Controller: a broker registers with the controller.
        CONTROLLER_REGISTER_BROKER = 1003,
        /// Controller: returns a group's master and epoch.
        CONTROLLER_GET_REPLICA_INFO = 1004,
        /// Controller: returns the controller group's metadata.
        CONTROLLER_GET_METADATA_INFO = 1005,
        /// Controller: returns groups' in-sync replica sets.
        CONTROLLER_GET_SYNC_STATE_DATA = 1006,
        /// Returns a broker's epoch history (for truncation after failover).
        GET_BROKER_EPOCH_CACHE = 1007,
        /// Controller to broker: your role (master or slave) changed.
        NOTIFY_BROKER_ROLE_CHANGED = 1008,
        /// Controller: changes its settings.
        UPDATE_CONTROLLER_CONFIG = 1009,
        /// Controller: returns its settings.
        GET_CONTROLLER_CONFIG = 1010,
        /// Controller: removes a broker's records.
        CLEAN_BROKER_DATA = 1011,
        /// Controller: returns the next broker id to assign.
        CONTROLLER_GET_NEXT_BROKER_ID = 1012,
        /// Controller: a broker claims a broker id.
        CONTROLLER_APPLY_BROKER_ID = 1013,
        /// Controller: a broker's connection closed.
        BROKER_CLOSE_CHANNEL_REQUEST = 1014,
        /// Controller: checks for brokers that stopped heartbeating.
        CHECK_NOT_ACTIVE_BROKER_REQUEST = 1015,
        /// Controller: returns brokers' liveness records.
        GET_BROKER_LIVE_INFO_REQUEST = 1016,
        /// Controller: returns in-sync replica data.
        GET_SYNC_STATE_DATA_REQUEST = 1017,
        /// Controller: a broker heartbeat replicated through Raft.
        RAFT_BROKER_HEART_BEAT_EVENT_REQUEST = 1018,
        /// Sets flow control for groups reading cold (on-disk) data.
        UPDATE_COLD_DATA_FLOW_CTR_CONFIG = 2001,
        /// Removes a group's cold-data flow control.
        REMOVE_COLD_DATA_FLOW_CTR_CONFIG = 2002,
        /// Returns cold-data flow-control settings and state.
        GET_COLD_DATA_FLOW_CTR_INFO = 2003,
        /// Sets the commit log's read mode (whether reads use read-ahead).
        SET_COMMITLOG_READ_MODE = 2004,
        /// ACL 2.0: creates a user.
        AUTH_CREATE_USER = 3001,
        /// ACL 2.0: updates a user.
        AUTH_UPDATE_USER = 3002,
        /// ACL 2.0: deletes a user.
        AUTH_DELETE_USER = 3003,
        /// ACL 2.0: returns a user.
        AUTH_GET_USER = 3004,
        /// ACL 2.0: lists users.
        AUTH_LIST_USER = 3005,
        /// ACL 2.0: creates an ACL policy.
        AUTH_CREATE_ACL = 3006,
        /// ACL 2.0: updates an ACL policy.
        AUTH_UPDATE_ACL = 3007,
        /// ACL 2.0: deletes an ACL policy.
        AUTH_DELETE_ACL = 3008,
        /// ACL 2.0: returns an ACL policy.
        AUTH_GET_ACL = 3009,
        /// ACL 2.0: lists ACL policies.
        AUTH_LIST_ACL = 3010,
        // POP codes do not fit the binary header's 16-bit code field (§3.2):
        // they can only travel with JSON headers.
        /// POP: takes messages from a queue, invisible to others until acked or their invisible time passes.
        POP_MESSAGE = 200050,
        /// POP: acknowledges one popped message.
        ACK_MESSAGE = 200051,
        /// POP: reads messages without taking them.
        PEEK_MESSAGE = 200052,
        /// POP: extends or shortens a popped message's invisible time.
        CHANGE_MESSAGE_INVISIBLETIME = 200053,
        /// POP: long-polls until a queue has messages to pop.
        NOTIFICATION = 200054,
        /// POP: returns how many POP requests wait on a queue.
        POLLING_INFO = 200055,
        /// POP: gives popped messages back.
        POP_ROLLBACK = 200056,
        /// POP: acknowledges several popped messages at once.
        BATCH_ACK_MESSAGE = 200151,
    }
}

code_table! {
    /// Response codes (`RemotingSysResponseCode` + `ResponseCode`), §6 of the spec.
    ResponseCode {
        /// The request did what it asked.
        SUCCESS = 0,
        /// Generic failure (also: no consumer for the group, unsupported filter); the remark says why.
        SYSTEM_ERROR = 1,
        /// The broker is overloaded (flow control, a full queue, a busy page cache); retry later.
        SYSTEM_BUSY = 2,
        /// The receiver does not implement this request code.
        REQUEST_CODE_NOT_SUPPORTED = 3,
        /// A transactional operation failed.
        TRANSACTION_FAILED = 4,
        /// `SYNC_FLUSH` did not finish within `syncFlushTimeout`; the message *is* stored.
        FLUSH_DISK_TIMEOUT = 10,
        /// A `SYNC_MASTER` has no usable slave, or END_TRANSACTION reached a slave; the message is stored on the master.
        SLAVE_NOT_AVAILABLE = 11,
        /// The slave did not acknowledge within `slaveTimeout`; the message is stored on the master.
        FLUSH_SLAVE_TIMEOUT = 12,
        /// The message is malformed: body or properties too large, bad topic length, a batch to a retry topic.
        MESSAGE_ILLEGAL = 13,
        /// The store cannot take writes (shut down, a slave, not writeable).
        SERVICE_NOT_AVAILABLE = 14,
        /// The client's version is not supported.
        VERSION_NOT_SUPPORTED = 15,
        /// The topic, broker or group is not readable or writeable for this request.
        NO_PERMISSION = 16,
        /// No such topic.
        TOPIC_NOT_EXIST = 17,
        /// The topic already exists.
        TOPIC_EXIST_ALREADY = 18,
        /// No new message, after any long-poll wait.
        PULL_NOT_FOUND = 19,
        /// Messages exist but none matched the filter in this window; pull again now.
        PULL_RETRY_IMMEDIATELY = 20,
        /// The requested offset is invalid; continue from `nextBeginOffset`.
        PULL_OFFSET_MOVED = 21,
        /// Nothing found: no stored consumer offset, no matching message, no KV entry.
        QUERY_NOT_FOUND = 22,
        /// The subscription expression does not parse.
        SUBSCRIPTION_PARSE_FAILED = 23,
        /// A pull without a subscription for a group whose heartbeat announced none.
        SUBSCRIPTION_NOT_EXIST = 24,
        /// The broker's subscription is older than the pull's `subVersion`.
        SUBSCRIPTION_NOT_LATEST = 25,
        /// No such subscription (consumer) group.
        SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        /// The SQL92 filter is not registered.
        FILTER_DATA_NOT_EXIST = 27,
        /// The registered filter is older than the pull's.
        FILTER_DATA_NOT_LATEST = 28,
        /// An illegal argument, such as a bad topic name or a queue id out of range.
        INVALID_PARAMETER = 29,
        /// Transaction check answer: commit the half message.
        TRANSACTION_SHOULD_COMMIT = 200,
        /// Transaction check answer: roll the half message back.
        TRANSACTION_SHOULD_ROLLBACK = 201,
        /// Transaction check answer: state not known yet (Java's spelling).
        TRANSACTION_STATE_UNKNOW = 202,
        /// The transaction's producer group does not match.
        TRANSACTION_STATE_GROUP_WRONG = 203,
        /// Legacy (unit/buyer routing): no buyer id.
        NO_BUYER_ID = 204,
        /// Legacy (unit routing): the request is not for this unit.
        NOT_IN_CURRENT_UNIT = 205,
        /// The consumer group or client has no live connection.
        CONSUMER_NOT_ONLINE = 206,
        /// A client did not consume a pushed message (CONSUME_MESSAGE_DIRECTLY) in time.
        CONSUME_MSG_TIMEOUT = 207,
        /// POP: no message to pop.
        NO_MESSAGE = 208,
        /// POP: too many requests already waiting on the queue.
        POLLING_FULL = 209,
        /// POP: the long poll ended without a message.
        POLLING_TIMEOUT = 210,
        /// No such broker.
        BROKER_NOT_EXIST = 211,
        /// The broker has not yet dispatched the log up to the asked point.
        BROKER_DISPATCH_NOT_COMPLETE = 212,
        /// The group consumes in broadcast mode, so the broker keeps no offsets for it.
        BROADCAST_CONSUMPTION = 213,
        /// The request was refused by flow control.
        FLOW_CONTROL = 215,
        /// Static topics: this broker does not lead the logical queue.
        NOT_LEADER_FOR_QUEUE = 501,
        /// Commit or rollback arrived after the transaction check-immunity window.
        ILLEGAL_OPERATION = 604,
        /// Client-side only: the call failed for an unknown reason.
        RPC_UNKNOWN = -1000,
        /// Client-side only: no address to send to.
        RPC_ADDR_IS_NULL = -1002,
        /// Client-side only: writing the request failed.
        RPC_SEND_TO_CHANNEL_FAILED = -1004,
        /// Client-side only: no reply within the timeout.
        RPC_TIME_OUT = -1006,
        /// The server is shutting down; reconnect elsewhere (proxy).
        GO_AWAY = 1500,
        /// Controller mode: the master's epoch is fenced (stale).
        CONTROLLER_FENCED_MASTER_EPOCH = 2000,
        /// Controller mode: the controller has no liveness record of the broker.
        CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS = 2016,
        /// ACL 2.0: no such user.
        USER_NOT_EXIST = 3001,
        /// ACL 2.0: no such policy.
        POLICY_NOT_EXIST = 3002,
    }
}

/// `MQVersion` ordinals worth knowing (§4.1). Responses must carry a real
/// ordinal: the Java client refuses SQL92 pulls to brokers that report an old
/// one.
pub mod version {
    /// V3_0_11: REGISTER_BROKER body format switch.
    pub const V3_0_11: i32 = 37;
    /// V4_5_2: what `rocketmq-client-go` sends.
    pub const V4_5_2: i32 = 317;
    /// V4_9_4: from here on the name server emits standard JSON route data.
    pub const V4_9_4: i32 = 401;
    /// V5_0_0: compressed register body carries the queue-mapping section.
    pub const V5_0_0: i32 = 413;
    /// V5_3_1: `GO_AWAY` threshold.
    pub const V5_3_1: i32 = 475;
    /// V5_3_3: `CURRENT_VERSION` of the spec's baseline; what RingMQ reports.
    pub const V5_3_3: i32 = 479;
    /// The ordinal RingMQ puts in every command it originates.
    pub const CURRENT: i32 = V5_3_3;

    /// `V4_0_0_SNAPSHOT`: from here on `MQVersion` runs regularly, a
    /// `_SNAPSHOT` then a release for each `major.minor.patch`, every digit
    /// 0–9 (`V5_3_3` = 479).
    const V4_0_0_SNAPSHOT: i32 = 212;

    /// `MQVersion.getVersionDesc`: the enum constant's name for an ordinal
    /// from 4.0.0 on; older (irregular) ordinals print as their number.
    pub fn name(ordinal: i32) -> String {
        if ordinal < V4_0_0_SNAPSHOT {
            return ordinal.to_string();
        }
        let from_4 = ordinal - V4_0_0_SNAPSHOT;
        let (index, snapshot) = (from_4 / 2, from_4 % 2 == 0);
        let (major, minor, patch) = (4 + index / 100, (index / 10) % 10, index % 10);
        let suffix = if snapshot { "_SNAPSHOT" } else { "" };
        format!("V{major}_{minor}_{patch}{suffix}")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn names_match_the_known_ordinals() {
            assert_eq!(name(V5_3_3), "V5_3_3");
            assert_eq!(name(V5_3_1), "V5_3_1");
            assert_eq!(name(V5_0_0), "V5_0_0");
            assert_eq!(name(V4_9_4), "V4_9_4");
            assert_eq!(name(V4_5_2), "V4_5_2");
            assert_eq!(name(V5_0_0 - 1), "V5_0_0_SNAPSHOT");
            assert_eq!(name(V3_0_11), "37");
        }
    }
}

/// Sender language (§5.1). One byte in the binary header, the variant *name* in
/// the JSON header.
///
/// Unknown values decode as [`LanguageCode::Other`] as the spec asks, so the
/// decoded value does not always re-encode to the byte that was received; no
/// peer acts on this field beyond logging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LanguageCode {
    /// The Java client; also what RingMQ puts in the commands it originates.
    #[default]
    Java = 0,
    /// The C++ client (also inside PyPI `rocketmq`).
    Cpp = 1,
    /// .NET clients.
    Dotnet = 2,
    /// Python clients.
    Python = 3,
    /// Delphi clients.
    Delphi = 4,
    /// Erlang clients.
    Erlang = 5,
    /// Ruby clients.
    Ruby = 6,
    /// Any other language, and every value this code does not know.
    Other = 7,
    /// HTTP (proxy) clients.
    Http = 8,
    /// The Go client (`rocketmq-client-go`).
    Go = 9,
    /// PHP clients.
    Php = 10,
    /// OpenMessaging clients.
    Oms = 11,
    /// Rust clients (rocketmq-rust).
    Rust = 12,
    /// Node.js clients (`ali-ons`).
    NodeJs = 13,
}

impl LanguageCode {
    const ALL: [LanguageCode; 14] = [
        LanguageCode::Java,
        LanguageCode::Cpp,
        LanguageCode::Dotnet,
        LanguageCode::Python,
        LanguageCode::Delphi,
        LanguageCode::Erlang,
        LanguageCode::Ruby,
        LanguageCode::Other,
        LanguageCode::Http,
        LanguageCode::Go,
        LanguageCode::Php,
        LanguageCode::Oms,
        LanguageCode::Rust,
        LanguageCode::NodeJs,
    ];

    /// The wire byte of the binary header.
    pub fn to_u8(self) -> u8 {
        self as u8
    }

    /// Decodes the binary header byte; unknown values map to `Other` (§3.1).
    pub fn from_u8(value: u8) -> LanguageCode {
        Self::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(LanguageCode::Other)
    }

    /// The Java enum name used by the JSON header.
    pub fn name(self) -> &'static str {
        match self {
            LanguageCode::Java => "JAVA",
            LanguageCode::Cpp => "CPP",
            LanguageCode::Dotnet => "DOTNET",
            LanguageCode::Python => "PYTHON",
            LanguageCode::Delphi => "DELPHI",
            LanguageCode::Erlang => "ERLANG",
            LanguageCode::Ruby => "RUBY",
            LanguageCode::Other => "OTHER",
            LanguageCode::Http => "HTTP",
            LanguageCode::Go => "GO",
            LanguageCode::Php => "PHP",
            LanguageCode::Oms => "OMS",
            LanguageCode::Rust => "RUST",
            LanguageCode::NodeJs => "NODE_JS",
        }
    }

    /// Decodes a JSON header name; unknown names map to `Other` (§3.1).
    pub fn from_name(name: &str) -> LanguageCode {
        Self::ALL
            .iter()
            .copied()
            .find(|language| language.name() == name)
            .unwrap_or(LanguageCode::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_tables_have_no_duplicate_values() {
        for table in [RequestCode::ALL, ResponseCode::ALL] {
            for (index, (name, value)) in table.iter().enumerate() {
                let duplicate = table[index + 1..].iter().find(|(_, other)| other == value);
                assert!(duplicate.is_none(), "{name} = {value} appears twice");
            }
        }
    }

    #[test]
    fn code_names_resolve() {
        assert_eq!(RequestCode::name(310), Some("SEND_MESSAGE_V2"));
        assert_eq!(ResponseCode::name(19), Some("PULL_NOT_FOUND"));
        assert_eq!(RequestCode::name(44), None);
    }

    #[test]
    fn language_codes_round_trip_by_byte_and_name() {
        for value in 0..=13u8 {
            let language = LanguageCode::from_u8(value);
            assert_eq!(language.to_u8(), value);
            assert_eq!(LanguageCode::from_name(language.name()), language);
        }
        assert_eq!(LanguageCode::from_u8(200), LanguageCode::Other);
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Other);
    }
}
