//! Admin requests: topics (17, 215, 21), stats (202, 208), runtime info
//! (28) and broker config (26): `spec/remoting-protocol.md` §8.5, §9.15.
//!
//! Topic changes apply to the broker-wide table, so they reach every shard
//! at once; stats describe this shard's queues under this shard's broker
//! name, as a RocketMQ broker describes its own.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use ringmq_net::header::{CreateTopicRequestHeader, DeleteTopicRequestHeader};
use ringmq_net::server::Handled;
use ringmq_net::{RemotingCommand, ResponseCode};

use super::{error, json_body, now, parse, required, success};
use crate::shard::{now_ms, Shard};
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
    match shard.topics.put(config) {
        Ok(()) => {
            tracing::info!(topic = %h.topic, queues = h.write_queue_nums, "topic created or updated");
            now(request, success(request))
        }
        Err(e) => now(
            request,
            error(request, ResponseCode::INVALID_PARAMETER, e.to_string()),
        ),
    }
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
    match shard.topics.delete(&h.topic) {
        Ok(_) => {
            // Offsets of this shard go now; the commit log keeps the records
            // until retention removes their segments.
            shard.offsets.remove_topic(&h.topic);
            shard.signals.remove_topic(&h.topic);
            shard.pop.forget_topic(&h.topic);
            shard.traffic.remove_topic(&h.topic);
            now(request, success(request))
        }
        Err(e) => now(
            request,
            error(request, ResponseCode::SYSTEM_ERROR, e.to_string()),
        ),
    }
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
fn mq_key(broker_name: &str, topic: &str, queue_id: i32) -> String {
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
            shard.store.max_queue_offset(topic, q).0,
            shard.store.min_queue_offset(topic, q).0
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
            shard.store.max_queue_offset(&topic, q).0
        );
    }
    body.push_str("}}");
    now(request, success(request).with_body(body))
}

pub fn runtime_info(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let mut table = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        table.insert(k.to_string(), serde_json::Value::from(v));
    };
    put("brokerVersionDesc", "RingMQ 0.1.0 (V5_3_3 protocol)".into());
    put(
        "brokerVersion",
        ringmq_net::code::version::CURRENT.to_string(),
    );
    put("brokerActive", "true".into());
    put("bootTimestamp", shard.started_ms.to_string());
    put(
        "commitLogMinOffset",
        shard.store.min_commit_log_offset().0.to_string(),
    );
    put(
        "commitLogMaxOffset",
        shard.store.written_offset().0.to_string(),
    );
    put(
        "commitLogDurableOffset",
        shard.store.durable_offset().0.to_string(),
    );
    put("ringmqShard", shard.id.to_string());
    put("ringmqShards", shard.config.shards.to_string());
    let mut totals = [0u64; 5];
    for (i, s) in shard.stats.iter().enumerate() {
        let values = [
            s.messages_in.load(Ordering::Relaxed),
            s.messages_out.load(Ordering::Relaxed),
            s.bytes_in.load(Ordering::Relaxed),
            s.bytes_out.load(Ordering::Relaxed),
            s.cross_shard_requests.load(Ordering::Relaxed),
        ];
        put(&format!("ringmqShard{i}MsgPutTotal"), values[0].to_string());
        put(&format!("ringmqShard{i}MsgGetTotal"), values[1].to_string());
        put(
            &format!("ringmqShard{i}CrossShardRequests"),
            values[4].to_string(),
        );
        put(
            &format!("ringmqShard{i}Requests"),
            s.requests.load(Ordering::Relaxed).to_string(),
        );
        // Replication per shard. Master: slaves connected, the highest
        // offset a slave reported, and the lag behind the written end in
        // bytes and ms. Slave: connected (0/1) and the master's position.
        put(
            &format!("ringmqShard{i}HaPeers"),
            s.ha_slaves.load(Ordering::Relaxed).to_string(),
        );
        put(
            &format!("ringmqShard{i}HaPeerOffset"),
            s.ha_peer_offset.load(Ordering::Relaxed).to_string(),
        );
        if shard.config.is_slave() {
            put(
                &format!("ringmqShard{i}HaLocalOffset"),
                s.ha_local_offset.load(Ordering::Relaxed).to_string(),
            );
        } else {
            put(
                &format!("ringmqShard{i}HaLagBytes"),
                s.ha_lag_bytes.load(Ordering::Relaxed).to_string(),
            );
            put(
                &format!("ringmqShard{i}HaLagMs"),
                s.ha_lag_ms.load(Ordering::Relaxed).to_string(),
            );
        }
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
            put(
                &format!("ringmqShard{i}{name}"),
                counter.load(Ordering::Relaxed).to_string(),
            );
        }
        for (t, v) in totals.iter_mut().zip(values) {
            *t += v;
        }
    }
    put("msgPutTotalTodayNow", totals[0].to_string());
    put("msgGetTotalTodayNow", totals[1].to_string());
    put("ringmqBytesPutTotal", totals[2].to_string());
    put("ringmqBytesGetTotal", totals[3].to_string());
    put("ringmqCrossShardRequests", totals[4].to_string());
    put(
        "flushDiskType",
        format!("{:?}", shard.config.flush_disk_type),
    );
    put("brokerRole", shard.config.broker_role.as_str().into());
    if let Some(master) = shard.master_info().get().master_addr {
        put("masterAddr", master);
    }
    let body = serde_json::json!({ "table": table });
    now(request, success(request).with_body(json_body(&body)))
}

pub fn broker_config(shard: &Rc<Shard>, request: &RemotingCommand) -> Handled {
    let c = &shard.config;
    let text = format!(
        "brokerClusterName={}\nbrokerName={}\nbrokerId={}\nbrokerRole={}\nflushDiskType={:?}\n\
         storePathRootDir={}\nlistenPort={}\nshardListenPort={}\nshards={}\nautoCreateTopicEnable={}\n\
         defaultTopicQueueNums={}\nbrokerIP1={}\nmessageDelayLevel={}\n",
        c.broker_cluster_name,
        c.broker_name,
        c.broker_id,
        c.broker_role.as_str(),
        c.flush_disk_type,
        c.store_path_root_dir.display(),
        c.listen_port,
        c.shard_listen_port,
        c.shards,
        c.auto_create_topic_enable,
        c.default_topic_queue_nums,
        c.broker_ip1,
        c.message_delay_level.to_config_text()
    );
    now(request, success(request).with_body(text))
}
