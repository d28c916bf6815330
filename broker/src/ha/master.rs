//! The master's side of replication: one shard's HA port, a reader and a
//! writer per slave connection, and the `SYNC_MASTER` wait. Lives on the
//! master shard; the decisions are [`super::link`]'s.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_lite::io::AsyncWriteExt;
use futures_lite::FutureExt;
use glommio::net::{TcpListener, TcpStream};
use ringmq_engine::waiters::PositionWaiters;
use ringmq_engine::CommitLogOffset;
use ringmq_engine::StoreError;
use ringmq_net::ha::{decode_report, HaError, TransferHeader, REPORT_BYTES, TRANSFER_HEADER_BYTES};

use super::link::{sync_master, LinkError, MasterLink, SlaveReports, SyncMaster};
use super::{read_within, ReadFailed};
use crate::config::HA_TRANSFER_BYTES_MAX;
use crate::shard::{now_ms, Shard};

/// A master shard's view of its slaves. Lives on the master shard.
#[derive(Default)]
pub struct HaMaster {
    links: RefCell<Vec<Rc<SlaveConnection>>>,
    /// What the slaves have reported: decides `SYNC_MASTER` sends.
    reports: Cell<SlaveReports>,
    /// Wakes `SYNC_MASTER` sends as `reports.acked` rises (its position).
    acked: PositionWaiters,
    /// When a slave last reported everything written at the time.
    caught_up_ms: Cell<i64>,
}

struct SlaveConnection {
    addr: SocketAddr,
    /// The slave's last report (its link's `ack`), for the other
    /// connections' and the lag's view.
    ack: Cell<CommitLogOffset>,
}

/// Outcome of waiting for a slave (`SYNC_MASTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// A slave reported holding the bytes.
    Yes,
    /// No slave connected, or the best one is too far behind.
    SlaveNotAvailable,
    /// No slave reported the bytes within `slaveTimeout`.
    Timeout,
}

impl HaMaster {
    /// Slaves connected now.
    pub fn slave_count(&self) -> usize {
        self.links.borrow().len()
    }

    /// Highest offset any slave has reported.
    pub fn acked_offset(&self) -> CommitLogOffset {
        self.reports.get().acked
    }

    fn best_ack(&self) -> Option<CommitLogOffset> {
        self.links.borrow().iter().map(|l| l.ack.get()).max()
    }

    /// Waits until a slave holds `sent`, the bytes a send stored.
    pub async fn wait_replicated(&self, shard: &Shard, sent: Range<CommitLogOffset>) -> Replicated {
        let decision = sync_master(
            &sent,
            &self.reports.get(),
            self.best_ack(),
            shard.store.written_offset(),
            shard.config.ha_slave_fallbehind_max_bytes,
        );
        match decision {
            SyncMaster::Replicated => return Replicated::Yes,
            SyncMaster::SlaveNotAvailable => return Replicated::SlaveNotAvailable,
            SyncMaster::Wait => {}
        }
        let timeout = Duration::from_millis(shard.config.slave_timeout_ms);
        async {
            // Reports past `sent.end` from a slave that joined empty after
            // it do not cover it.
            if self.acked.wait(sent.end.get()).await && self.reports.get().cover(&sent) {
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

    fn on_open(&self, shard: &Shard, connection: &SlaveConnection, link: &MasterLink) {
        let mut reports = self.reports.get();
        reports.on_open(link);
        self.reports.set(reports);
        self.on_report(shard, connection, link.ack());
    }

    fn on_report(&self, shard: &Shard, connection: &SlaveConnection, offset: CommitLogOffset) {
        connection.ack.set(offset);
        let mut reports = self.reports.get();
        reports.on_report(offset);
        self.reports.set(reports);
        if reports.acked.get() > self.acked.position() {
            self.acked.advance(reports.acked.get());
        }
        if offset >= shard.store.written_offset() {
            self.caught_up_ms.set(now_ms());
        }
        self.publish(shard);
    }

    /// Lag of the best slave: bytes behind the written end, and for how
    /// long it has not been caught up.
    pub fn lag(&self, shard: &Shard) -> (u64, i64) {
        let written = shard.store.written_offset();
        match self.best_ack() {
            Some(ack) if ack >= written => (0, 0),
            Some(ack) => (written - ack, now_ms() - self.caught_up_ms.get()),
            None => (
                written.get().saturating_sub(self.reports.get().acked.get()),
                0,
            ),
        }
    }

    pub(super) fn publish(&self, shard: &Shard) {
        let stats = shard.my_stats();
        let (bytes, ms) = self.lag(shard);
        stats
            .ha_slaves
            .store(self.slave_count() as u64, Ordering::Relaxed);
        // The best connected slave's offset (not the highest ever
        // reported), so a slave that restarts empty shows its catch-up.
        stats
            .ha_peer_offset
            .store(self.best_ack().unwrap_or_default().get(), Ordering::Relaxed);
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
                tracing::warn!(shard = %shard.id, error = %e, "HA accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !admitted(&shard, &stream, open.get()) {
            continue;
        }
        open.set(open.get() + 1);
        let open = open.clone();
        let shard = shard.clone();
        glommio::spawn_local(async move {
            if let Ok(addr) = stream.peer_addr() {
                let _ = stream.set_nodelay(true);
                let connection = Rc::new(SlaveConnection {
                    addr,
                    ack: Cell::new(CommitLogOffset::ZERO),
                });
                tracing::info!(shard = %shard.id, slave = %addr, "slave connected");
                let reason = serve_slave(&shard, stream, &connection).await;
                shard
                    .ha_master
                    .links
                    .borrow_mut()
                    .retain(|l| !Rc::ptr_eq(l, &connection));
                shard.ha_master.publish(&shard);
                tracing::info!(shard = %shard.id, slave = %addr, %reason, "slave connection closed");
            }
            open.set(open.get() - 1);
        })
        .detach();
    }
}

/// Whether a new HA connection may stay: with ACL on, only brokers of the
/// cluster replicate (the HA protocol carries no credentials, so the peer
/// must be in `globalWhiteRemoteAddresses`), and the port holds at most
/// [`HA_CONNECTIONS_MAX`].
fn admitted(shard: &Shard, stream: &TcpStream, open: usize) -> bool {
    if let Some(acl) = &shard.acl {
        let peer = stream.peer_addr().ok();
        if !peer.is_some_and(|p| acl.is_white(p.ip())) {
            tracing::warn!(
                shard = %shard.id,
                ?peer,
                "HA connection refused by ACL: the peer is not in globalWhiteRemoteAddresses"
            );
            return false;
        }
    }
    if open >= HA_CONNECTIONS_MAX {
        tracing::warn!(
            shard = %shard.id,
            peer = ?stream.peer_addr().ok(),
            max = HA_CONNECTIONS_MAX,
            "HA connection refused: the port holds its most connections"
        );
        return false;
    }
    true
}

/// Why a slave's connection ended: the `reason` logged when it closes.
#[derive(Debug, thiserror::Error)]
enum ServeEnd {
    /// Reading the slave's report failed, or none came in time.
    #[error(transparent)]
    Read(#[from] ReadFailed),
    /// A report that cannot be an offset.
    #[error(transparent)]
    BadReport(#[from] HaError),
    /// The slave's reports do not fit this master's log or this
    /// connection.
    #[error("{0}")]
    Link(LinkError),
    /// The commit log is poisoned: nothing more will be written.
    #[error("nothing more to send: {0}")]
    Poisoned(StoreError),
    /// The commit log stopped.
    #[error("nothing more to send: the commit log stopped")]
    LogStopped,
    #[error("heartbeat write failed: {0}")]
    HeartbeatWrite(std::io::Error),
    #[error("reading the commit log at {at}: {source}")]
    ReadLog {
        at: CommitLogOffset,
        source: StoreError,
    },
    #[error("transfer write failed: {0}")]
    TransferWrite(std::io::Error),
}

/// Serves one slave until the connection ends; returns why it ended.
async fn serve_slave(
    shard: &Rc<Shard>,
    stream: TcpStream,
    connection: &Rc<SlaveConnection>,
) -> ServeEnd {
    let (mut reader, writer) = futures_lite::io::split(stream);
    let housekeeping = Duration::from_millis(shard.config.ha_housekeeping_interval_ms);
    let first = match read_report(&mut reader, housekeeping).await {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    let opened = MasterLink::open(
        first,
        shard.store.written_offset(),
        shard.config.mapped_file_size_commit_log_bytes,
    );
    let link = match opened {
        Ok(link) => RefCell::new(link),
        Err(e) => return ServeEnd::Link(e),
    };
    let master = &shard.ha_master;
    master.links.borrow_mut().push(connection.clone());
    master.on_open(shard, connection, &link.borrow());
    tracing::info!(shard = %shard.id, slave = %connection.addr, start = %link.borrow().sent(), "replicating to slave");
    let reports = async {
        loop {
            let offset = match read_report(&mut reader, housekeeping).await {
                Ok(offset) => offset,
                Err(e) => return e,
            };
            if let Err(e) = link.borrow_mut().on_report(offset) {
                return ServeEnd::Link(e);
            }
            master.on_report(shard, connection, offset);
        }
    };
    reports.or(transfer(shard, writer, &link)).await
}

/// Streams written commit-log bytes to the slave from the link's position,
/// with a heartbeat after `haSendHeartbeatInterval` of silence; returns
/// why it stopped.
async fn transfer(
    shard: &Shard,
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    link: &RefCell<MasterLink>,
) -> ServeEnd {
    let heartbeat = Duration::from_millis(shard.config.ha_heartbeat_interval_ms);
    let batch = shard
        .config
        .ha_transfer_batch_size_bytes
        .min(HA_TRANSFER_BYTES_MAX);
    let mut packet = Vec::with_capacity(TRANSFER_HEADER_BYTES + batch);
    loop {
        let written = shard.store.written_offset();
        let Some((pos, most)) = link.borrow().next_packet(written, batch) else {
            let pos = link.borrow().sent();
            let new_data = async { Some(shard.store.wait_written(pos + 1).await) }
                .or(async {
                    glommio::timer::sleep(heartbeat).await;
                    None
                })
                .await;
            match new_data {
                Some(true) => {}
                Some(false) => {
                    return shard
                        .store
                        .poisoned()
                        .map_or(ServeEnd::LogStopped, ServeEnd::Poisoned);
                }
                None => {
                    let header = TransferHeader {
                        offset: pos.get(),
                        body_bytes: 0,
                    };
                    if let Err(e) = writer.write_all(&header.encode()).await {
                        return ServeEnd::HeartbeatWrite(e);
                    }
                }
            }
            continue;
        };
        let bytes = match shard.store.read_written(pos, most).await {
            Ok(b) => b,
            Err(source) => return ServeEnd::ReadLog { at: pos, source },
        };
        if bytes.is_empty() {
            continue;
        }
        packet.clear();
        packet.extend_from_slice(
            &TransferHeader {
                offset: pos.get(),
                body_bytes: bytes.len(),
            }
            .encode(),
        );
        packet.extend_from_slice(&bytes);
        if let Err(e) = writer.write_all(&packet).await {
            return ServeEnd::TransferWrite(e);
        }
        link.borrow_mut().record_sent(bytes.len());
    }
}

async fn read_report(
    reader: &mut futures_lite::io::ReadHalf<TcpStream>,
    housekeeping: Duration,
) -> Result<CommitLogOffset, ServeEnd> {
    let mut buf = [0u8; REPORT_BYTES];
    read_within(reader, &mut buf, housekeeping, "from the slave").await?;
    Ok(CommitLogOffset(decode_report(&buf)?))
}
