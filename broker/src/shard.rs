//! One shard: a glommio executor pinned to one core that owns a commit log,
//! the consume queues and consumer offsets of its queues, and the
//! connections that land on its port. Other shards never touch its state;
//! the only things shared across shards are the read-mostly topic table,
//! the flush gate, and the atomic counters in [`ShardStats`].

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use ringmq_engine::disk::glommio_disk::GlommioDisk;
use ringmq_engine::store::system_clock;
use ringmq_engine::{FlushGate, ShardStore, StoreConfig};
use ringmq_net::message::id::UniqKeyGenerator;
use ringmq_net::server::{serve, ConnectionLimits};
use ringmq_net::splice::Splicer;

use crate::clients::Clients;
use crate::config::BrokerConfig;
use crate::groups::SubscriptionGroups;
use crate::ha::{HaMaster, HaSlave, MasterInfo, MasterInfos};
use crate::handlers::ShardHandler;
use crate::offsets::ConsumerOffsets;
use crate::schedule::{DelayOffsets, Stopping};
use crate::timer::Timers;
use crate::topics::TopicTable;
use crate::waiters::QueueSignals;

/// Counters one shard updates and any thread may read (runtime info, the
/// cross-shard test). Relaxed atomics: they are statistics.
#[derive(Default, Debug)]
pub struct ShardStats {
    pub requests: AtomicU64,
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Requests naming a queue of another shard (`bname` of another shard):
    /// a client following routes never causes one.
    pub cross_shard_requests: AtomicU64,
    pub connections: AtomicU64,
    /// Connections closed at accept: the shard held `shardConnectionsMax`.
    pub connections_refused: AtomicU64,
    /// Requests refused by the ACL.
    pub acl_refused: AtomicU64,
    /// Master: slaves connected; slave: 1 while connected to the master.
    pub ha_slaves: AtomicU64,
    /// Master: highest offset a slave reported; slave: the master's
    /// transfer position.
    pub ha_peer_offset: AtomicU64,
    /// Master: bytes written and not yet reported by any slave.
    pub ha_lag_bytes: AtomicU64,
    /// Master: how long the best slave has not been caught up (ms).
    pub ha_lag_ms: AtomicU64,
    /// Slave: end of the replicated log.
    pub ha_local_offset: AtomicU64,
    /// `CONSUMER_SEND_MSG_BACK` requests stored to a retry topic.
    pub sent_back: AtomicU64,
    /// Messages stored to a dead-letter topic (by send-back or by a retry
    /// send past its limit).
    pub dead_lettered: AtomicU64,
    /// Delayed messages delivered to their real queues.
    pub delay_delivered: AtomicU64,
    /// Timer messages delivered to their real queues.
    pub timer_delivered: AtomicU64,
    /// Messages popped and acknowledged (POP consumption).
    pub pop_acked: AtomicU64,
    /// Popped messages not acknowledged in time, copied to a POP retry
    /// topic.
    pub pop_revived: AtomicU64,
    /// Half messages committed, rolled back, checked back (requests sent)
    /// and discarded after `transactionCheckMax` checks.
    pub transactions_committed: AtomicU64,
    pub transactions_rolled_back: AtomicU64,
    pub transactions_checked: AtomicU64,
    pub transactions_discarded: AtomicU64,
}

impl ShardStats {
    /// Messages stored and sent out so far, for [`crate::rates::Rates`].
    pub fn counts(&self) -> crate::rates::Counts {
        crate::rates::Counts {
            put: self.messages_in.load(Ordering::Relaxed),
            got: self.messages_out.load(Ordering::Relaxed),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One message stored again for another delivery: into a dead-letter
    /// topic, or counted by `redelivered` (a send-back, a POP revival).
    pub fn count_redelivery(&self, body_bytes: usize, to_dlq: bool, redelivered: &AtomicU64) {
        Self::add(&self.messages_in, 1);
        Self::add(&self.bytes_in, body_bytes as u64);
        Self::add(
            if to_dlq {
                &self.dead_lettered
            } else {
                redelivered
            },
            1,
        );
    }
}

/// Everything a shard owns. Lives on the shard's executor; reached by
/// other code on that executor through `Rc<Shard>`.
pub struct Shard {
    pub id: u16,
    pub config: Arc<BrokerConfig>,
    /// `<brokerName>-<shard>`, as advertised in routes.
    pub broker_name: String,
    pub store_host: SocketAddr,
    pub store: Rc<ShardStore<GlommioDisk>>,
    pub topics: Arc<TopicTable>,
    /// Broker-wide, like the topic table.
    pub groups: Arc<SubscriptionGroups>,
    /// Broker-wide: which groups POP which topics.
    pub request_modes: Arc<crate::request_modes::RequestModes>,
    /// This shard's view of the ACL, when `aclEnable=true`.
    pub acl: Option<crate::acl::ShardAcl>,
    /// Per-topic and per-group traffic, for the metrics exporter.
    pub traffic: crate::metrics::Traffic,
    /// Request latency by code, for the metrics exporter.
    pub rpc_latency: crate::metrics::RpcLatency,
    pub offsets: Rc<ConsumerOffsets>,
    pub clients: Clients,
    pub signals: QueueSignals,
    pub stats: Arc<Vec<ShardStats>>,
    pub next_queue: Cell<u32>,
    pub uniq: RefCell<UniqKeyGenerator>,
    pub started_ms: i64,
    /// This shard's message rates, sampled every 10 s.
    pub rates: RefCell<crate::rates::Rates>,
    /// Connections to the other shards' ports, for requests that name
    /// their queues; opened on first use.
    pub forwarders: Vec<ringmq_net::pipelined::PipelinedClient>,
    pub ha_master: HaMaster,
    pub ha_slave: HaSlave,
    /// Slave: the master's addresses for this shard, from the name server.
    pub master_info: MasterInfos,
    /// Delivery progress of each delay level (`crate::schedule`).
    pub schedule: Rc<DelayOffsets>,
    /// Timer messages waiting (`crate::timer`).
    pub timers: Rc<Timers>,
    /// Messages popped and in flight (`crate::pop`).
    pub pop: crate::pop::PopState,
    /// Round-robin start of the next pop over a topic's queues.
    pub next_pop_queue: Cell<u32>,
    /// Pop attempts so far (which one reads the retry topic first).
    pub pop_round: Cell<u32>,
    /// Compiled SQL92 filters by expression, at most
    /// [`crate::sql92::SQL_FILTERS_CACHED_MAX`].
    pub sql_filters: RefCell<std::collections::HashMap<String, Rc<crate::sql92::SqlFilter>>>,
    /// Unresolved half messages (`crate::transaction`).
    pub transactions: crate::transaction::TransactionState,
}

/// A shard's store on the real disk.
pub type Store = ShardStore<GlommioDisk>;

impl Shard {
    pub fn master_info(&self) -> &MasterInfo {
        &self.master_info[self.id as usize]
    }

    /// The topic's config for reads. A slave may hold replicated messages
    /// of a topic whose config it has not copied yet (the copy runs every
    /// few seconds, and the master may be gone): it serves them under a
    /// read-only config derived from its store.
    pub fn topic_for_read(&self, name: &str) -> Option<crate::topics::TopicConfig> {
        self.topics.get(name).or_else(|| {
            (self.config.is_slave() && self.store.has_topic(name)).then(|| {
                crate::topics::TopicConfig::new(
                    name,
                    crate::topics::QUEUES_PER_TOPIC_MAX,
                    crate::topics::PERM_READ,
                )
            })
        })
    }

    pub fn my_stats(&self) -> &ShardStats {
        &self.stats[self.id as usize]
    }

    /// Which shard a broker name in a request (`bname`) refers to.
    pub fn shard_of_broker_name(&self, name: &str) -> Option<u16> {
        let suffix = name
            .strip_prefix(self.config.broker_name.as_str())?
            .strip_prefix('-')?;
        suffix
            .parse()
            .ok()
            .filter(|s: &u16| *s < self.config.shards)
    }
}

/// What a shard thread needs from the broker.
pub struct ShardSetup {
    pub id: u16,
    pub config: Arc<BrokerConfig>,
    pub topics: Arc<TopicTable>,
    pub groups: Arc<SubscriptionGroups>,
    pub request_modes: Arc<crate::request_modes::RequestModes>,
    /// The ACL in force when `aclEnable=true`.
    pub acl: Option<Arc<crate::acl::Acl>>,
    /// Where this shard publishes its metrics (`metricsExporterType=PROM`).
    pub published: Option<Arc<crate::metrics::Published>>,
    pub gate: FlushGate,
    pub stats: Arc<Vec<ShardStats>>,
    pub stop: Arc<AtomicBool>,
    pub master_info: MasterInfos,
    /// The client ports' TLS (`tlsMode`).
    pub tls: ringmq_net::tls::ServerTls,
    /// Reports start-up success (with the bound ports) or failure.
    pub ready: std::sync::mpsc::Sender<Result<u16, String>>,
}

pub fn store_config(config: &BrokerConfig, shard: u16) -> StoreConfig {
    let mut c = StoreConfig::new(config.store_path_root_dir.join(format!("shard-{shard}")));
    c.shard = shard;
    c.segment_size_bytes = config.mapped_file_size_commit_log;
    c.flush_mode = config.flush_disk_type;
    c.flush_interval_ms = config.flush_interval_commit_log;
    c.retention_ms = config.file_reserved_time * 3600 * 1000;
    // Why it defaults by flush mode: BrokerConfig::warm_maped_file_enable.
    c.prewrite_segments = config.zero_fill_segments();
    c.direct_io = config.commit_log_direct_io;
    c.direct_io_hot_bytes = config.commit_log_direct_io_hot_bytes;
    c.direct_io_writes_in_flight = config.commit_log_direct_io_writes_in_flight;
    c
}

/// Runs one shard on the current executor until the stop flag is set:
/// opens (recovers) its store, listens, serves, then flushes and
/// checkpoints.
pub async fn run_shard(setup: ShardSetup) {
    let ShardSetup {
        id,
        config,
        topics,
        groups,
        request_modes,
        acl,
        published,
        gate,
        stats,
        stop,
        master_info,
        tls: setup_tls,
        ready,
    } = setup;
    let store_cfg = store_config(&config, id);
    let root = store_cfg.root.clone();
    let store = match ShardStore::open(GlommioDisk, store_cfg, gate, system_clock()).await {
        Ok(s) => Rc::new(s),
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: opening the store: {e}")));
            return;
        }
    };
    let offsets = match ConsumerOffsets::open(&root) {
        Ok(o) => Rc::new(o),
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: loading consumer offsets: {e}")));
            return;
        }
    };
    let schedule = match DelayOffsets::open(&root).and_then(|o| o.correct(&store).map(|()| o)) {
        Ok(o) => Rc::new(o),
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: loading delay offsets: {e}")));
            return;
        }
    };
    let timers = match Timers::open(&root, &store, config.timer_max_delay_sec as i64 * 1000) {
        Ok(t) => Rc::new(t),
        Err(e) => {
            let _ = ready.send(Err(format!(
                "shard {id}: loading the timer checkpoint: {e}"
            )));
            return;
        }
    };
    let bind = |port: u16| TcpListener::bind(SocketAddr::new(config.bind_address, port));
    let shard_listener = match bind(config.shard_port(id)) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "shard {id}: binding port {}: {e}",
                config.shard_port(id)
            )));
            return;
        }
    };
    let main_listener = if id == 0 {
        match bind(config.listen_port) {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = ready.send(Err(format!(
                    "binding main port {}: {e}",
                    config.listen_port
                )));
                return;
            }
        }
    } else {
        None
    };
    let ha_listener = if config.is_slave() {
        None
    } else {
        match bind(config.ha_port(id)) {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = ready.send(Err(format!(
                    "shard {id}: binding HA port {}: {e}",
                    config.ha_port(id)
                )));
                return;
            }
        }
    };
    let splicer = match Splicer::new() {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: creating the splice ring: {e}")));
            return;
        }
    };
    let pid = std::process::id() as u16;
    let initial_counts = stats[id as usize].counts();
    let shard = Rc::new(Shard {
        id,
        broker_name: config.shard_broker_name(id),
        store_host: SocketAddr::new(config.broker_ip1, config.shard_port(id)),
        config: config.clone(),
        store: store.clone(),
        topics,
        groups,
        request_modes,
        acl: acl.map(crate::acl::ShardAcl::new),
        traffic: crate::metrics::Traffic::new(config.metrics_prom),
        rpc_latency: crate::metrics::RpcLatency::default(),
        offsets: offsets.clone(),
        clients: Clients::default(),
        signals: QueueSignals::default(),
        stats,
        next_queue: Cell::new(0),
        uniq: RefCell::new(UniqKeyGenerator::new(config.broker_ip1, pid, id as i32)),
        started_ms: now_ms(),
        rates: RefCell::new(crate::rates::Rates::new(
            std::time::Instant::now(),
            initial_counts,
        )),
        forwarders: (0..config.shards)
            .map(|s| {
                ringmq_net::pipelined::PipelinedClient::new(
                    SocketAddr::new(config.local_address(), config.shard_port(s)).to_string(),
                )
            })
            .collect(),
        ha_master: HaMaster::default(),
        ha_slave: HaSlave::default(),
        master_info,
        schedule: schedule.clone(),
        timers: timers.clone(),
        pop: Default::default(),
        next_pop_queue: Cell::new(0),
        pop_round: Cell::new(0),
        transactions: Default::default(),
        sql_filters: Default::default(),
    });
    let local_stop = Rc::new(Cell::new(false));
    let background = glommio::spawn_local(ringmq_engine::background::run_background(
        store.clone(),
        local_stop.clone(),
    ))
    .detach();
    let persister =
        glommio::spawn_local(offsets.clone().run_persister(local_stop.clone())).detach();
    let delay_persister =
        glommio::spawn_local(schedule.clone().run_persister(local_stop.clone())).detach();
    // The broker-wide group table has one persister, on shard 0.
    let group_persister = (id == 0).then(|| {
        glommio::spawn_local(shard.groups.clone().run_persister(local_stop.clone())).detach()
    });
    let stopping = Rc::new(Stopping::default());
    let timer_checkpointer = glommio::spawn_local(crate::timer::run_checkpointer(
        timers.clone(),
        local_stop.clone(),
    ))
    .detach();
    let mut deliveries: Vec<_> = Vec::new();
    if !config.is_slave() {
        deliveries.extend(config.message_delay_level.levels().map(|level| {
            glommio::spawn_local(crate::schedule::run_level(
                shard.clone(),
                level,
                stopping.clone(),
            ))
            .detach()
        }));
        deliveries.push(
            glommio::spawn_local(crate::pop::run_reviver(shard.clone(), stopping.clone())).detach(),
        );
        deliveries.push(
            glommio::spawn_local(crate::transaction::run_checker(
                shard.clone(),
                stopping.clone(),
            ))
            .detach(),
        );
        if config.timer_wheel_enable {
            deliveries.push(
                glommio::spawn_local(crate::timer::run_enqueue(shard.clone(), stopping.clone()))
                    .detach(),
            );
            deliveries.push(
                glommio::spawn_local(crate::timer::run_delivery(shard.clone(), stopping.clone()))
                    .detach(),
            );
        }
    }
    {
        let shard = shard.clone();
        let local_stop = local_stop.clone();
        glommio::spawn_local(async move {
            // Both every 10 s: member expiry and the rate sample.
            const _: () = assert!(crate::rates::SAMPLE_INTERVAL.as_secs() == 10);
            while !local_stop.get() {
                glommio::timer::sleep(crate::rates::SAMPLE_INTERVAL).await;
                shard.clients.expire();
                let counts = shard.my_stats().counts();
                shard
                    .rates
                    .borrow_mut()
                    .sample(std::time::Instant::now(), counts);
            }
        })
        .detach();
    }
    let replication = match ha_listener {
        Some(l) => {
            glommio::spawn_local(crate::ha::run_master(shard.clone(), l, local_stop.clone()))
        }
        None => glommio::spawn_local(crate::ha::run_slave(shard.clone(), local_stop.clone())),
    }
    .detach();
    glommio::spawn_local(crate::ha::run_lag_log(shard.clone(), local_stop.clone())).detach();
    if let Some(published) = published {
        glommio::spawn_local(run_metrics_publisher(
            shard.clone(),
            published,
            local_stop.clone(),
        ))
        .detach();
    }
    if config.is_slave() {
        glommio::spawn_local(crate::ha::run_metadata_sync(
            shard.clone(),
            local_stop.clone(),
        ))
        .detach();
    }
    let limits: ConnectionLimits = config.connection_limits();
    let tls = Rc::new(setup_tls);
    let connections_max = config.shard_connections_max;
    let refusing = Rc::new(Cell::new(false));
    let next_peer = Rc::new(Cell::new(1u64));
    let acceptors: Vec<_> = [Some(shard_listener), main_listener]
        .into_iter()
        .flatten()
        .map(|listener| {
            let handler = Rc::new(ShardHandler::new(shard.clone()));
            let splicer = splicer.clone();
            let tls = tls.clone();
            let next_peer = next_peer.clone();
            let local_stop = local_stop.clone();
            let shard = shard.clone();
            let refusing = refusing.clone();
            glommio::spawn_local(async move {
                while !local_stop.get() {
                    let stream = match listener.accept().await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(shard = shard.id, error = %e, "accept failed");
                            glommio::timer::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let held = shard.my_stats().connections.load(Ordering::Relaxed);
                    if held >= connections_max as u64 {
                        if !refusing.replace(true) {
                            tracing::warn!(
                                shard = shard.id,
                                connections = held,
                                "shardConnectionsMax reached; closing new connections until some end"
                            );
                        }
                        ShardStats::add(&shard.my_stats().connections_refused, 1);
                        drop(stream);
                        continue;
                    }
                    if refusing.replace(false) {
                        tracing::info!(shard = shard.id, "accepting connections again");
                    }
                    let peer_id = next_peer.get();
                    next_peer.set(peer_id + 1);
                    let handler = handler.clone();
                    let splicer = splicer.clone();
                    let tls = tls.clone();
                    let shard = shard.clone();
                    // Counted here, not in the task: a burst of queued
                    // connections is accepted before any task runs.
                    ShardStats::add(&shard.my_stats().connections, 1);
                    glommio::spawn_local(async move {
                        serve(stream, peer_id, handler, limits, splicer, tls).await;
                        shard.my_stats().connections.fetch_sub(1, Ordering::Relaxed);
                    })
                    .detach();
                }
            })
            .detach()
        })
        .collect();
    tracing::info!(
        shard = id,
        port = config.shard_port(id),
        broker_name = %shard.broker_name,
        "shard serving"
    );
    let _ = ready.send(Ok(config.shard_port(id)));
    while !stop.load(Ordering::Acquire) {
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    local_stop.set(true);
    stopping.stop();
    for d in deliveries {
        let _ = d.await;
    }
    for a in acceptors {
        a.cancel();
    }
    replication.cancel();
    let _ = background.await;
    let _ = persister.await;
    let _ = delay_persister.await;
    if let Some(p) = group_persister {
        let _ = p.await;
    }
    schedule.persist_if_changed().await;
    let _ = timer_checkpointer.await;
    timers.persist_at_stop().await;
    match store.shutdown().await {
        Ok(()) => tracing::info!(shard = id, "store flushed and checkpointed"),
        Err(e) => tracing::error!(shard = id, error = %e, "clean shutdown of the store failed"),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Publishes this shard's per-topic traffic, consumer lag and storage
/// gauges for the Prometheus exporter every [`crate::metrics::PUBLISH_INTERVAL`].
async fn run_metrics_publisher(
    shard: Rc<Shard>,
    published: Arc<crate::metrics::Published>,
    stop: Rc<Cell<bool>>,
) {
    use crate::metrics::sample;
    while !stop.get() {
        let mut samples = Vec::new();
        shard.traffic.samples(&mut samples);
        // Lag per (group, topic): what the queues hold past each committed
        // offset.
        let mut lag: std::collections::BTreeMap<(String, String), i64> = Default::default();
        shard.offsets.for_each(|group, topic, queue, offset| {
            let max = shard.store.max_queue_offset(topic, queue).0 as i64;
            *lag.entry((group.to_string(), topic.to_string()))
                .or_default() += (max - offset).max(0);
        });
        for ((group, topic), messages) in lag {
            samples.push(sample(
                "rocketmq_consumer_lag_messages",
                vec![("topic", topic), ("consumer_group", group)],
                messages as f64,
            ));
        }
        let store = &shard.store;
        let written = store.written_offset().0;
        samples.push(sample(
            "rocketmq_storage_size",
            vec![],
            written.saturating_sub(store.min_commit_log_offset().0) as f64,
        ));
        samples.push(sample(
            "rocketmq_storage_flush_behind_bytes",
            vec![],
            written.saturating_sub(store.durable_offset().0) as f64,
        ));
        let (memory, file) = store.read_bytes();
        samples.push(sample(
            "ringmq_read_bytes_total",
            vec![("source", "memory".into())],
            memory as f64,
        ));
        samples.push(sample(
            "ringmq_read_bytes_total",
            vec![("source", "file".into())],
            file as f64,
        ));
        let (flush, group_commit) = store.durability_histograms();
        crate::metrics::histogram_samples(
            crate::metrics::FLUSH_LATENCY,
            vec![],
            &flush,
            &mut samples,
        );
        crate::metrics::histogram_samples(
            crate::metrics::GROUP_COMMIT,
            vec![],
            &group_commit,
            &mut samples,
        );
        shard.rpc_latency.samples(&mut samples);
        samples.push(sample(
            "ringmq_store_poisoned",
            vec![],
            if store.poisoned().is_some() { 1.0 } else { 0.0 },
        ));
        published.publish(shard.id, samples);
        glommio::timer::sleep(crate::metrics::PUBLISH_INTERVAL).await;
    }
}
