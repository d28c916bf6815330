//! Request dispatch for one shard's connections: every request code a
//! RocketMQ client or admin tool sends, answered from this shard's state.
//! Codes not implemented answer `REQUEST_CODE_NOT_SUPPORTED`.
//!
//! Lives on the shard; one [`ShardHandler`] per listener.

mod admin;
mod assignment;
mod consumer;
mod group;
#[cfg(test)]
mod in_process;
mod offset;
mod pop;
mod pull;
mod query;
mod refusal;
mod reply;
mod reset;
mod send;
mod send_back;
mod transaction;

use std::rc::Rc;

use ringmq_net::server::{Handled, Handler, LocalFuture, Outgoing, Peer};
use ringmq_net::{CommandHeader, HeaderError, RemotingCommand, RequestCode, ResponseCode};

use crate::shard::{Shard, ShardStats};

pub struct ShardHandler {
    shard: Rc<Shard>,
}

impl ShardHandler {
    pub fn new(shard: Rc<Shard>) -> ShardHandler {
        ShardHandler { shard }
    }
}

impl Handler for ShardHandler {
    fn handle(self: Rc<Self>, request: RemotingCommand, peer: Rc<Peer>) -> LocalFuture<Handled> {
        Box::pin(async move {
            // Timed to the answer: a reply now, or the end of its task.
            let (code, started) = (request.code, std::time::Instant::now());
            match dispatch(&self.shard, request, peer).await {
                Handled::Now(reply) => {
                    self.shard.rpc_latency.record(code, started.elapsed());
                    Handled::Now(reply)
                }
                Handled::Later(task) => {
                    let shard = self.shard.clone();
                    Handled::Later(Box::pin(async move {
                        let reply = task.await;
                        shard.rpc_latency.record(code, started.elapsed());
                        reply
                    }))
                }
            }
        })
    }

    fn closed(&self, peer: &Rc<Peer>) {
        self.shard.clients.connection_closed(peer);
    }
}

/// The field a shard adds to a request it forwards to another shard of
/// this process (after its own ACL check), holding [`forward_token`]. The
/// receiving shard removes it before anything reads the fields, so
/// signatures verify over what the client sent.
const FORWARDED_FIELD: &str = "RingMQForwarded";

/// A random token known only to this process: a client cannot claim a
/// request was forwarded.
fn forward_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 16];
        // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        assert_eq!(n, bytes.len() as isize, "getrandom failed");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

async fn dispatch(shard: &Rc<Shard>, mut request: RemotingCommand, peer: Rc<Peer>) -> Handled {
    ShardStats::add(&shard.my_stats().requests, 1);
    let forwarded = request
        .ext_fields
        .remove(FORWARDED_FIELD)
        .is_some_and(|token| token == forward_token());
    tracing::debug!(shard = %shard.id, code = request.code, peer = %peer.addr, fields = ?request.ext_fields, "request");
    if let Some(acl) = shard.acl.as_ref().filter(|_| !forwarded) {
        if let Err(why) = acl.check(peer.addr.ip(), &request) {
            tracing::warn!(shard = %shard.id, peer = %peer.addr, code = request.code, %why, "request refused by ACL");
            ShardStats::add(&shard.my_stats().acl_refused, 1);
            return now(&request, error(&request, ResponseCode::NO_PERMISSION, why));
        }
    }
    if let Some(other) = request
        .ext_field("bname")
        .or_else(|| {
            request
                .ext_field("n")
                .filter(|_| send::uses_v2(request.code))
        })
        .filter(|b| *b != shard.broker_name)
        .and_then(|b| shard.shard_of_broker_name(b))
    {
        return forward(shard, other, request);
    }
    route(shard, request, peer).await
}

/// The handler for each request code, once the request passed the ACL
/// and belongs to this shard.
async fn route(shard: &Rc<Shard>, request: RemotingCommand, peer: Rc<Peer>) -> Handled {
    use RequestCode as C;
    match request.code {
        C::SEND_MESSAGE | C::SEND_MESSAGE_V2 | C::SEND_BATCH_MESSAGE => {
            send::handle(shard, request, &peer).await
        }
        C::PULL_MESSAGE | C::LITE_PULL_MESSAGE => pull::handle(shard, request, &peer),
        C::QUERY_CONSUMER_OFFSET => offset::query_consumer_offset(shard, &request),
        C::UPDATE_CONSUMER_OFFSET => offset::update_consumer_offset(shard, request),
        C::GET_MAX_OFFSET => offset::max_offset(shard, &request),
        C::GET_MIN_OFFSET => offset::min_offset(shard, &request),
        C::SEARCH_OFFSET_BY_TIMESTAMP => offset::search_by_time(shard, request),
        C::GET_EARLIEST_MSG_STORETIME => offset::earliest_store_time(shard, request),
        C::HEART_BEAT => consumer::heartbeat(shard, &request, &peer),
        C::UNREGISTER_CLIENT => consumer::unregister(shard, &request),
        C::GET_CONSUMER_LIST_BY_GROUP => consumer::consumer_list(shard, &request),
        C::LOCK_BATCH_MQ => consumer::lock(shard, &request),
        C::UNLOCK_BATCH_MQ => consumer::unlock(shard, &request),
        C::CHECK_CLIENT_CONFIG => consumer::check_client_config(&request),
        C::GET_CONSUMER_CONNECTION_LIST => consumer::connection_list(shard, &request),
        C::INVOKE_BROKER_TO_RESET_OFFSET => reset::reset_offset(shard, request),
        C::GET_PRODUCER_CONNECTION_LIST => consumer::producer_connection_list(shard, &request),
        C::VIEW_MESSAGE_BY_ID => query::view_by_id(shard, request),
        C::QUERY_MESSAGE => query::query_message(shard, request),
        C::UPDATE_AND_CREATE_TOPIC => admin::create_topic(shard, &request),
        C::DELETE_TOPIC_IN_BROKER => admin::delete_topic(shard, &request),
        C::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(shard, &request),
        C::GET_ALL_CONSUMER_OFFSET => admin::all_consumer_offsets(shard, &request),
        C::GET_TOPIC_STATS_INFO => admin::topic_stats(shard, &request),
        C::GET_CONSUME_STATS => admin::consume_stats(shard, &request),
        C::GET_BROKER_RUNTIME_INFO => admin::runtime_info(shard, &request),
        C::GET_BROKER_CONFIG => admin::broker_config(shard, &request),
        C::UPDATE_BROKER_CONFIG => admin::update_broker_config(shard, &request),
        C::QUERY_TOPIC_CONSUME_BY_WHO => admin::topic_consumed_by(shard, &request),
        C::GET_ALL_DELAY_OFFSET => now(
            &request,
            success(&request).with_body(shard.schedule.to_json_bytes()),
        ),
        C::GET_TIMER_CHECK_POINT => now(
            &request,
            success(&request).with_body(shard.timers.checkpoint_json()),
        ),
        C::SEND_REPLY_MESSAGE | C::SEND_REPLY_MESSAGE_V2 => {
            reply::handle(shard, request, &peer).await
        }
        C::CONSUMER_SEND_MSG_BACK => send_back::handle(shard, request, &peer),
        C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => group::update(shard, &request),
        C::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => group::all(shard, &request),
        C::GET_SUBSCRIPTIONGROUP_CONFIG => group::one(shard, &request),
        C::DELETE_SUBSCRIPTIONGROUP => group::delete(shard, &request),
        C::END_TRANSACTION => transaction::end(shard, request, &peer),
        C::POP_MESSAGE => pop::pop(shard, request, &peer),
        C::ACK_MESSAGE => pop::ack(shard, request),
        C::BATCH_ACK_MESSAGE => pop::batch_ack(shard, request),
        C::CHANGE_MESSAGE_INVISIBLETIME => pop::change_invisible_time(shard, request),
        C::QUERY_ASSIGNMENT => assignment::query(shard, &request),
        C::SET_MESSAGE_REQUEST_MODE => assignment::set_mode(shard, &request),
        C::GET_ALL_MESSAGE_REQUEST_MODE => now(
            &request,
            success(&request).with_body(shard.request_modes.to_json_bytes()),
        ),
        code => unsupported(&request, code),
    }
}

fn unsupported(request: &RemotingCommand, code: i32) -> Handled {
    now(
        request,
        error(
            request,
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
            format!("request code {code} not supported"),
        ),
    )
}

/// The one cross-shard path: a request that names another shard's queue
/// (sent to the main port, or to the wrong shard) goes to that shard over
/// loopback and its answer comes back here.
pub fn forward(shard: &Rc<Shard>, other: u16, mut request: RemotingCommand) -> Handled {
    ShardStats::add(&shard.my_stats().cross_shard_requests, 1);
    request
        .ext_fields
        .insert(FORWARDED_FIELD.to_string(), forward_token().to_string());
    let shard = shard.clone();
    Handled::Later(Box::pin(async move {
        let forwarder = &shard.forwarders[other as usize];
        if request.is_oneway() {
            if let Err(e) = forwarder.send_oneway(request).await {
                tracing::warn!(shard = %shard.id, to = other, error = %e, "forwarding a oneway request failed");
            }
            return None;
        }
        let failed = RemotingCommand::response_to(&request, ResponseCode::SYSTEM_ERROR);
        let reply = match forwarder.invoke(request).await {
            Ok(r) => r,
            Err(e) => failed.with_remark(format!("forwarding to shard {other} failed: {e}")),
        };
        Some(Outgoing::command(reply))
    }))
}

/// A response to `request` with `code` and a remark.
pub fn error(request: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(request, code).with_remark(remark)
}

pub fn success(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SUCCESS)
}

/// Reply now, unless the request was oneway.
pub fn now(request: &RemotingCommand, response: RemotingCommand) -> Handled {
    if request.is_oneway() {
        Handled::Now(None)
    } else {
        Handled::Now(Some(Outgoing::command(response)))
    }
}

/// Reply with what `response` gives, in a task of its own, unless the
/// request was oneway (the task still runs).
pub fn later(
    oneway: bool,
    response: impl std::future::Future<Output = RemotingCommand> + 'static,
) -> Handled {
    Handled::Later(Box::pin(async move {
        let reply = response.await;
        (!oneway).then(|| Outgoing::command(reply))
    }))
}

/// The refusal of a request the live `brokerPermission` forbids (`bit`:
/// [`crate::topics::PERM_WRITE`] for writes, [`crate::topics::PERM_READ`]
/// for reads), as
/// RocketMQ's processors answer it; None when permitted.
pub fn refuse_unless_permitted(
    shard: &Shard,
    request: &RemotingCommand,
    bit: i32,
) -> Option<Handled> {
    if shard.config.live.broker_permission() & bit != 0 {
        return None;
    }
    let what = if bit == crate::topics::PERM_WRITE {
        "sending"
    } else {
        "pulling"
    };
    Some(now(
        request,
        error(
            request,
            ResponseCode::NO_PERMISSION,
            format!(
                "the broker[{}] {what} message is forbidden",
                shard.broker_name
            ),
        ),
    ))
}

/// On a slave, the refusal of a request that writes (`what`: "sends",
/// "send-back", ...): RocketMQ's processors answer SYSTEM_BUSY with this
/// prefix, which its clients retry elsewhere. None on a master.
pub fn refuse_on_slave(shard: &Shard, request: &RemotingCommand, what: &str) -> Option<Handled> {
    shard.config.is_slave().then(|| {
        now(
            request,
            error(
                request,
                ResponseCode::SYSTEM_BUSY,
                format!(
                    "[REJECTREQUEST] {} is a SLAVE (brokerId {}); {what} go to the master",
                    shard.broker_name, shard.config.broker_id
                ),
            ),
        )
    })
}

/// A required ext field, or the INVALID_PARAMETER reply naming it.
// The error is the reply itself, built once per refused request: boxing it
// would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn required<'r>(request: &'r RemotingCommand, key: &str) -> Result<&'r str, Handled> {
    request.ext_field(key).ok_or_else(|| {
        now(
            request,
            error(
                request,
                ResponseCode::INVALID_PARAMETER,
                format!("{key} is required"),
            ),
        )
    })
}

/// Parses a typed header or builds the error reply that says why not.
#[allow(clippy::result_large_err)] // as `required`
pub fn parse<H: CommandHeader>(request: &RemotingCommand) -> Result<H, Handled> {
    H::from_ext_fields(&request.ext_fields).map_err(|e: HeaderError| {
        now(
            request,
            error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
        )
    })
}

/// Body text of JSON replies with numeric-looking keys, as RocketMQ's
/// fastjson parsers and ours both accept.
pub fn json_body(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json serializes")
}
