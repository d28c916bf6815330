//! A shard's life on its executor: open (recover) its state, bind its
//! ports, build the [`Shard`], start its background tasks and acceptors,
//! serve until the broker's stop flag is set, then stop the tasks, flush
//! and checkpoint. [`run_shard`] reads as that list of steps; each step is
//! a function below.
//!
//! The shard's state is [`crate::shard`]; this module is the only one that
//! wires it to the listeners and the request handlers.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use glommio::task::JoinHandle;
use ringmq_engine::disk::glommio_disk::GlommioDisk;
use ringmq_engine::store::system_clock;
use ringmq_engine::{FlushGate, ShardId, ShardStore, StoreConfig, StoreError};
use ringmq_net::message::id::UniqKeyGenerator;
use ringmq_net::server::{serve, ConnectionLimits};
use ringmq_net::splice::Splicer;

use crate::clients::Clients;
use crate::config::BrokerConfig;
use crate::disk::ShardDisk;
use crate::groups::SubscriptionGroups;
use crate::ha::{HaMaster, HaSlave, MasterInfos};
use crate::handlers::ShardHandler;
use crate::offsets::ConsumerOffsets;
use crate::schedule::{DelayOffsets, Stopping};
use crate::shard::{now_ms, Shard, ShardStats, Store};
use crate::timer::Timers;
use crate::topics::TopicTable;
use crate::waiters::QueueSignals;
use crate::StartError;

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
    /// Reports start-up success (with the shard's port) or failure.
    pub ready: std::sync::mpsc::Sender<Result<u16, StartError>>,
}

/// Why a shard could not start. The shard reports it on
/// [`ShardSetup::ready`] and ends; the broker stops the others. It crosses
/// threads: sources that are not `Send` (the engine's and glommio's
/// errors) are kept as their message.
#[derive(Debug, thiserror::Error)]
pub enum ShardStartError {
    #[error("opening the store: {0}")]
    Store(String),
    #[error("loading consumer offsets: {0}")]
    ConsumerOffsets(#[source] std::io::Error),
    #[error("loading delay offsets: {0}")]
    DelayOffsets(#[source] std::io::Error),
    #[error("loading the timer checkpoint: {0}")]
    TimerCheckpoint(#[source] std::io::Error),
    #[error("binding the {listener} port {port}: {reason}")]
    Bind {
        /// `shard`, `main` or `HA`.
        listener: &'static str,
        port: u16,
        reason: String,
    },
    #[error("creating the splice ring: {0}")]
    SpliceRing(#[source] std::io::Error),
}

/// The engine's configuration for shard `shard` of this broker.
pub fn store_config(config: &BrokerConfig, shard: u16) -> StoreConfig {
    let mut c = StoreConfig::new(config.store_path_root_dir.join(format!("shard-{shard}")));
    c.shard = ShardId(shard);
    c.segment_size_bytes = config.mapped_file_size_commit_log_bytes;
    c.flush_mode = config.flush_disk_type;
    c.flush_interval_ms = config.flush_interval_commit_log_ms;
    c.flush_least_bytes = config.flush_commit_log_least_pages * 4096;
    c.checkpoint_interval_ms = config.flush_interval_consume_queue_ms;
    c.retention_ms = config.file_reserved_time_hours * 3600 * 1000;
    // Why it defaults by flush mode: BrokerConfig::warm_maped_file_enable.
    c.prewrite_segments = config.zero_fill_segments();
    c.direct_io = config.commit_log_direct_io;
    c.direct_io_hot_bytes = config.commit_log_direct_io_hot_bytes;
    c.direct_io_writes_in_flight = config.commit_log_direct_io_writes_in_flight;
    c
}

/// Runs one shard on the current executor until the stop flag is set:
/// opens (recovers) its store, listens, serves, then flushes and
/// checkpoints. A start-up failure is reported on `setup.ready`.
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
        tls,
        ready,
    } = setup;
    let opened = match open_state(&config, id, gate, ShardDisk::Real(GlommioDisk)).await {
        Ok(opened) => opened,
        Err(source) => {
            let _ = ready.send(Err(StartError::Shard { shard: id, source }));
            return;
        }
    };
    let listeners = match Listeners::bind(&config, id) {
        Ok(listeners) => listeners,
        Err(source) => {
            let _ = ready.send(Err(StartError::Shard { shard: id, source }));
            return;
        }
    };
    let shard = build_shard(
        id,
        &config,
        &opened,
        Shared {
            topics,
            groups,
            request_modes,
            acl,
            stats,
            master_info,
        },
    );
    let local_stop = Rc::new(Cell::new(false));
    let stopping = Rc::new(Stopping::default());
    let tasks = Tasks::spawn(&shard, &opened, published, &local_stop, &stopping);
    let Listeners {
        shard: shard_port,
        main,
        ha,
        splicer,
    } = listeners;
    let acceptors = spawn_acceptors(&shard, [Some(shard_port), main], splicer, tls, &local_stop);
    let replication = spawn_replication(&shard, ha, &local_stop);
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
    shut_down(id, &opened, tasks, acceptors, replication).await;
}

/// Stops a shard once its stop flags are set: the deliveries end before
/// the acceptors and replication are cancelled, then the persisters save
/// and the store is flushed and checkpointed.
async fn shut_down(
    id: u16,
    opened: &Opened,
    mut tasks: Tasks,
    acceptors: Vec<JoinHandle<()>>,
    replication: JoinHandle<()>,
) {
    tasks.stop_deliveries().await;
    for a in acceptors {
        a.cancel();
    }
    replication.cancel();
    tasks.finish(opened).await;
    match opened.store.shutdown().await {
        Ok(()) => tracing::info!(shard = id, "store flushed and checkpointed"),
        Err(e) => tracing::error!(shard = id, error = %e, "clean shutdown of the store failed"),
    }
}

/// A shard's recovered on-disk state.
struct Opened {
    store: Rc<Store>,
    offsets: Rc<ConsumerOffsets>,
    schedule: Rc<DelayOffsets>,
    timers: Rc<Timers>,
}

/// Step 1: opens (recovers) the store, then loads what is kept beside it.
/// Delay offsets are corrected against the recovered store; the timer
/// wheel is rebuilt from it.
async fn open_state(
    config: &BrokerConfig,
    id: u16,
    gate: FlushGate,
    disk: ShardDisk,
) -> Result<Opened, ShardStartError> {
    let store_cfg = store_config(config, id);
    let root = store_cfg.root.clone();
    let store = ShardStore::open(disk, store_cfg, gate, system_clock())
        .await
        .map_err(|e: StoreError| ShardStartError::Store(e.to_string()))?;
    let offsets = ConsumerOffsets::open(&root).map_err(ShardStartError::ConsumerOffsets)?;
    let schedule = DelayOffsets::open(&root)
        .and_then(|o| o.correct(&store).map(|()| o))
        .map_err(ShardStartError::DelayOffsets)?;
    let timers = Timers::open(&root, &store, config.timer_max_delay_sec as i64 * 1000)
        .map_err(ShardStartError::TimerCheckpoint)?;
    Ok(Opened {
        store: Rc::new(store),
        offsets: Rc::new(offsets),
        schedule: Rc::new(schedule),
        timers: Rc::new(timers),
    })
}

/// A shard's listening sockets and its splice ring.
struct Listeners {
    /// The shard's own client port.
    shard: TcpListener,
    /// The broker's `listenPort`, on shard 0 only.
    main: Option<TcpListener>,
    /// The HA port, on a master only.
    ha: Option<TcpListener>,
    splicer: Rc<Splicer>,
}

impl Listeners {
    /// Step 2: binds every port this shard serves on `bindAddress`.
    fn bind(config: &BrokerConfig, id: u16) -> Result<Listeners, ShardStartError> {
        let bind = |listener: &'static str, port: u16| {
            TcpListener::bind(SocketAddr::new(config.bind_address, port)).map_err(|source| {
                ShardStartError::Bind {
                    listener,
                    port,
                    reason: source.to_string(),
                }
            })
        };
        let shard = bind("shard", config.shard_port(id))?;
        let main = (id == 0)
            .then(|| bind("main", config.listen_port))
            .transpose()?;
        let ha = (!config.is_slave())
            .then(|| bind("HA", config.ha_port(id)))
            .transpose()?;
        let splicer = Splicer::new().map_err(ShardStartError::SpliceRing)?;
        Ok(Listeners {
            shard,
            main,
            ha,
            splicer,
        })
    }
}

/// Opens shard 0 of a one-shard broker over `disk` and builds its state,
/// without ports or tasks: for tests that drive the handlers in process.
/// (Errors of the broker-wide tables are reported as store errors.)
#[cfg(test)]
pub(crate) async fn open_in_process(
    config: Arc<BrokerConfig>,
    disk: ShardDisk,
) -> Result<Rc<Shard>, ShardStartError> {
    let tables = crate::Tables::open(&config)
        .map_err(|e| ShardStartError::Store(format!("the broker's tables: {e}")))?;
    let opened = open_state(&config, 0, tables.gate.clone(), disk).await?;
    let shared = Shared {
        topics: tables.topics,
        groups: tables.groups,
        request_modes: tables.request_modes,
        acl: None,
        stats: Arc::new(vec![ShardStats::default()]),
        master_info: Arc::new(vec![crate::ha::MasterInfo::default()]),
    };
    Ok(build_shard(0, &config, &opened, shared))
}

/// What every shard shares with the others.
struct Shared {
    topics: Arc<TopicTable>,
    groups: Arc<SubscriptionGroups>,
    request_modes: Arc<crate::request_modes::RequestModes>,
    acl: Option<Arc<crate::acl::Acl>>,
    stats: Arc<Vec<ShardStats>>,
    master_info: MasterInfos,
}

/// Step 3: the shard's state, from what was opened and what is shared.
fn build_shard(id: u16, config: &Arc<BrokerConfig>, opened: &Opened, shared: Shared) -> Rc<Shard> {
    let pid = std::process::id() as u16;
    let initial_counts = shared.stats[id as usize].counts();
    Rc::new(Shard {
        id: ShardId(id),
        broker_name: config.shard_broker_name(id),
        store_host: SocketAddr::new(config.broker_ip1, config.shard_port(id)),
        config: config.clone(),
        store: opened.store.clone(),
        topics: shared.topics,
        groups: shared.groups,
        request_modes: shared.request_modes,
        acl: shared.acl.map(crate::acl::ShardAcl::new),
        traffic: crate::metrics::Traffic::new(config.metrics_prom),
        rpc_latency: crate::metrics::RpcLatency::default(),
        offsets: opened.offsets.clone(),
        clients: Clients::default(),
        signals: QueueSignals::default(),
        stats: shared.stats,
        next_queue: Cell::new(0),
        uniq: RefCell::new(UniqKeyGenerator::new(config.broker_ip1, pid, i32::from(id))),
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
        master_info: shared.master_info,
        schedule: opened.schedule.clone(),
        timers: opened.timers.clone(),
        pop: Default::default(),
        next_pop_queue: Cell::new(0),
        pop_round: Cell::new(0),
        transactions: Default::default(),
        sql_filters: Default::default(),
    })
}

/// The shard's background tasks that stop in order at shutdown. Tasks
/// that only sample or log (rates, lag, metrics, metadata sync) end on
/// their own once the local stop flag is set.
struct Tasks {
    /// Flushing and retention of the store.
    background: JoinHandle<()>,
    offsets_persister: JoinHandle<()>,
    delay_persister: JoinHandle<()>,
    /// The broker-wide group table's one persister, on shard 0.
    group_persister: Option<JoinHandle<()>>,
    timer_checkpointer: JoinHandle<()>,
    /// The master's deliveries: delay levels, pop revival, transaction
    /// checks and the timer wheel. Awaited before the store shuts down.
    deliveries: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// Step 4: starts every background task of the shard.
    fn spawn(
        shard: &Rc<Shard>,
        opened: &Opened,
        published: Option<Arc<crate::metrics::Published>>,
        local_stop: &Rc<Cell<bool>>,
        stopping: &Rc<Stopping>,
    ) -> Tasks {
        let background = glommio::spawn_local(ringmq_engine::background::run_background(
            opened.store.clone(),
            local_stop.clone(),
        ))
        .detach();
        let offsets_persister =
            glommio::spawn_local(opened.offsets.clone().run_persister(local_stop.clone())).detach();
        let delay_persister =
            glommio::spawn_local(opened.schedule.clone().run_persister(local_stop.clone()))
                .detach();
        let group_persister = (shard.id == ShardId(0)).then(|| {
            glommio::spawn_local(shard.groups.clone().run_persister(local_stop.clone())).detach()
        });
        let timer_checkpointer = glommio::spawn_local(crate::timer::run_checkpointer(
            opened.timers.clone(),
            local_stop.clone(),
        ))
        .detach();
        let deliveries = if shard.config.is_slave() {
            Vec::new()
        } else {
            spawn_deliveries(shard, stopping)
        };
        glommio::spawn_local(run_sampler(shard.clone(), local_stop.clone())).detach();
        glommio::spawn_local(crate::ha::run_lag_log(shard.clone(), local_stop.clone())).detach();
        if let Some(published) = published {
            glommio::spawn_local(crate::metrics::run_publisher(
                shard.clone(),
                published,
                local_stop.clone(),
            ))
            .detach();
        }
        if shard.config.is_slave() {
            glommio::spawn_local(crate::ha::run_metadata_sync(
                shard.clone(),
                local_stop.clone(),
            ))
            .detach();
        }
        Tasks {
            background,
            offsets_persister,
            delay_persister,
            group_persister,
            timer_checkpointer,
            deliveries,
        }
    }

    /// Shutdown, first: waits for the deliveries, which write to the
    /// store, to end.
    async fn stop_deliveries(&mut self) {
        for d in self.deliveries.drain(..) {
            let _ = d.await;
        }
    }

    /// Shutdown, after the acceptors and replication are cancelled: waits
    /// for the persisters, then saves what changed since their last round.
    async fn finish(self, opened: &Opened) {
        let _ = self.background.await;
        let _ = self.offsets_persister.await;
        let _ = self.delay_persister.await;
        if let Some(p) = self.group_persister {
            let _ = p.await;
        }
        opened.schedule.persist_if_changed().await;
        let _ = self.timer_checkpointer.await;
        opened.timers.persist_at_stop().await;
    }
}

/// A master's deliveries: one task per delay level, pop revival,
/// transaction checks and, when enabled, the timer wheel.
fn spawn_deliveries(shard: &Rc<Shard>, stopping: &Rc<Stopping>) -> Vec<JoinHandle<()>> {
    let mut deliveries: Vec<_> = shard
        .config
        .message_delay_level
        .levels()
        .map(|level| {
            glommio::spawn_local(crate::schedule::run_level(
                shard.clone(),
                level,
                stopping.clone(),
            ))
            .detach()
        })
        .collect();
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
    if shard.config.timer_wheel_enable {
        deliveries.push(
            glommio::spawn_local(crate::timer::run_enqueue(shard.clone(), stopping.clone()))
                .detach(),
        );
        deliveries.push(
            glommio::spawn_local(crate::timer::run_delivery(shard.clone(), stopping.clone()))
                .detach(),
        );
    }
    deliveries
}

/// Every [`crate::rates::SAMPLE_INTERVAL`]: expires silent clients and
/// samples the shard's message rates.
async fn run_sampler(shard: Rc<Shard>, local_stop: Rc<Cell<bool>>) {
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
}

/// Step 5: the master's HA listener serves slaves; a slave replicates
/// from its master.
fn spawn_replication(
    shard: &Rc<Shard>,
    ha: Option<TcpListener>,
    local_stop: &Rc<Cell<bool>>,
) -> JoinHandle<()> {
    match ha {
        Some(l) => {
            glommio::spawn_local(crate::ha::run_master(shard.clone(), l, local_stop.clone()))
        }
        None => glommio::spawn_local(crate::ha::run_slave(shard.clone(), local_stop.clone())),
    }
    .detach()
}

/// Step 6: accepts client connections on the shard's port and, on shard 0,
/// the main port, each served by its own task.
fn spawn_acceptors(
    shard: &Rc<Shard>,
    listeners: [Option<TcpListener>; 2],
    splicer: Rc<Splicer>,
    tls: ringmq_net::tls::ServerTls,
    local_stop: &Rc<Cell<bool>>,
) -> Vec<JoinHandle<()>> {
    let accept = Rc::new(Acceptance {
        shard: shard.clone(),
        handler: Rc::new(ShardHandler::new(shard.clone())),
        splicer,
        tls: Rc::new(tls),
        limits: shard.config.connection_limits(),
        refusing: Cell::new(false),
        next_peer: Cell::new(1),
    });
    listeners
        .into_iter()
        .flatten()
        .map(|listener| {
            glommio::spawn_local(accept.clone().run(listener, local_stop.clone())).detach()
        })
        .collect()
}

/// What the acceptors of one shard share.
struct Acceptance {
    shard: Rc<Shard>,
    handler: Rc<ShardHandler>,
    splicer: Rc<Splicer>,
    tls: Rc<ringmq_net::tls::ServerTls>,
    limits: ConnectionLimits,
    /// Whether the last connection was refused at `shardConnectionsMax`
    /// (logged once per episode).
    refusing: Cell<bool>,
    next_peer: Cell<u64>,
}

impl Acceptance {
    async fn run(self: Rc<Self>, listener: TcpListener, local_stop: Rc<Cell<bool>>) {
        while !local_stop.get() {
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(shard = %self.shard.id, error = %e, "accept failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if !self.admit() {
                drop(stream);
                continue;
            }
            let peer_id = self.next_peer.get();
            self.next_peer.set(peer_id + 1);
            let this = self.clone();
            glommio::spawn_local(async move {
                serve(
                    stream,
                    peer_id,
                    this.handler.clone(),
                    this.limits,
                    this.splicer.clone(),
                    this.tls.clone(),
                )
                .await;
                let connections = &this.shard.my_stats().connections;
                connections.fetch_sub(1, Ordering::Relaxed);
            })
            .detach();
        }
    }

    /// Whether a new connection fits under `shardConnectionsMax`; counts it
    /// if so. Counted here, not in the connection's task: a burst of queued
    /// connections is accepted before any task runs.
    fn admit(&self) -> bool {
        let stats = self.shard.my_stats();
        let held = stats.connections.load(Ordering::Relaxed);
        if held >= self.shard.config.shard_connections_max as u64 {
            if !self.refusing.replace(true) {
                tracing::warn!(
                    shard = %self.shard.id,
                    connections = held,
                    "shardConnectionsMax reached; closing new connections until some end"
                );
            }
            ShardStats::add(&stats.connections_refused, 1);
            return false;
        }
        if self.refusing.replace(false) {
            tracing::info!(shard = %self.shard.id, "accepting connections again");
        }
        ShardStats::add(&stats.connections, 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::ShardStartError;
    use crate::config::BrokerConfig;
    use crate::{Broker, StartError};

    /// A shard that cannot bind its port fails the start with a typed
    /// error naming that shard and port, and the broker stops the others.
    #[test]
    fn a_taken_shard_port_fails_the_start_naming_the_shard() {
        let dir = tempfile::tempdir().unwrap();
        // Eight free ports below the ephemeral range; the test holds
        // shard 1's.
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        let base = (0..400)
            .map(|i| 21_000 + (std::process::id() % 100) as u16 * 8 + i * 8)
            .find(|&b| (b..b + 8).all(free))
            .expect("a free block of ports");
        let port = base + 2;
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let c = BrokerConfig {
            store_path_root_dir: dir.path().join("store"),
            bind_address: "127.0.0.1".parse().unwrap(),
            namesrv_addr: Some(format!("127.0.0.1:{}", base + 7)),
            shards: 2,
            listen_port: base,
            shard_listen_port: base + 1,
            ha_listen_port: base + 4,
            mapped_file_size_commit_log_bytes: 1 << 20,
            pin_shards: false,
            io_memory_bytes: 2 << 20,
            ..BrokerConfig::default()
        };
        match Broker::start(c) {
            Err(StartError::Shard {
                shard: 1,
                source:
                    ShardStartError::Bind {
                        listener: "shard",
                        port: p,
                        ..
                    },
            }) => assert_eq!(p, port),
            Err(e) => panic!("wrong error: {e}"),
            Ok(b) => {
                b.stop();
                panic!("started on a taken port")
            }
        }
    }
}
