//! VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12): `spec/remoting-protocol.md`
//! §9.10. Both read whole records back from the commit log.

use std::rc::Rc;

use ringmq_engine::CommitLogOffset;
use ringmq_net::header::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use ringmq_net::server::{Handled, Outgoing};
use ringmq_net::{CommandHeader, RemotingCommand, ResponseCode};

use super::{error, parse, success};
use crate::shard::Shard;

/// `defaultQueryMaxNum`: results of a unique-key query.
const UNIQUE_KEY_QUERY_MAX: i32 = 32;

pub fn view_by_id(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: ViewMessageRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let reply = if h.offset < 0 {
            error(
                &request,
                ResponseCode::SYSTEM_ERROR,
                "negative commit-log offset",
            )
        } else {
            match shard
                .store
                .read_record(CommitLogOffset(h.offset as u64))
                .await
            {
                Ok(bytes) => success(&request).with_body(bytes),
                Err(e) => error(
                    &request,
                    ResponseCode::SYSTEM_ERROR,
                    format!("can not find message by the offset {}: {e}", h.offset),
                ),
            }
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}

pub fn query_message(shard: &Rc<Shard>, request: RemotingCommand) -> Handled {
    let h: QueryMessageRequestHeader = match parse(&request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let max = if h.unique_key_query == Some(true) {
            UNIQUE_KEY_QUERY_MAX
        } else {
            h.max_num
        };
        let found = shard
            .store
            .query_by_key(
                &h.topic,
                &h.key,
                max.max(1) as usize,
                h.begin_timestamp,
                h.end_timestamp,
            )
            .await;
        let reply = match found {
            Ok(records) if records.is_empty() => error(
                &request,
                ResponseCode::QUERY_NOT_FOUND,
                "can not find message, maybe time range not correct",
            ),
            Ok(records) => {
                let header = QueryMessageResponseHeader {
                    index_last_update_timestamp: crate::shard::now_ms(),
                    index_last_update_phyoffset: shard.store.written_offset().0 as i64,
                };
                success(&request)
                    .with_ext_fields(header.to_ext_fields())
                    .with_body(records.concat())
            }
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        };
        (!request.is_oneway()).then(|| Outgoing::command(reply))
    }))
}
