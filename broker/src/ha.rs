//! Master/slave replication of one shard's commit log, RocketMQ's classic
//! HA (spec ha-and-cluster §3–§4) over `haListenPort + shard`.
//!
//! * Master: each slave connection gets a reader (the slave's 8-byte
//!   reports: where to start, then how far it holds) and a writer that
//!   streams written commit-log bytes from there, in packets of at most
//!   `haTransferBatchSize`, with a zero-length heartbeat after
//!   `haSendHeartbeatInterval` of silence. Transfer never waits for a
//!   slave's report: many sends are in flight at once, and one report
//!   releases every `SYNC_MASTER` send it covers.
//! * Slave: connects to the master's HA address (configured, or from the
//!   name server's answer to registration), reports its log end, appends
//!   what arrives with [`ringmq_engine::store::ShardStore::append_replica`] and reports again
//!   once the bytes are written (`ASYNC_FLUSH`) or fdatasync'd
//!   (`SYNC_FLUSH`). A dropped or silent connection is reopened after
//!   [`RECONNECT_DELAY`] and resumes at the slave's end: no gap, no
//!   duplicate, because the master sends from exactly the reported offset.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::FutureExt;
use glommio::net::{TcpListener, TcpStream};
use ringmq_engine::waiters::PositionWaiters;
use ringmq_net::ha::{
    decode_report, encode_report, TransferHeader, REPORT_BYTES, TRANSFER_HEADER_BYTES,
};

use crate::config::HA_TRANSFER_BYTES_MAX;
use crate::shard::{now_ms, Shard};

/// Wait before reconnecting to the master (RocketMQ waits 5 s; a shorter
/// wait loses less time after a master restart and costs one connect).
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Who this slave shard replicates from, as the name server last said
/// (filled by the registration thread).
#[derive(Default)]
pub struct MasterInfo {
    inner: Mutex<MasterAddrs>,
}

#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct MasterAddrs {
    /// The master shard's remoting address (metadata sync).
    pub master_addr: Option<String>,
    /// The master shard's HA address.
    pub ha_addr: Option<String>,
}

impl MasterInfo {
    pub fn get(&self) -> MasterAddrs {
        self.inner.lock().expect("master info lock").clone()
    }

    pub fn set(&self, addrs: MasterAddrs) {
        let mut inner = self.inner.lock().expect("master info lock");
        if *inner != addrs {
            tracing::info!(?addrs, "master addresses from the name server");
            *inner = addrs;
        }
    }
}

/// A master shard's view of its slaves.
#[derive(Default)]
pub struct HaMaster {
    links: RefCell<Vec<Rc<SlaveLink>>>,
    /// Highest offset any slave has reported (RocketMQ's
    /// `push2SlaveMaxOffset`); `SYNC_MASTER` sends wait on it.
    acked: PositionWaiters,
    /// When a slave last reported everything written at the time.
    caught_up_ms: Cell<i64>,
}

struct SlaveLink {
    addr: SocketAddr,
    ack: Cell<u64>,
}

/// Outcome of waiting for a slave (`SYNC_MASTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    Yes,
    /// No slave connected, or the best one is too far behind.
    SlaveNotAvailable,
    /// No slave reported the bytes within `slaveTimeout`.
    Timeout,
}

impl HaMaster {
    pub fn slave_count(&self) -> usize {
        self.links.borrow().len()
    }

    pub fn acked_offset(&self) -> u64 {
        self.acked.position()
    }

    /// Waits until a slave holds everything before `end`.
    pub async fn wait_replicated(&self, shard: &Shard, end: u64) -> Replicated {
        if self.acked.position() >= end {
            return Replicated::Yes;
        }
        let written = shard.store.written_offset().0;
        let best = self.links.borrow().iter().map(|l| l.ack.get()).max();
        match best {
            None => return Replicated::SlaveNotAvailable,
            Some(ack) if written.saturating_sub(ack) >= shard.config.ha_slave_fallbehind_max => {
                return Replicated::SlaveNotAvailable
            }
            Some(_) => {}
        }
        let timeout = Duration::from_millis(shard.config.slave_timeout_ms);
        async {
            if self.acked.wait(end).await {
                Replicated::Yes
            } else {
                Replicated::SlaveNotAvailable
            }
        }
        .or(async {
            glommio::timer::sleep(timeout).await;
            Replicated::Timeout
        })
        .await
    }

    fn on_report(&self, shard: &Shard, link: &SlaveLink, offset: u64) {
        link.ack.set(offset);
        if offset > self.acked.position() {
            self.acked.advance(offset);
        }
        if offset >= shard.store.written_offset().0 {
            self.caught_up_ms.set(now_ms());
        }
        self.publish(shard);
    }

    /// Lag of the best slave: bytes behind the written end, and for how
    /// long it has not been caught up.
    pub fn lag(&self, shard: &Shard) -> (u64, i64) {
        let written = shard.store.written_offset().0;
        let best = self.links.borrow().iter().map(|l| l.ack.get()).max();
        match best {
            Some(ack) if ack >= written => (0, 0),
            Some(ack) => (written - ack, now_ms() - self.caught_up_ms.get()),
            None => (written.saturating_sub(self.acked.position()), 0),
        }
    }

    fn publish(&self, shard: &Shard) {
        let stats = shard.my_stats();
        let (bytes, ms) = self.lag(shard);
        stats
            .ha_slaves
            .store(self.slave_count() as u64, Ordering::Relaxed);
        // The best connected slave's offset (not the highest ever
        // reported), so a slave that restarts empty shows its catch-up.
        let best = self.links.borrow().iter().map(|l| l.ack.get()).max();
        stats
            .ha_peer_offset
            .store(best.unwrap_or(0), Ordering::Relaxed);
        stats.ha_lag_bytes.store(bytes, Ordering::Relaxed);
        stats.ha_lag_ms.store(ms.max(0) as u64, Ordering::Relaxed);
    }
}

/// Most connections a master shard's HA port holds at once (RocketMQ has
/// no limit; a master has one or two slaves, and each connection costs a
/// packet buffer of up to `haTransferBatchSize`).
pub const HA_CONNECTIONS_MAX: usize = 16;

/// Accepts this master shard's slaves until `stop`.
pub async fn run_master(shard: Rc<Shard>, listener: TcpListener, stop: Rc<Cell<bool>>) {
    let open = Rc::new(Cell::new(0usize));
    while !stop.get() {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "HA accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // With ACL on, only brokers of the cluster replicate: the HA
        // protocol carries no credentials, so the peer must be in
        // `globalWhiteRemoteAddresses`.
        if let Some(acl) = &shard.acl {
            let peer = stream.peer_addr().ok();
            if !peer.is_some_and(|p| acl.is_white(p.ip())) {
                tracing::warn!(
                    shard = shard.id,
                    ?peer,
                    "HA connection refused by ACL: the peer is not in globalWhiteRemoteAddresses"
                );
                continue;
            }
        }
        if open.get() >= HA_CONNECTIONS_MAX {
            tracing::warn!(
                shard = shard.id,
                peer = ?stream.peer_addr().ok(),
                max = HA_CONNECTIONS_MAX,
                "HA connection refused: the port holds its most connections"
            );
            continue;
        }
        open.set(open.get() + 1);
        let open = open.clone();
        let shard = shard.clone();
        glommio::spawn_local(async move {
            let addr = match stream.peer_addr() {
                Ok(a) => a,
                Err(_) => {
                    open.set(open.get() - 1);
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let link = Rc::new(SlaveLink {
                addr,
                ack: Cell::new(0),
            });
            tracing::info!(shard = shard.id, slave = %addr, "slave connected");
            let reason = serve_slave(&shard, stream, &link).await;
            shard
                .ha_master
                .links
                .borrow_mut()
                .retain(|l| !Rc::ptr_eq(l, &link));
            shard.ha_master.publish(&shard);
            tracing::info!(shard = shard.id, slave = %addr, %reason, "slave connection closed");
            open.set(open.get() - 1);
        })
        .detach();
    }
}

async fn serve_slave(shard: &Rc<Shard>, stream: TcpStream, link: &Rc<SlaveLink>) -> String {
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let housekeeping = Duration::from_millis(shard.config.ha_housekeeping_interval_ms);
    let first = match read_report(&mut reader, housekeeping).await {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    let written = shard.store.written_offset().0;
    let seg = shard.config.mapped_file_size_commit_log;
    let start = if first == 0 {
        // An empty slave starts at the master's last segment; older data is
        // not replicated (as in RocketMQ).
        written - written % seg
    } else {
        first
    };
    if start > written {
        return format!(
            "slave reports offset {start}, past this master's end {written}: the logs have diverged"
        );
    }
    link.ack.set(first);
    shard.ha_master.links.borrow_mut().push(link.clone());
    shard.ha_master.on_report(shard, link, first);
    tracing::info!(shard = shard.id, slave = %link.addr, start, "replicating to slave");
    // End of what this connection has sent: a slave cannot hold more, so a
    // report past it is a broken slave, never a reason to acknowledge a
    // `SYNC_MASTER` send.
    let sent = Cell::new(start);
    let reports = async {
        loop {
            match read_report(&mut reader, housekeeping).await {
                Ok(offset) if offset > sent.get() => {
                    return format!(
                        "slave reports offset {offset}, past the {} this connection has sent",
                        sent.get()
                    )
                }
                Ok(offset) => shard.ha_master.on_report(shard, link, offset),
                Err(e) => return e,
            }
        }
    };
    let transfer = async {
        let heartbeat = Duration::from_millis(shard.config.ha_heartbeat_interval_ms);
        let batch = shard
            .config
            .ha_transfer_batch_size
            .min(HA_TRANSFER_BYTES_MAX);
        let mut pos = start;
        let mut packet = Vec::with_capacity(TRANSFER_HEADER_BYTES + batch);
        loop {
            if shard.store.written_offset().0 <= pos {
                let new_data = async { Some(shard.store.wait_written(pos + 1).await) }
                    .or(async {
                        glommio::timer::sleep(heartbeat).await;
                        None
                    })
                    .await;
                if new_data == Some(false) {
                    let why = shard
                        .store
                        .poisoned()
                        .map_or_else(|| "the commit log stopped".to_string(), |e| e.to_string());
                    return format!("nothing more to send: {why}");
                }
                if new_data.is_none() {
                    let header = TransferHeader {
                        offset: pos,
                        body_bytes: 0,
                    };
                    if let Err(e) = writer.write_all(&header.encode()).await {
                        return format!("heartbeat write failed: {e}");
                    }
                    continue;
                }
            }
            let bytes = match shard.store.read_written(pos, batch).await {
                Ok(b) => b,
                Err(e) => return format!("reading the commit log at {pos}: {e}"),
            };
            if bytes.is_empty() {
                continue;
            }
            packet.clear();
            packet.extend_from_slice(
                &TransferHeader {
                    offset: pos,
                    body_bytes: bytes.len(),
                }
                .encode(),
            );
            packet.extend_from_slice(&bytes);
            if let Err(e) = writer.write_all(&packet).await {
                return format!("transfer write failed: {e}");
            }
            pos += bytes.len() as u64;
            sent.set(pos);
        }
    };
    reports.or(transfer).await
}

async fn read_report(
    reader: &mut futures_lite::io::ReadHalf<TcpStream>,
    housekeeping: Duration,
) -> Result<u64, String> {
    let mut buf = [0u8; REPORT_BYTES];
    read_within(reader, &mut buf, housekeeping, "from the slave").await?;
    decode_report(&buf).map_err(|e| e.to_string())
}

/// Fills `buf` from the peer, or fails once `limit` passes with nothing
/// (`what`: whose bytes, for the reason).
async fn read_within(
    reader: &mut futures_lite::io::ReadHalf<TcpStream>,
    buf: &mut [u8],
    limit: Duration,
    what: &str,
) -> Result<(), String> {
    async { reader.read_exact(buf).await.map_err(|e| e.to_string()) }
        .or(async {
            glommio::timer::sleep(limit).await;
            Err(format!("nothing {what} for {limit:?}"))
        })
        .await
}

/// A slave shard's replication state.
pub struct HaSlave {
    /// Held by the task appending a packet.
    appending: Rc<glommio::sync::Semaphore>,
    /// Connected to the master's HA port right now.
    pub connected: Cell<bool>,
    /// End of what has arrived (advanced after each appended packet).
    received: PositionWaiters,
    /// The master's transfer position in the last packet or heartbeat.
    /// The protocol does not carry the master's end, so the lag is
    /// measured on the master.
    master_offset: Cell<u64>,
}

impl Default for HaSlave {
    fn default() -> Self {
        HaSlave {
            appending: Rc::new(glommio::sync::Semaphore::new(1)),
            connected: Cell::new(false),
            received: PositionWaiters::default(),
            master_offset: Cell::new(0),
        }
    }
}

impl HaSlave {
    fn publish(&self, shard: &Shard) {
        let stats = shard.my_stats();
        let local = shard.store.appended_offset().0;
        stats
            .ha_slaves
            .store(self.connected.get() as u64, Ordering::Relaxed);
        stats
            .ha_peer_offset
            .store(self.master_offset.get(), Ordering::Relaxed);
        stats.ha_local_offset.store(local, Ordering::Relaxed);
    }
}

fn master_ha_addr(shard: &Shard) -> Option<String> {
    if let Some(base) = &shard.config.ha_master_address {
        let addr: SocketAddr = match base.parse() {
            Ok(a) => a,
            Err(_) => {
                tracing::error!(haMasterAddress = %base, "not host:port; replication cannot start");
                return None;
            }
        };
        return Some(SocketAddr::new(addr.ip(), addr.port() + shard.id).to_string());
    }
    shard.master_info().get().ha_addr
}

/// Replicates this slave shard from its master until `stop`.
pub async fn run_slave(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    let mut announced_wait = false;
    let mut failed_connects = 0u32;
    while !stop.get() {
        let Some(addr) = master_ha_addr(&shard) else {
            if !announced_wait {
                tracing::info!(
                    shard = shard.id,
                    "no master HA address yet; waiting for the name server"
                );
                announced_wait = true;
            }
            glommio::timer::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let outcome = async {
            match TcpStream::connect(addr.as_str()).await {
                Ok(stream) => {
                    failed_connects = 0;
                    Some(replicate_from(&shard, stream, &addr).await)
                }
                Err(e) => {
                    // Once a minute while the master stays away.
                    if failed_connects.is_multiple_of(60) {
                        tracing::warn!(shard = shard.id, master = %addr, error = %e, attempts = failed_connects + 1, "cannot reach the master's HA port");
                    }
                    failed_connects += 1;
                    None
                }
            }
        }
        .or(async {
            while !stop.get() {
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
            Some("stopping".to_string())
        })
        .await;
        shard.ha_slave.connected.set(false);
        shard.ha_slave.publish(&shard);
        if let Some(reason) = outcome {
            tracing::info!(shard = shard.id, master = %addr, %reason, "replication connection closed");
        }
        if !stop.get() {
            glommio::timer::sleep(RECONNECT_DELAY).await;
        }
    }
}

async fn replicate_from(shard: &Rc<Shard>, stream: TcpStream, addr: &str) -> String {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let slave = &shard.ha_slave;
    // An append still running from the last connection finishes first.
    drop(slave.appending.acquire_permit(1).await);
    let start = shard.store.appended_offset().0;
    // The first report tells the master what this slave holds, and counts
    // toward its `SYNC_MASTER` sends, so it waits for the bytes as every
    // later report does.
    if let Err(e) = stored(shard, start).await {
        return format!("storing replicated bytes: {e}");
    }
    if let Err(e) = writer.write_all(&encode_report(start)).await {
        return format!("first report failed: {e}");
    }
    slave.connected.set(true);
    slave.publish(shard);
    tracing::info!(shard = shard.id, master = %addr, from = start, "replicating from master");
    let housekeeping = Duration::from_millis(shard.config.ha_housekeeping_interval_ms);
    let receive = async {
        let mut header = [0u8; TRANSFER_HEADER_BYTES];
        let mut body = Vec::new();
        loop {
            if let Err(e) =
                read_within(&mut reader, &mut header, housekeeping, "from the master").await
            {
                return e;
            }
            let h = match TransferHeader::decode(&header, HA_TRANSFER_BYTES_MAX) {
                Ok(h) => h,
                Err(e) => return format!("bad transfer header: {e}"),
            };
            body.resize(h.body_bytes, 0);
            let read =
                read_within(&mut reader, &mut body, housekeeping, "of a packet's body").await;
            if let Err(e) = read {
                return format!("transfer body: {e}");
            }
            slave.master_offset.set(
                slave
                    .master_offset
                    .get()
                    .max(h.offset + h.body_bytes as u64),
            );
            if h.body_bytes == 0 {
                slave.publish(shard);
                continue;
            }
            // In a task of its own, so a dropped connection cannot cancel an
            // append halfway; the next connection waits for it.
            let store = shard.store.clone();
            let lock = slave.appending.clone();
            let packet = std::mem::take(&mut body);
            let appended = glommio::spawn_local(async move {
                let _permit = lock.acquire_static_permit(1).await;
                let result = store.append_replica(h.offset, &packet).await;
                (result, packet)
            })
            .detach()
            .await;
            let Some((result, packet)) = appended else {
                return "append task ended".to_string();
            };
            body = packet;
            match result {
                Ok(end) => {
                    if end > slave.received.position() {
                        slave.received.advance(end);
                    }
                }
                Err(e) => {
                    tracing::error!(shard = shard.id, error = %e, "replicated bytes refused");
                    return e.to_string();
                }
            }
        }
    };
    let report = async {
        let heartbeat = Duration::from_millis(shard.config.ha_heartbeat_interval_ms);
        let mut reported = start;
        loop {
            let grew = async { slave.received.wait(reported + 1).await }
                .or(async {
                    glommio::timer::sleep(heartbeat).await;
                    false
                })
                .await;
            let end = shard.store.appended_offset().0;
            if grew || end > reported {
                if let Err(e) = stored(shard, end).await {
                    return format!("storing replicated bytes: {e}");
                }
                // Held pulls may now find the new records.
                shard.signals.fire_all();
            }
            let end = end.max(reported);
            if let Err(e) = writer.write_all(&encode_report(end)).await {
                return format!("report failed: {e}");
            }
            reported = end;
            slave.publish(shard);
        }
    };
    receive.or(report).await
}

/// Waits until the slave's log up to `end` is written (`ASYNC_FLUSH`) or
/// durable (`SYNC_FLUSH`), in a task of its own: the connection's tasks
/// are dropped when it closes, and a write or flush must never be.
async fn stored(shard: &Rc<Shard>, end: u64) -> Result<(), String> {
    let store = shard.store.clone();
    glommio::spawn_local(async move {
        store
            .wait_acked(ringmq_engine::CommitLogOffset(end))
            .await
            .map_err(|e| e.to_string())
    })
    .detach()
    .await
    .unwrap_or_else(|| Err("the store task ended".to_string()))
}

/// `SlaveSynchronize`: how often a slave copies its master's topic table,
/// consumer offsets and delay offsets (RocketMQ 4.x: every 10 s).
pub const METADATA_SYNC_INTERVAL: Duration = Duration::from_secs(10);
const METADATA_RPC_TIMEOUT: Duration = Duration::from_secs(3);

/// Slave: copies the master shard's consumer offsets, delay-level
/// progress and timer checkpoint (and, on shard 0, the broker's topic table and subscription
/// groups) soon after start
/// and then every [`METADATA_SYNC_INTERVAL`].
pub async fn run_metadata_sync(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    let mut client: Option<(String, ringmq_net::pipelined::PipelinedClient)> = None;
    let mut wait = Duration::from_secs(1);
    let mut failures = 0u32;
    while !stop.get() {
        glommio::timer::sleep(wait).await;
        let Some(master) = shard.master_info().get().master_addr else {
            wait = Duration::from_secs(1);
            continue;
        };
        if client.as_ref().is_none_or(|(addr, _)| *addr != master) {
            client = Some((
                master.clone(),
                ringmq_net::pipelined::PipelinedClient::new(master.clone()),
            ));
        }
        let (_, c) = client.as_ref().expect("set above");
        match sync_metadata(&shard, c).await {
            Ok(()) => {
                failures = 0;
                wait = METADATA_SYNC_INTERVAL;
            }
            Err(e) => {
                if failures.is_multiple_of(12) {
                    tracing::warn!(shard = shard.id, master = %master, error = %e, "metadata sync failed");
                }
                failures += 1;
                client = None;
                wait = Duration::from_secs(1).max(METADATA_SYNC_INTERVAL / 5);
            }
        }
    }
}

async fn sync_metadata(
    shard: &Shard,
    client: &ringmq_net::pipelined::PipelinedClient,
) -> Result<(), String> {
    use ringmq_net::{RemotingCommand, RequestCode, ResponseCode};
    let call = |code: i32| async move {
        let response = async {
            client
                .invoke(RemotingCommand::request(code, Default::default()))
                .await
        }
        .or(async {
            glommio::timer::sleep(METADATA_RPC_TIMEOUT).await;
            Err(format!(
                "no answer to request {code} in {METADATA_RPC_TIMEOUT:?}"
            ))
        })
        .await?;
        if response.code != ResponseCode::SUCCESS {
            return Err(format!(
                "request {code}: code {} {:?}",
                response.code, response.remark
            ));
        }
        Ok(response.body)
    };
    if shard.id == 0 {
        // A slave mirrors its master shard for shard: the counts must match.
        let body = call(RequestCode::GET_BROKER_RUNTIME_INFO).await?;
        let info: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("runtime info: {e}"))?;
        let master_shards = info["table"]["ringmqShards"]
            .as_str()
            .and_then(|s| s.parse::<u16>().ok());
        if let Some(n) = master_shards.filter(|n| *n != shard.config.shards) {
            tracing::error!(
                master_shards = n,
                slave_shards = shard.config.shards,
                "this slave's shard count differs from its master's; shards without a counterpart are not replicated (create the slave's store with the master's count)"
            );
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct AllTopics {
            topic_config_table: std::collections::BTreeMap<String, crate::topics::TopicConfig>,
        }
        let body = call(RequestCode::GET_ALL_TOPIC_CONFIG).await?;
        let all: AllTopics =
            serde_json::from_slice(&body).map_err(|e| format!("topic table: {e}"))?;
        if shard
            .topics
            .replace_from_master(all.topic_config_table)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!(shard = shard.id, "topic table copied from the master");
        }
        // Copied on its own: a master that does not serve it (an older
        // one) must not stop the rest of the sync.
        let groups = async {
            let body = call(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
            shard.groups.replace_from_master(&body).await
        };
        match groups.await {
            Ok(true) => tracing::info!(
                shard = shard.id,
                "subscription groups copied from the master"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "subscription groups not copied")
            }
        }
        let modes = async {
            let body = call(RequestCode::GET_ALL_MESSAGE_REQUEST_MODE).await?;
            shard.request_modes.replace_from_master(&body)
        };
        match modes.await {
            Ok(true) => tracing::info!(
                shard = shard.id,
                "message request modes copied from the master"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "message request modes not copied")
            }
        }
    }
    let body = call(RequestCode::GET_ALL_CONSUMER_OFFSET).await?;
    if shard
        .offsets
        .replace_from_master(&body)
        .map_err(|e| format!("consumer offsets: {e}"))?
    {
        tracing::debug!(shard = shard.id, "consumer offsets copied from the master");
    }
    // Scheduling state, each copied on its own (see the groups above).
    let delay = async {
        let body = call(RequestCode::GET_ALL_DELAY_OFFSET).await?;
        shard.schedule.replace_from_master(&body)
    };
    if let Err(e) = delay.await {
        tracing::warn!(shard = shard.id, error = %e, "delay offsets not copied");
    }
    let timer = async {
        let body = call(RequestCode::GET_TIMER_CHECK_POINT).await?;
        shard.timers.replace_from_master(&body)
    };
    if let Err(e) = timer.await {
        tracing::warn!(shard = shard.id, error = %e, "timer checkpoint not copied");
    }
    Ok(())
}

/// Logs each shard's replication lag every interval while it has a peer.
pub async fn run_lag_log(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    const EVERY: Duration = Duration::from_secs(10);
    while !stop.get() {
        glommio::timer::sleep(EVERY).await;
        let stats = shard.my_stats();
        if shard.config.is_slave() {
            tracing::info!(
                shard = shard.id,
                connected = shard.ha_slave.connected.get(),
                local_end = shard.store.appended_offset().0,
                master_offset = stats.ha_peer_offset.load(Ordering::Relaxed),
                "replication from master (the master reports the lag)"
            );
        } else if shard.ha_master.slave_count() > 0 {
            let (bytes, ms) = shard.ha_master.lag(&shard);
            tracing::info!(
                shard = shard.id,
                slaves = shard.ha_master.slave_count(),
                written = shard.store.written_offset().0,
                slave_ack = shard.ha_master.acked_offset(),
                lag_bytes = bytes,
                lag_ms = ms,
                "replication to slaves"
            );
        }
    }
}

/// Shared with the registration thread: one [`MasterInfo`] per shard.
pub type MasterInfos = Arc<Vec<MasterInfo>>;
