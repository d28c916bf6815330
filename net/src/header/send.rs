//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the
//! send response (§9.4).
//!
//! V2 is the same header with one-letter keys, chosen by Java only to shrink
//! it. Which key set a request uses is decided by its code, never by sniffing
//! the keys: [`SendMessageRequestHeader::from_command`].

use super::{command_header, CommandHeader, HeaderError};
use crate::code::RequestCode;
use crate::command::ExtFields;

command_header! {
    /// `SendMessageRequestHeader`, long key names (code 10, 324).
    pub struct SendMessageRequestHeader {
        /// Producer group of the sender; for a transactional half message, the
        /// group check-backs go to.
        producer_group: String = "producerGroup",
        /// Topic to store the message in.
        topic: String = "topic",
        /// Template topic for auto-creation, normally `TBW102`.
        default_topic: String = "defaultTopic",
        /// Queue count of a topic auto-created from `default_topic`.
        default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Negative: the broker picks a write queue at random.
        queue_id: i32 = "queueId",
        /// Message sysFlag (`crate::message::sys_flag`).
        sys_flag: i32 = "sysFlag",
        /// When the producer created the message, in ms since the epoch.
        born_timestamp: i64 = "bornTimestamp",
        /// User flag, stored verbatim.
        flag: i32 = "flag",
        /// Encoded properties (`crate::message::properties`).
        properties: Option<String> = "properties",
        /// How many times the message has been reconsumed; set when a consumer
        /// re-sends it to a retry topic.
        reconsume_times: Option<i32> = "reconsumeTimes",
        /// RocketMQ unit (cell) mode flag; affects how retry topics are named.
        unit_mode: Option<bool> = "unitMode",
        /// Reconsume attempts allowed before the message goes to the dead-letter queue.
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// The body is a batch (`crate::message::batch`); the Java broker picks the
        /// batch path from this flag, not from the code.
        batch: Option<bool> = "batch",
        /// Name of the broker the client addressed (RocketMQ's
        /// `RpcRequestHeader.bname`, used to route static-topic requests); optional.
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// `SendMessageRequestHeaderV2`, one-letter keys (codes 310, 320, 325).
    pub struct SendMessageRequestHeaderV2 {
        /// [`SendMessageRequestHeader::producer_group`].
        a: String = "a",
        /// [`SendMessageRequestHeader::topic`].
        b: String = "b",
        /// [`SendMessageRequestHeader::default_topic`].
        c: String = "c",
        /// [`SendMessageRequestHeader::default_topic_queue_nums`].
        d: i32 = "d",
        /// [`SendMessageRequestHeader::queue_id`].
        e: i32 = "e",
        /// [`SendMessageRequestHeader::sys_flag`].
        f: i32 = "f",
        /// [`SendMessageRequestHeader::born_timestamp`].
        g: i64 = "g",
        /// [`SendMessageRequestHeader::flag`].
        h: i32 = "h",
        /// [`SendMessageRequestHeader::properties`].
        i: Option<String> = "i",
        /// [`SendMessageRequestHeader::reconsume_times`].
        j: Option<i32> = "j",
        /// [`SendMessageRequestHeader::unit_mode`].
        k: Option<bool> = "k",
        /// [`SendMessageRequestHeader::max_reconsume_times`].
        l: Option<i32> = "l",
        /// [`SendMessageRequestHeader::batch`].
        m: Option<bool> = "m",
        /// [`SendMessageRequestHeader::broker_name`].
        n: Option<String> = "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
            broker_name: v2.n,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
            n: v1.broker_name,
        }
    }
}

impl SendMessageRequestHeader {
    /// Whether a send request with `code` uses the one-letter V2 keys.
    pub fn code_uses_v2_keys(code: i32) -> bool {
        matches!(
            code,
            RequestCode::SEND_MESSAGE_V2
                | RequestCode::SEND_BATCH_MESSAGE
                | RequestCode::SEND_REPLY_MESSAGE_V2
        )
    }

    /// Decodes the header of a send request, picking the key set by `code`.
    /// Errors name the key actually missing (`a`..`n` for V2).
    pub fn from_command(code: i32, fields: &ExtFields) -> Result<Self, HeaderError> {
        if Self::code_uses_v2_keys(code) {
            SendMessageRequestHeaderV2::from_ext_fields(fields).map(Self::from)
        } else {
            Self::from_ext_fields(fields)
        }
    }

    /// Encodes for a request with `code`, picking the key set by `code`.
    pub fn to_command_fields(&self, code: i32) -> ExtFields {
        if Self::code_uses_v2_keys(code) {
            SendMessageRequestHeaderV2::from(self.clone()).to_ext_fields()
        } else {
            self.to_ext_fields()
        }
    }
}

command_header! {
    /// `SendMessageResponseHeader`. The Java client reads the response's ext
    /// fields unconditionally, so a send response always carries this header,
    /// also for FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE.
    pub struct SendMessageResponseHeader {
        /// Offset message id (`crate::message::id`); for a batch the ids joined by `,`.
        msg_id: String = "msgId",
        /// Queue the message was stored in.
        queue_id: i32 = "queueId",
        /// Queue offset of the (first) stored message.
        queue_offset: i64 = "queueOffset",
        /// The UNIQ_KEY.
        transaction_id: Option<String> = "transactionId",
        /// Unique id of an inner batch; sent only for topics with a batch consume queue.
        batch_uniq_id: Option<String> = "batchUniqId",
        /// Handle of a timer message that RECALL_MESSAGE (5.3.1+) takes to cancel
        /// it before delivery.
        recall_handle: Option<String> = "recallHandle",
        /// Broker `regionId`, Java default `DefaultRegion`.
        msg_region: Option<String> = "MSG_REGION",
        /// `"true"`/`"false"`, from broker `traceOn`.
        trace_on: Option<String> = "TRACE_ON",
    }
}
