//! Fault injection on the simulated disk: failed write, failed fdatasync,
//! torn tail, disk full.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use common::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::{FlushMode, QueueOffset, StoreError};

fn msg(i: usize) -> Msg {
    Msg::new("T", 0, format!("m{i}").into_bytes(), None, None)
}

#[test]
fn failed_fdatasync_poisons_and_is_never_retried() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 4096);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock.clone());
    let r = block_on(store.append(&msg(0).as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();

    let r = block_on(store.append(&msg(1).as_in())).unwrap();
    disk.faults().fail_next_sync = true;
    let syncs_before = disk.syncs();
    let err = block_on(store.wait_acked(r.end())).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err}");
    assert!(
        err.to_string().contains("fdatasync"),
        "the error says why: {err}"
    );
    // Refused from now on, and no flush is attempted again.
    assert!(matches!(
        block_on(store.append(&msg(2).as_in())),
        Err(StoreError::Poisoned { .. })
    ));
    assert!(matches!(
        block_on(store.flush()),
        Err(StoreError::Poisoned { .. })
    ));
    assert_eq!(disk.syncs(), syncs_before);
    // Reads of acknowledged data still work.
    assert_eq!(read_all(&store, "T", 0).len(), 1);

    // A restart recovers: the acknowledged message is there.
    drop(store);
    disk.crash(7);
    let store = open_sim(&disk, &config, clock);
    let got = read_all(&store, "T", 0);
    assert!(!got.is_empty() && got[0].1 == b"m0");
    let r = block_on(store.append(&msg(3).as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();
}

#[test]
fn failed_write_poisons_and_waiters_get_the_error() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Async, 4096);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock.clone());
    let r0 = block_on(store.append(&msg(0).as_in())).unwrap();
    block_on(store.wait_acked(r0.end())).unwrap();
    disk.faults().fail_next_write = true;
    let r1 = block_on(store.append(&msg(1).as_in())).unwrap();
    let err = block_on(store.wait_acked(r1.end())).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }));
    assert!(err.to_string().contains("write of"), "{err}");
    assert!(store.poisoned().is_some());
    drop(store);
    disk.kill();
    let store = open_sim(&disk, &config, clock);
    let got = read_all(&store, "T", 0);
    assert_eq!(
        got,
        vec![(0, b"m0".to_vec())],
        "the unacknowledged message never reached the disk"
    );
}

#[test]
fn torn_tail_is_truncated_and_overwritten() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 1 << 16);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock.clone());
    for i in 0..10 {
        let r = block_on(store.append(&msg(i).as_in())).unwrap();
        block_on(store.wait_acked(r.end())).unwrap();
    }
    let durable = store.durable_offset();
    // The next write lands only 30 bytes, as a crash mid-write leaves it.
    disk.faults().tear_next_write_at = Some(30);
    let r = block_on(store.append(&msg(10).as_in())).unwrap();
    assert!(block_on(store.wait_acked(r.end())).is_err());
    drop(store);
    disk.kill();
    let seg = disk
        .file_bytes(std::path::Path::new(
            "/store/commitlog/00000000000000000000",
        ))
        .unwrap();
    assert!(
        seg[durable.0 as usize..durable.0 as usize + 30]
            .iter()
            .any(|&b| b != 0),
        "torn bytes are on disk"
    );

    let store = open_sim(&disk, &config, clock);
    assert_eq!(
        store.appended_offset(),
        durable,
        "log ends at the last whole record"
    );
    assert_eq!(read_all(&store, "T", 0).len(), 10);
    let seg = disk
        .file_bytes(std::path::Path::new(
            "/store/commitlog/00000000000000000000",
        ))
        .unwrap();
    assert!(
        seg[durable.0 as usize..].iter().all(|&b| b == 0),
        "the torn tail was zeroed"
    );
    let r = block_on(store.append(&msg(11).as_in())).unwrap();
    assert_eq!(r.queue_offset, QueueOffset(10));
    block_on(store.wait_acked(r.end())).unwrap();
}

#[test]
fn bad_record_mid_log_refuses_to_open_and_deletes_nothing() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Async, 4096);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock.clone());
    let mut last = None;
    for i in 0..120 {
        last = Some(block_on(store.append(&msg(i).as_in())).unwrap());
    }
    block_on(store.wait_acked(last.unwrap().end())).unwrap();
    assert!(
        store.appended_offset().0 > 2 * 4096,
        "the log spans three segments"
    );
    drop(store);
    disk.kill();
    // A byte of the second record rots.
    let first = std::path::Path::new("/store/commitlog/00000000000000000000");
    let body_at = 100;
    disk.flip_byte(first, body_at);
    let files_before: Vec<_> = (0..3)
        .map(|i| disk.file_bytes(&segment_path(i * 4096)).expect("segment"))
        .collect();

    let refused = block_on(ringmq_engine::ShardStore::open(
        disk.clone(),
        config.clone(),
        ringmq_engine::FlushGate::new(),
        clock.clone(),
    ));
    let Err(err) = refused else {
        panic!("a store with a bad record before intact segments opened");
    };
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{text}");
    assert!(
        text.contains("later segments hold data") && text.contains("unreadable at offset"),
        "the error says where and why: {text}"
    );
    for (i, before) in files_before.iter().enumerate() {
        assert_eq!(
            disk.file_bytes(&segment_path(i as u64 * 4096)).as_ref(),
            Some(before),
            "segment {i} is untouched"
        );
    }

    // Restored, the store opens with every message.
    disk.flip_byte(first, body_at);
    let store = open_sim(&disk, &config, clock);
    assert_eq!(read_all(&store, "T", 0).len(), 120);
}

#[test]
fn an_intact_record_with_a_queue_gap_refuses_to_open_and_truncates_nothing() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 1 << 16);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock.clone());
    let mut starts = Vec::new();
    let mut end = None;
    for i in 0..10 {
        let r = block_on(store.append(&msg(i).as_in())).unwrap();
        starts.push(end.map_or(0, |e: ringmq_engine::CommitLogOffset| e.0));
        end = Some(r.end());
    }
    block_on(store.wait_acked(end.unwrap())).unwrap();
    drop(store);
    disk.kill();
    // The body CRC does not cover QUEUEOFFSET (bytes 20..28): record 5
    // stays intact but now claims queue offset 250.
    disk.flip_byte(&segment_path(0), starts[5] as usize + 27);
    let before = disk.file_bytes(&segment_path(0)).unwrap();
    let refused = block_on(ringmq_engine::ShardStore::open(
        disk.clone(),
        config.clone(),
        ringmq_engine::FlushGate::new(),
        clock,
    ));
    let Err(err) = refused else {
        panic!("a store with a queue gap in an intact record opened");
    };
    let text = err.to_string();
    assert!(
        text.contains("cannot be placed") && text.contains("offset gap"),
        "{text}"
    );
    assert_eq!(
        disk.file_bytes(&segment_path(0)).unwrap(),
        before,
        "the records after it were not truncated"
    );
}

fn segment_path(base: u64) -> std::path::PathBuf {
    std::path::Path::new("/store/commitlog").join(ringmq_engine::ids::file_name_for_offset(base))
}

#[test]
fn disk_full_refuses_writes_and_keeps_serving_reads() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 4096);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock);
    let mut last = None;
    for i in 0..20 {
        let r = block_on(store.append(&msg(i).as_in())).unwrap();
        last = Some(r);
    }
    block_on(store.wait_acked(last.unwrap().end())).unwrap();
    // No room for another segment.
    let used = disk.usage_bytes();
    disk.set_capacity(used + 100);
    let big = Msg::new("T", 0, vec![7; 3000], None, None);
    let mut refused = None;
    for _ in 0..4 {
        match block_on(store.append(&big.as_in())) {
            Ok(r) => block_on(store.wait_acked(r.end())).unwrap(),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("a segment roll hits ENOSPC");
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full"));
    assert!(matches!(
        block_on(store.append(&msg(99).as_in())),
        Err(StoreError::DiskFull { .. })
    ));
    assert!(read_all(&store, "T", 0).len() >= 20, "reads still served");
    assert!(
        store.poisoned().is_none(),
        "disk full is not a poisoned log"
    );

    // Watermark: above disk_full_percent stays refused; freeing space lifts it.
    let report = block_on(store.enforce_retention()).unwrap();
    assert!(report.disk_full);
    disk.set_capacity(1 << 30);
    let report = block_on(store.enforce_retention()).unwrap();
    assert!(!report.disk_full);
    let r = block_on(store.append(&msg(100).as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();
}

#[test]
fn background_zero_fill_faults_neither_poison_nor_lose_data() {
    const SEG: u64 = 4 << 20;
    let disk = SimDisk::new(1 << 30);
    let mut config = sim_config(FlushMode::Sync, SEG);
    config.prewrite_segments = true;
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock);
    let append_acked = |i: usize| {
        let m = Msg::new("T", 0, vec![b'x'; 1000 + i % 7], None, None);
        let r = block_on(store.append(&m.as_in()))?;
        block_on(store.wait_acked(r.end()))
    };
    for i in 0..2000 {
        append_acked(i).unwrap();
    }
    let next = std::path::Path::new("/store/commitlog")
        .join(ringmq_engine::ids::file_name_for_offset(SEG));

    // No room to create the next segment: the disk is full, writes are
    // refused, reads go on, nothing is poisoned.
    disk.set_capacity(disk.usage_bytes() + 100);
    let err = block_on(store.prepare_ahead()).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(
        disk.file_bytes(&next).is_none(),
        "the partial file is removed"
    );
    assert!(matches!(
        append_acked(2000),
        Err(StoreError::DiskFull { .. })
    ));
    assert_eq!(read_all(&store, "T", 0).len(), 2000);
    assert!(store.poisoned().is_none());
    disk.set_capacity(1 << 30);
    assert!(!block_on(store.enforce_retention()).unwrap().disk_full);

    // A failed zero write is reported and retried on the next call; the
    // log is not poisoned (none of its bytes are in that file).
    block_on(store.prepare_ahead()).unwrap();
    assert!(disk.file_bytes(&next).is_some());
    for i in 2000..2500 {
        append_acked(i).unwrap();
    }
    disk.faults().fail_next_write = true;
    assert!(block_on(store.prepare_ahead()).is_err());
    assert!(disk.file_bytes(&next).is_none());
    assert!(store.poisoned().is_none());
    block_on(store.prepare_ahead()).unwrap();
    assert!(disk.file_bytes(&next).is_some());
    // The log crosses into the segment and every message reads back.
    for i in 2500..5000 {
        append_acked(i).unwrap();
    }
    assert!(store.appended_offset().0 > SEG);
    assert_eq!(read_all(&store, "T", 0).len(), 5000);
}

/// Polls `fut` with a waker that does nothing, at most `polls` times.
fn poll_at_most<F: std::future::Future>(
    mut fut: std::pin::Pin<&mut F>,
    polls: usize,
) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    (0..polls).find_map(|_| match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    })
}

/// A flush dropped at any await inside it (its task cancelled by a closed
/// connection or a shutdown) neither stalls the store nor loses what a
/// later flush acknowledges: the flusher's role and the log's writes are freed,
/// files not yet synced stay on the list, and a write abandoned in flight
/// poisons the log, since nobody knows what reached the file.
#[test]
fn cancelled_flush_neither_stalls_nor_loses_acknowledged_data() {
    /// Far more polls than a flush on the simulated disk needs.
    const POLLS_MAX: usize = 10_000;
    let mut outcomes = (0, 0);
    for (mode, direct) in [
        (FlushMode::Sync, false),
        (FlushMode::Async, false),
        (FlushMode::Sync, true),
        (FlushMode::Async, true),
    ] {
        for polls in 1..=12 {
            let what = format!("{mode:?}, direct {direct}, dropped after {polls} polls");
            let disk = SimDisk::new(1 << 30);
            let mut config = sim_config(mode, 8192);
            config.direct_io = direct;
            let (clock, _) = manual_clock(1);
            let store = open_sim(&disk, &config, clock.clone());
            disk.faults().yield_in_io = true;
            for i in 0..3 {
                block_on(store.append(&msg(i).as_in())).unwrap();
            }
            {
                let cancelled = std::pin::pin!(store.flush());
                if poll_at_most(cancelled, polls).is_some() {
                    continue; // finished before the drop: nothing to test
                }
            }
            let flushed = poll_at_most(std::pin::pin!(store.flush()), POLLS_MAX)
                .unwrap_or_else(|| panic!("{what}: the next flush never finished"));
            let durable = match flushed {
                Ok(()) => 3,
                Err(e) => {
                    assert!(e.to_string().contains("abandoned before it"), "{what}: {e}");
                    outcomes.1 += 1;
                    0
                }
            };
            if durable == 3 {
                outcomes.0 += 1;
                // The flush after the drop synced what the dropped one had
                // taken off the list: it survives a power loss.
                drop(store);
                disk.faults().yield_in_io = false;
                disk.crash(polls as u64);
                let store = open_sim(&disk, &config, clock.clone());
                let bodies: Vec<_> = read_all(&store, "T", 0).into_iter().map(|m| m.1).collect();
                assert_eq!(bodies, [b"m0", b"m1", b"m2"], "{what}");
                // And the store goes on.
                let r = block_on(store.append(&msg(3).as_in())).unwrap();
                block_on(store.wait_acked(r.end())).unwrap();
            } else {
                // Poisoned: writes are refused, and a restart recovers a
                // prefix of what was appended, nothing else.
                assert!(block_on(store.append(&msg(3).as_in())).is_err(), "{what}");
                drop(store);
                disk.faults().yield_in_io = false;
                disk.crash(polls as u64);
                let store = open_sim(&disk, &config, clock.clone());
                let got = read_all(&store, "T", 0);
                for (i, (offset, body)) in got.iter().enumerate() {
                    assert_eq!((*offset, body.clone()), (i as u64, msg(i).body), "{what}");
                }
            }
        }
    }
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "both paths exercised: {outcomes:?}"
    );
}
