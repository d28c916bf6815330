//! Stored-record reader of pull bodies: never panics, and every record it
//! accepts lies inside the input with its body inside the record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::message::stored::iter_stored;

fuzz_target!(|data: &[u8]| {
    let range = data.as_ptr_range();
    for record in iter_stored(data) {
        let Ok(r) = record else { break };
        for part in [r.body, r.topic, r.properties] {
            let p = part.as_ptr_range();
            assert!(range.start <= p.start && p.end <= range.end);
        }
    }
});
