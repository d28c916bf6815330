//! Consumer and producer group commands: `updateSubGroup`,
//! `deleteSubGroup`, `consumerProgress`, `consumerConnection`,
//! `producerConnection`, `resetOffsetByTime`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Result};
use ringmq_net::code::version;
use ringmq_net::{RequestCode, ResponseCode};
use serde_json::{json, Value};

use super::client::{request, Admin, Refused};
use super::progress::Progress;
use super::{date_time, front, Output};
use ringmq_net::fastjson;

/// What `updateSubGroup` sets (RocketMQ's `SubscriptionGroupConfig`).
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub group_name: String,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub consume_broadcast_enable: bool,
    pub consume_message_orderly: bool,
    pub retry_queue_nums: i32,
    pub retry_max_times: i32,
    pub broker_id: i64,
    pub which_broker_when_consume_slowly: i64,
    pub notify_consumer_ids_changed_enable: bool,
}

impl GroupSpec {
    fn to_json(&self) -> Value {
        json!({
            "groupName": self.group_name,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeMessageOrderly": self.consume_message_orderly,
            "retryQueueNums": self.retry_queue_nums,
            "retryMaxTimes": self.retry_max_times,
            "brokerId": self.broker_id,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "groupSysFlag": 0,
            "consumeTimeoutMinute": 15,
            "groupRetryPolicy": {"type": "CUSTOMIZED"},
        })
    }

    /// RocketMQ 5's `SubscriptionGroupConfig.toString`.
    fn describe(&self) -> String {
        format!(
            "SubscriptionGroupConfig{{groupName={}, consumeEnable={}, consumeFromMinEnable={}, consumeBroadcastEnable={}, consumeMessageOrderly={}, retryQueueNums={}, retryMaxTimes={}, groupRetryPolicy=GroupRetryPolicy{{type=CUSTOMIZED, exponentialRetryPolicy=null, customizedRetryPolicy=null}}, brokerId={}, whichBrokerWhenConsumeSlowly={}, notifyConsumerIdsChangedEnable={}, groupSysFlag=0, consumeTimeoutMinute=15, subscriptionDataSet=null, attributes={{}}}}",
            self.group_name,
            self.consume_enable,
            self.consume_from_min_enable,
            self.consume_broadcast_enable,
            self.consume_message_orderly,
            self.retry_queue_nums,
            self.retry_max_times,
            self.broker_id,
            self.which_broker_when_consume_slowly,
            self.notify_consumer_ids_changed_enable
        )
    }
}

/// `updateSubGroup -b addr | -c cluster -g group ...`.
pub fn update_sub_group(
    admin: &Admin,
    out: &mut Output,
    spec: &GroupSpec,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<()> {
    if broker.is_none() && cluster.is_none() {
        bail!("give -b brokerAddr or -c clusterName");
    }
    let body = serde_json::to_vec(&spec.to_json())?;
    let mut done = Vec::new();
    for (_, addr) in admin.targets(broker, cluster)? {
        admin.invoke(
            &addr,
            request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, &[]).with_body(body.clone()),
        )?;
        out.text(&format!("create subscription group to {addr} success.\n"))?;
        done.push(addr);
    }
    out.text(&format!("{}\n", spec.describe()))?;
    out.value(&json!({"group": spec.to_json(), "brokers": done}))
}

/// `deleteSubGroup -b addr | -c cluster -g group [-r removeOffset]`.
pub fn delete_sub_group(
    admin: &Admin,
    out: &mut Output,
    group: &str,
    broker: Option<&str>,
    cluster: Option<&str>,
    remove_offset: bool,
) -> Result<()> {
    let fields = [
        ("groupName", group.to_string()),
        ("cleanOffset", remove_offset.to_string()),
    ];
    let mut done = Vec::new();
    if let Some(addr) = broker {
        admin.invoke(
            addr,
            request(RequestCode::DELETE_SUBSCRIPTIONGROUP, &fields),
        )?;
        out.text(&format!(
            "delete subscription group [{group}] from broker [{addr}] success.\n"
        ))?;
        done.push(addr.to_string());
    } else if let Some(c) = cluster {
        for (_, addr) in admin.targets(None, Some(c))? {
            admin.invoke(
                &addr,
                request(RequestCode::DELETE_SUBSCRIPTIONGROUP, &fields),
            )?;
            out.text(&format!(
                "delete subscription group [{group}] from broker [{addr}] in cluster [{c}] success.\n"
            ))?;
            done.push(addr);
        }
        // The group's retry and dead-letter topics go with it, silently.
        let info = admin.cluster_info()?;
        for topic in [format!("%RETRY%{group}"), format!("%DLQ%{group}")] {
            for (_, _, addr) in info.members(Some(c)) {
                let _ = admin.invoke(
                    &addr,
                    request(
                        RequestCode::DELETE_TOPIC_IN_BROKER,
                        &[("topic", topic.clone())],
                    ),
                );
            }
            let _ = admin.every_namesrv(&request(
                RequestCode::DELETE_TOPIC_IN_NAMESRV,
                &[("topic", topic.clone()), ("clusterName", c.to_string())],
            ));
        }
    } else {
        bail!("give -b brokerAddr or -c clusterName");
    }
    out.value(&json!({"group": group, "brokers": done}))
}

/// One queue's line of `GET_CONSUME_STATS`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueProgress {
    pub topic: String,
    pub broker_name: String,
    pub queue_id: i32,
    pub broker_offset: i64,
    pub consumer_offset: i64,
    pub pull_offset: i64,
    pub last_timestamp_ms: i64,
}

/// `GET_CONSUME_STATS` of `group` from every master (of `cluster`), merged.
pub fn consume_stats(
    admin: &Admin,
    group: &str,
    topic: Option<&str>,
    cluster: Option<&str>,
) -> Result<(Vec<QueueProgress>, f64)> {
    let mut rows = Vec::new();
    let mut tps = 0.0;
    let mut fields = vec![("consumerGroup", group.to_string())];
    if let Some(t) = topic {
        fields.push(("topic", t.to_string()));
    }
    for (_, addr) in admin.targets(None, cluster)? {
        let v = match admin.json(&addr, RequestCode::GET_CONSUME_STATS, &fields) {
            Ok(v) => v,
            // A broker the group never used may not know it.
            Err(e) if e.downcast_ref::<Refused>().is_some() => continue,
            Err(e) => return Err(e),
        };
        tps += v["consumeTps"].as_f64().unwrap_or(0.0);
        for (key, q) in v["offsetTable"].as_object().into_iter().flatten() {
            let mq = fastjson::parse_key(key).unwrap_or(Value::Null);
            let consumer_offset = q["consumerOffset"].as_i64().unwrap_or(0);
            rows.push(QueueProgress {
                topic: mq["topic"].as_str().unwrap_or_default().to_string(),
                broker_name: mq["brokerName"].as_str().unwrap_or_default().to_string(),
                queue_id: mq["queueId"].as_i64().unwrap_or(-1) as i32,
                broker_offset: q["brokerOffset"].as_i64().unwrap_or(0),
                consumer_offset,
                pull_offset: q["pullOffset"].as_i64().unwrap_or(consumer_offset),
                last_timestamp_ms: q["lastTimestamp"].as_i64().unwrap_or(0),
            });
        }
    }
    rows.sort();
    Ok((rows, tps))
}

/// A consumer group's connections (`GET_CONSUMER_CONNECTION_LIST`) from the
/// first master that knows the group.
fn consumer_connection_body(admin: &Admin, group: &str, broker: Option<&str>) -> Result<Value> {
    let mut last = anyhow!("the consumer group[{group}] not online");
    for (_, addr) in admin.targets(broker, None)? {
        match admin.json(
            &addr,
            RequestCode::GET_CONSUMER_CONNECTION_LIST,
            &[("consumerGroup", group.to_string())],
        ) {
            Ok(v) if v["connectionSet"].as_array().is_some_and(|s| !s.is_empty()) => return Ok(v),
            Ok(_) => {}
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `consumerProgress [-g group [-t topic]] [-c cluster]`.
pub fn consumer_progress(
    admin: &Admin,
    out: &mut Output,
    group: Option<&str>,
    topic: Option<&str>,
    cluster: Option<&str>,
) -> Result<()> {
    let Some(group) = group else {
        return all_groups_progress(admin, out, cluster);
    };
    let (rows, tps) = consume_stats(admin, group, topic, cluster)?;
    if rows.is_empty() {
        return Err(Refused {
            code: ResponseCode::CONSUMER_NOT_ONLINE,
            remark: format!("Not found the consumer group consume stats, because return offset table is empty, maybe the consumer not consume any message: {group}"),
        }
        .into());
    }
    out.text(&format!(
        "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}{}\n",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Diff",
        "#Inflight",
        "#LastTime"
    ))?;
    let (mut diff_total, mut inflight_total) = (0i64, 0i64);
    let mut json_rows = Vec::new();
    for r in &rows {
        let diff = r.broker_offset - r.consumer_offset;
        let inflight = r.pull_offset - r.consumer_offset;
        diff_total += diff;
        inflight_total += inflight;
        let last = if r.last_timestamp_ms == 0 {
            "N/A".to_string()
        } else {
            date_time(r.last_timestamp_ms)
        };
        out.text(&format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {last}\n",
            front(&r.topic, 64),
            front(&r.broker_name, 32),
            r.queue_id,
            r.broker_offset,
            r.consumer_offset,
            diff,
            inflight
        ))?;
        json_rows.push(
            json!({"topic": r.topic, "brokerName": r.broker_name, "queueId": r.queue_id,
            "brokerOffset": r.broker_offset, "consumerOffset": r.consumer_offset, "diff": diff,
            "inflight": inflight, "lastTimestamp": r.last_timestamp_ms}),
        );
    }
    out.text(&format!(
        "\nConsume TPS: {tps:.2}\nConsume Diff Total: {diff_total}\nConsume Inflight Total: {inflight_total}\n"
    ))?;
    out.value(
        &json!({"group": group, "queues": json_rows, "consumeTps": tps,
        "diffTotal": diff_total, "inflightTotal": inflight_total}),
    )
}

/// `consumerProgress` without `-g`: every group that has a retry topic.
fn all_groups_progress(admin: &Admin, out: &mut Output, cluster: Option<&str>) -> Result<()> {
    let groups = known_groups(admin, cluster)?;
    out.text(&format!(
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    ))?;
    let mut progress = Progress::new("consumerProgress", groups.len());
    let mut json_rows = Vec::new();
    for g in &groups {
        let s = group_summary(admin, g, cluster);
        out.text(&format!(
            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
            front(g, 64),
            s.clients,
            s.version,
            s.kind,
            s.model,
            s.tps as i64,
            s.diff
        ))?;
        json_rows.push(
            json!({"group": g, "count": s.clients, "version": s.version, "type": s.kind,
            "model": s.model, "tps": s.tps, "diffTotal": s.diff}),
        );
        progress.step(g);
    }
    out.value(&Value::Array(json_rows))
}

/// Groups with a retry topic (RocketMQ's list), and the subscription
/// groups the masters hold (a group that only pulls has no retry topic).
fn known_groups(admin: &Admin, cluster: Option<&str>) -> Result<BTreeSet<String>> {
    let mut groups: BTreeSet<String> = admin
        .topic_list()?
        .into_iter()
        .filter_map(|t| t.strip_prefix("%RETRY%").map(str::to_string))
        .collect();
    for (_, addr) in admin.targets(None, cluster)? {
        if let Ok(v) = admin.json(&addr, RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[]) {
            let table = v["subscriptionGroupTable"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            groups.extend(table.into_iter().map(|(name, _)| name));
        }
    }
    // The tools' own pull group is not a consumer worth listing.
    groups.remove(super::message::TOOLS_CONSUMER);
    Ok(groups)
}

/// One group's line of `consumerProgress` without `-g`.
struct GroupSummary {
    /// Clients connected.
    clients: usize,
    /// The oldest client version, or `OFFLINE`.
    version: String,
    /// `PUSH`, `PULL`, `POP` or empty.
    kind: &'static str,
    /// The message model of a push group.
    model: String,
    tps: f64,
    /// Messages the group is behind, over every queue.
    diff: i64,
}

/// A group's consume stats and connections, summed up; what cannot be
/// read is left out.
fn group_summary(admin: &Admin, group: &str, cluster: Option<&str>) -> GroupSummary {
    let (rows, tps) = consume_stats(admin, group, None, cluster).unwrap_or_default();
    let diff: i64 = rows
        .iter()
        .map(|r| r.broker_offset - r.consumer_offset)
        .sum();
    let conn = consumer_connection_body(admin, group, None).ok();
    let set = conn
        .as_ref()
        .and_then(|c| c["connectionSet"].as_array().cloned())
        .unwrap_or_default();
    let version = set
        .iter()
        .filter_map(|c| c["version"].as_i64())
        .min()
        .map_or_else(|| "OFFLINE".to_string(), |v| version::name(v as i32));
    let kind = match conn.as_ref().and_then(|c| c["consumeType"].as_str()) {
        Some("CONSUME_PASSIVELY") => "PUSH",
        Some("CONSUME_ACTIVELY") => "PULL",
        Some("CONSUME_POP") => "POP",
        _ => "",
    };
    let model = if kind == "PUSH" {
        conn.as_ref()
            .and_then(|c| c["messageModel"].as_str())
            .unwrap_or_default()
    } else {
        ""
    };
    GroupSummary {
        clients: set.len(),
        version,
        kind,
        model: model.to_string(),
        tps,
        diff,
    }
}

/// `consumerConnection -g group [-b addr]`.
pub fn consumer_connection(
    admin: &Admin,
    out: &mut Output,
    group: &str,
    broker: Option<&str>,
) -> Result<()> {
    let v = consumer_connection_body(admin, group, broker)?;
    out.text(&format!(
        "{:<36} {:<22} {:<10} {}\n",
        "#ClientId", "#ClientAddr", "#Language", "#Version"
    ))?;
    for c in v["connectionSet"].as_array().into_iter().flatten() {
        out.text(&format!(
            "{:<36} {:<22} {:<10} {}\n",
            c["clientId"].as_str().unwrap_or_default(),
            c["clientAddr"].as_str().unwrap_or_default(),
            c["language"].as_str().unwrap_or_default(),
            version::name(c["version"].as_i64().unwrap_or(0) as i32)
        ))?;
    }
    out.text("\nBelow is subscription:\n")?;
    out.text(&format!("{:<20} {}\n", "#Topic", "#SubExpression"))?;
    for (topic, sub) in v["subscriptionTable"].as_object().into_iter().flatten() {
        out.text(&format!(
            "{topic:<20} {}\n",
            sub["subString"].as_str().unwrap_or_default()
        ))?;
    }
    out.text("\n")?;
    for (label, key) in [
        ("ConsumeType", "consumeType"),
        ("MessageModel", "messageModel"),
        ("ConsumeFromWhere", "consumeFromWhere"),
    ] {
        out.text(&format!(
            "{label}: {}\n",
            v[key].as_str().unwrap_or_default()
        ))?;
    }
    out.value(&v)
}

/// `producerConnection -g group -t topic`: every master of the topic's
/// route is asked (each RingMQ shard knows the producers connected to it).
pub fn producer_connection(
    admin: &Admin,
    out: &mut Output,
    group: &str,
    topic: &str,
) -> Result<()> {
    let route = admin.topic_route(topic)?;
    let mut seen = BTreeMap::new();
    let mut refused = None;
    for (_, addr) in route.masters() {
        match admin.json(
            &addr,
            RequestCode::GET_PRODUCER_CONNECTION_LIST,
            &[("producerGroup", group.to_string())],
        ) {
            Ok(v) => {
                for c in v["connectionSet"].as_array().into_iter().flatten() {
                    let id = c["clientId"].as_str().unwrap_or_default().to_string();
                    seen.entry(id).or_insert_with(|| c.clone());
                }
            }
            // A broker without the group's producers says so; anything
            // else (no permission, no answer) is worth showing.
            Err(e)
                if e.downcast_ref::<Refused>()
                    .is_some_and(|r| r.code == ResponseCode::SYSTEM_ERROR) => {}
            Err(e) => refused = Some(e),
        }
    }
    if seen.is_empty() {
        return Err(refused.unwrap_or_else(|| anyhow!("Not found the producer group connection")));
    }
    for (i, c) in seen.values().enumerate() {
        out.text(&format!(
            "{:04}  {:<32} {:<22} {:<8} {}\n",
            i + 1,
            c["clientId"].as_str().unwrap_or_default(),
            c["clientAddr"].as_str().unwrap_or_default(),
            c["language"].as_str().unwrap_or_default(),
            version::name(c["version"].as_i64().unwrap_or(0) as i32)
        ))?;
    }
    out.value(
        &json!({"producerGroup": group, "connectionSet": seen.into_values().collect::<Vec<_>>()}),
    )
}

/// What `resetOffsetByTime` resets: a group's offsets in a topic, back (or
/// forward) to a time.
#[derive(Clone, Copy, Debug)]
pub struct OffsetReset<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    /// The time as the operator gave it, printed back.
    pub time_text: &'a str,
    /// The time in ms since the epoch.
    pub timestamp: i64,
    /// Also move the group forward (not only back).
    pub force: bool,
}

/// `resetOffsetByTime -g group -t topic -s time [-f force]`, or one queue:
/// `-b addr -q queueId [-o offset]`.
pub fn reset_offset_by_time(
    admin: &Admin,
    out: &mut Output,
    reset: &OffsetReset,
    one_queue: Option<(&str, i32, Option<i64>)>,
) -> Result<()> {
    match one_queue {
        Some((addr, queue_id, offset)) => {
            reset_one_queue(admin, out, reset, addr, queue_id, offset)
        }
        None => reset_every_master(admin, out, reset),
    }
}

/// `-b addr -q queueId [-o offset]`: the offset given, or the one at the
/// time, is committed (when above 0, as RocketMQ's tool does) and the
/// group's clients are told to move to it.
fn reset_one_queue(
    admin: &Admin,
    out: &mut Output,
    reset: &OffsetReset,
    addr: &str,
    queue_id: i32,
    offset: Option<i64>,
) -> Result<()> {
    let OffsetReset {
        group,
        topic,
        time_text,
        timestamp,
        ..
    } = *reset;
    out.text(&format!(
        "start reset consumer offset by specified, group[{group}], topic[{topic}], queueId[{queue_id}], broker[{addr}], timestamp(string)[{time_text}], timestamp(long)[{timestamp}]\n"
    ))?;
    let offset = match offset {
        Some(o) => o,
        None => {
            let r = admin.invoke(
                addr,
                request(
                    RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
                    &[
                        ("topic", topic.to_string()),
                        ("queueId", queue_id.to_string()),
                        ("timestamp", timestamp.to_string()),
                    ],
                ),
            )?;
            r.ext_field("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0)
        }
    };
    out.text(&format!("reset consumer offset to {offset}\n"))?;
    if offset > 0 {
        commit_queue_offset(admin, reset, addr, queue_id, offset)?;
    }
    out.value(&json!({"group": group, "topic": topic, "broker": addr, "queueId": queue_id, "offset": offset}))
}

/// Commits `offset` of one queue and has the broker tell the group's
/// clients to move there.
fn commit_queue_offset(
    admin: &Admin,
    reset: &OffsetReset,
    addr: &str,
    queue_id: i32,
    offset: i64,
) -> Result<()> {
    admin.invoke(
        addr,
        request(
            RequestCode::UPDATE_CONSUMER_OFFSET,
            &[
                ("consumerGroup", reset.group.to_string()),
                ("topic", reset.topic.to_string()),
                ("queueId", queue_id.to_string()),
                ("commitOffset", offset.to_string()),
            ],
        ),
    )?;
    admin.invoke(
        addr,
        request(
            RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
            &[
                ("topic", reset.topic.to_string()),
                ("group", reset.group.to_string()),
                ("queueId", queue_id.to_string()),
                ("offset", offset.to_string()),
                ("timestamp", "0".to_string()),
                ("isForce", "true".to_string()),
            ],
        ),
    )?;
    Ok(())
}

/// Every master of the topic resets the group (`INVOKE_BROKER_TO_RESET_OFFSET`);
/// a broker that fails is shown, and fails the command after the others.
fn reset_every_master(admin: &Admin, out: &mut Output, reset: &OffsetReset) -> Result<()> {
    let masters = admin.topic_route(reset.topic)?.masters();
    let mut progress = Progress::new("resetOffsetByTime", masters.len());
    let mut table: Vec<(String, i32, i64)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for (name, addr) in &masters {
        let v = match broker_reset(admin, addr, reset) {
            Ok(v) => v,
            Err(e)
                if table.is_empty()
                    && e.downcast_ref::<Refused>()
                        .is_some_and(|r| r.code == ResponseCode::CONSUMER_NOT_ONLINE) =>
            {
                // A RocketMQ 4.x broker with the group offline: write the
                // offsets directly, as mqadmin's old path does.
                drop(progress);
                return reset_offline(admin, out, reset, &masters);
            }
            // The others are still reset, and shown; the command fails after.
            Err(e) => {
                failures.push(format!("{name} ({addr}): {e:#}"));
                progress.step(name);
                continue;
            }
        };
        for (key, offset) in v["offsetTable"].as_object().into_iter().flatten() {
            let mq = fastjson::parse_key(key).unwrap_or(Value::Null);
            table.push((
                mq["brokerName"].as_str().unwrap_or(name).to_string(),
                mq["queueId"].as_i64().unwrap_or(-1) as i32,
                offset.as_i64().unwrap_or(0),
            ));
        }
        progress.step(name);
    }
    drop(progress);
    table.sort();
    print_reset_table(out, reset, &table, &failures)?;
    if !failures.is_empty() {
        bail!(
            "the reset failed on {} broker(s): {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(())
}

/// One broker resets the group's offsets in the topic to the time; its
/// answer holds the new offset of each queue.
fn broker_reset(admin: &Admin, addr: &str, reset: &OffsetReset) -> Result<Value> {
    admin.json(
        addr,
        RequestCode::INVOKE_BROKER_TO_RESET_OFFSET,
        &[
            ("topic", reset.topic.to_string()),
            ("group", reset.group.to_string()),
            ("timestamp", reset.timestamp.to_string()),
            ("isForce", reset.force.to_string()),
            ("queueId", "-1".to_string()),
            ("offset", "-1".to_string()),
        ],
    )
}

/// Prints the queues reset, as (broker name, queue id, offset), and (in
/// JSON) the brokers that failed.
fn print_reset_table(
    out: &mut Output,
    reset: &OffsetReset,
    table: &[(String, i32, i64)],
    failures: &[String],
) -> Result<()> {
    let OffsetReset {
        group,
        topic,
        time_text,
        timestamp,
        force,
    } = *reset;
    out.text(&format!(
        "start reset consumer offset by specified, group[{group}], topic[{topic}], force[{force}], timestamp(string)[{time_text}], timestamp(long)[{timestamp}]\n"
    ))?;
    out.text(&format!(
        "{:<40}  {:<40}  {:<40}\n",
        "#brokerName", "#queueId", "#offset"
    ))?;
    for (b, q, o) in table {
        out.text(&format!("{:<40}  {q:<40}  {o:<40}\n", front(b, 32)))?;
    }
    let rows: Vec<Value> = table
        .iter()
        .map(|(b, q, o)| json!({"brokerName": b, "queueId": q, "offset": o}))
        .collect();
    out.value(
        &json!({"group": group, "topic": topic, "timestamp": timestamp,
        "offsets": rows, "failures": failures}),
    )
}

/// One queue's line of the old reset path.
struct QueueReset {
    broker_offset: i64,
    consumer_offset: i64,
    /// The offset at the time.
    timestamp_offset: i64,
    /// The offset the group has now.
    reset_offset: i64,
}

/// mqadmin's old reset path (`resetOffsetByTimeOld`): per queue, the offset
/// at `timestamp` is committed with `UPDATE_CONSUMER_OFFSET` when forced or
/// when it moves the group back.
fn reset_offline(
    admin: &Admin,
    out: &mut Output,
    reset: &OffsetReset,
    masters: &[(String, String)],
) -> Result<()> {
    let OffsetReset {
        group,
        topic,
        time_text,
        timestamp,
        force,
    } = *reset;
    let route = admin.topic_route(topic)?;
    out.text(&format!(
        "reset consumer offset by specified consumerGroup[{group}], topic[{topic}], force[{force}], timestamp(string)[{time_text}], timestamp(long)[{timestamp}]\n"
    ))?;
    out.text(&format!(
        "{:<20}  {:<20}  {:<20}  {:<20}  {:<20}  {:<20}\n",
        "#brokerName",
        "#queueId",
        "#brokerOffset",
        "#consumerOffset",
        "#timestampOffset",
        "#resetOffset"
    ))?;
    let mut progress = Progress::new("resetOffsetByTime", masters.len());
    let mut rows = Vec::new();
    for (name, addr) in masters {
        let queues = route
            .queues
            .iter()
            .find(|q| &q.broker_name == name)
            .map_or(0, |q| q.read_queue_nums);
        for q in 0..queues {
            let r = reset_queue_offline(admin, reset, addr, q)?;
            out.text(&format!(
                "{:<20}  {q:<20}  {:<20}  {:<20}  {:<20}  {:<20}\n",
                front(name, 20),
                r.broker_offset,
                r.consumer_offset,
                r.timestamp_offset,
                r.reset_offset
            ))?;
            rows.push(
                json!({"brokerName": name, "queueId": q, "brokerOffset": r.broker_offset,
                "consumerOffset": r.consumer_offset, "timestampOffset": r.timestamp_offset,
                "resetOffset": r.reset_offset}),
            );
        }
        progress.step(name);
    }
    drop(progress);
    out.value(&json!({"group": group, "topic": topic, "timestamp": timestamp, "offsets": rows}))
}

/// One queue of the old reset path. A failed request stops the reset:
/// committing a guess would replay (or skip) a whole queue.
fn reset_queue_offline(
    admin: &Admin,
    reset: &OffsetReset,
    addr: &str,
    q: i32,
) -> Result<QueueReset> {
    let offset = |code: i32, extra: Vec<(&'static str, String)>| -> Result<i64> {
        let mut fields = vec![
            ("topic", reset.topic.to_string()),
            ("queueId", q.to_string()),
        ];
        fields.extend(extra);
        offset_in_answer(admin.invoke(addr, request(code, &fields)), addr)
    };
    let broker_offset = offset(RequestCode::GET_MAX_OFFSET, vec![])?;
    let consumer_offset = offset(
        RequestCode::QUERY_CONSUMER_OFFSET,
        vec![("consumerGroup", reset.group.to_string())],
    )?;
    let at = if reset.timestamp == -1 {
        broker_offset
    } else {
        offset(
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            vec![("timestamp", reset.timestamp.to_string())],
        )?
    };
    let reset_offset = if reset.force || at <= consumer_offset {
        admin.invoke(
            addr,
            request(
                RequestCode::UPDATE_CONSUMER_OFFSET,
                &[
                    ("topic", reset.topic.to_string()),
                    ("queueId", q.to_string()),
                    ("consumerGroup", reset.group.to_string()),
                    ("commitOffset", at.to_string()),
                ],
            ),
        )?;
        at
    } else {
        consumer_offset
    };
    Ok(QueueReset {
        broker_offset,
        consumer_offset,
        timestamp_offset: at,
        reset_offset,
    })
}

/// The `offset` field of an answer from `addr`; 0 when the broker has
/// none to give (`QUERY_NOT_FOUND`).
fn offset_in_answer(answer: Result<ringmq_net::RemotingCommand>, addr: &str) -> Result<i64> {
    let r = match answer {
        Err(e)
            if e.downcast_ref::<Refused>()
                .is_some_and(|r| r.code == ResponseCode::QUERY_NOT_FOUND) =>
        {
            return Ok(0);
        }
        other => other?,
    };
    r.ext_field("offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no offset in the answer of {addr}"))
}
