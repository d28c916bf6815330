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
        let topics = topic_config_table(body)?;
        self.record_broker(h, connection);
        if h.broker_id != 0 {
            return Ok(());
        }
        let Some(topics) = topics else {
            return Ok(());
        };
        self.replace_queues(&h.broker_name, topics);
        Ok(())
    }

    /// Records a registering broker: its cluster, its address under its
    /// id, and that it is alive (on `connection`).
    fn record_broker(&mut self, h: &RegisterBrokerRequestHeader, connection: u64) {
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
    }

    /// Replaces the queues of master `broker_name` with those of its
    /// registered `topicConfigTable` (write permission cleared while an
    /// operator has it wiped).
    fn replace_queues(&mut self, broker_name: &str, topics: serde_json::Map<String, Value>) {
        for queues in self.topics.values_mut() {
            queues.remove(broker_name);
        }
        let wiped = self.write_wiped.contains(broker_name);
        for (name, t) in topics {
            let num = |k: &str| t.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
            let perm = num("perm");
            self.topics.entry(name).or_default().insert(
                broker_name.to_string(),
                QueueData {
                    broker_name: broker_name.to_string(),
                    perm: if wiped { perm & !PERM_WRITE } else { perm },
                    read_queue_nums: num("readQueueNums"),
                    topic_sys_flag: num("topicSysFlag"),
                    write_queue_nums: num("writeQueueNums"),
                },
            );
        }
        self.topics.retain(|_, q| !q.is_empty());
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

/// The `topicConfigTable` of a registration body; `None` for an empty
/// body (a registration that only renews liveness).
fn topic_config_table(body: &[u8]) -> Result<Option<serde_json::Map<String, Value>>, String> {
    if body.is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("register body: {e}"))?;
    Ok(Some(
        v.get("topicConfigSerializeWrapper")
            .and_then(|w| w.get("topicConfigTable"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    ))
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
        let table = Arc::new(Mutex::new(RouteTable {
            config_text: config_text(addr, acl.is_some()),
            ..RouteTable::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = Acceptor {
            table: table.clone(),
            stop: stop.clone(),
            connections: Arc::new(AtomicUsize::new(0)),
            acl,
            tls,
        };
        let acceptor = std::thread::Builder::new()
            .name("namesrv-accept".into())
            .spawn(move || acceptor.run(&listener))?;
        let scanner = {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::Builder::new()
                .name("namesrv-scan".into())
                .spawn(move || scan_liveness(&table, &stop))?
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

/// This name server's settings, as `GET_NAMESRV_CONFIG` prints them.
fn config_text(addr: SocketAddr, acl_enable: bool) -> String {
    format!(
        "listenPort={}\nbindAddress={}\nscanNotActiveBrokerInterval={SCAN_INTERVAL_MS}\n\
         brokerChannelExpiredMillis={BROKER_TIMEOUT_MS_DEFAULT}\nserverChannelMaxIdleTimeSeconds={}\n\
         connectionsMax={NAMESRV_CONNECTIONS_MAX}\nkvEntriesMax={KV_ENTRIES_MAX}\naclEnable={}\n",
        addr.port(),
        addr.ip(),
        NAMESRV_IDLE_TIMEOUT.as_secs(),
        acl_enable,
    )
}

/// What the acceptor thread shares with each connection thread it starts.
#[derive(Clone)]
struct Acceptor {
    table: Arc<Mutex<RouteTable>>,
    stop: Arc<AtomicBool>,
    /// Connection threads running: at most [`NAMESRV_CONNECTIONS_MAX`].
    connections: Arc<AtomicUsize>,
    acl: Option<Arc<crate::acl::Acl>>,
    tls: ringmq_net::tls::ServerTls,
}

impl Acceptor {
    /// Accepts connections until `stop` is set (and one more connection
    /// arrives to wake the accept).
    fn run(self, listener: &TcpListener) {
        let next_connection = AtomicU64::new(1);
        for stream in listener.incoming() {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            let Ok(stream) = stream else { continue };
            if self.connections.load(Ordering::Acquire) >= NAMESRV_CONNECTIONS_MAX {
                tracing::warn!("name server connection limit reached; refusing");
                continue;
            }
            self.connections.fetch_add(1, Ordering::AcqRel);
            let id = next_connection.fetch_add(1, Ordering::Relaxed);
            self.spawn_connection(stream, id);
        }
    }

    /// Serves connection `id` on a thread of its own; when it ends, the
    /// brokers that registered over it leave the routes.
    fn spawn_connection(&self, stream: TcpStream, id: u64) {
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name("namesrv-conn".into())
            .spawn(move || {
                serve_connection(
                    stream,
                    id,
                    &shared.table,
                    &shared.stop,
                    shared.acl.as_deref(),
                    &shared.tls,
                );
                shared
                    .table
                    .lock()
                    .expect("route lock")
                    .drop_where(|l| l.connection == id);
                shared.connections.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            tracing::error!("cannot start a name server connection thread");
        }
    }
}

/// Drops brokers silent past their timeout, every [`SCAN_INTERVAL_MS`],
/// until `stop` is set.
fn scan_liveness(table: &Mutex<RouteTable>, stop: &AtomicBool) {
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
            let response = answer(&request, id, peer, table, acl);
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
        if !read_more(&mut stream, &mut chunk, &mut buf, &mut last_read, id) {
            return;
        }
    }
}

/// The answer to one request: refused when the ACL does not take it from
/// this peer, else [`handle`]'s.
fn answer(
    request: &RemotingCommand,
    id: u64,
    peer: Option<std::net::IpAddr>,
    table: &Mutex<RouteTable>,
    acl: Option<&crate::acl::Acl>,
) -> RemotingCommand {
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
            .and_then(|ip| acl.current().check_cluster_member(ip, request))
            .err(),
        _ => None,
    };
    match refused {
        Some(why) => {
            tracing::warn!(connection = id, ?peer, code = request.code, %why, "name server request refused by ACL");
            RemotingCommand::response_to(request, ResponseCode::NO_PERMISSION).with_remark(why)
        }
        None => handle(request, id, table),
    }
}

/// Reads what the peer sent next into `buf`. `false` when the connection
/// ends: closed, failed, or idle for [`NAMESRV_IDLE_TIMEOUT`].
fn read_more<S: Read>(
    stream: &mut S,
    chunk: &mut [u8],
    buf: &mut BytesMut,
    last_read: &mut Instant,
    id: u64,
) -> bool {
    match stream.read(chunk) {
        Ok(0) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            *last_read = Instant::now();
            true
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            if last_read.elapsed() >= NAMESRV_IDLE_TIMEOUT {
                tracing::info!(connection = id, "name server: idle connection; closing");
                return false;
            }
            true
        }
        Err(_) => false,
    }
}

fn handle(
    request: &RemotingCommand,
    connection: u64,
    table: &Mutex<RouteTable>,
) -> RemotingCommand {
    let mut table = table.lock().expect("route lock");
    match request.code {
        RequestCode::REGISTER_BROKER => register_broker(request, connection, &mut table),
        RequestCode::UNREGISTER_BROKER => unregister_broker(request, &mut table),
        RequestCode::GET_ROUTEINFO_BY_TOPIC => get_routeinfo_by_topic(request, &table),
        RequestCode::GET_BROKER_CLUSTER_INFO => {
            reply(request, ResponseCode::SUCCESS, None).with_body(table.cluster_info())
        }
        RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            reply(request, ResponseCode::SUCCESS, None).with_body(table.topic_list())
        }
        RequestCode::DELETE_TOPIC_IN_NAMESRV => delete_topic_in_namesrv(request, &mut table),
        RequestCode::WIPE_WRITE_PERM_OF_BROKER | RequestCode::ADD_WRITE_PERM_OF_BROKER => {
            write_perm_of_broker(request, &mut table)
        }
        RequestCode::GET_NAMESRV_CONFIG => {
            reply(request, ResponseCode::SUCCESS, None).with_body(table.config_text.clone())
        }
        RequestCode::GET_KV_CONFIG => get_kv_config(request, &table),
        RequestCode::PUT_KV_CONFIG => put_kv_config(request, &mut table),
        RequestCode::DELETE_KV_CONFIG => delete_kv_config(request, &mut table),
        code => reply(
            request,
            ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
            Some(format!(
                "request code {code} not supported by this name server"
            )),
        ),
    }
}

fn reply(request: &RemotingCommand, code: i32, remark: Option<String>) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(request, code);
    r.remark = remark;
    r
}

fn bad_header(request: &RemotingCommand, e: ringmq_net::HeaderError) -> RemotingCommand {
    reply(
        request,
        ResponseCode::INVALID_PARAMETER,
        Some(e.to_string()),
    )
}

fn register_broker(
    request: &RemotingCommand,
    connection: u64,
    table: &mut RouteTable,
) -> RemotingCommand {
    let h = match RegisterBrokerRequestHeader::from_ext_fields(&request.ext_fields) {
        Ok(h) => h,
        Err(e) => return bad_header(request, e),
    };
    if h.compressed == Some(true) {
        return reply(
            request,
            ResponseCode::SYSTEM_ERROR,
            Some(
                "compressed registration bodies are not supported; set compressedRegister=false"
                    .into(),
            ),
        );
    }
    if let Some(crc) = h.body_crc32.filter(|c| *c != 0) {
        let actual = (crc32fast::hash(&request.body) & 0x7FFF_FFFF) as i32;
        if actual != crc {
            return reply(
                request,
                ResponseCode::SYSTEM_ERROR,
                Some("crc32 not match".into()),
            );
        }
    }
    if let Err(e) = table.register(&h, &request.body, connection) {
        return reply(request, ResponseCode::SYSTEM_ERROR, Some(e));
    }
    // A slave learns its master's addresses from the answer.
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
    reply(request, ResponseCode::SUCCESS, None).with_ext_fields(header.to_ext_fields())
}

fn unregister_broker(request: &RemotingCommand, table: &mut RouteTable) -> RemotingCommand {
    match UnregisterBrokerRequestHeader::from_ext_fields(&request.ext_fields) {
        Ok(h) => {
            table.unregister(&h.cluster_name, &h.broker_name, &h.broker_addr, h.broker_id);
            reply(request, ResponseCode::SUCCESS, None)
        }
        Err(e) => bad_header(request, e),
    }
}

fn get_routeinfo_by_topic(request: &RemotingCommand, table: &RouteTable) -> RemotingCommand {
    match GetRouteInfoRequestHeader::from_ext_fields(&request.ext_fields) {
        Ok(h) => match table.route(&h.topic) {
            Some(body) => reply(request, ResponseCode::SUCCESS, None).with_body(body),
            None => reply(
                request,
                ResponseCode::TOPIC_NOT_EXIST,
                Some(format!(
                    "No topic route info in name server for the topic: {}",
                    h.topic
                )),
            ),
        },
        Err(e) => bad_header(request, e),
    }
}

fn delete_topic_in_namesrv(request: &RemotingCommand, table: &mut RouteTable) -> RemotingCommand {
    let Some(topic) = request.ext_field("topic") else {
        return reply(
            request,
            ResponseCode::INVALID_PARAMETER,
            Some("topic is required".into()),
        );
    };
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
    reply(request, ResponseCode::SUCCESS, None)
}

/// `WIPE_WRITE_PERM_OF_BROKER` and `ADD_WRITE_PERM_OF_BROKER`.
fn write_perm_of_broker(request: &RemotingCommand, table: &mut RouteTable) -> RemotingCommand {
    let Some(broker_name) = request.ext_field("brokerName") else {
        return reply(
            request,
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
    let mut r = reply(request, ResponseCode::SUCCESS, None);
    let key = if wipe {
        "wipeTopicCount"
    } else {
        "addTopicCount"
    };
    r.ext_fields.insert(key.into(), changed.to_string());
    r
}

/// The `namespace` and `key` of a KV request, both required.
fn kv_key(request: &RemotingCommand) -> Option<(&str, &str)> {
    Some((request.ext_field("namespace")?, request.ext_field("key")?))
}

fn kv_key_required(request: &RemotingCommand) -> RemotingCommand {
    reply(
        request,
        ResponseCode::INVALID_PARAMETER,
        Some("namespace and key are required".into()),
    )
}

fn get_kv_config(request: &RemotingCommand, table: &RouteTable) -> RemotingCommand {
    let Some((ns, key)) = kv_key(request) else {
        return kv_key_required(request);
    };
    match table.kv.get(&(ns.to_string(), key.to_string())) {
        Some(v) => {
            let mut r = reply(request, ResponseCode::SUCCESS, None);
            r.ext_fields.insert("value".into(), v.clone());
            r
        }
        None => reply(
            request,
            ResponseCode::QUERY_NOT_FOUND,
            Some(format!("No config item, Namespace: {ns} Key: {key}")),
        ),
    }
}

fn put_kv_config(request: &RemotingCommand, table: &mut RouteTable) -> RemotingCommand {
    let Some((ns, key)) = kv_key(request) else {
        return kv_key_required(request);
    };
    let Some(value) = request.ext_field("value") else {
        return reply(
            request,
            ResponseCode::INVALID_PARAMETER,
            Some("value is required".into()),
        );
    };
    let k = (ns.to_string(), key.to_string());
    if table.kv.len() >= KV_ENTRIES_MAX && !table.kv.contains_key(&k) {
        return reply(
            request,
            ResponseCode::SYSTEM_ERROR,
            Some("KV table full".into()),
        );
    }
    table.kv.insert(k, value.to_string());
    reply(request, ResponseCode::SUCCESS, None)
}

fn delete_kv_config(request: &RemotingCommand, table: &mut RouteTable) -> RemotingCommand {
    let Some((ns, key)) = kv_key(request) else {
        return kv_key_required(request);
    };
    table.kv.remove(&(ns.to_string(), key.to_string()));
    reply(request, ResponseCode::SUCCESS, None)
}
