//! The store's background duties on its shard: the `ASYNC_FLUSH` interval
//! flush, preparing the next segment ahead of need, checkpoints and
//! retention. Runs as one glommio task on the shard that owns the store.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::config::FlushMode;
use crate::disk::Disk;
use crate::store::ShardStore;

/// How often the loop wakes to look at its duties.
const TICK_MS: u64 = 10;
/// `cleanResourceInterval`.
const RETENTION_INTERVAL_MS: u64 = 10_000;

/// Runs until `stop` is set, then returns (the caller then calls
/// [`ShardStore::shutdown`]). A failed duty is logged; a poisoned log stops
/// the flushes but the loop keeps checkpointing nothing and exits on stop.
pub async fn run_background<D: Disk>(store: Rc<ShardStore<D>>, stop: Rc<Cell<bool>>) {
    let config = store.config().clone();
    let mut last_flush = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut last_retention = Instant::now();
    while !stop.get() {
        glommio::timer::sleep(Duration::from_millis(TICK_MS)).await;
        if store.poisoned().is_some() {
            continue;
        }
        if let Err(e) = store.prepare_ahead().await {
            tracing::warn!(shard = %config.shard, error = %e, "preparing the next segment failed");
        }
        if config.flush_mode == FlushMode::Async && flush_due(&store, last_flush) {
            last_flush = Instant::now();
            if let Err(e) = store.flush().await {
                tracing::error!(shard = %config.shard, error = %e, "interval flush failed");
            }
        }
        if last_checkpoint.elapsed() >= Duration::from_millis(config.checkpoint_interval_ms) {
            last_checkpoint = Instant::now();
            if let Err(e) = store.checkpoint(false).await {
                tracing::warn!(shard = %config.shard, error = %e, "checkpoint failed");
            }
        }
        if last_retention.elapsed() >= Duration::from_millis(RETENTION_INTERVAL_MS) {
            last_retention = Instant::now();
            match store.enforce_retention().await {
                Ok(report) if report.segments_deleted > 0 || report.disk_full => {
                    tracing::info!(shard = %config.shard, ?report, "retention");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(shard = %config.shard, error = %e, "retention failed"),
            }
        }
    }
}

/// `ASYNC_FLUSH`: the interval has passed, or at least
/// [`crate::config::StoreConfig::flush_least_bytes`] are written and not
/// yet durable.
fn flush_due<D: Disk>(store: &ShardStore<D>, last_flush: Instant) -> bool {
    let config = store.config();
    let pending = (store.written_offset().get()).saturating_sub(store.durable_offset().get());
    last_flush.elapsed() >= Duration::from_millis(config.flush_interval_ms)
        || (config.flush_least_bytes > 0 && pending >= config.flush_least_bytes)
}
