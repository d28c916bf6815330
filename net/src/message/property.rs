//! Well-known message property keys (`MessageConst`, §10.2).

/// Business keys separated by [`KEY_SEPARATOR`]; each is indexed.
pub const KEYS: &str = "KEYS";
/// Separator between business keys in [`KEYS`].
pub const KEY_SEPARATOR: &str = " ";
/// Single tag; filtering uses its Java hash (`super::tag`).
pub const TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for flush/replication (absent means true).
pub const WAIT_STORE_MSG_OK: &str = "WAIT";
/// Delay level 1..18.
pub const DELAY_TIME_LEVEL: &str = "DELAY";
/// Original topic of a retried message.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic of delayed, timer or half messages.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id of delayed, timer or half messages.
pub const REAL_QUEUE_ID: &str = "REAL_QID";
/// `"true"` on a transactional half message.
pub const TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group (transactions).
pub const PRODUCER_GROUP: &str = "PGROUP";
/// Set by the client on pulled messages.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Set by the client on pulled messages.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
pub const BUYER_ID: &str = "BUYER_ID";
/// Msg id of the first delivery (retry/DLQ).
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Client → broker reconsume count when re-sending to a retry topic.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
pub const MSG_REGION: &str = "MSG_REGION";
pub const TRACE_SWITCH: &str = "TRACE_ON";
/// Client-generated unique message id (`super::id::UniqKey`).
pub const UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = "UNIQ_KEY";
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
pub const CONSUME_START_TIMESTAMP: &str = "CONSUME_START_TIME";
pub const INNER_NUM: &str = "INNER_NUM";
pub const INNER_BASE: &str = "INNER_BASE";
pub const DUP_INFO: &str = "DUP_INFO";
/// First transaction check delay.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Number of check-backs so far.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
pub const INSTANCE_ID: &str = "INSTANCE_ID";
pub const CORRELATION_ID: &str = "CORRELATION_ID";
pub const MESSAGE_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
pub const MESSAGE_TTL: &str = "TTL";
pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// `reply` for request-reply replies.
pub const MESSAGE_TYPE: &str = "MSG_TYPE";
/// Set by the broker on every sent message.
pub const CLUSTER: &str = "CLUSTER";
/// POP internal; the broker strips it from client sends.
pub const POP_CK: &str = "POP_CK";
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// FIFO sharding key (5.x).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// Absolute delivery time (ms) of a timer message.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Relative delay of a timer message, seconds.
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Relative delay of a timer message, milliseconds.
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
pub const BORN_HOST: &str = "__BORNHOST";
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Whole-record CRC when `enabledAppendPropCRC`.
pub const CRC32: &str = "__CRC32#";
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Legacy delay key seen by the client.
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";
