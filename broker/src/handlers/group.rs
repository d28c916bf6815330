//! Subscription groups: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200),
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207),
//! GET_SUBSCRIPTIONGROUP_CONFIG (352): `spec/remoting-protocol.md` §8.5.
//!
//! The table is broker-wide, so a change through any shard's port applies
//! to every shard. `cleanOffset` drops the group's offsets on the shard
//! that got the request: admin tools send the delete to every broker of
//! the cluster, and every shard is one.

use std::rc::Rc;

use ringmq_net::header::{
    DeleteSubscriptionGroupRequestHeader, GetSubscriptionGroupConfigRequestHeader,
};
use ringmq_net::server::Handled;
use ringmq_net::{RemotingCommand, ResponseCode};

use super::{error, later, now, parse, refuse_on_slave, success};
use crate::groups::{GroupError, SubscriptionGroupConfig};
use crate::shard::Shard;

/// Largest request body a group config may arrive in.
const GROUP_CONFIG_BYTES_MAX: usize = 64 * 1024;

pub fn update(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    if let Some(refused) = refuse_on_slave(shard, request, "subscription-group changes") {
        return refused;
    }
    let fail = |code: i32, remark: String| now(request, error(request, code, remark));
    if request.body.len() > GROUP_CONFIG_BYTES_MAX {
        return fail(
            ResponseCode::INVALID_PARAMETER,
            format!(
                "group config of {} bytes (at most {GROUP_CONFIG_BYTES_MAX})",
                request.body.len()
            ),
        );
    }
    let config: SubscriptionGroupConfig = match serde_json::from_slice(&request.body) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                ResponseCode::INVALID_PARAMETER,
                format!("group config body: {e}"),
            )
        }
    };
    let name = config.group_name.clone();
    let (shard, request) = (shard.clone(), request.clone());
    later(request.is_oneway(), async move {
        match shard.groups.put(config).await {
            Ok(()) => {
                tracing::info!(group = %name, "subscription group created or updated");
                success(&request)
            }
            Err(e @ GroupError::Save { .. }) => {
                error(&request, ResponseCode::SYSTEM_ERROR, e.to_string())
            }
            Err(e) => error(&request, ResponseCode::INVALID_PARAMETER, e.to_string()),
        }
    })
}

pub fn all(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    now(
        request,
        success(request).with_body(shard.groups.to_json_bytes()),
    )
}

pub fn one(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: GetSubscriptionGroupConfigRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let reply = match shard.groups.get(&h.group) {
        Some(g) => {
            success(request).with_body(serde_json::to_vec(&g).expect("group config serializes"))
        }
        None => error(
            request,
            ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.group),
        ),
    };
    now(request, reply)
}

pub fn delete(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: DeleteSubscriptionGroupRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    if let Some(refused) = refuse_on_slave(shard, request, "subscription-group changes") {
        return refused;
    }
    let (shard, request) = (shard.clone(), request.clone());
    later(request.is_oneway(), async move {
        match shard.groups.delete(&h.group_name).await {
            Ok(existed) => {
                let offsets = if h.clean_offset == Some(true) {
                    // Its pops restart from the (now empty) offset table.
                    shard.pop.forget_group(&h.group_name);
                    shard.offsets.remove_group(&h.group_name)
                } else {
                    0
                };
                tracing::info!(group = %h.group_name, existed, offsets_removed = offsets, shard = %shard.id, "subscription group deleted");
                success(&request)
            }
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    })
}
