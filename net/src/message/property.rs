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
/// Legacy buyer id from early RocketMQ (Taobao) deployments; nothing in RocketMQ 5.x reads it.
pub const BUYER_ID: &str = "BUYER_ID";
/// Msg id of the first delivery (retry/DLQ).
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Legacy internal flag kept only for key compatibility; RocketMQ 5.x does not act on it.
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
/// Legacy internal flag kept only for key compatibility; RocketMQ 5.x does not act on it.
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
/// Legacy internal flag kept only for key compatibility; RocketMQ 5.x does not act on it.
pub const MQ2_FLAG: &str = "MQ2_FLAG";
/// Client → broker reconsume count when re-sending to a retry topic.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Region id of the broker that stored the message (broker `regionId`, default
/// `DefaultRegion`); used by message tracing.
pub const MSG_REGION: &str = "MSG_REGION";
/// `"true"`/`"false"` copy of the broker's `traceOn` setting, telling clients
/// whether to trace the message.
pub const TRACE_SWITCH: &str = "TRACE_ON";
/// Client-generated unique message id (`super::id::UniqKey`).
pub const UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = "UNIQ_KEY";
/// Extra unique-key information; §10.2 gives it no meaning, so it is carried as is.
pub const EXTEND_UNIQ_INFO: &str = "EXTEND_UNIQ_INFO";
/// Client → broker: how many times a message may be reconsumed before it goes to
/// the dead-letter queue.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Client-side timestamp (ms) at which consumption of the message started; used for
/// consume-timeout checks.
pub const CONSUME_START_TIMESTAMP: &str = "CONSUME_START_TIME";
/// Number of messages packed in an inner batch (batch consume queue).
pub const INNER_NUM: &str = "INNER_NUM";
/// Queue offset of the first message of an inner batch (batch consume queue).
pub const INNER_BASE: &str = "INNER_BASE";
/// Duplication-mode information (§10.2); carried as is.
pub const DUP_INFO: &str = "DUP_INFO";
/// First transaction check delay.
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Queue offset of the half message, as recorded for transaction check-back.
pub const TRANSACTION_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
/// Transaction id of a transactional message.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Number of check-backs so far.
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Instance id; §10.2 gives it no meaning, so it is carried as is.
pub const INSTANCE_ID: &str = "INSTANCE_ID";
/// Request-reply: id that pairs a reply with its request.
pub const CORRELATION_ID: &str = "CORRELATION_ID";
/// Request-reply: client id of the requester the reply is pushed to.
pub const MESSAGE_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// Request-reply: how long (ms) the requester waits for a reply.
pub const MESSAGE_TTL: &str = "TTL";
/// Request-reply: time (ms) the reply message arrived at the broker.
pub const REPLY_MESSAGE_ARRIVE_TIME: &str = "ARRIVE_TIME";
/// Request-reply: time (ms) the broker pushed the reply to the requester.
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// `reply` for request-reply replies.
pub const MESSAGE_TYPE: &str = "MSG_TYPE";
/// Set by the broker on every sent message.
pub const CLUSTER: &str = "CLUSTER";
/// POP internal; the broker strips it from client sends.
pub const POP_CK: &str = "POP_CK";
/// POP internal: the queue offset a POP checkpoint message refers to.
pub const POP_CK_OFFSET: &str = "POP_CK_OFFSET";
/// POP internal: time (ms) the message was first popped.
pub const FIRST_POP_TIME: &str = "1ST_POP_TIME";
/// FIFO sharding key (5.x).
pub const SHARDING_KEY: &str = "__SHARDINGKEY";
/// Absolute delivery time (ms) of a timer message.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
/// Relative delay of a timer message, seconds.
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
/// Relative delay of a timer message, milliseconds.
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// Timer internal: the delivery time (ms) after rounding down to the timer
/// precision, stored by the broker.
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// Timer internal: time (ms) the message entered the timer store.
pub const TIMER_ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
/// Timer internal: time (ms) the timer store released the message.
pub const TIMER_DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
/// Timer internal: how many times a message due beyond the roll window has been re-enqueued.
pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
/// Timer internal: unique key of a pending timer message to delete (used by `RECALL_MESSAGE`).
pub const TIMER_DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
/// Timer internal: the delay level of a delay-level message that the timer wheel handles.
pub const TIMER_DELAY_LEVEL: &str = "TIMER_DELAY_LEVEL";
/// The producer's born host as a property; §10.2 gives it no further meaning.
pub const BORN_HOST: &str = "__BORNHOST";
/// The message's born timestamp as a property; §10.2 gives it no further meaning.
pub const BORN_TIMESTAMP: &str = "BORN_TIMESTAMP";
/// Whole-record CRC when `enabledAppendPropCRC`.
pub const CRC32: &str = "__CRC32#";
/// Topic a message was in before it was moved to a dead-letter queue.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// Message id a message had before it was moved to a dead-letter queue.
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Legacy delay key seen by the client.
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";
