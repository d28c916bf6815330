//! Test support: a real `mqbroker` child process on free loopback ports,
//! and the client runtime the RocketMQ client needs.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ringmq_net::client::BlockingClient;
use ringmq_net::{ExtFields, RemotingCommand, RequestCode, ResponseCode};
use rocketmq_client_rust::{ClientRuntime, ClientRuntimeConfig, TelemetryHandle};
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};

static RUNTIME_OWNER: LazyLock<RuntimeOwner> = LazyLock::new(|| {
    RuntimeOwner::plan(RuntimeConfig {
        thread_name: "ringmq-interop-client".to_string(),
        ..Default::default()
    })
    .expect("client runtime configuration")
    .build()
    .expect("client runtime")
});

pub fn client_runtime(scope: &str) -> Arc<ClientRuntime> {
    ClientRuntime::try_new(
        RUNTIME_OWNER
            .root_context()
            .component(Box::leak(scope.to_string().into_boxed_str()) as &str),
        ClientRuntimeConfig::default(),
        TelemetryHandle::noop(),
    )
    .expect("client runtime")
}

/// Polls `cond` until it holds; panics with `what` at the deadline.
pub async fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Flush {
    Async,
    Sync,
}

/// Ports one broker uses: name server, main port, one per shard (up to
/// 6), then one HA port per shard from [`HA_PORT_OFFSET`].
const PORTS_PER_BROKER: u16 = 16;
pub const HA_PORT_OFFSET: u16 = 8;
/// Port blocks handed out so far by this test binary.
static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);
/// Test ports stay in `[PORTS_START, PORTS_END)`, below the kernel's
/// ephemeral range (32768 up), which client sockets use: a test that opens
/// thousands of connections cannot push the search onto them, and no block
/// ever wraps to port 0 ("any port").
const PORTS_START: u32 = 20_000;
const PORTS_END: u32 = 32_000;

fn free_base() -> u16 {
    // Spread processes by pid so parallel test binaries do not collide,
    // then check every port of the block is free.
    let blocks = (PORTS_END - PORTS_START) / u32::from(PORTS_PER_BROKER);
    let offset = std::process::id() % blocks;
    loop {
        let n = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let base = (PORTS_START + (offset + n) % blocks * u32::from(PORTS_PER_BROKER)) as u16;
        if (base..base + PORTS_PER_BROKER).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
}

pub struct BrokerProcess {
    child: Option<Child>,
    /// Replaces the default flags (a config-file start-up).
    custom_args: Option<Vec<String>>,
    /// `key=value` settings added to the default flags.
    settings: Vec<String>,
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    pub base: u16,
    pub shards: u16,
    pub flush: Flush,
    /// The name server this broker registers with.
    pub namesrv_addr: String,
    /// Where its listeners are: `bindAddress` when a test sets one.
    pub host: String,
}

impl BrokerProcess {
    pub fn start(shards: u16, flush: Flush) -> BrokerProcess {
        BrokerProcess::start_with_settings(shards, flush, &[])
    }

    /// [`BrokerProcess::start`] with broker.conf settings added.
    pub fn start_with_settings(
        shards: u16,
        flush: Flush,
        settings: &[(&str, &str)],
    ) -> BrokerProcess {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let mut b = BrokerProcess {
            child: None,
            custom_args: None,
            settings: settings.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            dir,
            _temp: Some(temp),
            base: 0,
            shards,
            flush,
            namesrv_addr: String::new(),
            host: "127.0.0.1".into(),
        };
        b.base = free_base();
        if let Some((_, host)) = settings.iter().find(|(k, _)| *k == "bindAddress") {
            b.host = host.to_string();
        }
        b.namesrv_addr = format!("{}:{}", b.host, b.base);
        b.spawn();
        b
    }

    /// A broker of a master/slave group registering with `namesrv` (run
    /// by the caller), on its own block of ports, with extra settings
    /// (`brokerRole`, `brokerId`, ...).
    pub fn start_member(
        namesrv: &str,
        shards: u16,
        flush: Flush,
        settings: &[(&str, String)],
    ) -> BrokerProcess {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let base = free_base();
        let flush_name = match flush {
            Flush::Async => "ASYNC_FLUSH",
            Flush::Sync => "SYNC_FLUSH",
        };
        let mut args: Vec<String> = [
            "-n",
            namesrv,
            "--listenPort",
            &(base + 1).to_string(),
            "--shardListenPort",
            &(base + 2).to_string(),
            "--shards",
            &shards.to_string(),
            "--flushDiskType",
            flush_name,
            "--storePathRootDir",
            dir.join("store").to_str().unwrap(),
            "--brokerName",
            "ringmq",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let defaults = [
            ("haListenPort", (base + HA_PORT_OFFSET).to_string()),
            ("mappedFileSizeCommitLog", (8 << 20).to_string()),
            ("pinShards", "false".to_string()),
            ("ioMemoryBytes", "2097152".to_string()),
        ];
        for (k, v) in defaults.iter().chain(settings) {
            args.push("--set".into());
            args.push(format!("{k}={v}"));
        }
        let mut b = BrokerProcess {
            child: None,
            custom_args: Some(args),
            settings: Vec::new(),
            dir,
            _temp: Some(temp),
            base,
            shards,
            flush,
            namesrv_addr: namesrv.to_string(),
            host: "127.0.0.1".into(),
        };
        b.spawn();
        b
    }

    /// The HA port of a shard (`haListenPort + shard`).
    pub fn ha_addr(&self, shard: u16) -> String {
        format!("{}:{}", self.host, self.base + HA_PORT_OFFSET + shard)
    }

    /// The commit-log segment files of a shard, in offset order.
    pub fn commit_log_files(&self, shard: u16) -> Vec<PathBuf> {
        let dir = self
            .dir
            .join("store")
            .join(format!("shard-{shard}"))
            .join("commitlog");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// A broker started as `mqbroker -c <file> -n <namesrv> ...args`, for a
    /// name server on `base` that the caller runs.
    pub fn start_with_args(
        base: u16,
        shards: u16,
        dir: tempfile::TempDir,
        args: Vec<String>,
    ) -> BrokerProcess {
        let mut b = BrokerProcess {
            child: None,
            custom_args: Some(args),
            settings: Vec::new(),
            dir: dir.path().to_path_buf(),
            _temp: Some(dir),
            base,
            shards,
            flush: Flush::Async,
            namesrv_addr: format!("127.0.0.1:{base}"),
            host: "127.0.0.1".into(),
        };
        b.spawn();
        b
    }

    pub fn free_base() -> u16 {
        free_base()
    }

    pub fn namesrv(&self) -> String {
        self.namesrv_addr.clone()
    }

    pub fn main_addr(&self) -> String {
        format!("{}:{}", self.host, self.base + 1)
    }

    pub fn shard_addr(&self, shard: u16) -> String {
        format!("{}:{}", self.host, self.base + 2 + shard)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let flush = match self.flush {
            Flush::Async => "ASYNC_FLUSH",
            Flush::Sync => "SYNC_FLUSH",
        };
        let mut args: Vec<String> = match &self.custom_args {
            Some(args) => args.clone(),
            None => [
                "--embeddedNamesrvPort".to_string(),
                self.base.to_string(),
                "--listenPort".into(),
                (self.base + 1).to_string(),
                "--shardListenPort".into(),
                (self.base + 2).to_string(),
                "--set".into(),
                format!("haListenPort={}", self.base + HA_PORT_OFFSET),
                "--shards".into(),
                self.shards.to_string(),
                "--flushDiskType".into(),
                flush.into(),
                "--storePathRootDir".into(),
                self.dir.join("store").to_str().unwrap().into(),
                "--mappedFileSizeCommitLog".into(),
                (8 << 20).to_string(),
                "--brokerName".into(),
                "ringmq".into(),
                "--set".into(),
                "pinShards=false".into(),
                "--set".into(),
                "ioMemoryBytes=2097152".into(),
            ]
            .into(),
        };
        for setting in &self.settings {
            args.push("--set".into());
            args.push(setting.clone());
        }
        let child = Command::new(env!("CARGO_BIN_EXE_mqbroker"))
            .args(&args)
            .env(
                "RUST_LOG",
                std::env::var("RINGMQ_TEST_LOG").unwrap_or_else(|_| "info,glommio=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn mqbroker");
        self.child = Some(child);
        self.wait_registered();
    }

    /// Waits until every shard of this process is in the name server's
    /// cluster info (under any broker id).
    fn wait_registered(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mine: Vec<String> = (0..self.shards).map(|s| self.shard_addr(s)).collect();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mqbroker exited early ({status}); log:\n{}", self.log());
            }
            if let Ok(mut c) = BlockingClient::connect(&self.namesrv(), Duration::from_millis(200))
            {
                let req = RemotingCommand::request(
                    RequestCode::GET_BROKER_CLUSTER_INFO,
                    ExtFields::new(),
                );
                if let Ok(r) = c.invoke(req, Duration::from_secs(2)) {
                    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    let registered: Vec<String> = v["brokerAddrTable"]
                        .as_object()
                        .into_iter()
                        .flat_map(|t| t.values())
                        .filter_map(|b| b["brokerAddrs"].as_object())
                        .flat_map(|a| a.values())
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect();
                    if r.code == ResponseCode::SUCCESS
                        && mine.iter().all(|a| registered.contains(a))
                    {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "broker did not register; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Sum of the per-shard cross-shard counters, from GET_BROKER_RUNTIME_INFO.
    pub fn cross_shard_requests(&self) -> u64 {
        let v = self.runtime_info(&self.main_addr());
        v["table"]["ringmqCrossShardRequests"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("cross-shard counter in runtime info")
    }

    pub fn runtime_info(&self, addr: &str) -> serde_json::Value {
        let mut c = BlockingClient::connect(addr, Duration::from_secs(2)).expect("connect");
        let req = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, ExtFields::new());
        let r = c.invoke(req, Duration::from_secs(5)).expect("runtime info");
        assert_eq!(r.code, ResponseCode::SUCCESS);
        serde_json::from_slice(&r.body).expect("runtime info json")
    }

    /// SIGTERM and wait: a clean stop (flush, checkpoint).
    pub fn stop_cleanly(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let status = child.wait().expect("wait for mqbroker");
            assert!(
                status.success(),
                "mqbroker exit: {status}; log:\n{}",
                self.log()
            );
        }
    }

    /// SIGKILL: no flush, no checkpoint.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the broker first");
        self.spawn();
    }

    pub fn stop(mut self) {
        self.stop_cleanly();
    }

    pub fn store_dir(&self) -> &Path {
        &self.dir
    }

    /// Each shard's saved `config/<name>` (`delayOffset.json`,
    /// `timerCheckpoint.json`, ...) as JSON; `Null` where there is none yet.
    pub fn shard_config_files(&self, name: &str) -> Vec<serde_json::Value> {
        (0..self.shards)
            .map(|shard| {
                let path = self.dir.join(format!("store/shard-{shard}/config/{name}"));
                std::fs::read(path)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or_default()
            })
            .collect()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!("--- broker log (last 200 lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A standalone `mqnamesrv` child process, killed on drop.
pub struct NamesrvProcess {
    child: Child,
    pub addr: String,
}

impl NamesrvProcess {
    pub fn start() -> NamesrvProcess {
        NamesrvProcess::start_with_args(&[])
    }

    /// [`NamesrvProcess::start`] with more command-line arguments.
    pub fn start_with_args(args: &[&str]) -> NamesrvProcess {
        let port = free_base();
        let child = Command::new(env!("CARGO_BIN_EXE_mqnamesrv"))
            .args(["-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mqnamesrv");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while BlockingClient::connect(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "mqnamesrv did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        NamesrvProcess { child, addr }
    }
}

impl Drop for NamesrvProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP relay on loopback whose live connections can be cut (both sockets
/// shut down), to test that replication resumes after a dropped link.
pub struct CuttableProxy {
    pub addr: String,
    live: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    cuts: u32,
}

impl CuttableProxy {
    pub fn start(upstream: String) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let live: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, s) = (live.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((down, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                down.set_nonblocking(false).unwrap();
                let Ok(up) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut live = l.lock().unwrap();
                live.push(down.try_clone().unwrap());
                live.push(up.try_clone().unwrap());
                for (mut from, mut to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        let _ = from.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        CuttableProxy {
            addr,
            live,
            stop,
            cuts: 0,
        }
    }

    /// Closes every connection relayed so far, mid-transfer or not.
    pub fn cut(&mut self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.cuts += 1;
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

/// Runs a package manager's install; Err with the reason when it failed
/// because its registry cannot be reached (one of `unreachable` in its
/// output: the only reason a test may skip), panics on any other failure.
pub fn install_client(
    install: &mut std::process::Command,
    what: &str,
    unreachable: &[&str],
) -> Result<(), String> {
    let out = install
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run the installer: {e}"));
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        unreachable.iter().any(|m| err.contains(m)),
        "{what} failed:\n{err}"
    );
    Err(format!(
        "registry unreachable for {what}: {}",
        err.lines().last().unwrap_or_default()
    ))
}

/// Runs a client script that prints one JSON object; the object.
pub fn run_json_script(cmd: &mut std::process::Command, what: &str) -> serde_json::Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The ext fields of a raw `SEND_MESSAGE` to `topic`, queue `queue_id`
/// (a string, so a test can send a malformed one).
pub fn send_fields(topic: &str, queue_id: &str) -> ExtFields {
    [
        ("producerGroup", "pg"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "4"),
        ("queueId", queue_id),
        ("sysFlag", "0"),
        ("bornTimestamp", "0"),
        ("flag", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A pull of `topic`'s queue from `offset` as `group` on shard 0 of a
/// broker named `ringmq`, with its subscription (`*`) in the request; held
/// up to `suspend_ms` when that is not 0.
pub fn pull_header(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    suspend_ms: i64,
) -> ringmq_net::header::PullMessageRequestHeader {
    use ringmq_net::header::pull_sys_flag;
    let suspend = if suspend_ms > 0 {
        pull_sys_flag::SUSPEND
    } else {
        0
    };
    ringmq_net::header::PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUBSCRIPTION | suspend,
        commit_offset: 0,
        suspend_timeout_millis: suspend_ms,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
        max_msg_bytes: None,
        request_source: None,
        proxy_forward_client_id: None,
        broker_name: Some("ringmq-0".into()),
    }
}

/// `UPDATE_AND_CREATE_TOPIC` of a read-write topic with `queues` queues.
pub fn create_topic_request(topic: &str, queues: i32) -> RemotingCommand {
    use ringmq_net::CommandHeader as _;
    RemotingCommand::request(
        RequestCode::UPDATE_AND_CREATE_TOPIC,
        ringmq_net::header::CreateTopicRequestHeader::read_write(topic, queues).to_ext_fields(),
    )
}

/// An unsigned `REGISTER_BROKER` for `broker_name` at made-up addresses:
/// what a peer hijacking a route would send.
pub fn register_request(broker_name: &str) -> RemotingCommand {
    let mut fields = ExtFields::new();
    for (k, v) in [
        ("brokerName", broker_name),
        ("brokerAddr", "127.0.0.1:1"),
        ("clusterName", "DefaultCluster"),
        ("haServerAddr", "127.0.0.1:2"),
        ("brokerId", "0"),
    ] {
        fields.insert(k.into(), v.into());
    }
    RemotingCommand::request(RequestCode::REGISTER_BROKER, fields)
}
