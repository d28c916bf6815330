//! Keeps every shard registered with every name server as its own broker:
//! every `registerNameServerPeriod`, and within a tick of a topic-table
//! change (a new topic is routable at once, as RocketMQ does). A plain
//! thread with blocking connections: this is the control plane. On stop it
//! unregisters each shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringmq_net::client::BlockingClient;
use ringmq_net::header::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use ringmq_net::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use crate::config::BrokerConfig;
use crate::ha::{MasterAddrs, MasterInfos};
use crate::topics::TopicTable;

const TICK_MS: u64 = 50;
const RPC_TIMEOUT_MS: u64 = 3_000;
/// `brokerNotActiveTimeoutMillis` we ask the name server to apply.
const HEARTBEAT_TIMEOUT_MS: i64 = 120_000;

pub struct Registrar {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Registrar {
    /// Registers once before returning (so a broker that has started is
    /// routable), then keeps registering on a thread.
    pub fn start(
        config: Arc<BrokerConfig>,
        topics: Arc<TopicTable>,
        masters: MasterInfos,
        acl: Option<Arc<crate::acl::Acl>>,
    ) -> Registrar {
        let mut clients = HashMap::new();
        let signer = Signer(acl);
        let first_ok = register_all(&config, &topics, &masters, &mut clients, &signer);
        let first_version = if first_ok { topics.version() } else { 0 };
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("namesrv-register".into())
            .spawn(move || {
                run(
                    &config,
                    &topics,
                    &masters,
                    &s,
                    clients,
                    first_version,
                    &signer,
                );
            })
            .expect("start the registration thread");
        Registrar { stop, thread }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

fn run(
    config: &BrokerConfig,
    topics: &TopicTable,
    masters: &MasterInfos,
    stop: &AtomicBool,
    mut clients: HashMap<String, BlockingClient>,
    mut registered_version: u64,
    signer: &Signer,
) {
    let period = Duration::from_millis(config.register_name_server_period_ms);
    let mut due = Instant::now() + period;
    while !stop.load(Ordering::Acquire) {
        // A live change of brokerPermission changes every topic's perm.
        let version = topics.version().wrapping_add(config.live.version() << 32);
        if version != registered_version || Instant::now() >= due {
            let ok = register_all(config, topics, masters, &mut clients, signer);
            if ok {
                registered_version = version;
                due = Instant::now() + period;
            } else {
                // Retry soon rather than after a whole period. (Computed
                // forwards: `now - period` panicked when the period was
                // longer than the machine's uptime.)
                due = Instant::now() + period.min(Duration::from_secs(1));
            }
        }
        std::thread::sleep(Duration::from_millis(TICK_MS));
    }
    for addr in config.namesrv_addrs() {
        let Some(client) = connect(&mut clients, &addr) else {
            continue;
        };
        for shard in 0..config.shards {
            let header = UnregisterBrokerRequestHeader {
                broker_name: config.shard_broker_name(shard),
                broker_addr: config.shard_addr(shard),
                cluster_name: config.broker_cluster_name.clone(),
                broker_id: config.broker_id,
            };
            let request = signer.sign(RemotingCommand::request(
                RequestCode::UNREGISTER_BROKER,
                header.to_ext_fields(),
            ));
            if let Err(e) = client.invoke(request, Duration::from_millis(RPC_TIMEOUT_MS)) {
                tracing::warn!(namesrv = %addr, error = %e, "unregistering failed");
                break;
            }
        }
    }
}

/// With ACL on, registrations are signed by the ACL file's first admin
/// account, so a name server that checks them (the embedded one) knows a
/// broker of the cluster from a peer that would hijack its routes.
struct Signer(Option<Arc<crate::acl::Acl>>);

impl Signer {
    fn sign(&self, mut request: RemotingCommand) -> RemotingCommand {
        if let Some((ak, sk)) = self.0.as_ref().and_then(|acl| acl.current().admin_keys()) {
            crate::acl::sign(&mut request, &ak, &sk);
        }
        request
    }
}

fn connect<'a>(
    clients: &'a mut HashMap<String, BlockingClient>,
    addr: &str,
) -> Option<&'a mut BlockingClient> {
    if !clients.contains_key(addr) {
        match BlockingClient::connect(addr, Duration::from_millis(RPC_TIMEOUT_MS)) {
            Ok(c) => {
                clients.insert(addr.to_string(), c);
            }
            Err(e) => {
                tracing::warn!(namesrv = addr, error = %e, "name server unreachable");
                return None;
            }
        }
    }
    clients.get_mut(addr)
}

/// The topic table as registered: each perm masked by `brokerPermission`,
/// so a read-only broker is routed read-only, as RocketMQ registers it.
fn registered_topics(config: &BrokerConfig, topics: &TopicTable) -> serde_json::Value {
    let mask = config.live.broker_permission();
    let mut all = topics.all();
    for t in all.values_mut() {
        t.perm &= mask;
    }
    serde_json::to_value(all).expect("topic table serializes")
}

fn register_all(
    config: &BrokerConfig,
    topics: &TopicTable,
    masters: &MasterInfos,
    clients: &mut HashMap<String, BlockingClient>,
    signer: &Signer,
) -> bool {
    let body = serde_json::to_vec(&serde_json::json!({
        "topicConfigSerializeWrapper": {
            "topicConfigTable": registered_topics(config, topics),
            "dataVersion": {"counter": topics.version(), "stateVersion": 0, "timestamp": crate::shard::now_ms()},
        },
        "filterServerList": [],
    }))
    .expect("registration body serializes");
    let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
    let mut all_ok = true;
    for addr in config.namesrv_addrs() {
        for shard in 0..config.shards {
            let Some(client) = connect(clients, &addr) else {
                all_ok = false;
                break;
            };
            let header = RegisterBrokerRequestHeader {
                broker_name: config.shard_broker_name(shard),
                broker_addr: config.shard_addr(shard),
                cluster_name: config.broker_cluster_name.clone(),
                ha_server_addr: format!("{}:{}", config.broker_ip1, config.ha_port(shard)),
                broker_id: config.broker_id,
                heartbeat_timeout_millis: Some(HEARTBEAT_TIMEOUT_MS),
                enable_acting_master: Some(false),
                compressed: Some(false),
                body_crc32: Some(crc),
            };
            let request = signer.sign(
                RemotingCommand::request(RequestCode::REGISTER_BROKER, header.to_ext_fields())
                    .with_body(body.clone()),
            );
            match client.invoke(request, Duration::from_millis(RPC_TIMEOUT_MS)) {
                Ok(r) if r.code == ResponseCode::SUCCESS => {
                    // A slave learns its master from the answer (RocketMQ's
                    // `masterAddr` and `haServerAddr`).
                    if config.is_slave() {
                        if let Ok(h) = RegisterBrokerResponseHeader::from_ext_fields(&r.ext_fields)
                        {
                            let some = |v: Option<String>| v.filter(|a| !a.is_empty());
                            masters[shard as usize].set(MasterAddrs {
                                master_addr: some(h.master_addr),
                                ha_addr: some(h.ha_server_addr),
                            });
                        }
                    }
                }
                Ok(r) => {
                    tracing::warn!(namesrv = %addr, code = r.code, remark = ?r.remark, "registration refused");
                    all_ok = false;
                }
                Err(e) => {
                    tracing::warn!(namesrv = %addr, error = %e, "registration failed; reconnecting");
                    clients.remove(&addr);
                    all_ok = false;
                    break;
                }
            }
        }
    }
    all_ok
}
