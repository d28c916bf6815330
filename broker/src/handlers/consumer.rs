//! Client membership: HEART_BEAT (34), UNREGISTER_CLIENT (35),
//! GET_CONSUMER_LIST_BY_GROUP (38), LOCK/UNLOCK_BATCH_MQ (41/42),
//! CHECK_CLIENT_CONFIG (46), GET_CONSUMER_CONNECTION_LIST (203):
//! `spec/remoting-protocol.md` §9.7, §9.8, §9.13.

use std::rc::Rc;

use ringmq_net::header::{
    ConsumerListBody, LockBatchRequestBody, LockBatchResponseBody, MessageQueue,
    UnlockBatchRequestBody,
};
use ringmq_net::header::{GetConsumerListByGroupRequestHeader, UnregisterClientRequestHeader};
use ringmq_net::server::{Handled, Peer};
use ringmq_net::{RemotingCommand, ResponseCode};

use super::{error, json_body, later, now, parse, required, success};
use crate::clients::HeartbeatData;
use crate::shard::Shard;
use crate::topics::{PERM_READ, PERM_WRITE, RETRY_GROUP_TOPIC_PREFIX};

/// Longest client id a heartbeat may carry.
pub const CLIENT_ID_BYTES_MAX: usize = 256;

pub fn heartbeat(shard: &Rc<Shard>, request: &RemotingCommand, peer: &Rc<Peer>) -> Handled {
    let data = match checked_heartbeat(shard, request, peer) {
        Ok(data) => data,
        Err(refused) => return now(request, refused),
    };
    peer.set_client_version(request.language, request.version);
    let groups = match shard.clients.heartbeat(peer, &data) {
        Ok(g) => g,
        Err(e) => {
            return now(
                request,
                error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
            )
        }
    };
    let retry_topics = missing_retry_topics(shard, groups);
    // The response's `version` (our MQVersion ordinal) is what clients
    // record as the broker version.
    if retry_topics.is_empty() {
        return now(request, success(request));
    }
    let (shard, reply) = (shard.clone(), success(request));
    later(request.is_oneway(), async move {
        for (retry, queues) in retry_topics {
            let created = shard
                .topics
                .get_or_create(&retry, queues, PERM_READ | PERM_WRITE)
                .await;
            if let Err(e) = created {
                tracing::warn!(topic = retry, error = %e, "cannot create a group's retry topic");
            }
        }
        reply
    })
}

/// The heartbeat's body, or the error reply refusing it: a body that does
/// not parse, a group name RocketMQ refuses, no client id or one too long.
fn checked_heartbeat(
    shard: &Shard,
    request: &RemotingCommand,
    peer: &Peer,
) -> Result<HeartbeatData, RemotingCommand> {
    let data: HeartbeatData = match serde_json::from_slice(&request.body) {
        Ok(d) => d,
        Err(e) => {
            let head =
                String::from_utf8_lossy(&request.body[..request.body.len().min(512)]).into_owned();
            tracing::warn!(shard = %shard.id, peer = %peer.addr, error = %e, body = %head, "heartbeat refused");
            return Err(error(
                request,
                ResponseCode::INVALID_PARAMETER,
                format!("heartbeat body: {e}"),
            ));
        }
    };
    // Group names follow RocketMQ's rule (its clients check it too); client
    // ids (`ip@instance`) only have a length bound.
    let bad_group = data
        .consumer_data_set
        .iter()
        .map(|c| c.group_name.as_str())
        .chain(data.producer_data_set.iter().map(|p| p.group_name.as_str()))
        .find_map(|g| crate::groups::validate_group_name(g).err());
    if let Some(e) = bad_group {
        tracing::warn!(shard = %shard.id, peer = %peer.addr, error = %e, "heartbeat refused");
        return Err(error(
            request,
            ResponseCode::INVALID_PARAMETER,
            e.to_string(),
        ));
    }
    if data.client_id.len() > CLIENT_ID_BYTES_MAX {
        return Err(error(
            request,
            ResponseCode::INVALID_PARAMETER,
            format!("clientID longer than {CLIENT_ID_BYTES_MAX} bytes"),
        ));
    }
    if data.client_id.is_empty() {
        return Err(error(
            request,
            ResponseCode::INVALID_PARAMETER,
            "heartbeat without clientID",
        ));
    }
    Ok(data)
}

/// A group's first heartbeat creates its subscription group (when
/// `autoCreateSubscriptionGroup`) and its retry topic, with the group's
/// retry queue count (none: no retry topic, as RocketMQ). Returns the
/// retry topics of `groups` that do not exist yet, with their queue
/// counts; they are created (and saved) before the reply.
fn missing_retry_topics(shard: &Shard, groups: Vec<String>) -> Vec<(String, i32)> {
    let mut retry_topics = Vec::new();
    for group in groups {
        let policy = match shard
            .groups
            .policy(&group, shard.config.live.auto_create_subscription_group())
        {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(group, error = %e, "cannot create the subscription group");
                continue;
            }
        };
        if policy.retry_queue_nums <= 0 {
            continue;
        }
        let retry = format!("{RETRY_GROUP_TOPIC_PREFIX}{group}");
        if shard.topics.get(&retry).is_none() {
            retry_topics.push((retry, policy.retry_queue_nums));
        }
    }
    retry_topics
}

pub fn unregister(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: UnregisterClientRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    shard.clients.unregister(
        &h.client_id,
        h.consumer_group.as_deref(),
        h.producer_group.as_deref(),
    );
    now(request, success(request))
}

pub fn consumer_list(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: GetConsumerListByGroupRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let ids = shard.clients.consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        return now(
            request,
            error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("no consumer for this group, {}", h.consumer_group),
            ),
        );
    }
    let body = ConsumerListBody {
        consumer_id_list: ids,
    };
    now(
        request,
        success(request).with_body(serde_json::to_vec(&body).expect("serializes")),
    )
}

fn queues_of_this_shard(shard: &Shard, mq_set: &[MessageQueue]) -> Vec<(String, i32)> {
    mq_set
        .iter()
        .filter(|q| q.broker_name == shard.broker_name)
        .map(|q| (q.topic.clone(), q.queue_id))
        .collect()
}

pub fn lock(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let body = match LockBatchRequestBody::from_json(&request.body) {
        Ok(b) => b,
        Err(e) => {
            return now(
                request,
                error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
            )
        }
    };
    let (Some(group), Some(client)) = (body.consumer_group.as_deref(), body.client_id.as_deref())
    else {
        return now(
            request,
            error(
                request,
                ResponseCode::INVALID_PARAMETER,
                "consumerGroup and clientId are required",
            ),
        );
    };
    let granted = shard
        .clients
        .lock(group, &queues_of_this_shard(shard, &body.mq_set), client);
    let reply = LockBatchResponseBody {
        lock_ok_mq_set: granted
            .into_iter()
            .map(|(topic, queue_id)| MessageQueue {
                broker_name: shard.broker_name.clone(),
                queue_id,
                topic,
            })
            .collect(),
    };
    now(
        request,
        success(request).with_body(serde_json::to_vec(&reply).expect("serializes")),
    )
}

pub fn unlock(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let body = match UnlockBatchRequestBody::from_json(&request.body) {
        Ok(b) => b,
        Err(e) => {
            return now(
                request,
                error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
            )
        }
    };
    if let (Some(group), Some(client)) = (body.consumer_group.as_deref(), body.client_id.as_deref())
    {
        shard
            .clients
            .unlock(group, &queues_of_this_shard(shard, &body.mq_set), client);
    }
    now(request, success(request))
}

/// Only TAG filtering exists here; other expression types are refused at
/// pull time with SUBSCRIPTION_PARSE_FAILED.
pub fn check_client_config(request: &RemotingCommand) -> Handled {
    now(request, success(request))
}

pub fn connection_list(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let group = match required(request, "consumerGroup") {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let Some(view) = shard.clients.group_view(group) else {
        return now(
            request,
            error(
                request,
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{group}] not online"),
            ),
        );
    };
    let connections: Vec<serde_json::Value> =
        view.connections.iter().map(|c| c.to_json()).collect();
    let subscriptions: serde_json::Map<String, serde_json::Value> = view
        .subscriptions
        .iter()
        .map(|s| {
            (
                s.topic.clone(),
                serde_json::to_value(s).expect("serializes"),
            )
        })
        .collect();
    let body = serde_json::json!({
        "connectionSet": connections,
        "consumeFromWhere": view.consume_from_where,
        "consumeType": view.consume_type,
        "messageModel": view.message_model,
        "subscriptionTable": subscriptions,
    });
    now(request, success(request).with_body(json_body(&body)))
}

/// `GET_PRODUCER_CONNECTION_LIST`: the producers of a group connected to
/// this shard (a RocketMQ broker answers for the whole broker; each shard
/// is its own broker in the routes, and mqadmin asks every one).
pub fn producer_connection_list(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let group = match required(request, "producerGroup") {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let Some(connections) = shard.clients.producer_connections(group) else {
        return now(
            request,
            error(
                request,
                ResponseCode::SYSTEM_ERROR,
                format!("the producer group[{group}] not exist"),
            ),
        );
    };
    let set: Vec<serde_json::Value> = connections.iter().map(|c| c.to_json()).collect();
    let body = serde_json::json!({ "connectionSet": set });
    now(request, success(request).with_body(json_body(&body)))
}
