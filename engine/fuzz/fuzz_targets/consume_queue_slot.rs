#![no_main]
use libfuzzer_sys::fuzz_target;
use ringmq_engine::consume_queue::{decode_slot, CqSlot};

fuzz_target!(|data: &[u8]| {
    if let CqSlot::Entry(e) = decode_slot(data) {
        let mut out = Vec::new();
        e.encode(&mut out);
        assert_eq!(&out[..], &data[..20]);
    }
});
