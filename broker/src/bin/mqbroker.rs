//! `mqbroker`: starts a RingMQ broker (and, without `-n`, its embedded name
//! server), as RocketMQ users start theirs. Stops cleanly on Ctrl-C or
//! SIGTERM: unregisters, flushes and checkpoints every shard.

use std::path::PathBuf;

use clap::Parser;
use ringmq_broker::config::BrokerConfig;
use ringmq_broker::Broker;

#[derive(Parser, Debug)]
#[command(
    name = "mqbroker",
    version,
    about = "RingMQ broker (RocketMQ protocol)"
)]
struct Args {
    /// broker.conf (Java properties, RocketMQ key names).
    #[arg(short = 'c', long = "configFile")]
    config_file: Option<PathBuf>,
    /// Name server address(es), `;`-separated. Without it the broker starts
    /// the embedded name server.
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv_addr: Option<String>,
    /// Shards (pinned executors); default one per core. Fixed at store creation.
    #[arg(long)]
    shards: Option<u16>,
    #[arg(long = "brokerClusterName")]
    broker_cluster_name: Option<String>,
    #[arg(long = "brokerName")]
    broker_name: Option<String>,
    #[arg(long = "brokerId")]
    broker_id: Option<i64>,
    #[arg(long = "brokerRole")]
    broker_role: Option<String>,
    /// ASYNC_FLUSH or SYNC_FLUSH.
    #[arg(long = "flushDiskType")]
    flush_disk_type: Option<String>,
    #[arg(long = "storePathRootDir")]
    store_path_root_dir: Option<String>,
    #[arg(long = "listenPort")]
    listen_port: Option<u16>,
    #[arg(long = "shardListenPort")]
    shard_listen_port: Option<u16>,
    #[arg(long = "embeddedNamesrvPort")]
    embedded_namesrv_port: Option<u16>,
    #[arg(long = "autoCreateTopicEnable")]
    auto_create_topic_enable: Option<bool>,
    #[arg(long = "defaultTopicQueueNums")]
    default_topic_queue_nums: Option<i32>,
    #[arg(long = "brokerIP1")]
    broker_ip1: Option<String>,
    #[arg(long = "mappedFileSizeCommitLog")]
    mapped_file_size_commit_log_bytes: Option<u64>,
    /// Any other setting, as key=value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,glommio=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let mut config = BrokerConfig::default();
    if let Err(e) = apply(&mut config, &args) {
        eprintln!("mqbroker: {e}");
        std::process::exit(2);
    }
    // Ctrl-C and SIGTERM are taken by sigwait below; block them before any
    // thread starts so every thread inherits the mask.
    let signals = block_stop_signals();
    let broker = match Broker::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mqbroker: {e}");
            std::process::exit(1);
        }
    };
    let signal = wait_for(&signals);
    tracing::info!(signal, "stopping");
    broker.stop();
}

fn apply(config: &mut BrokerConfig, args: &Args) -> Result<(), String> {
    if let Some(path) = &args.config_file {
        config.load_file(path).map_err(|e| e.to_string())?;
    }
    let mut overrides: Vec<(&str, String)> = Vec::new();
    let mut put = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            overrides.push((k, v));
        }
    };
    put("listenPort", args.listen_port.map(|v| v.to_string()));
    put("namesrvAddr", args.namesrv_addr.clone());
    put("shards", args.shards.map(|v| v.to_string()));
    put("brokerClusterName", args.broker_cluster_name.clone());
    put("brokerName", args.broker_name.clone());
    put("brokerId", args.broker_id.map(|v| v.to_string()));
    put("brokerRole", args.broker_role.clone());
    put("flushDiskType", args.flush_disk_type.clone());
    put("storePathRootDir", args.store_path_root_dir.clone());
    put(
        "shardListenPort",
        args.shard_listen_port.map(|v| v.to_string()),
    );
    put(
        "embeddedNamesrvPort",
        args.embedded_namesrv_port.map(|v| v.to_string()),
    );
    put(
        "autoCreateTopicEnable",
        args.auto_create_topic_enable.map(|v| v.to_string()),
    );
    put(
        "defaultTopicQueueNums",
        args.default_topic_queue_nums.map(|v| v.to_string()),
    );
    put("brokerIP1", args.broker_ip1.clone());
    put(
        "mappedFileSizeCommitLog",
        args.mapped_file_size_commit_log_bytes
            .map(|v| v.to_string()),
    );
    for (k, v) in overrides {
        config.set(k, &v).map_err(|e| e.to_string())?;
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
        config.set(k.trim(), v.trim()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it
    // and pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        set
    }
}

fn wait_for(set: &libc::sigset_t) -> i32 {
    let mut signal = 0;
    // SAFETY: `set` was initialised by block_stop_signals; sigwait writes
    // the signal number into `signal`.
    unsafe {
        libc::sigwait(set, &raw mut signal);
    }
    signal
}
