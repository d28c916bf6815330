//! Steady-state appends allocate nothing per message: a counting global
//! allocator (this test binary only) counts heap allocations while one
//! shard's store takes 32-message batches, and the count must not grow with
//! the number of messages, only with the number of write rounds (one write
//! buffer and the disk's per-write bookkeeping). Alone in its binary so no
//! other test allocates meanwhile.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::{AppendedRecord, FlushMode};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BATCH: usize = 32;

#[test]
fn steady_state_appends_allocate_nothing_per_message() {
    for index in [false, true] {
        let disk = SimDisk::new(1 << 34);
        let mut config = sim_config(FlushMode::Async, 64 << 20);
        config.write_buffer_bytes_max = 256 << 10;
        config.index_enable = index;
        let (clock, _) = manual_clock(1_000);
        let store = open_sim(&disk, &config, clock);
        // Every message has its own key, as every message a client sends
        // has its own UNIQ_KEY; built before counting.
        let warm_up = 2_000;
        let batches = 4_000;
        let msgs: Vec<Msg> = (0..(warm_up + batches) * BATCH)
            .map(|i| {
                let mut m = Msg::new(
                    "AllocTopic",
                    (i % 4) as i32,
                    vec![7u8; 1024],
                    Some("TagA"),
                    None,
                );
                m.properties
                    .extend_from_slice(format!("UNIQ_KEY\x01{i:032X}\x02").as_bytes());
                m
            })
            .collect();
        let ins: Vec<_> = msgs.iter().map(|m| m.as_in()).collect();
        let mut out: Vec<AppendedRecord> = Vec::with_capacity(BATCH);
        let mut round = |from: usize, batches: usize| {
            for b in from..from + batches {
                let batch = &ins[b * BATCH..(b + 1) * BATCH];
                let end = block_on(store.append_batch(batch, &mut out)).unwrap();
                block_on(store.wait_acked(end)).unwrap();
            }
        };
        // Warm up: queues created, buffers and consume-queue storage grown.
        round(0, warm_up);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        round(warm_up, batches);
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let messages = (batches * BATCH) as u64;
        // Each acknowledged batch is one write round here (the test waits
        // for every batch), so a round may allocate a few times; a message
        // may not.
        let per_message = allocations as f64 / messages as f64;
        eprintln!(
            "index {index}: {allocations} allocations for {messages} messages in {batches} rounds ({per_message:.3} a message)"
        );
        assert!(
            allocations <= batches as u64 * 4,
            "index {index}: {allocations} allocations for {batches} write rounds of {BATCH} messages"
        );
    }
}
