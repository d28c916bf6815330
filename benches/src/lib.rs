//! Criterion benchmarks live in `benches/benches/`; run them with
//! `cargo bench -p ringmq-benches`. Set `RINGMQ_BENCH_DIR` to put the store
//! on the disk under test (default: `target/bench-store`).
