//! Writes in flight together: under direct I/O the log keeps up to
//! `direct_io_writes_in_flight` writes on the disk at once, and they may
//! complete in any order. Appenders run as tasks polled round-robin in a
//! seeded order over a simulated disk whose writes finish after a seeded
//! number of polls (an O_DSYNC write makes only its own bytes durable); a
//! power loss (`SYNC_FLUSH`) or a process kill (`ASYNC_FLUSH`) at any moment
//! (checked on a copy of the disk after every round that acknowledged more)
//! must keep every message that was acknowledged, return nothing that was
//! not appended, and keep each queue's order. One seed reproduces a run; a
//! failure names it.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use common::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::{AppendedRecord, FlushGate, FlushMode, ShardStore, StoreConfig};

const APPENDERS: usize = 6;
const BATCHES_PER_APPENDER: usize = 40;
const TOPIC: &str = "InFlight";
/// Seeded runs per flush mode.
const RUNS: u64 = 60;

type Task = Pin<Box<dyn Future<Output = ()>>>;

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Polls every unfinished task once per round, starting at a seeded task,
/// for at most `rounds` rounds; true when all finished. The futures re-check
/// their condition on every poll, so a no-op waker is enough.
fn run(tasks: &mut [Option<Task>], rounds: usize, rng: &mut u64) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..rounds {
        let first = next(rng) as usize % tasks.len();
        for i in 0..tasks.len() {
            let slot = &mut tasks[(first + i) % tasks.len()];
            if let Some(task) = slot {
                if let Poll::Ready(()) = task.as_mut().poll(&mut cx) {
                    *slot = None;
                }
            }
        }
        if tasks.iter().all(Option::is_none) {
            return true;
        }
    }
    false
}

/// Body of appender `task`'s `k`-th message: unique, of a seeded length.
fn body(seed: u64, task: usize, k: usize) -> Vec<u8> {
    let mut rng = seed ^ ((task as u64) << 32 | k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = (next(&mut rng) % 900) as usize;
    let mut b = format!("t{task}-{k}:").into_bytes();
    b.resize(b.len() + len, b'a' + (k % 26) as u8);
    b
}

fn config(mode: FlushMode) -> StoreConfig {
    let mut config = sim_config(mode, 64 << 10);
    config.direct_io = true;
    config.direct_io_writes_in_flight = 2;
    config.direct_io_hot_bytes = 16 << 10;
    // Two or three batches fill a write, so appenders queue behind one in
    // flight and the next write can go out while it is on the disk.
    config.write_buffer_bytes_max = 6 << 10;
    // Writes here are a few KiB: split any that has a whole block.
    config.direct_io_split_write_bytes_min = 4096;
    config.index_enable = false;
    config
}

/// Appender `task`: batches of one to four messages into its own queue,
/// each waited for; `acked` counts the messages acknowledged.
fn appender(
    store: Rc<ShardStore<SimDisk>>,
    seed: u64,
    task: usize,
    acked: Rc<Cell<usize>>,
) -> Task {
    Box::pin(async move {
        let mut rng = seed.wrapping_add(task as u64 * 7919) | 1;
        let mut k = 0;
        let mut out: Vec<AppendedRecord> = Vec::new();
        for _ in 0..BATCHES_PER_APPENDER {
            let n = 1 + next(&mut rng) as usize % 4;
            let msgs: Vec<Msg> = (k..k + n)
                .map(|j| Msg::new(TOPIC, task as i32, body(seed, task, j), None, None))
                .collect();
            let ins: Vec<_> = msgs.iter().map(Msg::as_in).collect();
            let Ok(end) = store.append_batch(&ins, &mut out).await else {
                return;
            };
            if store.wait_acked(end).await.is_err() {
                return;
            }
            k += n;
            acked.set(k);
        }
    })
}

/// Every queue holds a prefix of what its appender sent, at least what was
/// acknowledged.
fn check(store: &ShardStore<SimDisk>, seed: u64, acked: &[usize], what: &str) {
    for (task, &acked) in acked.iter().enumerate() {
        let got = read_all(store, TOPIC, task as i32);
        assert!(
            got.len() >= acked,
            "{what}, seed {seed}: queue {task} holds {} messages, {acked} were acknowledged",
            got.len()
        );
        for (k, (offset, b)) in got.iter().enumerate() {
            assert_eq!(
                *offset, k as u64,
                "{what}, seed {seed}: queue {task} offsets"
            );
            assert!(
                *b == body(seed, task, k),
                "{what}, seed {seed}: queue {task} offset {k} is not the message appended there"
            );
        }
    }
}

fn crash_at_random_moments(mode: FlushMode) {
    let mut peak_two = 0;
    let mut finished = 0;
    for seed in 1..=RUNS {
        let disk = SimDisk::new(1 << 30);
        let config = config(mode);
        let (clock, _) = manual_clock(1);
        let store = Rc::new(open_sim(&disk, &config, clock.clone()));
        disk.faults().io_delay_seed = Some(seed);
        let acked: Vec<Rc<Cell<usize>>> = (0..APPENDERS).map(|_| Rc::default()).collect();
        let mut tasks: Vec<Option<Task>> = (0..APPENDERS)
            .map(|t| Some(appender(store.clone(), seed, t, acked[t].clone())))
            .collect();
        let mut rng = seed;
        // Some runs end before the crash, most are cut short.
        let rounds = 20 + next(&mut rng) as usize % 1500;
        let mut acked_before = 0;
        for round in 0..rounds {
            if run(&mut tasks, 1, &mut rng) {
                finished += 1;
                break;
            }
            // Whenever more was acknowledged, a crash at this moment keeps
            // all of it (on a copy of the disk; the run goes on).
            let acked_now: Vec<usize> = acked.iter().map(|a| a.get()).collect();
            if acked_now.iter().sum::<usize>() > acked_before {
                acked_before = acked_now.iter().sum();
                let crash_seed = seed * 1_000_003 + round as u64;
                let copy = disk.copy_after((mode == FlushMode::Sync).then_some(crash_seed));
                let reopened = open_sim(&copy, &config, clock.clone());
                check(
                    &reopened,
                    seed,
                    &acked_now,
                    &format!("{mode:?}, crash at round {round}"),
                );
            }
        }
        if store.writes_in_flight_peak() >= 2 {
            peak_two += 1;
        }
        assert!(
            store.writes_in_flight_peak() <= 2,
            "seed {seed}: more writes in flight than allowed"
        );
        let acked: Vec<usize> = acked.iter().map(|a| a.get()).collect();
        // Writes still in flight are abandoned with their tasks.
        drop(tasks);
        drop(store);
        disk.faults().io_delay_seed = None;
        match mode {
            FlushMode::Sync => disk.crash(seed),
            FlushMode::Async => disk.kill(),
        }
        let store = open_sim(&disk, &config, clock);
        check(&store, seed, &acked, &format!("{mode:?} after the crash"));
    }
    assert!(
        peak_two > RUNS / 3,
        "{mode:?}: two writes were in flight in {peak_two} of {RUNS} runs"
    );
    assert!(finished > 0, "{mode:?}: no run finished before its crash");
}

#[test]
fn sync_flush_power_loss_keeps_every_acknowledged_message() {
    crash_at_random_moments(FlushMode::Sync);
}

#[test]
fn async_flush_kill_keeps_every_acknowledged_message() {
    crash_at_random_moments(FlushMode::Async);
}

/// Two shards' logs sharing one flush gate (two disks stand for one here:
/// the gate is what they share), with `APPENDERS` appenders each; task `t`
/// appends to log `t % 2`.
struct TwoLogs {
    stores: Vec<Rc<ShardStore<SimDisk>>>,
    acked: Vec<Rc<Cell<usize>>>,
    tasks: Vec<Option<Task>>,
}

fn two_logs(seed: u64) -> TwoLogs {
    let gate = FlushGate::new();
    let (clock, _) = manual_clock(1);
    let stores: Vec<Rc<ShardStore<SimDisk>>> = (0..2)
        .map(|_| {
            let disk = SimDisk::new(1 << 30);
            disk.faults().io_delay_seed = Some(seed);
            Rc::new(
                block_on(ShardStore::open(
                    disk,
                    config(FlushMode::Sync),
                    gate.clone(),
                    clock.clone(),
                ))
                .unwrap(),
            )
        })
        .collect();
    let acked: Vec<Rc<Cell<usize>>> = (0..2 * APPENDERS).map(|_| Rc::default()).collect();
    let tasks = (0..2 * APPENDERS)
        .map(|t| {
            Some(appender(
                stores[t % 2].clone(),
                seed,
                t / 2,
                acked[t].clone(),
            ))
        })
        .collect();
    TwoLogs {
        stores,
        acked,
        tasks,
    }
}

impl TwoLogs {
    /// Each log holds what its appenders had acknowledged.
    fn check(&self, seed: u64, what: &str) {
        for (i, store) in self.stores.iter().enumerate() {
            assert!(store.writes_in_flight_peak() <= 2);
            let acked: Vec<usize> = (0..APPENDERS)
                .map(|t| self.acked[2 * t + i].get())
                .collect();
            check(store, seed, &acked, &format!("{what}, log {i}"));
        }
    }
}

/// Two shards' logs on one disk share its flush gate: each may have two
/// durable writes in flight, and neither starves the other (a log holding
/// the gate queues behind a waiter instead of adding a write).
#[test]
fn two_logs_sharing_a_flush_gate_both_finish() {
    for seed in 1..=20u64 {
        let mut logs = two_logs(seed);
        let mut rng = seed;
        assert!(
            run(&mut logs.tasks, 200_000, &mut rng),
            "seed {seed}: appenders of both logs finish"
        );
        logs.check(seed, "sharing the gate");
    }
}

/// An appender dropped at any moment (its connection closed) never stalls
/// the others, whether it was waiting at the gate, waiting for a write, or
/// had a write in flight (then its log is poisoned and the others get the
/// error).
#[test]
fn a_dropped_appender_never_stalls_the_others() {
    let mut poisoned = 0;
    for seed in 1..=40u64 {
        let mut logs = two_logs(seed);
        let mut rng = seed;
        let before = 1 + next(&mut rng) as usize % 200;
        if run(&mut logs.tasks, before, &mut rng) {
            continue;
        }
        let victim = next(&mut rng) as usize % logs.tasks.len();
        logs.tasks[victim] = None;
        assert!(
            run(&mut logs.tasks, 200_000, &mut rng),
            "seed {seed}: the others finish after appender {victim} was dropped"
        );
        poisoned += logs
            .stores
            .iter()
            .filter(|s| s.poisoned().is_some())
            .count();
        logs.check(
            seed,
            &format!("appender {victim} dropped after {before} rounds"),
        );
    }
    assert!(poisoned < 40, "some drops landed outside a write in flight");
}
