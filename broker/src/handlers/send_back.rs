//! CONSUMER_SEND_MSG_BACK (36): `spec/remoting-protocol.md` §9.11. A
//! consumer that failed a message hands it back; the broker reads the
//! original from its own log and writes it to the group's retry topic with
//! a delay that grows with each attempt, or past the group's limit to its
//! dead-letter topic.
//!
//! Runs on the shard whose log holds the original: the request names that
//! shard's broker (`bname`, which the dispatcher forwards on) or is sent
//! to its address (the message's store host), so the read and the new
//! record stay on one core.

use std::rc::Rc;

use ringmq_engine::record::RecordView;
use ringmq_engine::{AppendedRecord, CommitLogOffset};
use ringmq_net::header::ConsumerSendMsgBackRequestHeader;
use ringmq_net::message::id::OffsetMessageId;
use ringmq_net::message::properties::property_value;
use ringmq_net::message::property;
use ringmq_net::server::{Handled, Outgoing, Peer};
use ringmq_net::{RemotingCommand, ResponseCode};

use super::refusal::Refusal;
use super::send::{wait_stored, waits_for_slave};
use super::{error, now, parse, refuse_on_slave, success};
use crate::ha::Replicated;
use crate::schedule::{redelivery, rewrite_properties, SCHEDULE_TOPIC};
use crate::shard::Shard;
use crate::topics::{
    validate_topic_name, DLQ_GROUP_TOPIC_PREFIX, PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX,
};

/// Queues of a group's dead-letter topic (`DLQ_NUMS_PER_GROUP`).
const DLQ_QUEUE_NUMS: i32 = 1;
/// RocketMQ's back-off: the first retry waits level 3 (10 s by default).
const RETRY_DELAY_LEVEL_BASE: i32 = 3;

pub fn handle(shard: &Rc<Shard>, request: RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let header: ConsumerSendMsgBackRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "send-backs") {
        return refused;
    }
    if let Some(refused) =
        super::refuse_unless_permitted(shard, &request, crate::topics::PERM_WRITE)
    {
        return refused;
    }
    let fail = |code: i32, remark: String| now(&request, error(&request, code, remark));
    let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", header.group);
    if let Err(e) = validate_topic_name(&retry_topic) {
        return fail(
            ResponseCode::INVALID_PARAMETER,
            format!("group {:?}: {e}", header.group),
        );
    }
    if header.offset < 0 {
        return fail(
            ResponseCode::INVALID_PARAMETER,
            format!("offset {} is negative", header.offset),
        );
    }
    let shard = shard.clone();
    let born_host = peer.addr;
    Handled::Later(Box::pin(async move {
        let reply = match send_back(&shard, &header, retry_topic).await {
            Ok(Replicated::Yes) => success(&request),
            Ok(Replicated::SlaveNotAvailable) => {
                RemotingCommand::response_to(&request, ResponseCode::SLAVE_NOT_AVAILABLE)
            }
            Ok(Replicated::Timeout) => {
                RemotingCommand::response_to(&request, ResponseCode::FLUSH_SLAVE_TIMEOUT)
            }
            Err(refusal) => {
                tracing::debug!(shard = %shard.id, peer = %born_host, code = refusal.code(), %refusal, "send-back refused");
                refusal.reply(&request)
            }
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}

/// Reads the original, writes its retry (or dead-letter) copy, and waits
/// as a send would: for the log's acknowledgement and, under
/// `SYNC_MASTER`, the slave's.
async fn send_back(
    shard: &Rc<Shard>,
    header: &ConsumerSendMsgBackRequestHeader,
    retry_topic: String,
) -> Result<Replicated, Refusal> {
    let bytes = shard
        .store
        .read_record(CommitLogOffset(header.offset as u64))
        .await
        .map_err(|e| {
            Refusal::System(format!(
                "look message by offset failed, {}: {e}",
                header.offset
            ))
        })?;
    let original = RecordView::parse(&bytes).map_err(|e| {
        Refusal::System(format!(
            "the record at offset {} does not parse: {e}",
            header.offset
        ))
    })?;
    // Stored from a producer's header: never trusted to be sane.
    let reconsume_times = original.reconsume_times.max(0);
    let Some(to) = destination(shard, header, reconsume_times, retry_topic).await? else {
        return Ok(Replicated::Yes);
    };
    let delay_level = match header.delay_level {
        _ if to.dead_letter => None,
        0 => Some(RETRY_DELAY_LEVEL_BASE.saturating_add(reconsume_times)),
        level => Some(level),
    }
    .map(|l| l.clamp(1, shard.config.message_delay_level.max_level()));
    let (properties, store_topic, store_queue) = retry_copy(&original, &to, delay_level);
    let msg = redelivery(shard, &original, &store_topic, store_queue, &properties);
    let wait_for_slave = waits_for_slave(shard, &properties);
    let mut placed: Vec<AppendedRecord> = Vec::with_capacity(1);
    let end = shard
        .store
        .append_batch(std::slice::from_ref(&msg), &mut placed)
        .await
        .map_err(Refusal::Store)?;
    let start = placed.first().map_or(end, |r| r.physical_offset);
    let (acked, replicated) = wait_stored(shard, start..end, wait_for_slave).await;
    acked.map_err(Refusal::Store)?;
    let stats = shard.my_stats();
    stats.count_redelivery(original.body.len(), to.dead_letter, &stats.sent_back);
    shard.signals.fire(&store_topic, store_queue);
    tracing::debug!(
        shard = %shard.id,
        group = %header.group,
        topic = %to.topic,
        reconsume_times = reconsume_times.saturating_add(1),
        delay_level,
        "message sent back"
    );
    Ok(replicated)
}

/// Where a sent-back message goes.
struct Destination {
    /// The group's retry topic, or its dead-letter topic.
    topic: String,
    queue_id: i32,
    dead_letter: bool,
}

/// The retry or dead-letter queue for the group's message, the topic
/// created if it is new. None when the group asked for no retries
/// (`retryQueueNums` 0: RocketMQ drops the message and answers SUCCESS).
async fn destination(
    shard: &Shard,
    header: &ConsumerSendMsgBackRequestHeader,
    reconsume_times: i32,
    retry_topic: String,
) -> Result<Option<Destination>, Refusal> {
    let auto_create = shard.config.live.auto_create_subscription_group();
    let policy = match shard.groups.policy(&header.group, auto_create) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(Refusal::GroupNotExist(format!(
                "subscription group not exist, {}",
                header.group
            )))
        }
        Err(e) => return Err(Refusal::System(e.to_string())),
    };
    if policy.retry_queue_nums <= 0 {
        tracing::debug!(group = %header.group, "send-back dropped: retryQueueNums is 0");
        return Ok(None);
    }
    // The client's limit when it sends one (every client since 3.4.9),
    // else the group's.
    let max_reconsume_times = header.max_reconsume_times.unwrap_or(policy.retry_max_times);
    let dead_letter = reconsume_times >= max_reconsume_times || header.delay_level < 0;
    let (topic, queues, perm) = if dead_letter {
        // RocketMQ creates dead-letter topics write-only: nobody consumes
        // them until an operator grants read.
        (
            format!("{DLQ_GROUP_TOPIC_PREFIX}{}", header.group),
            DLQ_QUEUE_NUMS,
            PERM_WRITE,
        )
    } else {
        (retry_topic, policy.retry_queue_nums, PERM_READ | PERM_WRITE)
    };
    let config = shard
        .topics
        .get_or_create(&topic, queues, perm)
        .await
        .map_err(|e| Refusal::System(e.to_string()))?;
    if config.perm & PERM_WRITE == 0 {
        return Err(Refusal::NoPermission(format!(
            "the topic {topic} is not writable"
        )));
    }
    // Spread over the topic's queues (RocketMQ picks at random; a retry
    // topic created earlier may have other than the group's count).
    let n = shard.next_queue.get();
    shard.next_queue.set(n.wrapping_add(1));
    let queue_id = (n % config.write_queue_nums.max(1) as u32) as i32;
    Ok(Some(Destination {
        topic,
        queue_id,
        dead_letter,
    }))
}

/// The copy's properties and where it is stored: the original's, with the
/// first topic (`RETRY_TOPIC`) and message id (`ORIGIN_MESSAGE_ID`) kept
/// from the first delivery, and, when it waits a delay level, stored in
/// the schedule topic with its real topic and queue.
fn retry_copy(
    original: &RecordView<'_>,
    to: &Destination,
    delay_level: Option<i32>,
) -> (String, String, i32) {
    let props = std::str::from_utf8(original.properties).unwrap_or_default();
    let origin_id = property_value(props, property::ORIGIN_MESSAGE_ID)
        .map(str::to_string)
        .unwrap_or_else(|| {
            OffsetMessageId {
                store_host: original.store_host,
                commit_log_offset: original.physical_offset,
            }
            .encode()
        });
    let first_topic = property_value(props, property::RETRY_TOPIC)
        .unwrap_or(original.topic)
        .to_string();
    let mut add: Vec<(&str, String)> = vec![
        (property::RETRY_TOPIC, first_topic),
        (property::ORIGIN_MESSAGE_ID, origin_id),
    ];
    let (store_topic, store_queue) = match delay_level {
        Some(level) => {
            add.push((property::DELAY_TIME_LEVEL, level.to_string()));
            add.push((property::REAL_TOPIC, to.topic.clone()));
            add.push((property::REAL_QUEUE_ID, to.queue_id.to_string()));
            (SCHEDULE_TOPIC.to_string(), level - 1)
        }
        None => (to.topic.clone(), to.queue_id),
    };
    let add: Vec<(&str, &str)> = add.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let properties = rewrite_properties(
        props,
        &[property::DELAY_TIME_LEVEL, property::TRANSACTION_PREPARED],
        &add,
    );
    (properties, store_topic, store_queue)
}
