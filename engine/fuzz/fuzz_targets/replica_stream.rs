#![no_main]
//! Replicated bytes into a slave store (SimDisk): arbitrary packets never
//! panic, a refused packet changes nothing, and an accepted one extends
//! the log by exactly its length. The first byte of each piece picks its
//! length, so packets cut records anywhere.
use libfuzzer_sys::fuzz_target;
use ringmq_engine::disk::sim::SimDisk;
use ringmq_engine::{FlushGate, FlushMode, ShardStore, StoreConfig};

fuzz_target!(|data: &[u8]| {
    futures_lite::future::block_on(async {
        let mut config = StoreConfig::new("/store");
        config.flush_mode = FlushMode::Async;
        config.segment_size_bytes = 64 << 10;
        let store = ShardStore::open(
            SimDisk::new(1 << 30),
            config,
            FlushGate::new(),
            std::rc::Rc::new(|| 1),
        )
        .await
        .expect("open");
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = (len as usize * 8).min(tail.len());
            let (packet, after) = tail.split_at(n);
            rest = after;
            let before = store.appended_offset().0;
            match store.append_replica(before, packet).await {
                Ok(end) => assert_eq!(end, before + packet.len() as u64),
                Err(_) => assert_eq!(store.appended_offset().0, before),
            }
        }
        let _ = store.flush().await;
    });
});
