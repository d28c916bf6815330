#![no_main]
use libfuzzer_sys::fuzz_target;
use ringmq_engine::key_index::IndexEntry;

fuzz_target!(|data: &[u8]| {
    if let Some(e) = IndexEntry::decode(data) {
        let mut out = Vec::new();
        e.encode(&mut out);
        assert_eq!(&out[..], &data[..24]);
    }
});
