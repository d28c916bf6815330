//! SEND_BATCH_MESSAGE body decoder; decoded records must re-encode and decode
//! to the same records.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringmq_net::message;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = message::decode_batch(data, 64) else {
        return;
    };
    let mut wire = BytesMut::new();
    for record in &records {
        message::encode_batch_record(record, &mut wire).expect("a decoded record re-encodes");
    }
    assert_eq!(message::decode_batch(&wire, 64), Ok(records));
});
