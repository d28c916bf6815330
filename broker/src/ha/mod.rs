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
//!
//! The decisions live in [`link`] as plain state machines, so the
//! deterministic simulation (`broker/tests/ha_sim.rs`) drives the same code
//! the tasks do.
//!
//! Files: [`link`] (decisions), `master` and `slave` (the tasks over TCP),
//! `metadata` (the slave's copy of its master's metadata).

pub mod link;
mod master;
mod metadata;
mod slave;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::io::AsyncReadExt;
use futures_lite::FutureExt;
use glommio::net::TcpStream;

pub use master::{run_master, HaMaster, Replicated, HA_CONNECTIONS_MAX};
pub use metadata::{run_metadata_sync, METADATA_SYNC_INTERVAL};
pub use slave::{run_slave, HaSlave, RECONNECT_DELAY};

use crate::shard::Shard;

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

/// Why [`read_within`] did not fill its buffer.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadFailed {
    /// The read failed, or the peer closed the connection.
    #[error(transparent)]
    Io(std::io::Error),
    /// Nothing came within the limit.
    #[error("nothing {what} for {limit:?}")]
    Silent { what: &'static str, limit: Duration },
}

/// Fills `buf` from the peer, or fails once `limit` passes with nothing
/// (`what`: whose bytes, for the reason).
pub(super) async fn read_within(
    reader: &mut futures_lite::io::ReadHalf<TcpStream>,
    buf: &mut [u8],
    limit: Duration,
    what: &'static str,
) -> Result<(), ReadFailed> {
    async { reader.read_exact(buf).await.map_err(ReadFailed::Io) }
        .or(async {
            glommio::timer::sleep(limit).await;
            Err(ReadFailed::Silent { what, limit })
        })
        .await
}

/// Logs each shard's replication lag every interval while it has a peer.
pub async fn run_lag_log(shard: Rc<Shard>, stop: Rc<Cell<bool>>) {
    const EVERY: Duration = Duration::from_secs(10);
    while !stop.get() {
        glommio::timer::sleep(EVERY).await;
        let stats = shard.my_stats();
        if shard.config.is_slave() {
            tracing::info!(
                shard = %shard.id,
                connected = shard.ha_slave.connected.get(),
                local_end = shard.store.appended_offset().0,
                master_offset = stats.ha_peer_offset.load(Ordering::Relaxed),
                "replication from master (the master reports the lag)"
            );
        } else if shard.ha_master.slave_count() > 0 {
            let (bytes, ms) = shard.ha_master.lag(&shard);
            tracing::info!(
                shard = %shard.id,
                slaves = shard.ha_master.slave_count(),
                written = %shard.store.written_offset(),
                slave_ack = %shard.ha_master.acked_offset(),
                lag_bytes = bytes,
                lag_ms = ms,
                "replication to slaves"
            );
        }
    }
}

/// Shared with the registration thread: one [`MasterInfo`] per shard.
pub type MasterInfos = Arc<Vec<MasterInfo>>;
