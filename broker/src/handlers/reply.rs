//! SEND_REPLY_MESSAGE (324, and 325 with V2 keys): request-reply. A
//! responder sends its reply to `<cluster>_REPLY_TOPIC` with
//! `REPLY_TO_CLIENT` naming the requester's client id; the broker pushes it
//! to that client's connection (PUSH_REPLY_MESSAGE_TO_CLIENT, 326, oneway:
//! the client matches it to its waiting `request()` by `CORRELATION_ID`)
//! and stores it as a send would (`storeReplyMessageEnable`, RocketMQ's
//! default). The requester must be connected to this shard: its heartbeats
//! reach every shard its routes name.

use std::rc::Rc;

use ringmq_net::command::ExtFields;
use ringmq_net::header::SendMessageRequestHeader;
use ringmq_net::message::properties::property_value;
use ringmq_net::message::property;
use ringmq_net::server::{Handled, Peer};
use ringmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::{error, now};
use crate::shard::{now_ms, Shard};

pub async fn handle(shard: &Rc<Shard>, request: RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let fail = |code: i32, remark: String| now(&request, error(&request, code, remark));
    let header = match SendMessageRequestHeader::from_command(request.code, &request.ext_fields) {
        Ok(h) => h,
        Err(e) => return fail(ResponseCode::INVALID_PARAMETER, e.to_string()),
    };
    let props = header.properties.clone().unwrap_or_default();
    let Some(client) = property_value(&props, property::MESSAGE_REPLY_TO_CLIENT) else {
        return fail(
            ResponseCode::INVALID_PARAMETER,
            "a reply message needs REPLY_TO_CLIENT".into(),
        );
    };
    let Some(requester) = shard.clients.peer_of_client(client) else {
        return fail(
            ResponseCode::SYSTEM_ERROR,
            format!("push reply message fail, channel of <{client}> not found"),
        );
    };
    let pushed_at = now_ms().to_string();
    let push_props = crate::schedule::rewrite_properties(
        &props,
        &[property::PUSH_REPLY_TIME],
        &[(property::PUSH_REPLY_TIME, pushed_at.as_str())],
    );
    let mut ext = ExtFields::new();
    for (k, v) in [
        ("producerGroup", header.producer_group.clone()),
        ("topic", header.topic.clone()),
        ("defaultTopic", header.default_topic.clone()),
        (
            "defaultTopicQueueNums",
            header.default_topic_queue_nums.to_string(),
        ),
        ("queueId", header.queue_id.max(0).to_string()),
        ("sysFlag", header.sys_flag.to_string()),
        ("bornTimestamp", header.born_timestamp.to_string()),
        ("flag", header.flag.to_string()),
        ("properties", push_props),
        (
            "reconsumeTimes",
            header.reconsume_times.unwrap_or(0).to_string(),
        ),
        ("unitMode", "false".into()),
        ("bornHost", peer.addr.to_string()),
        ("storeHost", shard.store_host.to_string()),
        ("storeTimestamp", now_ms().to_string()),
    ] {
        ext.insert(k.to_string(), v);
    }
    let push = RemotingCommand::request(RequestCode::PUSH_REPLY_MESSAGE_TO_CLIENT, ext)
        .with_body(request.body.clone());
    if !requester.notify_oneway(push) {
        return fail(
            ResponseCode::SYSTEM_ERROR,
            format!("push reply message fail, the connection of <{client}> is full or closed"),
        );
    }
    super::send::handle(shard, request, peer).await
}
