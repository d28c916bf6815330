//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320):
//! `spec/remoting-protocol.md` §9.4.
//!
//! The append happens in the handler's first step, so messages of one
//! connection enter their queue in arrival order; waiting for the write (or
//! the fdatasync under SYNC_FLUSH) and the reply run as the second step.

use ringmq_engine::QueueId;
use std::fmt::Write as _;
use std::ops::Range;
use std::rc::Rc;

use ringmq_engine::{AppendedRecord, CommitLogOffset, MessageIn, StoreError};
use ringmq_net::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use ringmq_net::message::batch::{decode_batch, BatchRecord};
use ringmq_net::message::id::OffsetMessageId;
use ringmq_net::message::properties::{iter_properties, property_value};
use ringmq_net::message::property;
use ringmq_net::server::{Handled, Outgoing, Peer};
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use super::refusal::Refusal;
use super::{error, now, refuse_on_slave, success};
use crate::config::BrokerRole;
use crate::ha::Replicated;
use crate::schedule::{scheduled_properties, SCHEDULE_TOPIC, TIMER_TRIGGER_PROPERTIES};
use crate::shard::{now_ms, Shard, ShardStats};
use crate::timer::{timer_properties, TIMER_TOPIC};
use crate::topics::{
    validate_topic_name, TopicConfig, DLQ_GROUP_TOPIC_PREFIX, NOT_WRITABLE_TOPICS, PERM_INHERIT,
    PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX,
};

/// Most messages one batch may carry.
pub const BATCH_MESSAGES_MAX: usize = 4096;
/// Bytes a delayed or timer message's properties may grow by at delivery
/// (`WAIT=false` in place of the trigger property).
const DELIVERY_PROPERTIES_HEADROOM_BYTES: usize = 16;
/// `maxReconsumeTimes` when the header does not say.
const MAX_RECONSUME_TIMES_DEFAULT: i32 = 16;

pub fn uses_v2(code: i32) -> bool {
    SendMessageRequestHeader::code_uses_v2_keys(code)
}

pub async fn handle(shard: &Rc<Shard>, request: RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let header = match SendMessageRequestHeader::from_command(request.code, &request.ext_fields) {
        Ok(h) => h,
        Err(e) => {
            return now(
                &request,
                error(&request, ResponseCode::INVALID_PARAMETER, e.to_string()),
            )
        }
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "sends") {
        return refused;
    }
    if let Some(refused) = super::refuse_unless_permitted(shard, &request, PERM_WRITE) {
        return refused;
    }
    let properties = header.properties.clone().unwrap_or_default();
    let appended = match plan(shard, &request, &header, &properties).await {
        Ok(plan) => append(shard, &request, &header, peer, &properties, plan).await,
        Err(refusal) => Err(refusal),
    };
    let appended = match appended {
        Ok(appended) => appended,
        Err(refusal) => return now(&request, refusal.reply(&request)),
    };
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        reply_when_stored(&shard, &request, appended).await
    }))
}

/// What a send stores, decided before anything is written.
struct SendPlan<'r> {
    /// The topic and queue the client's message belongs to (after a retry
    /// past its limit is redirected to the dead-letter queue).
    topic: String,
    queue_id: i32,
    /// A batch's messages (`SEND_BATCH_MESSAGE` or `batch=true`); empty
    /// for a single message.
    inner: Vec<BatchRecord<'r>>,
    batch: bool,
    /// A transactional half message (`TRAN_MSG=true`).
    half: bool,
    /// The delay level it waits for (`crate::schedule`), if any.
    delay_level: Option<i32>,
    /// When a timer message is due (`crate::timer`), if it is not yet.
    timer_ms: Option<i64>,
}

/// Step 1: checks the request and decides where its messages go, creating
/// the topic where the client may.
async fn plan<'r>(
    shard: &Shard,
    request: &'r RemotingCommand,
    header: &SendMessageRequestHeader,
    properties: &str,
) -> Result<SendPlan<'r>, Refusal> {
    let (topic, queue_id) = route(shard, header).await?;
    // A transactional send is stored as a half message (`crate::transaction`),
    // as RocketMQ decides it: by the property, not the sysFlag.
    let half = property_value(properties, property::TRANSACTION_PREPARED) == Some("true");
    let batch = header.batch == Some(true) || request.code == RequestCode::SEND_BATCH_MESSAGE;
    let inner = if batch {
        decode_batch_body(shard, &request.body, &topic, half)?
    } else {
        if request.body.len() > shard.config.max_message_size_bytes {
            return Err(body_too_large(shard));
        }
        Vec::new()
    };
    let has_timer =
        iter_properties(properties).any(|(name, _)| TIMER_TRIGGER_PROPERTIES.contains(&name));
    let (delay_level, timer_ms) = waiting(shard, properties, has_timer, &topic, &inner, batch)?;
    // RocketMQ's clients refuse delays and timers on transactional sends.
    if half && (delay_level.is_some() || has_timer) {
        return Err(Refusal::MessageIllegal(
            "transactional messages may not be delayed or timed".into(),
        ));
    }
    Ok(SendPlan {
        topic,
        queue_id,
        inner,
        batch,
        half,
        delay_level,
        timer_ms,
    })
}

/// The topic and queue a send goes to: a writable topic (found or
/// created), the header's queue or the next in turn, a retry past its
/// limit redirected to the group's dead-letter queue.
async fn route(shard: &Shard, header: &SendMessageRequestHeader) -> Result<(String, i32), Refusal> {
    let mut topic_name = header.topic.clone();
    validate_topic_name(&topic_name).map_err(|e| Refusal::InvalidParameter(e.to_string()))?;
    if NOT_WRITABLE_TOPICS.contains(&topic_name.as_str()) {
        return Err(Refusal::NoPermission(format!(
            "the topic {topic_name} is a system topic; clients may not send to it"
        )));
    }
    let mut queue_id = header.queue_id;
    // A retry message past its limit goes to the group's dead-letter queue.
    if let Some(group) = topic_name.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        let max = header.max_reconsume_times.unwrap_or_else(|| {
            shard
                .groups
                .get(group)
                .map_or(MAX_RECONSUME_TIMES_DEFAULT, |g| g.retry_max_times)
        });
        if header.reconsume_times.unwrap_or(0) > max {
            topic_name = format!("{DLQ_GROUP_TOPIC_PREFIX}{group}");
            queue_id = 0;
        }
    }
    let topic = find_or_create_topic(shard, &topic_name, header).await?;
    if topic.perm & PERM_WRITE == 0 {
        return Err(Refusal::NoPermission(format!(
            "the topic {topic_name} is not writable"
        )));
    }
    if queue_id < 0 {
        let n = shard.next_queue.get();
        shard.next_queue.set(n.wrapping_add(1));
        queue_id = (n % topic.write_queue_nums as u32) as i32;
    }
    if queue_id >= topic.queue_count {
        return Err(Refusal::InvalidParameter(format!(
            "queueId {queue_id} is not below the topic's {} queues on {}",
            topic.queue_count, shard.broker_name
        )));
    }
    Ok((topic_name, queue_id))
}

/// What a send needs of its topic's configuration.
#[derive(Clone, Copy)]
struct SendTopic {
    perm: i32,
    write_queue_nums: i32,
    queue_count: i32,
}

impl SendTopic {
    fn of(topic: &TopicConfig) -> SendTopic {
        SendTopic {
            perm: topic.perm,
            write_queue_nums: topic.write_queue_nums,
            queue_count: topic.queue_count(),
        }
    }
}

fn body_too_large(shard: &Shard) -> Refusal {
    Refusal::MessageIllegal(format!(
        "message body larger than maxMessageSize {}",
        shard.config.max_message_size_bytes
    ))
}

/// A batch's messages, each within `maxMessageSize`; refused when empty,
/// transactional, or sent to a retry topic.
fn decode_batch_body<'r>(
    shard: &Shard,
    body: &'r [u8],
    topic: &str,
    half: bool,
) -> Result<Vec<BatchRecord<'r>>, Refusal> {
    let inner = match decode_batch(body, BATCH_MESSAGES_MAX) {
        Ok(records) if !records.is_empty() => records,
        Ok(_) => return Err(Refusal::MessageIllegal("empty batch".into())),
        Err(e) => return Err(Refusal::MessageIllegal(e.to_string())),
    };
    if half {
        return Err(Refusal::MessageIllegal(
            "transactional messages are not supported in batches".into(),
        ));
    }
    if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        return Err(Refusal::MessageIllegal(
            "batches may not go to retry topics".into(),
        ));
    }
    let body_max = shard.config.max_message_size_bytes;
    if inner.iter().any(|m| m.body.len() > body_max) {
        return Err(body_too_large(shard));
    }
    Ok(inner)
}

/// Whether the message waits before its consumers see it: the delay
/// level it names, or when a timer message is due. A delayed message
/// waits in the schedule topic's queue of its level (`crate::schedule`); a
/// timer message (5.x `TIMER_*` properties) in the timer topic
/// (`crate::timer`). One with both takes the level, as in RocketMQ; a timer
/// due already is stored as it is. Batches may do neither (RocketMQ's
/// clients and broker refuse them).
fn waiting(
    shard: &Shard,
    properties: &str,
    has_timer: bool,
    topic: &str,
    inner: &[BatchRecord<'_>],
    batch: bool,
) -> Result<(Option<i32>, Option<i64>), Refusal> {
    let levels = &shard.config.message_delay_level;
    let delay_level = match levels.level_of(properties) {
        // A dead letter is not delayed (RocketMQ clears the level).
        Ok(_) if topic.starts_with(DLQ_GROUP_TOPIC_PREFIX) => None,
        Ok(level) => level,
        Err(e) => return Err(Refusal::MessageIllegal(e)),
    };
    let inner_delayed = inner
        .iter()
        .any(|m| !matches!(levels.level_of(m.properties), Ok(None)));
    if batch && (delay_level.is_some() || inner_delayed) {
        return Err(Refusal::MessageIllegal(
            "delay levels are not supported in batches".into(),
        ));
    }
    if !has_timer || delay_level.is_some() {
        return Ok((delay_level, None));
    }
    if batch {
        return Err(Refusal::MessageIllegal(
            "timer messages are not supported in batches".into(),
        ));
    }
    if !shard.config.timer_wheel_enable {
        return Err(Refusal::System(
            "timer messages are disabled on this broker (timerWheelEnable=false)".into(),
        ));
    }
    let now = now_ms();
    match crate::timer::deliver_ms_of(properties, now, shard.timers.max_delay_ms) {
        Err(e) => Err(Refusal::MessageIllegal(e)),
        Ok(Some(at)) if at > now => {
            if shard.timers.backlog(&shard.store) >= crate::timer::TIMER_PENDING_MAX {
                return Err(Refusal::System(format!(
                    "[TIMER_FLOW_CONTROL] {} timer messages are waiting on {}; try later",
                    crate::timer::TIMER_PENDING_MAX,
                    shard.broker_name
                )));
            }
            Ok((None, Some(at)))
        }
        Ok(_) => Ok((None, None)),
    }
}

/// What a send appended, for its second step.
struct Appended {
    /// The commit-log bytes it stored.
    stored: Range<CommitLogOffset>,
    placed: Vec<AppendedRecord>,
    /// Where it was stored (the schedule, timer or half topic for a
    /// waiting message), for the counters and the queue's signal.
    topic: String,
    queue_id: i32,
    /// The queue the client's message belongs to, for the reply.
    real_queue_id: i32,
    count: u64,
    bytes_in: u64,
    /// The reply's transactionId: the first message's UNIQ_KEY.
    transaction_id: Option<String>,
    wait_for_slave: bool,
}

/// Step 2: the stored properties of each message, then the append, in the
/// handler's first step (so a connection's messages keep their order).
async fn append(
    shard: &Shard,
    request: &RemotingCommand,
    header: &SendMessageRequestHeader,
    peer: &Peer,
    properties: &str,
    mut plan: SendPlan<'_>,
) -> Result<Appended, Refusal> {
    let (stored, ranges) = stored_properties(shard, properties, &plan)?;
    let stored_props = |i: usize| &stored[ranges[i].clone()];
    let (topic, queue_id) = stored_queue(&mut plan);
    let template = MessageIn {
        topic: &topic,
        queue_id: QueueId(queue_id),
        flag: header.flag,
        body: &[],
        properties: &[],
        sys_flag: header.sys_flag,
        born_timestamp_ms: header.born_timestamp,
        born_host: peer.addr,
        store_host: shard.store_host,
        reconsume_times: header.reconsume_times.unwrap_or(0).max(0),
        prepared_transaction_offset: 0,
    };
    let msgs: Vec<MessageIn<'_>> = if plan.batch {
        plan.inner
            .iter()
            .zip(&ranges)
            .map(|(m, range)| MessageIn {
                flag: m.flag,
                body: m.body,
                properties: stored[range.clone()].as_bytes(),
                ..template
            })
            .collect()
    } else {
        vec![MessageIn {
            body: &request.body,
            properties: stored_props(0).as_bytes(),
            sys_flag: stored_sys_flag(header.sys_flag, plan.half),
            ..template
        }]
    };
    let mut placed: Vec<AppendedRecord> = Vec::with_capacity(msgs.len());
    let end = shard.store.append_batch(&msgs, &mut placed).await?;
    let start = placed.first().map_or(end, |r| r.physical_offset);
    let bytes_in: u64 = msgs.iter().map(|m| m.body.len() as u64).sum();
    let count = msgs.len() as u64;
    let transaction_id = property_value(stored_props(0), property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    drop(msgs);
    Ok(Appended {
        stored: start..end,
        placed,
        topic,
        queue_id,
        real_queue_id: plan.queue_id,
        count,
        bytes_in,
        transaction_id,
        wait_for_slave: waits_for_slave(shard, properties),
    })
}

/// The queue a message is stored in: the half, schedule or timer topic's
/// for a waiting message, else the client's (`plan.topic` is moved out).
fn stored_queue(plan: &mut SendPlan<'_>) -> (String, i32) {
    match (plan.delay_level, plan.timer_ms) {
        _ if plan.half => (crate::transaction::HALF_TOPIC.to_string(), 0),
        (Some(level), _) => (SCHEDULE_TOPIC.to_string(), level - 1),
        (None, Some(_)) => (TIMER_TOPIC.to_string(), 0),
        // Moved, not copied: one allocation fewer per send.
        (None, None) => (std::mem::take(&mut plan.topic), plan.queue_id),
    }
}

/// A half message is stored untyped so it gets a queue entry in the half
/// queue (RocketMQ resets the type the same way).
fn stored_sys_flag(sys_flag: i32, half: bool) -> i32 {
    if half {
        ringmq_net::message::sys_flag::with_transaction_type(
            sys_flag,
            ringmq_net::message::sys_flag::TRANSACTION_NOT_TYPE,
        )
    } else {
        sys_flag
    }
}

/// Properties of each stored message: the client's, plus a UNIQ_KEY if it
/// sent none, plus CLUSTER, plus where a waiting one really goes. All in
/// one buffer, message i's at `stored[ranges[i]]`: one allocation per
/// request, not one per message of a batch.
fn stored_properties(
    shard: &Shard,
    properties: &str,
    plan: &SendPlan<'_>,
) -> Result<(String, Vec<Range<usize>>), Refusal> {
    let mut ranges = Vec::with_capacity(plan.inner.len().max(1));
    if plan.batch {
        let mut stored = String::with_capacity(
            plan.inner
                .iter()
                .map(|m| m.properties.len() + STORED_PROPERTIES_ADDED_BYTES)
                .sum(),
        );
        for m in &plan.inner {
            let start = stored.len();
            push_stored_properties(shard, m.properties, &mut stored);
            ranges.push(start..stored.len());
        }
        return Ok((stored, ranges));
    }
    let mut props = String::with_capacity(properties.len() + STORED_PROPERTIES_ADDED_BYTES);
    push_stored_properties(shard, properties, &mut props);
    let (topic, queue_id) = (plan.topic.as_str(), plan.queue_id);
    let stored = match (plan.delay_level, plan.timer_ms) {
        _ if plan.half => crate::transaction::half_properties(&props, topic, queue_id),
        (Some(_), _) => scheduled_properties(&props, topic, queue_id),
        (None, Some(at)) => timer_properties(&props, topic, queue_id, at),
        (None, None) => props,
    };
    // A waiting message gains `WAIT=false` when delivered: refuse now one
    // whose properties would no longer fit then.
    if (plan.delay_level.is_some() || plan.timer_ms.is_some())
        && stored.len() + DELIVERY_PROPERTIES_HEADROOM_BYTES
            > ringmq_net::message::properties::PROPERTIES_BYTES_MAX
    {
        return Err(Refusal::MessageIllegal(
            "properties too long for a delayed or timer message".into(),
        ));
    }
    ranges.push(0..stored.len());
    Ok((stored, ranges))
}

/// Step 3, in a task of its own: waits for the log's acknowledgement (and
/// the slave's, under `SYNC_MASTER`), counts the messages, wakes the
/// queue's held pulls and answers.
async fn reply_when_stored(
    shard: &Rc<Shard>,
    request: &RemotingCommand,
    appended: Appended,
) -> Option<Outgoing> {
    let (acked, replicated) =
        wait_stored(shard, appended.stored.clone(), appended.wait_for_slave).await;
    if let Err(e) = acked {
        return (!request.is_oneway()).then(|| Outgoing::command(Refusal::Store(e).reply(request)));
    }
    let Appended {
        placed,
        topic,
        queue_id,
        count,
        bytes_in,
        ..
    } = &appended;
    let stats = shard.my_stats();
    ShardStats::add(&stats.messages_in, *count);
    ShardStats::add(&stats.bytes_in, *bytes_in);
    shard.traffic.count_in(topic, *count, *bytes_in);
    if topic.starts_with(DLQ_GROUP_TOPIC_PREFIX) {
        ShardStats::add(&stats.dead_lettered, *count);
    }
    shard.signals.fire(topic, *queue_id);
    if request.is_oneway() {
        return None;
    }
    let mut msg_ids = String::with_capacity(placed.len() * OFFSET_MESSAGE_ID_TEXT_BYTES_MAX);
    for (i, r) in placed.iter().enumerate() {
        if i > 0 {
            msg_ids.push(',');
        }
        OffsetMessageId {
            store_host: shard.store_host,
            commit_log_offset: r.physical_offset.0 as i64,
        }
        .encode_into(&mut msg_ids);
    }
    let response_header = SendMessageResponseHeader {
        msg_id: msg_ids,
        queue_id: appended.real_queue_id,
        queue_offset: placed[0].queue_offset.0 as i64,
        transaction_id: appended.transaction_id,
        batch_uniq_id: None,
        recall_handle: None,
        msg_region: Some("DefaultRegion".into()),
        trace_on: Some("true".into()),
    };
    let mut response = success(request).with_ext_fields(response_header.to_ext_fields());
    // Stored on the master but not (yet) on a slave: the producer gets
    // a full send result with this status.
    match replicated {
        Replicated::Yes => {}
        Replicated::SlaveNotAvailable => response.code = ResponseCode::SLAVE_NOT_AVAILABLE,
        Replicated::Timeout => response.code = ResponseCode::FLUSH_SLAVE_TIMEOUT,
    }
    Some(Outgoing::command(response))
}

/// Whether storing a message with these properties waits for the slave:
/// under `SYNC_MASTER`, unless `WAIT=false` (RocketMQ's
/// `isWaitStoreMsgOK`).
pub fn waits_for_slave(shard: &Shard, properties: &str) -> bool {
    shard.config.broker_role == BrokerRole::SyncMaster
        && property_value(properties, property::WAIT_STORE_MSG_OK) != Some("false")
}

/// Waits as a send does for what it appended, `stored`: the log's
/// acknowledgement (the fdatasync under `SYNC_FLUSH`) and, when
/// `wait_for_slave`, the slave's, both at once; the worse outcome answers.
pub async fn wait_stored(
    shard: &Rc<Shard>,
    stored: Range<CommitLogOffset>,
    wait_for_slave: bool,
) -> (Result<(), StoreError>, Replicated) {
    futures_lite::future::zip(shard.store.wait_acked(stored.end), async {
        if wait_for_slave {
            shard.ha_master.wait_replicated(shard, stored).await
        } else {
            Replicated::Yes
        }
    })
    .await
}

/// What [`push_stored_properties`] adds at most, beyond the cluster name:
/// a UNIQ_KEY (56 hex digits for IPv6) and the two names and separators.
const STORED_PROPERTIES_ADDED_BYTES: usize = 128;
/// An offset message id's text: 56 hex digits for an IPv6 store host.
const OFFSET_MESSAGE_ID_TEXT_BYTES_MAX: usize = 56 + 1;

/// Appends the properties a message is stored with to `out`: the client's,
/// plus a UNIQ_KEY and CLUSTER when it sent none (found in one pass).
fn push_stored_properties(shard: &Shard, client: &str, out: &mut String) {
    out.push_str(client);
    let (mut has_key, mut has_cluster) = (false, false);
    for (name, _) in iter_properties(client) {
        has_key |= name == property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX;
        has_cluster |= name == property::CLUSTER;
    }
    if !has_key {
        out.push_str(property::UNIQ_CLIENT_MESSAGE_ID_KEYIDX);
        out.push('\u{1}');
        shard.uniq.borrow_mut().next_key(now_ms()).encode_into(out);
        out.push('\u{2}');
    }
    if !has_cluster {
        let _ = write!(
            out,
            "{}\u{1}{}\u{2}",
            property::CLUSTER,
            shard.config.broker_cluster_name
        );
    }
}

async fn find_or_create_topic(
    shard: &Shard,
    name: &str,
    header: &SendMessageRequestHeader,
) -> Result<SendTopic, Refusal> {
    if let Some(t) = shard.topics.read(name, SendTopic::of) {
        return Ok(t);
    }
    // A retry or dead-letter topic belongs to a group: as RocketMQ, it is
    // created only for a group that exists (or that
    // `autoCreateSubscriptionGroup` creates now), so a client cannot make
    // topics for groups nobody configured.
    if let Some(group) = name
        .strip_prefix(RETRY_GROUP_TOPIC_PREFIX)
        .or_else(|| name.strip_prefix(DLQ_GROUP_TOPIC_PREFIX))
    {
        match shard
            .groups
            .policy(group, shard.config.live.auto_create_subscription_group())
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(Refusal::GroupNotExist(format!(
                    "subscription group {group} does not exist, so {name} is not created"
                )))
            }
            Err(e) => return Err(Refusal::InvalidParameter(e.to_string())),
        }
    }
    let created = if name.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        shard
            .topics
            .get_or_create(name, 1, PERM_READ | PERM_WRITE)
            .await
    } else if name.starts_with(DLQ_GROUP_TOPIC_PREFIX) {
        // Write-only, as RocketMQ creates dead-letter topics.
        shard.topics.get_or_create(name, 1, PERM_WRITE).await
    } else {
        let template = shard
            .topics
            .get(&header.default_topic)
            .filter(|t| shard.config.live.auto_create_topic_enable() && t.perm & PERM_INHERIT != 0);
        let Some(template) = template else {
            return Err(Refusal::TopicNotExist(format!(
                "topic[{name}] not exist, apply first please!"
            )));
        };
        let queues = header
            .default_topic_queue_nums
            .clamp(1, template.write_queue_nums.max(1));
        shard
            .topics
            .get_or_create(name, queues, template.perm & !PERM_INHERIT)
            .await
    };
    created
        .map(|t| SendTopic::of(&t))
        .map_err(|e| Refusal::System(e.to_string()))
}
