//! The reader of Java servers' fastjson bodies (non-string map keys): any
//! input is an error or a value, never a panic; what it normalizes is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::fastjson;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(normal) = fastjson::normalize(text) {
            // Normalizing normalized text changes nothing.
            assert_eq!(fastjson::normalize(&normal).as_deref(), Ok(normal.as_str()));
        }
    }
    let _ = fastjson::parse(data);
});
