//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use ringmq_engine::QueueId;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::store::Clock;
use ringmq_engine::{FlushGate, FlushMode, MessageIn, ShardStore, StoreConfig};

pub fn host(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A message with owned parts, to build `MessageIn`s from.
#[derive(Clone, Debug)]
pub struct Msg {
    pub topic: String,
    pub queue_id: i32,
    pub body: Vec<u8>,
    pub properties: Vec<u8>,
}

impl Msg {
    pub fn new(
        topic: &str,
        queue_id: i32,
        body: Vec<u8>,
        tags: Option<&str>,
        keys: Option<&str>,
    ) -> Msg {
        let mut properties = Vec::new();
        if let Some(t) = tags {
            properties.extend_from_slice(format!("TAGS\x01{t}\x02").as_bytes());
        }
        if let Some(k) = keys {
            properties.extend_from_slice(format!("KEYS\x01{k}\x02").as_bytes());
        }
        Msg {
            topic: topic.to_string(),
            queue_id,
            body,
            properties,
        }
    }

    pub fn as_in(&self) -> MessageIn<'_> {
        MessageIn {
            topic: &self.topic,
            queue_id: QueueId(self.queue_id),
            flag: 0,
            body: &self.body,
            properties: &self.properties,
            sys_flag: 0,
            born_timestamp_ms: 1,
            born_host: host(1000),
            store_host: host(10911),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }
}

/// A settable clock for deterministic store timestamps.
pub fn manual_clock(start_ms: i64) -> (Clock, Rc<Cell<i64>>) {
    let now = Rc::new(Cell::new(start_ms));
    let n = now.clone();
    (Rc::new(move || n.get()), now)
}

pub fn sim_config(mode: FlushMode, segment_size_bytes: u64) -> StoreConfig {
    let mut c = StoreConfig::new("/store");
    c.flush_mode = mode;
    c.segment_size_bytes = segment_size_bytes;
    c.write_buffer_bytes_max = 16 << 10;
    c.consume_queue_segment_entries = 8;
    c.index_segment_entries = 16;
    c
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::block_on(f)
}

pub fn open_sim(disk: &SimDisk, config: &StoreConfig, clock: Clock) -> ShardStore<SimDisk> {
    block_on(ShardStore::open(
        disk.clone(),
        config.clone(),
        FlushGate::new(),
        clock,
    ))
    .expect("open store")
}

/// Reads every visible message of a queue from `from`, as parsed bodies.
pub fn read_all(store: &ShardStore<SimDisk>, topic: &str, queue_id: i32) -> Vec<(u64, Vec<u8>)> {
    use ringmq_engine::record::RecordView;
    let mut out = Vec::new();
    let mut offset = store.min_queue_offset(topic, QueueId(queue_id));
    loop {
        let read = store.read_queue(topic, QueueId(queue_id), offset, 7, 1 << 20, &|_| true);
        if read.message_count == 0 {
            break;
        }
        // File ranges, then (direct I/O) bytes of the last partial block
        // from memory; a record may span the two.
        let mut bytes = Vec::new();
        for range in &read.ranges {
            bytes.extend(block_on(store.read_range(range)).unwrap());
        }
        bytes.extend_from_slice(&read.memory_tail);
        let mut at = 0;
        while at < bytes.len() {
            let v = RecordView::parse(&bytes[at..]).unwrap_or_else(|e| {
                panic!(
                    "record parses: {e:?} at {at} of {}, ranges {:?}, memory {}",
                    bytes.len(),
                    read.ranges
                        .iter()
                        .map(|r| (r.file_pos, r.len))
                        .collect::<Vec<_>>(),
                    read.memory_tail.len()
                )
            });
            v.verify_crc().expect("crc");
            assert_eq!(v.topic, topic);
            assert_eq!(v.queue_id, queue_id);
            out.push((v.queue_offset as u64, v.body.to_vec()));
            at += v.size_bytes();
        }
        offset = read.next_offset;
    }
    out
}
