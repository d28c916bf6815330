//! Admin requests: topics (17, 215, 21), stats (202, 208), runtime info
//! (28) and broker config (26): `spec/remoting-protocol.md` §8.5, §9.15.
//!
//! Topic changes apply to the broker-wide table, so they reach every shard
//! at once; stats describe this shard's queues under this shard's broker
//! name, as a RocketMQ broker describes its own.

use ringmq_engine::QueueId;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use ringmq_net::header::{CreateTopicRequestHeader, DeleteTopicRequestHeader};
use ringmq_net::server::Handled;
use ringmq_net::{RemotingCommand, ResponseCode};

use super::{error, json_body, later, now, parse, required, success};
use crate::shard::{now_ms, Shard, ShardStats};
use crate::topics::TopicConfig;

pub fn create_topic(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: CreateTopicRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let config = TopicConfig {
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: h.topic_filter_type.clone(),
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order,
    };
    let (shard, request) = (shard.clone(), request.clone());
    later(request.is_oneway(), async move {
        match shard.topics.put(config).await {
            Ok(()) => {
                tracing::info!(topic = %h.topic, queues = h.write_queue_nums, "topic created or updated");
                success(&request)
            }
            Err(e) => error(&request, ResponseCode::INVALID_PARAMETER, e.to_string()),
        }
    })
}

pub fn delete_topic(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let h: DeleteTopicRequestHeader = match parse(request) {
        Ok(h) => h,
        Err(r) => return r,
    };
    // RocketMQ's `TopicValidator` refuses to delete its system topics;
    // here the delay and timer queues live in them.
    if crate::topics::NOT_WRITABLE_TOPICS.contains(&h.topic.as_str()) {
        return now(
            request,
            error(
                request,
                ResponseCode::NO_PERMISSION,
                format!(
                    "the topic {} is a system topic and cannot be deleted",
                    h.topic
                ),
            ),
        );
    }
    let (shard, request) = (shard.clone(), request.clone());
    later(request.is_oneway(), async move {
        match shard.topics.delete(&h.topic).await {
            Ok(_) => {
                // Offsets of this shard go now; the commit log keeps the
                // records until retention removes their segments.
                shard.offsets.remove_topic(&h.topic);
                shard.signals.remove_topic(&h.topic);
                shard.pop.forget_topic(&h.topic);
                shard.traffic.remove_topic(&h.topic);
                success(&request)
            }
            Err(e) => error(&request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        }
    })
}

pub fn all_topic_config(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let body = serde_json::json!({
        "dataVersion": {"counter": shard.topics.version(), "stateVersion": 0, "timestamp": now_ms()},
        "topicConfigTable": shard.topics.all(),
    });
    now(request, success(request).with_body(json_body(&body)))
}

/// `GET_ALL_CONSUMER_OFFSET`: this shard's offsets (a slave of this shard
/// copies them).
pub fn all_consumer_offsets(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let mut body = shard.offsets.to_json();
    body["dataVersion"] =
        serde_json::json!({"counter": 0, "stateVersion": 0, "timestamp": now_ms()});
    now(request, success(request).with_body(json_body(&body)))
}

/// fastjson writes `Map<MessageQueue, _>` with object keys (§9.15), which
/// RocketMQ's Java and Go tools parse; serde cannot, so this is written out.
pub(super) fn mq_key(broker_name: &str, topic: &str, queue_id: i32) -> String {
    format!(
        "{{\"brokerName\":{},\"queueId\":{queue_id},\"topic\":{}}}",
        serde_json::Value::from(broker_name),
        serde_json::Value::from(topic)
    )
}

pub fn topic_stats(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let topic = match required(request, "topic") {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let Some(config) = shard.topics.get(topic) else {
        return now(
            request,
            error(
                request,
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic {topic} not exist"),
            ),
        );
    };
    let mut body = String::from("{\"offsetTable\":{");
    for q in 0..config.write_queue_nums {
        if q > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            "{}:{{\"lastUpdateTimestamp\":0,\"maxOffset\":{},\"minOffset\":{}}}",
            mq_key(&shard.broker_name, topic, q),
            shard.store.max_queue_offset(topic, QueueId(q)).0,
            shard.store.min_queue_offset(topic, QueueId(q)).0
        );
    }
    body.push_str("},\"topicPutTps\":0.0}");
    now(request, success(request).with_body(body))
}

pub fn consume_stats(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let group = match required(request, "consumerGroup") {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let only_topic = request.ext_field("topic").filter(|t| !t.is_empty());
    let mut body = String::from("{\"consumeTps\":0.0,\"offsetTable\":{");
    let mut first = true;
    let mut entries = shard.offsets.of_group(group);
    entries.sort();
    for (topic, q, consumer_offset) in entries {
        if only_topic.is_some_and(|t| t != topic) {
            continue;
        }
        if !first {
            body.push(',');
        }
        first = false;
        let _ = write!(
            body,
            "{}:{{\"brokerOffset\":{},\"consumerOffset\":{consumer_offset},\"lastTimestamp\":0,\"pullOffset\":{consumer_offset}}}",
            mq_key(&shard.broker_name, &topic, q),
            shard.store.max_queue_offset(&topic, QueueId(q)).0
        );
    }
    body.push_str("}}");
    now(request, success(request).with_body(body))
}

pub fn runtime_info(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let mut table = RuntimeTable::default();
    put_broker(&mut table, shard);
    let (put_tps, get_tps) = shard
        .rates
        .borrow()
        .runtime_values(std::time::Instant::now(), shard.my_stats().counts());
    table.put("putTps", put_tps);
    put_send_latency(&mut table, shard);
    if let Some(ratio) = disk_used_ratio(&shard.config.store_path_root_dir) {
        table.put("commitLogDiskRatio", format!("{ratio:.4}"));
    }
    // RocketMQ 5 spells it so; 4.x wrote `getTransferedTps`.
    table.put("getTransferredTps", get_tps.clone());
    table.put("getTransferedTps", get_tps);
    table.put("ringmqShards", shard.config.shards.to_string());
    let mut totals = [0u64; 5];
    for (i, s) in shard.stats.iter().enumerate() {
        let values = put_shard(&mut table, i, s, shard.config.is_slave());
        for (t, v) in totals.iter_mut().zip(values) {
            *t += v;
        }
    }
    table.put("msgPutTotalTodayNow", totals[0].to_string());
    table.put("msgGetTotalTodayNow", totals[1].to_string());
    table.put("ringmqBytesPutTotal", totals[2].to_string());
    table.put("ringmqBytesGetTotal", totals[3].to_string());
    table.put("ringmqCrossShardRequests", totals[4].to_string());
    table.put(
        "flushDiskType",
        format!("{:?}", shard.config.flush_disk_type),
    );
    table.put("brokerRole", shard.config.broker_role.as_str().into());
    if let Some(master) = shard.master_info().get().master_addr {
        table.put("masterAddr", master);
    }
    let body = serde_json::json!({ "table": table.0 });
    now(request, success(request).with_body(json_body(&body)))
}

/// `GET_BROKER_RUNTIME_INFO`'s table: every value a string, as RocketMQ
/// writes its `KVTable`.
#[derive(Default)]
struct RuntimeTable(serde_json::Map<String, serde_json::Value>);

impl RuntimeTable {
    fn put(&mut self, k: &str, v: String) {
        self.0.insert(k.to_string(), serde_json::Value::from(v));
    }
}

/// Which broker and shard this is, and where its commit log stands.
fn put_broker(table: &mut RuntimeTable, shard: &Shard) {
    table.put("brokerVersionDesc", "RingMQ 0.1.0 (V5_3_3 protocol)".into());
    table.put(
        "brokerVersion",
        ringmq_net::code::version::CURRENT.to_string(),
    );
    table.put("brokerActive", "true".into());
    table.put("bootTimestamp", shard.started_ms.to_string());
    table.put(
        "commitLogMinOffset",
        shard.store.min_commit_log_offset().0.to_string(),
    );
    table.put(
        "commitLogMaxOffset",
        shard.store.written_offset().0.to_string(),
    );
    table.put(
        "commitLogDurableOffset",
        shard.store.durable_offset().0.to_string(),
    );
    table.put("ringmqShard", shard.id.to_string());
    table.put(
        "ringmqPullsHeld",
        crate::waiters::PULL_HELD
            .with(std::cell::Cell::get)
            .to_string(),
    );
    table.put("ringmqBrokerName", shard.config.broker_name.clone());
}

/// Send latency of this shard since it started, as cumulative bucket
/// counts (admin tools difference two readings for a live figure).
fn put_send_latency(table: &mut RuntimeTable, shard: &Shard) {
    let join = |v: &[String]| v.join(",");
    table.put(
        "ringmqLatencyMsBounds",
        join(
            &crate::metrics::RPC_LATENCY_MS_BOUNDS
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>(),
        ),
    );
    table.put(
        "ringmqSendLatencyMsBuckets",
        join(
            &shard
                .rpc_latency
                .cumulative(&[
                    ringmq_net::RequestCode::SEND_MESSAGE,
                    ringmq_net::RequestCode::SEND_MESSAGE_V2,
                    ringmq_net::RequestCode::SEND_BATCH_MESSAGE,
                ])
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>(),
        ),
    );
}

/// The counters of shard `i`. Returns its messages in and out, bytes in
/// and out, and cross-shard requests, for the broker's totals.
fn put_shard(table: &mut RuntimeTable, i: usize, s: &ShardStats, is_slave: bool) -> [u64; 5] {
    let values = [
        s.messages_in.load(Ordering::Relaxed),
        s.messages_out.load(Ordering::Relaxed),
        s.bytes_in.load(Ordering::Relaxed),
        s.bytes_out.load(Ordering::Relaxed),
        s.cross_shard_requests.load(Ordering::Relaxed),
    ];
    table.put(&format!("ringmqShard{i}MsgPutTotal"), values[0].to_string());
    table.put(&format!("ringmqShard{i}MsgGetTotal"), values[1].to_string());
    table.put(
        &format!("ringmqShard{i}CrossShardRequests"),
        values[4].to_string(),
    );
    table.put(
        &format!("ringmqShard{i}Requests"),
        s.requests.load(Ordering::Relaxed).to_string(),
    );
    put_shard_replication(table, i, s, is_slave);
    // Redelivery: send-backs to a retry topic, dead letters, delayed
    // messages delivered, and POP acknowledgements and revivals.
    for (name, counter) in [
        ("SendBackTotal", &s.sent_back),
        ("DeadLetterTotal", &s.dead_lettered),
        ("DelayDeliveredTotal", &s.delay_delivered),
        ("TimerDeliveredTotal", &s.timer_delivered),
        ("PopAckedTotal", &s.pop_acked),
        ("PopRevivedTotal", &s.pop_revived),
        ("TransactionCommittedTotal", &s.transactions_committed),
        ("TransactionRolledBackTotal", &s.transactions_rolled_back),
        ("TransactionCheckedTotal", &s.transactions_checked),
        ("TransactionDiscardedTotal", &s.transactions_discarded),
        ("Connections", &s.connections),
        ("ConnectionsRefusedTotal", &s.connections_refused),
        ("AclRefusedTotal", &s.acl_refused),
    ] {
        table.put(
            &format!("ringmqShard{i}{name}"),
            counter.load(Ordering::Relaxed).to_string(),
        );
    }
    values
}

/// Replication of shard `i`. Master: slaves connected, the highest offset
/// a slave reported, and the lag behind the written end in bytes and ms.
/// Slave: connected (0/1) and the master's position.
fn put_shard_replication(table: &mut RuntimeTable, i: usize, s: &ShardStats, is_slave: bool) {
    table.put(
        &format!("ringmqShard{i}HaPeers"),
        s.ha_slaves.load(Ordering::Relaxed).to_string(),
    );
    table.put(
        &format!("ringmqShard{i}HaPeerOffset"),
        s.ha_peer_offset.load(Ordering::Relaxed).to_string(),
    );
    if is_slave {
        table.put(
            &format!("ringmqShard{i}HaLocalOffset"),
            s.ha_local_offset.load(Ordering::Relaxed).to_string(),
        );
    } else {
        table.put(
            &format!("ringmqShard{i}HaLagBytes"),
            s.ha_lag_bytes.load(Ordering::Relaxed).to_string(),
        );
        table.put(
            &format!("ringmqShard{i}HaLagMs"),
            s.ha_lag_ms.load(Ordering::Relaxed).to_string(),
        );
    }
}

/// The used fraction of the file system holding `path` (RocketMQ's
/// `commitLogDiskRatio`), from `statvfs`.
fn disk_used_ratio(path: &std::path::Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a valid,
    // writable statvfs that lives across the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &raw mut stat) } != 0 {
        return None;
    }
    // As the store's full-disk guard counts it (df's Use%).
    let usage = ringmq_engine::disk::DiskUsage::from_statvfs(
        stat.f_blocks as u64,
        stat.f_bfree as u64,
        stat.f_bavail as u64,
        stat.f_frsize as u64,
    );
    (usage.total_bytes > 0).then(|| usage.used_bytes as f64 / usage.total_bytes as f64)
}

pub fn broker_config(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let c = &shard.config;
    let text = format!(
        "brokerClusterName={}\nbrokerName={}\nbrokerId={}\nbrokerRole={}\nflushDiskType={:?}\n\
         storePathRootDir={}\nlistenPort={}\nshardListenPort={}\nshards={}\nautoCreateTopicEnable={}\n\
         defaultTopicQueueNums={}\nbrokerIP1={}\nmessageDelayLevel={}\nautoCreateSubscriptionGroup={}\n\
         brokerPermission={}\n",
        c.broker_cluster_name,
        c.broker_name,
        c.broker_id,
        c.broker_role.as_str(),
        c.flush_disk_type,
        c.store_path_root_dir.display(),
        c.listen_port,
        c.shard_listen_port,
        c.shards,
        c.live.auto_create_topic_enable(),
        c.default_topic_queue_nums,
        c.broker_ip1,
        c.message_delay_level.to_config_text(),
        c.live.auto_create_subscription_group(),
        c.live.broker_permission(),
    );
    now(request, success(request).with_body(text))
}

/// Largest `UPDATE_BROKER_CONFIG` body.
const UPDATE_CONFIG_BYTES_MAX: usize = 64 * 1024;

/// `UPDATE_BROKER_CONFIG` (25): a properties body of live keys
/// ([`crate::live`]); all apply, for every shard, or none.
pub fn update_broker_config(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let fail = |code: i32, remark: String| now(request, error(request, code, remark));
    if request.body.len() > UPDATE_CONFIG_BYTES_MAX {
        return fail(
            ResponseCode::INVALID_PARAMETER,
            format!("config body over {UPDATE_CONFIG_BYTES_MAX} bytes"),
        );
    }
    let Ok(text) = std::str::from_utf8(&request.body) else {
        return fail(ResponseCode::SYSTEM_ERROR, "string2Properties error".into());
    };
    let pairs = crate::config::parse_properties(text);
    if pairs.is_empty() {
        return now(request, success(request));
    }
    match shard.config.live.update(&pairs) {
        Ok(()) => {
            tracing::info!(?pairs, "broker config changed by an admin");
            now(request, success(request))
        }
        Err(e @ crate::live::LiveUpdateError::Save { .. }) => {
            tracing::error!(error = %e, "broker config changed but not saved");
            fail(ResponseCode::SYSTEM_ERROR, e.to_string())
        }
        Err(e @ crate::live::LiveUpdateError::NotLive { .. }) => {
            fail(ResponseCode::NO_PERMISSION, e.to_string())
        }
        Err(e) => fail(ResponseCode::INVALID_PARAMETER, e.to_string()),
    }
}

/// `QUERY_TOPIC_CONSUME_BY_WHO` (300): the groups with offsets on the
/// topic on this shard or subscribed to it by a connected consumer.
pub fn topic_consumed_by(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let topic = match required(request, "topic") {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let mut groups = shard.offsets.groups_of_topic(topic);
    groups.extend(shard.clients.groups_subscribed_to(topic));
    groups.sort();
    groups.dedup();
    let body = serde_json::json!({ "groupList": groups });
    now(request, success(request).with_body(json_body(&body)))
}
