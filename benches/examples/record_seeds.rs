//! Writes a seed corpus for the engine's `record` fuzz target: valid
//! commit-log records of every shape the encoder makes (IPv4 and IPv6
//! hosts, short and long topics, empty and large bodies, with and without
//! properties, transactional and batch flags), one file each, into the
//! directory given. From an empty corpus the fuzzer never got past the
//! magic and size checks (30 edges in 10^7 runs).
//! `cargo run --release -p ringmq-benches --example record_seeds -- <dir>`
#![allow(clippy::unwrap_used)] // a tool: a failed unwrap is a failed run

use ringmq_engine::QueueId;
use std::net::SocketAddr;

use ringmq_engine::record::{encode_record, record_size, Assigned, MessageIn};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: record_seeds <corpus dir>");
    std::fs::create_dir_all(&dir).unwrap();
    let v4: SocketAddr = "10.0.0.7:50123".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::1]:10911".parse().unwrap();
    let long_topic = "T".repeat(200);
    let big_body = vec![0x5au8; 4096];
    let properties =
        b"TAGS\x01tagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x017F0000010000000000000001\x02".to_vec();
    let topics = ["T", "BenchTopic", "%RETRY%group", long_topic.as_str()];
    let bodies: [&[u8]; 3] = [b"", b"hello", &big_body];
    let props: [&[u8]; 2] = [b"", &properties];
    let hosts = [(v4, v4), (v6, v4), (v4, v6), (v6, v6)];
    // sys flags: plain, compressed, transaction prepared, batch.
    let flags = [0, 0x1, 0x4, 0x10];
    let mut n = 0;
    for (i, topic) in topics.iter().enumerate() {
        for (j, body) in bodies.iter().enumerate() {
            for (k, p) in props.iter().enumerate() {
                let (born, store) = hosts[(i + j + k) % hosts.len()];
                let msg = MessageIn {
                    topic,
                    queue_id: QueueId((i * 3 + j) as i32),
                    flag: k as i32,
                    body,
                    properties: p,
                    sys_flag: flags[(i + k) % flags.len()],
                    born_timestamp_ms: 1_700_000_000_000 + n,
                    born_host: born,
                    store_host: store,
                    reconsume_times: j as i32,
                    prepared_transaction_offset: 0,
                };
                let size = record_size(&msg).unwrap();
                let mut out = Vec::new();
                let at = Assigned {
                    queue_offset: ringmq_engine::QueueOffset(n as u64),
                    physical_offset: ringmq_engine::CommitLogOffset(n as u64 * 8192),
                    store_timestamp_ms: 1_700_000_000_100 + n,
                };
                encode_record(&msg, size, at, &mut out);
                std::fs::write(format!("{dir}/seed-{n:03}"), &out).unwrap();
                n += 1;
            }
        }
    }
    println!("{n} records written to {dir}");
}
