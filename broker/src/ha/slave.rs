//! The slave's side of replication: connect to the master shard's HA port,
//! report the log's end, append what arrives, report again once it is
//! stored. Lives on the slave shard; the decisions are [`super::link`]'s.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_lite::io::AsyncWriteExt;
use futures_lite::FutureExt;
use glommio::net::TcpStream;
use ringmq_engine::waiters::PositionWaiters;
use ringmq_engine::{CommitLogOffset, StoreError};
use ringmq_net::ha::{encode_report, HaError, TransferHeader, TRANSFER_HEADER_BYTES};

use super::link::SlaveLink;
use super::{read_within, ReadFailed};
use crate::config::HA_TRANSFER_BYTES_MAX;
use crate::shard::Shard;

/// Wait before reconnecting to the master (RocketMQ waits 5 s; a shorter
/// wait loses less time after a master restart and costs one connect).
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A slave shard's replication state. Lives on the slave shard.
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
    master_offset: Cell<CommitLogOffset>,
}

impl Default for HaSlave {
    fn default() -> Self {
        HaSlave {
            appending: Rc::new(glommio::sync::Semaphore::new(1)),
            connected: Cell::new(false),
            received: PositionWaiters::default(),
            master_offset: Cell::new(CommitLogOffset::ZERO),
        }
    }
}

impl HaSlave {
    fn publish(&self, shard: &Shard) {
        let stats = shard.my_stats();
        let local = shard.store.appended_offset().0;
        stats
            .ha_slaves
            .store(u64::from(self.connected.get()), Ordering::Relaxed);
        stats
            .ha_peer_offset
            .store(self.master_offset.get().get(), Ordering::Relaxed);
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
        return Some(SocketAddr::new(addr.ip(), addr.port() + shard.id.0).to_string());
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
                    shard = %shard.id,
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
                        tracing::warn!(shard = %shard.id, master = %addr, error = %e, attempts = failed_connects + 1, "cannot reach the master's HA port");
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
            Some(ReplicateEnd::Stopping)
        })
        .await;
        shard.ha_slave.connected.set(false);
        shard.ha_slave.publish(&shard);
        if let Some(reason) = outcome {
            tracing::info!(shard = %shard.id, master = %addr, %reason, "replication connection closed");
        }
        if !stop.get() {
            glommio::timer::sleep(RECONNECT_DELAY).await;
        }
    }
}

/// Why a replication connection ended: the `reason` logged when it closes.
#[derive(Debug, thiserror::Error)]
enum ReplicateEnd {
    /// The shard is stopping.
    #[error("stopping")]
    Stopping,
    /// Waiting for replicated bytes to be written (`ASYNC_FLUSH`) or
    /// durable (`SYNC_FLUSH`) failed.
    #[error("storing replicated bytes: {0}")]
    NotStored(StoreError),
    #[error("storing replicated bytes: the store task ended")]
    StoreTaskEnded,
    #[error("first report failed: {0}")]
    FirstReport(std::io::Error),
    /// Reading a transfer header failed, or none came in time.
    #[error(transparent)]
    Header(ReadFailed),
    #[error("bad transfer header: {0}")]
    BadHeader(HaError),
    #[error("transfer body: {0}")]
    Body(ReadFailed),
    #[error("append task ended")]
    AppendTaskEnded,
    /// The store refused the packet (it does not continue this log).
    #[error(transparent)]
    Refused(StoreError),
    #[error("report failed: {0}")]
    Report(std::io::Error),
}

/// Replicates over one connection until it ends; returns why it ended.
async fn replicate_from(shard: &Rc<Shard>, stream: TcpStream, addr: &str) -> ReplicateEnd {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let slave = &shard.ha_slave;
    // An append still running from the last connection finishes first.
    drop(slave.appending.acquire_permit(1).await);
    let start = shard.store.appended_offset();
    // The first report tells the master what this slave holds, and counts
    // toward its `SYNC_MASTER` sends, so it waits for the bytes as every
    // later report does.
    if let Err(e) = stored(shard, start).await {
        return e;
    }
    let link = std::cell::RefCell::new(SlaveLink::open(start));
    if let Err(e) = writer.write_all(&encode_report(start.get())).await {
        return ReplicateEnd::FirstReport(e);
    }
    slave.connected.set(true);
    slave.publish(shard);
    tracing::info!(shard = %shard.id, master = %addr, from = %start, "replicating from master");
    let housekeeping = Duration::from_millis(shard.config.ha_housekeeping_interval_ms);
    let receive = receive(shard, &mut reader, &link, housekeeping);
    let report = report(shard, &mut writer, &link);
    receive.or(report).await
}

/// Receives the master's packets and appends those that carry bytes, until
/// a read, a header or an append fails.
async fn receive(
    shard: &Rc<Shard>,
    reader: &mut futures_lite::io::ReadHalf<TcpStream>,
    link: &std::cell::RefCell<SlaveLink>,
    housekeeping: Duration,
) -> ReplicateEnd {
    let slave = &shard.ha_slave;
    let mut header = [0u8; TRANSFER_HEADER_BYTES];
    let mut body = Vec::new();
    loop {
        if let Err(e) = read_within(reader, &mut header, housekeeping, "from the master").await {
            return ReplicateEnd::Header(e);
        }
        let h = match TransferHeader::decode(&header, HA_TRANSFER_BYTES_MAX) {
            Ok(h) => h,
            Err(e) => return ReplicateEnd::BadHeader(e),
        };
        body.resize(h.body_bytes, 0);
        let read = read_within(reader, &mut body, housekeeping, "of a packet's body").await;
        if let Err(e) = read {
            return ReplicateEnd::Body(e);
        }
        let offset = CommitLogOffset(h.offset);
        let carries_bytes = link.borrow_mut().on_packet(offset, h.body_bytes);
        slave.master_offset.set(link.borrow().master_offset());
        if !carries_bytes {
            slave.publish(shard);
            continue;
        }
        match append(shard, offset, std::mem::take(&mut body)).await {
            Ok((end, packet)) => {
                body = packet;
                if end.get() > slave.received.position() {
                    slave.received.advance(end.get());
                }
            }
            Err(e) => return e,
        }
    }
}

/// Reports what this slave holds once it is stored: when more arrived, or
/// every heartbeat interval, until a report fails.
async fn report(
    shard: &Rc<Shard>,
    writer: &mut futures_lite::io::WriteHalf<TcpStream>,
    link: &std::cell::RefCell<SlaveLink>,
) -> ReplicateEnd {
    let slave = &shard.ha_slave;
    let heartbeat = Duration::from_millis(shard.config.ha_heartbeat_interval_ms);
    loop {
        let reported = link.borrow().reported();
        let grew = async { slave.received.wait(reported.get() + 1).await }
            .or(async {
                glommio::timer::sleep(heartbeat).await;
                false
            })
            .await;
        let end = shard.store.appended_offset();
        if grew || end > reported {
            if let Err(e) = stored(shard, end).await {
                return e;
            }
            // Held pulls may now find the new records.
            shard.signals.fire_all();
        }
        let next = link.borrow_mut().report(end);
        if let Err(e) = writer.write_all(&encode_report(next.get())).await {
            return ReplicateEnd::Report(e);
        }
        slave.publish(shard);
    }
}

/// Appends one packet at `offset`, in a task of its own so a dropped
/// connection cannot cancel an append halfway (the next connection waits
/// for it). Returns the log's new end and the packet's buffer for reuse.
async fn append(
    shard: &Shard,
    offset: CommitLogOffset,
    packet: Vec<u8>,
) -> Result<(CommitLogOffset, Vec<u8>), ReplicateEnd> {
    let store = shard.store.clone();
    let lock = shard.ha_slave.appending.clone();
    let appended = glommio::spawn_local(async move {
        let _permit = lock.acquire_static_permit(1).await;
        let result = store.append_replica(offset, &packet).await;
        (result, packet)
    })
    .detach()
    .await;
    let Some((result, packet)) = appended else {
        return Err(ReplicateEnd::AppendTaskEnded);
    };
    match result {
        Ok(end) => Ok((end, packet)),
        Err(e) => {
            tracing::error!(shard = %shard.id, error = %e, "replicated bytes refused");
            Err(ReplicateEnd::Refused(e))
        }
    }
}

/// Waits until the slave's log up to `end` is written (`ASYNC_FLUSH`) or
/// durable (`SYNC_FLUSH`), in a task of its own: the connection's tasks
/// are dropped when it closes, and a write or flush must never be.
async fn stored(shard: &Rc<Shard>, end: CommitLogOffset) -> Result<(), ReplicateEnd> {
    let store = shard.store.clone();
    glommio::spawn_local(
        async move { store.wait_acked(end).await.map_err(ReplicateEnd::NotStored) },
    )
    .detach()
    .await
    .unwrap_or(Err(ReplicateEnd::StoreTaskEnded))
}
