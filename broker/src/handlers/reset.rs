//! `INVOKE_BROKER_TO_RESET_OFFSET` (222): an operator moves a consumer
//! group's offsets on one topic to a point in time (`mqadmin
//! resetOffsetByTime`), or one queue to an offset (`queueId` + `offset`).
//!
//! RocketMQ 5's server-side reset (its default, `useServerSideResetOffset`):
//! per queue the new offset is the first message stored at or after
//! `timestamp` (`-1`: the queue's end); it is stored durably before the
//! answer and held as pending, so the group's next pull of the queue is
//! answered `PULL_OFFSET_MOVED` to it and commits of the stale position
//! are ignored until then ([`crate::offsets::ConsumerOffsets::assign_reset`]).
//! This works whether the group is online or not and needs nothing from the
//! client beyond handling `PULL_OFFSET_MOVED`. `isForce` is read and, as in
//! RocketMQ 5, does not change the result. RocketMQ 4.x instead sent the
//! table to online consumers (`RESET_CONSUMER_CLIENT_OFFSET`) and stored
//! nothing; that path is not built.

use ringmq_engine::QueueId;
use std::rc::Rc;

use ringmq_engine::{StoreError, TimeBoundary};
use ringmq_net::server::{Handled, Outgoing};
use ringmq_net::{RemotingCommand, ResponseCode};

use super::admin::mq_key;
use super::{error, now, success};
use crate::offsets::NotDurable;
use crate::shard::Shard;

/// The header fields of a reset (RocketMQ's `ResetOffsetRequestHeader`).
struct Reset {
    topic: String,
    group: String,
    timestamp: i64,
    force: bool,
    /// 5.x: only this queue (`queueId` ≥ 0), to `offset` when given, else
    /// by `timestamp`.
    queue: Option<i32>,
    offset: Option<i64>,
}

/// Why a reset request is refused (`INVALID_PARAMETER`).
#[derive(Debug, thiserror::Error)]
enum BadReset {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{field} {value:?} is not a number")]
    NotANumber { field: &'static str, value: String },
    #[error("queueId out of range")]
    QueueIdOutOfRange,
    #[error("timestamp (or queueId and offset) is required")]
    NoTarget,
}

/// Why a reset failed once applying it began (`SYSTEM_ERROR`).
#[derive(Debug, thiserror::Error)]
enum ResetFailed {
    /// Nothing was assigned.
    #[error("Target offset {offset} not in consume queue range [{min}-{max}]")]
    OffsetOutOfRange { offset: i64, min: i64, max: i64 },
    /// Nothing was assigned.
    #[error("searching queue {queue} by time: {source}")]
    SearchByTime { queue: i32, source: StoreError },
    /// The queues before the refused one were assigned.
    #[error("consumer offset table is full")]
    TableFull,
    /// Every queue was assigned; the save failed.
    #[error(transparent)]
    NotDurable(#[from] NotDurable),
}

fn parse_reset(request: &RemotingCommand) -> Result<Reset, BadReset> {
    let topic = request
        .ext_field("topic")
        .ok_or(BadReset::Missing("topic"))?;
    let group = request
        .ext_field("group")
        .ok_or(BadReset::Missing("group"))?;
    let number = |field: &'static str| -> Result<Option<i64>, BadReset> {
        request
            .ext_field(field)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| BadReset::NotANumber {
                    field,
                    value: v.to_string(),
                })
            })
            .transpose()
    };
    let queue_id = number("queueId")?.filter(|q| *q >= 0);
    let offset = number("offset")?.filter(|o| *o >= 0);
    let timestamp = number("timestamp")?;
    let queue = queue_id
        .map(|q| i32::try_from(q).map_err(|_| BadReset::QueueIdOutOfRange))
        .transpose()?;
    if offset.is_none() && timestamp.is_none() {
        return Err(BadReset::NoTarget);
    }
    Ok(Reset {
        topic: topic.to_string(),
        group: group.to_string(),
        timestamp: timestamp.unwrap_or(-1),
        force: request
            .ext_field("isForce")
            .is_none_or(|v| v.eq_ignore_ascii_case("true")),
        queue,
        offset: offset.filter(|_| queue.is_some()),
    })
}

pub fn reset_offset(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let reset = match parse_reset(&request) {
        Ok(r) => r,
        Err(why) => {
            return now(
                &request,
                error(&request, ResponseCode::INVALID_PARAMETER, why.to_string()),
            )
        }
    };
    if shard.config.is_slave() {
        return now(
            &request,
            error(
                &request,
                ResponseCode::SYSTEM_ERROR,
                "Can not reset offset in slave broker",
            ),
        );
    }
    let Some(config) = shard.topics.get(&reset.topic) else {
        return now(
            &request,
            error(
                &request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!("Topic {} does not exist", reset.topic),
            ),
        );
    };
    let known = !shard.offsets.of_group(&reset.group).is_empty()
        || shard.clients.group_view(&reset.group).is_some()
        || shard.groups.get(&reset.group).is_some();
    if !known {
        return now(
            &request,
            error(
                &request,
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("Group {} does not exist", reset.group),
            ),
        );
    }
    if let Some(q) = reset.queue {
        if q >= config.read_queue_nums {
            return now(
                &request,
                error(
                    &request,
                    ResponseCode::INVALID_PARAMETER,
                    format!("queueId {q} is not a queue of {}", reset.topic),
                ),
            );
        }
    }
    let queues = config.read_queue_nums;
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let reply = match apply(&shard, &reset, queues).await {
            Ok(table) => success(&request).with_body(table),
            Err(why) => error(&request, ResponseCode::SYSTEM_ERROR, why.to_string()),
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}

/// Computes, stores (durably) and returns the new offsets as RocketMQ's
/// `ResetOffsetBody` JSON.
async fn apply(shard: &Rc<Shard>, reset: &Reset, queues: i32) -> Result<String, ResetFailed> {
    let mut chosen = Vec::new();
    for q in 0..queues {
        if reset.queue.is_some_and(|only| only != q) {
            continue;
        }
        let target = match reset.offset {
            Some(offset) => {
                let min = shard.store.min_queue_offset(&reset.topic, QueueId(q)).0 as i64;
                let max = shard.store.max_queue_offset(&reset.topic, QueueId(q)).0 as i64;
                if !(min..=max).contains(&offset) {
                    return Err(ResetFailed::OffsetOutOfRange { offset, min, max });
                }
                offset
            }
            None if reset.timestamp < 0 => {
                shard.store.max_queue_offset(&reset.topic, QueueId(q)).0 as i64
            }
            None => {
                shard
                    .store
                    .offset_by_time(
                        &reset.topic,
                        QueueId(q),
                        reset.timestamp,
                        TimeBoundary::Lower,
                    )
                    .await
                    .map_err(|source| ResetFailed::SearchByTime { queue: q, source })?
                    .0 as i64
            }
        };
        chosen.push((q, target));
    }
    let mut version = None;
    for &(q, offset) in &chosen {
        version = Some(
            shard
                .offsets
                .assign_reset(&reset.group, &reset.topic, q, offset)
                .ok_or(ResetFailed::TableFull)?,
        );
    }
    if let Some(v) = version {
        shard.offsets.wait_durable(v).await?;
    }
    // Held pulls of these queues answer at once (`PULL_OFFSET_MOVED`).
    for &(q, _) in &chosen {
        shard.signals.fire(&reset.topic, q);
    }
    tracing::info!(
        topic = reset.topic,
        group = reset.group,
        timestamp = reset.timestamp,
        force = reset.force,
        ?chosen,
        "consumer offsets reset by an admin"
    );
    let entries: Vec<String> = chosen
        .iter()
        .map(|(q, o)| format!("{}:{o}", mq_key(&shard.broker_name, &reset.topic, *q)))
        .collect();
    Ok(format!("{{\"offsetTable\":{{{}}}}}", entries.join(",")))
}
