//! Topic routes and topic creation through the name server, with the
//! blocking client (set-up only, before the load starts).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ringmq_net::client::BlockingClient;
use ringmq_net::header::{CreateTopicRequestHeader, GetRouteInfoRequestHeader};
use ringmq_net::{CommandHeader, ExtFields, RemotingCommand, RequestCode, ResponseCode};

const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue of one broker, and where that broker listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueRef {
    pub broker_name: String,
    pub addr: String,
    pub queue_id: i32,
}

fn invoke(addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
    let mut c = BlockingClient::connect(addr, RPC_TIMEOUT)?;
    Ok(c.invoke(crate::auth::signed(request), RPC_TIMEOUT)?)
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value> {
    ringmq_net::fastjson::parse(body).map_err(|e| anyhow::anyhow!("route body: {e}"))
}

/// Write queues of `topic` on master brokers, in route order.
pub fn topic_queues(namesrv: &str, topic: &str) -> Result<Vec<QueueRef>> {
    let header = GetRouteInfoRequestHeader {
        topic: topic.to_string(),
        accept_standard_json_only: Some(true),
    };
    let r = invoke(
        namesrv,
        RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, header.to_ext_fields()),
    )?;
    if r.code != ResponseCode::SUCCESS {
        bail!("no route for {topic}: code {} {:?}", r.code, r.remark);
    }
    let v = parse_json(&r.body)?;
    let mut addrs = std::collections::HashMap::new();
    for b in v["brokerDatas"].as_array().into_iter().flatten() {
        if let (Some(name), Some(addr)) = (b["brokerName"].as_str(), b["brokerAddrs"]["0"].as_str())
        {
            addrs.insert(name.to_string(), addr.to_string());
        }
    }
    let mut queues = Vec::new();
    for q in v["queueDatas"].as_array().into_iter().flatten() {
        let name = q["brokerName"].as_str().unwrap_or_default();
        let n = q["writeQueueNums"].as_i64().unwrap_or(0);
        let perm = q["perm"].as_i64().unwrap_or(0);
        let Some(addr) = addrs.get(name) else {
            continue;
        };
        if perm & 2 == 0 {
            continue;
        }
        for queue_id in 0..n as i32 {
            queues.push(QueueRef {
                broker_name: name.to_string(),
                addr: addr.clone(),
                queue_id,
            });
        }
    }
    if queues.is_empty() {
        bail!("the route of {topic} has no writable master queue");
    }
    Ok(queues)
}

/// Master addresses of every broker in the cluster info.
pub fn master_brokers(namesrv: &str) -> Result<Vec<(String, String)>> {
    let r = invoke(
        namesrv,
        RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, ExtFields::new()),
    )?;
    if r.code != ResponseCode::SUCCESS {
        bail!("cluster info: code {} {:?}", r.code, r.remark);
    }
    let v = parse_json(&r.body)?;
    let mut out = Vec::new();
    for (name, b) in v["brokerAddrTable"].as_object().into_iter().flatten() {
        if let Some(addr) = b["brokerAddrs"]["0"].as_str() {
            out.push((name.clone(), addr.to_string()));
        }
    }
    out.sort();
    Ok(out)
}

/// Creates (or resizes) `topic` with `queues` queues on every master, then
/// waits until the name server routes it.
pub fn create_topic(namesrv: &str, topic: &str, queues: i32) -> Result<()> {
    let brokers = master_brokers(namesrv)?;
    if brokers.is_empty() {
        bail!("no broker is registered with {namesrv}");
    }
    for (name, addr) in &brokers {
        let header = CreateTopicRequestHeader {
            topic: topic.to_string(),
            default_topic: "TBW102".into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            force: None,
        };
        let r = invoke(
            addr,
            RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, header.to_ext_fields()),
        )?;
        if r.code != ResponseCode::SUCCESS {
            bail!(
                "creating {topic} on {name} ({addr}): code {} {:?}",
                r.code,
                r.remark
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = brokers.len() * queues as usize;
    loop {
        let routed = topic_queues(namesrv, topic);
        if routed.as_ref().is_ok_and(|q| q.len() == expected) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{topic} was created on {brokers:?} but the name server routes {:?}, not {expected} queues",
                routed.map(|q| q.len())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
