//! Message commands: `queryMsgById`, `queryMsgByKey`, `queryMsgByOffset`,
//! `queryMsgByUniqueKey`, `sendMessage`, `consumeMessage`, `printMsg`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use ringmq_net::header::pull_sys_flag;
use ringmq_net::message::property::{KEYS, TAGS, UNIQ_CLIENT_MESSAGE_ID_KEYIDX};
use ringmq_net::message::stored::iter_stored;
use ringmq_net::message::{encode_properties, iter_properties, OffsetMessageId, UniqKeyGenerator};
use ringmq_net::{RemotingCommand, RequestCode, ResponseCode};
use serde_json::{json, Value};

use super::client::{request, Admin, TopicRoute};
use super::{human_ms, now_ms, Output};

/// The pull group the tools read with, as RocketMQ's (`TOOLS_CONSUMER`).
pub const TOOLS_CONSUMER: &str = "TOOLS_CONSUMER";
/// Where message bodies are written for the operator, as RocketMQ does.
pub const BODY_DIR: &str = "/tmp/rocketmq/msgbodys";
/// Pulls in a row that may leave a queue's offset where it was before
/// printMsg/consumeMessage give the queue up.
const PULL_STALLS_MAX: u32 = 3;
/// Most messages one query asks a broker for.
const QUERY_MAX_NUM: i32 = 32;

/// A message as the tools print it.
#[derive(Clone, Debug)]
pub struct Message {
    pub broker_name: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub store_size: i32,
    pub sys_flag: i32,
    pub flag: i32,
    pub body_crc: i32,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub born_timestamp_ms: i64,
    pub store_timestamp_ms: i64,
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub properties: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Message {
    /// The offset message id: where the message is stored.
    pub fn offset_msg_id(&self) -> String {
        OffsetMessageId {
            store_host: self.store_host,
            commit_log_offset: self.commit_log_offset,
        }
        .encode()
    }

    /// The id clients know (`UNIQ_KEY`), or the offset id without one.
    pub fn msg_id(&self) -> String {
        self.properties
            .get(UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
            .cloned()
            .unwrap_or_else(|| self.offset_msg_id())
    }

    fn property(&self, name: &str) -> &str {
        self.properties.get(name).map_or("", String::as_str)
    }

    /// Java's `HashMap.toString` of the properties: `{K=V, K2=V2}`.
    fn properties_text(&self) -> String {
        let pairs: Vec<String> = self
            .properties
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{{{}}}", pairs.join(", "))
    }

    /// RocketMQ's `MessageExt.toString`.
    fn describe(&self) -> String {
        let body: Vec<String> = self.body.iter().map(|b| (*b as i8).to_string()).collect();
        format!(
            "MessageExt [brokerName={}, queueId={}, storeSize={}, queueOffset={}, sysFlag={}, bornTimestamp={}, bornHost=/{}, storeTimestamp={}, storeHost=/{}, msgId={}, commitLogOffset={}, bodyCRC={}, reconsumeTimes={}, preparedTransactionOffset={}, toString()=Message{{topic='{}', flag={}, properties={}, body=[{}], transactionId='null'}}]",
            self.broker_name, self.queue_id, self.store_size, self.queue_offset, self.sys_flag,
            self.born_timestamp_ms, self.born_host, self.store_timestamp_ms, self.store_host,
            self.offset_msg_id(), self.commit_log_offset, self.body_crc, self.reconsume_times,
            self.prepared_transaction_offset, self.topic, self.flag, self.properties_text(), body.join(", ")
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "msgId": self.msg_id(), "offsetMsgId": self.offset_msg_id(), "brokerName": self.broker_name,
            "topic": self.topic, "queueId": self.queue_id, "queueOffset": self.queue_offset,
            "commitLogOffset": self.commit_log_offset, "reconsumeTimes": self.reconsume_times,
            "bornTimestamp": self.born_timestamp_ms, "storeTimestamp": self.store_timestamp_ms,
            "bornHost": self.born_host.to_string(), "storeHost": self.store_host.to_string(),
            "sysFlag": self.sys_flag, "properties": self.properties,
            "body": String::from_utf8_lossy(&self.body),
        })
    }
}

/// The records of a pull, query or view body.
fn decode_messages(body: &[u8], broker_name: &str) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    for r in iter_stored(body) {
        let r = r.map_err(|e| anyhow!("message body: {e}"))?;
        let properties = std::str::from_utf8(r.properties)
            .map(|t| {
                iter_properties(t)
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        out.push(Message {
            broker_name: broker_name.to_string(),
            topic: String::from_utf8_lossy(r.topic).into_owned(),
            queue_id: r.queue_id,
            queue_offset: r.queue_offset,
            commit_log_offset: r.physical_offset,
            store_size: r.store_size,
            sys_flag: r.sys_flag,
            flag: r.flag,
            body_crc: r.body_crc,
            reconsume_times: r.reconsume_times,
            prepared_transaction_offset: r.prepared_transaction_offset,
            born_timestamp_ms: r.born_timestamp_ms,
            store_timestamp_ms: r.store_timestamp_ms,
            born_host: r.born_host,
            store_host: r.store_host,
            properties,
            body: r.body.to_vec(),
        });
    }
    Ok(out)
}

/// Writes the body where RocketMQ's tools put it; returns the path. The
/// file is named after the id only when the id is a plain name (a unique
/// key is the producer's to choose: `../` must not leave the directory).
fn save_body(name: &str, fallback: &str, body: &[u8]) -> String {
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() <= 128
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let name = if plain(name) { name } else { fallback };
    let path = format!("{BODY_DIR}/{name}");
    let saved = std::fs::create_dir_all(BODY_DIR).and_then(|()| std::fs::write(&path, body));
    if let Err(e) = saved {
        eprintln!("cannot write the body to {path}: {e}");
    }
    path
}

/// The detail lines of one message (RocketMQ's `printMsg`).
fn detail(m: &Message, offset_id: bool, body_path: &str, show_body: bool) -> String {
    let mut t = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| t.push_str(&format!("{k:<20} {v}\n"));
    if offset_id {
        line("OffsetID:", &m.offset_msg_id());
    }
    line("Topic:", &m.topic);
    line("Tags:", &format!("[{}]", m.property(TAGS)));
    line("Keys:", &format!("[{}]", m.property(KEYS)));
    line("Queue ID:", &m.queue_id);
    line("Queue Offset:", &m.queue_offset);
    line("CommitLog Offset:", &m.commit_log_offset);
    line("Reconsume Times:", &m.reconsume_times);
    line("Born Timestamp:", &human_ms(m.born_timestamp_ms));
    line("Store Timestamp:", &human_ms(m.store_timestamp_ms));
    line("Born Host:", &m.born_host);
    line("Store Host:", &m.store_host);
    line("System Flag:", &m.sys_flag);
    line("Properties:", &m.properties_text());
    line("Message Body Path:", &body_path);
    if show_body {
        line("Message Body:", &String::from_utf8_lossy(&m.body));
    }
    t
}

/// Whether each group that consumes the topic has consumed `m` (RocketMQ's
/// message track).
fn tracks(admin: &Admin, m: &Message) -> Vec<(String, &'static str)> {
    let Some((_, addr)) = admin
        .topic_route(&m.topic)
        .ok()
        .and_then(|r| r.masters().into_iter().find(|(n, _)| n == &m.broker_name))
    else {
        return Vec::new();
    };
    let Ok(v) = admin.json(
        &addr,
        RequestCode::QUERY_TOPIC_CONSUME_BY_WHO,
        &[("topic", m.topic.clone())],
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for g in v["groupList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let online = admin
            .json(
                &addr,
                RequestCode::GET_CONSUMER_CONNECTION_LIST,
                &[("consumerGroup", g.to_string())],
            )
            .ok();
        let track = match online {
            None => "NOT_ONLINE",
            Some(c) if c["messageModel"] == "BROADCASTING" => "CONSUME_BROADCASTING",
            Some(_) => {
                let consumed = super::group::consume_stats(admin, g, Some(&m.topic), None)
                    .ok()
                    .and_then(|(rows, _)| {
                        rows.into_iter()
                            .find(|r| r.broker_name == m.broker_name && r.queue_id == m.queue_id)
                    })
                    .is_some_and(|r| r.consumer_offset > m.queue_offset);
                if consumed {
                    "CONSUMED"
                } else {
                    "NOT_CONSUME_YET"
                }
            }
        };
        out.push((g.to_string(), track));
    }
    out
}

fn print_tracks(out: &mut Output, tracks: &[(String, &str)]) -> Result<()> {
    if tracks.is_empty() {
        return out.text("\n\nWARN: No Consumer");
    }
    out.text("\n\n")?;
    for (g, t) in tracks {
        out.text(&format!(
            "MessageTrack [consumerGroup={g}, trackType={t}, exceptionDesc=null]\n"
        ))?;
    }
    Ok(())
}

fn print_one(
    admin: &Admin,
    out: &mut Output,
    m: &Message,
    offset_id: bool,
    body_file: &str,
    show_body: bool,
) -> Result<Value> {
    let path = if out.save_bodies {
        save_body(body_file, &m.offset_msg_id(), &m.body)
    } else {
        String::new()
    };
    out.text(&detail(m, offset_id, &path, show_body))?;
    let tracks = tracks(admin, m);
    print_tracks(out, &tracks)?;
    let mut v = m.to_json();
    v["tracks"] = json!(tracks
        .iter()
        .map(|(g, t)| json!({"consumerGroup": g, "trackType": t}))
        .collect::<Vec<_>>());
    v["bodyPath"] = json!(path);
    Ok(v)
}

/// `QUERY_MESSAGE` on every master of `topic`'s route.
fn query(
    admin: &Admin,
    topic: &str,
    key: &str,
    unique: bool,
    max_num: i32,
    begin: i64,
    end: i64,
) -> Result<Vec<Message>> {
    let route = admin.topic_route(topic)?;
    let mut found = Vec::new();
    for (name, addr) in route.masters() {
        let r = admin.call(
            &addr,
            request(
                RequestCode::QUERY_MESSAGE,
                &[
                    ("topic", topic.to_string()),
                    ("key", key.to_string()),
                    ("maxNum", max_num.to_string()),
                    ("beginTimestamp", begin.to_string()),
                    ("endTimestamp", end.to_string()),
                    ("_UNIQUE_KEY_QUERY", unique.to_string()),
                ],
            ),
        )?;
        match r.code {
            ResponseCode::SUCCESS => found.extend(decode_messages(&r.body, &name)?),
            ResponseCode::QUERY_NOT_FOUND => {}
            code => bail!(
                "query on {name} ({addr}): CODE: {code} DESC: {}",
                r.remark.unwrap_or_default()
            ),
        }
    }
    Ok(found
        .into_iter()
        .filter(|m| m.topic == topic)
        .filter(|m| {
            if unique {
                m.property(UNIQ_CLIENT_MESSAGE_ID_KEYIDX) == key
            } else {
                m.property(KEYS).split(' ').any(|k| k == key)
            }
        })
        .collect())
}

/// By offset message id (`VIEW_MESSAGE_BY_ID` at the address in the id).
fn view_by_offset_id(admin: &Admin, topic: &str, id: &str) -> Result<Message> {
    let decoded = OffsetMessageId::decode(id)
        .map_err(|e| anyhow!("{id} is not an offset message id: {e}"))?;
    let addr = decoded.store_host.to_string();
    let r = admin.invoke(
        &addr,
        request(
            RequestCode::VIEW_MESSAGE_BY_ID,
            &[
                ("offset", decoded.commit_log_offset.to_string()),
                ("topic", topic.to_string()),
            ],
        ),
    )?;
    decode_messages(&r.body, "")?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{addr} returned no message for {id}"))
}

/// `queryMsgById -t topic -i id[,id...] [-f]`: an offset message id, or a
/// unique key when the id does not lead to a message.
pub fn query_msg_by_id(
    admin: &Admin,
    out: &mut Output,
    topic: &str,
    ids: &str,
    show_body: bool,
) -> Result<()> {
    let mut all = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let msg = match view_by_offset_id(admin, topic, id) {
            Ok(m) => Some(m),
            Err(_) => query(admin, topic, id, true, QUERY_MAX_NUM, 0, i64::MAX)?
                .into_iter()
                .min_by_key(|m| m.store_timestamp_ms),
        };
        let Some(mut m) = msg else {
            out.text("\nMessage not found!")?;
            continue;
        };
        if m.broker_name.is_empty() {
            m.broker_name = broker_of(admin, topic, m.store_host).unwrap_or_default();
        }
        all.push(print_one(admin, out, &m, true, id, show_body)?);
    }
    out.value(&Value::Array(all))
}

/// The broker name that stores at `store_host` (an offset id's address).
fn broker_of(admin: &Admin, topic: &str, store_host: SocketAddr) -> Option<String> {
    let route = admin.topic_route(topic).ok()?;
    route
        .brokers
        .iter()
        .find(|(_, b)| {
            b.addrs
                .values()
                .any(|a| a.parse::<SocketAddr>().ok() == Some(store_host))
        })
        .map(|(n, _)| n.clone())
}

/// `queryMsgByKey -t topic -k key [-b begin] [-e end] [-m maxNum]`.
pub fn query_msg_by_key(
    admin: &Admin,
    out: &mut Output,
    topic: &str,
    key: &str,
    begin: i64,
    end: i64,
    max_num: i32,
) -> Result<()> {
    let found = query(admin, topic, key, false, max_num, begin, end)?;
    if found.is_empty() {
        bail!("CODE: 208 DESC: query message by key finished, but no message.");
    }
    out.text(&format!(
        "{:<50} {:>4} {:>40}\n",
        "#Message ID", "#QID", "#Offset"
    ))?;
    for m in &found {
        out.text(&format!(
            "{:<50} {:>4} {:>40}\n",
            m.msg_id(),
            m.queue_id,
            m.queue_offset
        ))?;
    }
    out.value(&Value::Array(found.iter().map(Message::to_json).collect()))
}

/// `queryMsgByUniqueKey -t topic -i key [-a]`.
pub fn query_msg_by_unique_key(
    admin: &Admin,
    out: &mut Output,
    topic: &str,
    key: &str,
    show_all: bool,
) -> Result<()> {
    let mut found = query(admin, topic, key, true, QUERY_MAX_NUM, 0, i64::MAX)?;
    if found.is_empty() {
        bail!("CODE: 208 DESC: query message by unique key finished, but no message.");
    }
    found.sort_by_key(|m| m.store_timestamp_ms);
    let shown = if show_all { found.len() } else { 1 };
    let mut all = Vec::new();
    for (i, m) in found.iter().take(shown).enumerate() {
        let file = if i == 0 {
            key.to_string()
        } else {
            format!("{key}_{i}")
        };
        all.push(print_one(admin, out, m, false, &file, false)?);
    }
    out.value(&Value::Array(all))
}

/// The master address of `broker_name` in `topic`'s route.
fn broker_addr(admin: &Admin, topic: &str, broker_name: &str) -> Result<String> {
    admin
        .topic_route(topic)?
        .masters()
        .into_iter()
        .find(|(n, _)| n == broker_name)
        .map(|(_, a)| a)
        .ok_or_else(|| anyhow!("broker {broker_name} has no master in the route of {topic}"))
}

/// What one pull found.
pub struct Pulled {
    pub status: &'static str,
    pub next_offset: i64,
    pub messages: Vec<Message>,
}

/// One pull of `queue` from `offset`, as `TOOLS_CONSUMER`, not held.
pub fn pull(
    admin: &Admin,
    (broker_name, addr, queue_id): (&str, &str, i32),
    topic: &str,
    offset: i64,
    max: i32,
    sub: &str,
) -> Result<Pulled> {
    let r = admin.call(
        addr,
        request(
            RequestCode::PULL_MESSAGE,
            &[
                ("consumerGroup", TOOLS_CONSUMER.to_string()),
                ("topic", topic.to_string()),
                ("queueId", queue_id.to_string()),
                ("queueOffset", offset.to_string()),
                ("maxMsgNums", max.to_string()),
                ("sysFlag", pull_sys_flag::SUBSCRIPTION.to_string()),
                ("commitOffset", "0".to_string()),
                ("suspendTimeoutMillis", "0".to_string()),
                ("subscription", sub.to_string()),
                ("subVersion", "0".to_string()),
                ("expressionType", "TAG".to_string()),
                ("bname", broker_name.to_string()),
            ],
        ),
    )?;
    let next_offset = r
        .ext_field("nextBeginOffset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(offset);
    let status = match r.code {
        ResponseCode::SUCCESS => "FOUND",
        ResponseCode::PULL_NOT_FOUND => "NO_NEW_MSG",
        ResponseCode::PULL_RETRY_IMMEDIATELY => "NO_MATCHED_MSG",
        ResponseCode::PULL_OFFSET_MOVED => "OFFSET_ILLEGAL",
        code => bail!(
            "pull from {addr}: CODE: {code} DESC: {}",
            r.remark.unwrap_or_default()
        ),
    };
    let messages = if status == "FOUND" {
        decode_messages(&r.body, broker_name)?
    } else {
        Vec::new()
    };
    Ok(Pulled {
        status,
        next_offset,
        messages,
    })
}

/// `queryMsgByOffset -t topic -b brokerName -i queueId -o offset`.
pub fn query_msg_by_offset(
    admin: &Admin,
    out: &mut Output,
    topic: &str,
    broker_name: &str,
    queue_id: i32,
    offset: i64,
    show_body: bool,
) -> Result<()> {
    let addr = broker_addr(admin, topic, broker_name)?;
    let pulled = pull(admin, (broker_name, &addr, queue_id), topic, offset, 1, "*")?;
    let mut all = Vec::new();
    if let Some(m) = pulled.messages.first() {
        all.push(print_one(admin, out, m, true, &m.msg_id(), show_body)?);
    }
    out.value(&Value::Array(all))
}

fn queue_offset(
    admin: &Admin,
    addr: &str,
    code: i32,
    topic: &str,
    queue_id: i32,
    timestamp: Option<i64>,
) -> Result<i64> {
    let mut fields = vec![
        ("topic", topic.to_string()),
        ("queueId", queue_id.to_string()),
    ];
    if let Some(t) = timestamp {
        fields.push(("timestamp", t.to_string()));
    }
    let r = admin.invoke(addr, request(code, &fields))?;
    r.ext_field("offset")
        .and_then(|o| o.parse().ok())
        .context("no offset in the answer")
}

/// (min, max) offsets of a queue, or those at `begin`/`end` when given.
fn queue_range(
    admin: &Admin,
    addr: &str,
    topic: &str,
    q: i32,
    begin: Option<i64>,
    end: Option<i64>,
) -> Result<(i64, i64)> {
    // At a time: the first offset stored at or after it; else the queue's
    // own bound.
    let at = |time: Option<i64>, bound: i32| match time {
        Some(t) => queue_offset(
            admin,
            addr,
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            topic,
            q,
            Some(t),
        ),
        None => queue_offset(admin, addr, bound, topic, q, None),
    };
    Ok((
        at(begin, RequestCode::GET_MIN_OFFSET)?,
        at(end, RequestCode::GET_MAX_OFFSET)?,
    ))
}

/// Every (broker name, master address, queue id) readable in the route.
fn read_queues(admin: &Admin, topic: &str) -> Result<Vec<(String, String, i32)>> {
    let route = admin.topic_route(topic)?;
    let masters: BTreeMap<String, String> = route.masters().into_iter().collect();
    let mut out = Vec::new();
    for q in &route.queues {
        if let Some(addr) = masters.get(&q.broker_name) {
            out.extend((0..q.read_queue_nums).map(|i| (q.broker_name.clone(), addr.clone(), i)));
        }
    }
    out.sort();
    Ok(out)
}

/// What `printMsg` and `consumeMessage` read.
pub struct ReadSpec<'a> {
    pub topic: &'a str,
    pub sub: &'a str,
    pub begin: Option<i64>,
    pub end: Option<i64>,
    pub print_body: bool,
    /// Most messages in all (consumeMessage's `-c`); printMsg has none.
    pub limit: Option<u64>,
    /// consumeMessage prints `Consume ok` before each pull's messages.
    pub consume_banner: bool,
}

fn print_pulled(out: &mut Output, m: &Message, print_body: bool) -> Result<()> {
    let body = if print_body {
        String::from_utf8_lossy(&m.body).into_owned()
    } else {
        "NOT PRINT BODY".into()
    };
    out.text(&format!(
        "MSGID: {} {} BODY: {body}\n",
        m.msg_id(),
        m.describe()
    ))
}

/// Reads `[from, to)` of one queue 32 at a time, printing each message.
fn read_range(
    admin: &Admin,
    out: &mut Output,
    spec: &ReadSpec,
    (name, addr, q): (&str, &str, i32),
    (from, to): (i64, i64),
    left: &mut u64,
    json_rows: &mut Vec<Value>,
) -> Result<()> {
    let mut offset = from;
    let mut stalled = 0;
    let queue = format!(
        "MessageQueue [topic={}, brokerName={name}, queueId={q}]",
        spec.topic
    );
    while offset < to && *left > 0 {
        let max = (to - offset)
            .min(32)
            .min(i64::try_from(*left).unwrap_or(i64::MAX)) as i32;
        let p = pull(admin, (name, addr, q), spec.topic, offset, max, spec.sub)?;
        match p.status {
            "FOUND" => {
                if spec.consume_banner {
                    out.text("Consume ok\n")?;
                }
                for m in p.messages.iter().take(*left as usize) {
                    print_pulled(out, m, spec.print_body)?;
                    json_rows.push(m.to_json());
                    *left -= 1;
                }
            }
            "NO_MATCHED_MSG" => out.text(&format!(
                "{queue} no matched msg. status={}, offset={offset}\n",
                p.status
            ))?,
            _ => {
                out.text(&format!(
                    "{queue} print msg finished. status={}, offset={offset}\n",
                    p.status
                ))?;
                break;
            }
        }
        // A broker that answers "retry" without moving on (rocketmq-rust's
        // first pull of a new group does) gets a few more tries, not an
        // endless loop as RocketMQ's tool would spin.
        if p.next_offset <= offset {
            stalled += 1;
            if stalled > PULL_STALLS_MAX {
                break;
            }
            continue;
        }
        stalled = 0;
        offset = p.next_offset;
    }
    Ok(())
}

/// `printMsg -t topic [-s sub] [-b begin] [-e end] [-d printBody]`.
pub fn print_msg(admin: &Admin, out: &mut Output, spec: &ReadSpec) -> Result<()> {
    let mut json_rows = Vec::new();
    for (name, addr, q) in read_queues(admin, spec.topic)? {
        let (min, max) = queue_range(admin, &addr, spec.topic, q, spec.begin, spec.end)?;
        out.text(&format!("minOffset={min}, maxOffset={max}, MessageQueue [topic={}, brokerName={name}, queueId={q}]\n", spec.topic))?;
        let mut left = u64::MAX;
        read_range(
            admin,
            out,
            spec,
            (&name, &addr, q),
            (min, max),
            &mut left,
            &mut json_rows,
        )?;
        out.text(&format!("{}\n", "-".repeat(56)))?;
    }
    out.value(&Value::Array(json_rows))
}

/// `consumeMessage -t topic [-b brokerName [-i queueId [-o offset]]] [-c n]`.
pub fn consume_message(
    admin: &Admin,
    out: &mut Output,
    spec: &ReadSpec,
    queue: Option<(&str, Option<i32>, Option<i64>)>,
) -> Result<()> {
    let mut left = spec.limit.unwrap_or(128);
    if left == 0 {
        bail!("Please input a positive messageNumber!");
    }
    let mut json_rows = Vec::new();
    let queues: Vec<(String, String, i32)> = read_queues(admin, spec.topic)?
        .into_iter()
        .filter(|(n, _, q)| queue.is_none_or(|(b, qid, _)| n == b && qid.is_none_or(|x| x == *q)))
        .collect();
    if queues.is_empty() {
        bail!("no readable queue of {} matches", spec.topic);
    }
    for (name, addr, q) in queues {
        if left == 0 {
            break;
        }
        let (min, max) = queue_range(admin, &addr, spec.topic, q, spec.begin, spec.end)?;
        let from = match queue.and_then(|(_, _, o)| o) {
            Some(o) if o > max => {
                out.text(&format!("MessageQueue [topic={}, brokerName={name}, queueId={q}] no matched msg, offset={o}\n", spec.topic))?;
                continue;
            }
            Some(o) => o,
            None => min,
        };
        if (max - from) as u64 > left {
            out.text(&format!(
                "The older {left} message of the {q} queue will be provided\n"
            ))?;
        }
        read_range(
            admin,
            out,
            spec,
            (&name, &addr, q),
            (from, max),
            &mut left,
            &mut json_rows,
        )?;
    }
    out.value(&Value::Array(json_rows))
}

/// What `sendMessage` sends, and where.
pub struct SendSpec<'a> {
    pub topic: &'a str,
    pub body: &'a str,
    pub keys: Option<&'a str>,
    pub tags: Option<&'a str>,
    /// Only to this broker's queues (`-b`).
    pub broker_name: Option<&'a str>,
    /// Only to this queue (`-i`; needs `-b`).
    pub queue_id: Option<i32>,
}

/// `sendMessage -t topic -p body [-k keys] [-c tags] [-b brokerName -i qid]`.
pub fn send_message(admin: &Admin, out: &mut Output, spec: &SendSpec) -> Result<()> {
    if spec.queue_id.is_some() && spec.broker_name.is_none() {
        bail!("Broker name must be set if the queue is chosen!");
    }
    let route = admin.topic_route(spec.topic)?;
    let masters: BTreeMap<String, String> = route.masters().into_iter().collect();
    let now = now_ms();
    let (name, q) = pick_writable_queue(&route, &masters, spec, now)?;
    let addr = &masters[&name];
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let uniq = UniqKeyGenerator::new(ip, std::process::id() as u16, 0)
        .next_key(now)
        .encode();
    let r = admin.call(addr, send_request(spec, now, (&name, q), &uniq)?)?;
    let status = match r.code {
        ResponseCode::SUCCESS => "SEND_OK",
        ResponseCode::FLUSH_DISK_TIMEOUT => "FLUSH_DISK_TIMEOUT",
        ResponseCode::FLUSH_SLAVE_TIMEOUT => "FLUSH_SLAVE_TIMEOUT",
        ResponseCode::SLAVE_NOT_AVAILABLE => "SLAVE_NOT_AVAILABLE",
        code => bail!(
            "send to {name} ({addr}): CODE: {code} DESC: {}",
            r.remark.unwrap_or_default()
        ),
    };
    out.text(&format!(
        "{:<32}  {:<4}  {:<20}    {}\n",
        "#Broker Name", "#QID", "#Send Result", "#MsgId"
    ))?;
    out.text(&format!("{name:<32}  {q:<4}  {status:<20}    {uniq}\n"))?;
    out.value(&json!({"brokerName": name, "queueId": q, "sendStatus": status, "msgId": uniq,
        "offsetMsgId": r.ext_field("msgId"), "queueOffset": r.ext_field("queueOffset").and_then(|o| o.parse::<i64>().ok())}))
}

/// One of the writable queues `spec` allows (broker name, queue id),
/// chosen by the time `now`.
fn pick_writable_queue(
    route: &TopicRoute,
    masters: &BTreeMap<String, String>,
    spec: &SendSpec,
    now: i64,
) -> Result<(String, i32)> {
    let writable: Vec<(String, i32)> = route
        .queues
        .iter()
        .filter(|q| q.perm & 2 != 0 && masters.contains_key(&q.broker_name))
        .flat_map(|q| (0..q.write_queue_nums).map(move |i| (q.broker_name.clone(), i)))
        .filter(|(n, i)| {
            spec.broker_name.is_none_or(|b| b == n) && spec.queue_id.is_none_or(|q| q == *i)
        })
        .collect();
    if writable.is_empty() {
        bail!("no writable queue of {} matches", spec.topic);
    }
    Ok(writable[(now as usize) % writable.len()].clone())
}

/// `SEND_MESSAGE_V2` of `spec`'s message to queue `q` of broker `name`,
/// with the unique key `uniq`; the producer group is the time, as
/// RocketMQ's tool names it.
fn send_request(
    spec: &SendSpec,
    now: i64,
    (name, q): (&str, i32),
    uniq: &str,
) -> Result<RemotingCommand> {
    let mut props: Vec<(&str, &str)> =
        vec![(UNIQ_CLIENT_MESSAGE_ID_KEYIDX, uniq), ("WAIT", "true")];
    if let Some(k) = spec.keys {
        props.push((KEYS, k));
    }
    if let Some(t) = spec.tags {
        props.push((TAGS, t));
    }
    let properties = encode_properties(props)?;
    Ok(request(
        RequestCode::SEND_MESSAGE_V2,
        &[
            ("a", now.to_string()),
            ("b", spec.topic.to_string()),
            ("c", "TBW102".to_string()),
            ("d", "4".to_string()),
            ("e", q.to_string()),
            ("f", "0".to_string()),
            ("g", now.to_string()),
            ("h", "0".to_string()),
            ("i", properties),
            ("j", "0".to_string()),
            ("k", "false".to_string()),
            ("n", name.to_string()),
        ],
    )
    .with_body(spec.body.as_bytes().to_vec()))
}
