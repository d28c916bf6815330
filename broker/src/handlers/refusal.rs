//! Why a request is refused, and the one map from each reason to the
//! response code RocketMQ answers it with ([`Refusal::code`]). A handler
//! step returns `Result<_, Refusal>`; the handler turns it into a reply
//! with [`Refusal::reply`] (or [`Refusal::code`] and the remark, where the
//! reply carries more fields).

use ringmq_engine::StoreError;
use ringmq_net::{RemotingCommand, ResponseCode};

#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The store refused the write or read; [`store_error_code`] says
    /// which code.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A message the broker will not store (`MESSAGE_ILLEGAL`).
    #[error("{0}")]
    MessageIllegal(String),
    /// A field is missing or out of range (`INVALID_PARAMETER`).
    #[error("{0}")]
    InvalidParameter(String),
    /// The topic, group, broker permission or ACL forbids it
    /// (`NO_PERMISSION`).
    #[error("{0}")]
    NoPermission(String),
    /// `TOPIC_NOT_EXIST`, with RocketMQ's remark.
    #[error("{0}")]
    TopicNotExist(String),
    /// `SUBSCRIPTION_GROUP_NOT_EXIST`.
    #[error("{0}")]
    GroupNotExist(String),
    /// The group has no subscription to the topic
    /// (`SUBSCRIPTION_NOT_EXIST`).
    #[error("{0}")]
    SubscriptionNotExist(String),
    /// A subscription expression that does not parse
    /// (`SUBSCRIPTION_PARSE_FAILED`).
    #[error("{0}")]
    SubscriptionParseFailed(String),
    /// Too many pops are held on this queue (`POLLING_FULL`).
    #[error("{0}")]
    PollingFull(String),
    /// A pop that found nothing before its poll time ran out
    /// (`POLLING_TIMEOUT`).
    #[error("{0}")]
    PollingTimeout(String),
    /// A bounded resource is full; the client retries (`SYSTEM_BUSY`).
    #[error("{0}")]
    Busy(String),
    /// A broker-side failure that is not the client's (`SYSTEM_ERROR`).
    #[error("{0}")]
    System(String),
}

impl Refusal {
    /// The response code this refusal answers with.
    pub fn code(&self) -> i32 {
        match self {
            Refusal::Store(e) => store_error_code(e),
            Refusal::MessageIllegal(_) => ResponseCode::MESSAGE_ILLEGAL,
            Refusal::InvalidParameter(_) => ResponseCode::INVALID_PARAMETER,
            Refusal::NoPermission(_) => ResponseCode::NO_PERMISSION,
            Refusal::TopicNotExist(_) => ResponseCode::TOPIC_NOT_EXIST,
            Refusal::GroupNotExist(_) => ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
            Refusal::SubscriptionNotExist(_) => ResponseCode::SUBSCRIPTION_NOT_EXIST,
            Refusal::SubscriptionParseFailed(_) => ResponseCode::SUBSCRIPTION_PARSE_FAILED,
            Refusal::PollingFull(_) => ResponseCode::POLLING_FULL,
            Refusal::PollingTimeout(_) => ResponseCode::POLLING_TIMEOUT,
            Refusal::Busy(_) => ResponseCode::SYSTEM_BUSY,
            Refusal::System(_) => ResponseCode::SYSTEM_ERROR,
        }
    }

    /// The response to `request`: this refusal's code, its message as the
    /// remark.
    pub fn reply(&self, request: &RemotingCommand) -> RemotingCommand {
        super::error(request, self.code(), self.to_string())
    }
}

/// The code for a store error: `MESSAGE_ILLEGAL` for a message the store
/// will never take, `SERVICE_NOT_AVAILABLE` while the log takes no writes
/// (poisoned, disk full, shutting down), `SYSTEM_ERROR` otherwise.
pub fn store_error_code(e: &StoreError) -> i32 {
    match e {
        StoreError::Illegal(_) => ResponseCode::MESSAGE_ILLEGAL,
        StoreError::Poisoned { .. } | StoreError::DiskFull { .. } | StoreError::Closed { .. } => {
            ResponseCode::SERVICE_NOT_AVAILABLE
        }
        _ => ResponseCode::SYSTEM_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_answers_with_its_code_and_remark() {
        let request = RemotingCommand::request(10, Default::default());
        let illegal = StoreError::Illegal(ringmq_engine::record::IllegalMessage::TopicLength {
            size_bytes: 0,
            max_bytes: 127,
        });
        let cases = [
            (Refusal::from(illegal), ResponseCode::MESSAGE_ILLEGAL),
            (
                Refusal::Store(StoreError::Closed {
                    shard: ringmq_engine::ShardId(0),
                }),
                ResponseCode::SERVICE_NOT_AVAILABLE,
            ),
            (
                Refusal::TopicNotExist("topic[t] not exist, apply first please!".into()),
                ResponseCode::TOPIC_NOT_EXIST,
            ),
            (Refusal::Busy("full".into()), ResponseCode::SYSTEM_BUSY),
        ];
        for (refusal, code) in cases {
            let reply = refusal.reply(&request);
            assert_eq!(reply.code, code);
            assert_eq!(reply.remark.as_deref(), Some(refusal.to_string().as_str()));
        }
    }
}
