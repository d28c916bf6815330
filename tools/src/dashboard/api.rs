//! The dashboard's JSON API: each call runs an `mqadmin` command with
//! `--json` output, so the page shows exactly what the CLI would.
//!
//! | method | path | runs |
//! |---|---|---|
//! | GET | `/api/cluster` | `clusterList` (shards grouped under their broker) |
//! | GET | `/api/latency` | runtime info of every member: send-latency buckets |
//! | GET | `/api/replication` | `brokerStatus` of every member: the `ringmqShard*Ha*` keys |
//! | GET | `/api/topics` | `topicList` |
//! | GET | `/api/topic?topic=` | `topicStatus` and `topicRoute` |
//! | POST | `/api/topic` `{topic, queues, cluster}` | `updateTopic -c` |
//! | GET | `/api/groups` | `consumerProgress` (every group) |
//! | GET | `/api/group?group=` | `consumerProgress -g` |
//! | POST | `/api/reset` `{group, topic, timestamp}` | `resetOffsetByTime` |
//! | GET | `/api/message?topic=&id=` \| `&key=` \| `&broker=&queue=&offset=` | `queryMsgById`, `queryMsgByKey`, `queryMsgByOffset` |

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use super::http::{Request, Response};
use crate::admin::{cluster, group, message, topic, Admin, Output};

/// Runs one admin command with JSON output and returns its value.
fn run(admin: &Admin, command: impl FnOnce(&Admin, &mut Output) -> Result<()>) -> Result<Value> {
    let mut buf = Vec::new();
    let mut out = Output::new(true, &mut buf);
    // A page view writes no files on the dashboard's host.
    out.save_bodies = false;
    command(admin, &mut out)?;
    Ok(serde_json::from_slice(&buf)?)
}

fn param<'r>(request: &'r Request, key: &str) -> Result<&'r str> {
    request
        .query
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow!("{key} is required"))
}

fn form(request: &Request) -> Result<Value> {
    serde_json::from_slice(&request.body).map_err(|e| anyhow!("form body: {e}"))
}

fn text<'v>(v: &'v Value, key: &str) -> Result<&'v str> {
    v[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("{key} is required"))
}

/// Names the dashboard accepts for topics and groups (RocketMQ's rule).
fn valid_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%|_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(anyhow!(
            "{name:?} is not a valid name ([%|a-zA-Z0-9_-], at most 127 characters)"
        ))
    }
}

fn replication(admin: &Admin) -> Result<Value> {
    let info = admin.cluster_info()?;
    let mut rows = Vec::new();
    for (name, id, addr) in info.members(None) {
        let kv = admin.runtime_info(&addr).unwrap_or_default();
        let ha: BTreeMap<&String, &String> = kv.iter().filter(|(k, _)| k.contains("Ha")).collect();
        rows.push(json!({
            "brokerName": name, "brokerId": id, "addr": addr,
            "role": kv.get("brokerRole"), "masterAddr": kv.get("masterAddr"),
            "commitLogMaxOffset": kv.get("commitLogMaxOffset"), "ha": ha,
        }));
    }
    Ok(Value::Array(rows))
}

/// Send latency of the whole cluster since each broker started: the
/// brokers' cumulative bucket counts summed (RingMQ's runtime info keys
/// `ringmqLatencyMsBounds`, `ringmqSendLatencyMsBuckets`; brokers without
/// them add nothing). The page differences two readings.
fn latency(admin: &Admin) -> Result<Value> {
    let info = admin.cluster_info()?;
    let mut bounds: Vec<f64> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    for (_, _, addr) in info.members(None) {
        let Ok(kv) = admin.runtime_info(&addr) else {
            continue;
        };
        let (Some(b), Some(c)) = (
            kv.get("ringmqLatencyMsBounds"),
            kv.get("ringmqSendLatencyMsBuckets"),
        ) else {
            continue;
        };
        let b: Vec<f64> = b.split(',').filter_map(|x| x.parse().ok()).collect();
        let c: Vec<u64> = c.split(',').filter_map(|x| x.parse().ok()).collect();
        if c.len() != b.len() + 1 || (!bounds.is_empty() && bounds != b) {
            continue;
        }
        if counts.is_empty() {
            bounds = b;
            counts = c;
        } else {
            for (total, n) in counts.iter_mut().zip(c) {
                *total += n;
            }
        }
    }
    Ok(json!({ "boundsMs": bounds, "sendCumulative": counts }))
}

fn routes(admin: &Admin, request: &Request) -> Result<Value> {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/cluster") => Ok(json!({
            "brokers": run(admin, |a, o| cluster::cluster_list(a, o, None, false))?,
        })),
        ("GET", "/api/replication") => replication(admin),
        ("GET", "/api/latency") => latency(admin),
        ("GET", "/api/topics") => run(admin, |a, o| topic::topic_list(a, o, false)),
        ("GET", "/api/topic") => {
            let t = param(request, "topic")?;
            Ok(json!({
                "status": run(admin, |a, o| topic::topic_status(a, o, t))?,
                "route": run(admin, |a, o| topic::topic_route(a, o, t, false))?,
            }))
        }
        ("POST", "/api/topic") => create_topic(admin, request),
        ("GET", "/api/groups") => run(admin, |a, o| {
            group::consumer_progress(a, o, None, None, None)
        }),
        ("GET", "/api/group") => {
            let g = param(request, "group")?;
            run(admin, |a, o| {
                group::consumer_progress(a, o, Some(g), None, None)
            })
        }
        ("POST", "/api/reset") => reset_offsets(admin, request),
        ("GET", "/api/message") => find_message(admin, request),
        _ => Err(anyhow!("no such API: {} {}", request.method, request.path)),
    }
}

/// `POST /api/topic {topic, queues, cluster}`: `updateTopic -c`.
fn create_topic(admin: &Admin, request: &Request) -> Result<Value> {
    let f = form(request)?;
    let name = text(&f, "topic")?;
    valid_name(name)?;
    let queues = f["queues"].as_i64().unwrap_or(8);
    if !(1..=1024).contains(&queues) {
        return Err(anyhow!("queues must be 1..=1024"));
    }
    let cluster = f["cluster"].as_str().unwrap_or("DefaultCluster");
    let spec = topic::TopicSpec {
        topic: name.to_string(),
        read_queue_nums: queues as i32,
        write_queue_nums: queues as i32,
        perm: 6,
        order: false,
        sys_flag: 0,
        attributes: None,
    };
    run(admin, |a, o| {
        topic::update_topic(a, o, &spec, None, Some(cluster))
    })
}

/// `POST /api/reset {group, topic, timestamp}`: `resetOffsetByTime`, forced.
fn reset_offsets(admin: &Admin, request: &Request) -> Result<Value> {
    let f = form(request)?;
    let (g, t) = (text(&f, "group")?, text(&f, "topic")?);
    valid_name(g)?;
    valid_name(t)?;
    let at = f["timestamp"]
        .as_i64()
        .ok_or_else(|| anyhow!("timestamp (ms) is required"))?;
    let time_text = at.to_string();
    let reset = group::OffsetReset {
        group: g,
        topic: t,
        time_text: &time_text,
        timestamp: at,
        force: true,
    };
    run(admin, |a, o| {
        group::reset_offset_by_time(a, o, &reset, None)
    })
}

/// `GET /api/message?topic=` and `&id=`, `&key=` or
/// `&broker=&queue=&offset=`: `queryMsgById`, `queryMsgByKey` or
/// `queryMsgByOffset`.
fn find_message(admin: &Admin, request: &Request) -> Result<Value> {
    let t = param(request, "topic")?;
    if let Ok(id) = param(request, "id") {
        run(admin, |a, o| message::query_msg_by_id(a, o, t, id, false))
    } else if let Ok(key) = param(request, "key") {
        run(admin, |a, o| {
            message::query_msg_by_key(a, o, t, key, 0, i64::MAX, 64)
        })
    } else {
        let broker = param(request, "broker")?;
        let queue: i32 = param(request, "queue")?
            .parse()
            .map_err(|_| anyhow!("queue is a number"))?;
        let offset: i64 = param(request, "offset")?
            .parse()
            .map_err(|_| anyhow!("offset is a number"))?;
        run(admin, |a, o| {
            message::query_msg_by_offset(a, o, t, broker, queue, offset, true)
        })
    }
}

/// Who may talk to the dashboard. It has no login, so a web page the
/// operator happens to open must not reach it: requests must name this
/// server in `Host` (no DNS rebinding) when it listens on one address, and
/// a POST must be `application/json` (which a cross-site page cannot send
/// without a preflight, never approved here) from no other `Origin`.
pub struct Guard {
    /// `Host` values accepted; empty: any (listening on every interface).
    pub hosts: Vec<String>,
}

impl Guard {
    /// For a listener bound to `addr`.
    pub fn for_listener(addr: std::net::SocketAddr) -> Guard {
        let port = addr.port();
        let hosts = if addr.ip().is_unspecified() {
            Vec::new()
        } else {
            let mut h = vec![addr.to_string(), format!("localhost:{port}")];
            if addr.ip().is_loopback() {
                h.push(format!("127.0.0.1:{port}"));
                h.push(format!("[::1]:{port}"));
            }
            h
        };
        Guard { hosts }
    }

    fn refusal(&self, request: &Request) -> Option<Response> {
        let host = request.header("host").unwrap_or_default();
        if !self.hosts.is_empty() && !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Some(Response::error(403, "unexpected Host header"));
        }
        if request.method != "GET" {
            let json = request
                .header("content-type")
                .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
            if !json {
                return Some(Response::error(415, "POST bodies must be application/json"));
            }
            if let Some(origin) = request.header("origin") {
                let same = origin
                    .strip_prefix("http://")
                    .is_some_and(|o| o.eq_ignore_ascii_case(host));
                if !same {
                    return Some(Response::error(403, "cross-origin request refused"));
                }
            }
        }
        None
    }
}

/// Answers one request: a page asset or an API call.
pub fn handle(admin: &Admin, guard: &Guard, request: &Request) -> Response {
    if let Some(refused) = guard.refusal(request) {
        return refused;
    }
    let asset = |content_type, body: &str| Response {
        status: 200,
        content_type,
        body: body.as_bytes().to_vec(),
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/" | "/index.html") => asset("text/html; charset=utf-8", super::INDEX_HTML),
        ("GET", "/app.js") => asset("text/javascript; charset=utf-8", super::APP_JS),
        ("GET", "/style.css") => asset("text/css; charset=utf-8", super::STYLE_CSS),
        (_, path) if path.starts_with("/api/") => match routes(admin, request) {
            Ok(v) => Response::json(200, &v),
            Err(e) => {
                let status = if e.to_string().contains("required")
                    || e.to_string().starts_with("no such API")
                {
                    400
                } else {
                    502
                };
                Response::error(status, &format!("{e:#}"))
            }
        },
        _ => Response::error(404, "not found"),
    }
}
