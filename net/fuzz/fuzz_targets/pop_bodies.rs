//! The JSON bodies of POP and server-side assignment: BATCH_ACK_MESSAGE,
//! QUERY_ASSIGNMENT, SET_MESSAGE_REQUEST_MODE. Any input decodes or is
//! refused; a decoded batch ack's bitmap stays within its bound and lists
//! offsets without overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmq_net::header::{
    BatchAckMessageRequestBody, QueryAssignmentRequestBody, SetMessageRequestModeRequestBody,
    BATCH_ACK_BITMAP_BYTES_MAX,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = BatchAckMessageRequestBody::from_json(data) {
        for ack in &body.acks {
            assert!(ack.b.len() <= BATCH_ACK_BITMAP_BYTES_MAX);
            let _ = ack.offsets().count();
        }
    }
    let _ = QueryAssignmentRequestBody::from_json(data);
    let _ = SetMessageRequestModeRequestBody::from_json(data);
});
