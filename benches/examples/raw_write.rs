//! Measures what one buffered write costs through glommio's io_uring versus
//! a plain pwrite, at the write sizes the commit log issues. This is the
//! measurement behind the engine's write coalescing (see docs/decisions.md, "Buffered appends by `pwrite`").
//! `cargo run --release -p ringmq-benches --example raw_write`
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use glommio::io::OpenOptions;
use glommio::{LocalExecutorBuilder, Placement};
use std::os::unix::fs::FileExt;
use std::time::Instant;

const TOTAL_BYTES: usize = 512 << 20;

fn main() {
    let path =
        std::env::var("RINGMQ_BENCH_DIR").unwrap_or_else(|_| "target".into()) + "/raw_write.bin";
    let p = path.clone();
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(16 << 20)
        .spawn(move || async move {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .buffered_open(&p)
                .await
                .unwrap();
            f.pre_allocate(TOTAL_BYTES as u64, false).await.unwrap();
            let std_file = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            for size in [32usize << 10, 256 << 10, 1 << 20] {
                let n = TOTAL_BYTES / size;
                let t = Instant::now();
                for i in 0..n {
                    f.write_at(vec![1u8; size], (i * size) as u64)
                        .await
                        .unwrap();
                }
                let mib_s = (TOTAL_BYTES >> 20) as f64 / t.elapsed().as_secs_f64();
                println!(
                    "glommio buffered write_at {:>5} KiB: {mib_s:>6.0} MiB/s",
                    size >> 10
                );
                let buf = vec![2u8; size];
                let t = Instant::now();
                for i in 0..n {
                    std_file.write_all_at(&buf, (i * size) as u64).unwrap();
                }
                let mib_s = (TOTAL_BYTES >> 20) as f64 / t.elapsed().as_secs_f64();
                println!(
                    "std pwrite              {:>5} KiB: {mib_s:>6.0} MiB/s",
                    size >> 10
                );
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_file(path);
}
