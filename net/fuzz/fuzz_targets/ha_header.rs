//! HA transfer header and offset report: never panic, and an accepted
//! header never claims more body than the maximum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::ha::{decode_report, TransferHeader};

fuzz_target!(|data: [u8; 12]| {
    if let Ok(h) = TransferHeader::decode(&data, 4 << 20) {
        assert!(h.body_bytes <= 4 << 20);
        assert_eq!(h.encode(), data);
    }
    let report: [u8; 8] = data[..8].try_into().unwrap();
    let _ = decode_report(&report);
});
