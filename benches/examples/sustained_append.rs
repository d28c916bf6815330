//! Sustained engine append throughput: 8 appenders of 32 × 1 KiB batches
//! on one shard (glommio executor), each waiting for its acknowledgement,
//! for a total given in MiB (default 4096), with the store's background
//! task running. Flush mode from the second argument (`async` or `sync`);
//! segment zero-fill as the broker sets it (on for SYNC only) unless
//! `RINGMQ_BENCH_PREWRITE=0/1` says otherwise. Prints MiB/s and a per-second
//! line, so stalls show. `RINGMQ_BENCH_DIRECT=1` writes with O_DIRECT. Complements the criterion bench, whose 5 s windows
//! stay inside the kernel's dirty-page limits.
//! `RINGMQ_BENCH_SEGMENT_MIB` sets the segment size (default 1024); the
//! first segment is created before timing starts, so a segment larger than
//! the run measures appends into a ready (zero-filled, under `SYNC_FLUSH`)
//! segment.
//! `RINGMQ_BENCH_WRITE_KIB` caps the bytes one write carries (the store's
//! `write_buffer_bytes_max`, default 4 MiB), so more appenders than one
//! group needs keep the next group ready while a write is in flight.
//! `RINGMQ_BENCH_HOT_MIB` sets the direct-I/O hot window (default 16).
//! `RINGMQ_BENCH_WRITES_IN_FLIGHT` sets the direct-I/O writes in flight at
//! once (default 2; 1 = one at a time); the result line gives the most seen.
//! `cargo run --release -p ringmq-benches --example sustained_append -- 4096 async`
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use ringmq_engine::QueueId;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use ringmq_engine::background::run_background;
use ringmq_engine::disk::glommio_disk::GlommioDisk;
use ringmq_engine::store::system_clock;
use ringmq_engine::{AppendedRecord, FlushGate, FlushMode, MessageIn, ShardStore, StoreConfig};

const BODY_BYTES: usize = 1024;
const BATCH: usize = 32;
/// Default concurrent appenders (`RINGMQ_BENCH_APPENDERS`).
const APPENDERS: usize = 8;

fn main() {
    let total_mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("total MiB"))
        .unwrap_or(4096);
    let mode = match std::env::args().nth(2).as_deref() {
        Some("sync") => FlushMode::Sync,
        _ => FlushMode::Async,
    };
    let dir = std::path::PathBuf::from(
        std::env::var("RINGMQ_BENCH_DIR").unwrap_or_else(|_| "target/bench-store".into()),
    )
    .join("sustained-append");
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = StoreConfig::new(&dir);
    config.flush_mode = mode;
    config.index_enable = false;
    config.segment_size_bytes = std::env::var("RINGMQ_BENCH_SEGMENT_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(1 << 30, |mib| mib << 20);
    config.direct_io = std::env::var("RINGMQ_BENCH_DIRECT").is_ok_and(|v| v == "1");
    if let Some(mib) = std::env::var("RINGMQ_BENCH_HOT_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.direct_io_hot_bytes = mib << 20;
    }
    if let Some(kib) = std::env::var("RINGMQ_BENCH_WRITE_KIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.write_buffer_bytes_max = kib << 10;
    }
    if let Some(n) = std::env::var("RINGMQ_BENCH_WRITES_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        config.direct_io_writes_in_flight = n;
    }
    config.prewrite_segments = match std::env::var("RINGMQ_BENCH_PREWRITE").as_deref() {
        Ok("1") => true,
        Ok(_) => false,
        Err(_) => mode == FlushMode::Sync,
    };
    let cpu = std::env::var("RINGMQ_BENCH_CPU")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .io_memory(16 << 20)
        .spawn(move || async move {
            let store = Rc::new(
                ShardStore::open(GlommioDisk, config, FlushGate::new(), system_clock())
                    .await
                    .unwrap(),
            );
            let stop = Rc::new(Cell::new(false));
            let bg = glommio::spawn_local(run_background(store.clone(), stop.clone())).detach();
            let record_bytes = store_record_bytes();
            // The first segment is created (and zero-filled) before timing.
            let body = vec![b'x'; BODY_BYTES];
            let first = store.append(&bench_msg(&body, 0)).await.unwrap();
            store.wait_acked(first.end()).await.unwrap();
            let total_batches = (total_mib << 20) / (record_bytes * BATCH as u64);
            let done = Rc::new(Cell::new(0u64));
            let start = Instant::now();
            let reporter = {
                let done = done.clone();
                glommio::spawn_local(async move {
                    let mut last = 0;
                    loop {
                        glommio::timer::sleep(Duration::from_secs(1)).await;
                        let now = done.get();
                        let mib = ((now - last) * BATCH as u64 * record_bytes) as f64 / 1048576.0;
                        println!("[{:>3.0}s] {mib:.0} MiB/s", start.elapsed().as_secs_f64());
                        last = now;
                    }
                })
                .detach()
            };
            let appenders = std::env::var("RINGMQ_BENCH_APPENDERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(APPENDERS);
            let tasks: Vec<_> = (0..appenders)
                .map(|t| {
                    let store = store.clone();
                    let done = done.clone();
                    glommio::spawn_local(async move {
                        let body = vec![b'x'; BODY_BYTES];
                        let msgs: Vec<MessageIn<'_>> =
                            (0..BATCH).map(|_| bench_msg(&body, t as i32)).collect();
                        let mut out: Vec<AppendedRecord> = Vec::with_capacity(BATCH);
                        while done.get() < total_batches {
                            let end = store.append_batch(&msgs, &mut out).await.unwrap();
                            store.wait_acked(end).await.unwrap();
                            done.set(done.get() + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            let secs = start.elapsed().as_secs_f64();
            let bytes = done.get() * BATCH as u64 * record_bytes;
            println!(
                "{mode:?}: {} MiB in {secs:.2} s: {:.0} MiB/s ({:.0} msg/s), {} write(s) in flight at most",
                bytes >> 20,
                bytes as f64 / secs / 1048576.0,
                (done.get() * BATCH as u64) as f64 / secs,
                store.writes_in_flight_peak()
            );
            reporter.cancel();
            stop.set(true);
            let _ = bg.await;
            store.shutdown().await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One benchmark message: 1 KiB body, one tag.
fn bench_msg(body: &[u8], queue_id: i32) -> MessageIn<'_> {
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

/// Size of one stored record of the benchmark's shape (1 KiB body).
fn store_record_bytes() -> u64 {
    let body = vec![0u8; BODY_BYTES];
    ringmq_engine::record::record_size(&bench_msg(&body, 0)).unwrap() as u64
}
