//! Broker settings under RocketMQ's key names (`broker.conf` is a Java
//! properties file), plus RingMQ's own keys for sharding. Parsed once at
//! start-up and shared read-only by every shard.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ringmq_engine::FlushMode;

use crate::schedule::DelayLevels;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} = {value:?}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerRole {
    AsyncMaster,
    SyncMaster,
    Slave,
}

impl BrokerRole {
    /// The name broker.conf and RocketMQ's tools use.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

#[derive(Clone, Debug)]
pub struct BrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_role: BrokerRole,
    pub flush_disk_type: FlushMode,
    pub store_path_root_dir: PathBuf,
    /// The main port: accepts any request (`listenPort`).
    pub listen_port: u16,
    /// RingMQ: shard `i` listens on `shard_listen_port + i`
    /// (`shardListenPort`, default `listenPort + 10`, clear of RocketMQ's
    /// HA port `listenPort + 1` and VIP port `listenPort - 2`).
    pub shard_listen_port: u16,
    /// `namesrvAddr`: `;`-separated; empty starts the embedded name server.
    pub namesrv_addr: Option<String>,
    pub embedded_namesrv_port: u16,
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`: a consumer group's first heartbeat,
    /// pull or send-back creates its subscription group.
    pub auto_create_subscription_group: bool,
    /// `brokerPermission`: PERM_READ (4) | PERM_WRITE (2); a broker without
    /// write refuses sends and registers its topics read-only.
    pub broker_permission: i32,
    /// The file the config was loaded from (`mqbroker -c`); live changes
    /// are saved to it.
    pub config_file: Option<PathBuf>,
    /// What an operator may change while the broker runs; built by
    /// `Broker::start` from the values above, shared by every shard.
    pub live: std::sync::Arc<crate::live::LiveSettings>,
    pub default_topic_queue_nums: i32,
    /// Address advertised to clients (`brokerIP1`); defaults to
    /// `bindAddress` when that names one interface.
    pub broker_ip1: IpAddr,
    pub broker_ip1_set: bool,
    /// `bindAddress` (RocketMQ's `NettyServerConfig`): the address every
    /// listener binds: main, shard and HA ports, and the embedded name
    /// server. Default `0.0.0.0`, every interface, as RocketMQ.
    pub bind_address: IpAddr,
    /// `serverChannelMaxIdleTimeSeconds`: a client connection that sends
    /// nothing for this long is closed (RocketMQ: 120).
    pub server_channel_max_idle_time_seconds: u64,
    /// RingMQ: `serverChannelWriteTimeoutSeconds`: a client that takes no
    /// reply bytes for this long is disconnected.
    pub server_channel_write_timeout_seconds: u64,
    /// RingMQ: `shardConnectionsMax`: client connections one shard holds;
    /// past it new ones are closed at once, with a log line.
    pub shard_connections_max: usize,
    /// `aclEnable`: check every request against the ACL file
    /// ([`crate::acl`]); off by default, as RocketMQ.
    pub acl_enable: bool,
    /// RingMQ: `plainAclFile`: the ACL file (RocketMQ 4.x's
    /// `plain_acl.yml` format); default `<storePathRootDir>/config/plain_acl.yml`.
    pub plain_acl_file: Option<PathBuf>,
    /// `tlsMode` (or RocketMQ's `tls.server.mode`): `disabled` (default),
    /// `permissive` (TLS or plain on client ports), `enforcing` (TLS only).
    pub tls_mode: ringmq_net::tls::TlsMode,
    /// `tlsServerCertPath` / `tls.server.certPath`: PEM certificate chain.
    pub tls_server_cert_path: Option<PathBuf>,
    /// `tlsServerKeyPath` / `tls.server.keyPath`: PEM private key.
    pub tls_server_key_path: Option<PathBuf>,
    /// `metricsExporterType`: `DISABLE` (default, as RocketMQ) or `PROM`
    /// (a Prometheus endpoint, [`crate::metrics`]).
    pub metrics_prom: bool,
    /// `metricsPromExporterPort` (RocketMQ's default 5557).
    pub metrics_prom_exporter_port: u16,
    /// RingMQ: shards (one pinned executor each). Fixed when the store is
    /// created; default one per core.
    pub shards: u16,
    /// `mappedFileSizeCommitLog`.
    pub mapped_file_size_commit_log_bytes: u64,
    /// `flushIntervalCommitLog` (ms).
    pub flush_interval_commit_log_ms: u64,
    /// `flushCommitLogLeastPages` (4 KiB pages): `ASYNC_FLUSH` flushes as
    /// soon as this many are written and not yet durable; 0 waits for
    /// `flushIntervalCommitLog`.
    pub flush_commit_log_least_pages: u64,
    /// `flushIntervalConsumeQueue` (ms): how often consume queues and the
    /// key index are made durable and the checkpoint advanced. RingMQ
    /// defaults to 100 (RocketMQ: 1000); see `StoreConfig::checkpoint_interval_ms`.
    pub flush_interval_consume_queue_ms: u64,
    /// `fileReservedTime` (hours).
    pub file_reserved_time_hours: u64,
    /// `maxMessageSize` (bytes).
    pub max_message_size_bytes: usize,
    /// `registerNameServerPeriod` (ms).
    pub register_name_server_period_ms: u64,
    /// `longPollingEnable`.
    pub long_polling_enable: bool,
    /// Memory glommio reserves for its I/O per shard (RingMQ `ioMemoryBytes`).
    pub io_memory_bytes: usize,
    /// Pin shard executors to cores (RingMQ `pinShards`).
    pub pin_shards: bool,
    /// Write the commit log with O_DIRECT (RingMQ `commitLogDirectIo`):
    /// about twice the sustained append bandwidth on the development VM,
    /// but consumers read recent data from disk instead of the page cache.
    pub commit_log_direct_io: bool,
    /// With `commitLogDirectIo`: bytes of recently written log each shard
    /// keeps in memory for consumers that keep up (RingMQ
    /// `commitLogDirectIoHotBytes`, default 16 MiB).
    pub commit_log_direct_io_hot_bytes: usize,
    /// With `commitLogDirectIo`: commit-log writes each shard keeps in
    /// flight at once (RingMQ `commitLogDirectIoWritesInFlight`, default 2,
    /// at most 2; 1 = one at a time).
    pub commit_log_direct_io_writes_in_flight: usize,
    /// `warmMapedFileEnable`: zero-fill each new commit-log segment ahead
    /// of use. Unset: on under `SYNC_FLUSH`, where it spares every
    /// fdatasync an extent-conversion journal commit (single sync sends
    /// 1.6x on the development VM), off under `ASYNC_FLUSH`, where no
    /// acknowledgement waits for an fdatasync. It doubles the bytes
    /// written: buffered `SYNC_FLUSH` batches ran 0.81x with it. RocketMQ's
    /// default is false.
    pub warm_maped_file_enable: Option<bool>,
    /// `haListenPort` (default `listenPort + 1`): shard `i` accepts its
    /// slaves on `haListenPort + i`. With ten or more shards the default
    /// range would run into the shard ports; it then starts right after
    /// them (see [`BrokerConfig::validate`]).
    pub ha_listen_port: u16,
    /// Whether `haListenPort` was set rather than defaulted.
    pub ha_listen_port_set: bool,
    /// `haMasterAddress`: the master's HA address for shard 0 (shard `i`
    /// adds `i` to the port). Unset: taken from the name server's answer
    /// to each registration, as RocketMQ does.
    pub ha_master_address: Option<String>,
    /// `slaveReadEnable`: on a slave, serve pulls; on a master, suggest the
    /// slave to consumers reading cold data.
    pub slave_read_enable: bool,
    /// `slaveTimeout` (ms): how long a `SYNC_MASTER` send waits for a slave.
    pub slave_timeout_ms: u64,
    /// `haSendHeartbeatInterval` (ms).
    pub ha_heartbeat_interval_ms: u64,
    /// `haHousekeepingInterval` (ms): a silent HA connection is closed.
    pub ha_housekeeping_interval_ms: u64,
    /// `haTransferBatchSize` (bytes per transfer packet).
    pub ha_transfer_batch_size_bytes: usize,
    /// `haSlaveFallbehindMax` (bytes): a slave further behind does not
    /// count as available to `SYNC_MASTER`.
    pub ha_slave_fallbehind_max_bytes: u64,
    /// `accessMessageInMemoryMaxRatio` (% of physical memory): pulls of
    /// data further behind the log's end than this are "cold".
    pub access_message_in_memory_max_ratio_percent: u64,
    /// `messageDelayLevel`: the delay of each level a `DELAY` property may
    /// name (see [`crate::schedule`]).
    pub message_delay_level: DelayLevels,
    /// `timerWheelEnable`: schedule timer messages (`TIMER_*` properties);
    /// off, they are refused.
    pub timer_wheel_enable: bool,
    /// `timerMaxDelaySec`: the furthest ahead a timer message may be due.
    pub timer_max_delay_sec: u64,
    /// `enablePropertyFilter`: accept SQL92 subscriptions (off by
    /// default, as in RocketMQ).
    pub enable_property_filter: bool,
    /// `transactionTimeOut`: how old a half message is before its producer
    /// is asked for the outcome (ms).
    pub transaction_timeout_ms: u64,
    /// `transactionCheckMax`: checks of one half message before it is
    /// discarded to `TRANS_CHECK_MAX_TIME_TOPIC`.
    pub transaction_check_max: u32,
    /// `transactionCheckInterval`: time between two checks of one half
    /// message, and between two scans of the half queue (ms).
    pub transaction_check_interval_ms: u64,
}

/// Largest HA transfer packet body a slave accepts (and a master sends).
pub const HA_TRANSFER_BYTES_MAX: usize = 4 << 20;

/// Largest `flushCommitLogLeastPages` accepted: 1 GiB of 4 KiB pages, a
/// whole default segment (a larger value means the interval alone).
pub const FLUSH_LEAST_PAGES_MAX: u64 = 1 << 18;

impl Default for BrokerConfig {
    fn default() -> Self {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            broker_role: BrokerRole::AsyncMaster,
            flush_disk_type: FlushMode::Async,
            store_path_root_dir: PathBuf::from(home).join("store"),
            listen_port: 10911,
            shard_listen_port: 10921,
            namesrv_addr: None,
            embedded_namesrv_port: 9876,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            broker_permission: 6,
            config_file: None,
            live: std::sync::Arc::new(crate::live::LiveSettings::placeholder()),
            default_topic_queue_nums: 8,
            broker_ip1: IpAddr::from([127, 0, 0, 1]),
            broker_ip1_set: false,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            server_channel_max_idle_time_seconds: 120,
            server_channel_write_timeout_seconds: 30,
            shard_connections_max: 8192,
            acl_enable: false,
            tls_mode: ringmq_net::tls::TlsMode::Disabled,
            tls_server_cert_path: None,
            tls_server_key_path: None,
            plain_acl_file: None,
            metrics_prom: false,
            metrics_prom_exporter_port: 5557,
            shards: std::thread::available_parallelism().map_or(1, |n| n.get() as u16),
            mapped_file_size_commit_log_bytes: 1 << 30,
            flush_interval_commit_log_ms: 500,
            flush_commit_log_least_pages: 4,
            flush_interval_consume_queue_ms: 100,
            file_reserved_time_hours: 72,
            max_message_size_bytes: 4 * 1024 * 1024,
            register_name_server_period_ms: 30_000,
            long_polling_enable: true,
            io_memory_bytes: 8 << 20,
            pin_shards: true,
            commit_log_direct_io: false,
            commit_log_direct_io_hot_bytes: 16 << 20,
            commit_log_direct_io_writes_in_flight: 2,
            warm_maped_file_enable: None,
            ha_listen_port: 10912,
            ha_listen_port_set: false,
            ha_master_address: None,
            slave_read_enable: false,
            slave_timeout_ms: 3_000,
            ha_heartbeat_interval_ms: 5_000,
            ha_housekeeping_interval_ms: 20_000,
            ha_transfer_batch_size_bytes: 32 * 1024,
            ha_slave_fallbehind_max_bytes: 256 << 20,
            access_message_in_memory_max_ratio_percent: 40,
            message_delay_level: DelayLevels::default(),
            timer_wheel_enable: true,
            timer_max_delay_sec: crate::timer::TIMER_MAX_DELAY_SEC_DEFAULT,
            enable_property_filter: false,
            transaction_timeout_ms: 6_000,
            transaction_check_max: 15,
            transaction_check_interval_ms: 30_000,
        }
    }
}

/// Parses a Java properties file: `key=value` or `key: value` lines, `#`
/// and `!` comments. Line continuations and escapes are not supported;
/// broker.conf files do not use them.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let key = line[..split].trim();
        let value = line.get(split + 1..).unwrap_or("").trim();
        if !key.is_empty() {
            out.insert(key.to_string(), value.to_string());
        }
    }
    out
}

fn invalid(key: &str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason,
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .parse()
        .map_err(|_| invalid(key, value, "not a number"))
}

fn parse_positive<T: std::str::FromStr + Default + PartialOrd>(
    key: &str,
    value: &str,
) -> Result<T, ConfigError> {
    let n: T = parse_num(key, value)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(invalid(key, value, "must be above 0"))
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "not true or false")),
    }
}

impl BrokerConfig {
    /// Whether new commit-log segments are zero-filled ahead of use
    /// (`warmMapedFileEnable`, defaulting by flush mode).
    pub fn zero_fill_segments(&self) -> bool {
        self.warm_maped_file_enable
            .unwrap_or(self.flush_disk_type == FlushMode::Sync)
    }

    /// Applies one setting. Unknown keys are logged and ignored, as
    /// RocketMQ does, so existing broker.conf files load.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let shard_port_follows = self.shard_listen_port == self.listen_port.wrapping_add(10);
        let ha_port_follows = self.ha_listen_port == self.listen_port.wrapping_add(1);
        match key {
            "brokerClusterName" => self.broker_cluster_name = value.into(),
            "brokerName" => self.broker_name = value.into(),
            "brokerId" => self.broker_id = parse_num(key, value)?,
            "brokerRole" => {
                self.broker_role = match value {
                    "ASYNC_MASTER" => BrokerRole::AsyncMaster,
                    "SYNC_MASTER" => BrokerRole::SyncMaster,
                    "SLAVE" => BrokerRole::Slave,
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "not ASYNC_MASTER, SYNC_MASTER or SLAVE",
                        ))
                    }
                }
            }
            "flushDiskType" => {
                self.flush_disk_type = match value {
                    "ASYNC_FLUSH" => FlushMode::Async,
                    "SYNC_FLUSH" => FlushMode::Sync,
                    _ => return Err(invalid(key, value, "not ASYNC_FLUSH or SYNC_FLUSH")),
                }
            }
            "storePathRootDir" => self.store_path_root_dir = PathBuf::from(value),
            "listenPort" => {
                self.listen_port = parse_num(key, value)?;
                if shard_port_follows {
                    self.shard_listen_port = self.listen_port.wrapping_add(10);
                }
                if ha_port_follows {
                    self.ha_listen_port = self.listen_port.wrapping_add(1);
                }
            }
            "shardListenPort" => self.shard_listen_port = parse_num(key, value)?,
            "namesrvAddr" => {
                self.namesrv_addr = Some(value.to_string()).filter(|v| !v.trim().is_empty());
            }
            "embeddedNamesrvPort" => self.embedded_namesrv_port = parse_num(key, value)?,
            "autoCreateTopicEnable" => self.auto_create_topic_enable = parse_bool(key, value)?,
            "autoCreateSubscriptionGroup" => {
                self.auto_create_subscription_group = parse_bool(key, value)?;
            }
            "brokerPermission" => {
                let p: i32 = parse_num(key, value)?;
                if !(0..8).contains(&p) {
                    return Err(invalid(key, value, "must be 0..=7"));
                }
                self.broker_permission = p;
            }
            "defaultTopicQueueNums" => {
                let n: i32 = parse_num(key, value)?;
                if !(1..=1024).contains(&n) {
                    return Err(invalid(key, value, "must be 1..=1024"));
                }
                self.default_topic_queue_nums = n;
            }
            "brokerIP1" => {
                self.broker_ip1 = value
                    .parse()
                    .map_err(|_| invalid(key, value, "not an IP address"))?;
                self.broker_ip1_set = true;
            }
            "bindAddress" => {
                self.bind_address = value
                    .parse()
                    .map_err(|_| invalid(key, value, "not an IP address"))?;
            }
            "serverChannelMaxIdleTimeSeconds" => {
                self.server_channel_max_idle_time_seconds = parse_positive(key, value)?;
            }
            "serverChannelWriteTimeoutSeconds" => {
                self.server_channel_write_timeout_seconds = parse_positive(key, value)?;
            }
            "shardConnectionsMax" => self.shard_connections_max = parse_positive(key, value)?,
            "aclEnable" => self.acl_enable = parse_bool(key, value)?,
            "plainAclFile" => self.plain_acl_file = Some(PathBuf::from(value)),
            "tlsMode" | "tls.server.mode" => {
                self.tls_mode = ringmq_net::tls::TlsMode::parse(value)
                    .ok_or_else(|| invalid(key, value, "not disabled, permissive or enforcing"))?;
            }
            "tlsServerCertPath" | "tls.server.certPath" => {
                self.tls_server_cert_path = Some(PathBuf::from(value));
            }
            "tlsServerKeyPath" | "tls.server.keyPath" => {
                self.tls_server_key_path = Some(PathBuf::from(value));
            }
            "metricsExporterType" => {
                self.metrics_prom = match value {
                    "PROM" => true,
                    "DISABLE" => false,
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "PROM or DISABLE (OTLP_GRPC and LOG are not built)",
                        ))
                    }
                }
            }
            "metricsPromExporterPort" => self.metrics_prom_exporter_port = parse_num(key, value)?,
            "shards" => {
                let n: u16 = parse_num(key, value)?;
                if !(1..=256).contains(&n) {
                    return Err(invalid(key, value, "must be 1..=256"));
                }
                self.shards = n;
            }
            "mappedFileSizeCommitLog" => {
                let n: u64 = parse_num(key, value)?;
                if n < 64 * 1024 || !n.is_multiple_of(4096) {
                    return Err(invalid(
                        key,
                        value,
                        "must be a multiple of 4096, at least 65536",
                    ));
                }
                self.mapped_file_size_commit_log_bytes = n;
            }
            "flushIntervalCommitLog" => self.flush_interval_commit_log_ms = parse_num(key, value)?,
            "flushIntervalConsumeQueue" => {
                let ms: u64 = parse_num(key, value)?;
                if ms == 0 {
                    return Err(invalid(key, value, "must be at least 1"));
                }
                self.flush_interval_consume_queue_ms = ms;
            }
            "flushCommitLogLeastPages" => {
                let pages: u64 = parse_num(key, value)?;
                if pages > FLUSH_LEAST_PAGES_MAX {
                    return Err(invalid(key, value, "must be at most 262144 (1 GiB)"));
                }
                self.flush_commit_log_least_pages = pages;
            }
            "fileReservedTime" => self.file_reserved_time_hours = parse_num(key, value)?,
            "maxMessageSize" => self.max_message_size_bytes = parse_num(key, value)?,
            "registerNameServerPeriod" => {
                let ms: u64 = parse_num(key, value)?;
                self.register_name_server_period_ms = ms.clamp(1_000, 60_000);
            }
            "longPollingEnable" => self.long_polling_enable = parse_bool(key, value)?,
            "ioMemoryBytes" => self.io_memory_bytes = parse_num(key, value)?,
            "pinShards" => self.pin_shards = parse_bool(key, value)?,
            "commitLogDirectIo" => self.commit_log_direct_io = parse_bool(key, value)?,
            "commitLogDirectIoHotBytes" => {
                self.commit_log_direct_io_hot_bytes = parse_num(key, value)?;
            }
            "commitLogDirectIoWritesInFlight" => {
                // Two is what was measured (perf/writes_in_flight.sh).
                let n: usize = parse_num(key, value)?;
                if !(1..=2).contains(&n) {
                    return Err(invalid(key, value, "must be 1 or 2"));
                }
                self.commit_log_direct_io_writes_in_flight = n;
            }
            "warmMapedFileEnable" => self.warm_maped_file_enable = Some(parse_bool(key, value)?),
            "haListenPort" => {
                self.ha_listen_port = parse_num(key, value)?;
                self.ha_listen_port_set = true;
            }
            "haMasterAddress" => {
                self.ha_master_address = Some(value.trim().to_string()).filter(|v| !v.is_empty());
            }
            "slaveReadEnable" => self.slave_read_enable = parse_bool(key, value)?,
            "slaveTimeout" => self.slave_timeout_ms = parse_num(key, value)?,
            "haSendHeartbeatInterval" => self.ha_heartbeat_interval_ms = parse_num(key, value)?,
            "haHousekeepingInterval" => self.ha_housekeeping_interval_ms = parse_num(key, value)?,
            "haTransferBatchSize" => {
                let n: usize = parse_num(key, value)?;
                if !(1..=HA_TRANSFER_BYTES_MAX).contains(&n) {
                    return Err(invalid(key, value, "must be 1..=4194304"));
                }
                self.ha_transfer_batch_size_bytes = n;
            }
            "haSlaveFallbehindMax" => self.ha_slave_fallbehind_max_bytes = parse_num(key, value)?,
            "accessMessageInMemoryMaxRatio" => {
                let n: u64 = parse_num(key, value)?;
                if n > 100 {
                    return Err(invalid(key, value, "must be 0..=100"));
                }
                self.access_message_in_memory_max_ratio_percent = n;
            }
            "timerWheelEnable" => self.timer_wheel_enable = parse_bool(key, value)?,
            "timerMaxDelaySec" => {
                let n: u64 = parse_num(key, value)?;
                // Ten years: far past any use, far from overflowing ms.
                if !(1..=315_360_000).contains(&n) {
                    return Err(invalid(key, value, "must be 1..=315360000"));
                }
                self.timer_max_delay_sec = n;
            }
            "enablePropertyFilter" => self.enable_property_filter = parse_bool(key, value)?,
            "transactionTimeOut" => {
                let n: u64 = parse_num(key, value)?;
                if !(100..=86_400_000).contains(&n) {
                    return Err(invalid(key, value, "must be 100..=86400000 (ms)"));
                }
                self.transaction_timeout_ms = n;
            }
            "transactionCheckMax" => {
                let n: u32 = parse_num(key, value)?;
                if !(1..=1_000).contains(&n) {
                    return Err(invalid(key, value, "must be 1..=1000"));
                }
                self.transaction_check_max = n;
            }
            "transactionCheckInterval" => {
                let n: u64 = parse_num(key, value)?;
                if !(100..=86_400_000).contains(&n) {
                    return Err(invalid(key, value, "must be 100..=86400000 (ms)"));
                }
                self.transaction_check_interval_ms = n;
            }
            "messageDelayLevel" => {
                self.message_delay_level =
                    DelayLevels::parse(value).map_err(|reason| invalid(key, value, reason))?;
            }
            _ => tracing::warn!(key, "unknown broker setting ignored"),
        }
        Ok(())
    }

    pub fn apply(&mut self, settings: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        // listenPort first so a shardListenPort in the same file wins.
        if let Some(v) = settings.get("listenPort") {
            self.set("listenPort", v)?;
        }
        for (k, v) in settings {
            if k != "listenPort" {
                self.set(k, v)?;
            }
        }
        Ok(())
    }

    pub fn load_file(&mut self, path: &std::path::Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.apply(&parse_properties(&text))?;
        self.config_file = Some(path.to_path_buf());
        Ok(())
    }

    /// The broker name shard `shard` is advertised under.
    pub fn shard_broker_name(&self, shard: u16) -> String {
        format!("{}-{}", self.broker_name, shard)
    }

    pub fn shard_port(&self, shard: u16) -> u16 {
        self.shard_listen_port + shard
    }

    pub fn shard_addr(&self, shard: u16) -> String {
        format!("{}:{}", self.broker_ip1, self.shard_port(shard))
    }

    pub fn ha_port(&self, shard: u16) -> u16 {
        self.ha_listen_port + shard
    }

    pub fn is_slave(&self) -> bool {
        self.broker_role == BrokerRole::Slave
    }

    /// Settings that only make sense together: role and id, as RocketMQ's
    /// start-up enforces them (masters are id 0, slaves above 0), and port
    /// ranges that must not overlap.
    /// The client ports' TLS, loaded from the configured files.
    pub fn server_tls(&self) -> Result<ringmq_net::tls::ServerTls, String> {
        use ringmq_net::tls::{ServerTls, TlsMode};
        if self.tls_mode == TlsMode::Disabled {
            return Ok(ServerTls::disabled());
        }
        let (Some(cert), Some(key)) = (&self.tls_server_cert_path, &self.tls_server_key_path)
        else {
            return Err(format!(
                "tlsMode={} needs tlsServerCertPath and tlsServerKeyPath",
                self.tls_mode.as_str()
            ));
        };
        ServerTls::load(self.tls_mode, cert, key).map_err(|e| e.to_string())
    }

    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let range = |start: u16, n: u16| u32::from(start)..u32::from(start) + u32::from(n);
        let overlaps =
            |a: &std::ops::Range<u32>, b: &std::ops::Range<u32>| a.start < b.end && b.start < a.end;
        let shard_ports = range(self.shard_listen_port, self.shards);
        if !self.ha_listen_port_set
            && overlaps(&shard_ports, &range(self.ha_listen_port, self.shards))
        {
            let moved = self.shard_listen_port.saturating_add(self.shards);
            tracing::info!(
                shards = self.shards,
                ha_listen_port = moved,
                "HA ports start after the shard ports (from listenPort + 1 they would run into them)"
            );
            self.ha_listen_port = moved;
        }
        if !self.broker_ip1_set && !self.bind_address.is_unspecified() {
            self.broker_ip1 = self.bind_address;
        }
        let ha_ports = range(self.ha_listen_port, self.shards);
        let main = range(self.listen_port, 1);
        if overlaps(&shard_ports, &ha_ports)
            || overlaps(&main, &ha_ports)
            || overlaps(&main, &shard_ports)
        {
            return Err(invalid(
                "haListenPort",
                &self.ha_listen_port.to_string(),
                "listenPort, shardListenPort + shard and haListenPort + shard overlap",
            ));
        }
        self.check_role()
    }

    fn check_role(&mut self) -> Result<(), ConfigError> {
        match self.broker_role {
            BrokerRole::Slave if self.broker_id <= 0 => Err(invalid(
                "brokerId",
                &self.broker_id.to_string(),
                "a SLAVE needs brokerId > 0",
            )),
            BrokerRole::Slave => Ok(()),
            _ => {
                if self.broker_id != 0 {
                    tracing::warn!(
                        broker_id = self.broker_id,
                        "a master is brokerId 0; using 0"
                    );
                    self.broker_id = 0;
                }
                Ok(())
            }
        }
    }

    /// Name-server addresses to register with.
    pub fn namesrv_addrs(&self) -> Vec<String> {
        match &self.namesrv_addr {
            Some(list) => list
                .split(';')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(String::from)
                .collect(),
            None => {
                vec![SocketAddr::new(self.local_address(), self.embedded_namesrv_port).to_string()]
            }
        }
    }

    /// Where the ACL file is read from.
    pub fn acl_file(&self) -> PathBuf {
        self.plain_acl_file.clone().unwrap_or_else(|| {
            self.store_path_root_dir
                .join("config")
                .join("plain_acl.yml")
        })
    }

    /// The address this process reaches its own listeners at: `bindAddress`,
    /// or loopback when that is every interface.
    pub fn local_address(&self) -> IpAddr {
        if self.bind_address.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.bind_address
        }
    }

    /// Bounds of each client connection.
    pub fn connection_limits(&self) -> ringmq_net::server::ConnectionLimits {
        ringmq_net::server::ConnectionLimits {
            idle_timeout: std::time::Duration::from_secs(self.server_channel_max_idle_time_seconds),
            write_timeout: std::time::Duration::from_secs(
                self.server_channel_write_timeout_seconds,
            ),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // settings one at a time, as a file sets them
mod tests {
    use super::*;

    #[test]
    fn broker_conf_keys_and_comments() {
        let text = "# comment\nbrokerClusterName = C1\nbrokerName=b\nbrokerId=0\n\
                    flushDiskType=SYNC_FLUSH\nlistenPort=20911\nnamesrvAddr=1.2.3.4:9876;5.6.7.8:9876\n\
                    deleteWhen=04\n";
        let mut c = BrokerConfig::default();
        c.apply(&parse_properties(text)).unwrap();
        assert_eq!(c.broker_cluster_name, "C1");
        assert_eq!(c.flush_disk_type, FlushMode::Sync);
        assert_eq!(c.listen_port, 20911);
        assert_eq!(c.shard_listen_port, 20921);
        assert_eq!(c.namesrv_addrs(), vec!["1.2.3.4:9876", "5.6.7.8:9876"]);
        assert_eq!(c.shard_broker_name(1), "b-1");
    }

    #[test]
    fn ha_ports_default_clear_of_shard_ports() {
        let mut c = BrokerConfig::default();
        c.shards = 2;
        c.validate().unwrap();
        assert_eq!((c.ha_port(0), c.ha_port(1)), (10912, 10913));
        c.shards = 16;
        c.validate().unwrap();
        assert_eq!(c.ha_port(0), c.shard_port(15) + 1);
        let mut c = BrokerConfig::default();
        c.shards = 16;
        c.set("haListenPort", "10912").unwrap();
        assert!(
            c.validate().is_err(),
            "an explicit overlapping range is an error"
        );
    }

    #[test]
    fn segment_zero_fill_follows_flush_mode_unless_set() {
        let mut c = BrokerConfig::default();
        c.set("flushDiskType", "SYNC_FLUSH").unwrap();
        assert!(c.zero_fill_segments());
        c.set("warmMapedFileEnable", "false").unwrap();
        assert!(!c.zero_fill_segments());
        let mut c = BrokerConfig::default();
        c.set("flushDiskType", "ASYNC_FLUSH").unwrap();
        assert!(!c.zero_fill_segments());
        c.set("warmMapedFileEnable", "true").unwrap();
        assert!(c.zero_fill_segments());
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = BrokerConfig::default();
        let e = c.set("flushDiskType", "SOMETIMES").unwrap_err().to_string();
        assert!(e.contains("flushDiskType"), "{e}");
        assert!(c.set("defaultTopicQueueNums", "0").is_err());
    }

    #[test]
    fn flush_least_pages_reach_the_store_in_bytes() {
        let mut c = BrokerConfig::default();
        assert_eq!(
            crate::bootstrap::store_config(&c, 0).flush_least_bytes,
            4 * 4096
        );
        c.set("flushCommitLogLeastPages", "0").unwrap();
        assert_eq!(crate::bootstrap::store_config(&c, 0).flush_least_bytes, 0);
        let e = c
            .set("flushCommitLogLeastPages", "262145")
            .unwrap_err()
            .to_string();
        assert!(e.contains("flushCommitLogLeastPages"), "{e}");
    }

    #[test]
    fn consume_queue_flush_interval_is_the_checkpoint_interval() {
        let mut c = BrokerConfig::default();
        assert_eq!(
            crate::bootstrap::store_config(&c, 0).checkpoint_interval_ms,
            100
        );
        c.set("flushIntervalConsumeQueue", "1000").unwrap();
        assert_eq!(
            crate::bootstrap::store_config(&c, 0).checkpoint_interval_ms,
            1000
        );
        assert!(c.set("flushIntervalConsumeQueue", "0").is_err());
    }
}
