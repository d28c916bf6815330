//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), with long polling:
//! `spec/remoting-protocol.md` §9.5.
//!
//! Found messages go out as file ranges of the commit log, spliced to the
//! socket (the header comes from memory). A pull that finds nothing new and
//! may be suspended is held: it wakes when its queue gets a message (the
//! send path fires the queue's signal once the message is visible) or at
//! its timeout, and is answered with its own opaque either way.

use ringmq_engine::QueueId;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringmq_engine::{QueueOffset, QueueRead, ReadStatus};
use ringmq_net::header::{pull_sys_flag, PullMessageRequestHeader, PullMessageResponseHeader};
use ringmq_net::server::{FileSlice, Handled, Outgoing, Peer};
use ringmq_net::{CommandHeader, RemotingCommand, ResponseCode};

use super::refusal::Refusal;
use super::{error, now, parse};
use crate::clients::TagFilter;
use crate::groups::WHICH_BROKER_WHEN_CONSUME_SLOWLY_DEFAULT;
use crate::shard::{Shard, ShardStats};
use crate::topics::PERM_READ;
use crate::waiters::{HoldSlot, PULL_HELD};

/// Most messages and bytes one pull returns. The bytes bound keeps a reply
/// well inside the clients' 16 MiB frame limit.
pub const PULL_MESSAGES_MAX: u32 = 1024;
pub const PULL_BYTES_MAX: u64 = 4 << 20;
/// Most pulls one shard holds waiting for messages.
pub const PULL_HELD_MAX: usize = 10_000;
/// Longest a pull is held, whatever the client asks.
pub const SUSPEND_MS_MAX: u64 = 60_000;
/// Hold time when `longPollingEnable=false` (`shortPollingTimeMills`).
const SHORT_POLLING_MS: u64 = 1_000;

pub fn handle(shard: &Rc<Shard>, request: RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let h: PullMessageRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(reply) => return reply,
    };
    if shard.config.is_slave() && !shard.config.slave_read_enable {
        let refusal = Refusal::Busy(format!(
            "[REJECTREQUEST] {} is a SLAVE with slaveReadEnable=false; pull from the master",
            shard.broker_name
        ));
        return now(&request, refusal.reply(&request));
    }
    if let Some(refused) = super::refuse_unless_permitted(shard, &request, crate::topics::PERM_READ)
    {
        return refused;
    }
    let (filter, sql) = match admit(shard, &h).and_then(|()| filters(shard, &h)) {
        Ok(filters) => filters,
        Err(refusal) => return now(&request, refusal.reply(&request)),
    };
    // An operator reset this queue's offset for the group: the pull is
    // told where to continue (RocketMQ 5's server-side reset), and the
    // offset it carries is not committed over the reset.
    if let Some(reset) = shard
        .offsets
        .take_reset(&h.consumer_group, &h.topic, h.queue_id)
    {
        return now(&request, reset_reply(shard, &request, &h, reset));
    }
    if h.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        shard
            .offsets
            .update(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }
    let params = pull_params(&h, filter);
    let suspend = h.sys_flag & pull_sys_flag::SUSPEND != 0;
    // The queue's signal generation is taken before the first read: a
    // message stored between that read and the held pull's first wait
    // then still wakes it (taken after, that wake-up was lost and the
    // pull slept its whole suspend time).
    let signal = suspend.then(|| shard.signals.get(&h.topic, h.queue_id));
    let first_seen = signal.as_ref().map(|s| s.generation());
    let first = params.read(shard, &h);
    let steer = steer_to_master(shard, &first);
    // Held: a pull that may be suspended and found nothing new, unless a
    // slave sends it back to its master (hot data).
    let hold = suspend && !steer && is_not_found(&first, h.queue_offset);
    if sql.is_none() && !hold && spliceable(&first) {
        let out = reply(shard, &request, &h, first);
        return Handled::Now((!request.is_oneway()).then_some(out));
    }
    let hold_ms = hold_ms(shard, &h, hold);
    let held = HeldPull {
        signal: signal.unwrap_or_else(|| shard.signals.get(&h.topic, h.queue_id)),
        shard: shard.clone(),
        peer: peer.clone(),
        request,
        h,
        params,
        sql,
        hold_ms,
    };
    Handled::Later(Box::pin(held.answer(first, first_seen)))
}

/// What the pull reads: from its offset, at most the messages and bytes
/// it asks for, within the broker's limits.
fn pull_params(h: &PullMessageRequestHeader, filter: TagFilter) -> PullParams {
    let max_messages = (h.max_msg_nums.max(1) as u32).min(PULL_MESSAGES_MAX);
    let max_bytes = h
        .max_msg_bytes
        .filter(|b| *b > 0)
        .map_or(PULL_BYTES_MAX, |b| (b as u64).min(PULL_BYTES_MAX));
    PullParams {
        queue_offset: QueueOffset(h.queue_offset.max(0) as u64),
        max_messages,
        max_bytes,
        filter,
    }
}

/// How long a pull is held: 0 when it is not to be held.
fn hold_ms(shard: &Shard, h: &PullMessageRequestHeader, hold: bool) -> u64 {
    if !hold {
        0
    } else if shard.config.long_polling_enable {
        (h.suspend_timeout_millis.max(0) as u64).min(SUSPEND_MS_MAX)
    } else {
        SHORT_POLLING_MS
    }
}

/// Whether the group may pull this queue of the topic.
fn admit(shard: &Shard, h: &PullMessageRequestHeader) -> Result<(), Refusal> {
    let Some(topic) = shard.topic_for_read(&h.topic) else {
        return Err(Refusal::TopicNotExist(format!(
            "topic[{}] not exist, apply first please!",
            h.topic
        )));
    };
    if topic.perm & PERM_READ == 0 {
        return Err(Refusal::NoPermission(format!(
            "the topic {} is not readable",
            h.topic
        )));
    }
    if h.queue_id < 0 || h.queue_id >= topic.read_queue_nums {
        return Err(Refusal::InvalidParameter(format!(
            "queueId {} outside the topic's {} read queues",
            h.queue_id, topic.read_queue_nums
        )));
    }
    group_may_consume(shard, &h.consumer_group)
}

/// The pull's filters: from the pull's subscription when it carries one,
/// else from the group's heartbeat. TAG filters by the queue's tag hashes;
/// SQL92 by the stored properties (`crate::sql92`), and then reads every
/// message's tags as `*`.
fn filters(
    shard: &Shard,
    h: &PullMessageRequestHeader,
) -> Result<(TagFilter, Option<Rc<crate::sql92::SqlFilter>>), Refusal> {
    let (expression_type, expression) = if h.sys_flag & pull_sys_flag::SUBSCRIPTION != 0 {
        (
            h.expression_type.clone().unwrap_or_else(|| "TAG".into()),
            Subscribed::Text(h.subscription.clone().unwrap_or_else(|| "*".into())),
        )
    } else {
        let Some(sub) = shard.clients.subscription(&h.consumer_group, &h.topic) else {
            return Err(Refusal::SubscriptionNotExist(format!(
                "the consumer's subscription of {} by group {} does not exist (no heartbeat yet?)",
                h.topic, h.consumer_group
            )));
        };
        (
            sub.expression_type.clone().unwrap_or_else(|| "TAG".into()),
            Subscribed::Data(sub),
        )
    };
    if expression_type.eq_ignore_ascii_case("TAG") {
        let tags = match &expression {
            Subscribed::Text(t) => TagFilter::parse(t),
            Subscribed::Data(sub) => TagFilter::from_subscription(sub),
        };
        return Ok((tags.map_err(Refusal::SubscriptionParseFailed)?, None));
    }
    if !expression_type.eq_ignore_ascii_case("SQL92") {
        return Err(Refusal::SubscriptionParseFailed(format!(
            "expression type {expression_type} is not supported; use TAG or SQL92"
        )));
    }
    if !shard.config.enable_property_filter {
        return Err(Refusal::System(
            "The broker does not support consumer to filter message by SQL92 (enablePropertyFilter=false)".into(),
        ));
    }
    let text = match &expression {
        Subscribed::Text(t) => t.as_str(),
        Subscribed::Data(sub) => sub.sub_string.as_str(),
    };
    let sql = crate::sql92::compiled(shard, text).map_err(Refusal::SubscriptionParseFailed)?;
    Ok((TagFilter::parse("*").expect("* parses"), Some(sql)))
}

/// A pull answered in a task of its own: held (long polling) until a
/// message arrives, its suspend time ends or its connection closes, or
/// read into memory (SQL92 filtering, files that cannot be spliced).
struct HeldPull {
    shard: Rc<Shard>,
    peer: Rc<Peer>,
    request: RemotingCommand,
    h: PullMessageRequestHeader,
    params: PullParams,
    sql: Option<Rc<crate::sql92::SqlFilter>>,
    /// The queue's signal: fired when a message is stored in it.
    signal: Rc<crate::waiters::Signal>,
    /// 0: answered at once.
    hold_ms: u64,
}

impl HeldPull {
    /// The answer, starting from the handler's read `first` and the
    /// signal generation seen before it (if it took one).
    async fn answer(
        self,
        first: QueueRead<crate::disk::ShardFile>,
        first_seen: Option<u64>,
    ) -> Option<Outgoing> {
        let HeldPull {
            shard,
            peer,
            request,
            h,
            params,
            sql,
            signal,
            hold_ms,
        } = self;
        let deadline = Instant::now() + Duration::from_millis(hold_ms);
        let mut slot = None;
        let mut result = Some(first);
        let mut seen_before_result = first_seen;
        loop {
            // With `first`, the generation seen before it was read.
            let seen = match result.is_some() {
                true => seen_before_result
                    .take()
                    .unwrap_or_else(|| signal.generation()),
                false => signal.generation(),
            };
            let read = result.take().unwrap_or_else(|| params.read(&shard, &h));
            let left = deadline.saturating_duration_since(Instant::now());
            // Held no longer than the connection lives, and at most
            // PULL_HELD_MAX at once on a shard (past it: answered now,
            // the client pulls again).
            if slot.is_none() && !left.is_zero() {
                slot = HoldSlot::try_new(&PULL_HELD, PULL_HELD_MAX);
            }
            if let Some(reset) = reset_while_held(&shard, &peer, &request, &h) {
                return Some(Outgoing::command(reset));
            }
            let done = !is_not_found(&read, h.queue_offset) || left.is_zero() || slot.is_none();
            if done || peer.is_closed() {
                if request.is_oneway() || peer.is_closed() {
                    return None;
                }
                return Some(answer_read(&shard, &request, &h, read, sql.as_deref()).await);
            }
            // Woken by a new message, the suspend deadline, or the
            // connection closing (the slot is then given back at once).
            let until_due = async {
                glommio::timer::sleep(left).await;
            };
            futures_lite::future::or(
                signal.wait_past(seen),
                futures_lite::future::or(until_due, peer.wait_closed()),
            )
            .await;
        }
    }
}

/// An operator reset the group's offset while the pull was held: answered
/// now, so the consumer moves without waiting out the suspend time (the
/// reset fires the queue's signal). Left pending when no one would hear
/// the answer.
fn reset_while_held(
    shard: &Shard,
    peer: &Peer,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
) -> Option<RemotingCommand> {
    if request.is_oneway() || peer.is_closed() {
        return None;
    }
    let reset = shard
        .offsets
        .take_reset(&h.consumer_group, &h.topic, h.queue_id)?;
    Some(reset_reply(shard, request, h, reset))
}

/// The answer to a held pull's last read: filtered by SQL92, spliced from
/// the file, or copied when the file cannot be spliced.
async fn answer_read(
    shard: &Shard,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
    read: QueueRead<crate::disk::ShardFile>,
    sql: Option<&crate::sql92::SqlFilter>,
) -> Outgoing {
    match sql {
        Some(f) => matching(shard, request, h, read, f).await,
        None if spliceable(&read) => reply(shard, request, h, read),
        None => copied(shard, request, h, read).await,
    }
}

/// `PULL_OFFSET_MOVED` to an operator's reset offset.
fn reset_reply(
    shard: &Shard,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
    reset: i64,
) -> RemotingCommand {
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: reset,
        min_offset: shard
            .store
            .min_queue_offset(&h.topic, QueueId(h.queue_id))
            .0 as i64,
        max_offset: shard
            .store
            .max_queue_offset(&h.topic, QueueId(h.queue_id))
            .0 as i64,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    RemotingCommand::response_to(request, ResponseCode::PULL_OFFSET_MOVED)
        .with_remark("the consumer offset was reset by an admin")
        .with_ext_fields(header.to_ext_fields())
}

/// The group's subscription-group settings, as RocketMQ's pull and pop
/// processors check them: the refusal when it may not consume here.
pub(super) fn group_may_consume(shard: &Shard, group: &str) -> Result<(), Refusal> {
    let auto_create =
        shard.config.live.auto_create_subscription_group() && !shard.config.is_slave();
    match shard.groups.policy(group, auto_create) {
        Ok(Some(policy)) if !policy.consume_enable => Err(Refusal::NoPermission(format!(
            "subscription group no permission, {group}"
        ))),
        Ok(Some(policy))
            if !policy.consume_broadcast_enable && shard.clients.is_broadcasting(group) =>
        {
            Err(Refusal::NoPermission(format!(
                "the consumer group[{group}] can not consume by broadcast way"
            )))
        }
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Refusal::GroupNotExist(format!(
            "subscription group [{group}] does not exist (autoCreateSubscriptionGroup=false)"
        ))),
        Err(e) => Err(Refusal::System(e.to_string())),
    }
}

/// Where a pull's subscription came from.
enum Subscribed {
    Text(String),
    Data(crate::clients::SubscriptionData),
}

/// The reply to a SQL92 pull: the found records that match, from memory;
/// none matching is `PULL_RETRY_IMMEDIATELY` past them, as for tags.
async fn matching(
    shard: &Shard,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
    mut read: QueueRead<crate::disk::ShardFile>,
    sql: &crate::sql92::SqlFilter,
) -> Outgoing {
    if read.status != ReadStatus::Found {
        return reply(shard, request, h, read);
    }
    let bytes = match read_found(shard, &read).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Outgoing::command(error(request, ResponseCode::SYSTEM_ERROR, e.to_string()))
        }
    };
    let mut body = Vec::with_capacity(bytes.len());
    let mut count = 0u32;
    let mut at = 0usize;
    while let Some(head) = bytes.get(at..at + 4) {
        let size = u32::from_be_bytes(head.try_into().expect("4 bytes")) as usize;
        let Some(record) = bytes.get(at..at + size.max(4)) else {
            break;
        };
        at += size.max(4);
        let Some(parsed) = ringmq_net::message::stored::parse_stored(record) else {
            continue;
        };
        let props = std::str::from_utf8(parsed.properties).unwrap_or_default();
        let get = |name: &str| ringmq_net::message::properties::property_value(props, name);
        if sql.matches(&get) {
            body.extend_from_slice(record);
            count += 1;
        }
    }
    read.ranges.clear();
    read.memory_tail.clear();
    read.message_count = count;
    read.bytes = body.len() as u64;
    if count == 0 {
        read.status = ReadStatus::NoMatchedMessage;
        return reply(shard, request, h, read);
    }
    let mut out = reply(shard, request, h, read);
    out.trailer = body.into();
    out
}

/// The found records' bytes, read from their files and memory.
async fn read_found(
    shard: &Shard,
    read: &QueueRead<crate::disk::ShardFile>,
) -> Result<Vec<u8>, ringmq_engine::StoreError> {
    let mut bytes = Vec::with_capacity(read.bytes as usize);
    for r in &read.ranges {
        bytes.extend_from_slice(&shard.store.read_range(r).await?);
    }
    bytes.extend_from_slice(&read.memory_tail);
    Ok(bytes)
}

/// Whether every file range of the read can be spliced (the real disk's
/// files can; the simulated disk's have no descriptor).
fn spliceable<F: ringmq_engine::disk::DiskFile>(read: &QueueRead<F>) -> bool {
    read.ranges.iter().all(|r| r.file.raw_fd().is_some())
}

/// The reply to a read whose files cannot be spliced: its bytes copied
/// into the reply.
async fn copied(
    shard: &Shard,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
    mut read: QueueRead<crate::disk::ShardFile>,
) -> Outgoing {
    let bytes = match read_found(shard, &read).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return Outgoing::command(error(request, ResponseCode::SYSTEM_ERROR, e.to_string()))
        }
    };
    read.ranges.clear();
    read.memory_tail = bytes;
    reply(shard, request, h, read)
}

struct PullParams {
    queue_offset: QueueOffset,
    max_messages: u32,
    max_bytes: u64,
    filter: TagFilter,
}

impl PullParams {
    fn read(
        &self,
        shard: &Shard,
        h: &PullMessageRequestHeader,
    ) -> QueueRead<crate::disk::ShardFile> {
        shard.store.read_queue(
            &h.topic,
            QueueId(h.queue_id),
            self.queue_offset,
            self.max_messages,
            self.max_bytes,
            &|code| self.filter.accepts(code),
        )
    }
}

/// Nothing to return yet at this offset: the long-poll case.
fn is_not_found<F>(read: &QueueRead<F>, offset: i64) -> bool {
    match read.status {
        ReadStatus::OffsetOverflowOne => true,
        ReadStatus::NoMessageInQueue => read.next_offset.0 as i64 == offset,
        _ => false,
    }
}

fn reply<F: ringmq_engine::disk::DiskFile + 'static>(
    shard: &Shard,
    request: &RemotingCommand,
    h: &PullMessageRequestHeader,
    read: QueueRead<F>,
) -> Outgoing {
    let steer = steer_to_master(shard, &read);
    let suggest_which_broker_id = suggested_broker(shard, h, &read, steer);
    let (code, next) = code_and_next(&read, h.queue_offset);
    let code = if steer && code != ResponseCode::SUCCESS {
        ResponseCode::PULL_RETRY_IMMEDIATELY
    } else {
        code
    };
    let header = PullMessageResponseHeader {
        suggest_which_broker_id,
        next_begin_offset: next,
        min_offset: read.min_offset.0 as i64,
        max_offset: read.max_offset.0 as i64,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    let command = RemotingCommand::response_to(request, code)
        .with_remark(format!("{:?}", read.status))
        .with_ext_fields(header.to_ext_fields());
    if code != ResponseCode::SUCCESS {
        return Outgoing::command(command);
    }
    let stats = shard.my_stats();
    ShardStats::add(&stats.messages_out, u64::from(read.message_count));
    ShardStats::add(&stats.bytes_out, read.bytes);
    shard.traffic.count_out(
        &h.topic,
        &h.consumer_group,
        u64::from(read.message_count),
        read.bytes,
    );
    Outgoing {
        command,
        files: file_slices(read.ranges),
        trailer: read.memory_tail.into(),
    }
}

/// The broker the consumer should pull from next: the master (0) when the
/// read is steered there or is hot, else the group's
/// `whichBrokerWhenConsumeSlowly` when a slave may serve cold reads.
fn suggested_broker<F>(
    shard: &Shard,
    h: &PullMessageRequestHeader,
    read: &QueueRead<F>,
    steer: bool,
) -> i64 {
    if steer {
        0
    } else if shard.config.slave_read_enable && is_cold(shard, read) {
        shard
            .groups
            .policy(&h.consumer_group, false)
            .ok()
            .flatten()
            .map_or(WHICH_BROKER_WHEN_CONSUME_SLOWLY_DEFAULT, |p| {
                p.which_broker_when_consume_slowly
            })
    } else {
        0
    }
}

/// The response code of a read of queue offset `offset`, and the offset
/// the consumer pulls from next.
fn code_and_next<F>(read: &QueueRead<F>, offset: i64) -> (i32, i64) {
    match read.status {
        ReadStatus::Found => (ResponseCode::SUCCESS, read.next_offset.0 as i64),
        ReadStatus::NoMatchedMessage => (
            ResponseCode::PULL_RETRY_IMMEDIATELY,
            read.next_offset.0 as i64,
        ),
        ReadStatus::OffsetOverflowOne => (ResponseCode::PULL_NOT_FOUND, offset),
        ReadStatus::NoMessageInQueue => {
            let next = read.next_offset.0 as i64;
            if next == offset {
                (ResponseCode::PULL_NOT_FOUND, next)
            } else {
                (ResponseCode::PULL_OFFSET_MOVED, next)
            }
        }
        ReadStatus::OffsetTooSmall => (ResponseCode::PULL_OFFSET_MOVED, read.next_offset.0 as i64),
        ReadStatus::OffsetOverflowBadly => {
            (ResponseCode::PULL_OFFSET_MOVED, read.next_offset.0 as i64)
        }
    }
}

/// The read's file ranges as slices to splice; a range whose file has no
/// descriptor is left out.
fn file_slices<F: ringmq_engine::disk::DiskFile + 'static>(
    ranges: Vec<ringmq_engine::FileRange<F>>,
) -> Vec<FileSlice> {
    ranges
        .into_iter()
        .filter_map(|r| {
            let fd = r.file.raw_fd()?;
            Some(FileSlice {
                fd,
                offset: r.file_pos,
                len: r.len,
                owner: r.file,
            })
        })
        .collect()
}

/// Whether the read lies further behind the log's end than
/// `accessMessageInMemoryMaxRatio` of physical memory (likely not in the
/// page cache), as RocketMQ judges it.
fn is_cold<F>(shard: &Shard, read: &QueueRead<F>) -> bool {
    let Some(last) = read.last_physical_offset else {
        return false;
    };
    let behind = shard
        .store
        .appended_offset()
        .get()
        .saturating_sub(last.get());
    behind > physical_memory_bytes() / 100 * shard.config.access_message_in_memory_max_ratio_percent
}

/// On a slave whose master is connected: hot reads go back to the master.
fn steer_to_master<F>(shard: &Shard, read: &QueueRead<F>) -> bool {
    shard.config.is_slave() && shard.ha_slave.connected.get() && !is_cold(shard, read)
}

fn physical_memory_bytes() -> u64 {
    static BYTES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib * 1024)
            })
            .unwrap_or(u64::MAX)
    })
}
