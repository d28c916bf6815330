//! Sustained buffered-write bandwidth of this machine's page cache and disk:
//! sequential `pwrite`s of 232 KiB (the engine's typical write round) into
//! fresh fallocated 256 MiB files, for a total given in MiB (default 8192).
//! Under the kernel's dirty limit the copy runs at memory speed; past it,
//! writers are throttled to what writeback sustains. This is the ceiling
//! for any buffered commit log here, whatever the engine does.
//! `cargo run --release -p ringmq-benches --example sustained_pwrite -- 8192`
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use std::os::unix::fs::FileExt;
use std::time::Instant;

const SEGMENT_BYTES: usize = 256 << 20;
const WRITE_BYTES: usize = 232 << 10;

fn main() {
    let total_mib: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("total MiB"))
        .unwrap_or(8192);
    let total = total_mib << 20;
    let dir = std::env::var("RINGMQ_BENCH_DIR").unwrap_or_else(|_| "target".into());
    let buf = vec![0x5au8; WRITE_BYTES];
    let start = Instant::now();
    let mut written = 0usize;
    let mut files = Vec::new();
    while written < total {
        let path = format!("{dir}/sustained-{}.bin", files.len());
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .expect("create");
        f.set_len(SEGMENT_BYTES as u64).expect("size");
        let mut pos = 0;
        while pos + WRITE_BYTES <= SEGMENT_BYTES && written < total {
            f.write_all_at(&buf, pos as u64).expect("pwrite");
            pos += WRITE_BYTES;
            written += WRITE_BYTES;
        }
        files.push(path);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} MiB in {secs:.2} s: {:.0} MiB/s",
        written >> 20,
        written as f64 / secs / 1048576.0
    );
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}
