//! QUERY_ASSIGNMENT (400) and SET_MESSAGE_REQUEST_MODE (401): server-side
//! rebalance, and how a group is switched to POP.
//!
//! A client that lets the broker balance (rocketmq-client-rust's
//! `client_rebalance(false)`) asks which queues of a topic are its own.
//! Under PULL (the default) the broker splits this broker's queues of the
//! topic (every shard's) among the group's live members averagely, as
//! RocketMQ's `AllocateMessageQueueAveragely`, whatever strategy the
//! client names. Under POP every member gets queue -1 of each shard (pop
//! from any queue), or with `popShareQueueNum` N > 0 its own share plus
//! the next N members'. Retry topics are always pulled.
//!
//! The allocation covers this broker's shards only: a topic spread over
//! several RingMQ brokers is balanced per broker (RocketMQ's Java broker
//! balances over the whole route from the name server).

use std::rc::Rc;

use ringmq_net::header::{
    MessageQueue, MessageQueueAssignment, QueryAssignmentRequestBody, QueryAssignmentResponseBody,
    SetMessageRequestModeRequestBody,
};
use ringmq_net::server::Handled;
use ringmq_net::{RemotingCommand, ResponseCode};

use super::{error, now, success};
use crate::request_modes::{ModeError, RequestMode};
use crate::shard::Shard;
use crate::topics::RETRY_GROUP_TOPIC_PREFIX;

pub fn query(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let fail = |code: i32, remark: String| now(request, error(request, code, remark));
    let body = match QueryAssignmentRequestBody::from_json(&request.body) {
        Ok(b) => b,
        Err(e) => return fail(ResponseCode::INVALID_PARAMETER, e.to_string()),
    };
    let Some(topic) = shard.topic_for_read(&body.topic) else {
        return fail(
            ResponseCode::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist, apply first please!", body.topic),
        );
    };
    let shards: Vec<String> = (0..shard.config.shards)
        .map(|s| shard.config.shard_broker_name(s))
        .collect();
    let queue = |broker: &String, queue_id: i32| MessageQueue {
        broker_name: broker.clone(),
        queue_id,
        topic: body.topic.clone(),
    };
    let all: Vec<MessageQueue> = shards
        .iter()
        .flat_map(|b| (0..topic.read_queue_nums.max(0)).map(move |q| (b, q)))
        .map(|(b, q)| queue(b, q))
        .collect();
    let mut members = shard.clients.consumer_ids(&body.consumer_group);
    members.sort();
    let broadcasting = body.message_model.eq_ignore_ascii_case("BROADCASTING");
    let mode = if body.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || broadcasting {
        RequestMode::Pull
    } else {
        shard.request_modes.get(&body.topic, &body.consumer_group)
    };
    let (queues, mode_name): (Vec<MessageQueue>, &str) = match mode {
        // Broadcasting: every member consumes every queue.
        RequestMode::Pull if broadcasting => (all, "PULL"),
        RequestMode::Pull => (allocate_averagely(&all, &members, &body.client_id), "PULL"),
        RequestMode::Pop { share_queue_num }
            if share_queue_num <= 0
                || share_queue_num as usize >= members.len().saturating_sub(1) =>
        {
            (shards.iter().map(|b| queue(b, -1)).collect(), "POP")
        }
        RequestMode::Pop { share_queue_num } => (
            allocate_for_pop(&all, &members, &body.client_id, share_queue_num),
            "POP",
        ),
    };
    let reply = QueryAssignmentResponseBody {
        message_queue_assignments: queues
            .into_iter()
            .map(|message_queue| MessageQueueAssignment {
                attachments: None,
                message_queue,
                mode: mode_name.into(),
            })
            .collect(),
    };
    now(request, success(request).with_body(reply.to_json()))
}

/// The queues a client pops when it shares them: its own average share and
/// those of the `share_queue_num` members after it. Nothing for a client
/// that is not a member.
fn allocate_for_pop(
    all: &[MessageQueue],
    members: &[String],
    client_id: &str,
    share_queue_num: i32,
) -> Vec<MessageQueue> {
    let mut mine = Vec::new();
    if let Some(i) = members.iter().position(|m| *m == client_id) {
        for j in 0..=share_queue_num as usize {
            let other = (i + j) % members.len();
            // More members than queues: each still pops one
            // (RocketMQ's allocate4Pop), so none sits idle.
            let share = if members.len() > all.len() && !all.is_empty() {
                vec![all[other % all.len()].clone()]
            } else {
                allocate_averagely(all, members, &members[other])
            };
            for q in share {
                if !mine.contains(&q) {
                    mine.push(q);
                }
            }
        }
    }
    mine
}

/// RocketMQ's average allocation: queues in order, split into contiguous
/// runs, the first `queues % members` members one longer. Nothing for a
/// client that is not (yet) a member.
pub fn allocate_averagely<Q: Clone>(all: &[Q], members: &[String], client: &str) -> Vec<Q> {
    let Some(index) = members.iter().position(|m| m == client) else {
        return Vec::new();
    };
    let (n, m) = (all.len(), members.len());
    if n == 0 {
        return Vec::new();
    }
    let rem = n % m;
    let size = if n <= m {
        1
    } else if rem > 0 && index < rem {
        n / m + 1
    } else {
        n / m
    };
    let start = if rem > 0 && index < rem {
        index * size
    } else {
        index * size + rem
    };
    (0..size.min(n.saturating_sub(start)))
        .map(|i| all[(start + i) % n].clone())
        .collect()
}

pub fn set_mode(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let body = match SetMessageRequestModeRequestBody::from_json(&request.body) {
        Ok(b) => b,
        Err(e) => {
            return now(
                request,
                error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
            )
        }
    };
    if shard.config.is_slave() {
        return now(
            request,
            error(
                request,
                ResponseCode::NO_PERMISSION,
                "request modes are set on the master",
            ),
        );
    }
    let what = format!("{} {} {}", body.topic, body.consumer_group, body.mode);
    match shard.request_modes.set(body) {
        Ok(()) => {
            tracing::info!(shard = %shard.id, mode = %what, "message request mode set");
            now(request, success(request))
        }
        Err(e @ ModeError::Invalid(_)) => now(
            request,
            error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
        ),
        Err(e) => now(
            request,
            error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::allocate_averagely;

    #[test]
    fn average_allocation_is_rocketmqs() {
        let queues: Vec<u32> = (0..8).collect();
        let members: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let split: Vec<Vec<u32>> = members
            .iter()
            .map(|m| allocate_averagely(&queues, &members, m))
            .collect();
        assert_eq!(split, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]);
        assert!(allocate_averagely(&queues, &members, "stranger").is_empty());
        let many: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
        let one_each: Vec<usize> = many
            .iter()
            .map(|m| allocate_averagely(&queues, &many, m).len())
            .collect();
        assert_eq!(one_each, vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    }
}
