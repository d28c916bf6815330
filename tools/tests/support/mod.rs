#![allow(dead_code)] // each test binary uses part of it
//! A RingMQ broker started in the test's process (2 shards, embedded name
//! server, its own ports and store), for the tools' command-line tests.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};

use ringmq_broker::config::BrokerConfig;
use ringmq_broker::Broker;

static NEXT: AtomicU16 = AtomicU16::new(0);

/// `n` consecutive free loopback ports, in a block per test process, below
/// Linux's ephemeral range (32768..), so an outgoing connection cannot
/// take one between the check and the broker's bind.
pub fn free_ports(n: u16) -> u16 {
    let start = 20_000 + (std::process::id() % 200) as u16 * 48;
    loop {
        let offset = NEXT.fetch_add(n, Ordering::Relaxed) % 2_400;
        let b = start + offset;
        if (b..b + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return b;
        }
    }
}

/// A 2-shard broker storing under `dir`, with `settings` applied.
pub fn broker_with(dir: &std::path::Path, settings: &[(&str, &str)]) -> Broker {
    let base = free_ports(16);
    let mut c = BrokerConfig::default();
    c.store_path_root_dir = dir.join("store");
    c.embedded_namesrv_port = base;
    c.listen_port = base + 1;
    c.shard_listen_port = base + 2;
    c.ha_listen_port = base + 8;
    c.shards = 2;
    c.mapped_file_size_commit_log_bytes = 8 << 20;
    c.pin_shards = false;
    c.io_memory_bytes = 2 << 20;
    let pairs = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.apply(&pairs).expect("settings apply");
    Broker::start(c).expect("broker starts")
}

pub fn broker(dir: &std::path::Path) -> Broker {
    broker_with(dir, &[])
}

/// The embedded name server's address.
pub fn namesrv(b: &Broker) -> String {
    format!(
        "127.0.0.1:{}",
        b.namesrv_addr().expect("embedded name server").port()
    )
}

/// Where shard `shard` listens, as registered.
pub fn shard_addr(b: &Broker, shard: u16) -> String {
    b.config().shard_addr(shard)
}
