//! The RingMQ broker: shards (one pinned glommio executor each) serving
//! RocketMQ's remoting protocol over the storage engine, the name server
//! (embedded or standalone), and registration of every shard with the name
//! servers as its own broker (`<brokerName>-<shard>`).
//!
//! [`Broker::start`] returns once every shard has recovered its store and
//! bound its port; [`Broker::stop`] flushes and checkpoints every shard.

pub mod acl;
#[cfg(test)]
mod alloc_count;
pub mod bootstrap;
pub mod clients;
pub mod config;
pub mod disk;
pub mod groups;
pub mod ha;
mod handlers;
pub mod latest_file;
pub mod live;
pub mod metrics;
pub mod namesrv;
pub mod offsets;
pub mod pop;
pub mod rates;
mod register;
pub mod request_modes;
pub mod schedule;
pub mod shard;
pub mod sql92;
pub mod timer;
pub mod topics;
pub mod transaction;
mod waiters;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use glommio::{LocalExecutorBuilder, Placement};
use ringmq_engine::FlushGate;

use crate::bootstrap::{run_shard, ShardSetup};
use crate::config::BrokerConfig;
use crate::namesrv::NameServer;
use crate::shard::ShardStats;
use crate::topics::TopicTable;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store directory {path}: {source}")]
    Store {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("embedded name server on port {port}: {source}")]
    NameServer { port: u16, source: std::io::Error },
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("starting shard {shard}: {source}")]
    Shard {
        shard: u16,
        source: bootstrap::ShardStartError,
    },
    #[error("starting shard {shard}'s thread: {reason}")]
    ShardThread { shard: u16, reason: String },
    #[error("a shard thread ended during start-up")]
    ShardEnded,
    #[error("ACL (aclEnable=true): {0}")]
    Acl(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("Prometheus exporter on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A running broker.
pub struct Broker {
    config: Arc<BrokerConfig>,
    stop: Arc<AtomicBool>,
    shards: Vec<glommio::ExecutorJoinHandle<()>>,
    registrar: Option<register::Registrar>,
    namesrv: Option<NameServer>,
    stats: Arc<Vec<ShardStats>>,
    acl: Option<Arc<acl::Acl>>,
    metrics: Option<metrics::Exporter>,
}

/// The shard count is a property of the store: fixed when it is created.
fn settle_shard_count(config: &mut BrokerConfig) -> std::io::Result<()> {
    let root = &config.store_path_root_dir;
    std::fs::create_dir_all(root)?;
    let path = root.join("shards");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: u16 = text.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} does not hold a shard count", path.display()),
                )
            })?;
            if stored != config.shards {
                tracing::warn!(
                    stored,
                    requested = config.shards,
                    "the store was created with {stored} shards; keeping {stored}"
                );
                config.shards = stored;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            topics::write_durably(&path, format!("{}\n", config.shards).as_bytes())
        }
        Err(e) => Err(e),
    }
}

impl Broker {
    /// Starts the broker: checks the config, opens the broker-wide tables,
    /// starts the ACL, the embedded name server and every shard (each
    /// recovers its store first), the metrics exporter and the
    /// registration thread. Returns once every shard serves; on any
    /// failure, stops what had started and says what failed.
    pub fn start(mut config: BrokerConfig) -> Result<Broker, StartError> {
        config.validate()?;
        config.live = Arc::new(live::LiveSettings::new(&config));
        let root = config.store_path_root_dir.clone();
        let store_error = |source| StartError::Store {
            path: root.clone(),
            source,
        };
        settle_shard_count(&mut config).map_err(store_error)?;
        let tables = Tables::open(&config).map_err(store_error)?;
        let tls = config.server_tls().map_err(StartError::Tls)?;
        let acl = start_acl(&config)?;
        let namesrv = match start_embedded_namesrv(&config, acl.as_ref(), &tls) {
            Ok(namesrv) => namesrv,
            Err(e) => {
                if let Some(acl) = &acl {
                    acl.stop();
                }
                return Err(e);
            }
        };
        Self::start_serving(config, tables, tls, acl, namesrv)
    }

    /// The rest of [`Broker::start`], once the tables, the ACL and the
    /// name server are up: every shard, the metrics exporter and the
    /// registration thread. On a failure, stops the shards started, the
    /// name server and the ACL.
    fn start_serving(
        config: BrokerConfig,
        tables: Tables,
        tls: ringmq_net::tls::ServerTls,
        acl: Option<Arc<acl::Acl>>,
        namesrv: Option<NameServer>,
    ) -> Result<Broker, StartError> {
        let config = Arc::new(config);
        let stop = Arc::new(AtomicBool::new(false));
        let stats: Arc<Vec<ShardStats>> =
            Arc::new((0..config.shards).map(|_| ShardStats::default()).collect());
        let master_info: ha::MasterInfos = Arc::new(
            (0..config.shards)
                .map(|_| ha::MasterInfo::default())
                .collect(),
        );
        let published = config
            .metrics_prom
            .then(|| metrics::Published::new(config.shards));
        let setup = |id: u16, ready| ShardSetup {
            id,
            config: config.clone(),
            topics: tables.topics.clone(),
            groups: tables.groups.clone(),
            request_modes: tables.request_modes.clone(),
            acl: acl.clone(),
            published: published.clone(),
            gate: tables.gate.clone(),
            stats: stats.clone(),
            stop: stop.clone(),
            master_info: master_info.clone(),
            tls: tls.clone(),
            ready,
        };
        let (threads, mut failure) = start_shards(&config, setup);
        let mut exporter = None;
        if let (None, Some(published)) = (&failure, &published) {
            match start_exporter(&config, published, &stats) {
                Ok(e) => exporter = Some(e),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            stop_started(&stop, threads, namesrv, acl.as_ref());
            return Err(e);
        }
        let registrar =
            register::Registrar::start(config.clone(), tables.topics, master_info, acl.clone());
        tracing::info!(
            cluster = %config.broker_cluster_name,
            broker = %config.broker_name,
            shards = config.shards,
            main_port = config.listen_port,
            namesrv = ?config.namesrv_addrs(),
            "broker started"
        );
        Ok(Broker {
            config,
            stop,
            shards: threads,
            registrar: Some(registrar),
            namesrv,
            stats,
            acl,
            metrics: exporter,
        })
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    pub fn stats(&self) -> &[ShardStats] {
        &self.stats
    }

    /// The embedded name server's address, if this broker runs one.
    pub fn namesrv_addr(&self) -> Option<std::net::SocketAddr> {
        self.namesrv.as_ref().map(NameServer::addr)
    }

    /// Unregisters from the name servers, stops every shard (flush and
    /// checkpoint), then stops the embedded name server.
    pub fn stop(mut self) {
        if let Some(r) = self.registrar.take() {
            r.stop();
        }
        self.stop.store(true, Ordering::Release);
        for t in self.shards.drain(..) {
            let _ = t.join();
        }
        if let Some(n) = self.namesrv.take() {
            n.stop();
        }
        if let Some(acl) = &self.acl {
            acl.stop();
        }
        if let Some(m) = self.metrics.take() {
            m.stop();
        }
        tracing::info!("broker stopped");
    }
}

/// The broker-wide tables every shard shares.
pub(crate) struct Tables {
    pub(crate) topics: Arc<TopicTable>,
    pub(crate) groups: Arc<groups::SubscriptionGroups>,
    pub(crate) request_modes: Arc<request_modes::RequestModes>,
    /// One fdatasync at a time on the shared disk.
    pub(crate) gate: FlushGate,
}

impl Tables {
    /// Opens the topic, subscription-group and request-mode tables under
    /// the store root; the topic table holds the broker's system topics.
    pub(crate) fn open(config: &BrokerConfig) -> std::io::Result<Tables> {
        let root = &config.store_path_root_dir;
        let mut system_names = vec![
            config.broker_cluster_name.clone(),
            config.broker_name.clone(),
        ];
        system_names.extend((0..config.shards).map(|s| config.shard_broker_name(s)));
        // Where responders send replies (request-reply), as RocketMQ creates it.
        system_names.push(format!("{}_REPLY_TOPIC", config.broker_cluster_name));
        Ok(Tables {
            topics: Arc::new(TopicTable::open(
                root,
                config.auto_create_topic_enable,
                config.default_topic_queue_nums,
                &system_names,
            )?),
            groups: Arc::new(groups::SubscriptionGroups::open(root)?),
            request_modes: Arc::new(request_modes::RequestModes::open(root)?),
            gate: FlushGate::new(),
        })
    }
}

/// Undoes a start that failed: stops and joins the shard threads, then
/// stops the name server and the ACL.
fn stop_started(
    stop: &AtomicBool,
    threads: Vec<glommio::ExecutorJoinHandle<()>>,
    namesrv: Option<NameServer>,
    acl: Option<&Arc<acl::Acl>>,
) {
    stop.store(true, Ordering::Release);
    for t in threads {
        let _ = t.join();
    }
    if let Some(n) = namesrv {
        n.stop();
    }
    if let Some(acl) = acl {
        acl.stop();
    }
}

/// The ACL with its reload thread, when `aclEnable=true`.
fn start_acl(config: &BrokerConfig) -> Result<Option<Arc<acl::Acl>>, StartError> {
    if !config.acl_enable {
        return Ok(None);
    }
    let acl = acl::Acl::open(&config.acl_file()).map_err(StartError::Acl)?;
    acl.watch()
        .map_err(|e| StartError::Acl(format!("starting the reload thread: {e}")))?;
    tracing::info!(path = %config.acl_file().display(), "ACL on");
    Ok(Some(acl))
}

/// The embedded name server, when no `namesrvAddr` is set.
fn start_embedded_namesrv(
    config: &BrokerConfig,
    acl: Option<&Arc<acl::Acl>>,
    tls: &ringmq_net::tls::ServerTls,
) -> Result<Option<NameServer>, StartError> {
    if config.namesrv_addr.is_some() {
        return Ok(None);
    }
    let port = config.embedded_namesrv_port;
    // The broker's own registrations are plain: with the ports enforcing,
    // its name server permits them.
    let tls = ringmq_net::tls::ServerTls {
        mode: match tls.mode {
            ringmq_net::tls::TlsMode::Enforcing => ringmq_net::tls::TlsMode::Permissive,
            mode => mode,
        },
        config: tls.config.clone(),
    };
    NameServer::start(
        std::net::SocketAddr::new(config.bind_address, port),
        acl.cloned(),
        tls,
    )
    .map(Some)
    .map_err(|source| StartError::NameServer { port, source })
}

/// Starts one executor thread per shard, pinned in order to the CPUs of
/// the process's affinity mask when `pinShards`, and waits until each
/// serves or one fails. Returns the threads started and the first failure.
fn start_shards(
    config: &BrokerConfig,
    setup: impl Fn(u16, std::sync::mpsc::Sender<Result<u16, StartError>>) -> ShardSetup,
) -> (Vec<glommio::ExecutorJoinHandle<()>>, Option<StartError>) {
    let allowed_cpus = ringmq_net::cpus::allowed();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut threads = Vec::new();
    for id in 0..config.shards {
        let setup = setup(id, ready_tx.clone());
        let placement = if config.pin_shards {
            Placement::Fixed(ringmq_net::cpus::nth(&allowed_cpus, id as usize))
        } else {
            Placement::Unbound
        };
        let spawned = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{id}"))
            .io_memory(config.io_memory_bytes)
            .spawn(move || run_shard(setup));
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(e) => {
                let failure = StartError::ShardThread {
                    shard: id,
                    reason: e.to_string(),
                };
                return (threads, Some(failure));
            }
        }
    }
    drop(ready_tx);
    for _ in 0..threads.len() {
        match ready_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return (threads, Some(e)),
            Err(_) => return (threads, Some(StartError::ShardEnded)),
        }
    }
    (threads, None)
}

/// The Prometheus exporter (`metricsExporterType=PROM`).
fn start_exporter(
    config: &BrokerConfig,
    published: &Arc<metrics::Published>,
    stats: &Arc<Vec<ShardStats>>,
) -> Result<metrics::Exporter, StartError> {
    let addr = std::net::SocketAddr::new(config.bind_address, config.metrics_prom_exporter_port);
    std::net::TcpListener::bind(addr)
        .and_then(|listener| {
            metrics::Exporter::start(
                listener,
                config.broker_cluster_name.clone(),
                config.broker_name.clone(),
                published.clone(),
                stats.clone(),
            )
        })
        .map_err(|source| StartError::Metrics { addr, source })
}

/// Reads `broker.conf`-style settings from `path` into `config`.
pub fn load_config_file(config: &mut BrokerConfig, path: &Path) -> Result<(), config::ConfigError> {
    config.load_file(path)
}
