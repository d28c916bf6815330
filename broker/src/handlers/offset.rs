//! Consumer offsets (14, 15) and queue offset queries (29–32):
//! `spec/remoting-protocol.md` §9.6 and §9.9.

use ringmq_engine::QueueId;
use std::rc::Rc;

use ringmq_engine::TimeBoundary;
use ringmq_net::header::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMinOffsetRequestHeader, OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use ringmq_net::server::{Handled, Outgoing};
use ringmq_net::{CommandHeader, RemotingCommand, ResponseCode};

use super::{error, now, parse, success};
use crate::shard::Shard;

fn offset_reply(request: &RemotingCommand, offset: i64) -> Handled {
    now(
        request,
        success(request).with_ext_fields(OffsetResponseHeader { offset }.to_ext_fields()),
    )
}

pub fn query_consumer_offset(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: QueryConsumerOffsetRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if let Some(offset) = shard.offsets.get(&h.consumer_group, &h.topic, h.queue_id) {
        return offset_reply(request, offset);
    }
    // RocketMQ answers 0 for a group new to a queue whose first message is
    // still at offset 0, so a new group starts from the beginning of a young
    // queue even with CONSUME_FROM_LAST_OFFSET (§9.6). "Still in memory" is
    // taken as true: the page cache usually holds it and we cannot cheaply
    // tell.
    let min = shard.store.min_queue_offset(&h.topic, QueueId(h.queue_id));
    if h.set_zero_if_not_found != Some(false) && min.0 == 0 {
        return offset_reply(request, 0);
    }
    now(
        request,
        error(
            request,
            ResponseCode::QUERY_NOT_FOUND,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        ),
    )
}

pub fn update_consumer_offset(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: UpdateConsumerOffsetRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if shard.topic_for_read(&h.topic).is_none() {
        return now(
            &request,
            error(
                &request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic {} does not exist", h.topic),
            ),
        );
    }
    if h.commit_offset < 0 {
        return now(
            &request,
            error(
                &request,
                ResponseCode::INVALID_PARAMETER,
                "commitOffset must not be negative",
            ),
        );
    }
    if shard
        .offsets
        .reset_pending(&h.consumer_group, &h.topic, h.queue_id)
    {
        // The consumer has not pulled since an operator reset this queue:
        // its position is stale. Acknowledged and ignored, as RocketMQ 5.
        return now(
            &request,
            success(&request).with_remark("Offset has been previously reset"),
        );
    }
    let Some(version) =
        shard
            .offsets
            .update(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset)
    else {
        return now(
            &request,
            error(
                &request,
                ResponseCode::SYSTEM_ERROR,
                "consumer offset table is full",
            ),
        );
    };
    if request.is_oneway() {
        return Handled::Now(None);
    }
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let reply = match shard.offsets.wait_durable(version).await {
            Ok(()) => success(&request),
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        Some(Outgoing::command(reply))
    }))
}

pub fn max_offset(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: GetMaxOffsetRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    offset_reply(
        request,
        shard
            .store
            .max_queue_offset(&h.topic, QueueId(h.queue_id))
            .0 as i64,
    )
}

pub fn min_offset(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: GetMinOffsetRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    offset_reply(
        request,
        shard
            .store
            .min_queue_offset(&h.topic, QueueId(h.queue_id))
            .0 as i64,
    )
}

pub fn search_by_time(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: SearchOffsetRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let boundary = match h
        .boundary_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("lower") => TimeBoundary::Lower,
        Some("upper") => TimeBoundary::Upper,
        Some(other) => {
            return now(
                &request,
                error(
                    &request,
                    ResponseCode::INVALID_PARAMETER,
                    format!("boundaryType {other:?} is not lower or upper"),
                ),
            )
        }
    };
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let found = shard
            .store
            .offset_by_time(&h.topic, QueueId(h.queue_id), h.timestamp, boundary)
            .await;
        let reply = match found {
            Ok(o) => success(&request)
                .with_ext_fields(OffsetResponseHeader { offset: o.0 as i64 }.to_ext_fields()),
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}

pub fn earliest_store_time(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: GetEarliestMsgStoretimeRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let reply = match shard
            .store
            .earliest_store_time(&h.topic, QueueId(h.queue_id))
            .await
        {
            Ok(t) => success(&request).with_ext_fields(
                GetEarliestMsgStoretimeResponseHeader {
                    timestamp: t.unwrap_or(-1),
                }
                .to_ext_fields(),
            ),
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}
