#![no_main]
use libfuzzer_sys::fuzz_target;
use ringmq_engine::checkpoint::Checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Some(c) = Checkpoint::decode(data) {
        assert_eq!(Checkpoint::decode(&c.encode()), Some(c));
    }
});
