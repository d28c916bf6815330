//! Storage-engine throughput on the real disk through glommio:
//! append of 1 KiB messages, single and in batches of 32, under ASYNC_FLUSH
//! and SYNC_FLUSH, buffered and with direct I/O, and reads of a hot queue.
//!
//! Each measurement runs on one glommio executor (one shard) with the
//! store's background task (segment preparation, interval flush) running
//! beside it, as in the broker, and 8 appenders (connections) run
//! concurrently, each waiting for its acknowledgement before the next send,
//! so group commit has something to group.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use ringmq_engine::QueueId;
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use ringmq_engine::background::run_background;
use ringmq_engine::disk::glommio_disk::GlommioDisk;
use ringmq_engine::store::system_clock;
use ringmq_engine::{
    AppendedRecord, FlushGate, FlushMode, MessageIn, QueueOffset, ShardStore, StoreConfig,
};

const BODY_BYTES: usize = 1024;
const BATCH: usize = 32;
const APPENDERS: usize = 8;

fn bench_dir(name: &str) -> PathBuf {
    let base = std::env::var("RINGMQ_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/bench-store"));
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn executor() -> LocalExecutor {
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(16 << 20)
        .make()
        .expect("executor")
}

fn msg(body: &[u8], queue_id: i32) -> MessageIn<'_> {
    let host = SocketAddr::from(([127, 0, 0, 1], 1));
    MessageIn {
        topic: "BenchTopic",
        queue_id: QueueId(queue_id),
        flag: 0,
        body,
        properties: b"TAGS\x01TagA\x02",
        sys_flag: 0,
        born_timestamp_ms: 1,
        born_host: host,
        store_host: host,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

struct Open {
    store: Rc<ShardStore<GlommioDisk>>,
    stop: Rc<Cell<bool>>,
}

fn open(ex: &LocalExecutor, name: &str, mode: FlushMode) -> Open {
    open_with(ex, name, mode, false)
}

fn open_with(ex: &LocalExecutor, name: &str, mode: FlushMode, direct: bool) -> Open {
    let mut config = StoreConfig::new(bench_dir(name));
    config.flush_mode = mode;
    config.direct_io = direct;
    config.index_enable = false;
    config.segment_size_bytes = 256 << 20;
    // Zero-fill as the broker sets it (SYNC_FLUSH only), unless
    // RINGMQ_BENCH_PREWRITE=0/1 says otherwise.
    config.prewrite_segments = match std::env::var("RINGMQ_BENCH_PREWRITE").as_deref() {
        Ok("1") => true,
        Ok(_) => false,
        Err(_) => mode == FlushMode::Sync,
    };
    ex.run(async move {
        let store = Rc::new(
            ShardStore::open(GlommioDisk, config, FlushGate::new(), system_clock())
                .await
                .unwrap(),
        );
        let stop = Rc::new(Cell::new(false));
        glommio::spawn_local(run_background(store.clone(), stop.clone())).detach();
        Open { store, stop }
    })
}

fn close(ex: &LocalExecutor, open: Open) {
    open.stop.set(true);
    let dir = open.store.config().root.clone();
    ex.run(async move {
        glommio::timer::sleep(Duration::from_millis(20)).await;
        open.store.shutdown().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `iters` appends of `batch` messages with `appenders` concurrent
/// tasks, each waiting for its acknowledgement.
fn appends(
    ex: &LocalExecutor,
    store: &Rc<ShardStore<GlommioDisk>>,
    iters: u64,
    batch: usize,
    appenders: usize,
) -> Duration {
    let store = store.clone();
    ex.run(async move {
        let start = Instant::now();
        let per_task = iters.div_ceil(appenders as u64);
        let tasks: Vec<_> = (0..appenders)
            .map(|t| {
                let store = store.clone();
                glommio::spawn_local(async move {
                    let body = vec![b'x'; BODY_BYTES];
                    let msgs: Vec<MessageIn<'_>> =
                        (0..batch).map(|_| msg(&body, t as i32)).collect();
                    let mut out: Vec<AppendedRecord> = Vec::with_capacity(batch);
                    for _ in 0..per_task {
                        let end = store.append_batch(&msgs, &mut out).await.unwrap();
                        store.wait_acked(end).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        start.elapsed() * (iters as u32).max(1) / (per_task * appenders as u64).max(1) as u32
    })
}

fn append_benches(c: &mut Criterion) {
    let ex = executor();
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (mode, direct, label) in [
        (FlushMode::Async, false, "async_flush"),
        (FlushMode::Sync, false, "sync_flush"),
        (FlushMode::Async, true, "direct_async_flush"),
        (FlushMode::Sync, true, "direct_sync_flush"),
    ] {
        for (batch, shape) in [(1usize, "1KiB_single"), (BATCH, "32x1KiB_batch")] {
            let record_bytes = (BODY_BYTES + 116) as u64;
            group.throughput(Throughput::Bytes(record_bytes * batch as u64));
            let store = open_with(&ex, &format!("{label}-{shape}"), mode, direct);
            let appenders = APPENDERS;
            group.bench_function(format!("{label}/{shape}"), |b| {
                b.iter_custom(|iters| appends(&ex, &store.store, iters, batch, appenders));
            });
            close(&ex, store);
        }
    }
    group.finish();
}

fn read_benches(c: &mut Criterion) {
    let ex = executor();
    let open = open(&ex, "read", FlushMode::Async);
    let messages = 100_000u64;
    appends(&ex, &open.store, messages / BATCH as u64, BATCH, 1);
    let store = open.store.clone();
    ex.run({
        let store = store.clone();
        async move { store.flush().await.unwrap() }
    });
    let mut group = c.benchmark_group("read");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    // One pull's worth: up to 32 messages / 256 KiB of file ranges, as the
    // broker hands them to splice.
    group.throughput(Throughput::Elements(32));
    group.bench_function("lookup_32_messages", |b| {
        let mut offset = 0u64;
        b.iter(|| {
            let read = store.read_queue(
                "BenchTopic",
                QueueId(0),
                QueueOffset(offset),
                32,
                256 << 10,
                &|_| true,
            );
            offset = (read.next_offset.0) % messages;
            read.ranges.len()
        });
    });
    // Reading the bytes back through io_uring (the path without splice).
    group.throughput(Throughput::Bytes(32 * (BODY_BYTES as u64 + 116)));
    group.bench_function("read_32_messages_bytes", |b| {
        b.iter_custom(|iters| {
            let store = store.clone();
            ex.run(async move {
                let start = Instant::now();
                let mut offset = 0u64;
                for _ in 0..iters {
                    let read = store.read_queue(
                        "BenchTopic",
                        QueueId(0),
                        QueueOffset(offset),
                        32,
                        256 << 10,
                        &|_| true,
                    );
                    for r in &read.ranges {
                        std::hint::black_box(store.read_range(r).await.unwrap());
                    }
                    offset = read.next_offset.0 % messages;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    close(&ex, open);
}

criterion_group!(benches, append_benches, read_benches);
criterion_main!(benches);
