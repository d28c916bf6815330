//! POP_MESSAGE (200050), ACK_MESSAGE (200051), BATCH_ACK_MESSAGE
//! (200151) and CHANGE_MESSAGE_INVISIBLETIME (200053) over this shard's
//! queues; the bookkeeping and the reviver are in `crate::pop`.
//!
//! A pop takes messages from one queue or (queue id -1) from all of the
//! topic's queues on this shard, round robin, and from the group's POP
//! retry topic: first one time in five, as RocketMQ does, else after the
//! topic's queues. The offsets are taken before the records are read, so
//! two pops of one queue never return the same message. A pop that finds
//! nothing is held up to its `pollTime` and woken by a message on any of
//! the queues.
//!
//! The reply carries the records as PULL does, from memory (a pop is a
//! small batch and spans queues), and says per queue where the pop
//! started and which offsets it returned (`startOffsetInfo`,
//! `msgOffsetInfo`); the client builds each message's `POP_CK` from them.

use ringmq_engine::QueueId;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringmq_engine::{CommitLogOffset, QueueOffset};
use ringmq_net::header::{
    AckMessageRequestHeader, BatchAckMessageRequestBody, ChangeInvisibleTimeRequestHeader,
    ChangeInvisibleTimeResponseHeader, PopMessageRequestHeader, PopMessageResponseHeader,
};
use ringmq_net::server::{Handled, Outgoing, Peer};
use ringmq_net::{CommandHeader, RemotingCommand, ResponseCode};

use super::pull::{group_may_consume, PULL_BYTES_MAX, PULL_MESSAGES_MAX, SUSPEND_MS_MAX};
use super::refusal::Refusal;
use super::{error, forward, now, parse, refuse_on_slave, success};
use crate::clients::TagFilter;
use crate::pop::{
    acked_topic, record_commit, retry_topic, PopKey, INVISIBLE_MS_MAX, INVISIBLE_MS_MIN,
};
use crate::schedule::read_records;
use crate::shard::{now_ms, Shard, ShardStats};
use crate::topics::PERM_READ;
use crate::waiters::{HoldSlot, ANY_QUEUE, POP_HELD};

/// Most queue entries one pop looks at in one queue (tag-filtered ones
/// included).
const POP_SCAN_ENTRIES_MAX: usize = 4_096;
/// Most pops one shard holds waiting for messages; past it a pop that
/// finds nothing is answered `POLLING_FULL` at once.
pub const POP_HELD_MAX: usize = 10_000;
/// Reported as the revive queue: RingMQ revives from one in-memory index.
const REVIVE_QID: i32 = 0;
/// One pop in this many reads the retry topic first.
const RETRY_FIRST_ONE_IN: u32 = 5;

pub fn pop(shard: &Rc<Shard>, request: RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let h: PopMessageRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(reply) => return reply,
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "pops") {
        return refused;
    }
    if let Some(refused) = super::refuse_unless_permitted(shard, &request, crate::topics::PERM_READ)
    {
        return refused;
    }
    if request.is_oneway() {
        // Nobody would receive what it takes.
        return Handled::Now(None);
    }
    let params = match pop_params(shard, &h) {
        Ok(p) => Rc::new(p),
        Err(refusal) => return now(&request, refusal.reply(&request)),
    };
    Handled::Later(Box::pin(hold(
        shard.clone(),
        request,
        peer.clone(),
        h,
        params,
    )))
}

/// Pops until messages are found, the poll time runs out or too many pops
/// are held; answers nothing when the client left meanwhile.
async fn hold(
    shard: Rc<Shard>,
    request: RemotingCommand,
    peer: Rc<Peer>,
    h: PopMessageRequestHeader,
    params: Rc<PopParams>,
) -> Option<Outgoing> {
    let deadline = Instant::now() + Duration::from_millis(params.poll_ms);
    let mut held = None;
    let reply = loop {
        if peer.is_closed() {
            // Messages taken now would be hidden from everyone.
            return None;
        }
        let topic_signal = shard.signals.get(&h.topic, ANY_QUEUE);
        // A signal is kept per topic named: only for a retry topic
        // that exists.
        let retry_signal = shard
            .topics
            .get(&params.retry_topic)
            .map(|_| shard.signals.get(&params.retry_topic, ANY_QUEUE));
        let seen = (
            topic_signal.generation(),
            retry_signal.as_ref().map(|s| s.generation()),
        );
        match pop_once(&shard, &h, &params).await {
            Ok(Some((header, body))) => {
                break success(&request)
                    .with_ext_fields(header.to_ext_fields())
                    .with_body(body)
            }
            Ok(None) => {}
            Err(refusal) => break not_found(&request, &params, &refusal),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let nothing = Refusal::PollingTimeout("no new message".into());
            break not_found(&request, &params, &nothing);
        }
        if held.is_none() {
            held = HoldSlot::try_new(&POP_HELD, POP_HELD_MAX);
            if held.is_none() {
                let full =
                    Refusal::PollingFull(format!("{POP_HELD_MAX} pops already held on this shard"));
                break not_found(&request, &params, &full);
            }
        }
        let retry_wait = async {
            match (&retry_signal, seen.1) {
                (Some(s), Some(g)) => s.wait_past(g).await,
                _ => std::future::pending().await,
            }
        };
        futures_lite::future::or(
            futures_lite::future::or(topic_signal.wait_past(seen.0), retry_wait),
            async {
                glommio::timer::sleep(left).await;
            },
        )
        .await;
    };
    Some(Outgoing::command(reply))
}

struct PopParams {
    queues: Vec<i32>,
    retry_topic: String,
    filter: TagFilter,
    max_messages: usize,
    invisible_ms: i64,
    poll_ms: u64,
}

fn pop_params(shard: &Shard, h: &PopMessageRequestHeader) -> Result<PopParams, Refusal> {
    let topic = shard.topics.get(&h.topic).ok_or_else(|| {
        Refusal::TopicNotExist(format!("topic[{}] not exist, apply first please!", h.topic))
    })?;
    if topic.perm & PERM_READ == 0 {
        return Err(Refusal::NoPermission(format!(
            "the topic {} is not readable",
            h.topic
        )));
    }
    let queues: Vec<i32> = if h.queue_id < 0 {
        let n = topic.read_queue_nums.max(0);
        let start = shard.next_pop_queue.get();
        shard.next_pop_queue.set(start.wrapping_add(1));
        (0..n)
            .map(|i| ((i64::from(start) + i64::from(i)) % i64::from(n)) as i32)
            .collect()
    } else if h.queue_id < topic.read_queue_nums {
        vec![h.queue_id]
    } else {
        return Err(Refusal::InvalidParameter(format!(
            "queueId {} outside the topic's {} read queues",
            h.queue_id, topic.read_queue_nums
        )));
    };
    if !(INVISIBLE_MS_MIN..=INVISIBLE_MS_MAX).contains(&h.invisible_time) {
        return Err(Refusal::InvalidParameter(format!(
            "invisibleTime {} ms outside {INVISIBLE_MS_MIN}..={INVISIBLE_MS_MAX}",
            h.invisible_time
        )));
    }
    if h.order == Some(true) {
        return Err(Refusal::InvalidParameter(
            "orderly POP is not supported; consume ordered topics by PULL".into(),
        ));
    }
    group_may_consume(shard, &h.consumer_group)?;
    let expression_type = h.exp_type.as_deref().unwrap_or("TAG");
    if !expression_type.eq_ignore_ascii_case("TAG") {
        return Err(Refusal::SubscriptionParseFailed(format!(
            "expression type {expression_type} is not supported; use TAG"
        )));
    }
    let filter = TagFilter::parse(h.exp.as_deref().unwrap_or("*"))
        .map_err(Refusal::SubscriptionParseFailed)?;
    Ok(PopParams {
        queues,
        retry_topic: retry_topic(&h.consumer_group, &h.topic),
        filter,
        max_messages: h.max_msg_nums.clamp(1, PULL_MESSAGES_MAX as i32) as usize,
        invisible_ms: h.invisible_time,
        poll_ms: (h.poll_time.max(0) as u64).min(SUSPEND_MS_MAX),
    })
}

/// The messages one queue gave a pop.
struct Taken {
    retry: bool,
    queue_id: i32,
    key: PopKey,
    /// (queue offset, commit-log offset)
    offsets: Vec<(u64, u64)>,
}

/// One attempt: takes what the queues have, reads it, and builds the
/// reply. None when nothing was there.
async fn pop_once(
    shard: &Rc<Shard>,
    h: &PopMessageRequestHeader,
    params: &PopParams,
) -> Result<Option<(PopMessageResponseHeader, Vec<u8>)>, Refusal> {
    let pop_time = now_ms();
    let sources = sources(shard, h, params);
    let want = params.max_messages.min(shard.pop.room());
    if want == 0 {
        return Err(Refusal::PollingFull(format!(
            "{} messages in flight on this shard",
            shard.pop.inflight_count()
        )));
    }
    let starts = start_offsets(shard, h, sources)?;
    let (taken, rest) = take(shard, params, starts, want, pop_time);
    if taken.is_empty() {
        return Ok(None);
    }
    let Some(popped) = read_taken(shard, &taken).await else {
        return Ok(None);
    };
    let stats = shard.my_stats();
    let bytes = popped.body.len() as u64;
    ShardStats::add(&stats.messages_out, popped.count);
    ShardStats::add(&stats.bytes_out, bytes);
    shard
        .traffic
        .count_out(&h.topic, &h.consumer_group, popped.count, bytes);
    let header = PopMessageResponseHeader {
        pop_time,
        invisible_time: params.invisible_ms,
        revive_qid: REVIVE_QID,
        rest_num: rest as i64,
        start_offset_info: Some(popped.start_info.join(";")),
        msg_offset_info: Some(popped.offset_info.join(";")),
        order_count_info: None,
    };
    Ok(Some((header, popped.body)))
}

/// The queues one attempt reads, as (topic, queue id, is the retry
/// topic): the pop's queues, and the group's retry topic first one attempt
/// in [`RETRY_FIRST_ONE_IN`], last otherwise.
fn sources<'p>(
    shard: &Shard,
    h: &'p PopMessageRequestHeader,
    params: &'p PopParams,
) -> Vec<(&'p str, i32, bool)> {
    let mut sources: Vec<(&str, i32, bool)> = params
        .queues
        .iter()
        .map(|q| (h.topic.as_str(), *q, false))
        .collect();
    // Advances on every attempt, so the retry topic comes first one
    // attempt in five whatever queues the pops name.
    let n = shard.pop_round.get();
    shard.pop_round.set(n.wrapping_add(1));
    if shard.topics.get(&params.retry_topic).is_some() {
        let at = if n.is_multiple_of(RETRY_FIRST_ONE_IN) {
            0
        } else {
            sources.len()
        };
        sources.insert(at, (params.retry_topic.as_str(), 0, true));
    }
    sources
}

/// A source and the queue offset its next pop starts at.
struct Start<'p> {
    topic: &'p str,
    queue_id: i32,
    retry: bool,
    key: PopKey,
    next: u64,
}

/// Every source's next offset, before anything is taken, so a refusal
/// leaves nothing taken. A queue the group never popped starts at its
/// committed offset, or where the pop asked (`initMode`); that start is
/// recorded as its progress at once, also across a restart.
fn start_offsets<'p>(
    shard: &Shard,
    h: &PopMessageRequestHeader,
    sources: Vec<(&'p str, i32, bool)>,
) -> Result<Vec<Start<'p>>, Refusal> {
    let group = &h.consumer_group;
    let store = &shard.store;
    let mut starts = Vec::with_capacity(sources.len());
    for (topic, queue_id, retry) in sources {
        let key: PopKey = (group.clone(), topic.to_string(), queue_id);
        // An operator reset the group's offset here: pops start over from
        // it (stored by the reset), as RocketMQ 5 clears its pop state.
        if shard.offsets.take_reset(group, topic, queue_id).is_some() {
            shard.pop.forget_queue(&key);
        }
        let mut initialised = false;
        let next = shard
            .pop
            .next_offset(&key, || {
                initialised = true;
                let min = store.min_queue_offset(topic, QueueId(queue_id)).0;
                let max = store.max_queue_offset(topic, QueueId(queue_id)).0;
                match shard.offsets.get(group, topic, queue_id) {
                    Some(o) if o >= 0 => (o as u64).clamp(min, max),
                    // A new group starts where it asked; a retry topic
                    // always at its start.
                    _ if retry || h.init_mode == 0 => min,
                    _ => max,
                }
            })
            .map_err(|e| Refusal::PollingFull(format!("pop state full on this shard: {e:?}")))?;
        if initialised {
            record_commit(shard, &key, next);
        }
        starts.push(Start {
            topic,
            queue_id,
            retry,
            key,
            next,
        });
    }
    Ok(starts)
}

/// Takes up to `want` messages the filter accepts, within
/// [`PULL_BYTES_MAX`] (the first message always), from the sources in
/// order, and marks them in flight until `pop_time + invisibleTime`.
/// Returns what was taken and how many messages the sources hold beyond.
/// Synchronous: no other pop runs between reading a queue's next offset
/// and moving it.
fn take(
    shard: &Shard,
    params: &PopParams,
    starts: Vec<Start<'_>>,
    mut want: usize,
    pop_time: i64,
) -> (Vec<Taken>, u64) {
    let store = &shard.store;
    let deadline = pop_time + params.invisible_ms;
    let mut taken: Vec<Taken> = Vec::new();
    let mut rest: u64 = 0;
    let mut bytes_left = PULL_BYTES_MAX;
    for Start {
        topic,
        queue_id,
        retry,
        key,
        next,
    } in starts
    {
        let max = store.max_queue_offset(topic, QueueId(queue_id)).0;
        if want == 0 {
            rest += max.saturating_sub(next);
            continue;
        }
        let (first, entries) = store.queue_entries(
            topic,
            QueueId(queue_id),
            QueueOffset(next),
            POP_SCAN_ENTRIES_MAX,
        );
        let mut offsets = Vec::new();
        let mut scanned_to = first.0;
        for (i, e) in entries.iter().enumerate() {
            let first_message = taken.is_empty() && offsets.is_empty();
            let fits = u64::from(e.size_bytes) <= bytes_left || first_message;
            if offsets.len() >= want || (!fits && params.filter.accepts(e.tags_code)) {
                break;
            }
            scanned_to = first.0 + i as u64 + 1;
            if params.filter.accepts(e.tags_code) {
                offsets.push((first.0 + i as u64, e.commit_log_offset.0));
                bytes_left = bytes_left.saturating_sub(u64::from(e.size_bytes));
            }
        }
        if scanned_to != next || !offsets.is_empty() {
            let commit = shard
                .pop
                .take(&key, &offsets, scanned_to, pop_time, deadline);
            record_commit(shard, &key, commit);
        }
        rest += max.saturating_sub(scanned_to);
        want -= offsets.len();
        if !offsets.is_empty() {
            taken.push(Taken {
                retry,
                queue_id,
                key,
                offsets,
            });
        }
    }
    (taken, rest)
}

/// What one attempt returns.
struct Popped {
    /// The records, as a pull body.
    body: Vec<u8>,
    /// Per queue: `<retry> <queueId> <first offset>`.
    start_info: Vec<String>,
    /// Per queue: `<retry> <queueId> <offset>,<offset>...`.
    offset_info: Vec<String>,
    count: u64,
}

/// Reads the taken records. One that cannot be read stays in flight and
/// is revived at its deadline. None when none could be read.
async fn read_taken(shard: &Shard, taken: &[Taken]) -> Option<Popped> {
    let all: Vec<CommitLogOffset> = taken
        .iter()
        .flat_map(|t| t.offsets.iter().map(|(_, c)| CommitLogOffset(*c)))
        .collect();
    let mut records = read_records(shard, &all).await.into_iter();
    let mut popped = Popped {
        body: Vec::new(),
        start_info: Vec::new(),
        offset_info: Vec::new(),
        count: 0,
    };
    for t in taken {
        let mut returned = Vec::new();
        for &(offset, _) in &t.offsets {
            let record = records.next().expect("one read per offset");
            match record {
                // Sized by the queue entries when taken: within the bound.
                Ok(bytes) => {
                    popped.body.extend_from_slice(&bytes);
                    returned.push(offset);
                }
                Err(e) => {
                    tracing::warn!(shard = %shard.id, topic = %t.key.1, offset, error = %e, "popped message unreadable; revived at its deadline");
                }
            }
        }
        if let Some(first) = returned.first() {
            let marker = if t.retry { "1" } else { "0" };
            popped
                .start_info
                .push(format!("{marker} {} {first}", t.queue_id));
            // One queue's offsets are joined by `,` (Java's and the
            // client's parser); rocketmq-rust's broker joins them by `;`,
            // which its own client cannot parse.
            let list: Vec<String> = returned.iter().map(u64::to_string).collect();
            popped
                .offset_info
                .push(format!("{marker} {} {}", t.queue_id, list.join(",")));
            popped.count += returned.len() as u64;
        }
    }
    (popped.count > 0).then_some(popped)
}

/// The reply of a pop that found nothing: rocketmq-client-rust decodes the
/// pop header whatever the code, so it is always there.
fn not_found(request: &RemotingCommand, params: &PopParams, refusal: &Refusal) -> RemotingCommand {
    let header = PopMessageResponseHeader {
        pop_time: now_ms(),
        invisible_time: params.invisible_ms,
        revive_qid: REVIVE_QID,
        rest_num: 0,
        start_offset_info: None,
        msg_offset_info: None,
        order_count_info: None,
    };
    refusal
        .reply(request)
        .with_ext_fields(header.to_ext_fields())
}

/// Ends the flight of acknowledged messages; how many were in flight.
fn ack_offsets(shard: &Shard, key: &PopKey, offsets: impl Iterator<Item = i64>) -> u64 {
    let mut acked = 0;
    let mut commit = None;
    for offset in offsets.filter(|o| *o >= 0) {
        if let Some(c) = shard.pop.finish(key, offset as u64) {
            commit = Some(c);
            acked += 1;
        }
    }
    if let Some(c) = commit {
        record_commit(shard, key, c);
    }
    ShardStats::add(&shard.my_stats().pop_acked, acked);
    acked
}

pub fn ack(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: AckMessageRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(reply) => return reply,
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "acks") {
        return refused;
    }
    let key = (h.consumer_group, h.topic, h.queue_id);
    // An ack of a message no longer in flight (revived, or acknowledged
    // before) succeeds, as RocketMQ's does: there is nothing left to do.
    ack_offsets(shard, &key, std::iter::once(h.offset));
    now(&request, success(&request))
}

pub fn batch_ack(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let body = match BatchAckMessageRequestBody::from_json(&request.body) {
        Ok(b) => b,
        Err(e) => {
            return now(
                &request,
                error(&request, ResponseCode::INVALID_PARAMETER, e.to_string()),
            )
        }
    };
    // No header names the shard: the body does.
    if let Some(other) = Some(body.broker_name.as_str())
        .filter(|b| !b.is_empty() && *b != shard.broker_name)
        .and_then(|b| shard.shard_of_broker_name(b))
    {
        return forward(shard, other, request);
    }
    if let Some(refused) = refuse_on_slave(shard, &request, "acks") {
        return refused;
    }
    for a in &body.acks {
        let Some(topic) = acked_topic(&a.c, &a.t, &a.r) else {
            return now(
                &request,
                error(
                    &request,
                    ResponseCode::INVALID_PARAMETER,
                    format!("retry marker {:?} is none of 0, 1, 2", a.r),
                ),
            );
        };
        // Cost bounded by what is in flight, not by the bitmap's size.
        let key = (a.c.clone(), topic, a.q);
        let span = a.span();
        let (Ok(from), Ok(to)) = (u64::try_from(span.start), u64::try_from(span.end)) else {
            continue;
        };
        let acked: Vec<i64> = shard
            .pop
            .inflight_in(&key, from, to)
            .into_iter()
            .map(|o| o as i64)
            .filter(|o| a.acks(*o))
            .collect();
        ack_offsets(shard, &key, acked.into_iter());
    }
    now(&request, success(&request))
}

pub fn change_invisible_time(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: ChangeInvisibleTimeRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(reply) => return reply,
    };
    if let Some(refused) = refuse_on_slave(shard, &request, "invisible-time changes") {
        return refused;
    }
    if !(INVISIBLE_MS_MIN..=INVISIBLE_MS_MAX).contains(&h.invisible_time) || h.offset < 0 {
        // With the header: the client decodes it before the code.
        let header = ChangeInvisibleTimeResponseHeader {
            pop_time: now_ms(),
            invisible_time: h.invisible_time,
            revive_qid: REVIVE_QID,
        };
        return now(
            &request,
            error(
                &request,
                ResponseCode::INVALID_PARAMETER,
                format!(
                    "invisibleTime {} ms outside {INVISIBLE_MS_MIN}..={INVISIBLE_MS_MAX}, or offset {} negative",
                    h.invisible_time, h.offset
                ),
            )
            .with_ext_fields(header.to_ext_fields()),
        );
    }
    let pop_time = now_ms();
    let key = (h.consumer_group, h.topic, h.queue_id);
    if !shard
        .pop
        .change_deadline(&key, h.offset as u64, pop_time + h.invisible_time)
    {
        // Acknowledged or already revived: nothing is hidden any more.
        tracing::debug!(shard = %shard.id, topic = %key.1, offset = h.offset, "invisible-time change of a message not in flight");
    }
    let header = ChangeInvisibleTimeResponseHeader {
        pop_time,
        invisible_time: h.invisible_time,
        revive_qid: REVIVE_QID,
    };
    now(
        &request,
        success(&request).with_ext_fields(header.to_ext_fields()),
    )
}
