//! Small JSON bodies of the requests whose headers live in this module:
//! GET_CONSUMER_LIST_BY_GROUP's response (§9.8) and LOCK/UNLOCK_BATCH_MQ
//! (§9.13).
//!
//! Field order in each struct is alphabetical by JSON name because serde
//! writes declaration order and fastjson writes alphabetical order (§9.16);
//! keeping the two equal makes our bodies byte-identical to a Java peer's.
//! Decoding ignores unknown members and defaults missing ones, as fastjson does.

use serde::{Deserialize, Serialize};

/// A body that is not the JSON its request code calls for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{body} body: {reason}")]
pub struct BodyError {
    /// Name of the body type that failed to parse.
    pub body: &'static str,
    /// What serde_json reported, for logs.
    pub reason: String,
}

/// `MessageQueue`: one queue of one broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    /// Name of the broker group (master and its slaves) that hosts the queue.
    pub broker_name: String,
    /// Queue id within the topic on that broker.
    pub queue_id: i32,
    /// Topic the queue belongs to.
    pub topic: String,
}

/// Response body of GET_CONSUMER_LIST_BY_GROUP: the client ids of the group's
/// live members.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListBody {
    /// Client ids (`clientIP@instanceName`) of the live members.
    pub consumer_id_list: Vec<String>,
}

/// LOCK_BATCH_MQ (41) request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    /// Client id of the requester (`clientIP@instanceName`); omitted from the
    /// JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Consumer group the queues are locked for; omitted from the JSON when
    /// `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// The queues to lock.
    pub mq_set: Vec<MessageQueue>,
    /// `false` lets a RocketMQ broker in strict-lock mode also lock the queues on
    /// the other replicas of its group; `true` keeps it to this broker.
    pub only_this_broker: bool,
}

/// LOCK_BATCH_MQ response body: the queues now locked by the requester.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    /// Queues the requester holds the lock on after this request.
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

/// UNLOCK_BATCH_MQ (42) request body; the response is SUCCESS with no body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    /// Client id of the requester (`clientIP@instanceName`); omitted from the
    /// JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Consumer group the queues are unlocked for; omitted from the JSON when
    /// `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// The queues to unlock.
    pub mq_set: Vec<MessageQueue>,
    /// `false` lets a RocketMQ broker in strict-lock mode also unlock the queues on
    /// the other replicas of its group; `true` keeps it to this broker.
    pub only_this_broker: bool,
}

/// QUERY_ASSIGNMENT (400) request body: a client asks the broker which
/// queues of `topic` it should consume (server-side rebalance, and how
/// POP mode is switched on).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentRequestBody {
    /// Client id of the requester (`clientIP@instanceName`).
    pub client_id: String,
    /// Consumer group the requester belongs to.
    pub consumer_group: String,
    /// `CLUSTERING` or `BROADCASTING`.
    pub message_model: String,
    /// The client's allocation strategy (`AVG` by default); the broker
    /// allocates averagely whatever it names.
    pub strategy_name: String,
    /// Topic whose queues are to be assigned.
    pub topic: String,
}

/// One queue of an assignment, and how to consume it (`POP` or `PULL`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueueAssignment {
    /// Extra per-assignment settings; omitted from the JSON when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<std::collections::BTreeMap<String, String>>,
    /// The assigned queue.
    pub message_queue: MessageQueue,
    /// `POP` or `PULL`.
    pub mode: String,
}

/// QUERY_ASSIGNMENT response body. The list is always present (an absent
/// one makes rocketmq-client-rust assign nothing).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryAssignmentResponseBody {
    /// The queues assigned to the requester.
    pub message_queue_assignments: Vec<MessageQueueAssignment>,
}

/// SET_MESSAGE_REQUEST_MODE (401) request body, and one entry of the
/// broker's `messageRequestMode.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SetMessageRequestModeRequestBody {
    /// Consumer group the mode applies to.
    pub consumer_group: String,
    /// `POP` or `PULL`.
    pub mode: String,
    /// POP: how many other clients' queues each client also pops; 0 (and
    /// anything at or past the group's size - 1) means every queue.
    pub pop_share_queue_num: i32,
    /// Topic the mode applies to.
    pub topic: String,
}

/// One acknowledgement group of BATCH_ACK_MESSAGE: the messages of one
/// pop of one queue, as a bitmap over offsets from `so`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchAck {
    /// Bitmap, little-endian bytes: bit `i` acknowledges offset `so + i`.
    /// Java writes a base64 string, rocketmq-client-rust a number array.
    #[serde(deserialize_with = "bitmap_bytes")]
    pub b: Vec<u8>,
    /// Consumer group.
    pub c: String,
    /// Invisible time of the pop, in milliseconds.
    pub it: i64,
    /// Pop time, in ms since the epoch.
    pub pt: i64,
    /// Queue id.
    pub q: i32,
    /// `0` the topic itself, `1` its retry topic `%RETRY%<group>_<topic>`,
    /// `2` the v2 retry topic `%RETRY%<group>+<topic>`.
    pub r: String,
    /// Revive queue id: which of the broker's revive queues holds the pop's
    /// checkpoint.
    pub rq: i32,
    /// Start offset the bitmap counts from.
    pub so: i64,
    /// The original topic.
    pub t: String,
}

/// BATCH_ACK_MESSAGE (200151) request body; the response is SUCCESS with
/// no body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchAckMessageRequestBody {
    /// The acknowledgement groups, one per pop of one queue.
    pub acks: Vec<BatchAck>,
    /// Name of the broker the messages were popped from.
    pub broker_name: String,
}

/// Most bytes one bitmap may have (64 Ki offsets): a pop returns at most a
/// few thousand messages.
pub const BATCH_ACK_BITMAP_BYTES_MAX: usize = 8 * 1024;

fn bitmap_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Bitmap {
        Numbers(Vec<i64>),
        Base64(String),
    }
    let bytes = match Bitmap::deserialize(d)? {
        // Java bytes are signed: -1 is 0xFF.
        Bitmap::Numbers(n) => n
            .into_iter()
            .map(|v| {
                u8::try_from(v)
                    .or_else(|_| i8::try_from(v).map(|b| b as u8))
                    .map_err(|_| D::Error::custom(format!("bitmap byte {v} out of range")))
            })
            .collect::<Result<Vec<u8>, _>>()?,
        Bitmap::Base64(s) => {
            base64_decode(&s).ok_or_else(|| D::Error::custom("bitmap is not base64"))?
        }
    };
    if bytes.len() > BATCH_ACK_BITMAP_BYTES_MAX {
        return Err(D::Error::custom(format!(
            "bitmap of {} bytes is over {BATCH_ACK_BITMAP_BYTES_MAX}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Standard base64 with optional padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    };
    let digits = s.trim_end_matches('=').as_bytes();
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

impl BatchAck {
    /// Whether the bitmap acknowledges `offset`.
    pub fn acks(&self, offset: i64) -> bool {
        let Some(bit) = offset
            .checked_sub(self.so)
            .and_then(|b| usize::try_from(b).ok())
        else {
            return false;
        };
        self.b
            .get(bit / 8)
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
    }

    /// The offsets it covers: `so` up to the bitmap's last bit (exclusive).
    pub fn span(&self) -> std::ops::Range<i64> {
        self.so..self.so.saturating_add(self.b.len() as i64 * 8)
    }

    /// The acknowledged offsets, ascending (none past `i64::MAX`).
    pub fn offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.b.iter().enumerate().flat_map(move |(i, byte)| {
            (0..8)
                .filter(move |bit| byte & (1 << bit) != 0)
                .filter_map(move |bit| self.so.checked_add((i * 8 + bit) as i64))
        })
    }
}

macro_rules! json_body {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// Parses the body. Bounded by the frame it came in; nesting is capped
            /// by serde_json's recursion limit.
            pub fn from_json(body: &[u8]) -> Result<Self, BodyError> {
                serde_json::from_slice(body).map_err(|error| BodyError {
                    body: stringify!($ty),
                    reason: error.to_string(),
                })
            }

            /// Serializes the body to JSON in declaration order, which is
            /// alphabetical and so matches fastjson's output.
            pub fn to_json(&self) -> Vec<u8> {
                // Plain structs of strings, integers and vectors always serialize.
                serde_json::to_vec(self).unwrap_or_default()
            }
        }
    )*};
}

json_body!(
    BatchAckMessageRequestBody,
    ConsumerListBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    QueryAssignmentRequestBody,
    QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
    UnlockBatchRequestBody
);

#[cfg(test)]
mod pop_body_tests {
    use super::*;

    #[test]
    fn batch_ack_bitmaps_from_either_client() {
        // rocketmq-client-rust: u64 words as bytes; Java: base64 of
        // BitSet.toByteArray(). Offsets 100, 102 and 109.
        let rust = br#"{"brokerName":"b","acks":[{"c":"g","t":"T","r":"0","so":100,"q":3,"rq":0,"pt":1,"it":2,"b":[5,2,0,0,0,0,0,0]}]}"#;
        let java = br#"{"brokerName":"b","acks":[{"c":"g","t":"T","r":"0","so":100,"q":3,"rq":0,"pt":1,"it":2,"b":"BQI="}]}"#;
        for body in [&rust[..], &java[..]] {
            let b = BatchAckMessageRequestBody::from_json(body).unwrap();
            assert_eq!(b.acks[0].offsets().collect::<Vec<_>>(), vec![100, 102, 109]);
        }
        let b = BatchAckMessageRequestBody::from_json(rust).unwrap();
        let a = &b.acks[0];
        assert_eq!(a.span(), 100..164);
        assert!(a.acks(100) && a.acks(109) && !a.acks(101) && !a.acks(99) && !a.acks(164));
        let signed = br#"{"acks":[{"so":0,"b":[-128]}]}"#;
        let b = BatchAckMessageRequestBody::from_json(signed).unwrap();
        assert_eq!(b.acks[0].offsets().collect::<Vec<_>>(), vec![7]);
        for bad in [
            &br#"{"acks":[{"b":[256]}]}"#[..],
            br#"{"acks":[{"b":"!!"}]}"#,
            br#"{"acks":[{"b":"A"}]}"#,
        ] {
            assert!(BatchAckMessageRequestBody::from_json(bad).is_err());
        }
        let huge = format!(
            r#"{{"acks":[{{"b":[{}0]}}]}}"#,
            "0,".repeat(BATCH_ACK_BITMAP_BYTES_MAX)
        );
        assert!(BatchAckMessageRequestBody::from_json(huge.as_bytes()).is_err());
    }

    #[test]
    fn assignment_bodies_match_the_client() {
        let req = br#"{"topic":"T","consumerGroup":"g","clientId":"c1","strategyName":"AVG","messageModel":"CLUSTERING"}"#;
        let r = QueryAssignmentRequestBody::from_json(req).unwrap();
        assert_eq!((r.topic.as_str(), r.client_id.as_str()), ("T", "c1"));
        let empty = QueryAssignmentResponseBody::default().to_json();
        assert_eq!(empty, br#"{"messageQueueAssignments":[]}"#);
    }
}
