//! Model-based test: random sequences of appends, batch appends, writes,
//! flushes, reads, power-loss crashes (unsynced bytes dropped, the last
//! write torn), process kills and clean restarts, checked against an
//! in-memory model after every step.
//!
//! Invariants: every append acknowledged under SYNC_FLUSH is present after
//! any crash; everything written survives a process kill; nothing is
//! returned that was never appended; queue and commit-log offsets never go
//! backwards. A failure prints the minimal op sequence; the crash seeds in
//! it reproduce the run exactly.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use common::*;
use proptest::prelude::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::QueueId;
use ringmq_engine::{FlushMode, QueueOffset, ShardStore};

const QUEUES: i32 = 3;

#[derive(Clone, Debug)]
enum Op {
    Append {
        queue: i32,
        body_len: usize,
    },
    Batch {
        queue: i32,
        count: usize,
        body_len: usize,
    },
    Ack,
    Write,
    Flush,
    Read {
        queue: i32,
    },
    Checkpoint,
    Crash {
        seed: u64,
    },
    Kill,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..QUEUES, 0usize..700).prop_map(|(queue, body_len)| Op::Append { queue, body_len }),
        3 => (0..QUEUES, 1usize..6, 0usize..300).prop_map(|(queue, count, body_len)| Op::Batch { queue, count, body_len }),
        2 => Just(Op::Ack),
        1 => Just(Op::Write),
        1 => Just(Op::Flush),
        2 => (0..QUEUES).prop_map(|queue| Op::Read { queue }),
        1 => Just(Op::Checkpoint),
        1 => any::<u64>().prop_map(|seed| Op::Crash { seed }),
        1 => Just(Op::Kill),
        1 => Just(Op::Restart),
    ]
}

struct Model {
    /// Bodies appended per queue, in queue-offset order.
    appended: Vec<Vec<Vec<u8>>>,
    /// Per queue: how many are known durable / written.
    durable: Vec<usize>,
    written: Vec<usize>,
    next_id: u64,
    durable_log_offset: u64,
}

impl Model {
    fn body(&mut self, len: usize) -> Vec<u8> {
        let id = self.next_id;
        self.next_id += 1;
        let mut b = format!("{id}:").into_bytes();
        b.resize(b.len() + len, (id % 251) as u8);
        b
    }
}

fn topic() -> &'static str {
    "ModelTopic"
}

fn check_queue(store: &ShardStore<SimDisk>, model: &Model, queue: i32, at_least: usize) -> usize {
    let got = read_all(store, topic(), queue);
    let want = &model.appended[queue as usize];
    assert!(
        got.len() <= want.len(),
        "queue {queue}: {} returned, only {} appended",
        got.len(),
        want.len()
    );
    assert!(
        got.len() >= at_least,
        "queue {queue}: {} returned, {at_least} must be",
        got.len()
    );
    for (i, (offset, body)) in got.iter().enumerate() {
        assert_eq!(
            *offset, i as u64,
            "queue {queue}: offsets contiguous from 0"
        );
        assert_eq!(
            body, &want[i],
            "queue {queue} offset {i}: a body that was not appended there"
        );
    }
    got.len()
}

fn reopen(
    disk: &SimDisk,
    mode: FlushMode,
    direct: bool,
    model: &mut Model,
    floor: impl Fn(&Model, usize) -> usize,
) -> ShardStore<SimDisk> {
    let (clock, _) = manual_clock(1_000);
    // Direct I/O needs segments of whole 4 KiB blocks.
    let mut config = sim_config(mode, if direct { 8192 } else { 2048 });
    config.direct_io = direct;
    // A hot window of a chunk or two: reads mix file ranges, hot chunks
    // and the tail block, and chunks are evicted all the time.
    config.direct_io_hot_bytes = 3000;
    let store = open_sim(disk, &config, clock);
    assert!(
        store.appended_offset().0 >= model.durable_log_offset,
        "commit log went backwards past durable {}",
        model.durable_log_offset
    );
    for q in 0..QUEUES {
        let survived = check_queue(&store, model, q, floor(model, q as usize));
        model.appended[q as usize].truncate(survived);
        model.durable[q as usize] = survived;
        model.written[q as usize] = survived;
        assert_eq!(
            store.max_queue_offset(topic(), QueueId(q)),
            QueueOffset(survived as u64)
        );
    }
    model.durable_log_offset = store.durable_offset().0;
    store
}

fn run(mode: FlushMode, ops: Vec<Op>) {
    run_with(mode, false, ops);
}

/// `direct`: the commit log is written as with O_DIRECT (aligned blocks,
/// the last partial block rewritten and served from memory).
fn run_with(mode: FlushMode, direct: bool, ops: Vec<Op>) {
    let disk = SimDisk::new(1 << 30);
    let mut model = Model {
        appended: vec![Vec::new(); QUEUES as usize],
        durable: vec![0; QUEUES as usize],
        written: vec![0; QUEUES as usize],
        next_id: 0,
        durable_log_offset: 0,
    };
    let mut store = reopen(&disk, mode, direct, &mut model, |_, _| 0);
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Append { queue, body_len } => {
                let body = model.body(body_len);
                let m = Msg::new(topic(), queue, body.clone(), Some("t"), None);
                let r = block_on(store.append(&m.as_in())).unwrap();
                assert_eq!(
                    r.queue_offset.0 as usize,
                    model.appended[queue as usize].len()
                );
                model.appended[queue as usize].push(body);
            }
            Op::Batch {
                queue,
                count,
                body_len,
            } => {
                let msgs: Vec<Msg> = (0..count)
                    .map(|_| Msg::new(topic(), queue, model.body(body_len), None, None))
                    .collect();
                let ins: Vec<_> = msgs.iter().map(|m| m.as_in()).collect();
                block_on(store.append_batch(&ins, &mut out)).unwrap();
                for (m, r) in msgs.iter().zip(&out) {
                    assert_eq!(
                        r.queue_offset.0 as usize,
                        model.appended[queue as usize].len()
                    );
                    model.appended[queue as usize].push(m.body.clone());
                }
            }
            Op::Ack => {
                block_on(store.wait_acked(store.appended_offset())).unwrap();
                for q in 0..QUEUES as usize {
                    model.written[q] = model.appended[q].len();
                    if mode == FlushMode::Sync {
                        model.durable[q] = model.appended[q].len();
                    }
                }
            }
            Op::Write => {
                block_on(store.ensure_written(store.appended_offset())).unwrap();
                for q in 0..QUEUES as usize {
                    model.written[q] = model.appended[q].len();
                }
            }
            Op::Flush => {
                block_on(store.flush()).unwrap();
                for q in 0..QUEUES as usize {
                    model.written[q] = model.appended[q].len();
                    model.durable[q] = model.appended[q].len();
                }
            }
            Op::Read { queue } => {
                let visible = if mode == FlushMode::Sync {
                    model.durable[queue as usize]
                } else {
                    model.written[queue as usize]
                };
                check_queue(&store, &model, queue, visible);
            }
            Op::Checkpoint => block_on(store.checkpoint(false)).unwrap(),
            Op::Crash { seed } => {
                model.durable_log_offset = store.durable_offset().0;
                drop(store);
                disk.crash(seed);
                store = reopen(&disk, mode, direct, &mut model, |m, q| m.durable[q]);
            }
            Op::Kill => {
                model.durable_log_offset = store.durable_offset().0;
                drop(store);
                disk.kill();
                store = reopen(&disk, mode, direct, &mut model, |m, q| m.written[q]);
            }
            Op::Restart => {
                block_on(store.shutdown()).unwrap();
                drop(store);
                store = reopen(&disk, mode, direct, &mut model, |m, q| m.appended[q].len());
            }
        }
    }
}

proptest! {
    // 256 cases unless PROPTEST_CASES says more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn sync_flush_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(FlushMode::Sync, ops);
    }

    #[test]
    fn async_flush_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(FlushMode::Async, ops);
    }

    #[test]
    fn direct_io_sync_flush_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run_with(FlushMode::Sync, true, ops);
    }

    #[test]
    fn direct_io_async_flush_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run_with(FlushMode::Async, true, ops);
    }
}

/// Found by the model: a BLANK of exactly 8 bytes ends on the segment
/// boundary, and the next record must still start a new write.
#[test]
fn blank_of_eight_bytes_does_not_merge_segments() {
    run(
        FlushMode::Sync,
        vec![
            Op::Append {
                queue: 0,
                body_len: 648,
            },
            Op::Append {
                queue: 0,
                body_len: 356,
            },
            Op::Append {
                queue: 0,
                body_len: 332,
            },
            Op::Append {
                queue: 0,
                body_len: 264,
            },
            Op::Append {
                queue: 0,
                body_len: 0,
            },
            Op::Append {
                queue: 0,
                body_len: 0,
            },
            Op::Flush,
            Op::Crash { seed: 0 },
        ],
    );
}
/// Found by the model: records a killed process left only in the page
/// cache, in a segment before the last, must be made durable by recovery.
#[test]
fn recovery_syncs_every_scanned_segment() {
    run(
        FlushMode::Sync,
        vec![
            Op::Append {
                queue: 0,
                body_len: 536,
            },
            Op::Append {
                queue: 0,
                body_len: 356,
            },
            Op::Append {
                queue: 0,
                body_len: 332,
            },
            Op::Append {
                queue: 0,
                body_len: 3,
            },
            Op::Append {
                queue: 0,
                body_len: 264,
            },
            Op::Write,
            Op::Kill,
            Op::Crash { seed: 0 },
        ],
    );
}
