//! Replication into a slave store: a master's written bytes, cut into
//! random pieces, are appended at the same offsets while the slave crashes,
//! is killed or restarts. At the end both logs are byte-identical and the
//! slave's consume queues and key index answer like the master's.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use common::*;
use proptest::prelude::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::ids::file_name_for_offset;
use ringmq_engine::{CommitLogOffset, FlushMode, QueueOffset, ShardStore, StoreError};

const QUEUES: i32 = 3;
const SEGMENT_BYTES: u64 = 2048;

#[derive(Clone, Debug)]
enum SlaveOp {
    /// Copy up to this many bytes of what the master has written.
    Copy(usize),
    /// Copy with no room on the slave's disk for another segment: a packet
    /// that crosses into one lands in part and is refused.
    CopyOnFullDisk(usize),
    Flush,
    Checkpoint,
    Crash(u64),
    Kill,
    Restart,
}

fn slave_op() -> impl Strategy<Value = SlaveOp> {
    prop_oneof![
        8 => (1usize..900).prop_map(SlaveOp::Copy),
        1 => (1usize..2000).prop_map(SlaveOp::CopyOnFullDisk),
        1 => Just(SlaveOp::Flush),
        1 => Just(SlaveOp::Checkpoint),
        1 => any::<u64>().prop_map(SlaveOp::Crash),
        1 => Just(SlaveOp::Kill),
        1 => Just(SlaveOp::Restart),
    ]
}

fn open(disk: &SimDisk, mode: FlushMode) -> ShardStore<SimDisk> {
    open_slave(disk, mode, false)
}

/// Segments of whole 4 KiB blocks when the slave writes with direct I/O.
fn segment_bytes(direct: bool) -> u64 {
    if direct {
        8192
    } else {
        SEGMENT_BYTES
    }
}

/// A slave store; with `direct`, written with direct I/O and a hot window
/// smaller than a chunk or two, so reads cross from the file into memory
/// inside records cut by the master's packets.
fn open_slave(disk: &SimDisk, mode: FlushMode, direct: bool) -> ShardStore<SimDisk> {
    let (clock, _) = manual_clock(1_000);
    let mut config = sim_config(mode, segment_bytes(direct));
    config.direct_io = direct;
    config.direct_io_hot_bytes = 3000;
    open_sim(disk, &config, clock)
}

/// Copies from the master at the slave's end; returns bytes copied.
fn copy(master: &ShardStore<SimDisk>, slave: &ShardStore<SimDisk>, max: usize) -> usize {
    let at = slave.appended_offset();
    let bytes = block_on(master.read_written(at, max)).unwrap();
    let end = block_on(slave.append_replica(at, &bytes)).unwrap();
    assert_eq!(end, at + bytes.len() as u64);
    bytes.len()
}

fn master_with(messages: &[(i32, usize)]) -> (SimDisk, ShardStore<SimDisk>) {
    master_with_segments(messages, SEGMENT_BYTES)
}

fn master_with_segments(
    messages: &[(i32, usize)],
    segment_bytes: u64,
) -> (SimDisk, ShardStore<SimDisk>) {
    let disk = SimDisk::new(1 << 30);
    let (clock, _) = manual_clock(1_000);
    let master = open_sim(&disk, &sim_config(FlushMode::Async, segment_bytes), clock);
    for (i, (queue, len)) in messages.iter().enumerate() {
        let mut body = format!("{i}:").into_bytes();
        body.resize(body.len() + len, i as u8);
        let key = format!("k{i}");
        let m = Msg::new("T", *queue, body, Some("tag"), Some(&key));
        block_on(master.append(&m.as_in())).unwrap();
    }
    block_on(master.flush()).unwrap();
    (disk, master)
}

fn run(messages: Vec<(i32, usize)>, ops: Vec<SlaveOp>, mode: FlushMode, direct: bool) {
    let (master_disk, master) = master_with_segments(&messages, segment_bytes(direct));
    let slave_disk = SimDisk::new(1 << 30);
    let open = |disk: &SimDisk, mode| open_slave(disk, mode, direct);
    let mut slave = open(&slave_disk, mode);
    for op in ops {
        match op {
            SlaveOp::Copy(n) => {
                copy(&master, &slave, n);
            }
            SlaveOp::CopyOnFullDisk(n) => {
                slave_disk.set_capacity(slave_disk.usage_bytes() + 64);
                let at = slave.appended_offset();
                let bytes = block_on(master.read_written(at, n)).unwrap();
                match block_on(slave.append_replica(at, &bytes)) {
                    Ok(end) => assert_eq!(end, at + bytes.len() as u64),
                    Err(StoreError::DiskFull { .. }) => {
                        let end = slave.appended_offset();
                        assert!(at <= end && end < at + bytes.len() as u64);
                    }
                    Err(e) => panic!("{e}"),
                }
                slave_disk.set_capacity(1 << 30);
                // The watermark check lifts the refusal once there is room.
                let report = block_on(slave.enforce_retention()).unwrap();
                assert!(!report.disk_full);
            }
            SlaveOp::Flush => block_on(slave.flush()).unwrap(),
            SlaveOp::Checkpoint => block_on(slave.checkpoint(false)).unwrap(),
            SlaveOp::Crash(seed) => {
                drop(slave);
                slave_disk.crash(seed);
                slave = open(&slave_disk, mode);
            }
            SlaveOp::Kill => {
                drop(slave);
                slave_disk.kill();
                slave = open(&slave_disk, mode);
            }
            SlaveOp::Restart => {
                block_on(slave.shutdown()).unwrap();
                drop(slave);
                slave = open(&slave_disk, mode);
            }
        }
        assert!(slave.appended_offset() <= master.written_offset());
    }
    while copy(&master, &slave, 700) > 0 {}
    block_on(slave.flush()).unwrap();
    assert_eq!(slave.appended_offset(), master.appended_offset());
    let dir = master.config().commit_log_dir();
    for base in (0..master.appended_offset().0).step_by(segment_bytes(direct) as usize) {
        let path = dir.join(file_name_for_offset(base));
        let (s, m) = (
            slave_disk.file_bytes(&path).expect("slave segment"),
            master_disk.file_bytes(&path).expect("master segment"),
        );
        let first_difference = s.iter().zip(&m).position(|(a, b)| a != b);
        assert!(
            s.len() == m.len() && first_difference.is_none(),
            "segment {base} differs: lengths {} {}, first at {first_difference:?}",
            s.len(),
            m.len()
        );
    }
    for q in 0..QUEUES {
        assert_eq!(
            read_all(&slave, "T", q),
            read_all(&master, "T", q),
            "queue {q}"
        );
    }
    for i in [0, messages.len() / 2, messages.len().saturating_sub(1)] {
        if i < messages.len() {
            let key = format!("k{i}");
            let found = block_on(slave.query_by_key("T", &key, 4, 0, i64::MAX)).unwrap();
            assert_eq!(found.len(), 1, "key {key} on the slave");
        }
    }
    // The slave recovers to the same state after a restart.
    block_on(slave.shutdown()).unwrap();
    drop(slave);
    let slave = open(&slave_disk, mode);
    assert_eq!(slave.appended_offset(), master.appended_offset());
    for q in 0..QUEUES {
        assert_eq!(read_all(&slave, "T", q), read_all(&master, "T", q));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn slave_log_ends_byte_identical(
        messages in proptest::collection::vec((0..QUEUES, 0usize..600), 1..40),
        ops in proptest::collection::vec(slave_op(), 0..40),
        sync in any::<bool>(),
        direct in any::<bool>(),
    ) {
        let mode = if sync { FlushMode::Sync } else { FlushMode::Async };
        run(messages, ops, mode, direct);
    }
}

#[test]
fn packet_for_another_offset_is_refused() {
    let (_, master) = master_with(&[(0, 100), (1, 100)]);
    let slave = open(&SimDisk::new(1 << 30), FlushMode::Sync);
    let bytes = block_on(master.read_written(CommitLogOffset(0), 1 << 20)).unwrap();
    let e = block_on(slave.append_replica(CommitLogOffset(10), &bytes)).unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Replication {
                offset: CommitLogOffset(10),
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(slave.appended_offset().0, 0);
}

#[test]
fn corrupt_record_is_refused_and_nothing_appended() {
    let (_, master) = master_with(&[(0, 100), (1, 100)]);
    let slave = open(&SimDisk::new(1 << 30), FlushMode::Sync);
    let mut bytes = block_on(master.read_written(CommitLogOffset(0), 1 << 20)).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xFF; // inside the second record's body
    let e = block_on(slave.append_replica(CommitLogOffset(0), &bytes)).unwrap_err();
    assert!(e.to_string().contains("record at"), "{e}");
    assert_eq!(slave.appended_offset().0, 0);
    // The intact bytes are then accepted: the refused packet left no trace.
    let good = block_on(master.read_written(CommitLogOffset(0), 1 << 20)).unwrap();
    block_on(slave.append_replica(CommitLogOffset(0), &good)).unwrap();
    block_on(slave.flush()).unwrap();
    assert_eq!(read_all(&slave, "T", 1), read_all(&master, "T", 1));
}

/// Records as a master would send them, numbered by the test.
fn records(list: &[(&str, i32, u64)]) -> Vec<u8> {
    use ringmq_engine::record::{encode_record, record_size, Assigned};
    let mut out = Vec::new();
    for &(topic, queue_id, queue_offset) in list {
        let msg = Msg::new(topic, queue_id, b"x".to_vec(), None, None);
        let size = record_size(&msg.as_in()).unwrap();
        let at = Assigned {
            queue_offset: QueueOffset(queue_offset),
            physical_offset: CommitLogOffset(out.len() as u64),
            store_timestamp_ms: 1,
        };
        encode_record(&msg.as_in(), size, at, &mut out);
    }
    out
}

#[test]
fn record_with_a_path_for_a_topic_is_refused() {
    let slave = open(&SimDisk::new(1 << 30), FlushMode::Sync);
    for (topic, queue_id) in [("../../etc", 0), ("a/b", 0), ("T", -1), ("T", 1 << 20)] {
        let bytes = records(&[(topic, queue_id, 0)]);
        let e = block_on(slave.append_replica(CommitLogOffset(0), &bytes)).unwrap_err();
        assert!(matches!(e, StoreError::Replication { .. }), "{e}");
        assert!(
            e.to_string().contains("topic name") || e.to_string().contains("queue id"),
            "{e}"
        );
        assert_eq!(slave.appended_offset().0, 0);
    }
    let bytes = records(&[("T", 0, 0)]);
    block_on(slave.append_replica(CommitLogOffset(0), &bytes)).unwrap();
}

#[test]
fn queue_offset_gap_is_refused() {
    let slave = open(&SimDisk::new(1 << 30), FlushMode::Sync);
    // Within one packet.
    let bytes = records(&[("T", 0, 0), ("T", 0, 2)]);
    let e = block_on(slave.append_replica(CommitLogOffset(0), &bytes)).unwrap_err();
    assert!(e.to_string().contains("offset gap"), "{e}");
    assert_eq!(slave.appended_offset().0, 0);
    // Across packets: the first record is taken, the second is refused.
    let first_len = records(&[("T", 0, 0)]).len();
    block_on(slave.append_replica(CommitLogOffset(0), &bytes[..first_len])).unwrap();
    let e = block_on(slave.append_replica(CommitLogOffset(first_len as u64), &bytes[first_len..]))
        .unwrap_err();
    assert!(e.to_string().contains("offset gap"), "{e}");
    assert_eq!(slave.appended_offset().0, first_len as u64);
    // Another queue may start anywhere (a slave that joins late).
    let other = records(&[("T", 0, 0), ("U", 1, 7)]);
    block_on(slave.append_replica(CommitLogOffset(first_len as u64), &other[first_len..])).unwrap();
}

#[test]
fn empty_slave_starts_at_a_later_segment() {
    let messages: Vec<(i32, usize)> = (0..30).map(|i| (i % QUEUES, 300)).collect();
    let (_, master) = master_with(&messages);
    let start = master.written_offset().segment_base(SEGMENT_BYTES).start();
    assert!(start > CommitLogOffset::ZERO);
    let slave = open(&SimDisk::new(1 << 30), FlushMode::Async);
    let bytes = block_on(master.read_written(start, 1 << 20)).unwrap();
    block_on(slave.append_replica(start, &bytes)).unwrap();
    block_on(slave.flush()).unwrap();
    assert_eq!(slave.appended_offset(), master.appended_offset());
    assert_eq!(slave.min_commit_log_offset(), start);
}

proptest! {
    /// Arbitrary packets (raw garbage, or a master's bytes with one byte
    /// changed) never panic; a refused packet leaves the log as it was; an
    /// accepted one extends it by its length; a valid record is never
    /// refused once the stream is intact again.
    #[test]
    fn damaged_or_arbitrary_packets_never_panic(
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
        flip in any::<proptest::sample::Index>(),
        piece in 1usize..500,
    ) {
        let slave = open(&SimDisk::new(1 << 30), FlushMode::Async);
        for packet in &garbage {
            let before = slave.appended_offset();
            match block_on(slave.append_replica(before, packet)) {
                Ok(end) => prop_assert_eq!(end, before + packet.len() as u64),
                Err(_) => prop_assert_eq!(slave.appended_offset(), before),
            }
        }
        let (_, master) = master_with(&[(0, 200), (1, 50), (2, 400)]);
        let mut bytes = block_on(master.read_written(CommitLogOffset(0), 1 << 20)).unwrap();
        let at = flip.index(bytes.len());
        bytes[at] ^= 0x5A;
        let slave = open(&SimDisk::new(1 << 30), FlushMode::Async);
        let mut pos = 0usize;
        while pos < bytes.len() {
            let n = piece.min(bytes.len() - pos);
            match block_on(slave.append_replica(CommitLogOffset(pos as u64), &bytes[pos..pos + n])) {
                Ok(_) => pos += n,
                Err(_) => break,
            }
        }
        prop_assert_eq!(slave.appended_offset().0, pos as u64);
    }
}
