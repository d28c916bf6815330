//! Topic commands: `updateTopic`, `deleteTopic`, `topicList`, `topicRoute`,
//! `topicStatus`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use ringmq_net::RequestCode;
use serde_json::{json, Value};

use super::client::{request, Admin};
use super::{front, human_ms, perm_text, Output};
use ringmq_net::fastjson;

/// What `updateTopic` creates or changes.
#[derive(Clone, Debug)]
pub struct TopicSpec {
    pub topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    pub order: bool,
    /// `TopicSysFlag.buildSysFlag(unit, hasUnitSub)`.
    pub sys_flag: i32,
    pub attributes: Option<String>,
}

impl TopicSpec {
    /// RocketMQ 5's `TopicConfig.toString`.
    fn describe(&self) -> String {
        format!(
            "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType=SINGLE_TAG, topicSysFlag={}, order={}, attributes={{{}}}]",
            self.topic,
            self.read_queue_nums,
            self.write_queue_nums,
            perm_text(self.perm),
            self.sys_flag,
            self.order,
            self.attributes.as_deref().unwrap_or_default()
        )
    }

    fn fields(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![
            ("topic", self.topic.clone()),
            ("defaultTopic", "TBW102".to_string()),
            ("readQueueNums", self.read_queue_nums.to_string()),
            ("writeQueueNums", self.write_queue_nums.to_string()),
            ("perm", self.perm.to_string()),
            ("topicFilterType", "SINGLE_TAG".to_string()),
            ("topicSysFlag", self.sys_flag.to_string()),
            ("order", self.order.to_string()),
            ("force", "false".to_string()),
        ];
        if let Some(a) = &self.attributes {
            f.push(("attributes", a.clone()));
        }
        f
    }
}

/// `updateTopic -b addr | -c cluster`.
pub fn update_topic(
    admin: &Admin,
    out: &mut Output,
    spec: &TopicSpec,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<()> {
    if let Some(c) = cluster {
        if !admin.cluster_info()?.clusters.contains_key(c) {
            bail!("[error] Make sure the specified clusterName exists or the name server connected to is correct.");
        }
    }
    let targets = admin.targets(broker, cluster)?;
    if targets.is_empty() {
        bail!("no master broker to create {} on", spec.topic);
    }
    let mut created = Vec::new();
    // With -b the broker's entry is merged into the topic's order conf and
    // announced first; with -c the conf is the cluster's masters, after.
    let order_conf = if spec.order {
        Some(order_conf(admin, spec, &targets, broker.is_some())?)
    } else {
        None
    };
    if let (Some(conf), true) = (&order_conf, broker.is_some()) {
        out.text(&format!(
            "set broker orderConf. isOrder={}, orderConf=[{conf}]\n",
            spec.order
        ))?;
    }
    for (name, addr) in &targets {
        admin.invoke(
            addr,
            request(RequestCode::UPDATE_AND_CREATE_TOPIC, &spec.fields()),
        )?;
        out.text(&format!("create topic to {addr} success.\n"))?;
        created.push(json!({"brokerName": name, "addr": addr}));
    }
    if let (Some(conf), true) = (&order_conf, broker.is_none()) {
        out.text(&format!(
            "set cluster orderConf. isOrder={}, orderConf=[{conf}]\n",
            spec.order
        ))?;
    }
    out.text(&format!("{}\n", spec.describe()))?;
    out.value(
        &json!({"topic": spec.topic, "created": created, "readQueueNums": spec.read_queue_nums,
        "writeQueueNums": spec.write_queue_nums, "perm": spec.perm, "order": spec.order}),
    )
}

/// Writes the topic's `ORDER_TOPIC_CONFIG` (`broker:queues;...`) on the
/// name server and returns it: merged into the old value for one broker,
/// the cluster's masters otherwise.
fn order_conf(
    admin: &Admin,
    spec: &TopicSpec,
    targets: &[(String, String)],
    merge: bool,
) -> Result<String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    if merge {
        let old = admin.namesrv(request(
            RequestCode::GET_KV_CONFIG,
            &[
                ("namespace", "ORDER_TOPIC_CONFIG".into()),
                ("key", spec.topic.clone()),
            ],
        ));
        if let Ok(r) = old {
            for part in r.ext_field("value").unwrap_or_default().split(';') {
                if let Some((b, n)) = part.split_once(':') {
                    entries.push((b.to_string(), n.to_string()));
                }
            }
        }
    }
    for (name, _) in targets {
        entries.retain(|(b, _)| b != name);
        entries.push((name.clone(), spec.write_queue_nums.to_string()));
    }
    let conf: Vec<String> = entries.iter().map(|(b, n)| format!("{b}:{n}")).collect();
    let conf = conf.join(";");
    admin.namesrv(request(
        RequestCode::PUT_KV_CONFIG,
        &[
            ("namespace", "ORDER_TOPIC_CONFIG".into()),
            ("key", spec.topic.clone()),
            ("value", conf.clone()),
        ],
    ))?;
    Ok(conf)
}

/// `deleteTopic -t topic -c cluster`: from every master of the cluster,
/// then from every name server.
pub fn delete_topic(admin: &Admin, out: &mut Output, topic: &str, cluster: &str) -> Result<()> {
    let info = admin.cluster_info()?;
    if !info.clusters.contains_key(cluster) {
        bail!("cluster {cluster} is not known to the name server");
    }
    let mut brokers = Vec::new();
    for (name, addr) in info.masters(Some(cluster)) {
        admin.invoke(
            addr.as_str(),
            request(
                RequestCode::DELETE_TOPIC_IN_BROKER,
                &[("topic", topic.to_string())],
            ),
        )?;
        brokers.push(name);
    }
    out.text(&format!(
        "delete topic [{topic}] from cluster [{cluster}] success.\n"
    ))?;
    admin.every_namesrv(&request(
        RequestCode::DELETE_TOPIC_IN_NAMESRV,
        &[
            ("topic", topic.to_string()),
            ("clusterName", cluster.to_string()),
        ],
    ))?;
    out.text(&format!(
        "delete topic [{topic}] from NameServer success.\n"
    ))?;
    out.value(&json!({"topic": topic, "cluster": cluster, "brokers": brokers}))
}

/// `topicList [-c]`.
pub fn topic_list(admin: &Admin, out: &mut Output, cluster_model: bool) -> Result<()> {
    let topics = admin.topic_list()?;
    if !cluster_model {
        for t in &topics {
            out.text(&format!("{t}\n"))?;
        }
        return out.value(&json!({ "topicList": topics }));
    }
    let info = admin.cluster_info()?;
    out.text(&format!(
        "{:<20}  {:<48}  {:<48}\n",
        "#Cluster Name", "#Topic", "#Consumer Group"
    ))?;
    let mut rows = Vec::new();
    for t in topics
        .iter()
        .filter(|t| !t.starts_with("%RETRY%") && !t.starts_with("%DLQ%"))
    {
        let (cluster, groups) = topic_consumers(admin, &info, t).unwrap_or_default();
        let groups = if groups.is_empty() {
            vec![String::new()]
        } else {
            groups
        };
        for g in groups {
            out.text(&format!(
                "{:<20}  {:<64}  {:<64}\n",
                front(&cluster, 20),
                front(t, 64),
                front(&g, 64)
            ))?;
            rows.push(json!({"cluster": cluster, "topic": t, "consumerGroup": g}));
        }
    }
    out.value(&Value::Array(rows))
}

/// The cluster of `topic`'s first broker and the groups consuming it
/// (`QUERY_TOPIC_CONSUME_BY_WHO`, or the groups with offsets on it).
fn topic_consumers(
    admin: &Admin,
    info: &super::client::ClusterInfo,
    topic: &str,
) -> Result<(String, Vec<String>)> {
    let route = admin.topic_route(topic)?;
    let first = route
        .queues
        .first()
        .map(|q| q.broker_name.clone())
        .unwrap_or_default();
    let cluster = info
        .clusters
        .iter()
        .find(|(_, names)| names.contains(&first))
        .map(|(c, _)| c.clone())
        .unwrap_or_default();
    let Some((_, addr)) = route.masters().into_iter().next() else {
        return Ok((cluster, Vec::new()));
    };
    let v = admin.json(
        &addr,
        RequestCode::QUERY_TOPIC_CONSUME_BY_WHO,
        &[("topic", topic.to_string())],
    )?;
    let mut groups: Vec<String> = v["groupList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(str::to_string))
        .collect();
    groups.sort();
    Ok((cluster, groups))
}

/// `topicRoute -t topic [-l]`.
pub fn topic_route(admin: &Admin, out: &mut Output, topic: &str, list: bool) -> Result<()> {
    let route = admin.topic_route(topic)?;
    if !list {
        out.text(&format!("{}\n", serde_json::to_string_pretty(&route.raw)?))?;
        return out.value(&route.raw);
    }
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        format!("{a:<45} {b:<32} {c:<50} {d:<10} {e:<11} {f:<5}\n")
    };
    out.text(&row(
        "#ClusterName",
        "#BrokerName",
        "#BrokerAddrs",
        "#ReadQueue",
        "#WriteQueue",
        "#Perm",
    ))?;
    let (mut read, mut write) = (0, 0);
    for (name, group) in &route.brokers {
        let Some(q) = route.queues.iter().find(|q| &q.broker_name == name) else {
            continue;
        };
        let addrs: Vec<String> = group
            .addrs
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        out.text(&row(
            &group.cluster,
            name,
            &format!("{{{}}}", addrs.join(", ")),
            &q.read_queue_nums.to_string(),
            &q.write_queue_nums.to_string(),
            &q.perm.to_string(),
        ))?;
        read += q.read_queue_nums;
        write += q.write_queue_nums;
    }
    out.text(&format!("{}\n", "-".repeat(158)))?;
    let brokers: std::collections::BTreeSet<&str> = route
        .queues
        .iter()
        .map(|q| q.broker_name.as_str())
        .collect();
    out.text(&row(
        "Total:",
        &brokers.len().to_string(),
        "",
        &read.to_string(),
        &write.to_string(),
        "",
    ))?;
    out.value(&route.raw)
}

/// One queue's offsets from `GET_TOPIC_STATS_INFO`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueStats {
    pub broker_name: String,
    pub queue_id: i32,
    pub min_offset: i64,
    pub max_offset: i64,
    pub last_update_ms: i64,
}

/// `GET_TOPIC_STATS_INFO` from every master that has `topic`.
pub fn topic_stats(admin: &Admin, topic: &str) -> Result<(Vec<QueueStats>, f64)> {
    let route = admin.topic_route(topic)?;
    let mut rows = Vec::new();
    let mut tps = 0.0;
    for (_, addr) in route.masters() {
        let v = admin.json(
            &addr,
            RequestCode::GET_TOPIC_STATS_INFO,
            &[("topic", topic.to_string())],
        )?;
        tps += v["topicPutTps"].as_f64().unwrap_or(0.0);
        for (key, stats) in v["offsetTable"].as_object().into_iter().flatten() {
            let mq = fastjson::parse_key(key).unwrap_or(Value::Null);
            rows.push(QueueStats {
                broker_name: mq["brokerName"].as_str().unwrap_or_default().to_string(),
                queue_id: mq["queueId"].as_i64().unwrap_or(-1) as i32,
                min_offset: stats["minOffset"].as_i64().unwrap_or(0),
                max_offset: stats["maxOffset"].as_i64().unwrap_or(0),
                last_update_ms: stats["lastUpdateTimestamp"].as_i64().unwrap_or(0),
            });
        }
    }
    rows.sort();
    Ok((rows, tps))
}

/// `topicStatus -t topic`.
pub fn topic_status(admin: &Admin, out: &mut Output, topic: &str) -> Result<()> {
    let (rows, tps) = topic_stats(admin, topic)?;
    if rows.is_empty() {
        bail!("Not found the topic stats info");
    }
    out.text(&format!(
        "{:<32}  {:<4}  {:<20}  {:<20}    {}\n",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
    ))?;
    let mut json_rows = Vec::new();
    for r in &rows {
        let updated = if r.last_update_ms > 0 {
            human_ms(r.last_update_ms)
        } else {
            String::new()
        };
        out.text(&format!(
            "{:<32}  {:<4}  {:<20}  {:<20}    {updated}\n",
            front(&r.broker_name, 32),
            r.queue_id,
            r.min_offset,
            r.max_offset
        ))?;
        json_rows.push(json!({"brokerName": r.broker_name, "queueId": r.queue_id,
            "minOffset": r.min_offset, "maxOffset": r.max_offset, "lastUpdateTimestamp": r.last_update_ms}));
    }
    out.text(&format!("\nTopic Put TPS: {tps:?}\n"))?;
    let per_broker: BTreeMap<&str, i64> = rows.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.broker_name.as_str()).or_default() += r.max_offset - r.min_offset;
        m
    });
    out.value(&json!({"topic": topic, "queues": json_rows, "topicPutTps": tps, "messagesByBroker": per_broker}))
}
