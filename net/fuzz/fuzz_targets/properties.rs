//! Properties string decoder; decoded properties must re-encode and decode to
//! the same map.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::message;

fuzz_target!(|data: &[u8]| {
    let Ok(properties) = message::decode_properties(data) else {
        return;
    };
    // Decoded values may legitimately contain 0x01 (only the first one splits),
    // which the encoder refuses; everything else must round-trip.
    if let Ok(text) = message::encode_properties(&properties) {
        assert_eq!(message::decode_properties(text.as_bytes()), Ok(properties));
    }
});
