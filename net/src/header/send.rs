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
        producer_group: String = "producerGroup",
        topic: String = "topic",
        /// Template topic for auto-creation, normally `TBW102`.
        default_topic: String = "defaultTopic",
        default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Negative: the broker picks a write queue at random.
        queue_id: i32 = "queueId",
        /// Message sysFlag (`crate::message::sys_flag`).
        sys_flag: i32 = "sysFlag",
        born_timestamp: i64 = "bornTimestamp",
        /// User flag, stored verbatim.
        flag: i32 = "flag",
        /// Encoded properties (`crate::message::properties`).
        properties: Option<String> = "properties",
        reconsume_times: Option<i32> = "reconsumeTimes",
        unit_mode: Option<bool> = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
        /// The body is a batch (`crate::message::batch`); the Java broker picks the
        /// batch path from this flag, not from the code.
        batch: Option<bool> = "batch",
        broker_name: Option<String> = "bname",
    }
}

command_header! {
    /// `SendMessageRequestHeaderV2`, one-letter keys (codes 310, 320, 325).
    pub struct SendMessageRequestHeaderV2 {
        a: String = "a",
        b: String = "b",
        c: String = "c",
        d: i32 = "d",
        e: i32 = "e",
        f: i32 = "f",
        g: i64 = "g",
        h: i32 = "h",
        i: Option<String> = "i",
        j: Option<i32> = "j",
        k: Option<bool> = "k",
        l: Option<i32> = "l",
        m: Option<bool> = "m",
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
        queue_id: i32 = "queueId",
        /// Queue offset of the (first) stored message.
        queue_offset: i64 = "queueOffset",
        /// The UNIQ_KEY.
        transaction_id: Option<String> = "transactionId",
        batch_uniq_id: Option<String> = "batchUniqId",
        recall_handle: Option<String> = "recallHandle",
        /// Broker `regionId`, Java default `DefaultRegion`.
        msg_region: Option<String> = "MSG_REGION",
        /// `"true"`/`"false"`, from broker `traceOn`.
        trace_on: Option<String> = "TRACE_ON",
    }
}
