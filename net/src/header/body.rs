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
    pub body: &'static str,
    pub reason: String,
}

/// `MessageQueue`: one queue of one broker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// Response body of GET_CONSUMER_LIST_BY_GROUP: the client ids of the group's
/// live members.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerListBody {
    pub consumer_id_list: Vec<String>,
}

/// LOCK_BATCH_MQ (41) request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    pub mq_set: Vec<MessageQueue>,
    pub only_this_broker: bool,
}

/// LOCK_BATCH_MQ response body: the queues now locked by the requester.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

/// UNLOCK_BATCH_MQ (42) request body; the response is SUCCESS with no body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UnlockBatchRequestBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    pub mq_set: Vec<MessageQueue>,
    pub only_this_broker: bool,
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

            pub fn to_json(&self) -> Vec<u8> {
                // Plain structs of strings, integers and vectors always serialize.
                serde_json::to_vec(self).unwrap_or_default()
            }
        }
    )*};
}

json_body!(
    ConsumerListBody,
    LockBatchRequestBody,
    LockBatchResponseBody,
    UnlockBatchRequestBody
);
