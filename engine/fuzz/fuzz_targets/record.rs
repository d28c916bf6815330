#![no_main]
//! Commit-log record decoding: never panics, and whatever parses re-encodes
//! to the same bytes.
use libfuzzer_sys::fuzz_target;
use ringmq_engine::record::{encode_record, read_head, record_size, Assigned, MessageIn, RecordView};

fuzz_target!(|data: &[u8]| {
    let _ = read_head(data);
    let Ok(v) = RecordView::parse(data) else { return };
    let _ = v.verify_crc();
    let _ = v.property("TAGS");
    let msg = MessageIn {
        topic: v.topic,
        queue_id: v.queue_id,
        flag: v.flag,
        body: v.body,
        properties: v.properties,
        sys_flag: v.sys_flag,
        born_timestamp_ms: v.born_timestamp_ms,
        born_host: v.born_host,
        store_host: v.store_host,
        reconsume_times: v.reconsume_times,
        prepared_transaction_offset: v.prepared_transaction_offset,
    };
    if v.verify_crc().is_err() || v.queue_offset < 0 || v.physical_offset < 0 {
        return;
    }
    // Port and V2-for-short-topic encodings are not canonical; compare only
    // canonical records.
    let Ok(size) = record_size(&msg) else { return };
    let mut out = Vec::new();
    let at = Assigned {
        queue_offset: v.queue_offset as u64,
        physical_offset: v.physical_offset as u64,
        store_timestamp_ms: v.store_timestamp_ms,
    };
    encode_record(&msg, size, at, &mut out);
    let again = RecordView::parse(&out).expect("re-encoded record parses");
    assert_eq!(again.body, v.body);
    assert_eq!(again.topic, v.topic);
    assert_eq!(again.properties, v.properties);
});
