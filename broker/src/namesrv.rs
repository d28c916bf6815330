//! The name server: which brokers are alive, which topics each serves, and
//! the topic routes clients ask for (`spec/remoting-protocol.md` §9.1–9.3,
//! `spec/ha-and-cluster.md` §2).
//!
//! Control plane only, so it runs on plain threads with blocking sockets:
//! one acceptor, one thread per connection (at most
//! [`NAMESRV_CONNECTIONS_MAX`]) and one liveness scanner, sharing the route
//! table under a mutex. Request rates here are a few per client per 30 s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ringmq_net::header::{
    GetRouteInfoRequestHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader,
};
use ringmq_net::{CommandHeader, FrameDecoder, RemotingCommand, RequestCode, ResponseCode};
use serde::Serialize;
use serde_json::Value;

use crate::topics::PERM_WRITE;

pub const NAMESRV_CONNECTIONS_MAX: usize = 1024;
/// A connection that sends nothing for this long is closed (RocketMQ's
/// `serverChannelMaxIdleTimeSeconds`; brokers register every 30 s,
/// clients fetch routes every 30 s).
pub const NAMESRV_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A peer that takes no reply bytes for this long is closed.
pub const NAMESRV_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default broker liveness timeout (`heartbeatTimeoutMillis`).
pub const BROKER_TIMEOUT_MS_DEFAULT: u64 = 120_000;
/// How often silent brokers are looked for (`scanNotActiveBrokerInterval`).
pub const SCAN_INTERVAL_MS: u64 = 5_000;
/// Most KV entries kept.
pub const KV_ENTRIES_MAX: usize = 10_000;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// Keyed by broker id, written as quoted numbers (§9.1).
    pub broker_addrs: BTreeMap<String, String>,
    pub broker_name: String,
    pub cluster: String,
    pub enable_acting_master: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicRouteData {
    broker_datas: Vec<BrokerData>,
    filter_server_table: BTreeMap<String, Vec<String>>,
    queue_datas: Vec<QueueData>,
}

struct BrokerEntry {
    cluster: String,
    addrs: BTreeMap<i64, String>,
}

struct Live {
    broker_name: String,
    broker_id: i64,
    /// The broker's announced replication address.
    ha_server_addr: String,
    cluster: String,
    last_update: Instant,
    timeout: Duration,
    connection: u64,
}

#[derive(Default)]
pub struct RouteTable {
    clusters: BTreeMap<String, BTreeSet<String>>,
    brokers: BTreeMap<String, BrokerEntry>,
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    live: HashMap<String, Live>,
    kv: BTreeMap<(String, String), String>,
    /// Broker groups whose write permission an operator wiped
    /// (`WIPE_WRITE_PERM_OF_BROKER`): their queues stay read-only in routes,
    /// across re-registrations, until `ADD_WRITE_PERM_OF_BROKER`.
    write_wiped: BTreeSet<String>,
    /// This name server's settings, as `GET_NAMESRV_CONFIG` prints them.
    config_text: String,
}

impl RouteTable {
    fn register(
        &mut self,
        h: &RegisterBrokerRequestHeader,
        body: &[u8],
        connection: u64,
    ) -> Result<(), String> {
        let topics = if body.is_empty() {
            None
        } else {
            let v: Value =
                serde_json::from_slice(body).map_err(|e| format!("register body: {e}"))?;
            Some(
                v.get("topicConfigSerializeWrapper")
                    .and_then(|w| w.get("topicConfigTable"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            )
        };
        self.clusters
            .entry(h.cluster_name.clone())
            .or_default()
            .insert(h.broker_name.clone());
        let entry = self
            .brokers
            .entry(h.broker_name.clone())
            .or_insert_with(|| BrokerEntry {
                cluster: h.cluster_name.clone(),
                addrs: BTreeMap::new(),
            });
        // An address re-registering under another id (a promoted slave)
        // loses its old id.
        entry
            .addrs
            .retain(|id, addr| *id == h.broker_id || addr != &h.broker_addr);
        entry.addrs.insert(h.broker_id, h.broker_addr.clone());
        self.live.insert(
            h.broker_addr.clone(),
            Live {
                broker_name: h.broker_name.clone(),
                broker_id: h.broker_id,
                ha_server_addr: h.ha_server_addr.clone(),
                cluster: h.cluster_name.clone(),
                last_update: Instant::now(),
                timeout: Duration::from_millis(
                    h.heartbeat_timeout_millis
                        .filter(|t| *t > 0)
                        .map_or(BROKER_TIMEOUT_MS_DEFAULT, |t| t as u64),
                ),
                connection,
            },
        );
        if h.broker_id != 0 {
            return Ok(());
        }
        let Some(topics) = topics else {
            return Ok(());
        };
        for queues in self.topics.values_mut() {
            queues.remove(&h.broker_name);
        }
        let wiped = self.write_wiped.contains(&h.broker_name);
        for (name, t) in topics {
            let num = |k: &str| t.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
            let perm = num("perm");
            self.topics.entry(name).or_default().insert(
                h.broker_name.clone(),
                QueueData {
                    broker_name: h.broker_name.clone(),
                    perm: if wiped { perm & !PERM_WRITE } else { perm },
                    read_queue_nums: num("readQueueNums"),
                    topic_sys_flag: num("topicSysFlag"),
                    write_queue_nums: num("writeQueueNums"),
                },
            );
        }
        self.topics.retain(|_, q| !q.is_empty());
        Ok(())
    }

    fn unregister(&mut self, cluster: &str, broker_name: &str, addr: &str, broker_id: i64) {
        self.live.remove(addr);
        let mut gone = false;
        if let Some(entry) = self.brokers.get_mut(broker_name) {
            if entry.addrs.get(&broker_id).is_some_and(|a| a == addr) {
                entry.addrs.remove(&broker_id);
            }
            gone = entry.addrs.is_empty();
        }
        if gone {
            self.brokers.remove(broker_name);
            self.write_wiped.remove(broker_name);
            if let Some(names) = self.clusters.get_mut(cluster) {
                names.remove(broker_name);
                if names.is_empty() {
                    self.clusters.remove(cluster);
                }
            }
        }
        // Queue data stays while any member of the group is left, so
        // consumers keep reading from a slave when the master is gone
        // (producers skip a group without a master), as RocketMQ does.
        if gone {
            for queues in self.topics.values_mut() {
                queues.remove(broker_name);
            }
            self.topics.retain(|_, q| !q.is_empty());
        }
        tracing::info!(broker_name, addr, broker_id, "broker removed from routes");
    }

    fn drop_where(&mut self, dead: impl Fn(&Live) -> bool) {
        let victims: Vec<(String, String, String, i64)> = self
            .live
            .iter()
            .filter(|(_, l)| dead(l))
            .map(|(a, l)| {
                (
                    l.cluster.clone(),
                    l.broker_name.clone(),
                    a.clone(),
                    l.broker_id,
                )
            })
            .collect();
        for (c, n, a, id) in victims {
            self.unregister(&c, &n, &a, id);
        }
    }

    fn broker_data(&self, name: &str) -> Option<BrokerData> {
        let e = self.brokers.get(name)?;
        Some(BrokerData {
            broker_addrs: e
                .addrs
                .iter()
                .map(|(id, a)| (id.to_string(), a.clone()))
                .collect(),
            broker_name: name.to_string(),
            cluster: e.cluster.clone(),
            enable_acting_master: false,
        })
    }

    fn route(&self, topic: &str) -> Option<Vec<u8>> {
        let queues = self.topics.get(topic)?;
        let route = TopicRouteData {
            broker_datas: queues.keys().filter_map(|b| self.broker_data(b)).collect(),
            filter_server_table: BTreeMap::new(),
            queue_datas: queues.values().cloned().collect(),
        };
        if route.broker_datas.is_empty() {
            return None;
        }
        Some(serde_json::to_vec(&route).expect("route serializes"))
    }

    fn cluster_info(&self) -> Vec<u8> {
        let broker_addr_table: BTreeMap<String, BrokerData> = self
            .brokers
            .keys()
            .filter_map(|n| self.broker_data(n).map(|d| (n.clone(), d)))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "brokerAddrTable": broker_addr_table,
            "clusterAddrTable": self.clusters,
        }))
        .expect("cluster info serializes")
    }

    /// Sets or clears the write bit of every queue of `broker_name`;
    /// returns how many topics changed.
    fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        if writable {
            self.write_wiped.remove(broker_name);
        } else if self.brokers.contains_key(broker_name) {
            // Only registered brokers: the set stays as small as the table.
            self.write_wiped.insert(broker_name.to_string());
        }
        let mut changed = 0;
        for q in self
            .topics
            .values_mut()
            .filter_map(|q| q.get_mut(broker_name))
        {
            let perm = if writable {
                q.perm | PERM_WRITE
            } else {
                q.perm & !PERM_WRITE
            };
            if perm != q.perm {
                q.perm = perm;
                changed += 1;
            }
        }
        changed
    }

    fn topic_list(&self) -> Vec<u8> {
        let names: Vec<&String> = self.topics.keys().collect();
        serde_json::to_vec(&serde_json::json!({ "topicList": names })).expect("serializes")
    }
}

/// A running name server.
pub struct NameServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl NameServer {
    /// With `acl` (a broker's embedded name server under `aclEnable`),
    /// registration, unregistration and KV changes are taken only from
    /// brokers of the cluster ([`crate::acl::AclConfig::check_cluster_member`]).
    /// With `tls` in `permissive` or `enforcing` mode, clients may (or
    /// must) speak TLS; brokers registering over plain TCP are then only
    /// accepted in `permissive` mode.
    pub fn start(
        bind: SocketAddr,
        acl: Option<Arc<crate::acl::Acl>>,
        tls: ringmq_net::tls::ServerTls,
    ) -> std::io::Result<NameServer> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let config_text = format!(
            "listenPort={}\nbindAddress={}\nscanNotActiveBrokerInterval={SCAN_INTERVAL_MS}\n\
             brokerChannelExpiredMillis={BROKER_TIMEOUT_MS_DEFAULT}\nserverChannelMaxIdleTimeSeconds={}\n\
             connectionsMax={NAMESRV_CONNECTIONS_MAX}\nkvEntriesMax={KV_ENTRIES_MAX}\naclEnable={}\n",
            addr.port(),
            addr.ip(),
            NAMESRV_IDLE_TIMEOUT.as_secs(),
            acl.is_some(),
        );
        let table = Arc::new(Mutex::new(RouteTable {
            config_text,
            ..RouteTable::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let next_connection = Arc::new(AtomicU64::new(1));
        let acceptor = {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::Builder::new()
                .name("namesrv-accept".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        if connections.load(Ordering::Acquire) >= NAMESRV_CONNECTIONS_MAX {
                            tracing::warn!("name server connection limit reached; refusing");
                            continue;
                        }
                        connections.fetch_add(1, Ordering::AcqRel);
                        let (table, stop, connections, acl, tls) = (
                            table.clone(),
                            stop.clone(),
                            connections.clone(),
                            acl.clone(),
                            tls.clone(),
                        );
                        let id = next_connection.fetch_add(1, Ordering::Relaxed);
                        let spawned = std::thread::Builder::new()
                            .name("namesrv-conn".into())
                            .spawn(move || {
                                serve_connection(stream, id, &table, &stop, acl.as_deref(), &tls);
                                table
                                    .lock()
                                    .expect("route lock")
                                    .drop_where(|l| l.connection == id);
                                connections.fetch_sub(1, Ordering::AcqRel);
                            });
                        if spawned.is_err() {
                            tracing::error!("cannot start a name server connection thread");
                        }
                    }
                })?
        };
        let scanner = {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::Builder::new()
                .name("namesrv-scan".into())
                .spawn(move || {
                    let mut last = Instant::now();
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(100));
                        if last.elapsed() >= Duration::from_millis(SCAN_INTERVAL_MS) {
                            last = Instant::now();
                            table
                                .lock()
                                .expect("route lock")
                                .drop_where(|l| l.last_update.elapsed() > l.timeout);
                        }
                    }
                })?
        };
        tracing::info!(%addr, "name server listening");
        Ok(NameServer {
            addr,
            stop,
            threads: vec![acceptor, scanner],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and scanning; open connections end when their peers
    /// close them.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_connection(
    stream: TcpStream,
    id: u64,
    table: &Mutex<RouteTable>,
    stop: &AtomicBool,
    acl: Option<&crate::acl::Acl>,
    tls: &ringmq_net::tls::ServerTls,
) {
    use ringmq_net::tls::{Admission, TlsMode};
    let peer = stream.peer_addr().map(|a| a.ip()).ok();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(NAMESRV_WRITE_TIMEOUT));
    let admission = if tls.mode == TlsMode::Disabled {
        Admission::Plain
    } else {
        // TLS or plain, from the first byte, within the idle timeout.
        let started = Instant::now();
        let mut first = [0u8; 1];
        loop {
            match stream.peek(&mut first) {
                Ok(1) => break tls.decide(first[0]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) && started.elapsed() < NAMESRV_IDLE_TIMEOUT
                        && !stop.load(Ordering::Acquire) => {}
                _ => return,
            }
        }
    };
    match admission {
        Admission::Plain => serve_frames(stream, id, peer, table, stop, acl),
        Admission::Tls(config) => match rustls::ServerConnection::new(config) {
            Ok(conn) => serve_frames(
                rustls::StreamOwned::new(conn, stream),
                id,
                peer,
                table,
                stop,
                acl,
            ),
            Err(error) => tracing::warn!(%error, "name server: TLS session refused"),
        },
        Admission::Refuse => tracing::warn!(
            ?peer,
            "name server: plain connection refused: tlsMode=enforcing"
        ),
    }
}

/// Serves the frames of one admitted connection, plain or TLS.
fn serve_frames<S: Read + Write>(
    mut stream: S,
    id: u64,
    peer: Option<std::net::IpAddr>,
    table: &Mutex<RouteTable>,
    stop: &AtomicBool,
    acl: Option<&crate::acl::Acl>,
) {
    let mut last_read = Instant::now();
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        loop {
            let frame = match decoder.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "name server: bad frame; closing connection");
                    return;
                }
            };
            let request = match RemotingCommand::decode(frame) {
                Ok(c) => c,
                Err(error) => {
                    tracing::warn!(%error, "name server: bad header; closing connection");
                    return;
                }
            };
            if request.is_response() {
                continue;
            }
            let refused = match (acl, request.code) {
                (
                    Some(acl),
                    RequestCode::REGISTER_BROKER
                    | RequestCode::UNREGISTER_BROKER
                    | RequestCode::PUT_KV_CONFIG
                    | RequestCode::DELETE_KV_CONFIG
                    | RequestCode::DELETE_TOPIC_IN_NAMESRV
                    | RequestCode::WIPE_WRITE_PERM_OF_BROKER
                    | RequestCode::ADD_WRITE_PERM_OF_BROKER,
                ) => peer
                    .ok_or_else(|| "no peer address".to_string())
                    .and_then(|ip| acl.current().check_cluster_member(ip, &request))
                    .err(),
                _ => None,
            };
            let response = match refused {
                Some(why) => {
                    tracing::warn!(connection = id, ?peer, code = request.code, %why, "name server request refused by ACL");
                    RemotingCommand::response_to(&request, ResponseCode::NO_PERMISSION)
                        .with_remark(why)
                }
                None => handle(&request, id, table),
            };
            if request.is_oneway() {
                continue;
            }
            let Ok(bytes) = response.encode() else {
                return;
            };
            if stream.write_all(&bytes).is_err() {
                return;
            }
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last_read = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if last_read.elapsed() >= NAMESRV_IDLE_TIMEOUT {
                    tracing::info!(connection = id, "name server: idle connection; closing");
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn handle(
    request: &RemotingCommand,
    connection: u64,
    table: &Mutex<RouteTable>,
) -> RemotingCommand {
    let reply = |code: i32, remark: Option<String>| {
        let mut r = RemotingCommand::response_to(request, code);
        r.remark = remark;
        r
    };
    let bad =
        |e: ringmq_net::HeaderError| reply(ResponseCode::INVALID_PARAMETER, Some(e.to_string()));
    let mut table = table.lock().expect("route lock");
    match request.code {
        RequestCode::REGISTER_BROKER => {
            let h = match RegisterBrokerRequestHeader::from_ext_fields(&request.ext_fields) {
                Ok(h) => h,
                Err(e) => return bad(e),
            };
            if h.compressed == Some(true) {
                return reply(
                    ResponseCode::SYSTEM_ERROR,
                    Some("compressed registration bodies are not supported; set compressedRegister=false".into()),
                );
            }
            if let Some(crc) = h.body_crc32.filter(|c| *c != 0) {
                let actual = (crc32fast::hash(&request.body) & 0x7FFF_FFFF) as i32;
                if actual != crc {
                    return reply(ResponseCode::SYSTEM_ERROR, Some("crc32 not match".into()));
                }
            }
            match table.register(&h, &request.body, connection) {
                Ok(()) => {
                    let master = table
                        .brokers
                        .get(&h.broker_name)
                        .and_then(|b| b.addrs.get(&0).cloned())
                        .filter(|_| h.broker_id != 0);
                    let master_ha = master
                        .as_ref()
                        .and_then(|m| table.live.get(m))
                        .map(|l| l.ha_server_addr.clone());
                    let header = RegisterBrokerResponseHeader {
                        ha_server_addr: master_ha,
                        master_addr: master,
                    };
                    reply(ResponseCode::SUCCESS, None).with_ext_fields(header.to_ext_fields())
                }
                Err(e) => reply(ResponseCode::SYSTEM_ERROR, Some(e)),
            }
        }
        RequestCode::UNREGISTER_BROKER => {
            match UnregisterBrokerRequestHeader::from_ext_fields(&request.ext_fields) {
                Ok(h) => {
                    table.unregister(&h.cluster_name, &h.broker_name, &h.broker_addr, h.broker_id);
                    reply(ResponseCode::SUCCESS, None)
                }
                Err(e) => bad(e),
            }
        }
        RequestCode::GET_ROUTEINFO_BY_TOPIC => {
            match GetRouteInfoRequestHeader::from_ext_fields(&request.ext_fields) {
                Ok(h) => match table.route(&h.topic) {
                    Some(body) => reply(ResponseCode::SUCCESS, None).with_body(body),
                    None => reply(
                        ResponseCode::TOPIC_NOT_EXIST,
                        Some(format!(
                            "No topic route info in name server for the topic: {}",
                            h.topic
                        )),
                    ),
                },
                Err(e) => bad(e),
            }
        }
        RequestCode::GET_BROKER_CLUSTER_INFO => {
            reply(ResponseCode::SUCCESS, None).with_body(table.cluster_info())
        }
        RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            reply(ResponseCode::SUCCESS, None).with_body(table.topic_list())
        }
        RequestCode::DELETE_TOPIC_IN_NAMESRV => match request.ext_field("topic") {
            Some(topic) => {
                // A broker that still has the topic puts it back at its next
                // registration: mqadmin deletes it on the brokers first.
                // With `clusterName`, only that cluster's brokers lose it.
                let cluster = request.ext_field("clusterName").filter(|c| !c.is_empty());
                let in_cluster: Option<BTreeSet<String>> =
                    cluster.map(|c| table.clusters.get(c).cloned().unwrap_or_default());
                match in_cluster {
                    None => {
                        table.topics.remove(topic);
                    }
                    Some(names) => {
                        if let Some(queues) = table.topics.get_mut(topic) {
                            queues.retain(|broker, _| !names.contains(broker));
                            if queues.is_empty() {
                                table.topics.remove(topic);
                            }
                        }
                    }
                }
                reply(ResponseCode::SUCCESS, None)
            }
            None => reply(
                ResponseCode::INVALID_PARAMETER,
                Some("topic is required".into()),
            ),
        },
        RequestCode::WIPE_WRITE_PERM_OF_BROKER | RequestCode::ADD_WRITE_PERM_OF_BROKER => {
            let Some(broker_name) = request.ext_field("brokerName") else {
                return reply(
                    ResponseCode::INVALID_PARAMETER,
                    Some("brokerName is required".into()),
                );
            };
            let wipe = request.code == RequestCode::WIPE_WRITE_PERM_OF_BROKER;
            let changed = table.set_write_perm(broker_name, !wipe);
            tracing::info!(
                broker_name,
                wipe,
                topics = changed,
                "write permission changed by an admin"
            );
            let mut r = reply(ResponseCode::SUCCESS, None);
            let key = if wipe {
                "wipeTopicCount"
            } else {
                "addTopicCount"
            };
            r.ext_fields.insert(key.into(), changed.to_string());
            r
        }
        RequestCode::GET_NAMESRV_CONFIG => {
            reply(ResponseCode::SUCCESS, None).with_body(table.config_text.clone())
        }
        RequestCode::GET_KV_CONFIG | RequestCode::PUT_KV_CONFIG | RequestCode::DELETE_KV_CONFIG => {
            let (Some(ns), Some(key)) = (request.ext_field("namespace"), request.ext_field("key"))
            else {
                return reply(
                    ResponseCode::INVALID_PARAMETER,
                    Some("namespace and key are required".into()),
                );
            };
            let k = (ns.to_string(), key.to_string());
            match request.code {
                RequestCode::GET_KV_CONFIG => match table.kv.get(&k) {
                    Some(v) => {
                        let mut r = reply(ResponseCode::SUCCESS, None);
                        r.ext_fields.insert("value".into(), v.clone());
                        r
                    }
                    None => reply(
                        ResponseCode::QUERY_NOT_FOUND,
                        Some(format!("No config item, Namespace: {ns} Key: {key}")),
                    ),
                },
                RequestCode::PUT_KV_CONFIG => {
                    let Some(value) = request.ext_field("value") else {
                        return reply(
                            ResponseCode::INVALID_PARAMETER,
                            Some("value is required".into()),
                        );
                    };
                    if table.kv.len() >= KV_ENTRIES_MAX && !table.kv.contains_key(&k) {
                        return reply(ResponseCode::SYSTEM_ERROR, Some("KV table full".into()));
                    }
                    table.kv.insert(k, value.to_string());
                    reply(ResponseCode::SUCCESS, None)
                }
                _ => {
                    table.kv.remove(&k);
                    reply(ResponseCode::SUCCESS, None)
                }
            }
        }
        code => reply(
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
            Some(format!(
                "request code {code} not supported by this name server"
            )),
        ),
    }
}
