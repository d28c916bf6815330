//! Offset message id and unique key parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::message::{OffsetMessageId, UniqKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = OffsetMessageId::decode(text) {
        assert_eq!(OffsetMessageId::decode(&id.encode()), Ok(id));
    }
    if let Ok(key) = UniqKey::decode(text) {
        assert_eq!(UniqKey::decode(&key.encode()), Ok(key));
    }
});
