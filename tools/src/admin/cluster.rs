//! Cluster and broker commands: `clusterList`, `brokerStatus`,
//! `getBrokerConfig`, `updateBrokerConfig`, `getNamesrvConfig`,
//! `wipeWritePerm`, `addWritePerm`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use ringmq_net::{RequestCode, ResponseCode};
use serde_json::{json, Value};

use super::client::{request, Admin, Refused};
use super::{now_ms, Output};

/// One registered broker address and what its runtime info says.
struct Member {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    addr: String,
    kv: BTreeMap<String, String>,
}

impl Member {
    fn number(&self, key: &str) -> f64 {
        self.kv
            .get(key)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// (broker, shard) when the address is a RingMQ shard.
    fn shard_of(&self) -> Option<(String, u32)> {
        let base = self.kv.get("ringmqBrokerName")?;
        let shard = self.kv.get("ringmqShard")?.parse().ok()?;
        Some((base.clone(), shard))
    }
}

fn members(admin: &Admin, cluster: Option<&str>) -> Result<Vec<Member>> {
    let info = admin.cluster_info()?;
    if let Some(c) = cluster {
        if !info.clusters.contains_key(c) {
            bail!("cluster {c} is not known to the name server");
        }
    }
    let mut out = Vec::new();
    for (name, id, addr) in info.members(cluster) {
        let kv = match admin.runtime_info(&addr) {
            Ok(kv) => kv,
            Err(e) => {
                eprintln!("runtime info of {addr}: {e:#}");
                BTreeMap::new()
            }
        };
        out.push(Member {
            cluster: info
                .brokers
                .get(&name)
                .map(|b| b.cluster.clone())
                .unwrap_or_default(),
            broker_name: name,
            broker_id: id,
            addr,
            kv,
        });
    }
    Ok(out)
}

/// A row of `clusterList`: one broker address, or a RingMQ broker's shards
/// summed.
struct Row {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    addr: String,
    version: String,
    in_tps: f64,
    out_tps: f64,
    hours: f64,
    space: f64,
    active: bool,
    shards: Vec<Value>,
}

fn row_of(m: &Member) -> Row {
    let earliest = m.number("earliestMessageTimeStamp");
    Row {
        cluster: m.cluster.clone(),
        broker_name: m.broker_name.clone(),
        broker_id: m.broker_id,
        addr: m.addr.clone(),
        version: m
            .kv
            .get("brokerVersionDesc")
            .cloned()
            .unwrap_or_else(|| "null".into()),
        in_tps: m.number("putTps"),
        out_tps: m
            .number("getTransferredTps")
            .max(m.number("getTransferedTps")),
        hours: if earliest > 0.0 {
            (now_ms() as f64 - earliest) / 3.6e6
        } else {
            0.0
        },
        space: m.number("commitLogDiskRatio"),
        active: m.kv.get("brokerActive").is_some_and(|v| v == "true"),
        shards: Vec::new(),
    }
}

fn shard_json(m: &Member) -> Value {
    json!({"brokerName": m.broker_name, "addr": m.addr, "shard": m.kv.get("ringmqShard"),
        "inTps": m.number("putTps"), "outTps": m.number("getTransferredTps")})
}

/// `clusterList [-c cluster] [--shards]`.
pub fn cluster_list(
    admin: &Admin,
    out: &mut Output,
    cluster: Option<&str>,
    shard_rows: bool,
) -> Result<()> {
    let members = members(admin, cluster)?;
    let mut rows: Vec<Row> = Vec::new();
    for m in &members {
        let grouped = (!shard_rows).then(|| m.shard_of()).flatten();
        let Some((base, _)) = grouped else {
            rows.push(row_of(m));
            continue;
        };
        let found = rows.iter_mut().find(|r| {
            r.cluster == m.cluster && r.broker_name == base && r.broker_id == m.broker_id
        });
        match found {
            Some(r) => {
                r.in_tps += m.number("putTps");
                r.out_tps += m.number("getTransferredTps");
                r.active |= m.kv.get("brokerActive").is_some_and(|v| v == "true");
                r.shards.push(shard_json(m));
            }
            None => {
                let mut r = row_of(m);
                r.broker_name = base;
                r.shards.push(shard_json(m));
                rows.push(r);
            }
        }
    }
    rows.sort_by(|a, b| {
        (&a.cluster, &a.broker_name, a.broker_id).cmp(&(&b.cluster, &b.broker_name, b.broker_id))
    });
    out.text(&format!(
        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:<11}  {:<12}  {:<8}  {:<10}\n",
        "#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)",
        "#Timer(Progress)", "#PCWait(ms)", "#Hour", "#SPACE", "#ACTIVATED"
    ))?;
    let mut json_rows = Vec::new();
    for r in &rows {
        // A thread-per-core broker has no send or pull thread-pool queue:
        // its queue sizes and head waits are 0, not unknown.
        out.text(&format!(
            "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:>11}  {:<12}  {:<8}  {:>10}\n",
            r.cluster,
            r.broker_name,
            r.broker_id,
            r.addr,
            r.version,
            format!("{:9.2}(0,0ms)", r.in_tps),
            format!("{:9.2}(0,0ms|N,Nms)", r.out_tps),
            "0-0(0.0w, 0.0, 0.0)",
            0,
            format!("{:2.2}", r.hours),
            format!("{:.4}", r.space),
            r.active
        ))?;
        json_rows.push(
            json!({"cluster": r.cluster, "brokerName": r.broker_name, "brokerId": r.broker_id,
            "addr": r.addr, "version": r.version, "inTps": r.in_tps, "outTps": r.out_tps,
            "commitLogDiskRatio": r.space, "active": r.active, "shards": r.shards}),
        );
    }
    out.value(&Value::Array(json_rows))
}

/// `brokerStatus -b addr | -c cluster`.
pub fn broker_status(
    admin: &Admin,
    out: &mut Output,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<()> {
    if let Some(addr) = broker {
        let kv = admin.runtime_info(addr)?;
        for (k, v) in &kv {
            out.text(&format!("{k:<32}: {v}\n"))?;
        }
        return out.value(&json!(kv));
    }
    let Some(cluster) = cluster else {
        bail!("give -b brokerAddr or -c clusterName");
    };
    let mut all = BTreeMap::new();
    for m in members(admin, Some(cluster))? {
        for (k, v) in &m.kv {
            out.text(&format!("{:<24} {k:<32}: {v}\n", m.addr))?;
        }
        all.insert(m.addr.clone(), json!(m.kv));
    }
    out.value(&json!(all))
}

/// Properties text (`key=value` lines) into ordered pairs.
fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_string(), l[at + 1..].trim().to_string()))
        })
        .collect()
}

fn print_properties(out: &mut Output, props: &[(String, String)]) -> Result<()> {
    for (k, v) in props {
        out.text(&format!("{k:<50}=  {v}\n"))?;
    }
    Ok(())
}

/// `getBrokerConfig -b addr | -c cluster`.
pub fn get_broker_config(
    admin: &Admin,
    out: &mut Output,
    broker: Option<&str>,
    cluster: Option<&str>,
) -> Result<()> {
    let fetch = |addr: &str| -> Result<Vec<(String, String)>> {
        let r = admin.invoke(addr, request(RequestCode::GET_BROKER_CONFIG, &[]))?;
        Ok(properties(&String::from_utf8_lossy(&r.body)))
    };
    let mut all = BTreeMap::new();
    if let Some(addr) = broker {
        let props = fetch(addr)?;
        out.text(&format!("============{addr}============\n"))?;
        print_properties(out, &props)?;
        out.text("\n")?;
        all.insert(addr.to_string(), props);
    } else if let Some(c) = cluster {
        let info = admin.cluster_info()?;
        if !info.clusters.contains_key(c) {
            bail!("cluster {c} is not known to the name server");
        }
        for group in info.brokers.values().filter(|b| b.cluster == c) {
            let master = group.master().unwrap_or("NO_MASTER");
            if let Some(addr) = group.master() {
                let props = fetch(addr)?;
                out.text(&format!("============Master: {addr}============\n"))?;
                print_properties(out, &props)?;
                out.text("\n")?;
                all.insert(addr.to_string(), props);
            } else {
                out.text(&format!("============Master: {master}============\n"))?;
            }
            for (_, slave) in group.addrs.iter().filter(|(id, _)| **id != 0) {
                let props = fetch(slave)?;
                out.text(&format!(
                    "============My Master: {master}=====Slave: {slave}============\n"
                ))?;
                print_properties(out, &props)?;
                out.text("\n")?;
                all.insert(slave.clone(), props);
            }
        }
    } else {
        bail!("give -b brokerAddr or -c clusterName");
    }
    let all: BTreeMap<String, BTreeMap<String, String>> = all
        .into_iter()
        .map(|(a, p)| (a, p.into_iter().collect()))
        .collect();
    out.value(&json!(all))
}

/// `updateBrokerConfig -b addr | -c cluster -k key -v value`.
pub fn update_broker_config(
    admin: &Admin,
    out: &mut Output,
    broker: Option<&str>,
    cluster: Option<&str>,
    key: &str,
    value: &str,
) -> Result<()> {
    if key == "brokerPermission" && !value.parse::<i32>().is_ok_and(|p| (0..8).contains(&p)) {
        bail!("brokerPermission value: {value} is invalid.");
    }
    let addrs: Vec<String> = match (broker, cluster) {
        (Some(b), _) => vec![b.to_string()],
        (None, Some(c)) => {
            let info = admin.cluster_info()?;
            if !info.clusters.contains_key(c) {
                bail!("cluster {c} is not known to the name server");
            }
            info.members(Some(c))
                .into_iter()
                .filter(|(_, id, _)| *id == 0)
                .map(|(_, _, a)| a)
                .collect()
        }
        (None, None) => bail!("give -b brokerAddr or -c clusterName"),
    };
    let mut updated = Vec::new();
    for addr in &addrs {
        let r = request(RequestCode::UPDATE_BROKER_CONFIG, &[])
            .with_body(format!("{key}={value}\n").into_bytes());
        admin.invoke(addr, r)?;
        out.text(&format!("update broker config success, {addr}\n"))?;
        updated.push(addr.clone());
    }
    out.value(&json!({"key": key, "value": value, "updated": updated}))
}

/// `getNamesrvConfig`.
pub fn get_namesrv_config(admin: &Admin, out: &mut Output) -> Result<()> {
    let mut all = BTreeMap::new();
    for (addr, r) in admin.every_namesrv(&request(RequestCode::GET_NAMESRV_CONFIG, &[]))? {
        let props = properties(&String::from_utf8_lossy(&r.body));
        out.text(&format!("============{addr}============\n"))?;
        print_properties(out, &props)?;
        all.insert(addr, props.into_iter().collect::<BTreeMap<_, _>>());
    }
    out.value(&json!(all))
}

/// The registered broker names `name` stands for: itself, or the shards
/// `name-<i>` of a RingMQ broker.
fn broker_names(admin: &Admin, name: &str) -> Result<Vec<String>> {
    let info = admin.cluster_info()?;
    if info.brokers.contains_key(name) {
        return Ok(vec![name.to_string()]);
    }
    let shards: Vec<String> = info
        .brokers
        .keys()
        .filter(|b| {
            b.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|c| c.is_ascii_digit()))
        })
        .cloned()
        .collect();
    Ok(if shards.is_empty() {
        vec![name.to_string()]
    } else {
        shards
    })
}

/// `wipeWritePerm -b brokerName` / `addWritePerm -b brokerName`, on every
/// name server.
pub fn write_perm(admin: &Admin, out: &mut Output, broker_name: &str, add: bool) -> Result<()> {
    let (code, word, key) = if add {
        (
            RequestCode::ADD_WRITE_PERM_OF_BROKER,
            "add",
            "addTopicCount",
        )
    } else {
        (
            RequestCode::WIPE_WRITE_PERM_OF_BROKER,
            "wipe",
            "wipeTopicCount",
        )
    };
    let names = broker_names(admin, broker_name)?;
    let mut results = Vec::new();
    let mut failed = false;
    for ns in &admin.namesrvs {
        for name in &names {
            match admin.invoke(ns, request(code, &[("brokerName", name.clone())])) {
                Ok(r) => {
                    let count: i64 = r.ext_field(key).and_then(|c| c.parse().ok()).unwrap_or(0);
                    out.text(&format!(
                        "{word} write perm of broker[{name}] in name server[{ns}] OK, {count}\n"
                    ))?;
                    results.push(json!({"brokerName": name, "namesrv": ns, "topics": count}));
                }
                Err(e) => {
                    failed = true;
                    out.text(&format!(
                        "{word} write perm of broker[{name}] in name server[{ns}] Failed\n"
                    ))?;
                    eprintln!("{e:#}");
                    let code = e
                        .downcast_ref::<Refused>()
                        .map_or(ResponseCode::SYSTEM_ERROR, |r| r.code);
                    results.push(json!({"brokerName": name, "namesrv": ns, "error": e.to_string(), "code": code}));
                }
            }
        }
    }
    out.value(&Value::Array(results))?;
    if failed {
        bail!("{word}WritePerm failed on at least one name server");
    }
    Ok(())
}
