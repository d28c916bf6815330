//! Functional tests of the store on the simulated disk.
#![allow(clippy::unwrap_used)] // tests and benchmarks: a failed unwrap is a failed run

mod common;

use common::*;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::record::{java_string_hash, RecordView};
use ringmq_engine::QueueId;
use ringmq_engine::{FlushMode, QueueOffset, ReadStatus, StoreError, TimeBoundary};

#[test]
fn append_read_and_reopen() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 4096);
    let (clock, now) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock.clone());
    let mut ends = Vec::new();
    for i in 0..100u32 {
        now.set(1_000 + i64::from(i));
        let m = Msg::new(
            "TopicA",
            (i % 3) as i32,
            format!("body-{i}").into_bytes(),
            Some("TagA"),
            Some(&format!("k{i}")),
        );
        let r = block_on(store.append(&m.as_in())).unwrap();
        assert_eq!(r.queue_offset, QueueOffset(u64::from(i / 3)));
        ends.push(r.end());
    }
    // Nothing is visible before it is durable under SYNC_FLUSH.
    assert_eq!(store.max_queue_offset("TopicA", QueueId(0)), QueueOffset(0));
    block_on(store.wait_acked(*ends.last().unwrap())).unwrap();
    assert_eq!(
        store.max_queue_offset("TopicA", QueueId(0)),
        QueueOffset(34)
    );
    let q1 = read_all(&store, "TopicA", 1);
    assert_eq!(q1.len(), 33);
    assert_eq!(q1[5], (5, b"body-16".to_vec()));
    // Several 4 KiB segments were used, each closed by a BLANK.
    assert!(store.appended_offset().0 > 3 * 4096);

    let found = block_on(store.query_by_key("TopicA", "k42", 10, 0, i64::MAX)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(RecordView::parse(&found[0]).unwrap().body, b"body-42");
    assert!(
        block_on(store.query_by_key("TopicB", "k42", 10, 0, i64::MAX))
            .unwrap()
            .is_empty()
    );

    let t =
        block_on(store.offset_by_time("TopicA", QueueId(0), 1_030, TimeBoundary::Lower)).unwrap();
    assert_eq!(t, QueueOffset(10)); // message 30 is the first at or after t=1030 in queue 0
    let t =
        block_on(store.offset_by_time("TopicA", QueueId(0), 1_031, TimeBoundary::Upper)).unwrap();
    assert_eq!(t, QueueOffset(10));
    assert_eq!(
        block_on(store.earliest_store_time("TopicA", QueueId(2))).unwrap(),
        Some(1_002)
    );

    block_on(store.shutdown()).unwrap();
    // A send arriving during a shutdown is refused, not half written.
    let late = Msg::new("TopicA", 1, b"late".to_vec(), None, None);
    let refused = block_on(store.append(&late.as_in())).unwrap_err();
    assert!(
        matches!(refused, ringmq_engine::StoreError::Closed { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("shutting down"), "{refused}");
    drop(store);
    let store = open_sim(&disk, &config, clock);
    assert_eq!(read_all(&store, "TopicA", 1), q1);
    assert_eq!(
        store.max_queue_offset("TopicA", QueueId(2)),
        QueueOffset(33)
    );
    let found = block_on(store.query_by_key("TopicA", "k99", 10, 0, i64::MAX)).unwrap();
    assert_eq!(found.len(), 1);
}

#[test]
fn tag_filter_and_coalesced_ranges() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Async, 1 << 20);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock);
    let mut out = Vec::new();
    let msgs: Vec<Msg> = (0..32)
        .map(|i| {
            Msg::new(
                "T",
                0,
                vec![i as u8; 100],
                Some(if i % 2 == 0 { "even" } else { "odd" }),
                None,
            )
        })
        .collect();
    let ins: Vec<_> = msgs.iter().map(|m| m.as_in()).collect();
    let end = block_on(store.append_batch(&ins, &mut out)).unwrap();
    assert_eq!(out.len(), 32);
    assert_eq!(out[31].queue_offset, QueueOffset(31));
    block_on(store.wait_acked(end)).unwrap();

    let all = store.read_queue("T", QueueId(0), QueueOffset(0), 32, 1 << 20, &|_| true);
    assert_eq!(all.status, ReadStatus::Found);
    assert_eq!(all.message_count, 32);
    assert_eq!(
        all.ranges.len(),
        1,
        "adjacent records of one queue coalesce"
    );

    let even = i64::from(java_string_hash("even"));
    let filtered = store.read_queue("T", QueueId(0), QueueOffset(0), 32, 1 << 20, &|code| {
        code == even
    });
    assert_eq!(filtered.message_count, 16);
    assert_eq!(filtered.ranges.len(), 16);
    assert_eq!(filtered.next_offset, QueueOffset(32));

    assert_eq!(
        store
            .read_queue("T", QueueId(0), QueueOffset(32), 32, 1 << 20, &|_| true)
            .status,
        ReadStatus::OffsetOverflowOne
    );
    assert_eq!(
        store
            .read_queue("T", QueueId(0), QueueOffset(40), 32, 1 << 20, &|_| true)
            .status,
        ReadStatus::OffsetOverflowBadly
    );
    assert_eq!(
        store
            .read_queue("X", QueueId(0), QueueOffset(0), 32, 1 << 20, &|_| true)
            .status,
        ReadStatus::NoMessageInQueue
    );
    let byte_capped = store.read_queue("T", QueueId(0), QueueOffset(0), 32, 1000, &|_| true);
    assert!(byte_capped.bytes <= 1000 && byte_capped.message_count >= 1);
}

#[test]
fn illegal_messages_are_refused_with_reason() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Async, 4096);
    let (clock, _) = manual_clock(1);
    let store = open_sim(&disk, &config, clock);
    let big = Msg::new("T", 0, vec![0; 5000], None, None);
    let err = block_on(store.append(&big.as_in())).unwrap_err();
    assert!(matches!(err, StoreError::Illegal(_)), "{err}");
    let bad_topic = Msg::new("../etc", 0, vec![0; 5], None, None);
    assert!(matches!(
        block_on(store.append(&bad_topic.as_in())),
        Err(StoreError::Illegal(_))
    ));
    assert_eq!(store.appended_offset().0, 0);
}

#[test]
fn retention_deletes_old_segments_and_their_entries() {
    let disk = SimDisk::new(1 << 30);
    let mut config = sim_config(FlushMode::Async, 4096);
    config.retention_ms = 10_000;
    let (clock, now) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock);
    for i in 0..200 {
        let m = Msg::new("T", 0, vec![1; 200], None, Some(&format!("k{i}")));
        let r = block_on(store.append(&m.as_in())).unwrap();
        block_on(store.wait_acked(r.end())).unwrap();
    }
    now.set(2_000);
    assert_eq!(
        block_on(store.enforce_retention())
            .unwrap()
            .segments_deleted,
        0
    );
    now.set(1_000_000);
    let report = block_on(store.enforce_retention()).unwrap();
    assert!(report.segments_deleted >= 8, "{report:?}");
    let min = store.min_queue_offset("T", QueueId(0));
    assert!(min.0 > 100);
    let read = store.read_queue("T", QueueId(0), QueueOffset(0), 4, 1 << 20, &|_| true);
    assert_eq!(read.status, ReadStatus::OffsetTooSmall);
    assert_eq!(read.next_offset, min);
    assert!(block_on(store.query_by_key("T", "k0", 1, 0, i64::MAX))
        .unwrap()
        .is_empty());
    assert_eq!(
        block_on(store.query_by_key("T", "k199", 1, 0, i64::MAX))
            .unwrap()
            .len(),
        1
    );
    // Survives a restart with the oldest segments gone.
    block_on(store.shutdown()).unwrap();
    drop(store);
    let (clock, _) = manual_clock(1_000_000);
    let store = open_sim(&disk, &config, clock);
    assert_eq!(store.min_queue_offset("T", QueueId(0)), min);
    assert_eq!(store.max_queue_offset("T", QueueId(0)), QueueOffset(200));
}

/// Appends `count` 1 KiB messages to queue 0 of "FillTopic", numbered from
/// `from`, and waits for the last one's acknowledgement.
fn append_numbered(store: &ringmq_engine::ShardStore<SimDisk>, from: u32, count: u32) {
    let mut end = None;
    for i in from..from + count {
        let mut body = format!("fill-{i}-").into_bytes();
        body.resize(1024, b'.');
        let m = Msg::new("FillTopic", 0, body, None, None);
        end = Some(block_on(store.append(&m.as_in())).unwrap().end());
    }
    block_on(store.wait_acked(end.unwrap())).unwrap();
}

fn segment_path(base: u64) -> std::path::PathBuf {
    std::path::Path::new("/store/commitlog").join(ringmq_engine::ids::file_name_for_offset(base))
}

#[test]
fn zero_fill_runs_ahead_paced_and_never_holds_an_append() {
    const SEG: u64 = 8 << 20;
    const MIB: u64 = 1 << 20;
    let disk = SimDisk::new(1 << 30);
    let mut config = sim_config(FlushMode::Sync, SEG);
    config.prewrite_segments = true;
    config.index_enable = false;
    let (clock, _) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock.clone());
    // The first segment is needed at once: taken unfilled, so the first
    // append does not wait for a segment of zeros.
    append_numbered(&store, 0, 1);
    assert!(
        disk.written_bytes() < MIB,
        "the first segment was zero-filled"
    );

    // The next one is filled in step with the active one's use (4/3 of it,
    // in 1 MiB writes), not all at once.
    let before = disk.written_bytes();
    block_on(store.prepare_ahead()).unwrap();
    let filled = disk.written_bytes() - before;
    assert!(filled <= MIB, "filled {filled} for one message");
    assert!(disk.file_bytes(&segment_path(SEG)).is_some());
    let before = disk.written_bytes();
    block_on(store.prepare_ahead()).unwrap();
    assert_eq!(disk.written_bytes(), before, "no use, no more zeros");

    // About half the active segment used (4.3 MiB): the fill follows to
    // about 5.8 MiB.
    append_numbered(&store, 1, 4000);
    let before = disk.written_bytes();
    block_on(store.prepare_ahead()).unwrap();
    let filled = filled + disk.written_bytes() - before;
    assert!((5 * MIB..=7 * MIB).contains(&filled), "filled {filled}");

    // The log reaches the next segment before its fill ends: it is taken as
    // it is (no wait for the remaining zeros) and nothing is lost.
    let before = disk.written_bytes();
    append_numbered(&store, 4001, 4000);
    let appended_bytes = disk.written_bytes() - before;
    assert!(
        appended_bytes < 5 * MIB,
        "the crossing append zero-filled: {appended_bytes} bytes written"
    );
    assert!(store.appended_offset().0 > SEG);
    // The fill moves on to the segment after, never into the active one.
    block_on(store.prepare_ahead()).unwrap();
    assert!(disk.file_bytes(&segment_path(2 * SEG)).is_some());
    let check = |store: &ringmq_engine::ShardStore<SimDisk>| {
        let got = read_all(store, "FillTopic", 0);
        assert_eq!(got.len(), 8001);
        for (i, (offset, body)) in got.iter().enumerate() {
            assert_eq!(*offset, i as u64);
            assert!(body.starts_with(format!("fill-{i}-").as_bytes()));
        }
    };
    check(&store);
    drop(store);
    disk.crash(7);
    let store = open_sim(&disk, &config, clock);
    check(&store);
    // Recovery drops the half-filled segment after the log's end.
    assert!(disk.file_bytes(&segment_path(2 * SEG)).is_none());
}

#[test]
fn next_segment_fill_completes_before_the_log_needs_it() {
    const SEG: u64 = 4 << 20;
    let disk = SimDisk::new(1 << 30);
    let mut config = sim_config(FlushMode::Sync, SEG);
    config.prewrite_segments = true;
    config.index_enable = false;
    let (clock, _) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock);
    append_numbered(&store, 0, 1);
    // Three quarters used: the fill may finish.
    append_numbered(&store, 1, 3200);
    let before = disk.written_bytes();
    for _ in 0..8 {
        block_on(store.prepare_ahead()).unwrap();
    }
    assert_eq!(
        disk.written_bytes() - before,
        SEG,
        "the next segment, whole"
    );
    // Crossing into it writes only messages.
    let before = disk.written_bytes();
    append_numbered(&store, 3201, 1000);
    assert!(disk.written_bytes() - before < 2 << 20);
    assert!(store.appended_offset().0 > SEG);
    assert_eq!(read_all(&store, "FillTopic", 0).len(), 4201);
}

#[test]
fn key_index_takes_a_bounded_number_of_keys_per_message() {
    use ringmq_engine::dispatch::KEYS_INDEXED_PER_MESSAGE_MAX;
    let disk = SimDisk::new(1 << 30);
    let store = open_sim(
        &disk,
        &sim_config(FlushMode::Sync, 1 << 20),
        manual_clock(1).0,
    );
    let keys: Vec<String> = (0..5_000).map(|i| format!("k{i}")).collect();
    let m = Msg::new("T", 0, b"many keys".to_vec(), None, Some(&keys.join(" ")));
    let r = block_on(store.append(&m.as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();
    let find = |key: &str| {
        block_on(store.query_by_key("T", key, 4, 0, i64::MAX))
            .unwrap()
            .len()
    };
    assert_eq!(find("k0"), 1);
    assert_eq!(find(&format!("k{}", KEYS_INDEXED_PER_MESSAGE_MAX - 1)), 1);
    assert_eq!(find(&format!("k{KEYS_INDEXED_PER_MESSAGE_MAX}")), 0);
    assert_eq!(find("k4999"), 0);
}

/// Direct I/O: a read behind the hot window asks the kernel to read ahead
/// (its own readahead is off on segment files), but never into the last
/// partial block, which the next write rewrites, nor past the segment.
#[test]
fn direct_reads_read_ahead_only_blocks_no_write_touches_again() {
    let disk = SimDisk::new(1 << 30);
    let segment = 256 << 10;
    let mut config = sim_config(FlushMode::Async, segment);
    config.direct_io = true;
    config.direct_io_hot_bytes = 16 << 10;
    config.index_enable = false;
    let (clock, _) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock);
    // About 700 KiB: three segments, the last one partly written.
    let msgs: Vec<Msg> = (0..2_000)
        .map(|i| Msg::new("T", 0, vec![b'a' + (i % 26) as u8; 250], None, None))
        .collect();
    let mut placed = Vec::new();
    for batch in msgs.chunks(20) {
        let ins: Vec<_> = batch.iter().map(Msg::as_in).collect();
        let end = block_on(store.append_batch(&ins, &mut placed)).unwrap();
        block_on(store.wait_acked(end)).unwrap();
    }
    let written = store.written_offset().0;
    let stable_end = written / 4096 * 4096;
    let max = store.max_queue_offset("T", QueueId(0)).0;
    // From the start (cold), from the middle, and in the last segment a
    // little behind the hot window (where the read-ahead would run into
    // the partial block unless it stopped before it).
    for from in [0, max / 2, max - 300, max - 100] {
        let read = store.read_queue("T", QueueId(0), QueueOffset(from), 32, u64::MAX, &|_| true);
        assert_eq!(read.status, ReadStatus::Found);
    }
    let asked = disk.read_aheads();
    assert!(!asked.is_empty(), "a cold read asked for no read-ahead");
    for (path, pos, len) in asked {
        let base: u64 = path.file_name().unwrap().to_str().unwrap().parse().unwrap();
        assert!(len > 0);
        assert!(
            pos + len <= segment,
            "read-ahead past the segment: {pos}+{len}"
        );
        assert!(
            base + pos + len <= stable_end,
            "read-ahead into the partial block: {} > {stable_end}",
            base + pos + len
        );
    }
}

/// A checkpoint with nothing new since the last one writes and syncs
/// nothing (an idle broker checkpoints ten times a second); one after an
/// append does, and a clean stop always records its checkpoint.
#[test]
fn idle_checkpoints_touch_nothing() {
    let disk = SimDisk::new(1 << 30);
    let config = sim_config(FlushMode::Sync, 4096);
    let (clock, _now) = manual_clock(1_000);
    let store = open_sim(&disk, &config, clock);
    let m = Msg::new("TopicA", 0, b"body".to_vec(), None, Some("k"));
    let r = block_on(store.append(&m.as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();
    block_on(store.checkpoint(false)).unwrap();
    let (writes, syncs) = (disk.written_bytes(), disk.syncs());
    block_on(store.checkpoint(false)).unwrap();
    assert_eq!((disk.written_bytes(), disk.syncs()), (writes, syncs));
    let r = block_on(store.append(&m.as_in())).unwrap();
    block_on(store.wait_acked(r.end())).unwrap();
    let (writes, syncs) = (disk.written_bytes(), disk.syncs());
    block_on(store.checkpoint(false)).unwrap();
    assert!(disk.syncs() > syncs && disk.written_bytes() > writes);
    let syncs = disk.syncs();
    block_on(store.checkpoint(true)).unwrap();
    assert!(disk.syncs() > syncs, "a clean stop records its checkpoint");
}
