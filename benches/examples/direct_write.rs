//! Measures one 256 KiB O_DIRECT write into a zero-filled file, the commit
//! log's direct-I/O write under `SYNC_FLUSH`: through glommio's ring
//! (plain, then O_DSYNC) and as a blocking 256 KiB pwrite, on an executor
//! unbound or pinned to the core `RINGMQ_BENCH_CPU` names, spinning
//! `RINGMQ_BENCH_SPIN_US` before it sleeps. `RINGMQ_BENCH_WRITE_BYTES` sets
//! the glommio writes' size (default 256 KiB). `RINGMQ_BENCH_WRITE_BYTES`
//! sets the glommio writes' size (default 256 KiB).
//! `cargo run --release -p ringmq-benches --example direct_write`
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::Instant;

use glommio::io::OpenOptions;
use glommio::{LocalExecutorBuilder, Placement};

const TOTAL_BYTES: usize = 1 << 30;
const WRITE_BYTES: usize = 256 << 10;

fn main() {
    let path =
        std::env::var("RINGMQ_BENCH_DIR").unwrap_or_else(|_| "target".into()) + "/direct_write.bin";
    {
        let f = std::fs::File::create(&path).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for i in 0..TOTAL_BYTES >> 20 {
            f.write_all_at(&zeros, (i << 20) as u64).unwrap();
        }
        f.sync_all().unwrap();
    }
    let placement = match std::env::var("RINGMQ_BENCH_CPU")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(cpu) => Placement::Fixed(cpu),
        None => Placement::Unbound,
    };
    let p = path.clone();
    let mut builder = LocalExecutorBuilder::new(placement).io_memory(16 << 20);
    if let Some(us) = std::env::var("RINGMQ_BENCH_SPIN_US")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        builder = builder.spin_before_park(std::time::Duration::from_micros(us));
    }
    builder
        .spawn(move || async move {
            let n = TOTAL_BYTES / WRITE_BYTES;
            for (name, flags) in [("plain", 0), ("O_DSYNC", libc::O_DSYNC)] {
                let f = OpenOptions::new()
                    .write(true)
                    .custom_flags(flags)
                    .dma_open(&p)
                    .await
                    .unwrap();
                let t = Instant::now();
                // Each write starts at the previous one's end rounded down
                // to 4 KiB, as the commit log's do; the file holds them all.
                let step: usize = std::env::var("RINGMQ_BENCH_WRITE_BYTES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(WRITE_BYTES);
                let writes = (TOTAL_BYTES - (1 << 20)) / step;
                let mut at = 0usize;
                for _ in 0..writes {
                    let block = at - at % 4096;
                    let len = (at + step).div_ceil(4096) * 4096 - block;
                    let mut buf = f.alloc_dma_buffer(len);
                    buf.as_bytes_mut().fill(b'x');
                    f.write_at(buf, block as u64).await.unwrap();
                    at += step;
                }
                let us = t.elapsed().as_micros() as usize / writes;
                println!("glommio DmaFile {name:>7} write of {step} bytes: {us} us each");
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
                .open(&p)
                .unwrap();
            let layout = std::alloc::Layout::from_size_align(WRITE_BYTES, 4096).unwrap();
            // SAFETY: layout has a non-zero size; the buffer is freed below.
            let ptr = unsafe { std::alloc::alloc(layout) };
            // SAFETY: ptr points to WRITE_BYTES writable bytes.
            let buf = unsafe { std::slice::from_raw_parts_mut(ptr, WRITE_BYTES) };
            buf.fill(b'y');
            let t = Instant::now();
            for i in 0..n {
                f.write_all_at(buf, (i * WRITE_BYTES) as u64).unwrap();
            }
            let us = t.elapsed().as_micros() as usize / n;
            println!("blocking pwrite O_DIRECT|O_DSYNC: {us} us each");
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(ptr, layout) };
        })
        .unwrap()
        .join()
        .unwrap();
    let _ = std::fs::remove_file(path);
}
