//! The admin side of the remoting protocol: one blocking request at a time
//! to a name server or a broker, signed when ACL credentials are set, with
//! the cluster, route and runtime bodies read into plain types.
//!
//! Works against any RocketMQ-protocol server: bodies are read with
//! [`fastjson`], which accepts Java's non-string map keys.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ringmq_net::client::BlockingClient;
use ringmq_net::tls::ClientTls;
use ringmq_net::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use serde_json::Value;

use ringmq_net::fastjson;

/// How long one request may take before the command gives up on it.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the admin reaches the cluster.
#[derive(Clone, Debug)]
pub struct Admin {
    /// Name servers, tried in order (RocketMQ's `-n "a:9876;b:9876"`).
    pub namesrvs: Vec<String>,
    /// ACL access and secret key, when the cluster has `aclEnable=true`.
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
    /// Connect over TLS, trusting these certificates.
    pub tls: Option<ClientTls>,
}

/// A broker group as the name server knows it: its cluster and its members
/// by broker id (0 is the master).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerGroup {
    pub cluster: String,
    pub addrs: BTreeMap<i64, String>,
}

impl BrokerGroup {
    pub fn master(&self) -> Option<&str> {
        self.addrs.get(&0).map(String::as_str)
    }
}

/// `GET_BROKER_CLUSTER_INFO`: clusters and the broker groups in them.
#[derive(Clone, Debug, Default)]
pub struct ClusterInfo {
    pub brokers: BTreeMap<String, BrokerGroup>,
    pub clusters: BTreeMap<String, BTreeSet<String>>,
}

impl ClusterInfo {
    /// Master addresses of `cluster`'s broker groups (every cluster when
    /// `None`), by broker name.
    pub fn masters(&self, cluster: Option<&str>) -> Vec<(String, String)> {
        self.brokers
            .iter()
            .filter(|(_, b)| cluster.is_none_or(|c| b.cluster == c))
            .filter_map(|(n, b)| b.master().map(|a| (n.clone(), a.to_string())))
            .collect()
    }

    /// Every member (master and slaves) of `cluster`'s groups.
    pub fn members(&self, cluster: Option<&str>) -> Vec<(String, i64, String)> {
        self.brokers
            .iter()
            .filter(|(_, b)| cluster.is_none_or(|c| b.cluster == c))
            .flat_map(|(n, b)| b.addrs.iter().map(|(id, a)| (n.clone(), *id, a.clone())))
            .collect()
    }
}

/// One broker group's queues of a topic in a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueData {
    pub broker_name: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
}

/// `GET_ROUTEINFO_BY_TOPIC`, with the raw body kept for printing.
#[derive(Clone, Debug)]
pub struct TopicRoute {
    pub raw: Value,
    pub queues: Vec<QueueData>,
    pub brokers: BTreeMap<String, BrokerGroup>,
}

impl TopicRoute {
    /// (broker name, master address) of each group that has the topic.
    pub fn masters(&self) -> Vec<(String, String)> {
        self.queues
            .iter()
            .filter_map(|q| {
                let b = self.brokers.get(&q.broker_name)?;
                Some((q.broker_name.clone(), b.master()?.to_string()))
            })
            .collect()
    }
}

/// A request that got an answer other than SUCCESS.
#[derive(Debug)]
pub struct Refused {
    pub code: i32,
    pub remark: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CODE: {}  DESC: {}", self.code, self.remark)
    }
}

impl std::error::Error for Refused {}

fn broker_groups(v: &Value) -> BTreeMap<String, BrokerGroup> {
    let mut out = BTreeMap::new();
    let entries: Vec<&Value> = match v {
        Value::Object(m) => m.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => Vec::new(),
    };
    for b in entries {
        let Some(name) = b["brokerName"].as_str() else {
            continue;
        };
        let addrs = b["brokerAddrs"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(id, a)| Some((id.parse().ok()?, a.as_str()?.to_string())))
            .collect();
        out.insert(
            name.to_string(),
            BrokerGroup {
                cluster: b["cluster"].as_str().unwrap_or_default().to_string(),
                addrs,
            },
        );
    }
    out
}

impl Admin {
    pub fn new(namesrv: &str, credentials: Option<(String, String)>) -> Admin {
        Admin {
            namesrvs: namesrv
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            credentials,
            timeout: RPC_TIMEOUT,
            tls: None,
        }
    }

    /// This client, connecting over TLS when `tls` is given.
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Admin {
        self.tls = tls;
        self
    }

    /// Sends `request` to `addr` and returns the answer, whatever its code.
    pub fn call(&self, addr: &str, mut request: RemotingCommand) -> Result<RemotingCommand> {
        if let Some((ak, sk)) = &self.credentials {
            ringmq_net::acl::sign(&mut request, ak, sk);
        }
        let mut c = BlockingClient::connect_with(addr, self.timeout, self.tls.as_ref())?;
        Ok(c.invoke(request, self.timeout)?)
    }

    /// Sends `request` to `addr`; an answer other than SUCCESS is an error.
    pub fn invoke(&self, addr: &str, request: RemotingCommand) -> Result<RemotingCommand> {
        let r = self.call(addr, request)?;
        if r.code != ResponseCode::SUCCESS {
            return Err(Refused {
                code: r.code,
                remark: r.remark.unwrap_or_default(),
            }
            .into());
        }
        Ok(r)
    }

    /// Sends `request` to the first name server that answers.
    pub fn namesrv(&self, request: RemotingCommand) -> Result<RemotingCommand> {
        let mut last = anyhow!("no name server given (-n or NAMESRV_ADDR)");
        for addr in &self.namesrvs {
            match self.call(addr, request.clone()) {
                Ok(r) if r.code == ResponseCode::SUCCESS => return Ok(r),
                Ok(r) => {
                    return Err(Refused {
                        code: r.code,
                        remark: r.remark.unwrap_or_default(),
                    }
                    .into())
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends `request` to every name server; each must accept it.
    pub fn every_namesrv(
        &self,
        request: &RemotingCommand,
    ) -> Result<Vec<(String, RemotingCommand)>> {
        if self.namesrvs.is_empty() {
            bail!("no name server given (-n or NAMESRV_ADDR)");
        }
        self.namesrvs
            .iter()
            .map(|a| Ok((a.clone(), self.invoke(a, request.clone())?)))
            .collect()
    }

    pub fn cluster_info(&self) -> Result<ClusterInfo> {
        let r = self.namesrv(RemotingCommand::request(
            RequestCode::GET_BROKER_CLUSTER_INFO,
            ExtFields::new(),
        ))?;
        let v = fastjson::parse(&r.body).map_err(|e| anyhow!("cluster info: {e}"))?;
        let mut clusters = BTreeMap::new();
        for (c, names) in v["clusterAddrTable"].as_object().into_iter().flatten() {
            let names: BTreeSet<String> = names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect();
            clusters.insert(c.clone(), names);
        }
        Ok(ClusterInfo {
            brokers: broker_groups(&v["brokerAddrTable"]),
            clusters,
        })
    }

    pub fn topic_route(&self, topic: &str) -> Result<TopicRoute> {
        let mut f = ExtFields::new();
        f.insert("topic".into(), topic.to_string());
        let r = self.namesrv(RemotingCommand::request(
            RequestCode::GET_ROUTEINFO_BY_TOPIC,
            f,
        ))?;
        let raw = fastjson::parse(&r.body).map_err(|e| anyhow!("route of {topic}: {e}"))?;
        let queues = raw["queueDatas"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|q| QueueData {
                broker_name: q["brokerName"].as_str().unwrap_or_default().to_string(),
                read_queue_nums: q["readQueueNums"].as_i64().unwrap_or(0) as i32,
                write_queue_nums: q["writeQueueNums"].as_i64().unwrap_or(0) as i32,
                perm: q["perm"].as_i64().unwrap_or(0) as i32,
            })
            .collect();
        let brokers = broker_groups(&raw["brokerDatas"]);
        Ok(TopicRoute {
            raw,
            queues,
            brokers,
        })
    }

    pub fn topic_list(&self) -> Result<Vec<String>> {
        let r = self.namesrv(RemotingCommand::request(
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            ExtFields::new(),
        ))?;
        let v = fastjson::parse(&r.body).map_err(|e| anyhow!("topic list: {e}"))?;
        let mut topics: Vec<String> = v["topicList"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// `GET_BROKER_RUNTIME_INFO`: the broker's KV table.
    pub fn runtime_info(&self, addr: &str) -> Result<BTreeMap<String, String>> {
        let r = self.invoke(
            addr,
            RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::new()),
        )?;
        let v = fastjson::parse(&r.body).map_err(|e| anyhow!("runtime info of {addr}: {e}"))?;
        Ok(v["table"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect())
    }

    /// A request to `addr` with `fields`, whose JSON body is parsed.
    pub fn json(&self, addr: &str, code: i32, fields: &[(&str, String)]) -> Result<Value> {
        let r = self.invoke(addr, request(code, fields))?;
        fastjson::parse(&r.body).map_err(|e| anyhow!("answer to code {code} from {addr}: {e}"))
    }

    /// The master addresses a command addresses: one broker (`-b`), the
    /// masters of a cluster (`-c`), or every master.
    pub fn targets(
        &self,
        broker: Option<&str>,
        cluster: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        let info = self
            .cluster_info()
            .context("reading the cluster from the name server")?;
        if let Some(b) = broker {
            // Named as the name server knows the address (the address
            // itself when it is not registered).
            let name = info
                .brokers
                .iter()
                .find(|(_, g)| g.addrs.values().any(|a| a == b))
                .map_or_else(|| b.to_string(), |(n, _)| n.clone());
            return Ok(vec![(name, b.to_string())]);
        }
        if let Some(c) = cluster {
            if !info.clusters.contains_key(c) {
                bail!("cluster {c} is not known to the name server");
            }
        }
        Ok(info.masters(cluster))
    }
}

/// A request with these header fields.
pub fn request(code: i32, fields: &[(&str, String)]) -> RemotingCommand {
    let mut f = ExtFields::new();
    for (k, v) in fields {
        f.insert((*k).to_string(), v.clone());
    }
    RemotingCommand::request(code, f)
}
